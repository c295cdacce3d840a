/**
 * Congestion control (RFC 9002 §7, Appendix B): the {@link CongestionController} interface that
 * recovery drives, and {@link NewReno}, the controller RFC 9002 specifies.
 *
 * Bytes in flight are counted by loss detection (its sent packet tables), not here: a controller
 * only owns its window. Times are milliseconds passed in by the caller.
 *
 * @module
 */
import type { SentPacket } from '../packet/types.js';
import { K_LOSS_REDUCTION_FACTOR, MIN_MAX_DATAGRAM_SIZE } from './constants.js';

/**
 * kInitialWindow: min(10 × max_datagram_size, max(14720, 2 × max_datagram_size)) bytes
 * (RFC 9002 §7.2).
 */
export function initialWindow(maxDatagramSize: number): number {
  return Math.min(10 * maxDatagramSize, Math.max(14720, 2 * maxDatagramSize));
}

/** kMinimumWindow: 2 × max_datagram_size bytes (RFC 9002 §7.2). */
export function minimumWindow(maxDatagramSize: number): number {
  return 2 * maxDatagramSize;
}

/** What a controller may consult when packets are acknowledged. */
export interface CongestionAckContext {
  /** Time the ACK was processed, in milliseconds. */
  readonly now: number;
  /**
   * True when the sender is application or flow-control limited: the window is not being used,
   * so it must not grow (RFC 9002 §7.8, Appendix B.5 `IsAppOrFlowControlLimited`).
   */
  readonly applicationLimited: boolean;
  /** smoothed_rtt after this ACK, in milliseconds. */
  readonly smoothedRtt: number;
  /** min_rtt after this ACK, in milliseconds (0 before any sample). */
  readonly minRtt: number;
  /** latest_rtt after this ACK, in milliseconds (0 before any sample). */
  readonly latestRtt: number;
}

/**
 * A sender-side congestion controller (RFC 9002 §7). Recovery calls it, in the order of
 * RFC 9002 Appendix A.7: ECN congestion, then losses, then acknowledgements.
 */
export interface CongestionController {
  /** Short name for logs and qlog, e.g. `newreno`. */
  readonly name: string;
  /** congestion_window: the bytes allowed in flight (RFC 9002 Appendix B.2). */
  readonly congestionWindow: number;
  /** ssthresh: the slow start threshold in bytes, `Infinity` until the first congestion event. */
  readonly slowStartThreshold: number;
  /** The smallest window the controller goes down to (kMinimumWindow, RFC 9002 §7.2). */
  readonly minimumWindow: number;
  /** max_datagram_size the windows are computed with (RFC 9002 Appendix B.2). */
  readonly maxDatagramSize: number;
  /** congestion_recovery_start_time: start of the current recovery period, undefined when none (RFC 9002 Appendix B.2). */
  readonly recoveryStartTime: number | undefined;
  /** Number of congestion events that started a recovery period. */
  readonly congestionEvents: number;
  /** Called for every in-flight packet sent, after it is counted in bytes in flight. */
  onPacketSent(packet: SentPacket, bytesInFlight: number, now: number): void;
  /** Newly acknowledged packets, ascending (RFC 9002 Appendix B.5 `OnPacketsAcked`); they are already out of bytes in flight. */
  onPacketsAcked(packets: readonly SentPacket[], ctx: CongestionAckContext): void;
  /**
   * Packets newly declared lost (RFC 9002 Appendix B.8 `OnPacketsLost`), already out of bytes in
   * flight; `persistentCongestion` when recovery established persistent congestion (RFC 9002
   * §7.6.2). Returns true when a new recovery period started.
   */
  onPacketsLost(packets: readonly SentPacket[], persistentCongestion: boolean, now: number): boolean;
  /**
   * The peer's ECN-CE count increased (RFC 9002 §7.1, Appendix B.7); `sentTime` is the send time
   * of the largest newly acknowledged packet. Returns true when a new recovery period started.
   */
  onEcnCongestion(sentTime: number, now: number): boolean;
  /** The path's maximum datagram size changed (RFC 9002 §7.2). */
  setMaxDatagramSize(size: number): void;
}

/** Options of {@link NewReno}. */
export interface NewRenoOptions {
  /** max_datagram_size in bytes; at least 1200 (RFC 9002 Appendix B.2). Defaults to 1200. */
  readonly maxDatagramSize?: number;
}

/**
 * The NewReno controller of RFC 9002 §7.3 and Appendix B: slow start, a recovery period with an
 * immediate halving (kLossReductionFactor), congestion avoidance of one max_datagram_size per
 * window acknowledged, and a collapse to kMinimumWindow on persistent congestion.
 */
export class NewReno implements CongestionController {
  /** Always `newreno`. */
  readonly name = 'newreno';
  private _maxDatagramSize: number;
  private _window: number;
  private _ssthresh = Number.POSITIVE_INFINITY;
  private _recoveryStart: number | undefined;
  private _congestionEvents = 0;
  /** True until an acknowledgement or congestion event changed the window: it is still the initial window. */
  private untouched = true;

  /** Creates a controller at the initial window (RFC 9002 Appendix B.3). */
  constructor(options: NewRenoOptions = {}) {
    this._maxDatagramSize = checkDatagramSize(options.maxDatagramSize ?? MIN_MAX_DATAGRAM_SIZE);
    this._window = initialWindow(this._maxDatagramSize);
  }

  /** @inheritDoc */
  get congestionWindow(): number {
    return this._window;
  }

  /** @inheritDoc */
  get slowStartThreshold(): number {
    return this._ssthresh;
  }

  /** @inheritDoc */
  get minimumWindow(): number {
    return minimumWindow(this._maxDatagramSize);
  }

  /** @inheritDoc */
  get maxDatagramSize(): number {
    return this._maxDatagramSize;
  }

  /** @inheritDoc */
  get recoveryStartTime(): number | undefined {
    return this._recoveryStart;
  }

  /** @inheritDoc */
  get congestionEvents(): number {
    return this._congestionEvents;
  }

  /** NewReno keeps no per-packet state: bytes in flight are counted by loss detection (RFC 9002 Appendix B.4). */
  onPacketSent(_packet: SentPacket, _bytesInFlight: number, _now: number): void {}

  /** RFC 9002 Appendix B.5 `OnPacketsAcked`. */
  onPacketsAcked(packets: readonly SentPacket[], ctx: CongestionAckContext): void {
    for (const p of packets) {
      if (!p.inFlight) continue;
      // RFC 9002 §7.8: do not grow the window while application or flow-control limited.
      if (ctx.applicationLimited) continue;
      // RFC 9002 §7.3.2: no growth in a recovery period; it ends when a packet sent after its start is acknowledged.
      if (this.inRecovery(p.timeSent)) continue;
      this.untouched = false;
      if (this._window < this._ssthresh) {
        // RFC 9002 §7.3.1: slow start grows by the bytes acknowledged.
        this._window += p.size;
      } else {
        // RFC 9002 §7.3.3: congestion avoidance grows by at most one max_datagram_size per window acknowledged.
        this._window += (this._maxDatagramSize * p.size) / this._window;
      }
    }
  }

  /** RFC 9002 Appendix B.8 `OnPacketsLost`. */
  onPacketsLost(packets: readonly SentPacket[], persistentCongestion: boolean, now: number): boolean {
    let lastLossSent: number | undefined;
    for (const p of packets) {
      if (p.inFlight && (lastLossSent === undefined || p.timeSent > lastLossSent)) lastLossSent = p.timeSent;
    }
    // RFC 9002 Appendix B.8: a congestion event when in-flight packets were lost.
    const started = lastLossSent !== undefined ? this.onCongestionEvent(lastLossSent, now) : false;
    if (persistentCongestion) {
      // RFC 9002 §7.6.2: collapse to the minimum window; slow start follows (window < ssthresh).
      this._window = this.minimumWindow;
      this._recoveryStart = undefined;
      this.untouched = false;
    }
    return started;
  }

  /** RFC 9002 Appendix B.7 `ProcessECN`: an ECN-CE increase is a congestion event. */
  onEcnCongestion(sentTime: number, now: number): boolean {
    return this.onCongestionEvent(sentTime, now);
  }

  /**
   * RFC 9002 §7.2: the minimum window follows the new size; a window still at its initial value
   * is recomputed from the new size (and so set to the new initial window when the size
   * decreased); any window is raised to the new minimum.
   */
  setMaxDatagramSize(size: number): void {
    const next = checkDatagramSize(size);
    if (next === this._maxDatagramSize) return;
    this._maxDatagramSize = next;
    if (this.untouched) this._window = initialWindow(next);
    this._window = Math.max(this._window, this.minimumWindow);
  }

  /** RFC 9002 Appendix B.5 `InCongestionRecovery`. */
  private inRecovery(sentTime: number): boolean {
    return this._recoveryStart !== undefined && sentTime <= this._recoveryStart;
  }

  /** RFC 9002 Appendix B.6 `OnCongestionEvent`; returns true when a recovery period started. */
  private onCongestionEvent(sentTime: number, now: number): boolean {
    // RFC 9002 §7.3.2: no reaction to a packet sent before the current recovery period started.
    if (this.inRecovery(sentTime)) return false;
    this._recoveryStart = now;
    this._ssthresh = this._window * K_LOSS_REDUCTION_FACTOR;
    this._window = Math.max(this._ssthresh, this.minimumWindow);
    this._congestionEvents++;
    this.untouched = false;
    return true;
  }
}

function checkDatagramSize(size: number): number {
  if (!Number.isSafeInteger(size) || size < MIN_MAX_DATAGRAM_SIZE) {
    throw new RangeError(`max_datagram_size must be an integer of at least ${MIN_MAX_DATAGRAM_SIZE} bytes, got ${size}`);
  }
  return size;
}
