/**
 * quic-actors: a QUIC v1 transport for Node.js in which every connection is an XState actor.
 *
 * Start with {@link createServer} and {@link connect}; a {@link QuicConnection} opens
 * streams ({@link QuicConnection.createBidirectionalStream}), accepts the peer's
 * ({@link QuicConnection.incomingBidirectionalStreams}, {@link QuicConnection.stream$}) and carries
 * datagrams ({@link QuicConnection.datagrams}). The layers underneath are exported as namespaces:
 * `wire` (packets and frames), `crypto` (packet protection providers), `tls` (the TLS 1.3
 * handshake), `endpoint` (sockets, routing and the sans-IO connection contract), `packet` (the
 * packet builder and a flush's assembly), `recovery` (RFC 9002 loss detection, congestion control
 * and pacing) and `machines` (every lifecycle's XState machine, for drawing and testing).
 *
 * @module quic-actors
 */
export * from './api/index.js';
export * as wire from './wire/index.js';
export * as crypto from './crypto/index.js';
export * as tls from './tls/index.js';
export * as endpoint from './endpoint/index.js';
export * as packet from './packet/index.js';
export * as recovery from './recovery/index.js';
export * as machines from '../machines/index.js';
