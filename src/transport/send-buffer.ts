/**
 * The sending half of a byte stream: application data waiting to be sent, in flight, lost or
 * acknowledged (RFC 9000 §2–§3, §13.3). Used for every STREAM send side and, without FIN or
 * flow control, for the CRYPTO stream of each encryption level.
 *
 * Nothing is pre-cut into frames (ARCHITECTURE.md principle 4): the buffer only says which range
 * to send next ({@link SendBuffer.nextRange}) and the frame source cuts it to the room of the
 * packet being built, then reports what was committed ({@link SendBuffer.onSent}). On loss the
 * *range* goes back to the buffer and is sent again before new data, lowest offset first; on
 * acknowledgement it is released from memory once every byte below it is acknowledged too.
 *
 * @module
 */
import { Subject, type Observable } from 'rxjs';

/** One half-open byte range `[start, end)`. */
export interface ByteRange {
  /** First byte of the range. */
  readonly start: number;
  /** One past the last byte of the range. */
  readonly end: number;
}

/**
 * A set of byte offsets kept as sorted, disjoint, non-adjacent half-open ranges.
 * Adding and removing are O(log n + k) where k is the number of ranges merged or split.
 */
export class RangeSet {
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];

  /** Number of disjoint ranges. */
  get rangeCount(): number {
    return this.starts.length;
  }

  /** True when the set holds no offset. */
  get isEmpty(): boolean {
    return this.starts.length === 0;
  }

  /** Total number of offsets in the set. */
  get size(): number {
    let n = 0;
    for (let i = 0; i < this.starts.length; i++) n += this.ends[i] - this.starts[i];
    return n;
  }

  /** The lowest range, undefined when empty. */
  first(): ByteRange | undefined {
    return this.starts.length === 0 ? undefined : { start: this.starts[0], end: this.ends[0] };
  }

  /** Start of the lowest range, undefined when empty ({@link first} without an object). */
  firstStart(): number | undefined {
    return this.starts.length === 0 ? undefined : this.starts[0];
  }

  /** End of the lowest range, undefined when empty. */
  firstEnd(): number | undefined {
    return this.ends.length === 0 ? undefined : this.ends[0];
  }

  /** The ranges in ascending order (a copy). */
  ranges(): ByteRange[] {
    return this.starts.map((start, i) => ({ start, end: this.ends[i] }));
  }

  /** True when `offset` is in the set. */
  has(offset: number): boolean {
    const i = this.indexAtOrBefore(offset);
    return i >= 0 && offset < this.ends[i];
  }

  /** Index of the last range whose start is ≤ `offset`, or -1. */
  private indexAtOrBefore(offset: number): number {
    let lo = 0;
    let hi = this.starts.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.starts[mid] <= offset) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found;
  }

  /** Adds `[start, end)`, merging with ranges it overlaps or touches. */
  add(start: number, end: number): void {
    if (end <= start) return;
    // First range that ends at or after `start` (it may merge), last range that starts at or before `end`.
    let i = this.indexAtOrBefore(start);
    if (i < 0 || this.ends[i] < start) i++;
    let j = i;
    while (j < this.starts.length && this.starts[j] <= end) j++;
    if (i === j) {
      this.starts.splice(i, 0, start);
      this.ends.splice(i, 0, end);
      return;
    }
    const mergedStart = Math.min(start, this.starts[i]);
    const mergedEnd = Math.max(end, this.ends[j - 1]);
    this.starts.splice(i, j - i, mergedStart);
    this.ends.splice(i, j - i, mergedEnd);
  }

  /** Removes `[start, end)` from the set, splitting a range that straddles it. */
  remove(start: number, end: number): void {
    if (end <= start || this.starts.length === 0) return;
    let i = this.indexAtOrBefore(start);
    if (i < 0 || this.ends[i] <= start) i++;
    const newStarts: number[] = [];
    const newEnds: number[] = [];
    let j = i;
    for (; j < this.starts.length && this.starts[j] < end; j++) {
      if (this.starts[j] < start) {
        newStarts.push(this.starts[j]);
        newEnds.push(start);
      }
      if (this.ends[j] > end) {
        newStarts.push(end);
        newEnds.push(this.ends[j]);
      }
    }
    if (j === i) return;
    this.starts.splice(i, j - i, ...newStarts);
    this.ends.splice(i, j - i, ...newEnds);
  }

  /** Removes every offset below `offset`. */
  removeBelow(offset: number): void {
    const starts = this.starts;
    if (starts.length === 0 || starts[0] >= offset) return;
    // Whole ranges below `offset` go; a range straddling it is cut.
    let n = 0;
    while (n < starts.length && this.ends[n] <= offset) n++;
    if (n > 0) {
      starts.splice(0, n);
      this.ends.splice(0, n);
    }
    if (starts.length > 0 && starts[0] < offset) starts[0] = offset;
  }

  /** Removes everything. */
  clear(): void {
    this.starts.length = 0;
    this.ends.length = 0;
  }

  /** The end of the range starting exactly at `offset`, or undefined. */
  endOfRangeAt(offset: number): number | undefined {
    const i = this.indexAtOrBefore(offset);
    return i >= 0 && this.starts[i] === offset ? this.ends[i] : undefined;
  }
}

/** A slice of application data held by a {@link SendBuffer}. */
interface Chunk {
  /** Stream offset of `data[0]`. */
  readonly offset: number;
  /** Backing storage; `used` bytes are valid. */
  readonly data: Uint8Array;
  used: number;
}

/**
 * Small writes are gathered into pages, so that a frame rarely spans two chunks. A buffer's first
 * page is {@link FIRST_PAGE_SIZE} bytes and each further one twice the last, up to this size: a
 * CRYPTO stream or a stream of small messages does not pin a full page (a server in the middle of
 * a handshake held two 16 KiB pages for a ~90-byte ServerHello and a ~2 KB flight, measured in a
 * heap snapshot: 33.7 KiB of ArrayBuffer memory per connection).
 */
const PAGE_SIZE = 16 * 1024;
/** The first page of a {@link SendBuffer}. */
const FIRST_PAGE_SIZE = 512;

/** The default high-water mark of a {@link SendBuffer}: 1 MiB held (written and not yet acknowledged). */
export const DEFAULT_SEND_HIGH_WATER_MARK = 1024 * 1024;

/** Options of a {@link SendBuffer}. */
export interface SendBufferOptions {
  /**
   * Bytes held (written and not yet acknowledged) at or above which {@link SendBuffer.write}
   * returns false; {@link SendBuffer.drained$} emits once the buffer falls back below it.
   * Defaults to {@link DEFAULT_SEND_HIGH_WATER_MARK}; `Infinity` disables backpressure.
   */
  readonly highWaterMark?: number;
}

/**
 * What to send next from a {@link SendBuffer}: a contiguous range starting at `offset` with
 * `available` bytes, lost data first. The frame source cuts it to the room it has.
 */
export interface SendRange {
  /** Stream offset of the first byte. */
  readonly offset: number;
  /** Bytes that may go in the frame, starting at `offset` (0 for a FIN-only frame). */
  readonly available: number;
  /** True when a frame carrying all `available` bytes must carry FIN. */
  readonly fin: boolean;
  /** True for lost data sent again (it consumes no flow control credit, RFC 9000 §4.1). */
  readonly retransmission: boolean;
}

/** Thrown by {@link SendBuffer.write} and {@link SendBuffer.end} after the stream was ended or reset. */
export class SendBufferClosedError extends Error {
  /** Creates the error for an operation attempted after `end()` or `reset()`. */
  constructor(operation: string, state: 'ended' | 'reset') {
    super(`cannot ${operation}: the send side was ${state}`);
    this.name = 'SendBufferClosedError';
  }
}

const EMPTY = new Uint8Array(0);

let scratch = new Uint8Array(2048);

/**
 * A scratch buffer of at least `length` bytes for {@link SendBuffer.read} of a range spanning two
 * chunks, shared by every frame source of the process: a source copies into it and writes the
 * frame at once (synchronously), so one buffer serves all (one per connection cost 2 KiB each).
 */
export function copyScratch(length: number): Uint8Array {
  if (scratch.length < length) scratch = new Uint8Array(length);
  return scratch;
}

/**
 * The send side of one stream (or of a CRYPTO stream): written data, the unsent offset, lost
 * ranges to send again, acknowledged ranges released from memory, FIN and reset.
 *
 * Written data is copied, so the caller may reuse its buffer. Offsets are exact `number`s.
 */
export class SendBuffer {
  private readonly chunks: Chunk[] = [];
  /** The size of the next page (see {@link PAGE_SIZE}). */
  private pageSize = FIRST_PAGE_SIZE;
  /** Index of the first live chunk in {@link chunks} (older ones are released). */
  private head = 0;
  private written = 0;
  private unsent = 0;
  private ackedPrefix = 0;
  private readonly acked = new RangeSet();
  private readonly lost = new RangeSet();
  private finRequested = false;
  private finInFlight = false;
  private finAcked = false;
  private resetAt: number | undefined;
  private full = false;
  private readonly drained = new Subject<void>();
  private readonly highWaterMark: number;

  /** Emits when the buffer falls below its high-water mark after {@link write} returned false. */
  readonly drained$: Observable<void> = this.drained.asObservable();

  /** Creates an empty send buffer. */
  constructor(options: SendBufferOptions = {}) {
    this.highWaterMark = options.highWaterMark ?? DEFAULT_SEND_HIGH_WATER_MARK;
  }

  /**
   * Appends `data` (copied) to the stream. Returns false when the buffer now holds at least its
   * high-water mark: the writer should wait for {@link drained$} (the data is accepted either way).
   *
   * @throws SendBufferClosedError after {@link end} or {@link reset}.
   */
  write(data: Uint8Array): boolean {
    if (this.resetAt !== undefined) throw new SendBufferClosedError('write', 'reset');
    if (this.finRequested) throw new SendBufferClosedError('write', 'ended');
    let src = 0;
    const last = this.chunks.length > this.head ? this.chunks[this.chunks.length - 1] : undefined;
    if (last !== undefined && last.used < last.data.length) {
      const n = Math.min(last.data.length - last.used, data.length);
      last.data.set(data.subarray(0, n), last.used);
      last.used += n;
      src = n;
    }
    if (src < data.length) {
      const rest = data.length - src;
      const storage = new Uint8Array(Math.max(rest, this.pageSize));
      if (this.pageSize < PAGE_SIZE) this.pageSize *= 2;
      storage.set(data.subarray(src));
      this.chunks.push({ offset: this.written + src, data: storage, used: rest });
    }
    this.written += data.length;
    if (this.bufferedBytes >= this.highWaterMark) this.full = true;
    return !this.full;
  }

  /** Marks the end of the stream: FIN will be sent with the last byte, or alone if all data was already sent. */
  end(): void {
    if (this.resetAt !== undefined) throw new SendBufferClosedError('end', 'reset');
    this.finRequested = true;
  }

  /**
   * Stops sending (RFC 9000 §3.1 "Reset Sent"): nothing more is sent or sent again, memory is
   * released, and the final size for RESET_STREAM is returned — the highest offset sent
   * (RFC 9000 §4.5). Idempotent: a second call returns the same final size.
   */
  reset(): number {
    if (this.resetAt === undefined) {
      this.resetAt = this.unsent;
      this.lost.clear();
      this.acked.clear();
      this.chunks.length = 0;
      this.head = 0;
      this.finInFlight = false;
      const wasFull = this.full;
      this.full = false;
      if (wasFull) this.drained.next();
    }
    return this.resetAt;
  }

  /** Bytes written by the application so far (the final size once ended). */
  get writtenBytes(): number {
    return this.written;
  }

  /** The next offset never sent: new data starts here. */
  get unsentOffset(): number {
    return this.unsent;
  }

  /** Bytes held in memory: written and not yet acknowledged below the first unacknowledged byte. */
  get bufferedBytes(): number {
    return this.resetAt !== undefined ? 0 : this.written - this.ackedPrefix;
  }

  /** Storage chunks still held in memory (diagnostics: 0 once everything written is acknowledged). */
  get heldChunks(): number {
    return this.chunks.length - this.head;
  }

  /** Every byte below this offset is acknowledged and released. */
  get acknowledgedOffset(): number {
    return this.ackedPrefix;
  }

  /** True while {@link write} would return false (holding at least the high-water mark). */
  get isFull(): boolean {
    return this.full;
  }

  /** The final size once {@link end} was called, undefined before. */
  get finalSize(): number | undefined {
    return this.finRequested ? this.written : undefined;
  }

  /** True once {@link end} was called. */
  get ended(): boolean {
    return this.finRequested;
  }

  /** The final size given to RESET_STREAM once {@link reset} was called, undefined before. */
  get resetFinalSize(): number | undefined {
    return this.resetAt;
  }

  /** True when every byte and the FIN are acknowledged (RFC 9000 §3.1 "Data Recvd"). */
  get allAcknowledged(): boolean {
    return this.finRequested && this.finAcked && this.ackedPrefix === this.written;
  }

  /** True when some lost data waits to be sent again. */
  get hasLostData(): boolean {
    return !this.lost.isEmpty;
  }

  /** Bytes written but never sent. */
  get unsentBytes(): number {
    return this.resetAt !== undefined ? 0 : this.written - this.unsent;
  }

  /** Bytes of lost data waiting to be sent again. */
  get lostBytes(): number {
    return this.lost.size;
  }

  /** True when a FIN must be sent (or sent again) and is not in flight. */
  get finPending(): boolean {
    return this.resetAt === undefined && this.finRequested && !this.finInFlight && !this.finAcked;
  }

  /**
   * True when something could be sent: lost data, a pending FIN with all data sent, or new data
   * when `creditAvailable` (new data needs flow control credit; lost data and FIN do not).
   */
  hasSendable(creditAvailable: boolean): boolean {
    if (this.resetAt !== undefined) return false;
    if (!this.lost.isEmpty) return true;
    if (this.unsent < this.written) return creditAvailable;
    return this.finPending;
  }

  /**
   * The range to send next: the lowest lost range first, then new data limited to `maxNewBytes`
   * (the flow control credit), then a FIN-only frame. Undefined when nothing can be sent.
   */
  nextRange(maxNewBytes: number): SendRange | undefined {
    if (this.resetAt !== undefined) return undefined;
    const lost = this.lost.first();
    if (lost !== undefined) {
      // RFC 9000 §13.3: lost data is sent again first, lowest offset first.
      const fin = this.finPending && lost.end === this.written;
      return { offset: lost.start, available: lost.end - lost.start, fin, retransmission: true };
    }
    if (this.unsent < this.written) {
      const available = Math.min(this.written - this.unsent, Math.max(0, Math.floor(maxNewBytes)));
      if (available === 0) return undefined;
      const fin = this.finPending && this.unsent + available === this.written;
      return { offset: this.unsent, available, fin, retransmission: false };
    }
    if (this.finPending) return { offset: this.written, available: 0, fin: true, retransmission: false };
    return undefined;
  }

  /**
   * The bytes `[offset, offset + length)` for a frame, without copying when they lie in one
   * chunk; otherwise copied into `scratch` (which must hold `length` bytes). The range must be
   * written and not yet released.
   */
  read(offset: number, length: number, scratch?: Uint8Array): Uint8Array {
    if (length === 0) return EMPTY;
    let i = this.chunkIndex(offset);
    if (i < 0) throw new RangeError(`send buffer: offset ${offset} is not held`);
    const c = this.chunks[i];
    const start = offset - c.offset;
    if (start + length <= c.used) return c.data.subarray(start, start + length);
    const out = scratch !== undefined && scratch.length >= length ? scratch.subarray(0, length) : new Uint8Array(length);
    let copied = 0;
    let pos = offset;
    while (copied < length) {
      const chunk = this.chunks[i];
      if (chunk === undefined) throw new RangeError(`send buffer: offset ${pos} is not held`);
      const from = pos - chunk.offset;
      const n = Math.min(chunk.used - from, length - copied);
      out.set(chunk.data.subarray(from, from + n), copied);
      copied += n;
      pos += n;
      i++;
    }
    return out;
  }

  /** Index of the chunk holding `offset`, or -1. */
  private chunkIndex(offset: number): number {
    let lo = this.head;
    let hi = this.chunks.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const c = this.chunks[mid];
      if (offset < c.offset) hi = mid - 1;
      else if (offset >= c.offset + c.used) lo = mid + 1;
      else return mid;
    }
    return -1;
  }

  /**
   * Records that `[offset, offset + length)` (with FIN when `fin`) was committed to a packet.
   * Returns the number of *new* bytes — those beyond the previous unsent offset — which is what
   * consumes flow control credit (RFC 9000 §4.1).
   */
  onSent(offset: number, length: number, fin: boolean): number {
    if (this.resetAt !== undefined) return 0;
    const end = offset + length;
    let fresh = 0;
    if (end > this.unsent) {
      fresh = end - Math.max(offset, this.unsent);
      this.unsent = end;
    }
    if (offset < this.unsent) this.lost.remove(offset, Math.min(end, this.unsent));
    if (fin) this.finInFlight = true;
    return fresh;
  }

  /** A range in flight was acknowledged: it is never sent again and is released once contiguous. */
  onAcked(offset: number, length: number, fin: boolean): void {
    if (this.resetAt !== undefined) return;
    const end = offset + length;
    this.lost.remove(offset, end);
    if (fin) {
      this.finAcked = true;
      this.finInFlight = false;
    }
    if (end <= this.ackedPrefix) return;
    if (offset <= this.ackedPrefix && this.acked.isEmpty) {
      // In order (the common case): the prefix grows, no range to record.
      this.ackedPrefix = end;
      this.release();
      return;
    }
    this.acked.add(Math.max(offset, this.ackedPrefix), end);
    const first = this.acked.firstStart();
    if (first !== undefined && first <= this.ackedPrefix) {
      this.ackedPrefix = this.acked.firstEnd() as number;
      this.acked.removeBelow(this.ackedPrefix);
      this.release();
    }
  }

  /** A range in flight was declared lost: its bytes not yet acknowledged are sent again (RFC 9000 §13.3). */
  onLost(offset: number, length: number, fin: boolean): void {
    if (this.resetAt !== undefined) return;
    const end = offset + length;
    if (fin && !this.finAcked) this.finInFlight = false;
    // Add the parts of [offset, end) that are neither released nor acknowledged.
    let pos = Math.max(offset, this.ackedPrefix);
    for (const r of this.acked.ranges()) {
      if (pos >= end || r.start >= end) break;
      if (r.end <= pos) continue;
      if (r.start > pos) this.lost.add(pos, r.start);
      pos = Math.max(pos, r.end);
    }
    if (pos < end) this.lost.add(pos, end);
  }

  /** Drops chunks that lie entirely below the acknowledged prefix and signals a drain. */
  private release(): void {
    while (this.head < this.chunks.length) {
      const c = this.chunks[this.head];
      const end = c.offset + c.used;
      // Keep the tail page while later writes can still fill it — unless everything written is
      // acknowledged: an idle stream (or CRYPTO stream) then holds no page (16 KiB for a few bytes).
      if (end > this.ackedPrefix || (end === this.written && c.used < c.data.length && this.ackedPrefix < this.written)) break;
      this.head++;
    }
    if (this.head === this.chunks.length && this.head > 0) {
      this.chunks.length = 0;
      this.head = 0;
    }
    if (this.head > 32 && this.head * 2 > this.chunks.length) {
      this.chunks.splice(0, this.head);
      this.head = 0;
    }
    if (this.full && this.bufferedBytes < this.highWaterMark) {
      this.full = false;
      this.drained.next();
    }
  }
}
