/**
 * Frame decoding and validation (RFC 9000 §12.4, §19; RFC 9221 §4).
 *
 * Decoders read through a {@link Reader} built with FRAME_ENCODING_ERROR, so truncation and
 * malformed fields throw a {@link QuicError} with that code; every such error carries the frame
 * type being decoded. Byte strings in the result are views into the packet. No count read from
 * the wire is ever used to pre-allocate: ACK ranges are read one by one and the payload bounds
 * them.
 *
 * @module
 */
import { QuicError, TransportErrorCode } from '../errors.js';
import { MAX_CONNECTION_ID_LENGTH } from '../header.js';
import type { EncryptionLevel } from '../levels.js';
import { Reader } from '../reader.js';
import { MAX_SAFE_VARINT } from '../varint.js';
import { frameAllowedIn, isKnownFrameType } from './rules.js';
import {
  FrameType,
  MAX_STREAMS_LIMIT,
  PATH_DATA_LENGTH,
  STATELESS_RESET_TOKEN_LENGTH,
  STREAM_FIN_BIT,
  STREAM_LEN_BIT,
  STREAM_OFF_BIT,
  type AckFrame,
  type AckRange,
  type Frame,
} from './types.js';

const MAX_SAFE_BIG = BigInt(MAX_SAFE_VARINT);

/**
 * Reads a Frame Type (RFC 9000 §12.4) and returns its value. Throws PROTOCOL_VIOLATION when the
 * type is encoded in more bytes than necessary (§12.4 permits treating this as a connection error
 * of that type), and FRAME_ENCODING_ERROR when it is unknown (§12.4) or truncated.
 */
export function readFrameType(r: Reader): number {
  if (r.pos < r.end && r.bytes[r.pos] < 0x40) return r.bytes[r.pos++]; // one-byte encoding
  const start = r.pos;
  const type = r.varint('Frame Type');
  // Every value below 64 has a one-byte encoding, and every known frame type is below 64.
  if (type < 0x40) {
    throw new QuicError(TransportErrorCode.PROTOCOL_VIOLATION, `frame type 0x${type.toString(16)} encoded in ${r.pos - start} bytes instead of 1`, {
      frameType: type,
    });
  }
  r.fail(`unknown frame type 0x${type.toString(16)}`, type);
}

/**
 * Decodes one frame at the reader's position and advances past it. The reader must be built with
 * FRAME_ENCODING_ERROR. Throws {@link QuicError}: FRAME_ENCODING_ERROR for unknown types,
 * truncations and field values RFC 9000 §19 forbids; PROTOCOL_VIOLATION for an over-long Frame
 * Type encoding. The error's `frameType` names the frame being decoded when it is known.
 */
export function decodeFrame(r: Reader): Frame {
  const type = readFrameType(r);
  if (!isKnownFrameType(type)) r.fail(`unknown frame type 0x${type.toString(16)}`, type);
  return decodeFrameBody(r, type);
}

/**
 * Decodes a whole packet payload into frames, enforcing RFC 9000 §12.4: the payload holds at
 * least one frame (PROTOCOL_VIOLATION otherwise), and every frame is permitted in packets of
 * `level` (Table 3 with the 0-RTT restrictions of §12.5 and RFC 9221 §4; PROTOCOL_VIOLATION
 * otherwise). Permission is checked from the Frame Type before the frame's fields are read.
 */
export function decodeFrames(payload: Uint8Array, level: EncryptionLevel): Frame[] {
  if (payload.length === 0) {
    throw new QuicError(TransportErrorCode.PROTOCOL_VIOLATION, 'packet payload contains no frames');
  }
  const r = new Reader(payload, 0, payload.length, TransportErrorCode.FRAME_ENCODING_ERROR);
  const frames: Frame[] = [];
  while (r.pos < r.end) {
    const type = readFrameType(r);
    if (!isKnownFrameType(type)) r.fail(`unknown frame type 0x${type.toString(16)}`, type);
    if (!frameAllowedIn(type, level)) {
      throw new QuicError(TransportErrorCode.PROTOCOL_VIOLATION, `frame type 0x${type.toString(16)} not permitted in ${level} packets`, {
        frameType: type,
      });
    }
    frames.push(decodeFrameBody(r, type));
  }
  return frames;
}

/** Decodes the fields of a known frame whose type has been read; errors carry `type`. */
function decodeFrameBody(r: Reader, type: number): Frame {
  try {
    return decodeFields(r, type);
  } catch (e) {
    if (e instanceof QuicError && e.frameType === undefined) {
      throw new QuicError(e.code, e.reason, { frameType: type, cause: e });
    }
    throw e;
  }
}

function decodeFields(r: Reader, type: number): Frame {
  if (type >= FrameType.STREAM && type <= FrameType.STREAM_MAX) return decodeStream(r, type);
  switch (type) {
    case FrameType.PADDING: {
      // RFC 9000 §19.1: a run of 0x00 bytes is reported as one frame.
      const bytes = r.bytes;
      const start = r.pos;
      let p = start;
      while (p < r.end && bytes[p] === 0) p++;
      r.pos = p;
      return { kind: 'padding', length: 1 + (p - start) };
    }
    case FrameType.PING:
      return { kind: 'ping' };
    case FrameType.ACK:
    case FrameType.ACK_ECN:
      return decodeAck(r, type);
    case FrameType.RESET_STREAM: {
      const streamId = r.varint('Stream ID');
      const applicationErrorCode = r.varintBig('Application Protocol Error Code');
      const finalSize = r.varint('Final Size');
      return { kind: 'resetStream', streamId, applicationErrorCode, finalSize };
    }
    case FrameType.STOP_SENDING: {
      const streamId = r.varint('Stream ID');
      const applicationErrorCode = r.varintBig('Application Protocol Error Code');
      return { kind: 'stopSending', streamId, applicationErrorCode };
    }
    case FrameType.CRYPTO: {
      const offset = r.varint('Offset');
      const length = r.varint('Length');
      checkDataEnd(r, offset, length, type);
      return { kind: 'crypto', offset, data: r.take(length, 'Crypto Data') };
    }
    case FrameType.NEW_TOKEN: {
      const length = r.varint('Token Length');
      // RFC 9000 §19.7: an empty token MUST be treated as FRAME_ENCODING_ERROR.
      if (length === 0) r.fail('NEW_TOKEN with an empty token', type);
      return { kind: 'newToken', token: r.take(length, 'Token') };
    }
    case FrameType.MAX_DATA:
      return { kind: 'maxData', maximum: r.varintLimit('Maximum Data') };
    case FrameType.MAX_STREAM_DATA: {
      const streamId = r.varint('Stream ID');
      return { kind: 'maxStreamData', streamId, maximum: r.varintLimit('Maximum Stream Data') };
    }
    case FrameType.MAX_STREAMS_BIDI:
    case FrameType.MAX_STREAMS_UNI:
      return { kind: 'maxStreams', bidirectional: type === FrameType.MAX_STREAMS_BIDI, maximum: readStreamCount(r, type, 'Maximum Streams') };
    case FrameType.DATA_BLOCKED:
      return { kind: 'dataBlocked', limit: r.varintLimit('Maximum Data') };
    case FrameType.STREAM_DATA_BLOCKED: {
      const streamId = r.varint('Stream ID');
      return { kind: 'streamDataBlocked', streamId, limit: r.varintLimit('Maximum Stream Data') };
    }
    case FrameType.STREAMS_BLOCKED_BIDI:
    case FrameType.STREAMS_BLOCKED_UNI:
      return {
        kind: 'streamsBlocked',
        bidirectional: type === FrameType.STREAMS_BLOCKED_BIDI,
        limit: readStreamCount(r, type, 'Maximum Streams'),
      };
    case FrameType.NEW_CONNECTION_ID: {
      const sequenceNumber = r.varint('Sequence Number');
      const retirePriorTo = r.varint('Retire Prior To');
      const length = r.u8('Length');
      // RFC 9000 §19.15: lengths below 1 or above 20 MUST be treated as FRAME_ENCODING_ERROR.
      if (length < 1 || length > MAX_CONNECTION_ID_LENGTH) r.fail(`connection ID length ${length} outside 1..20`, type);
      const connectionId = r.take(length, 'Connection ID');
      const statelessResetToken = r.take(STATELESS_RESET_TOKEN_LENGTH, 'Stateless Reset Token');
      // RFC 9000 §19.15: Retire Prior To greater than Sequence Number is FRAME_ENCODING_ERROR.
      if (retirePriorTo > sequenceNumber) r.fail(`Retire Prior To ${retirePriorTo} > Sequence Number ${sequenceNumber}`, type);
      return { kind: 'newConnectionId', sequenceNumber, retirePriorTo, connectionId, statelessResetToken };
    }
    case FrameType.RETIRE_CONNECTION_ID:
      return { kind: 'retireConnectionId', sequenceNumber: r.varint('Sequence Number') };
    case FrameType.PATH_CHALLENGE:
      return { kind: 'pathChallenge', data: r.take(PATH_DATA_LENGTH, 'Data') };
    case FrameType.PATH_RESPONSE:
      return { kind: 'pathResponse', data: r.take(PATH_DATA_LENGTH, 'Data') };
    case FrameType.CONNECTION_CLOSE: {
      const errorCode = r.varintBig('Error Code');
      const frameType = r.varintLimit('Frame Type');
      const length = r.varint('Reason Phrase Length');
      return { kind: 'connectionClose', application: false, errorCode, frameType, reason: r.take(length, 'Reason Phrase') };
    }
    case FrameType.CONNECTION_CLOSE_APP: {
      const errorCode = r.varintBig('Error Code');
      const length = r.varint('Reason Phrase Length');
      return { kind: 'connectionClose', application: true, errorCode, reason: r.take(length, 'Reason Phrase') };
    }
    case FrameType.HANDSHAKE_DONE:
      return { kind: 'handshakeDone' };
    case FrameType.DATAGRAM:
      // RFC 9221 §4: without a Length field the data extends to the end of the packet.
      return { kind: 'datagram', data: r.rest(), explicitLength: false };
    case FrameType.DATAGRAM_LEN: {
      const length = r.varint('Length');
      return { kind: 'datagram', data: r.take(length, 'Datagram Data'), explicitLength: true };
    }
    default:
      return r.fail(`unknown frame type 0x${type.toString(16)}`, type);
  }
}

/** RFC 9000 §19.8: STREAM types 0x08–0x0f carry OFF, LEN and FIN in their low bits. */
function decodeStream(r: Reader, type: number): Frame {
  const streamId = r.varint('Stream ID');
  const offset = (type & STREAM_OFF_BIT) !== 0 ? r.varint('Offset') : 0;
  const explicitLength = (type & STREAM_LEN_BIT) !== 0;
  // Without LEN, the Stream Data runs to the end of the packet.
  const length = explicitLength ? r.varint('Length') : r.end - r.pos;
  checkDataEnd(r, offset, length, type);
  const data = r.take(length, 'Stream Data');
  return { kind: 'stream', streamId, offset, data, fin: (type & STREAM_FIN_BIT) !== 0, explicitLength };
}

/**
 * RFC 9000 §19.6, §19.8: offset + length must not exceed 2^62−1 (FRAME_ENCODING_ERROR). Offsets
 * here are exact numbers, refused above 2^53−1 by `Reader.varint`; the end of the data must also
 * be exact, so the bound applied is 2^53−1, which implies the RFC's.
 */
function checkDataEnd(r: Reader, offset: number, length: number, type: number): void {
  if (offset + length > MAX_SAFE_VARINT) r.fail(`data end ${offset} + ${length} exceeds the largest representable offset 2^53-1`, type);
}

/**
 * RFC 9000 §19.11, §19.14: a stream count above 2^60 is FRAME_ENCODING_ERROR; values between
 * 2^53 and 2^60 saturate at 2^53−1 like every limit.
 */
function readStreamCount(r: Reader, type: number, what: string): number {
  if (r.pos >= r.end || r.bytes[r.pos] >>> 6 !== 3) return r.varint(what); // < 2^30
  const v = r.varintBig(what);
  if (v > MAX_STREAMS_LIMIT) r.fail(`${what} ${v} exceeds 2^60`, type);
  return v > MAX_SAFE_BIG ? MAX_SAFE_VARINT : Number(v);
}

/** RFC 9000 §19.3: ACK and ACK_ECN. */
function decodeAck(r: Reader, type: number): AckFrame {
  const largest = r.varint('Largest Acknowledged');
  // ACK Delay is a duration; an absurd value saturates (it is capped by max_ack_delay anyway).
  const ackDelay = r.varintLimit('ACK Delay');
  // Never pre-allocate from this count: each range takes ≥ 2 bytes, so the payload bounds the loop.
  const rangeCount = r.varint('ACK Range Count');
  const firstRange = r.varint('First ACK Range');
  let smallest = largest - firstRange;
  // RFC 9000 §19.3.1: a range that would go below packet number 0 is FRAME_ENCODING_ERROR.
  if (smallest < 0) r.fail(`First ACK Range ${firstRange} exceeds Largest Acknowledged ${largest}`, type);
  const ranges: AckRange[] = [{ smallest, largest }];
  for (let i = 0; i < rangeCount; i++) {
    const gap = r.varint('Gap');
    const length = r.varint('ACK Range Length');
    // RFC 9000 §19.3.1: largest = previous smallest − gap − 2; smallest = largest − length.
    const rangeLargest = smallest - gap - 2;
    const rangeSmallest = rangeLargest - length;
    if (rangeSmallest < 0) r.fail(`ACK range ${i + 1} goes below packet number 0`, type);
    ranges.push({ smallest: rangeSmallest, largest: rangeLargest });
    smallest = rangeSmallest;
  }
  if (type === FrameType.ACK_ECN) {
    const ect0 = r.varint('ECT0 Count');
    const ect1 = r.varint('ECT1 Count');
    const ce = r.varint('ECN-CE Count');
    return { kind: 'ack', largest, ackDelay, ranges, ecn: { ect0, ect1, ce } };
  }
  return { kind: 'ack', largest, ackDelay, ranges };
}
