import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { AckTracker } from '../../src/transport/ack-tracker.js';
import { AckSource } from '../../src/transport/sources/ack-source.js';
import { ackFrameSize, fitAckRanges } from '../../src/wire/frames/encode.js';
import type { AckFrame } from '../../src/wire/frames/types.js';
import { FakePacketWriter, writeOne } from '../support/outbound-harness.js';

function receive(t: AckTracker, pns: number[], now = 0, ackEliciting = true): void {
  for (const pn of pns) t.onPacketReceived(pn, ackEliciting, now);
}

function ackOf(w: FakePacketWriter): AckFrame {
  const frames = w.frames();
  assert.is(frames.length, 1);
  assert.is(frames[0].kind, 'ack');
  return frames[0] as AckFrame;
}

test('received packet numbers are kept as descending ranges, merged when gaps fill', () => {
  const t = new AckTracker({ space: 'application' });
  receive(t, [0, 1, 2, 3, 4, 6, 9, 8]);
  assert.equal(t.ranges, [
    { smallest: 8, largest: 9 },
    { smallest: 6, largest: 6 },
    { smallest: 0, largest: 4 },
  ]);
  receive(t, [5, 7]);
  assert.equal(t.ranges, [{ smallest: 0, largest: 9 }]);
  assert.is(t.largestReceived, 9);
});

test('a packet received twice is a duplicate and is not recorded again', () => {
  const t = new AckTracker({ space: 'application' });
  receive(t, [3, 5]);
  assert.ok(t.isDuplicate(3) && t.isDuplicate(5));
  assert.not.ok(t.isDuplicate(4) || t.isDuplicate(0) || t.isDuplicate(6));
  assert.not.ok(t.onPacketReceived(5, true, 1));
});

test('beyond maxRanges the oldest range is dropped and everything below the oldest kept range counts as duplicate', () => {
  const t = new AckTracker({ space: 'application', maxRanges: 3 });
  receive(t, [0, 2, 4, 6]); // four ranges: [0] is dropped
  assert.equal(t.ranges, [
    { smallest: 6, largest: 6 },
    { smallest: 4, largest: 4 },
    { smallest: 2, largest: 2 },
  ]);
  assert.ok(t.isDuplicate(0), 'dropped range');
  assert.ok(t.isDuplicate(1), 'never received, but below the oldest kept range: err on the side of duplicate');
  assert.not.ok(t.isDuplicate(3), 'a gap between kept ranges is still acceptable');
  assert.is(t.largestReceived, 6);
});

test('Initial and Handshake ack-eliciting packets make an ACK due at once; non-ack-eliciting ones never do', () => {
  for (const space of ['initial', 'handshake'] as const) {
    const t = new AckTracker({ space });
    let due = 0;
    t.pending$.subscribe(() => due++);
    t.onPacketReceived(0, false, 5);
    assert.not.ok(t.isAckDue, `${space}: an ACK-only packet does not elicit an ACK`);
    assert.is(t.ackDeadline(), undefined);
    assert.ok(t.hasUnreported, 'but it is acknowledged with the next ACK');
    t.onPacketReceived(1, true, 6);
    assert.ok(t.isAckDue);
    assert.is(due, 1);
    assert.ok(t.ackDeadline()! <= 6);
  }
});

test('application space: one ack-eliciting packet waits up to max_ack_delay, the second makes the ACK due', () => {
  const t = new AckTracker({ space: 'application', maxAckDelay: 20 });
  t.onPacketReceived(0, true, 100);
  assert.not.ok(t.isAckDue);
  assert.is(t.ackDeadline(), 120);
  t.onTimeout(119);
  assert.not.ok(t.isAckDue, 'not before the deadline');
  t.onTimeout(120);
  assert.ok(t.isAckDue, 'the timer makes it due');
  const u = new AckTracker({ space: 'application', maxAckDelay: 20 });
  u.onPacketReceived(0, true, 100);
  u.onPacketReceived(1, true, 101);
  assert.ok(u.isAckDue, 'two ack-eliciting packets');
});

test('an out-of-order packet, or one revealing a gap, or ECN-CE, is acknowledged immediately', () => {
  const gap = new AckTracker({ space: 'application' });
  gap.onPacketReceived(0, true, 0);
  gap.onAckSent();
  gap.onPacketReceived(2, true, 1);
  assert.ok(gap.isAckDue, '2 after 0: packet 1 is missing');

  const reordered = new AckTracker({ space: 'application' });
  reordered.onPacketReceived(5, true, 0);
  reordered.onAckSent();
  reordered.onPacketReceived(4, true, 1);
  assert.ok(reordered.isAckDue, '4 after 5: below the largest ack-eliciting packet');

  const inOrder = new AckTracker({ space: 'application' });
  inOrder.onPacketReceived(0, true, 0);
  inOrder.onAckSent();
  inOrder.onPacketReceived(1, true, 1);
  assert.not.ok(inOrder.isAckDue, 'in order: delayed');

  const ce = new AckTracker({ space: 'application' });
  ce.onPacketReceived(0, true, 0, 'ce');
  assert.ok(ce.isAckDue, 'ECN-CE');
  assert.equal(ce.ecn, { ect0: 0, ect1: 0, ce: 1 });
});

test('the ACK frame carries the ranges, the ECN counts and the delay since the largest was received, scaled by the exponent', () => {
  const src = new AckSource({ ackDelayExponent: 3 });
  const t = src.tracker('application');
  t.onPacketReceived(0, true, 0, 'ect0');
  t.onPacketReceived(1, true, 1, 'ect0');
  t.onPacketReceived(3, true, 10, 'ect1');
  const w = writeOne(src, 'oneRtt', 200, { now: 35 });
  const ack = ackOf(w);
  assert.is(ack.largest, 3);
  assert.is(ack.ackDelay, Math.floor((25 * 1000) / 8));
  assert.equal(ack.ranges, [
    { smallest: 3, largest: 3 },
    { smallest: 0, largest: 1 },
  ]);
  assert.equal(ack.ecn, { ect0: 2, ect1: 1, ce: 0 });
  assert.equal(w.committed[0], { length: w.offset, sent: { kind: 'ack', largestAcknowledged: 3 }, ackEliciting: false });
  assert.not.ok(t.isAckDue, 'sending the ACK restarts the timers');
  assert.is(writeOne(src, 'oneRtt', 200, { now: 36 }).committed.length, 0, 'nothing new: no second ACK');
});

test('with hundreds of ranges and little room, the newest ranges that fit are sent — never oversize, never nothing when one fits', () => {
  const src = new AckSource({ maxRanges: 1000 });
  const t = src.tracker('application');
  for (let pn = 0; pn < 1200; pn += 2) t.onPacketReceived(pn, true, 0); // 600 ranges
  assert.is(t.ranges.length, 600);
  const full = ackFrameSize(0, t.ranges, t.ranges.length);
  assert.ok(full > 1200, `the whole frame needs ${full} bytes`);
  for (const room of [1200, 300, 64, 20, 11, 9]) {
    const w = writeOne(src, 'oneRtt', room, { now: 0 });
    const ack = ackOf(w);
    assert.ok(w.offset <= room && w.guardIntact(), `room ${room}: frame of ${w.offset} bytes`);
    const fits = fitAckRanges(0, t.ranges, undefined, room);
    assert.is(ack.ranges.length, fits, `room ${room}`);
    assert.equal(ack.ranges, t.ranges.slice(0, fits), 'the newest ranges');
    assert.is(ack.largest, 1198);
    t.onAckLost(); // make the next write piggyback again
  }
  const tooSmall = new FakePacketWriter('oneRtt', 5);
  assert.is(src.write(tooSmall), 0, 'one range does not fit in 5 bytes: nothing written');
  assert.is(tooSmall.offset, 0);
  assert.ok(t.hasUnreported, 'and the information is still pending');
});

test('ACK of ACK: acknowledging our ACK frame prunes the ranges at or below its Largest Acknowledged', () => {
  const src = new AckSource();
  const t = src.tracker('application');
  receive(t, [0, 1, 2, 4, 5, 7]);
  const w = writeOne(src, 'oneRtt', 100);
  const packet = w.packet(0);
  receive(t, [8, 10]);
  src.onAcked(packet.frames[0], packet);
  assert.equal(t.ranges, [
    { smallest: 10, largest: 10 },
    { smallest: 8, largest: 8 },
  ]);
  assert.ok(t.isDuplicate(6), 'below the pruned floor: treated as duplicate');
  assert.not.ok(t.isDuplicate(9));
  assert.is(t.largestReceived, 10);
});

test('a lost ACK frame is not re-sent as such, but the next packet carries a fresh ACK with the tracked ranges', () => {
  const src = new AckSource();
  const t = src.tracker('handshake');
  receive(t, [0, 1]);
  const first = writeOne(src, 'handshake', 100);
  const lost = first.packet(0);
  assert.is(writeOne(src, 'handshake', 100).committed.length, 0);
  src.onLost(lost.frames[0], lost);
  assert.not.ok(src.hasPending('handshake'), 'a lost ACK does not by itself open a packet');
  const again = ackOf(writeOne(src, 'handshake', 100));
  assert.equal(again.ranges, [{ smallest: 0, largest: 1 }]);
});

test('ACK frames are never written in 0-RTT packets, and each space acknowledges only its own packets', () => {
  const src = new AckSource();
  src.tracker('application').onPacketReceived(0, true, 0);
  src.tracker('application').onPacketReceived(1, true, 0);
  src.tracker('initial').onPacketReceived(7, true, 0);
  assert.not.ok(src.hasPending('zeroRtt'));
  assert.is(writeOne(src, 'zeroRtt', 100).committed.length, 0);
  assert.ok(src.hasPending('initial') && src.hasPending('oneRtt'));
  assert.not.ok(src.hasPending('handshake'));
  assert.is(ackOf(writeOne(src, 'initial', 100)).largest, 7);
  assert.is(ackOf(writeOne(src, 'oneRtt', 100)).largest, 1);
});

test('the source reports the earliest ACK deadline across spaces', () => {
  const src = new AckSource({ maxAckDelay: 25 });
  assert.is(src.ackDeadline(), undefined);
  src.tracker('application').onPacketReceived(0, true, 100);
  assert.is(src.ackDeadline(), 125);
  src.tracker('handshake').onPacketReceived(0, true, 110);
  assert.is(src.ackDeadline(), 110);
  src.onTimeout(125);
  assert.ok(src.hasPending('oneRtt'));
});

test('a delayed ACK rides on a packet another source plans, and never opens one by itself', () => {
  let planned = false;
  const src = new AckSource({ packetPlanned: () => planned });
  const t = src.tracker('application');
  t.onPacketReceived(0, true, 0);
  assert.not.ok(t.isAckDue);
  assert.not.ok(src.hasPending('oneRtt'), 'delayed, and no packet planned');
  planned = true;
  assert.ok(src.hasPending('oneRtt'), 'piggybacked on the planned packet');
  assert.is(ackOf(writeOne(src, 'oneRtt', 100)).largest, 0);
  assert.not.ok(src.hasPending('oneRtt'), 'nothing left to acknowledge');
  t.onPacketReceived(1, false, 1);
  assert.not.ok(src.hasPending('oneRtt'), 'only a non-ack-eliciting packet: no piggyback needed (RFC 9000 §13.2.1 MAY)');
});

test('property: a received packet is never accepted twice, ranges stay sorted, disjoint, bounded and within what was received', () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 400 }), { maxLength: 300 }),
      fc.integer({ min: 1, max: 12 }),
      fc.array(fc.nat(), { maxLength: 5 }),
      (arrivals, maxRanges, ackOfAcks) => {
        const t = new AckTracker({ space: 'application', maxRanges });
        const unbounded = new AckTracker({ space: 'application', maxRanges: 10_000 });
        const received = new Set<number>();
        arrivals.forEach((pn, i) => {
          const fresh = t.onPacketReceived(pn, true, i);
          if (received.has(pn)) assert.not.ok(fresh, `packet ${pn} accepted twice`);
          if (fresh) received.add(pn);
          unbounded.onPacketReceived(pn, true, i);
          if (i % 60 === 59 && ackOfAcks.length > 0) t.onAckAcknowledged(ackOfAcks.pop()! % 400);
          const r = t.ranges;
          assert.ok(r.length <= maxRanges);
          for (let k = 0; k < r.length; k++) {
            assert.ok(r[k].smallest <= r[k].largest);
            if (k > 0) assert.ok(r[k].largest < r[k - 1].smallest - 1, 'sorted descending with a gap between ranges');
            for (let pn2 = r[k].smallest; pn2 <= r[k].largest; pn2++) assert.ok(received.has(pn2), `acknowledges ${pn2}, never received`);
          }
        });
        for (const pn of received) assert.ok(t.isDuplicate(pn), `${pn} would be accepted again`);
        // Without a bound, the ranges are exactly the packets received.
        const exact = new Set<number>();
        for (const r of unbounded.ranges) for (let pn = r.smallest; pn <= r.largest; pn++) exact.add(pn);
        assert.equal([...exact].sort((a, b) => a - b), [...new Set(arrivals)].sort((a, b) => a - b));
      },
    ),
    { numRuns: 300 },
  );
});

test.run();
