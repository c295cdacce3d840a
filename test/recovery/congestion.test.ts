import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NewReno, Recovery, initialWindow, minimumWindow, type CongestionAckContext } from '../../src/recovery/index.js';
import { ackOf, packet, pns, span } from './helpers.js';

function ctx(now: number, applicationLimited = false): CongestionAckContext {
  return { now, applicationLimited, smoothedRtt: 100, minRtt: 100, latestRtt: 100 };
}

test('the initial window is min(10 × max_datagram_size, max(14720, 2 × max_datagram_size)); the minimum 2 × max_datagram_size', () => {
  assert.is(initialWindow(1200), 12000);
  assert.is(initialWindow(1472), 14720);
  assert.is(initialWindow(1500), 14720);
  assert.is(initialWindow(9000), 18000);
  assert.is(minimumWindow(1200), 2400);
  const cc = new NewReno();
  assert.is(cc.congestionWindow, 12000);
  assert.is(cc.slowStartThreshold, Infinity);
  assert.is(cc.minimumWindow, 2400);
  assert.throws(() => new NewReno({ maxDatagramSize: 1199 }), RangeError);
});

test('slow start grows the window by the bytes acknowledged', () => {
  const cc = new NewReno();
  cc.onPacketsAcked([packet('application', 0, 0), packet('application', 1, 0, { size: 800 })], ctx(100));
  assert.is(cc.congestionWindow, 12000 + 1200 + 800);
});

test('ACK-only packets do not grow the window', () => {
  const cc = new NewReno();
  cc.onPacketsAcked([packet('application', 0, 0, { ackEliciting: false })], ctx(100));
  assert.is(cc.congestionWindow, 12000);
});

test('a loss halves the window (kLossReductionFactor) and sets ssthresh', () => {
  const cc = new NewReno();
  assert.is(cc.onPacketsLost([packet('application', 0, 5)], false, 10), true);
  assert.is(cc.slowStartThreshold, 6000);
  assert.is(cc.congestionWindow, 6000);
  assert.is(cc.recoveryStartTime, 10);
  assert.is(cc.congestionEvents, 1);
});

test('a recovery period reduces once: losses of packets sent before it started do not reduce again', () => {
  const cc = new NewReno();
  cc.onPacketsLost([packet('application', 0, 1)], false, 10);
  assert.is(cc.congestionWindow, 6000);
  assert.is(cc.onPacketsLost([packet('application', 1, 5)], false, 20), false);
  assert.is(cc.onPacketsLost([packet('application', 2, 10)], false, 25), false, 'sent at the recovery start: still in recovery');
  assert.is(cc.congestionWindow, 6000);
  assert.is(cc.onPacketsLost([packet('application', 3, 15)], false, 30), true, 'sent after the recovery started');
  assert.is(cc.congestionWindow, 3000);
  assert.is(cc.congestionEvents, 2);
});

test('the window never goes below the minimum window', () => {
  const cc = new NewReno();
  for (let i = 0; i < 10; i++) cc.onPacketsLost([packet('application', i, i * 10 + 1)], false, i * 10 + 5);
  assert.is(cc.congestionWindow, 2400);
  assert.ok(cc.slowStartThreshold < 2400);
});

test('no growth in a recovery period; it ends when a packet sent after its start is acknowledged', () => {
  const cc = new NewReno();
  cc.onPacketsLost([packet('application', 0, 0)], false, 10);
  cc.onPacketsAcked([packet('application', 1, 5), packet('application', 2, 10)], ctx(20));
  assert.is(cc.congestionWindow, 6000);
  cc.onPacketsAcked([packet('application', 3, 11)], ctx(30));
  assert.ok(cc.congestionWindow > 6000);
});

test('congestion avoidance grows about one max_datagram_size per window acknowledged, never more', () => {
  const cc = new NewReno();
  cc.onPacketsLost([packet('application', 0, 0)], false, 10); // cwnd 6000 = ssthresh
  let pn = 1;
  let t = 20;
  for (let round = 0; round < 20; round++) {
    const start = cc.congestionWindow;
    // Acknowledge one full window of 1200-byte packets, all sent after the recovery started.
    const count = Math.floor(start / 1200);
    const acked = span(0, count - 1).map(() => packet('application', pn++, t));
    cc.onPacketsAcked(acked, ctx(t + 100));
    const growth = cc.congestionWindow - start;
    assert.ok(growth <= 1200, `round ${round}: grew ${growth}`);
    assert.ok(growth > 0.8 * 1200 * ((count * 1200) / start), `round ${round}: grew only ${growth}`);
    t += 100;
  }
  assert.ok(cc.congestionWindow > 6000 + 15 * 1000 && cc.congestionWindow < 6000 + 20 * 1200);
});

test('no growth while application limited', () => {
  const cc = new NewReno();
  cc.onPacketsAcked([packet('application', 0, 0)], ctx(100, true));
  assert.is(cc.congestionWindow, 12000);
  const r = new Recovery({ isServer: true });
  r.onPacketSent(packet('initial', 0, 0));
  r.onPacketSent(packet('initial', 1, 0));
  r.setApplicationLimited(true);
  r.onAckReceived('initial', ackOf([0]), 50);
  assert.is(r.congestionWindow, 12000);
  r.setApplicationLimited(false);
  r.onAckReceived('initial', ackOf([0, 1]), 60);
  assert.is(r.congestionWindow, 13200);
});

test('persistent congestion collapses the window to the minimum and ends the recovery period', () => {
  const cc = new NewReno();
  cc.onPacketsAcked([packet('application', 0, 0)], ctx(10));
  cc.onPacketsLost([packet('application', 1, 1), packet('application', 2, 900)], true, 1000);
  assert.is(cc.congestionWindow, 2400);
  assert.is(cc.recoveryStartTime, undefined);
  cc.onPacketsAcked([packet('application', 3, 500)], ctx(1100));
  assert.is(cc.congestionWindow, 3600, 'slow start again: the window is below ssthresh');
});

test('a max_datagram_size change recomputes an untouched initial window and raises any window to the new minimum', () => {
  const grown = new NewReno();
  grown.setMaxDatagramSize(1500);
  assert.is(grown.congestionWindow, 14720);
  assert.is(grown.minimumWindow, 3000);
  grown.setMaxDatagramSize(1200); // decreased before any ACK: the new initial window
  assert.is(grown.congestionWindow, 12000);
  const collapsed = new NewReno();
  collapsed.onPacketsLost([packet('application', 0, 0)], true, 10);
  assert.is(collapsed.congestionWindow, 2400);
  collapsed.setMaxDatagramSize(1500);
  assert.is(collapsed.congestionWindow, 3000);
  const used = new NewReno();
  used.onPacketsAcked([packet('application', 0, 0)], ctx(10));
  used.setMaxDatagramSize(1400);
  assert.is(used.congestionWindow, 13200, 'a window that moved is kept');
  const r = new Recovery({ isServer: true });
  r.setMaxDatagramSize(1500);
  assert.is(r.congestionWindow, 14720);
  assert.is(r.maxDatagramSize, 1500);
});

test('an increase of the peer ECN-CE count is a congestion event; an unchanged count is not', () => {
  const r = new Recovery({ isServer: true });
  for (const pn of span(0, 3)) r.onPacketSent(packet('initial', pn, pn));
  assert.is(r.onAckReceived('initial', ackOf([0], 0, { ect0: 1, ect1: 0, ce: 0 }), 50).congestionEvent, false);
  const before = r.congestionWindow;
  const marked = r.onAckReceived('initial', ackOf([0, 1], 0, { ect0: 1, ect1: 0, ce: 1 }), 60);
  assert.is(marked.congestionEvent, true);
  assert.is(r.congestionWindow, before / 2);
  assert.is(r.stats().slowStartThreshold, before / 2);
  r.onPacketSent(packet('initial', 4, 70));
  const same = r.onAckReceived('initial', ackOf([0, 1, 2, 3, 4], 0, { ect0: 4, ect1: 0, ce: 1 }), 120);
  assert.is(same.congestionEvent, false);
  assert.is(r.stats().congestionEvents, 1);
});

test('the loss of a PMTU probe is no congestion signal', () => {
  const r = new Recovery({ isServer: true });
  r.onPacketSent(packet('application', 0, 0, { size: 1500, isMtuProbe: true }));
  for (const pn of span(1, 4)) r.onPacketSent(packet('application', pn, 0));
  const out = r.onAckReceived('application', ackOf([1, 2, 3, 4]), 100);
  assert.equal(pns(out.lost), [0]);
  assert.is(out.congestionEvent, false);
  assert.is(r.congestionWindow, 12000 + 4 * 1200);
  assert.is(r.bytesInFlight, 0);
  assert.is(r.stats().bytesLost, 1500);
});

test('the loss of an ACK-only packet is no congestion signal', () => {
  const r = new Recovery({ isServer: true });
  r.onPacketSent(packet('application', 0, 0, { ackEliciting: false }));
  for (const pn of span(1, 3)) r.onPacketSent(packet('application', pn, 0));
  const out = r.onAckReceived('application', ackOf([1, 2, 3]), 100);
  assert.equal(pns(out.lost), [0]);
  assert.is(out.congestionEvent, false);
  assert.is(r.stats().congestionEvents, 0);
});

test('on entering recovery one packet may be sent beyond the reduced window', () => {
  const r = new Recovery({ isServer: true });
  for (const pn of span(0, 9)) r.onPacketSent(packet('application', pn, 0));
  const out = r.onAckReceived('application', ackOf([3]), 100);
  assert.is(out.congestionEvent, true);
  assert.is(r.congestionWindow, 6000);
  assert.is(r.bytesInFlight, 8 * 1200);
  assert.is(r.congestionAllowance(), 1200);
  r.onPacketSent(packet('application', 10, 101));
  assert.is(r.congestionAllowance(), 0);
});

/**
 * RFC 9002 §7.6.3, one time unit = 100 ms. A warm-up of 16 exchanges at a steady 20 ms RTT takes
 * rttvar below 0.25 ms, so smoothed_rtt + max(4 × rttvar, kGranularity) + max_ack_delay =
 * 20 + 1 + 179 = 200 ms ("= 2"), and the persistent congestion duration is 600 ms ("2 × 3 = 6").
 */
interface ExampleOptions {
  maxAckDelay?: number;
  /** Also acknowledge example packet #5 in the final ACK. */
  ackFive?: boolean;
  /** Skip the warm-up: the first RTT sample comes with the final ACK. */
  noWarmup?: boolean;
}

function rfcExample(o: ExampleOptions = {}): { r: Recovery; lost: number[]; persistent: boolean; ptoTimes: number[] } {
  const r = new Recovery({ isServer: true, peerMaxAckDelay: o.maxAckDelay ?? 179 });
  r.setHandshakeConfirmed(0);
  let pn = 0;
  if (!o.noWarmup) {
    for (let i = 0; i < 16; i++) {
      r.onPacketSent(packet('application', pn, i * 50));
      r.onAckReceived('application', ackOf([pn]), i * 50 + 20);
      pn++;
    }
  }
  const B = 1000; // t = 0 of the example
  const ex = (n: number): number => pn + n - 1; // packet number of example packet #n
  const ptoTimes: number[] = [];
  r.onPacketSent(packet('application', ex(1), B + 0));
  r.onPacketSent(packet('application', ex(2), B + 100));
  if (!o.noWarmup) {
    // t = 1.2: acknowledgment of #1; its 100 ms ack delay makes the adjusted sample 20 ms again.
    r.onAckReceived('application', ackOf([ex(1)], 100), B + 120);
  }
  for (let n = 3; n <= 7; n++) r.onPacketSent(packet('application', ex(n), B + (n - 1) * 100));
  for (const [n, t] of [[8, B + 800], [9, B + 1200]] as const) {
    if (!o.noWarmup && o.maxAckDelay === undefined) {
      // The PTO fires exactly when the example sends its probes: t = 8 and t = 12.
      ptoTimes.push(r.timeout()!);
      const probe = r.onTimeout(t).probe;
      assert.is(probe?.space, 'application');
    }
    r.onPacketSent(packet('application', ex(n), t));
  }
  const acked = o.ackFive ? [ex(5), ex(9)] : [ex(9)];
  const out = r.onAckReceived('application', ackOf(acked), B + 1220); // t = 12.2
  return { r, lost: out.lost.map((p) => p.packetNumber - pn + 1), persistent: out.persistentCongestion, ptoTimes };
}

test('RFC 9002 §7.6.3 example: packets 2–8 are lost and persistent congestion collapses the window', () => {
  const { r, lost, persistent, ptoTimes } = rfcExample();
  assert.equal(ptoTimes, [1800, 2200], 'PTOs at t = 8 and t = 12');
  assert.equal(lost, [2, 3, 4, 5, 6, 7, 8]);
  assert.is(persistent, true);
  // Appendix A.7 order: the losses collapse the window to kMinimumWindow (2400) and end recovery,
  // then the acknowledgment of #9 grows it in slow start by its 1200 bytes.
  assert.is(r.congestionWindow, 2400 + 1200);
  assert.is(r.stats().slowStartThreshold > r.congestionWindow, true);
  assert.is(r.stats().persistentCongestionEvents, 1);
  assert.is(r.ptoCount, 0);
  assert.is(r.lossDetection.rtt.persistentCongestionDuration(179), 600);
});

test('no persistent congestion when a packet sent between the lost ones was acknowledged', () => {
  const { r, lost, persistent } = rfcExample({ ackFive: true });
  assert.equal(lost, [2, 3, 4, 6, 7, 8]);
  assert.is(persistent, false);
  assert.ok(r.congestionWindow > 2400 + 1200, `window ${r.congestionWindow}`);
  assert.is(r.stats().persistentCongestionEvents, 0);
});

test('no persistent congestion when the lost packets span less than the persistent congestion duration', () => {
  // max_ack_delay 250: duration (21 + 250) × 3 = 813 ms > 700 ms between #2 and #8.
  const { r, lost, persistent } = rfcExample({ maxAckDelay: 250 });
  assert.equal(lost, [2, 3, 4, 5, 6, 7, 8]);
  assert.is(persistent, false);
  assert.ok(r.congestionWindow > 2400 + 1200);
});

test('no persistent congestion from packets sent before the first RTT sample', () => {
  const { r, persistent } = rfcExample({ noWarmup: true });
  assert.is(persistent, false);
  assert.is(r.congestionWindow, 6000);
});

test('persistent congestion is found across loss events when no packet in between was acknowledged', () => {
  const r = new Recovery({ isServer: true, peerMaxAckDelay: 0 });
  r.setHandshakeConfirmed(0);
  r.onPacketSent(packet('application', 0, 0));
  r.onAckReceived('application', ackOf([0]), 10);
  for (const pn of span(1, 5)) r.onPacketSent(packet('application', pn, 10 + pn * 10)); // 20 … 60
  r.onPacketSent(packet('application', 6, 200));
  r.onPacketSent(packet('application', 7, 201));
  // ACK of 7 at 211: smoothed 10, rttvar 3.75, so the duration is (10 + 15 + 0) × 3 = 75 ms and the
  // loss delay 11.25 ms. 1–4 are lost by packet threshold, 5 by time threshold; 6 not yet.
  const first = r.onAckReceived('application', ackOf([7]), 211);
  assert.is(r.lossDetection.rtt.persistentCongestionDuration(0), 75);
  assert.equal(pns(first.lost), [1, 2, 3, 4, 5]);
  assert.is(first.persistentCongestion, false, '20 … 60 spans 40 ms < 75 ms');
  assert.is(r.timeout(), 211.25);
  const later = r.onTimeout(211.25);
  assert.equal(pns(later.lost), [6]);
  assert.is(later.persistentCongestion, true, '20 … 200 spans 180 ms, and nothing in between was acknowledged');
  assert.is(r.congestionWindow, 2400);
});

test.run();
