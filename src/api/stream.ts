/**
 * QUIC streams as WHATWG streams and RxJS observables.
 *
 * The receive side is a pull-based `ReadableStream` (high-water mark 0): the connection is read
 * (`readStream`) only when the application asks for the next chunk, so the flow-control windows
 * (MAX_STREAM_DATA, MAX_DATA, RFC 9000 §4) open only as fast as the application reads — real
 * backpressure to the peer. `data$` is the push alternative: it reads everything as it arrives.
 * The send side is a `WritableStream` whose writes go to `writeStream`; a write that leaves the
 * send buffer above its high-water mark waits for the connection's `streamWritable` event, so a
 * writer awaiting `writer.ready` (or `pipeTo`) never outruns the network.
 *
 * @module
 */
import { Observable, Subject } from 'rxjs';
import type { QuicConnectionCore, StreamStats } from '../transport/connection-types.js';
import { applicationCode, QuicStreamError } from './errors.js';
import type { AsyncReadableStream } from './inbox.js';

/** Bytes asked from the connection per read. */
const READ_CHUNK = 64 * 1024;
const EMPTY = new Uint8Array(0);

/** What a stream needs from its connection. @internal */
export interface StreamHost {
  /** Runs an operation on the connection core (then settles the connection). */
  call<T>(fn: (core: QuicConnectionCore, now: number) => T): T;
  /** Stream statistics. */
  streamStats(id: number): StreamStats | undefined;
  /** A side of the stream is finished; the connection forgets the stream when all are. */
  partDone(id: number): void;
}

function swallow(p: Promise<unknown>): void {
  p.catch(() => undefined);
}

/** Receive side of a stream. @internal */
export class ReceivePart {
  /** True when nothing more will be delivered (FIN read, reset, stopped, or the connection closed). */
  done = false;
  private mode: 'readable' | 'observable' | undefined;
  private stream: AsyncReadableStream<Uint8Array> | undefined;
  private controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  private pullWaiter: (() => void) | undefined;
  private subject: Subject<Uint8Array> | undefined;
  private failure: Error | undefined;
  private observable: Observable<Uint8Array> | undefined;

  constructor(
    private readonly host: StreamHost,
    readonly id: number,
  ) {}

  /** The pull-based readable. */
  get readable(): AsyncReadableStream<Uint8Array> {
    if (this.stream === undefined) {
      if (this.mode === 'observable') throw new TypeError(`stream ${this.id} is already read through data$`);
      this.mode = 'readable';
      this.stream = new ReadableStream<Uint8Array>(
        {
          start: (controller) => {
            this.controller = controller;
            if (this.failure !== undefined) controller.error(this.failure);
            else if (this.done) controller.close();
          },
          pull: () => this.pull(),
          cancel: (reason) => this.stopSending(applicationCode(reason)),
        },
        { highWaterMark: 0 },
      ) as AsyncReadableStream<Uint8Array>;
    }
    return this.stream;
  }

  /** Everything that arrives, pushed as it arrives (reading starts at the first subscription). */
  get data$(): Observable<Uint8Array> {
    if (this.observable === undefined) {
      this.observable = new Observable<Uint8Array>((subscriber) => {
        if (this.mode === 'readable') {
          subscriber.error(new TypeError(`stream ${this.id} is already read through its readable`));
          return undefined;
        }
        const start = this.subject === undefined;
        if (start) {
          this.mode = 'observable';
          this.subject = new Subject<Uint8Array>();
          if (this.failure !== undefined) this.subject.error(this.failure);
          else if (this.done) this.subject.complete();
        }
        const subject = this.subject!;
        const subscription = subject.subscribe(subscriber);
        if (start) this.drain();
        return () => {
          subscription.unsubscribe();
          // The last subscriber left before the end: the application no longer wants the data.
          if (!subject.observed && !this.done) this.stopSending(0n);
        };
      });
    }
    return this.observable;
  }

  /** Asks the peer to stop sending (STOP_SENDING, RFC 9000 §3.5); anything unread is discarded. */
  stopSending(code: bigint): void {
    if (this.done) return;
    try {
      this.host.call((core, now) => core.stopSending(this.id, code, now));
    } finally {
      this.fail(new QuicStreamError(this.id, 'local', code));
    }
  }

  /** The connection says data (or the FIN) can be read. */
  onReadable(): void {
    if (this.done) return;
    if (this.mode === 'readable') {
      if (this.pullWaiter !== undefined && this.readOnce()) this.wakePull();
    } else if (this.mode === 'observable') {
      this.drain();
    }
    // No consumer yet: the data waits in the connection, and flow control holds the peer back.
  }

  /** The peer reset the stream. */
  onReset(code: bigint): void {
    this.fail(new QuicStreamError(this.id, 'reset', code));
  }

  /** The connection closed. */
  onConnectionClosed(error: Error): void {
    this.fail(error);
  }

  private pull(): Promise<void> | void {
    if (this.done) return;
    if (this.readOnce()) return;
    return new Promise<void>((resolve) => {
      this.pullWaiter = resolve;
    });
  }

  private wakePull(): void {
    const w = this.pullWaiter;
    this.pullWaiter = undefined;
    w?.();
  }

  private drain(): void {
    while (!this.done && this.readOnce());
  }

  /** One read from the connection; true when it delivered data or ended the stream. */
  private readOnce(): boolean {
    let r: { readonly data: Uint8Array; readonly fin: boolean } | null;
    try {
      r = this.host.call((core, now) => core.readStream(this.id, READ_CHUNK, now));
    } catch (error) {
      this.fail(error instanceof Error ? error : new Error(String(error)));
      return true;
    }
    if (r === null) return false;
    if (r.data.length > 0) {
      if (this.mode === 'readable') this.controller?.enqueue(r.data);
      else this.subject?.next(r.data);
    }
    if (r.fin) this.finish();
    return r.data.length > 0 || r.fin;
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    try {
      this.controller?.close();
    } catch {
      // Already closed by a cancel.
    }
    this.subject?.complete();
    this.wakePull();
    this.host.partDone(this.id);
  }

  private fail(error: Error): void {
    if (this.done) return;
    this.done = true;
    this.failure = error;
    this.controller?.error(error);
    this.subject?.error(error);
    this.wakePull();
    this.host.partDone(this.id);
  }
}

/** Send side of a stream. @internal */
export class SendPart {
  /** True when the send side is finished (all acknowledged, reset, stopped, or the connection closed). */
  done = false;
  /** Resolves when every byte and the FIN were acknowledged. */
  readonly sendComplete: Promise<void>;
  private resolveComplete!: () => void;
  private rejectComplete!: (error: Error) => void;
  private stream: WritableStream<Uint8Array> | undefined;
  private controller: WritableStreamDefaultController | undefined;
  private writeWaiter: { resolve: () => void; reject: (error: Error) => void } | undefined;
  private failure: Error | undefined;
  private finQueued = false;

  constructor(
    private readonly host: StreamHost,
    readonly id: number,
  ) {
    this.sendComplete = new Promise<void>((resolve, reject) => {
      this.resolveComplete = resolve;
      this.rejectComplete = reject;
    });
    swallow(this.sendComplete);
  }

  /** The writable: `close()` sends the FIN, `abort(code)` resets the stream. */
  get writable(): WritableStream<Uint8Array> {
    if (this.stream === undefined) {
      this.stream = new WritableStream<Uint8Array>({
        start: (controller) => {
          this.controller = controller;
          if (this.failure !== undefined) controller.error(this.failure);
        },
        write: (chunk) => this.write(chunk),
        close: () => this.end(),
        abort: (reason) => this.reset(applicationCode(reason)),
      });
    }
    return this.stream;
  }

  /** Resets the stream (RESET_STREAM, RFC 9000 §3.1): unsent and unacknowledged data is abandoned. */
  reset(code: bigint): void {
    if (this.done) return;
    try {
      this.host.call((core, now) => core.resetStream(this.id, code, now));
    } finally {
      this.fail(new QuicStreamError(this.id, 'local', code));
    }
  }

  /** The send buffer drained below its high-water mark. */
  onWritable(): void {
    const w = this.writeWaiter;
    this.writeWaiter = undefined;
    w?.resolve();
  }

  /** The peer sent STOP_SENDING (the connection reset the stream in reply). */
  onStopSending(code: bigint): void {
    this.fail(new QuicStreamError(this.id, 'stop-sending', code));
  }

  /** Everything written, and the FIN, was acknowledged. */
  onSendComplete(): void {
    if (this.done) return;
    this.done = true;
    this.resolveComplete();
    this.host.partDone(this.id);
  }

  /** The connection closed. */
  onConnectionClosed(error: Error): void {
    this.fail(error);
  }

  private write(chunk: Uint8Array): Promise<void> | void {
    if (this.failure !== undefined) throw this.failure;
    if (!(chunk instanceof Uint8Array)) throw new TypeError(`stream ${this.id}: chunks must be Uint8Array`);
    let accepted: boolean;
    try {
      accepted = this.host.call((core, now) => core.writeStream(this.id, chunk, false, now));
    } catch (error) {
      throw this.failure ?? error;
    }
    if (accepted) return;
    return new Promise<void>((resolve, reject) => {
      this.writeWaiter = { resolve, reject };
    });
  }

  private end(): void {
    if (this.failure !== undefined) throw this.failure;
    if (this.finQueued) return;
    this.finQueued = true;
    try {
      this.host.call((core, now) => core.writeStream(this.id, EMPTY, true, now));
    } catch (error) {
      throw this.failure ?? error;
    }
  }

  private fail(error: Error): void {
    if (this.done) return;
    this.done = true;
    this.failure = error;
    try {
      this.controller?.error(error);
    } catch {
      // The writable is already closed or errored.
    }
    const w = this.writeWaiter;
    this.writeWaiter = undefined;
    w?.reject(error);
    this.rejectComplete(error);
    this.host.partDone(this.id);
  }
}

/**
 * A unidirectional stream opened by the peer: this endpoint only reads. Read with
 * {@link readable} (backpressure: the peer is held back while nothing is read) or {@link data$}
 * (everything as it arrives), not both.
 */
export class QuicReceiveStream {
  /** The stream ID (RFC 9000 §2.1). */
  readonly id: number;
  private readonly receiver: ReceivePart;
  private readonly host: StreamHost;

  /** @internal */
  constructor(host: StreamHost, receiver: ReceivePart) {
    this.host = host;
    this.id = receiver.id;
    this.receiver = receiver;
  }

  /**
   * The data, in order, ending at the peer's FIN. Errors with a {@link QuicStreamError} when the
   * peer resets the stream and with a `QuicConnectionError` when the connection closes first.
   * Cancelling it sends STOP_SENDING (code: the cancel reason when it is a number or bigint, else 0).
   * Async iterable: `for await (const chunk of stream.readable)`.
   */
  get readable(): AsyncReadableStream<Uint8Array> {
    return this.receiver.readable;
  }

  /** The data as an Observable: every chunk as it arrives, completing at the FIN; unsubscribing early sends STOP_SENDING. */
  get data$(): Observable<Uint8Array> {
    return this.receiver.data$;
  }

  /** Asks the peer to stop sending (STOP_SENDING with `code`, RFC 9000 §3.5); unread data is discarded. */
  stopSending(code: bigint | number = 0n): void {
    this.receiver.stopSending(BigInt(code));
  }

  /** Byte counts and states of the stream. */
  stats(): StreamStats | undefined {
    return this.host.streamStats(this.id);
  }
}

/** A unidirectional stream opened by this endpoint: it only writes. */
export class QuicSendStream {
  /** The stream ID (RFC 9000 §2.1). */
  readonly id: number;
  private readonly sender: SendPart;
  private readonly host: StreamHost;

  /** @internal */
  constructor(host: StreamHost, sender: SendPart) {
    this.host = host;
    this.id = sender.id;
    this.sender = sender;
  }

  /**
   * Writes data to the stream with backpressure: a write resolves once the connection's send
   * buffer is below its high-water mark. `close()` sends the FIN; `abort(code)` resets the stream.
   * Errors with a {@link QuicStreamError} (`stop-sending`) when the peer stops the stream.
   */
  get writable(): WritableStream<Uint8Array> {
    return this.sender.writable;
  }

  /** Resolves when every byte written and the FIN were acknowledged by the peer; rejects if the stream is reset or the connection closes first. */
  get sendComplete(): Promise<void> {
    return this.sender.sendComplete;
  }

  /** Abruptly ends the stream (RESET_STREAM with `code`, RFC 9000 §3.1). */
  reset(code: bigint | number = 0n): void {
    this.sender.reset(BigInt(code));
  }

  /** Byte counts and states of the stream. */
  stats(): StreamStats | undefined {
    return this.host.streamStats(this.id);
  }
}

/** A bidirectional stream: a {@link QuicReceiveStream} and a {@link QuicSendStream} with one ID. */
export class QuicBidirectionalStream {
  /** The stream ID (RFC 9000 §2.1). */
  readonly id: number;
  private readonly receiver: ReceivePart;
  private readonly sender: SendPart;
  private readonly host: StreamHost;

  /** @internal */
  constructor(host: StreamHost, receiver: ReceivePart, sender: SendPart) {
    this.host = host;
    this.id = receiver.id;
    this.receiver = receiver;
    this.sender = sender;
  }

  /** The incoming data; see {@link QuicReceiveStream.readable}. */
  get readable(): AsyncReadableStream<Uint8Array> {
    return this.receiver.readable;
  }

  /** The incoming data as an Observable; see {@link QuicReceiveStream.data$}. */
  get data$(): Observable<Uint8Array> {
    return this.receiver.data$;
  }

  /** The outgoing side; see {@link QuicSendStream.writable}. */
  get writable(): WritableStream<Uint8Array> {
    return this.sender.writable;
  }

  /** See {@link QuicSendStream.sendComplete}. */
  get sendComplete(): Promise<void> {
    return this.sender.sendComplete;
  }

  /** Resets the sending side (RESET_STREAM with `code`). */
  reset(code: bigint | number = 0n): void {
    this.sender.reset(BigInt(code));
  }

  /** Stops the receiving side (STOP_SENDING with `code`). */
  stopSending(code: bigint | number = 0n): void {
    this.receiver.stopSending(BigInt(code));
  }

  /** Byte counts and states of the stream. */
  stats(): StreamStats | undefined {
    return this.host.streamStats(this.id);
  }
}
