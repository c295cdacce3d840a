/**
 * Datagram Packetization Layer Path MTU Discovery (DPLPMTUD, RFC 8899; RFC 9000 §14.3), sans-IO:
 * time is a parameter, the connection sends the probes (`PacketAssembler.flush` with
 * `mtuProbeSize`: PING + PADDING alone in a datagram of that size, RFC 9000 §14.4) and reports
 * what became of them and of its other 1-RTT packets.
 *
 * States (RFC 8899 §5.2): `disabled` (off, or not started yet: probing waits until the handshake
 * is confirmed and the peer's address is validated, RFC 9000 §14.3), `base` (falling back after a
 * black hole, waiting for an acknowledgement that confirms BASE_PLPMTU), `searching`,
 * `searchComplete` and `error` (even BASE_PLPMTU seems black-holed; QUIC cannot go below 1200
 * bytes, so the size stays at the base and the search resumes once packets are acknowledged).
 *
 * The search is a binary search between the largest acknowledged size and the largest size not
 * known to fail, starting with a probe of the upper bound itself: on the common paths (Ethernet at
 * the default bound of 1452, loopback) that one probe completes the search in one round trip;
 * otherwise the search halves the range each step and stops once it is narrower than
 * {@link PMTUD_SEARCH_PRECISION} bytes — about log2(range / precision) sizes, 5 for 1200..1452,
 * 13 for 1200..65527. A small fixed ladder would waste probes on large ranges and miss sizes
 * between its rungs. A size counts as failed after {@link PMTUD_MAX_PROBES} probes of it were lost
 * or timed out (RFC 8899 §5.1.2 MAX_PROBES); the probe timer is the connection's PTO (RFC 8899
 * §5.1.1 PROBE_TIMER: QUIC acknowledges a probe within about one PTO). An acknowledgement that
 * arrives after its probe timed out still counts: the size got through.
 *
 * Black hole detection (RFC 8899 §4.3, §5.2): packets larger than the base declared lost while no
 * later large packet was acknowledged (so only smaller ones got through), or consecutive PTO
 * expirations while large packets are in flight (a bulk transfer whose packets are all large gets
 * no acknowledgement at all, so nothing is ever declared lost), fall back to the base and search
 * again. MTU probes never count here: their loss is expected (and never a congestion signal, RFC
 * 9000 §14.4, handled by recovery).
 *
 * The states and their transitions are defined once, by the machine of `machines/pmtud.ts`,
 * compiled into a transition table (`machines/compiled.ts`) whose runtime this class steps. Hot
 * path: {@link PathMtuDiscovery.onPacketSent}, {@link PathMtuDiscovery.onPacketAcked} and
 * {@link PathMtuDiscovery.onPacketLost} are a few comparisons each; no actor event is involved.
 *
 * @module
 */
import { compileMachine, MachineRuntime } from '../../machines/compiled.js';
import { pmtudMachine, type PmtudEvent, type PmtudEventType, type PmtudMachineState } from '../../machines/pmtud.js';

/** The PMTU discovery machine's transition table (compiled once). */
export const PMTUD_TABLE = compileMachine(pmtudMachine);

const EVENTS: Readonly<Record<PmtudEventType, PmtudEvent>> = {
  Start: { type: 'Start' },
  SearchComplete: { type: 'SearchComplete' },
  Raise: { type: 'Raise' },
  BlackHole: { type: 'BlackHole' },
  BaseConfirmed: { type: 'BaseConfirmed' },
  BaseFailed: { type: 'BaseFailed' },
  Stop: { type: 'Stop' },
};

/** BASE_PLPMTU for QUIC (RFC 9000 §14.3; RFC 8899 §5.1.2): every QUIC path carries 1200-byte UDP payloads. */
export const PMTUD_BASE_PLPMTU = 1200;
/** MAX_PROBES (RFC 8899 §5.1.2): probes of one size lost before the size counts as failed. */
export const PMTUD_MAX_PROBES = 3;
/** PMTU_RAISE_TIMER (RFC 8899 §5.1.1): how long a completed search below the upper bound rests before probing again, ms. */
export const PMTUD_RAISE_INTERVAL = 600_000;
/** The search ends when the range of untried sizes is narrower than this many bytes. */
export const PMTUD_SEARCH_PRECISION = 8;
/** Large packets lost with no later large packet acknowledged that signal a black hole. */
export const PMTUD_BLACK_HOLE_LOSSES = 3;
/** Consecutive PTO expirations with large packets in flight that signal a black hole. */
export const PMTUD_BLACK_HOLE_PTOS = 3;

/** The states of RFC 8899 §5.2 (those of `machines/pmtud.ts`). */
export type PmtudState = PmtudMachineState;

/** Configuration of a {@link PathMtuDiscovery}. */
export interface PmtudConfig {
  /** BASE_PLPMTU: the size known to work and fallen back to (≥ 1200; the connection's `maxDatagramSize` setting). */
  readonly base: number;
  /** MAX_PROBES; default {@link PMTUD_MAX_PROBES}. */
  readonly maxProbes?: number;
  /** PMTU_RAISE_TIMER, ms; default {@link PMTUD_RAISE_INTERVAL}. */
  readonly raiseInterval?: number;
  /** Search precision, bytes; default {@link PMTUD_SEARCH_PRECISION}. */
  readonly precision?: number;
  /** Black hole loss threshold; default {@link PMTUD_BLACK_HOLE_LOSSES}. */
  readonly blackHoleLosses?: number;
  /** Black hole PTO threshold; default {@link PMTUD_BLACK_HOLE_PTOS}. */
  readonly blackHolePtos?: number;
}

/** Counters of a {@link PathMtuDiscovery}. */
export interface PmtudStats {
  /** MTU probes sent. */
  readonly probesSent: number;
  /** MTU probes lost or timed out. */
  readonly probesLost: number;
  /** Probes acknowledged. */
  readonly probesAcked: number;
  /** Black holes detected (falls back to the base). */
  readonly blackHoles: number;
}

/** DPLPMTUD for one path (see the module comment). */
export class PathMtuDiscovery {
  /** BASE_PLPMTU. */
  readonly base: number;
  private readonly maxProbes: number;
  private readonly raiseInterval: number;
  private readonly precision: number;
  private readonly blackHoleLosses: number;
  private readonly blackHolePtos: number;

  /** The runtime of the compiled machine: the state. */
  readonly machine = new MachineRuntime(PMTUD_TABLE);
  private size: number;
  /** MAX_PLPMTU of the path: min(local upper bound, peer's max_udp_payload_size). */
  private max: number;
  /** Largest size acknowledged in this search. */
  private low: number;
  /** Largest size not known to fail. */
  private high: number;
  /** The size being probed (0: none). */
  private candidate = 0;
  /** Probes of {@link candidate} sent so far (PROBE_COUNT). */
  private probeCount = 0;
  /** The outstanding probe's packet number (−1: none). */
  private probePn = -1;
  private probeSentSize = 0;
  /** PROBE_TIMER deadline of the outstanding probe. */
  private probeDeadline: number | undefined;
  /** PMTU_RAISE_TIMER deadline in searchComplete. */
  private raiseAt: number | undefined;
  /** Time of the last fall back: what was sent before it says nothing about the new path. */
  private epoch = Number.NEGATIVE_INFINITY;
  private largestSentLarge = -1;
  private largestAckedLarge = -1;
  private suspiciousLosses = 0;
  /** PTO count when the base state was entered (error detection at the base). */
  private ptoAtBase = 0;

  private probesSentCount = 0;
  private probesLostCount = 0;
  private probesAckedCount = 0;
  private blackHoleCount = 0;

  /** A discovery in the `disabled` state at `config.base`. */
  constructor(config: PmtudConfig) {
    const base = config.base;
    if (!Number.isInteger(base) || base < PMTUD_BASE_PLPMTU || base > 65_527) throw new RangeError(`PMTUD base ${base} is not an integer in 1200..65527`);
    this.base = base;
    this.maxProbes = config.maxProbes ?? PMTUD_MAX_PROBES;
    this.raiseInterval = config.raiseInterval ?? PMTUD_RAISE_INTERVAL;
    this.precision = Math.max(1, config.precision ?? PMTUD_SEARCH_PRECISION);
    this.blackHoleLosses = config.blackHoleLosses ?? PMTUD_BLACK_HOLE_LOSSES;
    this.blackHolePtos = config.blackHolePtos ?? PMTUD_BLACK_HOLE_PTOS;
    this.size = this.max = this.low = this.high = base;
  }

  /** The RFC 8899 state. */
  get state(): PmtudState {
    return this.machine.state;
  }

  /** PLPMTU: the largest UDP payload the connection may send now, bytes. */
  get plpmtu(): number {
    return this.size;
  }

  /** MAX_PLPMTU: the largest size the search may reach. */
  get maxPlpmtu(): number {
    return this.max;
  }

  /** Counters. */
  stats(): PmtudStats {
    return { probesSent: this.probesSentCount, probesLost: this.probesLostCount, probesAcked: this.probesAckedCount, blackHoles: this.blackHoleCount };
  }

  /**
   * Starts the search (disabled → searching) towards `max` (min of the local upper bound and the
   * peer's max_udp_payload_size). The base counts as confirmed: the handshake's Initial packets
   * were padded to 1200 bytes (RFC 9000 §14.1). No effect unless disabled.
   */
  start(max: number, now: number): void {
    if (this.machine.state !== 'disabled') return;
    this.max = Math.max(this.base, Math.floor(max));
    this.machine.send(EVENTS.Start);
    this.beginSearch(now);
  }

  /** Stops probing for good (→ disabled); the size stays where it is. */
  stop(): void {
    if (this.machine.state !== 'disabled') this.machine.send(EVENTS.Stop);
    this.clearProbe();
    this.raiseAt = undefined;
  }

  /**
   * The peer moved to a new IP address (RFC 9000 §14.3, RFC 8899 §5: the PLPMTU belongs to a
   * path): back to `disabled` at the base, forgetting what the old path showed; {@link start}
   * searches the new path. Counters keep counting.
   */
  restart(): void {
    this.stop();
    this.size = this.max = this.low = this.high = this.base;
    this.candidate = 0;
    this.suspiciousLosses = 0;
    this.largestSentLarge = this.largestAckedLarge = -1;
    this.epoch = Number.NEGATIVE_INFINITY;
    this.ptoAtBase = 0;
  }

  /** The size of the MTU probe to send now, or undefined: searching, and no probe outstanding. */
  probeSize(): number | undefined {
    return this.machine.state === 'searching' && this.probePn < 0 && this.candidate > 0 ? this.candidate : undefined;
  }

  /** The flush sent the probe (packet number `pn`, `size` bytes) at `now`; it fails if unacknowledged after `probeTimeout` ms. */
  onProbeSent(pn: number, size: number, now: number, probeTimeout: number): void {
    this.probesSentCount++;
    if (this.machine.state !== 'searching') return;
    this.probePn = pn;
    this.probeSentSize = size;
    this.probeCount++;
    this.probeDeadline = now + Math.max(1, probeTimeout);
  }

  /** A probe of `size` bytes sent at `timeSent` was acknowledged: the path carries `size` (RFC 8899 §5.2). */
  onProbeAcked(pn: number, size: number, timeSent: number, now: number): void {
    this.probesAckedCount++;
    const outstanding = pn === this.probePn;
    if (outstanding) this.clearProbe();
    // A probe sent before a fall back says nothing about the path now.
    if (timeSent < this.epoch || (this.machine.state !== 'searching' && this.machine.state !== 'searchComplete')) return;
    if (size > this.low && size <= this.max) {
      this.low = size;
      if (this.high < size) this.high = size;
      this.size = Math.max(this.size, size);
    }
    if (this.machine.state === 'searching' && (outstanding || this.candidate <= this.low)) this.nextCandidate(now);
  }

  /** Recovery declared the probe `pn` lost (RFC 9002 §6.1). */
  onProbeLost(pn: number, now: number): void {
    if (pn !== this.probePn) return;
    this.probeFailed(now);
  }

  /** A non-probe 1-RTT packet was sent (black hole bookkeeping). */
  onPacketSent(pn: number, size: number): void {
    if (size > this.base) this.largestSentLarge = pn;
  }

  /** A non-probe 1-RTT packet was acknowledged. */
  onPacketAcked(pn: number, size: number, timeSent: number, now: number): void {
    if (size > this.base && pn > this.largestAckedLarge) {
      this.largestAckedLarge = pn;
      this.suspiciousLosses = 0;
    }
    // RFC 8899 §5.2: an acknowledgement of what was sent at the base confirms it; search again.
    if ((this.machine.state === 'base' || this.machine.state === 'error') && timeSent >= this.epoch) {
      this.machine.send(EVENTS.BaseConfirmed);
      this.beginSearch(now);
    }
  }

  /** A non-probe 1-RTT packet was declared lost (RFC 9002 §6.1). */
  onPacketLost(pn: number, size: number, timeSent: number, now: number): void {
    // RFC 8899 §4.3: large packets lost while a later, smaller one was acknowledged (it made recovery declare them lost).
    if (size <= this.base || timeSent < this.epoch || pn <= this.largestAckedLarge || this.size <= this.base) return;
    if (this.machine.state !== 'searching' && this.machine.state !== 'searchComplete') return;
    if (++this.suspiciousLosses >= this.blackHoleLosses) this.fallBack(now, 0);
  }

  /** A PTO expired; `ptoCount` is recovery's consecutive count (RFC 9002 §6.2). */
  onPtoExpired(ptoCount: number, now: number): void {
    if (this.machine.state === 'disabled') return;
    if (this.size > this.base) {
      if (this.machine.state !== 'searching' && this.machine.state !== 'searchComplete') return;
      // Large packets in flight that nothing acknowledged for several PTOs: a black hole (RFC 8899 §4.3).
      if (ptoCount >= this.blackHolePtos && this.largestSentLarge > this.largestAckedLarge) this.fallBack(now, ptoCount);
    } else if (this.machine.state === 'base' && ptoCount - this.ptoAtBase >= this.blackHolePtos) {
      // RFC 8899 §5.2: the base itself is not confirmed.
      this.machine.send(EVENTS.BaseFailed);
      this.clearProbe();
    }
  }

  /** The earliest timer (PROBE_TIMER, PMTU_RAISE_TIMER), or undefined. */
  nextTimeout(): number | undefined {
    if (this.machine.state === 'searching') return this.probeDeadline;
    if (this.machine.state === 'searchComplete') return this.raiseAt;
    return undefined;
  }

  /** Handles the timers due at `now`. */
  onTimeout(now: number): void {
    if (this.machine.state === 'searching' && this.probeDeadline !== undefined && now >= this.probeDeadline) this.probeFailed(now);
    else if (this.machine.state === 'searchComplete' && this.raiseAt !== undefined && now >= this.raiseAt) {
      // RFC 8899 §5.1.1 PMTU_RAISE_TIMER: probe for a larger size again.
      this.raiseAt = undefined;
      this.machine.send(EVENTS.Raise);
      this.beginSearch(now);
    }
  }

  /** The search starts (in `searching`): from the current size to the upper bound. */
  private beginSearch(now: number): void {
    this.low = this.size;
    this.high = this.max;
    this.candidate = 0;
    this.clearProbe();
    this.raiseAt = undefined;
    // The first probe tries the upper bound itself (see the module comment).
    if (this.high > this.low) this.setCandidate(this.high);
    else this.complete(now);
  }

  private nextCandidate(now: number): void {
    if (this.high - this.low < this.precision) {
      this.complete(now);
      return;
    }
    this.setCandidate(this.low + Math.ceil((this.high - this.low) / 2));
  }

  private setCandidate(size: number): void {
    this.candidate = size;
    this.probeCount = 0;
  }

  private probeFailed(now: number): void {
    this.probesLostCount++;
    const size = this.probeSentSize;
    this.clearProbe();
    if (this.machine.state !== 'searching' || size !== this.candidate) return;
    // RFC 8899 §5.1.2: MAX_PROBES lost probes of a size: it does not fit the path.
    if (this.probeCount >= this.maxProbes) {
      this.high = Math.max(this.low, size - 1);
      this.nextCandidate(now);
    }
  }

  private complete(now: number): void {
    this.machine.send(EVENTS.SearchComplete);
    this.candidate = 0;
    this.clearProbe();
    // RFC 8899 §5.1.1: below the upper bound, try a larger size again after PMTU_RAISE_TIMER.
    this.raiseAt = this.size < this.max ? now + this.raiseInterval : undefined;
  }

  private fallBack(now: number, ptoCount: number): void {
    this.blackHoleCount++;
    this.size = this.low = this.high = this.base;
    this.epoch = now;
    this.suspiciousLosses = 0;
    this.largestSentLarge = this.largestAckedLarge = -1;
    this.candidate = 0;
    this.clearProbe();
    this.raiseAt = undefined;
    this.machine.send(EVENTS.BlackHole);
    this.ptoAtBase = ptoCount;
  }

  private clearProbe(): void {
    this.probePn = -1;
    this.probeSentSize = 0;
    this.probeDeadline = undefined;
  }
}
