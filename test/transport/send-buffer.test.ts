import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { RangeSet, SendBuffer, SendBufferClosedError } from '../../src/transport/send-buffer.js';

function bytes(n: number, seed = 0): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7 + 11) & 0xff;
  return b;
}

test('RangeSet merges overlapping and touching ranges and splits on removal', () => {
  const s = new RangeSet();
  s.add(10, 20);
  s.add(30, 40);
  s.add(20, 25); // touches [10,20)
  assert.equal(s.ranges(), [
    { start: 10, end: 25 },
    { start: 30, end: 40 },
  ]);
  s.add(24, 31); // bridges both
  assert.equal(s.ranges(), [{ start: 10, end: 40 }]);
  s.remove(15, 18);
  assert.equal(s.ranges(), [
    { start: 10, end: 15 },
    { start: 18, end: 40 },
  ]);
  assert.is(s.size, 27);
  assert.ok(s.has(10) && !s.has(15) && s.has(39) && !s.has(40));
  s.removeBelow(20);
  assert.equal(s.ranges(), [{ start: 20, end: 40 }]);
});

test('new data is offered in offset order, limited by the credit given', () => {
  const b = new SendBuffer();
  b.write(bytes(100));
  const r = b.nextRange(40)!;
  assert.equal(r, { offset: 0, available: 40, fin: false, retransmission: false });
  assert.is(b.onSent(0, 40, false), 40);
  assert.equal(b.nextRange(1000), { offset: 40, available: 60, fin: false, retransmission: false });
  assert.is(b.nextRange(0), undefined, 'no credit, no new data');
  assert.ok(!b.hasSendable(false) && b.hasSendable(true));
});

test('lost ranges are offered before new data, lowest offset first, and cost no credit', () => {
  const b = new SendBuffer();
  b.write(bytes(300));
  b.onSent(0, 100, false);
  b.onSent(100, 100, false);
  b.onSent(200, 50, false);
  b.onLost(200, 50, false);
  b.onLost(0, 100, false);
  assert.equal(b.nextRange(0), { offset: 0, available: 100, fin: false, retransmission: true }, 'lost data needs no credit');
  assert.is(b.onSent(0, 60, false), 0, 'a retransmission consumes no credit');
  assert.equal(b.nextRange(0), { offset: 60, available: 40, fin: false, retransmission: true });
  b.onSent(60, 40, false);
  assert.equal(b.nextRange(0)?.offset, 200);
  b.onSent(200, 50, false);
  assert.equal(b.nextRange(500), { offset: 250, available: 50, fin: false, retransmission: false });
});

test('a loss never queues bytes already acknowledged (by another copy) or released', () => {
  const b = new SendBuffer();
  b.write(bytes(100));
  b.onSent(0, 100, false);
  b.onAcked(0, 10, false); // released prefix
  b.onAcked(20, 30, false); // acknowledged above the prefix
  b.onLost(0, 100, false);
  assert.is(b.lostBytes, 10 + 50);
  assert.equal(b.nextRange(0), { offset: 10, available: 10, fin: false, retransmission: true });
  b.onSent(10, 10, false);
  assert.equal(b.nextRange(0), { offset: 50, available: 50, fin: false, retransmission: true });
});

test('FIN rides with the last byte; when everything was sent first, a FIN-only frame follows', () => {
  const b = new SendBuffer();
  b.write(bytes(10));
  b.end();
  assert.equal(b.nextRange(100), { offset: 0, available: 10, fin: true, retransmission: false });
  const c = new SendBuffer();
  c.write(bytes(10));
  c.onSent(0, 10, false);
  c.end();
  assert.equal(c.nextRange(0), { offset: 10, available: 0, fin: true, retransmission: false }, 'FIN needs no credit');
  c.onSent(10, 0, true);
  assert.is(c.nextRange(100), undefined);
  assert.is(c.finalSize, 10);
});

test('a lost FIN is sent again with the lost last range, or alone', () => {
  const b = new SendBuffer();
  b.write(bytes(50));
  b.end();
  b.onSent(0, 50, true);
  b.onLost(0, 50, true);
  assert.equal(b.nextRange(0), { offset: 0, available: 50, fin: true, retransmission: true });
  b.onSent(0, 50, true);
  b.onAcked(0, 50, true);
  assert.ok(b.allAcknowledged);

  const c = new SendBuffer();
  c.write(bytes(50));
  c.onSent(0, 50, false);
  c.end();
  c.onSent(50, 0, true);
  c.onAcked(0, 50, false);
  c.onLost(50, 0, true);
  assert.equal(c.nextRange(0), { offset: 50, available: 0, fin: true, retransmission: false });
});

test('acknowledged data is released from memory once contiguous from the start', () => {
  const b = new SendBuffer({ highWaterMark: Infinity });
  for (let i = 0; i < 10; i++) b.write(bytes(20_000, i));
  b.onSent(0, 200_000, false);
  b.onAcked(100_000, 100_000, false);
  assert.is(b.bufferedBytes, 200_000, 'a hole at the start pins everything');
  b.onAcked(0, 100_000, false);
  assert.is(b.bufferedBytes, 0);
  assert.is(b.acknowledgedOffset, 200_000);
  assert.ok(b.heldChunks <= 1, `held chunks ${b.heldChunks}`);
});

test('read returns the written bytes across chunk boundaries', () => {
  const b = new SendBuffer();
  const all = bytes(40_000);
  b.write(all.subarray(0, 5));
  b.write(all.subarray(5, 17_000));
  b.write(all.subarray(17_000));
  for (const [off, len] of [
    [0, 5],
    [3, 10],
    [16_380, 20],
    [16_000, 2_000],
    [39_990, 10],
  ]) {
    assert.equal(b.read(off, len, new Uint8Array(4096)), all.subarray(off, off + len));
  }
});

test('write reports a full buffer at the high-water mark and drained$ fires when acknowledgements free it', () => {
  const b = new SendBuffer({ highWaterMark: 1000 });
  let drains = 0;
  b.drained$.subscribe(() => drains++);
  assert.ok(b.write(bytes(600)));
  assert.not.ok(b.write(bytes(600)), 'at 1200 bytes held the buffer is full');
  assert.ok(b.isFull);
  b.onSent(0, 1200, false);
  b.onAcked(0, 100, false);
  assert.is(drains, 0, 'still above the mark');
  b.onAcked(100, 200, false);
  assert.is(drains, 1);
  assert.not.ok(b.isFull);
  b.onAcked(300, 900, false);
  assert.is(drains, 1, 'drained fires once per full episode');
});

test('reset stops sending, drops lost data, releases memory and reports the highest offset sent as final size', () => {
  const b = new SendBuffer();
  b.write(bytes(500));
  b.onSent(0, 300, false);
  b.onLost(0, 100, false);
  assert.is(b.reset(), 300);
  assert.is(b.nextRange(1000), undefined);
  assert.not.ok(b.hasSendable(true));
  assert.is(b.bufferedBytes, 0);
  assert.is(b.reset(), 300, 'idempotent');
  assert.throws(() => b.write(bytes(1)), (e: unknown) => e instanceof SendBufferClosedError);
});

test('property: under random writes, sends, acknowledgements and losses every byte is sent new once, acknowledged once, never in flight twice, and memory is released', () => {
  type Op =
    | { kind: 'write'; n: number }
    | { kind: 'send'; room: number; credit: number }
    | { kind: 'ack'; pick: number }
    | { kind: 'lose'; pick: number };
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ kind: fc.constant('write' as const), n: fc.integer({ min: 0, max: 3000 }) }),
    fc.record({ kind: fc.constant('send' as const), room: fc.integer({ min: 0, max: 1500 }), credit: fc.integer({ min: 0, max: 4000 }) }),
    fc.record({ kind: fc.constant('ack' as const), pick: fc.nat() }),
    fc.record({ kind: fc.constant('lose' as const), pick: fc.nat() }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 200 }), fc.boolean(), (ops, endIt) => {
      const b = new SendBuffer({ highWaterMark: 5000 });
      const source: number[] = [];
      const inFlight: { offset: number; length: number; fin: boolean }[] = [];
      const ackCount: number[] = [];
      const flying: number[] = [];
      let finAcks = 0;
      let newBytes = 0;
      let credit = 0;
      const send = (room: number, give: number): void => {
        credit += give;
        const r = b.nextRange(credit);
        if (r === undefined) return;
        const len = Math.min(room, r.available);
        if (len === 0 && !(r.fin && r.available === 0)) return;
        const fin = r.fin && len === r.available;
        const data = b.read(r.offset, len);
        for (let i = 0; i < len; i++) {
          const off = r.offset + i;
          assert.is(data[i], source[off], 'bytes read match bytes written');
          assert.is(flying[off] ?? 0, 0, `byte ${off} sent while a copy is in flight`);
          assert.is(ackCount[off] ?? 0, 0, `byte ${off} sent after its acknowledgement`);
          flying[off] = 1;
        }
        const fresh = b.onSent(r.offset, len, fin);
        assert.is(fresh, r.retransmission ? 0 : len);
        credit -= fresh;
        newBytes += fresh;
        inFlight.push({ offset: r.offset, length: len, fin });
      };
      const settle = (pick: number, acked: boolean): void => {
        if (inFlight.length === 0) return;
        const [f] = inFlight.splice(pick % inFlight.length, 1);
        for (let i = f.offset; i < f.offset + f.length; i++) {
          flying[i] = 0;
          if (acked) ackCount[i] = (ackCount[i] ?? 0) + 1;
        }
        if (acked) {
          if (f.fin) finAcks++;
          b.onAcked(f.offset, f.length, f.fin);
        } else b.onLost(f.offset, f.length, f.fin);
      };
      for (const o of ops) {
        if (o.kind === 'write') {
          const d = bytes(o.n, source.length);
          for (const x of d) source.push(x);
          b.write(d);
        } else if (o.kind === 'send') send(o.room, o.credit);
        else settle(o.pick, o.kind === 'ack');
      }
      if (endIt) b.end();
      // Drain: acknowledge everything in flight, then send and acknowledge until done.
      for (let guard = 0; guard < 10_000; guard++) {
        while (inFlight.length > 0) settle(0, true);
        if (!b.hasSendable(true)) break;
        send(1200, 1200);
      }
      assert.is(newBytes, source.length, 'each byte consumed credit exactly once');
      for (let i = 0; i < source.length; i++) assert.is(ackCount[i], 1, `byte ${i} acknowledged once`);
      assert.is(b.acknowledgedOffset, source.length);
      assert.is(b.bufferedBytes, 0);
      assert.ok(b.heldChunks <= 1);
      assert.not.ok(b.isFull);
      assert.is(finAcks, endIt ? 1 : 0);
      assert.is(b.allAcknowledged, endIt);
    }),
    { numRuns: 300 },
  );
});

test('a small write does not pin a full page: 1,000 buffers holding 90 bytes each take well under 1,000 × 16 KiB', () => {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const before = process.memoryUsage().arrayBuffers;
  const held: SendBuffer[] = [];
  for (let i = 0; i < 1000; i++) {
    const b = new SendBuffer();
    b.write(bytes(90, i));
    held.push(b);
  }
  const grown = process.memoryUsage().arrayBuffers - before;
  // 16 KiB pages would hold 16 MB here; 512-byte first pages hold 0.5 MB.
  assert.ok(grown < 2 * 1024 * 1024, `ArrayBuffer memory grew by ${grown} bytes`);
  for (const b of held) assert.equal(b.read(0, 90), bytes(90, held.indexOf(b)));
});

test('pages grow as a stream keeps writing: 1,000 writes of 100 bytes fill a dozen chunks, not 200', () => {
  const b = new SendBuffer({ highWaterMark: Infinity });
  const all: Uint8Array[] = [];
  for (let i = 0; i < 1000; i++) {
    const d = bytes(100, i);
    all.push(d);
    b.write(d);
  }
  assert.ok(b.heldChunks <= 12, `held chunks ${b.heldChunks}`);
  const whole = new Uint8Array(100_000);
  all.forEach((d, i) => whole.set(d, i * 100));
  assert.equal(b.read(0, 100_000), whole);
});

test.run();
