/**
 * TLS 1.3 for QUIC (RFC 8446, RFC 9001): the handshake message codec, key schedule, signatures,
 * certificate verification, self-signed certificates and alerts.
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
