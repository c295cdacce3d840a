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

/**
 * Frame bytes that make any 1-RTT packet's datagram at least 1200 bytes: 1200 minus the smallest
 * short header (1 byte, an empty connection ID, a 1-byte packet number) and the AEAD tag.
 */
export const PATH_VALIDATION_MIN_FRAME_BYTES = 1200 - 2 - 16;

/**
 * RFC 9000 §8.2.1, §8.2.2: a datagram carrying PATH_CHALLENGE or PATH_RESPONSE is expanded to at
 * least 1200 bytes — with PADDING after the frame, up to the room the packet has, which the
 * builder already caps by the anti-amplification budget (then the datagram stays smaller, as
 * allowed). Returns the frames written (0 or 1).
 */
export function padForPathValidation(writer: PacketWriter): number {
  const n = Math.min(writer.room, PATH_VALIDATION_MIN_FRAME_BYTES - PATH_FRAME_SIZE);
  if (n <= 0) return 0;
  writer.buffer.fill(0, writer.offset, writer.offset + n);
  writer.commitFrame(n, null, false);
  return 1;
}

/** A PATH_CHALLENGE or PATH_RESPONSE frame: type and 8 bytes of data. */
const PATH_FRAME_SIZE = 9;

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
    let pathFrame = false;
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
      if (frame.kind === 'pathChallenge' || frame.kind === 'pathResponse') pathFrame = true;
    }
    // After the frames that fit: the datagram of a PATH_* frame is expanded (RFC 9000 §8.2.1, §8.2.2).
    if (pathFrame && !writer.full) frames += padForPathValidation(writer);
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
