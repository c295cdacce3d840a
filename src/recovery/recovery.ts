/**
 * The recovery facade a connection drives: loss detection, RTT, congestion control and pacing
 * of one path (RFC 9002), sans-IO.
 *
 * The connection reports every packet it sends ({@link Recovery.onPacketSent}) and every ACK
 * frame it receives ({@link Recovery.onAckReceived}); it watches {@link Recovery.timeout} and calls
 * {@link Recovery.onTimeout} when the deadline passes. The results name the packets newly
 * acknowledged and lost, so the connection can call `onAcked` / `onLost` on the owners of their
 * frames, and the probes a PTO asks for. The packet builder reads the congestion and pacing
 * allowances through {@link recoverySendLimits}.
 *
 * @module
 */
import type { SendLimits, SentPacket } from '../packet/types.js';
import type { PacketNumberSpace } from '../wire/levels.js';
import { MIN_MAX_DATAGRAM_SIZE } from './constants.js';
import { NewReno, type CongestionController } from './congestion.js';
import { LossDetection, type AckInput, type LossDetectionConfig, type ProbeRequest } from './loss-detection.js';
import { Pacer, type PacerOptions } from './pacer.js';

/** Configuration of a {@link Recovery}. */
export interface RecoveryConfig extends LossDetectionConfig {
  /** max_datagram_size in bytes, at least 1200 (RFC 9002 Appendix B.2); defaults to 1200. */
  readonly maxDatagramSize?: number;
  /** Creates the congestion controller for a max_datagram_size; defaults to {@link NewReno}. Called again on a Retry. */
  readonly congestionController?: (maxDatagramSize: number) => CongestionController;
  /** Pace in-flight packets (RFC 9002 §7.7); defaults to true. When false, the pacing allowance is `Infinity`. */
  readonly pacing?: boolean;
  /** Pacer options (gain, burst size). */
  readonly pacer?: PacerOptions;
}

/** The outcome of {@link Recovery.onAckReceived}. */
export interface AckOutcome {
  /** Newly acknowledged packets, ascending: call `onAcked` for their frames. */
  readonly acked: readonly SentPacket[];
  /** Packets newly declared lost, ascending: call `onLost` for their frames (RFC 9000 §13.3). */
  readonly lost: readonly SentPacket[];
  /** True when the ACK produced an RTT sample (RFC 9002 §5.1). */
  readonly rttSampled: boolean;
  /** True when persistent congestion was established (RFC 9002 §7.6). */
  readonly persistentCongestion: boolean;
  /** True when the ACK started a congestion recovery period (loss or ECN-CE, RFC 9002 §7.3.2). */
  readonly congestionEvent: boolean;
}

/** The outcome of {@link Recovery.onTimeout}. */
export interface TimeoutOutcome {
  /** Packets declared lost by time threshold, ascending: call `onLost` for their frames. */
  readonly lost: readonly SentPacket[];
  /** True when persistent congestion was established (RFC 9002 §7.6). */
  readonly persistentCongestion: boolean;
  /** True when the losses started a congestion recovery period. */
  readonly congestionEvent: boolean;
  /** When a PTO expired: the probes to send now (RFC 9002 §6.2.4). */
  readonly probe: ProbeRequest | undefined;
}

/** Counters and estimates of a {@link Recovery}, for qlog and metrics. */
export interface RecoveryStats {
  /** smoothed_rtt in milliseconds (RFC 9002 §5.3). */
  readonly smoothedRtt: number;
  /** rttvar in milliseconds (RFC 9002 §5.3). */
  readonly rttvar: number;
  /** min_rtt in milliseconds, 0 before the first sample (RFC 9002 §5.2). */
  readonly minRtt: number;
  /** latest_rtt in milliseconds, 0 before the first sample (RFC 9002 §5.1). */
  readonly latestRtt: number;
  /** congestion_window in bytes. */
  readonly congestionWindow: number;
  /** ssthresh in bytes (`Infinity` until the first congestion event). */
  readonly slowStartThreshold: number;
  /** bytes_in_flight. */
  readonly bytesInFlight: number;
  /** pto_count. */
  readonly ptoCount: number;
  /** Packets recorded as sent. */
  readonly packetsSent: number;
  /** Bytes of packets recorded as sent. */
  readonly bytesSent: number;
  /** Packets newly acknowledged. */
  readonly packetsAcked: number;
  /** Packets declared lost. */
  readonly packetsLost: number;
  /** Bytes of packets declared lost. */
  readonly bytesLost: number;
  /** Packets removed by discarding a space, 0-RTT rejection or Retry (neither acknowledged nor lost). */
  readonly packetsDiscarded: number;
  /** PTO expiries. */
  readonly ptoExpirations: number;
  /** Congestion events that started a recovery period. */
  readonly congestionEvents: number;
  /** Times persistent congestion was established. */
  readonly persistentCongestionEvents: number;
}

/**
 * Loss detection, congestion control and pacing for one connection path (RFC 9002).
 *
 * Sans-IO: nothing here reads a clock or sets a timer; `now` is always a parameter, in
 * milliseconds.
 */
export class Recovery {
  /** The loss detection state (RTT estimator included). */
  readonly lossDetection: LossDetection;
  private cc: CongestionController;
  private readonly makeController: (maxDatagramSize: number) => CongestionController;
  private readonly pacer: Pacer | undefined;
  private applicationLimited = false;
  /** Ack-eliciting packets that may be sent regardless of the congestion window (PTO probes, RFC 9002 §7.5; one on entering recovery, Appendix B.6). */
  private bypassPackets = 0;
  private packetsSent = 0;
  private bytesSent = 0;
  private packetsAcked = 0;
  private packetsLost = 0;
  private bytesLost = 0;
  private packetsDiscarded = 0;
  private ptoExpirations = 0;
  private persistentCongestionEvents = 0;
  private congestionEventsBeforeReset = 0;
  /** Application packets numbered below this were sent on a previous path (RFC 9000 §9.4); 0: none. */
  private previousPathBelow = 0;
  /** Application packets sent to a peer address other than the current one (path probes), while tracked. */
  private offPathPns: Set<number> | undefined;
  /** Bytes in flight of packets not sent on the current path: they do not count against its congestion window (RFC 9000 §9.4). */
  private foreignInFlight = 0;

  /** Creates recovery state for a new connection (RFC 9002 Appendix A.4, B.3). */
  constructor(config: RecoveryConfig) {
    this.lossDetection = new LossDetection(config);
    const mds = config.maxDatagramSize ?? MIN_MAX_DATAGRAM_SIZE;
    this.makeController = config.congestionController ?? ((maxDatagramSize) => new NewReno({ maxDatagramSize }));
    this.cc = this.makeController(mds);
    if (config.pacing ?? true) {
      const rtt = this.lossDetection.rtt;
      const self = this;
      this.pacer = new Pacer(
        {
          get congestionWindow() {
            return self.cc.congestionWindow;
          },
          get smoothedRtt() {
            return rtt.smoothedRtt;
          },
          get maxDatagramSize() {
            return self.cc.maxDatagramSize;
          },
        },
        config.pacer,
      );
    }
    // RFC 9000 §9.4: packets sent on another path give no RTT sample for this one.
    this.lossDetection.skipRttSample = (p) => this.isForeign(p);
  }

  /** The congestion controller in use. */
  get congestionController(): CongestionController {
    return this.cc;
  }

  /** congestion_window in bytes. */
  get congestionWindow(): number {
    return this.cc.congestionWindow;
  }

  /** bytes_in_flight: sizes of in-flight packets neither acknowledged, lost nor discarded. */
  get bytesInFlight(): number {
    return this.lossDetection.bytesInFlight;
  }

  /** Bytes in flight that count against the current path's congestion window: those sent on it (RFC 9000 §9.4). */
  get pathBytesInFlight(): number {
    return this.lossDetection.bytesInFlight - this.foreignInFlight;
  }

  /** max_datagram_size in bytes. */
  get maxDatagramSize(): number {
    return this.cc.maxDatagramSize;
  }

  /** pto_count. */
  get ptoCount(): number {
    return this.lossDetection.ptoCount;
  }

  /** The loss detection timer deadline in milliseconds (loss time or PTO), undefined when not armed. */
  timeout(): number | undefined {
    return this.lossDetection.timeout();
  }

  /** largest_acked_packet of `space` (for packet number encoding, RFC 9000 §17.1), undefined before an ACK. */
  largestAcked(space: PacketNumberSpace): number | undefined {
    return this.lossDetection.largestAcked(space);
  }

  /**
   * Records a sent packet (RFC 9002 Appendix A.5, B.4); its `timeSent` is now. Report every
   * packet, ACK-only ones included, in packet number order per space; packet numbers jumped over
   * count as never sent, and an ACK for one of them is refused (RFC 9000 §21.4).
   */
  onPacketSent(packet: SentPacket, offPath = false): void {
    this.lossDetection.onPacketSent(packet);
    this.packetsSent++;
    this.bytesSent += packet.size;
    if (offPath) {
      // RFC 9000 §9.4: a probe on another path (PATH_CHALLENGE, PATH_RESPONSE) is tracked for loss
      // detection only; it does not count against, nor signal to, the current path's controller.
      (this.offPathPns ??= new Set()).add(packet.packetNumber);
      if (packet.inFlight) this.foreignInFlight += packet.size;
      return;
    }
    if (packet.inFlight) {
      this.cc.onPacketSent(packet, this.lossDetection.bytesInFlight - this.foreignInFlight, packet.timeSent);
      this.pacer?.onSent(packet.size, packet.timeSent);
    }
    if (packet.ackEliciting && this.bypassPackets > 0) this.bypassPackets--;
  }

  /**
   * Processes an ACK frame received in `space` at `now` (RFC 9002 Appendix A.7): RTT sample, ECN,
   * loss detection, then congestion control (ECN-CE, losses, acknowledgements, in that order).
   *
   * @throws QuicError(PROTOCOL_VIOLATION) for an acknowledgement of a packet number never sent
   * (RFC 9000 §13.1, §21.4); QuicError(FRAME_ENCODING_ERROR) for malformed ranges.
   */
  onAckReceived(space: PacketNumberSpace, ack: AckInput, now: number): AckOutcome {
    const r = this.lossDetection.onAckReceived(space, ack, now);
    if (r.acked.length === 0) {
      return { acked: r.acked, lost: r.lost, rttSampled: false, persistentCongestion: false, congestionEvent: false };
    }
    let congestionEvent = false;
    if (r.ecnCongestionSentTime !== undefined) congestionEvent = this.cc.onEcnCongestion(r.ecnCongestionSentTime, now);
    if (r.lost.length > 0) congestionEvent = this.applyLosses(r.lost, r.persistentCongestion, now) || congestionEvent;
    this.packetsAcked += r.acked.length;
    const rtt = this.lossDetection.rtt;
    // RFC 9000 §9.4: acknowledgements of packets sent on another path do not grow this path's window.
    this.cc.onPacketsAcked(this.tracksForeign() ? this.withoutForeign(r.acked) : r.acked, {
      now,
      applicationLimited: this.applicationLimited,
      smoothedRtt: rtt.smoothedRtt,
      minRtt: rtt.minRtt,
      latestRtt: rtt.latestRtt,
    });
    // Probes exist to elicit an acknowledgement; one arrived.
    this.bypassPackets = congestionEvent ? 1 : 0;
    return { acked: r.acked, lost: r.lost, rttSampled: r.rttSampled, persistentCongestion: r.persistentCongestion, congestionEvent };
  }

  /**
   * Handles the loss detection timer at `now` (RFC 9002 Appendix A.9); does nothing before the
   * deadline. Returns time-threshold losses, or the probes a PTO asks for, which may be sent
   * beyond the congestion window (RFC 9002 §7.5).
   */
  onTimeout(now: number): TimeoutOutcome {
    const r = this.lossDetection.onTimeout(now);
    let congestionEvent = false;
    if (r.lost.length > 0) congestionEvent = this.applyLosses(r.lost, r.persistentCongestion, now);
    if (congestionEvent) this.bypassPackets = Math.max(this.bypassPackets, 1);
    if (r.probe !== undefined) {
      this.ptoExpirations++;
      this.bypassPackets = Math.max(this.bypassPackets, r.probe.count);
    }
    return { lost: r.lost, persistentCongestion: r.persistentCongestion, congestionEvent, probe: r.probe };
  }

  /**
   * Discards the Initial or Handshake space when its keys are discarded (RFC 9002 §6.4,
   * Appendix A.11, B.9): its packets leave bytes in flight, are not declared lost, and are
   * returned; pto_count is reset.
   */
  discardSpace(space: 'initial' | 'handshake', now: number): SentPacket[] {
    const discarded = this.lossDetection.discardSpace(space, now);
    this.packetsDiscarded += discarded.length;
    return discarded;
  }

  /** 0-RTT was rejected: its packets leave bytes in flight without being lost and are returned (RFC 9002 §6.4). */
  discardZeroRtt(now: number): SentPacket[] {
    const discarded = this.lossDetection.discardZeroRtt(now);
    this.packetsDiscarded += discarded.length;
    return discarded;
  }

  /**
   * A client processed a Retry (RFC 9002 §6.3): congestion control, pacing and loss recovery
   * restart; every tracked packet is removed and returned (their CRYPTO data goes in the new
   * Initial). Statistics keep counting.
   */
  onRetry(now: number): SentPacket[] {
    const removed = this.lossDetection.onRetry(now);
    this.packetsDiscarded += removed.length;
    this.congestionEventsBeforeReset += this.cc.congestionEvents;
    this.cc = this.makeController(this.cc.maxDatagramSize);
    this.pacer?.reset();
    this.bypassPackets = 0;
    return removed;
  }

  /**
   * The peer moved to a new address (not only a new port) and its ownership is confirmed
   * (RFC 9000 §9.4): the congestion controller, the pacer and the RTT estimator return to their
   * initial values (RFC 9002 Appendix A.3, B.3). Packets in flight stay tracked for loss
   * detection (one loss recovery context, RFC 9000 §9.4), but application packets numbered below
   * `previousPathBelow` — sent on the old path — no longer count against the window, and their
   * acknowledgement or loss neither grows nor shrinks it and gives no RTT sample. Statistics keep counting.
   */
  onPathChange(previousPathBelow = 0): void {
    this.congestionEventsBeforeReset += this.cc.congestionEvents;
    this.cc = this.makeController(this.cc.maxDatagramSize);
    this.pacer?.reset();
    this.bypassPackets = 0;
    this.lossDetection.rtt.reset();
    // RFC 9000 §9.4: packets sent on the old path (application packets numbered below
    // `previousPathBelow`) leave the new controller's bytes in flight; their acknowledgement or
    // loss is no signal for it.
    if (previousPathBelow > this.previousPathBelow) this.previousPathBelow = previousPathBelow;
    let foreign = 0;
    for (const p of this.lossDetection.sentPackets('application')) if (p.inFlight && this.isForeign(p)) foreign += p.size;
    this.foreignInFlight = foreign;
  }

  /** The handshake is confirmed (RFC 9001 §4.1.2): ack delays are capped by max_ack_delay and the Application Data PTO arms. */
  setHandshakeConfirmed(now: number): void {
    this.lossDetection.setHandshakeConfirmed(now);
  }

  /** Handshake keys are available (client anti-deadlock probes become Handshake packets, RFC 9002 §6.2.2.1). */
  setHandshakeKeysAvailable(now: number): void {
    this.lossDetection.setHandshakeKeysAvailable(now);
  }

  /** The peer's max_ack_delay transport parameter in milliseconds (RFC 9000 §18.2); used from the next timer update. */
  setPeerMaxAckDelay(ms: number): void {
    this.lossDetection.setPeerMaxAckDelay(ms);
  }

  /**
   * A server's anti-amplification state (RFC 9000 §8.1): no PTO is armed while limited (RFC 9002
   * §6.2.2.1). After unblocking, if {@link timeout} is not after `now`, call {@link onTimeout} now.
   */
  setAmplificationLimited(limited: boolean, now: number): void {
    this.lossDetection.setAmplificationLimited(limited, now);
  }

  /**
   * Whether the sender is application or flow-control limited, i.e. did not fill the congestion
   * window for lack of data; the window does not grow while it is (RFC 9002 §7.8). A sender held
   * back only by pacing is not application limited.
   */
  setApplicationLimited(limited: boolean): void {
    this.applicationLimited = limited;
  }

  /** The path's maximum datagram size changed (PMTU, RFC 9002 §7.2): the windows follow. */
  setMaxDatagramSize(size: number): void {
    this.cc.setMaxDatagramSize(size);
  }

  /**
   * Bytes the congestion window still allows: congestion_window − bytes_in_flight, floored at 0
   * (RFC 9002 §7). While PTO probes (RFC 9002 §7.5) or the one packet allowed on entering
   * recovery (Appendix B.6) are owed, at least that many max-size datagrams.
   */
  congestionAllowance(): number {
    const room = Math.max(0, Math.floor(this.cc.congestionWindow - (this.lossDetection.bytesInFlight - this.foreignInFlight)));
    return this.bypassPackets > 0 ? Math.max(room, this.bypassPackets * this.cc.maxDatagramSize) : room;
  }

  /** Bytes the pacer allows at `now` (RFC 9002 §7.7); `Infinity` with pacing off or while probes are owed. */
  pacingAllowance(now: number): number {
    if (this.pacer === undefined || this.bypassPackets > 0) return Number.POSITIVE_INFINITY;
    return this.pacer.allowance(now);
  }

  /** The earliest time at or after `now` the pacer lets a full-sized datagram go (`now` with pacing off). */
  nextSendTime(now: number): number {
    if (this.pacer === undefined || this.bypassPackets > 0) return now;
    return this.pacer.nextSendTime(now);
  }

  /** A snapshot of the statistics. */
  stats(): RecoveryStats {
    const rtt = this.lossDetection.rtt;
    return {
      smoothedRtt: rtt.smoothedRtt,
      rttvar: rtt.rttvar,
      minRtt: rtt.minRtt,
      latestRtt: rtt.latestRtt,
      congestionWindow: this.cc.congestionWindow,
      slowStartThreshold: this.cc.slowStartThreshold,
      bytesInFlight: this.lossDetection.bytesInFlight,
      ptoCount: this.lossDetection.ptoCount,
      packetsSent: this.packetsSent,
      bytesSent: this.bytesSent,
      packetsAcked: this.packetsAcked,
      packetsLost: this.packetsLost,
      bytesLost: this.bytesLost,
      packetsDiscarded: this.packetsDiscarded,
      ptoExpirations: this.ptoExpirations,
      congestionEvents: this.congestionEventsBeforeReset + this.cc.congestionEvents,
      persistentCongestionEvents: this.persistentCongestionEvents,
    };
  }

  /** Counts losses and hands those that signal congestion to the controller; true when a recovery period started. */
  private applyLosses(lost: readonly SentPacket[], persistentCongestion: boolean, now: number): boolean {
    this.packetsLost += lost.length;
    for (const p of lost) this.bytesLost += p.size;
    let signal = lost;
    if (this.tracksForeign()) {
      // RFC 9000 §9.4: the loss of a packet sent on another path says nothing about this one.
      signal = this.withoutForeign(lost);
      if (persistentCongestion && !signal.some((p) => p.ackEliciting)) persistentCongestion = false;
    }
    if (persistentCongestion) this.persistentCongestionEvents++;
    // RFC 9000 §14.4: the loss of a PMTU probe is not a congestion signal.
    if (signal.some((p) => p.isMtuProbe)) signal = signal.filter((p) => !p.isMtuProbe);
    if (signal.length === 0 && !persistentCongestion) return false;
    return this.cc.onPacketsLost(signal, persistentCongestion, now);
  }

  /** A packet sent on a path other than the current one: before the last path change, or an off-path probe. */
  private isForeign(p: SentPacket): boolean {
    return p.space === 'application' && (p.packetNumber < this.previousPathBelow || (this.offPathPns !== undefined && this.offPathPns.has(p.packetNumber)));
  }

  /** True while packets sent on another path may still be acknowledged or lost with an effect on the controller. */
  private tracksForeign(): boolean {
    return this.foreignInFlight > 0 || (this.offPathPns !== undefined && this.offPathPns.size > 0);
  }

  /** `packets` without those sent on another path, which leave the foreign bookkeeping (they are acknowledged or lost). */
  private withoutForeign(packets: readonly SentPacket[]): readonly SentPacket[] {
    const out: SentPacket[] = [];
    for (let i = 0; i < packets.length; i++) {
      const p = packets[i];
      if (!this.isForeign(p)) {
        out.push(p);
        continue;
      }
      if (p.inFlight) this.foreignInFlight = Math.max(0, this.foreignInFlight - p.size);
      this.offPathPns?.delete(p.packetNumber);
    }
    return out;
  }
}

/**
 * The congestion and pacing part of the builder's {@link SendLimits}, read live from `recovery`.
 * The connection adds `maxDatagramSize` and `amplificationBudget`.
 */
export function recoverySendLimits(recovery: Recovery): Pick<SendLimits, 'congestionAllowance' | 'pacingAllowance'> {
  return {
    congestionAllowance: () => recovery.congestionAllowance(),
    pacingAllowance: (now: number) => recovery.pacingAllowance(now),
  };
}
