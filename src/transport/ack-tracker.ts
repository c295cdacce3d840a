/**
 * What we received in one packet number space and when to acknowledge it (RFC 9000 §13.2).
 *
 * The tracker keeps the received packet numbers as ranges (newest first, the order an ACK frame
 * lists them), bounded: beyond {@link AckTrackerOptions.maxRanges} the oldest range is dropped.
 * Every range dropped — by that bound or because the peer acknowledged an ACK frame covering it
 * (RFC 9000 §13.2.4) — raises a floor below which packets count as duplicates: the tracker errs on
 * the side of "duplicate" rather than accepting a packet twice (RFC 9000 §13.2.3: "Maintaining a
 * minimum packet number that increases as ranges are discarded").
 *
 * ACK timing (RFC 9000 §13.2.1–§13.2.2): Initial and Handshake ack-eliciting packets are
 * acknowledged immediately; application data after `ackElicitingThreshold` (2) ack-eliciting
 * packets, or within max_ack_delay of the first unacknowledged one, or immediately when a packet
 * arrives out of order, reveals a gap, or carries ECN-CE. The connection reads
 * {@link AckTracker.ackDeadline} for its timer and calls {@link AckTracker.onTimeout}.
 *
 * @module
 */
import { Subject, type Observable } from 'rxjs';
import type { AckEcnCounts, AckRange } from '../wire/frames/types.js';
import type { PacketNumberSpace } from '../wire/levels.js';

/** The ECN codepoint of a received datagram's IP header (RFC 9000 §13.4.1). */
export type EcnCodepoint = 'notEct' | 'ect0' | 'ect1' | 'ce';

/** Default bound on tracked ACK ranges. */
export const DEFAULT_MAX_ACK_RANGES = 64;

/** Default max_ack_delay: 25 ms (RFC 9000 §18.2). */
export const DEFAULT_MAX_ACK_DELAY_MS = 25;

/** Default ack_delay_exponent: 3 (RFC 9000 §18.2). */
export const DEFAULT_ACK_DELAY_EXPONENT = 3;

/** Options of an {@link AckTracker}. */
export interface AckTrackerOptions {
  /** The packet number space tracked. */
  readonly space: PacketNumberSpace;
  /** Our max_ack_delay in milliseconds (the transport parameter we sent); default 25. Only the application space delays ACKs. */
  readonly maxAckDelay?: number;
  /** The ack_delay_exponent the ACK Delay field is encoded with (RFC 9000 §19.3); default 3. */
  readonly ackDelayExponent?: number;
  /** Most ranges kept; the oldest are dropped beyond it. Default {@link DEFAULT_MAX_ACK_RANGES}. */
  readonly maxRanges?: number;
  /** Ack-eliciting packets after which an application ACK is sent at once (RFC 9000 §13.2.2); default 2. */
  readonly ackElicitingThreshold?: number;
}

/**
 * Received packet numbers and ACK timing of one packet number space. Sans-IO: time is `now` in
 * milliseconds; {@link pending$} emits when an ACK becomes due.
 */
export class AckTracker {
  /** The packet number space tracked. */
  readonly space: PacketNumberSpace;
  /** The ack_delay_exponent used to encode ACK Delay. */
  readonly ackDelayExponent: number;
  private readonly maxAckDelay: number;
  private readonly maxRanges: number;
  private readonly threshold: number;

  /** Received ranges, descending: `list[0]` holds the largest packet number. */
  private readonly list: AckRange[] = [];
  /** Packets below this are treated as duplicates (ranges below it were discarded). */
  private floor = 0;
  private largest: number | undefined;
  private largestTime = 0;
  private largestAckEliciting: number | undefined;
  private ecnCounts = { ect0: 0, ect1: 0, ce: 0 };

  private elicitingSinceAck = 0;
  private firstUnackedElicitingTime: number | undefined;
  private immediate = false;
  private unreported = false;
  private rearmed = false;
  private readonly due = new Subject<void>();

  /** Emits when an ACK becomes due (must be sent without further delay). */
  readonly pending$: Observable<void> = this.due.asObservable();

  /** Creates an empty tracker. */
  constructor(options: AckTrackerOptions) {
    this.space = options.space;
    this.maxAckDelay = options.maxAckDelay ?? DEFAULT_MAX_ACK_DELAY_MS;
    this.ackDelayExponent = options.ackDelayExponent ?? DEFAULT_ACK_DELAY_EXPONENT;
    this.maxRanges = Math.max(1, options.maxRanges ?? DEFAULT_MAX_ACK_RANGES);
    this.threshold = Math.max(1, options.ackElicitingThreshold ?? 2);
  }

  /** The largest packet number received, undefined before any (kept even when ranges are discarded, RFC 9000 §13.2.3). */
  get largestReceived(): number | undefined {
    return this.largest;
  }

  /** When the largest packet number was received, in milliseconds. */
  get largestReceivedTime(): number {
    return this.largestTime;
  }

  /** Packets below this packet number are treated as duplicates. */
  get duplicateFloor(): number {
    return this.floor;
  }

  /** The tracked ranges, newest first (do not modify). */
  get ranges(): readonly AckRange[] {
    return this.list;
  }

  /** ECN counts to report, undefined when no ECN-marked packet was received in this space. */
  get ecn(): AckEcnCounts | undefined {
    const e = this.ecnCounts;
    return e.ect0 + e.ect1 + e.ce === 0 ? undefined : { ect0: e.ect0, ect1: e.ect1, ce: e.ce };
  }

  /** True when an ACK must be sent now. */
  get isAckDue(): boolean {
    return this.immediate;
  }

  /** True when packets were received since the last ACK frame was sent (an ACK may be piggybacked). */
  get hasUnreported(): boolean {
    return this.unreported && this.list.length > 0;
  }

  /**
   * True when an ACK is worth adding to a packet sent anyway: ack-eliciting packets arrived since
   * the last ACK frame, or that frame was lost (RFC 9000 §13.2.1: "An endpoint SHOULD send an ACK
   * frame with other frames when there are new ack-eliciting packets to acknowledge").
   */
  get wantsPiggyback(): boolean {
    return this.list.length > 0 && (this.elicitingSinceAck > 0 || this.rearmed);
  }

  /** Ack-eliciting packets received since the last ACK frame was sent. */
  get ackElicitingSinceAck(): number {
    return this.elicitingSinceAck;
  }

  /**
   * True when `pn` was already received — or might have been: packets below the floor of
   * discarded ranges count as duplicates. Call after removing packet protection and before
   * processing the packet (RFC 9000 §12.3).
   */
  isDuplicate(pn: number): boolean {
    if (pn < this.floor) return true;
    const i = this.indexOf(pn);
    return i >= 0 && this.list[i].smallest <= pn;
  }

  /** Index of the first range (descending) with `largest >= pn`'s neighbourhood: the range with the smallest `largest` ≥ pn, or -1. */
  private indexOf(pn: number): number {
    let lo = 0;
    let hi = this.list.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.list[mid].largest >= pn) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found;
  }

  /**
   * Records a processed packet (not a duplicate) received at `now` and applies the ACK timing
   * rules of RFC 9000 §13.2.1–§13.2.2. Returns false, recording nothing, for a duplicate.
   */
  onPacketReceived(pn: number, ackEliciting: boolean, now: number, ecn: EcnCodepoint = 'notEct'): boolean {
    if (this.isDuplicate(pn)) return false;
    const previousLargest = this.largest;
    this.insert(pn);
    this.unreported = true;
    if (previousLargest === undefined || pn > previousLargest) {
      this.largest = pn;
      this.largestTime = now;
    }
    if (ecn !== 'notEct') this.ecnCounts[ecn]++;
    if (!ackEliciting) return true; // RFC 9000 §13.2.1: never ACK only non-ack-eliciting packets
    let now_ = false;
    // RFC 9000 §13.2.1: out of order (below a received ack-eliciting packet), or revealing a gap
    // above the largest ack-eliciting one, or ECN-CE marked: acknowledge without delay.
    if (this.largestAckEliciting !== undefined) {
      if (pn < this.largestAckEliciting) now_ = true;
      else if (pn > this.largestAckEliciting + 1 && !this.receivedAll(this.largestAckEliciting + 1, pn - 1)) now_ = true;
    }
    if (ecn === 'ce') now_ = true;
    if (this.largestAckEliciting === undefined || pn > this.largestAckEliciting) this.largestAckEliciting = pn;
    this.elicitingSinceAck++;
    if (this.firstUnackedElicitingTime === undefined) this.firstUnackedElicitingTime = now;
    // RFC 9000 §13.2.1: Initial and Handshake immediately; §13.2.2: after two ack-eliciting packets.
    if (this.space !== 'application' || this.elicitingSinceAck >= this.threshold) now_ = true;
    if (now_ && !this.immediate) {
      this.immediate = true;
      if (this.due.observed) this.due.next();
    }
    return true;
  }

  /** True when every packet number in `[from, to]` is in the tracked ranges. */
  private receivedAll(from: number, to: number): boolean {
    const i = this.indexOf(to);
    return i >= 0 && this.list[i].smallest <= from;
  }

  private insert(pn: number): void {
    const list = this.list;
    if (list.length === 0 || pn > list[0].largest) {
      if (list.length > 0 && pn === list[0].largest + 1) list[0] = { smallest: list[0].smallest, largest: pn };
      else list.unshift({ smallest: pn, largest: pn });
    } else {
      // i: the range with the smallest `largest` ≥ pn (pn is not inside it: not a duplicate).
      const i = this.indexOf(pn);
      const above = list[i];
      const below = list[i + 1] as AckRange | undefined;
      const joinsAbove = above.smallest === pn + 1;
      const joinsBelow = below !== undefined && below.largest === pn - 1;
      if (joinsAbove && joinsBelow) list.splice(i, 2, { smallest: below.smallest, largest: above.largest });
      else if (joinsAbove) list[i] = { smallest: pn, largest: above.largest };
      else if (joinsBelow) list[i + 1] = { smallest: below.smallest, largest: pn };
      else list.splice(i + 1, 0, { smallest: pn, largest: pn });
    }
    if (list.length > this.maxRanges) {
      list.length = this.maxRanges;
      // RFC 9000 §13.2.3: everything below the oldest kept range now counts as received.
      this.floor = Math.max(this.floor, list[list.length - 1].smallest);
    }
  }

  /**
   * The time by which an ACK must be sent, in milliseconds, or undefined when nothing needs
   * acknowledging. A deadline at or before `now` means "immediately".
   */
  ackDeadline(): number | undefined {
    if (this.firstUnackedElicitingTime === undefined) return this.immediate ? this.largestTime : undefined;
    if (this.immediate) return this.firstUnackedElicitingTime;
    return this.firstUnackedElicitingTime + this.maxAckDelay;
  }

  /** The connection's ACK timer fired at `now`: a deadline that has passed makes the ACK due. */
  onTimeout(now: number): void {
    const deadline = this.ackDeadline();
    if (deadline !== undefined && deadline <= now && !this.immediate) {
      this.immediate = true;
      if (this.due.observed) this.due.next();
    }
  }

  /** The ACK Delay field for an ACK sent at `now`: microseconds since the largest was received, scaled down by 2^exponent (RFC 9000 §13.2.5, §19.3). */
  ackDelayField(now: number): number {
    const micros = Math.max(0, now - this.largestTime) * 1000;
    return Math.floor(micros / 2 ** this.ackDelayExponent);
  }

  /** Records that an ACK frame was committed at `now`: the timers and counters restart. */
  onAckSent(): void {
    this.elicitingSinceAck = 0;
    this.firstUnackedElicitingTime = undefined;
    this.immediate = false;
    this.unreported = false;
    this.rearmed = false;
  }

  /**
   * A packet carrying our ACK frame with this Largest Acknowledged was acknowledged: ranges at or
   * below it need not be acknowledged again (RFC 9000 §13.2.4), and the floor rises above it.
   */
  onAckAcknowledged(largestAcknowledged: number): void {
    if (largestAcknowledged < this.floor) return;
    this.floor = largestAcknowledged + 1;
    const list = this.list;
    while (list.length > 0 && list[list.length - 1].largest <= largestAcknowledged) list.pop();
    const last = list[list.length - 1];
    if (last !== undefined && last.smallest <= largestAcknowledged) {
      list[list.length - 1] = { smallest: largestAcknowledged + 1, largest: last.largest };
    }
  }

  /**
   * A packet carrying our ACK frame was lost. ACK frames are never retransmitted (RFC 9000
   * §13.3), but the ranges are still tracked: the next packet sent in this space carries a fresh
   * ACK frame.
   */
  onAckLost(): void {
    if (this.list.length > 0) this.unreported = this.rearmed = true;
  }

  /** Forgets everything (the space's keys were discarded, RFC 9001 §4.9). */
  discard(): void {
    this.list.length = 0;
    this.elicitingSinceAck = 0;
    this.firstUnackedElicitingTime = undefined;
    this.immediate = false;
    this.unreported = false;
    this.rearmed = false;
  }
}
