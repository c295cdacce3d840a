/**
 * The sans-IO QUIC connection (RFC 9000, RFC 9001, RFC 9002): {@link QuicConnection} implements
 * {@link QuicConnectionCore} by assembling the wire codecs, packet protection, the TLS session,
 * loss recovery, the frame sources of the single outbound path and the packet builder.
 *
 * ```ts
 * const client = new QuicConnection({ role: 'client', provider, now, remoteAddress, statelessResetKey, tls: { serverName, alpnProtocols: ['h3'] } });
 * // the endpoint: after every receive / onTimeout / application call, flush and re-arm the timer
 * for (const d of client.flush(now)) socket.send(d, remote);
 * client.receive(datagram, from, now); client.onTimeout(now); client.nextTimeout(); client.drainEvents();
 * ```
 *
 * Receive path (plain code, never an actor event): the datagram's coalesced packets
 * (`iteratePackets`) are checked against our connection IDs, unprotected (header protection, then
 * the AEAD with the level's read keys — for 1-RTT the keys the Key Phase bit selects, RFC 9001
 * §6.3), checked for reserved bits and duplicates, decoded (`decodeFrames`, RFC 9000 §12.4
 * Table 3) and dispatched frame by frame. Packets that fail are dropped and counted; Handshake and
 * 1-RTT packets that arrive before their keys are buffered (a few, RFC 9001 §5.7). Any
 * {@link QuicError} raised while processing closes the connection with its code and frame type;
 * any other error with INTERNAL_ERROR. `receive` never throws for peer input.
 *
 * Send path: one {@link PacketAssembler} flush pulls the sources in priority order — ACK, CRYPTO,
 * CONNECTION_CLOSE, then (congestion controlled) control frames, flow control, DATAGRAM, STREAM,
 * PING — within min(path MTU, the peer's max_udp_payload_size), the anti-amplification budget
 * (RFC 9000 §8.1) and the congestion window and pacer (RFC 9002 §7). DATAGRAM frames are asked
 * before STREAM frames: they are time-sensitive and small, and never retransmitted.
 *
 * Path MTU: DPLPMTUD (RFC 9000 §14.3, RFC 8899; {@link PathMtuDiscovery}) starts once the handshake
 * is confirmed and the peer's address validated: probes go out through the same flush
 * (`mtuProbeSize`, at most one outstanding), their acknowledgements raise the datagram size the
 * builder reads from `SendLimits.maxDatagramSize`, their losses are no congestion signal (RFC 9000
 * §14.4, in recovery), and a black hole falls back to the `maxDatagramSize` setting. DATAGRAM
 * frames stay sized to that base: one cannot be split, and must fit whatever the path falls back to.
 *
 * Lifecycle: a live actor of `machines/connection.ts` (the definition of the states), parent of
 * the TLS handshake actor and, with `options.inspect`, of the packet builder's lifecycle mirror.
 * Only lifecycle events reach it.
 *
 * Peer address change (RFC 9000 §9, passive migration / NAT rebinding): after the handshake is
 * confirmed a server follows the client to a new address when an authenticated non-probing packet
 * with the highest packet number arrives from it (§9.3), validates the new path with PATH_CHALLENGE
 * (§8.2) under the anti-amplification limit — and a second, full-size validation when that limit
 * kept the challenge below 1200 bytes (§8.2.1) —, challenges the previous path too (§9.3.3), resets
 * congestion and RTT state on a validated IP change with the old path's packets kept out of the new
 * controller (§9.4), restarts PMTU discovery on a new IP address (§14.3), uses a fresh peer
 * connection ID (§9.5), and reverts to the last validated address when validation fails (§9.3.2).
 * A PATH_CHALLENGE from another address (a peer probing a path) is answered on that path (§8.2.2).
 * Datagrams for an address other than the current one are built by the same assembler flush and
 * taken with {@link QuicConnection.drainOffPathDatagrams}. Before confirmation, and on a client,
 * datagrams from another address are dropped and counted.
 *
 * Not implemented (documented, not faked): active migration (this endpoint never moves on purpose;
 * it announces disable_active_migration by default) and using the server's preferred address (its
 * connection ID is recorded); 0-RTT (the client
 * never offers early data; 0-RTT packets are dropped); ECN marking (received packets are counted as
 * not-ECT); compatible version negotiation (RFC 9368).
 *
 * @module
 */
import { merge, Subject, type Observable } from 'rxjs';
import { createActor, type Actor, type AnyActorRef } from 'xstate';
import { CONNECTION_SYSTEM_ID, connectionMachine, type ConnectionEndFacts, type ConnectionMachine, type ConnectionMachineEvent } from '../../machines/connection.js';
import { PMTUD_INSPECT_ATTACH, PMTUD_SYSTEM_ID } from '../../machines/pmtud.js';
import { AEAD_LIMITS } from '../crypto/keys.js';
import { openPacket, PacketDecryptionError, unprotectHeader } from '../crypto/packet-protection.js';
import type { CryptoProvider } from '../crypto/provider.js';
import { PacketAssembler, type FlushOptions, type OutboundSources } from '../packet/assembler.js';
import { MIN_INITIAL_DATAGRAM_SIZE } from '../packet/builder.js';
import type { BuilderContext } from '../packet/context.js';
import { notifyAcked, notifyLost } from '../packet/dispatch.js';
import { PacketNumberState } from '../packet/packet-numbers.js';
import { cryptoRandomSource, type RandomSource } from '../packet/random.js';
import type { FrameSource, SentPacket } from '../packet/types.js';
import { Recovery, recoverySendLimits, type ProbeRequest } from '../recovery/index.js';
import { PathMtuDiscovery } from './pmtud.js';
import { PathValidator } from './path-validation.js';
import { createClientSession, createServerSession, type TlsSession } from '../tls/session.js';
import type { TlsHandshakeInfo } from '../tls/session-events.js';
import { QuicError, TransportErrorCode } from '../wire/errors.js';
import { decodeFrames } from '../wire/frames/decode.js';
import { frameTypeOf, isAckEliciting } from '../wire/frames/rules.js';
import type { AckFrame, ConnectionCloseFrame, DatagramFrame, Frame, NewConnectionIdFrame, PathChallengeFrame, PathResponseFrame } from '../wire/frames/types.js';
import { checkReservedBits, FIXED_BIT, HEADER_FORM_BIT, iteratePackets, keyPhaseBit, type ParsedLongPacket, type ParsedPacket, type ParsedShortPacket } from '../wire/header.js';
import { spaceOf, type EncryptionLevel, type PacketNumberSpace } from '../wire/levels.js';
import { decodeTransportParameters, encodeTransportParameters, validatePeerConnectionIds, type TransportParameters } from '../wire/transport-parameters.js';
import { varintSize } from '../wire/varint.js';
import { QUIC_V1, type QuicVersion } from '../wire/version.js';
import { AmplificationLimit } from './amplification.js';
import { closePeriodEnd, CloseResponder } from './closing.js';
import { connectionIdEquals, LocalConnectionIds, PeerConnectionIds } from './connection-ids.js';
import type {
  AddressedDatagram,
  ConnectionCloseInfo,
  ConnectionEvent,
  ConnectionOptions,
  ConnectionState,
  ConnectionStats,
  QuicConnectionCore,
  SocketAddress,
  StreamStats,
  TransportSettings,
} from './connection-types.js';
import { ControlQueue, type ControlFrame } from './control-queue.js';
import { CryptoRecvBuffer } from './crypto-recv.js';
import type { CryptoLevel } from './crypto-send.js';
import { DatagramQueue } from './datagram-queue.js';
import { KeyManager, type ReadKeySlot } from './key-manager.js';
import { judgeRetry } from './retry-client.js';
import { localTransportParameters, resolveTransportSettings } from './settings.js';
import { StatelessResetTokenGenerator } from './stateless-reset.js';
import { AckSource } from './sources/ack-source.js';
import { CloseSource, type CloseReason } from './sources/close-source.js';
import { ControlSource } from './sources/control-source.js';
import { CryptoSource } from './sources/crypto-source.js';
import { DatagramSource } from './sources/datagram-source.js';
import { PathProbeSource } from './sources/path-probe-source.js';
import { PingSource } from './sources/ping-source.js';
import { StreamManager } from './streams.js';
import { judgeVersionNegotiation } from './version-negotiation.js';

export { DEFAULT_TRANSPORT_SETTINGS } from './settings.js';

/** Length of the Destination Connection ID a client picks for its first Initial (RFC 9000 §7.2: at least 8 bytes, unpredictable). */
export const CLIENT_INITIAL_DCID_LENGTH = 16;

/** Handshake and 1-RTT packets held at most while their keys are missing (RFC 9001 §5.7 allows dropping; a few help when a flight is reordered). */
export const MAX_BUFFERED_UNDECRYPTABLE_PACKETS = 8;

/** Bytes of buffered undecryptable packets held at most. */
export const MAX_BUFFERED_UNDECRYPTABLE_BYTES = 32 * 1024;

/** Path validations a peer address whose validation failed is not tried again for, in validation timeouts (keeps a black-holed address from being retried on every packet from it). */
export const PATH_RETRY_HOLDOFF = 3;

/** Peer addresses other than the current one whose PATH_CHALLENGE frames are answered (a peer probing paths, RFC 9000 §9.1), remembered at most. */
export const MAX_PROBE_PATHS = 4;

/** PATH_CHALLENGE / PATH_RESPONSE frames owed to other peer addresses, queued at most (the oldest is dropped: the peer challenges again, RFC 9000 §8.2.2). */
export const MAX_OFF_PATH_FRAMES = 8;

/** When the pacer blocks a flush, the next one is attempted at least this long after, ms. */
export const PACING_MIN_WAIT = 0.25;

/** Knobs for tests and benchmarks; production code leaves them out. */
export interface ConnectionTuning {
  /** Random integers for packet number skips and Fixed Bit greasing; default drawn from the crypto provider. */
  readonly random?: RandomSource;
  /** The AEAD integrity limit (RFC 9001 §6.6) to enforce instead of the negotiated AEAD's (2^52 or 2^36, unreachable in a test). */
  readonly aeadIntegrityLimit?: number;
  /** Datagrams per flush at most (the assembler's flush limit). */
  readonly maxDatagramsPerFlush?: number;
  /**
   * An extra frame source asked right after CONNECTION_CLOSE (not congestion controlled): tests use
   * it to send arbitrary frames — wrong ones included — through the real outbound path and packet
   * protection.
   */
  readonly extraSource?: FrameSource;
}

/** Thrown by application calls on a connection that is closing, draining or closed. */
export class ConnectionClosedError extends Error {
  /** Why the connection ended. */
  readonly info: ConnectionCloseInfo | undefined;
  constructor(operation: string, info: ConnectionCloseInfo | undefined) {
    super(`${operation}: the connection is ${info === undefined ? 'closed' : `closed (${info.source}: ${info.reason || `code ${info.code}`})`}`);
    this.name = 'ConnectionClosedError';
    this.info = info;
  }
}

/** A packet held until the keys of its level arrive (RFC 9001 §5.7). */
interface BufferedPacket {
  readonly level: 'handshake' | 'oneRtt';
  readonly bytes: Uint8Array;
}

/** What became of one packet of a datagram. */
type PacketOutcome =
  /** Authenticated and processed. */
  | 'processed'
  /** Authenticated, but a duplicate (or processed only for CONNECTION_CLOSE while closing). */
  | 'authenticated'
  /** Dropped before or at authentication (unknown connection ID, no keys, failed AEAD, …). */
  | 'dropped'
  /** Held until its keys arrive. */
  | 'buffered';

const EMPTY = new Uint8Array(0);
const UTF8 = new TextDecoder('utf-8', { fatal: false });

const SPACES: readonly PacketNumberSpace[] = ['initial', 'handshake', 'application'];
const NO_FLUSH_OPTIONS: FlushOptions = Object.freeze({});
const NO_PACKETS: readonly SentPacket[] = Object.freeze([]);

/** The earlier of `t` and `v` (`v` undefined: `t`). */
function earlier(t: number, v: number | undefined): number {
  return v !== undefined && v < t ? v : t;
}

function sameAddress(a: SocketAddress, b: SocketAddress): boolean {
  return a.port === b.port && a.address === b.address;
}

/** True for an IPv4 loopback address (127.0.0.0/8, also IPv4-mapped) or IPv6 ::1. */
function isLoopbackAddress(address: string): boolean {
  const a = address.toLowerCase();
  return a === '::1' || a === '0:0:0:0:0:0:0:1' || a.startsWith('127.') || a.startsWith('::ffff:127.');
}

/** RFC 9000 §9.1: PATH_CHALLENGE, PATH_RESPONSE, NEW_CONNECTION_ID and PADDING are probing frames; a packet of only those is a probing packet. */
function isProbingPacket(frames: readonly Frame[]): boolean {
  for (let i = 0; i < frames.length; i++) {
    const k = frames[i].kind;
    if (k !== 'pathChallenge' && k !== 'pathResponse' && k !== 'newConnectionId' && k !== 'padding') return false;
  }
  return true;
}

/** A peer address and its anti-amplification state (RFC 9000 §8, §9.3). */
interface PeerPath {
  readonly address: SocketAddress;
  readonly amplification: AmplificationLimit;
}

/** A PATH_CHALLENGE or PATH_RESPONSE owed to a peer address other than the current one, with that address's anti-amplification state. */
interface OffPathFrame {
  readonly to: SocketAddress;
  readonly amplification: AmplificationLimit;
  readonly frame: PathChallengeFrame | PathResponseFrame;
}

const NO_ADDRESSED_DATAGRAMS: readonly AddressedDatagram[] = Object.freeze([]);

/**
 * A QUIC connection, sans-IO: see the module documentation and {@link QuicConnectionCore}.
 *
 * Construction: a client with {@link ClientConnectionOptions} (its first flight is queued at
 * once: call {@link flush}); a server with {@link ServerConnectionOptions} built by the endpoint
 * from the client's first Initial (version, Destination and Source Connection IDs, Retry source
 * connection ID, address validation), after which the endpoint hands it that datagram with
 * {@link receive}.
 */
export class QuicConnection implements QuicConnectionCore {
  /** This endpoint's role. */
  readonly role: 'client' | 'server';
  /** The effective transport settings (defaults filled in). */
  readonly settings: TransportSettings;
  /** The live lifecycle actor (`machines/connection.ts`); the TLS actor and, when inspected, the packet builder mirror are its children. */
  readonly actor: Actor<ConnectionMachine>;

  private readonly provider: CryptoProvider;
  /** The current peer address: where datagrams go (RFC 9000 §9.3). */
  private remote: SocketAddress;
  private readonly epochOffset: number;
  private versionValue: QuicVersion;
  private stateValue: ConnectionState = 'idle';
  private readonly createdAt: number;

  // ---- protection, TLS, recovery, builder -----------------------------------------------------
  private readonly keys: KeyManager;
  private readonly tls: TlsSession;
  private readonly recovery: Recovery;
  /** DPLPMTUD of the path (RFC 8899). */
  private readonly pmtud: PathMtuDiscovery;
  /** Server: mints NEW_TOKEN tokens (ServerConnectionOptions.newToken). */
  private readonly newTokenMinter: ((address: SocketAddress) => Uint8Array | undefined) | undefined;
  /** PMTU discovery is on and has not started yet (waits for a confirmed handshake and a validated address). */
  private pmtudWaiting: boolean;
  /** The PLPMTU last applied to recovery. */
  private appliedPlpmtu: number;
  /** The MTU probe size asked of the flush under way (0: none). */
  private mtuProbeRequested = 0;
  private readonly pn: Record<PacketNumberSpace, PacketNumberState>;
  private readonly assembler: PacketAssembler;
  private readonly builderContext: BuilderContext;
  /** The anti-amplification limit of the current peer address (RFC 9000 §8.1, §9.3). */
  private amplification: AmplificationLimit;

  // ---- peer address changes (RFC 9000 §9) -------------------------------------------------------
  /** The last validated peer path while the current one is not validated yet (RFC 9000 §9.3.2). */
  private fallbackPath: PeerPath | undefined;
  /** The validation of the current peer address, and the challenge of the previous one (RFC 9000 §8.2, §9.3.3). */
  private readonly pathValidator: PathValidator;
  /** A peer address whose validation failed, and until when it is not tried again. */
  private failedPath: { readonly address: SocketAddress; readonly until: number } | undefined;
  /** While a datagram from an address other than the current one is processed: that address and the datagram's size. */
  private otherFrom: SocketAddress | undefined;
  private otherLength = 0;
  /** The datagram from {@link otherFrom} counts already toward a probe path's anti-amplification budget. */
  private otherCounted = false;
  /** Peer addresses other than the current one that sent PATH_CHALLENGE frames, with their anti-amplification state (RFC 9000 §8, §9.1). */
  private probePaths: PeerPath[] = [];
  /** PATH_* frames owed to other peer addresses, oldest first. */
  private offPathFrames: OffPathFrame[] = [];
  /** The off-path frame whose datagram the flush builds now. */
  private offPath: OffPathFrame | undefined;
  /** Datagrams the last flush built for other peer addresses (see {@link drainOffPathDatagrams}). */
  private offPathOut: AddressedDatagram[] = [];
  private readonly pathProbeSource: PathProbeSource;
  private readonly offPathOutbound: OutboundSources;
  /** The first application packet number sent on the current path (RFC 9000 §9.4: earlier ones went elsewhere). */
  private pathStartPn = 0;
  /** The current peer address is a new IP address, not validated yet: datagrams stay at the base size (RFC 9000 §14.3). */
  private newIpUnvalidated = false;
  private offPathDatagramsSent = 0;
  private peerAddressChanges = 0;

  // ---- sources ---------------------------------------------------------------------------------
  private readonly ackSource: AckSource;
  private readonly cryptoSource = new CryptoSource();
  private readonly closeSource = new CloseSource();
  private readonly controlQueue: ControlQueue;
  private readonly datagramQueue: DatagramQueue;
  private readonly pingSource = new PingSource();
  private readonly streams: StreamManager;
  private readonly outbound: OutboundSources;
  private readonly closingOutbound: OutboundSources;
  private readonly cryptoRecv: Record<CryptoLevel, CryptoRecvBuffer> = {
    initial: new CryptoRecvBuffer('initial'),
    handshake: new CryptoRecvBuffer('handshake'),
    oneRtt: new CryptoRecvBuffer('oneRtt'),
  };
  private readonly wake = new Subject<void>();
  /** Emits when the connection has something to send (see {@link QuicConnectionCore.pending$}). */
  readonly pending$: Observable<void>;

  // ---- connection IDs ----------------------------------------------------------------------------
  private readonly localCids: LocalConnectionIds;
  private peerCids: PeerConnectionIds | undefined;
  private readonly cidChanges = new Subject<{ readonly added?: Uint8Array; readonly removed?: Uint8Array }>();
  /** Emits `{ added }` / `{ removed }` as this connection issues and retires connection IDs (see {@link QuicConnectionCore.localConnectionIds$}). */
  readonly localConnectionIds$: Observable<{ readonly added?: Uint8Array; readonly removed?: Uint8Array }>;
  /** The Destination Connection ID before the peer's connection IDs are known (client: random, then the Retry's). */
  private dcid: Uint8Array;
  /** Client: the DCID of its first Initial of this attempt; server: the client's (original_destination_connection_id). */
  private originalDcid: Uint8Array;
  /** Server: the DCID the client's Initial packets carry (the Retry's SCID after a Retry, else the original). */
  private readonly clientInitialDcid: Uint8Array | undefined;
  /** Server: the Source Connection ID of the client's first Initial (its initial_source_connection_id, RFC 9000 §7.3). */
  private readonly clientScid: Uint8Array | undefined;
  /** Client: the Source Connection ID of the server's first Initial (RFC 9000 §7.2, §7.3). */
  private serverInitialScid: Uint8Array | undefined;
  private retryScid: Uint8Array | undefined;
  private token: Uint8Array = EMPTY;

  // ---- handshake ----------------------------------------------------------------------------------
  private peerTp: TransportParameters | undefined;
  private handshakeComplete = false;
  private handshakeConfirmed = false;
  private handshakeDuration: number | undefined;
  private packetProcessed = false;
  private clientSentHandshake = false;
  private versionNegotiated = false;

  // ---- timers and sending state -------------------------------------------------------------------
  private lastActivity: number;
  private lastExchange: number;
  private ackElicitingSinceReceive = false;
  private readonly probes: Record<PacketNumberSpace, number> = { initial: 0, handshake: 0, application: 0 };
  private flushNow: number;
  private flushLimitedAt: number | undefined;
  private pacingWakeAt: number | undefined;
  private amplificationLimited = false;
  private outbox: Uint8Array[] = [];
  private fatal: Error | undefined;

  // ---- receive state --------------------------------------------------------------------------------
  private buffered: BufferedPacket[] = [];
  private bufferedBytes = 0;
  private replayPending = false;
  private integrityFailures = 0;
  private integrityLimit: number;
  private readonly integrityLimitOverride: number | undefined;

  // ---- closing ----------------------------------------------------------------------------------------
  private closeInfo: ConnectionCloseInfo | undefined;
  private closingEmitted = false;
  private closeDeadline: number | undefined;
  private closeResponder = new CloseResponder();

  // ---- events and stats -----------------------------------------------------------------------------
  private events: ConnectionEvent[] = [];
  private queuedDatagramEvents = 0;
  private datagramsSent = 0;
  private datagramsReceived = 0;
  private bytesSent = 0;
  private bytesReceived = 0;
  private packetsReceived = 0;
  private packetsDropped = 0;

  /**
   * Creates a connection. A client queues its first flight (ClientHello) at once; a server waits
   * for the client's first Initial, which the endpoint passes to {@link receive}.
   *
   * @throws RangeError for transport settings out of range; TlsAlertError(internal_error) for an
   *   invalid TLS configuration.
   */
  constructor(options: ConnectionOptions, tuning: ConnectionTuning = {}) {
    const now = options.now;
    this.role = options.role;
    this.provider = options.provider;
    this.pathValidator = new PathValidator((n) => this.provider.randomBytes(n));
    this.remote = options.remoteAddress;
    this.epochOffset = options.epochOffset ?? 0;
    this.settings = resolveTransportSettings(options.transport, options.role);
    const settings = this.settings;
    this.createdAt = this.lastActivity = this.lastExchange = this.flushNow = now;
    this.integrityLimitOverride = tuning.aeadIntegrityLimit;
    this.integrityLimit = tuning.aeadIntegrityLimit ?? AEAD_LIMITS['aes-128-gcm'].integrity;
    const random = tuning.random ?? cryptoRandomSource(options.provider);

    this.actor = createActor(connectionMachine, {
      id: CONNECTION_SYSTEM_ID,
      systemId: CONNECTION_SYSTEM_ID,
      input: { role: options.role },
      ...(options.inspect === undefined ? {} : { inspect: options.inspect }),
    });
    this.actor.start();

    // Connection IDs (RFC 9000 §5.1).
    this.localCids = new LocalConnectionIds({
      provider: options.provider,
      connectionIdLength: settings.connectionIdLength,
      resetTokens: new StatelessResetTokenGenerator(options.provider, options.statelessResetKey),
      listener: {
        added: (e) => this.cidChanges.next({ added: e.connectionId }),
        removed: (e) => this.cidChanges.next({ removed: e.connectionId }),
      },
    });
    this.localConnectionIds$ = this.cidChanges.asObservable();

    const version = options.version ?? QUIC_V1;
    this.versionValue = version;
    this.keys = new KeyManager(options.provider, version);
    if (options.role === 'client') {
      // RFC 9000 §7.2: an unpredictable Destination Connection ID of at least 8 bytes.
      this.dcid = this.originalDcid = options.provider.randomBytes(CLIENT_INITIAL_DCID_LENGTH);
      this.clientInitialDcid = undefined;
      this.clientScid = undefined;
      // RFC 9000 §8.1.3: a NEW_TOKEN token from an earlier connection goes in our Initial packets.
      if (options.token !== undefined) this.token = options.token.slice();
      this.keys.setInitial(version, this.dcid, 'client');
      this.amplification = new AmplificationLimit(true);
    } else {
      this.originalDcid = options.originalDestinationCid.slice();
      this.clientInitialDcid = (options.retrySourceCid ?? options.originalDestinationCid).slice();
      this.dcid = this.clientScid = options.clientSourceCid.slice();
      this.retryScid = options.retrySourceCid?.slice();
      // RFC 9001 §5.2: Initial keys from the Destination Connection ID of the client's Initial.
      this.keys.setInitial(version, this.clientInitialDcid, 'server');
      this.peerCids = new PeerConnectionIds({ activeConnectionIdLimit: settings.activeConnectionIdLimit, initialConnectionId: options.clientSourceCid });
      this.amplification = new AmplificationLimit(options.addressValidated === true);
    }

    // Path MTU discovery (RFC 9000 §14.3): the builder's datagram size follows its PLPMTU.
    this.pmtud = new PathMtuDiscovery({ base: settings.maxDatagramSize });
    this.newTokenMinter = options.role === 'server' ? options.newToken : undefined;
    this.pmtudWaiting = settings.pathMtuDiscovery === true || (settings.pathMtuDiscovery === 'loopback' && isLoopbackAddress(this.remote.address));
    this.appliedPlpmtu = this.pmtud.plpmtu;

    // Loss recovery and the packet builder.
    this.recovery = new Recovery({ isServer: options.role === 'server', initialRtt: settings.initialRtt, maxDatagramSize: settings.maxDatagramSize });
    this.pn = {
      initial: new PacketNumberState('initial', { random }),
      handshake: new PacketNumberState('handshake', { random }),
      application: new PacketNumberState('application', { random }),
    };
    this.ackSource = new AckSource({ maxAckDelay: settings.maxAckDelay, ackDelayExponent: settings.ackDelayExponent });
    this.controlQueue = new ControlQueue({
      stillNeeded: (f: ControlFrame) => (f.kind === 'newConnectionId' ? this.localCids.isActive(f.sequenceNumber) : true),
      pathChallengeLost: (data) => this.onPathChallengeLost(data),
    });
    this.datagramQueue = new DatagramQueue({ maxQueued: settings.datagramSendQueueLength });
    this.datagramQueue.setMaxPacketPayload(this.maxDatagramPayloadRoom());
    this.datagramQueue.events$.subscribe((e) => this.emit({ type: 'datagramStatus', id: e.id, status: e.outcome }));
    const rtt = this.recovery.lossDetection.rtt;
    this.streams = new StreamManager({
      role: options.role,
      settings,
      controlQueue: this.controlQueue,
      emit: (e: ConnectionEvent) => this.emit(e),
      now,
      // Receive windows auto-tune with the RTT estimate (RFC 9000 §4.2).
      smoothedRtt: () => (rtt.hasSample ? rtt.smoothedRtt : undefined),
      // The streams' machines appear under the connection actor while inspected.
      ...(options.inspect === undefined ? {} : { inspect: { parent: this.actor } }),
    });
    // RFC 9000 §5.1.2: a retirement is complete once its RETIRE_CONNECTION_ID is acknowledged.
    this.controlQueue.acknowledged$.subscribe((f) => {
      if (f.kind === 'retireConnectionId') this.peerCids?.onRetireConnectionIdAcked(f.sequenceNumber);
    });
    const control = new ControlSource(this.controlQueue);
    const sources: FrameSource[] = [
      this.ackSource,
      this.cryptoSource,
      this.closeSource,
      ...(tuning.extraSource === undefined ? [] : [tuning.extraSource]),
      control,
      this.streams.sources.flowControl,
      new DatagramSource(this.datagramQueue),
      this.streams.sources.stream,
      this.pingSource,
    ];
    this.outbound = { sources, congestionGate: tuning.extraSource === undefined ? 3 : 4 };
    // A client's Finished still queued when it closes goes with the CONNECTION_CLOSE (RFC 9001
    // §4.1.1: its handshake is complete once the Finished is sent), so the server completes its
    // handshake and can read the close: only the Handshake CRYPTO stream, only for a client.
    const finishedOnClose: FrameSource = {
      name: 'crypto',
      hasPending: (level) => level === 'handshake' && this.role === 'client' && this.cryptoSource.hasPending(level),
      write: (writer) => (writer.level === 'handshake' && this.role === 'client' ? this.cryptoSource.write(writer) : 0),
      onAcked: (frame, packet) => this.cryptoSource.onAcked(frame, packet),
      onLost: (frame, packet) => this.cryptoSource.onLost(frame, packet),
    };
    this.closingOutbound = { sources: [finishedOnClose, this.closeSource], congestionGate: 2 };
    // Datagrams for another peer address (RFC 9000 §8.2.2, §9.3.3): one PATH_* frame each, through
    // the same assembler; not congestion controlled (bounded, and RFC 9000 §9.4 keeps them out of
    // the current path's controller), held to that address's anti-amplification budget.
    this.pathProbeSource = new PathProbeSource((data) => this.onPathChallengeLost(data));
    this.offPathOutbound = { sources: [this.pathProbeSource], congestionGate: 1 };
    // A delayed ACK rides on any packet another source (or a probe) makes the flush send (RFC 9000 §13.2.1).
    this.ackSource.setPacketPlanned((level) => {
      if (this.probes[spaceOf(level)] > 0) return true;
      for (let i = 1; i < sources.length; i++) if (sources[i].hasPending(level)) return true;
      return false;
    });
    this.pending$ = merge(
      this.ackSource.pending$,
      this.cryptoSource.pending$,
      this.closeSource.pending$,
      this.controlQueue.pending$,
      this.datagramQueue.pending$,
      this.pingSource.pending$,
      this.streams.sources.stream.pending$,
      this.streams.sources.flowControl.pending$,
      this.wake,
    );

    const self = this;
    const limits = recoverySendLimits(this.recovery);
    this.builderContext = {
      role: options.role,
      version: () => self.versionValue,
      destinationCid: () => self.destinationCid(),
      sourceCid: () => self.localCids.initial.connectionId,
      initialToken: () => self.token,
      sendKeys: (level) => self.keys.sendKeys(level),
      keyPhase: () => self.keys.oneRtt.writePhase,
      canUpdateKeys: () => self.canUpdateKeys(self.flushNow),
      updateKeys: () => self.keys.oneRtt.initiate(self.pn.application.next),
      keyUpdateBudget: settings.keyUpdatePackets === undefined ? undefined : { packets: settings.keyUpdatePackets },
      packetNumbers: (space) => self.pn[space],
      limits: {
        maxDatagramSize: () => self.maxDatagramSize(),
        amplificationBudget: () => (self.offPath !== undefined ? self.offPath.amplification.budget() : self.amplification.budget()),
        congestionAllowance: limits.congestionAllowance,
        pacingAllowance: limits.pacingAllowance,
      },
      random,
      // RFC 9287 §3: the Fixed Bit may be greased once the peer announced grease_quic_bit.
      fixedBitGreasing: (level) => level === 'oneRtt' && self.peerTp?.greaseQuicBit === true,
      onPacketSent: (packet) => self.onPacketSent(packet),
      onDatagram: (datagram) => self.onDatagram(datagram),
      onFatalError: (error) => {
        self.fatal = error;
      },
    };
    this.assembler = new PacketAssembler(this.builderContext, { maxDatagramsPerFlush: tuning.maxDatagramsPerFlush });
    // The packet builder's lifecycle shown under the connection actor while inspected (its
    // inspector was given to createActor, so no observer is passed again).
    if (options.inspect !== undefined) {
      this.assembler.attachInspector(this.actor);
      // PMTU discovery's state too (machines/pmtud.ts): the connection machine spawns its mirror.
      this.actor.send({ type: PMTUD_INSPECT_ATTACH });
      const pmtudMirror = this.actor.system.get(PMTUD_SYSTEM_ID) as AnyActorRef | undefined;
      if (pmtudMirror !== undefined) this.pmtud.machine.attachMirror(pmtudMirror, 'replay');
    }

    // TLS (RFC 9001 §4): our transport parameters, the session as a child of the connection actor.
    const scid = this.localCids.initial.connectionId;
    if (options.role === 'client') {
      const tp = localTransportParameters(settings, 'client', { initialSource: scid });
      this.tls = createClientSession({ ...options.tls, transportParameters: encodeTransportParameters(tp, { role: 'client', grease: true }) }, options.provider, { parent: this.actor });
      this.tls.start(now + this.epochOffset);
      this.processTlsEvents(now);
    } else {
      const tp = localTransportParameters(settings, 'server', {
        initialSource: scid,
        originalDestination: this.originalDcid,
        retrySource: this.retryScid,
        statelessResetToken: this.localCids.initial.statelessResetToken,
      });
      this.tls = createServerSession({ ...options.tls, transportParameters: encodeTransportParameters(tp, { role: 'server', grease: true }) }, options.provider, { parent: this.actor });
    }
  }

  // ================================================================================================
  // QuicConnectionCore: identity
  // ================================================================================================

  /** The lifecycle state (the machine's). */
  get state(): ConnectionState {
    return this.stateValue;
  }

  /** The version in use (it changes once when a client switches after Version Negotiation). */
  get version(): QuicVersion {
    return this.versionValue;
  }

  /** The peer address datagrams are sent to now (it follows the peer's migration, RFC 9000 §9.3). */
  get remoteAddress(): SocketAddress {
    return this.remote;
  }

  /** The peer's transport parameters, once received and validated. */
  get peerTransportParameters(): TransportParameters | undefined {
    return this.peerTp;
  }

  /** Our connection IDs that route to this connection (none once closed). */
  localConnectionIds(): readonly Uint8Array[] {
    if (this.stateValue === 'closed') return [];
    return this.localCids.activeConnectionIds().map((e) => e.connectionId);
  }

  /** Takes the queued application events, oldest first. */
  drainEvents(): ConnectionEvent[] {
    const e = this.events;
    this.events = [];
    this.queuedDatagramEvents = 0;
    return e;
  }

  // ================================================================================================
  // Receive path
  // ================================================================================================

  /**
   * Processes one UDP datagram (possibly several coalesced packets) received from `from` at `now`.
   * The datagram's bytes are unprotected in place, and the connection may keep views into them
   * (received stream data, tokens): hand over a buffer that is not reused. Never throws for peer
   * input; a protocol violation closes the connection.
   */
  receive(datagram: Uint8Array, from: SocketAddress, now: number): void {
    if (this.stateValue === 'closed') return;
    let other = false;
    if (!sameAddress(from, this.remote)) {
      // RFC 9000 §9: no migration before the handshake is confirmed, none while closing; a client
      // discards packets from an unknown server address (servers never migrate here).
      if (this.role === 'client' || this.stateValue !== 'confirmed') {
        this.packetsDropped++;
        return;
      }
      // A possible migration (RFC 9000 §9.3): decided per packet, once one authenticates.
      other = true;
    }
    this.datagramsReceived++;
    this.bytesReceived += datagram.length;
    if (this.stateValue === 'draining') return; // RFC 9000 §10.2.2: nothing is sent while draining.
    try {
      if (other) {
        this.otherFrom = from;
        this.otherLength = datagram.length;
        this.otherCounted = false;
      } else {
        this.amplification.onReceived(datagram.length);
      }
      this.receiveDatagram(datagram, now);
      if (this.replayPending) this.replayBuffered(now);
      this.updateAmplificationLimited(now);
    } catch (e) {
      this.closeOnError(e, now);
    }
    this.otherFrom = undefined;
    this.signal();
  }

  private receiveDatagram(datagram: Uint8Array, now: number): void {
    if (datagram.length > 0 && (datagram[0] & HEADER_FORM_BIT) === 0) {
      // One short header packet (it always ends its datagram, RFC 9000 §12.2): the checks of
      // parsePacketHeader (RFC 9000 §17.3.1) without the generator of iteratePackets.
      const pnOffset = 1 + this.localCids.connectionIdLength;
      let outcome: PacketOutcome = 'dropped';
      if (((datagram[0] & FIXED_BIT) !== 0 || this.settings.greaseQuicBit) && pnOffset < datagram.length) {
        const packet: ParsedShortPacket = { form: 'short', dcid: datagram.subarray(1, pnOffset), packetStart: 0, pnOffset, packetEnd: datagram.length };
        outcome = this.processPacket(datagram, packet, now);
      } else {
        this.packetsDropped++;
      }
      if (this.stateValue === 'closed' || this.stateValue === 'draining') return;
      // RFC 9000 §10.3.1: a datagram that cannot be processed and ends in a token of the peer's is a Stateless Reset.
      if (outcome === 'dropped' && this.peerCids !== undefined && this.peerCids.isStatelessReset(datagram)) {
        this.enterDraining({ source: 'stateless-reset', application: false, code: 0n, reason: 'stateless reset received' }, now);
      }
      return;
    }
    let authenticated = false;
    let failed = datagram.length === 0;
    if (failed) this.packetsDropped++;
    for (const r of iteratePackets(datagram, { shortHeaderDcidLength: this.localCids.connectionIdLength, allowFixedBitZero: this.settings.greaseQuicBit })) {
      if (!r.ok) {
        // RFC 9000 §12.2: a malformed packet ends the datagram; the packets before it stand.
        this.packetsDropped++;
        failed = true;
        break;
      }
      const outcome = this.processPacket(datagram, r.packet, now);
      if (outcome === 'processed' || outcome === 'authenticated') authenticated = true;
      else if (outcome === 'dropped') failed = true;
      if (this.stateValue === 'closed' || this.stateValue === 'draining') return;
    }
    // RFC 9000 §10.3.1: a datagram that cannot be processed and ends in a token of the peer's is a Stateless Reset.
    if (!authenticated && failed && this.peerCids !== undefined && this.peerCids.isStatelessReset(datagram)) {
      this.enterDraining({ source: 'stateless-reset', application: false, code: 0n, reason: 'stateless reset received' }, now);
    }
  }

  /** True when a packet with Destination Connection ID `dcid` is addressed to this connection. */
  private acceptsDcid(packet: ParsedLongPacket | ParsedShortPacket): boolean {
    if (this.localCids.lookup(packet.dcid) !== undefined) return true;
    // A server also accepts the client's Initial DCID until the handshake is confirmed: the client
    // uses it until it receives our first Initial (RFC 9000 §7.2).
    return packet.form === 'long' && this.clientInitialDcid !== undefined && !this.handshakeConfirmed && connectionIdEquals(packet.dcid, this.clientInitialDcid);
  }

  private processPacket(datagram: Uint8Array, packet: ParsedPacket, now: number): PacketOutcome {
    switch (packet.form) {
      case 'versionNegotiation':
        if (this.role === 'client') this.onVersionNegotiation(packet, now);
        else this.packetsDropped++;
        return 'dropped';
      case 'retry':
        if (this.role === 'client') this.onRetry(datagram, packet, now);
        else this.packetsDropped++;
        return 'dropped';
      case 'unsupportedVersion':
        this.packetsDropped++;
        return 'dropped';
      default:
        break;
    }
    if ((packet.form === 'long' && packet.version !== this.versionValue) || !this.acceptsDcid(packet)) {
      this.packetsDropped++;
      return 'dropped';
    }
    const level: EncryptionLevel = packet.form === 'short' ? 'oneRtt' : packet.type;
    if (level === 'zeroRtt') {
      // 0-RTT is not implemented: such packets are discarded (RFC 9000 §12.5 allows a server to).
      this.packetsDropped++;
      return 'dropped';
    }
    if (packet.form === 'long') {
      // RFC 9000 §14.1: a server MUST discard an Initial packet in a datagram below 1200 bytes.
      if (this.role === 'server' && level === 'initial' && datagram.length < MIN_INITIAL_DATAGRAM_SIZE) {
        this.packetsDropped++;
        return 'dropped';
      }
      // RFC 9000 §17.2.2: a client MUST discard a server Initial with a non-empty token.
      if (this.role === 'client' && level === 'initial' && packet.token.length > 0) {
        this.packetsDropped++;
        return 'dropped';
      }
      // RFC 9000 §7.2: once the server's first Initial is processed, packets with another SCID are discarded.
      if (this.role === 'client' && this.serverInitialScid !== undefined && !connectionIdEquals(packet.scid, this.serverInitialScid)) {
        this.packetsDropped++;
        return 'dropped';
      }
    }

    // Keys (RFC 9001 §5.7: a server does not process 1-RTT packets before the handshake completes).
    const readable =
      level === 'oneRtt' ? this.keys.oneRtt.canRead && (this.role === 'client' || this.handshakeComplete) : this.keys.readKeys(level as 'initial' | 'handshake') !== undefined;
    if (!readable) {
      if (this.stateValue === 'closing') {
        this.onPacketWhileClosing(undefined, level, now);
        return 'dropped';
      }
      if (this.keys.isDiscarded(level) || level === 'initial') {
        this.packetsDropped++;
        return 'dropped';
      }
      return this.bufferPacket(level as 'handshake' | 'oneRtt', datagram.subarray(packet.packetStart, packet.packetEnd));
    }

    const space = spaceOf(level);
    const tracker = this.ackSource.tracker(space);
    const hpKeys = level === 'oneRtt' ? this.keys.oneRtt.headerProtectionKeys! : this.keys.readKeys(level as 'initial' | 'handshake')!;
    let firstByte: number;
    let pn: number;
    let pnLength: number;
    let payloadEnd: number;
    let slot: ReadKeySlot = 'current';
    try {
      // RFC 9001 §5.4: header protection first (the same key for every key phase, §6.1).
      pn = unprotectHeader(hpKeys.hp, datagram, packet.packetStart, packet.pnOffset, packet.packetEnd, tracker.largestReceived ?? -1);
      firstByte = datagram[packet.packetStart];
      pnLength = (firstByte & 0x03) + 1;
      let keys = hpKeys;
      if (level === 'oneRtt') {
        // RFC 9001 §6.3, §6.5: the Key Phase bit (and the packet number) choose the keys.
        slot = this.keys.oneRtt.selectSlot(keyPhaseBit(firstByte), pn)!;
        keys = this.keys.oneRtt.keysIn(slot);
      }
      payloadEnd = openPacket(keys, datagram, packet.packetStart, packet.pnOffset, pnLength, pn, packet.packetEnd);
    } catch (e) {
      if (!(e instanceof PacketDecryptionError)) throw e;
      this.packetsDropped++;
      if (e.reason === 'authentication') this.onAuthenticationFailure();
      return 'dropped';
    }

    // Authenticated. RFC 9000 §17.2, §17.3.1: non-zero reserved bits are a PROTOCOL_VIOLATION.
    checkReservedBits(firstByte, packet.form);
    // RFC 9000 §12.3: a packet number already processed is a duplicate.
    if (tracker.isDuplicate(pn)) {
      this.packetsDropped++;
      return 'authenticated';
    }
    const payload = datagram.subarray(packet.pnOffset + pnLength, payloadEnd);
    let carrierGeneration = 0;
    if (level === 'oneRtt') {
      carrierGeneration = this.keys.oneRtt.generationOf(slot);
      this.keys.oneRtt.onOpened(slot, pn, now, this.pto(), this.pn.application.next);
    }

    if (this.stateValue === 'closing') {
      this.onPacketWhileClosing(payload, level, now);
      return 'authenticated';
    }

    const frames = decodeFrames(payload, level);
    if (packet.form === 'long') this.onFirstPackets(packet, level, now);

    let ackEliciting = false;
    for (let i = 0; i < frames.length; i++) {
      const f = frames[i];
      if (!ackEliciting && isAckEliciting(f)) ackEliciting = true;
      try {
        this.dispatchFrame(f, level, packet.dcid, carrierGeneration, now);
      } catch (e) {
        // Errors carry the frame type that caused them (RFC 9000 §19.19).
        if (e instanceof QuicError && e.frameType === undefined) throw new QuicError(e.code, e.reason, { frameType: frameTypeOf(f), cause: e });
        throw e;
      }
      if (this.ended) return 'processed';
    }
    // A packet from another address, authenticated and processed: maybe a migration (RFC 9000 §9.3).
    if (this.otherFrom !== undefined && level === 'oneRtt') this.onPacketFromOtherAddress(frames, pn, tracker.largestReceived, now);
    // The packet may have completed the handshake and discarded its own level (RFC 9001 §4.9).
    if (!this.keys.isDiscarded(level)) tracker.onPacketReceived(pn, ackEliciting, now);
    this.packetsReceived++;
    this.packetProcessed = true;
    // RFC 9000 §10.1: the idle timer restarts when a packet is processed.
    this.lastActivity = this.lastExchange = now;
    this.ackElicitingSinceReceive = false;
    // RFC 9001 §4.9.1: a server discards its Initial keys once it processes a Handshake packet.
    if (level === 'handshake' && this.role === 'server' && !this.keys.isDiscarded('initial')) this.discardLevel('initial', now);
    return 'processed';
  }

  /** Bookkeeping on the first authenticated long header packets: the server's SCID (client), address validation and start (server). */
  private onFirstPackets(packet: ParsedLongPacket, level: EncryptionLevel, now: number): void {
    if (this.role === 'client') {
      if (this.serverInitialScid === undefined && level === 'initial') {
        // RFC 9000 §7.2: the server's Source Connection ID becomes our Destination Connection ID.
        this.serverInitialScid = packet.scid.slice();
        this.peerCids = new PeerConnectionIds({ activeConnectionIdLimit: this.settings.activeConnectionIdLimit, initialConnectionId: this.serverInitialScid });
      }
      return;
    }
    if (this.stateValue === 'idle') this.lifecycle({ type: 'start' });
    if (level === 'handshake' && !this.amplification.validated) {
      // RFC 9000 §8.1: a Handshake packet from the client validates its address.
      this.amplification.validate();
      this.updateAmplificationLimited(now);
    }
  }

  private bufferPacket(level: 'handshake' | 'oneRtt', bytes: Uint8Array): PacketOutcome {
    if (this.buffered.length >= MAX_BUFFERED_UNDECRYPTABLE_PACKETS || this.bufferedBytes + bytes.length > MAX_BUFFERED_UNDECRYPTABLE_BYTES) {
      this.packetsDropped++;
      return 'dropped';
    }
    this.buffered.push({ level, bytes: bytes.slice() });
    this.bufferedBytes += bytes.length;
    return 'buffered';
  }

  /** Processes buffered packets whose keys have arrived (RFC 9001 §5.7). */
  private replayBuffered(now: number): void {
    this.replayPending = false;
    if (this.buffered.length === 0) return;
    const held = this.buffered;
    this.buffered = [];
    this.bufferedBytes = 0;
    for (const b of held) {
      if (this.stateValue === 'closed' || this.stateValue === 'draining') return;
      for (const r of iteratePackets(b.bytes, { shortHeaderDcidLength: this.localCids.connectionIdLength, allowFixedBitZero: this.settings.greaseQuicBit })) {
        if (!r.ok) break;
        this.processPacket(b.bytes, r.packet, now);
        break;
      }
    }
  }

  /** A packet failed authentication: counted against the AEAD integrity limit (RFC 9001 §6.6). */
  private onAuthenticationFailure(): void {
    this.integrityFailures++;
    if (this.integrityFailures >= this.integrityLimit) {
      throw new QuicError(TransportErrorCode.AEAD_LIMIT_REACHED, `${this.integrityFailures} packets failed authentication: the AEAD integrity limit (RFC 9001 §6.6)`);
    }
  }

  // ---- frames ----------------------------------------------------------------------------------

  private dispatchFrame(f: Frame, level: EncryptionLevel, packetDcid: Uint8Array, carrierGeneration: number, now: number): void {
    switch (f.kind) {
      case 'padding':
      case 'ping':
        return;
      case 'ack':
        this.onAckFrame(f, spaceOf(level), carrierGeneration, now);
        return;
      case 'crypto': {
        const cl = level as CryptoLevel;
        for (const chunk of this.cryptoRecv[cl].receive(f.offset, f.data)) this.tls.receive(cl, chunk, now + this.epochOffset);
        this.processTlsEvents(now);
        return;
      }
      case 'newToken':
        // RFC 9000 §19.7: a server MUST treat a NEW_TOKEN frame as a PROTOCOL_VIOLATION.
        if (this.role === 'server') throw new QuicError(TransportErrorCode.PROTOCOL_VIOLATION, 'NEW_TOKEN frame from a client');
        this.emit({ type: 'newToken', token: f.token.slice() });
        return;
      case 'stream':
        this.streams.onStreamFrame(f, now);
        return;
      case 'resetStream':
        this.streams.onResetStream(f, now);
        return;
      case 'stopSending':
        this.streams.onStopSending(f, now);
        return;
      case 'maxData':
        this.streams.onMaxData(f, now);
        return;
      case 'maxStreamData':
        this.streams.onMaxStreamData(f, now);
        return;
      case 'maxStreams':
        this.streams.onMaxStreams(f, now);
        return;
      case 'dataBlocked':
        this.streams.onDataBlocked(f, now);
        return;
      case 'streamDataBlocked':
        this.streams.onStreamDataBlocked(f, now);
        return;
      case 'streamsBlocked':
        this.streams.onStreamsBlocked(f, now);
        return;
      case 'newConnectionId':
        this.onNewConnectionId(f);
        return;
      case 'retireConnectionId':
        this.localCids.onRetireConnectionId(f.sequenceNumber, packetDcid);
        this.announceConnectionIds();
        return;
      case 'pathChallenge':
        // RFC 9000 §8.2.2: answer with a PATH_RESPONSE echoing the data, on the path the challenge came on.
        if (this.otherFrom === undefined) this.controlQueue.enqueue({ kind: 'pathResponse', data: f.data });
        else this.queueOffPath(this.otherFrom, this.probePathAmplification(this.otherFrom), { kind: 'pathResponse', data: f.data.slice() });
        return;
      case 'pathResponse':
        this.onPathResponse(f.data, now);
        return;
      case 'connectionClose':
        this.onConnectionClose(f, now);
        return;
      case 'handshakeDone':
        // RFC 9000 §19.20: a server MUST treat a HANDSHAKE_DONE frame as a PROTOCOL_VIOLATION.
        if (this.role === 'server') throw new QuicError(TransportErrorCode.PROTOCOL_VIOLATION, 'HANDSHAKE_DONE frame from a client');
        // RFC 9001 §4.1.2: the client's handshake is confirmed.
        if (!this.handshakeConfirmed) this.confirmHandshake(now);
        return;
      case 'datagram':
        this.onDatagramFrame(f);
        return;
    }
  }

  private onAckFrame(f: AckFrame, space: PacketNumberSpace, carrierGeneration: number, now: number): void {
    const frameType = f.ecn === undefined ? 0x02 : 0x03;
    // RFC 9000 §13.1, §21.4: an ACK of a packet number we skipped is a PROTOCOL_VIOLATION (recovery
    // refuses packets never sent above and between what it recorded).
    this.pn[space].checkAcknowledged(f.ranges, frameType);
    // RFC 9000 §19.3: ACK Delay is scaled by the peer's ack_delay_exponent in the application
    // space; Initial and Handshake ACKs use the default 3 (the parameters may not be known yet).
    const exponent = space === 'application' ? (this.peerTp?.ackDelayExponent ?? 3) : 3;
    const ackDelay = (f.ackDelay * 2 ** exponent) / 1000;
    const outcome = this.recovery.onAckReceived(space, { ranges: f.ranges, ackDelay, ecn: f.ecn }, now);
    this.pn[space].onAcknowledged(f.largest);
    if (space === 'application' && this.keys.oneRtt.write !== undefined) this.keys.oneRtt.onAckReceived(f.largest, carrierGeneration, now, this.pto());
    for (const p of outcome.acked) notifyAcked(p);
    for (const p of outcome.lost) notifyLost(p);
    if (space === 'application' && this.pmtud.state !== 'disabled') this.pmtudVerdicts(outcome.acked, outcome.lost, now);
  }

  /** Feeds recovery's verdicts on 1-RTT packets to PMTU discovery and applies a new PLPMTU. */
  private pmtudVerdicts(acked: readonly SentPacket[], lost: readonly SentPacket[], now: number): void {
    const d = this.pmtud;
    for (let i = 0; i < acked.length; i++) {
      const p = acked[i];
      if (p.isMtuProbe) d.onProbeAcked(p.packetNumber, p.size, p.timeSent, now);
      else if (p.ackEliciting) d.onPacketAcked(p.packetNumber, p.size, p.timeSent, now);
    }
    for (let i = 0; i < lost.length; i++) {
      const p = lost[i];
      if (p.level !== 'oneRtt') continue;
      if (p.isMtuProbe) d.onProbeLost(p.packetNumber, now);
      else if (p.ackEliciting) d.onPacketLost(p.packetNumber, p.size, p.timeSent, now);
    }
    this.applyPlpmtu();
  }

  /** The datagram size follows a changed PLPMTU; recovery's windows too (RFC 9002 §7.2). */
  private applyPlpmtu(): void {
    if (this.pmtud.plpmtu === this.appliedPlpmtu) return;
    this.appliedPlpmtu = this.pmtud.plpmtu;
    this.recovery.setMaxDatagramSize(this.maxDatagramSize());
  }

  /** Starts PMTU discovery once the handshake is confirmed and the peer's address validated (RFC 9000 §14.3, §14.4). */
  private maybeStartPmtud(now: number): void {
    if (!this.pmtudWaiting || !this.handshakeConfirmed || !this.amplification.validated) return;
    this.pmtudWaiting = false;
    const peer = this.peerTp?.maxUdpPayloadSize ?? MIN_INITIAL_DATAGRAM_SIZE;
    // MAX_PLPMTU: the local upper bound, capped by the peer's max_udp_payload_size (RFC 9000 §14.3, §18.2).
    this.pmtud.start(Math.min(this.settings.pathMtuUpperBound, peer), now);
    this.applyPlpmtu();
  }

  // ---- peer address changes (RFC 9000 §9) ------------------------------------------------------

  /**
   * An authenticated 1-RTT packet from an address other than the current peer address, after the
   * handshake is confirmed (server only). RFC 9000 §9.3: only a non-probing packet (§9.1) with the
   * highest packet number so far moves the connection to that address.
   */
  private onPacketFromOtherAddress(frames: readonly Frame[], pn: number, largestBefore: number | undefined, now: number): void {
    const from = this.otherFrom as SocketAddress;
    if (this.ended || isProbingPacket(frames)) return;
    if (largestBefore !== undefined && pn < largestBefore) return; // a reordered packet (§9.3)
    const failed = this.failedPath;
    if (failed !== undefined) {
      if (now >= failed.until) this.failedPath = undefined;
      else if (sameAddress(failed.address, from)) return; // its validation failed recently
    }
    this.otherFrom = undefined; // the rest of the datagram counts on the new path
    this.movePeerAddress(from, this.otherLength, now);
  }

  /** The current peer address becomes `address` (RFC 9000 §9.3); `received` bytes of it arrived already. */
  private movePeerAddress(address: SocketAddress, received: number, now: number): void {
    this.peerAddressChanges++;
    const fallback = this.fallbackPath;
    this.abandonPathValidation();
    // §9.4: application packets from here on are sent on the new path.
    this.pathStartPn = this.pn.application.next;
    if (fallback !== undefined && sameAddress(fallback.address, address)) {
      // Back to the last validated address (§9.3.3: e.g. after a spurious migration): no
      // validation, its amplification state and the congestion state it had are kept.
      this.remote = fallback.address;
      this.amplification = fallback.amplification;
      this.fallbackPath = undefined;
      this.newIpUnvalidated = false;
    } else {
      // Only a validated path is one to revert to; a move from an unvalidated one keeps the older fallback.
      if (this.amplification.validated) this.fallbackPath = { address: this.remote, amplification: this.amplification };
      this.remote = { address: address.address, port: address.port, family: address.family };
      // §9.3, §8: until validated, at most three times what the new address sent (what it sent
      // while probing included).
      const probed = this.takeProbePath(address);
      this.amplification = probed ?? new AmplificationLimit(false);
      if (probed === undefined || !this.otherCounted) this.amplification.onReceived(received);
      const validated = this.fallbackPath;
      // §14.3: the PLPMTU of the old path says nothing about another IP address; the base until validated.
      this.newIpUnvalidated = validated !== undefined && validated.address.address !== address.address;
      this.startPathValidation(now, false);
      // §9.3.3: in response to an apparent migration, validate the previously active path too
      // (an attacker forwarding a genuine packet moved us; the peer's answer there moves us back).
      if (validated !== undefined) {
        this.queueOffPath(validated.address, validated.amplification, { kind: 'pathChallenge', data: this.pathValidator.challengePreviousPath() });
      }
    }
    // §9.5: a connection ID not used before for the new destination, when the peer gave us one
    // (otherwise the current one: the peer moved on its own with the same ID, which §9.5 permits).
    this.usePeerConnectionIdForNewPath();
    this.updateAmplificationLimited(now);
  }

  /**
   * Sends a PATH_CHALLENGE with 8 unpredictable bytes on the current path and arms its timeout
   * (RFC 9000 §8.2.1, §8.2.4); `mtuCheck` for the second, full-size validation of §8.2.1.
   */
  private startPathValidation(now: number, mtuCheck: boolean): void {
    // §8.2.4: three times the larger of the current PTO and the new path's PTO from kInitialRtt.
    const initialPto = 3 * this.settings.initialRtt + (this.peerTp?.maxAckDelay ?? 25);
    const data = this.pathValidator.start(now + 3 * Math.max(this.pto(), initialPto), mtuCheck);
    this.controlQueue.enqueue({ kind: 'pathChallenge', data });
  }

  /** A packet with one of our PATH_CHALLENGE frames was lost: a fresh challenge replaces it (RFC 9000 §13.3), a few at most. */
  private onPathChallengeLost(data: Uint8Array): void {
    const fresh = this.pathValidator.onChallengeLost(data);
    if (fresh !== undefined) this.controlQueue.enqueue({ kind: 'pathChallenge', data: fresh });
  }

  /** RFC 9000 §8.2.3: a PATH_RESPONSE echoing one of our challenges, on any path, validates the path the challenge went on. */
  private onPathResponse(data: Uint8Array, now: number): void {
    const outcome = this.pathValidator.onResponse(data);
    // §9.3.3: the previous path works; nothing else changes (a non-probing packet from it moves us
    // back). An unsolicited or stale PATH_RESPONSE is ignored (§8.2.2 only permits treating it as an error).
    if (outcome.kind !== 'validated') return;
    if (!outcome.mtuCheck) {
      this.amplification.validate();
      this.newIpUnvalidated = false;
      const fallback = this.fallbackPath;
      // §9.4: a new IP address gets initial congestion and RTT state, and packets sent on the old
      // path stop counting for it; a port-only change (NAT rebinding, usually) keeps them, as the
      // RFC allows. §14.3: PMTU discovery starts over on the new IP address; a port-only change
      // keeps the route (same hosts, same links), so the PLPMTU is kept (black-hole detection
      // still catches a change).
      if (fallback !== undefined && fallback.address.address !== this.remote.address) {
        this.recovery.onPathChange(this.pathStartPn);
        this.restartPmtud(now);
        // RFC 9000 §8.1.3: the client's tokens are bound to its old IP address; one for the new one.
        this.offerNewToken();
      }
    }
    // §8.2.1: a challenge the anti-amplification limit kept small leaves the path MTU unvalidated:
    // a second validation in a full-size datagram (now allowed); the fallback stays until then.
    if (outcome.small) this.startPathValidation(now, true);
    else this.fallbackPath = undefined;
    this.updateAmplificationLimited(now);
  }

  /** The validation timed out (RFC 9000 §8.2.4): revert to the last validated address (§9.3.2), or end silently without one. */
  private onPathValidationFailed(now: number): void {
    const failedTimeout = this.pathValidator.fail(now);
    this.controlQueue.cancel((f) => f.kind === 'pathChallenge');
    this.failedPath = { address: this.remote, until: now + PATH_RETRY_HOLDOFF * Math.max(failedTimeout, 3 * this.pto()) };
    const fallback = this.fallbackPath;
    if (fallback === undefined) {
      // §9.3.2: no state about a validated peer address: the connection closes silently.
      this.abandon({ source: 'idle-timeout', application: false, code: 0n, reason: 'path validation of the new peer address failed and no validated address remains (RFC 9000 §9.3.2)' });
      return;
    }
    this.peerAddressChanges++;
    this.pathStartPn = this.pn.application.next;
    this.remote = fallback.address;
    this.amplification = fallback.amplification;
    this.fallbackPath = undefined;
    this.newIpUnvalidated = false;
    this.usePeerConnectionIdForNewPath();
    this.updateAmplificationLimited(now);
  }

  /** PMTU discovery of a new path (RFC 9000 §14.3, RFC 8899): from the base, started again under the same conditions as at first. */
  private restartPmtud(now: number): void {
    this.pmtud.restart();
    const setting = this.settings.pathMtuDiscovery;
    this.pmtudWaiting = setting === true || (setting === 'loopback' && isLoopbackAddress(this.remote.address));
    this.applyPlpmtu();
    this.maybeStartPmtud(now);
  }

  /**
   * The anti-amplification state of `address`, another peer address whose PATH_CHALLENGE we answer
   * (RFC 9000 §8, §9.1): the last validated path's, or a probe path's counting the datagram under way once.
   */
  private probePathAmplification(address: SocketAddress): AmplificationLimit {
    const fallback = this.fallbackPath;
    if (fallback !== undefined && sameAddress(fallback.address, address)) return fallback.amplification;
    let path: PeerPath | undefined;
    for (const p of this.probePaths) if (sameAddress(p.address, address)) path = p;
    if (path === undefined) {
      if (this.probePaths.length >= MAX_PROBE_PATHS) this.probePaths.shift();
      path = { address: { address: address.address, port: address.port, family: address.family }, amplification: new AmplificationLimit(false) };
      this.probePaths.push(path);
    }
    if (!this.otherCounted) {
      path.amplification.onReceived(this.otherLength);
      this.otherCounted = true;
    }
    return path.amplification;
  }

  /** Removes and returns the anti-amplification state of a probe path to `address`, if there is one. */
  private takeProbePath(address: SocketAddress): AmplificationLimit | undefined {
    const i = this.probePaths.findIndex((p) => sameAddress(p.address, address));
    if (i < 0) return undefined;
    return this.probePaths.splice(i, 1)[0].amplification;
  }

  /** Queues a PATH_* frame for a peer address other than the current one; the next flush sends it (RFC 9000 §8.2.2, §9.3.3). */
  private queueOffPath(to: SocketAddress, amplification: AmplificationLimit, frame: PathChallengeFrame | PathResponseFrame): void {
    if (this.offPathFrames.length >= MAX_OFF_PATH_FRAMES) this.offPathFrames.shift();
    this.offPathFrames.push({ to, amplification, frame });
    this.signal();
  }

  /** Forgets the validation under way and the challenges still queued. */
  private abandonPathValidation(): void {
    if (this.pathValidator.abandon()) this.controlQueue.cancel((f) => f.kind === 'pathChallenge');
  }

  /** RFC 9000 §9.5: switches to an unused peer connection ID, retiring the one used so far, when one is available. */
  private usePeerConnectionIdForNewPath(): void {
    const cids = this.peerCids;
    if (cids === undefined || cids.switchConnectionId(true) === undefined) return;
    for (const seq of cids.pendingRetireConnectionIds()) {
      this.controlQueue.enqueue({ kind: 'retireConnectionId', sequenceNumber: seq });
      cids.onRetireConnectionIdSent(seq);
    }
  }

  private onNewConnectionId(f: NewConnectionIdFrame): void {
    if (this.peerCids === undefined) throw new QuicError(TransportErrorCode.PROTOCOL_VIOLATION, 'NEW_CONNECTION_ID before the handshake');
    this.peerCids.onNewConnectionId(f);
    for (const seq of this.peerCids.pendingRetireConnectionIds()) {
      this.controlQueue.enqueue({ kind: 'retireConnectionId', sequenceNumber: seq });
      this.peerCids.onRetireConnectionIdSent(seq);
    }
  }

  /** Queues NEW_CONNECTION_ID frames for the connection IDs issued up to the peer's limit (RFC 9000 §5.1.1). */
  private announceConnectionIds(): void {
    this.localCids.replenish();
    for (const frame of this.localCids.pendingNewConnectionIds()) {
      this.controlQueue.enqueue(frame);
      this.localCids.onNewConnectionIdSent(frame.sequenceNumber);
    }
  }

  private onDatagramFrame(f: DatagramFrame): void {
    const announced = this.settings.maxDatagramFrameSize;
    // RFC 9221 §4: DATAGRAM frames without our max_datagram_frame_size are a PROTOCOL_VIOLATION.
    if (announced === 0) throw new QuicError(TransportErrorCode.PROTOCOL_VIOLATION, 'DATAGRAM frame received, but DATAGRAM support was not announced');
    const size = 1 + (f.explicitLength === false ? 0 : varintSize(f.data.length)) + f.data.length;
    // RFC 9221 §3: a frame larger than announced is a PROTOCOL_VIOLATION.
    if (size > announced) throw new QuicError(TransportErrorCode.PROTOCOL_VIOLATION, `DATAGRAM frame of ${size} bytes exceeds our max_datagram_frame_size ${announced}`);
    // A bounded receive queue: beyond the bound the oldest undrained datagram is dropped (RFC 9221 §5: unreliable).
    if (this.queuedDatagramEvents >= this.settings.datagramReceiveQueueLength) {
      const i = this.events.findIndex((e) => e.type === 'datagram');
      if (i >= 0) this.events.splice(i, 1);
      this.queuedDatagramEvents--;
    }
    this.queuedDatagramEvents++;
    this.events.push({ type: 'datagram', data: f.data.slice() });
  }

  private onConnectionClose(f: ConnectionCloseFrame, now: number): void {
    this.enterDraining(
      {
        source: 'peer',
        application: f.application,
        code: f.errorCode,
        reason: UTF8.decode(f.reason),
        ...(f.application ? {} : { frameType: f.frameType }),
      },
      now,
    );
  }

  // ---- TLS -------------------------------------------------------------------------------------

  /** Applies what the TLS session produced (RFC 9001 §4.1). Throws the session's failure as its QuicError. */
  private processTlsEvents(now: number): void {
    for (const e of this.tls.drain()) {
      switch (e.type) {
        case 'handshake_data':
          this.cryptoSource.append(e.level, e.data);
          break;
        case 'secret':
          this.keys.install(e.level, e.direction, e.cipherSuite, e.secret, this.pn.application.next);
          if (this.integrityLimitOverride === undefined) this.integrityLimit = Math.min(this.integrityLimit, AEAD_LIMITS[e.cipherSuite.aead].integrity);
          // RFC 9002 §6.2.2.1: with Handshake keys the client's anti-deadlock probes are Handshake packets.
          if (e.level === 'handshake' && e.direction === 'write') this.recovery.setHandshakeKeysAvailable(now);
          if (e.direction === 'read') this.replayPending = true;
          break;
        case 'transport_parameters':
          this.applyPeerTransportParameters(e.data);
          break;
        case 'handshake_complete':
          this.onHandshakeComplete(e.info, now);
          break;
        case 'session_ticket':
        case 'session_ticket_issued':
          // Tickets go to the TLS configuration's ticket store; nothing for the transport to do.
          break;
        case 'failed':
          // RFC 9001 §4.8: a TLS alert closes the connection with CRYPTO_ERROR (0x0100 + alert).
          throw e.error;
      }
    }
  }

  /** Decodes, authenticates (RFC 9000 §7.3) and applies the peer's transport parameters (RFC 9000 §7.4, §18.2). */
  private applyPeerTransportParameters(bytes: Uint8Array): void {
    const peerRole = this.role === 'client' ? 'server' : 'client';
    const tp = decodeTransportParameters(bytes, { sender: peerRole });
    if (this.role === 'server') {
      validatePeerConnectionIds(tp, { sender: 'client', initialSourceConnectionId: this.clientScid as Uint8Array });
    } else {
      if (this.serverInitialScid === undefined) throw new QuicError(TransportErrorCode.PROTOCOL_VIOLATION, 'server transport parameters before its Initial packet');
      validatePeerConnectionIds(tp, {
        sender: 'server',
        originalDestinationConnectionId: this.originalDcid,
        initialSourceConnectionId: this.serverInitialScid,
        ...(this.retryScid === undefined ? {} : { retrySourceConnectionId: this.retryScid }),
      });
    }
    this.peerTp = tp;
    this.recovery.setPeerMaxAckDelay(tp.maxAckDelay);
    const mds = this.maxDatagramSize();
    if (mds < this.recovery.maxDatagramSize) this.recovery.setMaxDatagramSize(mds);
    this.datagramQueue.setPeerMaxFrameSize(tp.maxDatagramFrameSize);
    this.datagramQueue.setMaxPacketPayload(this.maxDatagramPayloadRoom());
    this.streams.setPeerTransportParameters(tp);
    if (this.role === 'client' && this.peerCids !== undefined) {
      // RFC 9000 §10.3: the server's token for the connection ID of its handshake.
      if (tp.statelessResetToken !== undefined) this.peerCids.setInitialStatelessResetToken(tp.statelessResetToken);
      // RFC 9000 §5.1.1: the preferred address's connection ID has sequence number 1 (the address itself is not used).
      if (tp.preferredAddress !== undefined) this.peerCids.addPreferredAddressConnectionId(tp.preferredAddress.connectionId, tp.preferredAddress.statelessResetToken);
    }
    this.localCids.setPeerActiveConnectionIdLimit(tp.activeConnectionIdLimit);
    this.announceConnectionIds();
  }

  private onHandshakeComplete(info: TlsHandshakeInfo, now: number): void {
    this.handshakeComplete = true;
    this.handshakeDuration = now - this.createdAt;
    this.replayPending = true;
    this.lifecycle({ type: 'handshakeComplete' });
    this.emit({ type: 'handshakeComplete', info });
    if (this.role === 'server') {
      // RFC 9001 §4.1.2: the server's handshake is confirmed when it completes; it sends HANDSHAKE_DONE (RFC 9000 §19.20).
      this.controlQueue.enqueue({ kind: 'handshakeDone' });
      this.confirmHandshake(now);
    }
  }

  private confirmHandshake(now: number): void {
    this.handshakeConfirmed = true;
    this.lifecycle({ type: 'handshakeConfirmed' });
    this.emit({ type: 'handshakeConfirmed' });
    this.recovery.setHandshakeConfirmed(now);
    // RFC 9001 §4.9.2: Handshake keys are discarded once the handshake is confirmed.
    this.discardLevel('initial', now);
    this.discardLevel('handshake', now);
    this.maybeStartPmtud(now);
    this.offerNewToken();
  }

  /**
   * Server: sends a NEW_TOKEN frame with a token minted for the current client address
   * (RFC 9000 §8.1.3), when the endpoint mints them. A failing minter sends nothing.
   */
  private offerNewToken(): void {
    const mint = this.newTokenMinter;
    if (mint === undefined || this.ended) return;
    let token: Uint8Array | undefined;
    try {
      token = mint(this.remote);
    } catch {
      return;
    }
    if (token !== undefined && token.length > 0) this.sendNewToken(token);
  }

  /** Discards the keys and state of `level` (RFC 9001 §4.9; RFC 9002 §6.4). */
  private discardLevel(level: 'initial' | 'handshake', now: number): void {
    if (this.keys.isDiscarded(level)) return;
    this.keys.discard(level);
    this.recovery.discardSpace(level, now);
    this.cryptoSource.stream(level).discard();
    this.cryptoRecv[level].discard();
    this.ackSource.tracker(level).discard();
    this.pingSource.cancel(level);
    this.probes[level] = 0;
    if (this.buffered.some((b) => b.level === level)) {
      this.buffered = this.buffered.filter((b) => b.level !== level);
      this.bufferedBytes = this.buffered.reduce((n, b) => n + b.bytes.length, 0);
    }
  }

  // ---- Version Negotiation and Retry (client) ----------------------------------------------------

  private onVersionNegotiation(packet: Extract<ParsedPacket, { form: 'versionNegotiation' }>, now: number): void {
    const d = judgeVersionNegotiation(packet, {
      version: this.versionValue,
      sourceCid: this.localCids.initial.connectionId,
      destinationCid: this.dcid,
      packetProcessed: this.packetProcessed || this.versionNegotiated || this.retryScid !== undefined,
    });
    if (d.action === 'ignore') {
      this.packetsDropped++;
      return;
    }
    this.versionNegotiated = true;
    if (d.action === 'fail') {
      // RFC 9000 §6.2: no supported version in common: abandon the attempt.
      this.abandon(
        {
          source: 'version-negotiation',
          application: false,
          code: BigInt(TransportErrorCode.VERSION_NEGOTIATION_ERROR),
          reason: `the server supports none of our versions (it offered ${d.offered.map((v) => `0x${v.toString(16)}`).join(', ')})`,
        },
      );
      return;
    }
    // Start over with the version both support, from a fresh Initial.
    this.versionValue = d.version;
    this.dcid = this.originalDcid = this.provider.randomBytes(CLIENT_INITIAL_DCID_LENGTH);
    this.keys.setInitial(d.version, this.dcid, 'client');
    this.restartInitialFlight(now);
  }

  private onRetry(datagram: Uint8Array, packet: Extract<ParsedPacket, { form: 'retry' }>, now: number): void {
    const d = judgeRetry(this.provider, datagram, packet, {
      version: this.versionValue,
      sourceCid: this.localCids.initial.connectionId,
      destinationCid: this.dcid,
      retryOrInitialProcessed: this.retryScid !== undefined || this.packetProcessed,
    });
    if (d.action === 'ignore') {
      this.packetsDropped++;
      return;
    }
    // RFC 9000 §17.2.5.2: the Retry's SCID becomes the DCID, its token goes in every Initial.
    this.retryScid = d.sourceCid;
    this.token = d.token;
    this.dcid = d.sourceCid;
    // RFC 9001 §5.2: new Initial keys from the new Destination Connection ID.
    this.keys.setInitial(this.versionValue, this.dcid, 'client');
    this.restartInitialFlight(now);
  }

  /** After a Retry or a version switch: recovery restarts (RFC 9002 §6.3) and what the Initial packets carried is sent again. */
  private restartInitialFlight(now: number): void {
    for (const p of this.recovery.onRetry(now)) notifyLost(p);
  }

  // ================================================================================================
  // Send path
  // ================================================================================================

  /** Builds every datagram the connection may send at `now` (see {@link QuicConnectionCore.flush}). */
  flush(now: number): Uint8Array[] {
    if (this.stateValue === 'closed' || this.stateValue === 'draining') return [];
    this.flushNow = now;
    const out: Uint8Array[] = (this.outbox = []);
    if (this.offPathOut.length > 0) this.offPathOut = []; // not taken after the last flush: dropped
    try {
      this.runFlush(now);
    } catch (e) {
      // The assembler reports its own failures through onFatalError; this is the bookkeeping around it.
      this.fatal ??= e instanceof Error ? e : new Error(String(e));
    }
    if (this.fatal !== undefined) {
      // The builder could not continue (e.g. AEAD_LIMIT_REACHED): close, and send the CONNECTION_CLOSE now.
      const error = this.fatal;
      this.fatal = undefined;
      this.closeOnError(error, now);
      if (this.stateValue === 'closing') {
        try {
          this.runFlush(now);
        } catch {
          // Not even the CONNECTION_CLOSE can be built: the closing period runs out silently.
        }
      }
      this.fatal = undefined;
    }
    if (this.stateValue === 'idle' && out.length > 0) this.lifecycle({ type: 'start' });
    this.outbox = [];
    return out;
  }

  private runFlush(now: number): void {
    const closing = this.stateValue === 'closing';
    const requested = closing ? 0 : this.probes.initial + this.probes.handshake + this.probes.application;
    const probes = requested === 0 ? undefined : { initial: this.probes.initial, handshake: this.probes.handshake, application: this.probes.application };
    if (this.pmtudWaiting) this.maybeStartPmtud(now);
    // At most one PMTU probe outstanding (PathMtuDiscovery.probeSize is undefined while one is).
    const mtuProbeSize = closing ? undefined : this.pmtud.probeSize();
    let options = NO_FLUSH_OPTIONS;
    if (mtuProbeSize !== undefined) options = probes === undefined ? { mtuProbeSize } : { probes, mtuProbeSize };
    else if (probes !== undefined) options = { probes };
    this.mtuProbeRequested = mtuProbeSize ?? 0;
    if (this.offPathFrames.length > 0 && !closing) this.flushOffPath(now);
    const result = this.assembler.flush(now, closing ? this.closingOutbound : this.outbound, options);
    this.mtuProbeRequested = 0;
    if (probes !== undefined) {
      // Probes the flush could not send (amplification) stay owed, first spaces first.
      let sent = result.probesSent;
      for (const s of ['initial', 'handshake', 'application'] as const) {
        const n = Math.min(sent, this.probes[s]);
        this.probes[s] -= n;
        sent -= n;
      }
      if (result.error !== undefined) this.probes.initial = this.probes.handshake = this.probes.application = 0;
    }
    // RFC 9001 §4.9.1: a client discards its Initial keys once it has sent a Handshake packet.
    if (this.clientSentHandshake && !this.keys.isDiscarded('initial')) this.discardLevel('initial', now);
    this.flushLimitedAt = result.blockedBy === 'flush-limit' ? now : undefined;
    // The pacer's next send time, never `now` itself (a timer due at once would spin).
    this.pacingWakeAt = result.blockedBy === 'pacing' ? Math.max(this.recovery.nextSendTime(now), now + PACING_MIN_WAIT) : undefined;
    // RFC 9002 §7.8: the window does not grow while the sender is not using it.
    this.recovery.setApplicationLimited(result.blockedBy === undefined);
    this.updateAmplificationLimited(now);
  }

  /**
   * Builds the datagrams owed to other peer addresses (RFC 9000 §8.2.2, §9.3.3) with the same
   * assembler, one frame per datagram; `onDatagram` files them under their destination.
   */
  private flushOffPath(now: number): void {
    const queue = this.offPathFrames;
    this.offPathFrames = [];
    for (let i = 0; i < queue.length; i++) {
      const item = queue[i];
      if (sameAddress(item.to, this.remote)) {
        // The peer moved there meanwhile: a response goes on the current path; a challenge of the
        // previous path is moot once it is the current one again.
        if (item.frame.kind === 'pathResponse') this.controlQueue.enqueue(item.frame);
        continue;
      }
      this.offPath = item;
      this.pathProbeSource.set(item.frame);
      try {
        // What does not fit (the budget of an unvalidated address) is dropped: the peer challenges again.
        this.assembler.flush(now, this.offPathOutbound, NO_FLUSH_OPTIONS);
      } finally {
        this.offPath = undefined;
        this.pathProbeSource.clear();
      }
      if (this.fatal !== undefined) return;
    }
  }

  /** Takes the datagrams the last flush built for other peer addresses (see {@link QuicConnectionCore.drainOffPathDatagrams}). */
  drainOffPathDatagrams(): readonly AddressedDatagram[] {
    const out = this.offPathOut;
    if (out.length === 0) return NO_ADDRESSED_DATAGRAMS;
    this.offPathOut = [];
    return out;
  }

  private onPacketSent(packet: SentPacket): void {
    const offPath = this.offPath !== undefined;
    this.recovery.onPacketSent(packet, offPath);
    if (offPath) {
      if (packet.ackEliciting) this.lastExchange = packet.timeSent;
      return;
    }
    // RFC 9000 §8.2.1: a challenge the anti-amplification limit kept below 1200 bytes (checked only while validating).
    if (this.pathValidator.active && packet.size < MIN_INITIAL_DATAGRAM_SIZE && !this.amplification.validated) this.pathValidator.onSmallDatagramSent(packet.frames);
    if (packet.level === 'oneRtt') {
      if (packet.isMtuProbe) this.pmtud.onProbeSent(packet.packetNumber, this.mtuProbeRequested || packet.size, packet.timeSent, this.pto());
      else if (packet.ackEliciting) this.pmtud.onPacketSent(packet.packetNumber, packet.size);
    }
    if (packet.ackEliciting) {
      // RFC 9000 §10.1: the first ack-eliciting packet after a receipt restarts the idle timer.
      if (!this.ackElicitingSinceReceive) this.lastActivity = packet.timeSent;
      this.ackElicitingSinceReceive = true;
      this.lastExchange = packet.timeSent;
    }
    if (packet.level === 'handshake' && this.role === 'client') this.clientSentHandshake = true;
    if (packet.level === 'oneRtt' && packet.frames.length > 0 && packet.frames[0].kind === 'ack') this.keys.oneRtt.onAckSent(packet.packetNumber);
  }

  private onDatagram(datagram: Uint8Array): void {
    this.datagramsSent++;
    this.bytesSent += datagram.length;
    const offPath = this.offPath;
    if (offPath !== undefined) {
      this.offPathOut.push({ datagram, to: offPath.to });
      this.offPathDatagramsSent++;
      offPath.amplification.onSent(datagram.length);
      return;
    }
    this.outbox.push(datagram);
    this.amplification.onSent(datagram.length);
  }

  /** The Destination Connection ID of packets we send. */
  private destinationCid(): Uint8Array {
    return this.peerCids !== undefined ? this.peerCids.current.connectionId : this.dcid;
  }

  /** min(path MTU — PMTU discovery's PLPMTU —, the peer's max_udp_payload_size) (RFC 9000 §14, §18.2). */
  private maxDatagramSize(): number {
    // RFC 9000 §14.3: on a path not known yet (another address, a new IP address unvalidated), the base.
    if (this.offPath !== undefined || this.newIpUnvalidated) return this.baseDatagramSize();
    const peer = this.peerTp?.maxUdpPayloadSize;
    const mtu = this.pmtud.plpmtu;
    return peer === undefined ? mtu : Math.min(mtu, peer);
  }

  /**
   * Frame bytes an otherwise empty 1-RTT packet carries at the base path MTU (the
   * `maxDatagramSize` setting, capped by the peer): the datagram minus the largest short header
   * (1 + 20 + 4) and the AEAD tag. Not PMTU discovery's size: a DATAGRAM frame cannot be split and
   * must still fit after a fall back.
   */
  private maxDatagramPayloadRoom(): number {
    return this.baseDatagramSize() - 25 - 16;
  }

  /** The `maxDatagramSize` setting capped by the peer's max_udp_payload_size: PMTU discovery's base. */
  private baseDatagramSize(): number {
    const peer = this.peerTp?.maxUdpPayloadSize;
    return peer === undefined ? this.settings.maxDatagramSize : Math.min(this.settings.maxDatagramSize, peer);
  }

  /** RFC 9002 §6.2.2.1: a server blocked by the amplification limit arms no PTO; tell recovery when that changes. */
  private updateAmplificationLimited(now: number): void {
    const limited = !this.amplification.validated && this.amplification.budget() < MIN_INITIAL_DATAGRAM_SIZE;
    if (limited !== this.amplificationLimited) {
      this.amplificationLimited = limited;
      this.recovery.setAmplificationLimited(limited, now);
    }
  }

  /** The current PTO period with max_ack_delay, without backoff (RFC 9002 §6.2.1), for the three-PTO periods of RFC 9000 §10. */
  private pto(): number {
    const ld = this.recovery.lossDetection;
    return ld.rtt.ptoBase() + ld.maxAckDelay;
  }

  // ================================================================================================
  // Timers
  // ================================================================================================

  /** The earliest time {@link onTimeout} must be called, or undefined. */
  nextTimeout(): number | undefined {
    switch (this.stateValue) {
      case 'closed':
        return undefined;
      case 'closing':
      case 'draining':
        return this.closeDeadline;
      default:
        break;
    }
    // (No closure, no array: the endpoint asks after every datagram.)
    let t = earlier(Number.POSITIVE_INFINITY, this.recovery.timeout());
    for (let i = 0; i < SPACES.length; i++) {
      const space = SPACES[i];
      if (this.keys.isDiscarded(space as EncryptionLevel)) continue;
      const tracker = this.ackSource.tracker(space);
      // An ACK already due waits for the flush (pending$), not for a timer.
      if (!tracker.isAckDue) t = earlier(t, tracker.ackDeadline());
    }
    t = earlier(t, this.idleDeadline());
    if (!this.handshakeComplete) t = earlier(t, this.createdAt + this.settings.handshakeTimeout);
    t = earlier(t, this.keys.oneRtt.previousKeysDiscardAt);
    t = earlier(t, this.pacingWakeAt);
    t = earlier(t, this.flushLimitedAt);
    t = earlier(t, this.keepAliveDeadline());
    t = earlier(t, this.pmtud.nextTimeout());
    t = earlier(t, this.pathValidator.deadline);
    return t === Number.POSITIVE_INFINITY ? undefined : t;
  }

  /** The idle timeout in effect: the minimum of both sides' non-zero max_idle_timeout (RFC 9000 §10.1), undefined for none. */
  private idleTimeout(): number | undefined {
    const ours = this.settings.maxIdleTimeout;
    const theirs = this.peerTp?.maxIdleTimeout ?? 0;
    if (ours === 0 && theirs === 0) return undefined;
    if (ours === 0) return theirs;
    if (theirs === 0) return ours;
    return Math.min(ours, theirs);
  }

  private idleDeadline(): number | undefined {
    const idle = this.idleTimeout();
    // RFC 9000 §10.1: at least three times the current PTO.
    return idle === undefined ? undefined : this.lastActivity + Math.max(idle, 3 * this.pto());
  }

  private keepAliveDeadline(): number | undefined {
    const interval = this.settings.keepAliveInterval;
    if (interval <= 0 || !this.handshakeConfirmed) return undefined;
    return this.lastExchange + interval;
  }

  /** Handles every timer due at `now` (see {@link QuicConnectionCore.onTimeout}). */
  onTimeout(now: number): void {
    if (this.stateValue === 'closed') return;
    try {
      if (this.stateValue === 'closing' || this.stateValue === 'draining') {
        if (this.closeDeadline !== undefined && now >= this.closeDeadline) this.finishClosed();
        return;
      }
      const idle = this.idleDeadline();
      if (idle !== undefined && now >= idle) {
        // RFC 9000 §10.1: the connection is silently closed.
        this.abandon({ source: 'idle-timeout', application: false, code: 0n, reason: `no packet for ${Math.round(now - this.lastActivity)} ms (idle timeout)` });
        return;
      }
      if (!this.handshakeComplete && now >= this.createdAt + this.settings.handshakeTimeout) {
        this.abandon({ source: 'handshake-timeout', application: false, code: 0n, reason: `handshake not complete after ${this.settings.handshakeTimeout} ms` });
        return;
      }
      const validationDeadline = this.pathValidator.deadline;
      if (validationDeadline !== undefined && now >= validationDeadline) {
        this.onPathValidationFailed(now);
        if ((this.stateValue as ConnectionState) === 'closed') return;
      }
      this.flushLimitedAt = undefined;
      if (this.pacingWakeAt !== undefined && now >= this.pacingWakeAt) this.pacingWakeAt = undefined;
      this.keys.oneRtt.onTimeout(now);
      this.ackSource.onTimeout(now);
      const r = this.recovery.onTimeout(now);
      for (const p of r.lost) notifyLost(p);
      if (this.pmtud.state !== 'disabled') {
        if (r.lost.length > 0) this.pmtudVerdicts(NO_PACKETS, r.lost, now);
        // RFC 8899 §4.3: PTOs with nothing acknowledged may be a black hole; before the probes are built.
        if (r.probe !== undefined) this.pmtud.onPtoExpired(this.recovery.ptoCount, now);
        this.pmtud.onTimeout(now);
        this.applyPlpmtu();
      }
      if (r.probe !== undefined) this.onProbe(r.probe);
      const keepAlive = this.keepAliveDeadline();
      if (keepAlive !== undefined && now >= keepAlive) {
        this.pingSource.request('oneRtt');
        this.lastExchange = now;
      }
    } catch (e) {
      this.closeOnError(e, now);
    }
    this.signal();
  }

  /** A PTO expired (RFC 9002 §6.2.4): probes are owed; in-flight CRYPTO data of the space is queued again so the probe carries it. */
  private onProbe(probe: ProbeRequest): void {
    this.probes[probe.space] = Math.min(2, this.probes[probe.space] + probe.count);
    for (const s of probe.alsoSpaces) this.probes[s] = Math.max(this.probes[s], 1);
    for (const space of [probe.space, ...probe.alsoSpaces]) {
      if (space === 'application') continue;
      // RFC 9002 §6.2.4: "it is RECOMMENDED ... to send ... in-flight data": the handshake's CRYPTO data.
      for (const p of this.recovery.lossDetection.sentPackets(space)) {
        for (const f of p.frames) if (f.kind === 'crypto') this.cryptoSource.onLost(f, p);
      }
    }
  }

  // ================================================================================================
  // Closing
  // ================================================================================================

  /** Closes the connection (see {@link QuicConnectionCore.close}); an application close unless `application: false`. */
  close(options: { readonly code: bigint | number; readonly reason?: string; readonly application?: boolean }, now: number): void {
    if (this.stateValue === 'closing' || this.stateValue === 'draining' || this.stateValue === 'closed') return;
    const application = options.application ?? true;
    const reason = options.reason ?? '';
    const code = BigInt(options.code);
    const close: CloseReason = application ? { kind: 'application', errorCode: code, reason } : { kind: 'transport', errorCode: Number(code), reason };
    this.startClosing(close, { source: 'local', application, code, reason }, now);
    this.signal();
  }

  /** Closes because of `error`: a QuicError with its code and frame type, anything else as INTERNAL_ERROR. */
  private closeOnError(error: unknown, now: number): void {
    if (this.stateValue === 'closing' || this.stateValue === 'draining' || this.stateValue === 'closed') return;
    const err = error instanceof Error ? error : new Error(String(error));
    const q = err instanceof QuicError ? err : new QuicError(TransportErrorCode.INTERNAL_ERROR, `internal error: ${err.message}`, { cause: err });
    this.startClosing(
      { kind: 'transport', errorCode: q.code, frameType: q.frameType ?? 0, reason: q.reason },
      { source: 'local', application: false, code: BigInt(q.code), reason: q.reason, ...(q.frameType === undefined ? {} : { frameType: q.frameType }), error: err },
      now,
    );
  }

  private startClosing(close: CloseReason, info: ConnectionCloseInfo, now: number): void {
    if (this.stateValue === 'idle' && this.role === 'client') {
      // Nothing was sent yet: nothing to tell the peer.
      this.abandon(info);
      return;
    }
    // RFC 9000 §10.2.3: before the handshake is confirmed, CONNECTION_CLOSE goes at every level
    // the peer may be able to read; afterwards in 1-RTT packets only. A client with Handshake keys
    // knows the server has them: no Initial, which a peer may process first and stop at (ngtcp2
    // does), missing the Finished sent with the close.
    const levels: EncryptionLevel[] = [];
    const clientPastInitial = this.role === 'client' && this.keys.sendKeys('handshake') !== undefined;
    if (this.handshakeConfirmed) levels.push('oneRtt');
    else for (const l of ['initial', 'handshake', 'oneRtt'] as const) if (this.keys.sendKeys(l) !== undefined && !(l === 'initial' && clientPastInitial)) levels.push(l);
    this.closeInfo = info;
    this.emitClosing();
    // With the client's Finished in this flight (finishedOnClose) the server can read 1-RTT right
    // after it: the first CONNECTION_CLOSE goes in 1-RTT only, keeping the application's code and
    // reason (a Handshake one would carry APPLICATION_ERROR, and a peer stops at the first close it
    // reads). Answers to later packets go at every level again.
    const withFinished = this.role === 'client' && levels.includes('oneRtt') && this.cryptoSource.hasPending('handshake');
    this.closeSource.close(close, withFinished ? ['oneRtt'] : levels);
    if (withFinished) this.closeSource.setLevels(levels);
    this.closeDeadline = closePeriodEnd(now, this.pto());
    this.closeResponder = new CloseResponder();
    this.lifecycle({ type: 'close', end: endFacts(info) });
    this.releaseForClose();
  }

  /** A packet arrived while closing (RFC 9000 §10.2.1): a CONNECTION_CLOSE from the peer starts draining; others are answered, rate-limited. */
  private onPacketWhileClosing(payload: Uint8Array | undefined, level: EncryptionLevel, now: number): void {
    let frames: Frame[] = [];
    try {
      if (payload !== undefined) frames = decodeFrames(payload, level);
    } catch {
      // A malformed packet is still a packet to answer.
    }
    const close = frames.find((f): f is ConnectionCloseFrame => f.kind === 'connectionClose');
    if (close !== undefined) {
      this.onConnectionClose(close, now);
      return;
    }
    if (this.closeResponder.onPacket()) this.closeSource.resend();
  }

  private enterDraining(info: ConnectionCloseInfo, now: number): void {
    if (this.stateValue === 'draining' || this.stateValue === 'closed') return;
    this.closeInfo ??= info;
    this.emitClosing();
    // RFC 9000 §10.2.2: the draining state lasts three PTOs (it may end the closing period early).
    this.closeDeadline = closePeriodEnd(now, this.pto());
    this.lifecycle({ type: 'drain', end: endFacts(info) });
    this.releaseForClose();
  }

  /** Ends the connection at once, sending nothing. */
  private abandon(info: ConnectionCloseInfo): void {
    this.closeInfo ??= info;
    this.emitClosing();
    this.releaseForClose();
    this.lifecycle({ type: 'abandon', end: endFacts(info) });
    this.finishClosed();
  }

  /** What no closing connection keeps: streams, queued datagrams, PING requests. */
  private releaseForClose(): void {
    this.streams.abandonAll();
    this.datagramQueue.clear();
    for (const l of ['initial', 'zeroRtt', 'handshake', 'oneRtt'] as const) this.pingSource.cancel(l);
    this.buffered = [];
    this.bufferedBytes = 0;
  }

  /** Tells the application, once, that the connection is closing and why (the `closing` event). */
  private emitClosing(): void {
    if (this.closingEmitted) return;
    this.closingEmitted = true;
    this.emit({ type: 'closing', info: this.closeInfo ?? { source: 'local', application: false, code: 0n, reason: '' } });
  }

  private finishClosed(): void {
    this.emitClosing();
    if (this.stateValue !== 'closed') this.lifecycle({ type: 'periodEnded' });
    this.tls.close();
    this.keys.clear();
    for (const id of this.localCids.activeConnectionIds()) this.cidChanges.next({ removed: id.connectionId });
    this.cidChanges.complete();
    this.wake.complete();
    this.actor.stop();
    this.emit({
      type: 'closed',
      info: this.closeInfo ?? { source: 'local', application: false, code: 0n, reason: '' },
    });
  }

  // ================================================================================================
  // Lifecycle and events
  // ================================================================================================

  /** Sends a lifecycle event to the machine and reports a state change. */
  private lifecycle(event: ConnectionMachineEvent): void {
    this.actor.send(event);
    const value = this.actor.getSnapshot().value as ConnectionState;
    if (value !== this.stateValue) {
      this.stateValue = value;
      this.emit({ type: 'stateChanged', state: value });
    }
  }

  /** Tells pending$ subscribers (the endpoint) that a flush may have work; nothing without one (Subject.next allocates even then). */
  private signal(): void {
    if (this.wake.observed) this.wake.next();
  }

  private emit(e: ConnectionEvent): void {
    if (this.stateValue === 'closed' && e.type !== 'closed' && e.type !== 'closing' && e.type !== 'stateChanged') return;
    this.events.push(e);
  }

  // ================================================================================================
  // Application API
  // ================================================================================================

  /** True once the connection is closing, draining or closed. */
  private get ended(): boolean {
    return this.stateValue === 'closing' || this.stateValue === 'draining' || this.stateValue === 'closed';
  }

  private checkOpen(operation: string): void {
    if (this.stateValue === 'closing' || this.stateValue === 'draining' || this.stateValue === 'closed') throw new ConnectionClosedError(operation, this.closeInfo);
  }

  /** Opens a stream; undefined when the peer's stream limit is reached (see {@link QuicConnectionCore.openStream}). */
  openStream(bidirectional: boolean, now: number): number | undefined {
    this.checkOpen('openStream');
    const id = this.streams.open(bidirectional, now);
    this.signal();
    return id;
  }

  /** Queues data on a stream (see {@link QuicConnectionCore.writeStream}). */
  writeStream(streamId: number, data: Uint8Array, fin: boolean, now: number): boolean {
    this.checkOpen('writeStream');
    const ok = this.streams.write(streamId, data, fin, now);
    this.signal();
    return ok;
  }

  /** Reads from a stream (see {@link QuicConnectionCore.readStream}); null once the connection is closed. */
  readStream(streamId: number, maxBytes: number, now: number): { readonly data: Uint8Array; readonly fin: boolean } | null {
    if (this.stateValue === 'closed') return null;
    const r = this.streams.read(streamId, maxBytes, now);
    this.signal();
    return r;
  }

  /** Resets a stream's send side (RESET_STREAM); nothing once the connection is closing. */
  resetStream(streamId: number, code: bigint, now: number): void {
    if (this.stateValue === 'closing' || this.stateValue === 'draining' || this.stateValue === 'closed') return;
    this.streams.reset(streamId, code, now);
    this.signal();
  }

  /** Asks the peer to stop sending (STOP_SENDING); nothing once the connection is closing. */
  stopSending(streamId: number, code: bigint, now: number): void {
    if (this.stateValue === 'closing' || this.stateValue === 'draining' || this.stateValue === 'closed') return;
    this.streams.stopSending(streamId, code, now);
    this.signal();
  }

  /** Statistics of a stream, or undefined for an unknown one. */
  streamStats(streamId: number): StreamStats | undefined {
    return this.streams.stats(streamId);
  }

  /** Largest DATAGRAM payload that can be sent now (0 without the peer's support, RFC 9221 §3). */
  maxDatagramPayload(): number {
    return this.datagramQueue.maxDatagramSize;
  }

  /** Queues a DATAGRAM frame (RFC 9221); returns its id. Throws DatagramRefusedError when unsupported or too large. */
  sendDatagram(data: Uint8Array, _now: number): number {
    this.checkOpen('sendDatagram');
    return this.datagramQueue.send(data);
  }

  /**
   * Server: sends a NEW_TOKEN frame (RFC 9000 §8.1.3, §19.7) carrying `token`, an address
   * validation token the endpoint minted for the client's future connections.
   *
   * @throws Error for a client (only servers send NEW_TOKEN) or an empty token.
   */
  sendNewToken(token: Uint8Array): void {
    if (this.role !== 'server') throw new Error('sendNewToken: only a server sends NEW_TOKEN frames (RFC 9000 §19.7)');
    if (token.length === 0) throw new Error('sendNewToken: a NEW_TOKEN frame carries a non-empty token (RFC 9000 §19.7)');
    this.checkOpen('sendNewToken');
    this.controlQueue.enqueue({ kind: 'newToken', token });
    this.signal();
  }

  /** True when a key update may start at `now` (RFC 9001 §6.1, §6.5). */
  private canUpdateKeys(now: number): boolean {
    return this.handshakeConfirmed && this.stateValue === 'confirmed' && this.keys.oneRtt.canInitiate(now);
  }

  /** Starts a key update now (RFC 9001 §6), if allowed; returns whether it started. */
  updateKeys(now: number): boolean {
    if (!this.canUpdateKeys(now)) return false;
    this.keys.oneRtt.initiate(this.pn.application.next);
    this.signal();
    return true;
  }

  /** Connection statistics. */
  stats(): ConnectionStats {
    const r = this.recovery.stats();
    const d = this.pmtud.stats();
    const validation = this.pathValidator.stats;
    return {
      smoothedRtt: r.smoothedRtt,
      latestRtt: r.latestRtt,
      minRtt: r.minRtt,
      rttVariance: r.rttvar,
      congestionWindow: r.congestionWindow,
      bytesInFlight: r.bytesInFlight,
      bytesSent: this.bytesSent,
      bytesReceived: this.bytesReceived,
      datagramsSent: this.datagramsSent,
      datagramsReceived: this.datagramsReceived,
      packetsSent: r.packetsSent,
      packetsReceived: this.packetsReceived,
      packetsLost: r.packetsLost,
      packetsDropped: this.packetsDropped,
      streamBytesSent: this.streams.bytesSent,
      streamBytesReceived: this.streams.bytesDelivered,
      ptoCount: r.ptoExpirations,
      keyUpdates: this.keys.oneRtt.keyUpdates,
      handshakeDuration: this.handshakeDuration,
      pathMtu: this.maxDatagramSize(),
      pmtudState: this.pmtud.state,
      mtuProbesSent: d.probesSent,
      mtuProbesLost: d.probesLost,
      pmtuBlackHoles: d.blackHoles,
      pathValidationsStarted: validation.started,
      pathValidationsSucceeded: validation.succeeded,
      pathValidationsFailed: validation.failed,
      offPathDatagramsSent: this.offPathDatagramsSent,
      previousPathChallengesSent: validation.previousPathChallengesSent,
      previousPathChallengesAnswered: validation.previousPathChallengesAnswered,
      peerAddressChanges: this.peerAddressChanges,
    };
  }
}

function endFacts(info: ConnectionCloseInfo): ConnectionEndFacts {
  return { source: info.source, code: info.code.toString(), reason: info.reason, application: info.application };
}
