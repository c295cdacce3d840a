/**
 * Test support for the outbound path: a fake {@link PacketWriter} that records what sources
 * commit; and {@link OutboundHarness}, which wires every frame source of `src/transport` to the
 * builder's real flush (`PacketAssembler`) and a {@link DecodingPeer} that removes packet
 * protection, decodes the frames and reassembles STREAM and CRYPTO data.
 */
import type { Observable } from 'rxjs';
import type { FrameSource, PacketWriter, SentFrame, SentPacket } from '../../src/packet/types.js';
import { decodeFrames } from '../../src/wire/frames/decode.js';
import type { Frame } from '../../src/wire/frames/types.js';
import { spaceOf, type EncryptionLevel, type PacketNumberSpace } from '../../src/wire/levels.js';
import { derivePacketKeys, initialKeys, type PacketKeys } from '../../src/crypto/keys.js';
import { defaultCryptoProvider } from '../../src/crypto/default.js';
import { openPacket, removeHeaderProtection } from '../../src/crypto/packet-protection.js';
import { PacketAssembler, type FlushResult, type OutboundSources } from '../../src/packet/assembler.js';
import type { BuilderContext } from '../../src/packet/context.js';
import { notifyAcked, notifyLost } from '../../src/packet/dispatch.js';
import { PacketNumberState } from '../../src/packet/packet-numbers.js';
import type { RandomSource } from '../../src/packet/random.js';
import type { SendLimits } from '../../src/packet/types.js';
import { ControlQueue, type ControlQueueOptions } from '../../src/transport/control-queue.js';
import { DatagramQueue } from '../../src/transport/datagram-queue.js';
import { FlowController, type FlowControlParameters } from '../../src/transport/flow-control.js';
import { AckSource } from '../../src/transport/sources/ack-source.js';
import { CloseSource } from '../../src/transport/sources/close-source.js';
import { ControlSource } from '../../src/transport/sources/control-source.js';
import { CryptoSource } from '../../src/transport/sources/crypto-source.js';
import { DatagramSource } from '../../src/transport/sources/datagram-source.js';
import { FlowControlSource } from '../../src/transport/sources/flow-control-source.js';
import { PingSource } from '../../src/transport/sources/ping-source.js';
import { StreamSource } from '../../src/transport/sources/stream-source.js';
import { iteratePackets } from '../../src/wire/header.js';
import { QUIC_V1 } from '../../src/wire/version.js';
import { OutboundPath } from '../../streams/outbound.js';
import type { FlushScheduler } from '../../streams/schedulers.js';

/** One frame committed to a {@link FakePacketWriter}. */
export interface CommittedFrame {
  readonly length: number;
  readonly sent: SentFrame | null;
  readonly ackEliciting: boolean;
}

/**
 * A packet under construction with `room` bytes for frames: checks that sources never write
 * beyond the room and records each commit.
 */
export class FakePacketWriter implements PacketWriter {
  readonly level: EncryptionLevel;
  readonly buffer: Uint8Array;
  readonly start: number;
  offset: number;
  room: number;
  full = false;
  now: number;
  readonly maxFrames: number;
  readonly committed: CommittedFrame[] = [];

  constructor(level: EncryptionLevel, room: number, options: { now?: number; maxFrames?: number; start?: number } = {}) {
    this.level = level;
    this.start = options.start ?? 0;
    // Guard bytes after the room catch writes beyond it.
    this.buffer = new Uint8Array(this.start + room + 64).fill(0xee);
    this.offset = this.start;
    this.room = room;
    this.now = options.now ?? 0;
    this.maxFrames = options.maxFrames ?? Infinity;
  }

  commitFrame(length: number, sent: SentFrame | null, ackEliciting: boolean): boolean {
    if (this.full) throw new Error('commitFrame on a full packet');
    if (length <= 0 || length > this.room) throw new Error(`frame of ${length} bytes committed with ${this.room} bytes of room`);
    this.offset += length;
    this.room -= length;
    this.committed.push({ length, sent, ackEliciting });
    if (this.committed.length >= this.maxFrames) this.full = true;
    return this.full;
  }

  /** True when nothing was written beyond the room (guard bytes intact). */
  guardIntact(): boolean {
    for (let i = this.offset + this.room; i < this.buffer.length; i++) if (this.buffer[i] !== 0xee) return false;
    return true;
  }

  /** The frames written, decoded. */
  frames(): Frame[] {
    if (this.offset === this.start) return [];
    return decodeFrames(this.buffer.subarray(this.start, this.offset), this.level);
  }

  /** The SentPacket a builder would record for this packet. */
  packet(packetNumber: number, timeSent = this.now): SentPacket {
    const frames = this.committed.flatMap((c) => (c.sent === null ? [] : [c.sent]));
    const ackEliciting = this.committed.some((c) => c.ackEliciting);
    return {
      packetNumber,
      space: spaceOf(this.level),
      level: this.level,
      size: this.offset - this.start + 40,
      ackEliciting,
      inFlight: ackEliciting,
      timeSent,
      frames,
      isMtuProbe: false,
      keyPhase: 0,
    };
  }
}

/** Calls `source.write` on a fresh fake packet and returns the writer. */
export function writeOne(source: FrameSource, level: EncryptionLevel, room: number, options: { now?: number; maxFrames?: number } = {}): FakePacketWriter {
  const w = new FakePacketWriter(level, room, options);
  source.write(w);
  return w;
}

/** Delivers every frame of `packet` to `source` as acknowledged. */
export function ackPacket(source: FrameSource, packet: SentPacket): void {
  for (const f of packet.frames) source.onAcked?.(f, packet);
}

/** Delivers every frame of `packet` to `source` as lost. */
export function losePacket(source: FrameSource, packet: SentPacket): void {
  for (const f of packet.frames) source.onLost?.(f, packet);
}

// =================================================================================================
// The real outbound path: every source wired to the builder's flush, and a decoding peer.
// =================================================================================================


/** A small deterministic PRNG (mulberry32), for reproducible randomness in tests. */
export function prng(seed: number): { next(): number; int(bound: number): number } {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (bound: number) => Math.floor(next() * bound) };
}

function randomSource(seed: number): RandomSource {
  const r = prng(seed);
  return { nextInt: (bound: number) => r.int(bound) };
}

const LARGE = 2 ** 40;

/** Flow control parameters with every limit `LARGE` unless overridden. */
export function openLimits(o: Partial<FlowControlParameters> = {}): FlowControlParameters {
  return {
    initialMaxData: LARGE,
    initialMaxStreamDataBidiLocal: LARGE,
    initialMaxStreamDataBidiRemote: LARGE,
    initialMaxStreamDataUni: LARGE,
    initialMaxStreamsBidi: 1000,
    initialMaxStreamsUni: 1000,
    ...o,
  };
}

/** Options of an {@link OutboundHarness}. */
export interface OutboundHarnessOptions {
  /** Maximum datagram size (path MTU); default 1200. */
  readonly mtu?: number;
  /** Levels with write keys; default 1-RTT only. */
  readonly levels?: readonly EncryptionLevel[];
  /** Our role; default client. */
  readonly role?: 'client' | 'server';
  /** The peer's flow control limits (our send credit); default all large. */
  readonly peer?: FlowControlParameters;
  /** Our flow control limits; default all large. */
  readonly local?: FlowControlParameters;
  /** Congestion allowance per flush; default unlimited. */
  readonly congestionAllowance?: () => number;
  /** Datagrams per flush at most (the assembler's flush limit). */
  readonly maxDatagramsPerFlush?: number;
  /** Control queue options. */
  readonly control?: ControlQueueOptions;
  /** Seed of the packet number skips; default 1. */
  readonly seed?: number;
  /** Connection ID length; default 8. */
  readonly cidLength?: number;
  /** ACK ranges tracked per space; default the tracker's. */
  readonly ackMaxRanges?: number;
}

/** What the decoding peer saw in one packet. */
export interface PeerPacket {
  readonly level: EncryptionLevel;
  readonly packetNumber: number;
  readonly frames: Frame[];
}

/** A byte stream reassembled by the peer, refusing any byte received twice. */
export class Reassembly {
  private data = new Uint8Array(4096);
  private seen = new Uint8Array(4096);
  /** Highest end offset received. */
  end = 0;
  /** The final size, once a FIN was received. */
  finalSize: number | undefined;
  /** Bytes received more than once (must stay 0). */
  duplicates = 0;
  /** Bytes received. */
  received = 0;

  insert(offset: number, bytes: Uint8Array, fin: boolean): void {
    const end = offset + bytes.length;
    if (end > this.data.length) {
      let n = this.data.length;
      while (n < end) n *= 2;
      const d = new Uint8Array(n);
      d.set(this.data);
      const s = new Uint8Array(n);
      s.set(this.seen);
      this.data = d;
      this.seen = s;
    }
    for (let i = 0; i < bytes.length; i++) {
      if (this.seen[offset + i] !== 0) this.duplicates++;
      this.seen[offset + i] = 1;
    }
    this.data.set(bytes, offset);
    this.received += bytes.length;
    if (end > this.end) this.end = end;
    if (fin) {
      if (this.finalSize !== undefined && this.finalSize !== end) throw new Error(`final size changed from ${this.finalSize} to ${end}`);
      this.finalSize = end;
    }
  }

  private contiguousEnd = 0;

  /** Every byte below this offset arrived. */
  contiguous(): number {
    while (this.contiguousEnd < this.end && this.seen[this.contiguousEnd] !== 0) this.contiguousEnd++;
    return this.contiguousEnd;
  }

  /** True when every byte of [0, end) arrived. */
  complete(): boolean {
    for (let i = 0; i < this.end; i++) if (this.seen[i] === 0) return false;
    return true;
  }

  /** The bytes [0, end). */
  bytes(): Uint8Array {
    return this.data.subarray(0, this.end);
  }
}

/**
 * The peer: removes packet protection with the keys the sender sealed with, walks the coalesced
 * packets, decodes the frames, and reassembles STREAM and CRYPTO data.
 */
export class DecodingPeer {
  readonly packets: PeerPacket[] = [];
  readonly streams = new Map<number, Reassembly>();
  readonly crypto = new Map<EncryptionLevel, Reassembly>();
  /** Every frame other than STREAM, CRYPTO, PADDING, in arrival order. */
  readonly frames: { level: EncryptionLevel; frame: Frame }[] = [];
  private readonly largest = new Map<string, number>();

  constructor(
    private readonly keys: (level: EncryptionLevel) => PacketKeys | undefined,
    private readonly dcidLength: number,
  ) {}

  /** Decodes one datagram; throws on anything malformed. */
  receive(datagram: Uint8Array): PeerPacket[] {
    const buf = datagram.slice();
    const out: PeerPacket[] = [];
    for (const step of iteratePackets(buf, { shortHeaderDcidLength: this.dcidLength })) {
      if (!step.ok) throw step.error;
      const p = step.packet;
      if (p.form !== 'long' && p.form !== 'short') throw new Error(`unexpected ${p.form} packet`);
      const level: EncryptionLevel = p.form === 'short' ? 'oneRtt' : p.type;
      const keys = this.keys(level);
      if (keys === undefined) throw new Error(`no keys for ${level}`);
      const space = spaceOf(level);
      const hdr = removeHeaderProtection(keys.hp, buf, p.packetStart, p.pnOffset, p.packetEnd, this.largest.get(space) ?? -1);
      const payloadEnd = openPacket(keys, buf, p.packetStart, p.pnOffset, hdr.pnLength, hdr.packetNumber, p.packetEnd);
      this.largest.set(space, Math.max(this.largest.get(space) ?? -1, hdr.packetNumber));
      const frames = decodeFrames(buf.subarray(p.pnOffset + hdr.pnLength, payloadEnd), level);
      for (const f of frames) this.apply(level, f);
      const pp = { level, packetNumber: hdr.packetNumber, frames };
      this.packets.push(pp);
      out.push(pp);
    }
    return out;
  }

  private apply(level: EncryptionLevel, f: Frame): void {
    if (f.kind === 'stream') {
      let r = this.streams.get(f.streamId);
      if (r === undefined) this.streams.set(f.streamId, (r = new Reassembly()));
      r.insert(f.offset, f.data.slice(), f.fin);
    } else if (f.kind === 'crypto') {
      let r = this.crypto.get(level);
      if (r === undefined) this.crypto.set(level, (r = new Reassembly()));
      r.insert(f.offset, f.data.slice(), false);
    } else if (f.kind !== 'padding') {
      this.frames.push({ level, frame: f });
    }
  }

  /** The reassembly of a stream (empty if nothing arrived). */
  stream(id: number): Reassembly {
    return this.streams.get(id) ?? new Reassembly();
  }
}

/** A datagram the sender produced, with the packets it carried. */
export interface SentDatagram {
  readonly bytes: Uint8Array;
  readonly packets: SentPacket[];
}

/**
 * The outbound half of a connection, for tests: every frame source of `src/transport` in the
 * flush's priority order, the builder's real {@link PacketAssembler}, keys, packet numbers, limits,
 * and a {@link DecodingPeer}. The test plays the network: {@link deliver}, {@link drop}, then
 * {@link settle} acknowledges delivered packets and declares dropped ones lost.
 */
export class OutboundHarness {
  readonly ack: AckSource;
  readonly crypto = new CryptoSource();
  readonly close = new CloseSource();
  readonly controlQueue: ControlQueue;
  readonly control: ControlSource;
  readonly flow: FlowController;
  readonly flowSource: FlowControlSource;
  readonly datagramQueue = new DatagramQueue();
  readonly datagrams: DatagramSource;
  readonly streams: StreamSource;
  readonly ping = new PingSource();
  readonly outbound: OutboundSources;
  readonly assembler: PacketAssembler;
  readonly peer: DecodingPeer;
  readonly mtu: number;

  /** Every datagram produced, in order. */
  readonly sent: SentDatagram[] = [];
  /** Datagrams not yet delivered or dropped by the test. */
  readonly inFlight: SentDatagram[] = [];
  /** Packets delivered and not yet acknowledged / dropped and not yet declared lost. */
  private readonly toAck: SentPacket[] = [];
  private readonly toLose: SentPacket[] = [];

  /** Packets delivered or dropped whose acknowledgement or loss {@link settle} has not reported yet. */
  get unsettled(): number {
    return this.toAck.length + this.toLose.length;
  }
  readonly fatalErrors: Error[] = [];
  readonly flushResults: FlushResult[] = [];
  /** Write keys per level (the peer opens with the same keys); their AEAD fails while {@link sealFailures} > 0. */
  readonly keys = new Map<EncryptionLevel, PacketKeys>();
  /** Seals to fail from now on (each failing seal decrements it). */
  sealFailures = 0;

  private pendingPacketsOfDatagram: SentPacket[] = [];
  private readonly pnStates: Record<PacketNumberSpace, PacketNumberState>;
  private readonly dcid: Uint8Array;

  constructor(options: OutboundHarnessOptions = {}) {
    this.mtu = options.mtu ?? 1200;
    const role = options.role ?? 'client';
    const cidLength = options.cidLength ?? 8;
    this.dcid = new Uint8Array(cidLength).fill(0xd0);
    const scid = new Uint8Array(cidLength).fill(0x5c);
    const provider = defaultCryptoProvider;
    const levels = options.levels ?? ['oneRtt'];
    for (const level of levels) {
      const base =
        level === 'initial'
          ? initialKeys(provider, QUIC_V1, this.dcid, role).send
          : derivePacketKeys(provider, QUIC_V1, 'aes-128-gcm', 'sha256', new Uint8Array(32).fill(level.length));
      // A seal that fails on demand (the injected provider failure).
      const aead = base.aead;
      const harness = this;
      this.keys.set(level, {
        ...base,
        aead: {
          algorithm: aead.algorithm,
          seal(nonce, aad, buf, offset, length) {
            if (harness.sealFailures > 0) {
              harness.sealFailures--;
              throw new Error('injected seal failure');
            }
            aead.seal(nonce, aad, buf, offset, length);
          },
          open: (nonce, aad, buf, offset, length) => aead.open(nonce, aad, buf, offset, length),
        },
      });
    }
    const seed = options.seed ?? 1;
    this.pnStates = {
      initial: new PacketNumberState('initial', { random: randomSource(seed) }),
      handshake: new PacketNumberState('handshake', { random: randomSource(seed + 1) }),
      application: new PacketNumberState('application', { random: randomSource(seed + 2), skip: { minInterval: 50, maxInterval: 300 } }),
    };
    this.ack = new AckSource({ maxRanges: options.ackMaxRanges });
    this.controlQueue = new ControlQueue(options.control);
    this.control = new ControlSource(this.controlQueue);
    this.flow = new FlowController({ role, local: options.local ?? openLimits(), peer: options.peer ?? openLimits() });
    this.flowSource = new FlowControlSource(this.flow);
    this.datagrams = new DatagramSource(this.datagramQueue);
    this.streams = new StreamSource({ flow: this.flow, control: this.controlQueue });
    // Priority order of the flush: ACK → CRYPTO → CONNECTION_CLOSE → [gate] → control → flow
    // control → DATAGRAM → STREAM → PING.
    const sources: FrameSource[] = [this.ack, this.crypto, this.close, this.control, this.flowSource, this.datagrams, this.streams, this.ping];
    this.outbound = { sources, congestionGate: 3 };
    const others = sources.filter((s) => s !== this.ack);
    this.ack.setPacketPlanned((level) => others.some((s) => s.hasPending(level)));
    const limits: SendLimits = {
      maxDatagramSize: () => this.mtu,
      amplificationBudget: () => Infinity,
      congestionAllowance: options.congestionAllowance ?? (() => Infinity),
      pacingAllowance: () => Infinity,
    };
    const ctx: BuilderContext = {
      role,
      version: () => QUIC_V1,
      destinationCid: () => this.dcid,
      sourceCid: () => scid,
      initialToken: () => new Uint8Array(0),
      sendKeys: (level) => this.keys.get(level),
      keyPhase: () => 0,
      canUpdateKeys: () => false,
      updateKeys: () => {},
      packetNumbers: (space) => this.pnStates[space],
      limits,
      random: randomSource(seed + 3),
      onPacketSent: (p) => this.pendingPacketsOfDatagram.push(p),
      onDatagram: (d) => {
        const dg = { bytes: d.slice(), packets: this.pendingPacketsOfDatagram };
        this.pendingPacketsOfDatagram = [];
        this.sent.push(dg);
        this.inFlight.push(dg);
      },
      onFatalError: (e) => this.fatalErrors.push(e),
    };
    this.assembler = new PacketAssembler(ctx, { maxDatagramsPerFlush: options.maxDatagramsPerFlush });
    this.peer = new DecodingPeer((level) => this.keys.get(level), cidLength);
  }

  /** The pending$ of every source, for an {@link OutboundPath}. */
  get signals(): Observable<void>[] {
    return [this.ack.pending$, this.crypto.pending$, this.close.pending$, this.control.pending$, this.flowSource.pending$, this.datagrams.pending$, this.streams.pending$, this.ping.pending$];
  }

  /** One flush at `now` (the builder engineer's flush). Returns true when it stopped at the flush limit. */
  flush(now = 0): boolean {
    const r = this.assembler.flush(now, this.outbound);
    this.flushResults.push(r);
    return r.blockedBy === 'flush-limit';
  }

  /** An {@link OutboundPath} driving {@link flush}. */
  path(scheduler: FlushScheduler, clock: () => number = () => 0): OutboundPath {
    return new OutboundPath({ signals: this.signals, flush: (now) => this.flush(now), scheduler, clock });
  }

  /** Delivers the oldest `n` (default all) in-flight datagrams to the peer. */
  deliver(n = this.inFlight.length): void {
    for (const dg of this.inFlight.splice(0, n)) {
      this.peer.receive(dg.bytes);
      this.toAck.push(...dg.packets);
    }
  }

  /** Drops the in-flight datagram at `index` (default the oldest). */
  drop(index = 0): void {
    const [dg] = this.inFlight.splice(index, 1);
    if (dg !== undefined) this.toLose.push(...dg.packets);
  }

  /**
   * Plays loss recovery's verdicts: delivered packets are acknowledged, dropped ones declared
   * lost, each through the SentPacket's sources (`notifyAcked` / `notifyLost`).
   */
  settle(): void {
    for (const p of this.toAck.splice(0)) {
      this.pnStates[p.space].onAcknowledged(p.packetNumber);
      notifyAcked(p);
    }
    for (const p of this.toLose.splice(0)) notifyLost(p);
  }

  /** Runs flush → deliver (dropping per `lose`) → settle until nothing is sent; returns flushes run. */
  runToQuiescence(lose: (dg: SentDatagram, i: number) => boolean = () => false, limit = 100_000): number {
    let flushes = 0;
    let index = 0;
    for (;;) {
      const before = this.sent.length;
      this.flush(flushes);
      flushes++;
      while (this.inFlight.length > 0) {
        if (lose(this.inFlight[0], index++)) this.drop(0);
        else this.deliver(1);
      }
      this.settle();
      if (this.sent.length === before && this.inFlight.length === 0) return flushes;
      if (flushes >= limit) throw new Error(`no quiescence after ${limit} flushes`);
    }
  }

  /** Every packet sent, in order. */
  sentPackets(): SentPacket[] {
    return this.sent.flatMap((d) => d.packets);
  }
}
