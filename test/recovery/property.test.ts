import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { Recovery } from '../../src/recovery/index.js';
import type { SentPacket } from '../../src/packet/types.js';
import { TransportErrorCode, isQuicError } from '../../src/wire/errors.js';
import type { PacketNumberSpace } from '../../src/wire/levels.js';
import { packet, rangesOf } from './helpers.js';

type Action =
  | { kind: 'send'; space: PacketNumberSpace; size: number; ackEliciting: boolean; padded: boolean; skip: boolean; zeroRtt: boolean; mtuProbe: boolean; dt: number }
  | { kind: 'ack'; space: PacketNumberSpace; picks: number[]; delay: number; ce: number | undefined; dt: number }
  | { kind: 'badAck'; space: PacketNumberSpace; pick: number }
  | { kind: 'timeout'; late: number }
  | { kind: 'advance'; dt: number }
  | { kind: 'discard'; space: 'initial' | 'handshake' }
  | { kind: 'rejectZeroRtt' }
  | { kind: 'confirm' }
  | { kind: 'keys' }
  | { kind: 'amplification'; limited: boolean }
  | { kind: 'appLimited'; limited: boolean }
  | { kind: 'mds'; size: number };

/** True with probability `n / d`. */
function weighted(n: number, d: number): fc.Arbitrary<boolean> {
  return fc.integer({ min: 0, max: d - 1 }).map((x) => x < n);
}

const space = fc.constantFrom<PacketNumberSpace>('initial', 'handshake', 'application', 'application');
const dt = fc.oneof(fc.constant(0), fc.double({ min: 0, max: 400, noNaN: true }));

const action: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.record({
      kind: fc.constant('send' as const),
      space,
      size: fc.integer({ min: 20, max: 1500 }),
      ackEliciting: weighted(8, 10),
      padded: fc.boolean(),
      skip: weighted(1, 10),
      zeroRtt: fc.boolean(),
      mtuProbe: weighted(1, 10),
      dt,
    }),
  },
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant('ack' as const),
      space,
      picks: fc.array(fc.nat(), { minLength: 1, maxLength: 12 }),
      delay: fc.double({ min: 0, max: 100, noNaN: true }),
      ce: fc.option(fc.integer({ min: 0, max: 5 }), { nil: undefined }),
      dt,
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('badAck' as const), space, pick: fc.nat() }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('timeout' as const), late: fc.double({ min: 0, max: 50, noNaN: true }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('advance' as const), dt }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('discard' as const), space: fc.constantFrom<'initial' | 'handshake'>('initial', 'handshake') }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'rejectZeroRtt' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'confirm' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'keys' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('amplification' as const), limited: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('appLimited' as const), limited: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('mds' as const), size: fc.integer({ min: 1200, max: 9000 }) }) },
);

type Status = 'out' | 'acked' | 'lost' | 'discarded';

interface SpaceModel {
  nextPn: number;
  /** Every packet sent, in order. */
  sent: SentPacket[];
  status: Map<number, Status>;
  skipped: number[];
  largestAcked: number | undefined;
  discarded: boolean;
  ce: number;
}

function run(isServer: boolean, actions: Action[]): void {
  const r = new Recovery({ isServer });
  const model: Record<PacketNumberSpace, SpaceModel> = {
    initial: newModel(),
    handshake: newModel(),
    application: newModel(),
  };
  let now = 0;
  let confirmed = false;
  let mds = 1200;

  const settle = (space: PacketNumberSpace, packets: readonly SentPacket[], to: Status): void => {
    for (const p of packets) {
      assert.is(p.space, space);
      const m = model[p.space];
      assert.is(m.status.get(p.packetNumber), 'out', `packet ${p.space}/${p.packetNumber} reported ${to} but was ${m.status.get(p.packetNumber)}`);
      m.status.set(p.packetNumber, to);
    }
  };
  const settleLost = (packets: readonly SentPacket[]): void => {
    for (const p of packets) {
      const la = model[p.space].largestAcked;
      // Loss is only declared below an acknowledged packet (RFC 9002 §6.1); a PTO declares none.
      assert.ok(la !== undefined && p.packetNumber < la, `lost ${p.space}/${p.packetNumber} with largest acked ${la}`);
      settle(p.space, [p], 'lost');
    }
  };

  const check = (): void => {
    let expected = 0;
    let outstanding = 0;
    for (const s of ['initial', 'handshake', 'application'] as const) {
      for (const p of model[s].sent) {
        if (model[s].status.get(p.packetNumber) !== 'out') continue;
        outstanding++;
        if (p.inFlight) expected += p.size;
      }
    }
    assert.is(r.bytesInFlight, expected, 'bytes in flight = sizes of in-flight packets neither acked, lost nor discarded');
    assert.ok(r.bytesInFlight >= 0);
    assert.ok(r.congestionWindow >= 2 * mds, `cwnd ${r.congestionWindow} below the minimum ${2 * mds}`);
    const st = r.stats();
    assert.is(st.packetsAcked + st.packetsLost + st.packetsDiscarded + outstanding, st.packetsSent);
    const t = r.timeout();
    assert.ok(t === undefined || Number.isFinite(t));
  };

  for (const a of actions) {
    switch (a.kind) {
      case 'send': {
        now += a.dt;
        const m = model[a.space];
        if (m.discarded) break;
        if (a.skip) m.skipped.push(m.nextPn++);
        const inFlight = a.ackEliciting || a.padded;
        const level = a.space === 'application' ? (a.zeroRtt && !confirmed ? 'zeroRtt' : 'oneRtt') : a.space;
        const p = packet(a.space, m.nextPn++, now, { size: a.size, ackEliciting: a.ackEliciting, inFlight, level, isMtuProbe: a.mtuProbe && a.ackEliciting });
        r.onPacketSent(p);
        m.sent.push(p);
        m.status.set(p.packetNumber, 'out');
        break;
      }
      case 'ack': {
        now += a.dt;
        const m = model[a.space];
        if (m.sent.length === 0) break;
        const chosen = a.picks.map((i) => m.sent[i % m.sent.length].packetNumber);
        const ranges = rangesOf(chosen);
        if (a.ce !== undefined) m.ce = Math.max(m.ce, a.ce);
        const ecn = a.ce === undefined ? undefined : { ect0: 0, ect1: 0, ce: m.ce };
        const out = r.onAckReceived(a.space, ecn === undefined ? { ranges, ackDelay: a.delay } : { ranges, ackDelay: a.delay, ecn }, now);
        if (m.discarded) {
          assert.equal([out.acked.length, out.lost.length], [0, 0]);
          break;
        }
        const largest = Math.max(...chosen);
        m.largestAcked = m.largestAcked === undefined ? largest : Math.max(m.largestAcked, largest);
        for (const p of out.acked) assert.ok(chosen.includes(p.packetNumber), `acked ${p.packetNumber} not in the ACK`);
        settle(a.space, out.acked, 'acked');
        settleLost(out.lost);
        for (const pn of chosen) assert.is.not(m.status.get(pn), 'out', `packet ${pn} acknowledged but still outstanding`);
        break;
      }
      case 'badAck': {
        const m = model[a.space];
        if (m.discarded) break;
        const before = { bif: r.bytesInFlight, stats: r.stats(), timeout: r.timeout() };
        const pn = m.skipped.length > 0 && a.pick % 2 === 0 ? m.skipped[a.pick % m.skipped.length] : m.nextPn + (a.pick % 3);
        try {
          r.onAckReceived(a.space, { ranges: [{ smallest: pn, largest: pn }], ackDelay: 0 }, now);
          assert.unreachable(`ACK of never-sent ${a.space}/${pn} accepted`);
        } catch (e) {
          assert.ok(isQuicError(e, TransportErrorCode.PROTOCOL_VIOLATION), String(e));
        }
        assert.equal({ bif: r.bytesInFlight, stats: r.stats(), timeout: r.timeout() }, before);
        break;
      }
      case 'timeout': {
        const t = r.timeout();
        if (t === undefined) break;
        now = Math.max(now, t + a.late);
        const out = r.onTimeout(now);
        settleLost(out.lost);
        if (out.probe !== undefined) assert.equal(out.lost, [], 'a PTO declares nothing lost');
        // A due timer always makes progress: otherwise the connection would spin on its deadline.
        assert.ok(out.lost.length > 0 || out.probe !== undefined, `timer at ${t} fired at ${now} with no effect`);
        break;
      }
      case 'advance':
        now += a.dt;
        break;
      case 'discard': {
        const m = model[a.space];
        const out = r.discardSpace(a.space, now);
        if (!m.discarded) settle(a.space, out, 'discarded');
        else assert.equal(out, []);
        m.discarded = true;
        break;
      }
      case 'rejectZeroRtt': {
        const out = r.discardZeroRtt(now);
        for (const p of out) assert.is(p.level, 'zeroRtt');
        settle('application', out, 'discarded');
        break;
      }
      case 'confirm':
        confirmed = true;
        r.setHandshakeConfirmed(now);
        break;
      case 'keys':
        r.setHandshakeKeysAvailable(now);
        break;
      case 'amplification':
        r.setAmplificationLimited(a.limited && isServer, now);
        break;
      case 'appLimited':
        r.setApplicationLimited(a.limited);
        break;
      case 'mds':
        mds = a.size;
        r.setMaxDatagramSize(a.size);
        break;
    }
    check();
  }
}

function newModel(): SpaceModel {
  return { nextPn: 0, sent: [], status: new Map(), skipped: [], largestAcked: undefined, discarded: false, ce: 0 };
}

test('rejecting 0-RTT re-arms the loss timer from the packets that remain (regression: seed 1830456553)', () => {
  // A 0-RTT packet set the time-threshold loss time; after 0-RTT is rejected and that packet is
  // discarded, the loss detection timer must not fire for it.
  run(false, [
    { kind: 'send', space: 'application', size: 20, ackEliciting: true, padded: false, skip: true, zeroRtt: true, mtuProbe: true, dt: 0 },
    { kind: 'send', space: 'application', size: 20, ackEliciting: true, padded: false, skip: true, zeroRtt: false, mtuProbe: true, dt: 0 },
    { kind: 'ack', space: 'application', picks: [1389419715], delay: 0, ce: undefined, dt: 0 },
    { kind: 'rejectZeroRtt' },
    { kind: 'timeout', late: 0 },
    { kind: 'appLimited', limited: false },
  ]);
});

test('random sends, ACKs (reordered, duplicated), timeouts and discards keep the accounting exact', () => {
  fc.assert(
    fc.property(fc.boolean(), fc.array(action, { minLength: 1, maxLength: 150 }), (isServer, actions) => run(isServer, actions)),
    { numRuns: 600 },
  );
});

test('bulk transfer with random loss and reordering keeps the accounting exact', () => {
  // Mostly application data after confirmation: long runs of sends and ACKs of random subsets.
  const bulk: fc.Arbitrary<Action> = fc.oneof(
    {
      weight: 6,
      arbitrary: fc.record({
        kind: fc.constant('send' as const),
        space: fc.constant<PacketNumberSpace>('application'),
        size: fc.constant(1200),
        ackEliciting: fc.constant(true),
        padded: fc.constant(false),
        skip: weighted(1, 10),
        zeroRtt: fc.constant(false),
        mtuProbe: fc.constant(false),
        dt: fc.double({ min: 0, max: 5, noNaN: true }),
      }),
    },
    {
      weight: 4,
      arbitrary: fc.record({
        kind: fc.constant('ack' as const),
        space: fc.constant<PacketNumberSpace>('application'),
        picks: fc.array(fc.nat(), { minLength: 1, maxLength: 30 }),
        delay: fc.double({ min: 0, max: 30, noNaN: true }),
        ce: fc.constant(undefined),
        dt: fc.double({ min: 0, max: 60, noNaN: true }),
      }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('timeout' as const), late: fc.constant(0) }) },
  );
  fc.assert(
    fc.property(fc.array(bulk, { minLength: 50, maxLength: 400 }), (actions) => run(true, [{ kind: 'confirm' }, ...actions])),
    { numRuns: 150 },
  );
});

test.run();
