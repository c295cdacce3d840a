// Model-based tests of the packet builder lifecycle: paths generated from the machine with
// @xstate/graph are replayed on the runtime builder (real keys, fake connection), which must be in
// the machine's state with the machine's context after every event, and must refuse exactly the
// events the machine does not accept, without side effects.
import { createTestModel } from '@xstate/graph';
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { getInitialSnapshot, setup, transition, type SnapshotFrom } from 'xstate';
import {
  PACKET_BUILDER_EVENT_TYPES,
  PACKET_BUILDER_STATES,
  packetBuilderGuards,
  packetBuilderMachine,
  packetBuilderUpdates,
  type PacketBuilderEvent,
  type PacketBuilderFacts,
} from '../../machines/packet-builder.js';
import { PacketBuilder } from '../../src/packet/builder.js';
import { BuilderLifecycle, BuilderLifecycleError, compileLifecycleTable, PACKET_BUILDER_TABLE } from '../../src/packet/lifecycle.js';
import { writeStreamFrame } from '../../src/wire/frames/index.js';
import { FakeContext } from '../support/test-sources.js';

type Snapshot = SnapshotFrom<typeof packetBuilderMachine>;

/** Every event with payloads that make each guard both pass and fail. */
const EVENTS: readonly PacketBuilderEvent[] = [
  { type: 'Initialize', sourceCidAvailable: true, maxFrames: 2 },
  { type: 'Initialize', sourceCidAvailable: false, maxFrames: 2 },
  { type: 'PrepareForControlFrames', level: 'handshake', keyAvailable: true, tailLossProbe: false },
  { type: 'PrepareForControlFrames', level: 'handshake', keyAvailable: false, tailLossProbe: false },
  { type: 'PrepareForStreamFrames', level: 'oneRtt', keyAvailable: true, tailLossProbe: false },
  { type: 'PrepareForStreamFrames', level: 'oneRtt', keyAvailable: false, tailLossProbe: false },
  { type: 'PrepareForPathMtuDiscovery', keyAvailable: true, addressValidated: true, probeSize: 1300 },
  { type: 'PrepareForPathMtuDiscovery', keyAvailable: true, addressValidated: false, probeSize: 1300 },
  { type: 'PrepareForPathMtuDiscovery', keyAvailable: false, addressValidated: true, probeSize: 1300 },
  { type: 'AddFrame', kind: 'ping', ackEliciting: true },
  { type: 'AddStreamFrame', streamId: 0 },
  { type: 'Finalize', flush: false },
  { type: 'Finalize', flush: true },
  { type: 'Cleanup' },
];

const SCID = Uint8Array.from([9, 9, 9, 9]);

/** The runtime builder with a fake connection that arranges each event's facts. */
class Harness {
  readonly ctx = new FakeContext({ role: 'server', levels: ['handshake', 'oneRtt'] });
  readonly builder = new PacketBuilder(this.ctx);
  private now = 0;

  /** Arranges the connection so the builder sees `e`'s facts, then performs the operation. */
  apply(e: PacketBuilderEvent): void {
    const { ctx, builder: b } = this;
    switch (e.type) {
      case 'Initialize':
        ctx.scid = e.sourceCidAvailable ? SCID : undefined;
        ctx.maxFramesPerPacket = e.maxFrames;
        b.initialize(this.now++);
        return;
      case 'PrepareForControlFrames':
        this.keys(e.level === 'oneRtt' ? 'oneRtt' : 'handshake', e.keyAvailable);
        b.prepareForControlFrames(e.level);
        return;
      case 'PrepareForStreamFrames':
        this.keys('oneRtt', e.keyAvailable);
        b.prepareForStreamFrames();
        return;
      case 'PrepareForPathMtuDiscovery':
        this.keys('oneRtt', e.keyAvailable);
        ctx.limits.amplification = e.addressValidated ? Number.POSITIVE_INFINITY : 1_000_000;
        b.prepareForPathMtuDiscovery(e.probeSize);
        return;
      case 'AddFrame':
        if (b.room >= 1) b.buffer[b.offset] = 0x01; // PING
        b.commitFrame(1, { kind: 'ping' }, true);
        return;
      case 'AddStreamFrame': {
        const data = Uint8Array.of(1, 2, 3);
        let length = 5;
        if (b.room >= 8) length = writeStreamFrame(b.buffer, b.offset, e.streamId, 0, data, false, true) - b.offset;
        b.commitFrame(length, { kind: 'stream', streamId: e.streamId, offset: 0, length: 3, fin: false }, true);
        return;
      }
      case 'Finalize':
        b.finalize(e.flush);
        return;
      case 'Cleanup':
        b.cleanup();
        return;
    }
  }

  private keys(level: 'handshake' | 'oneRtt', available: boolean): void {
    if (!available) this.ctx.dropKeys(level);
    else if (this.ctx.keys[level] === undefined) this.ctx.installKeys(level);
  }
}

function facts(s: Snapshot): PacketBuilderFacts {
  return { frameCount: s.context.frameCount, maxFrames: s.context.maxFrames, unsent: s.context.unsent };
}

function assertSame(h: Harness, s: Snapshot, where: string): void {
  assert.is(h.builder.state, s.value, `${where}: state`);
  assert.equal({ ...h.builder.lifecycle.facts }, facts(s), `${where}: facts`);
}

function describe(events: readonly PacketBuilderEvent[]): string {
  return events.map((e) => e.type + (e.type === 'Finalize' ? `(${e.flush})` : '')).join(' → ') || '(start)';
}

const model = createTestModel(packetBuilderMachine, {
  events: EVENTS as PacketBuilderEvent[],
  serializeState: (s) => JSON.stringify({ value: s.value, context: s.context }),
});
const shortestPaths = model.getShortestPaths({ allowDuplicatePaths: true });
const simplePaths = model.getSimplePaths();

function pathEvents(path: { steps: ReadonlyArray<{ event: { type: string } }> }): PacketBuilderEvent[] {
  return path.steps.map((s) => s.event).filter((e): e is PacketBuilderEvent => e.type !== 'xstate.init');
}

/** The compiled transition the machine takes for `e` in `snap` (the first candidate whose guard passes). */
function takenTransition(snap: Snapshot, e: PacketBuilderEvent): string | undefined {
  const si = PACKET_BUILDER_STATES.indexOf(snap.value as (typeof PACKET_BUILDER_STATES)[number]);
  const t = (PACKET_BUILDER_TABLE.transitions[si][e.type] ?? []).find((c) => c.guard === undefined || c.guard({ context: snap.context, event: e }));
  return t === undefined ? undefined : `${t.source} --${t.eventType}[${t.guardName ?? ''}]--> ${t.target}`;
}

test('the generated paths reach every lifecycle state', () => {
  const reached = new Set<string>();
  for (const p of [...shortestPaths, ...simplePaths]) for (const step of p.steps) reached.add(String(step.state.value));
  for (const s of PACKET_BUILDER_STATES) assert.ok(reached.has(s), `state ${s} reached`);
  assert.ok(simplePaths.length > shortestPaths.length, `${simplePaths.length} simple paths, ${shortestPaths.length} shortest`);
});

test('on every shortest and simple path the runtime builder is in the machine state after every event (path.test)', async () => {
  for (const path of [...shortestPaths, ...simplePaths]) {
    const h = new Harness();
    const states = Object.fromEntries(
      PACKET_BUILDER_STATES.map((name) => [name, (s: Snapshot) => assertSame(h, s, path.description)]),
    );
    const events = Object.fromEntries(
      PACKET_BUILDER_EVENT_TYPES.map((type) => [type, ({ event }: { event: PacketBuilderEvent }) => h.apply(event)]),
    );
    await path.test({ states, events });
  }
});

test('after every path prefix the runtime accepts exactly the events the machine accepts, and a refusal changes nothing', () => {
  const prefixes = new Map<string, PacketBuilderEvent[]>();
  for (const path of [...shortestPaths, ...simplePaths]) {
    const evs = pathEvents(path);
    for (let k = 0; k <= evs.length; k++) prefixes.set(JSON.stringify(evs.slice(0, k)), evs.slice(0, k));
  }
  let accepted = 0;
  let refused = 0;
  const taken = new Set<string>();
  for (const prefix of prefixes.values()) {
    let snap = getInitialSnapshot(packetBuilderMachine);
    for (const e of prefix) snap = transition(packetBuilderMachine, snap, e)[0];
    for (const e of EVENTS) {
      const h = new Harness();
      for (const p of prefix) h.apply(p);
      assertSame(h, snap, describe(prefix));
      const where = `${describe(prefix)} then ${JSON.stringify(e)}`;
      if (snap.can(e)) {
        taken.add(takenTransition(snap, e) ?? 'none');
        h.apply(e);
        assertSame(h, transition(packetBuilderMachine, snap, e)[0], where);
        accepted++;
      } else {
        const before = { facts: { ...h.builder.lifecycle.facts }, datagrams: h.ctx.datagrams.length, sent: h.ctx.sent.length };
        try {
          h.apply(e);
          assert.unreachable(`${where}: the runtime accepted an event the machine refuses`);
        } catch (err) {
          assert.instance(err, BuilderLifecycleError, where);
          const le = err as BuilderLifecycleError;
          assert.is(le.state, snap.value, `${where}: error names the state`);
          assert.is(le.eventType, e.type, `${where}: error names the event`);
        }
        assertSame(h, snap, `${where} (after refusal)`);
        assert.equal({ facts: { ...h.builder.lifecycle.facts }, datagrams: h.ctx.datagrams.length, sent: h.ctx.sent.length }, before, `${where}: no side effect`);
        refused++;
      }
    }
  }
  assert.ok(accepted > 100 && refused > 100, `both outcomes exercised (${accepted} accepted, ${refused} refused)`);
  // Every transition of the machine was taken on the runtime at least once.
  for (const t of PACKET_BUILDER_TABLE.all) {
    const key = `${t.source} --${t.eventType}[${t.guardName ?? ''}]--> ${t.target}`;
    assert.ok(taken.has(key), `transition ${key} replayed on the runtime`);
  }
});

test('the compiled table lists every transition of the machine config, in order, with its guard, target and actions', () => {
  const config = packetBuilderMachine.config.states ?? {};
  let count = 0;
  for (const [state, node] of Object.entries(config)) {
    const on = (node as { on?: Record<string, unknown> }).on ?? {};
    const si = PACKET_BUILDER_STATES.indexOf(state as (typeof PACKET_BUILDER_STATES)[number]);
    assert.ok(si >= 0, `state ${state} known`);
    for (const [eventType, raw] of Object.entries(on)) {
      const list = (Array.isArray(raw) ? raw : [raw]) as Array<{ guard?: string; target?: string; actions?: string | string[] }>;
      const compiled = PACKET_BUILDER_TABLE.transitions[si][eventType as (typeof PACKET_BUILDER_EVENT_TYPES)[number]] ?? [];
      assert.is(compiled.length, list.length, `${state} ${eventType}: candidate count`);
      list.forEach((cfg, i) => {
        const c = compiled[i];
        assert.is(c.guardName, cfg.guard, `${state} ${eventType} #${i}: guard`);
        assert.is(c.target, cfg.target ?? state, `${state} ${eventType} #${i}: target`);
        const actions = cfg.actions === undefined ? [] : Array.isArray(cfg.actions) ? cfg.actions : [cfg.actions];
        assert.equal([...c.updateNames], actions, `${state} ${eventType} #${i}: actions`);
        assert.is(c.guard, cfg.guard === undefined ? undefined : packetBuilderGuards[cfg.guard as keyof typeof packetBuilderGuards], 'the machine guard function itself');
        c.updateNames.forEach((n, j) => assert.is(c.updates[j], packetBuilderUpdates[n], 'the machine update function itself'));
        count++;
      });
    }
  }
  assert.is(PACKET_BUILDER_TABLE.all.length, count, 'no transition in the table that the config lacks');
});

test('compiling a machine with an inline guard or an action the table does not know is refused', () => {
  const inlineGuard = setup({ types: { events: {} as PacketBuilderEvent } }).createMachine({
    initial: 'uninitialized',
    states: { uninitialized: { on: { Initialize: { guard: () => true, target: 'initialized' } } }, initialized: {} },
  });
  assert.throws(() => compileLifecycleTable(inlineGuard), /inline guard/);
  const unknownAction = setup({ types: { events: {} as PacketBuilderEvent }, actions: { launch: () => undefined } }).createMachine({
    initial: 'uninitialized',
    states: { uninitialized: { on: { Initialize: { target: 'initialized', actions: 'launch' } } }, initialized: {} },
  });
  assert.throws(() => compileLifecycleTable(unknownAction), /unknown action launch/);
  const unknownState = setup({ types: { events: {} as PacketBuilderEvent } }).createMachine({
    initial: 'uninitialized',
    states: { uninitialized: { on: { Initialize: 'flying' } }, flying: {} },
  });
  assert.throws(() => compileLifecycleTable(unknownState), /unknown state flying/);
});

test('random event sequences: the table lifecycle and the machine agree on acceptance, state and context', () => {
  fc.assert(
    fc.property(fc.array(fc.constantFrom(...EVENTS), { maxLength: 40 }), (events) => {
      const lc = new BuilderLifecycle();
      let snap = getInitialSnapshot(packetBuilderMachine);
      for (const e of events) {
        const can = snap.can(e);
        assert.is(lc.can(e), can);
        if (can) {
          lc.send(e);
          snap = transition(packetBuilderMachine, snap, e)[0];
        } else {
          assert.throws(() => lc.send(e), (err: unknown) => err instanceof BuilderLifecycleError);
        }
        assert.is(lc.state, snap.value);
        assert.equal({ ...lc.facts }, facts(snap));
      }
    }),
    { numRuns: 2000 },
  );
});

test('refusals name the state, the event and the failed guard', () => {
  const h = new Harness();
  const err = (f: () => void): BuilderLifecycleError => {
    try {
      f();
    } catch (e) {
      if (e instanceof BuilderLifecycleError) return e;
      throw e;
    }
    throw new Error('not refused');
  };
  // contract §C.1: no Prepare before Initialize.
  let e = err(() => h.builder.prepareForStreamFrames());
  assert.is(e.state, 'uninitialized');
  assert.is(e.eventType, 'PrepareForStreamFrames');
  assert.equal(e.failedGuards, []);
  assert.match(e.message, /PrepareForStreamFrames not accepted in state uninitialized/);
  h.apply({ type: 'Initialize', sourceCidAvailable: true, maxFrames: 1 });
  h.apply({ type: 'PrepareForControlFrames', level: 'handshake', keyAvailable: true, tailLossProbe: false });
  h.apply({ type: 'AddFrame', kind: 'ping', ackEliciting: true });
  // contract §A.8: not beyond QUIC_MAX_FRAMES_PER_PACKET.
  assert.ok(h.builder.full);
  e = err(() => h.apply({ type: 'AddFrame', kind: 'ping', ackEliciting: true }));
  assert.is(e.state, 'building');
  assert.equal(e.failedGuards, ['belowFrameCap']);
  h.apply({ type: 'Finalize', flush: false });
  // contract §C.2: no Cleanup while a datagram is unsent.
  e = err(() => h.builder.cleanup());
  assert.is(e.state, 'finalized');
  assert.is(e.eventType, 'Cleanup');
  // A Prepare without keys is refused by its guard.
  e = err(() => h.apply({ type: 'PrepareForStreamFrames', level: 'oneRtt', keyAvailable: false, tailLossProbe: false }));
  assert.equal(e.failedGuards, ['keyAvailable']);
  h.apply({ type: 'Finalize', flush: true });
  h.apply({ type: 'Cleanup' });
  assert.is(h.builder.state, 'uninitialized');
});

test.run();
