/**
 * The TLS presentation-language primitives (RFC 8446 §3) the handshake codec is built from: a
 * bounds-checked reader whose every failure is a `decode_error` alert, and an encoder sink that
 * either writes into a caller's buffer or only counts, so that every encoder has an exact size
 * function that runs the very same code.
 *
 * @module
 */
import { CRYPTO_ERROR_BASE } from '../../wire/errors.js';
import { Reader } from '../../wire/reader.js';
import { TlsAlert, TlsAlertError } from '../alerts.js';

/**
 * A {@link Reader} over TLS structures. Truncation, out-of-range vector lengths and trailing bytes
 * are reported as {@link TlsAlertError} `decode_error` (RFC 8446 §6.2: "a message could not be
 * decoded because some field was out of the specified range or the length of the message was
 * incorrect").
 */
export class TlsReader extends Reader {
  /** Creates a reader over `bytes[pos, end)`. */
  constructor(bytes: Uint8Array, pos = 0, end = bytes.length) {
    super(bytes, pos, end, CRYPTO_ERROR_BASE + TlsAlert.decode_error);
  }

  /** Throws a `decode_error` {@link TlsAlertError} with `reason`. */
  override fail(reason: string): never {
    throw new TlsAlertError(TlsAlert.decode_error, reason);
  }

  /**
   * Reads a vector with a `prefix`-byte length (RFC 8446 §3.4) and returns its content as a view.
   * A length outside `[min, max]` is a decode_error.
   */
  vector(prefix: 1 | 2 | 3, what: string, min = 0, max = prefix === 1 ? 0xff : prefix === 2 ? 0xffff : 0xffffff): Uint8Array {
    const len = prefix === 1 ? this.u8(`${what} length`) : prefix === 2 ? this.u16(`${what} length`) : this.u24(`${what} length`);
    if (len < min || len > max) this.fail(`${what} length ${len} outside [${min}, ${max}]`);
    return this.take(len, what);
  }

  /**
   * Reads a vector like {@link vector} and returns a reader over its content; the caller parses
   * the content and calls {@link finish} on the sub-reader.
   */
  subVector(prefix: 1 | 2 | 3, what: string, min = 0, max = prefix === 1 ? 0xff : prefix === 2 ? 0xffff : 0xffffff): TlsReader {
    const content = this.vector(prefix, what, min, max);
    return new TlsReader(content);
  }

  /** Requires that nothing is left: trailing bytes after `what` are a decode_error (RFC 8446 §4.2). */
  finish(what: string): void {
    if (this.pos !== this.end) this.fail(`${this.end - this.pos} trailing bytes after ${what}`);
  }
}

/**
 * Where encoders put bytes: a {@link TlsWriter} writes them, a {@link TlsCounter} only counts them.
 * The same encoding function drives both, so sizes are exact by construction.
 */
export interface TlsSink {
  /** Appends one byte. */
  u8(value: number): void;
  /** Appends a big-endian 16-bit integer. */
  u16(value: number): void;
  /** Appends a big-endian 24-bit integer. */
  u24(value: number): void;
  /** Appends a big-endian 32-bit integer. */
  u32(value: number): void;
  /** Appends `bytes`. */
  bytes(bytes: Uint8Array): void;
  /**
   * Appends a vector with a `prefix`-byte length whose content `body` appends; a content length
   * outside `[min, max]` is refused with an `internal_error` {@link TlsAlertError}.
   */
  vector(prefix: 1 | 2 | 3, what: string, body: () => void, min?: number, max?: number): void;
}

/** Thrown by encoders handed values that cannot be encoded: a local bug, reported as internal_error. */
export function encodeError(reason: string): never {
  throw new TlsAlertError(TlsAlert.internal_error, `cannot encode: ${reason}`);
}

function checkUint(value: number, bits: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > 2 ** bits - 1) encodeError(`${what} ${value} is not a uint${bits}`);
}

function defaultMax(prefix: 1 | 2 | 3): number {
  return prefix === 1 ? 0xff : prefix === 2 ? 0xffff : 0xffffff;
}

/** A {@link TlsSink} that counts bytes without writing them. */
export class TlsCounter implements TlsSink {
  /** Bytes appended so far. */
  length = 0;

  u8(value: number): void {
    checkUint(value, 8, 'uint8');
    this.length += 1;
  }
  u16(value: number): void {
    checkUint(value, 16, 'uint16');
    this.length += 2;
  }
  u24(value: number): void {
    checkUint(value, 24, 'uint24');
    this.length += 3;
  }
  u32(value: number): void {
    checkUint(value, 32, 'uint32');
    this.length += 4;
  }
  bytes(bytes: Uint8Array): void {
    this.length += bytes.length;
  }
  vector(prefix: 1 | 2 | 3, what: string, body: () => void, min = 0, max = defaultMax(prefix)): void {
    this.length += prefix;
    const start = this.length;
    body();
    const len = this.length - start;
    if (len < min || len > max) encodeError(`${what} length ${len} outside [${min}, ${max}]`);
  }
}

/** A {@link TlsSink} writing into `buf` from `pos`; refuses to write past the end of `buf`. */
export class TlsWriter implements TlsSink {
  /** The destination buffer. */
  readonly buf: Uint8Array;
  /** Next write position. */
  pos: number;

  constructor(buf: Uint8Array, pos: number) {
    if (!Number.isInteger(pos) || pos < 0 || pos > buf.length) encodeError(`offset ${pos} outside a buffer of ${buf.length} bytes`);
    this.buf = buf;
    this.pos = pos;
  }

  private room(n: number): void {
    if (this.pos + n > this.buf.length) encodeError(`buffer of ${this.buf.length} bytes too small at offset ${this.pos} for ${n} more`);
  }
  u8(value: number): void {
    checkUint(value, 8, 'uint8');
    this.room(1);
    this.buf[this.pos++] = value;
  }
  u16(value: number): void {
    checkUint(value, 16, 'uint16');
    this.room(2);
    this.buf[this.pos++] = value >>> 8;
    this.buf[this.pos++] = value & 0xff;
  }
  u24(value: number): void {
    checkUint(value, 24, 'uint24');
    this.room(3);
    this.buf[this.pos++] = value >>> 16;
    this.buf[this.pos++] = (value >>> 8) & 0xff;
    this.buf[this.pos++] = value & 0xff;
  }
  u32(value: number): void {
    checkUint(value, 32, 'uint32');
    this.room(4);
    this.buf[this.pos++] = value >>> 24;
    this.buf[this.pos++] = (value >>> 16) & 0xff;
    this.buf[this.pos++] = (value >>> 8) & 0xff;
    this.buf[this.pos++] = value & 0xff;
  }
  bytes(bytes: Uint8Array): void {
    this.room(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }
  vector(prefix: 1 | 2 | 3, what: string, body: () => void, min = 0, max = defaultMax(prefix)): void {
    this.room(prefix);
    const lenPos = this.pos;
    this.pos += prefix;
    const start = this.pos;
    body();
    const len = this.pos - start;
    if (len < min || len > max) encodeError(`${what} length ${len} outside [${min}, ${max}]`);
    for (let i = prefix - 1, v = len; i >= 0; i--, v >>>= 8) this.buf[lenPos + i] = v & 0xff;
  }
}

/** The exact number of bytes `encode` appends. */
export function measure(encode: (sink: TlsSink) => void): number {
  const counter = new TlsCounter();
  encode(counter);
  return counter.length;
}

/** Runs `encode` into `buf` at `offset`; returns the offset just past the written bytes. */
export function writeInto(buf: Uint8Array, offset: number, encode: (sink: TlsSink) => void): number {
  const writer = new TlsWriter(buf, offset);
  encode(writer);
  return writer.pos;
}

/** Runs `encode` into a fresh array of exactly the right size. */
export function encodeToBytes(encode: (sink: TlsSink) => void): Uint8Array {
  const out = new Uint8Array(measure(encode));
  const end = writeInto(out, 0, encode);
  if (end !== out.length) encodeError(`encoder wrote ${end} bytes, measured ${out.length}`);
  return out;
}
