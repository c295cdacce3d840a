import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Inbox } from '../../src/api/inbox.js';

test('items pushed before any consumer go to the readable created later, in order', async () => {
  const inbox = new Inbox<number>();
  inbox.push(1);
  inbox.push(2);
  const reader = inbox.readable.getReader();
  assert.equal(await reader.read(), { value: 1, done: false });
  assert.equal(await reader.read(), { value: 2, done: false });
  const pending = reader.read();
  inbox.push(3);
  assert.equal(await pending, { value: 3, done: false });
});

test('the first observer gets the queued items; later items reach every observer', () => {
  const inbox = new Inbox<string>();
  inbox.push('a');
  const first: string[] = [];
  const second: string[] = [];
  inbox.observable.subscribe((x) => first.push(x));
  inbox.observable.subscribe((x) => second.push(x));
  inbox.push('b');
  assert.equal(first, ['a', 'b']);
  assert.equal(second, ['b']);
  assert.is(inbox.size, 0, 'nothing is kept while only observers consume');
});

test('a full inbox refuses new items, or drops the oldest when asked to', async () => {
  const refusing = new Inbox<number>({ limit: 2 });
  assert.ok(refusing.push(1));
  assert.ok(refusing.push(2));
  assert.not.ok(refusing.push(3));
  const dropping = new Inbox<number>({ limit: 2, dropOldest: true });
  for (const n of [1, 2, 3, 4]) assert.ok(dropping.push(n));
  assert.is(dropping.dropped, 2);
  const reader = dropping.readable.getReader();
  assert.equal((await reader.read()).value, 3);
  assert.equal((await reader.read()).value, 4);
});

test('end() lets the readable drain its queue, then closes it; observers complete', async () => {
  const inbox = new Inbox<number>();
  let completed = false;
  inbox.push(1);
  inbox.end();
  inbox.observable.subscribe({ complete: () => (completed = true) });
  assert.ok(completed);
  const reader = inbox.readable.getReader();
  const got: number[] = [];
  for (;;) {
    const r = await reader.read();
    if (r.done) break;
    got.push(r.value);
  }
  assert.equal(got, [], 'the first observer took the queued item');
  assert.not.ok(inbox.push(2), 'an ended inbox refuses');
});

test('a cancelled readable with no observer refuses further items instead of queueing them forever', async () => {
  const inbox = new Inbox<number>();
  await inbox.readable.cancel();
  assert.not.ok(inbox.push(1));
  assert.is(inbox.size, 0);
});

test('the readable is async iterable', async () => {
  const inbox = new Inbox<number>();
  inbox.push(7);
  inbox.push(8);
  inbox.end();
  const got: number[] = [];
  for await (const n of inbox.readable) got.push(n);
  assert.equal(got, [7, 8]);
});

test.run();
