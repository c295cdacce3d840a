// Property tests: every valid header written at any offset parses back to the same fields, the
// size functions are exact, and coalesced datagrams of random packets walk back in order.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import {
  checkReservedBits,
  iteratePackets,
  keyPhaseBit,
  packetNumberLengthFromFirstByte,
  parsePacketHeader,
  spinBit,
  type ParsedPacket,
} from '../../src/wire/header.js';
import { longHeaderSize, shortHeaderSize } from '../../src/wire/header-write.js';
import { readTruncatedPacketNumber } from '../../src/wire/packet-number.js';
import {
  arbHeader,
  arbLongHeader,
  arbShortHeader,
  arbVersionNegotiation,
  encodedPacketSize,
  expectForm,
  writeSpec,
  type HeaderSpec,
  type LongHeaderSpec,
} from '../support/header-arbitraries.js';

const hexOf = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** The packet number as its low `pnLength` bytes read back. */
const truncated = (pn: number, pnLength: number): number => pn % 2 ** (8 * pnLength);

function isViewInto(view: Uint8Array, datagram: Uint8Array): boolean {
  return view.buffer === datagram.buffer && view.byteOffset >= datagram.byteOffset && view.byteOffset + view.length <= datagram.byteOffset + datagram.length;
}

/** Checks that `p` is what `spec` was written as, at `offset`, ending at `end`. */
function assertMatches(p: ParsedPacket, spec: HeaderSpec, datagram: Uint8Array, offset: number, end: number): void {
  assert.is(p.packetStart, offset);
  assert.is(p.packetEnd, end);
  switch (spec.kind) {
    case 'long': {
      const q = expectForm(p, 'long');
      const f = spec.fields;
      assert.is(q.type, f.type);
      assert.is(q.version, f.version);
      assert.is(hexOf(q.dcid), hexOf(f.dcid));
      assert.is(hexOf(q.scid), hexOf(f.scid));
      assert.is(hexOf(q.token), hexOf(f.token));
      assert.is(q.pnOffset, end - spec.payloadLength - f.pnLength);
      // After (here: no) header protection, the first byte and pn field give back what was written.
      const first = datagram[offset];
      assert.is(packetNumberLengthFromFirstByte(first), f.pnLength);
      assert.is(readTruncatedPacketNumber(datagram, q.pnOffset, f.pnLength), truncated(f.packetNumber, f.pnLength));
      assert.is((first & 0x40) === 0, f.greaseFixedBit === true);
      checkReservedBits(first, 'long');
      for (const v of [q.dcid, q.scid, q.token]) assert.ok(isViewInto(v, datagram));
      break;
    }
    case 'short': {
      const q = expectForm(p, 'short');
      const f = spec.fields;
      assert.is(hexOf(q.dcid), hexOf(f.dcid));
      assert.is(q.pnOffset, offset + 1 + f.dcid.length);
      const first = datagram[offset];
      assert.is(packetNumberLengthFromFirstByte(first), f.pnLength);
      assert.is(keyPhaseBit(first), f.keyPhase);
      assert.is(spinBit(first), f.spinBit);
      assert.is((first & 0x40) === 0, f.greaseFixedBit === true);
      assert.is(readTruncatedPacketNumber(datagram, q.pnOffset, f.pnLength), truncated(f.packetNumber, f.pnLength));
      checkReservedBits(first, 'short');
      assert.ok(isViewInto(q.dcid, datagram));
      break;
    }
    case 'versionNegotiation': {
      const q = expectForm(p, 'versionNegotiation');
      assert.is(hexOf(q.dcid), hexOf(spec.fields.dcid));
      assert.is(hexOf(q.scid), hexOf(spec.fields.scid));
      assert.equal(q.supportedVersions, spec.fields.supportedVersions);
      assert.is(datagram[offset], 0x80 | spec.fields.unusedBits);
      break;
    }
    case 'retry': {
      const q = expectForm(p, 'retry');
      assert.is(q.version, spec.fields.version);
      assert.is(hexOf(q.dcid), hexOf(spec.fields.dcid));
      assert.is(hexOf(q.scid), hexOf(spec.fields.scid));
      assert.is(hexOf(q.token), hexOf(spec.fields.token));
      assert.is(hexOf(q.integrityTag), hexOf(spec.integrityTag));
      assert.is(datagram[offset] & 0x0f, spec.fields.unusedBits ?? 0);
      for (const v of [q.dcid, q.scid, q.token, q.integrityTag]) assert.ok(isViewInto(v, datagram));
      break;
    }
  }
}

test('every valid header written at a random offset parses back to its fields, with exact sizes', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 20 }).chain((dcidLength) => fc.tuple(fc.constant(dcidLength), arbHeader(dcidLength))),
      fc.nat({ max: 300 }),
      fc.uint8Array({ minLength: 300, maxLength: 300 }),
      fc.boolean(),
      ([dcidLength, spec], offset, junk, allowFixedBitZero) => {
        const size = encodedPacketSize(spec);
        // Junk before the packet; the packet runs to the end of the datagram (Retry, VN and short
        // headers have no Length and always do).
        const datagram = new Uint8Array(offset + size);
        datagram.set(junk.subarray(0, offset));
        const written = writeSpec(datagram, offset, spec);
        assert.is(written.end - offset, size, 'size function matches bytes written');
        const greased = (spec.kind === 'long' || spec.kind === 'short') && spec.fields.greaseFixedBit === true;
        const options = { shortHeaderDcidLength: dcidLength, allowFixedBitZero: allowFixedBitZero || greased };
        const p = parsePacketHeader(datagram, offset, options);
        assertMatches(p, spec, datagram, offset, written.end);
        if (spec.kind === 'long' || spec.kind === 'short') assert.is(p.form === spec.kind && p.pnOffset, written.pnOffset);
      },
    ),
    { numRuns: 20_000 },
  );
});

test('a long header packet followed by other bytes ends where its Length says', () => {
  fc.assert(
    fc.property(arbLongHeader, fc.uint8Array({ minLength: 1, maxLength: 50 }), (spec, trailing) => {
      const size = encodedPacketSize(spec);
      const datagram = new Uint8Array(size + trailing.length);
      datagram.set(trailing, size);
      writeSpec(datagram, 0, spec);
      const p = expectForm(parsePacketHeader(datagram, 0, { shortHeaderDcidLength: 0, allowFixedBitZero: true }), 'long');
      assert.is(p.packetEnd, size);
    }),
    { numRuns: 5_000 },
  );
});

test('longHeaderSize and shortHeaderSize equal the bytes up to the payload', () => {
  fc.assert(
    fc.property(arbLongHeader, (spec: LongHeaderSpec) => {
      const f = spec.fields;
      const datagram = new Uint8Array(encodedPacketSize(spec));
      const w = writeSpec(datagram, 0, spec);
      const headerSize = longHeaderSize({
        type: f.type,
        dcidLength: f.dcid.length,
        scidLength: f.scid.length,
        tokenLength: f.token.length,
        pnLength: f.pnLength,
        lengthFieldSize: f.lengthFieldSize,
      });
      assert.is(headerSize, (w.pnOffset ?? -1) + f.pnLength);
      assert.is((w.pnOffset ?? -1) - (w.lengthOffset ?? -1), f.lengthFieldSize, 'Length field occupies exactly its reserved size');
    }),
    { numRuns: 5_000 },
  );
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 20 }).chain(arbShortHeader), (spec) => {
      const datagram = new Uint8Array(encodedPacketSize(spec));
      const w = writeSpec(datagram, 0, spec);
      assert.is(shortHeaderSize(spec.fields.dcid.length, spec.fields.pnLength), (w.pnOffset ?? -1) + spec.fields.pnLength);
    }),
    { numRuns: 2_000 },
  );
});

test('Version Negotiation packets with connection IDs up to 255 bytes round-trip', () => {
  fc.assert(
    fc.property(arbVersionNegotiation(true), fc.nat({ max: 40 }), (spec, offset) => {
      const datagram = new Uint8Array(offset + encodedPacketSize(spec));
      const w = writeSpec(datagram, offset, spec);
      assertMatches(parsePacketHeader(datagram, offset, { shortHeaderDcidLength: 0 }), spec, datagram, offset, w.end);
    }),
    { numRuns: 3_000 },
  );
});

test('random coalesced long packets, optionally ending in a short packet, are walked back in order', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 0, maxLength: 20 }),
      fc.array(arbLongHeader, { minLength: 1, maxLength: 4 }),
      fc.option(fc.integer({ min: 0, max: 20 }).chain(arbShortHeader)),
      (dcid, longs, short) => {
        // Coalesced packets share one Destination Connection ID (RFC 9000 §12.2).
        const specs: HeaderSpec[] = longs.map((s) => ({ ...s, fields: { ...s.fields, dcid } }));
        if (short !== null) specs.push({ ...short, fields: { ...short.fields, dcid } });
        const datagram = new Uint8Array(specs.reduce((n, s) => n + encodedPacketSize(s), 0));
        const bounds: [number, number][] = [];
        let offset = 0;
        for (const s of specs) {
          const end = writeSpec(datagram, offset, s).end;
          bounds.push([offset, end]);
          offset = end;
        }
        const results = [...iteratePackets(datagram, { shortHeaderDcidLength: dcid.length, allowFixedBitZero: true })];
        assert.is(results.length, specs.length);
        results.forEach((r, i) => {
          if (!r.ok) throw r.error;
          assertMatches(r.packet, specs[i], datagram, bounds[i][0], bounds[i][1]);
        });
      },
    ),
    { numRuns: 5_000 },
  );
});

test.run();
