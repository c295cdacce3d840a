// Packet protection keys (RFC 9001 §5.1, §5.2, §5.3, §6.1, §6.6; RFC 9369 §3.3): labels per
// version, key sizes per AEAD, successive key updates, the nonce, and refused inputs.
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { UnsupportedVersionError } from '../../src/crypto/common.js';
import { hkdfExpandLabel } from '../../src/crypto/hkdf.js';
import { INITIAL_SALT_V1, INITIAL_SALT_V2, initialSalt, initialSecrets } from '../../src/crypto/initial.js';
import { AEAD_LIMITS, derivePacketKeys, initialKeys, nextGenerationKeys, packetProtectionLabels, writeNonce } from '../../src/crypto/keys.js';
import { QUIC_V1, QUIC_V2 } from '../../src/wire/version.js';
import { providers } from '../support/providers.js';

const toHex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const isUnsupported = (e: unknown): boolean => e instanceof UnsupportedVersionError;
const EMPTY = new Uint8Array(0);

test('the Initial salts are the ones of RFC 9001 §5.2 and RFC 9369 §3.3.1', () => {
  assert.is(toHex(initialSalt(QUIC_V1)), '38762cf7f55934b34d179ae6a4c80cadccbb7f0a');
  assert.is(toHex(initialSalt(QUIC_V2)), '0dede3def700a6db819381be6e269dcbf9bd2ed9');
  assert.is(initialSalt(QUIC_V1), INITIAL_SALT_V1);
  assert.is(initialSalt(QUIC_V2), INITIAL_SALT_V2);
});

test('version 1 uses the "quic …" labels and version 2 the "quicv2 …" labels', () => {
  assert.equal({ ...packetProtectionLabels(QUIC_V1) }, { key: 'quic key', iv: 'quic iv', hp: 'quic hp', ku: 'quic ku' });
  assert.equal({ ...packetProtectionLabels(QUIC_V2) }, { key: 'quicv2 key', iv: 'quicv2 iv', hp: 'quicv2 hp', ku: 'quicv2 ku' });
});

test('versions without packet protection parameters are refused with UnsupportedVersionError', () => {
  const [p] = providers;
  for (const version of [0, 0xff00001d, 0x1a2a3a4a, 2]) {
    assert.throws(() => initialSalt(version), isUnsupported);
    assert.throws(() => packetProtectionLabels(version), isUnsupported);
    assert.throws(() => initialSecrets(p, version, new Uint8Array(8)), isUnsupported);
    assert.throws(() => initialKeys(p, version, new Uint8Array(8), 'client'), isUnsupported);
    assert.throws(() => derivePacketKeys(p, version, 'aes-128-gcm', 'sha256', new Uint8Array(32)), isUnsupported);
  }
});

for (const p of providers) {
  test(`[${p.name}] key and header-protection key lengths follow the AEAD; the IV is 12 bytes`, () => {
    const cases = [
      ['aes-128-gcm', 'sha256', 16],
      ['aes-256-gcm', 'sha384', 32],
      ['chacha20-poly1305', 'sha256', 32],
    ] as const;
    for (const [algorithm, hash, keyLength] of cases) {
      const secret = p.randomBytes(hash === 'sha256' ? 32 : 48);
      const keys = derivePacketKeys(p, QUIC_V1, algorithm, hash, secret);
      assert.is(keys.key.length, keyLength);
      assert.is(keys.hpKey.length, keyLength);
      assert.is(keys.iv.length, 12);
      assert.is(keys.nonce.length, 12);
      assert.is(keys.aead.algorithm, algorithm);
      assert.is(keys.hp.algorithm, algorithm);
      assert.is(toHex(keys.key), toHex(hkdfExpandLabel(p, hash, secret, 'quic key', EMPTY, keyLength)));
      assert.is(toHex(keys.hpKey), toHex(hkdfExpandLabel(p, hash, secret, 'quic hp', EMPTY, keyLength)));
    }
  });

  test(`[${p.name}] a traffic secret whose length is not the hash length is refused`, () => {
    assert.throws(() => derivePacketKeys(p, QUIC_V1, 'aes-256-gcm', 'sha384', new Uint8Array(32)), RangeError);
    assert.throws(() => derivePacketKeys(p, QUIC_V1, 'aes-128-gcm', 'sha256', new Uint8Array(48)), RangeError);
  });

  for (const version of [QUIC_V1, QUIC_V2]) {
    test(`[${p.name}] successive key updates chain the "ku" secret, renew key and IV, and never change the hp key (v0x${version.toString(16)})`, () => {
      const ku = packetProtectionLabels(version).ku;
      const gen0 = derivePacketKeys(p, version, 'aes-256-gcm', 'sha384', p.randomBytes(48));
      const gen1 = nextGenerationKeys(p, gen0);
      const gen2 = nextGenerationKeys(p, gen1);
      assert.is(toHex(gen1.secret), toHex(hkdfExpandLabel(p, 'sha384', gen0.secret, ku, EMPTY, 48)));
      assert.is(toHex(gen2.secret), toHex(hkdfExpandLabel(p, 'sha384', gen1.secret, ku, EMPTY, 48)));
      const keysOf = [gen0, gen1, gen2].map((g) => toHex(g.key));
      assert.is(new Set(keysOf).size, 3);
      assert.is(new Set([gen0, gen1, gen2].map((g) => toHex(g.iv))).size, 3);
      for (const g of [gen1, gen2]) {
        assert.is(g.hp, gen0.hp);
        assert.is(toHex(g.hpKey), toHex(gen0.hpKey));
        assert.is(g.algorithm, gen0.algorithm);
        assert.is(g.hash, gen0.hash);
        assert.is(g.version, version);
        assert.is.not(g.nonce, gen0.nonce);
      }
    });
  }
}

test('writeNonce XORs the IV with the packet number left-padded to 12 bytes, exactly up to 2^53', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 12, maxLength: 12 }), fc.oneof(fc.integer({ min: 0, max: 2 ** 32 + 5 }), fc.integer({ min: 0, max: 2 ** 53 })), (iv, pn) => {
      const expected = new Uint8Array(12);
      let n = BigInt(pn);
      for (let i = 11; i >= 0; i--) {
        expected[i] = iv[i] ^ Number(n & 0xffn);
        n >>= 8n;
      }
      assert.is(toHex(writeNonce(iv, pn, new Uint8Array(12))), toHex(expected));
    }),
    { numRuns: 500 },
  );
  const zero = new Uint8Array(12);
  assert.is(toHex(writeNonce(zero, 2 ** 53, new Uint8Array(12))), '000000000020000000000000');
  assert.is(toHex(writeNonce(zero, 2 ** 53 - 1, new Uint8Array(12))), '00000000001fffffffffffff');
  assert.is(toHex(writeNonce(zero, 2 ** 32, new Uint8Array(12))), '000000000000000100000000');
  assert.is(toHex(writeNonce(zero, 2 ** 32 - 1, new Uint8Array(12))), '0000000000000000ffffffff');
});

test('writeNonce writes into the buffer it is given and returns it', () => {
  const out = new Uint8Array(12);
  assert.is(writeNonce(new Uint8Array(12).fill(1), 5, out), out);
  assert.is(toHex(out), '010101010101010101010104');
});

test('AEAD usage limits are those of RFC 9001 §6.6', () => {
  assert.equal({ ...AEAD_LIMITS['aes-128-gcm'] }, { confidentiality: 2 ** 23, integrity: 2 ** 52 });
  assert.equal({ ...AEAD_LIMITS['aes-256-gcm'] }, { confidentiality: 2 ** 23, integrity: 2 ** 52 });
  assert.is(AEAD_LIMITS['chacha20-poly1305'].integrity, 2 ** 36);
  assert.ok(AEAD_LIMITS['chacha20-poly1305'].confidentiality > 2 ** 62);
});

test.run();
