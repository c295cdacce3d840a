/**
 * The `@noble/*` (portable, audited, pure JavaScript) implementation of {@link CryptoProvider}.
 *
 * Only public noble APIs are used. Where noble can write into a caller's buffer
 * (ChaCha20-Poly1305) the AEAD works in place; AES-GCM in noble always returns a fresh array, so
 * its output is copied back into the datagram buffer (measured in `bench/crypto.ts`).
 *
 * @module
 */
import { ecb, gcm } from '@noble/ciphers/aes.js';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { x25519 } from '@noble/curves/ed25519.js';
import { p256 } from '@noble/curves/nist.js';
import { expand, extract } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256, sha384 } from '@noble/hashes/sha2.js';
import { randomBytes as nobleRandomBytes } from '@noble/hashes/utils.js';
import {
  AEAD_TAG_LENGTH,
  AeadAuthenticationError,
  type Aead,
  type AeadAlgorithm,
  type CryptoProvider,
  type HashAlgorithm,
  type HeaderProtection,
  type IncrementalHash,
  type KeyExchangeGroup,
  type KeyShare,
} from './provider.js';
import { ChaCha20HeaderProtection } from './chacha20-block.js';
import { checkKeyLength, KeyExchangeError } from './common.js';

class NobleAead implements Aead {
  readonly algorithm: AeadAlgorithm;
  private readonly key: Uint8Array;

  constructor(algorithm: AeadAlgorithm, key: Uint8Array) {
    checkKeyLength(algorithm, key);
    this.algorithm = algorithm;
    // noble borrows the key by reference; a private copy keeps later changes to the caller's array out.
    this.key = key.slice();
  }

  seal(nonce: Uint8Array, aad: Uint8Array, buf: Uint8Array, offset: number, length: number): void {
    const plaintext = buf.subarray(offset, offset + length);
    if (this.algorithm === 'chacha20-poly1305') {
      // In place: noble writes ciphertext || tag into the output view, which starts where the
      // plaintext starts (an overlap noble supports).
      chacha20poly1305(this.key, nonce, aad).encrypt(plaintext, buf.subarray(offset, offset + length + AEAD_TAG_LENGTH));
      return;
    }
    // noble's GCM has no output parameter: copy ciphertext || tag back.
    buf.set(gcm(this.key, nonce, aad).encrypt(plaintext), offset);
  }

  open(nonce: Uint8Array, aad: Uint8Array, buf: Uint8Array, offset: number, length: number): number {
    const ptLength = length - AEAD_TAG_LENGTH;
    if (ptLength < 0) throw new AeadAuthenticationError('ciphertext shorter than the AEAD tag');
    const sealed = buf.subarray(offset, offset + length);
    // Key and nonce lengths are checked on our side, so any failure left is an authentication
    // failure (noble reports it with a plain Error). In both branches the buffer is only written
    // after the tag has been verified: a failed open leaves it untouched.
    if (this.algorithm === 'chacha20-poly1305') {
      try {
        chacha20poly1305(this.key, nonce, aad).decrypt(sealed, buf.subarray(offset, offset + ptLength));
      } catch (e) {
        throw new AeadAuthenticationError(e instanceof Error ? `AEAD authentication failed: ${e.message}` : undefined);
      }
      return ptLength;
    }
    let plaintext: Uint8Array;
    try {
      plaintext = gcm(this.key, nonce, aad).decrypt(sealed);
    } catch (e) {
      throw new AeadAuthenticationError(e instanceof Error ? `AEAD authentication failed: ${e.message}` : undefined);
    }
    buf.set(plaintext, offset);
    return ptLength;
  }
}

class NobleHeaderProtection implements HeaderProtection {
  readonly algorithm: AeadAlgorithm;
  private readonly key: Uint8Array;
  /** ChaCha20 masks come from the block function of `chacha20-block.ts` (≈ 20× faster than noble's `chacha20` per mask, measured). */
  private readonly chacha: ChaCha20HeaderProtection | null;

  constructor(algorithm: AeadAlgorithm, key: Uint8Array) {
    checkKeyLength(algorithm, key);
    this.algorithm = algorithm;
    this.key = key.slice();
    this.chacha = algorithm === 'chacha20-poly1305' ? new ChaCha20HeaderProtection(key) : null;
  }

  mask(sample: Uint8Array, sampleOffset: number, out: Uint8Array, outOffset: number): void {
    if (this.chacha !== null) {
      // RFC 9001 §5.4.4: mask = ChaCha20(hp_key, counter = sample[0..4], nonce = sample[4..16], zeros).
      this.chacha.mask(sample, sampleOffset, out, outOffset);
      return;
    }
    // RFC 9001 §5.4.3: mask = AES-ECB(hp_key, sample)
    const block = ecb(this.key, { disablePadding: true }).encrypt(sample.subarray(sampleOffset, sampleOffset + 16));
    for (let i = 0; i < 5; i++) out[outOffset + i] = block[i];
  }

  maskBatch(samples: Uint8Array, count: number, out: Uint8Array): void {
    if (count <= 0) return;
    if (this.chacha !== null) {
      this.chacha.maskBatch(samples, count, out);
      return;
    }
    // One ECB call over all samples: the AES key schedule is expanded once per batch.
    out.set(ecb(this.key, { disablePadding: true }).encrypt(samples.subarray(0, count * 16)), 0);
  }
}

/** The part of a noble hash this provider uses. */
interface NobleHashState {
  update(data: Uint8Array): unknown;
  digest(): Uint8Array;
  clone(): NobleHashState;
}

class NobleHash implements IncrementalHash {
  constructor(private readonly h: NobleHashState) {}
  update(data: Uint8Array): this {
    this.h.update(data);
    return this;
  }
  digest(): Uint8Array {
    // noble's digest() finishes the state; digest a clone so this hash stays usable.
    return this.h.clone().digest();
  }
  clone(): IncrementalHash {
    return new NobleHash(this.h.clone());
  }
}

const HASHES = { sha256, sha384 } as const;

function nobleKeyShare(group: KeyExchangeGroup): KeyShare {
  if (group === 'x25519') {
    const secretKey = x25519.utils.randomSecretKey();
    return {
      group,
      publicKey: x25519.getPublicKey(secretKey),
      computeSecret(peer: Uint8Array): Uint8Array {
        if (peer.length !== 32) throw new KeyExchangeError(`x25519 public key must be 32 bytes, got ${peer.length}`);
        let secret: Uint8Array;
        try {
          // noble refuses low-order points (which would give the all-zero secret).
          secret = x25519.getSharedSecret(secretKey, peer);
        } catch (e) {
          throw new KeyExchangeError('invalid x25519 public key', e);
        }
        // RFC 8446 §7.4.2: an all-zero shared secret must be refused.
        if (secret.every((b) => b === 0)) throw new KeyExchangeError('x25519 shared secret is all zeros');
        return secret;
      },
    };
  }
  if (group !== 'secp256r1') throw new KeyExchangeError(`unsupported key exchange group ${String(group)}`);
  const secretKey = p256.utils.randomSecretKey();
  return {
    group,
    // RFC 8446 §4.2.8.2: UncompressedPointRepresentation (0x04 || X || Y).
    publicKey: p256.getPublicKey(secretKey, false),
    computeSecret(peer: Uint8Array): Uint8Array {
      // RFC 8446 §4.2.8.2: uncompressed point form only.
      if (peer.length !== 65 || peer[0] !== 4) throw new KeyExchangeError('secp256r1 key share must be a 65-byte uncompressed point');
      let shared: Uint8Array;
      try {
        // Decoding checks that the point is on the curve.
        shared = p256.getSharedSecret(secretKey, peer, true);
      } catch (e) {
        throw new KeyExchangeError('invalid secp256r1 public key', e);
      }
      // RFC 8446 §7.4.1: the shared secret is the x-coordinate; drop the compressed-point prefix.
      return shared.slice(1);
    },
  };
}

/** Largest request `crypto.getRandomValues` serves in one call (Web Crypto §10.1.1). */
const RANDOM_CHUNK = 65536;

function randomBytes(length: number): Uint8Array {
  if (length <= RANDOM_CHUNK) return nobleRandomBytes(length);
  const out = new Uint8Array(length);
  for (let off = 0; off < length; off += RANDOM_CHUNK) out.set(nobleRandomBytes(Math.min(RANDOM_CHUNK, length - off)), off);
  return out;
}

/** The `@noble/*` provider: pure JavaScript, runs wherever ES2022 and `crypto.getRandomValues` do. */
export const nobleCrypto: CryptoProvider = {
  name: 'noble',
  aead: (algorithm, key) => new NobleAead(algorithm, key),
  headerProtection: (algorithm, hpKey) => new NobleHeaderProtection(algorithm, hpKey),
  hash: (algorithm: HashAlgorithm) => new NobleHash(HASHES[algorithm].create()),
  digest: (algorithm, data) => HASHES[algorithm](data),
  hmac: (algorithm, key, data) => hmac(HASHES[algorithm], key, data),
  // RFC 5869 §2.2: PRK = HMAC-Hash(salt, IKM); noble's argument order is (hash, ikm, salt).
  hkdfExtract: (algorithm, salt, ikm) => extract(HASHES[algorithm], ikm, salt),
  // RFC 5869 §2.3
  hkdfExpand: (algorithm, prk, info, length) => expand(HASHES[algorithm], prk, info, length),
  keyShare: nobleKeyShare,
  randomBytes,
};
