/**
 * The control frame source: writes the {@link ControlQueue}'s frames (HANDSHAKE_DONE,
 * NEW_CONNECTION_ID, RETIRE_CONNECTION_ID, NEW_TOKEN, PATH_CHALLENGE, PATH_RESPONSE,
 * RESET_STREAM, STOP_SENDING) in queue order, as many as fit the room left.
 *
 * Order is strict: when the frame at the head does not fit, or is not allowed at the packet's
 * level (RFC 9000 §12.4 Table 3, §12.5 for 0-RTT), nothing after it is written in this packet.
 *
 * @module
 */
import type { Observable } from 'rxjs';
import type { FrameSource, PacketWriter, SentFrame } from '../../packet/types.js';
import { encodeFrame, frameSize } from '../../wire/frames/encode.js';
import { frameAllowedIn, frameTypeOf } from '../../wire/frames/rules.js';
import type { EncryptionLevel } from '../../wire/levels.js';
import { controlSentFrame, type ControlQueue } from '../control-queue.js';

/** Writes queued control frames in FIFO order (retransmissions first, in original order). */
export class ControlSource implements FrameSource {
  /** Source name. */
  readonly name = 'control';
  /** The queue this source drains. */
  readonly queue: ControlQueue;

  /** Emits when a control frame is queued. */
  readonly pending$: Observable<void>;

  /** Creates the source for `queue`. */
  constructor(queue: ControlQueue) {
    this.queue = queue;
    this.pending$ = queue.pending$;
  }

  /** True when the head of the queue may be sent at `level`. */
  hasPending(level: EncryptionLevel): boolean {
    const head = this.queue.peek();
    return head !== undefined && frameAllowedIn(frameTypeOf(head), level);
  }

  /** Writes frames from the head of the queue while they fit and are allowed at the level. */
  write(writer: PacketWriter): number {
    let frames = 0;
    while (!writer.full) {
      const frame = this.queue.peek();
      if (frame === undefined || !frameAllowedIn(frameTypeOf(frame), writer.level)) break;
      if (frameSize(frame) > writer.room) break;
      const start = writer.offset;
      const end = encodeFrame(writer.buffer, start, frame);
      writer.commitFrame(end - start, controlSentFrame(frame), true);
      // The queue lets go of the frame only once it is committed.
      this.queue.onSent();
      frames++;
    }
    return frames;
  }

  /** The information was delivered. */
  onAcked(frame: SentFrame): void {
    this.queue.onAcked(frame);
  }

  /** Lost retransmittable frames go back to the front of the queue (RFC 9000 §13.3). */
  onLost(frame: SentFrame): void {
    this.queue.onLost(frame);
  }
}
