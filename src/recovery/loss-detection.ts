/**
 * Loss detection (RFC 9002 §5–§6, Appendix A): sent packets per packet number space, ACK
 * processing, RTT samples, packet- and time-threshold loss, the loss detection timer, probe
 * timeouts, persistent congestion detection and discarding of packet number spaces.
 *
 * Sans-IO: the single loss detection timer is a deadline ({@link LossDetection.timeout}) that
 * the caller watches; when it passes, the caller calls {@link LossDetection.onTimeout}. Every
 * input that can move the deadline takes `now`. Congestion control is not done here: the
 * results say which packets were acknowledged and lost, and the {@link Recovery} facade feeds
 * them to a congestion controller.
 *
 * @module
 */
import type { SentPacket } from '../packet/types.js';
import type { PacketNumberSpace } from '../wire/levels.js';
import { QuicError, TransportErrorCode } from '../wire/errors.js';
import {
  DEFAULT_MAX_ACK_DELAY,
  K_PACKET_THRESHOLD,
  K_TIME_THRESHOLD,
  MAX_PTO_BACKOFF_EXPONENT,
} from './constants.js';
import { RttEstimator } from './rtt.js';
import { SentPacketTable, type AckedRange } from './sent-packets.js';

/** The three ECN counts of an ACK frame (RFC 9000 §19.3.2); structurally the wire's `AckEcnCounts`. */
export interface EcnCounts {
  /** Packets received with ECT(0). */
  readonly ect0: number;
  /** Packets received with ECT(1). */
  readonly ect1: number;
  /** Packets received with ECN-CE. */
  readonly ce: number;
}

/** The part of a received ACK frame loss detection needs (RFC 9000 §19.3). */
export interface AckInput {
  /** Acknowledged ranges, descending and disjoint, never empty: `ranges[0].largest` is the Largest Acknowledged. */
  readonly ranges: readonly AckedRange[];
  /** ACK Delay already multiplied by 2^ack_delay_exponent and converted to milliseconds. */
  readonly ackDelay: number;
  /** ECN counts, when the frame was an ACK_ECN (type 0x03). */
  readonly ecn?: EcnCounts;
}

/** Configuration of {@link LossDetection}. */
export interface LossDetectionConfig {
  /** True for the server endpoint (RFC 9002 Appendix A.8 `PeerCompletedAddressValidation`). */
  readonly isServer: boolean;
  /** kInitialRtt in milliseconds; defaults to 333 (RFC 9002 §6.2.2). */
  readonly initialRtt?: number;
  /** The peer's max_ack_delay in milliseconds until {@link LossDetection.setPeerMaxAckDelay}; defaults to 25 (RFC 9000 §18.2). */
  readonly peerMaxAckDelay?: number;
  /** kPacketThreshold; defaults to 3 and must not be below 3 (RFC 9002 §6.1.1). */
  readonly packetThreshold?: number;
  /** kTimeThreshold; defaults to 9/8 (RFC 9002 §6.1.2). */
  readonly timeThreshold?: number;
  /** Ack-eliciting packets to send on a PTO expiry, 1 or 2 (RFC 9002 §6.2.4); defaults to 2. */
  readonly ptoProbes?: 1 | 2;
}

/** What the connection must send after a PTO expiry (RFC 9002 §6.2.4). */
export interface ProbeRequest {
  /** The packet number space the probes must be sent in. */
  readonly space: PacketNumberSpace;
  /** How many ack-eliciting packets to send (PING if there is nothing else), bypassing the congestion window (RFC 9002 §7.5). */
  readonly count: number;
  /**
   * A client anti-deadlock probe (RFC 9002 §6.2.2.1): nothing was in flight; send a Handshake
   * packet, or an Initial packet in a datagram of at least 1200 bytes when `space` is `initial`.
   */
  readonly antiDeadlock: boolean;
  /** Other spaces with ack-eliciting packets in flight, which SHOULD also get an ack-eliciting packet, coalesced if possible (RFC 9002 §6.2.4). */
  readonly alsoSpaces: readonly PacketNumberSpace[];
}

/** The outcome of processing one ACK frame. */
export interface LossDetectionAckResult {
  /** Newly acknowledged packets, ascending by packet number. */
  readonly acked: readonly SentPacket[];
  /** Packets newly declared lost, ascending by packet number. */
  readonly lost: readonly SentPacket[];
  /** True when the ACK produced an RTT sample (RFC 9002 §5.1). */
  readonly rttSampled: boolean;
  /** True when the losses establish persistent congestion (RFC 9002 §7.6.2). */
  readonly persistentCongestion: boolean;
  /** When the peer's ECN-CE count increased: the send time of the largest newly acknowledged packet (RFC 9002 Appendix B.7). */
  readonly ecnCongestionSentTime: number | undefined;
}

/** The outcome of a loss detection timer expiry. */
export interface LossDetectionTimeoutResult {
  /** Packets declared lost by time threshold, ascending (RFC 9002 §6.1.2). */
  readonly lost: readonly SentPacket[];
  /** True when the losses establish persistent congestion (RFC 9002 §7.6.2). */
  readonly persistentCongestion: boolean;
  /** Probes to send when the expiry was a PTO (RFC 9002 §6.2.4). */
  readonly probe: ProbeRequest | undefined;
}

/** Loss detection state of one packet number space (RFC 9002 Appendix A.3). */
interface SpaceState {
  readonly table: SentPacketTable;
  /** largest_acked_packet[space]. */
  largestAcked: number | undefined;
  /** loss_time[space]. */
  lossTime: number | undefined;
  /** time_of_last_ack_eliciting_packet[space]. */
  timeOfLastAckEliciting: number | undefined;
  /** ecn_ce_counters[space] (RFC 9002 Appendix B.2). */
  ecnCe: number;
  /** Keys discarded (RFC 9002 §6.4): nothing more is sent or acknowledged in this space. */
  discarded: boolean;
  /** The run of consecutive lost packets (no acknowledged packet in between) persistent congestion is measured on. */
  pcRunLastPn: number | undefined;
  /** Send time of the first eligible packet of the current run. */
  pcRunStart: number | undefined;
}

const SPACES: readonly PacketNumberSpace[] = ['initial', 'handshake', 'application'];

const NONE: readonly SentPacket[] = Object.freeze([]);

const NO_ACK: LossDetectionAckResult = Object.freeze({
  acked: NONE,
  lost: NONE,
  rttSampled: false,
  persistentCongestion: false,
  ecnCongestionSentTime: undefined,
});

const NO_TIMEOUT: LossDetectionTimeoutResult = Object.freeze({ lost: NONE, persistentCongestion: false, probe: undefined });

/**
 * Loss detection across the three packet number spaces of one connection path
 * (RFC 9002 §6, Appendix A).
 */
export class LossDetection {
  /** The RTT estimator (RFC 9002 §5). */
  readonly rtt: RttEstimator;
  /** True for a server. */
  readonly isServer: boolean;
  private readonly packetThreshold: number;
  private readonly timeThreshold: number;
  private readonly ptoProbes: 1 | 2;
  private readonly spaces: Record<PacketNumberSpace, SpaceState>;
  private _maxAckDelay: number;
  private _ptoCount = 0;
  private _timer: number | undefined;
  private handshakeConfirmed = false;
  private handshakeKeys = false;
  private handshakeAckReceived = false;
  private amplificationLimited = false;
  /**
   * When set and true for the largest newly acknowledged packet, its acknowledgement gives no RTT
   * sample: a packet sent on a previous path says nothing about the current one (RFC 9000 §9.4).
   */
  skipRttSample: ((packet: SentPacket) => boolean) | undefined = undefined;

  /** Creates loss detection state (RFC 9002 Appendix A.4). */
  constructor(config: LossDetectionConfig) {
    this.isServer = config.isServer;
    this.rtt = new RttEstimator(config.initialRtt);
    this.packetThreshold = config.packetThreshold ?? K_PACKET_THRESHOLD;
    if (!Number.isSafeInteger(this.packetThreshold) || this.packetThreshold < K_PACKET_THRESHOLD) {
      // RFC 9002 §6.1.1: SHOULD NOT use a packet threshold less than 3.
      throw new RangeError(`packet threshold must be an integer ≥ ${K_PACKET_THRESHOLD}, got ${this.packetThreshold}`);
    }
    this.timeThreshold = config.timeThreshold ?? K_TIME_THRESHOLD;
    if (!(this.timeThreshold > 1) || !Number.isFinite(this.timeThreshold)) {
      throw new RangeError(`time threshold must be a finite RTT multiplier above 1, got ${this.timeThreshold}`);
    }
    this.ptoProbes = config.ptoProbes ?? 2;
    this._maxAckDelay = checkDelay(config.peerMaxAckDelay ?? DEFAULT_MAX_ACK_DELAY);
    this.spaces = {
      initial: newSpace('initial'),
      handshake: newSpace('handshake'),
      application: newSpace('application'),
    };
  }

  /** pto_count: PTO expiries since the last reset (RFC 9002 §6.2.1). */
  get ptoCount(): number {
    return this._ptoCount;
  }

  /** The peer's max_ack_delay in milliseconds. */
  get maxAckDelay(): number {
    return this._maxAckDelay;
  }

  /** Sum of the sizes of in-flight packets not yet acknowledged, lost or discarded, across spaces. */
  get bytesInFlight(): number {
    return this.spaces.initial.table.bytesInFlight + this.spaces.handshake.table.bytesInFlight + this.spaces.application.table.bytesInFlight;
  }

  /** Ack-eliciting packets in flight across spaces. */
  get ackElicitingInFlight(): number {
    return (
      this.spaces.initial.table.ackElicitingInFlight +
      this.spaces.handshake.table.ackElicitingInFlight +
      this.spaces.application.table.ackElicitingInFlight
    );
  }

  /** The loss detection timer's deadline in milliseconds, or undefined when it is not armed (RFC 9002 Appendix A.8). */
  timeout(): number | undefined {
    return this._timer;
  }

  /** largest_acked_packet of `space`, undefined until an ACK was received there. */
  largestAcked(space: PacketNumberSpace): number | undefined {
    return this.spaces[space].largestAcked;
  }

  /** The largest packet number sent in `space`, undefined before the first. */
  largestSent(space: PacketNumberSpace): number | undefined {
    return this.spaces[space].table.largestSent;
  }

  /** The tracked (unacknowledged, not lost) packets of `space`, ascending. */
  sentPackets(space: PacketNumberSpace): IterableIterator<SentPacket> {
    return this.spaces[space].table.packets();
  }

  /** True once `space` was discarded. */
  isDiscarded(space: PacketNumberSpace): boolean {
    return this.spaces[space].discarded;
  }

  /**
   * PeerCompletedAddressValidation (RFC 9002 Appendix A.8): always true at a server; at a client,
   * once a Handshake ACK was received or the handshake is confirmed.
   */
  peerCompletedAddressValidation(): boolean {
    return this.isServer || this.handshakeAckReceived || this.handshakeConfirmed;
  }

  /** Records the peer's max_ack_delay transport parameter (RFC 9000 §18.2); it applies from the next timer update. */
  setPeerMaxAckDelay(ms: number): void {
    this._maxAckDelay = checkDelay(ms);
  }

  /** The handshake is confirmed (RFC 9001 §4.1.2): arms the Application Data PTO (RFC 9002 §6.2.1). */
  setHandshakeConfirmed(now: number): void {
    if (this.handshakeConfirmed) return;
    this.handshakeConfirmed = true;
    this.setLossDetectionTimer(now);
  }

  /** Handshake keys are available: a client anti-deadlock probe is then a Handshake packet (RFC 9002 §6.2.2.1). */
  setHandshakeKeysAvailable(now: number): void {
    if (this.handshakeKeys) return;
    this.handshakeKeys = true;
    this.setLossDetectionTimer(now);
  }

  /**
   * Whether the server is blocked by the anti-amplification limit (RFC 9000 §8.1): no PTO is
   * armed while it is (RFC 9002 §6.2.2.1). Unblocking re-arms the timer; when the new deadline is
   * not after `now`, the caller should call {@link onTimeout} at once (RFC 9002 Appendix A.6).
   */
  setAmplificationLimited(limited: boolean, now: number): void {
    if (this.amplificationLimited === limited) return;
    this.amplificationLimited = limited;
    this.setLossDetectionTimer(now);
  }

  /**
   * Records a sent packet (RFC 9002 Appendix A.5 `OnPacketSent`); `packet.timeSent` is now.
   * Every packet sent must be recorded, ACK-only ones included, in packet number order; numbers
   * jumped over are treated as deliberately skipped (RFC 9000 §21.4).
   *
   * @throws QuicError(INTERNAL_ERROR) for a packet in a discarded space or out of order.
   */
  onPacketSent(packet: SentPacket): void {
    const st = this.spaces[packet.space];
    if (st.discarded) {
      throw new QuicError(TransportErrorCode.INTERNAL_ERROR, `packet sent in discarded space ${packet.space}`);
    }
    st.table.add(packet);
    if (packet.inFlight) {
      if (packet.ackEliciting) st.timeOfLastAckEliciting = packet.timeSent;
      this.setLossDetectionTimer(packet.timeSent);
    }
  }

  /**
   * Processes an ACK frame received in `space` at `now` (RFC 9002 Appendix A.7 `OnAckReceived`).
   * Duplicate and old acknowledgements are harmless (empty result). An ACK in a discarded space
   * is ignored.
   *
   * @throws QuicError(PROTOCOL_VIOLATION) when the ACK covers a packet number never sent in the
   * space (RFC 9000 §13.1, §21.4); QuicError(FRAME_ENCODING_ERROR) for malformed ranges. State is
   * unchanged when it throws.
   */
  onAckReceived(space: PacketNumberSpace, ack: AckInput, now: number): LossDetectionAckResult {
    const st = this.spaces[space];
    const frameType = ack.ecn === undefined ? 0x02 : 0x03;
    checkRanges(ack.ranges, frameType);
    if (st.discarded) return NO_ACK;
    const reason = st.table.checkAcknowledgeable(ack.ranges);
    if (reason !== undefined) throw new QuicError(TransportErrorCode.PROTOCOL_VIOLATION, reason, { frameType });

    const largest = ack.ranges[0].largest;
    st.largestAcked = st.largestAcked === undefined ? largest : Math.max(st.largestAcked, largest);
    // RFC 9002 Appendix A.8: a client's address is validated by the server once a Handshake ACK arrives.
    if (space === 'handshake') this.handshakeAckReceived = true;

    const acked = st.table.removeAcknowledged(ack.ranges);
    if (acked.length === 0) return NO_ACK;
    const largestNewly = acked[acked.length - 1];

    // RFC 9002 §5.1: a sample only when the largest acknowledged is newly acknowledged and at
    // least one newly acknowledged packet is ack-eliciting.
    let rttSampled = false;
    if (largestNewly.packetNumber === largest && acked.some((p) => p.ackEliciting) && (this.skipRttSample === undefined || !this.skipRttSample(largestNewly))) {
      this.rtt.update(now - largestNewly.timeSent, ack.ackDelay, now, {
        space,
        handshakeConfirmed: this.handshakeConfirmed,
        maxAckDelay: this._maxAckDelay,
      });
      rttSampled = true;
    }

    // RFC 9002 Appendix B.7: an increase of the ECN-CE count is a congestion signal. The send
    // time used is the largest newly acknowledged packet's (the ACK's largest when it is newly acked).
    let ecnCongestionSentTime: number | undefined;
    if (ack.ecn !== undefined && ack.ecn.ce > st.ecnCe) {
      st.ecnCe = ack.ecn.ce;
      ecnCongestionSentTime = largestNewly.timeSent;
    }

    const { lost, persistentCongestion } = this.detectAndRemoveLostPackets(space, now);

    // RFC 9002 §6.2.1: reset the backoff, except at a client unsure the server validated its address.
    if (this.peerCompletedAddressValidation()) this._ptoCount = 0;
    this.setLossDetectionTimer(now);
    return { acked, lost, rttSampled, persistentCongestion, ecnCongestionSentTime };
  }

  /**
   * Handles the loss detection timer at `now` (RFC 9002 Appendix A.9 `OnLossDetectionTimeout`).
   * Does nothing when the timer is not armed or not yet due. Time-threshold losses come back in
   * `lost`; a PTO never declares loss (RFC 9002 §6.2) and comes back as a `probe` request.
   */
  onTimeout(now: number): LossDetectionTimeoutResult {
    if (this._timer === undefined || now < this._timer) return NO_TIMEOUT;

    const loss = this.earliestLossTime();
    if (loss !== undefined) {
      // RFC 9002 §6.1.2: time threshold loss detection.
      const { lost, persistentCongestion } = this.detectAndRemoveLostPackets(loss.space, now);
      this.setLossDetectionTimer(now);
      return { lost, persistentCongestion, probe: undefined };
    }

    let probe: ProbeRequest;
    if (this.ackElicitingInFlight === 0) {
      if (this.peerCompletedAddressValidation()) {
        // Not reachable through setLossDetectionTimer; stay consistent if it happens.
        this.setLossDetectionTimer(now);
        return NO_TIMEOUT;
      }
      // RFC 9002 §6.2.2.1: client anti-deadlock probe, Handshake if it has the keys, else a padded Initial.
      probe = { space: this.antiDeadlockSpace(), count: 1, antiDeadlock: true, alsoSpaces: [] };
    } else {
      const pto = this.ptoTimeAndSpace(now);
      if (pto === undefined) {
        this.setLossDetectionTimer(now);
        return NO_TIMEOUT;
      }
      // RFC 9002 §6.2.4: one or two ack-eliciting packets in the space; others with data in flight SHOULD follow.
      const alsoSpaces = SPACES.filter((s) => s !== pto.space && this.spaces[s].table.ackElicitingInFlight > 0);
      probe = { space: pto.space, count: this.ptoProbes, antiDeadlock: false, alsoSpaces };
    }
    // RFC 9002 §6.2.1: each expiry doubles the PTO.
    this._ptoCount++;
    this.setLossDetectionTimer(now);
    return { lost: NONE, persistentCongestion: false, probe };
  }

  /**
   * Discards the Initial or Handshake packet number space when its keys are discarded
   * (RFC 9002 §6.4, Appendix A.11): its packets leave bytes in flight without being declared
   * lost, pto_count resets and the timer is re-armed. Returns the discarded packets.
   */
  discardSpace(space: 'initial' | 'handshake', now: number): SentPacket[] {
    const st = this.spaces[space];
    if (st.discarded) return [];
    st.discarded = true;
    const discarded = st.table.removeAll();
    st.timeOfLastAckEliciting = undefined;
    st.lossTime = undefined;
    st.pcRunLastPn = undefined;
    st.pcRunStart = undefined;
    if (space === 'initial') this.handshakeKeys = true; // RFC 9001 §4.9.1: Initial keys go once Handshake packets are sent
    this._ptoCount = 0;
    this.setLossDetectionTimer(now);
    return discarded;
  }

  /**
   * Discards the 0-RTT packets when the server rejected 0-RTT (RFC 9002 §6.4): they leave bytes in
   * flight without being declared lost. Returns them, so their data can be sent again in 1-RTT.
   */
  discardZeroRtt(now: number): SentPacket[] {
    const st = this.spaces.application;
    const discarded = st.table.removeIf((p) => p.level === 'zeroRtt');
    if (discarded.length === 0) return discarded;
    if (st.table.ackElicitingInFlight === 0) st.timeOfLastAckEliciting = undefined;
    // The loss time may have been set by a discarded packet: recompute it from those that remain,
    // so the timer never fires for a packet that is gone (Appendix A.10 computes it the same way).
    this.recomputeLossTime(st);
    this.setLossDetectionTimer(now);
    return discarded;
  }

  /**
   * A client received a Retry (RFC 9002 §6.3): loss recovery state is reset (RTT estimator,
   * pto_count, timers, per-space ACK state) and every tracked packet is removed and returned, not
   * declared lost; packet numbers keep increasing (RFC 9000 §17.2.5.3).
   */
  onRetry(now: number): SentPacket[] {
    const removed: SentPacket[] = [];
    for (const space of SPACES) {
      const st = this.spaces[space];
      removed.push(...st.table.removeAll());
      st.largestAcked = undefined;
      st.lossTime = undefined;
      st.timeOfLastAckEliciting = undefined;
      st.ecnCe = 0;
      st.pcRunLastPn = undefined;
      st.pcRunStart = undefined;
    }
    this.rtt.reset();
    this._ptoCount = 0;
    this.setLossDetectionTimer(now);
    return removed;
  }

  /** Sets `lossTime` to the earliest time-threshold deadline of the packets still tracked below the largest acknowledged. */
  private recomputeLossTime(st: SpaceState): void {
    st.lossTime = undefined;
    const largestAcked = st.largestAcked;
    if (largestAcked === undefined) return;
    const lossDelay = this.rtt.lossDelay(this.timeThreshold);
    // removeWhereUpTo with a visitor that keeps every packet: a scan in packet number order.
    st.table.removeWhereUpTo(largestAcked, (p) => {
      const lossAt = p.timeSent + lossDelay;
      if (p.packetNumber < largestAcked && (st.lossTime === undefined || lossAt < st.lossTime)) st.lossTime = lossAt;
      return false;
    });
  }

  /** RFC 9002 Appendix A.10 `DetectAndRemoveLostPackets`, plus persistent congestion (RFC 9002 §7.6.2). */
  private detectAndRemoveLostPackets(space: PacketNumberSpace, now: number): { lost: SentPacket[]; persistentCongestion: boolean } {
    const st = this.spaces[space];
    st.lossTime = undefined;
    const largestAcked = st.largestAcked;
    if (largestAcked === undefined) return { lost: [], persistentCongestion: false };
    const lossDelay = this.rtt.lossDelay(this.timeThreshold);
    const threshold = this.packetThreshold;
    // RFC 9002 Appendix A.10 (kPacketThreshold counts skipped packet numbers too, as there).
    const lost = st.table.removeWhereUpTo(largestAcked, (p) => {
      // Written as `time_sent + loss_delay <= now` (not `time_sent <= now - loss_delay`) so that
      // firing the timer exactly at loss_time always finds the packet lost, in floating point too.
      const lossAt = p.timeSent + lossDelay;
      if (lossAt <= now || largestAcked >= p.packetNumber + threshold) return true;
      if (st.lossTime === undefined || lossAt < st.lossTime) st.lossTime = lossAt;
      return false;
    });
    const persistentCongestion = lost.length > 0 && this.updatePersistentCongestion(st, lost);
    return { lost, persistentCongestion };
  }

  /**
   * RFC 9002 §7.6.2: persistent congestion when two ack-eliciting lost packets, both sent after the
   * first RTT sample, are further apart in time than the persistent congestion duration and no
   * packet sent between them was acknowledged.
   *
   * Uses the state of this packet number space only, as §7.6.2 allows. Runs of consecutive lost
   * packets are tracked across loss events: a packet number between two losses that is neither
   * lost nor known never sent was acknowledged, and ends the run. Lost PMTU probes continue a run
   * but do not start or end one (their loss says nothing about congestion, RFC 9000 §14.4).
   */
  private updatePersistentCongestion(st: SpaceState, lost: readonly SentPacket[]): boolean {
    const firstSample = this.rtt.firstSampleTime;
    const duration = this.rtt.persistentCongestionDuration(this._maxAckDelay);
    let established = false;
    for (const p of lost) {
      if (st.pcRunLastPn !== undefined && !st.table.onlyNeverSentBetween(st.pcRunLastPn, p.packetNumber)) {
        st.pcRunStart = undefined;
      }
      st.pcRunLastPn = p.packetNumber;
      const eligible = p.ackEliciting && !p.isMtuProbe && firstSample !== undefined && p.timeSent > firstSample;
      if (!eligible) continue;
      if (st.pcRunStart === undefined) st.pcRunStart = p.timeSent;
      else if (p.timeSent - st.pcRunStart > duration) established = true;
    }
    if (established) {
      st.pcRunStart = undefined;
      // RFC 9002 §5.2: min_rtt SHOULD be set to the newest sample after persistent congestion.
      this.rtt.onPersistentCongestion();
    }
    return established;
  }

  /** RFC 9002 Appendix A.8 `GetLossTimeAndSpace`. */
  private earliestLossTime(): { time: number; space: PacketNumberSpace } | undefined {
    let best: { time: number; space: PacketNumberSpace } | undefined;
    for (const space of SPACES) {
      const t = this.spaces[space].lossTime;
      if (t !== undefined && (best === undefined || t < best.time)) best = { time: t, space };
    }
    return best;
  }

  private antiDeadlockSpace(): PacketNumberSpace {
    return this.handshakeKeys && !this.spaces.handshake.discarded ? 'handshake' : 'initial';
  }

  /** RFC 9002 Appendix A.8 `GetPtoTimeAndSpace`. */
  private ptoTimeAndSpace(now: number): { time: number; space: PacketNumberSpace } | undefined {
    const backoff = 2 ** Math.min(this._ptoCount, MAX_PTO_BACKOFF_EXPONENT);
    let duration = this.rtt.ptoBase() * backoff;
    if (this.ackElicitingInFlight === 0) {
      // RFC 9002 §6.2.2.1: the anti-deadlock PTO starts from now.
      return { time: now + duration, space: this.antiDeadlockSpace() };
    }
    let best: { time: number; space: PacketNumberSpace } | undefined;
    for (const space of SPACES) {
      const st = this.spaces[space];
      if (st.table.ackElicitingInFlight === 0 || st.timeOfLastAckEliciting === undefined) continue;
      if (space === 'application') {
        // RFC 9002 §6.2.1: no Application Data PTO before the handshake is confirmed.
        if (!this.handshakeConfirmed) return best;
        // RFC 9002 §6.2.1: max_ack_delay (backed off) counts only for Application Data.
        duration += this._maxAckDelay * backoff;
      }
      const t = st.timeOfLastAckEliciting + duration;
      if (best === undefined || t < best.time) best = { time: t, space };
    }
    return best;
  }

  /** RFC 9002 Appendix A.8 `SetLossDetectionTimer`. */
  private setLossDetectionTimer(now: number): void {
    const loss = this.earliestLossTime();
    if (loss !== undefined) {
      // RFC 9002 §6.2.1: the PTO is not set while a time-threshold loss timer is.
      this._timer = loss.time;
      return;
    }
    if (this.amplificationLimited) {
      // RFC 9002 §6.2.2.1: a server blocked by the amplification limit arms no PTO.
      this._timer = undefined;
      return;
    }
    if (this.ackElicitingInFlight === 0 && this.peerCompletedAddressValidation()) {
      // Nothing to detect lost; a client still arms it until the server validated its address.
      this._timer = undefined;
      return;
    }
    this._timer = this.ptoTimeAndSpace(now)?.time;
  }
}

function newSpace(space: PacketNumberSpace): SpaceState {
  return {
    table: new SentPacketTable(space),
    largestAcked: undefined,
    lossTime: undefined,
    timeOfLastAckEliciting: undefined,
    ecnCe: 0,
    discarded: false,
    pcRunLastPn: undefined,
    pcRunStart: undefined,
  };
}

function checkDelay(ms: number): number {
  if (!(ms >= 0) || !Number.isFinite(ms)) throw new RangeError(`max_ack_delay must be a finite, non-negative number of milliseconds, got ${ms}`);
  return ms;
}

/** ACK ranges must be non-empty, descending and disjoint, of non-negative safe integers (RFC 9000 §19.3.1). */
function checkRanges(ranges: readonly AckedRange[], frameType: number): void {
  if (ranges.length === 0) {
    throw new QuicError(TransportErrorCode.FRAME_ENCODING_ERROR, 'ACK frame without ranges', { frameType });
  }
  let below = Number.POSITIVE_INFINITY;
  for (const r of ranges) {
    if (!Number.isSafeInteger(r.smallest) || !Number.isSafeInteger(r.largest) || r.smallest < 0 || r.smallest > r.largest || r.largest >= below) {
      throw new QuicError(TransportErrorCode.FRAME_ENCODING_ERROR, 'ACK ranges must be descending, disjoint and non-negative', { frameType });
    }
    below = r.smallest;
  }
}
