/**
 * quic-actors: a QUIC v1 transport for Node.js in which every connection is an XState actor.
 *
 * @module quic-actors
 */
export * as wire from './wire/index.js';
export * as crypto from './crypto/index.js';
