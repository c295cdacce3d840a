/**
 * Writing QUIC packet headers into a caller's buffer (RFC 9000 §17, RFC 9369 §3.2).
 *
 * Writers put the header at an offset in a preallocated `Uint8Array` and return the offsets the
 * packet builder needs next; they allocate no buffers. Each has an exact size function for
 * budgeting. The headers are written unprotected — the first byte's low bits and the packet number
 * in the clear — and the crypto layer applies header protection once the payload is sealed
 * (RFC 9001 §5.4).
 *
 * Invalid arguments (a connection ID over 20 bytes, a token on a non-Initial packet, a buffer too
 * small …) are programming errors and throw a {@link QuicError} with INTERNAL_ERROR.
 *
 * @module
 */
import { QuicError, TransportErrorCode } from './errors.js';
import {
  FIXED_BIT,
  HEADER_FORM_BIT,
  longPacketTypeBits,
  MAX_CONNECTION_ID_LENGTH,
  MAX_INVARIANT_CONNECTION_ID_LENGTH,
  type ProtectedLongPacketType,
} from './header.js';
import { writePacketNumber } from './packet-number.js';
import { varintSize, writeVarint, writeVarintWithLength } from './varint.js';
import { isSupportedVersion, type QuicVersion } from './version.js';

/** Sizes the Length field of a long header can be reserved with (RFC 9000 §16 varint lengths). */
export type LengthFieldSize = 1 | 2 | 4;

/** Length of an encoded packet number field (RFC 9000 §17.1). */
export type PacketNumberFieldLength = 1 | 2 | 3 | 4;

/** Fields of an Initial, 0-RTT or Handshake packet header, for {@link writeLongHeader}. */
export interface LongHeaderFields {
  /** The packet type; its type bits depend on the version (RFC 9369 §3.2). */
  type: ProtectedLongPacketType;
  /** The QUIC version, v1 or v2. */
  version: QuicVersion;
  /** Destination Connection ID, 0–20 bytes. */
  dcid: Uint8Array;
  /** Source Connection ID, 0–20 bytes. */
  scid: Uint8Array;
  /** The Initial packet's token (RFC 9000 §17.2.2); omitted or empty otherwise. Default empty. */
  token?: Uint8Array;
  /** The full packet number; its low `pnLength` bytes are written (RFC 9000 §17.1). */
  packetNumber: number;
  /** Length of the Packet Number field, 1–4 bytes. */
  pnLength: PacketNumberFieldLength;
  /** Bytes reserved for the Length field, filled later by {@link setLongHeaderLength}. Default 2. */
  lengthFieldSize?: LengthFieldSize;
  /**
   * Write the Fixed Bit as 0. Only allowed when the peer sent the grease_quic_bit transport
   * parameter (RFC 9287 §3); the caller decides per packet. Default false (Fixed Bit 1).
   */
  greaseFixedBit?: boolean;
}

/** Offsets within the buffer returned by {@link writeLongHeader}. */
export interface LongHeaderLayout {
  /** Offset of the Length field (its size is the `lengthFieldSize` reserved). */
  lengthOffset: number;
  /** Offset of the Packet Number field. */
  pnOffset: number;
  /** Offset of the first payload byte: `pnOffset + pnLength`. */
  payloadOffset: number;
}

/** Parameters of {@link longHeaderSize}: the lengths that determine a long header's size. */
export interface LongHeaderSizeParams {
  /** The packet type (only Initial packets carry Token Length and Token). */
  type: ProtectedLongPacketType;
  /** Destination Connection ID length, 0–20. */
  dcidLength: number;
  /** Source Connection ID length, 0–20. */
  scidLength: number;
  /** Initial token length; default 0. */
  tokenLength?: number;
  /** Packet Number field length, 1–4. */
  pnLength: PacketNumberFieldLength;
  /** Bytes reserved for the Length field; default 2. */
  lengthFieldSize?: LengthFieldSize;
}

/** Fields of a 1-RTT packet's short header, for {@link writeShortHeader}. */
export interface ShortHeaderFields {
  /** Destination Connection ID, 0–20 bytes (the peer knows its length). */
  dcid: Uint8Array;
  /** The latency Spin Bit (RFC 9000 §17.4). */
  spinBit: 0 | 1;
  /** The Key Phase bit (RFC 9001 §6). */
  keyPhase: 0 | 1;
  /** The full packet number; its low `pnLength` bytes are written. */
  packetNumber: number;
  /** Length of the Packet Number field, 1–4 bytes. */
  pnLength: PacketNumberFieldLength;
  /** Write the Fixed Bit as 0 (peer sent grease_quic_bit, RFC 9287 §3). Default false. */
  greaseFixedBit?: boolean;
}

/** Offsets within the buffer returned by {@link writeShortHeader}. */
export interface ShortHeaderLayout {
  /** Offset of the Packet Number field. */
  pnOffset: number;
  /** Offset of the first payload byte: `pnOffset + pnLength`. */
  payloadOffset: number;
}

/** Fields of a Version Negotiation packet, for {@link writeVersionNegotiation} (RFC 9000 §17.2.1). */
export interface VersionNegotiationFields {
  /** Destination Connection ID: the Source Connection ID of the packet answered (0–255 bytes). */
  dcid: Uint8Array;
  /** Source Connection ID: the Destination Connection ID of the packet answered (0–255 bytes). */
  scid: Uint8Array;
  /** Versions the server supports (at least one; 32-bit values). */
  supportedVersions: readonly number[];
  /**
   * The 7 Unused bits of the first byte (only the low 7 bits are used), arbitrary — pass random bits.
   * Where QUIC may be multiplexed with other protocols, set 0x40 so the packet appears to carry the
   * Fixed Bit (RFC 9000 §17.2.1).
   */
  unusedBits: number;
}

/** Fields of a Retry packet, for {@link writeRetryWithoutTag} (RFC 9000 §17.2.5). */
export interface RetryFields {
  /** The QUIC version, v1 or v2. */
  version: QuicVersion;
  /** Destination Connection ID: the client's Source Connection ID (0–20 bytes). */
  dcid: Uint8Array;
  /** Source Connection ID chosen by the server (0–20 bytes). */
  scid: Uint8Array;
  /** The Retry Token; must not be empty (clients discard such a Retry, RFC 9000 §17.2.5.2). */
  token: Uint8Array;
  /** The 4 Unused bits of the first byte (low 4 bits used); arbitrary. Default 0. */
  unusedBits?: number;
}

function internal(reason: string): never {
  throw new QuicError(TransportErrorCode.INTERNAL_ERROR, reason);
}

function checkCid(cid: Uint8Array, what: string, max: number): void {
  if (cid.length > max) internal(`${what} of ${cid.length} bytes exceeds ${max}`);
}

function checkPnLength(pnLength: number): void {
  if (pnLength !== 1 && pnLength !== 2 && pnLength !== 3 && pnLength !== 4) internal(`packet number length ${pnLength} is not 1..4`);
}

function checkPacketNumber(pn: number): void {
  if (!Number.isSafeInteger(pn) || pn < 0) internal(`packet number ${pn} is not a non-negative integer`);
}

function checkRoom(buf: Uint8Array, offset: number, size: number, what: string): void {
  if (!Number.isInteger(offset) || offset < 0 || offset + size > buf.length) {
    internal(`${what} of ${size} bytes does not fit at offset ${offset} in a buffer of ${buf.length} bytes`);
  }
}

function checkVersion(version: number): asserts version is QuicVersion {
  if (!isSupportedVersion(version)) internal(`version 0x${(version >>> 0).toString(16)} has no packet type encoding here`);
}

/** Largest value a Length field of `lengthFieldSize` bytes can carry (RFC 9000 §16): 63, 16383 or 2^30−1. */
export function longHeaderLengthLimit(lengthFieldSize: LengthFieldSize): number {
  return lengthFieldSize === 1 ? 0x3f : lengthFieldSize === 2 ? 0x3fff : 0x3fff_ffff;
}

/**
 * Exact size in bytes of a long header up to and including the Packet Number field
 * (RFC 9000 §17.2; Token Length and Token for Initial packets, §17.2.2).
 */
export function longHeaderSize(params: LongHeaderSizeParams): number {
  const tokenLength = params.tokenLength ?? 0;
  const tokenFields = params.type === 'initial' ? varintSize(tokenLength) + tokenLength : 0;
  // First byte, Version (4), DCID Length (1) + DCID, SCID Length (1) + SCID.
  return 7 + params.dcidLength + params.scidLength + tokenFields + (params.lengthFieldSize ?? 2) + params.pnLength;
}

/**
 * Writes an unprotected Initial, 0-RTT or Handshake header at `offset` (RFC 9000 §17.2): first byte
 * (Header Form 1, Fixed Bit 1 unless greased, type bits for the version, Reserved Bits 0, Packet
 * Number Length − 1), Version, connection IDs, Token Length + Token for Initial packets, a Length
 * field of `lengthFieldSize` bytes, and the packet number.
 *
 * The Length field is reserved, holding the placeholder value `pnLength`: once the payload is known,
 * call {@link setLongHeaderLength} with `pnLength + payload length (including the AEAD tag)`.
 *
 * @returns the offsets of the Length field, the packet number and the payload.
 * @throws {QuicError} INTERNAL_ERROR on invalid fields or when the header does not fit in `buf`.
 */
export function writeLongHeader(buf: Uint8Array, offset: number, fields: LongHeaderFields): LongHeaderLayout {
  const { type, version, dcid, scid, packetNumber, pnLength } = fields;
  const token = fields.token;
  const lengthFieldSize = fields.lengthFieldSize ?? 2;
  checkVersion(version);
  if (type !== 'initial' && type !== 'zeroRtt' && type !== 'handshake') internal(`long header type ${String(type)} has a Length field`);
  checkCid(dcid, 'Destination Connection ID', MAX_CONNECTION_ID_LENGTH);
  checkCid(scid, 'Source Connection ID', MAX_CONNECTION_ID_LENGTH);
  checkPnLength(pnLength);
  checkPacketNumber(packetNumber);
  if (lengthFieldSize !== 1 && lengthFieldSize !== 2 && lengthFieldSize !== 4) internal(`Length field size ${lengthFieldSize} is not 1, 2 or 4`);
  // RFC 9000 §17.2.2: only Initial packets carry a token.
  if (token !== undefined && token.length > 0 && type !== 'initial') internal(`a ${type} packet carries no token`);
  const tokenLength = token === undefined ? 0 : token.length;
  // The placeholder Length (pnLength) must fit the reserved size; 1..4 always does.
  const size = longHeaderSize({ type, dcidLength: dcid.length, scidLength: scid.length, tokenLength, pnLength, lengthFieldSize });
  checkRoom(buf, offset, size, 'long header');

  // RFC 9000 §17.2: Header Form 1, Fixed Bit, Long Packet Type, Reserved Bits 0, PN Length − 1.
  buf[offset] = HEADER_FORM_BIT | (fields.greaseFixedBit === true ? 0 : FIXED_BIT) | (longPacketTypeBits(version, type) << 4) | (pnLength - 1);
  let p = writeU32(buf, offset + 1, version);
  buf[p++] = dcid.length;
  buf.set(dcid, p);
  p += dcid.length;
  buf[p++] = scid.length;
  buf.set(scid, p);
  p += scid.length;
  if (type === 'initial') {
    p = writeVarint(buf, p, tokenLength);
    if (token !== undefined) {
      buf.set(token, p);
      p += tokenLength;
    }
  }
  const lengthOffset = p;
  p = writeVarintWithLength(buf, p, pnLength, lengthFieldSize);
  const pnOffset = p;
  const payloadOffset = writePacketNumber(buf, p, packetNumber, pnLength);
  return { lengthOffset, pnOffset, payloadOffset };
}

/**
 * Fills a long header's Length field (RFC 9000 §17.2) with `length` — the Packet Number field plus
 * the protected payload, AEAD tag included — using exactly the `lengthFieldSize` bytes reserved by
 * {@link writeLongHeader}. Returns the offset after the field.
 *
 * @throws {QuicError} INTERNAL_ERROR (a `VarintRangeError`) when `length` does not fit that size.
 */
export function setLongHeaderLength(buf: Uint8Array, lengthOffset: number, lengthFieldSize: LengthFieldSize, length: number): number {
  checkRoom(buf, lengthOffset, lengthFieldSize, 'Length field');
  return writeVarintWithLength(buf, lengthOffset, length, lengthFieldSize);
}

/** Exact size in bytes of a short header up to and including the Packet Number field (RFC 9000 §17.3.1). */
export function shortHeaderSize(dcidLength: number, pnLength: PacketNumberFieldLength): number {
  return 1 + dcidLength + pnLength;
}

/**
 * Writes an unprotected 1-RTT short header at `offset` (RFC 9000 §17.3.1): first byte (Header Form 0,
 * Fixed Bit 1 unless greased, Spin Bit, Reserved Bits 0, Key Phase, Packet Number Length − 1), the
 * Destination Connection ID and the packet number.
 *
 * @throws {QuicError} INTERNAL_ERROR on invalid fields or when the header does not fit in `buf`.
 */
export function writeShortHeader(buf: Uint8Array, offset: number, fields: ShortHeaderFields): ShortHeaderLayout {
  const { dcid, packetNumber, pnLength } = fields;
  checkCid(dcid, 'Destination Connection ID', MAX_CONNECTION_ID_LENGTH);
  checkPnLength(pnLength);
  checkPacketNumber(packetNumber);
  checkRoom(buf, offset, shortHeaderSize(dcid.length, pnLength), 'short header');
  buf[offset] =
    (fields.greaseFixedBit === true ? 0 : FIXED_BIT) | ((fields.spinBit & 1) << 5) | ((fields.keyPhase & 1) << 2) | (pnLength - 1);
  buf.set(dcid, offset + 1);
  const pnOffset = offset + 1 + dcid.length;
  return { pnOffset, payloadOffset: writePacketNumber(buf, pnOffset, packetNumber, pnLength) };
}

/** Exact size in bytes of a Version Negotiation packet (RFC 9000 §17.2.1). */
export function versionNegotiationSize(dcidLength: number, scidLength: number, versionCount: number): number {
  return 7 + dcidLength + scidLength + 4 * versionCount;
}

/**
 * Writes a Version Negotiation packet at `offset` (RFC 9000 §17.2.1, RFC 8999 §6): first byte
 * `0x80 | unusedBits & 0x7f`, Version 0, the connection IDs (up to 255 bytes each, as the invariants
 * allow) and the Supported Version list. Returns the offset after the packet.
 *
 * @throws {QuicError} INTERNAL_ERROR when the version list is empty or holds a non-32-bit value,
 *   a connection ID exceeds 255 bytes, or the packet does not fit in `buf`.
 */
export function writeVersionNegotiation(buf: Uint8Array, offset: number, fields: VersionNegotiationFields): number {
  const { dcid, scid, supportedVersions } = fields;
  checkCid(dcid, 'Destination Connection ID', MAX_INVARIANT_CONNECTION_ID_LENGTH);
  checkCid(scid, 'Source Connection ID', MAX_INVARIANT_CONNECTION_ID_LENGTH);
  if (supportedVersions.length === 0) internal('a Version Negotiation packet lists at least one version');
  for (const v of supportedVersions) {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff) internal(`version ${v} is not a 32-bit value`);
  }
  checkRoom(buf, offset, versionNegotiationSize(dcid.length, scid.length, supportedVersions.length), 'Version Negotiation packet');
  buf[offset] = HEADER_FORM_BIT | (fields.unusedBits & 0x7f);
  let p = writeU32(buf, offset + 1, 0);
  buf[p++] = dcid.length;
  buf.set(dcid, p);
  p += dcid.length;
  buf[p++] = scid.length;
  buf.set(scid, p);
  p += scid.length;
  for (const v of supportedVersions) p = writeU32(buf, p, v);
  return p;
}

/** Exact size in bytes of a Retry packet without its 16-byte Retry Integrity Tag (RFC 9000 §17.2.5). */
export function retryWithoutTagSize(dcidLength: number, scidLength: number, tokenLength: number): number {
  return 7 + dcidLength + scidLength + tokenLength;
}

/**
 * Writes a Retry packet up to, not including, its Retry Integrity Tag at `offset`
 * (RFC 9000 §17.2.5): first byte (Header Form 1, Fixed Bit 1, the version's Retry type bits,
 * Unused bits), Version, connection IDs and Retry Token. Returns the offset after the token, where
 * the caller appends the 16-byte tag computed over {@link retryPseudoPacket} (RFC 9001 §5.8).
 *
 * @throws {QuicError} INTERNAL_ERROR on an unsupported version, a connection ID over 20 bytes,
 *   an empty token, or when the packet does not fit in `buf`.
 */
export function writeRetryWithoutTag(buf: Uint8Array, offset: number, fields: RetryFields): number {
  const { version, dcid, scid, token } = fields;
  checkVersion(version);
  checkCid(dcid, 'Destination Connection ID', MAX_CONNECTION_ID_LENGTH);
  checkCid(scid, 'Source Connection ID', MAX_CONNECTION_ID_LENGTH);
  // RFC 9000 §17.2.5.2: a client discards a Retry with an empty token, so never send one.
  if (token.length === 0) internal('a Retry packet carries a non-empty token');
  checkRoom(buf, offset, retryWithoutTagSize(dcid.length, scid.length, token.length), 'Retry packet');
  buf[offset] = HEADER_FORM_BIT | FIXED_BIT | (longPacketTypeBits(version, 'retry') << 4) | ((fields.unusedBits ?? 0) & 0x0f);
  let p = writeU32(buf, offset + 1, version);
  buf[p++] = dcid.length;
  buf.set(dcid, p);
  p += dcid.length;
  buf[p++] = scid.length;
  buf.set(scid, p);
  p += scid.length;
  buf.set(token, p);
  return p + token.length;
}

/**
 * Builds the Retry Pseudo-Packet over which the Retry Integrity Tag is computed (RFC 9001 §5.8):
 * ODCID Length, the Original Destination Connection ID, then the Retry packet without its tag.
 * For a received Retry, `retryWithoutTag` is
 * `datagram.subarray(packet.packetStart, packet.packetEnd - RETRY_INTEGRITY_TAG_LENGTH)`.
 *
 * @throws {QuicError} INTERNAL_ERROR when the original DCID exceeds 20 bytes.
 */
export function retryPseudoPacket(originalDcid: Uint8Array, retryWithoutTag: Uint8Array): Uint8Array {
  checkCid(originalDcid, 'Original Destination Connection ID', MAX_CONNECTION_ID_LENGTH);
  const out = new Uint8Array(1 + originalDcid.length + retryWithoutTag.length);
  out[0] = originalDcid.length;
  out.set(originalDcid, 1);
  out.set(retryWithoutTag, 1 + originalDcid.length);
  return out;
}

function writeU32(buf: Uint8Array, offset: number, value: number): number {
  buf[offset] = value >>> 24;
  buf[offset + 1] = (value >>> 16) & 0xff;
  buf[offset + 2] = (value >>> 8) & 0xff;
  buf[offset + 3] = value & 0xff;
  return offset + 4;
}
