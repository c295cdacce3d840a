/**
 * The `node:crypto` (OpenSSL) implementation of {@link CryptoProvider}.
 *
 * @module
 */
import {
  createCipheriv,
  createDecipheriv,
  createECDH,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  diffieHellman,
  randomBytes as nodeRandomBytes,
  type Cipher,
  type CipherGCMTypes,
  type Hash,
  type KeyObject,
} from 'node:crypto';
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
import { hmacHkdfExpand, checkKeyLength, KeyExchangeError } from './common.js';

type NodeAeadName = CipherGCMTypes | 'chacha20-poly1305';

class NodeAead implements Aead {
  readonly algorithm: AeadAlgorithm;
  /** Imported once: a KeyObject copies the key and saves re-importing raw bytes on every packet. */
  private readonly key: KeyObject;

  constructor(algorithm: AeadAlgorithm, key: Uint8Array) {
    checkKeyLength(algorithm, key);
    this.algorithm = algorithm;
    this.key = createSecretKey(key);
  }

  seal(nonce: Uint8Array, aad: Uint8Array, buf: Uint8Array, offset: number, length: number): void {
    // The overloads of createCipheriv are keyed by literal algorithm names; one name type covers all three.
    const cipher = createCipheriv(this.algorithm as NodeAeadName as 'aes-128-gcm', this.key, nonce, { authTagLength: AEAD_TAG_LENGTH });
    cipher.setAAD(aad, { plaintextLength: length });
    const ct = cipher.update(buf.subarray(offset, offset + length));
    buf.set(ct, offset);
    const fin = cipher.final();
    if (fin.length) buf.set(fin, offset + ct.length);
    buf.set(cipher.getAuthTag(), offset + length);
  }

  open(nonce: Uint8Array, aad: Uint8Array, buf: Uint8Array, offset: number, length: number): number {
    const ptLength = length - AEAD_TAG_LENGTH;
    if (ptLength < 0) throw new AeadAuthenticationError('ciphertext shorter than the AEAD tag');
    const decipher = createDecipheriv(this.algorithm as NodeAeadName as 'aes-128-gcm', this.key, nonce, { authTagLength: AEAD_TAG_LENGTH });
    decipher.setAAD(aad, { plaintextLength: ptLength });
    decipher.setAuthTag(buf.subarray(offset + ptLength, offset + length));
    // The plaintext is written back only after final() has verified the tag, so a failed open
    // leaves the buffer untouched (the caller may retry with the other key phase).
    const pt = decipher.update(buf.subarray(offset, offset + ptLength));
    let fin: Buffer;
    try {
      fin = decipher.final();
    } catch {
      throw new AeadAuthenticationError();
    }
    buf.set(pt, offset);
    if (fin.length) buf.set(fin, offset + pt.length);
    return ptLength;
  }
}


class NodeHeaderProtection implements HeaderProtection {
  readonly algorithm: AeadAlgorithm;
  /** For AES: one ECB cipher reused for every mask (ECB without padding is stateless per block). */
  private readonly ecb: Cipher | null;
  /**
   * For ChaCha20: node:crypto can only compute a ChaCha20 block by creating a cipher per mask
   * (≈ 3 µs each, measured), and @noble/ciphers' `chacha20` costs ≈ 2 µs per mask; header
   * protection needs five bytes of one block per packet. So ChaCha20 masks come from the block
   * function of `chacha20-block.ts` (≈ 0.1 µs per mask, measured); the AEAD stays node's (OpenSSL).
   */
  private readonly chacha: HeaderProtection | null;

  constructor(algorithm: AeadAlgorithm, key: Uint8Array) {
    checkKeyLength(algorithm, key);
    this.algorithm = algorithm;
    if (algorithm === 'chacha20-poly1305') {
      this.ecb = null;
      this.chacha = new ChaCha20HeaderProtection(key);
    } else {
      const ecb = createCipheriv(algorithm === 'aes-128-gcm' ? 'aes-128-ecb' : 'aes-256-ecb', key, null);
      ecb.setAutoPadding(false);
      this.ecb = ecb;
      this.chacha = null;
    }
  }

  mask(sample: Uint8Array, sampleOffset: number, out: Uint8Array, outOffset: number): void {
    if (this.ecb) {
      // RFC 9001 §5.4.3: mask = AES-ECB(hp_key, sample)
      const block = this.ecb.update(sample.subarray(sampleOffset, sampleOffset + 16));
      for (let i = 0; i < 5; i++) out[outOffset + i] = block[i];
    } else {
      // RFC 9001 §5.4.4: mask = ChaCha20(hp_key, counter = sample[0..4], nonce = sample[4..16], zeros)
      (this.chacha as HeaderProtection).mask(sample, sampleOffset, out, outOffset);
    }
  }

  maskBatch(samples: Uint8Array, count: number, out: Uint8Array): void {
    if (this.ecb) {
      out.set(this.ecb.update(samples.subarray(0, count * 16)), 0);
      return;
    }
    (this.chacha as HeaderProtection).maskBatch(samples, count, out);
  }
}

class NodeHash implements IncrementalHash {
  constructor(private readonly h: Hash) {}
  update(data: Uint8Array): this {
    this.h.update(data);
    return this;
  }
  digest(): Uint8Array {
    return new Uint8Array(this.h.copy().digest());
  }
  clone(): IncrementalHash {
    return new NodeHash(this.h.copy());
  }
}

/** PKCS #8 PrivateKeyInfo for X25519 (RFC 8410 §7) up to the 32 key bytes. */
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
let x25519JwkImport = true;

/**
 * An X25519 private key from its 32 bytes (RFC 7748 §5). As a JWK, whose `x` member Node requires
 * to be a string but does not read for a private key (the public key is derived); should a Node
 * version refuse that, as PKCS #8 DER from then on (≈ 100 µs slower, the same key).
 *
 * @internal exported for tests
 */
export function x25519PrivateKey(d: Uint8Array): KeyObject {
  const bytes = Buffer.from(d.buffer, d.byteOffset, d.byteLength);
  if (x25519JwkImport) {
    try {
      return createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: bytes.toString('base64url'), x: '' }, format: 'jwk' });
    } catch {
      x25519JwkImport = false;
    }
  }
  return x25519PrivateKeyDer(bytes);
}

/**
 * The same key as PKCS #8 DER: {@link x25519PrivateKey}'s fallback.
 *
 * @internal exported for tests
 */
export function x25519PrivateKeyDer(d: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([X25519_PKCS8_PREFIX, d]), format: 'der', type: 'pkcs8' });
}

// Raw X25519 keys (RFC 7748 §5, 32 bytes) cross node:crypto as JWK (RFC 8037 §2, `x` = the raw key
// in base64url) rather than as SPKI DER: OpenSSL 3's DER decoder costs ≈ 120 µs per import and
// ≈ 90 µs per export here, the JWK path ≈ 16 µs and ≈ 1.5 µs (measured, OpenSSL 3.0, Node 20) —
// about 0.4 ms of every handshake's CPU. Both paths give the same key and the same errors.
//
// The private key is 32 random bytes (RFC 7748 §5: any 32 bytes are a valid private key; the
// clamping happens inside the function), imported as a JWK, and not made by generateKeyPairSync:
// Node 20 deadlocks when a key from generateKeyPairSync is exported as a JWK while a garbage
// collection runs — the export holds the key's mutex while it allocates, and the collected key
// generation job's destructor takes the same mutex (seen in gdb: ExportJWKEdKey → GC →
// ~KeyGenJob → pthread_mutex_lock; reproduced by a loop of generateKeyPairSync + export in under
// 100,000 iterations). The handshake fuzz test hung the CI run on it.
function nodeKeyShare(group: KeyExchangeGroup): KeyShare {
  if (group === 'x25519') {
    const privateKey = x25519PrivateKey(nodeRandomBytes(32));
    const raw = new Uint8Array(Buffer.from(privateKey.export({ format: 'jwk' }).x ?? '', 'base64url'));
    if (raw.length !== 32) throw new KeyExchangeError(`x25519 public key export gave ${raw.length} bytes`);
    return {
      group,
      publicKey: raw,
      computeSecret(peer: Uint8Array): Uint8Array {
        if (peer.length !== 32) throw new KeyExchangeError(`x25519 public key must be 32 bytes, got ${peer.length}`);
        const x = Buffer.from(peer.buffer, peer.byteOffset, peer.byteLength).toString('base64url');
        let secret: Uint8Array;
        try {
          secret = new Uint8Array(diffieHellman({ privateKey, publicKey: createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x }, format: 'jwk' }) }));
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
  const ecdh = createECDH('prime256v1');
  const pub = new Uint8Array(ecdh.generateKeys());
  return {
    group,
    publicKey: pub,
    computeSecret(peer: Uint8Array): Uint8Array {
      // RFC 8446 §4.2.8.2: uncompressed point form only.
      if (peer.length !== 65 || peer[0] !== 4) throw new KeyExchangeError('secp256r1 key share must be a 65-byte uncompressed point');
      try {
        return new Uint8Array(ecdh.computeSecret(peer));
      } catch (e) {
        throw new KeyExchangeError('invalid secp256r1 public key', e);
      }
    },
  };
}

/** The node:crypto provider (OpenSSL). */
export const nodeCrypto: CryptoProvider = {
  name: 'node',
  aead: (algorithm, key) => new NodeAead(algorithm, key),
  headerProtection: (algorithm, hpKey) => new NodeHeaderProtection(algorithm, hpKey),
  hash: (algorithm: HashAlgorithm) => new NodeHash(createHash(algorithm)),
  digest: (algorithm, data) => new Uint8Array(createHash(algorithm).update(data).digest()),
  hmac: (algorithm, key, data) => new Uint8Array(createHmac(algorithm, key).update(data).digest()),
  // RFC 5869 §2.2: PRK = HMAC-Hash(salt, IKM)
  hkdfExtract: (algorithm, salt, ikm) => new Uint8Array(createHmac(algorithm, salt).update(ikm).digest()),
  hkdfExpand: (algorithm, prk, info, length) =>
    hmacHkdfExpand((data, key) => new Uint8Array(createHmac(algorithm, key).update(data).digest()), algorithm, prk, info, length),
  keyShare: nodeKeyShare,
  randomBytes: (length) => new Uint8Array(nodeRandomBytes(length)),
};
