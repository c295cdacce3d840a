/**
 * TLS 1.3 for QUIC (RFC 8446, RFC 9001): the QUIC-facing client and server sessions, their
 * configuration and events, session tickets, the handshake machines, and the building blocks —
 * message codec, key schedule, signatures, certificate verification, self-signed certificates and
 * alerts.
 *
 * @module tls
 */
export * from './alerts.js';
export * from './constants.js';
export * from './cipher-suites.js';
export * from './extensions.js';
export * from './messages.js';
export * from './transcript.js';
export * from './key-schedule.js';
export * from './signatures.js';
export * from './certificates.js';
export * from './self-signed.js';
export * from './tickets.js';
export * from './session-events.js';
export * from './session.js';
export {
  DEFAULT_GROUPS,
  type AlpnProtocolInput,
  type TlsCertificateKeyPair,
  type TlsClientAuthenticationConfig,
  type TlsClientConfig,
  type TlsServerConfig,
  type TlsSessionTicketConfig,
  type TlsTrustOptions,
} from './config.js';
export * from '../../machines/tls-client.js';
export * from '../../machines/tls-server.js';
export * from '../../machines/tls-common.js';
