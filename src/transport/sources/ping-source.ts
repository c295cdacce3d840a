/**
 * The PING frame source (RFC 9000 §19.2): PINGs the connection asks for — PTO probes when there
 * is nothing else to send (RFC 9002 §6.2.4), keep-alives, eliciting an ACK of our ACKs
 * (RFC 9000 §13.2.4). One PING per packet; each makes its packet ack-eliciting. PINGs carry no
 * information and are never repeated when lost (RFC 9000 §13.3).
 *
 * @module
 */
import { Subject, type Observable } from 'rxjs';
import type { FrameSource, PacketWriter } from '../../packet/types.js';
import { FrameType } from '../../wire/frames/types.js';
import type { EncryptionLevel } from '../../wire/levels.js';

/** Writes requested PING frames, one per packet. */
export class PingSource implements FrameSource {
  /** Source name. */
  readonly name = 'ping';
  private readonly requested: Record<EncryptionLevel, number> = { initial: 0, zeroRtt: 0, handshake: 0, oneRtt: 0 };
  private readonly pending = new Subject<void>();

  /** Emits when a PING is requested. */
  readonly pending$: Observable<void> = this.pending.asObservable();

  /** Asks for `count` packets at `level` to carry a PING (e.g. 2 for a PTO, RFC 9002 §6.2.4). */
  request(level: EncryptionLevel, count = 1): void {
    if (count <= 0) return;
    this.requested[level] += count;
    if (this.pending.observed) this.pending.next();
  }

  /** PINGs still to send at `level`. */
  requestedAt(level: EncryptionLevel): number {
    return this.requested[level];
  }

  /** Withdraws PING requests at `level` (e.g. the probe was satisfied by other ack-eliciting data, or keys were discarded). */
  cancel(level: EncryptionLevel): void {
    this.requested[level] = 0;
  }

  /** True when a PING was requested at `level`. */
  hasPending(level: EncryptionLevel): boolean {
    return this.requested[level] > 0;
  }

  /** Writes one PING if requested and room allows. */
  write(writer: PacketWriter): number {
    if (writer.full || writer.room < 1 || this.requested[writer.level] === 0) return 0;
    writer.buffer[writer.offset] = FrameType.PING;
    writer.commitFrame(1, { kind: 'ping' }, true);
    this.requested[writer.level]--;
    return 1;
  }
}
