/**
 * The crypto provider interface: every cryptographic primitive QUIC and TLS need, behind one
 * interface with two implementations (`@noble/*` in pure JS and `node:crypto` over OpenSSL)
 * proven on the same RFC vectors (ARCHITECTURE.md, principle 7).
 *
 * Byte work is in place: AEAD seals and opens a region of the caller's datagram buffer, so a
 * packet is never copied into a fresh array on the hot path.
 *
 * @module
 */

/** AEAD algorithms of the TLS 1.3 cipher suites QUIC uses (RFC 9001 §5.3). */
export type AeadAlgorithm = 'aes-128-gcm' | 'aes-256-gcm' | 'chacha20-poly1305';

/** Hash algorithms of the TLS 1.3 cipher suites (HKDF, transcript). */
export type HashAlgorithm = 'sha256' | 'sha384';

/** Key-exchange groups supported for TLS 1.3 key shares. */
export type KeyExchangeGroup = 'x25519' | 'secp256r1';

/** Length in bytes of the AEAD authentication tag for every supported algorithm. */
export const AEAD_TAG_LENGTH = 16;

/** Thrown by {@link Aead.open} when authentication fails; the caller drops and counts the packet. */
export class AeadAuthenticationError extends Error {
  constructor(message = 'AEAD authentication failed') {
    super(message);
    this.name = 'AeadAuthenticationError';
  }
}

/** An AEAD instance bound to one key. */
export interface Aead {
  /** The algorithm. */
  readonly algorithm: AeadAlgorithm;
  /**
   * Encrypts `buf[offset, offset + length)` in place and writes the 16-byte tag right after it,
   * at `buf[offset + length, offset + length + 16)`. The caller guarantees that room.
   */
  seal(nonce: Uint8Array, aad: Uint8Array, buf: Uint8Array, offset: number, length: number): void;
  /**
   * Authenticates and decrypts `buf[offset, offset + length)` (ciphertext followed by the tag) in
   * place; returns the plaintext length (`length − 16`). Throws {@link AeadAuthenticationError}
   * on failure and leaves the buffer untouched, so the caller can retry with other keys (the
   * next key phase, RFC 9001 §6.3).
   */
  open(nonce: Uint8Array, aad: Uint8Array, buf: Uint8Array, offset: number, length: number): number;
}

/** A header-protection mask generator bound to one key (RFC 9001 §5.4). */
export interface HeaderProtection {
  /** The AEAD whose header-protection algorithm this is (AES-ECB for AES-GCM, ChaCha20 for ChaCha20-Poly1305). */
  readonly algorithm: AeadAlgorithm;
  /**
   * Computes the 5-byte mask for the 16-byte `sample` at `sample[sampleOffset, +16)` into
   * `out[outOffset, +5)`.
   */
  mask(sample: Uint8Array, sampleOffset: number, out: Uint8Array, outOffset: number): void;
  /**
   * Computes masks for `count` samples stored back to back (16 bytes each) in `samples`, writing
   * 16 bytes per sample into `out` (only the first 5 of each are used). Providers that can do this
   * in one call (AES-ECB over many blocks) are faster than `count` calls to {@link mask}.
   */
  maskBatch(samples: Uint8Array, count: number, out: Uint8Array): void;
}

/** An incremental hash (used for the TLS transcript). */
export interface IncrementalHash {
  /** Absorbs `data`. */
  update(data: Uint8Array): this;
  /** Returns the digest of what was absorbed so far, leaving this hash usable. */
  digest(): Uint8Array;
  /** Returns an independent copy of the current state. */
  clone(): IncrementalHash;
}

/** One side of an ephemeral key exchange. */
export interface KeyShare {
  /** The group. */
  readonly group: KeyExchangeGroup;
  /** The public key as sent in a TLS key_share entry (32 bytes for X25519, 65-byte uncompressed point for P-256). */
  readonly publicKey: Uint8Array;
  /** Computes the shared secret with the peer's public key; throws on an invalid point. */
  computeSecret(peerPublicKey: Uint8Array): Uint8Array;
}

/**
 * Every primitive QUIC packet protection and the TLS 1.3 handshake need. Implementations:
 * the `node:crypto` provider and the `@noble/*` provider.
 */
export interface CryptoProvider {
  /** Short name, e.g. `node` or `noble`. */
  readonly name: string;
  /** Creates an AEAD bound to `key`. */
  aead(algorithm: AeadAlgorithm, key: Uint8Array): Aead;
  /** Creates a header-protection mask generator bound to `hpKey`. */
  headerProtection(algorithm: AeadAlgorithm, hpKey: Uint8Array): HeaderProtection;
  /** Starts an incremental hash. */
  hash(algorithm: HashAlgorithm): IncrementalHash;
  /** One-shot digest of `data`. */
  digest(algorithm: HashAlgorithm, data: Uint8Array): Uint8Array;
  /** HMAC of `data` with `key`. */
  hmac(algorithm: HashAlgorithm, key: Uint8Array, data: Uint8Array): Uint8Array;
  /** HKDF-Extract (RFC 5869 §2.2). */
  hkdfExtract(algorithm: HashAlgorithm, salt: Uint8Array, ikm: Uint8Array): Uint8Array;
  /** HKDF-Expand (RFC 5869 §2.3). */
  hkdfExpand(algorithm: HashAlgorithm, prk: Uint8Array, info: Uint8Array, length: number): Uint8Array;
  /** Generates an ephemeral key pair for `group`. */
  keyShare(group: KeyExchangeGroup): KeyShare;
  /** Cryptographically secure random bytes. */
  randomBytes(length: number): Uint8Array;
}
