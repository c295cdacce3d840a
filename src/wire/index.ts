/**
 * The QUIC wire format: variable-length integers, frames, packet headers, packet numbers and
 * transport parameters (RFC 9000 §12–§19, RFC 9221, RFC 9368, RFC 9369, RFC 9287).
 *
 * @module wire
 */
export * from './errors.js';
export * from './varint.js';
export * from './reader.js';
export * from './levels.js';
export * from './version.js';
export * from './packet-number.js';
export * from './frames/index.js';
export * from './header.js';
export * from './header-write.js';
export * from './transport-parameters.js';
