/**
 * The flow control frame source: MAX_DATA, MAX_STREAMS, MAX_STREAM_DATA, DATA_BLOCKED,
 * STREAMS_BLOCKED and STREAM_DATA_BLOCKED from a {@link FlowController}, written with the values
 * current at flush time (RFC 9000 §13.3: a lost update sends the *current* value again).
 *
 * These frames are allowed in 0-RTT and 1-RTT packets only (RFC 9000 §12.4 Table 3).
 *
 * @module
 */
import type { Observable } from 'rxjs';
import type { FrameSource, PacketWriter, SentFrame } from '../../packet/types.js';
import { encodeFrame, frameSize } from '../../wire/frames/encode.js';
import type { EncryptionLevel } from '../../wire/levels.js';
import type { FlowController } from '../flow-control.js';

/** Writes pending flow control frames. */
export class FlowControlSource implements FrameSource {
  /** Source name. */
  readonly name = 'flowControl';
  /** The flow controller whose frames this source writes. */
  readonly flow: FlowController;

  /** Emits when a flow control frame becomes pending. */
  readonly pending$: Observable<void>;

  /** Creates the source for `flow`. */
  constructor(flow: FlowController) {
    this.flow = flow;
    this.pending$ = flow.pending$;
  }

  /** True when a frame is pending and the level is 0-RTT or 1-RTT. */
  hasPending(level: EncryptionLevel): boolean {
    return (level === 'oneRtt' || level === 'zeroRtt') && this.flow.hasPendingFrames;
  }

  /** Writes pending frames while they fit. */
  write(writer: PacketWriter): number {
    if (writer.level !== 'oneRtt' && writer.level !== 'zeroRtt') return 0;
    let frames = 0;
    while (!writer.full) {
      const frame = this.flow.peekFrame();
      if (frame === undefined || frameSize(frame) > writer.room) break;
      const start = writer.offset;
      const end = encodeFrame(writer.buffer, start, frame);
      writer.commitFrame(end - start, this.flow.sentFrameFor(frame), true);
      this.flow.onFrameSent(frame);
      frames++;
    }
    return frames;
  }

  /** Remembers which MAX_* value the peer has. */
  onAcked(frame: SentFrame): void {
    this.flow.onFrameAcked(frame);
  }

  /** Queues the current value again if still relevant (RFC 9000 §13.3). */
  onLost(frame: SentFrame): void {
    this.flow.onFrameLost(frame);
  }
}
