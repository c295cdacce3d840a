/**
 * `createServer()`: a QUIC server on one UDP socket.
 *
 * @module
 */
import type { KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import type { Observable } from 'rxjs';
import type { EndpointConnection } from '../endpoint/endpoint-connection.js';
import { DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_HANDSHAKES, type EndpointStats } from '../endpoint/endpoint.js';
import type { SocketAddress } from '../endpoint/address.js';
import { stripBrackets } from '../endpoint/address.js';
import type { NewTokenOptions } from '../endpoint/new-token.js';
import { CertificateCache, loadCertificateChainPem, spkiSha256Base64, TrustStore } from '../tls/certificates.js';
import { resolveServerConfig, type TlsClientAuthenticationConfig, type TlsServerConfig } from '../tls/config.js';
import { generateSelfSignedCertificate } from '../tls/self-signed.js';
import { resolveTransportSettings } from '../transport/settings.js';
import { TransportErrorCode } from '../wire/errors.js';
import { DEFAULT_DATAGRAM_RECEIVE_QUEUE_LENGTH } from './core-factory.js';
import { QuicConnection, type QuicCloseOptions } from './connection.js';
import { bindEndpoint, type QuicEndpoint } from './endpoint.js';
import { Inbox, type AsyncReadableStream } from './inbox.js';
import { resolveCertificate, toInspectFunction, type CertificateInput, type EndpointCreationOptions, type InspectOption, type TransportOptions } from './options.js';

/** Whether a server asks clients for a certificate; see {@link QuicServerOptions.requestClientCertificate}. */
export type ClientCertificateMode = 'none' | 'request' | 'require';

/** Default {@link QuicServerOptions.backlog}. */
export const DEFAULT_ACCEPT_BACKLOG = 128;

/** Options of {@link createServer}. */
export interface QuicServerOptions extends EndpointCreationOptions {
  /** Address to listen on. Default `127.0.0.1`; `::` listens on IPv6 (and IPv4-mapped) addresses, `0.0.0.0` on every IPv4 interface. */
  readonly host?: string;
  /** UDP port; 0 (default) picks a free one (see {@link QuicServer.address}). */
  readonly port?: number;
  /** For an IPv6 `host`: refuse IPv4-mapped clients. Default false. */
  readonly ipv6Only?: boolean;
  /** Application protocols served (ALPN, RFC 7301), in preference order; required (RFC 9001 §8.1). */
  readonly alpn: readonly string[];
  /**
   * The certificate chain and key. Absent: a self-signed ECDSA P-256 certificate for `localhost`,
   * 127.0.0.1, ::1 (and `host`) is generated at start, for development; clients pin it with
   * {@link QuicServer.certificateSpkiSha256} or trust {@link QuicServer.certificatePem}.
   */
  readonly certificate?: CertificateInput;
  /**
   * Client certificates (mutual TLS, RFC 8446 §4.3.2): `'none'` (the default) asks for none;
   * `'request'` asks, and a client may answer without one (an empty Certificate); `'require'`
   * refuses a client without one with the TLS alert certificate_required (RFC 8446 §4.4.2.4,
   * CONNECTION_CLOSE CRYPTO_ERROR 0x174). A certificate a client does send must verify against
   * {@link clientCa} and/or {@link clientPinnedSpkiSha256} (one of them is required), or the
   * handshake fails with the verifier's alert (unknown_ca for an unknown issuer, certificate_unknown
   * for a key matching no pin, bad_certificate for e.g. an extendedKeyUsage without clientAuth,
   * certificate_expired, …). The verified chain is `connection.handshakeInfo.peerCertificates`.
   */
  readonly requestClientCertificate?: ClientCertificateMode;
  /** CA certificates (PEM text with one or more, or a list of PEM texts / DER) client certificates must chain to. */
  readonly clientCa?: string | readonly (string | Uint8Array)[];
  /**
   * Base64 SHA-256 pins of accepted client public keys (SubjectPublicKeyInfo). Alone, a pin match
   * suffices; with {@link clientCa} the chain must verify too.
   */
  readonly clientPinnedSpkiSha256?: readonly string[];
  /** Transport settings of every connection. */
  readonly transport?: TransportOptions;
  /**
   * Address validation with a Retry round trip before any state is created (RFC 9000 §8.1.2):
   * `true` for every client; `'under-load'` (the default) only while {@link maxHandshakes}
   * handshakes are in progress; `false` never (clients beyond {@link maxHandshakes} are then
   * refused with CONNECTION_REFUSED).
   */
  readonly retry?: boolean | 'under-load';
  /**
   * Address validation tokens for returning clients (RFC 9000 §8.1.3): once a handshake is complete
   * the server sends the client a NEW_TOKEN token bound to its IP address; the client's next
   * connection from that address, carrying it, starts validated — no Retry (even with `retry:
   * true`), no anti-amplification limit. Tokens are single-use, expire after an hour, and are
   * ignored (as if absent) when they do not validate. `false` sends none. An object sets the key
   * (give every server of a cluster, and every restart, the same 16 bytes so that their tokens
   * validate everywhere), the lifetime and the replay memory. Default `true`.
   */
  readonly newTokens?: boolean | NewTokenOptions;
  /**
   * Connections the server holds at most (handshaking, open or closing). At the limit a new client
   * gets a stateless CONNECTION_REFUSED (rate limited) and creates no state; a connection frees its
   * slot once it has closed. Default {@link DEFAULT_MAX_CONNECTIONS} (4096, about 340 MiB of
   * connection state); `Infinity` for no limit.
   */
  readonly maxConnections?: number;
  /**
   * Handshakes in progress at most. Beyond it new clients must validate their address with a Retry
   * first (refused instead with `retry: false`). Default {@link DEFAULT_MAX_HANDSHAKES} (1024).
   */
  readonly maxHandshakes?: number;
  /** Inspection observer given to every connection's actors. */
  readonly inspect?: InspectOption;
  /** Called with each connection once its handshake is complete. */
  readonly onConnection?: (connection: QuicConnection) => void;
  /**
   * Connections whose handshake completed but that nobody has taken from
   * `incomingConnections` yet, at most; beyond it new ones are refused (CONNECTION_REFUSED).
   * Default {@link DEFAULT_ACCEPT_BACKLOG}.
   */
  readonly backlog?: number;
}

/**
 * A QUIC server. Take connections from {@link incomingConnections} (a `ReadableStream`, also
 * async iterable — or iterate the server itself), from {@link connection$}, or with the
 * `onConnection` option; each is delivered once its handshake is complete.
 *
 * ```ts
 * const server = await createServer({ port: 4433, alpn: ['echo'] });
 * for await (const connection of server) {
 *   for await (const stream of connection.incomingBidirectionalStreams) void stream.readable.pipeTo(stream.writable);
 * }
 * ```
 */
export class QuicServer implements AsyncIterable<QuicConnection> {
  /** The endpoint (socket) the server listens on; client connections may share it. */
  readonly endpoint: QuicEndpoint;
  /** Base64 SHA-256 of the certificate's public key (SubjectPublicKeyInfo): the pin clients give as `pinnedSpkiSha256`. */
  readonly certificateSpkiSha256: string;
  /** The generated self-signed certificate as PEM (a client can trust it with `ca`); undefined when a certificate was given. */
  readonly certificatePem: string | undefined;
  /** Connections as their handshakes complete (hot: connections are delivered while subscribed). */
  readonly connection$: Observable<QuicConnection>;
  private readonly inbox: Inbox<QuicConnection>;
  private readonly onConnection: ((connection: QuicConnection) => void) | undefined;
  private handshakesFailed = 0;

  /** @internal */
  constructor(endpoint: QuicEndpoint, certificateSpkiSha256: string, certificatePem: string | undefined, options: QuicServerOptions) {
    this.endpoint = endpoint;
    this.certificateSpkiSha256 = certificateSpkiSha256;
    this.certificatePem = certificatePem;
    this.onConnection = options.onConnection;
    this.inbox = new Inbox<QuicConnection>({ limit: options.backlog ?? DEFAULT_ACCEPT_BACKLOG });
    this.connection$ = this.inbox.observable;
  }

  /** The address the server listens on (with the port chosen when `port` was 0). */
  get address(): SocketAddress {
    return this.endpoint.address;
  }

  /** Connections currently open (or closing), handshaking ones included. */
  get connectionCount(): number {
    return this.endpoint.connectionCount;
  }

  /**
   * Connections as their handshakes complete, as a `ReadableStream` that is also async iterable.
   * Connections completed before the first access wait for it (up to the backlog).
   */
  get incomingConnections(): AsyncReadableStream<QuicConnection> {
    return this.inbox.readable;
  }

  /** Iterates {@link incomingConnections}. */
  [Symbol.asyncIterator](): AsyncIterator<QuicConnection> {
    return this.inbox.readable[Symbol.asyncIterator]();
  }

  /** Endpoint counters: datagrams, drops by reason, Version Negotiation, stateless resets, Retry, refused Initials, errors. */
  stats(): EndpointStats {
    return this.endpoint.stats();
  }

  /**
   * Stops accepting, closes every connection (application close with `closeCode`/`reason`, default
   * 0), waits until they have finished closing, then closes the socket. `incomingConnections`
   * and `connection$` end.
   */
  async close(options: QuicCloseOptions = {}): Promise<void> {
    this.endpoint.endpoint.stopListening();
    await this.endpoint.close(options);
    this.inbox.end();
  }

  /**
   * Connections that closed before their handshake completed, and so were never delivered: a
   * refused client certificate (certificate_required, unknown_ca, …), another TLS or transport
   * error, a timeout, or the server closing.
   */
  get failedHandshakes(): number {
    return this.handshakesFailed;
  }

  /** A new server connection, before its first datagram. @internal */
  accept(ec: EndpointConnection, datagramReceiveQueueLength: number): void {
    const connection = new QuicConnection(ec, { localAddress: this.endpoint.address, datagramReceiveQueueLength });
    connection.onReady(() => this.deliver(connection, ec));
    connection.ready.catch(() => {
      this.handshakesFailed++;
    });
  }

  private deliver(connection: QuicConnection, ec: EndpointConnection): void {
    if (this.onConnection !== undefined) {
      try {
        this.onConnection(connection);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
      // With a callback, the stream and Observable only get connections while they are in use.
      if (!this.inbox.consumed) return;
    }
    if (!this.inbox.push(connection)) {
      ec.call((core, now) => core.close({ code: TransportErrorCode.CONNECTION_REFUSED, reason: 'accept backlog full', application: false }, now));
    }
  }
}

/**
 * The TLS client authentication settings of the options: none for `'none'`; otherwise a chain must
 * verify against `clientCa` (path validation) and/or `clientPinnedSpkiSha256` — a server of this API
 * never accepts an unverified client certificate.
 */
function resolveClientAuthentication(options: QuicServerOptions): TlsClientAuthenticationConfig | undefined {
  const mode = options.requestClientCertificate ?? 'none';
  if (mode !== 'none' && mode !== 'request' && mode !== 'require') {
    throw new TypeError(`createServer: requestClientCertificate must be 'none', 'request' or 'require', got ${JSON.stringify(mode)}`);
  }
  const ca = options.clientCa === undefined ? undefined : typeof options.clientCa === 'string' ? loadCertificateChainPem(options.clientCa) : options.clientCa.flatMap((c) => (typeof c === 'string' ? loadCertificateChainPem(c) : [c]));
  const pins = options.clientPinnedSpkiSha256;
  if (mode === 'none') {
    if (ca !== undefined || pins !== undefined) throw new TypeError("createServer: clientCa / clientPinnedSpkiSha256 are given but requestClientCertificate is 'none'");
    return undefined;
  }
  if (ca !== undefined && ca.length === 0) throw new TypeError('createServer: clientCa holds no certificate');
  if (pins !== undefined && pins.length === 0) throw new TypeError('createServer: clientPinnedSpkiSha256 is empty');
  if (ca === undefined && pins === undefined) {
    throw new TypeError(`createServer: requestClientCertificate '${mode}' needs clientCa or clientPinnedSpkiSha256 to verify client certificates against`);
  }
  return {
    required: mode === 'require',
    // One TrustStore for every connection's session (a list would be parsed again per connection).
    trustAnchors: ca === undefined ? undefined : new TrustStore(ca),
    pinnedSpkiSha256: pins,
    pinMode: pins !== undefined && ca === undefined ? 'pin-only' : pins !== undefined ? 'require-chain' : undefined,
    // Clients that come back are not parsed again (exact bytes; verification is per connection).
    certificateCache: new CertificateCache(),
  };
}

/**
 * Starts a QUIC server: binds the socket, generates a development certificate when none is
 * given, and accepts connections (RFC 9000 §7, with Retry when `retry` is set).
 */
export async function createServer(options: QuicServerOptions): Promise<QuicServer> {
  if (!Array.isArray(options.alpn) || options.alpn.length === 0) throw new TypeError('createServer: alpn must list at least one protocol (RFC 9001 §8.1)');
  const host = stripBrackets(options.host ?? '127.0.0.1');
  let chain: Uint8Array[];
  let privateKey: KeyObject;
  let pem: string | undefined;
  if (options.certificate !== undefined) {
    ({ certificateChain: chain, privateKey } = resolveCertificate(options.certificate));
  } else {
    const ipAddresses = ['127.0.0.1', '::1'];
    if (isIP(host) !== 0 && !ipAddresses.includes(host) && host !== '0.0.0.0' && host !== '::') ipAddresses.push(host);
    const generated = await generateSelfSignedCertificate({ hostnames: ['localhost'], ipAddresses });
    chain = generated.certificateChain;
    privateKey = generated.privateKey;
    pem = generated.certificatePem;
  }
  // Settings out of range are refused now (RangeError naming the field), not at each client's Initial.
  resolveTransportSettings(options.transport, 'server');
  const tls: Omit<TlsServerConfig, 'transportParameters'> = {
    certificateChain: chain,
    privateKey,
    alpnProtocols: options.alpn,
    clientAuthentication: resolveClientAuthentication(options),
  };
  // Refuse a key that does not match its certificate (or an unusable one) now, not at the first client.
  resolveServerConfig({ ...tls, transportParameters: new Uint8Array(0) });
  const endpoint = await bindEndpoint({
    host,
    port: options.port ?? 0,
    ipv6Only: options.ipv6Only,
    crypto: options.crypto,
    connectionIdLength: options.connectionIdLength,
    statelessResetKey: options.statelessResetKey,
    connectionFactory: options.connectionFactory,
  });
  const server = new QuicServer(endpoint, spkiSha256Base64(chain[0]), pem, options);
  const datagramReceiveQueueLength = options.transport?.datagramReceiveQueueLength ?? DEFAULT_DATAGRAM_RECEIVE_QUEUE_LENGTH;
  try {
    endpoint.endpoint.listen({
      tls,
      transport: options.transport,
      retry: options.retry ?? 'under-load',
      newTokens: options.newTokens ?? true,
      maxConnections: options.maxConnections,
      maxHandshakes: options.maxHandshakes,
      inspect: toInspectFunction(options.inspect),
      onConnection: (ec) => server.accept(ec, datagramReceiveQueueLength),
    });
  } catch (error) {
    await endpoint.close();
    throw error;
  }
  return server;
}
