import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { QuicError, TransportErrorCode } from '../../src/wire/errors.js';
import { Reader } from '../../src/wire/reader.js';
import type { EncryptionLevel } from '../../src/wire/levels.js';
import {
  countsInFlight,
  decodeFrame,
  decodeFrames,
  encodeFrame,
  frameAllowedIn,
  frameSize,
  frameTypeOf,
  isAckEliciting,
  isKnownFrameType,
  writeAckFrame,
  type Frame,
  type FrameKind,
} from '../../src/wire/frames/index.js';
import { FRAME_KINDS, arbFrame, arbSelfDelimitedFrame } from '../support/frame-arbitraries.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const { FRAME_ENCODING_ERROR, PROTOCOL_VIOLATION, INTERNAL_ERROR } = TransportErrorCode;
const LEVELS: EncryptionLevel[] = ['initial', 'handshake', 'zeroRtt', 'oneRtt'];

/** Runs `fn`, asserts it throws a QuicError with `code` (and `frameType` when given), returns it. */
function throwsQuic(fn: () => unknown, code: number, frameType?: number, label = ''): QuicError {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof QuicError)) {
      assert.unreachable(`${label}: expected QuicError, got ${String(e)}`);
      throw e;
    }
    assert.is(e.code, code, `${label}: code ${e.code} (${e.message})`);
    if (frameType !== undefined) assert.is(e.frameType, frameType, `${label}: frameType`);
    return e;
  }
  assert.unreachable(`${label}: expected a QuicError with code ${code}, nothing thrown`);
  throw new Error('unreachable');
}

const decodeHex = (h: string) => decodeFrame(new Reader(hex(h)));

// ---------------------------------------------------------------------------------------------
// RFC 9000 §12.4 Table 3 (+ §12.5 for 0-RTT, RFC 9221 §4 for DATAGRAM)
// ---------------------------------------------------------------------------------------------

const token16 = '00'.repeat(16);
/** A minimal valid encoding of every frame type, and its "Pkts" column in I, H, 0, 1 order. */
const TABLE: Array<[type: number, encoding: string, pkts: string]> = [
  [0x00, '00', 'IH01'],
  [0x01, '01', 'IH01'],
  [0x02, '02 00 00 00 00', 'IH_1'],
  [0x03, '03 00 00 00 00 00 00 00', 'IH_1'],
  [0x04, '04 00 00 00', '__01'],
  [0x05, '05 00 00', '__01'],
  [0x06, '06 00 00', 'IH_1'],
  [0x07, '07 01 aa', '___1'],
  ...[0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f].map((t): [number, string, string] => [
    t,
    t.toString(16).padStart(2, '0') + '00' + (t & 4 ? '01' : '') + (t & 2 ? '00' : ''),
    '__01',
  ]),
  [0x10, '10 00', '__01'],
  [0x11, '11 00 00', '__01'],
  [0x12, '12 00', '__01'],
  [0x13, '13 00', '__01'],
  [0x14, '14 00', '__01'],
  [0x15, '15 00 00', '__01'],
  [0x16, '16 00', '__01'],
  [0x17, '17 00', '__01'],
  [0x18, `18 01 00 01 aa ${token16}`, '__01'],
  [0x19, '19 00', '___1'], // §12.5: not in 0-RTT (Table 3 says __01)
  [0x1a, '1a 0001020304050607', '__01'],
  [0x1b, '1b 0001020304050607', '___1'],
  [0x1c, '1c 00 00 00', 'IH01'],
  [0x1d, '1d 00 00', '__01'],
  [0x1e, '1e', '___1'],
  [0x30, '30', '__01'],
  [0x31, '31 00', '__01'],
];
const pktsIndex: Record<EncryptionLevel, number> = { initial: 0, handshake: 1, zeroRtt: 2, oneRtt: 3 };

test('every frame type is accepted exactly in the packet types RFC 9000 Table 3 and §12.5 permit', () => {
  for (const [type, encoding, pkts] of TABLE) {
    for (const level of LEVELS) {
      const allowed = pkts[pktsIndex[level]] !== '_';
      const label = `type 0x${type.toString(16)} in ${level}`;
      assert.is(frameAllowedIn(type, level), allowed, label);
      const payload = hex(encoding);
      if (allowed) {
        const frames = decodeFrames(payload, level);
        assert.is(frames.length, 1, label);
        assert.is(frameTypeOf(frames[0]), type, label);
      } else {
        throwsQuic(() => decodeFrames(payload, level), PROTOCOL_VIOLATION, type, label);
      }
    }
  }
});

test('a forbidden frame after permitted ones still fails the whole payload with PROTOCOL_VIOLATION', () => {
  throwsQuic(() => decodeFrames(hex('01 00 00 1e'), 'handshake'), PROTOCOL_VIOLATION, 0x1e);
  throwsQuic(() => decodeFrames(hex('06 00 01 aa 02 00 00 00 00'), 'zeroRtt'), PROTOCOL_VIOLATION, 0x06);
});

test('unknown frame types are never known nor allowed in any packet type', () => {
  for (const type of [-1, 1.5, 0x1f, 0x20, 0x2f, 0x32, 0x3f, 0x40, 0x4000]) {
    assert.is(isKnownFrameType(type), false, `isKnownFrameType(${type})`);
    for (const level of LEVELS) assert.is(frameAllowedIn(type, level), false, `0x${type.toString(16)} ${level}`);
  }
  for (const [type] of TABLE) assert.is(isKnownFrameType(type), true, `isKnownFrameType(0x${type.toString(16)})`);
});

test('an empty payload is a PROTOCOL_VIOLATION at every level (RFC 9000 §12.4)', () => {
  for (const level of LEVELS) throwsQuic(() => decodeFrames(new Uint8Array(0), level), PROTOCOL_VIOLATION, undefined, level);
});

test('an unknown frame type is a FRAME_ENCODING_ERROR naming that type', () => {
  const unknown = [...Array(0x40).keys()].filter((t) => !TABLE.some(([k]) => k === t));
  assert.ok(unknown.includes(0x1f) && unknown.includes(0x2f) && unknown.includes(0x32));
  for (const t of unknown) {
    const payload = Uint8Array.of(t, 0, 0, 0);
    throwsQuic(() => decodeFrames(payload, 'oneRtt'), FRAME_ENCODING_ERROR, t, `0x${t.toString(16)}`);
    throwsQuic(() => decodeFrame(new Reader(payload)), FRAME_ENCODING_ERROR, t, `0x${t.toString(16)}`);
  }
  // Types that need 2, 4 or 8 bytes are all unknown (every defined type is below 64).
  throwsQuic(() => decodeFrames(hex('4040'), 'oneRtt'), FRAME_ENCODING_ERROR, 0x40);
  throwsQuic(() => decodeFrames(hex('80abcdef'), 'oneRtt'), FRAME_ENCODING_ERROR, 0xabcdef);
  throwsQuic(() => decodeFrames(hex('c000000100000000'), 'oneRtt'), FRAME_ENCODING_ERROR, 2 ** 32);
  // A type above 2^53-1 cannot even be held exactly: still FRAME_ENCODING_ERROR.
  throwsQuic(() => decodeFrames(hex('ffffffffffffffff'), 'oneRtt'), FRAME_ENCODING_ERROR);
  // A truncated multi-byte type.
  throwsQuic(() => decodeFrames(hex('40'), 'oneRtt'), FRAME_ENCODING_ERROR);
});

test('a frame type encoded in more bytes than necessary is a PROTOCOL_VIOLATION (RFC 9000 §12.4)', () => {
  throwsQuic(() => decodeFrames(hex('4001'), 'oneRtt'), PROTOCOL_VIOLATION, 0x01, 'PING in 2 bytes');
  throwsQuic(() => decodeFrames(hex('4000'), 'initial'), PROTOCOL_VIOLATION, 0x00, 'PADDING in 2 bytes');
  throwsQuic(() => decodeFrames(hex('80000006 00 00'), 'initial'), PROTOCOL_VIOLATION, 0x06, 'CRYPTO in 4 bytes');
  throwsQuic(() => decodeFrames(hex('c00000000000001e'), 'oneRtt'), PROTOCOL_VIOLATION, 0x1e, 'HANDSHAKE_DONE in 8 bytes');
  throwsQuic(() => decodeFrame(new Reader(hex('4008 00'))), PROTOCOL_VIOLATION, 0x08, 'STREAM in 2 bytes');
  // After valid frames, too.
  throwsQuic(() => decodeFrames(hex('01 0000 4001'), 'oneRtt'), PROTOCOL_VIOLATION, 0x01);
});

// ---------------------------------------------------------------------------------------------
// RFC 9000 §19 field validation
// ---------------------------------------------------------------------------------------------

test('STREAM data ending beyond 2^62-1 (or beyond the exact 2^53-1) is a FRAME_ENCODING_ERROR', () => {
  // Offset 2^62-1 with one byte of data (RFC 9000 §19.8).
  throwsQuic(() => decodeHex('0e 00 ffffffffffffffff 01 aa'), FRAME_ENCODING_ERROR, 0x0e);
  throwsQuic(() => decodeHex('0c 00 ffffffffffffffff aa'), FRAME_ENCODING_ERROR, 0x0c);
  // Offset 2^53-1 with one byte: legal on the wire but not representable exactly here.
  throwsQuic(() => decodeHex('0e 00 c01fffffffffffff 01 aa'), FRAME_ENCODING_ERROR, 0x0e);
  // The largest representable end offsets decode.
  assert.is((decodeHex('0e 00 c01ffffffffffffe 01 aa') as { offset: number }).offset, 2 ** 53 - 2);
  assert.is((decodeHex('0f 00 c01fffffffffffff 00') as { offset: number }).offset, 2 ** 53 - 1);
});

test('CRYPTO data ending beyond 2^62-1 (or beyond the exact 2^53-1) is a FRAME_ENCODING_ERROR', () => {
  throwsQuic(() => decodeHex('06 ffffffffffffffff 01 aa'), FRAME_ENCODING_ERROR, 0x06);
  throwsQuic(() => decodeHex('06 c01fffffffffffff 01 aa'), FRAME_ENCODING_ERROR, 0x06);
  assert.is((decodeHex('06 c01ffffffffffffe 01 aa') as { offset: number }).offset, 2 ** 53 - 2);
});

test('a length that runs past the payload is a FRAME_ENCODING_ERROR, not a short read', () => {
  throwsQuic(() => decodeHex('0a 00 05 aabb'), FRAME_ENCODING_ERROR, 0x0a);
  throwsQuic(() => decodeHex('06 00 05 aabb'), FRAME_ENCODING_ERROR, 0x06);
  throwsQuic(() => decodeHex('31 05 aabb'), FRAME_ENCODING_ERROR, 0x31);
  throwsQuic(() => decodeHex('07 05 aabb'), FRAME_ENCODING_ERROR, 0x07);
  throwsQuic(() => decodeHex('1c 00 00 05 aabb'), FRAME_ENCODING_ERROR, 0x1c);
  throwsQuic(() => decodeHex('1d 00 ffff aabb'), FRAME_ENCODING_ERROR, 0x1d);
});

test('NEW_TOKEN with an empty token is a FRAME_ENCODING_ERROR (RFC 9000 §19.7)', () => {
  throwsQuic(() => decodeHex('07 00'), FRAME_ENCODING_ERROR, 0x07);
  assert.equal(decodeHex('07 01 aa'), { kind: 'newToken', token: hex('aa') });
});

test('NEW_CONNECTION_ID with a length of 0 or above 20 is a FRAME_ENCODING_ERROR (RFC 9000 §19.15)', () => {
  const cid = (n: number) => 'ab'.repeat(n);
  throwsQuic(() => decodeHex(`18 01 00 00 ${token16}`), FRAME_ENCODING_ERROR, 0x18);
  throwsQuic(() => decodeHex(`18 01 00 15 ${cid(21)} ${token16}`), FRAME_ENCODING_ERROR, 0x18);
  throwsQuic(() => decodeHex(`18 01 00 ff ${cid(255)} ${token16}`), FRAME_ENCODING_ERROR, 0x18);
  assert.is((decodeHex(`18 01 00 01 ${cid(1)} ${token16}`) as { connectionId: Uint8Array }).connectionId.length, 1);
  assert.is((decodeHex(`18 01 00 14 ${cid(20)} ${token16}`) as { connectionId: Uint8Array }).connectionId.length, 20);
});

test('NEW_CONNECTION_ID with Retire Prior To above Sequence Number is a FRAME_ENCODING_ERROR (RFC 9000 §19.15)', () => {
  throwsQuic(() => decodeHex(`18 03 04 01 aa ${token16}`), FRAME_ENCODING_ERROR, 0x18);
  assert.is((decodeHex(`18 04 04 01 aa ${token16}`) as { retirePriorTo: number }).retirePriorTo, 4);
});

test('NEW_CONNECTION_ID with a truncated stateless reset token is a FRAME_ENCODING_ERROR', () => {
  throwsQuic(() => decodeHex(`18 01 00 01 aa ${'00'.repeat(15)}`), FRAME_ENCODING_ERROR, 0x18);
});

test('an ACK range going below packet number 0 is a FRAME_ENCODING_ERROR (RFC 9000 §19.3.1)', () => {
  // First ACK Range larger than Largest Acknowledged.
  throwsQuic(() => decodeHex('02 05 00 00 06'), FRAME_ENCODING_ERROR, 0x02);
  assert.equal(decodeHex('02 05 00 00 05'), { kind: 'ack', largest: 5, ackDelay: 0, ranges: [{ smallest: 0, largest: 5 }] });
  // Second range: 10..10, gap 8 -> largest 0, length 1 -> smallest -1.
  throwsQuic(() => decodeHex('02 0a 00 01 00 08 01'), FRAME_ENCODING_ERROR, 0x02);
  assert.equal((decodeHex('02 0a 00 01 00 08 00') as { ranges: unknown }).ranges, [
    { smallest: 10, largest: 10 },
    { smallest: 0, largest: 0 },
  ]);
  // Gap alone pushes the next range's largest below 0 (ACK_ECN too).
  throwsQuic(() => decodeHex('03 0a 00 01 00 09 00 00 00 00'), FRAME_ENCODING_ERROR, 0x03);
});

test('an ACK Range Count far beyond the payload fails on truncation without allocating for it', () => {
  // 2^62-1 ranges claimed: refused as a count (above 2^53-1) — FRAME_ENCODING_ERROR.
  throwsQuic(() => decodeHex('02 0a 00 ffffffffffffffff 00 00 00'), FRAME_ENCODING_ERROR, 0x02);
  // 2^53-1 ranges claimed, two present: the loop ends at the payload's end.
  throwsQuic(() => decodeHex('02 40ff 00 c01fffffffffffff 00 00 00 00 00'), FRAME_ENCODING_ERROR, 0x02);
  // Claimed count one above what is present.
  throwsQuic(() => decodeHex('02 40ff 00 03 00 00 00 00 00'), FRAME_ENCODING_ERROR, 0x02);
});

test('MAX_STREAMS and STREAMS_BLOCKED above 2^60 are FRAME_ENCODING_ERRORs (RFC 9000 §19.11, §19.14)', () => {
  for (const type of [0x12, 0x13, 0x16, 0x17]) {
    const t = type.toString(16);
    throwsQuic(() => decodeHex(`${t} d000000000000001`), FRAME_ENCODING_ERROR, type, `${t} 2^60+1`);
    throwsQuic(() => decodeHex(`${t} ffffffffffffffff`), FRAME_ENCODING_ERROR, type, `${t} 2^62-1`);
    decodeHex(`${t} d000000000000000`); // exactly 2^60 is legal
  }
});

test('exact fields above 2^53-1 (stream IDs, packet numbers, sequence numbers) are FRAME_ENCODING_ERRORs', () => {
  const big = 'ffffffffffffffff';
  throwsQuic(() => decodeHex(`0a ${big} 00`), FRAME_ENCODING_ERROR, 0x0a);
  throwsQuic(() => decodeHex(`02 ${big} 00 00 00`), FRAME_ENCODING_ERROR, 0x02);
  throwsQuic(() => decodeHex(`19 ${big}`), FRAME_ENCODING_ERROR, 0x19);
  throwsQuic(() => decodeHex(`04 00 00 ${big}`), FRAME_ENCODING_ERROR, 0x04);
});

test('ACK Delay and the CONNECTION_CLOSE Frame Type saturate at 2^53-1 instead of failing', () => {
  const big = 'ffffffffffffffff';
  assert.is((decodeHex(`02 00 ${big} 00 00`) as { ackDelay: number }).ackDelay, Number.MAX_SAFE_INTEGER);
  assert.is((decodeHex(`1c 00 ${big} 00`) as { frameType: number }).frameType, Number.MAX_SAFE_INTEGER);
});

test('every proper prefix of a frame with its own length fails with FRAME_ENCODING_ERROR naming the frame type', () => {
  fc.assert(
    fc.property(
      arbSelfDelimitedFrame.filter((f) => f.kind !== 'padding'),
      (frame) => {
        const buf = new Uint8Array(frameSize(frame));
        encodeFrame(buf, 0, frame);
        const type = frameTypeOf(frame);
        // Every byte of a frame is needed: cut anywhere and it no longer decodes.
        const cuts = buf.length <= 24 ? [...Array(buf.length).keys()].slice(1) : [1, 2, 3, buf.length >> 1, buf.length - 2, buf.length - 1];
        for (const cut of cuts) {
          throwsQuic(() => decodeFrame(new Reader(buf, 0, cut)), FRAME_ENCODING_ERROR, type, `${frame.kind} cut at ${cut}/${buf.length}`);
        }
      },
    ),
    { numRuns: 1500 },
  );
});

// ---------------------------------------------------------------------------------------------
// Encoder refusals (our own programming errors) and classification
// ---------------------------------------------------------------------------------------------

test('encodeFrame refuses frames that would be invalid on the wire, before writing anything', () => {
  const bad: Array<[string, Frame]> = [
    ['empty NEW_TOKEN', { kind: 'newToken', token: new Uint8Array(0) }],
    ['0-byte connection ID', { kind: 'newConnectionId', sequenceNumber: 1, retirePriorTo: 0, connectionId: new Uint8Array(0), statelessResetToken: new Uint8Array(16) }],
    ['21-byte connection ID', { kind: 'newConnectionId', sequenceNumber: 1, retirePriorTo: 0, connectionId: new Uint8Array(21), statelessResetToken: new Uint8Array(16) }],
    ['15-byte reset token', { kind: 'newConnectionId', sequenceNumber: 1, retirePriorTo: 0, connectionId: new Uint8Array(4), statelessResetToken: new Uint8Array(15) }],
    ['Retire Prior To > Sequence Number', { kind: 'newConnectionId', sequenceNumber: 1, retirePriorTo: 2, connectionId: new Uint8Array(4), statelessResetToken: new Uint8Array(16) }],
    ['7-byte PATH_CHALLENGE', { kind: 'pathChallenge', data: new Uint8Array(7) }],
    ['9-byte PATH_RESPONSE', { kind: 'pathResponse', data: new Uint8Array(9) }],
    ['0-byte PADDING', { kind: 'padding', length: 0 }],
    ['ACK without ranges', { kind: 'ack', largest: 0, ackDelay: 0, ranges: [] }],
    ['ACK largest mismatch', { kind: 'ack', largest: 9, ackDelay: 0, ranges: [{ smallest: 0, largest: 8 }] }],
    ['ACK ranges touching', { kind: 'ack', largest: 9, ackDelay: 0, ranges: [{ smallest: 5, largest: 9 }, { smallest: 2, largest: 4 }] }],
    ['ACK ranges ascending', { kind: 'ack', largest: 3, ackDelay: 0, ranges: [{ smallest: 2, largest: 3 }, { smallest: 6, largest: 8 }] }],
    ['ACK range inverted', { kind: 'ack', largest: 9, ackDelay: 0, ranges: [{ smallest: 9, largest: 9 }, { smallest: 5, largest: 3 }] }],
    ['STREAM ending past 2^53-1', { kind: 'stream', streamId: 0, offset: Number.MAX_SAFE_INTEGER, data: new Uint8Array(1), fin: false }],
    ['CRYPTO ending past 2^53-1', { kind: 'crypto', offset: Number.MAX_SAFE_INTEGER, data: new Uint8Array(1) }],
  ];
  for (const [label, frame] of bad) {
    const buf = new Uint8Array(64).fill(0xee);
    throwsQuic(() => encodeFrame(buf, 3, frame), INTERNAL_ERROR, undefined, label);
    assert.ok(buf.every((b) => b === 0xee), `${label}: nothing written`);
  }
  const buf = new Uint8Array(64);
  const ranges = [{ smallest: 5, largest: 9 }];
  throwsQuic(() => writeAckFrame(buf, 0, 0, ranges, 0), INTERNAL_ERROR, undefined, 'rangeCount 0');
  throwsQuic(() => writeAckFrame(buf, 0, 0, ranges, 2), INTERNAL_ERROR, undefined, 'rangeCount > ranges');
});

test('every frame starts with the type frameTypeOf reports', () => {
  fc.assert(
    fc.property(arbFrame, (frame) => {
      const buf = new Uint8Array(frameSize(frame));
      encodeFrame(buf, 0, frame);
      assert.is(buf[0], frameTypeOf(frame));
    }),
    { numRuns: 2000 },
  );
});

test('all frames but ACK, PADDING and CONNECTION_CLOSE are ack-eliciting; only ACK and CONNECTION_CLOSE stay out of bytes in flight', () => {
  const notEliciting: FrameKind[] = ['ack', 'padding', 'connectionClose'];
  for (const kind of FRAME_KINDS) {
    assert.is(isAckEliciting(kind), !notEliciting.includes(kind), `isAckEliciting(${kind})`);
    assert.is(countsInFlight(kind), kind !== 'ack' && kind !== 'connectionClose', `countsInFlight(${kind})`);
  }
  assert.is(isAckEliciting({ kind: 'ping' }), true);
  assert.is(isAckEliciting({ kind: 'padding', length: 3 }), false);
  assert.is(countsInFlight({ kind: 'padding', length: 3 }), true);
  assert.is(countsInFlight({ kind: 'connectionClose', application: true, errorCode: 0n, reason: new Uint8Array(0) }), false);
  assert.is(FRAME_KINDS.length, 21);
});

test.run();
