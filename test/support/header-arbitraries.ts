/**
 * fast-check arbitraries of valid QUIC packet headers (RFC 9000 §17, RFC 9369 §3.2), and a helper
 * that writes one into a datagram at an offset with a payload that matches its Length field.
 * Reused by header tests and by later packet and connection tests.
 *
 * @module
 */
import fc from 'fast-check';
import { MAX_CONNECTION_ID_LENGTH, RETRY_INTEGRITY_TAG_LENGTH, type ParsedPacket } from '../../src/wire/header.js';
import {
  longHeaderLengthLimit,
  longHeaderSize,
  retryWithoutTagSize,
  setLongHeaderLength,
  shortHeaderSize,
  versionNegotiationSize,
  writeLongHeader,
  writeRetryWithoutTag,
  writeShortHeader,
  writeVersionNegotiation,
  type LengthFieldSize,
  type LongHeaderFields,
  type PacketNumberFieldLength,
  type RetryFields,
  type ShortHeaderFields,
  type VersionNegotiationFields,
} from '../../src/wire/header-write.js';
import { QUIC_V1, QUIC_V2, type QuicVersion } from '../../src/wire/version.js';

/** A valid Initial/0-RTT/Handshake header plus the payload length that follows its packet number. */
export interface LongHeaderSpec {
  /** Discriminant. */
  kind: 'long';
  /** Header fields, with the Length field size made explicit. */
  fields: LongHeaderFields & { lengthFieldSize: LengthFieldSize; token: Uint8Array };
  /** Bytes after the packet number; `pnLength + payloadLength` fits the Length field. */
  payloadLength: number;
}

/** A valid 1-RTT short header plus the payload length after its packet number. */
export interface ShortHeaderSpec {
  /** Discriminant. */
  kind: 'short';
  /** Header fields. */
  fields: ShortHeaderFields;
  /** Bytes after the packet number. */
  payloadLength: number;
}

/** A valid Version Negotiation packet. */
export interface VersionNegotiationSpec {
  /** Discriminant. */
  kind: 'versionNegotiation';
  /** Packet fields. */
  fields: VersionNegotiationFields & { supportedVersions: number[] };
}

/** A valid Retry packet with an (arbitrary) integrity tag. */
export interface RetrySpec {
  /** Discriminant. */
  kind: 'retry';
  /** Packet fields. */
  fields: RetryFields;
  /** The 16 bytes written as the Retry Integrity Tag. */
  integrityTag: Uint8Array;
}

/** Any valid header spec. */
export type HeaderSpec = LongHeaderSpec | ShortHeaderSpec | VersionNegotiationSpec | RetrySpec;

/** QUIC v1 or v2. */
export const arbVersion: fc.Arbitrary<QuicVersion> = fc.constantFrom<QuicVersion>(QUIC_V1, QUIC_V2);

/** A connection ID of 0–`max` bytes (default 20, RFC 9000 §17.2). */
export function arbCid(max: number = MAX_CONNECTION_ID_LENGTH, min = 0): fc.Arbitrary<Uint8Array> {
  return fc.uint8Array({ minLength: min, maxLength: max });
}

/** A Packet Number field length. */
export const arbPnLength: fc.Arbitrary<PacketNumberFieldLength> = fc.constantFrom<PacketNumberFieldLength>(1, 2, 3, 4);

/** A packet number over the whole range our `number` packet numbers use (0 … 2^53−1). */
export const arbPacketNumber: fc.Arbitrary<number> = fc.oneof(
  fc.integer({ min: 0, max: 0xffff }),
  fc.integer({ min: 0, max: 0xffff_ffff }),
  fc.maxSafeNat(),
);

/** A valid Initial, 0-RTT or Handshake header with a payload length that fits its Length field. */
export const arbLongHeader: fc.Arbitrary<LongHeaderSpec> = fc
  .record({
    type: fc.constantFrom('initial' as const, 'zeroRtt' as const, 'handshake' as const),
    version: arbVersion,
    dcid: arbCid(),
    scid: arbCid(),
    token: fc.oneof(fc.uint8Array({ maxLength: 8 }), fc.uint8Array({ minLength: 60, maxLength: 100 })),
    packetNumber: arbPacketNumber,
    pnLength: arbPnLength,
    lengthFieldSize: fc.constantFrom<LengthFieldSize>(1, 2, 4),
    greaseFixedBit: fc.boolean(),
    payloadSeed: fc.nat(),
  })
  .map(({ payloadSeed, ...f }) => {
    const token = f.type === 'initial' ? f.token : new Uint8Array(0);
    // Keep payloads small; the Length field still covers sizes up to its 1-byte or 2-byte limit.
    const limit = Math.min(longHeaderLengthLimit(f.lengthFieldSize), 2000) - f.pnLength;
    return { kind: 'long' as const, fields: { ...f, token }, payloadLength: payloadSeed % (limit + 1) };
  });

/** A valid 1-RTT short header whose DCID has `dcidLength` bytes. */
export function arbShortHeader(dcidLength: number): fc.Arbitrary<ShortHeaderSpec> {
  return fc.record({
    kind: fc.constant('short' as const),
    fields: fc.record({
      dcid: fc.uint8Array({ minLength: dcidLength, maxLength: dcidLength }),
      spinBit: fc.constantFrom<0 | 1>(0, 1),
      keyPhase: fc.constantFrom<0 | 1>(0, 1),
      packetNumber: arbPacketNumber,
      pnLength: arbPnLength,
      greaseFixedBit: fc.boolean(),
    }),
    payloadLength: fc.nat({ max: 64 }),
  });
}

/** A valid Version Negotiation packet (connection IDs up to 255 bytes when `longCids`). */
export function arbVersionNegotiation(longCids = false): fc.Arbitrary<VersionNegotiationSpec> {
  const cid = longCids ? arbCid(255) : arbCid();
  return fc.record({
    kind: fc.constant('versionNegotiation' as const),
    fields: fc.record({
      dcid: cid,
      scid: cid,
      supportedVersions: fc.array(fc.oneof(arbVersion, fc.integer({ min: 0, max: 0xffff_ffff })), { minLength: 1, maxLength: 8 }),
      unusedBits: fc.integer({ min: 0, max: 0x7f }),
    }),
  });
}

/** A valid Retry packet (non-empty token, RFC 9000 §17.2.5.2). */
export const arbRetry: fc.Arbitrary<RetrySpec> = fc.record({
  kind: fc.constant('retry' as const),
  fields: fc.record({
    version: arbVersion,
    dcid: arbCid(),
    scid: arbCid(),
    token: fc.uint8Array({ minLength: 1, maxLength: 80 }),
    unusedBits: fc.integer({ min: 0, max: 0x0f }),
  }),
  integrityTag: fc.uint8Array({ minLength: RETRY_INTEGRITY_TAG_LENGTH, maxLength: RETRY_INTEGRITY_TAG_LENGTH }),
});

/** Any valid header; short headers use `shortDcidLength`-byte DCIDs. */
export function arbHeader(shortDcidLength: number): fc.Arbitrary<HeaderSpec> {
  return fc.oneof(arbLongHeader, arbShortHeader(shortDcidLength), arbVersionNegotiation(), arbRetry);
}

/** Exact encoded size of the whole packet a spec describes (header, packet number and payload or tag). */
export function encodedPacketSize(spec: HeaderSpec): number {
  switch (spec.kind) {
    case 'long': {
      const f = spec.fields;
      return (
        longHeaderSize({
          type: f.type,
          dcidLength: f.dcid.length,
          scidLength: f.scid.length,
          tokenLength: f.token.length,
          pnLength: f.pnLength,
          lengthFieldSize: f.lengthFieldSize,
        }) + spec.payloadLength
      );
    }
    case 'short':
      return shortHeaderSize(spec.fields.dcid.length, spec.fields.pnLength) + spec.payloadLength;
    case 'versionNegotiation':
      return versionNegotiationSize(spec.fields.dcid.length, spec.fields.scid.length, spec.fields.supportedVersions.length);
    case 'retry':
      return retryWithoutTagSize(spec.fields.dcid.length, spec.fields.scid.length, spec.fields.token.length) + RETRY_INTEGRITY_TAG_LENGTH;
  }
}

/** Where the writer put things, as returned by {@link writeSpec}. */
export interface WrittenPacket {
  /** Offset just past the packet. */
  end: number;
  /** Packet number offset (long and short headers only). */
  pnOffset?: number;
  /** Length field offset (long headers only). */
  lengthOffset?: number;
}

/**
 * Writes the packet a spec describes at `offset` in `buf`: header, then payload bytes `0xaa`
 * (or the integrity tag for a Retry). For long headers the Length field is set to
 * `pnLength + payloadLength`.
 */
export function writeSpec(buf: Uint8Array, offset: number, spec: HeaderSpec): WrittenPacket {
  switch (spec.kind) {
    case 'long': {
      const layout = writeLongHeader(buf, offset, spec.fields);
      setLongHeaderLength(buf, layout.lengthOffset, spec.fields.lengthFieldSize, spec.fields.pnLength + spec.payloadLength);
      buf.fill(0xaa, layout.payloadOffset, layout.payloadOffset + spec.payloadLength);
      return { end: layout.payloadOffset + spec.payloadLength, pnOffset: layout.pnOffset, lengthOffset: layout.lengthOffset };
    }
    case 'short': {
      const layout = writeShortHeader(buf, offset, spec.fields);
      buf.fill(0xaa, layout.payloadOffset, layout.payloadOffset + spec.payloadLength);
      return { end: layout.payloadOffset + spec.payloadLength, pnOffset: layout.pnOffset };
    }
    case 'versionNegotiation':
      return { end: writeVersionNegotiation(buf, offset, spec.fields) };
    case 'retry': {
      const end = writeRetryWithoutTag(buf, offset, spec.fields);
      buf.set(spec.integrityTag, end);
      return { end: end + RETRY_INTEGRITY_TAG_LENGTH };
    }
  }
}

/** Encodes a spec alone in a fresh datagram of exactly its size, starting at `prefix` filler bytes. */
export function encodeSpec(spec: HeaderSpec, prefix = 0): { datagram: Uint8Array; written: WrittenPacket } {
  const datagram = new Uint8Array(prefix + encodedPacketSize(spec));
  const written = writeSpec(datagram, prefix, spec);
  return { datagram, written };
}

/** Narrows a parse result to the expected `form`, failing the test with both forms otherwise. */
export function expectForm<F extends ParsedPacket['form']>(packet: ParsedPacket, form: F): Extract<ParsedPacket, { form: F }> {
  if (packet.form !== form) throw new Error(`expected a ${form} packet, got ${packet.form}`);
  return packet as Extract<ParsedPacket, { form: F }>;
}
