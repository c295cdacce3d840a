/**
 * Connection ID management (RFC 9000 §5.1, §19.15, §19.16).
 *
 * - {@link LocalConnectionIds}: the connection IDs we issue, which the peer puts in the
 *   Destination Connection ID of packets it sends us. Sequence numbers, random IDs, a stateless
 *   reset token each, NEW_CONNECTION_ID up to the peer's active_connection_id_limit, the peer's
 *   RETIRE_CONNECTION_ID, and notifications for the endpoint's routing table.
 * - {@link PeerConnectionIds}: the connection IDs the peer issued, which we use as Destination
 *   Connection ID. The current one, NEW_CONNECTION_ID with Retire Prior To, our
 *   RETIRE_CONNECTION_ID frames (bounded), and the peer's stateless reset tokens for detection.
 *
 * Frames are produced pull-style for the outbound path: a pending list to write from, and calls to
 * report that a frame was written, acknowledged or lost (RFC 9000 §13.3: NEW_CONNECTION_ID and
 * RETIRE_CONNECTION_ID are retransmitted when lost).
 *
 * @module
 */
import type { CryptoProvider } from '../crypto/provider.js';
import { QuicError, TransportErrorCode } from '../wire/errors.js';
import { FrameType, STATELESS_RESET_TOKEN_LENGTH, type NewConnectionIdFrame } from '../wire/frames/types.js';
import { MAX_CONNECTION_ID_LENGTH } from '../wire/header.js';
import { isStatelessReset, type StatelessResetTokenGenerator } from './stateless-reset.js';

/** A connection ID with its sequence number and stateless reset token (RFC 9000 §5.1.1). */
export interface ConnectionIdEntry {
  /** Sequence number: 0 for the handshake's ID, 1 for a preferred address, then +1 per NEW_CONNECTION_ID. */
  readonly sequenceNumber: number;
  /** The connection ID (0–20 bytes; our own copy). */
  readonly connectionId: Uint8Array;
  /** Its stateless reset token (16 bytes), when one exists or is known. */
  readonly statelessResetToken: Uint8Array | undefined;
}

/** True when two byte strings are equal (connection IDs are public; no constant time needed). */
export function connectionIdEquals(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A string key for a connection ID (lowercase hex), for maps and routing tables. */
export function connectionIdKey(cid: Uint8Array): string {
  let s = '';
  for (let i = 0; i < cid.length; i++) s += (cid[i] < 16 ? '0' : '') + cid[i].toString(16);
  return s;
}

/** Receives changes to the set of our active connection IDs: the endpoint's routing table. */
export interface LocalConnectionIdListener {
  /** `entry` is active: route packets whose Destination Connection ID is `entry.connectionId` to this connection. */
  added(entry: ConnectionIdEntry): void;
  /** `entry` was retired by the peer: stop routing its connection ID to this connection. */
  removed(entry: ConnectionIdEntry): void;
}

/** Default {@link LocalConnectionIdsOptions.maxActive}. */
export const DEFAULT_MAX_ACTIVE_LOCAL_CONNECTION_IDS = 8;

/** Options of {@link LocalConnectionIds}. */
export interface LocalConnectionIdsOptions {
  /** Source of random connection IDs. */
  readonly provider: CryptoProvider;
  /** Length of every connection ID we issue: 0–20 (RFC 9000 §17.2). 0 means we never issue another (§5.1.1). */
  readonly connectionIdLength: number;
  /** Computes the stateless reset token of each connection ID (RFC 9000 §10.3.2). */
  readonly resetTokens: StatelessResetTokenGenerator;
  /** The handshake's connection ID (sequence 0), if already chosen; otherwise a random one is made. Must have `connectionIdLength` bytes. */
  readonly initialConnectionId?: Uint8Array;
  /** How many of our connection IDs we keep active at most, below the peer's limit. Default 8, at least 1. */
  readonly maxActive?: number;
  /**
   * Makes a new connection ID of `connectionIdLength` bytes (e.g. one a load balancer can route,
   * or one checked against the endpoint's routing table). Default: random bytes from the provider.
   * IDs equal to an active one are redrawn.
   */
  readonly generateConnectionId?: () => Uint8Array;
  /** Told of every connection ID added or removed. */
  readonly listener?: LocalConnectionIdListener;
}

/**
 * The connection IDs we issue (RFC 9000 §5.1.1) and the peer's RETIRE_CONNECTION_ID (§19.16).
 *
 * Lifecycle: sequence 0 is made at construction (the Source Connection ID of our long headers; a
 * server sends its token in the stateless_reset_token transport parameter). A server offering a
 * preferred address issues sequence 1 with {@link issuePreferredAddressConnectionId}. Once the
 * peer's active_connection_id_limit is known ({@link setPeerActiveConnectionIdLimit}),
 * {@link replenish} issues IDs up to min(that limit, `maxActive`), each queued as a
 * NEW_CONNECTION_ID frame ({@link pendingNewConnectionIds}). Each ID the peer retires is removed
 * and replaced (§5.1.1: "An endpoint SHOULD supply a new connection ID when the peer retires a
 * connection ID"). A retired ID is removed from routing at once.
 *
 * Not done here: Retire Prior To on our side (we never ask the peer to retire IDs: the field is
 * always 0), and routing of the client's original Destination Connection ID, which has no
 * sequence number (§5.1.1) — the endpoint handles that one.
 */
export class LocalConnectionIds {
  private readonly provider: CryptoProvider;
  private readonly length: number;
  private readonly resetTokens: StatelessResetTokenGenerator;
  private readonly maxActive: number;
  private readonly generate: (() => Uint8Array) | undefined;
  private readonly listener: LocalConnectionIdListener | undefined;
  private readonly active = new Map<number, ConnectionIdEntry>();
  private readonly byKey = new Map<string, ConnectionIdEntry>();
  /** The entry {@link lookup} found last (still active). */
  private lastHit: ConnectionIdEntry | undefined;
  private readonly toSend = new Set<number>();
  private nextSeq = 0;
  /** Highest sequence number the peer has been told of (handshake, transport parameter or a written frame). */
  private maxAnnounced = 0;
  private peerLimit: number | undefined;
  private readonly first: ConnectionIdEntry;

  constructor(options: LocalConnectionIdsOptions) {
    const length = options.connectionIdLength;
    if (!Number.isInteger(length) || length < 0 || length > MAX_CONNECTION_ID_LENGTH) {
      throw new RangeError(`connection ID length ${length} is outside 0..${MAX_CONNECTION_ID_LENGTH}`);
    }
    this.provider = options.provider;
    this.length = length;
    this.resetTokens = options.resetTokens;
    this.maxActive = Math.max(1, options.maxActive ?? DEFAULT_MAX_ACTIVE_LOCAL_CONNECTION_IDS);
    this.generate = options.generateConnectionId;
    this.listener = options.listener;
    const initial = options.initialConnectionId;
    if (initial !== undefined && initial.length !== length) {
      throw new RangeError(`initial connection ID has ${initial.length} bytes, expected ${length}`);
    }
    this.first = this.issue(initial === undefined ? undefined : new Uint8Array(initial));
  }

  /** Length of our connection IDs. */
  get connectionIdLength(): number {
    return this.length;
  }

  /** True when we use zero-length connection IDs: we never issue another and must refuse RETIRE_CONNECTION_ID (RFC 9000 §19.16). */
  get zeroLength(): boolean {
    return this.length === 0;
  }

  /** The handshake's connection ID, sequence 0 (its token is the server's stateless_reset_token transport parameter). */
  get initial(): ConnectionIdEntry {
    return this.first;
  }

  /** Number of active (issued, not retired) connection IDs. */
  get activeCount(): number {
    return this.active.size;
  }

  /** The sequence number the next connection ID will get. */
  get nextSequenceNumber(): number {
    return this.nextSeq;
  }

  /** The active connection IDs, lowest sequence number first. */
  activeConnectionIds(): ConnectionIdEntry[] {
    return [...this.active.values()];
  }

  /** The active entry for connection ID `cid`, if any (e.g. to learn which one a packet used). */
  lookup(cid: Uint8Array): ConnectionIdEntry | undefined {
    // Nearly every packet carries the connection ID of the one before: compare bytes, no key string.
    const last = this.lastHit;
    if (last !== undefined && connectionIdEquals(last.connectionId, cid)) return last;
    const entry = this.byKey.get(connectionIdKey(cid));
    if (entry !== undefined) this.lastHit = entry;
    return entry;
  }

  /** True when sequence number `sequenceNumber` is active. */
  isActive(sequenceNumber: number): boolean {
    return this.active.has(sequenceNumber);
  }

  /**
   * Issues sequence 1 for the server's preferred_address transport parameter (RFC 9000 §5.1.1,
   * §18.2). Must come before any other issuance; never with zero-length IDs (§18.2).
   */
  issuePreferredAddressConnectionId(): ConnectionIdEntry {
    if (this.length === 0) throw new RangeError('a server using zero-length connection IDs cannot offer a preferred address (RFC 9000 §18.2)');
    if (this.nextSeq !== 1) throw new RangeError('the preferred address connection ID must have sequence number 1');
    const entry = this.issue(undefined);
    this.maxAnnounced = 1;
    return entry;
  }

  /** Records the peer's active_connection_id_limit transport parameter (at least 2, validated by the decoder). */
  setPeerActiveConnectionIdLimit(limit: number): void {
    this.peerLimit = limit;
  }

  /**
   * Issues connection IDs until min(peer's limit, `maxActive`) are active and queues a
   * NEW_CONNECTION_ID for each; returns how many were issued. Issues nothing before the peer's
   * limit is known, and never with zero-length IDs (RFC 9000 §5.1.1).
   */
  replenish(): number {
    if (this.length === 0 || this.peerLimit === undefined) return 0;
    const target = Math.min(this.peerLimit, this.maxActive);
    let issued = 0;
    while (this.active.size < target) {
      this.toSend.add(this.issue(undefined).sequenceNumber);
      issued++;
    }
    return issued;
  }

  /** The NEW_CONNECTION_ID frames waiting to be written, lowest sequence number first. */
  pendingNewConnectionIds(): NewConnectionIdFrame[] {
    const out: NewConnectionIdFrame[] = [];
    for (const seq of [...this.toSend].sort((a, b) => a - b)) {
      const frame = this.newConnectionIdFrame(seq);
      if (frame !== undefined) out.push(frame);
    }
    return out;
  }

  /** True when a NEW_CONNECTION_ID frame is waiting. */
  get hasPendingNewConnectionIds(): boolean {
    return this.toSend.size > 0;
  }

  /** The NEW_CONNECTION_ID frame announcing active sequence `sequenceNumber`, or `undefined` once retired. */
  newConnectionIdFrame(sequenceNumber: number): NewConnectionIdFrame | undefined {
    const e = this.active.get(sequenceNumber);
    if (e === undefined || e.statelessResetToken === undefined) return undefined;
    return {
      kind: 'newConnectionId',
      sequenceNumber,
      retirePriorTo: 0,
      connectionId: e.connectionId,
      statelessResetToken: e.statelessResetToken,
    };
  }

  /** The frame for `sequenceNumber` was written into a packet. */
  onNewConnectionIdSent(sequenceNumber: number): void {
    this.toSend.delete(sequenceNumber);
    if (sequenceNumber < this.nextSeq && sequenceNumber > this.maxAnnounced) this.maxAnnounced = sequenceNumber;
  }

  /** The packet carrying it was lost: send it again if the ID is still active (RFC 9000 §13.3). */
  onNewConnectionIdLost(sequenceNumber: number): void {
    if (this.active.has(sequenceNumber) && sequenceNumber !== 0) this.toSend.add(sequenceNumber);
  }

  /**
   * Applies the peer's RETIRE_CONNECTION_ID for `sequenceNumber`, received in a packet whose
   * Destination Connection ID was `packetDestinationConnectionId`, and issues a replacement.
   * Returns how many IDs were issued. A repeated retirement is ignored.
   *
   * Throws PROTOCOL_VIOLATION when we use zero-length IDs (RFC 9000 §19.16), for a sequence number
   * we never sent (§19.16 MUST), or when it retires the ID the packet was sent to (§19.16 MAY).
   */
  onRetireConnectionId(sequenceNumber: number, packetDestinationConnectionId: Uint8Array): number {
    const frameType = FrameType.RETIRE_CONNECTION_ID;
    if (this.length === 0) {
      throw new QuicError(TransportErrorCode.PROTOCOL_VIOLATION, 'RETIRE_CONNECTION_ID while we use zero-length connection IDs', { frameType });
    }
    if (sequenceNumber > this.maxAnnounced) {
      throw new QuicError(TransportErrorCode.PROTOCOL_VIOLATION, `RETIRE_CONNECTION_ID for sequence ${sequenceNumber}, never sent`, { frameType });
    }
    const entry = this.active.get(sequenceNumber);
    if (entry === undefined) return 0;
    if (connectionIdEquals(entry.connectionId, packetDestinationConnectionId)) {
      throw new QuicError(
        TransportErrorCode.PROTOCOL_VIOLATION,
        `RETIRE_CONNECTION_ID for sequence ${sequenceNumber}, the connection ID of its own packet`,
        { frameType },
      );
    }
    this.active.delete(sequenceNumber);
    this.byKey.delete(connectionIdKey(entry.connectionId));
    if (this.lastHit === entry) this.lastHit = undefined;
    this.toSend.delete(sequenceNumber);
    this.listener?.removed(entry);
    return this.replenish();
  }

  private issue(given: Uint8Array | undefined): ConnectionIdEntry {
    const cid = given ?? this.newConnectionId();
    const seq = this.nextSeq++;
    const entry: ConnectionIdEntry = {
      sequenceNumber: seq,
      connectionId: cid,
      statelessResetToken: cid.length === 0 ? undefined : this.resetTokens.token(cid),
    };
    this.active.set(seq, entry);
    this.byKey.set(connectionIdKey(cid), entry);
    this.listener?.added(entry);
    return entry;
  }

  private newConnectionId(): Uint8Array {
    // RFC 9000 §5.1: the same connection ID MUST NOT be issued more than once on a connection.
    // Redraw on a clash with an active one; random IDs of useful length make other clashes negligible.
    for (let attempt = 0; attempt < 16; attempt++) {
      const cid = this.generate !== undefined ? new Uint8Array(this.generate()) : this.provider.randomBytes(this.length);
      if (cid.length !== this.length) throw new RangeError(`generated connection ID has ${cid.length} bytes, expected ${this.length}`);
      if (!this.byKey.has(connectionIdKey(cid))) return cid;
    }
    throw new QuicError(TransportErrorCode.INTERNAL_ERROR, `no unused ${this.length}-byte connection ID after 16 attempts`);
  }
}

/** Options of {@link PeerConnectionIds}. */
export interface PeerConnectionIdsOptions {
  /** Our active_connection_id_limit transport parameter: how many peer IDs we store (at least 2). */
  readonly activeConnectionIdLimit: number;
  /**
   * The peer's handshake connection ID, sequence 0: the Source Connection ID of its first Initial
   * packet (RFC 9000 §7.2). Zero-length when the peer uses zero-length IDs.
   */
  readonly initialConnectionId: Uint8Array;
  /** Its stateless reset token, when known now (a server's stateless_reset_token transport parameter). */
  readonly initialStatelessResetToken?: Uint8Array;
  /**
   * Bound on the IDs we have retired whose RETIRE_CONNECTION_ID is not yet acknowledged
   * (RFC 9000 §5.1.2: at least twice active_connection_id_limit SHOULD be allowed; beyond the bound
   * → CONNECTION_ID_LIMIT_ERROR). Default max(2 × activeConnectionIdLimit, 8).
   */
  readonly maxPendingRetirements?: number;
}

interface PeerEntry {
  readonly sequenceNumber: number;
  readonly connectionId: Uint8Array;
  statelessResetToken: Uint8Array | undefined;
  /** We have sent packets with it: only then does its token count for detection (RFC 9000 §10.3.1). */
  used: boolean;
}

/**
 * The connection IDs the peer issued us (RFC 9000 §5.1, §19.15) and our retirements of them
 * (§5.1.2, §19.16).
 *
 * {@link current} is the Destination Connection ID to send with; it changes when Retire Prior To
 * retires it, or on {@link switchConnectionId}. Retirements are queued as RETIRE_CONNECTION_ID
 * frames ({@link pendingRetireConnectionIds}) and tracked until acknowledged. Stateless reset
 * detection uses the tokens of active IDs we have sent with ({@link isStatelessReset}).
 */
export class PeerConnectionIds {
  private readonly limit: number;
  private readonly maxPending: number;
  private readonly zero: boolean;
  private readonly active = new Map<number, PeerEntry>();
  private currentEntry: PeerEntry;
  /**
   * True when Retire Prior To retired the current ID while no other was active: we keep sending
   * with it (it is no longer in `active`) and queue its RETIRE_CONNECTION_ID once a replacement
   * arrives — sent earlier, in a packet addressed to that very ID, the peer could treat it as
   * PROTOCOL_VIOLATION (RFC 9000 §19.16).
   */
  private currentRetiring = false;
  private largestRetirePriorTo = 0;
  /** Sequence numbers at or above Retire Prior To that we retired ourselves (a late copy of their NEW_CONNECTION_ID must not revive them). */
  private readonly retiredAbove = new Set<number>();
  private readonly retireQueue = new Set<number>();
  private readonly retireInFlight = new Set<number>();

  constructor(options: PeerConnectionIdsOptions) {
    this.limit = options.activeConnectionIdLimit;
    this.maxPending = options.maxPendingRetirements ?? Math.max(2 * options.activeConnectionIdLimit, 8);
    this.zero = options.initialConnectionId.length === 0;
    const token = options.initialStatelessResetToken;
    if (token !== undefined) checkToken(token);
    this.currentEntry = {
      sequenceNumber: 0,
      connectionId: new Uint8Array(options.initialConnectionId),
      statelessResetToken: token === undefined ? undefined : new Uint8Array(token),
      used: true,
    };
    this.active.set(0, this.currentEntry);
  }

  /** The connection ID to put in the Destination Connection ID of packets we send now. */
  get current(): ConnectionIdEntry {
    return this.currentEntry;
  }

  /**
   * True when {@link current} was retired by Retire Prior To but is still used because the peer
   * has not supplied another yet; it is not among {@link activeConnectionIds}, and its
   * RETIRE_CONNECTION_ID is queued as soon as a new ID arrives.
   */
  get isCurrentRetiring(): boolean {
    return this.currentRetiring;
  }

  /** True when the peer uses zero-length connection IDs: it may send no NEW_CONNECTION_ID and we send no RETIRE_CONNECTION_ID. */
  get zeroLength(): boolean {
    return this.zero;
  }

  /** Number of active peer connection IDs (never above our limit; a retiring current ID is not counted). */
  get activeCount(): number {
    return this.active.size;
  }

  /** Number of active IDs never used: available for a migration (RFC 9000 §9.5). */
  get unusedCount(): number {
    let n = 0;
    for (const e of this.active.values()) if (!e.used) n++;
    return n;
  }

  /** The largest Retire Prior To received. */
  get retirePriorTo(): number {
    return this.largestRetirePriorTo;
  }

  /** The active peer connection IDs, in the order they were received. */
  activeConnectionIds(): ConnectionIdEntry[] {
    return [...this.active.values()];
  }

  /** Number of retirements not yet acknowledged (queued or in flight). */
  get pendingRetirements(): number {
    return this.retireQueue.size + this.retireInFlight.size;
  }

  /**
   * Sets the token of sequence 0 from the server's stateless_reset_token transport parameter
   * (RFC 9000 §10.3, §18.2), on the client once the parameters arrive.
   */
  setInitialStatelessResetToken(token: Uint8Array): void {
    checkToken(token);
    const e = this.active.get(0);
    if (e !== undefined) e.statelessResetToken = new Uint8Array(token);
  }

  /**
   * Adds the connection ID of the server's preferred_address transport parameter: sequence 1
   * (RFC 9000 §5.1.1), with the same rules as a NEW_CONNECTION_ID frame.
   */
  addPreferredAddressConnectionId(connectionId: Uint8Array, statelessResetToken: Uint8Array): void {
    this.onNewConnectionId({ kind: 'newConnectionId', sequenceNumber: 1, retirePriorTo: 0, connectionId, statelessResetToken });
  }

  /**
   * Applies a NEW_CONNECTION_ID frame (RFC 9000 §5.1.1, §5.1.2, §19.15). The frame's byte strings
   * are copied.
   *
   * - A repeat of an active ID (same sequence, ID and token) is ignored; the same sequence with a
   *   different ID or token, or an active ID or token under another sequence → PROTOCOL_VIOLATION.
   * - A sequence below the largest Retire Prior To is retired at once (RETIRE_CONNECTION_ID queued
   *   unless already pending); one we retired ourselves is not revived.
   * - A larger Retire Prior To retires every active ID below it; if the current ID goes, the
   *   lowest unused active ID becomes current. If none is left (possible when a retransmitted
   *   frame for an ID we retired ourselves carries a larger Retire Prior To than the original),
   *   the current ID stays in use until a new one arrives ({@link isCurrentRetiring}).
   * - More active IDs than our active_connection_id_limit afterwards → CONNECTION_ID_LIMIT_ERROR;
   *   more unacknowledged retirements than the bound → CONNECTION_ID_LIMIT_ERROR (§5.1.2).
   * - Any NEW_CONNECTION_ID while the peer uses zero-length IDs → PROTOCOL_VIOLATION.
   */
  onNewConnectionId(frame: NewConnectionIdFrame): void {
    const frameType = FrameType.NEW_CONNECTION_ID;
    const seq = frame.sequenceNumber;
    const rpt = frame.retirePriorTo;
    if (this.zeroLength) {
      // RFC 9000 §19.15: an endpoint sending zero-length DCIDs MUST treat NEW_CONNECTION_ID as PROTOCOL_VIOLATION.
      throw new QuicError(TransportErrorCode.PROTOCOL_VIOLATION, 'NEW_CONNECTION_ID from a peer using zero-length connection IDs', { frameType });
    }
    checkToken(frame.statelessResetToken);
    if (frame.connectionId.length < 1 || frame.connectionId.length > MAX_CONNECTION_ID_LENGTH || rpt > seq) {
      throw new QuicError(TransportErrorCode.FRAME_ENCODING_ERROR, 'malformed NEW_CONNECTION_ID', { frameType });
    }
    const existing = this.active.get(seq);
    let add = false;
    if (existing !== undefined) {
      if (
        !connectionIdEquals(existing.connectionId, frame.connectionId) ||
        existing.statelessResetToken === undefined ||
        !connectionIdEquals(existing.statelessResetToken, frame.statelessResetToken)
      ) {
        throw new QuicError(TransportErrorCode.PROTOCOL_VIOLATION, `sequence ${seq} reused for a different connection ID or token`, { frameType });
      }
    } else if (seq < this.largestRetirePriorTo) {
      // RFC 9000 §19.15: MUST send a RETIRE_CONNECTION_ID for it, unless it has already done so.
      // A retiring current ID gets its RETIRE_CONNECTION_ID once it is replaced.
      const retiringCurrent = this.currentRetiring && seq === this.currentEntry.sequenceNumber;
      if (!retiringCurrent && !this.retireQueue.has(seq) && !this.retireInFlight.has(seq)) this.retireQueue.add(seq);
    } else if (!this.retiredAbove.has(seq)) {
      for (const e of this.active.values()) {
        if (connectionIdEquals(e.connectionId, frame.connectionId)) {
          throw new QuicError(TransportErrorCode.PROTOCOL_VIOLATION, `connection ID of sequence ${e.sequenceNumber} repeated as sequence ${seq}`, {
            frameType,
          });
        }
        if (e.statelessResetToken !== undefined && connectionIdEquals(e.statelessResetToken, frame.statelessResetToken)) {
          // RFC 9000 §10.3.2: the same token MUST NOT be used for multiple connection IDs (MAY be PROTOCOL_VIOLATION).
          throw new QuicError(TransportErrorCode.PROTOCOL_VIOLATION, `stateless reset token of sequence ${e.sequenceNumber} repeated`, { frameType });
        }
      }
      add = true;
    }
    if (rpt > this.largestRetirePriorTo) {
      // RFC 9000 §5.1.2: retire the indicated IDs before adding the new one.
      this.largestRetirePriorTo = rpt;
      for (const e of [...this.active.values()]) {
        if (e.sequenceNumber >= rpt) continue;
        if (e === this.currentEntry) {
          this.active.delete(e.sequenceNumber);
          this.currentRetiring = true;
        } else {
          this.retireEntry(e);
        }
      }
      for (const s of this.retiredAbove) if (s < rpt) this.retiredAbove.delete(s);
    }
    if (add) {
      this.active.set(seq, {
        sequenceNumber: seq,
        connectionId: new Uint8Array(frame.connectionId),
        statelessResetToken: new Uint8Array(frame.statelessResetToken),
        used: false,
      });
    }
    if (this.active.size > this.limit) {
      // RFC 9000 §5.1.1: MUST close with CONNECTION_ID_LIMIT_ERROR.
      throw new QuicError(TransportErrorCode.CONNECTION_ID_LIMIT_ERROR, `${this.active.size} active connection IDs exceed our limit ${this.limit}`, {
        frameType,
      });
    }
    if (this.currentRetiring && this.active.size > 0) {
      const previous = this.currentEntry;
      this.selectCurrent();
      this.currentRetiring = false;
      this.retireEntry(previous);
    }
    this.checkPending(frameType);
  }

  /**
   * Switches to an unused active connection ID (RFC 9000 §9.5: a new one for a new path) and
   * returns it, retiring the previous one when `retireCurrent`; `undefined` (nothing changes)
   * when no unused ID is available or the peer uses zero-length IDs.
   */
  switchConnectionId(retireCurrent = true): ConnectionIdEntry | undefined {
    if (this.zeroLength) return undefined;
    const next = this.lowestUnused();
    if (next === undefined) return undefined;
    const previous = this.currentEntry;
    next.used = true;
    this.currentEntry = next;
    if (retireCurrent) {
      this.retireEntry(previous);
      this.checkPending(FrameType.RETIRE_CONNECTION_ID);
    }
    return next;
  }

  /**
   * Retires active sequence `sequenceNumber` on our own initiative (queues RETIRE_CONNECTION_ID).
   * Returns false when it is not active, or is the current ID and no other is available.
   */
  retire(sequenceNumber: number): boolean {
    const e = this.active.get(sequenceNumber);
    if (e === undefined || this.zeroLength) return false;
    if (e === this.currentEntry && this.active.size === 1) return false;
    this.retireEntry(e);
    if (e === this.currentEntry) this.selectCurrent();
    this.checkPending(FrameType.RETIRE_CONNECTION_ID);
    return true;
  }

  /** The sequence numbers whose RETIRE_CONNECTION_ID frames are waiting to be written, lowest first. */
  pendingRetireConnectionIds(): number[] {
    return [...this.retireQueue].sort((a, b) => a - b);
  }

  /** True when a RETIRE_CONNECTION_ID frame is waiting. */
  get hasPendingRetireConnectionIds(): boolean {
    return this.retireQueue.size > 0;
  }

  /** The RETIRE_CONNECTION_ID for `sequenceNumber` was written into a packet. */
  onRetireConnectionIdSent(sequenceNumber: number): void {
    if (this.retireQueue.delete(sequenceNumber)) this.retireInFlight.add(sequenceNumber);
  }

  /** Its packet was acknowledged: the retirement is complete. */
  onRetireConnectionIdAcked(sequenceNumber: number): void {
    this.retireInFlight.delete(sequenceNumber);
    this.retireQueue.delete(sequenceNumber);
  }

  /** Its packet was lost: send it again (RFC 9000 §13.3). */
  onRetireConnectionIdLost(sequenceNumber: number): void {
    if (this.retireInFlight.delete(sequenceNumber)) this.retireQueue.add(sequenceNumber);
  }

  /**
   * The stateless reset tokens to check incoming datagrams against: those of active IDs we have
   * sent with (RFC 9000 §10.3.1: not of unused or retired ones).
   */
  statelessResetTokens(): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (const e of this.active.values()) if (e.used && e.statelessResetToken !== undefined) out.push(e.statelessResetToken);
    // A retiring current ID is still in use: no RETIRE_CONNECTION_ID has been sent for it.
    if (this.currentRetiring && this.currentEntry.statelessResetToken !== undefined) out.push(this.currentEntry.statelessResetToken);
    return out;
  }

  /** True when `datagram` ends in one of {@link statelessResetTokens} (constant-time comparisons, RFC 9000 §10.3.1). */
  isStatelessReset(datagram: Uint8Array): boolean {
    return isStatelessReset(datagram, this.statelessResetTokens());
  }

  private retireEntry(e: PeerEntry): void {
    this.active.delete(e.sequenceNumber);
    if (e.sequenceNumber >= this.largestRetirePriorTo) this.retiredAbove.add(e.sequenceNumber);
    if (!this.retireInFlight.has(e.sequenceNumber)) this.retireQueue.add(e.sequenceNumber);
  }

  private lowestUnused(): PeerEntry | undefined {
    let best: PeerEntry | undefined;
    for (const e of this.active.values()) if (!e.used && (best === undefined || e.sequenceNumber < best.sequenceNumber)) best = e;
    return best;
  }

  /** Picks a new current ID after the current one was retired: the lowest unused one, else the lowest active. */
  private selectCurrent(): void {
    let next = this.lowestUnused();
    if (next === undefined) {
      for (const e of this.active.values()) if (next === undefined || e.sequenceNumber < next.sequenceNumber) next = e;
    }
    if (next === undefined) {
      // Unreachable: callers check that an active ID exists.
      throw new QuicError(TransportErrorCode.INTERNAL_ERROR, 'no active peer connection ID left');
    }
    next.used = true;
    this.currentEntry = next;
  }

  private checkPending(frameType: number): void {
    if (this.pendingRetirements > this.maxPending) {
      // RFC 9000 §5.1.2: MAY treat too many connection IDs in need of retirement as CONNECTION_ID_LIMIT_ERROR.
      throw new QuicError(
        TransportErrorCode.CONNECTION_ID_LIMIT_ERROR,
        `${this.pendingRetirements} connection ID retirements pending exceed the bound ${this.maxPending}`,
        { frameType },
      );
    }
  }
}

function checkToken(token: Uint8Array): void {
  if (token.length !== STATELESS_RESET_TOKEN_LENGTH) {
    throw new QuicError(TransportErrorCode.FRAME_ENCODING_ERROR, `stateless reset token of ${token.length} bytes, expected 16`);
  }
}
