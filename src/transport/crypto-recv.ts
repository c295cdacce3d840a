/**
 * Reassembly of the CRYPTO stream of one encryption level (RFC 9000 §7.5, §19.6): CRYPTO frames
 * arrive in any order, overlapping or repeated; TLS receives the bytes in order.
 *
 * CRYPTO data is not flow controlled, so the buffer bounds itself: data that cannot be delivered
 * yet is kept only within {@link CryptoRecvOptions.maxBufferedBytes} of the delivered offset
 * (at least 4096 bytes, as §7.5 requires), and the stream as a whole may not grow beyond
 * {@link CryptoRecvOptions.maxOffset}. Beyond either → CRYPTO_BUFFER_EXCEEDED.
 *
 * @module
 */
import { QuicError, TransportErrorCode } from '../wire/errors.js';
import { FrameType, type CryptoFrame } from '../wire/frames/types.js';
import type { EncryptionLevel } from '../wire/levels.js';
import { ReassemblyBuffer, checkOffset } from './recv-buffer.js';

/** RFC 9000 §7.5: implementations MUST support buffering at least 4096 bytes of out-of-order CRYPTO data. */
export const MIN_CRYPTO_BUFFER = 4096;

/** Default {@link CryptoRecvOptions.maxBufferedBytes}: room for a large certificate flight received out of order. */
export const DEFAULT_CRYPTO_BUFFER = 65536;

/** Default {@link CryptoRecvOptions.maxOffset}: 1 MiB of handshake (or post-handshake) data per level. */
export const DEFAULT_MAX_CRYPTO_OFFSET = 1 << 20;

/** Options of a {@link CryptoRecvBuffer}. */
export interface CryptoRecvOptions {
  /**
   * How far beyond the delivered offset out-of-order data may reach (so also the most bytes held).
   * At least {@link MIN_CRYPTO_BUFFER}; default {@link DEFAULT_CRYPTO_BUFFER}. Data that can be
   * delivered at once (it starts at or below the delivered offset) is never refused by this bound.
   */
  readonly maxBufferedBytes?: number;
  /**
   * Sanity bound on the whole CRYPTO stream of the level: data ending beyond it is refused with
   * CRYPTO_BUFFER_EXCEEDED (RFC 9000 §19.6 allows that code for the 2^62−1 limit; ours is lower).
   * Default {@link DEFAULT_MAX_CRYPTO_OFFSET}.
   */
  readonly maxOffset?: number;
  /** Refuse retransmitted CRYPTO data that differs from what is buffered (PROTOCOL_VIOLATION). Default `true`. */
  readonly checkRetransmittedData?: boolean;
}

/**
 * The receive side of one encryption level's CRYPTO stream.
 *
 * {@link receive} takes a frame's offset and data and returns the bytes that became deliverable,
 * in order, as arrays TLS may keep (they are copies, never views of the packet). Data entirely
 * below the delivered offset is a retransmission and is ignored.
 */
export class CryptoRecvBuffer {
  /** The encryption level (for error messages). */
  readonly level: EncryptionLevel;
  private readonly buf: ReassemblyBuffer;
  private readonly maxBuffered: number;
  private readonly maxOffset: number;
  private _highest = 0;
  private discarded = false;

  constructor(level: EncryptionLevel, options: CryptoRecvOptions = {}) {
    const maxBuffered = options.maxBufferedBytes ?? DEFAULT_CRYPTO_BUFFER;
    if (!(maxBuffered >= MIN_CRYPTO_BUFFER)) {
      throw new RangeError(`maxBufferedBytes ${maxBuffered} is below the ${MIN_CRYPTO_BUFFER} bytes RFC 9000 §7.5 requires`);
    }
    this.level = level;
    this.maxBuffered = maxBuffered;
    this.maxOffset = options.maxOffset ?? DEFAULT_MAX_CRYPTO_OFFSET;
    this.buf = new ReassemblyBuffer({
      checkRetransmittedData: options.checkRetransmittedData ?? true,
      fragmentationErrorCode: TransportErrorCode.CRYPTO_BUFFER_EXCEEDED,
    });
  }

  /** Bytes delivered to TLS so far: the next offset TLS expects. */
  get deliveredOffset(): number {
    return this.buf.readOffset;
  }

  /** Bytes held for delivery once a hole is filled. */
  get bufferedBytes(): number {
    return this.buf.bufferedBytes;
  }

  /** The highest offset of CRYPTO data received at this level. */
  get highestOffset(): number {
    return this._highest;
  }

  /** True once {@link discard} was called. */
  get isDiscarded(): boolean {
    return this.discarded;
  }

  /** {@link receive} with a decoded CRYPTO frame. */
  receiveFrame(frame: CryptoFrame): Uint8Array[] {
    return this.receive(frame.offset, frame.data);
  }

  /**
   * Applies CRYPTO data at `offset` and returns the bytes now deliverable to TLS, in order (empty
   * when the data fills no hole at the delivered offset). `data` is copied and may be reused.
   *
   * Throws CRYPTO_BUFFER_EXCEEDED when out-of-order data reaches more than `maxBufferedBytes`
   * beyond the delivered offset (RFC 9000 §7.5), when data ends beyond `maxOffset`, or when holes
   * fragment the buffer beyond its bound; PROTOCOL_VIOLATION when a retransmission changes
   * buffered bytes. After {@link discard}, frames are ignored.
   */
  receive(offset: number, data: Uint8Array): Uint8Array[] {
    const frameType = FrameType.CRYPTO;
    checkOffset(offset, frameType);
    if (this.discarded) return [];
    const end = offset + data.length;
    if (end > this.maxOffset) {
      throw new QuicError(TransportErrorCode.CRYPTO_BUFFER_EXCEEDED, `${this.level} CRYPTO data up to ${end} exceeds the ${this.maxOffset}-byte limit`, {
        frameType,
      });
    }
    if (end > this._highest) this._highest = end;
    const delivered = this.buf.readOffset;
    // Entirely below the delivered offset: a retransmission of bytes TLS already has.
    if (end <= delivered) return [];
    if (offset > delivered && end - delivered > this.maxBuffered) {
      // RFC 9000 §7.5: if the buffer is exceeded the endpoint MUST close with CRYPTO_BUFFER_EXCEEDED.
      throw new QuicError(
        TransportErrorCode.CRYPTO_BUFFER_EXCEEDED,
        `${this.level} CRYPTO data up to ${end} is more than ${this.maxBuffered} bytes beyond the delivered offset ${delivered}`,
        { frameType },
      );
    }
    this.buf.insert(offset, data, frameType);
    const out: Uint8Array[] = [];
    for (let chunk = this.buf.read(); chunk !== undefined; chunk = this.buf.read()) out.push(chunk);
    return out;
  }

  /**
   * Drops everything buffered, when the level's keys are discarded (RFC 9001 §4.9): no more
   * CRYPTO data can arrive at it. Later calls to {@link receive} return nothing.
   */
  discard(): void {
    this.discarded = true;
    this.buf.clear();
  }
}
