/**
 * A stateless CONNECTION_CLOSE in an Initial packet: how a server refuses a client Initial without
 * creating a connection — e.g. one carrying an invalid Retry token, answered with INVALID_TOKEN
 * (RFC 9000 §8.1.3).
 *
 * The packet is protected with the server's Initial keys derived from the client's Destination
 * Connection ID (RFC 9001 §5.2), which is all the client needs to read it. It is not
 * ack-eliciting, so it needs no padding to 1200 bytes (RFC 9000 §14.1), and it is far smaller
 * than the 1200-byte datagram that triggered it (the anti-amplification limit, §8.1).
 *
 * @module
 */
import { initialKeys } from '../crypto/keys.js';
import { protectPacket } from '../crypto/packet-protection.js';
import type { CryptoProvider } from '../crypto/provider.js';
import { encodeFrame } from '../wire/frames/encode.js';
import { setLongHeaderLength, writeLongHeader } from '../wire/header-write.js';
import type { QuicVersion } from '../wire/version.js';

/** What {@link buildInitialClose} answers. */
export interface InitialCloseFields {
  /** The version of the client's Initial. */
  readonly version: QuicVersion;
  /** The Destination Connection ID of the client's Initial: keys the packet, and is our Source Connection ID. */
  readonly clientDestinationCid: Uint8Array;
  /** The Source Connection ID of the client's Initial: the packet's Destination Connection ID. */
  readonly clientSourceCid: Uint8Array;
  /** The transport error code (RFC 9000 §20.1). */
  readonly errorCode: number;
  /** The reason phrase (UTF-8, kept short). */
  readonly reason: string;
}

/** Builds one datagram: an Initial packet (packet number 0) carrying a transport CONNECTION_CLOSE. */
export function buildInitialClose(provider: CryptoProvider, fields: InitialCloseFields): Uint8Array {
  const keys = initialKeys(provider, fields.version, fields.clientDestinationCid, 'server').send;
  const reason = new TextEncoder().encode(fields.reason).subarray(0, 100);
  const buf = new Uint8Array(64 + fields.clientDestinationCid.length + fields.clientSourceCid.length + reason.length);
  const layout = writeLongHeader(buf, 0, {
    type: 'initial',
    version: fields.version,
    dcid: fields.clientSourceCid,
    scid: fields.clientDestinationCid,
    packetNumber: 0,
    pnLength: 1,
    lengthFieldSize: 2,
  });
  let end = encodeFrame(buf, layout.payloadOffset, { kind: 'connectionClose', application: false, errorCode: BigInt(fields.errorCode), frameType: 0, reason });
  // RFC 9001 §5.4.2: packet number + payload ≥ 4 bytes for the header-protection sample; PADDING
  // frames (zero bytes) fill the gap.
  while (end - layout.pnOffset < 4) buf[end++] = 0;
  setLongHeaderLength(buf, layout.lengthOffset, 2, end - layout.pnOffset + 16);
  const packetEnd = protectPacket(keys, buf, 0, layout.pnOffset, 1, 0, end);
  return buf.slice(0, packetEnd);
}
