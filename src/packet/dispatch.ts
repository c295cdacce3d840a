/**
 * Routing acknowledgement and loss back to the frame sources (RFC 9000 §13.3; ARCHITECTURE.md
 * principle 4): each sent packet carries, beside its {@link SentFrame}s, the `FrameSource` that
 * committed each one (`SentPacket.sources`), so the connection hands recovery's verdicts straight
 * to their owners — the information is re-queued, never the bytes.
 *
 * @module
 */
import type { SentFrame, SentPacket } from './types.js';

/** Calls `onAcked` of the source of every frame of `packet`, in frame order (RFC 9000 §13.1). */
export function notifyAcked(packet: SentPacket): void {
  const sources = packet.sources;
  if (sources === undefined) return;
  const frames: readonly SentFrame[] = packet.frames;
  for (let i = 0; i < frames.length; i++) sources[i]?.onAcked?.(frames[i], packet);
}

/** Calls `onLost` of the source of every frame of `packet`, in frame order, so each re-queues what it sent (RFC 9000 §13.3). */
export function notifyLost(packet: SentPacket): void {
  const sources = packet.sources;
  if (sources === undefined) return;
  const frames: readonly SentFrame[] = packet.frames;
  for (let i = 0; i < frames.length; i++) sources[i]?.onLost?.(frames[i], packet);
}
