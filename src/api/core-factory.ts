/**
 * The sans-IO connection the public API runs on, and its default transport settings.
 *
 * @module
 * @internal
 */
import type { ConnectionFactory } from '../endpoint/endpoint.js';
import { DEFAULT_TRANSPORT_SETTINGS, QuicConnection as CoreConnection } from '../transport/connection.js';

/** @internal Makes the real sans-IO connection. */
export const defaultConnectionFactory: ConnectionFactory = (options) => new CoreConnection(options);

/** @internal Incoming datagrams the API holds at most when `transport.datagramReceiveQueueLength` is not set. */
export const DEFAULT_DATAGRAM_RECEIVE_QUEUE_LENGTH: number = DEFAULT_TRANSPORT_SETTINGS.datagramReceiveQueueLength;
