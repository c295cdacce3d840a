/**
 * Sent packet tracking for one packet number space (RFC 9002 Appendix A.1).
 *
 * Packets are kept in packet number order (they are sent in increasing order, RFC 9000 §12.3),
 * in an array with holes for packets already acknowledged, lost or discarded, compacted as it
 * goes; lookups by packet number are binary searches. The table also remembers the packet
 * numbers the sender never used (gaps, such as numbers skipped on purpose against optimistic
 * ACKs, RFC 9000 §21.4) so that an acknowledgment of one of them can be refused.
 *
 * @module
 */
import type { SentPacket } from '../packet/types.js';
import type { PacketNumberSpace } from '../wire/levels.js';
import { QuicError, TransportErrorCode } from '../wire/errors.js';

/**
 * A range of acknowledged packet numbers, `smallest` … `largest` inclusive. Structurally the
 * same as the wire's ACK range, so decoded ACK frames can be passed as they are.
 */
export interface AckedRange {
  /** Smallest packet number of the range. */
  readonly smallest: number;
  /** Largest packet number of the range. */
  readonly largest: number;
}

/** How many gaps of never-sent packet numbers a space remembers; older ones are forgotten. */
export const MAX_REMEMBERED_GAPS = 256;

/** Below this many slots the table is never compacted. */
const COMPACT_MIN_SLOTS = 64;

/**
 * The sent packets of one packet number space that are neither acknowledged, declared lost nor
 * discarded, with their bytes in flight and ack-eliciting count (RFC 9002 Appendix A.1, B.2).
 */
export class SentPacketTable {
  /** The packet number space this table tracks. */
  readonly space: PacketNumberSpace;
  /** Packet numbers of `slots`, ascending; kept for removed slots until compaction. */
  private pns: number[] = [];
  /** The packets; `undefined` where a packet was removed. */
  private slots: (SentPacket | undefined)[] = [];
  /** Index of the first slot that may still hold a packet. */
  private head = 0;
  private live = 0;
  private _largestSent: number | undefined;
  private _bytesInFlight = 0;
  private _ackElicitingInFlight = 0;
  /** Ranges of packet numbers never sent, ascending, at most {@link MAX_REMEMBERED_GAPS}. */
  private gaps: AckedRange[] = [];

  /** Creates an empty table for `space`. */
  constructor(space: PacketNumberSpace) {
    this.space = space;
  }

  /** Number of tracked packets. */
  get size(): number {
    return this.live;
  }

  /** The largest packet number sent in this space, undefined before the first. */
  get largestSent(): number | undefined {
    return this._largestSent;
  }

  /** Sum of the sizes of tracked in-flight packets (RFC 9002 Appendix B.2 bytes_in_flight). */
  get bytesInFlight(): number {
    return this._bytesInFlight;
  }

  /** Number of tracked packets that are ack-eliciting and in flight. */
  get ackElicitingInFlight(): number {
    return this._ackElicitingInFlight;
  }

  /**
   * Tracks a sent packet (RFC 9002 Appendix A.5). Packet numbers must strictly increase; numbers
   * jumped over are remembered as never sent.
   *
   * @throws QuicError(INTERNAL_ERROR) for a packet of another space or a non-increasing number.
   */
  add(packet: SentPacket): void {
    const pn = packet.packetNumber;
    if (packet.space !== this.space) {
      throw new QuicError(TransportErrorCode.INTERNAL_ERROR, `packet of space ${packet.space} recorded in space ${this.space}`);
    }
    if (!Number.isSafeInteger(pn) || pn < 0) {
      throw new QuicError(TransportErrorCode.INTERNAL_ERROR, `invalid packet number ${pn}`);
    }
    const expected = this._largestSent === undefined ? 0 : this._largestSent + 1;
    if (pn < expected) {
      // RFC 9000 §12.3: packet numbers in a space never decrease and are never reused.
      throw new QuicError(TransportErrorCode.INTERNAL_ERROR, `packet number ${pn} in ${this.space} is not above the largest sent ${expected - 1}`);
    }
    if (pn > expected) this.rememberGap(expected, pn - 1);
    this._largestSent = pn;
    this.pns.push(pn);
    this.slots.push(packet);
    this.live++;
    if (packet.inFlight) {
      this._bytesInFlight += packet.size;
      if (packet.ackEliciting) this._ackElicitingInFlight++;
    }
  }

  /**
   * Checks an ACK frame's ranges against what was sent (RFC 9000 §13.1, §21.4): returns a reason
   * when a range covers a packet number above the largest sent or one never sent, else undefined.
   * `ranges` must be descending and disjoint.
   */
  checkAcknowledgeable(ranges: readonly AckedRange[]): string | undefined {
    if (ranges.length === 0) return undefined;
    const largest = ranges[0].largest;
    if (this._largestSent === undefined) return `ACK of packet ${largest} in ${this.space}, where nothing was sent`;
    if (largest > this._largestSent) {
      return `ACK of packet ${largest} in ${this.space}, above the largest sent ${this._largestSent}`;
    }
    // Walk gaps (ascending) and ranges (descending, so from the end) together.
    let g = 0;
    for (let r = ranges.length - 1; r >= 0 && g < this.gaps.length; r--) {
      const range = ranges[r];
      while (g < this.gaps.length && this.gaps[g].largest < range.smallest) g++;
      if (g < this.gaps.length && this.gaps[g].smallest <= range.largest) {
        const pn = Math.max(this.gaps[g].smallest, range.smallest);
        return `ACK of packet ${pn} in ${this.space}, a packet number never sent`;
      }
    }
    return undefined;
  }

  /** True when every packet number strictly between `a` and `b` (a < b) is known never to have been sent. */
  onlyNeverSentBetween(a: number, b: number): boolean {
    if (b <= a + 1) return true;
    for (const gap of this.gaps) {
      if (gap.smallest <= a + 1 && gap.largest >= b - 1) return true;
      if (gap.smallest > a + 1) return false;
    }
    return false;
  }

  /** The tracked packet with number `pn`, if any. */
  get(pn: number): SentPacket | undefined {
    const i = this.lowerBound(pn);
    return i < this.pns.length && this.pns[i] === pn ? this.slots[i] : undefined;
  }

  /**
   * Removes and returns the tracked packets the ranges acknowledge, in ascending packet number
   * order (RFC 9002 Appendix A.7 `DetectAndRemoveAckedPackets`). `ranges` must be descending.
   */
  removeAcknowledged(ranges: readonly AckedRange[]): SentPacket[] {
    const out: SentPacket[] = [];
    for (let r = ranges.length - 1; r >= 0; r--) {
      const { smallest, largest } = ranges[r];
      for (let i = this.lowerBound(smallest); i < this.pns.length && this.pns[i] <= largest; i++) {
        const p = this.slots[i];
        if (p !== undefined) {
          out.push(p);
          this.clearSlot(i, p);
        }
      }
    }
    this.settle();
    return out;
  }

  /**
   * Visits, in ascending order, the tracked packets numbered at most `maxPn`; removes and returns
   * those for which `visit` returns true.
   */
  removeWhereUpTo(maxPn: number, visit: (packet: SentPacket) => boolean): SentPacket[] {
    const out: SentPacket[] = [];
    for (let i = this.head; i < this.pns.length && this.pns[i] <= maxPn; i++) {
      const p = this.slots[i];
      if (p !== undefined && visit(p)) {
        out.push(p);
        this.clearSlot(i, p);
      }
    }
    this.settle();
    return out;
  }

  /** Removes and returns every tracked packet matching `predicate`, in ascending order. */
  removeIf(predicate: (packet: SentPacket) => boolean): SentPacket[] {
    return this.removeWhereUpTo(Number.POSITIVE_INFINITY, predicate);
  }

  /** Removes and returns every tracked packet, in ascending order; the packet number history is kept. */
  removeAll(): SentPacket[] {
    return this.removeIf(() => true);
  }

  /** The tracked packets in ascending packet number order. */
  *packets(): IterableIterator<SentPacket> {
    for (let i = this.head; i < this.slots.length; i++) {
      const p = this.slots[i];
      if (p !== undefined) yield p;
    }
  }

  private rememberGap(smallest: number, largest: number): void {
    this.gaps.push({ smallest, largest });
    if (this.gaps.length > MAX_REMEMBERED_GAPS) this.gaps.shift();
  }

  private clearSlot(i: number, p: SentPacket): void {
    this.slots[i] = undefined;
    this.live--;
    if (p.inFlight) {
      this._bytesInFlight -= p.size;
      if (p.ackEliciting) this._ackElicitingInFlight--;
    }
  }

  /** Advances the head past removed slots and compacts when most slots are holes. */
  private settle(): void {
    while (this.head < this.slots.length && this.slots[this.head] === undefined) this.head++;
    const span = this.slots.length - this.head;
    if (this.head === this.slots.length) {
      this.pns = [];
      this.slots = [];
      this.head = 0;
      return;
    }
    if (this.slots.length >= COMPACT_MIN_SLOTS && (this.head > span || this.live * 2 < span)) {
      const pns: number[] = [];
      const slots: SentPacket[] = [];
      for (let i = this.head; i < this.slots.length; i++) {
        const p = this.slots[i];
        if (p !== undefined) {
          pns.push(this.pns[i]);
          slots.push(p);
        }
      }
      this.pns = pns;
      this.slots = slots;
      this.head = 0;
    }
  }

  /** Index of the first slot (from the head) whose packet number is ≥ `pn`. */
  private lowerBound(pn: number): number {
    let lo = this.head;
    let hi = this.pns.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.pns[mid] < pn) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
