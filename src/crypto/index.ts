/**
 * Packet protection and the crypto provider interface (RFC 9001 §5, RFC 9369 §3.3).
 *
 * @module crypto
 */
export * from './provider.js';
export * from './hkdf.js';
