/**
 * Test support for the outbound path: a fake {@link PacketWriter} that records what sources
 * commit, and helpers to decode what they wrote.
 */
import type { FrameSource, PacketWriter, SentFrame, SentPacket } from '../../src/packet/types.js';
import { decodeFrames } from '../../src/wire/frames/decode.js';
import type { Frame } from '../../src/wire/frames/types.js';
import { spaceOf, type EncryptionLevel } from '../../src/wire/levels.js';

/** One frame committed to a {@link FakePacketWriter}. */
export interface CommittedFrame {
  readonly length: number;
  readonly sent: SentFrame | null;
  readonly ackEliciting: boolean;
}

/**
 * A packet under construction with `room` bytes for frames: checks that sources never write
 * beyond the room and records each commit.
 */
export class FakePacketWriter implements PacketWriter {
  readonly level: EncryptionLevel;
  readonly buffer: Uint8Array;
  readonly start: number;
  offset: number;
  room: number;
  full = false;
  now: number;
  readonly maxFrames: number;
  readonly committed: CommittedFrame[] = [];

  constructor(level: EncryptionLevel, room: number, options: { now?: number; maxFrames?: number; start?: number } = {}) {
    this.level = level;
    this.start = options.start ?? 0;
    // Guard bytes after the room catch writes beyond it.
    this.buffer = new Uint8Array(this.start + room + 64).fill(0xee);
    this.offset = this.start;
    this.room = room;
    this.now = options.now ?? 0;
    this.maxFrames = options.maxFrames ?? Infinity;
  }

  commitFrame(length: number, sent: SentFrame | null, ackEliciting: boolean): boolean {
    if (this.full) throw new Error('commitFrame on a full packet');
    if (length <= 0 || length > this.room) throw new Error(`frame of ${length} bytes committed with ${this.room} bytes of room`);
    this.offset += length;
    this.room -= length;
    this.committed.push({ length, sent, ackEliciting });
    if (this.committed.length >= this.maxFrames) this.full = true;
    return this.full;
  }

  /** True when nothing was written beyond the room (guard bytes intact). */
  guardIntact(): boolean {
    for (let i = this.offset + this.room; i < this.buffer.length; i++) if (this.buffer[i] !== 0xee) return false;
    return true;
  }

  /** The frames written, decoded. */
  frames(): Frame[] {
    if (this.offset === this.start) return [];
    return decodeFrames(this.buffer.subarray(this.start, this.offset), this.level);
  }

  /** The SentPacket a builder would record for this packet. */
  packet(packetNumber: number, timeSent = this.now): SentPacket {
    const frames = this.committed.flatMap((c) => (c.sent === null ? [] : [c.sent]));
    const ackEliciting = this.committed.some((c) => c.ackEliciting);
    return {
      packetNumber,
      space: spaceOf(this.level),
      level: this.level,
      size: this.offset - this.start + 40,
      ackEliciting,
      inFlight: ackEliciting,
      timeSent,
      frames,
      isMtuProbe: false,
      keyPhase: 0,
    };
  }
}

/** Calls `source.write` on a fresh fake packet and returns the writer. */
export function writeOne(source: FrameSource, level: EncryptionLevel, room: number, options: { now?: number; maxFrames?: number } = {}): FakePacketWriter {
  const w = new FakePacketWriter(level, room, options);
  source.write(w);
  return w;
}

/** Delivers every frame of `packet` to `source` as acknowledged. */
export function ackPacket(source: FrameSource, packet: SentPacket): void {
  for (const f of packet.frames) source.onAcked?.(f, packet);
}

/** Delivers every frame of `packet` to `source` as lost. */
export function losePacket(source: FrameSource, packet: SentPacket): void {
  for (const f of packet.frames) source.onLost?.(f, packet);
}
