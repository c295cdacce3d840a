/**
 * Variable-length integers, RFC 9000 §16.
 *
 * The two most significant bits of the first byte give the length (1, 2, 4 or 8 bytes); the
 * remaining bits hold the value in network byte order, so values range over 0 … 2^62−1.
 *
 * JavaScript numbers are exact only up to 2^53−1. The `number` functions here are exact over that
 * range and refuse anything larger with a typed error; the `bigint` functions cover the whole
 * 62-bit range exactly. Nothing is ever silently rounded.
 *
 * @module
 */
import { QuicError, TransportErrorCode } from './errors.js';

/** Largest value a varint can hold: 2^62 − 1. */
export const MAX_VARINT: bigint = (1n << 62n) - 1n;

/** Largest varint value that the `number` functions accept: 2^53 − 1. */
export const MAX_SAFE_VARINT: number = Number.MAX_SAFE_INTEGER;

const TWO_POW_32 = 0x1_0000_0000;

/**
 * Thrown when a caller asks to encode a value that is not a varint (negative, fractional, or
 * above 2^62−1 / 2^53−1 for `number`). This is a programming error on our side, never peer input,
 * so it carries INTERNAL_ERROR.
 */
export class VarintRangeError extends QuicError {
  constructor(value: number | bigint) {
    super(TransportErrorCode.INTERNAL_ERROR, `${String(value)} is not encodable as a QUIC varint`);
    this.name = 'VarintRangeError';
  }
}

/** Encoded size in bytes of `value` (1, 2, 4 or 8). */
export function varintSize(value: number): 1 | 2 | 4 | 8 {
  // `(value | 0) === value` is the integer check for values below 2^31.
  if (value >= 0 && value < 0x4000_0000 && (value | 0) === value) {
    return value < 0x40 ? 1 : value < 0x4000 ? 2 : 4;
  }
  if (value <= MAX_SAFE_VARINT && value >= 0 && Number.isInteger(value)) return 8;
  throw new VarintRangeError(value);
}

/** Encoded size in bytes of a bigint `value`. */
export function varintSizeBig(value: bigint): 1 | 2 | 4 | 8 {
  if (value < 0n || value > MAX_VARINT) throw new VarintRangeError(value);
  if (value < 0x40n) return 1;
  if (value < 0x4000n) return 2;
  if (value < 0x4000_0000n) return 4;
  return 8;
}

/**
 * Writes `value` at `offset` in its shortest encoding and returns the offset after it.
 * The caller guarantees room (use {@link varintSize} when budgeting).
 */
export function writeVarint(buf: Uint8Array, offset: number, value: number): number {
  if (value < 0x40 && value >= 0 && (value | 0) === value) {
    buf[offset] = value;
    return offset + 1;
  }
  return writeVarintWithLength(buf, offset, value, varintSize(value));
}

/**
 * Writes `value` at `offset` using exactly `length` bytes (1, 2, 4 or 8) and returns the offset
 * after it. Used where a field's size is reserved before its value is known (the long header's
 * Length field). Throws {@link VarintRangeError} if the value does not fit in `length` bytes.
 */
export function writeVarintWithLength(buf: Uint8Array, offset: number, value: number, length: 1 | 2 | 4 | 8): number {
  if (!Number.isInteger(value) || value < 0 || value > MAX_SAFE_VARINT) throw new VarintRangeError(value);
  switch (length) {
    case 1:
      if (value >= 0x40) throw new VarintRangeError(value);
      buf[offset] = value;
      return offset + 1;
    case 2:
      if (value >= 0x4000) throw new VarintRangeError(value);
      buf[offset] = 0x40 | (value >>> 8);
      buf[offset + 1] = value & 0xff;
      return offset + 2;
    case 4:
      if (value >= 0x4000_0000) throw new VarintRangeError(value);
      buf[offset] = 0x80 | (value >>> 24);
      buf[offset + 1] = (value >>> 16) & 0xff;
      buf[offset + 2] = (value >>> 8) & 0xff;
      buf[offset + 3] = value & 0xff;
      return offset + 4;
    case 8: {
      const hi = Math.floor(value / TWO_POW_32);
      const lo = value >>> 0;
      buf[offset] = 0xc0 | (hi >>> 24);
      buf[offset + 1] = (hi >>> 16) & 0xff;
      buf[offset + 2] = (hi >>> 8) & 0xff;
      buf[offset + 3] = hi & 0xff;
      buf[offset + 4] = lo >>> 24;
      buf[offset + 5] = (lo >>> 16) & 0xff;
      buf[offset + 6] = (lo >>> 8) & 0xff;
      buf[offset + 7] = lo & 0xff;
      return offset + 8;
    }
    default:
      throw new VarintRangeError(value);
  }
}

/** Writes a bigint `value` at `offset` in its shortest encoding; returns the offset after it. */
export function writeVarintBig(buf: Uint8Array, offset: number, value: bigint): number {
  const size = varintSizeBig(value);
  if (size < 8) return writeVarintWithLength(buf, offset, Number(value), size);
  const hi = Number(value >> 32n);
  const lo = Number(value & 0xffff_ffffn);
  buf[offset] = 0xc0 | (hi >>> 24);
  buf[offset + 1] = (hi >>> 16) & 0xff;
  buf[offset + 2] = (hi >>> 8) & 0xff;
  buf[offset + 3] = hi & 0xff;
  buf[offset + 4] = lo >>> 24;
  buf[offset + 5] = (lo >>> 16) & 0xff;
  buf[offset + 6] = (lo >>> 8) & 0xff;
  buf[offset + 7] = lo & 0xff;
  return offset + 8;
}

/** Length in bytes of the varint whose first byte is `firstByte`. */
export function varintLengthFromFirstByte(firstByte: number): 1 | 2 | 4 | 8 {
  return (1 << (firstByte >>> 6)) as 1 | 2 | 4 | 8;
}
