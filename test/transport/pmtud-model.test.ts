// Model-based test of PMTU discovery: every shortest and simple path of the RFC 8899 §5.2 machine
// (machines/pmtud.ts, @xstate/graph) is taken by a real PathMtuDiscovery — each machine event
// produced by real inputs (probes acknowledged or timing out, packets lost, PTOs, timers) on a
// path whose MTU is 1300 — and the discovery must take exactly the path's events, in the machine's
// state after each one.
import { createTestModel } from '@xstate/graph';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { getInitialSnapshot, transition, type EventObject } from 'xstate';
import { PMTUD_EVENT_TYPES, pmtudMachine, type PmtudEvent } from '../../machines/pmtud.js';
import { PathMtuDiscovery, PMTUD_BLACK_HOLE_PTOS } from '../../src/transport/pmtud.js';

const PATH_MTU = 1300;
const UPPER = 1452;
const PTO = 100;

/** Real inputs to a discovery, one method per machine event; records the events its runtime accepted. */
class Scenario {
  readonly d = new PathMtuDiscovery({ base: 1200 });
  readonly taken: string[] = [];
  private now = 0;
  private pn = 0;
  private pto = 0;

  constructor() {
    this.d.machine.attachMirror({ send: (e) => this.taken.push(e.type) });
  }

  apply(type: string): void {
    const d = this.d;
    switch (type) {
      case 'Start':
        d.start(UPPER, this.now);
        return;
      case 'SearchComplete':
        // Probes on the path until the search ends.
        for (let i = 0; i < 100 && d.state === 'searching'; i++) this.probeOnce();
        return;
      case 'Raise':
        this.now = d.nextTimeout() as number;
        d.onTimeout(this.now);
        return;
      case 'BlackHole': {
        // Grow above the base first (a search that has found a larger size), then large packets go unacknowledged for PTOs.
        for (let i = 0; i < 100 && d.plpmtu <= d.base; i++) this.probeOnce();
        d.onPacketSent(this.pn++, d.plpmtu);
        for (let k = 1; k <= PMTUD_BLACK_HOLE_PTOS; k++) d.onPtoExpired(++this.pto, (this.now += PTO * 2 ** k));
        return;
      }
      case 'BaseConfirmed':
        this.pto = 0;
        d.onPacketAcked(this.pn++, 1200, this.now, (this.now += 20));
        return;
      case 'BaseFailed':
        for (let k = 1; k <= PMTUD_BLACK_HOLE_PTOS; k++) d.onPtoExpired(++this.pto, (this.now += PTO * 2 ** k));
        return;
      case 'Stop':
        d.stop();
        return;
      default:
        throw new Error(`no action for ${type}`);
    }
  }

  /** One probe on a path carrying PATH_MTU: acknowledged, or timing out. */
  private probeOnce(): void {
    const d = this.d;
    const size = d.probeSize();
    if (size === undefined) return;
    const pn = this.pn++;
    d.onProbeSent(pn, size, this.now, PTO);
    if (size <= PATH_MTU) {
      this.pto = 0;
      d.onProbeAcked(pn, size, this.now, (this.now += 20));
    } else {
      this.now = d.nextTimeout() as number;
      d.onTimeout(this.now);
    }
  }
}

function paths(): PmtudEvent[][] {
  const model = createTestModel(pmtudMachine, { events: PMTUD_EVENT_TYPES.map((type) => ({ type })) });
  return [...model.getShortestPaths({ allowDuplicatePaths: true }), ...model.getSimplePaths()].map((p) =>
    p.steps.map((s) => s.event as EventObject).filter((e): e is PmtudEvent => e.type !== 'xstate.init'),
  );
}

test('every shortest and simple path of the RFC 8899 §5.2 machine is taken by a real discovery, event by event', () => {
  const all = paths();
  const covered = new Set<string>();
  for (const events of all) {
    const where = events.map((e) => e.type).join(' → ');
    const s = new Scenario();
    let snap = getInitialSnapshot(pmtudMachine);
    assert.is(s.d.state, snap.value, `${where}: initial state`);
    for (let k = 0; k < events.length; k++) {
      const e = events[k];
      s.apply(e.type);
      snap = transition(pmtudMachine, snap, e)[0];
      // A search on a 1300-byte path always has a range to search: Start never completes at once.
      assert.equal(s.taken, events.slice(0, k + 1).map((x) => x.type), `${where}: step ${k} (${e.type}) and nothing else`);
      assert.is(s.d.state, snap.value, `${where}: state after ${e.type}`);
      covered.add(e.type);
    }
  }
  assert.equal([...covered].sort(), [...PMTUD_EVENT_TYPES].sort(), 'every event produced by real inputs');
  assert.ok(all.length >= 10, `${all.length} paths`);
});

test('an upper bound at or below the base: Start then SearchComplete in the same call', () => {
  const d = new PathMtuDiscovery({ base: 1452 });
  const taken: string[] = [];
  d.machine.attachMirror({ send: (e) => taken.push(e.type) });
  d.start(1400, 0);
  assert.equal(taken, ['Start', 'SearchComplete']);
  assert.is(d.state, 'searchComplete');
});

test.run();
