import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { RecvBuffer } from '../../src/transport/recv-buffer.js';

/** A small deterministic PRNG (mulberry32) driving the interleaving of deliveries and reads. */
function prng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n: number) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) % n) >>> 0;
  };
}

interface Frame {
  offset: number;
  length: number;
  fin: boolean;
}

const MAX_FRAME = 300;

/**
 * A byte string, frames covering it (a partition into pieces of at most MAX_FRAME bytes, the last
 * with FIN, plus overlapping extra frames and duplicates) in a random order, a flow-control window
 * at least one frame wide, and a seed for the interleaving.
 */
const scenario = fc
  .record({
    data: fc.uint8Array({ minLength: 0, maxLength: 2000 }),
    cuts: fc.array(fc.integer({ min: 1, max: MAX_FRAME }), { minLength: 1, maxLength: 40 }),
    extras: fc.array(fc.record({ at: fc.double({ min: 0, max: 1, noNaN: true }), length: fc.integer({ min: 0, max: MAX_FRAME }), fin: fc.boolean() }), {
      maxLength: 20,
    }),
    window: fc.integer({ min: MAX_FRAME, max: 2500 }),
    seed: fc.integer(),
  })
  .map(({ data, cuts, extras, window, seed }) => {
    const frames: Frame[] = [];
    let off = 0;
    let i = 0;
    do {
      const len = Math.min(cuts[i++ % cuts.length], data.length - off);
      frames.push({ offset: off, length: len, fin: off + len === data.length });
      off += len;
    } while (off < data.length);
    for (const x of extras) {
      const start = Math.floor(x.at * data.length);
      const length = Math.min(x.length, data.length - start);
      frames.push({ offset: start, length, fin: x.fin && start + length === data.length });
    }
    const next = prng(seed);
    for (let k = frames.length - 1; k > 0; k--) {
      const j = next(k + 1);
      [frames[k], frames[j]] = [frames[j], frames[k]];
    }
    return { data, frames, window, seed };
  });

test('any segmentation, reordering and duplication reassembles the stream exactly, within the window, charging each byte once', () => {
  fc.assert(
    fc.property(scenario, ({ data, frames, window, seed }) => {
      const b = new RecvBuffer();
      const next = prng(seed ^ 0x5bd1e995);
      const pending = [...frames];
      const out: number[] = [];
      const received = new Uint8Array(data.length);
      let charged = 0;
      let consumed = 0;
      for (let steps = 0; pending.length > 0 || b.readableBytes > 0; steps++) {
        assert.ok(steps < 100000, 'no progress');
        const limit = b.readOffset + window;
        const eligible = pending.filter((f) => f.offset + f.length <= limit);
        if (eligible.length > 0 && (b.readableBytes === 0 || next(3) > 0)) {
          const f = eligible[next(eligible.length)];
          pending.splice(pending.indexOf(f), 1);
          // A fresh packet buffer, scribbled over after the call as a reused packet buffer would be.
          const packet = data.slice(f.offset, f.offset + f.length);
          const r = b.insert(f.offset, packet, f.fin, limit);
          packet.fill(0xa5);
          let fresh = 0;
          for (let k = f.offset; k < f.offset + f.length; k++) {
            if (received[k] === 0) fresh++;
            received[k] = 1;
          }
          assert.is(r.newBytes, fresh);
          charged += r.flowControlIncrement;
          // Sometimes the same frame arrives again later.
          if (next(8) === 0) pending.push(f);
        } else {
          const chunk = b.read(1 + next(400));
          assert.ok(chunk !== undefined, 'readable bytes announced but none read');
          out.push(...chunk);
        }
        consumed += b.takeConsumed();
        assert.is(charged, b.highestOffset);
        assert.ok(b.bufferedBytes <= limit - b.readOffset, `${b.bufferedBytes} buffered beyond a window of ${limit - b.readOffset}`);
        let contiguous = b.readOffset;
        while (contiguous < data.length && received[contiguous] === 1) contiguous++;
        assert.is(b.readableBytes, contiguous - b.readOffset);
      }
      assert.equal(Uint8Array.from(out), data);
      assert.is(b.state, 'dataRead');
      assert.is(b.finalSize, data.length);
      assert.is(consumed, data.length);
      assert.is(b.bufferedBytes, 0);
    }),
    { numRuns: 300 },
  );
});

test('a reset at any point leaves nothing buffered and releases exactly the final size', () => {
  fc.assert(
    fc.property(scenario, fc.nat(), ({ data, frames, seed }, when) => {
      const b = new RecvBuffer();
      const next = prng(seed);
      const cut = frames.length === 0 ? 0 : when % (frames.length + 1);
      let charged = 0;
      let consumed = 0;
      for (const f of frames.slice(0, cut)) {
        charged += b.insert(f.offset, data.subarray(f.offset, f.offset + f.length), f.fin, data.length).flowControlIncrement;
        if (next(2) === 0) b.read(1 + next(100));
        consumed += b.takeConsumed();
      }
      const wasRead = b.state === 'dataRead';
      const r = b.reset(data.length, data.length);
      charged += r.flowControlIncrement;
      consumed += b.takeConsumed();
      assert.is(r.reset, !wasRead);
      assert.is(charged, data.length);
      assert.is(consumed, data.length);
      assert.is(b.bufferedBytes, 0);
      for (const f of frames) b.insert(f.offset, data.subarray(f.offset, f.offset + f.length), f.fin, data.length);
      assert.is(b.bufferedBytes, 0);
    }),
    { numRuns: 300 },
  );
});

test.run();
