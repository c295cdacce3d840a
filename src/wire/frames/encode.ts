/**
 * Frame encoding with exact sizes (RFC 9000 §19, RFC 9221 §4).
 *
 * Every encoder writes into a caller's buffer at an offset and returns the offset after the
 * frame; the caller guarantees room using the matching size function, which is exact: for every
 * frame `encodeFrame(buf, off, f) - off === frameSize(f)`.
 *
 * The packet builder's hot path uses the allocation-free writers ({@link writeStreamFrame},
 * {@link writeCryptoFrame}, {@link writeAckFrame}) and the `fit*` helpers, which answer "how much
 * fits in `room` bytes" exactly, across the varint size boundaries at 64, 16384 and 2^30.
 *
 * Invalid frames (a caller's programming error, never peer input) are refused with a
 * {@link QuicError} of code INTERNAL_ERROR before anything is written.
 *
 * @module
 */
import { QuicError, TransportErrorCode } from '../errors.js';
import { MAX_CONNECTION_ID_LENGTH } from '../header.js';
import { MAX_SAFE_VARINT, varintSize, varintSizeBig, writeVarint, writeVarintBig } from '../varint.js';
import { streamFrameType } from './rules.js';
import {
  FrameType,
  PATH_DATA_LENGTH,
  STATELESS_RESET_TOKEN_LENGTH,
  type AckEcnCounts,
  type AckRange,
  type Frame,
} from './types.js';

function invalid(reason: string, frameType: number): never {
  throw new QuicError(TransportErrorCode.INTERNAL_ERROR, `cannot encode frame: ${reason}`, { frameType });
}

// ---------------------------------------------------------------------------------------------
// Sizes
// ---------------------------------------------------------------------------------------------

/**
 * Size of a STREAM frame's header — type, Stream ID, Offset (only when `offset > 0`) and Length
 * (only when `explicitLength`) — without the data (RFC 9000 §19.8).
 */
export function streamFrameHeaderSize(streamId: number, offset: number, dataLength: number, explicitLength: boolean): number {
  return 1 + varintSize(streamId) + (offset > 0 ? varintSize(offset) : 0) + (explicitLength ? varintSize(dataLength) : 0);
}

/** Size of a CRYPTO frame's header — type, Offset and Length — without the data (RFC 9000 §19.6). */
export function cryptoFrameHeaderSize(offset: number, dataLength: number): number {
  return 1 + varintSize(offset) + varintSize(dataLength);
}

/**
 * Exact size of an ACK frame carrying the first `rangeCount` (newest) of `ranges`, with ECN
 * counts when `ecn` is given (RFC 9000 §19.3). Throws INTERNAL_ERROR when the ranges are not
 * sorted descending with at least one packet number between them.
 */
export function ackFrameSize(ackDelay: number, ranges: readonly AckRange[], rangeCount: number, ecn?: AckEcnCounts): number {
  checkRangeCount(ranges, rangeCount);
  const first = ranges[0];
  let size = 1 + varintSize(first.largest) + varintSize(ackDelay) + varintSize(rangeCount - 1) + varintSize(first.largest - first.smallest);
  let prevSmallest = first.smallest;
  for (let i = 1; i < rangeCount; i++) {
    const r = ranges[i];
    size += varintSize(ackGap(prevSmallest, r)) + varintSize(ackRangeLength(r));
    prevSmallest = r.smallest;
  }
  if (ecn !== undefined) size += varintSize(ecn.ect0) + varintSize(ecn.ect1) + varintSize(ecn.ce);
  return size;
}

/** Exact encoded size of `frame` in bytes, equal to what {@link encodeFrame} writes. */
export function frameSize(frame: Frame): number {
  switch (frame.kind) {
    case 'padding':
      return frame.length;
    case 'ping':
    case 'handshakeDone':
      return 1;
    case 'ack':
      return ackFrameSize(frame.ackDelay, frame.ranges, frame.ranges.length, frame.ecn);
    case 'resetStream':
      return 1 + varintSize(frame.streamId) + varintSizeBig(frame.applicationErrorCode) + varintSize(frame.finalSize);
    case 'stopSending':
      return 1 + varintSize(frame.streamId) + varintSizeBig(frame.applicationErrorCode);
    case 'crypto':
      return cryptoFrameHeaderSize(frame.offset, frame.data.length) + frame.data.length;
    case 'newToken':
      return 1 + varintSize(frame.token.length) + frame.token.length;
    case 'stream':
      return streamFrameHeaderSize(frame.streamId, frame.offset, frame.data.length, frame.explicitLength !== false) + frame.data.length;
    case 'maxData':
      return 1 + varintSize(frame.maximum);
    case 'maxStreamData':
      return 1 + varintSize(frame.streamId) + varintSize(frame.maximum);
    case 'maxStreams':
      return 1 + varintSize(frame.maximum);
    case 'dataBlocked':
      return 1 + varintSize(frame.limit);
    case 'streamDataBlocked':
      return 1 + varintSize(frame.streamId) + varintSize(frame.limit);
    case 'streamsBlocked':
      return 1 + varintSize(frame.limit);
    case 'newConnectionId':
      return (
        1 + varintSize(frame.sequenceNumber) + varintSize(frame.retirePriorTo) + 1 + frame.connectionId.length + STATELESS_RESET_TOKEN_LENGTH
      );
    case 'retireConnectionId':
      return 1 + varintSize(frame.sequenceNumber);
    case 'pathChallenge':
    case 'pathResponse':
      return 1 + PATH_DATA_LENGTH;
    case 'connectionClose':
      return (
        1 +
        varintSizeBig(frame.errorCode) +
        (frame.application ? 0 : varintSize(frame.frameType ?? 0)) +
        varintSize(frame.reason.length) +
        frame.reason.length
      );
    case 'datagram':
      return 1 + (frame.explicitLength === false ? 0 : varintSize(frame.data.length)) + frame.data.length;
  }
}

// ---------------------------------------------------------------------------------------------
// Hot-path writers
// ---------------------------------------------------------------------------------------------

/**
 * Writes a STREAM frame (RFC 9000 §19.8) and returns the offset after it. The Offset field is
 * written only when `offset > 0`; the Length field only when `explicitLength` (otherwise the
 * frame must be the last in its packet). Allocation-free.
 */
export function writeStreamFrame(
  buf: Uint8Array,
  off: number,
  streamId: number,
  offset: number,
  data: Uint8Array,
  fin: boolean,
  explicitLength: boolean,
): number {
  // RFC 9000 §19.8: offset + length ≤ 2^62−1; our offsets are exact numbers, so ≤ 2^53−1.
  if (!(offset + data.length <= MAX_SAFE_VARINT)) invalid(`stream data end ${offset + data.length} exceeds 2^53-1`, FrameType.STREAM);
  const type = streamFrameType(offset, fin, explicitLength);
  buf[off++] = type;
  off = writeVarint(buf, off, streamId);
  if (offset > 0) off = writeVarint(buf, off, offset);
  if (explicitLength) off = writeVarint(buf, off, data.length);
  buf.set(data, off);
  return off + data.length;
}

/** Writes a CRYPTO frame (RFC 9000 §19.6) and returns the offset after it. Allocation-free. */
export function writeCryptoFrame(buf: Uint8Array, off: number, offset: number, data: Uint8Array): number {
  // RFC 9000 §19.6: offset + length ≤ 2^62−1; our offsets are exact numbers, so ≤ 2^53−1.
  if (!(offset + data.length <= MAX_SAFE_VARINT)) invalid(`crypto data end ${offset + data.length} exceeds 2^53-1`, FrameType.CRYPTO);
  buf[off++] = FrameType.CRYPTO;
  off = writeVarint(buf, off, offset);
  off = writeVarint(buf, off, data.length);
  buf.set(data, off);
  return off + data.length;
}

/**
 * Writes an ACK frame (RFC 9000 §19.3) carrying the first `rangeCount` (newest) of `ranges`,
 * type 0x03 with ECN counts when `ecn` is given, and returns the offset after it. Largest
 * Acknowledged is `ranges[0].largest`. Allocation-free; the ranges are validated before anything
 * is written (INTERNAL_ERROR when unsorted, touching or empty).
 */
export function writeAckFrame(
  buf: Uint8Array,
  off: number,
  ackDelay: number,
  ranges: readonly AckRange[],
  rangeCount: number,
  ecn?: AckEcnCounts,
): number {
  checkRangeCount(ranges, rangeCount);
  for (let i = 1; i < rangeCount; i++) {
    ackGap(ranges[i - 1].smallest, ranges[i]);
    ackRangeLength(ranges[i]);
  }
  const first = ranges[0];
  buf[off++] = ecn === undefined ? FrameType.ACK : FrameType.ACK_ECN;
  off = writeVarint(buf, off, first.largest);
  off = writeVarint(buf, off, ackDelay);
  off = writeVarint(buf, off, rangeCount - 1);
  off = writeVarint(buf, off, ackRangeLength(first)); // First ACK Range
  let prevSmallest = first.smallest;
  for (let i = 1; i < rangeCount; i++) {
    const r = ranges[i];
    off = writeVarint(buf, off, ackGap(prevSmallest, r));
    off = writeVarint(buf, off, r.largest - r.smallest);
    prevSmallest = r.smallest;
  }
  if (ecn !== undefined) {
    off = writeVarint(buf, off, ecn.ect0);
    off = writeVarint(buf, off, ecn.ect1);
    off = writeVarint(buf, off, ecn.ce);
  }
  return off;
}

function checkRangeCount(ranges: readonly AckRange[], rangeCount: number): void {
  if (!Number.isInteger(rangeCount) || rangeCount < 1 || rangeCount > ranges.length) {
    invalid(`ACK range count ${rangeCount} outside 1..${ranges.length}`, FrameType.ACK);
  }
}

/** RFC 9000 §19.3.1: Gap = previous smallest − this largest − 2 (≥ 0: ranges never touch). */
function ackGap(prevSmallest: number, r: AckRange): number {
  const gap = prevSmallest - r.largest - 2;
  if (!(gap >= 0)) invalid(`ACK range ${r.smallest}..${r.largest} not below the previous range by 2`, FrameType.ACK);
  return gap;
}

/** RFC 9000 §19.3.1: ACK Range Length = largest − smallest (≥ 0). */
function ackRangeLength(r: AckRange): number {
  const length = r.largest - r.smallest;
  if (!(length >= 0) || r.smallest < 0) invalid(`ACK range ${r.smallest}..${r.largest} is empty or negative`, FrameType.ACK);
  return length;
}

// ---------------------------------------------------------------------------------------------
// Fitting to a budget
// ---------------------------------------------------------------------------------------------

/** Largest values with a 1-, 2-, 4- and 8-byte varint encoding (number domain). */
const VARINT_CAPS = [0x3f, 0x3fff, 0x3fff_ffff, MAX_SAFE_VARINT] as const;
const VARINT_LENGTHS = [1, 2, 4, 8] as const;

/**
 * The largest n ≤ `available` with n + varintSize(n) ≤ `rem` (data preceded by its Length
 * field), or a negative number when not even n = 0 fits. Exact: for each Length size L, the best
 * n with that size is min(available, rem − L, cap_L); the answer is the best over L.
 */
function maxWithLengthField(rem: number, available: number): number {
  let best = -1;
  for (let i = 0; i < 4; i++) {
    const n = Math.min(available, rem - VARINT_LENGTHS[i], VARINT_CAPS[i]);
    if (n > best) best = n;
  }
  return best;
}

/** The result of {@link fitStreamFrame}: how much data to put in the frame and how. */
export interface StreamFrameFit {
  /** Bytes of stream data to carry (≤ available). */
  dataLength: number;
  /** Whether to write the Length field; `false` means the frame fills the room exactly. */
  explicitLength: boolean;
}

/**
 * The most stream data (≤ `available`) a STREAM frame can carry in `room` bytes (RFC 9000 §19.8).
 *
 * The Length field is omitted only when the frame then fills `room` exactly (the caller makes it
 * the packet's last frame); otherwise it is present. Returns `null` when not even one byte of data
 * fits; when `available === 0` and `fin`, a frame carrying only FIN (0 bytes) is returned if its
 * header fits. The caller sets FIN iff `fin && dataLength === available`.
 *
 * With `out`, the answer is written into it and `out` is returned: a frame source that keeps one
 * such object allocates nothing per frame.
 */
export function fitStreamFrame(room: number, streamId: number, offset: number, available: number, fin: boolean, out?: StreamFrameFit): StreamFrameFit | null {
  const rem = room - 1 - varintSize(streamId) - (offset > 0 ? varintSize(offset) : 0);
  if (rem < 0) return null;
  let dataLength: number;
  let explicitLength: boolean;
  if (available === 0) {
    if (!fin) return null;
    dataLength = 0;
    explicitLength = rem > 0;
  } else if (rem >= 1 && rem <= available) {
    // Without a Length field the data runs to the end of the packet: take exactly `rem` bytes.
    dataLength = rem;
    explicitLength = false;
  } else {
    dataLength = maxWithLengthField(rem, available);
    if (dataLength < 1) return null;
    explicitLength = true;
  }
  if (out === undefined) return { dataLength, explicitLength };
  out.dataLength = dataLength;
  out.explicitLength = explicitLength;
  return out;
}

/**
 * The most crypto data (≤ `available`) a CRYPTO frame at `offset` can carry in `room` bytes
 * (RFC 9000 §19.6; CRYPTO always has a Length field); 0 when nothing fits.
 */
export function fitCryptoFrame(room: number, offset: number, available: number): number {
  if (available <= 0) return 0;
  const n = maxWithLengthField(room - 1 - varintSize(offset), available);
  return n > 0 ? n : 0;
}

/**
 * The largest number of newest ranges (a prefix of `ranges`) whose ACK frame fits in `room`
 * bytes, exactly as {@link ackFrameSize} counts it; 0 when even one range does not fit.
 */
export function fitAckRanges(ackDelay: number, ranges: readonly AckRange[], ecn: AckEcnCounts | undefined, room: number): number {
  if (ranges.length === 0) return 0;
  const first = ranges[0];
  let fixed = 1 + varintSize(first.largest) + varintSize(ackDelay);
  if (ecn !== undefined) fixed += varintSize(ecn.ect0) + varintSize(ecn.ect1) + varintSize(ecn.ce);
  // body(k) = First ACK Range + (Gap, Length) of ranges 1..k-1; total(k) = fixed + size(k-1) + body(k).
  let body: number = varintSize(ackRangeLength(first));
  if (fixed + 1 + body > room) return 0;
  let prevSmallest = first.smallest;
  let count = 1;
  for (let i = 1; i < ranges.length; i++) {
    const r = ranges[i];
    const next = body + varintSize(ackGap(prevSmallest, r)) + varintSize(ackRangeLength(r));
    if (fixed + varintSize(i) + next > room) break;
    body = next;
    prevSmallest = r.smallest;
    count = i + 1;
  }
  return count;
}

// ---------------------------------------------------------------------------------------------
// Generic encoder
// ---------------------------------------------------------------------------------------------

/**
 * Writes `frame` at `offset` and returns the offset after it; exactly {@link frameSize} bytes.
 * The caller guarantees room. Frames that would be invalid on the wire (empty NEW_TOKEN, a
 * connection ID outside 1–20 bytes, Retire Prior To above Sequence Number, malformed ACK ranges,
 * a PATH_* data or reset token of the wrong size, …) are refused with
 * INTERNAL_ERROR before anything is written; a field value that is not a varint (negative,
 * fractional, above 2^53−1) throws `VarintRangeError`, also INTERNAL_ERROR.
 */
export function encodeFrame(buf: Uint8Array, offset: number, frame: Frame): number {
  let off = offset;
  switch (frame.kind) {
    case 'padding': {
      // RFC 9000 §19.1: PADDING is a run of 0x00 bytes.
      if (!Number.isInteger(frame.length) || frame.length < 1) invalid(`padding length ${frame.length}`, FrameType.PADDING);
      buf.fill(0, off, off + frame.length);
      return off + frame.length;
    }
    case 'ping':
      buf[off] = FrameType.PING;
      return off + 1;
    case 'ack':
      if (frame.ranges.length === 0 || frame.ranges[0].largest !== frame.largest) {
        invalid('ACK ranges must be non-empty with ranges[0].largest === largest', FrameType.ACK);
      }
      return writeAckFrame(buf, off, frame.ackDelay, frame.ranges, frame.ranges.length, frame.ecn);
    case 'resetStream':
      buf[off++] = FrameType.RESET_STREAM;
      off = writeVarint(buf, off, frame.streamId);
      off = writeVarintBig(buf, off, frame.applicationErrorCode);
      return writeVarint(buf, off, frame.finalSize);
    case 'stopSending':
      buf[off++] = FrameType.STOP_SENDING;
      off = writeVarint(buf, off, frame.streamId);
      return writeVarintBig(buf, off, frame.applicationErrorCode);
    case 'crypto':
      return writeCryptoFrame(buf, off, frame.offset, frame.data);
    case 'newToken':
      // RFC 9000 §19.7: the token MUST NOT be empty.
      if (frame.token.length === 0) invalid('NEW_TOKEN with an empty token', FrameType.NEW_TOKEN);
      buf[off++] = FrameType.NEW_TOKEN;
      off = writeVarint(buf, off, frame.token.length);
      buf.set(frame.token, off);
      return off + frame.token.length;
    case 'stream':
      return writeStreamFrame(buf, off, frame.streamId, frame.offset, frame.data, frame.fin, frame.explicitLength !== false);
    case 'maxData':
      buf[off++] = FrameType.MAX_DATA;
      return writeVarint(buf, off, frame.maximum);
    case 'maxStreamData':
      buf[off++] = FrameType.MAX_STREAM_DATA;
      off = writeVarint(buf, off, frame.streamId);
      return writeVarint(buf, off, frame.maximum);
    case 'maxStreams':
      // RFC 9000 §19.11 caps Maximum Streams at 2^60; writeVarint already refuses anything above
      // 2^53−1, so no separate check is needed.
      buf[off++] = frame.bidirectional ? FrameType.MAX_STREAMS_BIDI : FrameType.MAX_STREAMS_UNI;
      return writeVarint(buf, off, frame.maximum);
    case 'dataBlocked':
      buf[off++] = FrameType.DATA_BLOCKED;
      return writeVarint(buf, off, frame.limit);
    case 'streamDataBlocked':
      buf[off++] = FrameType.STREAM_DATA_BLOCKED;
      off = writeVarint(buf, off, frame.streamId);
      return writeVarint(buf, off, frame.limit);
    case 'streamsBlocked':
      // RFC 9000 §19.14 caps the limit at 2^60; writeVarint refuses anything above 2^53−1.
      buf[off++] = frame.bidirectional ? FrameType.STREAMS_BLOCKED_BIDI : FrameType.STREAMS_BLOCKED_UNI;
      return writeVarint(buf, off, frame.limit);
    case 'newConnectionId': {
      const cidLength = frame.connectionId.length;
      // RFC 9000 §19.15: length 1–20, a 16-byte token, Retire Prior To ≤ Sequence Number.
      if (cidLength < 1 || cidLength > MAX_CONNECTION_ID_LENGTH) invalid(`connection ID length ${cidLength}`, FrameType.NEW_CONNECTION_ID);
      if (frame.statelessResetToken.length !== STATELESS_RESET_TOKEN_LENGTH) {
        invalid(`stateless reset token of ${frame.statelessResetToken.length} bytes`, FrameType.NEW_CONNECTION_ID);
      }
      if (frame.retirePriorTo > frame.sequenceNumber) {
        invalid(`Retire Prior To ${frame.retirePriorTo} > Sequence Number ${frame.sequenceNumber}`, FrameType.NEW_CONNECTION_ID);
      }
      buf[off++] = FrameType.NEW_CONNECTION_ID;
      off = writeVarint(buf, off, frame.sequenceNumber);
      off = writeVarint(buf, off, frame.retirePriorTo);
      buf[off++] = cidLength;
      buf.set(frame.connectionId, off);
      off += cidLength;
      buf.set(frame.statelessResetToken, off);
      return off + STATELESS_RESET_TOKEN_LENGTH;
    }
    case 'retireConnectionId':
      buf[off++] = FrameType.RETIRE_CONNECTION_ID;
      return writeVarint(buf, off, frame.sequenceNumber);
    case 'pathChallenge':
    case 'pathResponse': {
      const type = frame.kind === 'pathChallenge' ? FrameType.PATH_CHALLENGE : FrameType.PATH_RESPONSE;
      // RFC 9000 §19.17, §19.18: exactly 8 bytes of data.
      if (frame.data.length !== PATH_DATA_LENGTH) invalid(`path data of ${frame.data.length} bytes`, type);
      buf[off++] = type;
      buf.set(frame.data, off);
      return off + PATH_DATA_LENGTH;
    }
    case 'connectionClose':
      buf[off++] = frame.application ? FrameType.CONNECTION_CLOSE_APP : FrameType.CONNECTION_CLOSE;
      off = writeVarintBig(buf, off, frame.errorCode);
      // RFC 9000 §19.19: the Frame Type field exists only in the transport variant (0x1c).
      if (!frame.application) off = writeVarint(buf, off, frame.frameType ?? 0);
      off = writeVarint(buf, off, frame.reason.length);
      buf.set(frame.reason, off);
      return off + frame.reason.length;
    case 'handshakeDone':
      buf[off] = FrameType.HANDSHAKE_DONE;
      return off + 1;
    case 'datagram':
      if (frame.explicitLength === false) {
        buf[off++] = FrameType.DATAGRAM;
      } else {
        buf[off++] = FrameType.DATAGRAM_LEN;
        off = writeVarint(buf, off, frame.data.length);
      }
      buf.set(frame.data, off);
      return off + frame.data.length;
  }
}
