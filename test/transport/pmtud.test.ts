// PathMtuDiscovery (RFC 8899 §5.2 states, RFC 9000 §14.3) driven by hand with explicit time: the
// search, MAX_PROBES, the probe timer, the raise timer, black hole detection and the error state.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PathMtuDiscovery, PMTUD_MAX_PROBES, PMTUD_RAISE_INTERVAL, PMTUD_SEARCH_PRECISION } from '../../src/transport/pmtud.js';

const PTO = 100;

/** Drives `d` against a path carrying datagrams up to `pathMtu`: probes are acked or time out. Returns the probes sent. */
function search(d: PathMtuDiscovery, pathMtu: number, start: { pn: number; now: number }, maxProbes = 100): number[] {
  const sent: number[] = [];
  while (sent.length < maxProbes) {
    const size = d.probeSize();
    if (size === undefined) break;
    const pn = start.pn++;
    d.onProbeSent(pn, size, start.now, PTO);
    sent.push(size);
    if (size <= pathMtu) {
      start.now += 20;
      d.onProbeAcked(pn, size, start.now - 20, start.now);
    } else {
      start.now = d.nextTimeout() as number;
      d.onTimeout(start.now);
    }
  }
  return sent;
}

test('disabled until started: no probe, no timer, the base size', () => {
  const d = new PathMtuDiscovery({ base: 1200 });
  assert.is(d.state, 'disabled');
  assert.is(d.plpmtu, 1200);
  assert.is(d.probeSize(), undefined);
  assert.is(d.nextTimeout(), undefined);
});

test('the first probe is the upper bound; its acknowledgement completes the search at once with no raise timer', () => {
  const d = new PathMtuDiscovery({ base: 1200 });
  d.start(1452, 0);
  assert.is(d.state, 'searching');
  assert.is(d.probeSize(), 1452);
  d.onProbeSent(1, 1452, 0, PTO);
  assert.is(d.probeSize(), undefined, 'one probe outstanding at most');
  assert.is(d.nextTimeout(), PTO, 'the probe timer');
  d.onProbeAcked(1, 1452, 0, 20);
  assert.is(d.state, 'searchComplete');
  assert.is(d.plpmtu, 1452);
  assert.is(d.nextTimeout(), undefined, 'nothing larger to raise to');
});

test('an upper bound at or below the base: the search is complete without a probe', () => {
  const d = new PathMtuDiscovery({ base: 1500 });
  d.start(1452, 0);
  assert.is(d.state, 'searchComplete');
  assert.is(d.plpmtu, 1500);
  assert.is(d.probeSize(), undefined);
});

test('a size counts as failed only after MAX_PROBES lost probes; the same size is probed again until then', () => {
  const d = new PathMtuDiscovery({ base: 1200 });
  d.start(1452, 0);
  let now = 0;
  for (let i = 0; i < PMTUD_MAX_PROBES; i++) {
    assert.is(d.probeSize(), 1452, `probe ${i + 1}`);
    d.onProbeSent(i, 1452, now, PTO);
    if (i === 1) d.onProbeLost(i, now + 10); // recovery's verdict counts like the timer
    else {
      now = d.nextTimeout() as number;
      d.onTimeout(now);
    }
  }
  const next = d.probeSize() as number;
  assert.ok(next < 1452 && next > 1200, `then a smaller size (${next})`);
  assert.is(d.stats().probesLost, PMTUD_MAX_PROBES);
});

for (const pathMtu of [1200, 1250, 1280, 1400, 1451]) {
  test(`a binary search converges below a path MTU of ${pathMtu} within ${PMTUD_SEARCH_PRECISION} bytes and never above it`, () => {
    const d = new PathMtuDiscovery({ base: 1200 });
    d.start(1452, 0);
    const sent = search(d, pathMtu, { pn: 0, now: 0 });
    assert.is(d.state, 'searchComplete');
    assert.ok(d.plpmtu <= pathMtu && d.plpmtu > pathMtu - PMTUD_SEARCH_PRECISION, `${d.plpmtu} for ${pathMtu}`);
    assert.ok(sent.length <= 20, `${sent.length} probes`);
  });
}

test('a search up to 65527 (loopback) converges within a bounded number of probes', () => {
  const d = new PathMtuDiscovery({ base: 1200 });
  d.start(65_527, 0);
  const sent = search(d, 9000, { pn: 0, now: 0 });
  assert.ok(d.plpmtu <= 9000 && d.plpmtu > 9000 - PMTUD_SEARCH_PRECISION, `${d.plpmtu}`);
  assert.ok(sent.length <= 14 * PMTUD_MAX_PROBES, `${sent.length} probes`);
});

test('a late acknowledgement of a timed-out probe still raises the size', () => {
  const d = new PathMtuDiscovery({ base: 1200 });
  d.start(1452, 0);
  d.onProbeSent(7, 1452, 0, PTO);
  d.onTimeout(PTO);
  assert.is(d.plpmtu, 1200);
  d.onProbeAcked(7, 1452, 0, PTO + 30);
  assert.is(d.plpmtu, 1452);
  assert.is(d.state, 'searchComplete');
});

test('the raise timer (PMTU_RAISE_TIMER) searches again after a search that stopped below the upper bound', () => {
  const d = new PathMtuDiscovery({ base: 1200 });
  const clock = { pn: 0, now: 0 };
  d.start(1452, 0);
  search(d, 1300, clock);
  assert.is(d.state, 'searchComplete');
  const raiseAt = d.nextTimeout() as number;
  assert.is(raiseAt, clock.now + PMTUD_RAISE_INTERVAL);
  d.onTimeout(raiseAt - 1);
  assert.is(d.state, 'searchComplete');
  d.onTimeout(raiseAt);
  assert.is(d.state, 'searching');
  assert.is(d.probeSize(), 1452);
  // The path grew meanwhile.
  search(d, 1452, { pn: 100, now: raiseAt });
  assert.is(d.plpmtu, 1452);
  assert.is(d.nextTimeout(), undefined);
});

test('black hole: large packets lost while no later large packet is acknowledged fall back to the base; an acknowledgement then restarts the search', () => {
  const d = new PathMtuDiscovery({ base: 1200 });
  d.start(1452, 0);
  search(d, 1452, { pn: 0, now: 0 });
  assert.is(d.plpmtu, 1452);
  for (let pn = 10; pn < 20; pn++) d.onPacketSent(pn, 1452);
  d.onPacketAcked(10, 1452, 100, 120);
  // 11 and 12 lost, then a small packet gets through and 13..15 are declared lost.
  d.onPacketLost(11, 1452, 100, 150);
  d.onPacketLost(12, 1452, 100, 150);
  assert.is(d.state, 'searchComplete', 'two are not enough');
  d.onPacketAcked(13, 1452, 100, 150);
  d.onPacketLost(14, 1452, 100, 160);
  d.onPacketLost(15, 1452, 100, 160);
  assert.is(d.state, 'searchComplete', 'a later large packet was acknowledged: the count restarted');
  d.onPacketLost(16, 1000, 100, 170);
  assert.is(d.state, 'searchComplete', 'small packets never count');
  d.onPacketLost(18, 1452, 100, 170);
  assert.is(d.state, 'base');
  assert.is(d.plpmtu, 1200);
  assert.is(d.stats().blackHoles, 1);
  // Losses of what was sent before the fall back do not count again; an ack of a packet sent before does not confirm the base.
  d.onPacketLost(19, 1452, 100, 180);
  d.onPacketAcked(21, 1000, 100, 180);
  assert.is(d.state, 'base');
  d.onPacketAcked(22, 1000, 175, 200);
  assert.is(d.state, 'searching');
  assert.is(d.probeSize(), 1452);
});

test('black hole by PTOs: consecutive PTO expirations with a large packet unacknowledged fall back; at the base they lead to error, and an acknowledgement out of it', () => {
  const d = new PathMtuDiscovery({ base: 1200 });
  d.start(1452, 0);
  search(d, 1452, { pn: 0, now: 0 });
  d.onPtoExpired(5, 100);
  assert.is(d.state, 'searchComplete', 'no large packet in flight');
  d.onPacketSent(10, 1452);
  d.onPtoExpired(1, 200);
  d.onPtoExpired(2, 300);
  assert.is(d.state, 'searchComplete');
  d.onPtoExpired(3, 500);
  assert.is(d.state, 'base');
  assert.is(d.plpmtu, 1200);
  d.onPtoExpired(4, 900);
  d.onPtoExpired(5, 1700);
  assert.is(d.state, 'base');
  d.onPtoExpired(6, 3300);
  assert.is(d.state, 'error');
  assert.is(d.plpmtu, 1200, 'QUIC never goes below 1200 bytes');
  assert.is(d.probeSize(), undefined, 'no probing in error');
  d.onPacketAcked(11, 1200, 3300, 3400);
  assert.is(d.state, 'searching');
});

test('an acknowledged probe sent before a fall back does not raise the size again', () => {
  const d = new PathMtuDiscovery({ base: 1200 });
  d.start(1452, 0);
  d.onProbeSent(1, 1452, 0, PTO);
  d.onTimeout(PTO);
  d.onProbeSent(2, 1452, PTO, PTO);
  d.onProbeAcked(2, 1452, PTO, PTO + 20);
  assert.is(d.plpmtu, 1452);
  d.onPacketSent(3, 1452);
  d.onPtoExpired(3, 500);
  assert.is(d.state, 'base');
  d.onProbeAcked(1, 1452, 0, 600);
  assert.is(d.plpmtu, 1200);
});

test('stop() disables probing for good', () => {
  const d = new PathMtuDiscovery({ base: 1200 });
  d.start(1452, 0);
  d.stop();
  assert.is(d.state, 'disabled');
  assert.is(d.probeSize(), undefined);
  assert.is(d.nextTimeout(), undefined);
  d.start(1452, 0);
  assert.is(d.state, 'searching', 'start() again after stop()');
});

test('a base outside 1200..65527 is refused', () => {
  assert.throws(() => new PathMtuDiscovery({ base: 1199 }), RangeError);
  assert.throws(() => new PathMtuDiscovery({ base: 65_528 }), RangeError);
});

test.run();
