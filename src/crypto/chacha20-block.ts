/**
 * The ChaCha20 block function (RFC 8439 §2.3) for QUIC header protection (RFC 9001 §5.4.4), written
 * out for speed: a header-protection mask is 5 bytes of one block, and the libraries at hand make
 * it expensive — node:crypto creates a cipher object per block, and @noble/ciphers' `chacha20`
 * re-reads the key, allocates and checks its arguments on every call (≈ 2.2 µs per mask measured
 * in bench/builder.ts). Here the key's eight words are read once per key, the state lives in local
 * variables, and only the two output words a mask needs are finished.
 *
 * Proven on the RFC 8439 §2.3.2 block vector and the RFC 9001 Appendix A.5 packet (test/crypto),
 * and against @noble/ciphers' `chacha20` on random keys and samples.
 *
 * @module
 */
import type { AeadAlgorithm, HeaderProtection } from './provider.js';

// "expand 32-byte k" (RFC 8439 §2.3).
const C0 = 0x61707865;
const C1 = 0x3320646e;
const C2 = 0x79622d32;
const C3 = 0x6b206574;

function le32(b: Uint8Array, off: number): number {
  return b[off] | (b[off + 1] << 8) | (b[off + 2] << 16) | (b[off + 3] << 24);
}

/**
 * Writes the first `length` (≤ 64) bytes of the ChaCha20 block for the eight little-endian key
 * words `key`, the 32-bit block `counter` and the 12-byte nonce at `nonce[nonceOffset, +12)` into
 * `out[outOffset, +length)` (RFC 8439 §2.3). Any 32-bit counter is accepted (RFC 9001 §5.4.4 takes
 * it from the packet).
 */
export function chacha20Block(key: Uint32Array, counter: number, nonce: Uint8Array, nonceOffset: number, out: Uint8Array, outOffset: number, length: number): void {
  const k0 = key[0] | 0;
  const k1 = key[1] | 0;
  const k2 = key[2] | 0;
  const k3 = key[3] | 0;
  const k4 = key[4] | 0;
  const k5 = key[5] | 0;
  const k6 = key[6] | 0;
  const k7 = key[7] | 0;
  const n0 = le32(nonce, nonceOffset);
  const n1 = le32(nonce, nonceOffset + 4);
  const n2 = le32(nonce, nonceOffset + 8);
  const ctr = counter | 0;
  let x0 = C0;
  let x1 = C1;
  let x2 = C2;
  let x3 = C3;
  let x4 = k0;
  let x5 = k1;
  let x6 = k2;
  let x7 = k3;
  let x8 = k4;
  let x9 = k5;
  let x10 = k6;
  let x11 = k7;
  let x12 = ctr;
  let x13 = n0;
  let x14 = n1;
  let x15 = n2;
  for (let i = 0; i < 10; i++) {
    // RFC 8439 §2.1, §2.3: a column round, then a diagonal round.
    x0 = (x0 + x4) | 0; x12 ^= x0; x12 = (x12 << 16) | (x12 >>> 16);
    x8 = (x8 + x12) | 0; x4 ^= x8; x4 = (x4 << 12) | (x4 >>> 20);
    x0 = (x0 + x4) | 0; x12 ^= x0; x12 = (x12 << 8) | (x12 >>> 24);
    x8 = (x8 + x12) | 0; x4 ^= x8; x4 = (x4 << 7) | (x4 >>> 25);

    x1 = (x1 + x5) | 0; x13 ^= x1; x13 = (x13 << 16) | (x13 >>> 16);
    x9 = (x9 + x13) | 0; x5 ^= x9; x5 = (x5 << 12) | (x5 >>> 20);
    x1 = (x1 + x5) | 0; x13 ^= x1; x13 = (x13 << 8) | (x13 >>> 24);
    x9 = (x9 + x13) | 0; x5 ^= x9; x5 = (x5 << 7) | (x5 >>> 25);

    x2 = (x2 + x6) | 0; x14 ^= x2; x14 = (x14 << 16) | (x14 >>> 16);
    x10 = (x10 + x14) | 0; x6 ^= x10; x6 = (x6 << 12) | (x6 >>> 20);
    x2 = (x2 + x6) | 0; x14 ^= x2; x14 = (x14 << 8) | (x14 >>> 24);
    x10 = (x10 + x14) | 0; x6 ^= x10; x6 = (x6 << 7) | (x6 >>> 25);

    x3 = (x3 + x7) | 0; x15 ^= x3; x15 = (x15 << 16) | (x15 >>> 16);
    x11 = (x11 + x15) | 0; x7 ^= x11; x7 = (x7 << 12) | (x7 >>> 20);
    x3 = (x3 + x7) | 0; x15 ^= x3; x15 = (x15 << 8) | (x15 >>> 24);
    x11 = (x11 + x15) | 0; x7 ^= x11; x7 = (x7 << 7) | (x7 >>> 25);

    x0 = (x0 + x5) | 0; x15 ^= x0; x15 = (x15 << 16) | (x15 >>> 16);
    x10 = (x10 + x15) | 0; x5 ^= x10; x5 = (x5 << 12) | (x5 >>> 20);
    x0 = (x0 + x5) | 0; x15 ^= x0; x15 = (x15 << 8) | (x15 >>> 24);
    x10 = (x10 + x15) | 0; x5 ^= x10; x5 = (x5 << 7) | (x5 >>> 25);

    x1 = (x1 + x6) | 0; x12 ^= x1; x12 = (x12 << 16) | (x12 >>> 16);
    x11 = (x11 + x12) | 0; x6 ^= x11; x6 = (x6 << 12) | (x6 >>> 20);
    x1 = (x1 + x6) | 0; x12 ^= x1; x12 = (x12 << 8) | (x12 >>> 24);
    x11 = (x11 + x12) | 0; x6 ^= x11; x6 = (x6 << 7) | (x6 >>> 25);

    x2 = (x2 + x7) | 0; x13 ^= x2; x13 = (x13 << 16) | (x13 >>> 16);
    x8 = (x8 + x13) | 0; x7 ^= x8; x7 = (x7 << 12) | (x7 >>> 20);
    x2 = (x2 + x7) | 0; x13 ^= x2; x13 = (x13 << 8) | (x13 >>> 24);
    x8 = (x8 + x13) | 0; x7 ^= x8; x7 = (x7 << 7) | (x7 >>> 25);

    x3 = (x3 + x4) | 0; x14 ^= x3; x14 = (x14 << 16) | (x14 >>> 16);
    x9 = (x9 + x14) | 0; x4 ^= x9; x4 = (x4 << 12) | (x4 >>> 20);
    x3 = (x3 + x4) | 0; x14 ^= x3; x14 = (x14 << 8) | (x14 >>> 24);
    x9 = (x9 + x14) | 0; x4 ^= x9; x4 = (x4 << 7) | (x4 >>> 25);
  }
  // RFC 8439 §2.3: the block is the working state plus the initial state, serialized little-endian.
  // A mask needs words 0 and 1 only: the others are finished when asked for.
  const w0 = (x0 + C0) | 0;
  const w1 = (x1 + C1) | 0;
  if (length <= 8) {
    for (let i = 0; i < length; i++) out[outOffset + i] = ((i < 4 ? w0 : w1) >>> (8 * (i & 3))) & 0xff;
    return;
  }
  const words = [w0, w1, x2 + C2, x3 + C3, x4 + k0, x5 + k1, x6 + k2, x7 + k3, x8 + k4, x9 + k5, x10 + k6, x11 + k7, x12 + ctr, x13 + n0, x14 + n1, x15 + n2];
  const n = length > 64 ? 64 : length;
  for (let i = 0; i < n; i++) out[outOffset + i] = (words[i >>> 2] >>> (8 * (i & 3))) & 0xff;
}

/** The eight little-endian 32-bit words of a 32-byte ChaCha20 key. */
export function chacha20KeyWords(key: Uint8Array): Uint32Array {
  if (key.length !== 32) throw new RangeError(`ChaCha20 key must be 32 bytes, got ${key.length}`);
  const w = new Uint32Array(8);
  for (let i = 0; i < 8; i++) w[i] = le32(key, 4 * i);
  return w;
}

/**
 * ChaCha20 header protection (RFC 9001 §5.4.4): mask = ChaCha20(hp_key, counter = sample[0..4]
 * little-endian, nonce = sample[4..16]) applied to five zero bytes, i.e. the first five bytes of
 * the block. Shared by both providers.
 */
export class ChaCha20HeaderProtection implements HeaderProtection {
  readonly algorithm: AeadAlgorithm = 'chacha20-poly1305';
  private readonly key: Uint32Array;

  /** @throws RangeError for a key that is not 32 bytes. */
  constructor(key: Uint8Array) {
    this.key = chacha20KeyWords(key);
  }

  mask(sample: Uint8Array, sampleOffset: number, out: Uint8Array, outOffset: number): void {
    chacha20Block(this.key, le32(sample, sampleOffset), sample, sampleOffset + 4, out, outOffset, 5);
  }

  maskBatch(samples: Uint8Array, count: number, out: Uint8Array): void {
    for (let i = 0; i < count; i++) chacha20Block(this.key, le32(samples, i * 16), samples, i * 16 + 4, out, i * 16, 5);
  }
}
