/**
 * The STREAM frame source (RFC 9000 §2–§4, §19.8): the send sides of all streams, served
 * round-robin.
 *
 * Each stream's data stays in its {@link SendBuffer} until a packet has room; then one frame is
 * cut to min(room, stream credit, connection credit) with `fitStreamFrame` — nothing is pre-cut.
 * A stream's lost ranges go before its new data (RFC 9000 §13.3) and cost no credit; new data
 * consumes stream and connection credit (RFC 9000 §4.1) and is sent in offset order, so the
 * frames of a stream carry contiguous ranges.
 *
 * Fairness: streams with something to send wait in a ring; the stream at the front writes one
 * frame and goes to the back. A stream whose new data is blocked by flow control leaves the ring
 * (parked) and signals STREAM_DATA_BLOCKED / DATA_BLOCKED through the {@link FlowController};
 * it returns when credit arrives ({@link FlowController.sendCreditRaised$}) or data is lost.
 *
 * Reset (RFC 9000 §3.1): the stream stops sending and sending again, and RESET_STREAM with the
 * final size goes through the {@link ControlQueue}.
 *
 * @module
 */
import { Subject, type Observable, type Subscription } from 'rxjs';
import type { FrameSource, PacketWriter, SentFrame } from '../../packet/types.js';
import { fitStreamFrame, writeStreamFrame, type StreamFrameFit } from '../../wire/frames/encode.js';
import type { EncryptionLevel } from '../../wire/levels.js';
import type { ControlQueue } from '../control-queue.js';
import type { FlowController } from '../flow-control.js';
import { copyScratch, SendBuffer, type SendBufferOptions } from '../send-buffer.js';

/** Options of a {@link StreamSource}. */
export interface StreamSourceOptions {
  /** The connection's flow control: credit per stream and for the connection, blocked signals. */
  readonly flow: FlowController;
  /** Where RESET_STREAM frames go. */
  readonly control: ControlQueue;
  /** Options of each stream's send buffer (its high-water mark). */
  readonly sendBuffer?: SendBufferOptions;
  /**
   * Called after each STREAM frame is committed to a packet, with its stream and whether it carries
   * FIN: the moments the sending part's state moves (RFC 9000 §3.1: the first STREAM frame enters
   * "Send", a STREAM frame with FIN enters "Data Sent"). Retransmissions are reported too.
   */
  readonly onFrameSent?: (streamId: number, fin: boolean) => void;
}

/**
 * The application's handle on the send side of one stream: write, end, reset, backpressure.
 * Obtained from {@link StreamSource.open}.
 */
export class SendStream {
  /** The stream ID. */
  readonly id: number;
  /** The send buffer (for state: offsets, bytes held, final size). */
  readonly buffer: SendBuffer;
  private readonly source: StreamSource;

  /** @internal Created by {@link StreamSource.open}. */
  constructor(id: number, buffer: SendBuffer, source: StreamSource) {
    this.id = id;
    this.buffer = buffer;
    this.source = source;
  }

  /**
   * Appends `data` (copied). Returns false when the buffer holds its high-water mark or more:
   * wait for {@link drained$} before writing more (the data is accepted either way).
   */
  write(data: Uint8Array): boolean {
    const below = this.buffer.write(data);
    if (data.length > 0) this.source.markReady(this.id, 'data');
    return below;
  }

  /** Ends the stream: FIN goes with the last byte, or in a FIN-only frame if everything was sent. */
  end(): void {
    this.buffer.end();
    this.source.markReady(this.id, 'data');
  }

  /** Resets the stream with an application error code; returns the final size (RFC 9000 §19.4). */
  reset(applicationErrorCode: bigint): number {
    return this.source.reset(this.id, applicationErrorCode);
  }

  /** Emits when the buffer falls below its high-water mark after {@link write} returned false. */
  get drained$(): Observable<void> {
    return this.buffer.drained$;
  }

  /** True while the buffer holds at least its high-water mark. */
  get isFull(): boolean {
    return this.buffer.isFull;
  }
}

interface StreamEntry {
  readonly handle: SendStream;
  readonly buffer: SendBuffer;
  /** In the ready ring. */
  queued: boolean;
  /** Parked because new data waits for credit: 'stream' (MAX_STREAM_DATA) or 'connection' (MAX_DATA). */
  parked: 'stream' | 'connection' | undefined;
}

/** Writes STREAM frames for every open send stream, round-robin. */
export class StreamSource implements FrameSource {
  /** Source name. */
  readonly name = 'stream';
  private readonly flow: FlowController;
  private readonly control: ControlQueue;
  private readonly bufferOptions: SendBufferOptions | undefined;
  private readonly onFrameSent: ((streamId: number, fin: boolean) => void) | undefined;
  private readonly streams = new Map<number, StreamEntry>();
  /** Round-robin ring of stream IDs (a queue with a moving head). */
  private ring: number[] = [];
  private ringHead = 0;
  private readonly connectionParked = new Set<number>();
  private readonly pending = new Subject<void>();
  /** Reused by every {@link fitStreamFrame} of {@link write} (no object per frame). */
  private readonly fit: StreamFrameFit = { dataLength: 0, explicitLength: false };
  private readonly finished = new Subject<number>();
  private readonly creditSubscription: Subscription;

  /** Emits when a stream gains something to send. */
  readonly pending$: Observable<void> = this.pending.asObservable();
  /** Emits a stream ID when all its data and its FIN are acknowledged (RFC 9000 §3.1 "Data Recvd"). */
  readonly allAcknowledged$: Observable<number> = this.finished.asObservable();

  /** Creates the source; it listens to `flow` for credit. */
  constructor(options: StreamSourceOptions) {
    this.flow = options.flow;
    this.control = options.control;
    this.bufferOptions = options.sendBuffer;
    this.onFrameSent = options.onFrameSent;
    this.creditSubscription = this.flow.sendCreditRaised$.subscribe((streamId) => this.onCreditRaised(streamId));
  }

  /**
   * Opens the send side of `streamId` (creating its flow control state) and returns the
   * application's handle. Opening an open stream returns the existing handle.
   */
  open(streamId: number, options?: SendBufferOptions): SendStream {
    const existing = this.streams.get(streamId);
    if (existing !== undefined) return existing.handle;
    this.flow.addStream(streamId);
    const buffer = new SendBuffer(options ?? this.bufferOptions);
    const handle = new SendStream(streamId, buffer, this);
    this.streams.set(streamId, { handle, buffer, queued: false, parked: undefined });
    return handle;
  }

  /** The handle of an open stream. */
  get(streamId: number): SendStream | undefined {
    return this.streams.get(streamId)?.handle;
  }

  /** Number of open send streams. */
  get size(): number {
    return this.streams.size;
  }

  /**
   * Forgets a stream (its send side reached a terminal state): nothing more is sent or sent
   * again for it. Frames of it still in flight are ignored when acknowledged or lost.
   */
  remove(streamId: number): void {
    const e = this.streams.get(streamId);
    if (e === undefined) return;
    this.streams.delete(streamId);
    this.connectionParked.delete(streamId);
    // The ring entry is skipped lazily.
  }

  /**
   * Resets the send side (RFC 9000 §3.1): stops sending, and queues RESET_STREAM with the final
   * size on the control queue. Returns the final size. Idempotent.
   */
  reset(streamId: number, applicationErrorCode: bigint): number {
    const e = this.streams.get(streamId);
    if (e === undefined) throw new Error(`stream ${streamId} is not open for sending`);
    const wasReset = e.buffer.resetFinalSize !== undefined;
    const finalSize = e.buffer.reset();
    e.parked = undefined;
    this.connectionParked.delete(streamId);
    if (!wasReset) this.control.enqueue({ kind: 'resetStream', streamId, applicationErrorCode, finalSize });
    return finalSize;
  }

  /**
   * Puts a stream in the ring because it may have something to send, and announces pending work.
   * New application data (`data`) does not wake a stream parked for lack of credit — only credit
   * (`credit`) or lost data, which needs none (`lost`), does.
   */
  markReady(streamId: number, reason: 'data' | 'lost' | 'credit'): void {
    const e = this.streams.get(streamId);
    if (e === undefined) return;
    if (reason === 'data' && e.parked !== undefined) return;
    if (!e.queued) {
      e.queued = true;
      e.parked = undefined;
      this.connectionParked.delete(streamId);
      this.ring.push(streamId);
    }
    if (this.pending.observed) this.pending.next();
  }

  private onCreditRaised(streamId: number | undefined): void {
    if (streamId === undefined) {
      const parked = [...this.connectionParked];
      this.connectionParked.clear();
      for (const id of parked) this.markReady(id, 'credit');
    } else if (this.streams.get(streamId)?.parked === 'stream') {
      this.markReady(streamId, 'credit');
    }
  }

  /** The entry at the front of the ring, dropping stale IDs; undefined when the ring is empty. */
  private front(): StreamEntry | undefined {
    while (this.ringHead < this.ring.length) {
      const e = this.streams.get(this.ring[this.ringHead]);
      if (e !== undefined && e.queued) return e;
      this.ringHead++;
    }
    this.compact();
    return undefined;
  }

  /** Removes the front entry from the ring; re-queues it at the back when `again`. */
  private rotate(e: StreamEntry, again: boolean): void {
    this.ringHead++;
    if (again) this.ring.push(e.handle.id);
    else e.queued = false;
    this.compact();
  }

  private compact(): void {
    if (this.ringHead > 64 && this.ringHead * 2 > this.ring.length) {
      this.ring = this.ring.slice(this.ringHead);
      this.ringHead = 0;
    }
  }

  private creditFor(id: number): number {
    return Math.min(this.flow.streamSendCredit(id), this.flow.connectionSendCredit);
  }

  /**
   * Takes a stream with nothing sendable out of the ring. If new data waits for credit it is
   * parked until credit arrives, and the blocking limit is signalled (RFC 9000 §4.1).
   */
  private park(e: StreamEntry): void {
    this.rotate(e, false);
    if (e.buffer.unsentBytes === 0) return;
    const id = e.handle.id;
    if (this.flow.streamSendCredit(id) === 0) e.parked = 'stream';
    else {
      e.parked = 'connection';
      this.connectionParked.add(id);
    }
    this.flow.onSendBlocked(id);
  }

  /** True when some stream can send at `level` (0-RTT or 1-RTT, RFC 9000 §12.4). */
  hasPending(level: EncryptionLevel): boolean {
    if (level !== 'oneRtt' && level !== 'zeroRtt') return false;
    for (let e = this.front(); e !== undefined; e = this.front()) {
      if (e.buffer.hasSendable(this.creditFor(e.handle.id) > 0)) return true;
      this.park(e);
    }
    return false;
  }

  /**
   * Writes STREAM frames, one per stream in turn, each cut to min(room, stream credit,
   * connection credit) for new data or to the room for lost data.
   */
  write(writer: PacketWriter): number {
    if (writer.level !== 'oneRtt' && writer.level !== 'zeroRtt') return 0;
    let frames = 0;
    while (!writer.full) {
      const e = this.front();
      if (e === undefined) break;
      const id = e.handle.id;
      const range = e.buffer.nextRange(this.creditFor(id));
      if (range === undefined) {
        this.park(e);
        continue;
      }
      const fit = fitStreamFrame(writer.room, id, range.offset, range.available, range.fin, this.fit);
      if (fit === null) break; // not even one byte fits: the stream keeps its turn for the next packet
      const fin = range.fin && fit.dataLength === range.available;
      const data = e.buffer.read(range.offset, fit.dataLength, copyScratch(fit.dataLength));
      const start = writer.offset;
      const end = writeStreamFrame(writer.buffer, start, id, range.offset, data, fin, fit.explicitLength);
      writer.commitFrame(end - start, { kind: 'stream', streamId: id, offset: range.offset, length: fit.dataLength, fin }, true);
      // Only now, with the frame committed, does the stream's state move.
      const fresh = e.buffer.onSent(range.offset, fit.dataLength, fin);
      this.flow.consumeSendCredit(id, fresh);
      frames++;
      this.onFrameSent?.(id, fin);
      // The stream that wrote goes to the back of the ring (if it still has something to send).
      const more = e.buffer.hasSendable(this.creditFor(id) > 0);
      if (more) this.rotate(e, true);
      else this.park(e);
      if (!fit.explicitLength) break; // the frame runs to the end of the packet
    }
    return frames;
  }

  /** Releases acknowledged data; reports a stream whose data and FIN are all acknowledged. */
  onAcked(frame: SentFrame): void {
    if (frame.kind !== 'stream') return;
    const e = this.streams.get(frame.streamId);
    if (e === undefined) return;
    const before = e.buffer.allAcknowledged;
    e.buffer.onAcked(frame.offset, frame.length, frame.fin);
    if (!before && e.buffer.allAcknowledged) this.finished.next(frame.streamId);
  }

  /** Queues lost data (and FIN) to be sent again, unless the stream was reset (RFC 9000 §13.3). */
  onLost(frame: SentFrame): void {
    if (frame.kind !== 'stream') return;
    const e = this.streams.get(frame.streamId);
    if (e === undefined || e.buffer.resetFinalSize !== undefined) return;
    e.buffer.onLost(frame.offset, frame.length, frame.fin);
    if (e.buffer.hasSendable(false)) this.markReady(frame.streamId, 'lost');
  }

  /** Stops listening to flow control (the connection is gone). */
  dispose(): void {
    this.creditSubscription.unsubscribe();
  }
}
