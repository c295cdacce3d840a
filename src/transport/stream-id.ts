/**
 * Stream IDs (RFC 9000 §2.1): initiator and direction from the two low bits, the stream index,
 * and the receive-side rules a frame naming a stream must pass (§3, §4.6, §19.4–§19.13), with the
 * stream limits in both directions ({@link StreamIdSpace}).
 *
 * Stream IDs are exact `number`s (the frame decoder refuses values above 2^53−1); the index of a
 * stream is `Math.floor(id / 4)`, never `id >> 2`, which would truncate to 32 bits.
 *
 * @module
 */
import { QuicError, TransportErrorCode } from '../wire/errors.js';
import { FrameType, MAX_STREAMS_LIMIT } from '../wire/frames/types.js';

/** Which endpoint a connection is: the initiator of a stream is one of these (RFC 9000 §2.1). */
export type EndpointRole = 'client' | 'server';

/** The largest stream count a limit can express: 2^60 (RFC 9000 §4.6), as a `number`. */
export const MAX_STREAM_COUNT: number = Number(MAX_STREAMS_LIMIT);

/** Bit 0x01 of a stream ID: set for server-initiated streams (RFC 9000 §2.1). */
export const STREAM_ID_SERVER_BIT = 0x01;

/** Bit 0x02 of a stream ID: set for unidirectional streams (RFC 9000 §2.1). */
export const STREAM_ID_UNI_BIT = 0x02;

/** The endpoint that initiated stream `streamId`: even IDs are the client's (RFC 9000 §2.1). */
export function streamInitiator(streamId: number): EndpointRole {
  return streamId % 2 === 0 ? 'client' : 'server';
}

/** True for a bidirectional stream (bit 0x02 clear, RFC 9000 §2.1). */
export function isBidirectionalStream(streamId: number): boolean {
  return streamId % 4 < 2;
}

/** True for a unidirectional stream (bit 0x02 set, RFC 9000 §2.1). */
export function isUnidirectionalStream(streamId: number): boolean {
  return streamId % 4 >= 2;
}

/** True when `role` initiated stream `streamId`. */
export function isLocallyInitiated(streamId: number, role: EndpointRole): boolean {
  return streamInitiator(streamId) === role;
}

/** The 0-based position of a stream among the streams of its type: stream IDs of a type step by 4 (RFC 9000 §2.1). */
export function streamIndex(streamId: number): number {
  return Math.floor(streamId / 4);
}

/** The two low bits of the streams of a type (RFC 9000 §2.1, Table 1). */
export function streamTypeBits(initiator: EndpointRole, bidirectional: boolean): 0 | 1 | 2 | 3 {
  return ((initiator === 'server' ? STREAM_ID_SERVER_BIT : 0) | (bidirectional ? 0 : STREAM_ID_UNI_BIT)) as 0 | 1 | 2 | 3;
}

/** The ID of the stream at `index` among the streams of a type. */
export function streamIdFor(initiator: EndpointRole, bidirectional: boolean, index: number): number {
  return index * 4 + streamTypeBits(initiator, bidirectional);
}

/** True when `role` may send on `streamId`: every bidirectional stream, and its own unidirectional streams. */
export function canSendOn(role: EndpointRole, streamId: number): boolean {
  return isBidirectionalStream(streamId) || isLocallyInitiated(streamId, role);
}

/** True when `role` may receive on `streamId`: every bidirectional stream, and the peer's unidirectional streams. */
export function canReceiveOn(role: EndpointRole, streamId: number): boolean {
  return isBidirectionalStream(streamId) || !isLocallyInitiated(streamId, role);
}

/** The frames received that name a stream. */
export type StreamFrameKind = 'stream' | 'resetStream' | 'streamDataBlocked' | 'maxStreamData' | 'stopSending';

const frameTypeOf: Readonly<Record<StreamFrameKind, number>> = {
  stream: FrameType.STREAM,
  resetStream: FrameType.RESET_STREAM,
  streamDataBlocked: FrameType.STREAM_DATA_BLOCKED,
  maxStreamData: FrameType.MAX_STREAM_DATA,
  stopSending: FrameType.STOP_SENDING,
};

/**
 * Refuses a frame that names a stream in the wrong direction, with STREAM_STATE_ERROR:
 * - STREAM (§19.8), RESET_STREAM (§19.4) or STREAM_DATA_BLOCKED (§19.13) for a stream we only
 *   send on (our own unidirectional streams);
 * - MAX_STREAM_DATA (§19.10) or STOP_SENDING (§19.5) for a stream we only receive on (the peer's
 *   unidirectional streams).
 *
 * `frameType` is the exact type received, for the error (STREAM frames have eight, 0x08–0x0f);
 * it defaults to the base type of `kind`.
 */
export function checkStreamFrameDirection(role: EndpointRole, streamId: number, kind: StreamFrameKind, frameType: number = frameTypeOf[kind]): void {
  const senderFrame = kind === 'stream' || kind === 'resetStream' || kind === 'streamDataBlocked';
  if (senderFrame ? !canReceiveOn(role, streamId) : !canSendOn(role, streamId)) {
    const what = senderFrame ? 'send-only' : 'receive-only';
    throw new QuicError(TransportErrorCode.STREAM_STATE_ERROR, `${kind} frame for ${what} stream ${streamId}`, { frameType });
  }
}

/**
 * What to do with a frame that names a stream, once {@link StreamIdSpace.classify} accepted it.
 *
 * - `open`: the frame opens peer streams. Create `count` streams, IDs `firstStreamId`,
 *   `firstStreamId + 4`, …, up to and including the frame's stream (RFC 9000 §3.2: lower-numbered
 *   streams of the type are opened first), then process the frame. See {@link openedStreamIds}.
 * - `live`: the stream exists; process the frame on it.
 * - `closed`: the stream was opened and has since been closed and forgotten; ignore the frame
 *   (RFC 9000 §3.2: frames can arrive late, after the stream reached a terminal state; §4.5: the
 *   final-size check on closed streams is a SHOULD we forgo, as it needs per-stream state).
 */
export type StreamFrameVerdict =
  | { readonly action: 'open'; readonly firstStreamId: number; readonly count: number }
  | { readonly action: 'live' }
  | { readonly action: 'closed' };

const LIVE: StreamFrameVerdict = Object.freeze({ action: 'live' });
const CLOSED: StreamFrameVerdict = Object.freeze({ action: 'closed' });

/** The stream IDs an `open` verdict creates, lowest first. */
export function* openedStreamIds(verdict: StreamFrameVerdict): Generator<number, void, void> {
  if (verdict.action !== 'open') return;
  for (let i = 0; i < verdict.count; i++) yield verdict.firstStreamId + 4 * i;
}

/** Options of a {@link StreamIdSpace}. */
export interface StreamIdSpaceOptions {
  /** Our role. */
  readonly role: EndpointRole;
  /**
   * How many bidirectional streams the peer may have open at once: our initial_max_streams_bidi,
   * and the window kept open by MAX_STREAMS as the peer's streams close. 0–2^60. This is a memory
   * commitment: one frame may open this many streams at once (RFC 9000 §3.2), and the set of open
   * streams holds up to this many entries.
   */
  readonly maxConcurrentPeerBidiStreams: number;
  /** The same for unidirectional streams (initial_max_streams_uni). 0–2^60. */
  readonly maxConcurrentPeerUniStreams: number;
  /** The peer's initial_max_streams_bidi, when known (remembered for 0-RTT, or after the handshake). Default 0. */
  readonly peerMaxStreamsBidi?: number;
  /** The peer's initial_max_streams_uni, when known. Default 0. */
  readonly peerMaxStreamsUni?: number;
}

/** Streams of one type initiated by one side. */
class StreamType {
  /** Streams opened so far: indices below this are opened (live or closed). The high-water mark. */
  opened = 0;
  /** Indices opened and not yet closed. Bounded by the limit minus the closed count. */
  readonly live = new Set<number>();
  /** Closed streams, counted for MAX_STREAMS credit. */
  closed = 0;

  constructor(
    /** Cumulative limit: the peer's MAX_STREAMS for our streams, our advertised one for the peer's. */
    public limit: number,
    /** For peer streams: the concurrency window MAX_STREAMS keeps open. */
    readonly window: number,
  ) {}
}

function checkCount(what: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0 || n > MAX_STREAM_COUNT) throw new RangeError(`${what} ${n} is not a stream count in 0..2^60`);
}

/**
 * The stream ID space of a connection: for each of the four stream types, which streams are
 * opened, which are closed, and the limits on opening more (RFC 9000 §2.1, §3.2, §4.6).
 *
 * Incoming frames: {@link classify} applies the direction rules, the "locally initiated but not
 * yet opened" rule, the peer's stream limit and implicit opening, and recognises closed streams.
 * Local streams: {@link openLocal}, {@link streamsBlocked}, {@link onMaxStreams}. Credit:
 * {@link streamClosed} and {@link takeMaxStreamsUpdate} keep the peer able to have the configured
 * number of streams open at once.
 */
export class StreamIdSpace {
  /** Our role. */
  readonly role: EndpointRole;
  private readonly peer: EndpointRole;
  private readonly localBidi: StreamType;
  private readonly localUni: StreamType;
  private readonly peerBidi: StreamType;
  private readonly peerUni: StreamType;
  private readonly forceUpdate = { bidi: false, uni: false };

  constructor(options: StreamIdSpaceOptions) {
    checkCount('maxConcurrentPeerBidiStreams', options.maxConcurrentPeerBidiStreams);
    checkCount('maxConcurrentPeerUniStreams', options.maxConcurrentPeerUniStreams);
    this.role = options.role;
    this.peer = options.role === 'client' ? 'server' : 'client';
    this.localBidi = new StreamType(Math.min(options.peerMaxStreamsBidi ?? 0, MAX_STREAM_COUNT), 0);
    this.localUni = new StreamType(Math.min(options.peerMaxStreamsUni ?? 0, MAX_STREAM_COUNT), 0);
    this.peerBidi = new StreamType(options.maxConcurrentPeerBidiStreams, options.maxConcurrentPeerBidiStreams);
    this.peerUni = new StreamType(options.maxConcurrentPeerUniStreams, options.maxConcurrentPeerUniStreams);
  }

  /**
   * Checks a received frame of kind `kind` naming `streamId` and says what to do with it.
   *
   * Throws STREAM_STATE_ERROR for a frame in the wrong direction ({@link checkStreamFrameDirection})
   * or for a locally initiated stream we have not opened (RFC 9000 §19.4, §19.5, §19.8, §19.10,
   * §19.13), and STREAM_LIMIT_ERROR for a peer stream beyond the limit we advertised (§4.6).
   * A peer stream above the high-water mark is opened together with every lower one of its type
   * (§3.2); the returned verdict says which — they count as live from now on. Errors carry
   * `frameType`, the exact type received (default: the base type of `kind`).
   */
  classify(streamId: number, kind: StreamFrameKind, frameType: number = frameTypeOf[kind]): StreamFrameVerdict {
    checkStreamFrameDirection(this.role, streamId, kind, frameType);
    const index = streamIndex(streamId);
    const bidi = isBidirectionalStream(streamId);
    if (isLocallyInitiated(streamId, this.role)) {
      const t = bidi ? this.localBidi : this.localUni;
      if (index >= t.opened) {
        throw new QuicError(TransportErrorCode.STREAM_STATE_ERROR, `${kind} frame for stream ${streamId}, which we have not opened`, {
          frameType,
        });
      }
      return t.live.has(index) ? LIVE : CLOSED;
    }
    const t = bidi ? this.peerBidi : this.peerUni;
    if (index < t.opened) return t.live.has(index) ? LIVE : CLOSED;
    if (index >= t.limit) {
      // RFC 9000 §4.6: a stream ID exceeding the limit we sent MUST be STREAM_LIMIT_ERROR.
      throw new QuicError(
        TransportErrorCode.STREAM_LIMIT_ERROR,
        `stream ${streamId} exceeds the ${t.limit} ${bidi ? 'bidirectional' : 'unidirectional'} streams allowed`,
        { frameType },
      );
    }
    const first = t.opened;
    for (let i = first; i <= index; i++) t.live.add(i);
    t.opened = index + 1;
    return { action: 'open', firstStreamId: streamIdFor(this.peer, bidi, first), count: index + 1 - first };
  }

  /**
   * Opens our next stream of a type and returns its ID, or `undefined` when the peer's limit
   * forbids it (then send STREAMS_BLOCKED with {@link streamsBlocked}, RFC 9000 §4.6).
   */
  openLocal(bidirectional: boolean): number | undefined {
    const t = bidirectional ? this.localBidi : this.localUni;
    if (t.opened >= t.limit) return undefined;
    const index = t.opened++;
    t.live.add(index);
    return streamIdFor(this.role, bidirectional, index);
  }

  /** The ID {@link openLocal} would return next (whether or not the limit allows it). */
  nextLocalStreamId(bidirectional: boolean): number {
    return streamIdFor(this.role, bidirectional, (bidirectional ? this.localBidi : this.localUni).opened);
  }

  /** How many more streams of a type we may open now under the peer's limit. */
  localStreamsAvailable(bidirectional: boolean): number {
    const t = bidirectional ? this.localBidi : this.localUni;
    return t.limit - t.opened;
  }

  /**
   * When we cannot open a stream of this type, the limit to report in STREAMS_BLOCKED (RFC 9000
   * §19.14: the limit at which blocking occurred); `undefined` when not blocked.
   */
  streamsBlocked(bidirectional: boolean): number | undefined {
    const t = bidirectional ? this.localBidi : this.localUni;
    return t.opened >= t.limit ? t.limit : undefined;
  }

  /** The peer's current limit on our streams of a type (cumulative count). */
  localLimit(bidirectional: boolean): number {
    return (bidirectional ? this.localBidi : this.localUni).limit;
  }

  /**
   * Applies the peer's MAX_STREAMS (or its initial_max_streams_* transport parameter). Returns
   * true when the limit increased; a value that does not increase it is ignored (RFC 9000 §4.6,
   * §19.11). Values above 2^60 are refused by the frame decoder.
   */
  onMaxStreams(bidirectional: boolean, maximum: number): boolean {
    const t = bidirectional ? this.localBidi : this.localUni;
    const m = Math.min(maximum, MAX_STREAM_COUNT);
    if (!(m > t.limit)) return false;
    t.limit = m;
    return true;
  }

  /**
   * Notes the peer's STREAMS_BLOCKED: when it is blocked at (or beyond) our current limit and
   * closed streams have freed credit, the next {@link takeMaxStreamsUpdate} announces it at once,
   * below the usual threshold. We never wait for this signal to grant credit (RFC 9000 §4.6).
   */
  onStreamsBlocked(bidirectional: boolean, limit: number): void {
    const t = bidirectional ? this.peerBidi : this.peerUni;
    if (limit >= t.limit) this.forceUpdate[bidirectional ? 'bidi' : 'uni'] = true;
  }

  /**
   * Records that a stream reached its terminal state and was forgotten: later frames for it are
   * `closed`. For a peer stream this frees MAX_STREAMS credit. Closing twice, or closing a stream
   * never opened, does nothing.
   */
  streamClosed(streamId: number): void {
    const local = isLocallyInitiated(streamId, this.role);
    const bidi = isBidirectionalStream(streamId);
    const t = local ? (bidi ? this.localBidi : this.localUni) : bidi ? this.peerBidi : this.peerUni;
    if (t.live.delete(streamIndex(streamId))) t.closed++;
  }

  /** True when `streamId` is opened and not closed. */
  isLive(streamId: number): boolean {
    const local = isLocallyInitiated(streamId, this.role);
    const bidi = isBidirectionalStream(streamId);
    const t = local ? (bidi ? this.localBidi : this.localUni) : bidi ? this.peerBidi : this.peerUni;
    return t.live.has(streamIndex(streamId));
  }

  /** Number of open (live) streams of a type initiated by us (`local`) or by the peer. */
  liveCount(local: boolean, bidirectional: boolean): number {
    const t = local ? (bidirectional ? this.localBidi : this.localUni) : bidirectional ? this.peerBidi : this.peerUni;
    return t.live.size;
  }

  /** How many streams of a type the peer has opened (its high-water mark). */
  peerStreamsOpened(bidirectional: boolean): number {
    return (bidirectional ? this.peerBidi : this.peerUni).opened;
  }

  /** The limit we currently advertise for the peer's streams of a type (what MAX_STREAMS carries). */
  peerLimit(bidirectional: boolean): number {
    return (bidirectional ? this.peerBidi : this.peerUni).limit;
  }

  /**
   * Raises the limit on the peer's streams of a type to (closed streams + window) when that grows
   * it by at least half the window (at least 1), or by anything after the peer reported being
   * blocked, and returns the new value to send in MAX_STREAMS; otherwise `undefined`. The raised
   * limit is enforced from now on; if the frame is lost, resend {@link peerLimit}.
   */
  takeMaxStreamsUpdate(bidirectional: boolean): number | undefined {
    const t = bidirectional ? this.peerBidi : this.peerUni;
    const key = bidirectional ? 'bidi' : 'uni';
    const target = Math.min(MAX_STREAM_COUNT, t.closed + t.window);
    const growth = target - t.limit;
    if (growth <= 0) return undefined;
    if (growth < Math.max(1, Math.floor(t.window / 2)) && !this.forceUpdate[key]) return undefined;
    this.forceUpdate[key] = false;
    t.limit = target;
    return target;
  }
}
