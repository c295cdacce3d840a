/**
 * What a TLS session tells the QUIC connection (RFC 9001 §4.1): handshake bytes to send per
 * encryption level, traffic secrets as they become available, the peer's transport parameters,
 * handshake completion, session tickets and failure. The connection drains them in order after
 * each call into the session.
 *
 * @module
 */
import type { KeyExchangeGroup } from '../crypto/provider.js';
import type { QuicError } from '../wire/errors.js';
import type { TlsHandshakeLevel } from '../../machines/tls-common.js';
import type { CipherSuiteParams } from './cipher-suites.js';
import type { SessionTicket } from './tickets.js';

export type { TlsHandshakeLevel } from '../../machines/tls-common.js';

/** Handshake bytes to append to the CRYPTO stream of `level` (RFC 9001 §4.1.3). */
export interface TlsHandshakeDataEvent {
  /** Discriminator. */
  readonly type: 'handshake_data';
  /** The encryption level whose CRYPTO frames carry the bytes. */
  readonly level: TlsHandshakeLevel;
  /** The bytes: one or more whole handshake messages. */
  readonly data: Uint8Array;
}

/**
 * A traffic secret for one encryption level and direction (RFC 9001 §4.1.4, §5.1): QUIC derives
 * the packet protection keys from it with the cipher suite's AEAD and hash. `handshake` secrets
 * are the handshake traffic secrets, `oneRtt` secrets the application traffic secrets.
 */
export interface TlsSecretEvent {
  /** Discriminator. */
  readonly type: 'secret';
  /** `handshake` or `oneRtt`. */
  readonly level: 'handshake' | 'oneRtt';
  /** `read`: protects packets this endpoint receives; `write`: packets it sends. */
  readonly direction: 'read' | 'write';
  /** The secret (Hash.length bytes); owned by the receiver of the event. */
  readonly secret: Uint8Array;
  /** The negotiated cipher suite (AEAD, hash, key lengths). */
  readonly cipherSuite: CipherSuiteParams;
}

/**
 * The peer's quic_transport_parameters, undecoded (RFC 9001 §8.2): QUIC decodes and validates them.
 * They are authenticated only when the handshake completes (RFC 9001 §4.1.3).
 */
export interface TlsTransportParametersEvent {
  /** Discriminator. */
  readonly type: 'transport_parameters';
  /** The encoded parameters. */
  readonly data: Uint8Array;
}

/** How the peer's certificate chain was accepted. */
export type TlsPeerCertificateTrust =
  /** Path validation to a trust anchor. */
  | 'path'
  /** Path validation and an SPKI pin. */
  | 'path+pin'
  /** An SPKI pin alone (pin-only mode). */
  | 'pin'
  /** Not checked (insecureSkipVerify). */
  | 'insecure'
  /** A client certificate that a server without client trust settings did not verify (CertificateVerify still proved the key). */
  | 'unverified'
  /** No certificate: a client that sent an empty Certificate, or was not asked for one. */
  | 'none';

/** What the handshake negotiated (RFC 9001 §4.1.1: the handshake is complete). */
export interface TlsHandshakeInfo {
  /** This endpoint's role. */
  readonly role: 'client' | 'server';
  /** The negotiated application protocol (RFC 7301), as text. */
  readonly alpn: string;
  /** The negotiated application protocol as its ProtocolName bytes. */
  readonly alpnProtocol: Uint8Array;
  /** The negotiated cipher suite. */
  readonly cipherSuite: CipherSuiteParams;
  /** The key exchange group. */
  readonly group: KeyExchangeGroup;
  /** The server name: the SNI the client sent (absent when it sent none, e.g. for an IP address). */
  readonly serverName: string | undefined;
  /** The SignatureScheme of the peer's CertificateVerify (absent when the peer did not authenticate). */
  readonly peerSignatureScheme: number | undefined;
  /** The peer's certificate chain as received (DER, end entity first); empty when it sent none. */
  readonly peerCertificates: readonly Uint8Array[];
  /** How the peer's chain was accepted. */
  readonly peerCertificateTrust: TlsPeerCertificateTrust;
  /**
   * Whether the server asked for a client certificate (CertificateRequest, RFC 8446 §4.3.2): on a
   * client, the server sent one; on a server, this server sent one.
   */
  readonly certificateRequested: boolean;
  /** The peer's quic_transport_parameters, undecoded; authenticated now. */
  readonly peerTransportParameters: Uint8Array;
  /** Whether a HelloRetryRequest was exchanged. */
  readonly helloRetryRequest: boolean;
}

/** The handshake is complete (RFC 9001 §4.1.1): Finished sent and the peer's Finished verified. */
export interface TlsHandshakeCompleteEvent {
  /** Discriminator. */
  readonly type: 'handshake_complete';
  /** What was negotiated. */
  readonly info: TlsHandshakeInfo;
}

/** Client: a NewSessionTicket was received, checked and handed to the ticket store (RFC 8446 §4.6.1). */
export interface TlsSessionTicketEvent {
  /** Discriminator. */
  readonly type: 'session_ticket';
  /** The ticket and its resumption PSK. */
  readonly ticket: SessionTicket;
}

/** Server: a NewSessionTicket was issued (its bytes are in the preceding `handshake_data` at the 1-RTT level). */
export interface TlsSessionTicketIssuedEvent {
  /** Discriminator. */
  readonly type: 'session_ticket_issued';
  /** The opaque ticket sent. */
  readonly ticket: Uint8Array;
  /** Its lifetime in seconds. */
  readonly lifetime: number;
}

/**
 * The handshake failed; the session is in its `failed` state and accepts nothing more. `error.code`
 * is what CONNECTION_CLOSE carries: CRYPTO_ERROR (0x0100 + alert) for a `TlsAlertError`
 * (RFC 9001 §4.8), PROTOCOL_VIOLATION for a middlebox-compatibility ClientHello (RFC 9001 §8.4) or a
 * bad max_early_data_size (RFC 9001 §4.6.1).
 */
export interface TlsFailedEvent {
  /** Discriminator. */
  readonly type: 'failed';
  /** The typed error. */
  readonly error: QuicError;
}

/** Everything a TLS session reports. */
export type TlsSessionEvent =
  | TlsHandshakeDataEvent
  | TlsSecretEvent
  | TlsTransportParametersEvent
  | TlsHandshakeCompleteEvent
  | TlsSessionTicketEvent
  | TlsSessionTicketIssuedEvent
  | TlsFailedEvent;
