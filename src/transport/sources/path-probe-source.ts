/**
 * The frame source of a datagram for a peer address other than the current one (RFC 9000 §8.2.2,
 * §9.3.3): one PATH_CHALLENGE or PATH_RESPONSE, padded like every datagram carrying one (§8.2.1,
 * §8.2.2), alone in a 1-RTT packet — a probing packet (§9.1). The connection hands it one frame
 * at a time and runs the same {@link PacketAssembler} flush with it as the only source, so these
 * packets are built, numbered, protected and recorded by the one outbound path like any other.
 *
 * @module
 */
import type { FrameSource, PacketWriter, SentFrame } from '../../packet/types.js';
import { encodeFrame, frameSize } from '../../wire/frames/encode.js';
import type { PathChallengeFrame, PathResponseFrame } from '../../wire/frames/types.js';
import type { EncryptionLevel } from '../../wire/levels.js';
import { controlSentFrame } from '../control-queue.js';
import { padForPathValidation } from './control-source.js';

/** Writes one PATH_CHALLENGE or PATH_RESPONSE frame, then padding. */
export class PathProbeSource implements FrameSource {
  /** Source name. */
  readonly name = 'path-probe';
  private frame: PathChallengeFrame | PathResponseFrame | undefined;
  private readonly challengeLost: (data: Uint8Array) => void;

  /** `challengeLost` is told the data of a PATH_CHALLENGE whose packet was lost (never repeated as is, RFC 9000 §13.3). */
  constructor(challengeLost: (data: Uint8Array) => void) {
    this.challengeLost = challengeLost;
  }

  /** The frame the next flush writes (replacing one not written). */
  set(frame: PathChallengeFrame | PathResponseFrame): void {
    this.frame = frame;
  }

  /** Forgets a frame not written (the flush could not send it). */
  clear(): void {
    this.frame = undefined;
  }

  /** True when the frame is still unwritten. */
  get pending(): boolean {
    return this.frame !== undefined;
  }

  /** A frame is waiting, and the level is 1-RTT (path validation happens after the handshake). */
  hasPending(level: EncryptionLevel): boolean {
    return this.frame !== undefined && level === 'oneRtt';
  }

  /** Writes the frame and the padding that expands its datagram (within the anti-amplification budget the builder applies). */
  write(writer: PacketWriter): number {
    const frame = this.frame;
    if (frame === undefined || frameSize(frame) > writer.room) return 0;
    const start = writer.offset;
    const end = encodeFrame(writer.buffer, start, frame);
    writer.commitFrame(end - start, controlSentFrame(frame), true);
    this.frame = undefined;
    return writer.full ? 1 : 1 + padForPathValidation(writer);
  }

  /** A lost PATH_CHALLENGE is reported; a PATH_RESPONSE is never sent again (RFC 9000 §8.2.2, §13.3). */
  onLost(frame: SentFrame): void {
    if (frame.kind === 'pathChallenge') this.challengeLost(frame.data);
  }
}
