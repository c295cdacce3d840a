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
