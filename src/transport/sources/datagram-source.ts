/**
 * The DATAGRAM frame source (RFC 9221): writes queued datagrams, oldest first, in 0-RTT and
 * 1-RTT packets (RFC 9221 §4). A datagram that does not fit the room left waits for the next
 * packet (the queue only accepts datagrams that fit an empty packet). Never retransmitted;
 * acknowledgement and loss are reported to the application by id (RFC 9221 §5.2).
 *
 * @module
 */
import type { Observable } from 'rxjs';
import type { FrameSource, PacketWriter, SentFrame } from '../../packet/types.js';
import { encodeFrame } from '../../wire/frames/encode.js';
import type { EncryptionLevel } from '../../wire/levels.js';
import { datagramFrameSize, type DatagramQueue } from '../datagram-queue.js';

/** Writes DATAGRAM frames from a {@link DatagramQueue}. */
export class DatagramSource implements FrameSource {
  /** Source name. */
  readonly name = 'datagram';
  /** The queue this source drains. */
  readonly queue: DatagramQueue;

  /** Emits when a datagram is queued. */
  readonly pending$: Observable<void>;

  /** Creates the source for `queue`. */
  constructor(queue: DatagramQueue) {
    this.queue = queue;
    this.pending$ = queue.pending$;
  }

  /** True when a datagram waits and the level is 0-RTT or 1-RTT. */
  hasPending(level: EncryptionLevel): boolean {
    return (level === 'oneRtt' || level === 'zeroRtt') && this.queue.length > 0;
  }

  /** Writes queued datagrams, oldest first, while they fit. */
  write(writer: PacketWriter): number {
    if (writer.level !== 'oneRtt' && writer.level !== 'zeroRtt') return 0;
    let frames = 0;
    while (!writer.full) {
      const d = this.queue.peek();
      if (d === undefined) break;
      const room = writer.room;
      // Without a Length field (type 0x30) only when it fills the packet exactly (RFC 9221 §4).
      const exact = 1 + d.data.length === room;
      if (!exact && datagramFrameSize(d.data.length) > room) break;
      const start = writer.offset;
      const end = encodeFrame(writer.buffer, start, { kind: 'datagram', data: d.data, explicitLength: !exact });
      writer.commitFrame(end - start, { kind: 'datagram', id: d.id }, true);
      this.queue.onSent();
      frames++;
      if (exact) break;
    }
    return frames;
  }

  /** Reports the datagram acknowledged. */
  onAcked(frame: SentFrame): void {
    if (frame.kind === 'datagram') this.queue.onAcked(frame.id);
  }

  /** Reports the datagram lost; it is not sent again (RFC 9221 §5.2). */
  onLost(frame: SentFrame): void {
    if (frame.kind === 'datagram') this.queue.onLost(frame.id);
  }
}
