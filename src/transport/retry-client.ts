/**
 * A client's handling of a Retry packet (RFC 9000 §17.2.5.2, §7.3; RFC 9001 §5.8).
 *
 * The decision is pure; the connection applies an accepted Retry: the Retry's Source Connection
 * ID becomes the Destination Connection ID, its token goes in every later Initial, the Initial
 * keys are derived again from the new Destination Connection ID, loss recovery restarts
 * (RFC 9002 §6.3) and the ClientHello is sent again; the server's retry_source_connection_id
 * transport parameter is checked against the Retry's Source Connection ID later (RFC 9000 §7.3).
 *
 * @module
 */
import type { CryptoProvider } from '../crypto/provider.js';
import { verifyRetryIntegrityTag } from '../crypto/retry.js';
import type { ParsedRetryPacket } from '../wire/header.js';
import type { QuicVersion } from '../wire/version.js';
import { connectionIdEquals } from './connection-ids.js';

/** The client's side of the connection attempt, as a Retry packet is judged against it. */
export interface RetryContext {
  /** The version of our Initial packets. */
  readonly version: QuicVersion;
  /** Our Source Connection ID: the Retry's Destination Connection ID must equal it. */
  readonly sourceCid: Uint8Array;
  /** The Destination Connection ID of the Initial the Retry answers (the integrity tag covers it). */
  readonly destinationCid: Uint8Array;
  /** True once a Retry was accepted, or any packet from the server processed. */
  readonly retryOrInitialProcessed: boolean;
}

/** What the client does with a Retry packet. */
export type RetryDecision =
  /** Drop it. */
  | { readonly action: 'ignore'; readonly why: string }
  /** Act on it, with copies of its Source Connection ID and token. */
  | { readonly action: 'accept'; readonly sourceCid: Uint8Array; readonly token: Uint8Array };

/**
 * Judges a Retry packet (`packet`, parsed from `datagram`) received by a client. It is ignored
 * when (RFC 9000 §17.2.5.2) a Retry or an Initial from the server was already processed ("A
 * client MUST accept and process at most one Retry packet"), its version or Destination
 * Connection ID is not ours, its Source Connection ID equals the Destination Connection ID of our
 * Initial, or its integrity tag does not verify (RFC 9001 §5.8). (An empty token never gets here:
 * the header parser drops it.)
 */
export function judgeRetry(provider: CryptoProvider, datagram: Uint8Array, packet: ParsedRetryPacket, ctx: RetryContext): RetryDecision {
  if (ctx.retryOrInitialProcessed) return { action: 'ignore', why: 'a Retry or an Initial from the server was already processed' };
  if (packet.version !== ctx.version) return { action: 'ignore', why: 'it is not of our version' };
  if (!connectionIdEquals(packet.dcid, ctx.sourceCid)) return { action: 'ignore', why: 'its Destination Connection ID is not ours' };
  if (connectionIdEquals(packet.scid, ctx.destinationCid)) {
    return { action: 'ignore', why: 'its Source Connection ID equals the Destination Connection ID of our Initial' };
  }
  if (!verifyRetryIntegrityTag(provider, packet.version, ctx.destinationCid, datagram.subarray(packet.packetStart, packet.packetEnd))) {
    return { action: 'ignore', why: 'its Retry Integrity Tag does not verify' };
  }
  return { action: 'accept', sourceCid: packet.scid.slice(), token: packet.token.slice() };
}
