/**
 * The contract between the packet builder, the frame sources that fill its packets, and loss
 * recovery that learns what each packet carried.
 *
 * One outbound path (ARCHITECTURE.md, principles 3–4): a synchronous flush drives the builder;
 * the builder asks each {@link FrameSource}, in priority order, to write frames directly into the
 * packet being built, sized to the room left. A source removes nothing from its pending state
 * until its frame is written; what a packet carried is recorded as {@link SentFrame}s, and on loss
 * (or a failed seal) the *information* goes back to its source — never the bytes
 * (RFC 9000 §13.3).
 *
 * @module
 */
import type { EncryptionLevel, PacketNumberSpace } from '../wire/levels.js';

/**
 * What one frame of a sent packet carried, as needed to act on its acknowledgement or loss
 * (msquic's sent-packet metadata, quinn's `Retransmits`). Data is described by range, never
 * copied: stream and crypto bytes stay in their send buffers until acknowledged.
 */
export type SentFrame =
  /** An ACK frame: once acknowledged, ranges at or below `largestAcknowledged` need not be acknowledged again (ACK of ACK, RFC 9000 §13.2.4). */
  | { readonly kind: 'ack'; readonly largestAcknowledged: number }
  /** CRYPTO data `[offset, offset + length)` of the packet's encryption level. */
  | { readonly kind: 'crypto'; readonly offset: number; readonly length: number }
  /** STREAM data `[offset, offset + length)`, with FIN when `fin`. */
  | { readonly kind: 'stream'; readonly streamId: number; readonly offset: number; readonly length: number; readonly fin: boolean }
  | { readonly kind: 'resetStream'; readonly streamId: number }
  | { readonly kind: 'stopSending'; readonly streamId: number }
  /** Flow-control updates: on loss the *current* value is sent again (RFC 9000 §13.3), so only the kind is kept. */
  | { readonly kind: 'maxData' }
  | { readonly kind: 'maxStreamData'; readonly streamId: number }
  | { readonly kind: 'maxStreams'; readonly bidirectional: boolean }
  | { readonly kind: 'dataBlocked'; readonly limit: number }
  | { readonly kind: 'streamDataBlocked'; readonly streamId: number; readonly limit: number }
  | { readonly kind: 'streamsBlocked'; readonly bidirectional: boolean; readonly limit: number }
  | { readonly kind: 'newConnectionId'; readonly sequenceNumber: number }
  | { readonly kind: 'retireConnectionId'; readonly sequenceNumber: number }
  | { readonly kind: 'newToken'; readonly token: Uint8Array }
  | { readonly kind: 'handshakeDone' }
  | { readonly kind: 'pathChallenge'; readonly data: Uint8Array }
  /** Not retransmitted (RFC 9000 §13.3); recorded for accounting only. */
  | { readonly kind: 'pathResponse' }
  /** DATAGRAM frames are never retransmitted (RFC 9221 §5.2); recorded so the application can learn of loss. */
  | { readonly kind: 'datagram'; readonly id: number }
  | { readonly kind: 'ping' }
  | { readonly kind: 'connectionClose' };

/** Everything recorded about a sent packet, for loss recovery (RFC 9002 §A.1.1). */
export interface SentPacket {
  /** Packet number in its space. */
  readonly packetNumber: number;
  /** Packet number space. */
  readonly space: PacketNumberSpace;
  /** Encryption level it was protected at. */
  readonly level: EncryptionLevel;
  /** Bytes of the QUIC packet on the wire, header and AEAD tag included (its share of the datagram). */
  readonly size: number;
  /** Contains at least one ack-eliciting frame (RFC 9002 §2). */
  readonly ackEliciting: boolean;
  /** Counts toward bytes in flight: ack-eliciting or containing PADDING (RFC 9002 §2). */
  readonly inFlight: boolean;
  /** Time the packet was sent, in milliseconds (the flush's `now`). */
  readonly timeSent: number;
  /** The information its frames carried. */
  readonly frames: readonly SentFrame[];
  /** A path MTU discovery probe (its loss says nothing about congestion). */
  readonly isMtuProbe: boolean;
  /** 1-RTT key phase bit it was sent with (0 for long-header packets). */
  readonly keyPhase: 0 | 1;
  /**
   * The source that committed each of {@link frames} (same index), `null` for frames the builder
   * added itself (a probe's PING). Set by the packet builder so acknowledgement and loss reach the
   * right {@link FrameSource}; absent on records built elsewhere.
   */
  readonly sources?: readonly (FrameSource | null)[];
}

/**
 * The view of the packet under construction that a {@link FrameSource} writes into.
 *
 * A source encodes a frame at `buffer[offset, offset + n)` with `n <= room`, then calls
 * {@link commitFrame}. It must not write beyond `room`, and must update its own pending state
 * only after the frame is committed.
 */
export interface PacketWriter {
  /** Encryption level of the packet being built. */
  readonly level: EncryptionLevel;
  /** The datagram buffer; frames go at {@link offset}. */
  readonly buffer: Uint8Array;
  /** Where the next frame starts. */
  readonly offset: number;
  /** Bytes available for frames in this packet (header, packet number and AEAD tag already accounted for). */
  readonly room: number;
  /** True when the packet has reached its frame cap; commit no more frames. */
  readonly full: boolean;
  /** The time of this flush, in milliseconds. */
  readonly now: number;
  /**
   * Records the frame just encoded at {@link offset}: advances the offset by `length`, counts the
   * frame toward the cap and remembers `sent` (null for frames with nothing to track, such as
   * PADDING). Returns true when the packet is now full.
   */
  commitFrame(length: number, sent: SentFrame | null, ackEliciting: boolean): boolean;
}

/**
 * A producer of frames for the outbound path. Sources never build packets and never push
 * frames: they announce pending work (see `streams/`) and write when the flush asks.
 */
export interface FrameSource {
  /** A short name for logs and tests, e.g. `ack` or `stream`. */
  readonly name: string;
  /** True when the source has frames to send at `level`. */
  hasPending(level: EncryptionLevel): boolean;
  /**
   * Writes as many frames as fit into the current packet (each sized to `writer.room`) and
   * returns the number of frames written.
   */
  write(writer: PacketWriter): number;
  /** Called when a packet carrying `frame` from this source is acknowledged. */
  onAcked?(frame: SentFrame, packet: SentPacket): void;
  /** Called when a packet carrying `frame` from this source is declared lost, or failed to seal: re-queue the information. */
  onLost?(frame: SentFrame, packet: SentPacket): void;
}

/**
 * The limits on the size of the next datagram (ARCHITECTURE.md principle 5): the builder never
 * produces a datagram above `min(maxDatagramSize, amplificationBudget)`, and stops adding
 * congestion-controlled packets when `congestionAllowance` or `pacingAllowance` is exhausted.
 * The connection and recovery fill these; tests use controllable fakes.
 */
export interface SendLimits {
  /** min(path MTU, peer's max_udp_payload_size), in bytes of UDP payload. */
  maxDatagramSize(): number;
  /** Bytes the anti-amplification limit still allows (RFC 9000 §8.1); `Infinity` once the peer's address is validated. */
  amplificationBudget(): number;
  /** Congestion window minus bytes in flight (RFC 9002 §7); may be 0. */
  congestionAllowance(): number;
  /** Bytes the pacer allows at `now` (RFC 9002 §7.7); `Infinity` when pacing is off. */
  pacingAllowance(now: number): number;
}
