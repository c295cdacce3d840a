/**
 * The streams of one connection (RFC 9000 §2–§4): what the application opens, writes, reads,
 * resets and stops, and what the connection feeds in from the peer's frames.
 *
 * The {@link StreamManager} assembles the pieces that already do the byte and credit work:
 * - sending parts: the {@link StreamSource} (send buffers, round-robin STREAM frames cut at flush
 *   time, RESET_STREAM through the {@link ControlQueue});
 * - receiving parts: one {@link RecvBuffer} per stream (reassembly, final size, stream limit);
 * - flow control and stream limits: the {@link FlowController} and its `StreamIdSpace`
 *   (receive windows growing as the application reads, MAX_STREAMS credit as peer streams close,
 *   send credit, the *_BLOCKED signals), written by the {@link FlowControlSource};
 * - the RFC 9000 §3 state machines, stepped through compiled tables (`stream.ts`).
 *
 * Receive side: every frame naming a stream is classified first (`StreamIdSpace.classify`): wrong
 * direction or a local stream not yet opened is STREAM_STATE_ERROR, a peer stream beyond our
 * MAX_STREAMS is STREAM_LIMIT_ERROR, a new peer stream opens every lower-numbered one of its type
 * (RFC 9000 §3.2; `streamOpened` events in order), and a stream already closed and forgotten is
 * ignored. Data beyond the stream's or the connection's limit is FLOW_CONTROL_ERROR (§4.1), a
 * changed final size or data beyond it FINAL_SIZE_ERROR (§4.5); a RESET_STREAM's final size passes
 * the same checks and is charged to the connection (§4.5). STOP_SENDING resets the sending part
 * with the peer's code (§3.5).
 *
 * Memory: receive buffers hold at most their stream's advertised window; the number of streams is
 * bounded by MAX_STREAMS in both directions. A stream is forgotten — removed from every structure,
 * freeing MAX_STREAMS credit for a peer stream — once both parts are terminal and the application
 * has seen the end of what it receives.
 *
 * Sans-IO and synchronous: no timers, no clock (time comes in as `now`). Events for the
 * application go to the `emit` callback, which the connection queues.
 *
 * @module
 */
import type { Subscription } from 'rxjs';
import type { AnyActorRef, InspectionEvent, Observer } from 'xstate';
import { MirrorHost } from '../../machines/compiled.js';
import { recvStreamMachine, recvStreamMirrorId } from '../../machines/recv-stream.js';
import { sendStreamMachine, sendStreamMirrorId } from '../../machines/send-stream.js';
import { QuicError, TransportErrorCode } from '../wire/errors.js';
import {
  FrameType,
  type DataBlockedFrame,
  type MaxDataFrame,
  type MaxStreamDataFrame,
  type MaxStreamsFrame,
  type ResetStreamFrame,
  type StopSendingFrame,
  type StreamDataBlockedFrame,
  type StreamFrame,
  type StreamsBlockedFrame,
} from '../wire/frames/types.js';
import type { TransportParameters } from '../wire/transport-parameters.js';
import type { ConnectionEvent, StreamStats, TransportSettings } from './connection-types.js';
import type { ControlQueue } from './control-queue.js';
import { FlowController, type FlowControlFrame } from './flow-control.js';
import { RecvBuffer } from './recv-buffer.js';
import { FlowControlSource } from './sources/flow-control-source.js';
import { StreamSource } from './sources/stream-source.js';
import { RecvPart, SEND_EVENTS, SendPart, Stream, StreamOperationError, streamFrameType } from './stream.js';
import {
  canReceiveOn,
  canSendOn,
  isBidirectionalStream,
  isLocallyInitiated,
  openedStreamIds,
  streamIndex,
  type StreamFrameKind,
} from './stream-id.js';

/** The transport settings the streams use (a {@link TransportSettings} satisfies it). */
export type StreamSettings = Pick<
  TransportSettings,
  | 'initialMaxData'
  | 'initialMaxStreamDataBidiLocal'
  | 'initialMaxStreamDataBidiRemote'
  | 'initialMaxStreamDataUni'
  | 'maxConnectionWindow'
  | 'maxStreamWindow'
  | 'maxStreamsBidi'
  | 'maxStreamsUni'
  | 'streamSendBufferSize'
>;

/** Where the stream machines' live mirrors go while an inspector is attached. */
export interface StreamInspectOptions {
  /**
   * The connection's actor: the mirrors' host (systemId {@link STREAMS_SYSTEM_ID}) is created in
   * its actor system with it as parent, so an inspector of the connection shows every stream's
   * machines under it (`stream.<id>.send`, `stream.<id>.recv`).
   */
  readonly parent?: AnyActorRef;
  /** An inspection observer: without `parent` the host is a root actor it inspects; with `parent` it is subscribed to the parent's system while attached. */
  readonly observer?: Observer<InspectionEvent> | ((event: InspectionEvent) => void);
}

/** The `systemId` (and id) of the actor hosting the stream machines' mirrors. */
export const STREAMS_SYSTEM_ID = 'streams';

/** Options of a {@link StreamManager}. */
export interface StreamManagerOptions {
  /** This endpoint's role: it decides which stream IDs are ours (RFC 9000 §2.1). */
  readonly role: 'client' | 'server';
  /** Our limits (what the transport parameters announce), window auto-tuning maxima and the send-buffer high-water mark. */
  readonly settings: StreamSettings;
  /** The connection's control frame queue: RESET_STREAM and STOP_SENDING go through it. */
  readonly controlQueue: ControlQueue;
  /** Receives the events for the application (the connection queues them). */
  readonly emit: (event: ConnectionEvent) => void;
  /** The time the streams are created, ms. Streams keep no timers; accepted so every part of a connection is created alike. */
  readonly now: number;
  /** Attach an inspector from the start: a function is an inspection observer (root host), an object may name the connection's actor. */
  readonly inspect?: StreamInspectOptions | ((event: InspectionEvent) => void);
  /** The smoothed RTT (ms), for receive-window auto-tuning (RFC 9000 §4.2); without it windows keep their initial sizes. */
  readonly smoothedRtt?: () => number | undefined;
}

/** The frame sources of the streams, which the connection places in its flush order. */
export interface StreamSources {
  /** STREAM frames of every sending part, round-robin (RFC 9000 §19.8). */
  readonly stream: StreamSource;
  /** MAX_DATA, MAX_STREAM_DATA, MAX_STREAMS and the *_BLOCKED frames (RFC 9000 §19.9–§19.14). */
  readonly flowControl: FlowControlSource;
}

/** What {@link StreamManager.read} returns. */
export interface StreamReadResult {
  /** Bytes in stream order (a view the caller may keep; it never changes). */
  readonly data: Uint8Array;
  /** True when these bytes end the stream: the application has now read everything. */
  readonly fin: boolean;
}

/** An inspection of the streams: the live mirrors' host, and how to stop it. */
export interface StreamsInspection {
  /** The host actor; each stream part's mirror is its child. */
  readonly actor: AnyActorRef;
  /** Stops every mirror and the host; streams go on without actors. Idempotent. */
  detach(): void;
}

const EMPTY = new Uint8Array(0);

/**
 * Streams of one connection, as the application and the connection see them. See the module
 * comment; the application-facing methods follow `QuicConnectionCore`'s `openStream`,
 * `writeStream`, `readStream`, `resetStream`, `stopSending` and `streamStats`.
 *
 * Every frame handler takes the time of receipt, `now` (ms); the handlers of frames that only move
 * credit or limits accept it optionally and do not need it.
 */
export class StreamManager {
  /** This endpoint's role. */
  readonly role: 'client' | 'server';
  /** Flow control and stream limits of the connection. */
  readonly flow: FlowController;
  /** The frame sources the connection places in its flush order: STREAM frames, and the flow control frames. */
  readonly sources: StreamSources;
  private readonly control: ControlQueue;
  private readonly emit: (event: ConnectionEvent) => void;
  private readonly smoothedRtt: () => number | undefined;
  private readonly streams = new Map<number, Stream>();
  private readonly subscriptions: Subscription[] = [];
  private readonly openRefused = { bidi: false, uni: false };
  private abandoned = false;
  private delivered = 0;
  private mirrors: MirrorHost | undefined;
  private inspectionHandle: StreamsInspection | undefined;

  /** Creates the (empty) stream state of a new connection. */
  constructor(options: StreamManagerOptions) {
    const s = options.settings;
    this.role = options.role;
    this.control = options.controlQueue;
    this.emit = options.emit;
    this.smoothedRtt = options.smoothedRtt ?? (() => undefined);
    this.flow = new FlowController({
      role: options.role,
      local: {
        initialMaxData: s.initialMaxData,
        initialMaxStreamDataBidiLocal: s.initialMaxStreamDataBidiLocal,
        initialMaxStreamDataBidiRemote: s.initialMaxStreamDataBidiRemote,
        initialMaxStreamDataUni: s.initialMaxStreamDataUni,
        initialMaxStreamsBidi: s.maxStreamsBidi,
        initialMaxStreamsUni: s.maxStreamsUni,
      },
      autoTune: { maxConnectionWindow: s.maxConnectionWindow, maxStreamWindow: s.maxStreamWindow },
      onFrameSent: (frame) => this.onFlowControlFrameSent(frame),
    });
    const stream = new StreamSource({
      flow: this.flow,
      control: this.control,
      sendBuffer: { highWaterMark: s.streamSendBufferSize },
      onFrameSent: (streamId, fin) => this.onStreamFrameSent(streamId, fin),
    });
    this.sources = { stream, flowControl: new FlowControlSource(this.flow) };
    this.subscriptions.push(
      stream.allAcknowledged$.subscribe((id) => this.onAllAcknowledged(id)),
      this.control.acknowledged$.subscribe((frame) => {
        if (frame.kind === 'resetStream') this.onResetAcknowledged(frame.streamId);
      }),
    );
    if (options.inspect !== undefined) this.attachInspector(options.inspect);
  }

  // -------------------------------------------------------------------------------------------
  // Peer's transport parameters and frames
  // -------------------------------------------------------------------------------------------

  /**
   * Applies the peer's transport parameters (RFC 9000 §18.2): connection and stream send credit
   * (initial_max_data, initial_max_stream_data_*) and the limits on the streams we open
   * (initial_max_streams_*). Limits never shrink. A `streamsAvailable` event follows for a
   * direction whose {@link open} was refused before and is now allowed.
   */
  setPeerTransportParameters(tp: TransportParameters): void {
    if (this.abandoned) return;
    const before = [this.flow.streamIds.localLimit(true), this.flow.streamIds.localLimit(false)];
    this.flow.setPeerParameters(tp);
    for (const bidirectional of [true, false]) {
      const key = bidirectional ? 'bidi' : 'uni';
      if (this.flow.streamIds.localLimit(bidirectional) > before[bidirectional ? 0 : 1] && this.openRefused[key]) {
        this.openRefused[key] = false;
        this.emit({ type: 'streamsAvailable', bidirectional });
      }
    }
  }

  /**
   * A STREAM frame (RFC 9000 §19.8): opens peer streams as needed, checks flow control and the
   * final size, and stores the data for the application.
   *
   * @throws QuicError STREAM_STATE_ERROR (our unidirectional stream, or a stream of ours not yet
   *   opened), STREAM_LIMIT_ERROR (beyond our MAX_STREAMS), FLOW_CONTROL_ERROR (beyond the stream's
   *   or the connection's limit), FINAL_SIZE_ERROR (beyond or changing the final size),
   *   PROTOCOL_VIOLATION (changed retransmitted data, excessive fragmentation).
   */
  onStreamFrame(f: StreamFrame, now: number): void {
    const type = streamFrameType(f);
    const s = this.streamFor(f.streamId, 'stream', type);
    if (s === undefined) return;
    const recv = s.recv as RecvPart; // classify refused the frame on a send-only stream
    const end = f.offset + f.data.length;
    // RFC 9000 §4.1: checked against both limits before anything is stored.
    this.flow.checkStreamData(s.id, end, type);
    const window = this.flow.streamReceiveWindow(s.id);
    const result = recv.buffer.insertFrame(f, window === undefined ? 0 : window.limit);
    this.flow.onStreamData(s.id, end);
    recv.bytesReceived += result.newBytes;
    this.afterReceive(s, recv, now);
  }

  /**
   * A RESET_STREAM frame (RFC 9000 §19.4): the final size is checked (FINAL_SIZE_ERROR against a
   * known one or data beyond it; FLOW_CONTROL_ERROR beyond the stream's or the connection's limit)
   * and charged to the connection (§4.5); unread data is discarded and its credit released; the
   * application gets `streamReset`.
   *
   * @throws QuicError as {@link onStreamFrame}.
   */
  onResetStream(f: ResetStreamFrame, now: number): void {
    const s = this.streamFor(f.streamId, 'resetStream');
    if (s === undefined) return;
    const recv = s.recv as RecvPart;
    this.flow.checkStreamData(s.id, f.finalSize, FrameType.RESET_STREAM);
    const window = this.flow.streamReceiveWindow(s.id);
    const result = recv.buffer.reset(f.finalSize, window === undefined ? 0 : window.limit);
    this.flow.onStreamData(s.id, f.finalSize);
    if (!result.reset) return; // repeated, or everything was already read (recv-buffer.ts)
    this.afterReceive(s, recv, now); // → Reset Recvd; unread bytes count as consumed (RFC 9000 §4.5)
    this.emit({ type: 'streamReset', streamId: s.id, code: f.applicationErrorCode, finalSize: f.finalSize });
    // The application has now been told: "App Read Reset" (RFC 9000 §3.2).
    recv.buffer.acknowledgeReset();
    recv.sync();
    recv.endSeen = true;
    this.release(s);
  }

  /**
   * A STOP_SENDING frame (RFC 9000 §19.5): a sending part in "Ready", "Send" or "Data Sent" is
   * reset with the peer's error code (RESET_STREAM, RFC 9000 §3.5) and the application gets
   * `streamStopSending`; in any other state it is ignored.
   *
   * @throws QuicError STREAM_STATE_ERROR (the peer's unidirectional stream, or ours not yet opened),
   *   STREAM_LIMIT_ERROR.
   */
  onStopSending(f: StopSendingFrame, now: number): void {
    const s = this.streamFor(f.streamId, 'stopSending');
    if (s === undefined) return;
    const send = s.send as SendPart;
    if (!send.resettable) return;
    this.resetSend(s, send, f.applicationErrorCode);
    this.emit({ type: 'streamStopSending', streamId: s.id, code: f.applicationErrorCode });
  }

  /** A MAX_DATA frame (RFC 9000 §19.9): more connection credit; a smaller value is ignored. */
  onMaxData(f: MaxDataFrame, now?: number): void {
    if (!this.abandoned) this.flow.onMaxData(f.maximum);
  }

  /**
   * A MAX_STREAM_DATA frame (RFC 9000 §19.10): more credit for a stream (opening a peer's
   * bidirectional stream if needed); a smaller value is ignored.
   *
   * @throws QuicError STREAM_STATE_ERROR (a receive-only stream, or ours not yet opened), STREAM_LIMIT_ERROR.
   */
  onMaxStreamData(f: MaxStreamDataFrame, now?: number): void {
    const s = this.streamFor(f.streamId, 'maxStreamData');
    if (s !== undefined) this.flow.onMaxStreamData(s.id, f.maximum);
  }

  /** A MAX_STREAMS frame (RFC 9000 §19.11): the application gets `streamsAvailable` when the limit grows. */
  onMaxStreams(f: MaxStreamsFrame, now?: number): void {
    if (this.abandoned) return;
    const before = this.flow.streamIds.localLimit(f.bidirectional);
    this.flow.onMaxStreams(f.bidirectional, f.maximum);
    if (this.flow.streamIds.localLimit(f.bidirectional) > before) {
      this.openRefused[f.bidirectional ? 'bidi' : 'uni'] = false;
      this.emit({ type: 'streamsAvailable', bidirectional: f.bidirectional });
    }
  }

  /**
   * A DATA_BLOCKED frame (RFC 9000 §19.12): informational. Connection credit is advertised as the
   * application reads, never in answer to this signal (RFC 9000 §4.2: a receiver MUST NOT wait for it).
   */
  onDataBlocked(f: DataBlockedFrame, now?: number): void {
    // Nothing to do: MAX_DATA is already queued whenever reads made half the window free.
  }

  /**
   * A STREAM_DATA_BLOCKED frame (RFC 9000 §19.13): its stream rules are checked and it opens peer
   * streams like a STREAM frame; otherwise informational (credit follows reads, §4.2).
   *
   * @throws QuicError STREAM_STATE_ERROR (our unidirectional stream, or ours not yet opened), STREAM_LIMIT_ERROR.
   */
  onStreamDataBlocked(f: StreamDataBlockedFrame, now?: number): void {
    this.streamFor(f.streamId, 'streamDataBlocked');
  }

  /** A STREAMS_BLOCKED frame (RFC 9000 §19.14): credit freed by closed streams is announced at once (MAX_STREAMS). */
  onStreamsBlocked(f: StreamsBlockedFrame, now?: number): void {
    if (!this.abandoned) this.flow.onPeerStreamsBlocked(f.bidirectional, f.limit);
  }

  // -------------------------------------------------------------------------------------------
  // Application operations
  // -------------------------------------------------------------------------------------------

  /**
   * Opens a stream; returns its ID, or undefined when the peer's MAX_STREAMS forbids it (a
   * STREAMS_BLOCKED is queued; `streamsAvailable` follows when the limit grows) or the connection
   * is closed.
   */
  open(bidirectional: boolean, now: number): number | undefined {
    if (this.abandoned) return undefined;
    const id = this.flow.openLocalStream(bidirectional);
    if (id === undefined) {
      this.openRefused[bidirectional ? 'bidi' : 'uni'] = true;
      return undefined;
    }
    this.createStream(id);
    return id;
  }

  /**
   * Queues `data` (copied) on a stream's sending part and, with `fin`, ends it. Returns false when
   * the send buffer is at or above its high-water mark after this write (wait for
   * `streamWritable`); the data is accepted either way.
   *
   * @throws StreamOperationError for a stream that cannot send: unknown, closed, receive-only,
   *   already ended, reset, or the connection closed.
   */
  write(streamId: number, data: Uint8Array, fin: boolean, now: number): boolean {
    const s = this.liveStream(streamId, 'write to');
    const send = s.send;
    if (send === undefined) throw new StreamOperationError(streamId, 'write to', 'receiveOnly');
    const handle = send.handle;
    if (!send.resettable || handle === undefined) {
      const state = send.machine.state;
      throw new StreamOperationError(streamId, 'write to', state === 'resetSent' || state === 'resetRecvd' ? 'sendReset' : 'sendFinished');
    }
    if (handle.buffer.ended) throw new StreamOperationError(streamId, 'write to', 'sendFinished');
    const below = data.length > 0 ? handle.write(data) : !handle.isFull;
    if (fin) handle.end();
    if (!below) this.awaitDrain(s, send);
    return below;
  }

  /**
   * Reads up to `maxBytes` in order from a stream (one stored segment at most, without copying).
   * `fin` is true when the returned bytes end the stream (possibly with no bytes). Returns null when
   * nothing is readable now: a hole, no data yet, the end already read, reading stopped, the stream
   * reset (see `streamReset`) or closed and forgotten.
   *
   * @throws StreamOperationError for an unknown stream or a send-only one.
   */
  read(streamId: number, maxBytes: number, now: number): StreamReadResult | null {
    if (this.abandoned) return null;
    const s = this.streams.get(streamId);
    if (s === undefined) {
      if (this.wasOpened(streamId)) return null;
      throw new StreamOperationError(streamId, 'read from', 'unknownStream');
    }
    const recv = s.recv;
    if (recv === undefined) throw new StreamOperationError(streamId, 'read from', 'sendOnly');
    if (recv.endSeen || recv.buffer.readingStopped || recv.buffer.isReset) return null;
    const chunk = recv.buffer.read(maxBytes);
    if (chunk !== undefined) {
      recv.bytesRead += chunk.length;
      this.delivered += chunk.length;
      // RFC 9000 §4.2: credit grows as the application reads (MAX_STREAM_DATA / MAX_DATA).
      this.flow.onStreamRead(s.id, recv.buffer.takeConsumed(), now, this.smoothedRtt());
    }
    const fin = recv.sync() === 'dataRead';
    if (!fin && (chunk === undefined || recv.buffer.readableBytes === 0)) recv.readableNotified = false;
    if (chunk === undefined && !fin) return null;
    const result: StreamReadResult = { data: chunk ?? EMPTY, fin };
    if (fin) {
      recv.endSeen = true;
      this.release(s);
    }
    return result;
  }

  /**
   * Abruptly ends a stream's sending part with an application error code (RESET_STREAM, RFC 9000
   * §3.1, §19.4): unsent and lost data is dropped, RESET_STREAM carries the final size. Does nothing
   * once the sending part was reset or fully acknowledged, or the stream is closed.
   *
   * @throws StreamOperationError for an unknown stream or a receive-only one.
   */
  reset(streamId: number, code: bigint, now: number): void {
    if (this.abandoned) return;
    const s = this.streams.get(streamId);
    if (s === undefined) {
      if (this.wasOpened(streamId)) return;
      throw new StreamOperationError(streamId, 'reset', 'unknownStream');
    }
    const send = s.send;
    if (send === undefined) throw new StreamOperationError(streamId, 'reset', 'receiveOnly');
    if (send.resettable) this.resetSend(s, send, code);
  }

  /**
   * The application stops reading (RFC 9000 §3.5): buffered and later data is discarded (its
   * credit released), and STOP_SENDING with `code` asks the peer to reset the stream while the
   * receiving part is in "Recv" or "Size Known" (unnecessary after that, RFC 9000 §3.5). The
   * peer's RESET_STREAM in reply is still reported (`streamReset`). The receiving part then ends
   * without further reads; a bidirectional stream is forgotten once its sending part ends too.
   * Idempotent.
   *
   * @throws StreamOperationError for an unknown stream or a send-only one.
   */
  stopSending(streamId: number, code: bigint, now: number): void {
    if (this.abandoned) return;
    const s = this.streams.get(streamId);
    if (s === undefined) {
      if (this.wasOpened(streamId)) return;
      throw new StreamOperationError(streamId, 'stop sending on', 'unknownStream');
    }
    const recv = s.recv;
    if (recv === undefined) throw new StreamOperationError(streamId, 'stop sending on', 'sendOnly');
    if (recv.buffer.readingStopped || recv.buffer.isTerminal) {
      recv.endSeen = true;
      this.release(s);
      return;
    }
    const state = recv.machine.state;
    if ((state === 'recv' || state === 'sizeKnown') && !recv.stopSendingQueued) {
      recv.stopSendingQueued = this.control.enqueue({ kind: 'stopSending', streamId: s.id, applicationErrorCode: code });
    }
    recv.buffer.stopReading();
    recv.endSeen = true;
    recv.readableNotified = false;
    // No more MAX_STREAM_DATA for a stream nobody reads; the connection window still reopens.
    this.flow.onStreamReceiveFinished(s.id);
    this.afterReceive(s, recv, now);
  }

  /** Statistics of a stream; undefined for a stream that is not open (never opened, or closed and forgotten). */
  stats(streamId: number): StreamStats | undefined {
    const s = this.streams.get(streamId);
    if (s === undefined) return undefined;
    return {
      bytesWritten: s.send?.bytesWritten ?? 0,
      bytesAcked: s.send?.bytesAcked ?? 0,
      bytesReceived: s.recv?.bytesReceived ?? 0,
      bytesRead: s.recv?.bytesRead ?? 0,
      sendState: s.send?.machine.state,
      receiveState: s.recv?.machine.state,
    };
  }

  /**
   * The connection is closed: every stream is released at once, the sources stop listening, the
   * mirrors are stopped, and no event is emitted any more. Later calls do nothing (reads return
   * null, writes throw `connectionClosed`).
   */
  abandonAll(): void {
    if (this.abandoned) return;
    this.abandoned = true;
    for (const s of this.streams.values()) {
      s.send?.release();
      s.send?.machine.detachMirror();
      s.recv?.machine.detachMirror();
      this.sources.stream.remove(s.id);
      this.flow.removeStream(s.id);
    }
    this.streams.clear();
    for (const sub of this.subscriptions) sub.unsubscribe();
    this.subscriptions.length = 0;
    this.sources.stream.dispose();
    this.inspectionHandle?.detach();
  }

  // -------------------------------------------------------------------------------------------
  // Observation
  // -------------------------------------------------------------------------------------------

  /** Streams currently held in memory (open, or closing and not yet forgotten). */
  get streamCount(): number {
    return this.streams.size;
  }

  /** The IDs of the streams held in memory. */
  streamIds(): number[] {
    return [...this.streams.keys()];
  }

  /** Stream bytes sent for the first time (new data, what consumes the peer's MAX_DATA credit). */
  get bytesSent(): number {
    return this.flow.connectionSendState.used;
  }

  /** Stream bytes delivered to the application by {@link read}. */
  get bytesDelivered(): number {
    return this.delivered;
  }

  /** The current inspection, if an inspector is attached. */
  get inspection(): StreamsInspection | undefined {
    return this.inspectionHandle;
  }

  /**
   * Shows every stream's machines live: a host actor (systemId {@link STREAMS_SYSTEM_ID}) is
   * created — in the connection's actor system when `options.parent` is given — and each stream
   * part gets a child mirroring its runtime (`stream.<id>.send` / `stream.<id>.recv`). Streams
   * already open are brought to their current state by replaying the machine's path to it; finished
   * parts are not shown. Without an inspector no actor exists. Attaching twice replaces the first.
   *
   * @throws Error when the parent's system already has an actor with systemId `streams`.
   */
  attachInspector(options: StreamInspectOptions | ((event: InspectionEvent) => void)): StreamsInspection {
    const o: StreamInspectOptions = typeof options === 'function' ? { observer: options } : options;
    this.inspectionHandle?.detach();
    const host = new MirrorHost({
      id: STREAMS_SYSTEM_ID,
      actors: { sendStream: sendStreamMachine, recvStream: recvStreamMachine },
      parent: o.parent,
      observer: o.observer,
    });
    this.mirrors = host;
    for (const s of this.streams.values()) this.mirror(s);
    const handle: StreamsInspection = {
      actor: host.actor,
      detach: () => {
        if (this.mirrors !== host) return;
        this.mirrors = undefined;
        this.inspectionHandle = undefined;
        for (const s of this.streams.values()) {
          s.send?.machine.detachMirror();
          s.recv?.machine.detachMirror();
        }
        host.close();
      },
    };
    this.inspectionHandle = handle;
    return handle;
  }

  // -------------------------------------------------------------------------------------------
  // Internals
  // -------------------------------------------------------------------------------------------

  /**
   * The stream a received frame names, after the RFC 9000 §3/§4.6 rules (StreamIdSpace.classify);
   * peer streams it opens are created first, with `streamOpened` in order (§3.2). Undefined for a
   * stream closed and forgotten (the frame is ignored) or once abandoned.
   */
  private streamFor(streamId: number, kind: StreamFrameKind, frameType?: number): Stream | undefined {
    if (this.abandoned) return undefined;
    const verdict = this.flow.streamIds.classify(streamId, kind, frameType);
    if (verdict.action === 'closed') return undefined;
    if (verdict.action === 'open') {
      for (const id of openedStreamIds(verdict)) {
        this.createStream(id);
        this.emit({ type: 'streamOpened', streamId: id, bidirectional: isBidirectionalStream(id) });
      }
    }
    const s = this.streams.get(streamId);
    if (s === undefined) throw new QuicError(TransportErrorCode.INTERNAL_ERROR, `stream ${streamId} is live but has no state`);
    return s;
  }

  private createStream(id: number): Stream {
    this.flow.addStream(id);
    const send = canSendOn(this.role, id) ? new SendPart(this.sources.stream.open(id)) : undefined;
    const recv = canReceiveOn(this.role, id) ? new RecvPart(new RecvBuffer()) : undefined;
    const s = new Stream(id, isBidirectionalStream(id), isLocallyInitiated(id, this.role), send, recv);
    this.streams.set(id, s);
    if (this.mirrors !== undefined) this.mirror(s);
    return s;
  }

  /** The stream an application operation names; throws when it is not open. */
  private liveStream(streamId: number, operation: string): Stream {
    if (this.abandoned) throw new StreamOperationError(streamId, operation, 'connectionClosed');
    const s = this.streams.get(streamId);
    if (s !== undefined) return s;
    throw new StreamOperationError(streamId, operation, this.wasOpened(streamId) ? 'closedStream' : 'unknownStream');
  }

  /** True when `streamId` was opened by either side (it may have been closed and forgotten since). */
  private wasOpened(streamId: number): boolean {
    if (!Number.isSafeInteger(streamId) || streamId < 0) return false;
    const ids = this.flow.streamIds;
    const bidi = isBidirectionalStream(streamId);
    const opened = isLocallyInitiated(streamId, this.role) ? streamIndex(ids.nextLocalStreamId(bidi)) : ids.peerStreamsOpened(bidi);
    return streamIndex(streamId) < opened;
  }

  /** After the receive buffer changed: machine, credit, STOP_SENDING relevance, readability, release. */
  private afterReceive(s: Stream, recv: RecvPart, now: number): void {
    const before = recv.machine.state;
    const after = recv.sync();
    if (before === 'recv' && after !== 'recv') {
      // RFC 9000 §3.2 / §13.3: no MAX_STREAM_DATA once the final size is known or the stream reset.
      this.flow.onStreamReceiveFinished(s.id);
    }
    // Bytes discarded (reading stopped) or never to be read (reset): their credit is released (RFC 9000 §4.5).
    const released = recv.buffer.takeConsumed();
    if (released > 0) this.flow.onStreamRead(s.id, released, now);
    if (recv.stopSendingQueued && after !== 'recv' && after !== 'sizeKnown') {
      // RFC 9000 §3.5: STOP_SENDING is unnecessary once all data or a reset was received.
      recv.stopSendingQueued = false;
      this.control.cancel((f) => f.kind === 'stopSending' && f.streamId === s.id);
    }
    if (!recv.readableNotified && recv.hasReadable) {
      recv.readableNotified = true;
      this.emit({ type: 'streamReadable', streamId: s.id });
    }
    this.release(s);
  }

  /** Resets a sending part (application or STOP_SENDING): RESET_STREAM through the control queue. */
  private resetSend(s: Stream, send: SendPart, code: bigint): void {
    // First: resetting a full buffer signals a drain, which must not become `streamWritable`.
    send.drain?.unsubscribe();
    send.drain = undefined;
    this.sources.stream.reset(s.id, code);
    send.machine.send(SEND_EVENTS.SendResetStream);
  }

  private awaitDrain(s: Stream, send: SendPart): void {
    if (send.drain !== undefined || send.handle === undefined) return;
    send.drain = send.handle.drained$.subscribe(() => {
      send.drain?.unsubscribe();
      send.drain = undefined;
      if (!this.abandoned && send.resettable) this.emit({ type: 'streamWritable', streamId: s.id });
    });
  }

  private onStreamFrameSent(streamId: number, fin: boolean): void {
    const send = this.streams.get(streamId)?.send;
    if (send === undefined) return;
    const m = send.machine;
    if (m.state === 'ready') m.send(SEND_EVENTS.SendStream);
    if (fin && m.state === 'send') m.send(SEND_EVENTS.SendFin);
  }

  private onFlowControlFrameSent(frame: FlowControlFrame): void {
    if (frame.kind !== 'streamDataBlocked') return;
    const m = this.streams.get(frame.streamId)?.send?.machine;
    if (m !== undefined && m.state === 'ready') m.send(SEND_EVENTS.SendStreamDataBlocked);
  }

  private onAllAcknowledged(streamId: number): void {
    const s = this.streams.get(streamId);
    const send = s?.send;
    if (s === undefined || send === undefined || send.machine.state !== 'dataSent') return;
    send.machine.send(SEND_EVENTS.RecvAllAcks);
    this.emit({ type: 'streamSendComplete', streamId });
    this.sendTerminal(s, send);
  }

  private onResetAcknowledged(streamId: number): void {
    const s = this.streams.get(streamId);
    const send = s?.send;
    if (s === undefined || send === undefined || send.machine.state !== 'resetSent') return;
    send.machine.send(SEND_EVENTS.RecvResetAck);
    this.sendTerminal(s, send);
  }

  /** A terminal sending part lets go of its send buffer at once. */
  private sendTerminal(s: Stream, send: SendPart): void {
    send.release();
    this.sources.stream.remove(s.id);
    this.release(s);
  }

  /** Forgets a finished stream: flow control state, MAX_STREAMS credit (RFC 9000 §4.6), every reference. */
  private release(s: Stream): void {
    if (!s.finished || this.streams.get(s.id) !== s) return;
    this.streams.delete(s.id);
    s.send?.release();
    this.sources.stream.remove(s.id);
    if (s.recv?.stopSendingQueued) this.control.cancel((f) => f.kind === 'stopSending' && f.streamId === s.id);
    this.flow.onStreamClosed(s.id);
  }

  /** Spawns live mirrors for a stream's unfinished parts, caught up to their current states. */
  private mirror(s: Stream): void {
    const host = this.mirrors;
    if (host === undefined) return;
    if (s.send !== undefined && !s.send.machine.done) s.send.machine.attachMirror(host.spawn('sendStream', sendStreamMirrorId(s.id)), 'replay');
    if (s.recv !== undefined && !s.recv.machine.done) s.recv.machine.attachMirror(host.spawn('recvStream', recvStreamMirrorId(s.id)), 'replay');
  }
}
