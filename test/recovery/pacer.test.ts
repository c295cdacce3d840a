import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { Pacer, Recovery, recoverySendLimits, type PacingInputs } from '../../src/recovery/index.js';
import { ackOf, packet } from './helpers.js';

function inputs(congestionWindow = 12000, smoothedRtt = 100, maxDatagramSize = 1200): { -readonly [K in keyof PacingInputs]: PacingInputs[K] } {
  return { congestionWindow, smoothedRtt, maxDatagramSize };
}

test('a fresh pacer allows a burst of one initial window at once, then nothing', () => {
  const p = new Pacer(inputs());
  assert.is(p.capacity(), 12000);
  assert.is(p.allowance(0), 12000);
  for (let i = 0; i < 10; i++) p.onSent(1200, 0);
  assert.is(p.allowance(0), 0);
  assert.ok(p.nextSendTime(0) > 0);
});

test('after the burst, packets are spread at N × cwnd / smoothed_rtt', () => {
  const p = new Pacer(inputs(12000, 100));
  assert.is(p.rate(), (1.25 * 12000) / 100); // 150 bytes per ms
  p.onSent(12000, 0);
  // One 1200-byte datagram every 1200 / 150 = 8 ms.
  let t = 0;
  for (let i = 0; i < 5; i++) {
    const next = p.nextSendTime(t);
    assert.is(next, t + 8);
    assert.is(p.allowance(next), 1200);
    p.onSent(1200, next);
    t = next;
  }
});

test('the allowance grows with time, up to the burst capacity', () => {
  const p = new Pacer(inputs(12000, 100));
  p.onSent(12000, 0);
  assert.is(p.allowance(2), 300);
  assert.is(p.allowance(10), 1500);
  assert.is(p.allowance(60), 9000);
  assert.is(p.allowance(1000), 12000);
});

test('the allowance never decreases as time passes without sending', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 2400, max: 1_000_000 }),
      fc.double({ min: 0.5, max: 1000, noNaN: true }),
      fc.array(fc.double({ min: 0, max: 50, noNaN: true }), { maxLength: 30 }),
      fc.integer({ min: 0, max: 20000 }),
      (cwnd, rtt, steps, debt) => {
        const p = new Pacer(inputs(cwnd, rtt));
        p.onSent(debt, 0);
        let t = 0;
        let last = p.allowance(0);
        for (const dt of steps) {
          t += dt;
          const a = p.allowance(t);
          assert.ok(a >= last && a <= p.capacity());
          last = a;
        }
      },
    ),
  );
});

test('the rate follows the congestion window and smoothed_rtt', () => {
  const live = inputs(12000, 100);
  const p = new Pacer(live);
  p.onSent(12000, 0);
  live.congestionWindow = 24000;
  assert.is(p.allowance(10), 3000); // 300 bytes per ms
  live.smoothedRtt = 50;
  assert.is(p.allowance(20), 3000 + 6000);
});

test('time going backwards earns no tokens', () => {
  const p = new Pacer(inputs());
  p.onSent(12000, 100);
  assert.is(p.allowance(50), 0);
  assert.is(p.allowance(100), 0);
  assert.is(p.allowance(102), 300);
});

test('a zero smoothed_rtt does not pace', () => {
  const p = new Pacer(inputs(12000, 0));
  p.onSent(12000, 0);
  assert.is(p.allowance(0), 12000);
  assert.is(p.nextSendTime(0), 0);
});

test('at a rate where one timer granularity earns more than the initial window, bursts hold rate × granularity (RFC 9002 §7.7)', () => {
  // cwnd 200 kB over 10 ms: 25,000 bytes per ms, 25,000 per 1 ms tick (the initial window is 12,000).
  const p = new Pacer(inputs(200_000, 10));
  assert.is(p.granularity, 1);
  assert.is(p.capacity(), 25_000);
  assert.is(p.allowance(0), 25_000);
  p.onSent(25_000, 0);
  assert.is(p.allowance(0), 0);
  // The next send waits for a whole granularity's worth, not for one datagram (1.2 / 25 ms).
  assert.is(p.nextSendTime(0), 1);
  assert.is(p.allowance(1), 25_000);
  // An explicit size is still honoured.
  p.onSent(25_000, 1);
  assert.is(p.nextSendTime(1, 1200), 1 + 1200 / 25_000);
});

test('timer-sized bursts are capped at 32 datagrams by default, or at maxBurst', () => {
  // cwnd 1 MB over 10 ms: 125,000 bytes per ms, above the cap of 32 × 1200.
  const p = new Pacer(inputs(1_000_000, 10));
  assert.is(p.capacity(), 32 * 1200);
  p.onSent(32 * 1200, 0);
  assert.is(p.nextSendTime(0), (32 * 1200) / 125_000);
  assert.is(new Pacer(inputs(1_000_000, 10), { maxBurst: (mds) => 64 * mds }).capacity(), 64 * 1200);
  // The cap never lowers the configured burst.
  assert.is(new Pacer(inputs(1_000_000, 10), { maxBurst: () => 0 }).capacity(), 12000);
});

test('with timer-sized bursts, a sender woken at nextSendTime (rounded up to whole milliseconds, as Node timers are) keeps the average at the pacing rate', () => {
  fc.assert(
    fc.property(fc.integer({ min: 200_000, max: 5_000_000 }), fc.double({ min: 1, max: 200, noNaN: true }), (cwnd, rttFloor) => {
      // Rates whose 1 ms worth is within the default cap (32 datagrams): the pacer, not the cap, sets the pace.
      const rtt = Math.max(rttFloor, (1.25 * cwnd) / (32 * 1200));
      const p = new Pacer(inputs(cwnd, rtt));
      const rate = p.rate();
      let t = 0;
      let sent = 0;
      let wakeUps = 0;
      while (t < 200) {
        const a = p.allowance(t);
        p.onSent(a, t);
        sent += a;
        wakeUps++;
        t = Math.max(t + 1, Math.ceil(p.nextSendTime(t)));
      }
      // Never above the rate by more than one burst; below it by at most one granularity's worth and one burst.
      assert.ok(sent <= rate * t + p.capacity() + 1, `sent ${sent} in ${t} ms at ${rate} B/ms`);
      assert.ok(sent >= rate * (t - 1) - p.capacity(), `sent ${sent} in ${t} ms at ${rate} B/ms`);
      // About one wake-up per millisecond at most, never one per datagram.
      assert.ok(wakeUps <= t + 1);
    }),
    { numRuns: 100 },
  );
});

test('granularity 0 keeps bursts at the initial window and wakes for every datagram', () => {
  const p = new Pacer(inputs(1_000_000, 10), { granularity: 0 });
  assert.is(p.capacity(), 12000);
  p.onSent(12000, 0);
  assert.is(p.nextSendTime(0), 1200 / 125_000);
  assert.throws(() => new Pacer(inputs(), { granularity: -1 }), RangeError);
});

test('the recovery facade paces in-flight packets only, and pacing can be turned off', () => {
  const r = new Recovery({ isServer: true });
  const limits = recoverySendLimits(r);
  assert.is(limits.pacingAllowance(0), 12000);
  r.onPacketSent(packet('initial', 0, 0, { ackEliciting: false }));
  assert.is(limits.pacingAllowance(0), 12000, 'ACK-only packets are not paced');
  for (let pn = 1; pn <= 10; pn++) r.onPacketSent(packet('initial', pn, 0));
  assert.is(limits.pacingAllowance(0), 0);
  assert.is(limits.congestionAllowance(), 0);
  // Before an RTT sample the rate is 1.25 × 12000 / 333 bytes per ms.
  assert.is(r.nextSendTime(0), 1200 / ((1.25 * 12000) / 333));
  r.onAckReceived('initial', ackOf([1, 2]), 100);
  assert.is(limits.congestionAllowance(), 14400 - 8 * 1200);
  const off = new Recovery({ isServer: true, pacing: false });
  for (let pn = 0; pn < 10; pn++) off.onPacketSent(packet('initial', pn, 0));
  assert.is(recoverySendLimits(off).pacingAllowance(0), Infinity);
  assert.is(off.nextSendTime(5), 5);
});

test.run();
