import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Recovery } from '../../src/recovery/index.js';
import { QuicError, TransportErrorCode, isQuicError } from '../../src/wire/errors.js';
import { ackOf, packet, pns, span } from './helpers.js';

/** PTO before any RTT sample: 333 + 4 × 166.5. */
const INITIAL_PTO = 999;

function confirmedServer(): Recovery {
  const r = new Recovery({ isServer: true });
  r.setHandshakeConfirmed(0);
  return r;
}

function throwsCode(fn: () => unknown, code: number): QuicError {
  try {
    fn();
  } catch (e) {
    assert.ok(isQuicError(e, code), `expected ${code}, got ${String(e)}`);
    return e as QuicError;
  }
  assert.unreachable('expected a QuicError');
  throw new Error('unreachable');
}

test('packet threshold: a packet kPacketThreshold (3) numbers below an acknowledged one is lost', () => {
  const r = confirmedServer();
  for (const pn of span(0, 4)) r.onPacketSent(packet('application', pn, 0));
  // latest_rtt 100: the time threshold (112.5 ms) is not reached, only the packet threshold applies.
  const out = r.onAckReceived('application', ackOf([3]), 100);
  assert.equal(pns(out.lost), [0]);
  assert.equal(pns(out.acked), [3]);
  assert.is(r.bytesInFlight, 3 * 1200); // 1, 2 and 4 are still in flight
  const next = r.onAckReceived('application', ackOf([4]), 101);
  assert.equal(pns(next.lost), [1]); // 4 ≥ 1 + 3, while 2 is still within the threshold
  assert.is(r.bytesInFlight, 1200);
});

test('time threshold: the loss timer is time_sent + 9/8 × max(smoothed_rtt, latest_rtt) and declares the packet lost', () => {
  const r = confirmedServer();
  r.onPacketSent(packet('application', 0, 0));
  r.onPacketSent(packet('application', 1, 1));
  const out = r.onAckReceived('application', ackOf([1]), 101); // latest_rtt 100
  assert.equal(out.lost, []);
  assert.is(r.timeout(), 0 + (9 / 8) * 100);
  assert.equal(r.onTimeout(112).lost, [], 'nothing happens before the deadline');
  const fired = r.onTimeout(112.5);
  assert.equal(pns(fired.lost), [0]);
  assert.is(fired.probe, undefined);
  assert.is(r.bytesInFlight, 0);
  assert.is(r.timeout(), undefined, 'nothing left to detect');
});

test('an ACK finds a packet lost by time threshold without waiting for the timer', () => {
  const r = confirmedServer();
  r.onPacketSent(packet('application', 0, 0));
  r.onPacketSent(packet('application', 1, 50));
  // latest_rtt 20, loss delay 22.5: packet 0 was sent 70 ms ago
  const out = r.onAckReceived('application', ackOf([1]), 70);
  assert.equal(pns(out.lost), [0]);
});

test('the loss timer takes precedence over the PTO and uses the earliest space', () => {
  const r = confirmedServer();
  r.onPacketSent(packet('initial', 0, 0));
  r.onPacketSent(packet('initial', 1, 1));
  r.onPacketSent(packet('handshake', 0, 2));
  r.onPacketSent(packet('handshake', 1, 3));
  r.onAckReceived('initial', ackOf([1]), 101); // loss time for initial 0: 112.5
  assert.is(r.timeout(), 112.5);
  r.onAckReceived('handshake', ackOf([1]), 103); // handshake 0: 2 + 9/8 × max(srtt, 100)
  assert.is(r.timeout(), 112.5);
  const fired = r.onTimeout(112.5);
  assert.equal(fired.lost.map((p) => [p.space, p.packetNumber]), [['initial', 0]]);
});

test('PTO = smoothed_rtt + max(4 × rttvar, kGranularity), doubled at each expiry', () => {
  const r = new Recovery({ isServer: true });
  r.onPacketSent(packet('initial', 0, 0));
  assert.is(r.timeout(), INITIAL_PTO);
  const first = r.onTimeout(INITIAL_PTO);
  assert.equal(first.probe, { space: 'initial', count: 2, antiDeadlock: false, alsoSpaces: [] });
  assert.is(r.ptoCount, 1);
  assert.is(r.timeout(), 2 * INITIAL_PTO);
  r.onTimeout(2 * INITIAL_PTO);
  assert.is(r.ptoCount, 2);
  assert.is(r.timeout(), 4 * INITIAL_PTO);
  // A probe sent at 2000 restarts the period from its send time, still backed off.
  r.onPacketSent(packet('initial', 1, 2000));
  assert.is(r.timeout(), 2000 + 4 * INITIAL_PTO);
});

test('a PTO expiry declares nothing lost', () => {
  const r = new Recovery({ isServer: true });
  for (const pn of span(0, 4)) r.onPacketSent(packet('initial', pn, pn));
  const out = r.onTimeout(r.timeout()!);
  assert.equal(out.lost, []);
  assert.ok(out.probe !== undefined);
  assert.is(r.bytesInFlight, 5 * 1200);
  assert.is(r.stats().packetsLost, 0);
});

test('the Application Data PTO includes max_ack_delay, backed off with the PTO', () => {
  const r = confirmedServer();
  r.setPeerMaxAckDelay(25);
  r.onPacketSent(packet('application', 0, 0));
  assert.is(r.timeout(), INITIAL_PTO + 25);
  r.onTimeout(INITIAL_PTO + 25);
  assert.is(r.timeout(), 2 * (INITIAL_PTO + 25));
});

test('the Initial and Handshake PTOs do not include max_ack_delay', () => {
  const r = new Recovery({ isServer: true, peerMaxAckDelay: 100 });
  r.onPacketSent(packet('handshake', 0, 0));
  assert.is(r.timeout(), INITIAL_PTO);
});

test('the Application Data PTO is not armed until the handshake is confirmed', () => {
  const r = new Recovery({ isServer: true });
  r.onPacketSent(packet('application', 0, 0, { level: 'oneRtt' }));
  assert.is(r.timeout(), undefined);
  r.setHandshakeConfirmed(10);
  assert.is(r.timeout(), INITIAL_PTO + 25);
});

test('with packets in several spaces the PTO is the earliest one, and the probe names the other spaces', () => {
  const r = confirmedServer();
  r.onPacketSent(packet('handshake', 0, 0));
  r.onPacketSent(packet('initial', 0, 10));
  r.onPacketSent(packet('application', 0, 5));
  assert.is(r.timeout(), INITIAL_PTO); // handshake, sent at 0
  const out = r.onTimeout(INITIAL_PTO);
  assert.is(out.probe?.space, 'handshake');
  assert.equal(out.probe?.alsoSpaces, ['initial', 'application']);
  // Once Initial and Handshake are gone, the Application Data PTO (with max_ack_delay) remains.
  r.discardSpace('initial', 1000);
  r.discardSpace('handshake', 1000);
  assert.is(r.timeout(), 5 + INITIAL_PTO + 25);
});

test('Application Data is skipped before confirmation even when it would expire first', () => {
  const r = new Recovery({ isServer: true });
  r.onPacketSent(packet('application', 0, 0, { level: 'zeroRtt' }));
  r.onPacketSent(packet('handshake', 0, 50));
  assert.is(r.timeout(), 50 + INITIAL_PTO);
  assert.is(r.onTimeout(50 + INITIAL_PTO).probe?.space, 'handshake');
});

test('client anti-deadlock: the PTO is armed with nothing in flight until the server has validated the address', () => {
  const r = new Recovery({ isServer: false });
  r.onPacketSent(packet('initial', 0, 0));
  r.onAckReceived('initial', ackOf([0]), 100); // smoothed 100, rttvar 50: PTO 300
  assert.is(r.bytesInFlight, 0);
  assert.is(r.timeout(), 100 + 300, 'armed from now, with nothing in flight');
  const out = r.onTimeout(400);
  assert.equal(out.probe, { space: 'initial', count: 1, antiDeadlock: true, alsoSpaces: [] });
  assert.is(r.ptoCount, 1);
  assert.is(r.timeout(), 400 + 600);
  r.setHandshakeKeysAvailable(500);
  assert.is(r.timeout(), 500 + 600, 're-armed from now');
  assert.is(r.onTimeout(1100).probe?.space, 'handshake');
  // A Handshake ACK proves the server validated the address: nothing in flight, no timer.
  r.onPacketSent(packet('handshake', 0, 1200));
  r.onAckReceived('handshake', ackOf([0]), 1300);
  assert.is(r.timeout(), undefined);
});

test('a server with nothing in flight arms no timer', () => {
  const r = new Recovery({ isServer: true });
  r.onPacketSent(packet('initial', 0, 0));
  r.onAckReceived('initial', ackOf([0]), 100);
  assert.is(r.timeout(), undefined);
  assert.equal(r.onTimeout(10_000), { lost: [], persistentCongestion: false, congestionEvent: false, probe: undefined });
});

test('a client keeps pto_count on Initial ACKs; a server resets it', () => {
  for (const isServer of [false, true]) {
    const r = new Recovery({ isServer });
    r.onPacketSent(packet('initial', 0, 0));
    r.onTimeout(INITIAL_PTO);
    assert.is(r.ptoCount, 1);
    r.onPacketSent(packet('initial', 1, INITIAL_PTO));
    r.onAckReceived('initial', ackOf([1]), INITIAL_PTO + 100);
    assert.is(r.ptoCount, isServer ? 0 : 1, isServer ? 'server' : 'client');
  }
});

test('a client resets pto_count on a Handshake ACK', () => {
  const r = new Recovery({ isServer: false });
  r.onPacketSent(packet('handshake', 0, 0));
  r.onTimeout(INITIAL_PTO);
  r.onTimeout(3 * INITIAL_PTO);
  assert.is(r.ptoCount, 2);
  r.onPacketSent(packet('handshake', 1, 3000));
  r.onAckReceived('handshake', ackOf([1]), 3100);
  assert.is(r.ptoCount, 0);
});

test('a duplicate ACK does not reset pto_count', () => {
  const r = new Recovery({ isServer: true });
  r.onPacketSent(packet('initial', 0, 0));
  r.onPacketSent(packet('initial', 1, 1));
  r.onAckReceived('initial', ackOf([0]), 50);
  r.onTimeout(r.timeout()!);
  assert.is(r.ptoCount, 1);
  r.onAckReceived('initial', ackOf([0]), 500);
  assert.is(r.ptoCount, 1);
});

test('an amplification-limited server arms no PTO; unblocking re-arms it and a passed deadline fires', () => {
  const r = new Recovery({ isServer: true });
  r.onPacketSent(packet('initial', 0, 0));
  assert.is(r.timeout(), INITIAL_PTO);
  r.setAmplificationLimited(true, 10);
  assert.is(r.timeout(), undefined);
  assert.is(r.onTimeout(5000).probe, undefined);
  r.setAmplificationLimited(false, 2000);
  assert.is(r.timeout(), INITIAL_PTO, 'the deadline already passed: the caller runs onTimeout now');
  assert.is(r.onTimeout(2000).probe?.space, 'initial');
});

test('an amplification-limited server still runs its time-threshold loss timer', () => {
  const r = new Recovery({ isServer: true });
  r.onPacketSent(packet('initial', 0, 0));
  r.onPacketSent(packet('initial', 1, 1));
  r.onAckReceived('initial', ackOf([1]), 101);
  r.setAmplificationLimited(true, 102);
  assert.is(r.timeout(), 112.5);
});

test('discarding a space removes its packets from bytes in flight without loss and resets pto_count', () => {
  const r = new Recovery({ isServer: true });
  r.onPacketSent(packet('initial', 0, 0, { size: 1200 }));
  r.onPacketSent(packet('handshake', 0, 10, { size: 1000 }));
  r.onTimeout(INITIAL_PTO);
  assert.is(r.ptoCount, 1);
  const discarded = r.discardSpace('initial', 1100);
  assert.equal(pns(discarded), [0]);
  assert.is(r.bytesInFlight, 1000);
  assert.is(r.ptoCount, 0);
  assert.is(r.stats().packetsLost, 0);
  assert.is(r.stats().packetsDiscarded, 1);
  assert.is(r.timeout(), 10 + INITIAL_PTO, 're-armed for the Handshake space without backoff');
  // An ACK for the discarded space can no longer matter.
  assert.equal(r.onAckReceived('initial', ackOf([0]), 1200).acked, []);
  assert.equal(r.discardSpace('initial', 1300), []);
  assert.throws(() => r.onPacketSent(packet('initial', 1, 1400)), (e: unknown) => isQuicError(e, TransportErrorCode.INTERNAL_ERROR));
});

test('rejecting 0-RTT removes the 0-RTT packets from bytes in flight without loss', () => {
  const r = new Recovery({ isServer: false });
  r.onPacketSent(packet('application', 0, 0, { level: 'zeroRtt', size: 500 }));
  r.onPacketSent(packet('application', 1, 1, { level: 'zeroRtt', size: 600 }));
  r.onPacketSent(packet('application', 2, 2, { level: 'oneRtt', size: 700 }));
  const dropped = r.discardZeroRtt(10);
  assert.equal(pns(dropped), [0, 1]);
  assert.is(r.bytesInFlight, 700);
  assert.is(r.stats().packetsLost, 0);
});

test('an ACK of a packet number above the largest sent is a PROTOCOL_VIOLATION', () => {
  const r = confirmedServer();
  for (const pn of span(0, 2)) r.onPacketSent(packet('application', pn, pn));
  const e = throwsCode(() => r.onAckReceived('application', ackOf([0, 1, 2, 3]), 50), TransportErrorCode.PROTOCOL_VIOLATION);
  assert.is(e.frameType, 0x02);
});

test('an ACK in a space where nothing was sent is a PROTOCOL_VIOLATION', () => {
  const r = confirmedServer();
  r.onPacketSent(packet('application', 0, 0));
  throwsCode(() => r.onAckReceived('handshake', ackOf([0]), 50), TransportErrorCode.PROTOCOL_VIOLATION);
});

test('an ACK of a deliberately skipped packet number is a PROTOCOL_VIOLATION (optimistic ACK defence)', () => {
  const r = confirmedServer();
  r.onPacketSent(packet('application', 0, 0));
  r.onPacketSent(packet('application', 1, 1));
  r.onPacketSent(packet('application', 3, 2)); // 2 skipped
  r.onPacketSent(packet('application', 4, 3));
  throwsCode(() => r.onAckReceived('application', ackOf([2]), 50), TransportErrorCode.PROTOCOL_VIOLATION);
  const withEcn = throwsCode(
    () => r.onAckReceived('application', ackOf([0, 1, 2, 3, 4], 0, { ect0: 0, ect1: 0, ce: 0 }), 50),
    TransportErrorCode.PROTOCOL_VIOLATION,
  );
  assert.is(withEcn.frameType, 0x03);
  // State untouched by the refused ACKs; an honest ACK around the gap works.
  assert.is(r.bytesInFlight, 4 * 1200);
  assert.is(r.largestAcked('application'), undefined);
  const ok = r.onAckReceived('application', { ranges: [{ smallest: 3, largest: 4 }, { smallest: 0, largest: 1 }], ackDelay: 0 }, 50);
  assert.equal(pns(ok.acked), [0, 1, 3, 4]);
});

test('packet numbers before the first one sent in a space count as never sent', () => {
  const r = confirmedServer();
  r.onPacketSent(packet('application', 5, 0));
  throwsCode(() => r.onAckReceived('application', ackOf([4, 5]), 50), TransportErrorCode.PROTOCOL_VIOLATION);
});

test('malformed ACK ranges are a FRAME_ENCODING_ERROR', () => {
  const r = confirmedServer();
  for (const pn of span(0, 9)) r.onPacketSent(packet('application', pn, pn));
  const bad = [
    [],
    [{ smallest: 5, largest: 3 }],
    [{ smallest: 1, largest: 3 }, { smallest: 2, largest: 8 }],
    [{ smallest: 4, largest: 6 }, { smallest: 2, largest: 4 }],
    [{ smallest: -1, largest: 2 }],
    [{ smallest: 1.5, largest: 2 }],
  ];
  for (const ranges of bad) {
    throwsCode(() => r.onAckReceived('application', { ranges, ackDelay: 0 }, 50), TransportErrorCode.FRAME_ENCODING_ERROR);
  }
  assert.is(r.bytesInFlight, 10 * 1200);
});

test('duplicate and reordered ACKs are harmless', () => {
  const r = confirmedServer();
  for (const pn of span(0, 5)) r.onPacketSent(packet('application', pn, pn));
  const a = r.onAckReceived('application', ackOf([0, 1, 2, 3, 4, 5]), 50);
  assert.is(a.acked.length, 6);
  const before = r.stats();
  const dup = r.onAckReceived('application', ackOf([0, 1, 2, 3, 4, 5]), 60);
  const old = r.onAckReceived('application', ackOf([1, 2]), 70);
  assert.equal([dup.acked, dup.lost, old.acked, old.lost], [[], [], [], []]);
  assert.equal(r.stats(), before);
});

test('a lost packet acknowledged later is not reported again', () => {
  const r = confirmedServer();
  for (const pn of span(0, 3)) r.onPacketSent(packet('application', pn, 0));
  assert.equal(pns(r.onAckReceived('application', ackOf([3]), 10).lost), [0]);
  const late = r.onAckReceived('application', ackOf([0, 1, 2, 3]), 20);
  assert.equal(pns(late.acked), [1, 2]);
  assert.equal(late.lost, []);
});

test('packets must be recorded in increasing packet number order', () => {
  const r = confirmedServer();
  r.onPacketSent(packet('application', 3, 0));
  throwsCode(() => r.onPacketSent(packet('application', 3, 1)), TransportErrorCode.INTERNAL_ERROR);
  throwsCode(() => r.onPacketSent(packet('application', 2, 1)), TransportErrorCode.INTERNAL_ERROR);
});

test('PTO probes may be sent beyond the congestion window', () => {
  const r = new Recovery({ isServer: true });
  for (const pn of span(0, 9)) r.onPacketSent(packet('initial', pn, 0));
  assert.is(r.congestionAllowance(), 0);
  const out = r.onTimeout(INITIAL_PTO);
  assert.is(out.probe?.count, 2);
  assert.is(r.congestionAllowance(), 2 * 1200);
  assert.is(r.pacingAllowance(INITIAL_PTO), Infinity);
  r.onPacketSent(packet('initial', 10, INITIAL_PTO));
  assert.is(r.congestionAllowance(), 1200);
  r.onPacketSent(packet('initial', 11, INITIAL_PTO));
  assert.is(r.congestionAllowance(), 0);
  assert.is(r.bytesInFlight, 12 * 1200);
});

test('ACK-only packets do not count in bytes in flight and arm no timer', () => {
  const r = new Recovery({ isServer: true });
  r.onPacketSent(packet('initial', 0, 0, { ackEliciting: false }));
  assert.is(r.bytesInFlight, 0);
  assert.is(r.timeout(), undefined);
  assert.is(r.stats().packetsSent, 1);
});

test('a Retry resets recovery and hands back every tracked packet', () => {
  const r = new Recovery({ isServer: false });
  r.onPacketSent(packet('initial', 0, 0));
  r.onTimeout(INITIAL_PTO);
  const removed = r.onRetry(1000);
  assert.equal(pns(removed), [0]);
  assert.is(r.bytesInFlight, 0);
  assert.is(r.ptoCount, 0);
  assert.is(r.stats().smoothedRtt, 333);
  // Packet numbers keep increasing after a Retry (RFC 9000 §17.2.5.3).
  r.onPacketSent(packet('initial', 1, 1000));
  assert.is(r.timeout(), 1000 + INITIAL_PTO);
});

test.run();
