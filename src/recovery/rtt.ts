/**
 * RTT estimation (RFC 9002 §5): latest_rtt, min_rtt, smoothed_rtt and rttvar.
 *
 * Time is a parameter: every value is in milliseconds (fractions allowed) and the caller passes
 * `now`. Nothing here reads a clock.
 *
 * @module
 */
import type { PacketNumberSpace } from '../wire/levels.js';
import { K_GRANULARITY, K_INITIAL_RTT, K_PERSISTENT_CONGESTION_THRESHOLD, K_TIME_THRESHOLD } from './constants.js';

/** The context an RTT sample is adjusted in (RFC 9002 §5.3). */
export interface RttSampleContext {
  /** Packet number space of the ACK frame; the ack delay is ignored for Initial (RFC 9002 §5.3). */
  readonly space: PacketNumberSpace;
  /** Whether the handshake is confirmed (RFC 9001 §4.1.2); the ack delay is capped by max_ack_delay only then. */
  readonly handshakeConfirmed: boolean;
  /** The peer's max_ack_delay transport parameter, in milliseconds. */
  readonly maxAckDelay: number;
}

/**
 * The RTT estimator of one path (RFC 9002 §5, Appendix A.7 `UpdateRtt`).
 *
 * Before the first sample, smoothed_rtt is the initial RTT and rttvar half of it (RFC 9002 §5.3).
 */
export class RttEstimator {
  /** The initial RTT used before any sample, in milliseconds (kInitialRtt, RFC 9002 §6.2.2). */
  readonly initialRtt: number;
  private _latestRtt = 0;
  private _minRtt = 0;
  private _smoothedRtt: number;
  private _rttvar: number;
  private _firstSampleTime: number | undefined;

  /** Creates an estimator; `initialRtt` defaults to kInitialRtt, 333 ms (RFC 9002 §6.2.2). */
  constructor(initialRtt: number = K_INITIAL_RTT) {
    if (!(initialRtt > 0) || !Number.isFinite(initialRtt)) {
      throw new RangeError(`initial RTT must be a positive finite number of milliseconds, got ${initialRtt}`);
    }
    this.initialRtt = initialRtt;
    this._smoothedRtt = initialRtt;
    this._rttvar = initialRtt / 2;
  }

  /** latest_rtt: the most recent RTT sample, 0 before the first (RFC 9002 §5.1). */
  get latestRtt(): number {
    return this._latestRtt;
  }

  /** min_rtt: the smallest sample seen, without ack delay adjustment; 0 before the first (RFC 9002 §5.2). */
  get minRtt(): number {
    return this._minRtt;
  }

  /** smoothed_rtt: the exponentially weighted moving average of adjusted samples (RFC 9002 §5.3). */
  get smoothedRtt(): number {
    return this._smoothedRtt;
  }

  /** rttvar: the mean variation of the adjusted samples (RFC 9002 §5.3). */
  get rttvar(): number {
    return this._rttvar;
  }

  /** first_rtt_sample: the time the first sample was taken, undefined until then (RFC 9002 Appendix A.3). */
  get firstSampleTime(): number | undefined {
    return this._firstSampleTime;
  }

  /** True once at least one RTT sample was taken. */
  get hasSample(): boolean {
    return this._firstSampleTime !== undefined;
  }

  /**
   * Records an RTT sample (RFC 9002 §5, Appendix A.7 `UpdateRtt`).
   *
   * `latestRtt` is ack_time − send time of the largest acknowledged packet; `ackDelay` the ACK
   * frame's delay already scaled to milliseconds. The caller decides *whether* a sample is taken
   * (RFC 9002 §5.1); this applies the §5.3 adjustment rules.
   */
  update(latestRtt: number, ackDelay: number, now: number, ctx: RttSampleContext): void {
    const latest = Number.isFinite(latestRtt) && latestRtt > 0 ? latestRtt : 0;
    this._latestRtt = latest;
    if (this._firstSampleTime === undefined) {
      // RFC 9002 §5.2, §5.3: the first sample resets the estimator.
      this._minRtt = latest;
      this._smoothedRtt = latest;
      this._rttvar = latest / 2;
      this._firstSampleTime = now;
      return;
    }
    // RFC 9002 §5.2: min_rtt ignores acknowledgment delay.
    this._minRtt = Math.min(this._minRtt, latest);

    // RFC 9002 §5.3: the ack delay MAY be ignored for Initial packets (they are not delayed).
    let delay = ctx.space === 'initial' || !(ackDelay > 0) ? 0 : ackDelay;
    // RFC 9002 §5.3: use the lesser of ack delay and max_ack_delay once the handshake is confirmed.
    if (ctx.handshakeConfirmed) delay = Math.min(delay, ctx.maxAckDelay);

    // RFC 9002 §5.3: never subtract the ack delay if that would go below min_rtt.
    let adjusted = latest;
    if (latest >= this._minRtt + delay) adjusted = latest - delay;

    // RFC 9002 Appendix A.7 (as RFC 6298): rttvar uses the previous smoothed_rtt.
    this._rttvar = (3 / 4) * this._rttvar + (1 / 4) * Math.abs(this._smoothedRtt - adjusted);
    this._smoothedRtt = (7 / 8) * this._smoothedRtt + (1 / 8) * adjusted;
  }

  /**
   * The PTO period without max_ack_delay and backoff: smoothed_rtt + max(4 × rttvar, kGranularity)
   * (RFC 9002 §6.2.1).
   */
  ptoBase(): number {
    return this._smoothedRtt + Math.max(4 * this._rttvar, K_GRANULARITY);
  }

  /**
   * The time threshold for loss: max(kTimeThreshold × max(smoothed_rtt, latest_rtt), kGranularity)
   * (RFC 9002 §6.1.2).
   */
  lossDelay(timeThreshold: number = K_TIME_THRESHOLD): number {
    return Math.max(timeThreshold * Math.max(this._latestRtt, this._smoothedRtt), K_GRANULARITY);
  }

  /**
   * The persistent congestion duration: (smoothed_rtt + max(4 × rttvar, kGranularity) +
   * max_ack_delay) × kPersistentCongestionThreshold, max_ack_delay included whatever the space
   * (RFC 9002 §7.6.1).
   */
  persistentCongestionDuration(maxAckDelay: number): number {
    return (this.ptoBase() + maxAckDelay) * K_PERSISTENT_CONGESTION_THRESHOLD;
  }

  /** After persistent congestion, min_rtt is set to the newest sample (RFC 9002 §5.2). */
  onPersistentCongestion(): void {
    if (this.hasSample) this._minRtt = this._latestRtt;
  }

  /** Returns the estimator to its initial state (a new path or a Retry, RFC 9002 §5.3, §6.3). */
  reset(): void {
    this._latestRtt = 0;
    this._minRtt = 0;
    this._smoothedRtt = this.initialRtt;
    this._rttvar = this.initialRtt / 2;
    this._firstSampleTime = undefined;
  }
}
