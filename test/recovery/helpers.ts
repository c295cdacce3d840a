// Shared builders for the recovery tests.
import type { SentFrame, SentPacket } from '../../src/packet/types.js';
import type { EncryptionLevel, PacketNumberSpace } from '../../src/wire/levels.js';
import type { AckInput, AckedRange, EcnCounts } from '../../src/recovery/index.js';

/** Options of {@link packet}. */
export interface PacketOptions {
  size?: number;
  ackEliciting?: boolean;
  inFlight?: boolean;
  level?: EncryptionLevel;
  isMtuProbe?: boolean;
  frames?: SentFrame[];
}

const defaultLevel: Record<PacketNumberSpace, EncryptionLevel> = {
  initial: 'initial',
  handshake: 'handshake',
  application: 'oneRtt',
};

/** A sent packet record; ack-eliciting and in flight, 1200 bytes, unless told otherwise. */
export function packet(space: PacketNumberSpace, packetNumber: number, timeSent: number, o: PacketOptions = {}): SentPacket {
  const ackEliciting = o.ackEliciting ?? true;
  return {
    packetNumber,
    space,
    level: o.level ?? defaultLevel[space],
    size: o.size ?? 1200,
    ackEliciting,
    inFlight: o.inFlight ?? ackEliciting,
    timeSent,
    frames: o.frames ?? (ackEliciting ? [{ kind: 'ping' }] : [{ kind: 'ack', largestAcknowledged: 0 }]),
    isMtuProbe: o.isMtuProbe ?? false,
    keyPhase: 0,
  };
}

/** Descending, disjoint ranges covering exactly the given packet numbers. */
export function rangesOf(pns: Iterable<number>): AckedRange[] {
  const sorted = [...new Set(pns)].sort((a, b) => b - a);
  const out: { smallest: number; largest: number }[] = [];
  for (const pn of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && last.smallest === pn + 1) last.smallest = pn;
    else out.push({ smallest: pn, largest: pn });
  }
  return out;
}

/** An ACK acknowledging exactly `pns`, with an ack delay in ms and optional ECN counts. */
export function ackOf(pns: Iterable<number>, ackDelay = 0, ecn?: EcnCounts): AckInput {
  return ecn === undefined ? { ranges: rangesOf(pns), ackDelay } : { ranges: rangesOf(pns), ackDelay, ecn };
}

/** Packet numbers of a list of packets. */
export function pns(packets: readonly SentPacket[]): number[] {
  return packets.map((p) => p.packetNumber);
}

/** Integers from `a` to `b` inclusive. */
export function span(a: number, b: number): number[] {
  const out: number[] = [];
  for (let i = a; i <= b; i++) out.push(i);
  return out;
}
