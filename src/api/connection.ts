/**
 * The public connection object: a QUIC connection as the application sees it, shaped after
 * WebTransport (`ready`, `closed`, `createBidirectionalStream()`, `incomingBidirectionalStreams`,
 * `datagrams`) with RxJS observables beside the WHATWG streams (`stream$`, `datagram$`,
 * `state$`).
 *
 * It wraps one {@link EndpointConnection}: application calls go to the sans-IO core through it,
 * and the core's events (drained by the endpoint after every call) come back here.
 *
 * @module
 */
import { BehaviorSubject, merge, Subject, type Observable } from 'rxjs';
import type { EndpointConnection } from '../endpoint/endpoint-connection.js';
import { ConnectionClosedError } from '../transport/connection.js';
import type { TlsHandshakeInfo } from '../tls/session-events.js';
import type { ConnectionEvent, ConnectionState, ConnectionStats, QuicConnectionCore, SocketAddress, StreamStats } from '../transport/connection-types.js';
import type { QuicVersion } from '../wire/version.js';
import { QuicConnectionError, type QuicCloseInfo } from './errors.js';
import { Inbox, type AsyncReadableStream } from './inbox.js';
import { QuicBidirectionalStream, QuicReceiveStream, QuicSendStream, ReceivePart, SendPart, type StreamHost } from './stream.js';

/** Options of {@link QuicConnection.close}. */
export interface QuicCloseOptions {
  /** The application error code sent in CONNECTION_CLOSE (type 0x1d). Default 0. */
  readonly closeCode?: bigint | number;
  /** The reason phrase. Default empty. */
  readonly reason?: string;
}

/** The unreliable datagrams of a connection (RFC 9221), as in WebTransport. */
export interface QuicDatagrams {
  /**
   * Incoming datagrams. Up to `transport.datagramReceiveQueueLength` wait to be read; beyond
   * that the oldest are dropped (datagrams are unreliable).
   */
  readonly readable: AsyncReadableStream<Uint8Array>;
  /**
   * Outgoing datagrams. A write queues one DATAGRAM frame; a datagram larger than
   * {@link maxDatagramSize} (or any, when the peer does not accept datagrams) is dropped, as
   * WebTransport does.
   */
  readonly writable: WritableStream<Uint8Array>;
  /** Largest payload that can be sent now; 0 until the handshake completes or when the peer does not accept DATAGRAM frames. */
  readonly maxDatagramSize: number;
  /** Outgoing datagrams dropped for being too large or unsupported. */
  readonly droppedOutgoing: number;
}

/** Any stream opened by the peer. */
export type QuicIncomingStream = QuicBidirectionalStream | QuicReceiveStream;

interface StreamEntry {
  readonly receiver: ReceivePart | undefined;
  readonly sender: SendPart | undefined;
}

/** @internal Creation details of a {@link QuicConnection}. */
export interface QuicConnectionContext {
  /** The local address of the endpoint's socket. */
  readonly localAddress: SocketAddress;
  /** Incoming datagrams held for the application at most (`transport.datagramReceiveQueueLength`). */
  readonly datagramReceiveQueueLength: number;
  /** Client: where a NEW_TOKEN token received goes besides {@link QuicConnection.newToken$} (the token memory). */
  readonly onNewToken?: (token: Uint8Array) => void;
}

/**
 * A QUIC connection. Obtain one from `connect()` (client) or a server's `incomingConnections` /
 * `connection$` / `onConnection` (server); both are delivered once the handshake is complete.
 */
export class QuicConnection {
  /**
   * Resolves when the handshake is complete (RFC 9001 §4.1.1) — for a client the server asked for a
   * certificate, once the handshake is confirmed (HANDSHAKE_DONE, RFC 9001 §4.1.2), since the server
   * judges the certificate after the client's handshake completes; rejects with a
   * {@link QuicConnectionError} if the connection closes first.
   */
  readonly ready: Promise<void>;
  /** Resolves with the close information once the connection is closed (never rejects). */
  readonly closed: Promise<QuicCloseInfo>;
  /** The lifecycle state, current value first; completes when the connection is closed. */
  readonly state$: Observable<ConnectionState>;
  /** Incoming streams of both kinds, as they are opened by the peer; completes when the connection closes. */
  readonly stream$: Observable<QuicIncomingStream>;
  /** Incoming datagrams, as they arrive; completes when the connection closes. */
  readonly datagram$: Observable<Uint8Array>;
  /** The unreliable datagrams (RFC 9221), WebTransport-style. */
  readonly datagrams: QuicDatagrams;
  /**
   * Client: address validation tokens the server gives in NEW_TOKEN frames (RFC 9000 §8.1.3), for
   * a later connection to the same server (`connect({ token })`; `connect()` already remembers and
   * uses them within this process). Completes when the connection closes.
   */
  readonly newToken$: Observable<Uint8Array>;

  private readonly ec: EndpointConnection;
  private readonly context: QuicConnectionContext;
  private readonly streams = new Map<number, StreamEntry>();
  private readonly incomingBidi = new Inbox<QuicBidirectionalStream>();
  private readonly incomingUni = new Inbox<QuicReceiveStream>();
  private readonly incomingDatagrams: Inbox<Uint8Array>;
  private readonly stateSubject: BehaviorSubject<ConnectionState>;
  private readonly newTokenSubject = new Subject<Uint8Array>();
  private readonly creditWaiters: { bidi: (() => void)[]; uni: (() => void)[] } = { bidi: [], uni: [] };
  private readonly host: StreamHost;
  private resolveReady!: () => void;
  private rejectReady!: (error: QuicConnectionError) => void;
  private resolveClosed!: (info: QuicCloseInfo) => void;
  private info: TlsHandshakeInfo | undefined;
  private closeInfo: QuicCloseInfo | undefined;
  private closeError: QuicConnectionError | undefined;
  private datagramWritable: WritableStream<Uint8Array> | undefined;
  private outgoingDropped = 0;
  private readonly readyListeners: (() => void)[] = [];
  /** A client that was asked for a certificate: handshake complete, `ready` waits for HANDSHAKE_DONE. */
  private awaitingConfirmation = false;

  /** @internal */
  constructor(ec: EndpointConnection, context: QuicConnectionContext) {
    this.ec = ec;
    this.context = context;
    this.ready = new Promise<void>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    // `ready` may be ignored by an application that awaits `closed` instead.
    this.ready.catch(() => undefined);
    this.closed = new Promise<QuicCloseInfo>((resolve) => {
      this.resolveClosed = resolve;
    });
    this.stateSubject = new BehaviorSubject<ConnectionState>(ec.core.state);
    this.state$ = this.stateSubject.asObservable();
    this.newToken$ = this.newTokenSubject.asObservable();
    this.stream$ = merge<QuicIncomingStream[]>(this.incomingBidi.observable, this.incomingUni.observable);
    this.incomingDatagrams = new Inbox<Uint8Array>({ limit: context.datagramReceiveQueueLength, dropOldest: true });
    this.datagram$ = this.incomingDatagrams.observable;
    this.host = {
      call: (fn) => this.callCore(fn),
      streamStats: (id) => this.ec.core.streamStats(id),
      partDone: (id) => this.partDone(id),
    };
    const self = this;
    this.datagrams = {
      get readable() {
        return self.incomingDatagrams.readable;
      },
      get writable() {
        return self.datagramsWritable();
      },
      get maxDatagramSize() {
        return self.isClosed ? 0 : self.ec.core.maxDatagramPayload();
      },
      get droppedOutgoing() {
        return self.outgoingDropped;
      },
    };
    ec.setEventHandler((events) => this.onEvents(events));
  }

  /** This endpoint's role. */
  get role(): 'client' | 'server' {
    return this.ec.core.role;
  }

  /** The lifecycle state (RFC 9000 §10; the connection machine's state). */
  get state(): ConnectionState {
    return this.closeInfo !== undefined ? 'closed' : this.ec.core.state;
  }

  /** The negotiated application protocol (ALPN, RFC 7301); empty until the handshake completes. */
  get alpnProtocol(): string {
    return this.info?.alpn ?? '';
  }

  /** The QUIC version in use (1, or 0x6b3343cf for QUIC v2). */
  get version(): QuicVersion {
    return this.ec.core.version;
  }

  /** The peer's address. */
  get remoteAddress(): SocketAddress {
    return this.ec.remoteAddress;
  }

  /** The local address (the endpoint's socket). */
  get localAddress(): SocketAddress {
    return this.context.localAddress;
  }

  /**
   * What the TLS handshake negotiated (cipher suite, group, peer certificates, …); undefined until it
   * completes. On a server with `requestClientCertificate`, `peerCertificates` is the client's
   * chain (DER, end entity first; `new X509Certificate(peerCertificates[0])` reads it), delivered
   * only after it verified against `clientCa` / `clientPinnedSpkiSha256` and the client proved its
   * key (`peerCertificateTrust` `'path'`, `'path+pin'` or `'pin'`); empty when the client sent none.
   */
  get handshakeInfo(): TlsHandshakeInfo | undefined {
    return this.info;
  }

  /** Why the connection ended, once it has. */
  get closeReason(): QuicCloseInfo | undefined {
    return this.closeInfo;
  }

  /**
   * Bidirectional streams opened by the peer, in the order they were opened; streams opened before
   * the first access (or before a `stream$` subscriber) wait for it. Ends when the connection closes.
   * A stream nobody takes stays open, so the peer's stream credit (MAX_STREAMS) bounds the queue.
   */
  get incomingBidirectionalStreams(): AsyncReadableStream<QuicBidirectionalStream> {
    return this.incomingBidi.readable;
  }

  /** Streams the peer opened for sending only. See {@link incomingBidirectionalStreams}. */
  get incomingUnidirectionalStreams(): AsyncReadableStream<QuicReceiveStream> {
    return this.incomingUni.readable;
  }

  /**
   * Opens a bidirectional stream. Waits for the handshake, and while the peer's stream limit
   * (MAX_STREAMS, RFC 9000 §4.6) is exhausted; rejects with a {@link QuicConnectionError} if the
   * connection closes first.
   */
  createBidirectionalStream(): Promise<QuicBidirectionalStream> {
    return this.open(true) as Promise<QuicBidirectionalStream>;
  }

  /** Opens a unidirectional (send-only) stream; waits as {@link createBidirectionalStream} does. */
  createUnidirectionalStream(): Promise<QuicSendStream> {
    return this.open(false) as Promise<QuicSendStream>;
  }

  /**
   * Closes the connection with an application error code and reason (CONNECTION_CLOSE 0x1d,
   * RFC 9000 §10.2). Streams still open fail with a {@link QuicConnectionError}. Returns
   * {@link closed}.
   */
  close(options: QuicCloseOptions = {}): Promise<QuicCloseInfo> {
    if (this.closeInfo === undefined && !this.ec.isGone) {
      this.ec.call((core, now) => core.close({ code: options.closeCode ?? 0, reason: options.reason ?? '', application: true }, now));
    }
    return this.closed;
  }

  /** Connection statistics (RTT, congestion window, bytes, packets, losses, …). */
  stats(): ConnectionStats {
    return this.ec.core.stats();
  }

  /** Starts a key update now (RFC 9001 §6), if allowed; returns whether it started. */
  updateKeys(): boolean {
    if (this.isClosed) return false;
    return this.callCore((core, now) => core.updateKeys(now));
  }

  /** Statistics of one stream. */
  streamStats(id: number): StreamStats | undefined {
    return this.ec.core.streamStats(id);
  }

  /**
   * Runs an operation on the core; the core's refusal because the connection is closing or closed
   * becomes a {@link QuicConnectionError} with the close information.
   */
  private callCore<T>(fn: (core: QuicConnectionCore, now: number) => T): T {
    try {
      return this.ec.call(fn);
    } catch (error) {
      if (error instanceof ConnectionClosedError) {
        throw this.closeError ?? new QuicConnectionError(error.info ?? this.ec.closeReason ?? { source: 'local', application: false, code: 0n, reason: error.message });
      }
      throw error;
    }
  }

  private get isClosed(): boolean {
    return this.closeInfo !== undefined || this.ec.isGone;
  }

  private async open(bidirectional: boolean): Promise<QuicBidirectionalStream | QuicSendStream> {
    await this.ready;
    for (;;) {
      if (this.closeError !== undefined) throw this.closeError;
      const id = this.callCore((core, now) => core.openStream(bidirectional, now));
      if (id !== undefined) {
        if (bidirectional) {
          const receiver = new ReceivePart(this.host, id);
          const sender = new SendPart(this.host, id);
          this.streams.set(id, { receiver, sender });
          return new QuicBidirectionalStream(this.host, receiver, sender);
        }
        const sender = new SendPart(this.host, id);
        this.streams.set(id, { receiver: undefined, sender });
        return new QuicSendStream(this.host, sender);
      }
      // RFC 9000 §4.6: wait for MAX_STREAMS (the connection sent STREAMS_BLOCKED).
      await new Promise<void>((resolve) => (bidirectional ? this.creditWaiters.bidi : this.creditWaiters.uni).push(resolve));
    }
  }

  private partDone(id: number): void {
    const entry = this.streams.get(id);
    if (entry === undefined) return;
    if ((entry.receiver?.done ?? true) && (entry.sender?.done ?? true)) this.streams.delete(id);
  }

  private datagramsWritable(): WritableStream<Uint8Array> {
    if (this.datagramWritable === undefined) {
      this.datagramWritable = new WritableStream<Uint8Array>({
        write: (chunk) => {
          if (this.closeError !== undefined) throw this.closeError;
          if (!(chunk instanceof Uint8Array)) throw new TypeError('datagrams are Uint8Array');
          const max = this.ec.core.maxDatagramPayload();
          // WebTransport drops a datagram larger than maxDatagramSize.
          if (chunk.length > max || this.ec.isGone) {
            this.outgoingDropped++;
            return;
          }
          this.callCore((core, now) => core.sendDatagram(chunk, now));
        },
      });
    }
    return this.datagramWritable;
  }

  private onEvents(events: readonly ConnectionEvent[]): void {
    for (const event of events) {
      switch (event.type) {
        case 'handshakeComplete':
          this.info = event.info;
          // A client the server asked for a certificate may still be refused after its Finished
          // (certificate_required, unknown_ca, …): it is ready once the server confirms (RFC 9001 §4.1.2).
          if (event.info.role === 'client' && event.info.certificateRequested) this.awaitingConfirmation = true;
          else this.becomeReady();
          break;
        case 'handshakeConfirmed':
          if (this.awaitingConfirmation) {
            this.awaitingConfirmation = false;
            this.becomeReady();
          }
          break;
        case 'streamOpened':
          this.onStreamOpened(event.streamId, event.bidirectional);
          break;
        case 'streamReadable':
          this.streams.get(event.streamId)?.receiver?.onReadable();
          break;
        case 'streamWritable':
          this.streams.get(event.streamId)?.sender?.onWritable();
          break;
        case 'streamReset':
          this.streams.get(event.streamId)?.receiver?.onReset(event.code);
          break;
        case 'streamStopSending':
          this.streams.get(event.streamId)?.sender?.onStopSending(event.code);
          break;
        case 'streamSendComplete':
          this.streams.get(event.streamId)?.sender?.onSendComplete();
          break;
        case 'streamsAvailable': {
          const waiters = (event.bidirectional ? this.creditWaiters.bidi : this.creditWaiters.uni).splice(0);
          for (const w of waiters) w();
          break;
        }
        case 'datagram':
          this.incomingDatagrams.push(event.data);
          break;
        case 'newToken':
          try {
            this.context.onNewToken?.(event.token);
          } catch {
            // A token store that throws loses this token; the connection is unaffected.
          }
          this.newTokenSubject.next(event.token);
          break;
        case 'datagramStatus':
          break;
        case 'stateChanged':
          this.stateSubject.next(event.state);
          break;
        case 'closing':
          this.onClosing(event.info);
          break;
        case 'closed':
          this.onClosed(event.info);
          break;
      }
    }
  }

  /** Registers a callback run once the connection is ready (at once if it is). @internal */
  onReady(listener: () => void): void {
    if (this.info !== undefined && !this.awaitingConfirmation) listener();
    else this.readyListeners.push(listener);
  }

  private becomeReady(): void {
    this.resolveReady();
    for (const l of this.readyListeners.splice(0)) l();
  }

  private onStreamOpened(id: number, bidirectional: boolean): void {
    const receiver = new ReceivePart(this.host, id);
    const sender = bidirectional ? new SendPart(this.host, id) : undefined;
    this.streams.set(id, { receiver, sender });
    if (sender !== undefined) {
      const stream = new QuicBidirectionalStream(this.host, receiver, sender);
      this.incomingBidi.push(stream);
    } else {
      const stream = new QuicReceiveStream(this.host, receiver);
      this.incomingUni.push(stream);
    }
  }

  /**
   * The connection entered its closing or draining period (or ended at once): the application is
   * told now — `ready` rejects, streams and incoming queues end — rather than after the period
   * (three PTOs, RFC 9000 §10.2), which {@link closed} still waits for.
   */
  private onClosing(info: QuicCloseInfo): void {
    if (this.closeError !== undefined) return;
    const error = new QuicConnectionError(info);
    this.closeError = error;
    this.rejectReady(error);
    for (const entry of [...this.streams.values()]) {
      entry.receiver?.onConnectionClosed(error);
      entry.sender?.onConnectionClosed(error);
    }
    this.streams.clear();
    for (const w of [...this.creditWaiters.bidi.splice(0), ...this.creditWaiters.uni.splice(0)]) w();
    this.incomingBidi.end();
    this.incomingUni.end();
    this.incomingDatagrams.end();
    this.readyListeners.length = 0;
  }

  private onClosed(info: QuicCloseInfo): void {
    if (this.closeInfo !== undefined) return;
    this.onClosing(info);
    this.closeInfo = info;
    if (this.stateSubject.value !== 'closed') this.stateSubject.next('closed');
    this.stateSubject.complete();
    this.newTokenSubject.complete();
    this.resolveClosed(info);
  }
}
