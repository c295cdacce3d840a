/**
 * Typed QUIC errors.
 *
 * Every decoder and every protocol rule in quic-actors reports failure with a {@link QuicError}
 * that carries the transport error code the connection puts in its CONNECTION_CLOSE frame
 * (RFC 9000 §20.1), the frame type that triggered it when known, and a human-readable reason.
 * Nothing a peer sends may surface as a `RangeError`, a `TypeError` or a crash.
 *
 * @module
 */

/** Transport error codes, RFC 9000 §20.1 (plus VERSION_NEGOTIATION_ERROR from RFC 9368 §4). */
export const TransportErrorCode = {
  NO_ERROR: 0x00,
  INTERNAL_ERROR: 0x01,
  CONNECTION_REFUSED: 0x02,
  FLOW_CONTROL_ERROR: 0x03,
  STREAM_LIMIT_ERROR: 0x04,
  STREAM_STATE_ERROR: 0x05,
  FINAL_SIZE_ERROR: 0x06,
  FRAME_ENCODING_ERROR: 0x07,
  TRANSPORT_PARAMETER_ERROR: 0x08,
  CONNECTION_ID_LIMIT_ERROR: 0x09,
  PROTOCOL_VIOLATION: 0x0a,
  INVALID_TOKEN: 0x0b,
  APPLICATION_ERROR: 0x0c,
  CRYPTO_BUFFER_EXCEEDED: 0x0d,
  KEY_UPDATE_ERROR: 0x0e,
  AEAD_LIMIT_REACHED: 0x0f,
  NO_VIABLE_PATH: 0x10,
  /** RFC 9368 §4. */
  VERSION_NEGOTIATION_ERROR: 0x11,
} as const;

/** A transport error code value (see {@link TransportErrorCode}); CRYPTO_ERROR codes are 0x0100–0x01ff. */
export type TransportErrorCodeValue = number;

/** First CRYPTO_ERROR code: a TLS alert `a` is reported as `CRYPTO_ERROR_BASE + a` (RFC 9001 §4.8). */
export const CRYPTO_ERROR_BASE = 0x100;

const codeNames = new Map<number, string>(
  Object.entries(TransportErrorCode).map(([name, code]) => [code, name]),
);

/** The RFC name of a transport error code, e.g. `FLOW_CONTROL_ERROR` or `CRYPTO_ERROR(0x128)`. */
export function transportErrorName(code: number): string {
  if (code >= CRYPTO_ERROR_BASE && code <= CRYPTO_ERROR_BASE + 0xff) {
    return `CRYPTO_ERROR(0x${code.toString(16)})`;
  }
  return codeNames.get(code) ?? `UNKNOWN_ERROR(0x${code.toString(16)})`;
}

/** Options of a {@link QuicError}. */
export interface QuicErrorOptions {
  /** The frame type being processed when the error was found (CONNECTION_CLOSE carries it). */
  frameType?: number;
  /** The underlying cause, if any. */
  cause?: unknown;
}

/**
 * A QUIC protocol error: the transport error code to send to the peer and a reason.
 *
 * `code` is a transport error code from {@link TransportErrorCode} or a CRYPTO_ERROR
 * (0x0100 + TLS alert). The message is prefixed with the code's name so that logs read well.
 */
export class QuicError extends Error {
  /** The transport error code (RFC 9000 §20.1). */
  readonly code: TransportErrorCodeValue;
  /** The frame type that triggered the error, when known. */
  readonly frameType: number | undefined;
  /** The reason phrase, without the code prefix; suitable for CONNECTION_CLOSE. */
  readonly reason: string;

  constructor(code: TransportErrorCodeValue, reason: string, options: QuicErrorOptions = {}) {
    super(`${transportErrorName(code)}: ${reason}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'QuicError';
    this.code = code;
    this.reason = reason;
    this.frameType = options.frameType;
  }
}

/** True when `e` is a {@link QuicError} (optionally with the given code). */
export function isQuicError(e: unknown, code?: number): e is QuicError {
  return e instanceof QuicError && (code === undefined || e.code === code);
}
