/**
 * HKDF-Expand-Label (RFC 8446 §7.1), shared by the TLS key schedule and QUIC packet protection
 * (RFC 9001 §5.1 uses it with the labels "quic key", "quic iv", "quic hp" and "quic ku").
 *
 * @module
 */
import type { CryptoProvider, HashAlgorithm } from './provider.js';

const encoder = new TextEncoder();

/** Output length in bytes of `algorithm`. */
export function hashLength(algorithm: HashAlgorithm): 32 | 48 {
  return algorithm === 'sha256' ? 32 : 48;
}

/**
 * Builds the HkdfLabel structure: uint16 length, opaque label<7..255> = "tls13 " + label,
 * opaque context<0..255>.
 */
export function hkdfLabel(label: string, context: Uint8Array, length: number): Uint8Array {
  const fullLabel = encoder.encode(`tls13 ${label}`);
  if (fullLabel.length > 255 || context.length > 255 || length > 0xffff) {
    throw new RangeError(`HKDF label, context or length too long: ${label}`);
  }
  const out = new Uint8Array(2 + 1 + fullLabel.length + 1 + context.length);
  out[0] = length >>> 8;
  out[1] = length & 0xff;
  out[2] = fullLabel.length;
  out.set(fullLabel, 3);
  out[3 + fullLabel.length] = context.length;
  out.set(context, 4 + fullLabel.length);
  return out;
}

/** HKDF-Expand-Label(Secret, Label, Context, Length) = HKDF-Expand(Secret, HkdfLabel, Length). */
export function hkdfExpandLabel(
  provider: CryptoProvider,
  algorithm: HashAlgorithm,
  secret: Uint8Array,
  label: string,
  context: Uint8Array,
  length: number,
): Uint8Array {
  return provider.hkdfExpand(algorithm, secret, hkdfLabel(label, context, length), length);
}
