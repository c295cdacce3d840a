// In-place packet protection (RFC 9001 §5.3, §5.4) beyond the RFC samples: round trips for every
// AEAD and header form, protection by one provider and removal by the other, batched header
// protection, tampering, short packets, random input, and trying the next key phase.
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { derivePacketKeys, nextGenerationKeys, type PacketKeys } from '../../src/crypto/keys.js';
import {
  applyHeaderProtection,
  applyHeaderProtectionBatch,
  openPacket,
  PacketDecryptionError,
  PacketProtectionError,
  protectPacket,
  removeHeaderProtection,
  sealPacket,
  type PacketOffsets,
} from '../../src/crypto/packet-protection.js';
import type { AeadAlgorithm, CryptoProvider, HashAlgorithm } from '../../src/crypto/provider.js';
import { QUIC_V1, QUIC_V2 } from '../../src/wire/version.js';
import { providerPairs, providers } from '../support/providers.js';

const toHex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const SUITES: ReadonlyArray<{ algorithm: AeadAlgorithm; hash: HashAlgorithm }> = [
  { algorithm: 'aes-128-gcm', hash: 'sha256' },
  { algorithm: 'aes-256-gcm', hash: 'sha384' },
  { algorithm: 'chacha20-poly1305', hash: 'sha256' },
];

function keysFor(p: CryptoProvider, algorithm: AeadAlgorithm, hash: HashAlgorithm, seed: number, version = QUIC_V1): PacketKeys {
  const secret = new Uint8Array(hash === 'sha256' ? 32 : 48).map((_, i) => (i * 37 + seed) & 0xff);
  return derivePacketKeys(p, version, algorithm, hash, secret);
}

const isDecryptionError = (reason: string) => (e: unknown): boolean => e instanceof PacketDecryptionError && e.reason === reason;
const isProtectionError = (reason: string) => (e: unknown): boolean => e instanceof PacketProtectionError && e.reason === reason;

/** A packet layout: `lead` bytes of other packets first, then a long or short header. */
const packetCase = fc.record({
  long: fc.boolean(),
  lead: fc.integer({ min: 0, max: 40 }),
  headerRest: fc.uint8Array({ minLength: 0, maxLength: 30 }),
  firstBits: fc.integer({ min: 0, max: 0x3f }),
  pnLength: fc.constantFrom(1 as const, 2 as const, 3 as const, 4 as const),
  packetNumber: fc.oneof(fc.integer({ min: 0, max: 2 ** 32 }), fc.integer({ min: 0, max: 2 ** 53 })),
  payload: fc.uint8Array({ minLength: 3, maxLength: 300 }),
  trailer: fc.integer({ min: 0, max: 20 }),
});
type PacketCase = typeof packetCase extends fc.Arbitrary<infer T> ? T : never;

interface Built {
  buf: Uint8Array;
  packetStart: number;
  pnOffset: number;
  pnLength: 1 | 2 | 3 | 4;
  payloadEnd: number;
  packetEnd: number;
  plain: Uint8Array;
}

/** Writes an unprotected packet (first byte with the pn length bits, header bytes, blank pn, payload padded to 4 bytes with pn). */
function build(c: PacketCase): Built {
  const payload = c.payload.length + c.pnLength >= 4 ? c.payload : new Uint8Array(4 - c.pnLength);
  const packetStart = c.lead;
  const pnOffset = packetStart + 1 + c.headerRest.length;
  const payloadEnd = pnOffset + c.pnLength + payload.length;
  const buf = new Uint8Array(payloadEnd + 16 + c.trailer);
  buf.fill(0xee, 0, packetStart);
  // Long header: 0b11xx_xxpp; short header: 0b01xx_xxpp (RFC 9000 §17.2, §17.3.1).
  buf[packetStart] = (c.long ? 0xc0 : 0x40) | (c.firstBits & 0x3c) | (c.pnLength - 1);
  buf.set(c.headerRest, packetStart + 1);
  buf.set(payload, pnOffset + c.pnLength);
  buf.fill(0xdd, payloadEnd + 16);
  const plain = buf.slice();
  // The unprotected packet as the receiver should see it: with the truncated pn written.
  for (let i = 0; i < c.pnLength; i++) plain[pnOffset + i] = Math.floor(c.packetNumber / 256 ** (c.pnLength - 1 - i)) & 0xff;
  return { buf, packetStart, pnOffset, pnLength: c.pnLength, payloadEnd, packetEnd: payloadEnd + 16, plain };
}

for (const { algorithm, hash } of SUITES) {
  for (const [a, b] of [...providers.map((p) => [p, p] as const), ...providerPairs]) {
    test(`${algorithm}: a packet protected by ${a.name} is unprotected by ${b.name} to the original bytes`, () => {
      const sender = keysFor(a, algorithm, hash, 1);
      const receiver = keysFor(b, algorithm, hash, 1);
      fc.assert(
        fc.property(packetCase, fc.integer({ min: 0, max: 100 }), (c, behind) => {
          const x = build(c);
          const end = protectPacket(sender, x.buf, x.packetStart, x.pnOffset, x.pnLength, c.packetNumber, x.payloadEnd);
          assert.is(end, x.packetEnd);
          // Bytes before the packet and after its tag are untouched.
          assert.is(toHex(x.buf.subarray(0, x.packetStart)), toHex(x.plain.subarray(0, x.packetStart)));
          assert.is(toHex(x.buf.subarray(x.packetEnd)), toHex(x.plain.subarray(x.packetEnd)));
          // RFC 9001 §5.4.1: only the low 4 (long) or 5 (short) bits of the first byte are masked.
          const changed = x.buf[x.packetStart] ^ x.plain[x.packetStart];
          assert.is(changed & (c.long ? 0xf0 : 0xe0), 0);
          const largest = Math.max(-1, c.packetNumber - 1 - behind);
          const h = removeHeaderProtection(receiver.hp, x.buf, x.packetStart, x.pnOffset, x.packetEnd, largest);
          assert.is(h.firstByte, x.plain[x.packetStart]);
          assert.is(h.pnLength, x.pnLength);
          if (c.packetNumber - largest <= 2 ** (8 * x.pnLength - 1)) assert.is(h.packetNumber, c.packetNumber);
          const payloadEnd = openPacket(receiver, x.buf, x.packetStart, x.pnOffset, h.pnLength, c.packetNumber, x.packetEnd);
          assert.is(payloadEnd, x.payloadEnd);
          assert.is(toHex(x.buf.subarray(0, payloadEnd)), toHex(x.plain.subarray(0, payloadEnd)));
        }),
        { numRuns: 40 },
      );
    });
  }

  for (const p of providers) {
    test(`[${p.name}] ${algorithm}: batched header protection gives the same bytes as per-packet protection`, () => {
      const keys = keysFor(p, algorithm, hash, 2);
      fc.assert(
        fc.property(fc.array(fc.record({ pnLength: fc.constantFrom(1, 2, 3, 4), dcid: fc.integer({ min: 0, max: 20 }), payload: fc.integer({ min: 3, max: 200 }) }), { minLength: 1, maxLength: 12 }), fc.nat(), (specs, pn0) => {
          // Short-header 1-RTT packets back to back, as in a batch of datagrams.
          const total = specs.reduce((n, s) => n + 1 + s.dcid + s.pnLength + Math.max(s.payload, 4 - s.pnLength) + 16, 0);
          const buf = new Uint8Array(total);
          const packets: PacketOffsets[] = [];
          let off = 0;
          specs.forEach((s, i) => {
            const packetStart = off;
            buf[off] = 0x40 | (s.pnLength - 1) | (i & 1 ? 0x04 : 0);
            for (let j = 1; j <= s.dcid; j++) buf[off + j] = (j * 7 + i) & 0xff;
            const pnOffset = off + 1 + s.dcid;
            const payloadEnd = pnOffset + s.pnLength + Math.max(s.payload, 4 - s.pnLength);
            for (let j = pnOffset + s.pnLength; j < payloadEnd; j++) buf[j] = (j * 13) & 0xff;
            off = sealPacket(keys, buf, packetStart, pnOffset, s.pnLength, pn0 + i, payloadEnd);
            packets.push({ packetStart, pnOffset, pnLength: s.pnLength });
          });
          assert.is(off, total);
          const one = buf.slice();
          for (const q of packets) applyHeaderProtection(keys.hp, one, q.packetStart, q.pnOffset, q.pnLength);
          const batch = buf.slice();
          applyHeaderProtectionBatch(keys.hp, batch, packets);
          assert.is(toHex(batch), toHex(one));
          // With a count, only the first `count` packets are touched.
          const part = buf.slice();
          const count = packets.length - 1;
          applyHeaderProtectionBatch(keys.hp, part, packets, count);
          const cut = packets[packets.length - 1].packetStart;
          assert.is(toHex(part.subarray(0, cut)), toHex(one.subarray(0, cut)));
          assert.is(toHex(part.subarray(cut)), toHex(buf.subarray(cut)));
        }),
        { numRuns: 25 },
      );
    });

    test(`[${p.name}] ${algorithm}: any flipped bit in a protected packet makes openPacket throw PacketDecryptionError('authentication')`, () => {
      const keys = keysFor(p, algorithm, hash, 3);
      fc.assert(
        fc.property(packetCase, fc.nat(), fc.integer({ min: 0, max: 7 }), (c, where, bit) => {
          const x = build(c);
          protectPacket(keys, x.buf, x.packetStart, x.pnOffset, x.pnLength, c.packetNumber, x.payloadEnd);
          x.buf[x.packetStart + (where % (x.packetEnd - x.packetStart))] ^= 1 << bit;
          const h = removeHeaderProtection(keys.hp, x.buf, x.packetStart, x.pnOffset, x.packetEnd, c.packetNumber - 1);
          assert.throws(
            () => openPacket(keys, x.buf, x.packetStart, x.pnOffset, h.pnLength, h.packetNumber, x.packetEnd),
            isDecryptionError('authentication'),
          );
        }),
        { numRuns: 60 },
      );
    });

    test(`[${p.name}] ${algorithm}: random bytes and offsets only ever raise PacketDecryptionError`, () => {
      const keys = keysFor(p, algorithm, hash, 4);
      fc.assert(
        fc.property(
          fc.uint8Array({ maxLength: 120 }),
          fc.integer({ min: -2, max: 130 }),
          fc.integer({ min: -2, max: 130 }),
          fc.integer({ min: -2, max: 130 }),
          fc.integer({ min: -1, max: 2 ** 40 }),
          (buf, packetStart, pnOffset, packetEnd, largest) => {
            try {
              const h = removeHeaderProtection(keys.hp, buf, packetStart, pnOffset, packetEnd, largest);
              openPacket(keys, buf, packetStart, pnOffset, h.pnLength, h.packetNumber, packetEnd);
              assert.unreachable('random bytes authenticated');
            } catch (e) {
              if (!(e instanceof PacketDecryptionError)) throw e;
            }
          },
        ),
        { numRuns: 300 },
      );
    });

    test(`[${p.name}] ${algorithm}: after a failed open with the current key phase the same bytes open with the next one`, () => {
      const current = keysFor(p, algorithm, hash, 5);
      const next = nextGenerationKeys(p, current);
      fc.assert(
        fc.property(packetCase, (c) => {
          const x = build({ ...c, long: false });
          // The peer has updated its keys (RFC 9001 §6.2); header protection is unchanged.
          protectPacket(next, x.buf, x.packetStart, x.pnOffset, x.pnLength, c.packetNumber, x.payloadEnd);
          const h = removeHeaderProtection(current.hp, x.buf, x.packetStart, x.pnOffset, x.packetEnd, c.packetNumber - 1);
          const before = x.buf.slice();
          assert.throws(() => openPacket(current, x.buf, x.packetStart, x.pnOffset, h.pnLength, h.packetNumber, x.packetEnd), isDecryptionError('authentication'));
          assert.is(toHex(x.buf), toHex(before));
          const end = openPacket(next, x.buf, x.packetStart, x.pnOffset, h.pnLength, h.packetNumber, x.packetEnd);
          assert.is(toHex(x.buf.subarray(0, end)), toHex(x.plain.subarray(0, end)));
        }),
        { numRuns: 25 },
      );
    });
  }
}

for (const p of providers) {
  const keys = keysFor(p, 'aes-128-gcm', 'sha256', 6);

  test(`[${p.name}] removeHeaderProtection refuses packets with fewer than 20 bytes from the pn offset as 'too-short-for-sample'`, () => {
    for (let length = 0; length < 20; length++) {
      const buf = new Uint8Array(1 + length);
      buf[0] = 0x40;
      assert.throws(() => removeHeaderProtection(keys.hp, buf, 0, 1, buf.length, -1), isDecryptionError('too-short-for-sample'), `${length}`);
    }
    // 20 bytes are enough for the sample (the open then fails authentication).
    const buf = new Uint8Array(21);
    const h = removeHeaderProtection(keys.hp, buf, 0, 1, 21, -1);
    assert.throws(() => openPacket(keys, buf, 0, 1, h.pnLength, h.packetNumber, 21), isDecryptionError('authentication'));
  });

  test(`[${p.name}] openPacket refuses a payload shorter than the tag as 'authentication' and offsets outside the buffer as 'malformed'`, () => {
    const buf = new Uint8Array(40);
    buf[0] = 0x40;
    assert.throws(() => openPacket(keys, buf, 0, 1, 1, 0, 17), isDecryptionError('authentication'));
    assert.throws(() => openPacket(keys, buf, 0, 1, 1, 0, 41), isDecryptionError('malformed'));
    assert.throws(() => openPacket(keys, buf, 2, 1, 1, 0, 40), isDecryptionError('malformed'));
    assert.throws(() => removeHeaderProtection(keys.hp, buf, 0, 1, 41, -1), isDecryptionError('malformed'));
  });

  test(`[${p.name}] protecting a packet whose packet number and payload are under 4 bytes is refused as 'too-short-for-sample'`, () => {
    // RFC 9001 §5.4.2: the builder pads so that pn + payload >= 4.
    for (const pnLength of [1, 2, 3] as const) {
      const buf = new Uint8Array(64);
      buf[0] = 0x40 | (pnLength - 1);
      const payloadEnd = 1 + 3; // pn + payload = 3 bytes
      assert.throws(() => protectPacket(keys, buf, 0, 1, pnLength, 7, payloadEnd), isProtectionError('too-short-for-sample'));
      assert.ok(buf.subarray(1).every((x) => x === 0), 'nothing written');
      assert.is(protectPacket(keys, buf, 0, 1, pnLength, 7, payloadEnd + 1), payloadEnd + 1 + 16);
    }
  });

  test(`[${p.name}] sealPacket refuses a buffer without room for the tag and inconsistent arguments`, () => {
    const buf = new Uint8Array(30);
    buf[0] = 0x41; // 2-byte packet number
    assert.throws(() => sealPacket(keys, buf, 0, 1, 2, 9, 20), isProtectionError('buffer-too-small'));
    assert.throws(() => sealPacket(keys, buf, 0, 1, 1, 9, 10), isProtectionError('invalid-argument')); // first byte says 2
    assert.throws(() => sealPacket(keys, buf, 0, 1, 5, 9, 10), isProtectionError('invalid-argument'));
    assert.throws(() => sealPacket(keys, buf, 1, 1, 2, 9, 10), isProtectionError('invalid-argument'));
    assert.throws(() => sealPacket(keys, buf, 0, 1, 2, -1, 10), isProtectionError('invalid-argument'));
    assert.throws(() => sealPacket(keys, buf, 0, 1, 2, 1.5, 10), isProtectionError('invalid-argument'));
    assert.throws(() => sealPacket(keys, buf, 0, 1, 2, 2 ** 53 + 2, 10), isProtectionError('invalid-argument'));
    assert.is(sealPacket(keys, buf, 0, 1, 2, 9, 10), 26);
  });

  test(`[${p.name}] sealPacket writes the truncated packet number into the header`, () => {
    const buf = new Uint8Array(64);
    buf[0] = 0x43; // 4-byte packet number
    sealPacket(keys, buf, 0, 1, 4, 0x1_2345_6789, 20);
    assert.is(toHex(buf.subarray(1, 5)), '23456789');
  });

  test(`[${p.name}] a packet number of 2^53 protects and unprotects exactly`, () => {
    const buf = new Uint8Array(64);
    buf[0] = 0x43;
    const pn = 2 ** 53;
    const end = protectPacket(keys, buf, 0, 1, 4, pn, 30);
    const h = removeHeaderProtection(keys.hp, buf, 0, 1, end, pn - 1);
    assert.is(h.packetNumber, pn);
    // One less opens nothing: the nonce differs in the lowest bit.
    assert.throws(() => openPacket(keys, buf.slice(), 0, 1, 4, pn - 1, end), isDecryptionError('authentication'));
    assert.is(openPacket(keys, buf, 0, 1, 4, pn, end), 30);
  });

  test(`[${p.name}] v1 and v2 keys from the same secret do not open each other's packets`, () => {
    const v1 = keysFor(p, 'aes-128-gcm', 'sha256', 8, QUIC_V1);
    const v2 = keysFor(p, 'aes-128-gcm', 'sha256', 8, QUIC_V2);
    const buf = new Uint8Array(64);
    buf[0] = 0x40;
    const end = protectPacket(v1, buf, 0, 1, 1, 3, 30);
    const h = removeHeaderProtection(v2.hp, buf, 0, 1, end, 2);
    assert.throws(() => openPacket(v2, buf, 0, 1, h.pnLength, h.packetNumber, end), isDecryptionError('authentication'));
  });

  test(`[${p.name}] applyHeaderProtectionBatch validates every entry before touching the buffer`, () => {
    const buf = new Uint8Array(100);
    buf[0] = 0x40;
    const before = buf.slice();
    assert.throws(
      () => applyHeaderProtectionBatch(keys.hp, buf, [{ packetStart: 0, pnOffset: 1, pnLength: 1 }, { packetStart: 50, pnOffset: 90, pnLength: 1 }]),
      isProtectionError('buffer-too-small'),
    );
    assert.throws(() => applyHeaderProtectionBatch(keys.hp, buf, [{ packetStart: 0, pnOffset: 1, pnLength: 1 }], 2), isProtectionError('invalid-argument'));
    assert.is(toHex(buf), toHex(before));
    applyHeaderProtectionBatch(keys.hp, buf, [], 0);
    assert.is(toHex(buf), toHex(before));
  });
}

test.run();
