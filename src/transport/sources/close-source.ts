/**
 * The CONNECTION_CLOSE frame source (RFC 9000 §10.2, §19.19).
 *
 * Once the connection closes, a CONNECTION_CLOSE is pending at every encryption level the
 * connection names — while the handshake is not confirmed, every level the peer may be able to
 * read (RFC 9000 §10.2.3) — and is written once per level; {@link CloseSource.resend} arms it
 * again when the closing connection answers a packet from the peer (RFC 9000 §10.2.1). It is
 * never retransmitted on loss (RFC 9000 §13.3) and not congestion controlled: the builder asks
 * this source before the congestion gate.
 *
 * An application close becomes, in Initial and Handshake packets, a transport close with
 * APPLICATION_ERROR and an empty reason phrase (RFC 9000 §10.2.3: type 0x1d MUST be replaced by
 * 0x1c). The reason phrase is truncated — at a UTF-8 character boundary — to fit the room left,
 * because a CONNECTION_CLOSE frame cannot be split (RFC 9000 §19.19).
 *
 * @module
 */
import { Subject, type Observable } from 'rxjs';
import type { FrameSource, PacketWriter } from '../../packet/types.js';
import { TransportErrorCode } from '../../wire/errors.js';
import { encodeFrame } from '../../wire/frames/encode.js';
import type { ConnectionCloseFrame } from '../../wire/frames/types.js';
import type { EncryptionLevel } from '../../wire/levels.js';
import { varintSize, varintSizeBig } from '../../wire/varint.js';

/** Why the connection closes: a transport error (type 0x1c) or an application error (type 0x1d). */
export type CloseReason =
  | {
      /** A transport (QUIC-layer) error or NO_ERROR. */
      readonly kind: 'transport';
      /** Transport error code (RFC 9000 §20.1). */
      readonly errorCode: number;
      /** The frame type that triggered the error; 0 when unknown. */
      readonly frameType?: number;
      /** Reason phrase (UTF-8 string or bytes). */
      readonly reason?: string | Uint8Array;
    }
  | {
      /** An error signalled by the application protocol. */
      readonly kind: 'application';
      /** Application protocol error code (62-bit). */
      readonly errorCode: bigint;
      /** Reason phrase (UTF-8 string or bytes). */
      readonly reason?: string | Uint8Array;
    };

const EMPTY = new Uint8Array(0);

/** The frame to send at `level` for `close`, with the full reason phrase. */
export function closeFrameFor(close: CloseReason, level: EncryptionLevel): ConnectionCloseFrame {
  const reason = typeof close.reason === 'string' ? new TextEncoder().encode(close.reason) : (close.reason ?? EMPTY);
  if (close.kind === 'application') {
    if (level === 'initial' || level === 'handshake') {
      // RFC 9000 §10.2.3: 0x1d becomes 0x1c with APPLICATION_ERROR and no reason phrase.
      return { kind: 'connectionClose', application: false, errorCode: BigInt(TransportErrorCode.APPLICATION_ERROR), frameType: 0, reason: EMPTY };
    }
    return { kind: 'connectionClose', application: true, errorCode: close.errorCode, reason };
  }
  return { kind: 'connectionClose', application: false, errorCode: BigInt(close.errorCode), frameType: close.frameType ?? 0, reason };
}

/**
 * The longest prefix of a UTF-8 `reason` that is at most `max` bytes and does not end inside a
 * multi-byte character.
 */
export function truncateReason(reason: Uint8Array, max: number): Uint8Array {
  if (reason.length <= max) return reason;
  let n = Math.max(0, max);
  // Step back over continuation bytes (10xxxxxx) so the cut falls on a character boundary.
  while (n > 0 && (reason[n] & 0xc0) === 0x80) n--;
  return reason.subarray(0, n);
}

/** Writes CONNECTION_CLOSE frames at the levels the closing connection names. */
export class CloseSource implements FrameSource {
  /** Source name. */
  readonly name = 'close';
  private reason: CloseReason | undefined;
  private readonly levels = new Set<EncryptionLevel>();
  private readonly pendingAt = new Set<EncryptionLevel>();
  private readonly pending = new Subject<void>();

  /** Emits when a CONNECTION_CLOSE becomes pending. */
  readonly pending$: Observable<void> = this.pending.asObservable();

  /** The close being signalled, undefined while open. */
  get closeReason(): CloseReason | undefined {
    return this.reason;
  }

  /**
   * Closes: a CONNECTION_CLOSE becomes pending at each of `levels` (RFC 9000 §10.2.3: before the
   * handshake is confirmed, every level the peer may be using; afterwards only 1-RTT). A second
   * call keeps the first reason and only updates the levels.
   */
  close(reason: CloseReason, levels: Iterable<EncryptionLevel>): void {
    this.reason ??= reason;
    this.setLevels(levels);
    this.resend();
  }

  /** Changes the levels a CONNECTION_CLOSE is sent at (e.g. keys discarded or the handshake confirmed). */
  setLevels(levels: Iterable<EncryptionLevel>): void {
    this.levels.clear();
    for (const l of levels) this.levels.add(l);
    for (const l of [...this.pendingAt]) if (!this.levels.has(l)) this.pendingAt.delete(l);
  }

  /** Arms the CONNECTION_CLOSE again at every level (the closing connection answers a packet, RFC 9000 §10.2.1). */
  resend(): void {
    if (this.reason === undefined || this.levels.size === 0) return;
    for (const l of this.levels) this.pendingAt.add(l);
    this.pending.next();
  }

  /** True when a CONNECTION_CLOSE waits to be written at `level`. */
  hasPending(level: EncryptionLevel): boolean {
    return this.pendingAt.has(level);
  }

  /** Writes the CONNECTION_CLOSE for the packet's level, its reason phrase truncated to the room. */
  write(writer: PacketWriter): number {
    const close = this.reason;
    if (close === undefined || writer.full || !this.pendingAt.has(writer.level)) return 0;
    const frame = closeFrameFor(close, writer.level);
    // Size without the reason: type, code, [frame type]; then Length and phrase must fit the rest.
    const fixed = 1 + varintSizeBig(frame.errorCode) + (frame.application ? 0 : varintSize(frame.frameType ?? 0));
    let max = writer.room - fixed - 1;
    if (max < 0) return 0;
    if (frame.reason.length > max) {
      // A longer Length field costs bytes: find the largest phrase that fits with its Length.
      while (max > 0 && fixed + varintSize(max) + max > writer.room) max--;
    }
    const sized: ConnectionCloseFrame = { ...frame, reason: truncateReason(frame.reason, max) };
    const start = writer.offset;
    const end = encodeFrame(writer.buffer, start, sized);
    writer.commitFrame(end - start, { kind: 'connectionClose' }, false);
    this.pendingAt.delete(writer.level);
    return 1;
  }
}
