/**
 * QUIC frame types and their in-memory shapes (RFC 9000 §12.4, §19; RFC 9221 §4).
 *
 * Every frame is a member of the {@link Frame} discriminated union, keyed on `kind`. Stream IDs,
 * offsets, lengths, packet numbers, sequence numbers and ECN counts are exact `number`s: a peer's
 * value above 2^53−1 in such a field is refused with FRAME_ENCODING_ERROR rather than rounded.
 * Limits saturate at 2^53−1 where noted; application and transport error codes are `bigint`
 * (62-bit codes are legitimate). Byte strings in decoded frames are views into the packet, never
 * copies.
 *
 * @module
 */

/**
 * Frame type values (RFC 9000 §12.4 Table 3, RFC 9221 §4). Types that carry flags in their low
 * bits (ACK, STREAM, MAX_STREAMS, STREAMS_BLOCKED, CONNECTION_CLOSE, DATAGRAM) list each value.
 */
export const FrameType = {
  /** RFC 9000 §19.1. */
  PADDING: 0x00,
  /** RFC 9000 §19.2. */
  PING: 0x01,
  /** RFC 9000 §19.3: ACK without ECN counts. */
  ACK: 0x02,
  /** RFC 9000 §19.3: ACK with ECN counts. */
  ACK_ECN: 0x03,
  /** RFC 9000 §19.4. */
  RESET_STREAM: 0x04,
  /** RFC 9000 §19.5. */
  STOP_SENDING: 0x05,
  /** RFC 9000 §19.6. */
  CRYPTO: 0x06,
  /** RFC 9000 §19.7. */
  NEW_TOKEN: 0x07,
  /** RFC 9000 §19.8: the first STREAM type (no OFF, LEN or FIN bit); STREAM types are 0x08–0x0f. */
  STREAM: 0x08,
  /** RFC 9000 §19.8: the last STREAM type (OFF, LEN and FIN set). */
  STREAM_MAX: 0x0f,
  /** RFC 9000 §19.9. */
  MAX_DATA: 0x10,
  /** RFC 9000 §19.10. */
  MAX_STREAM_DATA: 0x11,
  /** RFC 9000 §19.11: MAX_STREAMS for bidirectional streams. */
  MAX_STREAMS_BIDI: 0x12,
  /** RFC 9000 §19.11: MAX_STREAMS for unidirectional streams. */
  MAX_STREAMS_UNI: 0x13,
  /** RFC 9000 §19.12. */
  DATA_BLOCKED: 0x14,
  /** RFC 9000 §19.13. */
  STREAM_DATA_BLOCKED: 0x15,
  /** RFC 9000 §19.14: STREAMS_BLOCKED for bidirectional streams. */
  STREAMS_BLOCKED_BIDI: 0x16,
  /** RFC 9000 §19.14: STREAMS_BLOCKED for unidirectional streams. */
  STREAMS_BLOCKED_UNI: 0x17,
  /** RFC 9000 §19.15. */
  NEW_CONNECTION_ID: 0x18,
  /** RFC 9000 §19.16. */
  RETIRE_CONNECTION_ID: 0x19,
  /** RFC 9000 §19.17. */
  PATH_CHALLENGE: 0x1a,
  /** RFC 9000 §19.18. */
  PATH_RESPONSE: 0x1b,
  /** RFC 9000 §19.19: CONNECTION_CLOSE signalling a transport (QUIC-layer) error. */
  CONNECTION_CLOSE: 0x1c,
  /** RFC 9000 §19.19: CONNECTION_CLOSE signalling an application error. */
  CONNECTION_CLOSE_APP: 0x1d,
  /** RFC 9000 §19.20. */
  HANDSHAKE_DONE: 0x1e,
  /** RFC 9221 §4: DATAGRAM without a Length field (data runs to the end of the packet). */
  DATAGRAM: 0x30,
  /** RFC 9221 §4: DATAGRAM with a Length field. */
  DATAGRAM_LEN: 0x31,
} as const;

/** A frame type value from {@link FrameType}. */
export type FrameTypeValue = (typeof FrameType)[keyof typeof FrameType];

/** STREAM type bit: an Offset field is present (RFC 9000 §19.8). */
export const STREAM_OFF_BIT = 0x04;
/** STREAM type bit: a Length field is present (RFC 9000 §19.8). */
export const STREAM_LEN_BIT = 0x02;
/** STREAM type bit: the frame marks the end of the stream (RFC 9000 §19.8). */
export const STREAM_FIN_BIT = 0x01;

/** Largest Maximum Streams / Stream Limit value: 2^60 (RFC 9000 §19.11, §19.14). */
export const MAX_STREAMS_LIMIT: bigint = 1n << 60n;

/** Length of a stateless reset token (RFC 9000 §10.3, §19.15). */
export const STATELESS_RESET_TOKEN_LENGTH = 16;

/** Length of the Data field of PATH_CHALLENGE and PATH_RESPONSE (RFC 9000 §19.17, §19.18). */
export const PATH_DATA_LENGTH = 8;

/**
 * PADDING (RFC 9000 §19.1). A run of consecutive 0x00 bytes decodes as one frame whose `length`
 * is the number of bytes; encoding writes `length` zero bytes.
 */
export interface PaddingFrame {
  /** Discriminant. */
  kind: 'padding';
  /** Number of 0x00 bytes, at least 1. */
  length: number;
}

/** PING (RFC 9000 §19.2): no fields; elicits an acknowledgment. */
export interface PingFrame {
  /** Discriminant. */
  kind: 'ping';
}

/** One ACK range: packet numbers `smallest` … `largest`, both inclusive. */
export interface AckRange {
  /** Smallest packet number acknowledged by this range. */
  smallest: number;
  /** Largest packet number acknowledged by this range. */
  largest: number;
}

/** The three ECN counts of an ACK frame of type 0x03 (RFC 9000 §19.3.2). */
export interface AckEcnCounts {
  /** Packets received with the ECT(0) codepoint. */
  ect0: number;
  /** Packets received with the ECT(1) codepoint. */
  ect1: number;
  /** Packets received with the ECN-CE codepoint. */
  ce: number;
}

/**
 * ACK (RFC 9000 §19.3): type 0x02, or 0x03 when `ecn` is present.
 *
 * `ranges` are sorted descending and never touch (at least one unacknowledged packet number lies
 * between two ranges); `ranges[0].largest === largest`.
 */
export interface AckFrame {
  /** Discriminant. */
  kind: 'ack';
  /** Largest Acknowledged. */
  largest: number;
  /**
   * ACK Delay exactly as on the wire: not yet multiplied by 2^ack_delay_exponent
   * (RFC 9000 §19.3). Decoded values above 2^53−1 saturate at 2^53−1 (any such delay is capped
   * by max_ack_delay anyway, RFC 9002 §5.3).
   */
  ackDelay: number;
  /** The acknowledged ranges, newest first; never empty. */
  ranges: AckRange[];
  /** ECN counts (type 0x03), absent for type 0x02. */
  ecn?: AckEcnCounts;
}

/** RESET_STREAM (RFC 9000 §19.4): abrupt termination of the sending part of a stream. */
export interface ResetStreamFrame {
  /** Discriminant. */
  kind: 'resetStream';
  /** Stream ID. */
  streamId: number;
  /** Application Protocol Error Code. */
  applicationErrorCode: bigint;
  /** Final Size of the stream in bytes. */
  finalSize: number;
}

/** STOP_SENDING (RFC 9000 §19.5): asks the peer to stop sending on a stream. */
export interface StopSendingFrame {
  /** Discriminant. */
  kind: 'stopSending';
  /** Stream ID. */
  streamId: number;
  /** Application Protocol Error Code. */
  applicationErrorCode: bigint;
}

/** CRYPTO (RFC 9000 §19.6): handshake data at an offset of the level's crypto stream. */
export interface CryptoFrame {
  /** Discriminant. */
  kind: 'crypto';
  /** Byte offset of `data` in the crypto stream. */
  offset: number;
  /** Crypto data (a view into the packet when decoded). */
  data: Uint8Array;
}

/** NEW_TOKEN (RFC 9000 §19.7): a token for the Initial packets of a future connection. */
export interface NewTokenFrame {
  /** Discriminant. */
  kind: 'newToken';
  /** The token, never empty (a view into the packet when decoded). */
  token: Uint8Array;
}

/**
 * STREAM (RFC 9000 §19.8), types 0x08–0x0f. The encoder sets the OFF bit exactly when
 * `offset > 0`; a decoded frame reports offset 0 when the OFF bit was clear.
 */
export interface StreamFrame {
  /** Discriminant. */
  kind: 'stream';
  /** Stream ID. */
  streamId: number;
  /** Byte offset of `data` in the stream. */
  offset: number;
  /** Stream data (a view into the packet when decoded). */
  data: Uint8Array;
  /** True when this frame carries the end of the stream (FIN bit). */
  fin: boolean;
  /**
   * Whether the Length field is present (LEN bit). When encoding, omitted or `true` writes a
   * Length field; `false` omits it, so the frame must be the last in its packet. When decoding,
   * it reports what was on the wire.
   */
  explicitLength?: boolean;
}

/** MAX_DATA (RFC 9000 §19.9): connection-level flow control limit. */
export interface MaxDataFrame {
  /** Discriminant. */
  kind: 'maxData';
  /** Maximum Data in bytes. Decoded values above 2^53−1 saturate at 2^53−1. */
  maximum: number;
}

/** MAX_STREAM_DATA (RFC 9000 §19.10): stream-level flow control limit. */
export interface MaxStreamDataFrame {
  /** Discriminant. */
  kind: 'maxStreamData';
  /** Stream ID. */
  streamId: number;
  /** Maximum Stream Data in bytes. Decoded values above 2^53−1 saturate at 2^53−1. */
  maximum: number;
}

/** MAX_STREAMS (RFC 9000 §19.11), types 0x12 (bidirectional) and 0x13 (unidirectional). */
export interface MaxStreamsFrame {
  /** Discriminant. */
  kind: 'maxStreams';
  /** True for bidirectional streams (0x12), false for unidirectional (0x13). */
  bidirectional: boolean;
  /**
   * Maximum Streams: at most 2^60 (larger values are FRAME_ENCODING_ERROR). Decoded values above
   * 2^53−1 saturate at 2^53−1.
   */
  maximum: number;
}

/** DATA_BLOCKED (RFC 9000 §19.12): the sender is blocked by connection-level flow control. */
export interface DataBlockedFrame {
  /** Discriminant. */
  kind: 'dataBlocked';
  /** Maximum Data at which blocking occurred. Decoded values above 2^53−1 saturate at 2^53−1. */
  limit: number;
}

/** STREAM_DATA_BLOCKED (RFC 9000 §19.13): the sender is blocked by stream-level flow control. */
export interface StreamDataBlockedFrame {
  /** Discriminant. */
  kind: 'streamDataBlocked';
  /** Stream ID. */
  streamId: number;
  /** Maximum Stream Data at which blocking occurred. Decoded values above 2^53−1 saturate at 2^53−1. */
  limit: number;
}

/** STREAMS_BLOCKED (RFC 9000 §19.14), types 0x16 (bidirectional) and 0x17 (unidirectional). */
export interface StreamsBlockedFrame {
  /** Discriminant. */
  kind: 'streamsBlocked';
  /** True for bidirectional streams (0x16), false for unidirectional (0x17). */
  bidirectional: boolean;
  /**
   * Maximum Streams at which blocking occurred: at most 2^60 (larger values are
   * FRAME_ENCODING_ERROR). Decoded values above 2^53−1 saturate at 2^53−1.
   */
  limit: number;
}

/** NEW_CONNECTION_ID (RFC 9000 §19.15): an alternative connection ID for the peer to use. */
export interface NewConnectionIdFrame {
  /** Discriminant. */
  kind: 'newConnectionId';
  /** Sequence Number of the connection ID. */
  sequenceNumber: number;
  /** Retire Prior To: never greater than `sequenceNumber`. */
  retirePriorTo: number;
  /** The connection ID, 1–20 bytes (a view into the packet when decoded). */
  connectionId: Uint8Array;
  /** Stateless Reset Token, 16 bytes (a view into the packet when decoded). */
  statelessResetToken: Uint8Array;
}

/** RETIRE_CONNECTION_ID (RFC 9000 §19.16). */
export interface RetireConnectionIdFrame {
  /** Discriminant. */
  kind: 'retireConnectionId';
  /** Sequence Number of the connection ID being retired. */
  sequenceNumber: number;
}

/** PATH_CHALLENGE (RFC 9000 §19.17). */
export interface PathChallengeFrame {
  /** Discriminant. */
  kind: 'pathChallenge';
  /** 8 bytes of unpredictable data (a view into the packet when decoded). */
  data: Uint8Array;
}

/** PATH_RESPONSE (RFC 9000 §19.18). */
export interface PathResponseFrame {
  /** Discriminant. */
  kind: 'pathResponse';
  /** The 8 bytes of the PATH_CHALLENGE being answered (a view into the packet when decoded). */
  data: Uint8Array;
}

/** CONNECTION_CLOSE (RFC 9000 §19.19), type 0x1c (transport) or 0x1d (application). */
export interface ConnectionCloseFrame {
  /** Discriminant. */
  kind: 'connectionClose';
  /** True for type 0x1d (application error), false for 0x1c (transport error). */
  application: boolean;
  /** Error Code: a transport error code (0x1c) or an application protocol error code (0x1d). */
  errorCode: bigint;
  /**
   * Frame Type that triggered the error, transport variant only (0 when unknown); ignored when
   * encoding an application close, absent when decoding one. Decoded values above 2^53−1 (legal
   * but unassigned types) saturate at 2^53−1: the field is informational.
   */
  frameType?: number;
  /** Reason Phrase, UTF-8 by convention (a view into the packet when decoded). */
  reason: Uint8Array;
}

/** HANDSHAKE_DONE (RFC 9000 §19.20): no fields; sent by the server to confirm the handshake. */
export interface HandshakeDoneFrame {
  /** Discriminant. */
  kind: 'handshakeDone';
}

/** DATAGRAM (RFC 9221 §4), type 0x30 (no Length field) or 0x31 (with a Length field). */
export interface DatagramFrame {
  /** Discriminant. */
  kind: 'datagram';
  /** The datagram's payload (a view into the packet when decoded). */
  data: Uint8Array;
  /**
   * Whether the Length field is present (type 0x31). When encoding, omitted or `true` writes it;
   * `false` omits it, so the frame must be the last in its packet. When decoding, it reports what
   * was on the wire.
   */
  explicitLength?: boolean;
}

/** Any QUIC frame, discriminated on `kind`. */
export type Frame =
  | PaddingFrame
  | PingFrame
  | AckFrame
  | ResetStreamFrame
  | StopSendingFrame
  | CryptoFrame
  | NewTokenFrame
  | StreamFrame
  | MaxDataFrame
  | MaxStreamDataFrame
  | MaxStreamsFrame
  | DataBlockedFrame
  | StreamDataBlockedFrame
  | StreamsBlockedFrame
  | NewConnectionIdFrame
  | RetireConnectionIdFrame
  | PathChallengeFrame
  | PathResponseFrame
  | ConnectionCloseFrame
  | HandshakeDoneFrame
  | DatagramFrame;

/** The `kind` of a {@link Frame}. */
export type FrameKind = Frame['kind'];

/** The frame interface for a given {@link FrameKind}. */
export type FrameOf<K extends FrameKind> = Extract<
  Frame,
  {
    /** The discriminant selecting the frame interface. */
    kind: K;
  }
>;
