/**
 * Loss detection and congestion control (RFC 9002), sans-IO: sent packet tracking, ACK
 * processing, RTT estimation, packet/time threshold loss, probe timeouts, NewReno congestion
 * control with persistent congestion, and pacing. {@link Recovery} is the facade a connection drives.
 *
 * @module recovery
 */
export * from './constants.js';
export * from './rtt.js';
export * from './sent-packets.js';
export * from './congestion.js';
export * from './pacer.js';
export * from './loss-detection.js';
export * from './recovery.js';
