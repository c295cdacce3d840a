import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DatagramQueue, DatagramRefusedError, datagramFrameSize, type DatagramEvent } from '../../src/transport/datagram-queue.js';
import { DatagramSource } from '../../src/transport/sources/datagram-source.js';
import type { DatagramFrame } from '../../src/wire/frames/types.js';
import { ackPacket, losePacket, writeOne } from '../support/outbound-harness.js';

const payload = (n: number, v = 1): Uint8Array => new Uint8Array(n).fill(v);

function refused(fn: () => unknown, reason: string): DatagramRefusedError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof DatagramRefusedError, String(e));
    assert.is((e as DatagramRefusedError).reason, reason);
    return e as DatagramRefusedError;
  }
  assert.unreachable('expected a refusal');
  throw new Error('unreachable');
}

test('datagrams are refused until the peer advertises max_datagram_frame_size', () => {
  const q = new DatagramQueue();
  refused(() => q.send(payload(10)), 'unsupported');
  q.setPeerMaxFrameSize(0);
  refused(() => q.send(payload(10)), 'unsupported');
});

test('a datagram whose frame exceeds the peer limit or the largest packet is refused with the limit', () => {
  const q = new DatagramQueue();
  q.setPeerMaxFrameSize(100);
  q.setMaxPacketPayload(1000);
  assert.is(q.maxDatagramSize, 97, 'type (1) + Length (2) + 97 = 100');
  assert.ok(datagramFrameSize(q.maxDatagramSize) <= 100);
  assert.ok(datagramFrameSize(q.maxDatagramSize + 1) > 100);
  q.send(payload(97));
  const e = refused(() => q.send(payload(98)), 'tooLarge');
  assert.is(e.limit, 97);
  q.setPeerMaxFrameSize(65535);
  q.setMaxPacketPayload(1162);
  assert.is(q.maxDatagramSize, 1162 - 3);
  refused(() => q.send(payload(1160)), 'tooLarge');
});

test('when full, the oldest datagram is dropped and reported', () => {
  const q = new DatagramQueue({ maxQueued: 3, maxQueuedBytes: 1000 });
  q.setPeerMaxFrameSize(65535);
  const events: DatagramEvent[] = [];
  q.events$.subscribe((e) => events.push(e));
  const ids = [q.send(payload(10)), q.send(payload(10)), q.send(payload(10)), q.send(payload(10))];
  assert.equal(events, [{ id: ids[0], outcome: 'dropped', reason: 'queueFull' }]);
  assert.is(q.length, 3);
  q.send(payload(990)); // byte bound: drops the oldest until it fits
  assert.is(q.length, 2);
  assert.is(q.dropped, 3);
  assert.is(q.bytes, 1000);
});

test('datagrams are written oldest first while they fit, never split, never retransmitted; ack and loss are reported by id', () => {
  const q = new DatagramQueue();
  q.setPeerMaxFrameSize(65535);
  const src = new DatagramSource(q);
  const events: DatagramEvent[] = [];
  q.events$.subscribe((e) => events.push(e));
  const a = q.send(payload(400, 1));
  const b = q.send(payload(400, 2));
  const c = q.send(payload(400, 3));
  assert.not.ok(src.hasPending('handshake'), 'DATAGRAM is 0-RTT/1-RTT only');
  const w1 = writeOne(src, 'oneRtt', 1000);
  assert.equal(w1.frames().map((f) => (f as DatagramFrame).data[0]), [1, 2], 'the third does not fit and waits');
  assert.ok(w1.committed.every((f) => f.ackEliciting));
  const w2 = writeOne(src, 'oneRtt', 401); // exactly 1 + 400: no Length field
  const f2 = w2.frames()[0] as DatagramFrame;
  assert.is(f2.explicitLength, false);
  assert.equal(f2.data, payload(400, 3));
  ackPacket(src, w1.packet(0));
  losePacket(src, w2.packet(1));
  assert.equal(events, [
    { id: a, outcome: 'acked' },
    { id: b, outcome: 'acked' },
    { id: c, outcome: 'lost' },
  ]);
  assert.not.ok(src.hasPending('oneRtt'), 'a lost datagram is not sent again');
});

test('shrinking limits drop queued datagrams that no longer fit', () => {
  const q = new DatagramQueue();
  q.setPeerMaxFrameSize(65535);
  const events: DatagramEvent[] = [];
  q.events$.subscribe((e) => events.push(e));
  const big = q.send(payload(1300));
  q.send(payload(100));
  q.setMaxPacketPayload(1162);
  assert.equal(events, [{ id: big, outcome: 'dropped', reason: 'tooLarge' }]);
  assert.is(q.length, 1);
});

test.run();
