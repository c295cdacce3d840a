/**
 * Outgoing unreliable datagrams (RFC 9221): a bounded queue drained into DATAGRAM frames by
 * `sources/datagram-source.ts`.
 *
 * - A datagram is refused to the application with a {@link DatagramRefusedError} when the peer
 *   does not accept DATAGRAM frames, or when its frame would exceed the peer's
 *   max_datagram_frame_size (RFC 9221 §3) or the largest packet the path carries (DATAGRAM
 *   frames cannot be fragmented, RFC 9221 §5).
 * - The queue is bounded in count and bytes. When full, the **oldest** queued datagram is
 *   dropped to make room: datagrams carry time-sensitive data, and the newest is the most useful.
 *   Every drop is reported on {@link DatagramQueue.events$} (`outcome: 'dropped'`).
 * - Datagrams wait in the queue while congestion control blocks sending (RFC 9221 §5.4). They are
 *   never retransmitted (RFC 9221 §5.2); acknowledgement and loss are reported by id.
 *
 * @module
 */
import { Subject, type Observable } from 'rxjs';
import { varintSize } from '../wire/varint.js';

/** Why a datagram was refused to the application. */
export type DatagramRefusal =
  /** The peer did not send a non-zero max_datagram_frame_size (RFC 9221 §3). */
  | 'unsupported'
  /** Its DATAGRAM frame would exceed the peer's max_datagram_frame_size or the largest packet. */
  | 'tooLarge';

/** Thrown by {@link DatagramQueue.send} when a datagram cannot be sent at all. */
export class DatagramRefusedError extends Error {
  /** Why the datagram was refused. */
  readonly reason: DatagramRefusal;
  /** The datagram's size in bytes. */
  readonly size: number;
  /** The largest datagram payload accepted at the time, in bytes (0 when unsupported). */
  readonly limit: number;

  /** Creates the error for a datagram of `size` bytes. */
  constructor(reason: DatagramRefusal, size: number, limit: number) {
    super(
      reason === 'unsupported'
        ? 'the peer does not accept DATAGRAM frames (no max_datagram_frame_size)'
        : `a datagram of ${size} bytes exceeds the largest that can be sent (${limit} bytes)`,
    );
    this.name = 'DatagramRefusedError';
    this.reason = reason;
    this.size = size;
    this.limit = limit;
  }
}

/** What became of a datagram accepted by {@link DatagramQueue.send}. */
export interface DatagramEvent {
  /** The id {@link DatagramQueue.send} returned. */
  readonly id: number;
  /**
   * `acked`: the packet carrying it was acknowledged (RFC 9221 §5.2); `lost`: that packet was
   * declared lost (it is not sent again); `dropped`: it was never sent — pushed out of a full
   * queue, or no longer fitting after the path or peer limits shrank, or discarded on close.
   */
  readonly outcome: 'acked' | 'lost' | 'dropped';
  /** For `dropped`: why. */
  readonly reason?: 'queueFull' | 'tooLarge' | 'closed';
}

/** The default bound on queued datagrams (count). */
export const DEFAULT_MAX_QUEUED_DATAGRAMS = 64;
/** The default bound on queued datagrams (bytes). */
export const DEFAULT_MAX_QUEUED_DATAGRAM_BYTES = 256 * 1024;

/** Options of a {@link DatagramQueue}. */
export interface DatagramQueueOptions {
  /** At most this many datagrams queued; default {@link DEFAULT_MAX_QUEUED_DATAGRAMS}. */
  readonly maxQueued?: number;
  /** At most this many bytes queued; default {@link DEFAULT_MAX_QUEUED_DATAGRAM_BYTES}. */
  readonly maxQueuedBytes?: number;
}

/** A datagram waiting to be sent. */
export interface QueuedDatagram {
  /** The id returned by {@link DatagramQueue.send}. */
  readonly id: number;
  /** The payload (owned by the queue). */
  readonly data: Uint8Array;
}

/** Size of a DATAGRAM frame with a Length field (type 0x31, RFC 9221 §4). */
export function datagramFrameSize(dataLength: number): number {
  return 1 + varintSize(dataLength) + dataLength;
}

/** The largest payload whose DATAGRAM frame (with Length field) is at most `frameLimit` bytes. */
function largestPayload(frameLimit: number): number {
  // For each Length field size L, the best is min(limit − 1 − L, largest value encodable in L bytes).
  let best = 0;
  for (const [lengthSize, cap] of [
    [1, 0x3f],
    [2, 0x3fff],
    [4, 0x3fff_ffff],
    [8, Number.MAX_SAFE_INTEGER],
  ] as const) {
    const n = Math.min(frameLimit - 1 - lengthSize, cap);
    if (n > best) best = n;
  }
  return best;
}

/**
 * The bounded queue of outgoing datagrams of one connection, with the limits that decide what
 * may be sent. Sans-IO; {@link pending$} announces a newly queued datagram.
 */
export class DatagramQueue {
  private readonly queue: QueuedDatagram[] = [];
  private head = 0;
  private queuedBytes = 0;
  private nextId = 0;
  private peerMaxFrameSize = 0;
  private maxPacketPayload = Infinity;
  private droppedCount = 0;
  private readonly maxQueued: number;
  private readonly maxQueuedBytes: number;
  private readonly pending = new Subject<void>();
  private readonly events = new Subject<DatagramEvent>();

  /** Emits when a datagram is queued. */
  readonly pending$: Observable<void> = this.pending.asObservable();
  /** Acknowledgements, losses and drops, by datagram id. */
  readonly events$: Observable<DatagramEvent> = this.events.asObservable();

  /** Creates an empty queue; nothing can be sent until {@link setPeerMaxFrameSize}. */
  constructor(options: DatagramQueueOptions = {}) {
    this.maxQueued = Math.max(1, options.maxQueued ?? DEFAULT_MAX_QUEUED_DATAGRAMS);
    this.maxQueuedBytes = Math.max(1, options.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_DATAGRAM_BYTES);
  }

  /**
   * Sets the peer's max_datagram_frame_size (RFC 9221 §3; undefined or 0: not supported). Queued
   * datagrams that no longer fit are dropped.
   */
  setPeerMaxFrameSize(size: number | undefined): void {
    this.peerMaxFrameSize = size ?? 0;
    this.dropUnsendable();
  }

  /**
   * Sets the most frame bytes an otherwise empty 1-RTT packet can carry on the current path
   * (path MTU minus the largest short header and the AEAD tag). The connection must keep it no
   * larger than the real room of an empty packet, or a datagram could wait forever. Queued
   * datagrams that no longer fit are dropped.
   */
  setMaxPacketPayload(bytes: number): void {
    this.maxPacketPayload = bytes;
    this.dropUnsendable();
  }

  /** The largest datagram payload that can be sent now (0 when the peer does not accept datagrams). */
  get maxDatagramSize(): number {
    if (this.peerMaxFrameSize <= 0) return 0;
    return largestPayload(Math.min(this.peerMaxFrameSize, this.maxPacketPayload));
  }

  /** Datagrams waiting. */
  get length(): number {
    return this.queue.length - this.head;
  }

  /** Bytes of datagrams waiting. */
  get bytes(): number {
    return this.queuedBytes;
  }

  /** Datagrams dropped without being sent. */
  get dropped(): number {
    return this.droppedCount;
  }

  /**
   * Queues a copy of `data` and returns its id. If the queue is full, the oldest queued datagrams
   * are dropped (reported on {@link events$}).
   *
   * @throws DatagramRefusedError when the peer does not accept datagrams or `data` is too large.
   */
  send(data: Uint8Array): number {
    if (this.peerMaxFrameSize <= 0) throw new DatagramRefusedError('unsupported', data.length, 0);
    const limit = this.maxDatagramSize;
    if (data.length > limit) throw new DatagramRefusedError('tooLarge', data.length, limit);
    while (this.length > 0 && (this.length + 1 > this.maxQueued || this.queuedBytes + data.length > this.maxQueuedBytes)) {
      this.dropHead('queueFull');
    }
    const id = this.nextId++;
    this.queue.push({ id, data: data.slice() });
    this.queuedBytes += data.length;
    this.pending.next();
    return id;
  }

  /** The oldest queued datagram, undefined when none. */
  peek(): QueuedDatagram | undefined {
    return this.head < this.queue.length ? this.queue[this.head] : undefined;
  }

  /** Removes the datagram returned by {@link peek}: it was committed to a packet. */
  onSent(): QueuedDatagram {
    const d = this.take();
    if (d === undefined) throw new Error('datagram queue: onSent() with nothing queued');
    return d;
  }

  /** The packet carrying datagram `id` was acknowledged. */
  onAcked(id: number): void {
    this.events.next({ id, outcome: 'acked' });
  }

  /** The packet carrying datagram `id` was lost; it is not sent again (RFC 9221 §5.2). */
  onLost(id: number): void {
    this.events.next({ id, outcome: 'lost' });
  }

  /** Drops every queued datagram (connection closing), reporting each. */
  clear(): void {
    while (this.length > 0) this.dropHead('closed');
  }

  private take(): QueuedDatagram | undefined {
    if (this.head >= this.queue.length) return undefined;
    const d = this.queue[this.head++];
    this.queuedBytes -= d.data.length;
    if (this.head > 64 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    return d;
  }

  private dropHead(reason: 'queueFull' | 'tooLarge' | 'closed'): void {
    const d = this.take();
    if (d === undefined) return;
    this.droppedCount++;
    this.events.next({ id: d.id, outcome: 'dropped', reason });
  }

  private dropUnsendable(): void {
    const limit = this.maxDatagramSize;
    const keep: QueuedDatagram[] = [];
    const drop: QueuedDatagram[] = [];
    for (let i = this.head; i < this.queue.length; i++) (this.queue[i].data.length <= limit ? keep : drop).push(this.queue[i]);
    if (drop.length === 0) return;
    this.queue.length = 0;
    this.queue.push(...keep);
    this.head = 0;
    this.queuedBytes = keep.reduce((n, d) => n + d.data.length, 0);
    for (const d of drop) {
      this.droppedCount++;
      this.events.next({ id: d.id, outcome: 'dropped', reason: 'tooLarge' });
    }
  }
}
