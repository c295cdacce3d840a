/**
 * A client's handling of a Version Negotiation packet (RFC 9000 §6.2, §17.2.1; RFC 8999 §6).
 *
 * The decision is pure; the connection applies it: `ignore` drops the packet, `fail` abandons the
 * connection attempt, `switch` starts over with the chosen version and a fresh Initial.
 *
 * Not implemented: compatible version negotiation and its downgrade protection, the
 * version_information transport parameter (RFC 9368). A switch here is an incompatible one: the
 * new attempt starts from scratch with the version the server listed.
 *
 * @module
 */
import type { ParsedVersionNegotiationPacket } from '../wire/header.js';
import { SUPPORTED_VERSIONS, isSupportedVersion, type QuicVersion } from '../wire/version.js';
import { connectionIdEquals } from './connection-ids.js';

/** What a client does with a Version Negotiation packet. */
export type VersionNegotiationDecision =
  /** Drop the packet; nothing changes. */
  | { readonly action: 'ignore'; readonly why: string }
  /** No version in common: abandon the connection attempt (RFC 9000 §6.2). */
  | { readonly action: 'fail'; readonly offered: readonly number[] }
  /** Start over with `version`. */
  | { readonly action: 'switch'; readonly version: QuicVersion };

/** The client's side of the connection attempt, as a Version Negotiation packet is judged against it. */
export interface VersionNegotiationContext {
  /** The version of our Initial packets. */
  readonly version: QuicVersion;
  /** Our Source Connection ID: the packet's Destination Connection ID must equal it (RFC 8999 §6). */
  readonly sourceCid: Uint8Array;
  /** The Destination Connection ID of our Initial packets: the packet's Source Connection ID must equal it (RFC 8999 §6). */
  readonly destinationCid: Uint8Array;
  /** True once any other packet (an Initial, a Retry, an earlier Version Negotiation) was processed. */
  readonly packetProcessed: boolean;
}

/**
 * Judges a Version Negotiation packet received by a client (RFC 9000 §6.2):
 * - ignored when any other packet was processed before, "including an earlier Version
 *   Negotiation packet", when it lists the version we use, or when its connection IDs do not echo
 *   ours (RFC 8999 §6: the server copies them, so others come from elsewhere);
 * - otherwise `switch` to the first of our supported versions it lists, or `fail` when it lists
 *   none of them.
 */
export function judgeVersionNegotiation(packet: ParsedVersionNegotiationPacket, ctx: VersionNegotiationContext): VersionNegotiationDecision {
  if (ctx.packetProcessed) return { action: 'ignore', why: 'a packet was already processed on this connection' };
  if (!connectionIdEquals(packet.dcid, ctx.sourceCid) || !connectionIdEquals(packet.scid, ctx.destinationCid)) {
    return { action: 'ignore', why: 'its connection IDs do not echo those of our Initial' };
  }
  // RFC 9000 §6.2: "A client MUST discard a Version Negotiation packet that lists the QUIC version selected by the client."
  if (packet.supportedVersions.includes(ctx.version)) return { action: 'ignore', why: 'it lists the version we use' };
  for (const v of SUPPORTED_VERSIONS) {
    if (isSupportedVersion(v) && packet.supportedVersions.includes(v)) return { action: 'switch', version: v };
  }
  return { action: 'fail', offered: packet.supportedVersions };
}
