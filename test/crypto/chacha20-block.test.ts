// The hand-written ChaCha20 block function of header protection (src/crypto/chacha20-block.ts)
// against RFC 8439, against a literal transcription of RFC 8439's pseudo-code, and against
// @noble/ciphers' chacha20 keystream. (The RFC 9001 Appendix A.5 packet is checked through both
// providers in rfc-vectors.test.ts.)
import { chacha20 } from '@noble/ciphers/chacha.js';
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ChaCha20HeaderProtection, chacha20Block, chacha20KeyWords } from '../../src/crypto/chacha20-block.js';

const toHex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const fromHex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h.replace(/\s+/g, ''), 'hex'));
const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });

/** RFC 8439 §2.1–§2.3 as written: a Uint32Array state, the quarter round on indices, 20 rounds, state + initial. */
function referenceBlock(key: Uint8Array, counter: number, nonce: Uint8Array): Uint8Array {
  const le = (b: Uint8Array, o: number): number => (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
  const s = new Uint32Array(16);
  s.set([0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]);
  for (let i = 0; i < 8; i++) s[4 + i] = le(key, 4 * i);
  s[12] = counter;
  for (let i = 0; i < 3; i++) s[13 + i] = le(nonce, 4 * i);
  const x = s.slice();
  const rotl = (v: number, n: number): number => (v << n) | (v >>> (32 - n));
  const qr = (a: number, b: number, c: number, d: number): void => {
    x[a] += x[b]; x[d] = rotl(x[d] ^ x[a], 16);
    x[c] += x[d]; x[b] = rotl(x[b] ^ x[c], 12);
    x[a] += x[b]; x[d] = rotl(x[d] ^ x[a], 8);
    x[c] += x[d]; x[b] = rotl(x[b] ^ x[c], 7);
  };
  for (let i = 0; i < 10; i++) {
    qr(0, 4, 8, 12); qr(1, 5, 9, 13); qr(2, 6, 10, 14); qr(3, 7, 11, 15);
    qr(0, 5, 10, 15); qr(1, 6, 11, 12); qr(2, 7, 8, 13); qr(3, 4, 9, 14);
  }
  const out = new Uint8Array(64);
  for (let i = 0; i < 16; i++) {
    const w = (x[i] + s[i]) >>> 0;
    out[4 * i] = w & 0xff;
    out[4 * i + 1] = (w >>> 8) & 0xff;
    out[4 * i + 2] = (w >>> 16) & 0xff;
    out[4 * i + 3] = w >>> 24;
  }
  return out;
}

test('the block function gives the RFC 8439 §2.3.2 serialized block', () => {
  const key = Uint8Array.from({ length: 32 }, (_, i) => i);
  const nonce = fromHex('000000090000004a00000000');
  const expected =
    '10f1e7e4d13b5915500fdd1fa32071c4c7d1f4c733c068030422aa9ac3d46c4e' + 'd2826446079faa0914c2d705d98b02a2b5129cd1de164eb9cbd083e8a2503c4e';
  const out = new Uint8Array(64);
  chacha20Block(chacha20KeyWords(key), 1, nonce, 0, out, 0, 64);
  assert.is(toHex(out), expected);
  assert.is(toHex(referenceBlock(key, 1, nonce)), expected, 'the reference transcription too');
});

test('every prefix length of the block (1..64) matches the RFC 8439 pseudo-code, for any key, counter (0xffffffff included) and nonce', () => {
  fc.assert(
    fc.property(bytes(32), fc.oneof(fc.constant(0xffffffff), fc.constant(0), fc.integer({ min: 0, max: 0xffffffff })), bytes(12), fc.integer({ min: 1, max: 64 }), (key, counter, nonce, length) => {
      const out = new Uint8Array(length + 3);
      chacha20Block(chacha20KeyWords(key), counter, nonce, 0, out, 3, length);
      assert.is(toHex(out.subarray(3)), toHex(referenceBlock(key, counter, nonce).subarray(0, length)));
    }),
    { numRuns: 300 },
  );
});

test('header-protection masks equal the first five bytes of @noble/ciphers ChaCha20 keystream (RFC 9001 §5.4.4)', () => {
  fc.assert(
    fc.property(bytes(32), fc.integer({ min: 0, max: 0xfffffffe }), bytes(12), (key, counter, nonce) => {
      const sample = new Uint8Array(16);
      new DataView(sample.buffer).setUint32(0, counter, true);
      sample.set(nonce, 4);
      const mask = new Uint8Array(5);
      new ChaCha20HeaderProtection(key).mask(sample, 0, mask, 0);
      const keystream = chacha20(key, nonce, new Uint8Array(5), new Uint8Array(5), counter);
      assert.is(toHex(mask), toHex(keystream));
    }),
    { numRuns: 300 },
  );
});

test('maskBatch gives, for each 16-byte sample, the mask that mask gives', () => {
  fc.assert(
    fc.property(bytes(32), fc.integer({ min: 1, max: 20 }), fc.integer({ min: 0, max: 1_000_000 }), (key, count, seed) => {
      const samples = Uint8Array.from({ length: count * 16 }, (_, i) => (i * 131 + seed) & 0xff);
      const hp = new ChaCha20HeaderProtection(key);
      const batch = new Uint8Array(count * 16);
      hp.maskBatch(samples, count, batch);
      for (let i = 0; i < count; i++) {
        const one = new Uint8Array(5);
        hp.mask(samples, i * 16, one, 0);
        assert.is(toHex(batch.subarray(i * 16, i * 16 + 5)), toHex(one));
      }
    }),
    { numRuns: 50 },
  );
});

test('a key that is not 32 bytes is refused', () => {
  assert.throws(() => new ChaCha20HeaderProtection(new Uint8Array(16)), RangeError);
});

test.run();
