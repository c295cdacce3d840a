/**
 * A deterministic simulated network in virtual time for sans-IO QUIC connections.
 *
 * Hosts sit at addresses; a datagram sent from one address to another crosses a {@link Link}
 * with seeded random loss, duplication, corruption, extra delay for reordering, delay and
 * jitter, a bandwidth (serialization at the sender) and an MTU (larger datagrams are dropped), and
 * an optional `filter` for targeted drops or rewrites. The event loop ({@link SimNetwork.run})
 * advances virtual time to the next datagram arrival or connection timer, calls `receive` or
 * `onTimeout`, then `flush` after every call, and hands each connection's events to its
 * application handler (which may call the connection's API; the connection is flushed again).
 *
 * A server host creates a {@link QuicConnection} from a client's first Initial the way an endpoint
 * would: it parses the header for the version, Destination and Source Connection IDs and routes
 * later packets by the connection's `localConnectionIds()` / `localConnectionIds$` and that
 * original Destination Connection ID.
 *
 * Virtual time starts at the real `Date.now()` of the test (the TLS handshake reads it as wall-clock
 * time for certificate validity) and only moves when the loop advances it.
 */
import { QuicConnection, type ConnectionTuning } from '../../src/transport/connection.js';
import type { ConnectionEvent, ConnectionOptions, ServerConnectionOptions, SocketAddress, TransportSettings } from '../../src/transport/connection-types.js';
import type { CryptoProvider } from '../../src/crypto/provider.js';
import type { TlsServerConfig } from '../../src/tls/config.js';
import { parsePacketHeader, type ParsedPacket } from '../../src/wire/header.js';
import { connectionIdKey } from '../../src/transport/connection-ids.js';
import { prng } from './outbound-harness.js';

/** The impairments of one direction of a path. */
export interface LinkOptions {
  /** One-way delay, ms (default 10). */
  readonly delay?: number;
  /** Extra delay drawn uniformly from [0, jitter) per datagram, ms (default 0): reorders datagrams closer than it. */
  readonly jitter?: number;
  /** Probability a datagram is lost (default 0). */
  readonly loss?: number;
  /** Probability a datagram is delivered twice (default 0). */
  readonly duplicate?: number;
  /** Probability one random bit of a datagram is flipped (default 0). */
  readonly corrupt?: number;
  /** Probability a datagram is held back by {@link reorderDelay} (default 0). */
  readonly reorder?: number;
  /** Extra delay of a reordered datagram, ms (default 3 × delay + 1). */
  readonly reorderDelay?: number;
  /** Bytes per second the sender's side of the link serializes (default Infinity). */
  readonly bandwidth?: number;
  /** Datagrams above this many bytes are dropped (default Infinity). */
  readonly mtu?: number;
  /** Bytes queued at most for serialization; beyond, datagrams are dropped (default Infinity). */
  readonly queueBytes?: number;
  /**
   * Sees every datagram before the random impairments (`index` counts datagrams on this link from
   * 0): return `'drop'`, `'deliver'`, or replacement bytes.
   */
  readonly filter?: (datagram: Uint8Array, index: number, now: number) => 'drop' | 'deliver' | Uint8Array;
}

/** Counters of one link. */
export interface LinkStats {
  sent: number;
  delivered: number;
  lost: number;
  duplicated: number;
  corrupted: number;
  reordered: number;
  filtered: number;
  tooBig: number;
  bytes: number;
}

/** One direction between two addresses. */
export class Link {
  options: LinkOptions;
  readonly stats: LinkStats = { sent: 0, delivered: 0, lost: 0, duplicated: 0, corrupted: 0, reordered: 0, filtered: 0, tooBig: 0, bytes: 0 };
  /** When the sender's side of the link is free to serialize the next datagram. */
  busyUntil = 0;
  index = 0;
  constructor(options: LinkOptions) {
    this.options = options;
  }
}

/** Something that receives datagrams at an address. */
export interface SimNode {
  readonly address: SocketAddress;
  /** A datagram arrived at `now`. */
  deliver(datagram: Uint8Array, from: SocketAddress, now: number): void;
  /** The earliest timer of the node. */
  nextTimeout(): number | undefined;
  /** Runs the node's timers due at `now`. */
  onTimeout(now: number): void;
}

interface Delivery {
  readonly time: number;
  readonly seq: number;
  readonly to: SimNode;
  readonly from: SocketAddress;
  readonly datagram: Uint8Array;
}

/** `address:port`. */
export function addressKey(a: SocketAddress): string {
  return `${a.address}:${a.port}`;
}

/** An IPv4 loopback address with `port`. */
export function simAddress(port: number, address = '127.0.0.1'): SocketAddress {
  return { address, port, family: 'IPv4' };
}

/** The network: nodes, links and the virtual clock. */
export class SimNetwork {
  /** Virtual time, ms. */
  now: number;
  /** The time the network was created. */
  readonly start: number;
  private readonly rng: { next(): number; int(bound: number): number };
  private readonly nodes = new Map<string, SimNode>();
  private readonly links = new Map<string, Link>();
  private readonly linkCache = new WeakMap<SocketAddress, WeakMap<SocketAddress, Link>>();
  private nodeCache = new WeakMap<SocketAddress, SimNode>();
  /** {@link nodes} as a list, for the event loop. */
  private readonly nodeList: SimNode[] = [];
  private queue: Delivery[] = [];
  private seq = 0;
  /** Every datagram handed to the network, for tests that inspect the wire. */
  readonly trace: { time: number; from: string; to: string; bytes: number; fate: 'sent' | 'lost' | 'filtered' | 'tooBig' | 'queueFull' }[] = [];
  /** Record {@link trace} entries (off by default: long transfers make many). */
  tracing = false;
  /** Default link options for links not configured explicitly. */
  defaultLink: LinkOptions;

  constructor(options: { readonly seed?: number; readonly start?: number; readonly link?: LinkOptions } = {}) {
    this.rng = prng(options.seed ?? 1);
    this.now = this.start = options.start ?? Date.now();
    this.defaultLink = options.link ?? {};
  }

  /** Adds a node. */
  add<N extends SimNode>(node: N): N {
    const key = addressKey(node.address);
    const previous = this.nodes.get(key);
    if (previous !== undefined) this.nodeList.splice(this.nodeList.indexOf(previous), 1);
    this.nodes.set(key, node);
    this.nodeList.push(node);
    this.nodeCache = new WeakMap();
    return node;
  }

  /** The link from `from` to `to` (created with the default options on first use). */
  link(from: SocketAddress, to: SocketAddress): Link {
    // Hosts send with the same address objects every time: remember the link per object pair
    // (no key string per datagram). Links are never replaced, only reconfigured in place.
    let byTo = this.linkCache.get(from);
    const cached = byTo?.get(to);
    if (cached !== undefined) return cached;
    const key = `${addressKey(from)}>${addressKey(to)}`;
    let l = this.links.get(key);
    if (l === undefined) this.links.set(key, (l = new Link(this.defaultLink)));
    if (byTo === undefined) this.linkCache.set(from, (byTo = new WeakMap()));
    byTo.set(to, l);
    return l;
  }

  /** The node at `address`, remembered per address object once found (nodes are never removed). */
  private nodeAt(address: SocketAddress): SimNode | undefined {
    const cached = this.nodeCache.get(address);
    if (cached !== undefined) return cached;
    const node = this.nodes.get(addressKey(address));
    if (node !== undefined) this.nodeCache.set(address, node);
    return node;
  }

  /**
   * Moves `host` to `address` (a NAT rebinding: its datagrams leave from the new address from now
   * on). Datagrams to the old address reach the host no more, unless `keepOld` (a NAT that still
   * forwards the old mapping inbound).
   */
  rebind(host: SimHost, address: SocketAddress, options: { readonly keepOld?: boolean } = {}): void {
    const oldKey = addressKey(host.address);
    if (options.keepOld !== true && this.nodes.get(oldKey) === host) this.nodes.delete(oldKey);
    host.address = address;
    this.nodes.set(addressKey(address), host);
    this.nodeCache = new WeakMap();
  }

  /** Sets the options of the link from `from` to `to`. */
  configure(from: SocketAddress, to: SocketAddress, options: LinkOptions): Link {
    const l = this.link(from, to);
    l.options = options;
    return l;
  }

  /** A random number in [0, 1) from the network's seeded generator. */
  random(): number {
    return this.rng.next();
  }

  /** Sends a datagram: it crosses the link's impairments and is delivered later (or not). */
  send(from: SocketAddress, to: SocketAddress, datagram: Uint8Array): void {
    const node = this.nodeAt(to);
    const link = this.link(from, to);
    const o = link.options;
    const index = link.index++;
    link.stats.sent++;
    let bytes = datagram;
    if (o.filter !== undefined) {
      const verdict = o.filter(datagram, index, this.now);
      if (verdict === 'drop') {
        link.stats.filtered++;
        if (this.tracing) this.record(from, to, datagram, 'filtered');
        return;
      }
      if (verdict !== 'deliver') bytes = verdict;
    }
    if (o.mtu !== undefined && bytes.length > o.mtu) {
      link.stats.tooBig++;
      if (this.tracing) this.record(from, to, datagram, 'tooBig');
      return;
    }
    // Serialization at the sender (bandwidth), then propagation.
    let departure = this.now;
    if (o.bandwidth !== undefined && Number.isFinite(o.bandwidth)) {
      const queued = Math.max(0, link.busyUntil - this.now) * (o.bandwidth / 1000);
      if (o.queueBytes !== undefined && queued + bytes.length > o.queueBytes) {
        link.stats.lost++;
        if (this.tracing) this.record(from, to, datagram, 'queueFull');
        return;
      }
      departure = Math.max(this.now, link.busyUntil) + (bytes.length * 1000) / o.bandwidth;
      link.busyUntil = departure;
    }
    if (o.loss !== undefined && this.rng.next() < o.loss) {
      link.stats.lost++;
      if (this.tracing) this.record(from, to, datagram, 'lost');
      return;
    }
    if (this.tracing) this.record(from, to, datagram, 'sent');
    link.stats.bytes += bytes.length;
    if (node === undefined) return;
    const copies = o.duplicate !== undefined && this.rng.next() < o.duplicate ? 2 : 1;
    if (copies === 2) link.stats.duplicated++;
    for (let c = 0; c < copies; c++) {
      // Each delivery gets its own copy: the receiver unprotects in place and may keep views.
      const copy = bytes.slice();
      if (o.corrupt !== undefined && this.rng.next() < o.corrupt && copy.length > 0) {
        const bit = this.rng.int(copy.length * 8);
        copy[bit >> 3] ^= 1 << (bit & 7);
        link.stats.corrupted++;
      }
      let time = departure + (o.delay ?? 10) + (o.jitter !== undefined ? this.rng.next() * o.jitter : 0);
      if (o.reorder !== undefined && this.rng.next() < o.reorder) {
        time += o.reorderDelay ?? 3 * (o.delay ?? 10) + 1;
        link.stats.reordered++;
      }
      this.schedule({ time, seq: this.seq++, to: node, from, datagram: copy });
    }
  }

  private record(from: SocketAddress, to: SocketAddress, datagram: Uint8Array, fate: 'sent' | 'lost' | 'filtered' | 'tooBig' | 'queueFull'): void {
    this.trace.push({ time: this.now, from: addressKey(from), to: addressKey(to), bytes: datagram.length, fate });
  }

  /** Delivers `datagram` to the node at `to` at `time` directly, bypassing links (crafted packets). */
  inject(from: SocketAddress, to: SocketAddress, datagram: Uint8Array, time = this.now): void {
    const node = this.nodeAt(to);
    if (node === undefined) throw new Error(`no node at ${addressKey(to)}`);
    this.schedule({ time, seq: this.seq++, to: node, from, datagram: datagram.slice() });
  }

  private schedule(d: Delivery): void {
    // Binary insertion keeps the queue sorted by (time, seq).
    const q = this.queue;
    let lo = 0;
    let hi = q.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (q[mid].time < d.time || (q[mid].time === d.time && q[mid].seq < d.seq)) lo = mid + 1;
      else hi = mid;
    }
    q.splice(lo, 0, d);
  }

  /** Datagrams in flight. */
  get inFlight(): number {
    return this.queue.length;
  }

  /**
   * Runs the event loop until `done()` is true (returns true), nothing more can happen (no
   * datagram in flight, no timer: returns false), or `maxDuration` ms of virtual time have passed
   * (returns false).
   */
  run(done: () => boolean, maxDuration = 60_000): boolean {
    const deadline = this.now + maxDuration;
    let spins = 0;
    let lastTime = this.now;
    for (;;) {
      if (done()) return true;
      let next = this.queue.length > 0 ? this.queue[0].time : Number.POSITIVE_INFINITY;
      const nodes = this.nodeList;
      for (let i = 0; i < nodes.length; i++) {
        const t = nodes[i].nextTimeout();
        if (t !== undefined && t < next) next = t;
      }
      if (next === Number.POSITIVE_INFINITY) return false;
      if (next > deadline) {
        this.now = deadline;
        return done();
      }
      if (next > this.now) this.now = next;
      // A node whose timer stays due without time moving is a bug (a timer that never clears).
      if (this.now === lastTime) {
        if (++spins > 10_000) throw new Error(`event loop spinning at ${this.now - this.start} ms: a timer stays due`);
      } else {
        spins = 0;
        lastTime = this.now;
      }
      while (this.queue.length > 0 && this.queue[0].time <= this.now) {
        const d = this.queue.shift() as Delivery;
        d.to.deliver(d.datagram, d.from, this.now);
      }
      for (let i = 0; i < nodes.length; i++) {
        const t = nodes[i].nextTimeout();
        if (t !== undefined && t <= this.now) nodes[i].onTimeout(this.now);
      }
    }
  }

  /** Advances virtual time by `ms`, processing everything on the way. */
  advance(ms: number): void {
    const until = this.now + ms;
    this.run(() => this.now >= until, ms);
    this.now = Math.max(this.now, until);
  }
}

/** Receives a connection's events after each step; may call the connection's API. */
export type EventHandler = (events: readonly ConnectionEvent[], conn: SimConnection) => void;

/** A connection on a host, with everything it reported. */
export class SimConnection {
  readonly conn: QuicConnection;
  readonly host: SimHost;
  readonly remote: SocketAddress;
  /** Every event, in order. */
  readonly events: ConnectionEvent[] = [];
  /** The application's handler. */
  handler: EventHandler | undefined;
  /** Datagrams this connection sent. */
  sent = 0;
  /** Datagrams sent to a peer address other than the current one (PATH_RESPONSE on a probed path, PATH_CHALLENGE on the previous one). */
  readonly offPathSent: { readonly to: SocketAddress; readonly bytes: number; readonly time: number }[] = [];
  /** Rewrites or drops outgoing datagrams before they reach the network (tests of bad input). */
  outgoing: ((datagram: Uint8Array, index: number) => Uint8Array | 'drop') | undefined;
  private outIndex = 0;

  constructor(host: SimHost, conn: QuicConnection, remote: SocketAddress) {
    this.host = host;
    this.conn = conn;
    this.remote = remote;
  }

  /** True once the connection reported `closed`. */
  get closed(): boolean {
    return this.conn.state === 'closed';
  }

  /** The `closed` event's info, once closed. */
  get closeInfo(): Extract<ConnectionEvent, { type: 'closed' }>['info'] | undefined {
    for (const e of this.events) if (e.type === 'closed') return e.info;
    return undefined;
  }

  /** Events of one type. */
  eventsOf<T extends ConnectionEvent['type']>(type: T): Extract<ConnectionEvent, { type: T }>[] {
    return this.events.filter((e): e is Extract<ConnectionEvent, { type: T }> => e.type === type);
  }

  /** Flushes, sends, drains events to the handler, repeating while the handler acts. */
  service(now: number): void {
    const net = this.host.net;
    for (let round = 0; round < 1000; round++) {
      for (const d of this.conn.flush(now)) {
        this.sent++;
        const out = this.outgoing === undefined ? d : this.outgoing(d, this.outIndex++);
        // To the connection's current peer address (it follows the peer's migration, RFC 9000 §9.3).
        if (out !== 'drop') net.send(this.host.address, this.conn.remoteAddress, out);
      }
      // The same flush's datagrams for other peer addresses (RFC 9000 §8.2.2, §9.3.3).
      for (const d of this.conn.drainOffPathDatagrams()) {
        this.sent++;
        this.offPathSent.push({ to: d.to, bytes: d.datagram.length, time: now });
        const out = this.outgoing === undefined ? d.datagram : this.outgoing(d.datagram, this.outIndex++);
        if (out !== 'drop') net.send(this.host.address, d.to, out);
      }
      const events = this.conn.drainEvents();
      if (events.length === 0) return;
      for (const e of events) this.events.push(e);
      this.handler?.(events, this);
    }
    throw new Error('connection service loop does not settle');
  }

  /** Runs `fn` on the connection at the network's time, then services it. */
  act<T>(fn: (conn: QuicConnection, now: number) => T): T {
    const now = this.host.net.now;
    try {
      return fn(this.conn, now);
    } finally {
      this.service(now);
    }
  }
}

/** How a server host makes connections. */
export interface ServerSetup {
  readonly provider: CryptoProvider;
  readonly tls: Omit<TlsServerConfig, 'transportParameters'>;
  readonly transport?: Partial<TransportSettings>;
  readonly statelessResetKey: Uint8Array;
  readonly tuning?: ConnectionTuning;
  /** Application handler of each accepted connection. */
  readonly handler?: EventHandler;
  /**
   * Decides how a client's first Initial is accepted (an endpoint with Retry validates tokens
   * here): extra server options, or `'drop'`. Default: accept with no Retry.
   */
  readonly accept?: (packet: Extract<ParsedPacket, { form: 'long' }>, datagram: Uint8Array) => Partial<Pick<ServerConnectionOptions, 'originalDestinationCid' | 'retrySourceCid' | 'addressValidated'>> | 'drop';
  /** Called with each accepted connection. */
  readonly onAccept?: (conn: SimConnection) => void;
  /** Mints NEW_TOKEN tokens for accepted connections (ServerConnectionOptions.newToken). */
  readonly newToken?: ServerConnectionOptions['newToken'];
  /** Inspection observer of accepted connections. */
  readonly inspect?: ConnectionOptions['inspect'];
}

/** A host: connections at one address, and optionally a listening server. */
export class SimHost implements SimNode {
  readonly net: SimNetwork;
  /** The host's address; {@link SimNetwork.rebind} changes it. */
  address: SocketAddress;
  readonly connections: SimConnection[] = [];
  private readonly routes = new Map<string, SimConnection>();
  /** Bumped whenever {@link routes} changes. */
  private routesVersion = 0;
  /** Where the last short header datagram was routed (see {@link deliver}). */
  private lastRoute: { readonly dcid: Uint8Array; readonly sc: SimConnection; readonly version: number } | undefined;
  server: ServerSetup | undefined;
  /** Datagrams no connection took. */
  unrouted = 0;
  /** Datagrams handed to connections, with the receiving connection (for tests inspecting arrivals). */
  onDeliver: ((datagram: Uint8Array, conn: SimConnection) => void) | undefined;
  private readonly cidLength: number;

  constructor(net: SimNetwork, address: SocketAddress, options: { readonly server?: ServerSetup; readonly cidLength?: number } = {}) {
    this.net = net;
    this.address = address;
    this.server = options.server;
    this.cidLength = options.cidLength ?? options.server?.transport?.connectionIdLength ?? 8;
    net.add(this);
  }

  /** Creates a client connection to `remote` and services it (its first flight leaves). */
  connect(options: Omit<Extract<ConnectionOptions, { role: 'client' }>, 'now' | 'remoteAddress' | 'role'>, remote: SocketAddress, handler?: EventHandler, tuning?: ConnectionTuning): SimConnection {
    const conn = new QuicConnection({ ...options, role: 'client', now: this.net.now, remoteAddress: remote }, tuning);
    const sc = this.register(conn, remote, []);
    sc.handler = handler;
    sc.service(this.net.now);
    return sc;
  }

  private register(conn: QuicConnection, remote: SocketAddress, extra: readonly Uint8Array[]): SimConnection {
    const sc = new SimConnection(this, conn, remote);
    this.connections.push(sc);
    for (const cid of [...extra, ...conn.localConnectionIds()]) this.routes.set(connectionIdKey(cid), sc);
    this.routesVersion++;
    conn.localConnectionIds$.subscribe((c) => {
      if (c.added !== undefined) this.routes.set(connectionIdKey(c.added), sc);
      if (c.removed !== undefined && this.routes.get(connectionIdKey(c.removed)) === sc) this.routes.delete(connectionIdKey(c.removed));
      this.routesVersion++;
    });
    return sc;
  }

  deliver(datagram: Uint8Array, from: SocketAddress, now: number): void {
    // Short headers (the bulk of a transfer) to the connection the previous one went to: its
    // Destination Connection ID compared in place, while the routes have not changed.
    const cached = this.lastRoute;
    if (cached !== undefined && datagram.length > 1 + this.cidLength && (datagram[0] & 0x80) === 0 && cached.version === this.routesVersion && !cached.sc.closed) {
      let same = true;
      for (let i = 0; i < this.cidLength; i++) {
        if (datagram[1 + i] !== cached.dcid[i]) {
          same = false;
          break;
        }
      }
      if (same) {
        this.onDeliver?.(datagram, cached.sc);
        cached.sc.conn.receive(datagram, from, now);
        cached.sc.service(now);
        return;
      }
    }
    let first: ParsedPacket | undefined;
    try {
      first = parsePacketHeader(datagram, 0, { shortHeaderDcidLength: this.cidLength, allowFixedBitZero: true });
    } catch {
      first = undefined;
    }
    let sc = first === undefined ? undefined : this.routes.get(connectionIdKey(first.dcid));
    if (sc === undefined && this.connections.length === 1 && this.server === undefined) {
      // A client host hands everything to its one connection (as a connected socket would), even
      // datagrams that do not parse: the connection's receive path must cope.
      sc = this.connections[0];
    }
    if (sc === undefined || sc.closed) {
      const s = this.server;
      if (s === undefined || first === undefined || first.form !== 'long' || first.type !== 'initial' || datagram.length < 1200) {
        this.unrouted++;
        return;
      }
      const extra = s.accept?.(first, datagram) ?? {};
      if (extra === 'drop') {
        this.unrouted++;
        return;
      }
      const conn = new QuicConnection(
        {
          role: 'server',
          provider: s.provider,
          transport: s.transport,
          now,
          remoteAddress: from,
          statelessResetKey: s.statelessResetKey,
          tls: s.tls,
          version: first.version,
          originalDestinationCid: extra.originalDestinationCid ?? first.dcid.slice(),
          clientSourceCid: first.scid.slice(),
          retrySourceCid: extra.retrySourceCid,
          addressValidated: extra.addressValidated,
          newToken: s.newToken,
          inspect: s.inspect,
        },
        s.tuning,
      );
      sc = this.register(conn, from, [first.dcid.slice()]);
      sc.handler = s.handler;
      s.onAccept?.(sc);
    }
    if (first !== undefined && first.form === 'short' && !sc.closed) this.lastRoute = { dcid: first.dcid.slice(), sc, version: this.routesVersion };
    this.onDeliver?.(datagram, sc);
    sc.conn.receive(datagram, from, now);
    sc.service(now);
  }

  nextTimeout(): number | undefined {
    let t: number | undefined;
    for (const sc of this.connections) {
      const v = sc.conn.nextTimeout();
      if (v !== undefined && (t === undefined || v < t)) t = v;
    }
    return t;
  }

  onTimeout(now: number): void {
    for (const sc of this.connections) {
      const v = sc.conn.nextTimeout();
      if (v !== undefined && v <= now) {
        sc.conn.onTimeout(now);
        sc.service(now);
      }
    }
  }
}
