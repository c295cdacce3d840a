import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Recovery, RttEstimator, type RttSampleContext } from '../../src/recovery/index.js';
import { ackOf, packet } from './helpers.js';

const handshake: RttSampleContext = { space: 'handshake', handshakeConfirmed: false, maxAckDelay: 25 };
const confirmed: RttSampleContext = { space: 'application', handshakeConfirmed: true, maxAckDelay: 25 };

test('before any sample, smoothed_rtt is kInitialRtt (333 ms) and rttvar half of it', () => {
  const rtt = new RttEstimator();
  assert.is(rtt.smoothedRtt, 333);
  assert.is(rtt.rttvar, 166.5);
  assert.is(rtt.minRtt, 0);
  assert.is(rtt.latestRtt, 0);
  assert.is(rtt.hasSample, false);
  const custom = new RttEstimator(100);
  assert.is(custom.smoothedRtt, 100);
  assert.is(custom.rttvar, 50);
});

test('the first sample sets smoothed_rtt = latest_rtt, rttvar = latest_rtt / 2 and min_rtt, ignoring ack delay', () => {
  const rtt = new RttEstimator();
  rtt.update(100, 30, 500, confirmed);
  assert.is(rtt.latestRtt, 100);
  assert.is(rtt.smoothedRtt, 100);
  assert.is(rtt.rttvar, 50);
  assert.is(rtt.minRtt, 100);
  assert.is(rtt.firstSampleTime, 500);
});

test('later samples follow the EWMA, rttvar using the previous smoothed_rtt', () => {
  const rtt = new RttEstimator();
  rtt.update(100, 0, 0, confirmed);
  rtt.update(200, 0, 1, confirmed);
  // rttvar = 3/4 × 50 + 1/4 × |100 − 200|; smoothed = 7/8 × 100 + 1/8 × 200
  assert.is(rtt.rttvar, 62.5);
  assert.is(rtt.smoothedRtt, 112.5);
  rtt.update(80, 0, 2, confirmed);
  assert.is(rtt.rttvar, 0.75 * 62.5 + 0.25 * Math.abs(112.5 - 80));
  assert.is(rtt.smoothedRtt, (7 / 8) * 112.5 + 80 / 8);
  assert.is(rtt.minRtt, 80);
});

test('the ack delay is subtracted when the adjusted sample stays at or above min_rtt', () => {
  const rtt = new RttEstimator();
  rtt.update(100, 0, 0, handshake);
  rtt.update(150, 30, 1, handshake); // adjusted 120
  assert.is(rtt.smoothedRtt, (7 / 8) * 100 + 120 / 8);
  const exact = new RttEstimator();
  exact.update(100, 0, 0, handshake);
  exact.update(130, 30, 1, handshake); // 130 ≥ 100 + 30: adjusted exactly min_rtt
  assert.is(exact.smoothedRtt, 100);
});

test('the ack delay is never subtracted when that would take the sample below min_rtt', () => {
  const rtt = new RttEstimator();
  rtt.update(100, 0, 0, handshake);
  rtt.update(110, 30, 1, handshake); // 110 − 30 < 100: use 110
  assert.is(rtt.smoothedRtt, (7 / 8) * 100 + 110 / 8);
  assert.is(rtt.rttvar, 0.75 * 50 + 0.25 * 10);
});

test('after handshake confirmation the ack delay is capped by max_ack_delay, before it is not', () => {
  const before = new RttEstimator();
  before.update(100, 0, 0, handshake);
  before.update(200, 80, 1, handshake); // adjusted 120
  assert.is(before.smoothedRtt, (7 / 8) * 100 + 120 / 8);
  const after = new RttEstimator();
  after.update(100, 0, 0, confirmed);
  after.update(200, 80, 1, confirmed); // delay capped at 25: adjusted 175
  assert.is(after.smoothedRtt, (7 / 8) * 100 + 175 / 8);
});

test('the ack delay is ignored in the Initial packet number space', () => {
  const rtt = new RttEstimator();
  rtt.update(100, 0, 0, { space: 'initial', handshakeConfirmed: false, maxAckDelay: 25 });
  rtt.update(200, 50, 1, { space: 'initial', handshakeConfirmed: false, maxAckDelay: 25 });
  assert.is(rtt.smoothedRtt, (7 / 8) * 100 + 200 / 8);
});

test('min_rtt is the smallest raw sample: the ack delay is not taken off it', () => {
  const rtt = new RttEstimator();
  rtt.update(100, 0, 0, confirmed);
  rtt.update(150, 20, 1, confirmed); // adjusted 130 feeds smoothed_rtt, min_rtt stays 100
  assert.is(rtt.minRtt, 100);
  rtt.update(90, 0, 2, confirmed);
  assert.is(rtt.minRtt, 90);
});

test('after persistent congestion min_rtt is reset to the latest sample', () => {
  const rtt = new RttEstimator();
  rtt.update(50, 0, 0, confirmed);
  rtt.update(300, 0, 1, confirmed);
  assert.is(rtt.minRtt, 50);
  rtt.onPersistentCongestion();
  assert.is(rtt.minRtt, 300);
});

test('the PTO base is smoothed_rtt + max(4 × rttvar, kGranularity)', () => {
  const rtt = new RttEstimator();
  assert.is(rtt.ptoBase(), 333 + 4 * 166.5);
  rtt.update(10, 0, 0, confirmed);
  for (let i = 1; i <= 40; i++) rtt.update(10, 0, i, confirmed); // rttvar decays below 0.25 ms
  assert.ok(rtt.rttvar < 0.25);
  assert.is(rtt.ptoBase(), 10 + 1);
});

test('the loss delay is 9/8 × max(smoothed_rtt, latest_rtt), at least kGranularity', () => {
  const rtt = new RttEstimator();
  rtt.update(100, 0, 0, confirmed);
  rtt.update(20, 0, 1, confirmed); // smoothed 90 > latest 20
  assert.is(rtt.lossDelay(), (9 / 8) * 90);
  rtt.update(400, 0, 2, confirmed); // latest 400 > smoothed
  assert.is(rtt.lossDelay(), (9 / 8) * 400);
  const tiny = new RttEstimator();
  tiny.update(0.4, 0, 0, confirmed);
  assert.is(tiny.lossDelay(), 1);
});

test('an ACK newly acknowledging the largest acknowledged ack-eliciting packet yields a sample', () => {
  const r = new Recovery({ isServer: true });
  r.onPacketSent(packet('initial', 0, 10));
  const out = r.onAckReceived('initial', ackOf([0]), 60);
  assert.is(out.rttSampled, true);
  assert.is(r.stats().latestRtt, 50);
  assert.is(r.stats().smoothedRtt, 50);
});

test('no sample when the largest acknowledged was already acknowledged', () => {
  const r = new Recovery({ isServer: true });
  r.onPacketSent(packet('initial', 0, 0));
  r.onPacketSent(packet('initial', 1, 1));
  r.onPacketSent(packet('initial', 2, 2));
  assert.is(r.onAckReceived('initial', ackOf([2]), 30).rttSampled, true);
  const late = r.onAckReceived('initial', ackOf([0, 1, 2]), 100);
  assert.equal(late.acked.map((p) => p.packetNumber), [0, 1]);
  assert.is(late.rttSampled, false);
  assert.is(r.stats().latestRtt, 28);
});

test('no sample when only non-ack-eliciting packets are newly acknowledged', () => {
  const r = new Recovery({ isServer: true });
  r.onPacketSent(packet('handshake', 0, 0, { ackEliciting: false }));
  const out = r.onAckReceived('handshake', ackOf([0], 400), 500);
  assert.equal(out.acked.length, 1);
  assert.is(out.rttSampled, false);
  assert.is(r.stats().smoothedRtt, 333);
  assert.is(r.stats().latestRtt, 0);
});

test('the facade ignores the ack delay for Initial ACKs and applies it for Handshake ACKs', () => {
  const r = new Recovery({ isServer: true });
  r.onPacketSent(packet('initial', 0, 0));
  r.onAckReceived('initial', ackOf([0]), 100); // first sample: 100
  r.onPacketSent(packet('initial', 1, 100));
  r.onAckReceived('initial', ackOf([1], 50), 300); // latest 200, delay ignored
  assert.is(r.stats().smoothedRtt, (7 / 8) * 100 + 200 / 8);
  const smoothed = r.stats().smoothedRtt;
  r.onPacketSent(packet('handshake', 0, 300));
  r.onAckReceived('handshake', ackOf([0], 50), 500); // latest 200, adjusted 150
  assert.is(r.stats().smoothedRtt, (7 / 8) * smoothed + 150 / 8);
});

test('the facade caps the ack delay by the peer max_ack_delay once the handshake is confirmed', () => {
  const r = new Recovery({ isServer: true });
  r.setPeerMaxAckDelay(10);
  r.setHandshakeConfirmed(0);
  r.onPacketSent(packet('application', 0, 0));
  r.onAckReceived('application', ackOf([0]), 100);
  r.onPacketSent(packet('application', 1, 100));
  r.onAckReceived('application', ackOf([1], 50), 300); // latest 200, delay capped to 10
  assert.is(r.stats().smoothedRtt, (7 / 8) * 100 + 190 / 8);
});

test.run();
