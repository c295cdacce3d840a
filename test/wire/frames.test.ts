import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { Reader } from '../../src/wire/reader.js';
import type { EncryptionLevel } from '../../src/wire/levels.js';
import {
  FrameType,
  decodeFrame,
  decodeFrames,
  encodeFrame,
  frameSize,
  frameTypeOf,
  writeAckFrame,
  writeCryptoFrame,
  writeStreamFrame,
  ackFrameSize,
  streamFrameHeaderSize,
  cryptoFrameHeaderSize,
  type Frame,
  type StreamFrame,
} from '../../src/wire/frames/index.js';
import {
  FRAME_KINDS,
  arbAck,
  arbAckRanges,
  arbCrypto,
  arbData,
  arbEcn,
  arbPayloadFrames,
  arbStream,
  arbVarint,
  frameArbitraries,
} from '../support/frame-arbitraries.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const SENTINEL = 0xa5;

/**
 * Encodes `frame` at `pre` inside a buffer with sentinel bytes on both sides, checks that exactly
 * frameSize bytes were written and nothing outside them, decodes it from exactly that window and
 * returns the decoded frame.
 */
function encodeDecode(frame: Frame, pre: number, post: number): Frame {
  const size = frameSize(frame);
  const buf = new Uint8Array(pre + size + post).fill(SENTINEL);
  const end = encodeFrame(buf, pre, frame);
  assert.is(end - pre, size, `${frame.kind}: encodeFrame wrote ${end - pre} bytes, frameSize said ${size}`);
  for (let i = 0; i < pre; i++) if (buf[i] !== SENTINEL) assert.unreachable(`${frame.kind}: wrote before offset`);
  for (let i = end; i < buf.length; i++) if (buf[i] !== SENTINEL) assert.unreachable(`${frame.kind}: wrote after end`);
  const r = new Reader(buf, pre, end);
  const decoded = decodeFrame(r);
  assert.ok(r.done, `${frame.kind}: decoder consumed ${r.pos - pre} of ${size} bytes`);
  return decoded;
}

for (const kind of FRAME_KINDS) {
  test(`${kind} frames round-trip at any buffer offset and encode to exactly frameSize bytes`, () => {
    fc.assert(
      fc.property(frameArbitraries[kind] as fc.Arbitrary<Frame>, fc.nat(40), fc.nat(40), (frame, pre, post) => {
        assert.equal(encodeDecode(frame, pre, post), frame);
      }),
      { numRuns: kind === 'stream' || kind === 'ack' ? 3000 : 600 },
    );
  });
}

test('STREAM round-trips with every OFF/LEN/FIN combination and writes the matching type byte', () => {
  const seen = new Set<number>();
  fc.assert(
    fc.property(arbStream(), fc.nat(16), (frame, pre) => {
      const buf = new Uint8Array(pre + frameSize(frame));
      encodeFrame(buf, pre, frame);
      const type = buf[pre];
      seen.add(type);
      assert.is(type, frameTypeOf(frame));
      assert.is((type & 0x04) !== 0, frame.offset > 0, 'OFF bit iff offset > 0');
      assert.is((type & 0x02) !== 0, frame.explicitLength, 'LEN bit');
      assert.is((type & 0x01) !== 0, frame.fin, 'FIN bit');
      assert.equal(decodeFrame(new Reader(buf, pre)), frame);
    }),
    { numRuns: 2000 },
  );
  assert.equal([...seen].sort((a, b) => a - b), [0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f]);
});

test('ACK round-trips as type 0x02 without ECN counts and 0x03 with them', () => {
  const types = new Set<number>();
  fc.assert(
    fc.property(arbAck, (frame) => {
      const buf = new Uint8Array(frameSize(frame));
      encodeFrame(buf, 0, frame);
      types.add(buf[0]);
      assert.is(buf[0], frame.ecn === undefined ? FrameType.ACK : FrameType.ACK_ECN);
      assert.equal(decodeFrame(new Reader(buf)), frame);
    }),
    { numRuns: 1000 },
  );
  assert.equal([...types].sort(), [2, 3]);
});

for (const level of ['initial', 'zeroRtt', 'handshake', 'oneRtt'] as EncryptionLevel[]) {
  test(`a payload of permitted ${level} frames decodes back to the same frames`, () => {
    fc.assert(
      fc.property(arbPayloadFrames(level), (frames) => {
        const total = frames.reduce((n, f) => n + frameSize(f), 0);
        const buf = new Uint8Array(total);
        let off = 0;
        for (const f of frames) off = encodeFrame(buf, off, f);
        assert.is(off, total);
        assert.equal(decodeFrames(buf, level), frames);
      }),
      { numRuns: 500 },
    );
  });
}

test('the hot-path writers produce the same bytes as encodeFrame and their header sizes are exact', () => {
  fc.assert(
    fc.property(arbStream(), arbCrypto, fc.nat(8), (s, c, pre) => {
      const len = s.explicitLength !== false;
      const a = new Uint8Array(pre + frameSize(s));
      const b = new Uint8Array(pre + frameSize(s));
      assert.is(writeStreamFrame(a, pre, s.streamId, s.offset, s.data, s.fin, len), a.length);
      encodeFrame(b, pre, s);
      assert.equal(a, b);
      assert.is(streamFrameHeaderSize(s.streamId, s.offset, s.data.length, len) + s.data.length, frameSize(s));

      const c1 = new Uint8Array(pre + frameSize(c));
      const c2 = new Uint8Array(pre + frameSize(c));
      assert.is(writeCryptoFrame(c1, pre, c.offset, c.data), c1.length);
      encodeFrame(c2, pre, c);
      assert.equal(c1, c2);
      assert.is(cryptoFrameHeaderSize(c.offset, c.data.length) + c.data.length, frameSize(c));
    }),
    { numRuns: 1000 },
  );
});

test('writeAckFrame encodes only the newest rangeCount ranges, in exactly ackFrameSize bytes', () => {
  fc.assert(
    fc.property(arbAckRanges(), arbVarint(), fc.option(arbEcn, { nil: undefined }), fc.nat(), (ranges, delay, ecn, k) => {
      const count = 1 + (k % ranges.length);
      const size = ackFrameSize(delay, ranges, count, ecn);
      const buf = new Uint8Array(size + 3).fill(SENTINEL);
      assert.is(writeAckFrame(buf, 1, delay, ranges, count, ecn), 1 + size);
      assert.is(buf[size + 1], SENTINEL);
      const decoded = decodeFrame(new Reader(buf, 1, 1 + size));
      const expected: Frame = { kind: 'ack', largest: ranges[0].largest, ackDelay: delay, ranges: ranges.slice(0, count) };
      if (ecn !== undefined) expected.ecn = ecn;
      assert.equal(decoded, expected);
    }),
    { numRuns: 2000 },
  );
});

test('the RFC 9001 Appendix A.2 client Initial payload is one CRYPTO frame at offset 0 followed by padding', () => {
  const crypto = hex(`
    060040f1010000ed0303ebf8fa56f129 39b9584a3896472ec40bb863cfd3e868
    04fe3a47f06a2b69484c000004130113 02010000c000000010000e00000b6578
    616d706c652e636f6dff01000100000a 00080006001d00170018001000070005
    04616c706e0005000501000000000033 00260024001d00209370b2c9caa47fba
    baf4559fedba753de171fa71f50f1ce1 5d43e994ec74d748002b000302030400
    0d0010000e0403050306030203080408 050806002d00020101001c0002400100
    3900320408ffffffffffffffff050480 00ffff07048000ffff08011001048000
    75300901100f088394c8f03e51570806 048000ffff`);
  const payload = new Uint8Array(1162); // RFC 9001 A.2: "enough PADDING frames to make a 1162-byte payload"
  payload.set(crypto);
  const frames = decodeFrames(payload, 'initial');
  assert.is(frames.length, 2);
  const [c, p] = frames;
  assert.is(c.kind, 'crypto');
  if (c.kind !== 'crypto') return;
  assert.is(c.offset, 0);
  assert.is(c.data.length, 0xf1); // Length 0x40f1 = 241: a 237-byte ClientHello plus its 4-byte header
  assert.is(c.data[0], 0x01, 'TLS ClientHello');
  assert.is((c.data[1] << 16) | (c.data[2] << 8) | c.data[3], 0xed);
  assert.equal(p, { kind: 'padding', length: 1162 - crypto.length });
  // Re-encoding the decoded frames reproduces the payload byte for byte.
  const again = new Uint8Array(1162);
  let off = 0;
  for (const f of frames) off = encodeFrame(again, off, f);
  assert.is(off, 1162);
  assert.is(toHex(again), toHex(payload));
});

test('the RFC 9001 Appendix A.3 server Initial payload is an ACK of packet 0 and a CRYPTO frame', () => {
  const payload = hex(`
    02000000000600405a020000560303ee fce7f7b37ba1d1632e96677825ddf739
    88cfc79825df566dc5430b9a045a1200 130100002e00330024001d00209d3c94
    0d89690b84d08a60993c144eca684d10 81287c834d5311bcf32bb9da1a002b00
    020304`);
  const frames = decodeFrames(payload, 'initial');
  assert.equal(frames[0], { kind: 'ack', largest: 0, ackDelay: 0, ranges: [{ smallest: 0, largest: 0 }] });
  assert.is(frames[1].kind, 'crypto');
  if (frames[1].kind !== 'crypto') return;
  assert.is(frames[1].offset, 0);
  assert.is(frames[1].data.length, 0x5a);
  assert.is(frames[1].data[0], 0x02, 'TLS ServerHello');
  assert.is(frames.length, 2);
});

test('an ACK with two ranges has the RFC 9000 §19.3.1 Gap and ACK Range Length on the wire', () => {
  // Packets 8..10 and 4..5: First ACK Range 2, Gap = 8 - 5 - 2 = 1, ACK Range Length 1.
  const frame: Frame = {
    kind: 'ack',
    largest: 10,
    ackDelay: 3,
    ranges: [
      { smallest: 8, largest: 10 },
      { smallest: 4, largest: 5 },
    ],
  };
  const buf = new Uint8Array(frameSize(frame));
  encodeFrame(buf, 0, frame);
  assert.is(toHex(buf), '020a0301020101');
  assert.equal(decodeFrame(new Reader(buf)), frame);
});

test('known encodings of STREAM, CONNECTION_CLOSE, NEW_CONNECTION_ID and DATAGRAM decode field by field', () => {
  // STREAM 0x0f: stream 4, offset 100 (2-byte varint 0x4064), length 5, FIN.
  assert.equal(decodeFrame(new Reader(hex('0f 04 4064 05 68656c6c6f'))), {
    kind: 'stream',
    streamId: 4,
    offset: 100,
    data: new Uint8Array(Buffer.from('hello')),
    fin: true,
    explicitLength: true,
  });
  // STREAM 0x0c with the OFF bit set and an explicit offset of 0: offset 0, data to the end.
  assert.equal(decodeFrame(new Reader(hex('0c 00 00 aabb'))), {
    kind: 'stream',
    streamId: 0,
    offset: 0,
    data: hex('aabb'),
    fin: false,
    explicitLength: false,
  });
  // CONNECTION_CLOSE 0x1c: PROTOCOL_VIOLATION caused by a STREAM frame, reason "bad".
  assert.equal(decodeFrame(new Reader(hex('1c 0a 08 03 626164'))), {
    kind: 'connectionClose',
    application: false,
    errorCode: 10n,
    frameType: 8,
    reason: hex('626164'),
  });
  // CONNECTION_CLOSE 0x1d has no Frame Type field; error code 2^62-1.
  assert.equal(decodeFrame(new Reader(hex('1d ffffffffffffffff 00'))), {
    kind: 'connectionClose',
    application: true,
    errorCode: 2n ** 62n - 1n,
    reason: new Uint8Array(0),
  });
  const token = '00112233445566778899aabbccddeeff';
  assert.equal(decodeFrame(new Reader(hex(`18 05 02 04 01020304 ${token}`))), {
    kind: 'newConnectionId',
    sequenceNumber: 5,
    retirePriorTo: 2,
    connectionId: hex('01020304'),
    statelessResetToken: hex(token),
  });
  assert.equal(decodeFrame(new Reader(hex('31 02 abcd'))), { kind: 'datagram', data: hex('abcd'), explicitLength: true });
  assert.equal(decodeFrame(new Reader(hex('30 abcdef'))), { kind: 'datagram', data: hex('abcdef'), explicitLength: false });
});

test('limit fields above 2^53-1 saturate at 2^53-1 and stream counts up to 2^60 are accepted', () => {
  const max62 = 'ffffffffffffffff';
  assert.equal(decodeFrame(new Reader(hex(`10 ${max62}`))), { kind: 'maxData', maximum: Number.MAX_SAFE_INTEGER });
  assert.equal(decodeFrame(new Reader(hex(`11 04 ${max62}`))), { kind: 'maxStreamData', streamId: 4, maximum: Number.MAX_SAFE_INTEGER });
  assert.equal(decodeFrame(new Reader(hex(`14 ${max62}`))), { kind: 'dataBlocked', limit: Number.MAX_SAFE_INTEGER });
  assert.equal(decodeFrame(new Reader(hex(`15 04 ${max62}`))), { kind: 'streamDataBlocked', streamId: 4, limit: Number.MAX_SAFE_INTEGER });
  // 2^60 exactly is the largest legal stream count (RFC 9000 §19.11, §19.14).
  assert.equal(decodeFrame(new Reader(hex('12 d000000000000000'))), { kind: 'maxStreams', bidirectional: true, maximum: Number.MAX_SAFE_INTEGER });
  assert.equal(decodeFrame(new Reader(hex('17 d000000000000000'))), { kind: 'streamsBlocked', bidirectional: false, limit: Number.MAX_SAFE_INTEGER });
  // 2^53-1 in 8 bytes stays exact.
  assert.equal(decodeFrame(new Reader(hex('13 c01fffffffffffff'))), { kind: 'maxStreams', bidirectional: false, maximum: Number.MAX_SAFE_INTEGER });
  assert.equal(decodeFrame(new Reader(hex('12 c000000000000005'))), { kind: 'maxStreams', bidirectional: true, maximum: 5 });
});

test('a run of 0x00 bytes decodes as a single PADDING frame that stops at the next frame', () => {
  const payload = hex('000000000001000000');
  assert.equal(decodeFrames(payload, 'initial'), [
    { kind: 'padding', length: 5 },
    { kind: 'ping' },
    { kind: 'padding', length: 3 },
  ]);
});

test('decoded byte strings are views into the packet, not copies', () => {
  fc.assert(
    fc.property(arbData, fc.nat(30), (data, pre) => {
      const frame: StreamFrame = { kind: 'stream', streamId: 1, offset: 7, data, fin: false, explicitLength: true };
      const buf = new Uint8Array(pre + frameSize(frame));
      encodeFrame(buf, pre, frame);
      const d = decodeFrame(new Reader(buf, pre));
      if (d.kind !== 'stream') return assert.unreachable('not a stream frame');
      assert.is(d.data.buffer, buf.buffer);
      assert.is(d.data.byteOffset, buf.byteOffset + buf.length - data.length);
    }),
    { numRuns: 200 },
  );
  const close = hex('1d 00 03 616263');
  const d = decodeFrame(new Reader(close));
  if (d.kind !== 'connectionClose') return assert.unreachable('not a close');
  assert.is(d.reason.buffer, close.buffer);
  d.reason[0] = 0x7a;
  assert.is(close[3], 0x7a, 'writing through the view changes the packet');
});

test('an absent explicitLength encodes a Length field (STREAM and DATAGRAM)', () => {
  const s: Frame = { kind: 'stream', streamId: 0, offset: 0, data: hex('01'), fin: false };
  const d: Frame = { kind: 'datagram', data: hex('01') };
  const b1 = new Uint8Array(frameSize(s));
  encodeFrame(b1, 0, s);
  assert.is(toHex(b1), '0a000101');
  const b2 = new Uint8Array(frameSize(d));
  encodeFrame(b2, 0, d);
  assert.is(toHex(b2), '310101');
});

test.run();
