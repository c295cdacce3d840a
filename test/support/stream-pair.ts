/**
 * Test support for the stream manager: an endpoint holding a {@link StreamManager} with its real
 * frame sources (control, flow control, STREAM — in the connection's flush order) that builds
 * "packets" with the {@link FakePacketWriter}, and a pair of such endpoints wired back to back: the
 * frames of every packet are encoded by the sources, decoded, and handed to the peer's manager;
 * the test then plays loss recovery's verdicts (acknowledged / lost) through each packet's sources,
 * exactly as `src/packet/dispatch.ts` does for real packets.
 */
import { notifyAcked, notifyLost } from '../../src/packet/dispatch.js';
import type { FrameSource, SentFrame, SentPacket } from '../../src/packet/types.js';
import type { ConnectionEvent } from '../../src/transport/connection-types.js';
import { ControlQueue } from '../../src/transport/control-queue.js';
import { ControlSource } from '../../src/transport/sources/control-source.js';
import { StreamManager, type StreamManagerOptions, type StreamSettings } from '../../src/transport/streams.js';
import type { Frame } from '../../src/wire/frames/types.js';
import { defaultTransportParameters, type TransportParameters } from '../../src/wire/transport-parameters.js';
import { FakePacketWriter } from './outbound-harness.js';

/** Stream settings: every limit generous unless overridden. */
export function streamSettings(o: Partial<StreamSettings> = {}): StreamSettings {
  return {
    initialMaxData: 1 << 24,
    initialMaxStreamDataBidiLocal: 1 << 22,
    initialMaxStreamDataBidiRemote: 1 << 22,
    initialMaxStreamDataUni: 1 << 22,
    maxConnectionWindow: 1 << 24,
    maxStreamWindow: 1 << 22,
    maxStreamsBidi: 100,
    maxStreamsUni: 100,
    streamSendBufferSize: 1 << 20,
    ...o,
  };
}

/** The transport parameters an endpoint with `settings` announces (the stream-related fields). */
export function transportParametersOf(settings: StreamSettings): TransportParameters {
  return defaultTransportParameters({
    initialMaxData: settings.initialMaxData,
    initialMaxStreamDataBidiLocal: settings.initialMaxStreamDataBidiLocal,
    initialMaxStreamDataBidiRemote: settings.initialMaxStreamDataBidiRemote,
    initialMaxStreamDataUni: settings.initialMaxStreamDataUni,
    initialMaxStreamsBidi: settings.maxStreamsBidi,
    initialMaxStreamsUni: settings.maxStreamsUni,
  });
}

/** A fake packet that also records which source committed each tracked frame (like the real builder's `SentPacket.sources`). */
class SourceRecordingWriter extends FakePacketWriter {
  current: FrameSource | null = null;
  readonly owners: (FrameSource | null)[] = [];

  override commitFrame(length: number, sent: SentFrame | null, ackEliciting: boolean): boolean {
    const full = super.commitFrame(length, sent, ackEliciting);
    if (sent !== null) this.owners.push(this.current);
    return full;
  }
}

/** A packet an endpoint built: what loss recovery would record, and the frames as the peer decodes them. */
export interface WirePacket {
  /** The sent-packet record, with the source of each frame. */
  readonly sent: SentPacket;
  /** The frames, decoded from the bytes the sources wrote. */
  readonly frames: Frame[];
}

/** Hands one decoded frame to a stream manager, as the connection does. */
export function deliverFrame(sm: StreamManager, f: Frame, now = 0): void {
  switch (f.kind) {
    case 'stream':
      return sm.onStreamFrame(f, now);
    case 'resetStream':
      return sm.onResetStream(f, now);
    case 'stopSending':
      return sm.onStopSending(f, now);
    case 'maxData':
      return sm.onMaxData(f);
    case 'maxStreamData':
      return sm.onMaxStreamData(f);
    case 'maxStreams':
      return sm.onMaxStreams(f);
    case 'dataBlocked':
      return sm.onDataBlocked(f);
    case 'streamDataBlocked':
      return sm.onStreamDataBlocked(f);
    case 'streamsBlocked':
      return sm.onStreamsBlocked(f);
    default:
      throw new Error(`unexpected ${f.kind} frame from a stream endpoint`);
  }
}

/** One endpoint: a stream manager, the connection's control queue, and their sources in flush order. */
export class StreamEndpoint {
  readonly control = new ControlQueue();
  readonly controlSource = new ControlSource(this.control);
  readonly sm: StreamManager;
  readonly settings: StreamSettings;
  /** Every event emitted, in order. */
  readonly events: ConnectionEvent[] = [];
  private cursor = 0;
  private packetNumber = 0;

  constructor(role: 'client' | 'server', settings: StreamSettings = streamSettings(), extra: Partial<StreamManagerOptions> = {}) {
    this.settings = settings;
    this.sm = new StreamManager({ role, settings, controlQueue: this.control, emit: (e) => this.events.push(e), now: 0, ...extra });
  }

  /** The sources in the connection's flush order: control → flow control → STREAM. */
  get sources(): FrameSource[] {
    return [this.controlSource, this.sm.sources.flowControl, this.sm.sources.stream];
  }

  /**
   * Builds packets of `room` bytes of frames until no source has anything to send (or
   * `maxPackets`). Like the real outbound path, a signal raised while a packet is built (a stream
   * parked for credit queues STREAM_DATA_BLOCKED) is served by the next packet.
   */
  flush(room = 1200, maxPackets = 100_000): WirePacket[] {
    const out: WirePacket[] = [];
    let empty = 0;
    while (out.length < maxPackets) {
      const w = new SourceRecordingWriter('oneRtt', room);
      for (const source of this.sources) {
        if (w.full || w.room === 0) break;
        if (!source.hasPending('oneRtt')) continue;
        w.current = source;
        source.write(w);
      }
      if (!w.guardIntact()) throw new Error('a source wrote beyond the room');
      if (w.committed.length === 0) {
        if (++empty > 2 || !this.sources.some((s) => s.hasPending('oneRtt'))) break;
        continue;
      }
      empty = 0;
      out.push({ sent: { ...w.packet(this.packetNumber++), sources: w.owners }, frames: w.frames() });
    }
    return out;
  }

  /** Events emitted since the last call. */
  takeEvents(): ConnectionEvent[] {
    const e = this.events.slice(this.cursor);
    this.cursor = this.events.length;
    return e;
  }
}

/**
 * Two endpoints back to back (a client and a server) that already exchanged transport parameters.
 * {@link exchange} runs one round trip's worth of sending: both flush, each packet is delivered to
 * the peer or dropped, then delivered packets are acknowledged and dropped ones declared lost.
 */
export class StreamPair {
  readonly client: StreamEndpoint;
  readonly server: StreamEndpoint;

  constructor(options: { client?: StreamSettings; server?: StreamSettings; clientExtra?: Partial<StreamManagerOptions>; serverExtra?: Partial<StreamManagerOptions> } = {}) {
    this.client = new StreamEndpoint('client', options.client ?? streamSettings(), options.clientExtra);
    this.server = new StreamEndpoint('server', options.server ?? streamSettings(), options.serverExtra);
    this.client.sm.setPeerTransportParameters(transportParametersOf(this.server.settings));
    this.server.sm.setPeerTransportParameters(transportParametersOf(this.client.settings));
  }

  /** The other endpoint. */
  peerOf(e: StreamEndpoint): StreamEndpoint {
    return e === this.client ? this.server : this.client;
  }

  /** Delivers `packet` (built by `from`) to the other endpoint. */
  deliver(from: StreamEndpoint, packet: WirePacket, now = 0): void {
    const to = this.peerOf(from);
    for (const f of packet.frames) deliverFrame(to.sm, f, now);
  }

  /**
   * One round: both endpoints flush (packets of `room` bytes); each packet is dropped when `drop`
   * says so, else delivered; then delivered packets are acknowledged and dropped ones declared lost
   * (through their sources). Returns the number of packets sent.
   */
  exchange(drop: (from: StreamEndpoint, packet: WirePacket) => boolean = () => false, room = 1200, now = 0): number {
    const sent: [StreamEndpoint, WirePacket[]][] = [
      [this.client, this.client.flush(room)],
      [this.server, this.server.flush(room)],
    ];
    const acked: SentPacket[] = [];
    const lost: SentPacket[] = [];
    for (const [from, packets] of sent) {
      for (const p of packets) {
        if (drop(from, p)) lost.push(p.sent);
        else {
          this.deliver(from, p, now);
          acked.push(p.sent);
        }
      }
    }
    for (const p of acked) notifyAcked(p);
    for (const p of lost) notifyLost(p);
    return sent[0][1].length + sent[1][1].length;
  }
}
