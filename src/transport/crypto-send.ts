/**
 * The sending half of the CRYPTO stream of one encryption level (RFC 9000 §19.6, RFC 9001 §4):
 * TLS handshake bytes appended as the handshake produces them, cut into CRYPTO frames only at
 * flush time, sent again from the lowest lost offset first, released once acknowledged, and
 * dropped when the level's keys are discarded (RFC 9000 §13.3, RFC 9001 §4.9).
 *
 * @module
 */
import { Subject, type Observable } from 'rxjs';
import type { EncryptionLevel } from '../wire/levels.js';
import { SendBuffer, type SendRange } from './send-buffer.js';

/** The encryption levels that carry CRYPTO frames (RFC 9000 §12.4 Table 3: not 0-RTT). */
export type CryptoLevel = Exclude<EncryptionLevel, 'zeroRtt'>;

/**
 * Outgoing CRYPTO data of one encryption level. There is no flow control and no FIN; the buffer
 * holds what the peer has not acknowledged.
 */
export class CryptoSendStream {
  /** The encryption level whose CRYPTO stream this is. */
  readonly level: CryptoLevel;
  private buffer = new SendBuffer({ highWaterMark: Infinity });
  private discarded = false;
  private readonly pending = new Subject<void>();

  /** Emits when data becomes sendable: appended, or lost and to be sent again. */
  readonly pending$: Observable<void> = this.pending.asObservable();

  /** Creates the CRYPTO stream of `level`. */
  constructor(level: CryptoLevel) {
    this.level = level;
  }

  /** Appends TLS handshake bytes (copied). Ignored after {@link discard}. */
  append(data: Uint8Array): void {
    if (this.discarded || data.length === 0) return;
    this.buffer.write(data);
    if (this.pending.observed) this.pending.next();
  }

  /** True when lost or new data waits to be sent. */
  get hasPending(): boolean {
    return !this.discarded && this.buffer.hasSendable(true);
  }

  /** Total bytes appended. */
  get length(): number {
    return this.buffer.writtenBytes;
  }

  /** Bytes never sent. */
  get unsentBytes(): number {
    return this.buffer.unsentBytes;
  }

  /** True when every byte appended was acknowledged. */
  get allAcknowledged(): boolean {
    return this.buffer.acknowledgedOffset === this.buffer.writtenBytes;
  }

  /** True after {@link discard}. */
  get isDiscarded(): boolean {
    return this.discarded;
  }

  /** The range to send next: lost data lowest offset first, then new data. */
  nextRange(): SendRange | undefined {
    return this.discarded ? undefined : this.buffer.nextRange(Infinity);
  }

  /** The bytes `[offset, offset + length)`, a view when possible, else copied into `scratch`. */
  read(offset: number, length: number, scratch?: Uint8Array): Uint8Array {
    return this.buffer.read(offset, length, scratch);
  }

  /** `[offset, offset + length)` was committed to a packet. */
  onSent(offset: number, length: number): void {
    if (!this.discarded) this.buffer.onSent(offset, length, false);
  }

  /** A CRYPTO frame was acknowledged: its bytes are released once everything below is acknowledged too. */
  onAcked(offset: number, length: number): void {
    if (!this.discarded) this.buffer.onAcked(offset, length, false);
  }

  /** A CRYPTO frame was lost: its unacknowledged bytes are sent again, lowest offset first. */
  onLost(offset: number, length: number): void {
    if (this.discarded) return;
    this.buffer.onLost(offset, length, false);
    if (this.buffer.hasLostData && this.pending.observed) this.pending.next();
  }

  /** The level's keys were discarded: nothing more is sent and the data is released (RFC 9001 §4.9). */
  discard(): void {
    this.discarded = true;
    this.buffer = new SendBuffer({ highWaterMark: Infinity });
  }
}
