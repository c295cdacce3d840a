/**
 * The sans-IO connection the public API runs on, and its default transport settings.
 *
 * @module
 */
import type { ConnectionFactory } from '../endpoint/endpoint.js';
import { DEFAULT_TRANSPORT_SETTINGS, QuicConnection as CoreConnection } from '../transport/connection.js';

/**
 * Makes the real sans-IO connection (`src/transport/connection.ts`): the factory to give
 * `Endpoint.bind({ createConnection })` when driving an endpoint without the public API.
 */
export const defaultConnectionFactory: ConnectionFactory = (options) => new CoreConnection(options);

/** @internal Incoming datagrams the API holds at most when `transport.datagramReceiveQueueLength` is not set. */
export const DEFAULT_DATAGRAM_RECEIVE_QUEUE_LENGTH: number = DEFAULT_TRANSPORT_SETTINGS.datagramReceiveQueueLength;
