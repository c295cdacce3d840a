/**
 * Outgoing packet numbers of one packet number space (RFC 9000 §12.3, §17.1, §21.4).
 *
 * Numbers increase and are never reused. Now and then one is skipped on purpose (contract §E:
 * "every 0–65535 packets"), so that a peer acknowledging packets it never received — an optimistic
 * ACK that inflates the congestion window (RFC 9000 §21.4) — is caught: an acknowledgement of a
 * skipped number is a PROTOCOL_VIOLATION (RFC 9000 §13.1). Numbers allocated to a packet that then
 * failed to seal are never reused either and are remembered the same way.
 *
 * Loss recovery infers the same set independently: `SentPacketTable` records every number jumped
 * over between two packets reported to `onPacketSent` as never sent. The builder reports every
 * packet it emits, in order, so both agree; both remember a bounded history of
 * {@link MAX_REMEMBERED_SKIPS} entries (recovery keeps that many gap ranges; a skip is one number,
 * so the number kept here is never more than recovery's history covers).
 *
 * @module
 */
import { MAX_REMEMBERED_GAPS } from '../recovery/sent-packets.js';
import { QuicError, TransportErrorCode } from '../wire/errors.js';
import type { PacketNumberSpace } from '../wire/levels.js';
import { MAX_PACKET_NUMBER, packetNumberLength } from '../wire/packet-number.js';
import type { RandomSource } from './random.js';

/** How many never-sent packet numbers a space remembers (recovery's gap history, `MAX_REMEMBERED_GAPS`). */
export const MAX_REMEMBERED_SKIPS = MAX_REMEMBERED_GAPS;

/** The default largest number of packets between two deliberate skips (contract §E: every 0–65535 packets). */
export const DEFAULT_MAX_SKIP_INTERVAL = 65535;

/**
 * When to skip packet numbers: the count of numbers used between two skipped ones is drawn
 * uniformly from `[minInterval, maxInterval]` after each skip (and before the first). The contract's
 * "every 0–65535 packets" becomes 1–65535 here: an interval of 0 would only put two skipped numbers
 * side by side, which protects nothing more than one.
 */
export interface PacketNumberSkipPolicy {
  /** Fewest numbers used between two skips (≥ 1). Default 1. */
  readonly minInterval?: number;
  /** Most numbers used between two skips (≥ minInterval). Default {@link DEFAULT_MAX_SKIP_INTERVAL}. */
  readonly maxInterval?: number;
}

/** Options of a {@link PacketNumberState}. */
export interface PacketNumberStateOptions {
  /** Draws the skip intervals; use `cryptoRandomSource` outside tests. */
  readonly random: RandomSource;
  /**
   * The skip policy, or false for none. Default: skipping in the application space only (where bulk
   * data makes optimistic ACKs pay), none in the Initial and Handshake spaces.
   */
  readonly skip?: PacketNumberSkipPolicy | false;
  /** The first packet number; default 0. */
  readonly first?: number;
}

/** An acknowledged range, smallest … largest inclusive (structurally an ACK frame's range). */
export interface PacketNumberRange {
  /** Smallest packet number acknowledged. */
  readonly smallest: number;
  /** Largest packet number acknowledged. */
  readonly largest: number;
}

/**
 * The sending side of one packet number space: the next number, deliberate skips, numbers given
 * up after a failed seal, and the largest acknowledged (for the encoded length, RFC 9000 §17.1).
 */
export class PacketNumberState {
  /** The packet number space. */
  readonly space: PacketNumberSpace;
  private nextPn: number;
  private readonly random: RandomSource;
  private readonly minInterval: number;
  private readonly maxInterval: number;
  private readonly skipping: boolean;
  /** Numbers still to use before the next skip. */
  private untilSkip: number;
  /** Never-sent numbers, ascending, at most MAX_REMEMBERED_SKIPS. */
  private readonly skippedList: number[] = [];
  private lastAllocated = -1;
  private _largestAcked: number | undefined;

  /** Creates the state of `space`, starting at `options.first` (default 0). */
  constructor(space: PacketNumberSpace, options: PacketNumberStateOptions) {
    this.space = space;
    this.random = options.random;
    this.nextPn = options.first ?? 0;
    const policy = options.skip ?? (space === 'application' ? {} : false);
    this.skipping = policy !== false;
    this.minInterval = policy === false ? 1 : (policy.minInterval ?? 1);
    this.maxInterval = policy === false ? 0 : (policy.maxInterval ?? DEFAULT_MAX_SKIP_INTERVAL);
    if (!Number.isSafeInteger(this.nextPn) || this.nextPn < 0) throw new RangeError(`first packet number ${this.nextPn} is not a non-negative integer`);
    if (policy !== false && !(Number.isInteger(this.minInterval) && Number.isInteger(this.maxInterval) && this.minInterval >= 1 && this.maxInterval >= this.minInterval && this.maxInterval < 2 ** 32)) {
      throw new RangeError(`skip interval ${this.minInterval}..${this.maxInterval} is not a range of positive integers`);
    }
    this.untilSkip = this.skipping ? this.drawInterval() : 0;
  }

  /** The number the next packet gets unless a skip comes first. */
  get next(): number {
    return this.nextPn;
  }

  /** The largest packet number the peer acknowledged in this space, undefined before any ACK. */
  get largestAcked(): number | undefined {
    return this._largestAcked;
  }

  /**
   * Records that the peer acknowledged `largest` (an ACK frame's Largest Acknowledged, already
   * validated); the encoded packet number length follows it (RFC 9000 §17.1).
   */
  onAcknowledged(largest: number): void {
    if (this._largestAcked === undefined || largest > this._largestAcked) this._largestAcked = largest;
  }

  /** Bytes (1–4) to encode `pn` given the largest acknowledged (RFC 9000 §17.1, Appendix A.2). */
  encodedLength(pn: number): 1 | 2 | 3 | 4 {
    return packetNumberLength(pn, this._largestAcked);
  }

  /**
   * The number for the next packet. When the numbers of the current interval are used up, one
   * number is skipped first (remembered as never sent) and a new interval is drawn (RFC 9000 §21.4).
   *
   * @throws QuicError(INTERNAL_ERROR) when the space is exhausted (2^62 − 1, RFC 9000 §12.3).
   */
  allocate(): number {
    if (this.skipping) {
      if (this.untilSkip === 0) {
        this.remember(this.nextPn);
        this.nextPn += 1;
        this.untilSkip = this.drawInterval();
      }
      this.untilSkip -= 1;
    }
    const pn = this.nextPn;
    // RFC 9000 §12.3: a connection whose packet numbers would exceed 2^62 − 1 must close.
    if (pn > MAX_PACKET_NUMBER || !Number.isSafeInteger(pn)) {
      throw new QuicError(TransportErrorCode.INTERNAL_ERROR, `packet number space ${this.space} exhausted`);
    }
    this.nextPn = pn + 1;
    this.lastAllocated = pn;
    return pn;
  }

  /**
   * Gives back `pn`, the number just allocated, for a packet that ended empty (contract: Finalize of
   * an empty packet reverts its packet number). A number skipped on the way stays skipped.
   *
   * @throws QuicError(INTERNAL_ERROR) when `pn` is not the last number allocated.
   */
  revert(pn: number): void {
    if (pn !== this.lastAllocated || this.nextPn !== pn + 1) {
      throw new QuicError(TransportErrorCode.INTERNAL_ERROR, `packet number ${pn} is not the last allocated in ${this.space}`);
    }
    this.nextPn = pn;
    if (this.skipping) this.untilSkip += 1;
    this.lastAllocated = -1;
  }

  /**
   * Records that `pn` was allocated but its packet was never sent (the seal or header protection
   * failed): it is not reused and, like a deliberate skip, an acknowledgement of it is refused.
   */
  abandon(pn: number): void {
    if (pn >= this.nextPn) throw new QuicError(TransportErrorCode.INTERNAL_ERROR, `packet number ${pn} was not allocated in ${this.space}`);
    this.remember(pn);
  }

  /** True when `pn` is a remembered never-sent number (skipped or abandoned). */
  isSkipped(pn: number): boolean {
    const list = this.skippedList;
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (list[mid] < pn) lo = mid + 1;
      else hi = mid;
    }
    return lo < list.length && list[lo] === pn;
  }

  /** The remembered never-sent numbers, ascending (the newest {@link MAX_REMEMBERED_SKIPS}). */
  skipped(): readonly number[] {
    return this.skippedList.slice();
  }

  /**
   * The first remembered never-sent number that `ranges` acknowledge, or undefined. Acknowledging it
   * is an optimistic ACK (RFC 9000 §21.4).
   */
  findAcknowledgedSkip(ranges: readonly PacketNumberRange[]): number | undefined {
    for (const r of ranges) {
      // First remembered number ≥ r.smallest.
      const list = this.skippedList;
      let lo = 0;
      let hi = list.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (list[mid] < r.smallest) lo = mid + 1;
        else hi = mid;
      }
      if (lo < list.length && list[lo] <= r.largest) return list[lo];
    }
    return undefined;
  }

  /**
   * Refuses an ACK frame that acknowledges a number never sent (RFC 9000 §13.1: "An endpoint SHOULD
   * treat receipt of an acknowledgment for a packet it did not send as a connection error of type
   * PROTOCOL_VIOLATION"; §21.4). Call it before acting on the ACK.
   *
   * @param frameType the ACK frame's type (0x02 or 0x03), carried in the error.
   * @throws QuicError(PROTOCOL_VIOLATION) naming the packet number.
   */
  checkAcknowledged(ranges: readonly PacketNumberRange[], frameType = 0x02): void {
    const pn = this.findAcknowledgedSkip(ranges);
    if (pn !== undefined) {
      throw new QuicError(TransportErrorCode.PROTOCOL_VIOLATION, `ACK of packet ${pn} in ${this.space}, a packet number never sent`, { frameType });
    }
  }

  private drawInterval(): number {
    return this.minInterval + this.random.nextInt(this.maxInterval - this.minInterval + 1);
  }

  private remember(pn: number): void {
    const list = this.skippedList;
    // Numbers arrive in increasing order except an abandoned one after a later skip; keep ascending.
    let i = list.length;
    while (i > 0 && list[i - 1] > pn) i--;
    if (i > 0 && list[i - 1] === pn) return;
    list.splice(i, 0, pn);
    if (list.length > MAX_REMEMBERED_SKIPS) list.shift();
  }
}
