/**
 * The rules RFC 9001 adds to TLS messages when TLS carries QUIC, as checks the handshake machines
 * call on decoded messages.
 *
 * @module
 */
import { QuicError, TransportErrorCode } from '../../wire/errors.js';
import { TlsAlert, TlsAlertError } from '../alerts.js';
import { ProtocolVersion, QUIC_MAX_EARLY_DATA_SIZE } from '../constants.js';
import { findExtension, requireExtension } from '../extensions.js';
import type { ClientHello } from './hello.js';
import type { EncryptedExtensions } from './server-params.js';
import type { NewSessionTicket } from './ticket.js';

/** What a server takes from a ClientHello that passed {@link checkQuicClientHello}. */
export interface QuicClientHelloParams {
  /** The client's encoded transport parameters (RFC 9000 §18), for QUIC to decode. */
  readonly transportParameters: Uint8Array;
}

/** What a client takes from EncryptedExtensions that passed {@link checkQuicEncryptedExtensions}. */
export interface QuicEncryptedExtensionsParams {
  /** The server's encoded transport parameters (RFC 9000 §18), for QUIC to decode. */
  readonly transportParameters: Uint8Array;
  /** The application protocol the server selected, when ALPN was negotiated. */
  readonly alpn: Uint8Array | undefined;
}

/**
 * Server-side checks of a ClientHello carried by QUIC:
 * - RFC 9001 §4.2: a ClientHello that does not offer TLS 1.3 (0x0304 in supported_versions) could
 *   only negotiate an older version, which QUIC forbids → protocol_version;
 * - RFC 9001 §8.4: a non-empty legacy_session_id (middlebox compatibility mode) is a connection
 *   error of type PROTOCOL_VIOLATION (a {@link QuicError}, not a TLS alert);
 * - RFC 9001 §8.2: quic_transport_parameters missing → missing_extension (0x016d).
 */
export function checkQuicClientHello(ch: ClientHello): QuicClientHelloParams {
  if (!findExtension(ch.extensions, 'supported_versions')?.versions.includes(ProtocolVersion.TLS13)) {
    throw new TlsAlertError(TlsAlert.protocol_version, 'ClientHello does not offer TLS 1.3, which QUIC requires');
  }
  if (ch.legacySessionId.length !== 0) {
    throw new QuicError(TransportErrorCode.PROTOCOL_VIOLATION, 'ClientHello requests TLS middlebox compatibility mode (non-empty legacy_session_id)');
  }
  return { transportParameters: requireExtension(ch.extensions, 'quic_transport_parameters', 'ClientHello').data };
}

/** Options of {@link checkQuicEncryptedExtensions}. */
export interface QuicEncryptedExtensionsOptions {
  /** Whether the connection negotiates its application protocol with ALPN (default true, RFC 9001 §8.1). */
  readonly requireAlpn?: boolean;
  /** The protocols the client's ClientHello offered; the server's choice must be one of them. */
  readonly offeredAlpn?: readonly Uint8Array[];
}

/**
 * Client-side checks of EncryptedExtensions carried by QUIC:
 * - RFC 9001 §8.2: quic_transport_parameters missing → missing_extension (0x016d);
 * - RFC 9001 §8.1: when the connection uses ALPN (`requireAlpn`, the default), a server that
 *   selected no protocol, or (given `offeredAlpn`) one the client did not offer →
 *   no_application_protocol (0x0178).
 */
export function checkQuicEncryptedExtensions(ee: EncryptedExtensions, options: QuicEncryptedExtensionsOptions = {}): QuicEncryptedExtensionsParams {
  const transportParameters = requireExtension(ee.extensions, 'quic_transport_parameters', 'EncryptedExtensions').data;
  const alpn = findExtension(ee.extensions, 'alpn')?.protocols[0];
  if ((options.requireAlpn ?? true) && alpn === undefined) {
    throw new TlsAlertError(TlsAlert.no_application_protocol, 'server selected no application protocol');
  }
  if (alpn !== undefined && options.offeredAlpn !== undefined && !options.offeredAlpn.some((p) => sameBytes(p, alpn))) {
    throw new TlsAlertError(TlsAlert.no_application_protocol, 'server selected an application protocol the client did not offer');
  }
  return { transportParameters, alpn };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/**
 * Client-side check of a NewSessionTicket carried by QUIC (RFC 9001 §4.6.1): an early_data
 * extension whose max_early_data_size is not 0xffffffff is a connection error of type
 * PROTOCOL_VIOLATION. Returns whether the ticket allows 0-RTT.
 */
export function checkQuicNewSessionTicket(nst: NewSessionTicket): boolean {
  const early = findExtension(nst.extensions, 'early_data_ticket');
  if (early === undefined) return false;
  if (early.maxEarlyDataSize !== QUIC_MAX_EARLY_DATA_SIZE) {
    throw new QuicError(
      TransportErrorCode.PROTOCOL_VIOLATION,
      `NewSessionTicket early_data max_early_data_size is 0x${early.maxEarlyDataSize.toString(16)}, not 0xffffffff`,
    );
  }
  return true;
}
