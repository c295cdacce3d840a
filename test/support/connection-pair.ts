/**
 * A client and a server {@link QuicConnection} on a {@link SimNetwork}: certificates generated at
 * test time (self-signed, trusted by the client as its anchor), default TLS and transport settings,
 * and helpers to run the handshake, transfers and closes in virtual time.
 */
import { createHash, type Hash } from 'node:crypto';
import { nodeCrypto } from '../../src/crypto/node.js';
import type { CryptoProvider } from '../../src/crypto/provider.js';
import { generateSelfSignedCertificate, type SelfSignedCertificate } from '../../src/tls/self-signed.js';
import type { ConnectionTuning } from '../../src/transport/connection.js';
import type { ConnectionEvent, SocketAddress, TransportSettings } from '../../src/transport/connection-types.js';
import type { FrameSource, PacketWriter } from '../../src/packet/types.js';
import { encodeFrame, frameSize } from '../../src/wire/frames/encode.js';
import type { Frame } from '../../src/wire/frames/types.js';
import type { EncryptionLevel } from '../../src/wire/levels.js';
import type { QuicVersion } from '../../src/wire/version.js';
import { prng } from './outbound-harness.js';
import { SimHost, SimNetwork, simAddress, type EventHandler, type LinkOptions, type ServerSetup, type SimConnection } from './sim-network.js';

let certificate: Promise<SelfSignedCertificate> | undefined;

/** A self-signed certificate for `localhost`, generated once per test process. */
export function testCertificate(): Promise<SelfSignedCertificate> {
  certificate ??= generateSelfSignedCertificate({ hostnames: ['localhost'] });
  return certificate;
}

/**
 * `base` with `randomBytes` drawn from a seeded generator, so connection IDs, TLS randoms, packet
 * number skips and the like repeat from run to run (key shares and signatures still use the
 * platform's randomness).
 */
export function seededProvider(base: CryptoProvider, seed: number): CryptoProvider {
  const r = prng(seed);
  return {
    name: `${base.name}+seeded`,
    aead: (a, k) => base.aead(a, k),
    headerProtection: (a, k) => base.headerProtection(a, k),
    hash: (a) => base.hash(a),
    digest: (a, d) => base.digest(a, d),
    hmac: (a, k, d) => base.hmac(a, k, d),
    hkdfExtract: (a, s, i) => base.hkdfExtract(a, s, i),
    hkdfExpand: (a, p, i, l) => base.hkdfExpand(a, p, i, l),
    keyShare: (g) => base.keyShare(g),
    randomBytes: (n) => {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) out[i] = r.int(256);
      return out;
    },
  };
}

/** Options of {@link createPair}. */
export interface PairOptions {
  /** Seed of the network's randomness and of the providers' random bytes. Default 1. */
  readonly seed?: number;
  /** Both directions' link options (overridden per direction below). */
  readonly link?: LinkOptions;
  /** The client's address; default {@link CLIENT_ADDRESS} (loopback). */
  readonly clientAddress?: SocketAddress;
  /** The server's address; default {@link SERVER_ADDRESS} (loopback). */
  readonly serverAddress?: SocketAddress;
  /** Client → server link. */
  readonly up?: LinkOptions;
  /** Server → client link. */
  readonly down?: LinkOptions;
  readonly clientTransport?: Partial<TransportSettings>;
  readonly serverTransport?: Partial<TransportSettings>;
  readonly clientTuning?: ConnectionTuning;
  readonly serverTuning?: ConnectionTuning;
  readonly clientHandler?: EventHandler;
  readonly serverHandler?: EventHandler;
  /** Crypto provider of both sides; default node:crypto (seeded random bytes). */
  readonly provider?: CryptoProvider;
  /** The client's initial version. */
  readonly version?: QuicVersion;
  /** The server host's acceptance hook (Retry, drop). */
  readonly accept?: ServerSetup['accept'];
  /** Inspection observers. */
  readonly clientInspect?: (e: import('xstate').InspectionEvent) => void;
  readonly serverInspect?: (e: import('xstate').InspectionEvent) => void;
  /** Do not start the client (call {@link Pair.start}). */
  readonly deferStart?: boolean;
  /** ALPN protocols; default `['test']`. */
  readonly alpn?: readonly string[];
  /** The server's certificate; default {@link testCertificate} (ECDSA P-256). */
  readonly certificate?: SelfSignedCertificate;
  /** Called with the server connection as soon as it is created, before it processes the first Initial. */
  readonly onServer?: (conn: SimConnection) => void;
  /** The server's NEW_TOKEN minter (ServerConnectionOptions.newToken); default none. */
  readonly serverNewToken?: ServerSetup['newToken'];
}

/** A client and (once its first Initial arrived) a server on a simulated network. */
export class Pair {
  readonly net: SimNetwork;
  readonly clientHost: SimHost;
  readonly serverHost: SimHost;
  private clientConn: SimConnection | undefined;
  private readonly startClient: () => SimConnection;

  constructor(net: SimNetwork, clientHost: SimHost, serverHost: SimHost, start: () => SimConnection, deferStart: boolean) {
    this.net = net;
    this.clientHost = clientHost;
    this.serverHost = serverHost;
    this.startClient = start;
    if (!deferStart) this.start();
  }

  /** Creates the client connection (its first flight is sent). */
  start(): SimConnection {
    this.clientConn ??= this.startClient();
    return this.clientConn;
  }

  /** The client connection. */
  get client(): SimConnection {
    if (this.clientConn === undefined) throw new Error('the client was not started');
    return this.clientConn;
  }

  /** The server connection, once the client's first Initial created it. */
  get server(): SimConnection {
    const s = this.serverHost.connections[this.serverHost.connections.length - 1];
    if (s === undefined) throw new Error('no server connection yet');
    return s;
  }

  /** True once a server connection exists. */
  get hasServer(): boolean {
    return this.serverHost.connections.length > 0;
  }

  /** Runs until both sides' handshakes are confirmed; returns whether they were within `maxDuration`. */
  handshake(maxDuration = 30_000): boolean {
    return this.net.run(() => this.hasServer && this.client.conn.state === 'confirmed' && this.server.conn.state === 'confirmed', maxDuration);
  }

  /** Runs until both connections are closed. */
  runUntilClosed(maxDuration = 120_000): boolean {
    return this.net.run(() => this.client.closed && (!this.hasServer || this.server.closed), maxDuration);
  }

  /** Virtual time elapsed since the network started, ms. */
  get elapsed(): number {
    return this.net.now - this.net.start;
  }
}

/** The client's address in every pair. */
export const CLIENT_ADDRESS = simAddress(50001);
/** The server's address in every pair. */
export const SERVER_ADDRESS = simAddress(4433);

/** Creates a pair on a fresh network (the certificate is generated once per process). */
export async function createPair(options: PairOptions = {}): Promise<Pair> {
  const cert = options.certificate ?? (await testCertificate());
  const seed = options.seed ?? 1;
  const net = new SimNetwork({ seed, link: options.link });
  const base = options.provider ?? nodeCrypto;
  const serverProvider = seededProvider(base, seed * 7919 + 1);
  const clientProvider = seededProvider(base, seed * 7919 + 2);
  const alpn = options.alpn ?? ['test'];
  const clientAddress = options.clientAddress ?? CLIENT_ADDRESS;
  const serverAddress = options.serverAddress ?? SERVER_ADDRESS;
  const serverHost = new SimHost(net, serverAddress, {
    server: {
      provider: serverProvider,
      tls: { certificateChain: cert.certificateChain, privateKey: cert.privateKey, alpnProtocols: alpn },
      transport: options.serverTransport,
      statelessResetKey: serverProvider.randomBytes(32),
      tuning: options.serverTuning,
      handler: options.serverHandler,
      accept: options.accept,
      inspect: options.serverInspect,
      onAccept: options.onServer,
      newToken: options.serverNewToken,
    },
  });
  const clientHost = new SimHost(net, clientAddress, { cidLength: options.clientTransport?.connectionIdLength ?? 8 });
  if (options.up !== undefined || options.link !== undefined) net.configure(clientAddress, serverAddress, { ...options.link, ...options.up });
  if (options.down !== undefined || options.link !== undefined) net.configure(serverAddress, clientAddress, { ...options.link, ...options.down });
  const start = (): SimConnection =>
    clientHost.connect(
      {
        provider: clientProvider,
        statelessResetKey: clientProvider.randomBytes(32),
        transport: options.clientTransport,
        tls: { serverName: 'localhost', alpnProtocols: alpn, trustAnchors: [cert.certificatePem] },
        version: options.version,
        inspect: options.clientInspect,
      },
      serverAddress,
      options.clientHandler,
      options.clientTuning,
    );
  return new Pair(net, clientHost, serverHost, start, options.deferStart === true);
}

/**
 * RFC 9000 §9.3.3's off-path attacker: once the client has sent more than 30 datagrams, one copy of
 * its next short-header datagram is also injected from `attacker`, arriving before the original.
 * Returns how many copies were forwarded so far (0 or 1).
 */
export function forwardOneCopyFrom(p: Pair, attacker: SocketAddress): () => number {
  let copied = 0;
  p.client.outgoing = (d) => {
    if (copied === 0 && (d[0] & 0x80) === 0 && p.client.sent > 30) {
      copied++;
      p.net.inject(attacker, SERVER_ADDRESS, d);
    }
    return d;
  };
  return () => copied;
}

/** SHA-256 of `data`, hex. */
export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** `n` deterministic pseudo-random bytes for `seed`. */
export function patternData(n: number, seed: number): Uint8Array {
  const r = prng(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 4) {
    const v = Math.floor(r.next() * 0x1_0000_0000);
    out[i] = v & 0xff;
    if (i + 1 < n) out[i + 1] = (v >>> 8) & 0xff;
    if (i + 2 < n) out[i + 2] = (v >>> 16) & 0xff;
    if (i + 3 < n) out[i + 3] = (v >>> 24) & 0xff;
  }
  return out;
}

/** The `closed` event of a list, if any. */
export function closedEvent(events: readonly ConnectionEvent[]): Extract<ConnectionEvent, { type: 'closed' }> | undefined {
  return events.find((e): e is Extract<ConnectionEvent, { type: 'closed' }> => e.type === 'closed');
}

/**
 * A frame source for {@link ConnectionTuning.extraSource}: frames queued per encryption level are
 * written into the next packet of that level, whatever Table 3 says, through the connection's
 * real builder and packet protection. Frames are given as {@link Frame}s or as raw bytes.
 */
export class InjectSource implements FrameSource {
  readonly name = 'inject';
  private readonly queue: { readonly level: EncryptionLevel; readonly bytes: Uint8Array }[] = [];
  /** Frames written so far. */
  written = 0;

  /** Queues `frame` for the next packet at `level`. */
  add(level: EncryptionLevel, frame: Frame | Uint8Array): this {
    let bytes: Uint8Array;
    if (frame instanceof Uint8Array) bytes = frame;
    else {
      bytes = new Uint8Array(frameSize(frame));
      encodeFrame(bytes, 0, frame);
    }
    this.queue.push({ level, bytes });
    return this;
  }

  /** Frames still queued. */
  get pending(): number {
    return this.queue.length;
  }

  hasPending(level: EncryptionLevel): boolean {
    return this.queue.some((q) => q.level === level);
  }

  write(writer: PacketWriter): number {
    let n = 0;
    for (let i = 0; i < this.queue.length; ) {
      const q = this.queue[i];
      if (q.level !== writer.level || q.bytes.length > writer.room || writer.full) {
        i++;
        continue;
      }
      writer.buffer.set(q.bytes, writer.offset);
      writer.commitFrame(q.bytes.length, null, true);
      this.queue.splice(i, 1);
      this.written++;
      n++;
    }
    return n;
  }
}

/** A bulk transfer plan: each client stream carries `bytes` to the server, which answers with `response` bytes on the same stream. */
export interface TransferPlan {
  /** Bidirectional streams the client opens. */
  readonly streams: number;
  /** Bytes the client sends on each stream. */
  readonly bytes: number;
  /** Bytes the server sends back on each stream once it has read the whole request; default 0. */
  readonly response?: number;
  /** Bytes per write call; default 64 KiB. */
  readonly chunk?: number;
  /** Bytes per read call; default 64 KiB. */
  readonly readSize?: number;
}

interface Outgoing {
  readonly data: Uint8Array;
  offset: number;
}

interface Incoming {
  readonly hash: Hash;
  length: number;
  digest: string | undefined;
}

/**
 * The applications of a bulk transfer: hand {@link clientHandler} and {@link serverHandler} to
 * {@link createPair}. The client opens the streams once the handshake completes, writes with
 * backpressure (`streamWritable`), and both sides read on `streamReadable`, hashing what they
 * receive. {@link verify} compares every stream's SHA-256 and length with what was sent.
 */
export class Transfer {
  readonly plan: TransferPlan;
  private readonly requests: Uint8Array[] = [];
  private readonly responses: Uint8Array[] = [];
  /** Client stream IDs, in opening order. */
  readonly streamIds: number[] = [];
  private readonly clientOut = new Map<number, Outgoing>();
  private readonly serverOut = new Map<number, Outgoing>();
  private readonly serverIn = new Map<number, Incoming>();
  private readonly clientIn = new Map<number, Incoming>();
  /** Streams whose request the server read to the end. */
  requestsDone = 0;
  /** Streams whose response the client read to the end. */
  responsesDone = 0;

  constructor(plan: TransferPlan) {
    this.plan = plan;
    for (let i = 0; i < plan.streams; i++) {
      this.requests.push(patternData(plan.bytes, 1000 + i));
      this.responses.push(patternData(plan.response ?? 0, 2000 + i));
    }
  }

  /** True when every request and every response was read to its end. */
  get done(): boolean {
    return this.requestsDone === this.plan.streams && (this.plan.response === undefined || this.plan.response === 0 ? true : this.responsesDone === this.plan.streams);
  }

  /** Total bytes the plan moves. */
  get totalBytes(): number {
    return this.plan.streams * (this.plan.bytes + (this.plan.response ?? 0));
  }

  /** The client application. */
  readonly clientHandler: EventHandler = (events, sc) => {
    for (const e of events) {
      if (e.type === 'handshakeComplete' || e.type === 'streamsAvailable') this.openStreams(sc);
      else if (e.type === 'streamWritable') this.pump(sc, this.clientOut, e.streamId);
      else if (e.type === 'streamReadable') this.drain(sc, this.clientIn, e.streamId, () => this.responsesDone++);
    }
  };

  /** The server application. */
  readonly serverHandler: EventHandler = (events, sc) => {
    for (const e of events) {
      if (e.type === 'streamReadable') {
        this.drain(sc, this.serverIn, e.streamId, () => {
          this.requestsDone++;
          const index = e.streamId / 4;
          if ((this.plan.response ?? 0) > 0) {
            this.serverOut.set(e.streamId, { data: this.responses[index], offset: 0 });
            this.pump(sc, this.serverOut, e.streamId);
          }
        });
      } else if (e.type === 'streamWritable') this.pump(sc, this.serverOut, e.streamId);
    }
  };

  private openStreams(sc: SimConnection): void {
    const now = sc.host.net.now;
    while (this.streamIds.length < this.plan.streams) {
      const id = sc.conn.openStream(true, now);
      if (id === undefined) return; // wait for streamsAvailable
      this.clientOut.set(id, { data: this.requests[this.streamIds.length], offset: 0 });
      this.streamIds.push(id);
      this.pump(sc, this.clientOut, id);
    }
  }

  private pump(sc: SimConnection, out: Map<number, Outgoing>, id: number): void {
    const o = out.get(id);
    if (o === undefined || o.offset > o.data.length) return;
    const chunk = this.plan.chunk ?? 65536;
    const now = sc.host.net.now;
    for (;;) {
      const end = Math.min(o.data.length, o.offset + chunk);
      const fin = end === o.data.length;
      const below = sc.conn.writeStream(id, o.data.subarray(o.offset, end), fin, now);
      o.offset = fin ? o.data.length + 1 : end;
      if (fin || !below) return;
    }
  }

  private drain(sc: SimConnection, into: Map<number, Incoming>, id: number, onEnd: () => void): void {
    let s = into.get(id);
    if (s === undefined) into.set(id, (s = { hash: createHash('sha256'), length: 0, digest: undefined }));
    const now = sc.host.net.now;
    for (;;) {
      const r = sc.conn.readStream(id, this.plan.readSize ?? 65536, now);
      if (r === null) return;
      s.hash.update(r.data);
      s.length += r.data.length;
      if (r.fin) {
        s.digest = s.hash.digest('hex');
        onEnd();
        return;
      }
    }
  }

  /** Mismatches between what was sent and what was received, stream by stream (empty when byte-exact). */
  mismatches(): string[] {
    const out: string[] = [];
    this.streamIds.forEach((id, i) => {
      const req = this.serverIn.get(id);
      if (req?.digest !== sha256(this.requests[i]) || req.length !== this.plan.bytes) out.push(`request on stream ${id}: ${req?.length ?? 0} bytes, digest ${req?.digest ?? 'none'}`);
      if ((this.plan.response ?? 0) > 0) {
        const res = this.clientIn.get(id);
        if (res?.digest !== sha256(this.responses[i]) || res.length !== this.plan.response) out.push(`response on stream ${id}: ${res?.length ?? 0} bytes, digest ${res?.digest ?? 'none'}`);
      }
    });
    if (this.streamIds.length !== this.plan.streams) out.push(`${this.streamIds.length} of ${this.plan.streams} streams opened`);
    return out;
  }
}
