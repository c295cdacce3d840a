/**
 * Session tickets (RFC 8446 §4.6.1): the encrypted ticket format this server issues, and what a
 * client keeps of the tickets it receives.
 *
 * ## Server: the ticket is the session state, sealed with a server key
 *
 * The server keeps no per-ticket state: a ticket carries everything resumption needs, encrypted and
 * authenticated with a 32-byte key the server operator configures (shared by every server that
 * should accept the ticket, rotated by the operator):
 *
 * ```text
 * ticket    = format (1) = 0x01
 *           ‖ key_id (4)  = first 4 bytes of SHA-256("quic-actors ticket key" ‖ key)
 *           ‖ nonce (12)  random, per ticket
 *           ‖ AES-256-GCM(key, nonce, aad = format ‖ key_id ‖ nonce, plaintext) ‖ tag (16)
 * plaintext = struct {                       (TLS presentation language, RFC 8446 §3)
 *               uint8  version = 1;
 *               uint16 cipher_suite;
 *               uint32 issued_at_high; uint32 issued_at_low;    // ms, the server's `now` at issue
 *               uint32 ticket_lifetime;                         // seconds, as in NewSessionTicket
 *               uint32 ticket_age_add;                          // as in NewSessionTicket
 *               opaque resumption_psk<32..48>;                  // HKDF-Expand-Label(resumption_secret, "resumption", nonce)
 *               opaque alpn<1..255>;                            // the negotiated protocol
 *               opaque server_name<0..255>;                     // the SNI the client sent, if any
 *               opaque client_certificate_sha256<0..32>;        // SHA-256 of the client's end-entity certificate, if it sent one
 *             }
 * ```
 *
 * The key id lets a server holding several keys (during rotation) pick the right one. A random
 * 96-bit nonce per ticket keeps nonce collisions negligible while one key seals fewer than 2^32
 * tickets (NIST SP 800-38D §8.3); rotate keys well before that. {@link openSessionTicket} refuses
 * — by returning `undefined`, never by throwing — tickets of another format or key, forged or
 * corrupted tickets, and expired ones. Resumption (accepting a ticket as a PSK) is not implemented
 * yet; this format is what it will read.
 *
 * ## Client: what a received ticket is worth
 *
 * A {@link SessionTicket} holds the ticket, the resumption PSK derived from it, the parameters the
 * resumed connection must match (ALPN, cipher suite's hash, server name) and the server's
 * transport parameters (which 0-RTT must remember, RFC 9000 §7.4.1). A {@link TlsTicketStore}
 * receives them; {@link MemoryTicketStore} keeps them in memory, single-use (RFC 8446 §C.4).
 *
 * @module
 */
import type { CryptoProvider } from '../crypto/provider.js';
import { AeadAuthenticationError } from '../crypto/provider.js';
import { TlsAlert, TlsAlertError } from './alerts.js';
import type { CipherSuiteValue } from './cipher-suites.js';
import { MAX_TICKET_LIFETIME } from './messages/ticket.js';
import { encodeToBytes, TlsReader } from './messages/wire.js';

/** Length in bytes of a session ticket key (AES-256-GCM). */
export const SESSION_TICKET_KEY_LENGTH = 32;

const FORMAT = 0x01;
const PLAINTEXT_VERSION = 1;
const HEADER_LENGTH = 1 + 4 + 12;
const TAG_LENGTH = 16;
const KEY_ID_LABEL = new TextEncoder().encode('quic-actors ticket key');

/** The session state sealed inside a ticket. */
export interface SessionTicketState {
  /** The cipher suite of the connection that issued the ticket (its hash is the PSK's hash). */
  readonly cipherSuite: CipherSuiteValue;
  /** When the ticket was issued, in ms (the issuing server's `now`). */
  readonly issuedAt: number;
  /** ticket_lifetime in seconds (at most 7 days, RFC 8446 §4.6.1). */
  readonly lifetime: number;
  /** ticket_age_add (RFC 8446 §4.6.1), to de-obfuscate the client's ticket age. */
  readonly ageAdd: number;
  /** The resumption PSK (Hash.length bytes). */
  readonly psk: Uint8Array;
  /** The negotiated ALPN protocol. */
  readonly alpn: Uint8Array;
  /** The server name the client sent (SNI), if any. */
  readonly serverName: string | undefined;
  /** SHA-256 of the client's end-entity certificate when the client authenticated. */
  readonly clientCertificateSha256: Uint8Array | undefined;
}

function checkKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== SESSION_TICKET_KEY_LENGTH) {
    throw new TlsAlertError(TlsAlert.internal_error, `a session ticket key is ${SESSION_TICKET_KEY_LENGTH} bytes, got ${key?.length}`);
  }
}

/** The 4-byte key id of a ticket key (see the module documentation). */
export function sessionTicketKeyId(provider: CryptoProvider, key: Uint8Array): Uint8Array {
  checkKey(key);
  const input = new Uint8Array(KEY_ID_LABEL.length + key.length);
  input.set(KEY_ID_LABEL, 0);
  input.set(key, KEY_ID_LABEL.length);
  return provider.digest('sha256', input).subarray(0, 4);
}

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });

function encodePlaintext(state: SessionTicketState): Uint8Array {
  return encodeToBytes((sink) => {
    sink.u8(PLAINTEXT_VERSION);
    sink.u16(state.cipherSuite);
    sink.u32(Math.floor(state.issuedAt / 2 ** 32));
    sink.u32(state.issuedAt % 2 ** 32);
    sink.u32(state.lifetime);
    sink.u32(state.ageAdd);
    sink.vector(1, 'resumption_psk', () => sink.bytes(state.psk), 32, 48);
    sink.vector(1, 'alpn', () => sink.bytes(state.alpn), 1);
    sink.vector(1, 'server_name', () => sink.bytes(textEncoder.encode(state.serverName ?? '')));
    sink.vector(1, 'client_certificate_sha256', () => sink.bytes(state.clientCertificateSha256 ?? new Uint8Array(0)), 0, 32);
  });
}

/**
 * Seals `state` into a ticket with `key` (see the module documentation for the format).
 *
 * @throws TlsAlertError(internal_error) for a key of the wrong length or a state that cannot be
 *   encoded (a local bug).
 */
export function sealSessionTicket(provider: CryptoProvider, key: Uint8Array, state: SessionTicketState): Uint8Array {
  checkKey(key);
  if (!Number.isSafeInteger(state.issuedAt) || state.issuedAt < 0) {
    throw new TlsAlertError(TlsAlert.internal_error, `ticket issue time ${state.issuedAt} is not a non-negative integer of ms`);
  }
  const plaintext = encodePlaintext(state);
  const ticket = new Uint8Array(HEADER_LENGTH + plaintext.length + TAG_LENGTH);
  ticket[0] = FORMAT;
  ticket.set(sessionTicketKeyId(provider, key), 1);
  ticket.set(provider.randomBytes(12), 5);
  ticket.set(plaintext, HEADER_LENGTH);
  plaintext.fill(0);
  provider.aead('aes-256-gcm', key).seal(ticket.subarray(5, HEADER_LENGTH), ticket.subarray(0, HEADER_LENGTH), ticket, HEADER_LENGTH, ticket.length - HEADER_LENGTH - TAG_LENGTH);
  return ticket;
}

/**
 * Opens a ticket sealed by {@link sealSessionTicket} with one of `keys`, and checks that it has not
 * expired at `now` (ms). Returns `undefined` — never throws — for a ticket of another format, of an
 * unknown key, forged, corrupted, expired (older than its lifetime, RFC 8446 §4.6.1) or issued in
 * the future; the caller then ignores the ticket (RFC 8446 §4.2.11: a server may decline a PSK).
 *
 * @throws TlsAlertError(internal_error) for a key of the wrong length (a configuration error).
 */
export function openSessionTicket(
  provider: CryptoProvider,
  keys: Uint8Array | readonly Uint8Array[],
  ticket: Uint8Array,
  now: number,
): SessionTicketState | undefined {
  const list = keys instanceof Uint8Array ? [keys] : keys;
  list.forEach(checkKey);
  if (ticket.length < HEADER_LENGTH + TAG_LENGTH || ticket[0] !== FORMAT) return undefined;
  const keyId = ticket.subarray(1, 5);
  const key = list.find((k) => sessionTicketKeyId(provider, k).every((b, i) => b === keyId[i]));
  if (key === undefined) return undefined;
  const copy = ticket.slice();
  let length: number;
  try {
    length = provider.aead('aes-256-gcm', key).open(copy.subarray(5, HEADER_LENGTH), copy.subarray(0, HEADER_LENGTH), copy, HEADER_LENGTH, copy.length - HEADER_LENGTH);
  } catch (e) {
    if (e instanceof AeadAuthenticationError) return undefined;
    throw e;
  }
  let state: SessionTicketState;
  try {
    const r = new TlsReader(copy, HEADER_LENGTH, HEADER_LENGTH + length);
    if (r.u8('version') !== PLAINTEXT_VERSION) return undefined;
    const cipherSuite = r.u16('cipher_suite') as CipherSuiteValue;
    const issuedAt = r.u32('issued_at_high') * 2 ** 32 + r.u32('issued_at_low');
    const lifetime = r.u32('ticket_lifetime');
    const ageAdd = r.u32('ticket_age_add');
    const psk = r.vector(1, 'resumption_psk', 32, 48).slice();
    const alpn = r.vector(1, 'alpn', 1).slice();
    const name = r.vector(1, 'server_name');
    const cert = r.vector(1, 'client_certificate_sha256', 0, 32);
    r.finish('ticket');
    state = {
      cipherSuite,
      issuedAt,
      lifetime,
      ageAdd,
      psk,
      alpn,
      serverName: name.length === 0 ? undefined : textDecoder.decode(name),
      clientCertificateSha256: cert.length === 0 ? undefined : cert.slice(),
    };
  } catch {
    return undefined; // authenticated but unreadable: a ticket from an incompatible build
  } finally {
    copy.fill(0);
  }
  // RFC 8446 §4.6.1: a ticket is not used beyond its lifetime (and never beyond 7 days).
  if (now < state.issuedAt || now >= state.issuedAt + Math.min(state.lifetime, MAX_TICKET_LIFETIME) * 1000) return undefined;
  return state;
}

/** A ticket a client received, with what it needs to resume (RFC 8446 §4.6.1, RFC 9001 §4.5). */
export interface SessionTicket {
  /** The server identity the ticket is for: the SNI host name, or the IP address when no SNI was sent. */
  readonly serverName: string;
  /** The negotiated ALPN protocol (a resumed connection with 0-RTT must use the same, RFC 9001 §4.6.1). */
  readonly alpn: string;
  /** The cipher suite of the connection; the PSK may only be used with a suite of the same hash (RFC 8446 §4.2.11). */
  readonly cipherSuite: CipherSuiteValue;
  /** The opaque ticket: the PSK identity to offer (RFC 8446 §4.2.11). */
  readonly ticket: Uint8Array;
  /** The resumption PSK (RFC 8446 §4.6.1). */
  readonly psk: Uint8Array;
  /** ticket_age_add, to obfuscate the ticket age (RFC 8446 §4.2.11.1). */
  readonly ageAdd: number;
  /** How long the ticket may be used, in seconds (capped at 7 days, RFC 8446 §4.6.1). */
  readonly lifetime: number;
  /** When the ticket was received, in ms (the client's `now`). */
  readonly receivedAt: number;
  /** max_early_data_size: 0xffffffff when the server allows 0-RTT with it (RFC 9001 §4.6.1), else 0. */
  readonly maxEarlyDataSize: number;
  /** The server's transport parameters, remembered for 0-RTT (RFC 9000 §7.4.1). */
  readonly peerTransportParameters: Uint8Array;
}

/** Where a client puts the tickets it receives. */
export interface TlsTicketStore {
  /** Keeps `ticket` for a later connection to `ticket.serverName`. */
  add(ticket: SessionTicket): void;
}

/**
 * An in-memory {@link TlsTicketStore}: at most `maxPerServer` tickets per server (oldest dropped
 * first); {@link take} hands out each ticket once (RFC 8446 §C.4: clients SHOULD NOT reuse a ticket).
 */
export class MemoryTicketStore implements TlsTicketStore {
  private readonly tickets = new Map<string, SessionTicket[]>();
  /** The most tickets kept per server. */
  readonly maxPerServer: number;

  constructor(maxPerServer = 8) {
    if (!Number.isInteger(maxPerServer) || maxPerServer < 1) throw new TlsAlertError(TlsAlert.internal_error, `maxPerServer must be a positive integer, got ${maxPerServer}`);
    this.maxPerServer = maxPerServer;
  }

  /** Keeps `ticket` (a ticket of lifetime 0 is discarded, RFC 8446 §4.6.1). */
  add(ticket: SessionTicket): void {
    if (ticket.lifetime === 0) return;
    const list = this.tickets.get(ticket.serverName) ?? [];
    list.push(ticket);
    while (list.length > this.maxPerServer) list.shift();
    this.tickets.set(ticket.serverName, list);
  }

  /** Removes and returns the newest ticket for `serverName` still valid at `now` (ms); expired ones are dropped. */
  take(serverName: string, now: number): SessionTicket | undefined {
    const list = this.tickets.get(serverName);
    if (list === undefined) return undefined;
    const valid = list.filter((t) => now >= t.receivedAt && now < t.receivedAt + t.lifetime * 1000);
    const ticket = valid.pop();
    if (valid.length === 0) this.tickets.delete(serverName);
    else this.tickets.set(serverName, valid);
    return ticket;
  }

  /** The number of tickets held (expired ones included until the next {@link take}). */
  get size(): number {
    let n = 0;
    for (const list of this.tickets.values()) n += list.length;
    return n;
  }
}
