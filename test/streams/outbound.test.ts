import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Subject, merge } from 'rxjs';
import { OutboundPath, coalesce } from '../../streams/outbound.js';
import { ManualScheduler, microtaskScheduler, setImmediateScheduler, type FlushScheduler } from '../../streams/schedulers.js';

/** A recording fake flush: counts calls and the deepest nesting seen. */
function recordingFlush(during?: (call: number) => void) {
  const rec = { calls: 0, depth: 0, maxDepth: 0, times: [] as number[] };
  const flush = (now: number): void => {
    rec.calls++;
    rec.depth++;
    rec.maxDepth = Math.max(rec.maxDepth, rec.depth);
    rec.times.push(now);
    try {
      during?.(rec.calls);
    } finally {
      rec.depth--;
    }
  };
  return { rec, flush };
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('RxJS merge alone is re-entrant: a signal raised inside the subscriber runs inside it (the hazard)', () => {
  const a = new Subject<void>();
  const b = new Subject<void>();
  let depth = 0;
  let maxDepth = 0;
  let calls = 0;
  merge(a, b).subscribe(() => {
    depth++;
    calls++;
    maxDepth = Math.max(maxDepth, depth);
    if (calls === 1) b.next();
    depth--;
  });
  a.next();
  assert.is(maxDepth, 2, 'the second delivery ran inside the first');
});

test('all wake-ups of a turn are coalesced into one flush', () => {
  const s = new ManualScheduler();
  const sources = [new Subject<void>(), new Subject<void>(), new Subject<void>()];
  const { rec, flush } = recordingFlush();
  const path = new OutboundPath({ signals: sources, flush, scheduler: s, clock: () => 42 });
  for (let i = 0; i < 100; i++) sources[i % 3].next();
  path.wake();
  assert.is(rec.calls, 0, 'nothing flushes synchronously');
  assert.is(s.pending, 1, 'one flush scheduled');
  s.runAll();
  assert.is(rec.calls, 1);
  assert.equal(rec.times, [42], 'the flush gets the clock');
  assert.is(path.flushCount, 1);
});

test('a signal raised during the flush is handled after it, never inside it', () => {
  const s = new ManualScheduler();
  const src = new Subject<void>();
  const other = new Subject<void>();
  const { rec, flush } = recordingFlush((call) => {
    if (call === 1) {
      src.next(); // e.g. onLost re-queuing information after a failed seal
      other.next(); // e.g. a blocked stream raising STREAM_DATA_BLOCKED
      assert.is(s.pending, 1, 'scheduled for later');
    }
  });
  new OutboundPath({ signals: [src, other], flush, scheduler: s });
  src.next();
  s.runNext();
  assert.is(rec.calls, 1, 'not re-entered');
  s.runAll();
  assert.is(rec.calls, 2, 'served by the next flush');
  assert.is(rec.maxDepth, 1);
});

test('even a scheduler that runs tasks synchronously never nests flushes', () => {
  const synchronous: FlushScheduler = {
    schedule(task) {
      task();
      return () => {};
    },
  };
  const src = new Subject<void>();
  const { rec, flush } = recordingFlush((call) => {
    if (call < 3) src.next();
  });
  new OutboundPath({ signals: [src], flush, scheduler: synchronous });
  src.next();
  assert.is(rec.calls, 3, 'each signal raised inside a flush got its own flush, afterwards');
  assert.is(rec.maxDepth, 1);
});

test('with setImmediate, signals from callbacks and microtasks of one turn share one flush', async () => {
  const src = new Subject<void>();
  const { rec, flush } = recordingFlush();
  const path = new OutboundPath({ signals: [src], flush, scheduler: setImmediateScheduler });
  src.next();
  await Promise.resolve();
  src.next();
  queueMicrotask(() => src.next());
  process.nextTick(() => src.next());
  await nextTurn();
  await nextTurn();
  assert.is(rec.calls, 1);
  path.stop();
});

test('with the microtask scheduler, signals in separate macrotasks get separate flushes', async () => {
  const src = new Subject<void>();
  const { rec, flush } = recordingFlush();
  const path = new OutboundPath({ signals: [src], flush, scheduler: microtaskScheduler });
  src.next();
  src.next();
  await nextTurn();
  src.next();
  await nextTurn();
  assert.is(rec.calls, 2);
  path.stop();
});

test('a flush that throws is reported and the path keeps running', () => {
  const s = new ManualScheduler();
  const src = new Subject<void>();
  const errors: unknown[] = [];
  let calls = 0;
  new OutboundPath({
    signals: [src],
    flush: () => {
      if (++calls === 1) throw new Error('seal failed');
    },
    scheduler: s,
    onError: (e) => errors.push(e),
  });
  src.next();
  s.runAll();
  src.next();
  s.runAll();
  assert.is(errors.length, 1);
  assert.is(calls, 2);
});

test('a flush that returns a promise is refused (by the type, and at run time when forced): a flush never awaits', () => {
  const s = new ManualScheduler();
  const src = new Subject<void>();
  const errors: unknown[] = [];
  const asyncFlush = async (): Promise<void> => {};
  // @ts-expect-error: the flush type does not admit a promise
  new OutboundPath({ signals: [src], flush: asyncFlush, scheduler: s, onError: (e) => errors.push(e) });
  src.next();
  s.runAll();
  assert.is(errors.length, 1);
  assert.instance(errors[0], TypeError);
});

test('after stop, scheduled and later wake-ups do not flush', () => {
  const s = new ManualScheduler();
  const src = new Subject<void>();
  const { rec, flush } = recordingFlush();
  const path = new OutboundPath({ signals: [src], flush, scheduler: s });
  src.next();
  path.stop();
  s.runAll();
  src.next();
  path.wake();
  s.runAll();
  assert.is(rec.calls, 0);
});

test('a flush that yields with work left (returns true) gets another flush in a later turn', () => {
  const s = new ManualScheduler();
  const src = new Subject<void>();
  let left = 3;
  const calls: number[] = [];
  new OutboundPath({
    signals: [src],
    flush: () => {
      calls.push(left);
      left--;
      return left > 0;
    },
    scheduler: s,
  });
  src.next();
  s.runNext();
  assert.equal(calls, [3], 'one flush per scheduled task');
  s.runAll();
  assert.equal(calls, [3, 2, 1]);
});

test('coalesce completes after delivering a pending emission', () => {
  const s = new ManualScheduler();
  const src = new Subject<number>();
  const seen: string[] = [];
  src.pipe(coalesce(s)).subscribe({ next: () => seen.push('next'), complete: () => seen.push('complete') });
  src.next(1);
  src.next(2);
  src.complete();
  assert.equal(seen, []);
  s.runAll();
  assert.equal(seen, ['next', 'complete']);
});

test.run();
