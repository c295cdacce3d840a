// Fuzzing the header decoders: random byte strings and mutations of valid packets, through
// parsePacketHeader (all forms), its Version Negotiation and Retry paths, and the coalesced walk.
// Every failure must be a QuicError(PROTOCOL_VIOLATION) — never a RangeError or TypeError — and
// every success must report offsets inside the datagram, in order, with views into it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { QuicError, TransportErrorCode } from '../../src/wire/errors.js';
import {
  iteratePackets,
  MAX_CONNECTION_ID_LENGTH,
  MAX_INVARIANT_CONNECTION_ID_LENGTH,
  parsePacketHeader,
  RETRY_INTEGRITY_TAG_LENGTH,
  type PacketParseOptions,
  type ParsedPacket,
} from '../../src/wire/header.js';
import { QUIC_V1, QUIC_V2 } from '../../src/wire/version.js';
import {
  arbHeader,
  arbRetry,
  arbVersionNegotiation,
  encodeSpec,
  encodedPacketSize,
  writeSpec,
  type HeaderSpec,
} from '../support/header-arbitraries.js';

const RUNS = 100_000;

const arbOptions: fc.Arbitrary<PacketParseOptions> = fc.record({
  shortHeaderDcidLength: fc.integer({ min: 0, max: 20 }),
  allowFixedBitZero: fc.boolean(),
});

function inDatagram(view: Uint8Array, datagram: Uint8Array): boolean {
  return view.buffer === datagram.buffer && view.byteOffset >= datagram.byteOffset && view.byteOffset + view.length <= datagram.byteOffset + datagram.length;
}

/** Asserts the guarantees of a successful parse at `offset`. */
function checkParsed(p: ParsedPacket, datagram: Uint8Array, offset: number, options: PacketParseOptions): void {
  assert.is(p.packetStart, offset);
  assert.ok(p.packetStart < p.packetEnd && p.packetEnd <= datagram.length, `packet [${p.packetStart}, ${p.packetEnd}) in ${datagram.length}`);
  assert.ok(inDatagram(p.dcid, datagram));
  switch (p.form) {
    case 'long':
      assert.ok(p.packetStart < p.pnOffset && p.pnOffset < p.packetEnd, `pnOffset ${p.pnOffset} in [${p.packetStart}, ${p.packetEnd})`);
      assert.ok(p.dcid.length <= MAX_CONNECTION_ID_LENGTH && p.scid.length <= MAX_CONNECTION_ID_LENGTH);
      assert.ok(inDatagram(p.scid, datagram) && inDatagram(p.token, datagram));
      assert.ok(p.token.byteOffset + p.token.length <= datagram.byteOffset + p.pnOffset);
      assert.ok(p.version === QUIC_V1 || p.version === QUIC_V2);
      break;
    case 'short':
      assert.ok(p.packetStart < p.pnOffset && p.pnOffset < p.packetEnd);
      assert.is(p.dcid.length, options.shortHeaderDcidLength);
      assert.is(p.packetEnd, datagram.length);
      break;
    case 'retry':
      assert.is(p.integrityTag.length, RETRY_INTEGRITY_TAG_LENGTH);
      assert.ok(p.token.length > 0);
      assert.ok(inDatagram(p.scid, datagram) && inDatagram(p.token, datagram) && inDatagram(p.integrityTag, datagram));
      assert.is(p.integrityTag.byteOffset + 16, datagram.byteOffset + datagram.length);
      assert.is(p.packetEnd, datagram.length);
      break;
    case 'versionNegotiation':
      assert.ok(p.supportedVersions.length > 0);
      assert.is(7 + p.dcid.length + p.scid.length + 4 * p.supportedVersions.length, p.packetEnd - p.packetStart);
      assert.ok(p.supportedVersions.every((v) => Number.isInteger(v) && v >= 0 && v <= 0xffff_ffff));
      break;
    case 'unsupportedVersion':
      assert.ok(p.dcid.length <= MAX_INVARIANT_CONNECTION_ID_LENGTH && inDatagram(p.scid, datagram));
      assert.ok(p.version !== 0 && p.version !== QUIC_V1 && p.version !== QUIC_V2);
      break;
  }
}

/** Parses at `offset`; the only acceptable failure is a QuicError with PROTOCOL_VIOLATION. */
function fuzzOne(datagram: Uint8Array, offset: number, options: PacketParseOptions): ParsedPacket | undefined {
  let p: ParsedPacket;
  try {
    p = parsePacketHeader(datagram, offset, options);
  } catch (e) {
    if (!(e instanceof QuicError)) throw e;
    assert.is(e.code, TransportErrorCode.PROTOCOL_VIOLATION, e.message);
    return undefined;
  }
  checkParsed(p, datagram, offset, options);
  return p;
}

// --- generators ---------------------------------------------------------------------------

/** Random bytes, optionally with a long header's version and CID lengths forced to plausible values. */
const arbRandomDatagram = fc
  .record({
    bytes: fc.uint8Array({ maxLength: 96, size: 'max' }),
    version: fc.constantFrom<number | null>(null, null, 0, QUIC_V1, QUIC_V2, 0x1a2a3a4a),
    dcidLen: fc.integer({ min: 0, max: 24 }),
    scidLen: fc.integer({ min: 0, max: 24 }),
  })
  .map(({ bytes, version, dcidLen, scidLen }) => {
    if (version !== null && bytes.length >= 6) {
      bytes[0] |= 0x80;
      new DataView(bytes.buffer, bytes.byteOffset).setUint32(1, version);
      bytes[5] = dcidLen;
      if (bytes.length > 6 + dcidLen) bytes[6 + dcidLen] = scidLen;
    }
    return bytes;
  });

/** Random bytes behind a forced long-header prefix: Version Negotiation (version 0) or Retry. */
function arbPrefixed(kind: 'versionNegotiation' | 'retry'): fc.Arbitrary<Uint8Array> {
  return fc
    .record({
      bytes: fc.uint8Array({ minLength: 7, maxLength: 96, size: 'max' }),
      version: fc.constantFrom(QUIC_V1, QUIC_V2),
      dcidLen: fc.integer({ min: 0, max: 22 }),
      scidLen: fc.integer({ min: 0, max: 22 }),
    })
    .map(({ bytes, version, dcidLen, scidLen }) => {
      const view = new DataView(bytes.buffer, bytes.byteOffset);
      if (kind === 'versionNegotiation') {
        bytes[0] |= 0x80;
        view.setUint32(1, 0);
      } else {
        // Retry type bits: 3 in v1, 0 in v2 (RFC 9369 §3.2); Fixed Bit set.
        bytes[0] = 0xc0 | ((version === QUIC_V1 ? 3 : 0) << 4) | (bytes[0] & 0x0f);
        view.setUint32(1, version);
      }
      bytes[5] = dcidLen;
      if (bytes.length > 6 + dcidLen) bytes[6 + dcidLen] = scidLen;
      return bytes;
    });
}

type Mutation = { op: 'set' | 'flip' | 'truncate' | 'insert' | 'delete' | 'extend'; pos: number; value: number };

const arbMutations: fc.Arbitrary<Mutation[]> = fc.array(
  fc.record({
    op: fc.constantFrom<Mutation['op']>('set', 'set', 'flip', 'flip', 'truncate', 'insert', 'delete', 'extend'),
    pos: fc.nat(),
    value: fc.nat({ max: 255 }),
  }),
  { minLength: 1, maxLength: 4 },
);

function mutate(input: Uint8Array, mutations: Mutation[]): Uint8Array {
  let b = Array.from(input);
  for (const m of mutations) {
    const at = b.length === 0 ? 0 : m.pos % b.length;
    switch (m.op) {
      case 'set':
        if (b.length > 0) b[at] = m.value;
        break;
      case 'flip':
        if (b.length > 0) b[at] ^= 1 << (m.value & 7);
        break;
      case 'truncate':
        b = b.slice(0, at);
        break;
      case 'insert':
        b.splice(at, 0, m.value);
        break;
      case 'delete':
        b.splice(at, 1);
        break;
      case 'extend':
        for (let i = 0; i < (m.value & 31) + 1; i++) b.push((m.value * (i + 7)) & 0xff);
        break;
    }
  }
  return Uint8Array.from(b);
}

/** A valid packet from `arb`, at a random offset after junk, then mutated; the offset is kept if still inside. */
function arbMutated(arb: fc.Arbitrary<HeaderSpec>, keepPrefix: (orig: Uint8Array, mutated: Uint8Array, offset: number) => void) {
  return fc.record({ spec: arb, prefix: fc.nat({ max: 8 }), mutations: arbMutations }).map(({ spec, prefix, mutations }) => {
    const { datagram } = encodeSpec(spec, prefix);
    // Mutate only the packet, not the junk before it, so that `prefix` still points at a packet.
    const mutated = mutate(datagram.subarray(prefix), mutations);
    keepPrefix(datagram.subarray(prefix), mutated, 0);
    const out = new Uint8Array(prefix + mutated.length);
    out.set(mutated, prefix);
    return { datagram: out, offset: prefix };
  });
}

const keepNothing = (): void => {};
/** Restores the first byte's form bit and the Version field so the mutation stays on the same path. */
const keepVersion = (orig: Uint8Array, mutated: Uint8Array): void => {
  if (mutated.length >= 5) {
    mutated.set(orig.subarray(1, 5), 1);
    mutated[0] = (mutated[0] & 0x0f) | (orig[0] & 0xf0);
  }
};

const CONFIG = { numRuns: RUNS };

// --- parsePacketHeader, every form ---------------------------------------------------------------

/** Counts outcomes by form (or 'error'), to check that a fuzzer reaches every decoding path. */
function tally(counts: Map<string, number>, p: ParsedPacket | undefined): void {
  const key = p === undefined ? 'error' : p.form === 'long' ? p.type : p.form;
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

function assertReached(counts: Map<string, number>, keys: string[]): void {
  for (const k of keys) assert.ok((counts.get(k) ?? 0) > 0, `no ${k} outcome among ${JSON.stringify([...counts])}`);
}

const ALL_OUTCOMES = ['initial', 'zeroRtt', 'handshake', 'retry', 'short', 'versionNegotiation', 'unsupportedVersion', 'error'];

test(`parsePacketHeader: ${RUNS} random byte strings fail only with PROTOCOL_VIOLATION and succeed only within bounds`, () => {
  const counts = new Map<string, number>();
  fc.assert(
    fc.property(arbRandomDatagram, arbOptions, (datagram, options) => {
      tally(counts, fuzzOne(datagram, 0, options));
    }),
    CONFIG,
  );
  assertReached(counts, ALL_OUTCOMES);
});

test(`parsePacketHeader: ${RUNS} mutations of valid headers of every form fail only with PROTOCOL_VIOLATION`, () => {
  const counts = new Map<string, number>();
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 20 }).chain((n) => fc.tuple(fc.constant(n), arbMutated(arbHeader(n), keepNothing))),
      fc.boolean(),
      ([shortHeaderDcidLength, { datagram, offset }], allowFixedBitZero) => {
        if (offset < datagram.length) tally(counts, fuzzOne(datagram, offset, { shortHeaderDcidLength, allowFixedBitZero }));
      },
    ),
    CONFIG,
  );
  assertReached(counts, ALL_OUTCOMES);
});

// --- the Version Negotiation path ------------------------------------------------------------------

test(`Version Negotiation path: ${RUNS} random bodies behind a version-0 long header`, () => {
  let parsed = 0;
  fc.assert(
    fc.property(arbPrefixed('versionNegotiation'), arbOptions, (datagram, options) => {
      const p = fuzzOne(datagram, 0, options);
      if (p !== undefined) {
        assert.is(p.form, 'versionNegotiation');
        parsed++;
      }
    }),
    CONFIG,
  );
  assert.ok(parsed > RUNS / 20, `the generator reaches successful parses (${parsed})`);
});

test(`Version Negotiation path: ${RUNS} mutations of valid Version Negotiation packets`, () => {
  let parsed = 0;
  fc.assert(
    fc.property(arbMutated(arbVersionNegotiation(true), keepVersion), arbOptions, ({ datagram, offset }, options) => {
      if (offset >= datagram.length) return;
      const p = fuzzOne(datagram, offset, options);
      if (p !== undefined) parsed++;
    }),
    CONFIG,
  );
  assert.ok(parsed > RUNS / 20, `mutations still reach successful parses (${parsed})`);
});

// --- the Retry path ---------------------------------------------------------------------------

test(`Retry path: ${RUNS} random bodies behind a v1/v2 Retry first byte`, () => {
  let parsed = 0;
  fc.assert(
    fc.property(arbPrefixed('retry'), arbOptions, (datagram, options) => {
      const p = fuzzOne(datagram, 0, options);
      if (p !== undefined) {
        assert.is(p.form, 'retry');
        parsed++;
      }
    }),
    CONFIG,
  );
  assert.ok(parsed > RUNS / 20, `the generator reaches successful parses (${parsed})`);
});

test(`Retry path: ${RUNS} mutations of valid Retry packets`, () => {
  let parsed = 0;
  fc.assert(
    fc.property(arbMutated(arbRetry, keepVersion), arbOptions, ({ datagram, offset }, options) => {
      if (offset >= datagram.length) return;
      const p = fuzzOne(datagram, offset, options);
      if (p !== undefined) parsed++;
    }),
    CONFIG,
  );
  assert.ok(parsed > RUNS / 20, `mutations still reach successful parses (${parsed})`);
});

// --- the coalesced walk ------------------------------------------------------------------------

test('iteratePackets: mutated coalesced datagrams yield in-order packets, then at most one error, and always end', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 20 }).chain((n) => fc.tuple(fc.constant(n), fc.array(arbHeader(n), { minLength: 1, maxLength: 4 }))),
      arbMutations,
      fc.boolean(),
      ([shortHeaderDcidLength, specs], mutations, allowFixedBitZero) => {
        const whole = new Uint8Array(specs.reduce((n, s) => n + encodedPacketSize(s), 0));
        let off = 0;
        for (const s of specs) off = writeSpec(whole, off, s).end;
        const datagram = mutate(whole, mutations);
        const options = { shortHeaderDcidLength, allowFixedBitZero };
        let expectedStart = 0;
        let steps = 0;
        let ended = false;
        for (const r of iteratePackets(datagram, options)) {
          assert.ok(!ended, 'nothing after an error');
          assert.ok(++steps <= datagram.length, 'each step consumes at least one byte');
          if (r.ok) {
            checkParsed(r.packet, datagram, expectedStart, options);
            expectedStart = r.packet.packetEnd;
          } else {
            assert.is(r.offset, expectedStart);
            assert.is(r.error.code, TransportErrorCode.PROTOCOL_VIOLATION);
            ended = true;
          }
        }
        assert.ok(ended || expectedStart === datagram.length, 'the walk covers the datagram unless it stops on an error');
      },
    ),
    { numRuns: 30_000 },
  );
});

test.run();
