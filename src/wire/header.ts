/**
 * QUIC packet headers: parsing of protected packets, coalesced datagrams, and the first-byte
 * helpers used once header protection is removed (RFC 9000 §12.2, §17; RFC 8999; RFC 9369 §3.2).
 *
 * Parsing happens *before* header protection is removed (RFC 9001 §5.4): the low bits of the first
 * byte (reserved bits, key phase, packet number length) and the packet number itself are still
 * masked, so {@link parsePacketHeader} reads only the fields that are sent in the clear — form, fixed
 * bit, packet type, version, connection IDs, token, Length — and reports *where* the packet number
 * starts. The crypto layer removes header protection, then uses
 * {@link packetNumberLengthFromFirstByte}, {@link keyPhaseBit} and, after packet protection is
 * removed too, {@link checkReservedBits}.
 *
 * Every malformed input throws a {@link QuicError} with PROTOCOL_VIOLATION; the receiver drops the
 * packet (RFC 9000 §5.2, §12.2). Byte strings in the results are views into the datagram, not copies.
 * The writers live in `header-write.ts`.
 *
 * @module
 */
import { QuicError, TransportErrorCode } from './errors.js';
import { Reader } from './reader.js';
import { isSupportedVersion, QUIC_V2, type QuicVersion } from './version.js';

/** Header Form bit (0x80) of the first byte: 1 for long headers, 0 for short (RFC 9000 §17.2, §17.3). */
export const HEADER_FORM_BIT = 0x80;
/** Fixed Bit, also called the QUIC Bit (0x40) of the first byte (RFC 9000 §17.2, RFC 9287). */
export const FIXED_BIT = 0x40;
/** Reserved bits of a long header's first byte, after header protection removal (RFC 9000 §17.2). */
export const LONG_HEADER_RESERVED_BITS = 0x0c;
/** Reserved bits of a short header's first byte, after header protection removal (RFC 9000 §17.3.1). */
export const SHORT_HEADER_RESERVED_BITS = 0x18;
/** Bits of a long header's first byte covered by header protection (RFC 9001 §5.4.1). */
export const LONG_HEADER_PROTECTED_BITS = 0x0f;
/** Bits of a short header's first byte covered by header protection (RFC 9001 §5.4.1). */
export const SHORT_HEADER_PROTECTED_BITS = 0x1f;
/** Largest connection ID length in QUIC v1 and v2 long and short headers (RFC 9000 §17.2). */
export const MAX_CONNECTION_ID_LENGTH = 20;
/** Largest connection ID length the version-independent invariants allow (RFC 8999 §5.1). */
export const MAX_INVARIANT_CONNECTION_ID_LENGTH = 255;
/** Length of a Retry packet's Retry Integrity Tag (RFC 9000 §17.2.5, RFC 9001 §5.8). */
export const RETRY_INTEGRITY_TAG_LENGTH = 16;

/** The long header packet types of QUIC v1 and v2 (RFC 9000 §17.2, RFC 9369 §3.2). */
export type LongPacketType = 'initial' | 'zeroRtt' | 'handshake' | 'retry';

/** Long header packet types that carry a Length field, a packet number and a protected payload. */
export type ProtectedLongPacketType = Exclude<LongPacketType, 'retry'>;

// RFC 9000 §17.2 Table 5 (v1): Initial 0, 0-RTT 1, Handshake 2, Retry 3.
const V1_TYPES: readonly LongPacketType[] = ['initial', 'zeroRtt', 'handshake', 'retry'];
// RFC 9369 §3.2 (v2): Retry 0, Initial 1, 0-RTT 2, Handshake 3.
const V2_TYPES: readonly LongPacketType[] = ['retry', 'initial', 'zeroRtt', 'handshake'];

/**
 * The two Long Packet Type bits (the value of mask 0x30, shifted down) that encode `type` in
 * `version` (RFC 9000 §17.2; RFC 9369 §3.2 renumbers them for v2).
 */
export function longPacketTypeBits(version: QuicVersion, type: LongPacketType): 0 | 1 | 2 | 3 {
  const v1 = type === 'initial' ? 0 : type === 'zeroRtt' ? 1 : type === 'handshake' ? 2 : 3;
  // RFC 9369 §3.2: every v2 type is the v1 type plus one, modulo 4.
  return (version === QUIC_V2 ? (v1 + 1) & 3 : v1) as 0 | 1 | 2 | 3;
}

/** The long packet type that the two type bits `bits` (0–3) denote in `version` (RFC 9000 §17.2, RFC 9369 §3.2). */
export function longPacketTypeFromBits(version: QuicVersion, bits: number): LongPacketType {
  return (version === QUIC_V2 ? V2_TYPES : V1_TYPES)[bits & 3];
}

/** Options of {@link parsePacketHeader} and {@link iteratePackets}. */
export interface PacketParseOptions {
  /**
   * Length (0–20) of the Destination Connection ID in short header packets. A short header does not
   * carry the length, so the receiver uses the length of the connection IDs it issues (RFC 9000 §17.3).
   */
  shortHeaderDcidLength: number;
  /**
   * Accept packets whose Fixed Bit is 0. Set this only after advertising the grease_quic_bit
   * transport parameter (RFC 9287 §3); otherwise such packets are discarded (RFC 9000 §17.2, §17.3.1).
   * Default false.
   */
  allowFixedBitZero?: boolean;
}

/**
 * An Initial, 0-RTT or Handshake packet, still header-protected (RFC 9000 §17.2.2–§17.2.4).
 *
 * The packet occupies `datagram[packetStart, packetEnd)`; its packet number starts at `pnOffset`
 * and its length (1–4) is known only after header protection is removed.
 */
export interface ParsedLongPacket {
  /** Discriminant: a long header packet with a Length field. */
  form: 'long';
  /** The packet type, decoded with the version's type encoding. */
  type: ProtectedLongPacketType;
  /** The QUIC version (v1 or v2). */
  version: QuicVersion;
  /** Destination Connection ID (view, 0–20 bytes). */
  dcid: Uint8Array;
  /** Source Connection ID (view, 0–20 bytes). */
  scid: Uint8Array;
  /**
   * The Initial packet's Token (view); empty for 0-RTT and Handshake packets. A client that receives
   * a server Initial with a non-empty token must discard it (RFC 9000 §17.2.2); that rule depends on
   * the endpoint's role and is the caller's to apply.
   */
  token: Uint8Array;
  /** Offset of the first byte of the packet in the datagram. */
  packetStart: number;
  /** Offset of the (protected) Packet Number field; the header-protection sample starts 4 bytes later. */
  pnOffset: number;
  /** Offset just past the packet: `pnOffset + Length` (RFC 9000 §17.2). */
  packetEnd: number;
}

/** A Retry packet (RFC 9000 §17.2.5). It has no protected fields and extends to the end of the datagram. */
export interface ParsedRetryPacket {
  /** Discriminant: a Retry packet. */
  form: 'retry';
  /** The QUIC version (v1 or v2). */
  version: QuicVersion;
  /** Destination Connection ID (view, 0–20 bytes). */
  dcid: Uint8Array;
  /** Source Connection ID chosen by the server (view, 0–20 bytes). */
  scid: Uint8Array;
  /** The Retry Token (view, never empty: RFC 9000 §17.2.5.2). */
  token: Uint8Array;
  /**
   * The 16-byte Retry Integrity Tag (view). The packet without it, for the integrity check
   * (RFC 9001 §5.8), is `datagram.subarray(packetStart, packetEnd - RETRY_INTEGRITY_TAG_LENGTH)`.
   */
  integrityTag: Uint8Array;
  /** Offset of the first byte of the packet in the datagram. */
  packetStart: number;
  /** Offset just past the packet: the end of the datagram. */
  packetEnd: number;
}

/** A 1-RTT packet with a short header, still header-protected (RFC 9000 §17.3.1). */
export interface ParsedShortPacket {
  /** Discriminant: a short header packet. */
  form: 'short';
  /** Destination Connection ID (view, `shortHeaderDcidLength` bytes). */
  dcid: Uint8Array;
  /** Offset of the first byte of the packet in the datagram. */
  packetStart: number;
  /** Offset of the (protected) Packet Number field. */
  pnOffset: number;
  /** Offset just past the packet: the end of the datagram (a short header packet is always last). */
  packetEnd: number;
}

/** A Version Negotiation packet (RFC 9000 §17.2.1, RFC 8999 §6). It consumes the rest of the datagram. */
export interface ParsedVersionNegotiationPacket {
  /** Discriminant: a Version Negotiation packet (Version field 0). */
  form: 'versionNegotiation';
  /** Destination Connection ID (view, 0–255 bytes: the invariants allow any length). */
  dcid: Uint8Array;
  /** Source Connection ID (view, 0–255 bytes). */
  scid: Uint8Array;
  /** The Supported Version list, in the order sent (never empty). */
  supportedVersions: number[];
  /** Offset of the first byte of the packet in the datagram. */
  packetStart: number;
  /** Offset just past the packet: the end of the datagram. */
  packetEnd: number;
}

/**
 * A long header packet of a version this implementation does not speak: only the version-independent
 * fields are read (RFC 8999 §5.1), which is what a server needs to answer with Version Negotiation
 * (RFC 9000 §6.1). Its length is unknown, so it is taken to extend to the end of the datagram.
 */
export interface ParsedUnsupportedVersionPacket {
  /** Discriminant: a long header packet of an unsupported version. */
  form: 'unsupportedVersion';
  /** The Version field (neither 0, v1 nor v2). */
  version: number;
  /** Destination Connection ID (view, 0–255 bytes). */
  dcid: Uint8Array;
  /** Source Connection ID (view, 0–255 bytes). */
  scid: Uint8Array;
  /** Offset of the first byte of the packet in the datagram. */
  packetStart: number;
  /** Offset just past the packet: the end of the datagram. */
  packetEnd: number;
}

/** The result of {@link parsePacketHeader}: a union discriminated on `form`. */
export type ParsedPacket =
  | ParsedLongPacket
  | ParsedRetryPacket
  | ParsedShortPacket
  | ParsedVersionNegotiationPacket
  | ParsedUnsupportedVersionPacket;

function drop(reason: string): never {
  throw new QuicError(TransportErrorCode.PROTOCOL_VIOLATION, reason);
}

function readCid(r: Reader, which: 'Destination' | 'Source', max: number): Uint8Array {
  const length = r.u8(`${which} Connection ID Length`);
  if (length > max) {
    // RFC 9000 §17.2: a v1 (or v2) long header with a connection ID longer than 20 bytes is dropped.
    drop(`${which} Connection ID Length ${length} exceeds ${max}`);
  }
  return r.take(length, `${which} Connection ID`);
}

/**
 * Parses the header of the packet that starts at `datagram[offset]`, before header protection is
 * removed (RFC 9000 §17, RFC 8999 §5).
 *
 * Long headers with version 0 are Version Negotiation packets; with v1 or v2 they are Initial,
 * 0-RTT, Handshake or Retry packets (type bits decoded per version, RFC 9369 §3.2); with any other
 * version only the invariant fields are read. Short headers use `options.shortHeaderDcidLength`.
 * The protected bits of the first byte and the packet number are not interpreted.
 *
 * @throws {QuicError} PROTOCOL_VIOLATION when the packet is malformed and must be dropped:
 *   truncated, a Length beyond the datagram or too small to hold a packet number, a v1/v2 connection
 *   ID longer than 20 bytes, a Fixed Bit of 0 when not allowed, a Retry without a token or tag, a
 *   Version Negotiation packet without a whole, non-empty version list.
 *   INTERNAL_ERROR when the caller passes an offset outside the datagram or an invalid option.
 */
export function parsePacketHeader(datagram: Uint8Array, offset: number, options: PacketParseOptions): ParsedPacket {
  if (!Number.isInteger(offset) || offset < 0 || offset > datagram.length) {
    throw new QuicError(TransportErrorCode.INTERNAL_ERROR, `packet offset ${offset} outside a datagram of ${datagram.length} bytes`);
  }
  if (offset === datagram.length) drop('truncated packet: no first byte');
  const first = datagram[offset];
  const allowFixedBitZero = options.allowFixedBitZero === true;
  if ((first & HEADER_FORM_BIT) === 0) return parseShort(datagram, offset, first, options.shortHeaderDcidLength, allowFixedBitZero);
  return parseLong(datagram, offset, first, allowFixedBitZero);
}

function parseShort(
  datagram: Uint8Array,
  offset: number,
  first: number,
  dcidLength: number,
  allowFixedBitZero: boolean,
): ParsedShortPacket {
  if (!Number.isInteger(dcidLength) || dcidLength < 0 || dcidLength > MAX_CONNECTION_ID_LENGTH) {
    throw new QuicError(TransportErrorCode.INTERNAL_ERROR, `shortHeaderDcidLength ${dcidLength} is not in 0..20`);
  }
  // RFC 9000 §17.3.1: a Fixed Bit of 0 is invalid unless grease_quic_bit was advertised (RFC 9287 §3).
  if ((first & FIXED_BIT) === 0 && !allowFixedBitZero) drop('short header with Fixed Bit 0');
  const pnOffset = offset + 1 + dcidLength;
  // RFC 9000 §17.3.1: the Packet Number field (1–4 bytes) follows the Destination Connection ID.
  if (pnOffset >= datagram.length) {
    drop(`truncated short header: need ${dcidLength + 2} bytes, ${datagram.length - offset} left`);
  }
  return {
    form: 'short',
    dcid: datagram.subarray(offset + 1, pnOffset),
    packetStart: offset,
    pnOffset,
    packetEnd: datagram.length,
  };
}

function parseLong(datagram: Uint8Array, offset: number, first: number, allowFixedBitZero: boolean): ParsedPacket {
  const r = new Reader(datagram, offset + 1, datagram.length, TransportErrorCode.PROTOCOL_VIOLATION);
  const version = r.u32('Version');
  // RFC 9000 §17.2: v1 (and v2) connection IDs are at most 20 bytes; the invariants allow 255
  // (RFC 8999 §5.1), which a server reads to answer an unknown version (RFC 9000 §6.1).
  const maxCid = isSupportedVersion(version) ? MAX_CONNECTION_ID_LENGTH : MAX_INVARIANT_CONNECTION_ID_LENGTH;
  const dcid = readCid(r, 'Destination', maxCid);
  const scid = readCid(r, 'Source', maxCid);

  if (version === 0) return parseVersionNegotiation(r, offset, dcid, scid);
  if (!isSupportedVersion(version)) {
    return { form: 'unsupportedVersion', version, dcid, scid, packetStart: offset, packetEnd: datagram.length };
  }

  // RFC 9000 §17.2: a Fixed Bit of 0 is invalid unless grease_quic_bit was advertised (RFC 9287 §3).
  if ((first & FIXED_BIT) === 0 && !allowFixedBitZero) drop('long header with Fixed Bit 0');
  const type = longPacketTypeFromBits(version, first >>> 4);

  if (type === 'retry') {
    // RFC 9000 §17.2.5: Retry Token (..) then the 16-byte Retry Integrity Tag, to the datagram's end.
    const tokenLength = r.remaining - RETRY_INTEGRITY_TAG_LENGTH;
    if (tokenLength < 0) drop(`truncated Retry packet: ${r.remaining} bytes left for the 16-byte Retry Integrity Tag`);
    // RFC 9000 §17.2.5.2: a client MUST discard a Retry packet with a zero-length Retry Token.
    if (tokenLength === 0) drop('Retry packet with an empty Retry Token');
    const token = r.take(tokenLength, 'Retry Token');
    const integrityTag = r.take(RETRY_INTEGRITY_TAG_LENGTH, 'Retry Integrity Tag');
    return { form: 'retry', version, dcid, scid, token, integrityTag, packetStart: offset, packetEnd: datagram.length };
  }

  let token = datagram.subarray(r.pos, r.pos);
  if (type === 'initial') {
    // RFC 9000 §17.2.2: Token Length (i), Token (..).
    const tokenLength = r.varint('Token Length');
    token = r.take(tokenLength, 'Token');
  }
  // RFC 9000 §17.2: Length (i) covers the Packet Number and the Payload.
  const length = r.varint('Length');
  const pnOffset = r.pos;
  if (length > r.remaining) drop(`Length ${length} exceeds the ${r.remaining} bytes left in the datagram`);
  // The Packet Number field is 1–4 bytes (RFC 9000 §17.2), so a Length of 0 cannot be valid.
  if (length === 0) drop('Length 0 leaves no room for a packet number');
  return { form: 'long', type, version, dcid, scid, token, packetStart: offset, pnOffset, packetEnd: pnOffset + length };
}

function parseVersionNegotiation(r: Reader, offset: number, dcid: Uint8Array, scid: Uint8Array): ParsedVersionNegotiationPacket {
  // RFC 9000 §17.2.1 / RFC 8999 §6: the rest of the datagram is a list of 32-bit versions. The
  // first byte's 7 low bits are unused and ignored.
  const left = r.remaining;
  if (left === 0) drop('Version Negotiation packet without Supported Version');
  if (left % 4 !== 0) drop(`Version Negotiation packet with ${left} bytes of versions, not a multiple of 4`);
  const supportedVersions = new Array<number>(left / 4);
  for (let i = 0; i < supportedVersions.length; i++) supportedVersions[i] = r.u32('Supported Version');
  return { form: 'versionNegotiation', dcid, scid, supportedVersions, packetStart: offset, packetEnd: r.end };
}

/** One step of {@link iteratePackets}: a parsed packet, or the error that ends the datagram. */
export type CoalescedPacketResult =
  | {
      /** The packet parsed. */
      ok: true;
      /** The packet's header. */
      packet: ParsedPacket;
    }
  | {
      /** The rest of the datagram, from `offset`, must be dropped. */
      ok: false;
      /** Why (always PROTOCOL_VIOLATION for peer input). */
      error: QuicError;
      /** Offset of the first byte that could not be processed. */
      offset: number;
    };

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Walks the packets coalesced in one UDP datagram (RFC 9000 §12.2), following each packet's
 * `packetEnd`. Each packet is yielded before the next is parsed, so the caller processes them one
 * by one; the first malformed packet yields a result with `ok: false` and ends the walk — the
 * packets before it are unaffected and the rest of the datagram is dropped.
 *
 * A short header, Retry, Version Negotiation or unknown-version packet extends to the end of the
 * datagram and so is always last. The walk also stops with an error at a later packet whose
 * Destination Connection ID differs from the first packet's (receivers SHOULD ignore it, RFC 9000
 * §12.2) and at a Retry or Version Negotiation packet that is not first (they are never coalesced,
 * RFC 9000 §12.2).
 */
export function* iteratePackets(datagram: Uint8Array, options: PacketParseOptions): Generator<CoalescedPacketResult, void, void> {
  let offset = 0;
  let firstDcid: Uint8Array | undefined;
  while (offset < datagram.length) {
    let packet: ParsedPacket;
    try {
      packet = parsePacketHeader(datagram, offset, options);
    } catch (e) {
      if (!(e instanceof QuicError)) throw e;
      yield { ok: false, error: e, offset };
      return;
    }
    if (firstDcid === undefined) {
      firstDcid = packet.dcid;
    } else if (packet.form === 'retry' || packet.form === 'versionNegotiation') {
      yield { ok: false, error: new QuicError(TransportErrorCode.PROTOCOL_VIOLATION, `${packet.form} packet coalesced after another packet`), offset };
      return;
    } else if (!sameBytes(packet.dcid, firstDcid)) {
      yield { ok: false, error: new QuicError(TransportErrorCode.PROTOCOL_VIOLATION, 'coalesced packet with a different Destination Connection ID'), offset };
      return;
    }
    yield { ok: true, packet };
    // packetEnd > offset for every form (Length >= 1, short headers need a byte after the DCID), so this terminates.
    offset = packet.packetEnd;
  }
}

/**
 * The Packet Number Length (1–4) from a first byte whose header protection has been removed:
 * the two low bits plus one (RFC 9000 §17.2, §17.3.1).
 */
export function packetNumberLengthFromFirstByte(firstByte: number): 1 | 2 | 3 | 4 {
  return ((firstByte & 0x03) + 1) as 1 | 2 | 3 | 4;
}

/** The Key Phase bit (0x04) of an unprotected short header first byte (RFC 9000 §17.3.1, RFC 9001 §6). */
export function keyPhaseBit(firstByte: number): 0 | 1 {
  return ((firstByte >>> 2) & 1) as 0 | 1;
}

/** The latency Spin Bit (0x20) of a short header first byte; it is not header-protected (RFC 9000 §17.3.1, §17.4). */
export function spinBit(firstByte: number): 0 | 1 {
  return ((firstByte >>> 5) & 1) as 0 | 1;
}

/**
 * Checks the reserved bits of a first byte after header protection removal: 0x0c in long headers
 * (RFC 9000 §17.2), 0x18 in short headers (RFC 9000 §17.3.1). Call it only once packet protection
 * has also been removed: non-zero bits are then a connection error, while acting on them before
 * the AEAD check would expose the endpoint to attacks (RFC 9001 §9.5).
 *
 * @throws {QuicError} PROTOCOL_VIOLATION when a reserved bit is set.
 */
export function checkReservedBits(firstByte: number, form: 'long' | 'short'): void {
  const mask = form === 'long' ? LONG_HEADER_RESERVED_BITS : SHORT_HEADER_RESERVED_BITS;
  if ((firstByte & mask) !== 0) {
    throw new QuicError(
      TransportErrorCode.PROTOCOL_VIOLATION,
      `${form} header reserved bits (mask 0x${mask.toString(16).padStart(2, '0')}) are not 0 in first byte 0x${firstByte.toString(16).padStart(2, '0')}`,
    );
  }
}
