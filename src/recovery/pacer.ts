/**
 * Pacing (RFC 9002 §7.7): a leaky bucket that fills at N × congestion_window / smoothed_rtt and
 * holds at most one initial window of bytes, so bursts are limited to the initial congestion
 * window and the rest of the window is spread over the RTT.
 *
 * Timer granularity: a sender can only wake up so often (RFC 9002 §6.1.2 kGranularity, 1 ms; Node's
 * timers fire in whole milliseconds). When the rate is high enough that one granularity's worth
 * of sending (rate × granularity) exceeds the initial window, the bucket holds that much instead
 * (up to {@link PacerOptions.maxBurst}),
 * and {@link Pacer.nextSendTime} waits until that much has accrued: the sender wakes about once per
 * granularity and sends what the rate earned meanwhile, keeping the average at the rate — RFC 9002
 * §7.7 allows deviating from the exact rate "over time periods that are much shorter than an RTT"
 * for scheduling reasons. Below that rate (rate × granularity ≤ initial window) nothing changes.
 *
 * Time is a parameter (milliseconds); the pacer never reads a clock or sets a timer: the
 * connection asks {@link Pacer.nextSendTime} when to wake up.
 *
 * @module
 */
import { K_GRANULARITY, K_PACING_GAIN } from './constants.js';
import { initialWindow } from './congestion.js';

/**
 * Default bound on a timer-sized burst, in datagrams ({@link PacerOptions.maxBurst}). libuv reads
 * at most 32 datagrams per socket per event-loop iteration: a peer in the same event loop (the
 * loopback benchmark, a proxy) cannot drain larger bursts as fast as one arrives per timer tick,
 * and its receive buffer overflowed with bursts of 64 (bench/transfer, 2,000 of 85,000 packets).
 * At one burst per 1 ms tick this still allows 38 MB/s per connection with 1200-byte datagrams.
 */
export const DEFAULT_MAX_BURST_DATAGRAMS = 32;

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
  /**
   * The sender's timer granularity in milliseconds (default {@link K_GRANULARITY}, 1 ms): bursts
   * may hold rate × granularity bytes when that exceeds `burst`, and {@link Pacer.nextSendTime}
   * asks to wait for that much. 0 keeps bursts at `burst` and wakes for every datagram.
   */
  readonly granularity?: number;
  /**
   * The largest timer-sized burst as a function of max_datagram_size (it never lowers `burst`);
   * defaults to {@link DEFAULT_MAX_BURST_DATAGRAMS} datagrams.
   */
  readonly maxBurst?: (maxDatagramSize: number) => number;
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
  /** The timer granularity, ms. */
  readonly granularity: number;
  private readonly maxBurst: (maxDatagramSize: number) => number;
  private tokens: number | undefined;
  private lastTime: number | undefined;

  /** Creates a pacer reading its rate from `inputs`. */
  constructor(inputs: PacingInputs, options: PacerOptions = {}) {
    const gain = options.gain ?? K_PACING_GAIN;
    if (!(gain >= 1) || !Number.isFinite(gain)) throw new RangeError(`pacing gain must be ≥ 1, got ${gain}`);
    this.gain = gain;
    this.inputs = inputs;
    this.burst = options.burst ?? initialWindow;
    const granularity = options.granularity ?? K_GRANULARITY;
    if (!(granularity >= 0) || !Number.isFinite(granularity)) throw new RangeError(`pacing granularity must be ≥ 0 ms, got ${granularity}`);
    this.granularity = granularity;
    this.maxBurst = options.maxBurst ?? ((mds) => DEFAULT_MAX_BURST_DATAGRAMS * mds);
  }

  /**
   * The bucket capacity in bytes, the largest burst: the configured burst (the initial window), or
   * one timer granularity's worth of sending at the pacing rate when that is more.
   */
  capacity(): number {
    return this.capacityAt(this.rate());
  }

  private capacityAt(rate: number): number {
    const burst = this.burst(this.inputs.maxDatagramSize);
    if (!Number.isFinite(rate)) return burst;
    const perTick = Math.min(Math.floor(rate * this.granularity), this.maxBurst(this.inputs.maxDatagramSize));
    return perTick > burst ? perTick : burst;
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
   * The earliest time at or after `now` at which `bytes` may be sent, capped by the capacity.
   * Default: one timer granularity's worth of sending at the rate, at least one max_datagram_size
   * (so a sender that waits for it wakes about once per granularity, not once per datagram).
   */
  nextSendTime(now: number, bytes?: number): number {
    const tokens = this.refill(now);
    const rate = this.rate();
    const mds = this.inputs.maxDatagramSize;
    const wanted = bytes ?? (Number.isFinite(rate) ? Math.max(mds, rate * this.granularity) : mds);
    const need = Math.min(wanted, this.capacityAt(rate));
    if (tokens >= need) return now;
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
    const rate = this.rate();
    const capacity = this.capacityAt(rate);
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
