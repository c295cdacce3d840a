/**
 * The ACK frame source (RFC 9000 §13.2, §19.3): one {@link AckTracker} per packet number space.
 *
 * A delayed ACK must not open a packet on its own, but should ride on any packet sent anyway
 * (RFC 9000 §13.2: "When sending a packet for any reason, an endpoint SHOULD attempt to include
 * an ACK frame"). The flush opens packets for sources whose `hasPending` is true and calls `write`
 * only on those, so `hasPending(level)` is true when an ACK is *due* (the tracker's timing rules),
 * or — with the {@link AckSourceOptions.packetPlanned} hook — when ack-eliciting packets wait to be
 * acknowledged and another source will send a packet at that level anyway.
 *
 * The frame is cut to the room left: with too many ranges, the newest ranges that fit are sent
 * (RFC 9000 §13.2.3: "older ranges ... are omitted") — never an oversize frame, never nothing
 * when at least one range fits. ACK frames are not retransmitted; the tracker's state persists,
 * and an acknowledged ACK frame prunes the ranges at or below its Largest Acknowledged
 * (RFC 9000 §13.2.4).
 *
 * @module
 */
import { merge, type Observable } from 'rxjs';
import type { FrameSource, PacketWriter, SentFrame, SentPacket } from '../../packet/types.js';
import { fitAckRanges, writeAckFrame } from '../../wire/frames/encode.js';
import { spaceOf, type EncryptionLevel, type PacketNumberSpace } from '../../wire/levels.js';
import { AckTracker, DEFAULT_ACK_DELAY_EXPONENT } from '../ack-tracker.js';

/** Options of an {@link AckSource}. */
export interface AckSourceOptions {
  /** Our max_ack_delay in milliseconds (application space); default 25. */
  readonly maxAckDelay?: number;
  /**
   * Our ack_delay_exponent, used in the application space. Initial and Handshake ACKs use the
   * default 3, which the peer assumes before it has our transport parameters (RFC 9000 §18.2).
   */
  readonly ackDelayExponent?: number;
  /** Most ACK ranges tracked per space; default 64. */
  readonly maxRanges?: number;
  /** Ack-eliciting packets after which an application ACK is sent at once; default 2. */
  readonly ackElicitingThreshold?: number;
  /**
   * True when some other source will make the flush send a packet at `level` (typically: any
   * other source's `hasPending(level)`). With it, a delayed ACK rides on that packet; without it,
   * ACKs are written only when due.
   */
  readonly packetPlanned?: (level: EncryptionLevel) => boolean;
}

/** Writes ACK frames for the three packet number spaces. */
export class AckSource implements FrameSource {
  /** Source name. */
  readonly name = 'ack';
  private readonly spaces: Record<PacketNumberSpace, AckTracker>;
  private packetPlanned: ((level: EncryptionLevel) => boolean) | undefined;

  /** Emits when an ACK becomes due in any space. */
  readonly pending$: Observable<void>;

  /** Creates trackers for the three packet number spaces. */
  constructor(options: AckSourceOptions = {}) {
    const common = { maxRanges: options.maxRanges, ackElicitingThreshold: options.ackElicitingThreshold };
    this.spaces = {
      initial: new AckTracker({ ...common, space: 'initial', ackDelayExponent: DEFAULT_ACK_DELAY_EXPONENT }),
      handshake: new AckTracker({ ...common, space: 'handshake', ackDelayExponent: DEFAULT_ACK_DELAY_EXPONENT }),
      application: new AckTracker({
        ...common,
        space: 'application',
        maxAckDelay: options.maxAckDelay,
        ackDelayExponent: options.ackDelayExponent,
      }),
    };
    this.pending$ = merge(this.spaces.initial.pending$, this.spaces.handshake.pending$, this.spaces.application.pending$);
    this.packetPlanned = options.packetPlanned;
  }

  /** Sets the {@link AckSourceOptions.packetPlanned} hook (the other sources exist only after this one). */
  setPacketPlanned(hook: ((level: EncryptionLevel) => boolean) | undefined): void {
    this.packetPlanned = hook;
  }

  /** The tracker of a packet number space. */
  tracker(space: PacketNumberSpace): AckTracker {
    return this.spaces[space];
  }

  /** The earliest ACK deadline across spaces (for the connection's timer), undefined when none. */
  ackDeadline(): number | undefined {
    let min: number | undefined;
    for (const t of [this.spaces.initial, this.spaces.handshake, this.spaces.application]) {
      const d = t.ackDeadline();
      if (d !== undefined && (min === undefined || d < min)) min = d;
    }
    return min;
  }

  /** Applies a passed ACK deadline in every space (see {@link AckTracker.onTimeout}). */
  onTimeout(now: number): void {
    this.spaces.initial.onTimeout(now);
    this.spaces.handshake.onTimeout(now);
    this.spaces.application.onTimeout(now);
  }

  /**
   * True when an ACK is due in the level's space, or worth piggybacking on a packet another source
   * plans at `level`. 0-RTT packets never carry ACK frames (RFC 9000 §12.5).
   */
  hasPending(level: EncryptionLevel): boolean {
    if (level === 'zeroRtt') return false;
    const t = this.spaces[spaceOf(level)];
    return t.isAckDue || (t.wantsPiggyback && this.packetPlanned !== undefined && this.packetPlanned(level));
  }

  /** Writes at most one ACK frame — the newest ranges that fit the room. */
  write(writer: PacketWriter): number {
    if (writer.level === 'zeroRtt' || writer.full) return 0;
    const t = this.spaces[spaceOf(writer.level)];
    if (!t.isAckDue && !t.hasUnreported) return 0;
    const ranges = t.ranges;
    if (ranges.length === 0) return 0;
    const delay = t.ackDelayField(writer.now);
    const ecn = t.ecn;
    // RFC 9000 §13.2.3: omit the oldest ranges when the frame does not fit.
    const count = fitAckRanges(delay, ranges, ecn, writer.room);
    if (count === 0) return 0;
    const start = writer.offset;
    const end = writeAckFrame(writer.buffer, start, delay, ranges, count, ecn);
    writer.commitFrame(end - start, { kind: 'ack', largestAcknowledged: ranges[0].largest }, false);
    t.onAckSent();
    return 1;
  }

  /** ACK of ACK: stop acknowledging at or below the frame's Largest Acknowledged (RFC 9000 §13.2.4). */
  onAcked(frame: SentFrame, packet: SentPacket): void {
    if (frame.kind === 'ack') this.spaces[packet.space].onAckAcknowledged(frame.largestAcknowledged);
  }

  /** ACK frames are not retransmitted (RFC 9000 §13.3); the next packet in the space carries a fresh one. */
  onLost(frame: SentFrame, packet: SentPacket): void {
    if (frame.kind === 'ack') this.spaces[packet.space].onAckLost();
  }
}
