/**
 * The public API: servers, client connections, streams and datagrams, shaped after WebTransport
 * and `node:quic`, with RxJS observables beside the WHATWG streams.
 *
 * @module
 */
export { createServer, QuicServer, DEFAULT_ACCEPT_BACKLOG, type ClientCertificateMode, type QuicServerOptions } from './server.js';
export { connect, createEndpoint, QuicEndpoint, type QuicClientOptions, type QuicConnectOptions, type QuicEndpointOptions } from './endpoint.js';
export { QuicConnection, type QuicCloseOptions, type QuicDatagrams, type QuicIncomingStream } from './connection.js';
export { QuicBidirectionalStream, QuicReceiveStream, QuicSendStream } from './stream.js';
export { QuicConnectionError, QuicStreamError, QuicError, type QuicCloseInfo, type QuicStreamErrorKind } from './errors.js';
export type { AsyncReadableStream } from './inbox.js';
export { TokenMemory, type TokenStore } from './token-memory.js';
export type { CertificateInput, CryptoOption, EndpointCreationOptions, InspectOption, TransportOptions } from './options.js';
export type { ConnectionCloseInfo, ConnectionState, ConnectionStats, SocketAddress, StreamStats, TransportSettings } from '../transport/connection-types.js';
export { DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_HANDSHAKES, type EndpointStats } from '../endpoint/endpoint.js';
export type { NewTokenOptions } from '../endpoint/new-token.js';
export type { TlsHandshakeInfo, TlsPeerCertificateTrust } from '../tls/session-events.js';
