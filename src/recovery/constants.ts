/**
 * Constants of QUIC loss detection and congestion control (RFC 9002 Appendix A.2 and B.1).
 *
 * Times are in milliseconds, sizes in bytes.
 *
 * @module
 */

/** kPacketThreshold: reordering threshold in packets before a packet is declared lost (RFC 9002 §6.1.1). */
export const K_PACKET_THRESHOLD = 3;

/** kTimeThreshold: reordering threshold in time, as a multiplier of the RTT (RFC 9002 §6.1.2). */
export const K_TIME_THRESHOLD = 9 / 8;

/** kGranularity: timer granularity in milliseconds (RFC 9002 §6.1.2). */
export const K_GRANULARITY = 1;

/** kInitialRtt: the RTT assumed before the first RTT sample, in milliseconds (RFC 9002 §6.2.2). */
export const K_INITIAL_RTT = 333;

/** kPersistentCongestionThreshold: the persistent congestion duration as a multiple of the PTO period (RFC 9002 §7.6.1). */
export const K_PERSISTENT_CONGESTION_THRESHOLD = 3;

/** kLossReductionFactor: the factor by which the window shrinks on a congestion event (RFC 9002 §7.3.2). */
export const K_LOSS_REDUCTION_FACTOR = 0.5;

/**
 * The default max_ack_delay transport parameter, 25 ms (RFC 9000 §18.2), used until the peer's
 * transport parameters are known.
 */
export const DEFAULT_MAX_ACK_DELAY = 25;

/** The smallest maximum datagram size QUIC allows, 1200 bytes (RFC 9000 §14, RFC 9002 §B.2). */
export const MIN_MAX_DATAGRAM_SIZE = 1200;

/**
 * The largest PTO backoff exponent applied (2^16 × PTO): the backoff keeps doubling per RFC 9002
 * §6.2.1 until the exponent reaches this cap, long past any idle timeout, so deadlines stay finite.
 */
export const MAX_PTO_BACKOFF_EXPONENT = 16;

/** Pacing gain N in rate = N × congestion_window / smoothed_rtt (RFC 9002 §7.7). */
export const K_PACING_GAIN = 1.25;
