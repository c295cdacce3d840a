/**
 * The endpoint: one UDP socket (`node:dgram`, IPv4 or IPv6) serving many connections
 * (ARCHITECTURE.md principle 1: a thin adapter between sockets and timers and the sans-IO core).
 *
 * Receiving a datagram, the endpoint reads only the first packet's header (RFC 9000 §17, before
 * header protection) and routes by Destination Connection ID:
 * - to the connection that issued that ID (its `localConnectionIds()` and `localConnectionIds$`),
 *   or, for a server connection's first packets, to the connection created for the client's
 *   Original Destination Connection ID;
 * - a client Initial for no known connection creates a server connection when the endpoint
 *   listens, the datagram is at least 1200 bytes (RFC 9000 §14.1) and the Destination Connection
 *   ID at least 8 bytes (§7.2) — after address validation with a Retry when asked (§8.1.2);
 * - a server holds at most `maxConnections` server connections and `maxHandshakes` handshakes in
 *   progress: beyond the first, or beyond the second without Retry, a client Initial is refused
 *   statelessly with CONNECTION_REFUSED (§5.2.2, §10.2.3, rate limited); beyond the second with
 *   Retry available (the default), it gets a Retry (address validation under load, §8.1.2);
 * - a long header of an unsupported version gets a Version Negotiation packet, greased with a
 *   reserved version (§6.1, §15), when the datagram could start a connection, within a rate limit;
 * - a short header for an unknown connection ID is first offered to connections with the same
 *   peer address (it may be a Stateless Reset for one of them, §10.3.1, or a packet of a
 *   connection that lost its routing), and otherwise answered with a Stateless Reset (§10.3):
 *   smaller than the trigger, never for a datagram of 21 bytes or fewer, rate limited.
 * Everything else that cannot be routed is dropped and counted; nothing a peer sends can throw
 * out of the endpoint or reach another connection.
 *
 * @module
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import type { FlushScheduler } from '../../streams/schedulers.js';
import type { CryptoProvider } from '../crypto/provider.js';
import { retryIntegrityTag } from '../crypto/retry.js';
import type { TlsClientConfig, TlsServerConfig } from '../tls/config.js';
import type {
  ClientConnectionOptions,
  ConnectionCloseInfo,
  ConnectionOptions,
  QuicConnectionCore,
  ServerConnectionOptions,
  SocketAddress,
  TransportSettings,
} from '../transport/connection-types.js';
import {
  buildStatelessReset,
  generateStatelessResetKey,
  StatelessResetLimiter,
  StatelessResetTokenGenerator,
  type StatelessResetLimiterOptions,
} from '../transport/stateless-reset.js';
import { TransportErrorCode } from '../wire/errors.js';
import { retryWithoutTagSize, versionNegotiationSize, writeRetryWithoutTag, writeVersionNegotiation } from '../wire/header-write.js';
import { MAX_CONNECTION_ID_LENGTH, parsePacketHeader, type ParsedLongPacket, type ParsedPacket } from '../wire/header.js';
import { QUIC_V1, SUPPORTED_VERSIONS, type QuicVersion } from '../wire/version.js';
import { addressKey, socketTypeFor, stripBrackets, toSocketAddress } from './address.js';
import { cidKey } from './cid-key.js';
import { buildInitialClose } from './initial-close.js';
import { EndpointConnection } from './endpoint-connection.js';
import { NEW_TOKEN_MARKER, NewTokens, type NewTokenOptions } from './new-token.js';
import { RetryTokens, type RetryTokenOptions } from './retry-token.js';

/** Creates a sans-IO connection; the endpoint calls it for a client connect and a server accept. */
export type ConnectionFactory = (options: ConnectionOptions) => QuicConnectionCore;

/** An XState inspection observer as the connection takes it. */
export type InspectFunction = NonNullable<ConnectionOptions['inspect']>;

/** The smallest datagram that may carry a client's first Initial (RFC 9000 §14.1). */
export const MIN_INITIAL_DATAGRAM_SIZE = 1200;
/** The shortest Destination Connection ID a client's first Initial may carry (RFC 9000 §7.2). */
export const MIN_INITIAL_DCID_LENGTH = 8;
/** Default connection ID length of an endpoint's connections. */
export const DEFAULT_CONNECTION_ID_LENGTH = 8;

/** Default {@link EndpointOptions.socketBufferSize}: 4 MiB. */
export const DEFAULT_SOCKET_BUFFER_SIZE = 4 * 1024 * 1024;

/** Default bound on {@link Endpoint.close}'s wait for connections to finish closing, ms. */
export const DEFAULT_CLOSE_TIMEOUT = 10_000;

/**
 * Default {@link EndpointServerOptions.maxConnections}: 4096 server connections. An idle
 * established connection holds about 85 KiB (bench/connection: heap plus ArrayBuffers), so the
 * default bounds what peers can make a server hold at roughly 340 MiB — well inside Node's default
 * heap limit (2–4 GiB on 64-bit machines), leaving room for the application's own per-connection
 * state. Servers with more memory raise it.
 */
export const DEFAULT_MAX_CONNECTIONS = 4096;

/**
 * Default {@link EndpointServerOptions.maxHandshakes}: 1024 server handshakes in progress, a
 * quarter of {@link DEFAULT_MAX_CONNECTIONS}. A handshake is the state an unvalidated (possibly
 * spoofed) address can make the server create, and it costs more than an idle connection (TLS
 * state, the certificate flight, a signature); beyond this bound new clients must first prove
 * their address with a Retry (or are refused when Retry is off).
 */
export const DEFAULT_MAX_HANDSHAKES = 1024;

/** Default {@link EndpointServerOptions.refusals}: 10 per second per address (burst 10), 200 per second overall, as Version Negotiation. */
export const DEFAULT_REFUSAL_LIMITS: StatelessResetLimiterOptions = { perAddressRate: 10, perAddressBurst: 10, globalRate: 200, globalBurst: 200 };

/** Options of an {@link Endpoint}. */
export interface EndpointOptions {
  /** Address to bind; default `0.0.0.0`, or `::` when {@link type} is `udp6`. */
  readonly host?: string;
  /** Port to bind; 0 (default) picks a free one. */
  readonly port?: number;
  /** Socket type; default from `host` (`udp6` for an IPv6 literal), else `udp4`. */
  readonly type?: 'udp4' | 'udp6';
  /** For `udp6`: refuse IPv4-mapped peers (IPV6_V6ONLY). Default false (dual stack). */
  readonly ipv6Only?: boolean;
  /**
   * Socket receive and send buffer sizes (SO_RCVBUF, SO_SNDBUF), bytes. Default
   * {@link DEFAULT_SOCKET_BUFFER_SIZE}: the kernel's default (about 200 KB on Linux) overflows when
   * a burst of datagrams arrives faster than one event-loop turn reads them, which QUIC sees as
   * loss. The kernel caps the value (Linux: net.core.rmem_max / wmem_max); a refused size keeps
   * the default.
   */
  readonly socketBufferSize?: number;
  /** Crypto provider for Retry tokens, Retry integrity tags, stateless reset tokens and random IDs. */
  readonly provider: CryptoProvider;
  /** Makes the sans-IO connections. */
  readonly createConnection: ConnectionFactory;
  /**
   * Length of the connection IDs every connection of this endpoint issues (1–20); short-header
   * packets are routed by this many bytes. Overrides `transport.connectionIdLength`. Default 8.
   */
  readonly connectionIdLength?: number;
  /** The 32-byte key of stateless reset tokens (RFC 9000 §10.3.2); default random. Keep it across restarts to reset peers of lost connections. */
  readonly statelessResetKey?: Uint8Array;
  /** Limits on stateless resets sent; `false` sends none. */
  readonly statelessReset?: StatelessResetLimiterOptions | false;
  /** Limits on Version Negotiation packets sent (same token-bucket shape). Default 10/s per address (burst 10), 200/s overall. */
  readonly versionNegotiation?: StatelessResetLimiterOptions;
  /** Close the socket when the last connection is gone and the endpoint does not listen (an endpoint made for one `connect`). Default false. */
  readonly closeWhenIdle?: boolean;
  /** Clock in ms; default `performance.now()`. */
  readonly clock?: () => number;
  /** Scheduler of the outbound paths' flushes (tests); default one flush per event-loop turn. */
  readonly scheduler?: FlushScheduler;
}

/** Server role of an endpoint: how client Initials become connections. */
export interface EndpointServerOptions {
  /** TLS server settings of every accepted connection. */
  readonly tls: Omit<TlsServerConfig, 'transportParameters'>;
  /** Transport settings of accepted connections. */
  readonly transport?: Partial<TransportSettings>;
  /**
   * Address validation with a Retry before a connection is created (RFC 9000 §8.1.2): `true` asks
   * it of every client; `'under-load'` (the default) only of new clients while
   * {@link maxHandshakes} handshakes are in progress; `false` never (clients beyond
   * {@link maxHandshakes} are then refused with CONNECTION_REFUSED).
   */
  readonly retry?: boolean | 'under-load';
  /** Retry token key and lifetime. */
  readonly retryTokens?: RetryTokenOptions;
  /**
   * NEW_TOKEN tokens (RFC 9000 §8.1.3): once a handshake is complete, and after a client moves to
   * a new IP address, the server sends the client a token bound to its IP address; a later Initial from that address carrying it (unexpired, not
   * seen before) starts with the address validated — no Retry, no anti-amplification limit. A
   * token that does not validate is ignored, as if the client had sent none. `false` sends none
   * (tokens of an earlier configuration are then ignored too); an object sets the key, lifetime
   * and replay memory. Default `true`.
   */
  readonly newTokens?: boolean | NewTokenOptions;
  /**
   * Server connections this endpoint holds at most (handshaking, open, closing or draining; client
   * connections started on the same endpoint are not counted). At the limit a client Initial
   * creates no state: it is answered statelessly with CONNECTION_REFUSED (RFC 9000 §5.2.2,
   * §10.2.3) within the {@link refusals} rate limit, else dropped — even one carrying a valid
   * Retry token. A connection frees its slot once it is gone. A non-negative integer or
   * `Infinity`; default {@link DEFAULT_MAX_CONNECTIONS}.
   */
  readonly maxConnections?: number;
  /**
   * Server handshakes in progress (connections not yet handshake-complete) at most. Beyond it a
   * client Initial without a valid Retry token gets a Retry (address validation under load,
   * RFC 9000 §8.1.2) unless {@link retry} is `false`, in which case it is refused as at
   * {@link maxConnections}. Clients that proved their address with a Retry token are admitted up
   * to {@link maxConnections}. A non-negative integer or `Infinity`; default
   * {@link DEFAULT_MAX_HANDSHAKES}.
   */
  readonly maxHandshakes?: number;
  /** Rate limits on the stateless CONNECTION_REFUSED closes sent at a limit; default {@link DEFAULT_REFUSAL_LIMITS}. */
  readonly refusals?: StatelessResetLimiterOptions;
  /** Inspection observer passed to every accepted connection. */
  readonly inspect?: InspectFunction;
  /** Called synchronously with each new server connection, before its first datagram is processed. */
  readonly onConnection: (connection: EndpointConnection) => void;
}

/** Options of a client connection started on an endpoint. */
export interface EndpointConnectOptions {
  /** The server's address. */
  readonly remoteAddress: SocketAddress;
  /** TLS client settings. */
  readonly tls: Omit<TlsClientConfig, 'transportParameters'>;
  /** Transport settings. */
  readonly transport?: Partial<TransportSettings>;
  /** The version to start with; default v1. */
  readonly version?: QuicVersion;
  /** Inspection observer passed to the connection. */
  readonly inspect?: InspectFunction;
  /** Crypto provider of this connection; default the endpoint's. */
  readonly provider?: CryptoProvider;
  /** A NEW_TOKEN token from an earlier connection to this server, for the Initial packets (RFC 9000 §8.1.3). */
  readonly token?: Uint8Array;
}

/** Counters of an endpoint (monotonic). */
export interface EndpointStats {
  /** Datagrams received on the socket. */
  datagramsReceived: number;
  /** Bytes received on the socket (UDP payload). */
  bytesReceived: number;
  /** Datagrams handed to the socket. */
  datagramsSent: number;
  /** Bytes handed to the socket (UDP payload). */
  bytesSent: number;
  /** Datagrams dropped by the endpoint before any connection saw them, by reason. */
  dropped: {
    /** First packet header malformed or truncated. */
    malformed: number;
    /** A long header packet (not a client Initial) for no known connection. */
    unknownConnection: number;
    /** A client Initial in a datagram under 1200 bytes, or with a Destination Connection ID under 8 bytes. */
    initialTooSmall: number;
    /** A client Initial at an endpoint that does not listen. */
    notListening: number;
    /** A Version Negotiation packet or an unsupported version that got no answer (too small, rate limited, not listening). */
    unsupportedVersion: number;
    /** A short header packet for no known connection that got no Stateless Reset (too small, limited, disabled). */
    unanswered: number;
    /** A client Initial refused at {@link EndpointServerOptions.maxConnections} or {@link EndpointServerOptions.maxHandshakes} whose CONNECTION_REFUSED answer was rate limited. */
    refusalLimited: number;
  };
  /** Server connections created. */
  connectionsAccepted: number;
  /** Client connections started. */
  connectionsStarted: number;
  /** Version Negotiation packets sent. */
  versionNegotiationsSent: number;
  /** Stateless resets sent. */
  statelessResetsSent: number;
  /** Retry packets sent (those of {@link retriesUnderLoad} included). */
  retriesSent: number;
  /**
   * Client Initials refused without creating a connection, with a stateless CONNECTION_REFUSED
   * close: at {@link EndpointServerOptions.maxConnections}, or beyond
   * {@link EndpointServerOptions.maxHandshakes} when Retry is off. Refusals that were rate limited
   * are counted in `dropped.refusalLimited` instead.
   */
  initialsRefused: number;
  /** Retry packets sent only because {@link EndpointServerOptions.maxHandshakes} handshakes were in progress (address validation under load). */
  retriesUnderLoad: number;
  /** Initials whose Retry token was invalid or expired (answered with INVALID_TOKEN). */
  invalidTokens: number;
  /** NEW_TOKEN tokens issued to connections to send: one when a handshake is confirmed, one after each validated move to a new client IP address. */
  newTokensSent: number;
  /** Initials whose NEW_TOKEN token validated: connections started with the address validated. */
  newTokensAccepted: number;
  /** Initials with a NEW_TOKEN token that did not validate (invalid, expired, replayed): handled as without a token. */
  newTokensRefused: number;
  /** Unroutable short-header datagrams offered to connections with the same peer address. */
  offeredByAddress: number;
  /** Connections that threw (and were closed with INTERNAL_ERROR). */
  connectionErrors: number;
  /** Socket errors (send failures and the like). */
  socketErrors: number;
}

function newStats(): EndpointStats {
  return {
    datagramsReceived: 0,
    bytesReceived: 0,
    datagramsSent: 0,
    bytesSent: 0,
    dropped: { malformed: 0, unknownConnection: 0, initialTooSmall: 0, notListening: 0, unsupportedVersion: 0, unanswered: 0, refusalLimited: 0 },
    connectionsAccepted: 0,
    connectionsStarted: 0,
    versionNegotiationsSent: 0,
    statelessResetsSent: 0,
    retriesSent: 0,
    initialsRefused: 0,
    retriesUnderLoad: 0,
    invalidTokens: 0,
    newTokensSent: 0,
    newTokensAccepted: 0,
    newTokensRefused: 0,
    offeredByAddress: 0,
    connectionErrors: 0,
    socketErrors: 0,
  };
}

/** What {@link Endpoint.listen} keeps: the options and what was derived from them. */
interface ListeningState {
  readonly options: EndpointServerOptions;
  /** `retry: true`: every client without a valid Retry token gets a Retry. */
  readonly retryAll: boolean;
  /** Retry is available beyond maxHandshakes (`retry` not `false`). */
  readonly retryUnderLoad: boolean;
  readonly tokens: RetryTokens | undefined;
  /** NEW_TOKEN tokens issued and validated (§8.1.3); undefined when `newTokens: false`. */
  readonly newTokens: NewTokens | undefined;
  readonly maxConnections: number;
  readonly maxHandshakes: number;
  readonly refusals: StatelessResetLimiter;
}

/** A connection limit: a non-negative integer or `Infinity` (no limit). */
function checkLimit(name: string, value: number): number {
  if (value !== Number.POSITIVE_INFINITY && (!Number.isInteger(value) || value < 0)) {
    throw new RangeError(`${name} must be a non-negative integer or Infinity, got ${value}`);
  }
  return value;
}

/** The reserved-version pattern 0x?a?a?a?a (RFC 9000 §15) with random high nibbles. */
function greaseVersion(random: Uint8Array): number {
  return ((((random[0] << 24) | (random[1] << 16) | (random[2] << 8) | random[3]) & 0xf0f0f0f0) | 0x0a0a0a0a) >>> 0;
}

/**
 * One UDP socket and the connections it serves. Create with {@link Endpoint.bind}; start client
 * connections with {@link connect}; accept server connections with {@link listen}.
 */
export class Endpoint {
  /** The clock, ms. */
  readonly clock: () => number;
  /** Added to {@link clock} to get Unix epoch time for TLS (certificate validity): `performance.timeOrigin` with the default clock, 0 with a given one. */
  private readonly epochOffset: number;
  /** The outbound paths' scheduler. */
  readonly scheduler: FlushScheduler | undefined;
  /** Counters. */
  readonly stats: EndpointStats = newStats();
  /** Length of the connection IDs of this endpoint's connections. */
  readonly connectionIdLength: number;
  private readonly socket: Socket;
  private readonly provider: CryptoProvider;
  private readonly createConnection: ConnectionFactory;
  private readonly statelessResetKey: Uint8Array;
  private readonly resetTokens: StatelessResetTokenGenerator;
  private readonly resetLimiter: StatelessResetLimiter | undefined;
  private readonly vnLimiter: StatelessResetLimiter;
  private readonly closeWhenIdle: boolean;
  private readonly routes = new Map<string, EndpointConnection>();
  private readonly byAddress = new Map<string, Set<EndpointConnection>>();
  private readonly live = new Set<EndpointConnection>();
  private server: ListeningState | undefined;
  /** Server connections registered (they hold a {@link EndpointServerOptions.maxConnections} slot until gone). */
  private readonly serverConnections = new Set<EndpointConnection>();
  /** Server connections whose handshake is not complete yet (they hold a {@link EndpointServerOptions.maxHandshakes} slot). */
  private readonly handshaking = new Set<EndpointConnection>();
  private localAddress: SocketAddress;
  private socketClosed = false;
  private closing: Promise<void> | undefined;
  private readonly idleWaiters: (() => void)[] = [];

  private constructor(socket: Socket, options: EndpointOptions, localAddress: SocketAddress) {
    this.socket = socket;
    this.localAddress = localAddress;
    this.provider = options.provider;
    this.createConnection = options.createConnection;
    this.clock = options.clock ?? (() => performance.now());
    // TLS reads time as wall-clock time (certificate validity): performance.now() counts from performance.timeOrigin.
    this.epochOffset = options.clock === undefined ? performance.timeOrigin : 0;
    this.scheduler = options.scheduler;
    const cidLength = options.connectionIdLength ?? DEFAULT_CONNECTION_ID_LENGTH;
    if (!Number.isInteger(cidLength) || cidLength < 1 || cidLength > MAX_CONNECTION_ID_LENGTH) {
      throw new RangeError(`connectionIdLength must be 1 to ${MAX_CONNECTION_ID_LENGTH}, got ${cidLength}`);
    }
    this.connectionIdLength = cidLength;
    this.statelessResetKey = options.statelessResetKey ?? generateStatelessResetKey(options.provider);
    this.resetTokens = new StatelessResetTokenGenerator(options.provider, this.statelessResetKey);
    this.resetLimiter = options.statelessReset === false ? undefined : new StatelessResetLimiter(options.statelessReset ?? {});
    this.vnLimiter = new StatelessResetLimiter(options.versionNegotiation ?? { perAddressRate: 10, perAddressBurst: 10, globalRate: 200, globalBurst: 200 });
    this.closeWhenIdle = options.closeWhenIdle === true;
    socket.on('message', (msg: Buffer, rinfo: RemoteInfo) => this.onDatagram(msg, rinfo));
    socket.on('error', () => {
      this.stats.socketErrors++;
    });
    this.updateRef();
  }

  /** Opens a UDP socket bound to `options.host`/`options.port` and wraps it in an endpoint. */
  static async bind(options: EndpointOptions): Promise<Endpoint> {
    const host = stripBrackets(options.host ?? (options.type === 'udp6' ? '::' : '0.0.0.0'));
    const type = options.type ?? socketTypeFor(host);
    const socket = createSocket({ type, ipv6Only: options.ipv6Only === true });
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error): void => {
        socket.close();
        reject(error);
      };
      socket.once('error', onError);
      socket.bind(options.port ?? 0, host, () => {
        socket.off('error', onError);
        const size = options.socketBufferSize ?? DEFAULT_SOCKET_BUFFER_SIZE;
        for (const set of [(n: number) => socket.setRecvBufferSize(n), (n: number) => socket.setSendBufferSize(n)]) {
          try {
            set(size);
          } catch {
            // Refused (e.g. above the system's limit on some platforms): keep the default.
          }
        }
        resolve();
      });
    });
    return new Endpoint(socket, options, toSocketAddress(socket.address()));
  }

  /** The bound local address. */
  get address(): SocketAddress {
    return this.localAddress;
  }

  /** True while the endpoint accepts new server connections. */
  get listening(): boolean {
    return this.server !== undefined;
  }

  /** Connections currently registered (handshaking, open, closing or draining). */
  get connectionCount(): number {
    return this.live.size;
  }

  /** Server connections currently registered: what {@link EndpointServerOptions.maxConnections} bounds. */
  get serverConnectionCount(): number {
    return this.serverConnections.size;
  }

  /** Server connections whose handshake is not complete: what {@link EndpointServerOptions.maxHandshakes} bounds. */
  get handshakeCount(): number {
    return this.handshaking.size;
  }

  /** True once the socket is closed. */
  get isClosed(): boolean {
    return this.socketClosed;
  }

  /** The key of stateless reset tokens, shared by every connection of this endpoint. */
  get resetKey(): Uint8Array {
    return this.statelessResetKey;
  }

  /** Starts accepting client Initials as new server connections. */
  listen(options: EndpointServerOptions): void {
    if (this.socketClosed || this.closing !== undefined) throw new Error('the endpoint is closed');
    if (this.server !== undefined) throw new Error('the endpoint already listens');
    const maxConnections = checkLimit('maxConnections', options.maxConnections ?? DEFAULT_MAX_CONNECTIONS);
    const maxHandshakes = checkLimit('maxHandshakes', options.maxHandshakes ?? DEFAULT_MAX_HANDSHAKES);
    const retry = options.retry ?? 'under-load';
    this.server = {
      options,
      retryAll: retry === true,
      // Retry tokens are needed for Retry (always or under load) and to read tokens of Retries sent
      // before (`retryTokens` given with `retry: false`).
      tokens: retry !== false || options.retryTokens !== undefined ? new RetryTokens(this.provider, options.retryTokens) : undefined,
      retryUnderLoad: retry !== false,
      newTokens: options.newTokens === false ? undefined : new NewTokens(this.provider, options.newTokens === true || options.newTokens === undefined ? {} : options.newTokens),
      maxConnections,
      maxHandshakes,
      refusals: new StatelessResetLimiter(options.refusals ?? DEFAULT_REFUSAL_LIMITS),
    };
    this.updateRef();
  }

  /** Stops accepting new server connections; existing ones carry on. */
  stopListening(): void {
    this.server = undefined;
    this.updateRef();
    this.maybeIdle();
  }

  /** Starts a client connection to `options.remoteAddress`; its first flight is sent in this turn. */
  connect(options: EndpointConnectOptions): EndpointConnection {
    if (this.socketClosed || this.closing !== undefined) throw new Error('the endpoint is closed');
    const coreOptions: ClientConnectionOptions = {
      role: 'client',
      provider: options.provider ?? this.provider,
      transport: { ...options.transport, connectionIdLength: this.connectionIdLength },
      now: this.clock(),
      epochOffset: this.epochOffset,
      remoteAddress: options.remoteAddress,
      statelessResetKey: this.statelessResetKey,
      tls: options.tls,
      version: options.version ?? QUIC_V1,
      inspect: options.inspect,
      token: options.token,
    };
    const core = this.createConnection(coreOptions);
    const connection = this.register(core, options.remoteAddress, []);
    this.stats.connectionsStarted++;
    connection.settle(this.clock());
    connection.wake();
    return connection;
  }

  /**
   * Closes every connection with `code`/`reason` (an application close, NO_ERROR by default),
   * stops listening, waits until every connection has finished closing (RFC 9000 §10.2: three
   * PTOs), then closes the socket. Connections still open after `timeout` ms (default
   * {@link DEFAULT_CLOSE_TIMEOUT}) are torn down. Idempotent.
   */
  close(options: { readonly code?: bigint | number; readonly reason?: string; readonly timeout?: number } = {}): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    this.server = undefined;
    for (const connection of [...this.live]) {
      try {
        connection.call((core, now) => core.close({ code: options.code ?? 0, reason: options.reason ?? '', application: true }, now));
      } catch {
        connection.destroy({ source: 'local', application: true, code: BigInt(options.code ?? 0), reason: options.reason ?? '' });
      }
    }
    this.closing = new Promise<void>((resolve) => {
      if (this.live.size === 0) {
        resolve();
        return;
      }
      // A connection that has not finished closing by then (a core that never reports `closed`)
      // is torn down, so closing always ends.
      const timer = setTimeout(() => {
        for (const connection of [...this.live]) connection.destroy({ source: 'local', application: true, code: BigInt(options.code ?? 0), reason: options.reason ?? '' });
      }, options.timeout ?? DEFAULT_CLOSE_TIMEOUT);
      timer.unref();
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    }).then(() => this.closeSocket());
    return this.closing;
  }

  /** Tears every connection down at once (no CONNECTION_CLOSE sent) and closes the socket. */
  destroy(info: ConnectionCloseInfo = { source: 'local', application: false, code: 0n, reason: 'endpoint destroyed' }): Promise<void> {
    this.server = undefined;
    for (const connection of [...this.live]) connection.destroy(info);
    return this.closeSocket();
  }

  /** Resolves when no connection is registered (e.g. all closed). */
  whenIdle(): Promise<void> {
    return this.live.size === 0 ? Promise.resolve() : new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  // ---- EndpointHost ------------------------------------------------------------------------

  /** @internal */
  send(datagram: Uint8Array, to: SocketAddress): void {
    if (this.socketClosed) return;
    this.stats.datagramsSent++;
    this.stats.bytesSent += datagram.length;
    try {
      this.socket.send(datagram, to.port, to.address);
    } catch {
      this.stats.socketErrors++;
    }
  }

  /** @internal */
  addRoute(key: string, connection: EndpointConnection): boolean {
    const current = this.routes.get(key);
    if (current !== undefined && current !== connection) return false;
    this.routes.set(key, connection);
    return true;
  }

  /** @internal */
  removeRoute(key: string, connection: EndpointConnection): void {
    if (this.routes.get(key) === connection) this.routes.delete(key);
  }

  /** @internal */
  connectionGone(connection: EndpointConnection): void {
    if (!this.live.delete(connection)) return;
    // Its limit slots are free again (maxConnections, maxHandshakes).
    this.serverConnections.delete(connection);
    this.handshaking.delete(connection);
    const key = addressKey(connection.remoteAddress);
    const set = this.byAddress.get(key);
    if (set !== undefined) {
      set.delete(connection);
      if (set.size === 0) this.byAddress.delete(key);
    }
    this.updateRef();
    this.maybeIdle();
  }

  /** @internal */
  peerAddressChanged(connection: EndpointConnection, from: SocketAddress, to: SocketAddress): void {
    if (!this.live.has(connection)) return;
    const old = addressKey(from);
    const set = this.byAddress.get(old);
    if (set !== undefined) {
      set.delete(connection);
      if (set.size === 0) this.byAddress.delete(old);
    }
    const key = addressKey(to);
    let next = this.byAddress.get(key);
    if (next === undefined) this.byAddress.set(key, (next = new Set()));
    next.add(connection);
  }

  /** @internal */
  handshakeComplete(connection: EndpointConnection): void {
    this.handshaking.delete(connection);
  }

  /** @internal */
  countConnectionError(): void {
    this.stats.connectionErrors++;
  }

  // ---- receive path ------------------------------------------------------------------------

  private onDatagram(msg: Buffer, rinfo: RemoteInfo): void {
    this.stats.datagramsReceived++;
    this.stats.bytesReceived += msg.length;
    // A view, not the Buffer subclass: connections keep slices of what they receive.
    const datagram = new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength);
    // Node ≥ 18 reports `family` as 'IPv4' / 'IPv6': the RemoteInfo is a SocketAddress already
    // (no copy per datagram).
    this.receiveDatagram(datagram, rinfo);
  }

  /** Routes one datagram as if it had arrived on the socket from `from` (also used by tests). @internal */
  receiveDatagram(datagram: Uint8Array, from: SocketAddress): void {
    const now = this.clock();
    // Fast path for the common case, a 1-RTT packet of a known connection: the short header's
    // Destination Connection ID is the `connectionIdLength` bytes after the first (RFC 9000 §17.3.1).
    const cidEnd = 1 + this.connectionIdLength;
    if (datagram.length > cidEnd && (datagram[0] & 0x80) === 0) {
      const known = this.routes.get(cidKey(datagram, 1, cidEnd));
      if (known !== undefined) {
        known.receive(datagram, from, now);
        return;
      }
    }
    let packet: ParsedPacket;
    try {
      packet = parsePacketHeader(datagram, 0, { shortHeaderDcidLength: this.connectionIdLength, allowFixedBitZero: true });
    } catch {
      this.stats.dropped.malformed++;
      return;
    }
    const connection = this.routes.get(cidKey(packet.dcid));
    if (connection !== undefined) {
      connection.receive(datagram, from, now);
      return;
    }
    switch (packet.form) {
      case 'short':
        this.unroutableShort(datagram, packet.dcid, from, now);
        return;
      case 'long':
        if (packet.type === 'initial') this.accept(datagram, packet, from, now);
        else this.stats.dropped.unknownConnection++;
        return;
      case 'unsupportedVersion':
        this.versionNegotiation(datagram, packet.dcid, packet.scid, from, now);
        return;
      case 'retry':
      case 'versionNegotiation':
        this.stats.dropped.unknownConnection++;
        return;
    }
  }

  private unroutableShort(datagram: Uint8Array, dcid: Uint8Array, from: SocketAddress, now: number): void {
    // RFC 9000 §10.3.1: a packet that cannot be associated with a connection may be a Stateless
    // Reset from a peer of ours. Offer it to the connections with that peer; never answer it.
    const peers = this.byAddress.get(addressKey(from));
    if (peers !== undefined && peers.size > 0) {
      this.stats.offeredByAddress++;
      for (const c of [...peers]) c.receive(datagram, from, now);
      return;
    }
    // RFC 9000 §10.3: answer with a Stateless Reset, smaller than the trigger (§10.3.3), limited.
    if (this.resetLimiter === undefined || this.socketClosed) {
      this.stats.dropped.unanswered++;
      return;
    }
    const token = this.resetTokens.token(dcid);
    const reset = buildStatelessReset(this.provider, token, datagram.length);
    if (reset === undefined || !this.resetLimiter.allow(addressKey(from), now)) {
      this.stats.dropped.unanswered++;
      return;
    }
    this.stats.statelessResetsSent++;
    this.send(reset, from);
  }

  private versionNegotiation(datagram: Uint8Array, dcid: Uint8Array, scid: Uint8Array, from: SocketAddress, now: number): void {
    // RFC 9000 §6.1: a server answers an unsupported version with Version Negotiation when the
    // datagram is large enough to start a connection (§14.1), at most once per datagram.
    if (this.server === undefined || datagram.length < MIN_INITIAL_DATAGRAM_SIZE || !this.vnLimiter.allow(addressKey(from), now)) {
      this.stats.dropped.unsupportedVersion++;
      return;
    }
    const random = this.provider.randomBytes(5);
    const versions = [greaseVersion(random), ...SUPPORTED_VERSIONS];
    const out = new Uint8Array(versionNegotiationSize(scid.length, dcid.length, versions.length));
    // RFC 9000 §17.2.1: DCID = the client's SCID, SCID = the client's DCID; unused bits random,
    // with 0x40 set so the packet looks like QUIC to a demultiplexer.
    writeVersionNegotiation(out, 0, { dcid: scid, scid: dcid, supportedVersions: versions, unusedBits: random[4] | 0x40 });
    this.stats.versionNegotiationsSent++;
    this.send(out, from);
  }

  private accept(datagram: Uint8Array, packet: ParsedLongPacket, from: SocketAddress, now: number): void {
    const server = this.server;
    if (server === undefined) {
      this.stats.dropped.notListening++;
      return;
    }
    // RFC 9000 §14.1: a server MUST discard an Initial in a datagram under 1200 bytes; §7.2: the
    // client's first Destination Connection ID has at least 8 bytes.
    if (datagram.length < MIN_INITIAL_DATAGRAM_SIZE || packet.dcid.length < MIN_INITIAL_DCID_LENGTH) {
      this.stats.dropped.initialTooSmall++;
      return;
    }
    let originalDestinationCid = packet.dcid;
    let retrySourceCid: Uint8Array | undefined;
    let addressValidated = false;
    let invalidToken = false;
    if (packet.token.length > 0 && packet.token[0] === NEW_TOKEN_MARKER) {
      // RFC 9000 §8.1.3: a NEW_TOKEN token that validates stands for a validated address; one that
      // does not is ignored — the server proceeds as if the client had sent no token.
      const result = server.newTokens?.validate(packet.token, from);
      if (result?.ok === true) {
        addressValidated = true;
        this.stats.newTokensAccepted++;
      } else this.stats.newTokensRefused++;
    } else if (server.tokens !== undefined && packet.token.length > 0) {
      const result = server.tokens.validate(packet.token, from, packet.dcid);
      if (result.ok) {
        originalDestinationCid = result.originalDestinationCid;
        retrySourceCid = packet.dcid.slice();
        addressValidated = true;
      } else if (result.reason !== 'not-a-retry-token') {
        invalidToken = true;
      }
    }
    if (invalidToken) {
      // RFC 9000 §8.1.3: a client Initial with an invalid Retry token SHOULD be answered by closing
      // with INVALID_TOKEN; the close is built statelessly, no connection is created.
      this.stats.invalidTokens++;
      const close = buildInitialClose(this.provider, {
        version: packet.version,
        clientDestinationCid: packet.dcid,
        clientSourceCid: packet.scid,
        errorCode: TransportErrorCode.INVALID_TOKEN,
        reason: 'invalid or expired Retry token',
      });
      this.send(close, from);
      return;
    }
    // Every buffer a peer can grow has a bound: the connections themselves first. At the limit a
    // client Initial creates no state, even with a valid Retry token — a validated address does
    // not entitle a client to a connection (RFC 9000 §8.1; refusal with CONNECTION_REFUSED,
    // §5.2.2, §10.2.3).
    if (this.serverConnections.size >= server.maxConnections) {
      this.refuse(server, packet, from, now, 'server connection limit reached');
      return;
    }
    if (!addressValidated) {
      if (server.retryAll && server.tokens !== undefined) {
        this.sendRetry(server.tokens, packet, from);
        return;
      }
      if (this.handshaking.size >= server.maxHandshakes) {
        // Address validation under load (RFC 9000 §8.1.2: a server may send a Retry whenever it
        // wants an address validated, e.g. when it is busy), as quinn and msquic do; a client
        // that comes back with the token is admitted below up to maxConnections.
        if (server.retryUnderLoad && server.tokens !== undefined) {
          this.stats.retriesUnderLoad++;
          this.sendRetry(server.tokens, packet, from);
        } else {
          this.refuse(server, packet, from, now, 'server busy');
        }
        return;
      }
    }
    // A clean copy: `from` may be the socket's RemoteInfo (with its `size`).
    const remote: SocketAddress = { address: from.address, port: from.port, family: from.family };
    const listenOptions = server.options;
    const options: ServerConnectionOptions = {
      role: 'server',
      provider: this.provider,
      transport: { ...listenOptions.transport, connectionIdLength: this.connectionIdLength },
      now,
      epochOffset: this.epochOffset,
      remoteAddress: remote,
      statelessResetKey: this.statelessResetKey,
      tls: listenOptions.tls,
      version: packet.version,
      originalDestinationCid: originalDestinationCid.slice(),
      clientSourceCid: packet.scid.slice(),
      retrySourceCid,
      addressValidated,
      newToken: this.newTokenMinter(server),
      inspect: listenOptions.inspect,
    };
    let core: QuicConnectionCore;
    try {
      core = this.createConnection(options);
    } catch {
      this.stats.connectionErrors++;
      return;
    }
    const connection = this.register(core, remote, [cidKey(packet.dcid)]);
    this.serverConnections.add(connection);
    this.handshaking.add(connection);
    this.stats.connectionsAccepted++;
    listenOptions.onConnection(connection);
    connection.receive(datagram, from, now);
  }

  /**
   * Refuses a client Initial statelessly: an Initial-protected CONNECTION_CLOSE with
   * CONNECTION_REFUSED (RFC 9000 §10.2.3 allows a server to close a connection in the Initial
   * space before creating any state), within the refusal rate limit; dropped beyond it. The close
   * is far smaller than the 1200-byte datagram that triggered it (§8.1).
   */
  private refuse(server: ListeningState, packet: ParsedLongPacket, from: SocketAddress, now: number, reason: string): void {
    if (this.socketClosed || !server.refusals.allow(addressKey(from), now)) {
      this.stats.dropped.refusalLimited++;
      return;
    }
    const close = buildInitialClose(this.provider, {
      version: packet.version,
      clientDestinationCid: packet.dcid,
      clientSourceCid: packet.scid,
      errorCode: TransportErrorCode.CONNECTION_REFUSED,
      reason,
    });
    this.stats.initialsRefused++;
    this.send(close, from);
  }

  /** The NEW_TOKEN minter given to the server's connections (RFC 9000 §8.1.3), counting what it mints; none with `newTokens: false`. */
  private newTokenMinter(server: ListeningState): ((address: SocketAddress) => Uint8Array) | undefined {
    const tokens = server.newTokens;
    if (tokens === undefined) return undefined;
    return (address) => {
      const token = tokens.issue(address);
      this.stats.newTokensSent++;
      return token;
    };
  }

  private sendRetry(tokens: RetryTokens, packet: ParsedLongPacket, from: SocketAddress): void {
    // The Retry's Source Connection ID becomes the Destination Connection ID of the client's next
    // Initial (RFC 9000 §7.2), so it meets the 8-byte minimum checked above.
    const scid = this.provider.randomBytes(Math.max(MIN_INITIAL_DCID_LENGTH, this.connectionIdLength));
    const token = tokens.issue(from, packet.dcid, scid);
    const size = retryWithoutTagSize(packet.scid.length, scid.length, token.length);
    const out = new Uint8Array(size + 16);
    const end = writeRetryWithoutTag(out, 0, { version: packet.version, dcid: packet.scid, scid, token, unusedBits: this.provider.randomBytes(1)[0] });
    // RFC 9001 §5.8: the tag covers the pseudo-packet with the client's original DCID.
    out.set(retryIntegrityTag(this.provider, packet.version, packet.dcid, out.subarray(0, end)), end);
    this.stats.retriesSent++;
    this.send(out, from);
  }

  private register(core: QuicConnectionCore, remoteAddress: SocketAddress, extraRouteKeys: readonly string[]): EndpointConnection {
    const connection = new EndpointConnection(this, core, remoteAddress, extraRouteKeys);
    this.live.add(connection);
    const key = addressKey(remoteAddress);
    let set = this.byAddress.get(key);
    if (set === undefined) this.byAddress.set(key, (set = new Set()));
    set.add(connection);
    this.updateRef();
    return connection;
  }

  private updateRef(): void {
    if (this.socketClosed) return;
    // An endpoint with connections or a listener keeps the process alive (as an open TCP socket or
    // server does); an idle client endpoint does not.
    if (this.server !== undefined || this.live.size > 0) this.socket.ref();
    else this.socket.unref();
  }

  private maybeIdle(): void {
    if (this.live.size > 0) return;
    const waiters = this.idleWaiters.splice(0);
    for (const w of waiters) w();
    if (this.closeWhenIdle && this.server === undefined && this.closing === undefined) void this.close();
  }

  private closeSocket(): Promise<void> {
    if (this.socketClosed) return Promise.resolve();
    this.socketClosed = true;
    return new Promise<void>((resolve) => {
      try {
        this.socket.close(() => resolve());
      } catch {
        resolve();
      }
    });
  }
}
