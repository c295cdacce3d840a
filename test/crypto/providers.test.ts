// The two CryptoProvider implementations against each other and against published vectors:
// AEAD in place (sealed by one, opened by the other), header-protection masks, hashes, HMAC, HKDF,
// random bytes, key-length checks.
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { KeyLengthError } from '../../src/crypto/common.js';
import { cryptoProviders, defaultCryptoProvider } from '../../src/crypto/default.js';
import { AeadAuthenticationError, type AeadAlgorithm, type HashAlgorithm } from '../../src/crypto/provider.js';
import { providerPairs, providers } from '../support/providers.js';

const ALGORITHMS: readonly AeadAlgorithm[] = ['aes-128-gcm', 'aes-256-gcm', 'chacha20-poly1305'];
const KEY_LENGTH: Record<AeadAlgorithm, number> = { 'aes-128-gcm': 16, 'aes-256-gcm': 32, 'chacha20-poly1305': 32 };
const toHex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const fromHex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));
const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });

for (const algorithm of ALGORITHMS) {
  const sealCase = fc.record({
    key: bytes(KEY_LENGTH[algorithm]),
    nonce: bytes(12),
    aad: fc.uint8Array({ maxLength: 64 }),
    plaintext: fc.uint8Array({ maxLength: 1500 }),
    // Unaligned offsets: payloads sit at any position in a datagram.
    offset: fc.integer({ min: 0, max: 7 }),
  });

  for (const [a, b] of providerPairs) {
    test(`${algorithm}: sealed in place by ${a.name}, opened in place by ${b.name}, with identical ciphertexts`, () => {
      fc.assert(
        fc.property(sealCase, ({ key, nonce, aad, plaintext, offset }) => {
          const bufA = new Uint8Array(offset + plaintext.length + 16 + 3);
          bufA.set(plaintext, offset);
          const bufB = bufA.slice();
          a.aead(algorithm, key).seal(nonce, aad, bufA, offset, plaintext.length);
          b.aead(algorithm, key).seal(nonce, aad, bufB, offset, plaintext.length);
          assert.is(toHex(bufA), toHex(bufB));
          const n = b.aead(algorithm, key).open(nonce, aad, bufA, offset, plaintext.length + 16);
          assert.is(n, plaintext.length);
          assert.is(toHex(bufA.subarray(offset, offset + n)), toHex(plaintext));
          // Bytes outside the region are never touched.
          assert.ok(bufA.subarray(0, offset).every((x) => x === 0));
          assert.ok(bufA.subarray(offset + plaintext.length + 16).every((x) => x === 0));
        }),
        { numRuns: 60 },
      );
    });
  }

  for (const p of providers) {
    test(`[${p.name}] ${algorithm}: open refuses any flipped bit with AeadAuthenticationError and leaves the buffer unchanged`, () => {
      fc.assert(
        fc.property(sealCase, fc.nat(), fc.integer({ min: 0, max: 7 }), ({ key, nonce, aad, plaintext, offset }, where, bit) => {
          const aead = p.aead(algorithm, key);
          const buf = new Uint8Array(offset + plaintext.length + 16);
          buf.set(plaintext, offset);
          aead.seal(nonce, aad, buf, offset, plaintext.length);
          const i = offset + (where % (plaintext.length + 16));
          buf[i] ^= 1 << bit;
          const before = buf.slice();
          assert.throws(() => aead.open(nonce, aad, buf, offset, plaintext.length + 16), (e: unknown) => e instanceof AeadAuthenticationError);
          assert.is(toHex(buf), toHex(before));
        }),
        { numRuns: 40 },
      );
    });

    test(`[${p.name}] ${algorithm}: open refuses a wrong AAD or nonce`, () => {
      const key = p.randomBytes(KEY_LENGTH[algorithm]);
      const aead = p.aead(algorithm, key);
      const nonce = new Uint8Array(12).fill(7);
      const aad = Uint8Array.of(1, 2, 3);
      const buf = new Uint8Array(100 + 16);
      aead.seal(nonce, aad, buf, 0, 100);
      assert.throws(() => aead.open(nonce, Uint8Array.of(1, 2, 4), buf.slice(), 0, 116), (e: unknown) => e instanceof AeadAuthenticationError);
      assert.throws(() => aead.open(new Uint8Array(12), aad, buf.slice(), 0, 116), (e: unknown) => e instanceof AeadAuthenticationError);
      assert.is(aead.open(nonce, aad, buf, 0, 116), 100);
    });

    test(`[${p.name}] ${algorithm}: open of fewer bytes than the tag throws AeadAuthenticationError`, () => {
      const aead = p.aead(algorithm, new Uint8Array(KEY_LENGTH[algorithm]));
      for (const length of [0, 1, 15]) {
        assert.throws(() => aead.open(new Uint8Array(12), new Uint8Array(0), new Uint8Array(32), 0, length), (e: unknown) => e instanceof AeadAuthenticationError);
      }
    });

    test(`[${p.name}] ${algorithm}: a key of the wrong length is refused with KeyLengthError`, () => {
      const wrong = new Uint8Array(KEY_LENGTH[algorithm] === 16 ? 32 : 16);
      assert.throws(() => p.aead(algorithm, wrong), (e: unknown) => e instanceof KeyLengthError);
      assert.throws(() => p.headerProtection(algorithm, wrong), (e: unknown) => e instanceof KeyLengthError);
    });
  }

  test(`${algorithm}: header-protection masks are equal across providers for random samples`, () => {
    fc.assert(
      fc.property(bytes(KEY_LENGTH[algorithm]), bytes(16), fc.integer({ min: 0, max: 5 }), (key, sample, offset) => {
        const buf = new Uint8Array(offset + 16);
        buf.set(sample, offset);
        const masks = providers.map((p) => {
          const out = new Uint8Array(7);
          p.headerProtection(algorithm, key).mask(buf, offset, out, 1);
          assert.is(out[0], 0);
          assert.is(out[6], 0);
          return toHex(out.subarray(1, 6));
        });
        assert.is(masks[0], masks[1]);
      }),
      { numRuns: 200 },
    );
  });

  for (const p of providers) {
    test(`[${p.name}] ${algorithm}: maskBatch gives the same masks as one mask call per sample`, () => {
      fc.assert(
        fc.property(bytes(KEY_LENGTH[algorithm]), fc.integer({ min: 0, max: 20 }), fc.nat(), (key, count, seed) => {
          const hp = p.headerProtection(algorithm, key);
          const samples = new Uint8Array(count * 16).map((_, i) => (i * 131 + seed) & 0xff);
          const out = new Uint8Array(count * 16);
          hp.maskBatch(samples, count, out);
          for (let i = 0; i < count; i++) {
            const one = new Uint8Array(5);
            hp.mask(samples, i * 16, one, 0);
            assert.is(toHex(out.subarray(i * 16, i * 16 + 5)), toHex(one));
          }
        }),
        { numRuns: 30 },
      );
    });
  }
}

test('chacha20-poly1305: the header-protection mask is the ChaCha20 block of RFC 8439 §2.3.2 (counter 1)', () => {
  // RFC 9001 §5.4.4: counter = sample[0..4] little-endian, nonce = sample[4..16].
  const key = Uint8Array.from({ length: 32 }, (_, i) => i);
  const sample = fromHex('01000000' + '000000090000004a00000000');
  for (const p of providers) {
    const out = new Uint8Array(5);
    p.headerProtection('chacha20-poly1305', key).mask(sample, 0, out, 0);
    assert.is(toHex(out), '10f1e7e4d1', p.name);
  }
});

test('chacha20-poly1305: masks for a sample whose counter is 0xffffffff agree across providers', () => {
  // Every 32-bit counter is legitimate in RFC 9001 §5.4.4, including the largest.
  fc.assert(
    fc.property(bytes(32), bytes(12), (key, nonce) => {
      const sample = new Uint8Array(16);
      sample.set([0xff, 0xff, 0xff, 0xff], 0);
      sample.set(nonce, 4);
      const masks = providers.map((p) => {
        const out = new Uint8Array(5);
        p.headerProtection('chacha20-poly1305', key).mask(sample, 0, out, 0);
        return toHex(out);
      });
      assert.is(masks[0], masks[1]);
    }),
    { numRuns: 50 },
  );
});

const HASHES: readonly HashAlgorithm[] = ['sha256', 'sha384'];

test('digests of "abc" are the FIPS 180-2 values with both providers', () => {
  const abc = new TextEncoder().encode('abc');
  for (const p of providers) {
    assert.is(toHex(p.digest('sha256', abc)), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad', p.name);
    assert.is(
      toHex(p.digest('sha384', abc)),
      'cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7',
      p.name,
    );
  }
});

for (const p of providers) {
  for (const h of HASHES) {
    test(`[${p.name}] ${h}: an incremental hash equals the one-shot digest, digest() leaves it usable, and clones are independent`, () => {
      fc.assert(
        fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 6 }), fc.uint8Array({ maxLength: 50 }), (chunks, extra) => {
          const inc = p.hash(h);
          for (const c of chunks) inc.update(c);
          const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
          chunks.reduce((off, c) => (all.set(c, off), off + c.length), 0);
          const d1 = inc.digest();
          assert.is(toHex(d1), toHex(p.digest(h, all)));
          const copy = inc.clone();
          copy.update(extra);
          // The original is unaffected by the clone's update and by its own digest() call.
          assert.is(toHex(inc.digest()), toHex(d1));
          const withExtra = new Uint8Array(all.length + extra.length);
          withExtra.set(all, 0);
          withExtra.set(extra, all.length);
          assert.is(toHex(copy.digest()), toHex(p.digest(h, withExtra)));
        }),
        { numRuns: 50 },
      );
    });
  }

  test(`[${p.name}] HMAC-SHA256 and HMAC-SHA384 match RFC 4231 test case 2`, () => {
    const key = new TextEncoder().encode('Jefe');
    const data = new TextEncoder().encode('what do ya want for nothing?');
    assert.is(toHex(p.hmac('sha256', key, data)), '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
    assert.is(
      toHex(p.hmac('sha384', key, data)),
      'af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649',
    );
  });

  test(`[${p.name}] HKDF extract and expand match RFC 5869 test case 1`, () => {
    const ikm = new Uint8Array(22).fill(0x0b);
    const salt = fromHex('000102030405060708090a0b0c');
    const info = fromHex('f0f1f2f3f4f5f6f7f8f9');
    const prk = p.hkdfExtract('sha256', salt, ikm);
    assert.is(toHex(prk), '077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5');
    assert.is(
      toHex(p.hkdfExpand('sha256', prk, info, 42)),
      '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865',
    );
  });

  test(`[${p.name}] randomBytes returns the requested length, beyond 64 KiB too, and different values each call`, () => {
    assert.is(p.randomBytes(0).length, 0);
    assert.is(p.randomBytes(1).length, 1);
    const big = p.randomBytes(65536 * 2 + 5);
    assert.is(big.length, 65536 * 2 + 5);
    // The last chunk is filled as well (2^-40 chance of five zero bytes by accident).
    assert.ok(big.subarray(big.length - 5).some((x) => x !== 0));
    assert.is.not(toHex(p.randomBytes(32)), toHex(p.randomBytes(32)));
  });
}

test('HKDF and HMAC agree across providers for random inputs and both hashes', () => {
  fc.assert(
    fc.property(fc.constantFrom(...HASHES), fc.uint8Array({ maxLength: 80 }), fc.uint8Array({ maxLength: 80 }), fc.uint8Array({ maxLength: 40 }), fc.integer({ min: 1, max: 255 }), (h, salt, ikm, info, length) => {
      const [a, b] = providers;
      const prk = a.hkdfExtract(h, salt, ikm);
      assert.is(toHex(prk), toHex(b.hkdfExtract(h, salt, ikm)));
      assert.is(toHex(a.hkdfExpand(h, prk, info, length)), toHex(b.hkdfExpand(h, prk, info, length)));
      assert.is(toHex(a.hmac(h, salt, ikm)), toHex(b.hmac(h, salt, ikm)));
    }),
    { numRuns: 100 },
  );
});

test('cryptoProviders holds both providers under their own names, and the default is node:crypto', () => {
  for (const [name, provider] of Object.entries(cryptoProviders)) assert.is(provider.name, name);
  assert.equal(Object.keys(cryptoProviders).sort(), ['noble', 'node']);
  assert.is(defaultCryptoProvider, cryptoProviders.node);
});

test.run();
