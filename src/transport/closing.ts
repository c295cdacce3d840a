/**
 * The closing and draining periods (RFC 9000 §10.2): how long they last, and how often a closing
 * connection answers the peer's packets with its CONNECTION_CLOSE.
 *
 * @module
 */

/** RFC 9000 §10.2: the closing and draining states last at least three times the current PTO. */
export const CLOSE_PERIOD_PTOS = 3;

/** The closing connection answers at most every this-many packets once it has backed off. */
export const MAX_CLOSE_RESPONSE_INTERVAL = 256;

/**
 * When a closing connection sends its CONNECTION_CLOSE again (RFC 9000 §10.2.1: "in response to
 * any incoming packet that it attributes to the connection", and "SHOULD limit the rate at which
 * it generates packets in the closing state"): it answers the 1st packet after the close, then the
 * 3rd, 7th, 15th … — the interval doubles after each answer, up to
 * {@link MAX_CLOSE_RESPONSE_INTERVAL} — so a peer that keeps sending gets a logarithmic number of
 * answers, and the closing endpoint never sends more than it receives.
 */
export class CloseResponder {
  private seen = 0;
  private nextAnswer = 1;
  private interval = 1;

  /** Counts a packet received while closing; true when it should be answered with CONNECTION_CLOSE. */
  onPacket(): boolean {
    this.seen++;
    if (this.seen < this.nextAnswer) return false;
    this.interval = Math.min(MAX_CLOSE_RESPONSE_INTERVAL, this.interval * 2);
    this.nextAnswer = this.seen + this.interval;
    return true;
  }

  /** Packets counted so far. */
  get packets(): number {
    return this.seen;
  }
}

/** The end of a closing or draining period that starts at `now` with the current `pto` (RFC 9000 §10.2). */
export function closePeriodEnd(now: number, pto: number): number {
  return now + CLOSE_PERIOD_PTOS * pto;
}
