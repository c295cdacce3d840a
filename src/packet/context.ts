/**
 * What the packet builder needs from its connection: identity (version, role, connection IDs,
 * token), write keys per encryption level and the 1-RTT key phase, packet number state per space,
 * the send limits, and the sinks for what it produces. The connection implements
 * {@link BuilderContext}; tests use fakes.
 *
 * Everything is read synchronously during a flush. The builder reads the limits once per flush, at
 * Initialize (as msquic computes `SendAllowance` in QuicPacketBuilderInitialize), and counts down
 * its own copy as packets and datagrams are produced; the connection updates its real accounting
 * from {@link BuilderContext.onPacketSent} and {@link BuilderContext.onDatagram}.
 *
 * @module
 */
import type { PacketKeys } from '../crypto/keys.js';
import type { EncryptionLevel, PacketNumberSpace } from '../wire/levels.js';
import type { QuicVersion } from '../wire/version.js';
import type { PacketNumberState } from './packet-numbers.js';
import type { RandomSource } from './random.js';
import type { SendLimits, SentPacket } from './types.js';

/**
 * QUIC_MAX_FRAMES_PER_PACKET used when the context sets none. msquic uses 12 because its sent-packet
 * metadata is a fixed array; here the frames of a packet are a list, so the cap only bounds the
 * work one acknowledgement or loss causes, and 32 lets a 1200-byte packet carry the small frames of
 * many streams at once.
 */
export const DEFAULT_MAX_FRAMES_PER_PACKET = 32;

/**
 * Share of the AEAD confidentiality limit (RFC 9001 §6.6) after which a key update is started by
 * default: far enough ahead that the update completes (it waits for the peer, RFC 9001 §6.5) before
 * the limit itself is reached.
 */
export const DEFAULT_KEY_UPDATE_FRACTION = 0.75;

/** When to move to the next 1-RTT keys (contract §E "Key Phase Rollover"). */
export interface KeyUpdateBudget {
  /** Packets protected with one key generation before an update; default 3/4 of the AEAD's confidentiality limit. */
  readonly packets?: number;
  /** Bytes (whole packets) protected with one key generation before an update (msquic's MaxBytesPerKey); default no byte limit. */
  readonly bytes?: number;
}

/**
 * The connection as the packet builder sees it. Methods are called during a flush, synchronously;
 * none may call back into the builder.
 */
export interface BuilderContext {
  /** This endpoint's role: padding rules differ (RFC 9000 §14.1) and a server never sends 0-RTT. */
  readonly role: 'client' | 'server';
  /** The QUIC version of the connection (v1 or v2; it may change once, by compatible version negotiation). */
  version(): QuicVersion;
  /** The Destination Connection ID of packets sent (the peer's connection ID), 0–20 bytes. */
  destinationCid(): Uint8Array;
  /**
   * The Source Connection ID for long headers, 0–20 bytes, or undefined when the connection has none
   * (contract §A.1: Initialize fails, nothing is sent).
   */
  sourceCid(): Uint8Array | undefined;
  /** The token of Initial packets (RFC 9000 §17.2.2): from Retry or NEW_TOKEN for a client; empty for a server. */
  initialToken(): Uint8Array;
  /**
   * The write keys of `level`, or undefined when not (or no longer) available. For `oneRtt`, the
   * keys of the current key phase (they change after {@link updateKeys}).
   */
  sendKeys(level: EncryptionLevel): PacketKeys | undefined;
  /** The 1-RTT Key Phase bit of the current write keys (RFC 9001 §6). */
  keyPhase(): 0 | 1;
  /**
   * True when a key update may start now: the handshake is confirmed and the previous update has
   * been acknowledged by the peer (RFC 9001 §6.1, §6.5; contract §E).
   */
  canUpdateKeys(): boolean;
  /**
   * Starts a key update (RFC 9001 §6.1): installs the next generation of 1-RTT write keys and flips
   * the key phase, so {@link sendKeys}(`oneRtt`) and {@link keyPhase} return the new ones.
   */
  updateKeys(): void;
  /** When to update keys; default {@link DEFAULT_KEY_UPDATE_FRACTION} of the confidentiality limit, no byte limit. */
  readonly keyUpdateBudget?: KeyUpdateBudget;
  /** The sending packet number state of `space` (RFC 9000 §12.3). */
  packetNumbers(space: PacketNumberSpace): PacketNumberState;
  /** The limits on the datagrams of a flush, read once per flush. */
  readonly limits: SendLimits;
  /** Frames per packet at most (contract QUIC_MAX_FRAMES_PER_PACKET); default {@link DEFAULT_MAX_FRAMES_PER_PACKET}. */
  readonly maxFramesPerPacket?: number;
  /** Random integers for Fixed Bit greasing. */
  readonly random: RandomSource;
  /**
   * True when packets at `level` may carry a Fixed Bit of 0: the peer sent grease_quic_bit
   * (RFC 9287 §3). The builder then sets the bit at random per packet. Default: never.
   */
  fixedBitGreasing?(level: EncryptionLevel): boolean;
  /** The latency spin bit for short headers (RFC 9000 §17.4); default 0. */
  spinBit?(): 0 | 1;
  /**
   * Called for every packet sent, once its datagram is complete and protected, in packet number
   * order per space (loss recovery's OnPacketSent, RFC 9002 Appendix A.5). Never called for a packet
   * that failed to seal.
   */
  onPacketSent(packet: SentPacket): void;
  /**
   * Called with each finished datagram, in order. The bytes belong to the receiver: the builder
   * never writes into them again.
   */
  onDatagram(datagram: Uint8Array): void;
  /**
   * Called when the flush cannot continue (a seal or header-protection failure, a source or sink that
   * threw, an exhausted AEAD key): the connection should close. The frames concerned were returned to
   * their sources first; nothing is dropped silently.
   */
  onFatalError(error: Error): void;
}
