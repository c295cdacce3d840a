/**
 * The receive side of a stream: reassembly of STREAM frame data that arrives in any order,
 * overlapping or duplicated, into the ordered byte stream the application reads (RFC 9000 §2.2),
 * with the final-size rules (§4.5), stream-level flow-control enforcement (§4.1) and the
 * receiving-part states of §3.2.
 *
 * Two classes:
 * - {@link ReassemblyBuffer}: offset-ordered byte reassembly with no stream policy; also used for
 *   CRYPTO data (`crypto-recv.ts`).
 * - {@link RecvBuffer}: a stream's receiving part on top of it.
 *
 * Bytes are always copied out of the packet (packet buffers are reused); {@link RecvBuffer.read}
 * hands out views of those copies. Memory is bounded: stored bytes lie between the read offset and
 * the flow-control limit the caller passes with each frame, and the number of stored fragments is
 * bounded against stream-fragmentation attacks (§21.7).
 *
 * @module
 */
import { QuicError, TransportErrorCode, type TransportErrorCodeValue } from '../wire/errors.js';
import { FrameType, STREAM_FIN_BIT, STREAM_LEN_BIT, STREAM_OFF_BIT, type StreamFrame } from '../wire/frames/types.js';

/**
 * A stored piece shorter than this is coalesced with a stored neighbour it touches (copying both
 * into one buffer), so that a peer sending tiny frames cannot make us hold one object per byte.
 */
export const SMALL_SEGMENT_LENGTH = 512;

/** Coalescing never grows a stored segment beyond this many bytes. */
export const COALESCED_SEGMENT_LIMIT = 4096;

/** Default {@link ReassemblyOptions.fragmentAllowance}. */
export const DEFAULT_FRAGMENT_ALLOWANCE = 1024;

/** Options of a {@link ReassemblyBuffer}. */
export interface ReassemblyOptions {
  /**
   * Compare retransmitted bytes with the bytes already buffered at the same offsets and refuse a
   * difference with PROTOCOL_VIOLATION (RFC 9000 §2.2: "an endpoint MAY treat receipt of different
   * data at the same offset within a stream as a connection error of type PROTOCOL_VIOLATION").
   * Only bytes still buffered can be compared: bytes already read are gone. Default `true`: the
   * comparison costs one pass over overlapping bytes, which only retransmissions carry.
   */
  readonly checkRetransmittedData?: boolean;
  /**
   * Fragmentation bound (RFC 9000 §21.7: "limiting the size of tracking data structures"): the
   * number of stored segments may not exceed `1 + fragmentAllowance + bufferedBytes / 512`. Data sent
   * in frames of 512 bytes or more, or in smaller frames that touch (they are coalesced), never
   * comes near it; only many tiny pieces separated by holes do. Default 1024.
   */
  readonly fragmentAllowance?: number;
  /** The error code used when the fragmentation bound is exceeded. Default PROTOCOL_VIOLATION (§21.9). */
  readonly fragmentationErrorCode?: TransportErrorCodeValue;
}

/** One stored run of received bytes, `[offset, offset + bytes.length)`. Never empty. */
interface Segment {
  offset: number;
  /**
   * Our own copy. Its ArrayBuffer belongs to this segment alone; bytes after the view (spare
   * capacity left by coalescing) may be written, bytes inside it never change once stored.
   */
  bytes: Uint8Array;
}

/** A new piece (a view into the caller's data, not yet copied) or a stored segment, during insertion. */
interface Run {
  offset: number;
  bytes: Uint8Array;
  fresh: boolean;
  segment: Segment | undefined;
}

const DEAD: Segment = { offset: 0, bytes: new Uint8Array(0) };

function segmentEnd(s: Segment): number {
  return s.offset + s.bytes.length;
}

/** `bytes` followed by `tail`, reusing spare capacity of `bytes` when it has some. */
function appendBytes(bytes: Uint8Array, tail: Uint8Array): Uint8Array {
  const total = bytes.length + tail.length;
  if (bytes.byteOffset + total <= bytes.buffer.byteLength) {
    const grown = new Uint8Array(bytes.buffer, bytes.byteOffset, total);
    grown.set(tail, bytes.length);
    return grown;
  }
  // Capacity doubles (up to the coalescing limit) so that a run of tiny appends is amortised O(1).
  const capacity = Math.max(total, Math.min(COALESCED_SEGMENT_LIMIT, total * 2));
  const out = new Uint8Array(capacity);
  out.set(bytes, 0);
  out.set(tail, bytes.length);
  return out.subarray(0, total);
}

/**
 * A copy of `bytes` in a fresh ArrayBuffer. (`Uint8Array.prototype.slice` would do, but a Node
 * `Buffer` — what `node:dgram` delivers — overrides `slice` with a view.)
 */
function copyOf(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

function canCoalesce(a: number, b: number): boolean {
  return (a < SMALL_SEGMENT_LENGTH || b < SMALL_SEGMENT_LENGTH) && a + b <= COALESCED_SEGMENT_LIMIT;
}

/**
 * Offset-ordered reassembly of a byte stream received in pieces (STREAM or CRYPTO data).
 *
 * Holds sorted, non-overlapping, non-empty segments at or above {@link readOffset}. Appending in
 * order is O(1) (no search, no scan); an out-of-order piece costs a binary search plus a splice.
 * Only bytes not received before are stored (and copied); overlapping parts of retransmissions are
 * dropped, optionally after checking they did not change. The buffer applies no limit on offsets:
 * its owners ({@link RecvBuffer}, the CRYPTO buffer) check them before inserting.
 */
export class ReassemblyBuffer {
  private segs: Segment[] = [];
  /** Index of the first live segment in `segs` (earlier slots are consumed). */
  private head = 0;
  private _readOffset = 0;
  private _contiguousEnd = 0;
  private _buffered = 0;
  private readonly checkData: boolean;
  private readonly allowance: number;
  private readonly fragmentationCode: TransportErrorCodeValue;

  constructor(options: ReassemblyOptions = {}) {
    this.checkData = options.checkRetransmittedData ?? true;
    this.allowance = options.fragmentAllowance ?? DEFAULT_FRAGMENT_ALLOWANCE;
    this.fragmentationCode = options.fragmentationErrorCode ?? TransportErrorCode.PROTOCOL_VIOLATION;
  }

  /** Bytes handed out by {@link read} (or dropped by {@link discardReadable}): the next offset to read. */
  get readOffset(): number {
    return this._readOffset;
  }

  /** End of the data received without a hole from offset 0 (read or not). */
  get contiguousEnd(): number {
    return this._contiguousEnd;
  }

  /** Bytes that can be read now, in order. */
  get readableBytes(): number {
    return this._contiguousEnd - this._readOffset;
  }

  /** Bytes stored: readable bytes plus bytes received beyond a hole. */
  get bufferedBytes(): number {
    return this._buffered;
  }

  /** Number of stored segments (for tests and metrics). */
  get segmentCount(): number {
    return this.segs.length - this.head;
  }

  /**
   * Stores the bytes of `data` (which starts at stream offset `offset`) not received before, and
   * returns how many that was. Bytes below {@link readOffset} and bytes already stored are dropped;
   * new ones are copied. `frameType` goes into any error.
   *
   * Throws PROTOCOL_VIOLATION when a retransmitted byte differs from the stored one (when
   * checking is on), or the fragmentation error when the segment bound is exceeded.
   */
  insert(offset: number, data: Uint8Array, frameType: number): number {
    const end = offset + data.length;
    const start = offset > this._readOffset ? offset : this._readOffset;
    if (start >= end) return 0;
    const segs = this.segs;
    const n = segs.length;
    const last = n > this.head ? segs[n - 1] : undefined;
    if (last === undefined || segmentEnd(last) <= start) {
      // Common case: the piece lies beyond everything stored (in-order append, or a new hole).
      const piece = data.subarray(start - offset);
      if (last !== undefined && segmentEnd(last) === start && canCoalesce(last.bytes.length, piece.length)) {
        last.bytes = appendBytes(last.bytes, piece);
        this._buffered += piece.length;
      } else {
        segs.push({ offset: start, bytes: copyOf(piece) });
        this._buffered += piece.length;
        this.checkFragments(frameType);
      }
      if (start === this._contiguousEnd) this._contiguousEnd = end;
      return piece.length;
    }
    return this.insertAmong(offset, data, start, end, frameType);
  }

  /**
   * Returns up to `maxLength` bytes at {@link readOffset} (at most one stored segment's worth) and
   * advances past them, or `undefined` when nothing is readable. The view stays valid and
   * unchanged: the buffer never writes into bytes it has handed out.
   */
  read(maxLength = Number.POSITIVE_INFINITY): Uint8Array | undefined {
    if (this._contiguousEnd === this._readOffset || !(maxLength >= 1)) return undefined;
    const seg = this.segs[this.head];
    const len = seg.bytes.length;
    const n = maxLength < len ? Math.floor(maxLength) : len;
    let chunk: Uint8Array;
    if (n === len) {
      chunk = seg.bytes;
      this.dropHead();
    } else {
      chunk = seg.bytes.subarray(0, n);
      seg.bytes = seg.bytes.subarray(n);
      seg.offset += n;
    }
    this._readOffset += n;
    this._buffered -= n;
    return chunk;
  }

  /** Drops every readable byte as if read, and returns how many. */
  discardReadable(): number {
    const n = this._contiguousEnd - this._readOffset;
    while (this._readOffset < this._contiguousEnd) this.read();
    return n;
  }

  /**
   * Drops everything stored (used when a stream is reset or an encryption level discarded).
   * {@link readOffset} stays; the contiguous end falls back to it.
   */
  clear(): void {
    this.segs = [];
    this.head = 0;
    this._buffered = 0;
    this._contiguousEnd = this._readOffset;
  }

  /** Slow path of {@link insert}: the piece overlaps or precedes stored segments. */
  private insertAmong(offset: number, data: Uint8Array, start: number, end: number, frameType: number): number {
    const segs = this.segs;
    const n = segs.length;
    const first = this.firstEndingAfter(start);
    // Pass 1: find the holes the piece fills and check the bytes it shares with stored segments.
    // Nothing is changed until the whole piece has been checked.
    const holes: number[] = [];
    let cur = start;
    let k = first;
    while (cur < end) {
      const seg = k < n ? segs[k] : undefined;
      if (seg !== undefined && seg.offset <= cur) {
        const overlapEnd = Math.min(end, segmentEnd(seg));
        if (this.checkData) this.compare(data, cur - offset, seg.bytes, cur - seg.offset, overlapEnd - cur, cur, frameType);
        cur = overlapEnd;
        k++;
      } else {
        const holeEnd = seg !== undefined ? Math.min(end, seg.offset) : end;
        holes.push(cur, holeEnd);
        cur = holeEnd;
      }
    }
    if (holes.length === 0) return 0;
    // Pass 2: interleave the new pieces with the stored segments around them (one neighbour on each
    // side, for coalescing) and splice the result in.
    const lo = Math.max(this.head, first - 1);
    const hi = Math.min(n, k + 1);
    const runs: Run[] = [];
    let h = 0;
    for (let i = lo; i < hi || h < holes.length; ) {
      if (h < holes.length && (i >= hi || holes[h] < segs[i].offset)) {
        runs.push({ offset: holes[h], bytes: data.subarray(holes[h] - offset, holes[h + 1] - offset), fresh: true, segment: undefined });
        h += 2;
      } else {
        runs.push({ offset: segs[i].offset, bytes: segs[i].bytes, fresh: false, segment: segs[i] });
        i++;
      }
    }
    const merged: Segment[] = [];
    let added = 0;
    for (const run of runs) {
      const prev = merged.length > 0 ? merged[merged.length - 1] : undefined;
      if (run.fresh) added += run.bytes.length;
      if (prev !== undefined && segmentEnd(prev) === run.offset && canCoalesce(prev.bytes.length, run.bytes.length)) {
        prev.bytes = appendBytes(prev.bytes, run.bytes);
      } else if (run.fresh) {
        merged.push({ offset: run.offset, bytes: copyOf(run.bytes) });
      } else {
        merged.push(run.segment as Segment);
      }
    }
    const before = this.segs.length;
    segs.splice(lo, hi - lo, ...merged);
    this._buffered += added;
    if (holes[0] === this._contiguousEnd) this.advanceContiguous();
    if (this.segs.length > before) this.checkFragments(frameType);
    return added;
  }

  /** Index of the first live segment whose end is above `offset` (binary search). */
  private firstEndingAfter(offset: number): number {
    let lo = this.head;
    let hi = this.segs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (segmentEnd(this.segs[mid]) > offset) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  private advanceContiguous(): void {
    let end = this._contiguousEnd;
    const segs = this.segs;
    for (let i = this.firstEndingAfter(end); i < segs.length && segs[i].offset <= end; i++) end = segmentEnd(segs[i]);
    this._contiguousEnd = end;
  }

  private compare(a: Uint8Array, aOff: number, b: Uint8Array, bOff: number, len: number, at: number, frameType: number): void {
    for (let i = 0; i < len; i++) {
      if (a[aOff + i] !== b[bOff + i]) {
        // RFC 9000 §2.2: the data at a given offset MUST NOT change if it is sent multiple times.
        throw new QuicError(TransportErrorCode.PROTOCOL_VIOLATION, `retransmitted data differs at offset ${at + i}`, { frameType });
      }
    }
  }

  private checkFragments(frameType: number): void {
    const count = this.segs.length - this.head;
    if (count > 1 + this.allowance + this._buffered / SMALL_SEGMENT_LENGTH) {
      // RFC 9000 §21.7: mitigate stream fragmentation by limiting tracking structures.
      throw new QuicError(this.fragmentationCode, `${count} received fragments for ${this._buffered} bytes exceeds the fragmentation bound`, {
        frameType,
      });
    }
  }

  private dropHead(): void {
    this.segs[this.head] = DEAD;
    this.head++;
    if (this.head === this.segs.length) {
      this.segs.length = 0;
      this.head = 0;
    } else if (this.head >= 64 && this.head * 2 >= this.segs.length) {
      this.segs.splice(0, this.head);
      this.head = 0;
    }
  }
}

/**
 * Refuses an offset that is not an exact non-negative integer. Decoded frames never carry one (the
 * frame decoder refuses values above 2^53−1), so this is our own bug: INTERNAL_ERROR.
 */
export function checkOffset(offset: number, frameType: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw new QuicError(TransportErrorCode.INTERNAL_ERROR, `${offset} is not a valid stream offset`, { frameType });
  }
}

/**
 * States of the receiving part of a stream (RFC 9000 §3.2, Figure 3). The "Recv" state is entered
 * when the stream is created; a {@link RecvBuffer} starts there.
 */
export type RecvStreamState = 'recv' | 'sizeKnown' | 'dataRecvd' | 'dataRead' | 'resetRecvd' | 'resetRead';

/** Options of a {@link RecvBuffer}. */
export type RecvBufferOptions = Omit<ReassemblyOptions, 'fragmentationErrorCode'>;

/** What a STREAM frame did to a {@link RecvBuffer}. */
export interface RecvInsertResult {
  /**
   * How far the frame raised the highest received offset. Charge exactly this against
   * connection-level flow control (RFC 9000 §4.1): the sum over all streams of their highest
   * received offsets (or final sizes) must stay within the advertised MAX_DATA.
   */
  readonly flowControlIncrement: number;
  /** Bytes of the frame that had not been received before (stored unless reading was stopped or the stream reset). */
  readonly newBytes: number;
}

/** What a RESET_STREAM frame did to a {@link RecvBuffer}. */
export interface RecvResetResult {
  /** How far the final size raised the highest received offset: charge this against connection-level flow control (RFC 9000 §4.5). */
  readonly flowControlIncrement: number;
  /** True when the frame moved the stream to "Reset Recvd"; false when ignored (repeated, or the data was already all read). */
  readonly reset: boolean;
}

/**
 * The receiving part of a stream (RFC 9000 §2.2, §3.2, §4.5).
 *
 * Feed it STREAM frames with {@link insert} (passing the stream's current flow-control limit) and
 * RESET_STREAM frames with {@link reset}; the application reads with {@link read}. Connection-level
 * accounting uses {@link RecvInsertResult.flowControlIncrement} (bytes newly counted against
 * MAX_DATA) and {@link takeConsumed} (bytes newly released, for MAX_DATA / MAX_STREAM_DATA window
 * updates).
 *
 * Choices where RFC 9000 leaves them open:
 * - Different data at the same offset is refused with PROTOCOL_VIOLATION (§2.2, MAY), for bytes
 *   still buffered; see {@link ReassemblyOptions.checkRetransmittedData}.
 * - RESET_STREAM interrupts delivery (§3.2 allows it) in "Recv", "Size Known" and "Data Recvd":
 *   buffered bytes are discarded. In "Data Read" (everything already delivered) it is ignored.
 * - After {@link stopReading}, data keeps being reassembled to detect "Data Recvd", but readable
 *   bytes are dropped as they become contiguous.
 */
export class RecvBuffer {
  private readonly buf: ReassemblyBuffer;
  private _state: RecvStreamState = 'recv';
  private _finalSize: number | undefined;
  private _highest = 0;
  private stopped = false;
  private consumedReported = 0;

  constructor(options: RecvBufferOptions = {}) {
    this.buf = new ReassemblyBuffer(options);
  }

  /** The receiving-part state (RFC 9000 §3.2). */
  get state(): RecvStreamState {
    return this._state;
  }

  /** The final size once known (STREAM with FIN, or RESET_STREAM), else `undefined` (RFC 9000 §4.5). */
  get finalSize(): number | undefined {
    return this._finalSize;
  }

  /** The highest offset received: end of the furthest data (or the final size). Counts toward flow control (RFC 9000 §4.1). */
  get highestOffset(): number {
    return this._highest;
  }

  /** Bytes delivered to the application (or dropped after {@link stopReading}). */
  get readOffset(): number {
    return this.buf.readOffset;
  }

  /** Bytes the application can read now, in order. */
  get readableBytes(): number {
    return this.isReset ? 0 : this.buf.readableBytes;
  }

  /** Bytes held in memory; never more than the flow-control limit minus {@link readOffset}. */
  get bufferedBytes(): number {
    return this.buf.bufferedBytes;
  }

  /**
   * Offset up to which flow-control credit is released: {@link readOffset}, or the final size once
   * the stream is reset (bytes that will never be read count as consumed, RFC 9000 §4.5).
   */
  get consumedOffset(): number {
    return this.isReset ? (this._finalSize as number) : this.buf.readOffset;
  }

  /** True when every byte up to the final size has been received ("Data Recvd" or later). */
  get allDataReceived(): boolean {
    return this._state === 'dataRecvd' || this._state === 'dataRead';
  }

  /** True when every byte up to the final size has been read ("Data Read"). */
  get allDataRead(): boolean {
    return this._state === 'dataRead';
  }

  /** True when the stream was reset ("Reset Recvd" or "Reset Read"). */
  get isReset(): boolean {
    return this._state === 'resetRecvd' || this._state === 'resetRead';
  }

  /** True in a terminal state: "Data Read" or "Reset Read" (RFC 9000 §3.2). */
  get isTerminal(): boolean {
    return this._state === 'dataRead' || this._state === 'resetRead';
  }

  /** True once {@link stopReading} was called. */
  get readingStopped(): boolean {
    return this.stopped;
  }

  /** {@link insert} with the fields of a decoded STREAM frame; errors carry the frame's exact type. */
  insertFrame(frame: StreamFrame, maxStreamData: number): RecvInsertResult {
    const type =
      FrameType.STREAM |
      (frame.offset > 0 ? STREAM_OFF_BIT : 0) |
      (frame.explicitLength === false ? 0 : STREAM_LEN_BIT) |
      (frame.fin ? STREAM_FIN_BIT : 0);
    return this.insert(frame.offset, frame.data, frame.fin, maxStreamData, type);
  }

  /**
   * Applies a STREAM frame: `data` at stream offset `offset`, ending the stream when `fin`.
   * `maxStreamData` is the largest MAX_STREAM_DATA (or initial limit) advertised for this stream.
   * The data is copied; `data` may be reused as soon as this returns.
   *
   * Throws:
   * - FINAL_SIZE_ERROR (RFC 9000 §4.5): data beyond a known final size, a FIN at a different
   *   final size, or a FIN below data already received;
   * - FLOW_CONTROL_ERROR (§4.1, §19.10): data beyond `maxStreamData`;
   * - PROTOCOL_VIOLATION: changed retransmitted data (§2.2) or excessive fragmentation (§21.7).
   */
  insert(offset: number, data: Uint8Array, fin: boolean, maxStreamData: number, frameType?: number): RecvInsertResult {
    const type = frameType ?? FrameType.STREAM | (offset > 0 ? STREAM_OFF_BIT : 0) | STREAM_LEN_BIT | (fin ? STREAM_FIN_BIT : 0);
    checkOffset(offset, type);
    const end = offset + data.length;
    this.checkFinalSize(end, fin, type);
    if (end > maxStreamData) {
      // RFC 9000 §4.1: a receiver MUST close the connection with FLOW_CONTROL_ERROR if the sender
      // violates the advertised stream data limit.
      throw new QuicError(TransportErrorCode.FLOW_CONTROL_ERROR, `stream data up to ${end} exceeds the limit ${maxStreamData}`, { frameType: type });
    }
    let increment = 0;
    if (end > this._highest) {
      increment = end - this._highest;
      this._highest = end;
    }
    if (fin && this._finalSize === undefined) {
      this._finalSize = end;
      if (this._state === 'recv') this._state = 'sizeKnown';
    }
    // After a reset, and once all data was read, nothing more is stored (RFC 9000 §3.2).
    if (this.isReset || this._state === 'dataRead') return { flowControlIncrement: increment, newBytes: 0 };
    const newBytes = this.buf.insert(offset, data, type);
    if (this.stopped) this.buf.discardReadable();
    this.updateDataStates();
    return { flowControlIncrement: increment, newBytes };
  }

  /**
   * Applies a RESET_STREAM frame with `finalSize` (RFC 9000 §19.4). The final-size rules apply as
   * for a FIN (FINAL_SIZE_ERROR), and the final size must be within `maxStreamData`
   * (FLOW_CONTROL_ERROR). In "Recv", "Size Known" and "Data Recvd" buffered data is discarded and
   * the stream enters "Reset Recvd"; a repeated RESET_STREAM, or one after all data was read, is
   * ignored.
   */
  reset(finalSize: number, maxStreamData: number): RecvResetResult {
    const type = FrameType.RESET_STREAM;
    checkOffset(finalSize, type);
    this.checkFinalSize(finalSize, true, type);
    if (finalSize > maxStreamData) {
      throw new QuicError(TransportErrorCode.FLOW_CONTROL_ERROR, `final size ${finalSize} exceeds the limit ${maxStreamData}`, { frameType: type });
    }
    const increment = finalSize > this._highest ? finalSize - this._highest : 0;
    this._highest = Math.max(this._highest, finalSize);
    this._finalSize = finalSize;
    if (this.isReset || this._state === 'dataRead') return { flowControlIncrement: increment, reset: false };
    this._state = 'resetRecvd';
    this.buf.clear();
    return { flowControlIncrement: increment, reset: true };
  }

  /**
   * Returns up to `maxLength` bytes in order (a view of our copy), or `undefined` when none are
   * readable (a hole, the end of the stream, a reset, or reading stopped). Reading the last byte
   * moves the stream to "Data Read".
   */
  read(maxLength = Number.POSITIVE_INFINITY): Uint8Array | undefined {
    if (this.isReset || this.stopped) return undefined;
    const chunk = this.buf.read(maxLength);
    if (chunk !== undefined) this.updateDataStates();
    return chunk;
  }

  /**
   * The application aborts reading (RFC 9000 §3.5; the caller sends STOP_SENDING if the state is
   * "Recv" or "Size Known"). Buffered readable bytes are dropped and returned as a count, and
   * later bytes are dropped as they become contiguous, so credit keeps flowing.
   */
  stopReading(): number {
    this.stopped = true;
    if (this.isReset) return 0;
    const n = this.buf.discardReadable();
    this.updateDataStates();
    return n;
  }

  /** The application has been told of the reset: "Reset Recvd" → "Reset Read" (RFC 9000 §3.2). */
  acknowledgeReset(): void {
    if (this._state === 'resetRecvd') this._state = 'resetRead';
  }

  /**
   * Bytes released for flow-control credit since the last call: read, dropped, or (after a reset)
   * up to the final size. Add them to the connection's consumed count for MAX_DATA updates.
   */
  takeConsumed(): number {
    const c = this.consumedOffset;
    const n = c - this.consumedReported;
    this.consumedReported = c;
    return n;
  }

  /** RFC 9000 §4.5 final-size rules for data ending at `end` (with FIN when `fin`). */
  private checkFinalSize(end: number, fin: boolean, frameType: number): void {
    const known = this._finalSize;
    if (known !== undefined) {
      if (fin && end !== known) {
        throw new QuicError(TransportErrorCode.FINAL_SIZE_ERROR, `final size changed from ${known} to ${end}`, { frameType });
      }
      if (end > known) {
        throw new QuicError(TransportErrorCode.FINAL_SIZE_ERROR, `data up to ${end} beyond the final size ${known}`, { frameType });
      }
    } else if (fin && end < this._highest) {
      throw new QuicError(TransportErrorCode.FINAL_SIZE_ERROR, `final size ${end} below data already received up to ${this._highest}`, {
        frameType,
      });
    }
  }

  private updateDataStates(): void {
    const fs = this._finalSize;
    if (fs === undefined) return;
    if (this._state === 'sizeKnown' && this.buf.contiguousEnd === fs) this._state = 'dataRecvd';
    if (this._state === 'dataRecvd' && this.buf.readOffset === fs) this._state = 'dataRead';
  }
}
