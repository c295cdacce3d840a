/**
 * The endpoint layer under the public API: one UDP socket, routing by connection ID, server
 * accept, Version Negotiation, stateless resets, Retry tokens, and the per-connection driver
 * (timers, outbound path). Use it to run the sans-IO connection with your own factory or options
 * the public API does not expose.
 *
 * @module endpoint
 */
export * from './endpoint.js';
export { EndpointConnection, type ConnectionEventHandler } from './endpoint-connection.js';
export * from './new-token.js';
export * from './retry-token.js';
export * from './initial-close.js';
export { addressKey, sameAddress, socketTypeFor, toSocketAddress, type SocketAddress } from './address.js';
export { cidKey } from './cid-key.js';
export type {
  AddressedDatagram,
  ClientConnectionOptions,
  ConnectionCloseInfo,
  ConnectionEvent,
  ConnectionOptions,
  ConnectionOptionsBase,
  ConnectionState,
  ConnectionStats,
  QuicConnectionCore,
  ServerConnectionOptions,
  StreamStats,
  TransportSettings,
} from '../transport/connection-types.js';
export * from '../transport/stateless-reset.js';
export type { FlushScheduler } from '../../streams/schedulers.js';
export { defaultConnectionFactory } from '../api/core-factory.js';
