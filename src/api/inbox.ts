/**
 * Delivery of incoming items (connections, streams, datagrams) to the application through both a
 * WHATWG `ReadableStream` (pull: the application reads at its pace) and an RxJS `Observable`
 * (push). Items that arrive before any consumer is attached are queued and go to the first one.
 *
 * @module
 * @internal
 */
import { Observable, Subject } from 'rxjs';

/** A `ReadableStream` that is also async iterable (Node.js ≥ 18 streams are). */
export type AsyncReadableStream<T> = ReadableStream<T> & AsyncIterable<T>;

/** Options of an {@link Inbox}. @internal */
export interface InboxOptions {
  /** Items held for the readable (or before any consumer) at most. Default unbounded. */
  readonly limit?: number;
  /** At the limit: drop the oldest item (datagrams) instead of refusing the new one (connections). */
  readonly dropOldest?: boolean;
}

/**
 * Queues items until a consumer takes them. `push` returns false when an item is refused (the
 * queue is full and `dropOldest` is off). @internal
 */
export class Inbox<T> {
  private readonly queue: T[] = [];
  private readonly subject = new Subject<T>();
  private readonly limit: number;
  private readonly dropOldest: boolean;
  private observers = 0;
  private stream: AsyncReadableStream<T> | undefined;
  private waiting: (() => void) | undefined;
  private ended = false;
  private cancelled = false;
  /** Items dropped because the queue was full. */
  dropped = 0;

  /** An Observable of the items; the first subscriber also gets the queued ones (when no readable exists). */
  readonly observable: Observable<T>;

  constructor(options: InboxOptions = {}) {
    this.limit = options.limit ?? Number.POSITIVE_INFINITY;
    this.dropOldest = options.dropOldest === true;
    this.observable = new Observable<T>((subscriber) => {
      if (this.stream === undefined && this.queue.length > 0) {
        const items = this.queue.splice(0);
        for (const item of items) subscriber.next(item);
      }
      if (this.ended) {
        subscriber.complete();
        return undefined;
      }
      this.observers++;
      const subscription = this.subject.subscribe(subscriber);
      return () => {
        this.observers--;
        subscription.unsubscribe();
      };
    });
  }

  /** Items waiting to be taken. */
  get size(): number {
    return this.queue.length;
  }

  /** True once a consumer is attached (a readable, or an observer right now). */
  get consumed(): boolean {
    return this.stream !== undefined || this.observers > 0;
  }

  /** The pull-based readable (created on first access; it gets the queued items). */
  get readable(): AsyncReadableStream<T> {
    if (this.stream === undefined) {
      this.stream = new ReadableStream<T>(
        {
          pull: (controller) => {
            if (this.queue.length > 0) {
              controller.enqueue(this.queue.shift() as T);
              return;
            }
            if (this.ended) {
              controller.close();
              return;
            }
            return new Promise<void>((resolve) => {
              this.waiting = () => {
                this.waiting = undefined;
                if (this.queue.length > 0) controller.enqueue(this.queue.shift() as T);
                else if (this.ended) controller.close();
                resolve();
              };
            });
          },
          cancel: () => {
            this.cancelled = true;
            this.queue.length = 0;
          },
        },
        { highWaterMark: 0 },
      ) as AsyncReadableStream<T>;
    }
    return this.stream;
  }

  /** Offers an item; false when it was refused (full, ended, or the readable was cancelled and nobody observes). */
  push(item: T): boolean {
    if (this.ended) return false;
    const observed = this.observers > 0;
    if (observed) this.subject.next(item);
    // The readable was cancelled: nobody will read the queue.
    if (this.cancelled && !observed) return false;
    if ((this.stream !== undefined && !this.cancelled) || !observed) {
      if (this.queue.length >= this.limit) {
        if (!this.dropOldest) {
          // An observer took it; only the readable misses it.
          if (observed) this.dropped++;
          return observed;
        }
        this.queue.shift();
        this.dropped++;
      }
      this.queue.push(item);
      this.waiting?.();
    }
    return true;
  }

  /** No more items: observers complete, the readable closes once its queue is read. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.subject.complete();
    this.waiting?.();
  }
}
