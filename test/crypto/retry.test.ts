// The Retry Integrity Tag (RFC 9001 §5.8, RFC 9369 §3.3.3) beyond the Appendix A samples:
// every change to the packet or to the original Destination Connection ID is detected.
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { UnsupportedVersionError } from '../../src/crypto/common.js';
import { derivePacketKeys } from '../../src/crypto/keys.js';
import { retryIntegrityParameters, retryIntegrityTag, verifyRetryIntegrityTag } from '../../src/crypto/retry.js';
import { QUIC_V1, QUIC_V2 } from '../../src/wire/version.js';
import { providers } from '../support/providers.js';

const toHex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

const retryCase = fc.record({
  version: fc.constantFrom(QUIC_V1, QUIC_V2),
  odcid: fc.uint8Array({ minLength: 0, maxLength: 20 }),
  body: fc.uint8Array({ minLength: 7, maxLength: 120 }),
});

function retryPacket(p: (typeof providers)[number], version: number, odcid: Uint8Array, body: Uint8Array): Uint8Array {
  const tag = retryIntegrityTag(p, version, odcid, body);
  const packet = new Uint8Array(body.length + 16);
  packet.set(body, 0);
  packet.set(tag, body.length);
  return packet;
}

for (const p of providers) {
  test(`[${p.name}] a Retry packet with its computed tag verifies; any flipped bit makes it fail`, () => {
    fc.assert(
      fc.property(retryCase, fc.nat(), fc.integer({ min: 0, max: 7 }), ({ version, odcid, body }, where, bit) => {
        const packet = retryPacket(p, version, odcid, body);
        assert.ok(verifyRetryIntegrityTag(p, version, odcid, packet));
        packet[where % packet.length] ^= 1 << bit;
        assert.not.ok(verifyRetryIntegrityTag(p, version, odcid, packet));
      }),
      { numRuns: 100 },
    );
  });

  test(`[${p.name}] a Retry tag computed for one original Destination Connection ID fails for another`, () => {
    fc.assert(
      fc.property(retryCase, fc.uint8Array({ maxLength: 20 }), ({ version, odcid, body }, other) => {
        fc.pre(toHex(other) !== toHex(odcid));
        assert.not.ok(verifyRetryIntegrityTag(p, version, other, retryPacket(p, version, odcid, body)));
      }),
      { numRuns: 100 },
    );
  });

  test(`[${p.name}] verifyRetryIntegrityTag returns false for packets shorter than the tag and unsupported versions`, () => {
    for (let n = 0; n < 16; n++) assert.not.ok(verifyRetryIntegrityTag(p, QUIC_V1, new Uint8Array(8), new Uint8Array(n)));
    const packet = retryPacket(p, QUIC_V1, new Uint8Array(8), new Uint8Array(30));
    assert.not.ok(verifyRetryIntegrityTag(p, 0xff00001d, new Uint8Array(8), packet));
    assert.throws(() => retryIntegrityTag(p, 0xff00001d, new Uint8Array(8), new Uint8Array(30)), (e: unknown) => e instanceof UnsupportedVersionError);
  });

  for (const version of [QUIC_V1, QUIC_V2]) {
    test(`[${p.name}] the fixed Retry key and nonce of version 0x${version.toString(16)} derive from the published secret with the version's labels`, () => {
      const { key, nonce, secret } = retryIntegrityParameters(version);
      const derived = derivePacketKeys(p, version, 'aes-128-gcm', 'sha256', secret);
      assert.is(toHex(derived.key), toHex(key));
      assert.is(toHex(derived.iv), toHex(nonce));
    });
  }
}

test('retryIntegrityParameters hands out copies, so changing one cannot break later tags', () => {
  const [p] = providers;
  const body = new Uint8Array(30).fill(3);
  const before = toHex(retryIntegrityTag(p, QUIC_V1, new Uint8Array(8), body));
  const params = retryIntegrityParameters(QUIC_V1);
  params.key.fill(0);
  params.nonce.fill(0);
  assert.is(toHex(retryIntegrityTag(p, QUIC_V1, new Uint8Array(8), body)), before);
});

test.run();
