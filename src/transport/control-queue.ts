/**
 * The queue of control frames waiting for the outbound path: HANDSHAKE_DONE,
 * NEW_CONNECTION_ID, RETIRE_CONNECTION_ID, NEW_TOKEN, PATH_CHALLENGE, PATH_RESPONSE,
 * RESET_STREAM and STOP_SENDING (RFC 9000 §19).
 *
 * First in, first out. A frame leaves the queue only once it is committed to a packet
 * ({@link ControlQueue.onSent}); the queue remembers what is in flight so that, when a packet is
 * lost, the retransmittable frames it carried go back to the *front* of the queue in their
 * original order (RFC 9000 §13.3) — unless the connection says they are no longer needed.
 * PATH_RESPONSE is sent once and never again; PATH_CHALLENGE carries fresh data each time, so
 * path validation sends a new one rather than this queue repeating a lost one (RFC 9000 §13.3).
 *
 * Bounds: frames with an identity (a connection ID sequence number, a stream, a token) are queued
 * once — a second enqueue of the same frame while it is queued or in flight is ignored — so the
 * queue is bounded by the connection's own state. PATH_RESPONSE, which a peer can make us owe at
 * will, is bounded explicitly: beyond {@link ControlQueueOptions.maxPathResponses} the oldest is
 * dropped (and counted).
 *
 * @module
 */
import { Subject, type Observable } from 'rxjs';
import type { SentFrame } from '../packet/types.js';
import type {
  HandshakeDoneFrame,
  NewConnectionIdFrame,
  NewTokenFrame,
  PathChallengeFrame,
  PathResponseFrame,
  ResetStreamFrame,
  RetireConnectionIdFrame,
  StopSendingFrame,
} from '../wire/frames/types.js';

/** A control frame the queue carries. */
export type ControlFrame =
  | HandshakeDoneFrame
  | NewConnectionIdFrame
  | RetireConnectionIdFrame
  | NewTokenFrame
  | PathChallengeFrame
  | PathResponseFrame
  | ResetStreamFrame
  | StopSendingFrame;

/** By default at most 4 PATH_RESPONSE frames wait in the queue; older ones are dropped. */
export const DEFAULT_MAX_PATH_RESPONSES = 4;

/** Options of a {@link ControlQueue}. */
export interface ControlQueueOptions {
  /** Largest number of PATH_RESPONSE frames queued; the oldest is dropped beyond it. Default 4. */
  readonly maxPathResponses?: number;
  /**
   * Consulted when a packet carrying `frame` is lost: return false when the information is no
   * longer needed (RFC 9000 §13.3: RESET_STREAM once the stream reached "Data Recvd",
   * STOP_SENDING once the receiving part is finished, NEW_CONNECTION_ID once retired, …).
   * Defaults to always true.
   */
  readonly stillNeeded?: (frame: ControlFrame) => boolean;
  /**
   * Called when a packet carrying a PATH_CHALLENGE is lost, with the challenge's data: the
   * frame is never repeated as is (RFC 9000 §13.3), path validation may send a fresh one.
   */
  readonly pathChallengeLost?: (data: Uint8Array) => void;
}

interface Entry {
  /** Enqueue order: retransmissions go back in this order. */
  readonly seq: number;
  readonly frame: ControlFrame;
  /** Identity for de-duplication and in-flight tracking; undefined for PATH_* frames. */
  readonly key: string | undefined;
}

function hex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

/** The identity of a frame's information, or undefined when it is never retransmitted. */
function keyOf(frame: ControlFrame | SentFrame): string | undefined {
  switch (frame.kind) {
    case 'handshakeDone':
      return 'hd';
    case 'newConnectionId':
      return `ncid:${frame.sequenceNumber}`;
    case 'retireConnectionId':
      return `rcid:${frame.sequenceNumber}`;
    case 'newToken':
      return `nt:${hex(frame.token)}`;
    case 'resetStream':
      return `rs:${frame.streamId}`;
    case 'stopSending':
      return `ss:${frame.streamId}`;
    default:
      return undefined;
  }
}

/** A copy of `frame` whose byte strings are owned by the queue (decoded frames are views into packets). */
function own(frame: ControlFrame): ControlFrame {
  switch (frame.kind) {
    case 'newConnectionId':
      return { ...frame, connectionId: frame.connectionId.slice(), statelessResetToken: frame.statelessResetToken.slice() };
    case 'newToken':
      return { kind: 'newToken', token: frame.token.slice() };
    case 'pathChallenge':
    case 'pathResponse':
      return { kind: frame.kind, data: frame.data.slice() };
    default:
      return { ...frame };
  }
}

/** What a packet records about a control frame (see {@link SentFrame}). */
export function controlSentFrame(frame: ControlFrame): SentFrame {
  switch (frame.kind) {
    case 'handshakeDone':
      return { kind: 'handshakeDone' };
    case 'newConnectionId':
      return { kind: 'newConnectionId', sequenceNumber: frame.sequenceNumber };
    case 'retireConnectionId':
      return { kind: 'retireConnectionId', sequenceNumber: frame.sequenceNumber };
    case 'newToken':
      return { kind: 'newToken', token: frame.token };
    case 'pathChallenge':
      return { kind: 'pathChallenge', data: frame.data };
    case 'pathResponse':
      return { kind: 'pathResponse' };
    case 'resetStream':
      return { kind: 'resetStream', streamId: frame.streamId };
    case 'stopSending':
      return { kind: 'stopSending', streamId: frame.streamId };
  }
}

/**
 * FIFO of control frames with retransmission of lost information at the front, in original
 * order. Sans-IO; {@link pending$} announces new work.
 */
export class ControlQueue {
  private readonly fresh: Entry[] = [];
  private freshHead = 0;
  /** Lost entries waiting to be sent again, sorted by `seq`; always older than every fresh entry. */
  private readonly retransmit: Entry[] = [];
  /** Entries committed to packets, by key. */
  private readonly inFlight = new Map<string, Entry>();
  /** Keys queued or in flight. */
  private readonly known = new Set<string>();
  private nextSeq = 0;
  private pathResponses = 0;
  private dropped = 0;
  private readonly maxPathResponses: number;
  private readonly stillNeeded: (frame: ControlFrame) => boolean;
  private readonly pathChallengeLost: ((data: Uint8Array) => void) | undefined;
  private readonly pending = new Subject<void>();
  private readonly acknowledged = new Subject<ControlFrame>();

  /** Emits when a frame is queued (new, or lost and queued again). */
  readonly pending$: Observable<void> = this.pending.asObservable();
  /**
   * Emits a frame whose information the peer acknowledged (a packet carrying it, while in flight,
   * was acknowledged): e.g. RESET_STREAM acknowledged moves the sending part to "Reset Recvd"
   * (RFC 9000 §3.1). Frames never retransmitted (PATH_*) are not reported.
   */
  readonly acknowledged$: Observable<ControlFrame> = this.acknowledged.asObservable();

  /** Creates an empty queue. */
  constructor(options: ControlQueueOptions = {}) {
    this.maxPathResponses = Math.max(1, options.maxPathResponses ?? DEFAULT_MAX_PATH_RESPONSES);
    this.stillNeeded = options.stillNeeded ?? (() => true);
    this.pathChallengeLost = options.pathChallengeLost;
  }

  /** Frames waiting to be sent (retransmissions included). */
  get length(): number {
    return this.retransmit.length + this.fresh.length - this.freshHead;
  }

  /** PATH_RESPONSE frames dropped because too many were queued. */
  get droppedPathResponses(): number {
    return this.dropped;
  }

  /** Frames committed to packets and neither acknowledged nor lost yet (PATH_* excluded). */
  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /**
   * Queues `frame` (its byte strings are copied). Returns false, queuing nothing, when the same
   * information is already queued or in flight (RFC 9000 §13.3: e.g. the content of RESET_STREAM
   * must not change when sent again).
   */
  enqueue(frame: ControlFrame): boolean {
    const key = keyOf(frame);
    if (key !== undefined) {
      if (this.known.has(key)) return false;
      this.known.add(key);
    }
    if (frame.kind === 'pathResponse') {
      if (this.pathResponses >= this.maxPathResponses) this.dropOldestPathResponse();
      this.pathResponses++;
    }
    this.fresh.push({ seq: this.nextSeq++, frame: own(frame), key });
    if (this.pending.observed) this.pending.next();
    return true;
  }

  private dropOldestPathResponse(): void {
    for (let i = this.freshHead; i < this.fresh.length; i++) {
      if (this.fresh[i].frame.kind === 'pathResponse') {
        this.fresh.splice(i, 1);
        this.pathResponses--;
        this.dropped++;
        return;
      }
    }
  }

  /**
   * Removes queued frames matching `predicate` and forgets matching frames in flight (their loss
   * will not queue them again). Returns how many queued frames were removed.
   */
  cancel(predicate: (frame: ControlFrame) => boolean): number {
    let removed = 0;
    const keep = (e: Entry): boolean => {
      if (!predicate(e.frame)) return true;
      removed++;
      if (e.key !== undefined) this.known.delete(e.key);
      if (e.frame.kind === 'pathResponse') this.pathResponses--;
      return false;
    };
    const fresh = this.fresh.slice(this.freshHead).filter(keep);
    this.fresh.length = 0;
    this.fresh.push(...fresh);
    this.freshHead = 0;
    const retransmit = this.retransmit.filter(keep);
    this.retransmit.length = 0;
    this.retransmit.push(...retransmit);
    for (const [key, e] of this.inFlight) {
      if (predicate(e.frame)) {
        this.inFlight.delete(key);
        this.known.delete(key);
      }
    }
    return removed;
  }

  /** The next frame to send, without removing it. */
  peek(): ControlFrame | undefined {
    if (this.retransmit.length > 0) return this.retransmit[0].frame;
    return this.freshHead < this.fresh.length ? this.fresh[this.freshHead].frame : undefined;
  }

  /**
   * Removes the frame returned by {@link peek}, which was just committed to a packet (recorded
   * as {@link controlSentFrame} of it), and remembers it as in flight.
   */
  onSent(): void {
    let entry: Entry | undefined;
    if (this.retransmit.length > 0) entry = this.retransmit.shift();
    else if (this.freshHead < this.fresh.length) {
      entry = this.fresh[this.freshHead++];
      if (this.freshHead === this.fresh.length) {
        // Drained: sent entries are not kept (an idle connection held its NEW_CONNECTION_ID copies).
        this.fresh.length = 0;
        this.freshHead = 0;
      } else if (this.freshHead > 64 && this.freshHead * 2 > this.fresh.length) {
        this.fresh.splice(0, this.freshHead);
        this.freshHead = 0;
      }
    }
    if (entry === undefined) throw new Error('control queue: onSent() with nothing queued');
    if (entry.frame.kind === 'pathResponse') this.pathResponses--;
    if (entry.key !== undefined) this.inFlight.set(entry.key, entry);
  }

  /** A packet carrying `frame` was acknowledged: its information is delivered. */
  onAcked(frame: SentFrame): void {
    const key = keyOf(frame);
    if (key === undefined) return;
    const entry = this.inFlight.get(key);
    if (entry === undefined) return;
    this.inFlight.delete(key);
    this.known.delete(key);
    this.acknowledged.next(entry.frame);
  }

  /**
   * A packet carrying `frame` was lost: a retransmittable frame still needed goes back to the
   * front of the queue, in its original order among other lost frames (RFC 9000 §13.3).
   */
  onLost(frame: SentFrame): void {
    const key = keyOf(frame);
    if (key === undefined) {
      // PATH_RESPONSE, PATH_CHALLENGE: never repeated as is; path validation decides on a new challenge.
      if (frame.kind === 'pathChallenge') this.pathChallengeLost?.(frame.data);
      return;
    }
    const entry = this.inFlight.get(key);
    if (entry === undefined) return;
    this.inFlight.delete(key);
    if (!this.stillNeeded(entry.frame)) {
      this.known.delete(key);
      return;
    }
    let i = this.retransmit.length;
    while (i > 0 && this.retransmit[i - 1].seq > entry.seq) i--;
    this.retransmit.splice(i, 0, entry);
    if (this.pending.observed) this.pending.next();
  }
}
