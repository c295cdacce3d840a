/**
 * Pacing (RFC 9002 §7.7): a leaky bucket that fills at N × congestion_window / smoothed_rtt and
 * holds at most one initial window of bytes, so bursts are limited to the initial congestion
 * window and the rest of the window is spread over the RTT.
 *
 * Time is a parameter (milliseconds); the pacer never reads a clock or sets a timer: the
 * connection asks {@link Pacer.nextSendTime} when to wake up.
 *
 * @module
 */
import { K_PACING_GAIN } from './constants.js';
import { initialWindow } from './congestion.js';

/** The live values the pacing rate is computed from; read on every call. */
export interface PacingInputs {
  /** congestion_window in bytes. */
  readonly congestionWindow: number;
  /** smoothed_rtt in milliseconds. */
  readonly smoothedRtt: number;
  /** max_datagram_size in bytes. */
  readonly maxDatagramSize: number;
}

/** Options of a {@link Pacer}. */
export interface PacerOptions {
  /** The gain N, at least 1 (RFC 9002 §7.7); defaults to 1.25. */
  readonly gain?: number;
  /**
   * The bucket's capacity (the largest burst) as a function of max_datagram_size; defaults to
   * the initial window, ~10 datagrams (RFC 9002 §7.7: "limit bursts to the initial congestion window").
   */
  readonly burst?: (maxDatagramSize: number) => number;
}

/**
 * A token-bucket pacer (RFC 9002 §7.7). Starts full; each in-flight packet sent takes its size out
 * (the bucket may go into debt by up to one capacity); tokens come back at the pacing rate.
 */
export class Pacer {
  /** The pacing gain N. */
  readonly gain: number;
  private readonly inputs: PacingInputs;
  private readonly burst: (maxDatagramSize: number) => number;
  private tokens: number | undefined;
  private lastTime: number | undefined;

  /** Creates a pacer reading its rate from `inputs`. */
  constructor(inputs: PacingInputs, options: PacerOptions = {}) {
    const gain = options.gain ?? K_PACING_GAIN;
    if (!(gain >= 1) || !Number.isFinite(gain)) throw new RangeError(`pacing gain must be ≥ 1, got ${gain}`);
    this.gain = gain;
    this.inputs = inputs;
    this.burst = options.burst ?? initialWindow;
  }

  /** The bucket capacity in bytes: the largest burst. */
  capacity(): number {
    return this.burst(this.inputs.maxDatagramSize);
  }

  /** The pacing rate in bytes per millisecond, N × congestion_window / smoothed_rtt (RFC 9002 §7.7); `Infinity` when smoothed_rtt is 0. */
  rate(): number {
    const rtt = this.inputs.smoothedRtt;
    return rtt > 0 ? (this.gain * this.inputs.congestionWindow) / rtt : Number.POSITIVE_INFINITY;
  }

  /** Bytes that may be sent at `now` without exceeding the pacing rate (never negative). */
  allowance(now: number): number {
    return Math.max(0, Math.floor(this.refill(now)));
  }

  /**
   * The earliest time at or after `now` at which `bytes` (default: one max_datagram_size, capped
   * by the capacity) may be sent.
   */
  nextSendTime(now: number, bytes: number = this.inputs.maxDatagramSize): number {
    const tokens = this.refill(now);
    const need = Math.min(bytes, this.capacity());
    if (tokens >= need) return now;
    const rate = this.rate();
    if (!Number.isFinite(rate)) return now;
    return now + (need - tokens) / rate;
  }

  /** Records `bytes` of in-flight packets sent at `now`. */
  onSent(bytes: number, now: number): void {
    const tokens = this.refill(now);
    this.tokens = Math.max(tokens - bytes, -this.capacity());
  }

  /** Refills the bucket up to the capacity (and the bucket is full again). */
  reset(): void {
    this.tokens = undefined;
    this.lastTime = undefined;
  }

  /** Adds the tokens earned since the last call and returns the current balance. */
  private refill(now: number): number {
    const capacity = this.capacity();
    const rate = this.rate();
    let tokens = this.tokens ?? capacity;
    if (!Number.isFinite(rate)) {
      tokens = capacity; // no RTT to spread over: nothing to pace
    } else if (this.lastTime !== undefined && now > this.lastTime) {
      tokens = Math.min(capacity, tokens + (now - this.lastTime) * rate);
    }
    tokens = Math.min(tokens, capacity);
    if (this.lastTime === undefined || now > this.lastTime) this.lastTime = now;
    this.tokens = tokens;
    return tokens;
  }
}
