/**
 * QUIC frames: types, exact sizes, encoding, decoding and the packet-type rules
 * (RFC 9000 §12.4, §19; RFC 9221 §4).
 *
 * @module
 */
export * from './types.js';
export * from './rules.js';
export * from './encode.js';
export * from './decode.js';
