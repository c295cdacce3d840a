/**
 * The flush: the one outbound path of a connection (ARCHITECTURE.md principles 3–5). Given the
 * frame sources in priority order — ACK → CRYPTO → CONNECTION_CLOSE → [congestion gate] → control
 * → flow control → DATAGRAM / STREAM → PING/PADDING — it builds as many packets and datagrams as the
 * sources and the send limits allow, in one synchronous call that never awaits.
 *
 * Per datagram it walks the encryption levels in coalescing order (Initial, 0-RTT, Handshake,
 * 1-RTT; RFC 9000 §12.2) and, for each level with keys and work, builds packets while room
 * remains: each packet is filled by the sources in priority order, each source writing as much as
 * fits. Long-header packets are coalesced while at least {@link MIN_PACKET_PAYLOAD_ROOM} bytes of
 * payload would remain for the next one; a 1-RTT packet ends its datagram. Before sealing a packet
 * the flush looks ahead — will another packet follow in this datagram? — so that the datagram's
 * padding (RFC 9000 §14.1) goes into its last packet.
 *
 * Sources before the congestion gate (`OutboundSources.congestionGate`) write regardless of the
 * congestion window and the pacer; the others see at most the allowance left (RFC 9002 §7, §7.7),
 * and never ride in a datagram whose padding would take it beyond the allowance. Where the gate
 * sits is the caller's choice: the architecture puts ACK, CRYPTO and CONNECTION_CLOSE before it
 * (RFC 9002 §7 itself exempts only ACK-only packets; CRYPTO data fits the initial window of
 * 10 datagrams in practice). PTO probes bypass the window (RFC 9002 §7.5). Every datagram stays
 * within the maximum datagram size and the amplification budget (RFC 9000 §8.1, §14).
 *
 * CONNECTION_CLOSE: while the handshake is unconfirmed the close source reports pending work at
 * every level it must close at (RFC 9000 §10.2.3); the flush visits every level with keys, in one
 * datagram where they fit, so each gets its CONNECTION_CLOSE.
 *
 * @module
 */
import type { EncryptionLevel, PacketNumberSpace } from '../wire/levels.js';
import type { AnyActorRef, InspectionEvent, Observer } from 'xstate';
import { AEAD_TAG_LENGTH } from '../crypto/provider.js';
import { MIN_PACKET_PAYLOAD_ROOM, PacketBuilder, type PacketBuilderOptions } from './builder.js';
import type { BuilderContext } from './context.js';
import { attachPacketBuilderInspector, type PacketBuilderInspection } from './inspect.js';
import type { FrameSource } from './types.js';

/** The sources of one connection's outbound path, as the flush pulls them. */
export interface OutboundSources {
  /** Every frame source, in priority order (ACK first, PING/PADDING last). */
  readonly sources: readonly FrameSource[];
  /**
   * Index of the first congestion-controlled source: `sources[i]` with `i < congestionGate` (ACK,
   * CRYPTO, CONNECTION_CLOSE) ignore the congestion window and the pacer.
   */
  readonly congestionGate: number;
}

/** What a flush must do besides draining the sources. */
export interface FlushOptions {
  /**
   * PTO probes owed per packet number space (RFC 9002 §6.2.4): that many ack-eliciting packets
   * are sent in the space (a PING when no source has anything), bypassing the congestion window
   * (RFC 9002 §7.5), padded as contract §E says.
   */
  readonly probes?: Readonly<Partial<Record<PacketNumberSpace, number>>>;
  /**
   * Send one PMTU probe (PING + PADDING, RFC 9000 §14.4) in a datagram of this many bytes. Sent
   * only with 1-RTT keys, a validated peer address and congestion allowance left.
   */
  readonly mtuProbeSize?: number;
}

/** Why a flush stopped while work remained. */
export type FlushBlockedBy =
  /** The anti-amplification limit (RFC 9000 §8.1). */
  | 'amplification'
  /** The congestion window (RFC 9002 §7). */
  | 'congestion'
  /** The pacer (RFC 9002 §7.7). */
  | 'pacing'
  /** The datagrams-per-flush limit of the assembler: flush again soon. */
  | 'flush-limit'
  /** The connection has no source connection ID (contract §A.1: Initialize fails). */
  | 'no-source-cid';

/** The outcome of a flush. */
export interface FlushResult {
  /** Datagrams handed over. */
  readonly datagrams: number;
  /** Packets sealed and reported. */
  readonly packets: number;
  /** Bytes of the datagrams handed over. */
  readonly bytes: number;
  /** Whether the requested PMTU probe was sent. */
  readonly mtuProbeSent: boolean;
  /** PTO probe packets sent. */
  readonly probesSent: number;
  /** Why work was left, if it was; undefined when every source with sendable work was drained. */
  readonly blockedBy: FlushBlockedBy | undefined;
  /** The error reported to `onFatalError`, if the flush failed. */
  readonly error: Error | undefined;
}

/** Options of a {@link PacketAssembler}. */
export interface PacketAssemblerOptions extends PacketBuilderOptions {
  /**
   * Most datagrams one flush builds (it then returns `blockedBy: 'flush-limit'` so the scheduler can
   * let other work run); default {@link DEFAULT_MAX_DATAGRAMS_PER_FLUSH}.
   */
  readonly maxDatagramsPerFlush?: number;
}

/**
 * Datagrams one flush builds at most by default: about 0.5 MB at 1200 bytes, so that a connection
 * with a wide-open window does not hold the event loop for more than a few milliseconds.
 */
export const DEFAULT_MAX_DATAGRAMS_PER_FLUSH = 512;

const LEVEL_ORDER: readonly EncryptionLevel[] = ['initial', 'zeroRtt', 'handshake', 'oneRtt'];
const NO_OPTIONS: FlushOptions = Object.freeze({});
/**
 * One bit per encryption level, for the stalled-level masks. A switch rather than a record lookup:
 * a lookup keyed by a level string goes megamorphic in the flush (~0.08 µs per packet in a perf
 * profile of bench/builder.ts).
 */
function levelBit(level: EncryptionLevel): number {
  switch (level) {
    case 'initial':
      return 1;
    case 'zeroRtt':
      return 2;
    case 'handshake':
      return 4;
    default:
      return 8;
  }
}

/**
 * The outbound path of one connection: owns its {@link PacketBuilder} and drains the frame sources
 * into datagrams on each {@link flush}.
 */
export class PacketAssembler {
  /** The builder (its lifecycle state is `uninitialized` between flushes). */
  readonly builder: PacketBuilder;
  private readonly ctx: BuilderContext;
  private readonly maxDatagrams: number;

  // per flush
  private sources: readonly FrameSource[] = [];
  private gate = 0;
  /** Levels with write keys this flush (refilled in place by each flush). */
  private readonly levels: EncryptionLevel[] = [];
  /** PTO probes still owed this flush, per packet number space (fields, not a record: see {@link levelBit}). */
  private probesInitial = 0;
  private probesHandshake = 0;
  private probesApplication = 0;
  private stalledForFlush = 0;
  private stalledForDatagram = 0;
  private probesSent = 0;

  /** An outbound path for the connection `ctx`. */
  constructor(ctx: BuilderContext, options: PacketAssemblerOptions = {}) {
    this.ctx = ctx;
    this.builder = new PacketBuilder(ctx, options);
    const max = options.maxDatagramsPerFlush ?? DEFAULT_MAX_DATAGRAMS_PER_FLUSH;
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`maxDatagramsPerFlush ${max} is not a positive integer`);
    this.maxDatagrams = max;
  }

  /**
   * Shows the builder's lifecycle in the inspector: spawns the lifecycle machine under `connection`
   * and mirrors every lifecycle event to it (see {@link attachPacketBuilderInspector}).
   */
  attachInspector(connection: AnyActorRef, observer?: Observer<InspectionEvent> | ((event: InspectionEvent) => void)): PacketBuilderInspection {
    return attachPacketBuilderInspector(connection, this.builder, observer);
  }

  /**
   * Builds and hands over every packet the sources and limits allow at `now`, synchronously.
   * Datagrams go to `onDatagram`, packet records to `onPacketSent`. On a failure (a packet that
   * fails to seal, a source or sink that throws) the frames concerned go back to their sources,
   * `onFatalError` is called, the builder is reset, and the error is returned in the result.
   */
  flush(now: number, outbound: OutboundSources, options: FlushOptions = NO_OPTIONS): FlushResult {
    const b = this.builder;
    const ctx = this.ctx;
    if (ctx.sourceCid() === undefined) {
      return { datagrams: 0, packets: 0, bytes: 0, mtuProbeSent: false, probesSent: 0, blockedBy: 'no-source-cid', error: undefined };
    }
    this.sources = outbound.sources;
    this.gate = Math.max(0, Math.min(outbound.congestionGate, outbound.sources.length));
    this.probesInitial = options.probes?.initial ?? 0;
    this.probesHandshake = options.probes?.handshake ?? 0;
    this.probesApplication = options.probes?.application ?? 0;
    this.stalledForFlush = 0;
    this.probesSent = 0;
    let mtuProbeSent = false;
    let blockedBy: FlushBlockedBy | undefined;
    let error: Error | undefined;
    try {
      b.initialize(now);
      this.sendableLevels(this.levels);
      if (options.mtuProbeSize !== undefined) mtuProbeSent = this.sendMtuProbe(options.mtuProbeSize);
      for (;;) {
        if (b.datagramCount >= this.maxDatagrams) {
          if (this.anyWork()) blockedBy = 'flush-limit';
          break;
        }
        if (!this.buildDatagram()) break;
      }
      blockedBy ??= this.blockedReason();
      if (b.state === 'finalized') b.finalize(true);
      b.cleanup();
    } catch (e) {
      error = e instanceof Error ? e : new Error(String(e));
      b.abort();
      ctx.onFatalError(error);
    }
    return {
      datagrams: b.datagramCount,
      packets: b.packetCount,
      bytes: b.byteCount,
      mtuProbeSent,
      probesSent: this.probesSent,
      blockedBy: error === undefined ? blockedBy : undefined,
      error,
    };
  }

  /** Levels with write keys, in coalescing order; 0-RTT only for a client without 1-RTT keys (contract §A.5). */
  private sendableLevels(out: EncryptionLevel[]): void {
    const ctx = this.ctx;
    out.length = 0;
    const oneRtt = ctx.sendKeys('oneRtt') !== undefined;
    for (let i = 0; i < LEVEL_ORDER.length; i++) {
      const level = LEVEL_ORDER[i];
      if (level === 'zeroRtt' && (oneRtt || ctx.role === 'server')) continue;
      if (level === 'oneRtt' ? oneRtt : ctx.sendKeys(level) !== undefined) out.push(level);
    }
  }

  /** Builds one datagram; false when nothing could be sent. */
  private buildDatagram(): boolean {
    const b = this.builder;
    const levels = this.levels;
    this.stalledForDatagram = this.stalledForFlush;
    let produced = false;
    let lastLevel: EncryptionLevel | undefined;
    for (let li = 0; li < levels.length; li++) {
      const level = levels[li];
      while ((this.stalledForDatagram & levelBit(level)) === 0 && this.hasWork(level) && this.canStart(level)) {
        const fresh = !b.isDatagramOpen;
        const probe = this.probesOwed(level) > 0;
        if (level === 'oneRtt' || level === 'zeroRtt') {
          if (probe || this.ungatedPending(level)) b.prepareForControlFrames(level, probe);
          else b.prepareForStreamFrames(false);
        } else {
          b.prepareForControlFrames(level, probe);
        }
        this.fill(level, probe);
        // RFC 9002 §6.2.4: a probe must elicit an acknowledgement; PING when nothing else does.
        if (probe && !b.packetAckEliciting) b.addPing();
        const ends = level === 'oneRtt' || !this.anotherPacketFollows(li, level);
        if (ends && b.frameCount === 0 && b.datagramNeedsPadding()) b.addPadding();
        const flush = ends && b.pendingDatagrams >= b.batchLimit;
        const outcome = b.finalize(flush, ends);
        if (outcome !== 'sealed') {
          // Work was announced but nothing fit: not again in this datagram, nor in this flush when
          // the packet had a whole datagram to itself.
          this.stalledForDatagram |= levelBit(level);
          if (fresh) this.stalledForFlush |= levelBit(level);
          break;
        }
        produced = true;
        lastLevel = level;
        if (probe) {
          this.probeSent(level);
          this.probesSent += 1;
        }
        if (ends) return true;
      }
    }
    if (b.isDatagramOpen && b.datagramNeedsPadding() && lastLevel !== undefined) {
      // The look-ahead promised a packet that did not come: a padding-only packet ends the datagram.
      b.prepareForControlFrames(lastLevel, false);
      b.addPadding();
      b.finalize(b.pendingDatagrams >= b.batchLimit, true);
    }
    b.closeDatagram();
    return produced;
  }

  /** Writes the sources' frames into the open packet, in priority order. */
  private fill(level: EncryptionLevel, probe: boolean): void {
    const b = this.builder;
    const sources = this.sources;
    const gate = this.gate;
    for (let i = 0; i < sources.length; i++) {
      if (b.full) break;
      const gated = i >= gate && !probe;
      b.setSource(sources[i], gated);
      if (b.room <= 0) {
        if (gated) break;
        continue;
      }
      const s = sources[i];
      if (s.hasPending(level)) s.write(b);
    }
    b.setSource(null, false);
  }

  /** PTO probes still owed in the packet number space of `level`. */
  private probesOwed(level: EncryptionLevel): number {
    return level === 'initial' ? this.probesInitial : level === 'handshake' ? this.probesHandshake : this.probesApplication;
  }

  /** One probe of `level`'s space was sent. */
  private probeSent(level: EncryptionLevel): void {
    if (level === 'initial') this.probesInitial -= 1;
    else if (level === 'handshake') this.probesHandshake -= 1;
    else this.probesApplication -= 1;
  }

  /** True when some source before the gate has work at `level`. */
  private ungatedPending(level: EncryptionLevel): boolean {
    const sources = this.sources;
    for (let i = 0; i < this.gate; i++) if (sources[i].hasPending(level)) return true;
    return false;
  }

  /** True when `level` has work the limits let through: a probe owed, an exempt source, or a gated source with allowance. */
  private hasWork(level: EncryptionLevel): boolean {
    if (this.probesOwed(level) > 0) return true;
    if (this.ungatedPending(level)) return true;
    if (!this.gatedAllowed(level)) return false;
    const sources = this.sources;
    for (let i = this.gate; i < sources.length; i++) if (sources[i].hasPending(level)) return true;
    return false;
  }

  /** True when the congestion and pacing allowance left can carry a useful packet at `level`. */
  private gatedAllowed(level: EncryptionLevel): boolean {
    return this.builder.congestionLeft >= this.builder.headerSize(level) + AEAD_TAG_LENGTH + MIN_PACKET_PAYLOAD_ROOM;
  }

  /**
   * True when a packet at `level` can start now: coalesced into the open datagram when it holds
   * packets (a datagram is only ever closed at the end of its level walk, so that its padding is
   * settled), else in a new datagram.
   */
  private canStart(level: EncryptionLevel): boolean {
    return this.builder.payloadRoomFor(level) >= MIN_PACKET_PAYLOAD_ROOM;
  }

  /** Look-ahead before sealing: will another packet be coalesced after the open one? */
  private anotherPacketFollows(li: number, level: EncryptionLevel): boolean {
    const b = this.builder;
    const left = b.datagramRoomAfterPacket();
    const fits = (l: EncryptionLevel): boolean => left - b.headerSize(l) - AEAD_TAG_LENGTH >= MIN_PACKET_PAYLOAD_ROOM;
    // The same level again when the frame cap, not the room, ended the packet.
    if (b.full && this.hasWork(level) && fits(level)) return true;
    for (let lj = li + 1; lj < this.levels.length; lj++) {
      const l = this.levels[lj];
      if ((this.stalledForDatagram & levelBit(l)) === 0 && this.hasWork(l) && fits(l)) return true;
    }
    return false;
  }

  /** True when any level still has sendable work. */
  private anyWork(): boolean {
    const levels = this.levels;
    for (let i = 0; i < levels.length; i++) if ((this.stalledForFlush & levelBit(levels[i])) === 0 && this.hasWork(levels[i])) return true;
    return false;
  }

  /** Why work is left (amplification, congestion or pacing), if it is. */
  private blockedReason(): FlushBlockedBy | undefined {
    const b = this.builder;
    let congestion = false;
    const levels = this.levels;
    for (let li = 0; li < levels.length; li++) {
      const level = levels[li];
      if ((this.stalledForFlush & levelBit(level)) !== 0) continue;
      if (this.hasWork(level) && !this.canStart(level)) return 'amplification';
      if (!this.gatedAllowed(level)) {
        const sources = this.sources;
        for (let i = this.gate; i < sources.length; i++) if (sources[i].hasPending(level)) congestion = true;
      }
    }
    return congestion ? b.congestionLimiter : undefined;
  }

  /** Sends a PMTU probe of `size` bytes if allowed (contract §A.4); true when sent. */
  private sendMtuProbe(size: number): boolean {
    const b = this.builder;
    // contract §A.4: 1-RTT keys and a validated address (amplification budget Infinity).
    if (this.ctx.sendKeys('oneRtt') === undefined || this.ctx.limits.amplificationBudget() !== Number.POSITIVE_INFINITY) return false;
    // A probe is congestion controlled (only its loss is not a congestion signal, RFC 9000 §14.4).
    if (!(b.congestionLeft > 0)) return false;
    b.prepareForPathMtuDiscovery(size);
    if (!b.addPing()) {
      b.finalize(false, true);
      return false;
    }
    return b.finalize(b.pendingDatagrams >= b.batchLimit, true) === 'sealed';
  }
}
