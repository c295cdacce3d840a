// TLS 1.3 key shares (RFC 8446 §4.2.8): both providers agree with each other, and refuse invalid
// peer shares with KeyExchangeError.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { KeyExchangeError } from '../../src/crypto/common.js';
import type { KeyExchangeGroup } from '../../src/crypto/provider.js';
import { providers } from '../support/providers.js';

const toHex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const fromHex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));
const isKeyExchangeError = (e: unknown): boolean => e instanceof KeyExchangeError;

const GROUPS: readonly KeyExchangeGroup[] = ['x25519', 'secp256r1'];

for (const group of GROUPS) {
  for (const a of providers) {
    for (const b of providers) {
      test(`${group}: a ${a.name} key share and a ${b.name} key share compute the same shared secret`, () => {
        for (let i = 0; i < 5; i++) {
          const ka = a.keyShare(group);
          const kb = b.keyShare(group);
          const sa = ka.computeSecret(kb.publicKey);
          const sb = kb.computeSecret(ka.publicKey);
          assert.is(sa.length, 32);
          assert.is(toHex(sa), toHex(sb));
        }
      });
    }
  }

  for (const p of providers) {
    test(`[${p.name}] ${group}: public keys have the RFC 8446 §4.2.8.2 encoding and are fresh per share`, () => {
      const k1 = p.keyShare(group);
      const k2 = p.keyShare(group);
      assert.is(k1.group, group);
      if (group === 'x25519') {
        assert.is(k1.publicKey.length, 32);
      } else {
        assert.is(k1.publicKey.length, 65);
        assert.is(k1.publicKey[0], 0x04);
      }
      assert.is.not(toHex(k1.publicKey), toHex(k2.publicKey));
    });
  }
}

// Points of small order on Curve25519 (RFC 7748 §7): each yields the all-zero shared secret,
// which RFC 8446 §7.4.2 requires to be refused.
const X25519_LOW_ORDER = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
];

// The P-256 base point G (SEC 2 §2.4.2).
const P256_G_X = '6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296';
const P256_G_Y = '4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5';

for (const p of providers) {
  test(`[${p.name}] x25519: public keys of the wrong length are refused`, () => {
    const k = p.keyShare('x25519');
    for (const n of [0, 31, 33, 65]) assert.throws(() => k.computeSecret(new Uint8Array(n).fill(9)), isKeyExchangeError, `${n} bytes`);
  });

  test(`[${p.name}] x25519: low-order points (all-zero shared secret) are refused`, () => {
    const k = p.keyShare('x25519');
    for (const point of X25519_LOW_ORDER) assert.throws(() => k.computeSecret(fromHex(point)), isKeyExchangeError, point);
  });

  test(`[${p.name}] secp256r1: the base point is accepted and a point off the curve is refused`, () => {
    const k = p.keyShare('secp256r1');
    const g = fromHex(`04${P256_G_X}${P256_G_Y}`);
    assert.is(k.computeSecret(g).length, 32);
    const off = g.slice();
    off[64] ^= 1; // y + 1 (or − 1): not on the curve
    assert.throws(() => k.computeSecret(off), isKeyExchangeError);
    assert.throws(() => k.computeSecret(fromHex(`04${'00'.repeat(64)}`)), isKeyExchangeError);
    assert.throws(() => k.computeSecret(fromHex(`04${'ff'.repeat(64)}`)), isKeyExchangeError);
  });

  test(`[${p.name}] secp256r1: compressed, hybrid, truncated and wrongly prefixed points are refused`, () => {
    const k = p.keyShare('secp256r1');
    const valid = p.keyShare('secp256r1').publicKey;
    // Compressed form of a valid point: RFC 8446 §4.2.8.2 allows only the uncompressed form.
    assert.throws(() => k.computeSecret(Uint8Array.of(0x02 | (valid[64] & 1), ...valid.subarray(1, 33))), isKeyExchangeError);
    assert.throws(() => k.computeSecret(Uint8Array.of(0x06 | (valid[64] & 1), ...valid.subarray(1))), isKeyExchangeError);
    assert.throws(() => k.computeSecret(valid.subarray(0, 64)), isKeyExchangeError);
    assert.throws(() => k.computeSecret(Uint8Array.of(...valid, 0)), isKeyExchangeError);
    assert.throws(() => k.computeSecret(new Uint8Array(0)), isKeyExchangeError);
    // And the valid point itself is accepted.
    assert.is(k.computeSecret(valid).length, 32);
  });
}

test('an unknown key exchange group is refused with KeyExchangeError by both providers', () => {
  for (const p of providers) assert.throws(() => p.keyShare('x448' as KeyExchangeGroup), isKeyExchangeError, p.name);
});

test.run();
