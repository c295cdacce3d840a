import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import {
  decodePacketNumber,
  packetNumberLength,
  readTruncatedPacketNumber,
  writePacketNumber,
} from '../../src/wire/packet-number.js';

test('decodes the RFC 9000 Appendix A.3 worked example', () => {
  // largest 0xa82f30ea, 16-bit field 0x9b32 -> 0xa82f9b32
  assert.is(decodePacketNumber(0xa82f30ea, 0x9b32, 16), 0xa82f9b32);
});

test('chooses lengths as in the RFC 9000 Appendix A.2 examples', () => {
  // 0xac5c02 with 0xabe8b3 acknowledged needs 16 bits; 0xace8fe needs 24 bits.
  assert.is(packetNumberLength(0xac5c02, 0xabe8b3), 2);
  assert.is(packetNumberLength(0xace8fe, 0xabe8b3), 3);
  assert.is(packetNumberLength(0, undefined), 1);
  assert.is(packetNumberLength(127, undefined), 1);
  assert.is(packetNumberLength(128, undefined), 2);
});

test('a packet number encoded with the chosen length decodes back at the receiver', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 2 ** 40 }),
      fc.integer({ min: 1, max: 2 ** 30 }),
      fc.integer({ min: 0, max: 2 ** 30 }),
      (largestAcked, ahead, receiverLag) => {
        // The sender sends pn; the receiver has seen some packet between largestAcked and pn-1.
        const pn = largestAcked + ahead;
        const len = packetNumberLength(pn, largestAcked);
        const buf = new Uint8Array(4);
        writePacketNumber(buf, 0, pn, len);
        const truncated = readTruncatedPacketNumber(buf, 0, len);
        const largestReceived = Math.max(largestAcked, pn - 1 - (receiverLag % ahead));
        assert.is(decodePacketNumber(largestReceived, truncated, len * 8), pn);
      },
    ),
    { numRuns: 20_000 },
  );
});

test('decodes the first packet of a space with no packet received yet', () => {
  for (const pn of [0, 1, 100, 255]) {
    const len = packetNumberLength(pn, undefined);
    const buf = new Uint8Array(4);
    writePacketNumber(buf, 0, pn, len);
    assert.is(decodePacketNumber(-1, readTruncatedPacketNumber(buf, 0, len), len * 8), pn);
  }
});

test('writes only the low bytes, exactly, for numbers above 2^32', () => {
  const buf = new Uint8Array(4);
  writePacketNumber(buf, 0, 2 ** 40 + 0x01020304, 4);
  assert.equal([...buf], [1, 2, 3, 4]);
  writePacketNumber(buf, 0, 2 ** 40 + 0x0506, 2);
  assert.equal([...buf.subarray(0, 2)], [5, 6]);
});

test.run();
