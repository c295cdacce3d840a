/**
 * A bounds-checked cursor over received bytes.
 *
 * Every read checks the bytes left and throws a {@link QuicError} with the reader's error code
 * (FRAME_ENCODING_ERROR for frames, TRANSPORT_PARAMETER_ERROR for transport parameters, …) instead
 * of reading past the end. Byte strings are returned as views (`subarray`), never copies.
 *
 * @module
 */
import { QuicError, TransportErrorCode } from './errors.js';

const TWO_POW_32 = 0x1_0000_0000;
/** 2^53 / 2^32: the high word of the first varint value above Number.MAX_SAFE_INTEGER. */
const SAFE_HIGH_LIMIT = 0x20_0000;

/** A cursor over `bytes[pos, end)` whose reads throw typed QUIC errors on truncation. */
export class Reader {
  /** The underlying bytes (not copied). */
  readonly bytes: Uint8Array;
  /** Current read position, an index into {@link bytes}. */
  pos: number;
  /** One past the last readable index. */
  readonly end: number;
  /** Transport error code thrown when the input is truncated or malformed. */
  readonly errorCode: number;

  constructor(bytes: Uint8Array, pos = 0, end = bytes.length, errorCode: number = TransportErrorCode.FRAME_ENCODING_ERROR) {
    if (pos < 0 || end > bytes.length || pos > end) {
      throw new QuicError(TransportErrorCode.INTERNAL_ERROR, `reader window [${pos}, ${end}) outside buffer of ${bytes.length} bytes`);
    }
    this.bytes = bytes;
    this.pos = pos;
    this.end = end;
    this.errorCode = errorCode;
  }

  /** Bytes left to read. */
  get remaining(): number {
    return this.end - this.pos;
  }

  /** True when nothing is left. */
  get done(): boolean {
    return this.pos >= this.end;
  }

  /** Throws the reader's error with `reason`. */
  fail(reason: string, frameType?: number): never {
    throw new QuicError(this.errorCode, reason, frameType === undefined ? {} : { frameType });
  }

  /** Ensures `n` more bytes are available, naming `what` in the error otherwise. */
  need(n: number, what: string): void {
    if (n > this.end - this.pos || n < 0) {
      this.fail(`truncated ${what}: need ${n} bytes, ${this.end - this.pos} left`);
    }
  }

  /** Reads one byte. */
  u8(what = 'byte'): number {
    if (this.pos >= this.end) this.fail(`truncated ${what}: need 1 byte, 0 left`);
    return this.bytes[this.pos++];
  }

  /** Reads a big-endian 16-bit unsigned integer. */
  u16(what = 'uint16'): number {
    this.need(2, what);
    const b = this.bytes;
    const p = this.pos;
    this.pos = p + 2;
    return (b[p] << 8) | b[p + 1];
  }

  /** Reads a big-endian 24-bit unsigned integer. */
  u24(what = 'uint24'): number {
    this.need(3, what);
    const b = this.bytes;
    const p = this.pos;
    this.pos = p + 3;
    return (b[p] << 16) | (b[p + 1] << 8) | b[p + 2];
  }

  /** Reads a big-endian 32-bit unsigned integer. */
  u32(what = 'uint32'): number {
    this.need(4, what);
    const b = this.bytes;
    const p = this.pos;
    this.pos = p + 4;
    return ((b[p] << 24) >>> 0) + ((b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]);
  }

  /** Returns a view of the next `n` bytes and advances past them. */
  take(n: number, what = 'bytes'): Uint8Array {
    this.need(n, what);
    const v = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  /** Returns a view of everything left and advances to the end. */
  rest(): Uint8Array {
    const v = this.bytes.subarray(this.pos, this.end);
    this.pos = this.end;
    return v;
  }

  /** Advances `n` bytes. */
  skip(n: number, what = 'bytes'): void {
    this.need(n, what);
    this.pos += n;
  }

  /**
   * Reads a varint (RFC 9000 §16) as an exact `number`. A value above 2^53−1 cannot be held
   * exactly in a number and is refused with the reader's error code (use {@link varintBig}).
   */
  varint(what = 'varint'): number {
    if (this.pos >= this.end) this.fail(`truncated ${what}: need 1 byte, 0 left`);
    const b = this.bytes;
    const p = this.pos;
    const first = b[p];
    switch (first >>> 6) {
      case 0:
        this.pos = p + 1;
        return first;
      case 1:
        this.need(2, what);
        this.pos = p + 2;
        return ((first & 0x3f) << 8) | b[p + 1];
      case 2:
        this.need(4, what);
        this.pos = p + 4;
        return (((first & 0x3f) << 24) >>> 0) + ((b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]);
      default: {
        this.need(8, what);
        const hi = (((first & 0x3f) << 24) >>> 0) + ((b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]);
        if (hi >= SAFE_HIGH_LIMIT) {
          this.fail(`${what} exceeds 2^53-1 and cannot be represented exactly`);
        }
        const lo = ((b[p + 4] << 24) >>> 0) + ((b[p + 5] << 16) | (b[p + 6] << 8) | b[p + 7]);
        this.pos = p + 8;
        return hi * TWO_POW_32 + lo;
      }
    }
  }

  /** Reads a varint over its whole 62-bit range as an exact `bigint`. */
  varintBig(what = 'varint'): bigint {
    if (this.pos >= this.end) this.fail(`truncated ${what}: need 1 byte, 0 left`);
    const first = this.bytes[this.pos];
    if (first >>> 6 !== 3) return BigInt(this.varint(what));
    this.need(8, what);
    const b = this.bytes;
    const p = this.pos;
    const hi = (((first & 0x3f) << 24) >>> 0) + ((b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]);
    const lo = ((b[p + 4] << 24) >>> 0) + ((b[p + 5] << 16) | (b[p + 6] << 8) | b[p + 7]);
    this.pos = p + 8;
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  /**
   * Reads a varint that is a limit (MAX_DATA, MAX_STREAM_DATA, a transport parameter limit …).
   * Values up to 2^53−1 are exact. Larger values (peers may announce 2^62−1 as "unlimited") are
   * returned as `Number.MAX_SAFE_INTEGER`: the result is still a limit no counter of ours can
   * reach (9 PB), so it enforces exactly the same behaviour. Callers document this saturation.
   */
  varintLimit(what = 'varint'): number {
    if (this.pos >= this.end) this.fail(`truncated ${what}: need 1 byte, 0 left`);
    if (this.bytes[this.pos] >>> 6 !== 3) return this.varint(what);
    const v = this.varintBig(what);
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
  }
}
