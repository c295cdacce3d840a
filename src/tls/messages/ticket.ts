/**
 * NewSessionTicket (RFC 8446 §4.6.1).
 *
 * @module
 */
import { decodeExtensions, encodeExtensions, type NewSessionTicketExtension } from '../extensions.js';
import { encodeError, TlsReader, type TlsSink } from './wire.js';

/** The longest ticket_lifetime a server may send, in seconds: 7 days (RFC 8446 §4.6.1). */
export const MAX_TICKET_LIFETIME = 604800;

/** NewSessionTicket (RFC 8446 §4.6.1). */
export interface NewSessionTicket {
  /** Discriminator. */
  readonly kind: 'new_session_ticket';
  /**
   * ticket_lifetime in seconds. Servers send at most {@link MAX_TICKET_LIFETIME}; a larger received
   * value is kept as is (clients cap the use of a ticket at 7 days themselves, RFC 8446 §4.6.1).
   */
  readonly lifetime: number;
  /** ticket_age_add, a uint32. */
  readonly ageAdd: number;
  /** ticket_nonce, 0–255 bytes; the resumption PSK is derived from it (`resumptionPsk`). */
  readonly nonce: Uint8Array;
  /** The ticket, 1 to 2^16−1 bytes, used as the PSK identity. */
  readonly ticket: Uint8Array;
  /** The extensions (early_data carries max_early_data_size). */
  readonly extensions: readonly NewSessionTicketExtension[];
}

/** Decodes a NewSessionTicket body. */
export function decodeNewSessionTicket(body: Uint8Array): NewSessionTicket {
  const r = new TlsReader(body);
  const lifetime = r.u32('ticket_lifetime');
  const ageAdd = r.u32('ticket_age_add');
  const nonce = r.vector(1, 'ticket_nonce');
  const ticket = r.vector(2, 'ticket', 1);
  const extensions = decodeExtensions(r, 'new_session_ticket');
  r.finish('NewSessionTicket');
  return { kind: 'new_session_ticket', lifetime, ageAdd, nonce, ticket, extensions };
}

/** Appends a NewSessionTicket body; refuses a lifetime above 7 days (RFC 8446 §4.6.1: servers MUST NOT). */
export function encodeNewSessionTicket(sink: TlsSink, nst: NewSessionTicket): void {
  if (nst.lifetime > MAX_TICKET_LIFETIME) encodeError(`ticket_lifetime ${nst.lifetime} exceeds ${MAX_TICKET_LIFETIME} s`);
  sink.u32(nst.lifetime);
  sink.u32(nst.ageAdd);
  sink.vector(1, 'ticket_nonce', () => sink.bytes(nst.nonce));
  sink.vector(2, 'ticket', () => sink.bytes(nst.ticket), 1);
  encodeExtensions(sink, 'new_session_ticket', nst.extensions);
}
