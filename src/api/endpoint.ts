/**
 * `createEndpoint()` and `connect()`: client connections, on a socket of their own or on a shared
 * {@link QuicEndpoint} (one UDP socket for many connections, client and server alike).
 *
 * @module
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { Endpoint, type EndpointStats } from '../endpoint/endpoint.js';
import { stripBrackets, type SocketAddress } from '../endpoint/address.js';
import type { CryptoProvider } from '../crypto/provider.js';
import { CertificateCache, TrustStore } from '../tls/certificates.js';
import { checkKeyPair, type TlsCertificateKeyPair, type TlsClientConfig } from '../tls/config.js';
import type { QuicVersion } from '../wire/version.js';
import { defaultConnectionFactory, DEFAULT_DATAGRAM_RECEIVE_QUEUE_LENGTH } from './core-factory.js';
import { QuicConnection, type QuicCloseOptions } from './connection.js';
import { defaultTokenMemory, tokenServerKey, type TokenStore } from './token-memory.js';
import { resolveCertificate, resolveCrypto, toInspectFunction, type CertificateInput, type CryptoOption, type EndpointCreationOptions, type InspectOption, type TransportOptions } from './options.js';

/** Distinct `ca` lists whose TrustStore an endpoint keeps. */
const TRUST_STORE_CACHE_SIZE = 8;

/** Options of {@link createEndpoint}. */
export interface QuicEndpointOptions extends EndpointCreationOptions {
  /** Local address to bind. Default `0.0.0.0` (or `::` with `type: 'udp6'`). */
  readonly host?: string;
  /** Local port; 0 (default) picks a free one. */
  readonly port?: number;
  /** Socket type; default from `host` (`udp6` for an IPv6 literal), else `udp4`. */
  readonly type?: 'udp4' | 'udp6';
  /** For `udp6`: IPv6 only, no IPv4-mapped peers. Default false. */
  readonly ipv6Only?: boolean;
}

/** How a client connection is made and how it judges the server. */
export interface QuicClientOptions {
  /** The server: a host name (resolved with `dns.lookup`) or an IP address. */
  readonly host: string;
  /** The server's UDP port. */
  readonly port: number;
  /** Application protocols to offer (ALPN, RFC 7301), in preference order; required (RFC 9001 §8.1). */
  readonly alpn: readonly string[];
  /** The name sent as SNI and checked against the certificate. Default: `host`, unless it is an IP address (then the certificate must name that address). */
  readonly serverName?: string;
  /** Trust these CA certificates (PEM text, or DER) instead of the system roots. */
  readonly ca?: string | readonly (string | Uint8Array)[];
  /** Trust the system's roots (Node's bundled Mozilla list). The default when neither `ca` nor `pinnedSpkiSha256` is given. */
  readonly trust?: 'system';
  /**
   * Base64 SHA-256 pins of the server's public key (SubjectPublicKeyInfo), e.g. a self-signed
   * server's `certificateSpkiSha256`. Alone, a pin match suffices; with `ca` or `trust` the chain
   * must also verify.
   */
  readonly pinnedSpkiSha256?: readonly string[];
  /** INSECURE, for tests only: accept any certificate. */
  readonly insecureSkipVerify?: boolean;
  /**
   * The client certificate (mutual TLS): sent when the server asks for one (CertificateRequest,
   * RFC 8446 §4.3.2) and its key can sign one of the schemes the server accepts. Without it the
   * client answers a request with an empty Certificate. A server that asks may refuse the
   * connection after the client's last handshake flight, so a client the server asked for a
   * certificate resolves `connect()` only once the server has confirmed the handshake
   * (HANDSHAKE_DONE, RFC 9001 §4.1.2): a refusal rejects it with the server's TLS alert
   * (`tlsAlertName` certificate_required, unknown_ca, bad_certificate, …).
   */
  readonly clientCertificate?: CertificateInput;
  /** Transport settings. */
  readonly transport?: TransportOptions;
  /** QUIC version to start with; default 1. */
  readonly version?: QuicVersion;
  /** Inspection observer for the connection's actors. */
  readonly inspect?: InspectOption;
  /** Crypto provider of this connection; default: the endpoint's. */
  readonly crypto?: CryptoOption;
  /**
   * An address validation token a server gave on an earlier connection (a NEW_TOKEN frame,
   * {@link QuicConnection.newToken$}), sent in this connection's Initial packets so the server can
   * skip address validation — no Retry round trip, no anti-amplification limit (RFC 9000 §8.1.3).
   * By default the newest token this process received from the same server (its name, or address
   * without one, and port) is used, once; tokens received are remembered the same way. `false`:
   * neither send nor remember one.
   */
  readonly token?: Uint8Array | false;
  /**
   * Where tokens are remembered and taken from (see {@link token}); default one in-memory
   * {@link TokenMemory} for the whole process. Give your own to keep tokens across restarts.
   */
  readonly tokenStore?: TokenStore;
}

/** Options of {@link connect}. */
export interface QuicConnectOptions extends QuicClientOptions, EndpointCreationOptions {
  /** Share this endpoint's socket instead of opening one for the connection. */
  readonly endpoint?: QuicEndpoint;
  /** Local address of the connection's own socket (ignored with `endpoint`). */
  readonly localHost?: string;
  /** Local port of the connection's own socket (ignored with `endpoint`); default 0 (any). */
  readonly localPort?: number;
}

/**
 * One UDP socket serving many connections, routed by connection ID. Share it between client
 * connections (`connect({ endpoint })` or {@link QuicEndpoint.connect}); a server's endpoint is
 * `server.endpoint`.
 */
export class QuicEndpoint {
  /** @internal */
  readonly endpoint: Endpoint;
  /** @internal */
  readonly provider: CryptoProvider;
  /** @internal Parsed server certificates, reused by this endpoint's connections (exact bytes; verification is per connection). */
  readonly certificateCache = new CertificateCache();
  /** @internal `ca` lists turned into TrustStores, keyed on their exact content. */
  private readonly trustStores = new Map<string, TrustStore>();

  /** @internal */
  constructor(endpoint: Endpoint, provider: CryptoProvider) {
    this.endpoint = endpoint;
    this.provider = provider;
  }

  /** The local address the socket is bound to. */
  get address(): SocketAddress {
    return this.endpoint.address;
  }

  /** Connections currently open (or closing) on this endpoint. */
  get connectionCount(): number {
    return this.endpoint.connectionCount;
  }

  /** Counters: datagrams, drops by reason, Version Negotiation, stateless resets, Retry, errors. */
  stats(): EndpointStats {
    return this.endpoint.stats;
  }

  /**
   * @internal The TrustStore of a `ca` list, built once per distinct list: connections to the
   * same server with the same `ca` would otherwise parse the PEM and index the anchors each time.
   * The key is the list's exact content (text as given, bytes as hex), so a different list never
   * gets another's store. At most {@link TRUST_STORE_CACHE_SIZE} lists are kept.
   */
  trustStoreFor(ca: readonly (string | Uint8Array)[]): TrustStore {
    const key = JSON.stringify(ca.map((c) => (typeof c === 'string' ? `pem:${c}` : `der:${Buffer.from(c.buffer, c.byteOffset, c.byteLength).toString('hex')}`)));
    let store = this.trustStores.get(key);
    if (store === undefined) {
      store = new TrustStore(ca);
      if (this.trustStores.size >= TRUST_STORE_CACHE_SIZE) this.trustStores.delete(this.trustStores.keys().next().value as string);
      this.trustStores.set(key, store);
    }
    return store;
  }

  /** Opens a client connection on this endpoint; resolves when the handshake is complete. */
  connect(options: QuicClientOptions): Promise<QuicConnection> {
    return connectOn(this, options);
  }

  /**
   * Closes every connection (application close with `closeCode`/`reason`), waits for them to
   * finish closing, and closes the socket.
   */
  close(options: QuicCloseOptions = {}): Promise<void> {
    return this.endpoint.close({ code: options.closeCode ?? 0, reason: options.reason ?? '' });
  }
}

/** @internal Binds an {@link Endpoint} with the API's options. */
export async function bindEndpoint(options: QuicEndpointOptions & { readonly closeWhenIdle?: boolean }): Promise<QuicEndpoint> {
  const provider = resolveCrypto(options.crypto);
  const endpoint = await Endpoint.bind({
    host: options.host,
    port: options.port,
    type: options.type,
    ipv6Only: options.ipv6Only,
    provider,
    createConnection: options.connectionFactory ?? defaultConnectionFactory,
    connectionIdLength: options.connectionIdLength,
    statelessResetKey: options.statelessResetKey,
    closeWhenIdle: options.closeWhenIdle,
  });
  return new QuicEndpoint(endpoint, provider);
}

/** Opens a UDP socket for QUIC connections (both roles can share it). */
export function createEndpoint(options: QuicEndpointOptions = {}): Promise<QuicEndpoint> {
  return bindEndpoint(options);
}

/**
 * Connects to a QUIC server. Resolves with the connection once the handshake is complete;
 * rejects with a {@link QuicConnectionError} carrying the QUIC or TLS error code (e.g. CRYPTO_ERROR
 * 0x12a for a bad certificate, `tlsAlert` 42) when it fails or times out.
 *
 * ```ts
 * const connection = await connect({ host: '127.0.0.1', port: 4433, alpn: ['echo'], pinnedSpkiSha256: [pin] });
 * const stream = await connection.createBidirectionalStream();
 * ```
 */
export async function connect(options: QuicConnectOptions): Promise<QuicConnection> {
  if (options.endpoint !== undefined) return connectOn(options.endpoint, options);
  // A bad certificate or key is refused before a socket is opened.
  const certificate = resolveClientCertificate(options.clientCertificate);
  const remote = await resolveRemote(options.host, options.port, undefined);
  const endpoint = await bindEndpoint({
    host: options.localHost,
    port: options.localPort,
    type: remote.family === 'IPv6' ? 'udp6' : 'udp4',
    crypto: options.crypto,
    connectionIdLength: options.connectionIdLength,
    statelessResetKey: options.statelessResetKey,
    connectionFactory: options.connectionFactory,
    closeWhenIdle: true,
  });
  return connectOn(endpoint, options, remote, certificate);
}

/** A token of `server` from `store`, or none when the store has none or fails (a failing store must not stop a connection). */
function takeToken(store: TokenStore, server: string): Uint8Array | undefined {
  try {
    const token = store.take(server);
    return token instanceof Uint8Array && token.length > 0 ? token : undefined;
  } catch {
    return undefined;
  }
}

/** The client certificate as DER chain and KeyObject, checked as the TLS session will (a TlsAlertError internal_error when the key cannot sign or does not match). */
function resolveClientCertificate(input: CertificateInput | undefined): TlsCertificateKeyPair | undefined {
  if (input === undefined) return undefined;
  const pair = resolveCertificate(input);
  checkKeyPair(pair, 'clientCertificate');
  return pair;
}

async function resolveRemote(host: string, port: number, type: 'udp4' | 'udp6' | undefined): Promise<SocketAddress> {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`port must be 1 to 65535, got ${port}`);
  const bare = stripBrackets(host);
  const ipVersion = isIP(bare);
  if (ipVersion !== 0) return { address: bare, port, family: ipVersion === 6 ? 'IPv6' : 'IPv4' };
  const found = await lookup(bare, type === undefined ? {} : { family: type === 'udp6' ? 6 : 4 });
  return { address: found.address, port, family: found.family === 6 ? 'IPv6' : 'IPv4' };
}

function trustOptions(options: QuicClientOptions, quicEndpoint: QuicEndpoint): Pick<TlsClientConfig, 'trustAnchors' | 'pinnedSpkiSha256' | 'pinMode' | 'insecureSkipVerify'> {
  if (options.insecureSkipVerify === true) return { insecureSkipVerify: true };
  const ca = options.ca === undefined ? undefined : quicEndpoint.trustStoreFor(typeof options.ca === 'string' ? [options.ca] : options.ca);
  const anchors = ca !== undefined ? ca : options.trust === 'system' || options.pinnedSpkiSha256 === undefined ? 'system' : undefined;
  if (options.pinnedSpkiSha256 !== undefined) {
    const pinOnly = ca === undefined && options.trust === undefined;
    return { trustAnchors: pinOnly ? undefined : anchors, pinnedSpkiSha256: options.pinnedSpkiSha256, pinMode: pinOnly ? 'pin-only' : 'require-chain' };
  }
  return { trustAnchors: anchors };
}

async function connectOn(quicEndpoint: QuicEndpoint, options: QuicClientOptions, resolved?: SocketAddress, resolvedCertificate?: TlsCertificateKeyPair): Promise<QuicConnection> {
  const certificate = resolvedCertificate ?? resolveClientCertificate(options.clientCertificate);
  const endpoint = quicEndpoint.endpoint;
  let remote = resolved ?? (await resolveRemote(options.host, options.port, endpoint.address.family === 'IPv6' ? undefined : 'udp4'));
  // A dual-stack IPv6 socket reaches (and hears from) an IPv4 peer at its IPv4-mapped address.
  if (endpoint.address.family === 'IPv6' && remote.family === 'IPv4') remote = { address: `::ffff:${remote.address}`, port: remote.port, family: 'IPv6' };
  if (endpoint.address.family === 'IPv4' && remote.family === 'IPv6') throw new TypeError(`an IPv4 endpoint cannot reach ${remote.address}`);
  const bareHost = stripBrackets(options.host);
  const serverName = options.serverName ?? (isIP(bareHost) === 0 ? bareHost : undefined);
  const tls: Omit<TlsClientConfig, 'transportParameters'> = {
    serverName,
    remoteAddress: serverName === undefined ? remote.address : undefined,
    alpnProtocols: options.alpn,
    certificate,
    ...trustOptions(options, quicEndpoint),
    certificateCache: quicEndpoint.certificateCache,
  };
  // RFC 9000 §8.1.3: a token only for the server that gave it, each for one connection attempt.
  const tokenKey = options.token === false ? undefined : tokenServerKey(serverName, remote.address, remote.port);
  const tokenStore = options.tokenStore ?? defaultTokenMemory;
  const token = options.token === false ? undefined : (options.token ?? takeToken(tokenStore, tokenKey as string));
  const ec = endpoint.connect({
    remoteAddress: remote,
    token,
    tls,
    transport: options.transport,
    version: options.version,
    inspect: toInspectFunction(options.inspect),
    provider: options.crypto === undefined ? undefined : resolveCrypto(options.crypto),
  });
  const connection = new QuicConnection(ec, {
    localAddress: endpoint.address,
    onNewToken: tokenKey === undefined ? undefined : (t) => tokenStore.remember(tokenKey, t),
    datagramReceiveQueueLength: options.transport?.datagramReceiveQueueLength ?? DEFAULT_DATAGRAM_RECEIVE_QUEUE_LENGTH,
  });
  await connection.ready;
  return connection;
}
