/**
 * Handshake message framing (RFC 8446 §4: `HandshakeType msg_type; uint24 length;` then the body)
 * and the reassembler that turns the in-order CRYPTO bytes of one encryption level into complete
 * messages, whatever the CRYPTO frame boundaries were (RFC 9001 §4.1.3: TLS buffers the handshake
 * bytes that arrive in order; QUIC orders them).
 *
 * @module
 */
import type { EncryptionLevel } from '../../wire/levels.js';
import { TlsAlert, TlsAlertError } from '../alerts.js';
import { handshakeTypeName } from '../constants.js';

/** Bytes of the handshake message header: msg_type (1) and length (3). */
export const HANDSHAKE_HEADER_LENGTH = 4;

/**
 * Default bound on one handshake message's body: 64 KiB. Large enough for certificate chains and
 * ClientHellos with tickets seen in practice, small enough that a peer cannot make us buffer
 * megabytes (ARCHITECTURE.md principle 6).
 */
export const DEFAULT_MAX_HANDSHAKE_MESSAGE_LENGTH = 65536;

/** One complete handshake message as received: what the transcript hashes and the decoders read. */
export interface HandshakeMessageBytes {
  /** msg_type. */
  readonly type: number;
  /** The body (after the 4-byte header): a view into {@link raw}. */
  readonly body: Uint8Array;
  /** The whole message, header included, as the transcript hashes it (RFC 8446 §4.4.1). */
  readonly raw: Uint8Array;
}

/** Limits of a {@link HandshakeReader}. */
export interface HandshakeReaderOptions {
  /** Largest body accepted for any message type (default {@link DEFAULT_MAX_HANDSHAKE_MESSAGE_LENGTH}). */
  readonly maxMessageLength?: number;
  /** Per-type overrides of {@link maxMessageLength}, keyed by msg_type (e.g. a larger bound for certificate). */
  readonly maxMessageLengthByType?: Readonly<Partial<Record<number, number>>>;
}

/**
 * Splits `bytes` (a whole encoded message, header included) into its {@link HandshakeMessageBytes};
 * a truncated header, or a length field that does not match the bytes, is a decode_error.
 */
export function splitHandshakeMessage(bytes: Uint8Array): HandshakeMessageBytes {
  if (bytes.length < HANDSHAKE_HEADER_LENGTH) {
    throw new TlsAlertError(TlsAlert.decode_error, `handshake message of ${bytes.length} bytes is shorter than its header`);
  }
  const length = (bytes[1] << 16) | (bytes[2] << 8) | bytes[3];
  if (length !== bytes.length - HANDSHAKE_HEADER_LENGTH) {
    throw new TlsAlertError(
      TlsAlert.decode_error,
      `${handshakeTypeName(bytes[0])} header says ${length} bytes but ${bytes.length - HANDSHAKE_HEADER_LENGTH} follow`,
    );
  }
  return { type: bytes[0], body: bytes.subarray(HANDSHAKE_HEADER_LENGTH), raw: bytes };
}

/**
 * Reassembles the handshake messages of one encryption level from the in-order bytes of its
 * CRYPTO stream. Feed it with {@link push}; it returns every message completed by the new bytes, in
 * order, each copied into its own array (the caller's buffer may be reused afterwards).
 *
 * Memory is bounded: a message whose header announces a body longer than the configured maximum is
 * refused as soon as the header is seen, before any of it is buffered, so the reader never holds
 * more than one header plus one maximal message.
 */
export class HandshakeReader {
  /** The encryption level whose bytes this reader receives (for error messages). */
  readonly level: EncryptionLevel;
  private readonly maxLength: number;
  private readonly maxByType: Readonly<Partial<Record<number, number>>>;
  private readonly header = new Uint8Array(HANDSHAKE_HEADER_LENGTH);
  private headerFilled = 0;
  /** The message being filled (header included) once its header is complete. */
  private current: Uint8Array | null = null;
  private currentFilled = 0;
  private total = 0;

  constructor(level: EncryptionLevel, options: HandshakeReaderOptions = {}) {
    // RFC 9001 §4.1.3: "CRYPTO frames are carried in just three of these levels, omitting the 0-RTT level."
    if (level === 'zeroRtt') throw new TlsAlertError(TlsAlert.internal_error, 'no handshake messages are carried at the 0-RTT level');
    this.level = level;
    this.maxLength = options.maxMessageLength ?? DEFAULT_MAX_HANDSHAKE_MESSAGE_LENGTH;
    this.maxByType = options.maxMessageLengthByType ?? {};
  }

  /** Bytes held for a message not yet complete. */
  get pendingBytes(): number {
    return this.current === null ? this.headerFilled : this.currentFilled;
  }

  /** True while part of a message has been received but not all of it. */
  get hasPartialMessage(): boolean {
    return this.pendingBytes > 0;
  }

  /** Total bytes pushed so far (the CRYPTO stream offset this reader has reached). */
  get bytesReceived(): number {
    return this.total;
  }

  /**
   * Appends the next in-order bytes of this level and returns the messages they complete. A
   * message longer than allowed is refused with illegal_parameter (the alert OpenSSL and BoringSSL
   * send for an excessive handshake message); nothing is buffered for it.
   */
  push(chunk: Uint8Array): HandshakeMessageBytes[] {
    const out: HandshakeMessageBytes[] = [];
    let pos = 0;
    this.total += chunk.length;
    while (pos < chunk.length) {
      if (this.current === null) {
        const n = Math.min(HANDSHAKE_HEADER_LENGTH - this.headerFilled, chunk.length - pos);
        this.header.set(chunk.subarray(pos, pos + n), this.headerFilled);
        this.headerFilled += n;
        pos += n;
        if (this.headerFilled < HANDSHAKE_HEADER_LENGTH) break;
        const type = this.header[0];
        const length = (this.header[1] << 16) | (this.header[2] << 8) | this.header[3];
        const max = this.maxByType[type] ?? this.maxLength;
        if (length > max) {
          throw new TlsAlertError(
            TlsAlert.illegal_parameter,
            `${handshakeTypeName(type)} message of ${length} bytes at the ${this.level} level exceeds the ${max}-byte limit`,
          );
        }
        this.current = new Uint8Array(HANDSHAKE_HEADER_LENGTH + length);
        this.current.set(this.header, 0);
        this.currentFilled = HANDSHAKE_HEADER_LENGTH;
        this.headerFilled = 0;
      }
      const msg = this.current;
      const n = Math.min(msg.length - this.currentFilled, chunk.length - pos);
      msg.set(chunk.subarray(pos, pos + n), this.currentFilled);
      this.currentFilled += n;
      pos += n;
      if (this.currentFilled === msg.length) {
        out.push({ type: msg[0], body: msg.subarray(HANDSHAKE_HEADER_LENGTH), raw: msg });
        this.current = null;
        this.currentFilled = 0;
      }
    }
    return out;
  }

  /**
   * Requires that no message is partly received, as when the peer's keys change: handshake
   * messages MUST NOT span key changes (RFC 8446 §5.1) → unexpected_message.
   */
  assertNoPartialMessage(): void {
    if (this.hasPartialMessage) {
      throw new TlsAlertError(
        TlsAlert.unexpected_message,
        `${this.pendingBytes} bytes of an incomplete handshake message remain at the ${this.level} level across a key change`,
      );
    }
  }
}
