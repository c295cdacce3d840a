import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { Reader } from '../../src/wire/reader.js';
import { varintSize } from '../../src/wire/varint.js';
import {
  ackFrameSize,
  cryptoFrameHeaderSize,
  decodeFrame,
  decodeFrames,
  fitAckRanges,
  fitCryptoFrame,
  fitStreamFrame,
  streamFrameHeaderSize,
  writeAckFrame,
  writeCryptoFrame,
  writeStreamFrame,
  type AckFrame,
} from '../../src/wire/frames/index.js';
import { arbAckRanges, arbEcn, arbVarint } from '../support/frame-arbitraries.js';

/** Data lengths whose Length field changes size, and their neighbours. */
const LENGTH_EDGES = [0, 1, 2, 61, 62, 63, 64, 65, 66, 16381, 16382, 16383, 16384, 16385, 16386, 2 ** 30 - 2, 2 ** 30 - 1, 2 ** 30, 2 ** 30 + 1];

/** A room of `fixed` header bytes plus an amount that straddles a varint boundary (or anything small). */
function arbRoomAround(fixed: number): fc.Arbitrary<number> {
  return fc.oneof(
    fc.integer({ min: 0, max: 1500 }),
    fc.tuple(fc.constantFrom(...LENGTH_EDGES), fc.integer({ min: -3, max: 9 })).map(([edge, d]) => Math.max(0, fixed + edge + d)),
  );
}

const arbAvailable = fc.oneof(fc.constantFrom(...LENGTH_EDGES), arbVarint(2 ** 31), fc.integer({ min: 0, max: 2000 }));

const streamCase = fc
  .tuple(arbVarint(), fc.oneof(fc.constant(0), arbVarint(2 ** 52)), arbAvailable, fc.boolean())
  .chain(([streamId, offset, available, fin]) =>
    arbRoomAround(streamFrameHeaderSize(streamId, offset, 0, false)).map((room) => ({ room, streamId, offset, available, fin })),
  );

test('fitStreamFrame fits the room, omits Length only when filling it exactly, and is maximal', () => {
  fc.assert(
    fc.property(streamCase, ({ room, streamId, offset, available, fin }) => {
      const fit = fitStreamFrame(room, streamId, offset, available, fin);
      const noLenHeader = streamFrameHeaderSize(streamId, offset, 0, false);
      const sizeWith = (n: number) => streamFrameHeaderSize(streamId, offset, n, true) + n;
      // The only data length that a frame without a Length field can carry in exactly `room` bytes.
      const implicitN = room - noLenHeader;
      if (fit === null) {
        // Not even one byte fits, in either form; nor a FIN-only frame when that is all there is.
        if (available >= 1) {
          assert.ok(sizeWith(1) > room, 'one byte with Length would fit');
          assert.ok(!(implicitN >= 1 && implicitN <= available), 'an exact-fill frame without Length was possible');
        } else if (fin) {
          assert.ok(noLenHeader > room, 'a FIN-only frame would fit');
        }
        return;
      }
      const n = fit.dataLength;
      assert.ok(n <= available, 'more data than available');
      if (available > 0) assert.ok(n >= 1, 'an empty frame for pending data');
      else assert.ok(fin, 'a frame with nothing to send');
      if (fit.explicitLength) assert.ok(sizeWith(n) <= room, `size ${sizeWith(n)} > room ${room}`);
      else assert.is(noLenHeader + n, room, 'a frame without Length must fill the room exactly');
      // Maximal: no larger amount fits with a Length field (sizes grow with n) nor fills the room without one.
      if (n < available) assert.ok(sizeWith(n + 1) > room, `${n + 1} bytes would also fit with Length`);
      assert.ok(!(implicitN > n && implicitN <= available), `${implicitN} bytes would fill the room without Length`);
    }),
    { numRuns: 30_000 },
  );
});

test('fitStreamFrame with a reused result object answers exactly as without one, and returns that object', () => {
  const out = { dataLength: -1, explicitLength: true };
  fc.assert(
    fc.property(streamCase, ({ room, streamId, offset, available, fin }) => {
      const fresh = fitStreamFrame(room, streamId, offset, available, fin);
      const reused = fitStreamFrame(room, streamId, offset, available, fin, out);
      if (fresh === null) assert.is(reused, null);
      else {
        assert.is(reused, out, 'the answer is written into the object given');
        assert.equal({ ...out }, fresh);
      }
    }),
    { numRuns: 10_000 },
  );
});

test('a STREAM frame sized by fitStreamFrame encodes within the room and decodes back as the last frame', () => {
  const small = fc
    .tuple(arbVarint(), fc.oneof(fc.constant(0), arbVarint(2 ** 40)), fc.integer({ min: 0, max: 20_000 }), fc.boolean())
    .chain(([streamId, offset, available, fin]) =>
      arbRoomAround(streamFrameHeaderSize(streamId, offset, 0, false))
        .filter((room) => room <= 20_100)
        .map((room) => ({ room, streamId, offset, available, fin })),
    );
  fc.assert(
    fc.property(small, ({ room, streamId, offset, available, fin }) => {
      const fit = fitStreamFrame(room, streamId, offset, available, fin);
      if (fit === null) return;
      const source = new Uint8Array(fit.dataLength).map((_, i) => i * 7);
      const lastChunk = fin && fit.dataLength === available;
      const buf = new Uint8Array(room + 32).fill(0xee);
      const end = writeStreamFrame(buf, 0, streamId, offset, source, lastChunk, fit.explicitLength);
      assert.ok(end <= room, `wrote ${end} bytes into a room of ${room}`);
      assert.ok(buf.subarray(room).every((b) => b === 0xee), 'wrote past the room');
      // The room is the rest of the packet: decode exactly [0, room) as a payload.
      const padded = buf.slice(0, room).fill(0, end);
      const frames = decodeFrames(padded, 'oneRtt');
      assert.equal(frames[0], { kind: 'stream', streamId, offset, data: source, fin: lastChunk, explicitLength: fit.explicitLength });
    }),
    { numRuns: 4000 },
  );
});

test('fitStreamFrame handles the varint edges: 63/64 bytes of data and a FIN-only frame', () => {
  // Stream 0, offset 0: the header without Length is 2 bytes.
  assert.equal(fitStreamFrame(66, 0, 0, 1000, false), { dataLength: 64, explicitLength: false });
  // 64 bytes would need a 2-byte Length (68 bytes) and do not fill 67 exactly: 63 with a 1-byte Length.
  assert.equal(fitStreamFrame(67, 0, 0, 64, false), { dataLength: 63, explicitLength: true });
  assert.equal(fitStreamFrame(68, 0, 0, 64, false), { dataLength: 64, explicitLength: true });
  assert.equal(fitStreamFrame(66, 0, 0, 64, false), { dataLength: 64, explicitLength: false });
  // 16383 with a 2-byte Length needs 16387; 16384 needs a 4-byte Length: 16390.
  assert.equal(fitStreamFrame(16389, 0, 0, 16384, false), { dataLength: 16383, explicitLength: true });
  assert.equal(fitStreamFrame(16390, 0, 0, 16384, false), { dataLength: 16384, explicitLength: true });
  // Nothing fits.
  assert.is(fitStreamFrame(2, 0, 0, 10, false), null);
  assert.is(fitStreamFrame(1, 0, 0, 10, true), null);
  assert.is(fitStreamFrame(3, 0, 0, 0, false), null, 'nothing to send without FIN');
  // FIN alone: 2 bytes fill the room exactly without Length; 3 bytes leave room for a Length of 0.
  assert.equal(fitStreamFrame(2, 0, 0, 0, true), { dataLength: 0, explicitLength: false });
  assert.equal(fitStreamFrame(3, 0, 0, 0, true), { dataLength: 0, explicitLength: true });
  assert.is(fitStreamFrame(1, 0, 0, 0, true), null);
});

const cryptoCase = fc
  .tuple(arbVarint(2 ** 52), arbAvailable)
  .chain(([offset, available]) => arbRoomAround(1 + varintSize(offset)).map((room) => ({ room, offset, available })));

test('fitCryptoFrame returns the most data that fits with its Length field, and 0 only when nothing does', () => {
  fc.assert(
    fc.property(cryptoCase, ({ room, offset, available }) => {
      const n = fitCryptoFrame(room, offset, available);
      const sizeWith = (k: number) => cryptoFrameHeaderSize(offset, k) + k;
      assert.ok(n >= 0 && n <= available);
      if (n > 0) assert.ok(sizeWith(n) <= room, `size ${sizeWith(n)} > room ${room}`);
      else assert.ok(available === 0 || sizeWith(1) > room, 'one byte would fit');
      if (n < available) assert.ok(sizeWith(n + 1) > room, `${n + 1} bytes would fit`);
    }),
    { numRuns: 30_000 },
  );
});

test('a CRYPTO frame sized by fitCryptoFrame encodes within the room', () => {
  fc.assert(
    fc.property(arbVarint(2 ** 40), fc.integer({ min: 0, max: 20_000 }), fc.integer({ min: 0, max: 20_000 }), (offset, available, room) => {
      const n = fitCryptoFrame(room, offset, available);
      if (n === 0) return;
      const buf = new Uint8Array(room + 16).fill(0xee);
      const end = writeCryptoFrame(buf, 0, offset, new Uint8Array(n).fill(1));
      assert.ok(end <= room);
      const f = decodeFrame(new Reader(buf, 0, end));
      assert.ok(f.kind === 'crypto' && f.offset === offset && f.data.length === n);
    }),
    { numRuns: 3000 },
  );
  assert.is(fitCryptoFrame(66, 0, 1000), 63, '64 bytes need a 2-byte Length: 1+1+2+64 = 68');
  assert.is(fitCryptoFrame(68, 0, 1000), 64);
  assert.is(fitCryptoFrame(3, 0, 1000), 0);
  assert.is(fitCryptoFrame(4, 0, 1000), 1);
  assert.is(fitCryptoFrame(100, 0, 0), 0);
});

const ackCase = fc
  .tuple(fc.oneof(arbAckRanges(8), arbAckRanges(90, 60)), arbVarint(), fc.option(arbEcn, { nil: undefined }), fc.nat(), fc.integer({ min: -3, max: 3 }))
  .map(([ranges, delay, ecn, k, d]) => {
    // A room at, just below or just above the size of a random prefix of ranges.
    const count = 1 + (k % ranges.length);
    return { ranges, delay, ecn, room: Math.max(0, ackFrameSize(delay, ranges, count, ecn) + d) };
  });

test('fitAckRanges returns the largest count of newest ranges whose ACK frame fits the room', () => {
  let crossed64 = false;
  fc.assert(
    fc.property(ackCase, ({ ranges, delay, ecn, room }) => {
      const k = fitAckRanges(delay, ranges, ecn, room);
      assert.ok(k >= 0 && k <= ranges.length);
      if (k > 0) assert.ok(ackFrameSize(delay, ranges, k, ecn) <= room, 'does not fit');
      else assert.ok(ackFrameSize(delay, ranges, 1, ecn) > room, 'one range would fit');
      if (k < ranges.length) assert.ok(ackFrameSize(delay, ranges, k + 1, ecn) > room, `${k + 1} ranges would fit`);
      if (k >= 65) crossed64 = true;
      if (k > 0 && room < 4096) {
        const buf = new Uint8Array(room + 8).fill(0xee);
        const end = writeAckFrame(buf, 0, delay, ranges, k, ecn);
        assert.ok(end <= room);
        const f = decodeFrame(new Reader(buf, 0, end)) as AckFrame;
        assert.equal(f.ranges, ranges.slice(0, k));
      }
    }),
    { numRuns: 20_000 },
  );
  assert.ok(crossed64, 'some case carried more than 64 ranges (2-byte ACK Range Count)');
});

test('fitAckRanges accounts for the ACK Range Count growing from 1 to 2 bytes at 64 ranges', () => {
  // 66 single-packet ranges 2 apart: 200, 198, ..., 70. Each extra range costs Gap(1) + Length(1).
  const ranges = Array.from({ length: 66 }, (_, i) => ({ smallest: 200 - 2 * i, largest: 200 - 2 * i }));
  const size = (k: number) => ackFrameSize(0, ranges, k);
  assert.is(size(64), 1 + 2 + 1 + 1 + 1 + 63 * 2); // type, largest 200, delay, count 63, first range
  assert.is(size(65), size(64) + 1 + 2, 'count 64 needs 2 bytes');
  assert.is(fitAckRanges(0, ranges, undefined, size(65) - 1), 64);
  assert.is(fitAckRanges(0, ranges, undefined, size(65)), 65);
  assert.is(fitAckRanges(0, ranges, undefined, size(1) - 1), 0);
  assert.is(fitAckRanges(0, [], undefined, 1000), 0);
});

test.run();
