/**
 * A small fake of the sans-IO connection (QuicConnectionCore) for endpoint tests: it records what
 * the endpoint hands it (datagrams, timeouts, closes), sends what a test queues, issues connection
 * IDs the test controls, and can be told to throw.
 */
import { Subject } from 'rxjs';
import { nodeCrypto } from '../../src/crypto/node.js';
import type {
  AddressedDatagram,
  ConnectionEvent,
  ConnectionOptions,
  ConnectionState,
  ConnectionStats,
  QuicConnectionCore,
  SocketAddress,
  StreamStats,
} from '../../src/transport/connection-types.js';
import type { TransportParameters } from '../../src/wire/transport-parameters.js';
import { QUIC_V1, type QuicVersion } from '../../src/wire/version.js';

/** One recorded `receive` call. */
export interface Received {
  readonly datagram: Uint8Array;
  readonly from: SocketAddress;
  readonly now: number;
}

/** A scriptable fake connection. */
export class FakeCore implements QuicConnectionCore {
  readonly role: 'client' | 'server';
  readonly version: QuicVersion;
  state: ConnectionState = 'idle';
  readonly options: ConnectionOptions;
  readonly localConnectionIds$ = new Subject<{ readonly added?: Uint8Array; readonly removed?: Uint8Array }>();
  readonly pending$ = new Subject<void>();
  readonly peerTransportParameters: TransportParameters | undefined = undefined;
  /** Every datagram received, in order. */
  readonly received: Received[] = [];
  /** Times `onTimeout` was called with. */
  readonly timeouts: number[] = [];
  /** Every `close` call. */
  readonly closes: { code: bigint | number; reason?: string; application?: boolean }[] = [];
  /** Flush calls. */
  flushes = 0;
  /** The deadline `nextTimeout` reports. */
  timeoutAt: number | undefined;
  /** Throw from `receive` / `close` / `flush`. */
  throwOnReceive = false;
  throwOnClose = false;
  throwOnFlush = false;
  /** Report `closed` at once when closed (otherwise on the next timeout). */
  closeImmediately = true;
  /** Called after each received datagram. */
  onReceive: ((r: Received, core: FakeCore) => void) | undefined;
  private cids: Uint8Array[];
  private outbox: Uint8Array[] = [];
  private offPath: AddressedDatagram[] = [];
  /** The peer address flushes go to (a test sets it to simulate the peer's migration); undefined: the creation address. */
  remoteAddress: SocketAddress | undefined;
  private events: ConnectionEvent[] = [];

  constructor(options: ConnectionOptions) {
    this.options = options;
    this.role = options.role;
    this.version = options.role === 'server' ? options.version : (options.version ?? QUIC_V1);
    const length = options.transport?.connectionIdLength ?? 8;
    this.cids = [nodeCrypto.randomBytes(length)];
  }

  localConnectionIds(): readonly Uint8Array[] {
    return this.cids;
  }

  /** Issues another connection ID (as NEW_CONNECTION_ID would). */
  addConnectionId(cid: Uint8Array): void {
    this.cids.push(cid);
    this.localConnectionIds$.next({ added: cid });
  }

  /** Retires a connection ID (as the peer's RETIRE_CONNECTION_ID would). */
  removeConnectionId(cid: Uint8Array): void {
    this.cids = this.cids.filter((c) => c !== cid);
    this.localConnectionIds$.next({ removed: cid });
  }

  /** Queues a datagram for the next flush and signals pending. */
  queue(datagram: Uint8Array): void {
    this.outbox.push(datagram);
    this.pending$.next();
  }

  /** Queues a datagram for another peer address, taken after the next flush (as a PATH_RESPONSE on a probed path), and signals pending. */
  queueOffPath(datagram: Uint8Array, to: SocketAddress): void {
    this.offPath.push({ datagram, to });
    this.pending$.next();
  }

  drainOffPathDatagrams(): readonly AddressedDatagram[] {
    const out = this.offPath;
    this.offPath = [];
    return out;
  }

  /** Queues an application event. */
  emit(event: ConnectionEvent): void {
    this.events.push(event);
  }

  receive(datagram: Uint8Array, from: SocketAddress, now: number): void {
    if (this.throwOnReceive) throw new TypeError('fake core bug in receive');
    const r = { datagram: datagram.slice(), from, now };
    this.received.push(r);
    this.onReceive?.(r, this);
  }

  flush(_now: number): Uint8Array[] {
    this.flushes++;
    if (this.throwOnFlush) throw new TypeError('fake core bug in flush');
    const out = this.outbox;
    this.outbox = [];
    return out;
  }

  nextTimeout(): number | undefined {
    return this.timeoutAt;
  }

  onTimeout(now: number): void {
    this.timeouts.push(now);
    this.timeoutAt = undefined;
    if (this.state === 'closing') this.finishClose();
  }

  drainEvents(): ConnectionEvent[] {
    const e = this.events;
    this.events = [];
    return e;
  }

  close(options: { readonly code: bigint | number; readonly reason?: string; readonly application?: boolean }, now: number): void {
    this.closes.push({ ...options });
    if (this.throwOnClose) throw new TypeError('fake core bug in close');
    if (this.state === 'closing' || this.state === 'closed') return;
    this.state = 'closing';
    this.events.push({ type: 'stateChanged', state: 'closing' });
    if (this.closeImmediately) this.finishClose();
    else this.timeoutAt = now + 5;
  }

  private finishClose(): void {
    const last = this.closes[this.closes.length - 1];
    this.state = 'closed';
    this.events.push({ type: 'stateChanged', state: 'closed' });
    this.events.push({
      type: 'closed',
      info: { source: 'local', application: last?.application ?? false, code: BigInt(last?.code ?? 0), reason: last?.reason ?? '' },
    });
  }

  openStream(): number | undefined {
    return undefined;
  }
  writeStream(): boolean {
    throw new Error('FakeCore has no streams');
  }
  readStream(): null {
    return null;
  }
  resetStream(): void {}
  stopSending(): void {}
  streamStats(): StreamStats | undefined {
    return undefined;
  }
  maxDatagramPayload(): number {
    return 0;
  }
  sendDatagram(): number {
    throw new Error('FakeCore has no datagrams');
  }
  updateKeys(): boolean {
    return false;
  }
  stats(): ConnectionStats {
    // Built apart from the return so fields ConnectionStats may not (yet) have are no excess-property error.
    const stats = {
      smoothedRtt: 0,
      latestRtt: 0,
      minRtt: 0,
      rttVariance: 0,
      congestionWindow: 0,
      bytesInFlight: 0,
      bytesSent: 0,
      bytesReceived: 0,
      datagramsSent: 0,
      datagramsReceived: this.received.length,
      packetsSent: 0,
      packetsReceived: 0,
      packetsLost: 0,
      packetsDropped: 0,
      streamBytesSent: 0,
      streamBytesReceived: 0,
      ptoCount: 0,
      keyUpdates: 0,
      handshakeDuration: undefined,
      pathMtu: 1200,
      pmtudState: 'disabled' as const,
      mtuProbesSent: 0,
      mtuProbesLost: 0,
      pmtuBlackHoles: 0,
      pathValidationsStarted: 0,
      pathValidationsSucceeded: 0,
      pathValidationsFailed: 0,
      peerAddressChanges: 0,
      offPathDatagramsSent: 0,
      previousPathChallengesSent: 0,
      previousPathChallengesAnswered: 0,
    };
    return stats;
  }
}

/** A factory recording every fake it makes; `setup` scripts each new one. */
export function fakeFactory(setup?: (core: FakeCore) => void): { readonly cores: FakeCore[]; readonly create: (options: ConnectionOptions) => FakeCore } {
  const cores: FakeCore[] = [];
  return {
    cores,
    create: (options) => {
      const core = new FakeCore(options);
      setup?.(core);
      cores.push(core);
      return core;
    },
  };
}
