/**
 * Packet protection in place in a datagram buffer (RFC 9001 §5.3, §5.4).
 *
 * Header-agnostic: the caller (the packet builder or the receive path) has written or parsed the
 * header and passes its offsets. For long headers the Length field already counts the packet
 * number, the payload and the 16-byte tag.
 *
 * Sending: {@link protectPacket} = {@link sealPacket} + {@link applyHeaderProtection}; several
 * packets can be sealed first and have their header protection applied with one batched mask
 * computation ({@link applyHeaderProtectionBatch}).
 *
 * Receiving is two steps so a connection can try the next key phase:
 * {@link removeHeaderProtection} (which reveals the Key Phase bit and the packet number), then
 * {@link openPacket}. Every failure on that path is a {@link PacketDecryptionError}, which the
 * caller counts (RFC 9001 §6.6 integrity limit) and drops the packet.
 *
 * Nothing on the hot path allocates buffers: the nonce lives in the keys object and the mask in
 * module scratch (these functions are synchronous, so sharing it is safe).
 *
 * @module
 */
import { decodePacketNumber, writePacketNumber } from '../wire/packet-number.js';
import { writeNonce, type PacketKeys } from './keys.js';
import { AEAD_TAG_LENGTH, AeadAuthenticationError, type HeaderProtection } from './provider.js';

/** RFC 9001 §5.4.2: the sample starts 4 bytes after the start of the Packet Number field. */
export const HP_SAMPLE_OFFSET = 4;
/** RFC 9001 §5.4.2: the sample is 16 bytes for every AEAD QUIC v1 and v2 define. */
export const HP_SAMPLE_LENGTH = 16;
/**
 * Smallest packet number length + payload length (before the tag) a sender must reach so that the
 * header-protection sample exists (RFC 9001 §5.4.2); the builder pads to at least this.
 */
export const MIN_PN_AND_PAYLOAD_LENGTH = HP_SAMPLE_OFFSET;

/** Why a received packet could not be unprotected. */
export type PacketDecryptionFailure =
  /** Fewer than 4 + 16 bytes follow the packet number offset (RFC 9001 §5.4.2). */
  | 'too-short-for-sample'
  /** The AEAD tag did not verify, or the packet is too short to hold one (RFC 9001 §5.3). */
  | 'authentication'
  /** The offsets do not describe a packet inside the buffer (packet end beyond the datagram, …). */
  | 'malformed';

/**
 * A received packet could not be unprotected. The caller drops the packet and counts it; it is
 * never a connection error by itself (RFC 9001 §5.3, §9.5). Only `'authentication'` failures
 * count towards the AEAD integrity limit (RFC 9001 §6.6).
 */
export class PacketDecryptionError extends Error {
  /** Why the packet was dropped. */
  readonly reason: PacketDecryptionFailure;
  constructor(reason: PacketDecryptionFailure, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'PacketDecryptionError';
    this.reason = reason;
  }
}

/** Why a packet could not be protected (a packet builder bug, not a peer's doing). */
export type PacketProtectionFailure =
  /** Packet number + payload shorter than 4 bytes: no header-protection sample (RFC 9001 §5.4.2). */
  | 'too-short-for-sample'
  /** No room after the payload for the 16-byte tag, or for the sample, in the buffer. */
  | 'buffer-too-small'
  /** Inconsistent arguments: offsets out of order, a packet number length outside 1–4 or
   * different from the first byte's, a packet number that is not an integer in 0 … 2^53. */
  | 'invalid-argument';

/** Thrown by the sending functions when the packet cannot be protected as described. */
export class PacketProtectionError extends Error {
  /** What was wrong. */
  readonly reason: PacketProtectionFailure;
  constructor(reason: PacketProtectionFailure, message: string) {
    super(message);
    this.name = 'PacketProtectionError';
    this.reason = reason;
  }
}

/** The header fields revealed by removing header protection. */
export interface UnprotectedHeader {
  /** The first byte without protection (Key Phase and Reserved Bits readable; reserved bits are
   * checked by the caller only after the packet authenticates, RFC 9000 §17.2, §17.3.1). */
  readonly firstByte: number;
  /** Length of the Packet Number field, 1–4 bytes. */
  readonly pnLength: 1 | 2 | 3 | 4;
  /** The full packet number, decoded against the largest one processed (RFC 9000 §17.1, App. A.3). */
  readonly packetNumber: number;
}

/** Where a packet's header protection applies, for {@link applyHeaderProtectionBatch}. */
export interface PacketOffsets {
  /** Offset of the packet's first byte in the buffer. */
  readonly packetStart: number;
  /** Offset of the Packet Number field. */
  readonly pnOffset: number;
  /** Length of the Packet Number field, 1–4. */
  readonly pnLength: number;
}

const MAX_SAFE_PN = 2 ** 53;
const mask = new Uint8Array(16);

function isPnLength(n: number): n is 1 | 2 | 3 | 4 {
  return n === 1 || n === 2 || n === 3 || n === 4;
}

/**
 * Seals a packet's payload in place, without header protection (RFC 9001 §5.3).
 *
 * Writes the `pnLength`-byte truncated packet number at `pnOffset` (so the header written by the
 * caller may leave it blank), then encrypts `buf[pnOffset + pnLength, payloadEnd)` with the
 * header `buf[packetStart, pnOffset + pnLength)` as associated data, and writes the tag at
 * `payloadEnd`. Header protection must be applied afterwards, with
 * {@link applyHeaderProtection} or {@link applyHeaderProtectionBatch}.
 *
 * @param packetNumber the full packet number, an integer in 0 … 2^53.
 * @returns the end of the packet: `payloadEnd + 16`.
 * @throws {@link PacketProtectionError} if the packet is too short for the header-protection
 *   sample (the builder pads to prevent it, RFC 9001 §5.4.2), the buffer has no room for the tag,
 *   or the arguments are inconsistent (including a first byte whose Packet Number Length bits
 *   disagree with `pnLength`).
 */
export function sealPacket(
  keys: PacketKeys,
  buf: Uint8Array,
  packetStart: number,
  pnOffset: number,
  pnLength: number,
  packetNumber: number,
  payloadEnd: number,
): number {
  if (!isPnLength(pnLength)) throw new PacketProtectionError('invalid-argument', `packet number length ${pnLength} is not 1-4`);
  const payloadStart = pnOffset + pnLength;
  if (!(packetStart >= 0 && packetStart < pnOffset && payloadStart <= payloadEnd)) {
    throw new PacketProtectionError('invalid-argument', `offsets out of order: packet ${packetStart}, pn ${pnOffset}+${pnLength}, payload end ${payloadEnd}`);
  }
  if (!Number.isInteger(packetNumber) || packetNumber < 0 || packetNumber > MAX_SAFE_PN) {
    throw new PacketProtectionError('invalid-argument', `packet number ${packetNumber} is not an integer in 0 … 2^53`);
  }
  // RFC 9001 §5.4.2: the sample at pnOffset + 4 must fit in the protected packet, i.e. packet
  // number + payload >= 4 bytes.
  if (payloadEnd - pnOffset < MIN_PN_AND_PAYLOAD_LENGTH) {
    throw new PacketProtectionError('too-short-for-sample', `packet number and payload are ${payloadEnd - pnOffset} bytes; header protection needs ${MIN_PN_AND_PAYLOAD_LENGTH}`);
  }
  const packetEnd = payloadEnd + AEAD_TAG_LENGTH;
  if (packetEnd > buf.length) {
    throw new PacketProtectionError('buffer-too-small', `the tag needs bytes up to ${packetEnd}; the buffer has ${buf.length}`);
  }
  // RFC 9000 §17.2, §17.3.1: the two low bits of the first byte encode the Packet Number Length − 1.
  if ((buf[packetStart] & 0x03) + 1 !== pnLength) {
    throw new PacketProtectionError('invalid-argument', `first byte 0x${buf[packetStart].toString(16)} announces a ${(buf[packetStart] & 0x03) + 1}-byte packet number, not ${pnLength}`);
  }
  writePacketNumber(buf, pnOffset, packetNumber, pnLength);
  // RFC 9001 §5.3: nonce = IV XOR packet number; AAD = the header up to and including the packet number.
  keys.aead.seal(writeNonce(keys.iv, packetNumber, keys.nonce), buf.subarray(packetStart, payloadStart), buf, payloadStart, payloadEnd - payloadStart);
  return packetEnd;
}

/** XORs the mask at `m[mOffset, +5)` into the first byte and the packet number (RFC 9001 §5.4.1). */
function applyMask(buf: Uint8Array, packetStart: number, pnOffset: number, pnLength: number, m: Uint8Array, mOffset: number): void {
  // Long headers (Header Form bit 0x80 set) protect the low 4 bits, short headers the low 5.
  buf[packetStart] ^= m[mOffset] & ((buf[packetStart] & 0x80) !== 0 ? 0x0f : 0x1f);
  for (let i = 0; i < pnLength; i++) buf[pnOffset + i] ^= m[mOffset + 1 + i];
}

function checkHeaderProtectionArgs(buf: Uint8Array, packetStart: number, pnOffset: number, pnLength: number): void {
  if (!isPnLength(pnLength)) throw new PacketProtectionError('invalid-argument', `packet number length ${pnLength} is not 1-4`);
  if (!(packetStart >= 0 && packetStart < pnOffset)) {
    throw new PacketProtectionError('invalid-argument', `offsets out of order: packet ${packetStart}, pn ${pnOffset}`);
  }
  if (pnOffset + HP_SAMPLE_OFFSET + HP_SAMPLE_LENGTH > buf.length) {
    throw new PacketProtectionError('buffer-too-small', `the header-protection sample needs bytes up to ${pnOffset + HP_SAMPLE_OFFSET + HP_SAMPLE_LENGTH}; the buffer has ${buf.length}`);
  }
}

/**
 * Applies header protection to a sealed packet (RFC 9001 §5.4.1): the mask computed from the
 * 16-byte sample at `pnOffset + 4` (RFC 9001 §5.4.2) protects the low 4 (long header) or 5
 * (short header) bits of the first byte and the `pnLength` packet number bytes.
 *
 * @throws {@link PacketProtectionError} if the arguments are inconsistent or the sample lies
 *   beyond the buffer.
 */
export function applyHeaderProtection(hp: HeaderProtection, buf: Uint8Array, packetStart: number, pnOffset: number, pnLength: number): void {
  checkHeaderProtectionArgs(buf, packetStart, pnOffset, pnLength);
  hp.mask(buf, pnOffset + HP_SAMPLE_OFFSET, mask, 0);
  applyMask(buf, packetStart, pnOffset, pnLength, mask, 0);
}

let batchSamples = new Uint8Array(16 * 16);
let batchMasks = new Uint8Array(16 * 16);

/**
 * Applies header protection to `count` sealed packets of `buf` (e.g. the 1-RTT packets of a
 * batch of datagrams) with one {@link HeaderProtection.maskBatch} call: all samples are gathered
 * first, so the result is byte-for-byte the same as calling {@link applyHeaderProtection} on each.
 * All packets must be protected with the same header-protection key.
 *
 * @throws {@link PacketProtectionError} if any entry is inconsistent or its sample lies beyond
 *   the buffer; nothing is modified in that case.
 */
export function applyHeaderProtectionBatch(hp: HeaderProtection, buf: Uint8Array, packets: readonly PacketOffsets[], count: number = packets.length): void {
  if (!(Number.isInteger(count) && count >= 0 && count <= packets.length)) {
    throw new PacketProtectionError('invalid-argument', `count ${count} is not within 0-${packets.length}`);
  }
  if (count === 0) return;
  for (let i = 0; i < count; i++) {
    const p = packets[i];
    checkHeaderProtectionArgs(buf, p.packetStart, p.pnOffset, p.pnLength);
  }
  if (batchSamples.length < count * 16) {
    batchSamples = new Uint8Array(count * 16);
    batchMasks = new Uint8Array(count * 16);
  }
  const samples = batchSamples;
  const masks = batchMasks;
  for (let i = 0; i < count; i++) {
    const s = packets[i].pnOffset + HP_SAMPLE_OFFSET;
    for (let j = 0; j < HP_SAMPLE_LENGTH; j++) samples[i * 16 + j] = buf[s + j];
  }
  hp.maskBatch(samples, count, masks);
  for (let i = 0; i < count; i++) {
    const p = packets[i];
    applyMask(buf, p.packetStart, p.pnOffset, p.pnLength, masks, i * 16);
  }
}

/**
 * Seals a packet and applies its header protection: {@link sealPacket} then
 * {@link applyHeaderProtection}.
 *
 * @returns the end of the packet: `payloadEnd + 16`.
 * @throws {@link PacketProtectionError} as {@link sealPacket} does.
 */
export function protectPacket(
  keys: PacketKeys,
  buf: Uint8Array,
  packetStart: number,
  pnOffset: number,
  pnLength: number,
  packetNumber: number,
  payloadEnd: number,
): number {
  const end = sealPacket(keys, buf, packetStart, pnOffset, pnLength, packetNumber, payloadEnd);
  applyHeaderProtection(keys.hp, buf, packetStart, pnOffset, pnLength);
  return end;
}

/**
 * Removes header protection from a received packet in place (RFC 9001 §5.4.1): writes the
 * unprotected first byte and packet number bytes back into `buf` and decodes the full packet
 * number (RFC 9000 Appendix A.3).
 *
 * Header protection uses the same key in every key phase (RFC 9001 §6.1), so this step comes
 * before choosing which packet protection keys to try.
 *
 * @param packetEnd the end of the packet (for long headers, from the Length field).
 * @param largestPn the largest packet number successfully processed in this packet number
 *   space, or −1 if none.
 * @throws {@link PacketDecryptionError} `'too-short-for-sample'` if fewer than 20 bytes follow
 *   `pnOffset` (RFC 9001 §5.4.2), `'malformed'` if the offsets do not lie inside the buffer.
 */
export function removeHeaderProtection(
  hp: HeaderProtection,
  buf: Uint8Array,
  packetStart: number,
  pnOffset: number,
  packetEnd: number,
  largestPn: number,
): UnprotectedHeader {
  const packetNumber = unprotectHeader(hp, buf, packetStart, pnOffset, packetEnd, largestPn);
  const firstByte = buf[packetStart];
  return { firstByte, pnLength: ((firstByte & 0x03) + 1) as 1 | 2 | 3 | 4, packetNumber };
}

/**
 * {@link removeHeaderProtection} without a result object, for the receive path: returns the full
 * packet number; the unprotected first byte is `buf[packetStart]` afterwards (its two low bits +1
 * give the packet number length). Same checks, same errors.
 */
export function unprotectHeader(hp: HeaderProtection, buf: Uint8Array, packetStart: number, pnOffset: number, packetEnd: number, largestPn: number): number {
  if (!(packetStart >= 0 && packetStart < pnOffset && packetEnd <= buf.length)) {
    throw new PacketDecryptionError('malformed', `packet ${packetStart}..${packetEnd} with pn at ${pnOffset} is not inside a ${buf.length}-byte buffer`);
  }
  // RFC 9001 §5.4.2: the sample is taken as if the packet number were 4 bytes long.
  if (pnOffset + HP_SAMPLE_OFFSET + HP_SAMPLE_LENGTH > packetEnd) {
    throw new PacketDecryptionError('too-short-for-sample', `packet ends ${packetEnd - pnOffset} bytes after the packet number offset; the sample needs ${HP_SAMPLE_OFFSET + HP_SAMPLE_LENGTH}`);
  }
  hp.mask(buf, pnOffset + HP_SAMPLE_OFFSET, mask, 0);
  const protectedFirst = buf[packetStart];
  const firstByte = protectedFirst ^ (mask[0] & ((protectedFirst & 0x80) !== 0 ? 0x0f : 0x1f));
  buf[packetStart] = firstByte;
  const pnLength = (firstByte & 0x03) + 1;
  let truncated = 0;
  for (let i = 0; i < pnLength; i++) {
    const b = buf[pnOffset + i] ^ mask[1 + i];
    buf[pnOffset + i] = b;
    truncated = truncated * 256 + b;
  }
  return decodePacketNumber(largestPn, truncated, pnLength * 8);
}

/**
 * Authenticates and decrypts a packet's payload in place (RFC 9001 §5.3), after
 * {@link removeHeaderProtection}. The payload starts at `pnOffset + pnLength`; the plaintext
 * replaces the ciphertext there.
 *
 * With the providers of this package a failed open leaves `buf` unchanged, so the caller can try
 * the keys of the other key phase on the same bytes (RFC 9001 §6.3).
 *
 * @returns the end of the plaintext payload: `packetEnd − 16`.
 * @throws {@link PacketDecryptionError} `'authentication'` if the tag does not verify or the
 *   packet is too short to hold one; `'malformed'` if the offsets do not lie inside the buffer.
 */
export function openPacket(
  keys: PacketKeys,
  buf: Uint8Array,
  packetStart: number,
  pnOffset: number,
  pnLength: number,
  packetNumber: number,
  packetEnd: number,
): number {
  const payloadStart = pnOffset + pnLength;
  if (!(packetStart >= 0 && packetStart < pnOffset && isPnLength(pnLength) && payloadStart <= packetEnd && packetEnd <= buf.length)) {
    throw new PacketDecryptionError('malformed', `packet ${packetStart}..${packetEnd} with a ${pnLength}-byte pn at ${pnOffset} is not inside a ${buf.length}-byte buffer`);
  }
  const sealedLength = packetEnd - payloadStart;
  if (sealedLength < AEAD_TAG_LENGTH) {
    throw new PacketDecryptionError('authentication', `payload of ${sealedLength} bytes cannot hold the ${AEAD_TAG_LENGTH}-byte tag`);
  }
  try {
    keys.aead.open(writeNonce(keys.iv, packetNumber, keys.nonce), buf.subarray(packetStart, payloadStart), buf, payloadStart, sealedLength);
  } catch (e) {
    if (e instanceof AeadAuthenticationError) throw new PacketDecryptionError('authentication', 'packet authentication failed', e);
    throw e;
  }
  return packetEnd - AEAD_TAG_LENGTH;
}
