/**
 * Flow control and stream concurrency limits of one connection (RFC 9000 §4), both directions.
 *
 * Receive side: the limits we advertise (initial transport parameters, then MAX_DATA,
 * MAX_STREAM_DATA and MAX_STREAMS) grow as the application reads and as peer streams close, and a
 * peer exceeding the data limits is a FLOW_CONTROL_ERROR found by a pure check the connection
 * calls before accepting a frame. Stream *counts* are kept by the connection's
 * {@link StreamIdSpace} (`stream-id.ts`, which also refuses streams beyond the limit with
 * STREAM_LIMIT_ERROR); this controller turns its credit into MAX_STREAMS and STREAMS_BLOCKED
 * frames.
 *
 * Send side: the credit the peer grants is consumed by *new* stream data only — data sent again
 * consumes nothing (RFC 9000 §4.1) — and when data waits for credit, DATA_BLOCKED,
 * STREAM_DATA_BLOCKED or STREAMS_BLOCKED is sent once per limit value.
 *
 * The frames this produces are serialized by `sources/flow-control-source.ts` at flush time with
 * the *current* values: a lost update re-sends the current value, and only while it is still
 * relevant (RFC 9000 §13.3).
 *
 * @module
 */
import { Subject, type Observable } from 'rxjs';
import type { SentFrame } from '../packet/types.js';
import { QuicError, TransportErrorCode } from '../wire/errors.js';
import type {
  DataBlockedFrame,
  MaxDataFrame,
  MaxStreamDataFrame,
  MaxStreamsFrame,
  StreamDataBlockedFrame,
  StreamsBlockedFrame,
} from '../wire/frames/types.js';
import type { TransportParameters } from '../wire/transport-parameters.js';
import { MAX_SAFE_VARINT } from '../wire/varint.js';
import { isBidirectionalStream, isLocallyInitiated, StreamIdSpace } from './stream-id.js';

/** The transport parameters that set flow control and stream limits (RFC 9000 §18.2). */
export type FlowControlParameters = Pick<
  TransportParameters,
  | 'initialMaxData'
  | 'initialMaxStreamDataBidiLocal'
  | 'initialMaxStreamDataBidiRemote'
  | 'initialMaxStreamDataUni'
  | 'initialMaxStreamsBidi'
  | 'initialMaxStreamsUni'
>;

/** By default a window update is sent once the application has read half of the window. */
export const DEFAULT_WINDOW_UPDATE_FRACTION = 0.5;

/**
 * Send-side credit granted by the peer: MAX_DATA for the connection, MAX_STREAM_DATA for a stream
 * (RFC 9000 §4.1). `used` counts new data only.
 */
export class SendCredit {
  private max: number;
  private consumed = 0;
  private blockedReportedAt: number | undefined;

  /** Creates credit with the peer's initial limit. */
  constructor(limit: number) {
    this.max = limit;
  }

  /** The peer's current limit (largest value received). */
  get limit(): number {
    return this.max;
  }

  /** Bytes of new data sent so far. */
  get used(): number {
    return this.consumed;
  }

  /** Bytes that may still be sent as new data. */
  get available(): number {
    return Math.max(0, this.max - this.consumed);
  }

  /** Records `bytes` of new data sent. Throws INTERNAL_ERROR beyond the limit (a sender bug). */
  consume(bytes: number): void {
    if (this.consumed + bytes > this.max) {
      throw new QuicError(TransportErrorCode.INTERNAL_ERROR, `sent ${this.consumed + bytes} bytes beyond the peer's limit ${this.max}`);
    }
    this.consumed += bytes;
  }

  /** Applies a limit from the peer; a value not larger than the current one is ignored (RFC 9000 §4.1, §19.9). Returns true when raised. */
  raise(limit: number): boolean {
    if (!(limit > this.max)) return false;
    this.max = Math.min(limit, MAX_SAFE_VARINT);
    return true;
  }

  /**
   * True when data waits for credit at the current limit and no blocked signal was reported for
   * this limit yet; marks it reported. A sender signals blocking once per limit value
   * (RFC 9000 §4.1, §19.12–§19.13).
   */
  takeBlockedSignal(): boolean {
    if (this.available > 0 || this.blockedReportedAt === this.max) return false;
    this.blockedReportedAt = this.max;
    return true;
  }

  /** True while blocked at `limit` (a BLOCKED frame for `limit` is still relevant, RFC 9000 §13.3). */
  isBlockedAt(limit: number): boolean {
    return this.max === limit && this.available === 0;
  }
}

/** Options of a {@link ReceiveWindow}. */
export interface ReceiveWindowOptions {
  /** The initial limit advertised (a transport parameter), which is also the initial window size. */
  readonly initial: number;
  /** Auto-tuning: the largest the window may grow to; defaults to `initial` (no auto-tuning). */
  readonly maxWindow?: number;
  /** Send an update once this fraction of the window has been read; defaults to 1/2. */
  readonly updateFraction?: number;
}

/**
 * The receive window of the connection or of one stream (RFC 9000 §4.1–§4.2): the limit
 * advertised to the peer, the highest offset received, the bytes the application consumed, and
 * when to advertise more.
 *
 * The limit advances to `consumed + window` once the application has consumed `updateFraction` of
 * the window since the last advertisement. With auto-tuning (`maxWindow > initial`), the window
 * doubles, up to `maxWindow`, when an update becomes due less than two round trips (scaled by
 * the fraction of the window consumed) after the previous one — the peer is limited by flow
 * control rather than by the application (as quic-go and TCP receive-buffer auto-tuning do).
 */
export class ReceiveWindow {
  private advertisedLimit: number;
  private windowSize: number;
  private readonly maxWindow: number;
  private readonly fraction: number;
  private highestReceived = 0;
  private consumedBytes = 0;
  private epochStart: number | undefined;
  private epochConsumed = 0;
  private updateRequested = false;

  /** Creates a window whose initial limit is `options.initial`. */
  constructor(options: ReceiveWindowOptions) {
    this.advertisedLimit = options.initial;
    this.windowSize = Math.max(options.initial, 1);
    this.maxWindow = Math.max(options.maxWindow ?? options.initial, this.windowSize);
    this.fraction = options.updateFraction ?? DEFAULT_WINDOW_UPDATE_FRACTION;
  }

  /** The largest limit advertised so far: the peer may send up to this offset. */
  get limit(): number {
    return this.advertisedLimit;
  }

  /** The current window size (grows with auto-tuning). */
  get window(): number {
    return this.windowSize;
  }

  /** The highest offset received (end of the data with the largest offset). */
  get highest(): number {
    return this.highestReceived;
  }

  /** Bytes consumed (read) by the application. */
  get consumed(): number {
    return this.consumedBytes;
  }

  /** True when data ending at `end` would exceed the advertised limit (RFC 9000 §4.1: FLOW_CONTROL_ERROR). Pure. */
  exceeds(end: number): boolean {
    return end > this.advertisedLimit;
  }

  /** Records data received up to `end`; returns how much the highest offset grew. */
  onReceived(end: number): number {
    if (end <= this.highestReceived) return 0;
    const grew = end - this.highestReceived;
    this.highestReceived = end;
    return grew;
  }

  /**
   * Records `bytes` consumed by the application at `now`. Returns true when an update (a larger
   * limit) becomes due — once, until {@link onAdvertised} records a larger limit. `smoothedRtt`
   * (ms) enables auto-tuning.
   */
  onConsumed(bytes: number, now: number, smoothedRtt?: number): boolean {
    this.consumedBytes += bytes;
    if (this.epochStart === undefined) {
      this.epochStart = now;
      this.epochConsumed = this.consumedBytes - bytes;
    }
    if (this.updateRequested || !this.updateDue()) return false;
    this.updateRequested = true;
    this.autoTune(now, smoothedRtt);
    return true;
  }

  /** True when the consumed part has passed the update fraction of the window. */
  updateDue(): boolean {
    return this.consumedBytes + this.windowSize - this.advertisedLimit >= this.windowSize * this.fraction;
  }

  /** The limit to advertise now: `consumed + window` (never below the advertised one). */
  nextLimit(): number {
    return Math.min(MAX_SAFE_VARINT, Math.max(this.advertisedLimit, this.consumedBytes + this.windowSize));
  }

  /** Records that `limit` was written into a packet: the peer may use it from now on. */
  onAdvertised(limit: number): void {
    if (limit > this.advertisedLimit) this.advertisedLimit = limit;
    this.updateRequested = false;
  }

  /** Grows the window to at least `size` (bounded by the auto-tuning maximum). */
  ensureWindow(size: number): void {
    const target = Math.min(size, this.maxWindow);
    if (target > this.windowSize) this.windowSize = target;
  }

  private autoTune(now: number, smoothedRtt: number | undefined): void {
    const inEpoch = this.consumedBytes - this.epochConsumed;
    if (this.windowSize < this.maxWindow && smoothedRtt !== undefined && smoothedRtt > 0 && this.epochStart !== undefined) {
      const fractionRead = inEpoch / this.windowSize;
      // The window was consumed in under two round trips (scaled): it limits the peer; grow it.
      if (now - this.epochStart < 4 * fractionRead * smoothedRtt) {
        this.windowSize = Math.min(this.windowSize * 2, this.maxWindow);
      }
    }
    this.epochStart = now;
    this.epochConsumed = this.consumedBytes;
  }
}

/** Per-stream flow control state. */
interface StreamFlow {
  /** Receive window; undefined for a stream we only send on. */
  recv: ReceiveWindow | undefined;
  /** Send credit; undefined for a stream we only receive on. */
  send: SendCredit | undefined;
  /** False once the receiving part reached "Size Known" or "Reset Recvd": no more MAX_STREAM_DATA (RFC 9000 §13.3). */
  wantsUpdates: boolean;
}

/** A flow control frame the flow-control source writes (RFC 9000 §19.9–§19.14). */
export type FlowControlFrame =
  | MaxDataFrame
  | MaxStreamDataFrame
  | MaxStreamsFrame
  | DataBlockedFrame
  | StreamDataBlockedFrame
  | StreamsBlockedFrame;

/** Options of a {@link FlowController}. */
export interface FlowControllerOptions {
  /** Our role; it decides which stream IDs are ours (RFC 9000 §2.1). */
  readonly role: 'client' | 'server';
  /** Our transport parameters: the receive-side limits we advertise. */
  readonly local: FlowControlParameters;
  /** The peer's transport parameters when already known (0-RTT remembers them); see {@link FlowController.setPeerParameters}. */
  readonly peer?: FlowControlParameters;
  /** Auto-tuning of receive windows: the largest connection and stream windows; absent = fixed windows. */
  readonly autoTune?: {
    /** Largest connection receive window, in bytes. */
    readonly maxConnectionWindow: number;
    /** Largest stream receive window, in bytes. */
    readonly maxStreamWindow: number;
  };
  /** Fraction of a window consumed before an update is sent; defaults to 1/2. */
  readonly updateFraction?: number;
  /**
   * The connection's stream ID space, whose stream limits MAX_STREAMS and STREAMS_BLOCKED report.
   * Defaults to one built from `local` (the peer may keep initial_max_streams_* streams open) and
   * `peer`.
   */
  readonly streamIds?: StreamIdSpace;
  /**
   * Called after a flow control frame is committed to a packet ({@link FlowController.onFrameSent}).
   * A STREAM_DATA_BLOCKED sent before any STREAM frame moves the stream's sending part to "Send"
   * (RFC 9000 §3.1).
   */
  readonly onFrameSent?: (frame: FlowControlFrame) => void;
}

const NO_LIMITS: FlowControlParameters = Object.freeze({
  initialMaxData: 0,
  initialMaxStreamDataBidiLocal: 0,
  initialMaxStreamDataBidiRemote: 0,
  initialMaxStreamDataUni: 0,
  initialMaxStreamsBidi: 0,
  initialMaxStreamsUni: 0,
});

/**
 * Flow control of one connection: receive windows and stream limits we advertise, send credit
 * and stream limits the peer grants, and the MAX_* and *_BLOCKED frames waiting to be sent.
 *
 * Sans-IO and synchronous; {@link pending$} announces a frame to send, {@link sendCreditRaised$}
 * and {@link streamLimitRaised$} announce credit so blocked senders can resume.
 */
export class FlowController {
  private readonly role: 'client' | 'server';
  private readonly local: FlowControlParameters;
  private peer: FlowControlParameters;
  private readonly fraction: number;
  private readonly maxStreamWindow: number | undefined;

  private readonly connRecv: ReceiveWindow;
  private readonly connSend: SendCredit;
  private readonly streams = new Map<number, StreamFlow>();
  /** Stream counts and limits in both directions (RFC 9000 §4.6). */
  readonly streamIds: StreamIdSpace;
  /** The limit at which STREAMS_BLOCKED was last queued, per type (once per limit value). */
  private readonly streamsBlockedReportedAt: { bidi: number | undefined; uni: number | undefined } = { bidi: undefined, uni: undefined };

  // Pending frames (information, not bytes): written with current values at flush time.
  private maxDataPending = false;
  private readonly maxStreamDataPending = new Set<number>();
  private readonly maxStreamsPending = { bidi: false, uni: false };
  private dataBlockedPending: number | undefined;
  private readonly streamDataBlockedPending = new Map<number, number>();
  private readonly streamsBlockedPending: { bidi: number | undefined; uni: number | undefined } = { bidi: undefined, uni: undefined };
  /** Values carried by sent MAX_* frames, to skip re-sending after a loss when a newer one was acknowledged. */
  private readonly sentValues = new WeakMap<SentFrame, number>();
  private maxDataAcked = 0;
  private readonly maxStreamsAcked = { bidi: 0, uni: 0 };
  private readonly frameSentHook: ((frame: FlowControlFrame) => void) | undefined;

  private readonly pending = new Subject<void>();
  private readonly creditRaised = new Subject<number | undefined>();
  private readonly limitRaised = new Subject<boolean>();

  /** Emits when a flow control frame becomes pending. */
  readonly pending$: Observable<void> = this.pending.asObservable();
  /** Emits a stream ID when that stream's send credit grows, or `undefined` when the connection's does. */
  readonly sendCreditRaised$: Observable<number | undefined> = this.creditRaised.asObservable();
  /** Emits `true` (bidirectional) or `false` (unidirectional) when the peer lets us open more streams. */
  readonly streamLimitRaised$: Observable<boolean> = this.limitRaised.asObservable();

  /** Creates the flow control state of a new connection. */
  constructor(options: FlowControllerOptions) {
    this.role = options.role;
    this.local = options.local;
    this.peer = options.peer ?? NO_LIMITS;
    this.fraction = options.updateFraction ?? DEFAULT_WINDOW_UPDATE_FRACTION;
    this.maxStreamWindow = options.autoTune?.maxStreamWindow;
    this.frameSentHook = options.onFrameSent;
    this.connRecv = new ReceiveWindow({
      initial: this.local.initialMaxData,
      maxWindow: options.autoTune?.maxConnectionWindow,
      updateFraction: this.fraction,
    });
    this.connSend = new SendCredit(this.peer.initialMaxData);
    this.streamIds =
      options.streamIds ??
      new StreamIdSpace({
        role: options.role,
        maxConcurrentPeerBidiStreams: this.local.initialMaxStreamsBidi,
        maxConcurrentPeerUniStreams: this.local.initialMaxStreamsUni,
        peerMaxStreamsBidi: this.peer.initialMaxStreamsBidi,
        peerMaxStreamsUni: this.peer.initialMaxStreamsUni,
      });
  }

  // -------------------------------------------------------------------------------------------
  // Streams
  // -------------------------------------------------------------------------------------------

  /** True when `streamId` was initiated by this endpoint. */
  isLocalStream(streamId: number): boolean {
    return isLocallyInitiated(streamId, this.role);
  }

  /**
   * Creates the flow control state of a stream, with the initial limits of its type
   * (RFC 9000 §18.2): a receive window unless we initiated a unidirectional stream, send credit
   * unless the peer did. Idempotent. Call it for each peer stream `StreamIdSpace.classify` opens;
   * {@link openLocalStream} calls it for ours.
   */
  addStream(streamId: number): void {
    if (this.streams.has(streamId)) return;
    const bidi = isBidirectionalStream(streamId);
    const local = this.isLocalStream(streamId);
    let recvInitial: number | undefined;
    let sendInitial: number | undefined;
    if (bidi) {
      recvInitial = local ? this.local.initialMaxStreamDataBidiLocal : this.local.initialMaxStreamDataBidiRemote;
      sendInitial = local ? this.peer.initialMaxStreamDataBidiRemote : this.peer.initialMaxStreamDataBidiLocal;
    } else if (local) {
      sendInitial = this.peer.initialMaxStreamDataUni;
    } else {
      recvInitial = this.local.initialMaxStreamDataUni;
    }
    const recv =
      recvInitial === undefined
        ? undefined
        : new ReceiveWindow({ initial: recvInitial, maxWindow: this.maxStreamWindow, updateFraction: this.fraction });
    this.streams.set(streamId, {
      recv,
      send: sendInitial === undefined ? undefined : new SendCredit(sendInitial),
      wantsUpdates: recv !== undefined,
    });
  }

  /** Forgets a stream whose both directions are finished (pending frames for it are dropped). */
  removeStream(streamId: number): void {
    this.streams.delete(streamId);
    this.maxStreamDataPending.delete(streamId);
    this.streamDataBlockedPending.delete(streamId);
  }

  /** True when the stream has flow control state. */
  hasStream(streamId: number): boolean {
    return this.streams.has(streamId);
  }

  // -------------------------------------------------------------------------------------------
  // Receive side
  // -------------------------------------------------------------------------------------------

  /**
   * Pure check of stream data ending at `end` (offset + length, or a final size) against the
   * stream's and the connection's advertised limits (RFC 9000 §4.1). The stream must have been
   * added ({@link addStream}); a stream without a receive window is not checked.
   *
   * @throws QuicError(FLOW_CONTROL_ERROR) when either limit would be exceeded.
   */
  checkStreamData(streamId: number, end: number, frameType?: number): void {
    const s = this.streams.get(streamId);
    const recv = s?.recv;
    if (recv === undefined) return;
    if (recv.exceeds(end)) {
      throw new QuicError(TransportErrorCode.FLOW_CONTROL_ERROR, `stream ${streamId}: data up to ${end} exceeds the limit ${recv.limit}`, {
        frameType,
      });
    }
    const grew = Math.max(0, end - recv.highest);
    if (this.connRecv.exceeds(this.connRecv.highest + grew)) {
      throw new QuicError(
        TransportErrorCode.FLOW_CONTROL_ERROR,
        `connection: data up to ${this.connRecv.highest + grew} exceeds the limit ${this.connRecv.limit}`,
        { frameType },
      );
    }
  }

  /**
   * Records stream data received up to `end` (after {@link checkStreamData}); the connection
   * counts the sum of the highest offsets of all streams (RFC 9000 §4.1).
   */
  onStreamData(streamId: number, end: number): void {
    const recv = this.streams.get(streamId)?.recv;
    if (recv === undefined) return;
    const grew = recv.onReceived(end);
    if (grew > 0) this.connRecv.onReceived(this.connRecv.highest + grew);
  }

  /**
   * Records `bytes` read by the application from a stream at `now`; queues MAX_STREAM_DATA and
   * MAX_DATA once half of the window (by default) was consumed (RFC 9000 §4.2). `smoothedRtt`
   * (ms) enables auto-tuning.
   */
  onStreamRead(streamId: number, bytes: number, now: number, smoothedRtt?: number): void {
    if (bytes <= 0) return;
    const s = this.streams.get(streamId);
    let signal = false;
    if (s?.recv !== undefined && s.recv.onConsumed(bytes, now, smoothedRtt) && s.wantsUpdates) {
      // Keep the connection window ahead of any stream window (quic-go: 1.5 × stream window).
      this.connRecv.ensureWindow(Math.ceil(s.recv.window * 1.5));
      if (!this.maxStreamDataPending.has(streamId)) {
        this.maxStreamDataPending.add(streamId);
        signal = true;
      }
    }
    if (this.connRecv.onConsumed(bytes, now, smoothedRtt) && !this.maxDataPending) {
      this.maxDataPending = true;
      signal = true;
    }
    if (signal && this.pending.observed) this.pending.next();
  }

  /**
   * The receiving part of a stream reached "Size Known" or "Reset Recvd": no more
   * MAX_STREAM_DATA is sent for it (RFC 9000 §13.3). Reading the remaining data still opens the
   * connection window.
   */
  onStreamReceiveFinished(streamId: number): void {
    const s = this.streams.get(streamId);
    if (s === undefined) return;
    s.wantsUpdates = false;
    this.maxStreamDataPending.delete(streamId);
  }

  /**
   * The application will not read the rest of a stream (reset received, or it stopped reading):
   * every byte received or announced up to `finalSize` (default: the highest received) is
   * counted as consumed for the connection window, and the stream gets no more MAX_STREAM_DATA.
   */
  onStreamReceiveAbandoned(streamId: number, now: number, finalSize?: number): void {
    const s = this.streams.get(streamId);
    const recv = s?.recv;
    if (s === undefined || recv === undefined) return;
    if (finalSize !== undefined) this.onStreamData(streamId, finalSize);
    const unread = recv.highest - recv.consumed;
    this.onStreamReceiveFinished(streamId);
    if (unread > 0) {
      recv.onConsumed(unread, now);
      if (this.connRecv.onConsumed(unread, now) && !this.maxDataPending) {
        this.maxDataPending = true;
        if (this.pending.observed) this.pending.next();
      }
    }
  }

  /**
   * A stream is closed in both directions and forgotten: it is closed in the {@link streamIds}
   * space, its flow control state is removed and, for a peer stream, the credit freed is advertised
   * with MAX_STREAMS once enough accumulates (RFC 9000 §4.6, `StreamIdSpace.takeMaxStreamsUpdate`).
   */
  onStreamClosed(streamId: number): void {
    this.removeStream(streamId);
    this.streamIds.streamClosed(streamId);
    if (!this.isLocalStream(streamId)) this.grantStreams(isBidirectionalStream(streamId));
  }

  /**
   * The peer reported STREAMS_BLOCKED: freed credit is advertised at once, below the usual
   * threshold (RFC 9000 §4.6; `StreamIdSpace.onStreamsBlocked`).
   */
  onPeerStreamsBlocked(bidirectional: boolean, limit: number): void {
    this.streamIds.onStreamsBlocked(bidirectional, limit);
    this.grantStreams(bidirectional);
  }

  private grantStreams(bidirectional: boolean): void {
    if (this.streamIds.takeMaxStreamsUpdate(bidirectional) === undefined) return;
    const key = bidirectional ? 'bidi' : 'uni';
    if (!this.maxStreamsPending[key]) {
      this.maxStreamsPending[key] = true;
      if (this.pending.observed) this.pending.next();
    }
  }

  /** The connection receive window. */
  get connectionReceiveWindow(): ReceiveWindow {
    return this.connRecv;
  }

  /** A stream's receive window, undefined for a send-only or unknown stream. */
  streamReceiveWindow(streamId: number): ReceiveWindow | undefined {
    return this.streams.get(streamId)?.recv;
  }

  // -------------------------------------------------------------------------------------------
  // Send side
  // -------------------------------------------------------------------------------------------

  /**
   * Applies the peer's transport parameters (RFC 9000 §7.4, §18.2): the connection credit, the
   * credit of existing streams and the stream limits grow to them (limits never shrink).
   */
  setPeerParameters(peer: FlowControlParameters): void {
    this.peer = peer;
    if (this.connSend.raise(peer.initialMaxData)) this.creditRaised.next(undefined);
    for (const [id, s] of this.streams) {
      if (s.send === undefined) continue;
      const bidi = isBidirectionalStream(id);
      const initial = bidi
        ? this.isLocalStream(id)
          ? peer.initialMaxStreamDataBidiRemote
          : peer.initialMaxStreamDataBidiLocal
        : peer.initialMaxStreamDataUni;
      if (s.send.raise(initial)) this.creditRaised.next(id);
    }
    this.onMaxStreams(true, peer.initialMaxStreamsBidi);
    this.onMaxStreams(false, peer.initialMaxStreamsUni);
  }

  /** A MAX_DATA frame from the peer (RFC 9000 §19.9): smaller values are ignored. */
  onMaxData(maximum: number): void {
    if (!this.connSend.raise(maximum)) return;
    this.dataBlockedPending = undefined;
    this.creditRaised.next(undefined);
  }

  /** A MAX_STREAM_DATA frame from the peer (RFC 9000 §19.10): smaller values are ignored. */
  onMaxStreamData(streamId: number, maximum: number): void {
    const send = this.streams.get(streamId)?.send;
    if (send === undefined || !send.raise(maximum)) return;
    this.streamDataBlockedPending.delete(streamId);
    this.creditRaised.next(streamId);
  }

  /** A MAX_STREAMS frame from the peer (RFC 9000 §19.11): smaller values are ignored. */
  onMaxStreams(bidirectional: boolean, maximum: number): void {
    if (!this.streamIds.onMaxStreams(bidirectional, maximum)) return;
    this.streamsBlockedPending[bidirectional ? 'bidi' : 'uni'] = undefined;
    this.limitRaised.next(bidirectional);
  }

  /** Connection credit for new stream data (peer's MAX_DATA minus new data sent). */
  get connectionSendCredit(): number {
    return this.connSend.available;
  }

  /** The connection send credit state. */
  get connectionSendState(): SendCredit {
    return this.connSend;
  }

  /** A stream's credit for new data: its own credit, not bounded by the connection's; 0 when unknown. */
  streamSendCredit(streamId: number): number {
    return this.streams.get(streamId)?.send?.available ?? 0;
  }

  /** A stream's send credit state, undefined for a receive-only or unknown stream. */
  streamSendState(streamId: number): SendCredit | undefined {
    return this.streams.get(streamId)?.send;
  }

  /** Records `bytes` of new data sent on a stream: consumes stream and connection credit. */
  consumeSendCredit(streamId: number, bytes: number): void {
    if (bytes <= 0) return;
    const send = this.streams.get(streamId)?.send;
    if (send === undefined) throw new QuicError(TransportErrorCode.INTERNAL_ERROR, `stream ${streamId} has no send credit`);
    send.consume(bytes);
    this.connSend.consume(bytes);
  }

  /**
   * A stream has new data but no credit: queues STREAM_DATA_BLOCKED and/or DATA_BLOCKED with the
   * limit that blocks, once per limit value (RFC 9000 §4.1, §19.12–§19.13).
   */
  onSendBlocked(streamId: number): void {
    let signal = false;
    const send = this.streams.get(streamId)?.send;
    if (send !== undefined && send.takeBlockedSignal()) {
      this.streamDataBlockedPending.set(streamId, send.limit);
      signal = true;
    }
    if (this.connSend.takeBlockedSignal()) {
      this.dataBlockedPending = this.connSend.limit;
      signal = true;
    }
    if (signal && this.pending.observed) this.pending.next();
  }

  /**
   * Opens the next locally initiated stream of a type if the peer's limit allows (RFC 9000
   * §4.6), creates its flow control state and returns its ID; otherwise queues STREAMS_BLOCKED
   * (once per limit value) and returns undefined — wait for {@link streamLimitRaised$}.
   */
  openLocalStream(bidirectional: boolean): number | undefined {
    const id = this.streamIds.openLocal(bidirectional);
    if (id !== undefined) {
      this.addStream(id);
      return id;
    }
    const key = bidirectional ? 'bidi' : 'uni';
    const limit = this.streamIds.streamsBlocked(bidirectional);
    if (limit !== undefined && this.streamsBlockedReportedAt[key] !== limit) {
      this.streamsBlockedReportedAt[key] = limit;
      this.streamsBlockedPending[key] = limit;
      if (this.pending.observed) this.pending.next();
    }
    return undefined;
  }

  // -------------------------------------------------------------------------------------------
  // Frames (used by the flow-control source)
  // -------------------------------------------------------------------------------------------

  /** True when a flow control frame waits to be sent. */
  get hasPendingFrames(): boolean {
    return (
      this.maxDataPending ||
      this.maxStreamsPending.bidi ||
      this.maxStreamsPending.uni ||
      this.maxStreamDataPending.size > 0 ||
      this.dataBlockedPending !== undefined ||
      this.streamsBlockedPending.bidi !== undefined ||
      this.streamsBlockedPending.uni !== undefined ||
      this.streamDataBlockedPending.size > 0
    );
  }

  /**
   * The next frame to send with current values, or undefined. Order: MAX_DATA, MAX_STREAMS,
   * MAX_STREAM_DATA (oldest request first), then the blocked signals. Nothing changes until
   * {@link onFrameSent}.
   */
  peekFrame(): FlowControlFrame | undefined {
    if (this.maxDataPending) return { kind: 'maxData', maximum: this.connRecv.nextLimit() };
    for (const bidirectional of [true, false]) {
      const key = bidirectional ? 'bidi' : 'uni';
      if (this.maxStreamsPending[key]) return { kind: 'maxStreams', bidirectional, maximum: this.streamIds.peerLimit(bidirectional) };
    }
    for (const streamId of this.maxStreamDataPending) {
      const recv = this.streams.get(streamId)?.recv;
      if (recv !== undefined) return { kind: 'maxStreamData', streamId, maximum: recv.nextLimit() };
    }
    if (this.dataBlockedPending !== undefined) return { kind: 'dataBlocked', limit: this.dataBlockedPending };
    for (const bidirectional of [true, false]) {
      const limit = this.streamsBlockedPending[bidirectional ? 'bidi' : 'uni'];
      if (limit !== undefined) return { kind: 'streamsBlocked', bidirectional, limit };
    }
    for (const [streamId, limit] of this.streamDataBlockedPending) return { kind: 'streamDataBlocked', streamId, limit };
    return undefined;
  }

  /**
   * What a packet records about `frame` (from {@link peekFrame}); call before committing it. The
   * value of a MAX_* frame is remembered with the record, so that its acknowledgement can tell
   * which value the peer has.
   */
  sentFrameFor(frame: FlowControlFrame): SentFrame {
    let sent: SentFrame;
    switch (frame.kind) {
      case 'maxData':
        sent = { kind: 'maxData' };
        this.sentValues.set(sent, frame.maximum);
        return sent;
      case 'maxStreams':
        sent = { kind: 'maxStreams', bidirectional: frame.bidirectional };
        this.sentValues.set(sent, frame.maximum);
        return sent;
      case 'maxStreamData':
        return { kind: 'maxStreamData', streamId: frame.streamId };
      case 'dataBlocked':
        return { kind: 'dataBlocked', limit: frame.limit };
      case 'streamsBlocked':
        return { kind: 'streamsBlocked', bidirectional: frame.bidirectional, limit: frame.limit };
      case 'streamDataBlocked':
        return { kind: 'streamDataBlocked', streamId: frame.streamId, limit: frame.limit };
    }
  }

  /**
   * Records that `frame` (from {@link peekFrame}) was committed to a packet: it is no longer
   * pending, and an advertised limit grows only now.
   */
  onFrameSent(frame: FlowControlFrame): void {
    switch (frame.kind) {
      case 'maxData':
        this.maxDataPending = false;
        this.connRecv.onAdvertised(frame.maximum);
        break;
      case 'maxStreams':
        // The limit is enforced from the moment it was granted (StreamIdSpace.takeMaxStreamsUpdate).
        this.maxStreamsPending[frame.bidirectional ? 'bidi' : 'uni'] = false;
        break;
      case 'maxStreamData':
        this.maxStreamDataPending.delete(frame.streamId);
        this.streams.get(frame.streamId)?.recv?.onAdvertised(frame.maximum);
        break;
      case 'dataBlocked':
        this.dataBlockedPending = undefined;
        break;
      case 'streamsBlocked':
        this.streamsBlockedPending[frame.bidirectional ? 'bidi' : 'uni'] = undefined;
        break;
      case 'streamDataBlocked':
        this.streamDataBlockedPending.delete(frame.streamId);
        break;
    }
    this.frameSentHook?.(frame);
  }

  /** A packet carrying a flow control frame was acknowledged. */
  onFrameAcked(frame: SentFrame): void {
    const value = this.sentValues.get(frame);
    if (value === undefined) return;
    if (frame.kind === 'maxData') this.maxDataAcked = Math.max(this.maxDataAcked, value);
    else if (frame.kind === 'maxStreams') {
      const key = frame.bidirectional ? 'bidi' : 'uni';
      this.maxStreamsAcked[key] = Math.max(this.maxStreamsAcked[key], value);
    }
  }

  /**
   * A packet carrying a flow control frame was lost: the *current* value is queued again, only
   * while it is still relevant (RFC 9000 §13.3) — an update the peer already acknowledged, a
   * stream whose receiving part is finished, a blocked signal for a limit since raised are not
   * sent again. Returns true when something was queued.
   */
  onFrameLost(frame: SentFrame): boolean {
    let queued = false;
    switch (frame.kind) {
      case 'maxData':
        if (!this.maxDataPending && this.maxDataAcked < this.connRecv.limit) queued = this.maxDataPending = true;
        break;
      case 'maxStreams': {
        const key = frame.bidirectional ? 'bidi' : 'uni';
        if (!this.maxStreamsPending[key] && this.maxStreamsAcked[key] < this.streamIds.peerLimit(frame.bidirectional)) {
          queued = this.maxStreamsPending[key] = true;
        }
        break;
      }
      case 'maxStreamData': {
        const s = this.streams.get(frame.streamId);
        if (s?.recv !== undefined && s.wantsUpdates && !this.maxStreamDataPending.has(frame.streamId)) {
          this.maxStreamDataPending.add(frame.streamId);
          queued = true;
        }
        break;
      }
      case 'dataBlocked':
        if (this.dataBlockedPending === undefined && this.connSend.isBlockedAt(frame.limit)) {
          this.dataBlockedPending = frame.limit;
          queued = true;
        }
        break;
      case 'streamsBlocked': {
        const key = frame.bidirectional ? 'bidi' : 'uni';
        if (this.streamsBlockedPending[key] === undefined && this.streamIds.streamsBlocked(frame.bidirectional) === frame.limit) {
          this.streamsBlockedPending[key] = frame.limit;
          queued = true;
        }
        break;
      }
      case 'streamDataBlocked': {
        const send = this.streams.get(frame.streamId)?.send;
        if (send !== undefined && !this.streamDataBlockedPending.has(frame.streamId) && send.isBlockedAt(frame.limit)) {
          this.streamDataBlockedPending.set(frame.streamId, frame.limit);
          queued = true;
        }
        break;
      }
      default:
        break;
    }
    if (queued && this.pending.observed) this.pending.next();
    return queued;
  }
}
