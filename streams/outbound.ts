/**
 * The single outbound path of a connection (ARCHITECTURE.md principles 3 and 4).
 *
 * Every frame source announces "I have something to send" on an `Observable<void>` (its
 * `pending$`); those signals — and explicit {@link OutboundPath.wake} calls for timers, a congestion
 * window that opened, … — are merged and coalesced into ONE synchronous flush per scheduler turn
 * ({@link coalesce}). The flush (the packet builder) then *pulls* frames from the sources in
 * priority order, sized to the room of each packet. Nothing else calls the flush, so there is no
 * second caller, no race and no lock.
 *
 * Re-entrancy: RxJS `merge` delivers synchronously, so a source signalling *during* the flush (a
 * blocked stream raising STREAM_DATA_BLOCKED, `onLost` re-queuing information after a failed
 * seal, …) would run the flush inside itself. Here a signal raised during a flush only schedules
 * the next flush, which runs after the current one has returned; a guard also defers the flush
 * if a scheduler ever ran a task synchronously.
 *
 * @module
 */
import { Observable, Subject, merge, type OperatorFunction, type Subscription } from 'rxjs';
import { setImmediateScheduler, type FlushScheduler } from './schedulers.js';

/**
 * Coalesces the values of a turn: on the first value, schedules one emission with `scheduler`;
 * values arriving before it runs are absorbed. A value arriving while the emission is being
 * delivered schedules a new one (it is never delivered inside the current one).
 */
export function coalesce<T>(scheduler: FlushScheduler): OperatorFunction<T, void> {
  return (source) =>
    new Observable<void>((subscriber) => {
      let scheduled = false;
      let cancel: (() => void) | undefined;
      let completed = false;
      const fire = (): void => {
        scheduled = false;
        cancel = undefined;
        subscriber.next();
        if (completed && !scheduled) subscriber.complete();
      };
      const subscription = source.subscribe({
        next: () => {
          if (scheduled) return;
          scheduled = true;
          const c = scheduler.schedule(fire);
          // A scheduler that ran `fire` synchronously has already cleared `scheduled`.
          if (scheduled) cancel = c;
        },
        error: (e: unknown) => subscriber.error(e),
        complete: () => {
          completed = true;
          if (!scheduled) subscriber.complete();
        },
      });
      return () => {
        subscription.unsubscribe();
        cancel?.();
        cancel = undefined;
        scheduled = false;
      };
    });
}

/** Options of an {@link OutboundPath}. */
export interface OutboundPathOptions {
  /** Wake-up signals: the `pending$` of every frame source (any value means "flush soon"). */
  readonly signals: readonly Observable<unknown>[];
  /**
   * The flush: synchronous, builds and sends every packet it can at `now` (milliseconds). It
   * returns `true` when it stopped with work left only to yield the event loop (the assembler's
   * `blockedBy: 'flush-limit'`): another flush is then scheduled. It must not return a promise: a
   * flush never awaits.
   */
  readonly flush: (now: number) => boolean | void;
  /** When flushes run; defaults to {@link setImmediateScheduler} (one flush per event-loop turn). */
  readonly scheduler?: FlushScheduler;
  /** The clock handed to the flush, in milliseconds; defaults to `performance.now()`. */
  readonly clock?: () => number;
  /** Called with an error thrown by the flush (the path keeps running); by default the error is rethrown from the scheduler task. */
  readonly onError?: (error: unknown) => void;
}

/**
 * Merges wake-up signals into one coalesced, non-re-entrant flush. Create one per connection;
 * {@link stop} it when the connection is gone.
 */
export class OutboundPath {
  private readonly wakes = new Subject<void>();
  private readonly flushFn: (now: number) => boolean | void;
  private readonly clock: () => number;
  private readonly onError: ((error: unknown) => void) | undefined;
  private readonly subscription: Subscription;
  private flushing = false;
  private deferred = false;
  private flushes = 0;
  private stopped = false;

  /** Subscribes to the signals; nothing is flushed until a signal or {@link wake}. */
  constructor(options: OutboundPathOptions) {
    this.flushFn = options.flush;
    this.clock = options.clock ?? (() => performance.now());
    this.onError = options.onError;
    this.subscription = merge(...options.signals, this.wakes)
      .pipe(coalesce(options.scheduler ?? setImmediateScheduler))
      .subscribe(() => this.run());
  }

  /** Asks for a flush (timer expiry, congestion window opened, …); coalesced with other wake-ups. */
  wake(): void {
    if (!this.stopped) this.wakes.next();
  }

  /** Flushes run so far. */
  get flushCount(): number {
    return this.flushes;
  }

  /** True while the flush is running. */
  get isFlushing(): boolean {
    return this.flushing;
  }

  /** Stops: no more flushes, even for wake-ups already scheduled. */
  stop(): void {
    this.stopped = true;
    this.subscription.unsubscribe();
    this.wakes.complete();
  }

  private run(): void {
    if (this.stopped) return;
    if (this.flushing) {
      // Only reachable with a scheduler that runs tasks synchronously: never flush inside a flush.
      this.deferred = true;
      return;
    }
    this.flushing = true;
    this.flushes++;
    try {
      const result: unknown = this.flushFn(this.clock());
      if (typeof (result as PromiseLike<unknown> | undefined)?.then === 'function') {
        throw new TypeError('the outbound flush returned a promise: a flush must be synchronous and never await');
      }
      // The flush yielded with work left: continue in a later turn, after other I/O.
      if (result === true) this.deferred = true;
    } catch (e) {
      if (this.onError === undefined) throw e;
      this.onError(e);
    } finally {
      this.flushing = false;
      if (this.deferred) {
        this.deferred = false;
        this.wake();
      }
    }
  }
}
