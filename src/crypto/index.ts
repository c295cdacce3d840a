/**
 * Packet protection and the crypto provider interface (RFC 9001 §5, RFC 9369 §3.3).
 *
 * @module crypto
 */
export * from './provider.js';
export * from './hkdf.js';
export * from './common.js';
export * from './node.js';
export * from './noble.js';
export * from './initial.js';
export * from './keys.js';
export * from './retry.js';
export * from './packet-protection.js';
export * from './default.js';
