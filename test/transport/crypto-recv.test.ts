import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { CryptoRecvBuffer, DEFAULT_CRYPTO_BUFFER, MIN_CRYPTO_BUFFER } from '../../src/transport/crypto-recv.js';
import { QuicError, TransportErrorCode } from '../../src/wire/errors.js';
import { FrameType } from '../../src/wire/frames/types.js';

function bytes(from: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (from * 7 + i * 13) & 0xff;
  return out;
}

/** The bytes of the CRYPTO stream at [offset, offset + length), with a content that depends on the offset only. */
function stream(offset: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = ((offset + i) * 31 + 7) & 0xff;
  return out;
}

function flat(chunks: Uint8Array[]): number[] {
  return chunks.flatMap((c) => [...c]);
}

function expectError(fn: () => unknown, code: number): QuicError {
  try {
    fn();
  } catch (e) {
    assert.instance(e, QuicError);
    assert.is((e as QuicError).code, code, (e as QuicError).message);
    assert.is((e as QuicError).frameType, FrameType.CRYPTO);
    return e as QuicError;
  }
  assert.unreachable('expected a QuicError');
  throw new Error('unreachable');
}

test('in-order CRYPTO data is delivered at once, as copies', () => {
  const c = new CryptoRecvBuffer('initial');
  const packet = stream(0, 100);
  const out = c.receive(0, packet);
  packet.fill(0);
  assert.equal(flat(out), [...stream(0, 100)]);
  assert.is(c.deliveredOffset, 100);
  assert.is(c.bufferedBytes, 0);
});

test('out-of-order CRYPTO data is held and delivered in order once the hole is filled', () => {
  const c = new CryptoRecvBuffer('handshake');
  assert.equal(c.receive(100, stream(100, 50)), []);
  assert.equal(c.receive(200, stream(200, 50)), []);
  assert.is(c.bufferedBytes, 100);
  assert.equal(flat(c.receive(0, stream(0, 100))), [...stream(0, 150)]);
  assert.equal(flat(c.receive(150, stream(150, 50))), [...stream(150, 100)]);
  assert.is(c.deliveredOffset, 250);
  assert.is(c.bufferedBytes, 0);
});

test('data entirely below the delivered offset is ignored; a partial overlap delivers only the new bytes', () => {
  const c = new CryptoRecvBuffer('initial');
  c.receive(0, stream(0, 100));
  assert.equal(c.receive(0, stream(0, 100)), []);
  assert.equal(c.receive(40, stream(40, 60)), []);
  assert.equal(flat(c.receive(50, stream(50, 70))), [...stream(100, 20)]);
  assert.is(c.deliveredOffset, 120);
});

test('ignored retransmissions are not compared, buffered ones are: changed buffered data is PROTOCOL_VIOLATION', () => {
  const c = new CryptoRecvBuffer('initial');
  c.receive(0, stream(0, 10));
  assert.equal(c.receive(0, bytes(99, 10)), []);
  c.receive(20, stream(20, 10));
  expectError(() => c.receive(20, bytes(99, 10)), TransportErrorCode.PROTOCOL_VIOLATION);
});

test('out-of-order data reaching exactly the buffer bound is accepted; one byte more is CRYPTO_BUFFER_EXCEEDED', () => {
  const c = new CryptoRecvBuffer('handshake', { maxBufferedBytes: MIN_CRYPTO_BUFFER });
  c.receive(0, stream(0, 10));
  c.receive(10 + MIN_CRYPTO_BUFFER - 100, stream(10 + MIN_CRYPTO_BUFFER - 100, 100));
  const e = expectError(() => c.receive(11, stream(11, MIN_CRYPTO_BUFFER)), TransportErrorCode.CRYPTO_BUFFER_EXCEEDED);
  assert.match(e.reason, /handshake/);
});

test('the default bound accepts 4096 bytes of out-of-order data, as RFC 9000 §7.5 requires, and more', () => {
  const c = new CryptoRecvBuffer('handshake');
  c.receive(1, stream(1, DEFAULT_CRYPTO_BUFFER - 1));
  assert.is(c.bufferedBytes, DEFAULT_CRYPTO_BUFFER - 1);
  assert.ok(DEFAULT_CRYPTO_BUFFER >= MIN_CRYPTO_BUFFER);
  assert.is(flat(c.receive(0, stream(0, 1))).length, DEFAULT_CRYPTO_BUFFER);
});

test('a bound below 4096 bytes is refused at construction', () => {
  assert.throws(() => new CryptoRecvBuffer('initial', { maxBufferedBytes: 4095 }), RangeError);
});

test('in-order data is never refused by the out-of-order bound', () => {
  const c = new CryptoRecvBuffer('handshake', { maxBufferedBytes: MIN_CRYPTO_BUFFER });
  assert.is(flat(c.receive(0, stream(0, 3 * MIN_CRYPTO_BUFFER))).length, 3 * MIN_CRYPTO_BUFFER);
});

test('data ending beyond the total offset bound is CRYPTO_BUFFER_EXCEEDED, even in order', () => {
  const c = new CryptoRecvBuffer('oneRtt', { maxOffset: 5000 });
  c.receive(0, stream(0, 5000));
  expectError(() => c.receive(5000, stream(5000, 1)), TransportErrorCode.CRYPTO_BUFFER_EXCEEDED);
});

test('tiny out-of-order fragments with holes exceed the fragmentation bound as CRYPTO_BUFFER_EXCEEDED', () => {
  const c = new CryptoRecvBuffer('initial');
  expectError(() => {
    for (let off = 2; off < DEFAULT_CRYPTO_BUFFER; off += 2) c.receive(off, stream(off, 1));
  }, TransportErrorCode.CRYPTO_BUFFER_EXCEEDED);
});

test('after the level is discarded, nothing is held and frames are ignored', () => {
  const c = new CryptoRecvBuffer('initial');
  c.receive(10, stream(10, 10));
  c.discard();
  assert.ok(c.isDiscarded);
  assert.is(c.bufferedBytes, 0);
  assert.equal(c.receive(0, stream(0, 30)), []);
});

test('receiveFrame takes a decoded CRYPTO frame', () => {
  const c = new CryptoRecvBuffer('initial');
  assert.equal(flat(c.receiveFrame({ kind: 'crypto', offset: 0, data: stream(0, 5) })), [...stream(0, 5)]);
});

test('an invalid offset is refused with INTERNAL_ERROR', () => {
  const c = new CryptoRecvBuffer('initial');
  try {
    c.receive(-5, stream(0, 1));
    assert.unreachable();
  } catch (e) {
    assert.is((e as QuicError).code, TransportErrorCode.INTERNAL_ERROR);
  }
});

test('property: any segmentation, reordering and duplication within the bound delivers the stream exactly, holding at most the bound', () => {
  const bound = MIN_CRYPTO_BUFFER;
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 12000 }),
      fc.array(fc.integer({ min: 1, max: 1200 }), { minLength: 1, maxLength: 20 }),
      fc.array(fc.nat(), { minLength: 1, maxLength: 50 }),
      (total, cuts, picks) => {
        const frames: { offset: number; length: number }[] = [];
        for (let off = 0, i = 0; off < total; i++) {
          const len = Math.min(cuts[i % cuts.length], total - off);
          frames.push({ offset: off, length: len });
          off += len;
        }
        const c = new CryptoRecvBuffer('handshake', { maxBufferedBytes: bound });
        const pending = [...frames];
        const repeated = new Set<{ offset: number; length: number }>();
        const out: number[] = [];
        let p = 0;
        while (pending.length > 0) {
          // Deliver a frame within the bound (a sender keeps that much in flight), sometimes twice.
          const eligible = pending.filter((f) => f.offset <= c.deliveredOffset || f.offset + f.length - c.deliveredOffset <= bound);
          const f = eligible[picks[p++ % picks.length] % eligible.length];
          const packet = stream(f.offset, f.length);
          out.push(...flat(c.receive(f.offset, packet)));
          packet.fill(0);
          // Each frame arrives once or twice.
          if (repeated.has(f) || picks[p++ % picks.length] % 5 !== 0) pending.splice(pending.indexOf(f), 1);
          else repeated.add(f);
          assert.ok(c.bufferedBytes <= bound);
          assert.is(c.deliveredOffset, out.length);
        }
        assert.equal(out, [...stream(0, total)]);
        assert.is(c.bufferedBytes, 0);
      },
    ),
    { numRuns: 300 },
  );
});

test('property: out-of-order data reaching beyond the bound is always refused with CRYPTO_BUFFER_EXCEEDED, never buffered', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 3000 }), fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 1, max: 2000 }), (delivered, gap, length) => {
      const c = new CryptoRecvBuffer('initial', { maxBufferedBytes: MIN_CRYPTO_BUFFER });
      c.receive(0, stream(0, delivered));
      const offset = delivered + gap;
      const beyond = offset + length - delivered > MIN_CRYPTO_BUFFER;
      try {
        c.receive(offset, stream(offset, length));
        assert.not.ok(beyond);
        assert.is(c.bufferedBytes, length);
      } catch (e) {
        assert.ok(beyond);
        assert.is((e as QuicError).code, TransportErrorCode.CRYPTO_BUFFER_EXCEEDED);
        assert.is(c.bufferedBytes, 0);
      }
    }),
    { numRuns: 500 },
  );
});

test.run();
