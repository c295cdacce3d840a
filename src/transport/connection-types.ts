/**
 * The sans-IO connection's contract: what the endpoint (UDP sockets, timers) and the public API
 * (WHATWG streams, RxJS) may call, and what the connection reports back.
 *
 * A connection consumes `(datagram, remote address, now)` and produces datagrams and a next-timer
 * deadline (ARCHITECTURE.md principle 1). It never reads a clock, never sets a timer and never
 * touches a socket: the caller passes `now` (milliseconds, a monotonic clock of its choice; see
 * `ConnectionOptionsBase.epochOffset` for how it maps to wall-clock time) into every call. Everything is synchronous. Events for the application are queued and drained by
 * the caller ({@link QuicConnectionCore.drainEvents}) after each call, so application code never
 * runs inside the connection (no re-entrancy).
 *
 * @module
 */
import type { Observable } from 'rxjs';
import type { CryptoProvider } from '../crypto/provider.js';
import type { TlsClientConfig, TlsServerConfig } from '../tls/config.js';
import type { TlsHandshakeInfo } from '../tls/session-events.js';
import type { TransportParameters } from '../wire/transport-parameters.js';
import type { QuicVersion } from '../wire/version.js';

/** A UDP address. */
export interface SocketAddress {
  /** IPv4 or IPv6 address text, e.g. `127.0.0.1` or `::1`. */
  readonly address: string;
  /** UDP port. */
  readonly port: number;
  /** Address family. */
  readonly family: 'IPv4' | 'IPv6';
}

/** A datagram for a given peer address (see {@link QuicConnectionCore.drainOffPathDatagrams}). */
export interface AddressedDatagram {
  /** The UDP payload; the buffer belongs to the caller. */
  readonly datagram: Uint8Array;
  /** Where it goes. */
  readonly to: SocketAddress;
}

/**
 * Transport settings of one endpoint: what it announces in its transport parameters (RFC 9000
 * §18.2) and how it runs. Every field has a default (see `DEFAULT_TRANSPORT_SETTINGS` in the
 * connection module).
 */
export interface TransportSettings {
  /** Idle timeout announced (max_idle_timeout), ms; the effective one is the minimum of both sides' non-zero values (RFC 9000 §10.1). Default 30 000. */
  readonly maxIdleTimeout: number;
  /** Give up a handshake that has not completed after this long, ms. Default 10 000. */
  readonly handshakeTimeout: number;
  /** initial_max_data: the connection receive window, bytes. Default 1 MiB. */
  readonly initialMaxData: number;
  /** initial_max_stream_data_bidi_local, bytes. Default 256 KiB. */
  readonly initialMaxStreamDataBidiLocal: number;
  /** initial_max_stream_data_bidi_remote, bytes. Default 256 KiB. */
  readonly initialMaxStreamDataBidiRemote: number;
  /** initial_max_stream_data_uni, bytes. Default 256 KiB. */
  readonly initialMaxStreamDataUni: number;
  /** Largest the connection receive window may grow to by auto-tuning, bytes. Default 16 MiB. */
  readonly maxConnectionWindow: number;
  /** Largest a stream receive window may grow to by auto-tuning, bytes. Default 6 MiB. */
  readonly maxStreamWindow: number;
  /** initial_max_streams_bidi: concurrent bidirectional streams the peer may open. Default 100. */
  readonly maxStreamsBidi: number;
  /** initial_max_streams_uni. Default 100. */
  readonly maxStreamsUni: number;
  /** ack_delay_exponent. Default 3. */
  readonly ackDelayExponent: number;
  /** max_ack_delay, ms. Default 25. */
  readonly maxAckDelay: number;
  /** active_connection_id_limit. Default 4. */
  readonly activeConnectionIdLimit: number;
  /** max_udp_payload_size announced. Default 65 527. */
  readonly maxUdpPayloadSize: number;
  /** max_datagram_frame_size (RFC 9221); 0 disables DATAGRAM support. Default 0. */
  readonly maxDatagramFrameSize: number;
  /**
   * disable_active_migration (RFC 9000 §18.2). Default true: the peer must not migrate on purpose
   * to a new local address. A peer address change it did not choose (NAT rebinding) is still
   * followed, with path validation (RFC 9000 §9, §9.3); this endpoint never migrates itself.
   */
  readonly disableActiveMigration: boolean;
  /** Send grease_quic_bit (RFC 9287). Default true. */
  readonly greaseQuicBit: boolean;
  /** Length of the connection IDs this endpoint issues, 0–20 (a server needs ≥ 1 to route). Default 8. */
  readonly connectionIdLength: number;
  /** Initial RTT estimate, ms (RFC 9002 §6.2.2). Default 333. */
  readonly initialRtt: number;
  /**
   * Path MTU assumed (UDP payload bytes) before and without PMTU discovery, and the size it falls
   * back to after a black hole (BASE_PLPMTU, RFC 8899 §5.1.2). Default 1200 (RFC 9000 §14).
   */
  readonly maxDatagramSize: number;
  /**
   * Datagram Packetization Layer PMTU Discovery (RFC 9000 §14.3, RFC 8899): once the handshake is
   * confirmed and the peer's address validated, probe (PING + PADDING datagrams) for a larger
   * path MTU up to {@link pathMtuUpperBound}, raise the datagram size on each acknowledged probe,
   * and fall back to {@link maxDatagramSize} when large packets vanish (a black hole).
   *
   * Default `'loopback'`: on when the peer's address is a loopback address (127.0.0.0/8, ::1),
   * off elsewhere; `true` turns it on for every peer. Why not everywhere: Node's `node:dgram`
   * cannot set Don't Fragment (IP_MTU_DISCOVER) itself, and Linux sockets default to
   * IP_PMTUDISC_WANT — a datagram within the route's known PMTU leaves with DF set (a smaller hop
   * drops it, which is what discovery needs), but once the kernel has learnt a smaller PMTU from
   * ICMP, a larger datagram is fragmented locally and passes as a successful probe, after which
   * every datagram would be fragmented, which RFC 9000 §14 forbids. Turn it on where the path is
   * known (a network namespace, a data centre with a uniform MTU) or the bound stays below it.
   */
  readonly pathMtuDiscovery: boolean | 'loopback';
  /**
   * The largest UDP payload PMTU discovery probes for (MAX_PLPMTU before the peer's
   * max_udp_payload_size caps it). Default 1452: an Ethernet MTU of 1500 minus IPv6 (40) and UDP
   * (8) headers, which also fits IPv4. Loopback carries far more (IPv4 up to 65 507, IPv6 on a
   * 65 536-byte loopback MTU up to 65 488); the largest accepted value is 65 527 (RFC 9000 §18.2).
   */
  readonly pathMtuUpperBound: number;
  /** Send a PING when the connection has been idle for this long, ms; 0 = never. Default 0. */
  readonly keepAliveInterval: number;
  /** Stream send-buffer high-water mark, bytes: writes beyond it report backpressure. Default 1 MiB. */
  readonly streamSendBufferSize: number;
  /** Outgoing DATAGRAM frames queued at most before the oldest is dropped. Default 64. */
  readonly datagramSendQueueLength: number;
  /** Incoming DATAGRAM frames queued at most before the oldest is dropped. Default 64. */
  readonly datagramReceiveQueueLength: number;
  /** Packets protected with one 1-RTT key before a key update is initiated (RFC 9001 §6); default: 3/4 of the AEAD confidentiality limit. */
  readonly keyUpdatePackets?: number;
}

/** Options common to both roles. */
export interface ConnectionOptionsBase {
  /** Crypto provider for packet protection and TLS. */
  readonly provider: CryptoProvider;
  /** Transport settings; missing fields take their defaults. */
  readonly transport?: Partial<TransportSettings>;
  /** The time the connection is created, ms. */
  readonly now: number;
  /**
   * Milliseconds to add to `now` to get Unix epoch time. The TLS handshake reads time as wall-clock
   * time — certificate validity (RFC 5280 §4.1.2.5) and session ticket ages (RFC 8446 §4.6.1) — so
   * an endpoint whose clock is `performance.now()` passes `performance.timeOrigin`. Default 0: the
   * caller's `now` is already epoch-based (e.g. `Date.now()`, or a simulation's virtual clock
   * started at it).
   */
  readonly epochOffset?: number;
  /**
   * The peer's address. A server follows the client to a new address after the handshake is
   * confirmed (RFC 9000 §9.3: NAT rebinding, with path validation); a client drops datagrams from
   * any other address (RFC 9000 §9).
   */
  readonly remoteAddress: SocketAddress;
  /** 32 bytes keying stateless reset tokens (RFC 9000 §10.3.2); shared by an endpoint's connections. */
  readonly statelessResetKey: Uint8Array;
  /**
   * An XState inspection observer: the connection actor, its TLS handshake and packet builder
   * children (and any machine-backed component) report to it, so an attached inspector shows the
   * connection's whole tree live.
   */
  readonly inspect?: (event: import('xstate').InspectionEvent) => void;
}

/** Options of a client connection. */
export interface ClientConnectionOptions extends ConnectionOptionsBase {
  /** Discriminator. */
  readonly role: 'client';
  /** TLS settings; `transportParameters` is filled by the connection. */
  readonly tls: Omit<TlsClientConfig, 'transportParameters'>;
  /** The QUIC version to start with. Default v1. */
  readonly version?: QuicVersion;
  /**
   * An address validation token the server gave in a NEW_TOKEN frame on an earlier connection
   * (the `newToken` event), sent in this connection's Initial packets (RFC 9000 §8.1.3) so the
   * server can skip a Retry. A Retry's token replaces it.
   */
  readonly token?: Uint8Array;
}

/** Options of a server connection, created by the endpoint for a client's first Initial packet. */
export interface ServerConnectionOptions extends ConnectionOptionsBase {
  /** Discriminator. */
  readonly role: 'server';
  /** TLS settings; `transportParameters` is filled by the connection. */
  readonly tls: Omit<TlsServerConfig, 'transportParameters'>;
  /** The version of the client's Initial. */
  readonly version: QuicVersion;
  /** The Destination Connection ID of the client's first Initial (original_destination_connection_id). */
  readonly originalDestinationCid: Uint8Array;
  /** The Source Connection ID of the client's first Initial. */
  readonly clientSourceCid: Uint8Array;
  /** When the endpoint sent a Retry: the Source Connection ID of that Retry (retry_source_connection_id, RFC 9000 §7.3). */
  readonly retrySourceCid?: Uint8Array;
  /** True when the client's address is already validated (a valid Retry or NEW_TOKEN token, RFC 9000 §8.1). */
  readonly addressValidated?: boolean;
  /**
   * Mints an address validation token for the client at `address` (RFC 9000 §8.1.3), which the
   * connection sends in a NEW_TOKEN frame: once the handshake is confirmed, and again after a path
   * to a new client IP address is validated (a token is bound to the IP address, so the old one is
   * of no use from there). Undefined (or returning undefined): no tokens.
   */
  readonly newToken?: (address: SocketAddress) => Uint8Array | undefined;
}

/** Either role's options. */
export type ConnectionOptions = ClientConnectionOptions | ServerConnectionOptions;

/** The lifecycle states of a connection (the connection machine's top-level states). */
export type ConnectionState = 'idle' | 'handshaking' | 'established' | 'confirmed' | 'closing' | 'draining' | 'closed';

/** Why a connection ended. */
export interface ConnectionCloseInfo {
  /** Who ended it: this endpoint, the peer, an idle timeout, a stateless reset, a handshake timeout. */
  readonly source: 'local' | 'peer' | 'idle-timeout' | 'handshake-timeout' | 'stateless-reset' | 'version-negotiation';
  /** True for an application close (CONNECTION_CLOSE 0x1d), false for a transport one (0x1c). */
  readonly application: boolean;
  /** The error code (a transport error code, or the application's). */
  readonly code: bigint;
  /** The reason phrase. */
  readonly reason: string;
  /** For transport errors, the frame type that triggered it, when known. */
  readonly frameType?: number;
  /** The error object behind a local close caused by an error (a QuicError with its code). */
  readonly error?: Error;
}

/** Events the connection queues for the application. */
export type ConnectionEvent =
  /** The handshake completed (RFC 9001 §4.1.1); the connection is usable. */
  | { readonly type: 'handshakeComplete'; readonly info: TlsHandshakeInfo }
  /** The handshake is confirmed (RFC 9001 §4.1.2). */
  | { readonly type: 'handshakeConfirmed' }
  /** The peer opened a stream. */
  | { readonly type: 'streamOpened'; readonly streamId: number; readonly bidirectional: boolean }
  /** Data (or the end of the stream) can be read from a stream. */
  | { readonly type: 'streamReadable'; readonly streamId: number }
  /** A stream's send buffer drained below its high-water mark: writes are accepted again. */
  | { readonly type: 'streamWritable'; readonly streamId: number }
  /** The peer reset a stream (RESET_STREAM): no more data will arrive. */
  | { readonly type: 'streamReset'; readonly streamId: number; readonly code: bigint; readonly finalSize: number }
  /** The peer asked us to stop sending on a stream (STOP_SENDING); the stream was reset in reply (RFC 9000 §3.5). */
  | { readonly type: 'streamStopSending'; readonly streamId: number; readonly code: bigint }
  /** All data written to a stream (and its FIN) was acknowledged; the send side is done. */
  | { readonly type: 'streamSendComplete'; readonly streamId: number }
  /** New streams of this direction may be opened (the peer raised MAX_STREAMS). */
  | { readonly type: 'streamsAvailable'; readonly bidirectional: boolean }
  /** A DATAGRAM frame arrived (RFC 9221). */
  | { readonly type: 'datagram'; readonly data: Uint8Array }
  /** An outgoing datagram's fate: acknowledged, lost, or dropped from the send queue. */
  | { readonly type: 'datagramStatus'; readonly id: number; readonly status: 'acked' | 'lost' | 'dropped' }
  /** The server sent a NEW_TOKEN (client only), usable for a later connection's Initial. */
  | { readonly type: 'newToken'; readonly token: Uint8Array }
  /** The connection state changed. */
  | { readonly type: 'stateChanged'; readonly state: ConnectionState }
  /**
   * The connection entered its closing or draining period (RFC 9000 §10.2) — or ends at once — for
   * this reason: nothing more can be sent or received by the application; `closed` follows when the
   * period ends. Emitted once, before `closed`.
   */
  | { readonly type: 'closing'; readonly info: ConnectionCloseInfo }
  /** The connection is closed (after closing/draining, or at once). The last event. */
  | { readonly type: 'closed'; readonly info: ConnectionCloseInfo };

/** Per-connection statistics. */
export interface ConnectionStats {
  /** Smoothed RTT, ms. */
  readonly smoothedRtt: number;
  /** Latest RTT sample, ms. */
  readonly latestRtt: number;
  /** Minimum RTT, ms. */
  readonly minRtt: number;
  /** RTT variation, ms. */
  readonly rttVariance: number;
  /** Congestion window, bytes. */
  readonly congestionWindow: number;
  /** Bytes in flight. */
  readonly bytesInFlight: number;
  /** UDP payload bytes sent / received. */
  readonly bytesSent: number;
  readonly bytesReceived: number;
  /** Datagrams sent / received. */
  readonly datagramsSent: number;
  readonly datagramsReceived: number;
  /** QUIC packets sent / received / lost. */
  readonly packetsSent: number;
  readonly packetsReceived: number;
  readonly packetsLost: number;
  /** Packets dropped on receipt (undecryptable, malformed, duplicate, unknown keys). */
  readonly packetsDropped: number;
  /** Stream bytes sent (first transmissions) and received (delivered to the application). */
  readonly streamBytesSent: number;
  readonly streamBytesReceived: number;
  /** PTO expirations. */
  readonly ptoCount: number;
  /** Key updates (initiated or answered). */
  readonly keyUpdates: number;
  /** Handshake duration, ms (undefined until complete). */
  readonly handshakeDuration: number | undefined;
  /** The path MTU in use: the largest UDP payload the connection sends now, bytes (PMTU discovery raises it, RFC 9000 §14.3). */
  readonly pathMtu: number;
  /** PMTU discovery's state (RFC 8899 §5.2): `disabled`, `base`, `searching`, `searchComplete` or `error`. */
  readonly pmtudState: 'disabled' | 'base' | 'searching' | 'searchComplete' | 'error';
  /** PMTU probes sent / lost (or timed out). */
  readonly mtuProbesSent: number;
  readonly mtuProbesLost: number;
  /** Black holes PMTU discovery detected (each a fall back to `maxDatagramSize`). */
  readonly pmtuBlackHoles: number;
  /**
   * Path validations of a new peer address (RFC 9000 §8.2, §9.3) started, succeeded (a matching
   * PATH_RESPONSE) and failed (no answer within the timeout of §8.2.4). A validation abandoned
   * because the peer moved again or returned to its validated address counts as neither.
   */
  readonly pathValidationsStarted: number;
  readonly pathValidationsSucceeded: number;
  readonly pathValidationsFailed: number;
  /**
   * Changes of the peer address datagrams are sent to (RFC 9000 §9.3): moves to a new address,
   * returns to the last validated one, and reverts after a failed validation (§9.3.2).
   */
  readonly peerAddressChanges: number;
  /**
   * Datagrams sent to a peer address other than the current one: PATH_RESPONSE on the path a
   * PATH_CHALLENGE came from (RFC 9000 §8.2.2), PATH_CHALLENGE on the previous path after an
   * apparent migration (§9.3.3).
   */
  readonly offPathDatagramsSent: number;
  /** PATH_CHALLENGE frames sent on the previous path after an apparent migration (RFC 9000 §9.3.3), and those answered. */
  readonly previousPathChallengesSent: number;
  readonly previousPathChallengesAnswered: number;
}

/** Per-stream statistics. */
export interface StreamStats {
  /** Bytes the application wrote / bytes acknowledged by the peer. */
  readonly bytesWritten: number;
  readonly bytesAcked: number;
  /** Bytes received from the peer / read by the application. */
  readonly bytesReceived: number;
  readonly bytesRead: number;
  /** Send-side and receive-side states (RFC 9000 §3.1, §3.2). */
  readonly sendState: string | undefined;
  readonly receiveState: string | undefined;
}

/**
 * The sans-IO connection. The endpoint feeds it datagrams and timeouts and sends what
 * {@link flush} produces; the public API drives streams and datagrams through it.
 */
export interface QuicConnectionCore {
  /** This endpoint's role. */
  readonly role: 'client' | 'server';
  /** The lifecycle state. */
  readonly state: ConnectionState;
  /** The negotiated version. */
  readonly version: QuicVersion;
  /** The connection IDs of ours that currently route to this connection (the endpoint's routing table follows {@link localConnectionIds$}). */
  localConnectionIds(): readonly Uint8Array[];
  /** Emits `{ added }` / `{ removed }` as this connection issues and retires its connection IDs. */
  readonly localConnectionIds$: Observable<{ readonly added?: Uint8Array; readonly removed?: Uint8Array }>;
  /** The peer's transport parameters, once received and validated. */
  readonly peerTransportParameters: TransportParameters | undefined;

  /**
   * The peer address the datagrams of {@link flush} go to now. It starts as the address the
   * connection was created with and follows the peer's migration (RFC 9000 §9.3); an endpoint reads
   * it for every flush. Optional for cores that never migrate (then the creation address is used).
   */
  readonly remoteAddress?: SocketAddress;
  /** Processes one received UDP datagram (possibly several coalesced packets). Never throws for peer input. */
  receive(datagram: Uint8Array, from: SocketAddress, now: number): void;
  /**
   * Builds every datagram the connection may send at `now` (the single outbound path's flush) and
   * returns them in order. The buffers belong to the caller.
   */
  flush(now: number): Uint8Array[];
  /**
   * Takes the datagrams the last {@link flush} built for a peer address other than
   * {@link remoteAddress} — a PATH_RESPONSE on the path its PATH_CHALLENGE arrived on (RFC 9000
   * §8.2.2), a PATH_CHALLENGE on the previous path after an apparent migration (§9.3.3) — each
   * with its destination. Built by the same flush (one outbound path); call it right after every
   * flush: the next flush drops what was not taken. Optional for cores that never send off-path.
   */
  drainOffPathDatagrams?(): readonly AddressedDatagram[];
  /** Emits when the connection has something to send: the merged pending signals of its frame sources. The endpoint's outbound path subscribes and calls {@link flush}. */
  readonly pending$: Observable<void>;
  /** The earliest time at which {@link onTimeout} must be called, or undefined when no timer is armed. */
  nextTimeout(): number | undefined;
  /** Handles every timer due at `now` (loss detection, PTO, ACK delay, idle, handshake, closing/draining, keep-alive). */
  onTimeout(now: number): void;
  /** Takes the queued application events, oldest first. */
  drainEvents(): ConnectionEvent[];

  /** Opens a stream; undefined when the peer's MAX_STREAMS limit is reached (a STREAMS_BLOCKED is sent; wait for `streamsAvailable`). */
  openStream(bidirectional: boolean, now: number): number | undefined;
  /**
   * Queues data on a stream's send side and optionally ends it (FIN). Returns false when the send
   * buffer is above its high-water mark after this write (backpressure: wait for `streamWritable`).
   * The data is always accepted (copied). Throws a typed error for a stream that cannot send.
   */
  writeStream(streamId: number, data: Uint8Array, fin: boolean, now: number): boolean;
  /** Reads up to `maxBytes` in order from a stream; `fin` is true once the end was read. Returns null when nothing is readable now. */
  readStream(streamId: number, maxBytes: number, now: number): { readonly data: Uint8Array; readonly fin: boolean } | null;
  /** Abruptly ends a stream's send side (RESET_STREAM, RFC 9000 §3.1). */
  resetStream(streamId: number, code: bigint, now: number): void;
  /** Asks the peer to stop sending on a stream (STOP_SENDING, RFC 9000 §3.5); buffered data is discarded. */
  stopSending(streamId: number, code: bigint, now: number): void;
  /** Statistics of a stream, or undefined for an unknown one. */
  streamStats(streamId: number): StreamStats | undefined;

  /** Largest DATAGRAM payload that can be sent now (0 when the peer does not support DATAGRAM frames). */
  maxDatagramPayload(): number;
  /** Queues a DATAGRAM frame (RFC 9221); returns its id for `datagramStatus` events. Throws a typed error when too large or unsupported. */
  sendDatagram(data: Uint8Array, now: number): number;

  /** Closes the connection (CONNECTION_CLOSE; RFC 9000 §10.2): the application's code and reason, or a transport one. */
  close(options: { readonly code: bigint | number; readonly reason?: string; readonly application?: boolean }, now: number): void;
  /** Starts a key update now (RFC 9001 §6), if allowed; returns whether it started. */
  updateKeys(now: number): boolean;
  /** Connection statistics. */
  stats(): ConnectionStats;
}
