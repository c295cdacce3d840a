/**
 * Pieces shared by the crypto providers.
 *
 * @module
 */
import type { AeadAlgorithm, HashAlgorithm } from './provider.js';
import { hashLength } from './hkdf.js';

/** Key length in bytes of each AEAD (and of its header-protection key). */
export const AEAD_KEY_LENGTH: Readonly<Record<AeadAlgorithm, number>> = {
  'aes-128-gcm': 16,
  'aes-256-gcm': 32,
  'chacha20-poly1305': 32,
};

/** Thrown when a key of the wrong length is handed to a provider. */
export class KeyLengthError extends Error {
  constructor(algorithm: AeadAlgorithm, length: number) {
    super(`${algorithm} needs a ${AEAD_KEY_LENGTH[algorithm]}-byte key, got ${length}`);
    this.name = 'KeyLengthError';
  }
}

/** Throws {@link KeyLengthError} unless `key` has the length `algorithm` needs. */
export function checkKeyLength(algorithm: AeadAlgorithm, key: Uint8Array): void {
  if (key.length !== AEAD_KEY_LENGTH[algorithm]) throw new KeyLengthError(algorithm, key.length);
}

/** Thrown when a peer's key share is invalid or the shared secret is degenerate. */
export class KeyExchangeError extends Error {
  constructor(message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'KeyExchangeError';
  }
}

/**
 * HKDF-Expand (RFC 5869 §2.3) over an HMAC function:
 * T(0) = empty, T(i) = HMAC(PRK, T(i−1) | info | i), OKM = first `length` bytes of T(1) | T(2) | …
 */
export function hmacHkdfExpand(
  hmac: (data: Uint8Array, key: Uint8Array) => Uint8Array,
  algorithm: HashAlgorithm,
  prk: Uint8Array,
  info: Uint8Array,
  length: number,
): Uint8Array {
  const hashLen = hashLength(algorithm);
  if (length > 255 * hashLen) throw new RangeError(`HKDF-Expand length ${length} exceeds 255 * HashLen`);
  const out = new Uint8Array(length);
  let prev = new Uint8Array(0);
  let written = 0;
  for (let i = 1; written < length; i++) {
    const input = new Uint8Array(prev.length + info.length + 1);
    input.set(prev, 0);
    input.set(info, prev.length);
    input[input.length - 1] = i;
    prev = hmac(input, prk) as Uint8Array<ArrayBuffer>;
    const n = Math.min(prev.length, length - written);
    out.set(prev.subarray(0, n), written);
    written += n;
  }
  return out;
}

/** Thrown when a QUIC version without packet-protection parameters (salt, labels, Retry key) is used. */
export class UnsupportedVersionError extends Error {
  /** The version that was asked for. */
  readonly version: number;
  constructor(version: number) {
    super(`no packet protection defined for QUIC version 0x${(version >>> 0).toString(16).padStart(8, '0')}`);
    this.name = 'UnsupportedVersionError';
    this.version = version;
  }
}

/**
 * Compares `a[aOffset, +length)` with `b[bOffset, +length)` in time that depends only on
 * `length`, not on where the first difference is. The caller guarantees both ranges exist.
 */
export function constantTimeEqual(a: Uint8Array, aOffset: number, b: Uint8Array, bOffset: number, length: number): boolean {
  let diff = 0;
  for (let i = 0; i < length; i++) diff |= a[aOffset + i] ^ b[bOffset + i];
  return diff === 0;
}
