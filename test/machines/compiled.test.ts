// The generic machine compiler (machines/compiled.ts): any flat machine built with setup({ guards })
// becomes a state × event table whose runtime agrees with the machine — guards, context updates and
// refusals included — and whose mirrors (live actors, only while inspected) see exactly the accepted
// events. The packet builder's machine, with guards and context, is the demanding case.
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { assign, createActor, getInitialSnapshot, setup, transition, type AnyActorRef, type EventObject, type InspectionEvent } from 'xstate';
import { compileMachine, MachineRefusalError, MachineRuntime, MirrorHost, type MirrorSink } from '../../machines/compiled.js';
import {
  initialPacketBuilderFacts,
  packetBuilderGuards,
  packetBuilderMachine,
  packetBuilderUpdates,
  type PacketBuilderEvent,
} from '../../machines/packet-builder.js';
import { sendStreamMachine } from '../../machines/send-stream.js';
import { PACKET_BUILDER_TABLE } from '../../src/packet/lifecycle.js';

const BUILDER = compileMachine(packetBuilderMachine, { updates: packetBuilderUpdates, initialContext: initialPacketBuilderFacts });

const BUILDER_EVENTS: readonly PacketBuilderEvent[] = [
  { type: 'Initialize', sourceCidAvailable: true, maxFrames: 2 },
  { type: 'Initialize', sourceCidAvailable: false, maxFrames: 2 },
  { type: 'PrepareForControlFrames', level: 'handshake', keyAvailable: true, tailLossProbe: false },
  { type: 'PrepareForControlFrames', level: 'handshake', keyAvailable: false, tailLossProbe: false },
  { type: 'PrepareForStreamFrames', level: 'oneRtt', keyAvailable: true, tailLossProbe: false },
  { type: 'PrepareForPathMtuDiscovery', keyAvailable: true, addressValidated: false, probeSize: 1300 },
  { type: 'PrepareForPathMtuDiscovery', keyAvailable: true, addressValidated: true, probeSize: 1300 },
  { type: 'AddFrame', kind: 'ping', ackEliciting: true },
  { type: 'AddStreamFrame', streamId: 0 },
  { type: 'Finalize', flush: false },
  { type: 'Finalize', flush: true },
  { type: 'Cleanup' },
];

/** A sink recording the events it receives and the runtime's state at that moment. */
function recorder<S extends string>(rt: () => { state: S }): MirrorSink & { log: string[] } {
  const log: string[] = [];
  return { log, send: (e: EventObject) => void log.push(`${e.type}→${rt().state}`) };
}

test('the packet builder machine compiles to the same table the builder uses: same candidates, order, guards, targets and updates', () => {
  const describe = (t: { source: string; eventType: string; guardName: string | undefined; target: string; updateNames: readonly string[] }) =>
    `${t.source} --${t.eventType}[${t.guardName ?? ''}]--> ${t.target} {${t.updateNames.join(',')}}`;
  assert.equal(BUILDER.all.map(describe), PACKET_BUILDER_TABLE.all.map(describe));
  for (const t of BUILDER.all) {
    if (t.guardName !== undefined) assert.is(t.guard, packetBuilderGuards[t.guardName as keyof typeof packetBuilderGuards], 'the machine guard itself, read from setup()');
  }
  assert.is(BUILDER.states[BUILDER.initialIndex], 'uninitialized');
});

test('random event sequences on the packet builder: the generic runtime and the machine agree on acceptance, state and context', () => {
  fc.assert(
    fc.property(fc.array(fc.constantFrom(...BUILDER_EVENTS), { maxLength: 40 }), (events) => {
      const rt = new MachineRuntime(BUILDER);
      let snap = getInitialSnapshot(packetBuilderMachine);
      for (const e of events) {
        const can = snap.can(e);
        assert.is(rt.can(e), can);
        if (can) {
          rt.send(e);
          snap = transition(packetBuilderMachine, snap, e)[0];
        } else {
          const before = { ...rt.context };
          assert.throws(() => rt.send(e), (err: unknown) => err instanceof MachineRefusalError);
          assert.equal({ ...rt.context }, before, 'a refusal leaves the context alone');
        }
        assert.is(rt.state, snap.value);
        assert.equal({ ...rt.context }, { ...snap.context });
      }
    }),
    { numRuns: 1500 },
  );
});

test('a refusal names the machine, the state, the event and every guard that failed', () => {
  const rt = new MachineRuntime(BUILDER);
  assert.throws(() => rt.send({ type: 'Cleanup' }), (e: unknown) => e instanceof MachineRefusalError);
  rt.send({ type: 'Initialize', sourceCidAvailable: true, maxFrames: 1 });
  rt.send({ type: 'PrepareForStreamFrames', level: 'oneRtt', keyAvailable: true, tailLossProbe: false });
  rt.send({ type: 'AddFrame', kind: 'ping', ackEliciting: true });
  try {
    rt.send({ type: 'AddFrame', kind: 'ping', ackEliciting: true });
    assert.unreachable('beyond the frame cap');
  } catch (e) {
    assert.instance(e, MachineRefusalError);
    const r = e as MachineRefusalError;
    assert.equal([r.machineId, r.state, r.eventType, r.failedGuards], ['packetBuilder', 'building', 'AddFrame', ['belowFrameCap']]);
    assert.match(r.message, /packetBuilder: AddFrame refused in state building: guard belowFrameCap failed/);
  }
  const fresh = new MachineRuntime(BUILDER);
  try {
    fresh.send({ type: 'Finalize', flush: true });
    assert.unreachable();
  } catch (e) {
    assert.equal((e as MachineRefusalError).failedGuards, []);
    assert.match((e as Error).message, /Finalize not accepted in state uninitialized/);
  }
});

test('constructs the table could not reproduce exactly are refused at compile time', () => {
  type Ev = { type: 'go' } | { type: 'back' };
  const s = setup({ types: { events: {} as Ev }, guards: { ok: () => true }, actions: { act: () => undefined } });
  const cases: [string, () => unknown, RegExp][] = [
    ['nested', () => s.createMachine({ initial: 'a', states: { a: { initial: 'x', states: { x: {} } } } }), /is nested/],
    ['eventless', () => s.createMachine({ initial: 'a', states: { a: { always: 'b' }, b: {} } }), /eventless/],
    ['delayed', () => s.createMachine({ initial: 'a', states: { a: { after: { 10: 'b' } }, b: {} } }), /delayed/],
    ['entry action', () => s.createMachine({ initial: 'a', states: { a: { entry: 'act' } } }), /entry or exit/],
    ['invoke', () => setup({ actors: { child: sendStreamMachine } }).createMachine({ initial: 'a', states: { a: { invoke: { src: 'child' } } } }), /invokes/],
    ['inline guard', () => s.createMachine({ initial: 'a', states: { a: { on: { go: { guard: () => true, target: 'b' } } }, b: {} } }), /inline guard/],
    ['action without update', () => s.createMachine({ initial: 'a', states: { a: { on: { go: { target: 'b', actions: 'act' } } }, b: {} } }), /unknown action act/],
    ['wildcard', () => s.createMachine({ initial: 'a', states: { a: { on: { '*': 'b' } }, b: {} } }), /wildcard/],
    ['parallel', () => s.createMachine({ type: 'parallel', states: { a: {}, b: {} } }), /parallel/],
  ];
  for (const [what, make, message] of cases) assert.throws(() => compileMachine(make() as never), message, what);
  // A guard given by name replaces the machine's; an unknown name is refused.
  const guarded = s.createMachine({ initial: 'a', states: { a: { on: { go: { guard: 'ok', target: 'b' } } }, b: {} } });
  const never = compileMachine(guarded, { guards: { ok: () => false } });
  assert.not.ok(new MachineRuntime(never).can({ type: 'go' }));
  assert.throws(() => compileMachine(guarded, { guards: {} }), /unknown guard ok/);
});

test('a machine whose context is updated by named updates: the runtime mutates its own copy as the machine assigns', () => {
  type Ev = { type: 'inc'; by: number } | { type: 'done' };
  const bump = (c: { n: number }, e: Ev) => {
    if (e.type === 'inc') c.n += e.by;
  };
  const m = setup({ types: { context: {} as { n: number }, events: {} as Ev }, guards: { small: ({ context }) => context.n < 3 }, actions: { bump: assign(({ context, event }) => { const c = { ...context }; bump(c, event); return c; }) } }).createMachine({
    context: { n: 0 },
    initial: 'counting',
    states: { counting: { on: { inc: { guard: 'small', actions: 'bump' }, done: 'over' } }, over: { type: 'final' } },
  });
  const table = compileMachine(m, { updates: { bump } });
  const a = new MachineRuntime(table);
  const b = new MachineRuntime(table);
  a.send({ type: 'inc', by: 2 });
  a.send({ type: 'inc', by: 2 });
  assert.throws(() => a.send({ type: 'inc', by: 1 }), /guard small failed/);
  assert.equal([a.context.n, b.context.n], [4, 0], 'each runtime has its own context (a clone of the config context)');
  a.send({ type: 'done' });
  assert.ok(a.done);
});

test('pathFromInitial: the shortest unguarded path to a state, undefined where only guarded or updating transitions lead', () => {
  const t = compileMachine(sendStreamMachine);
  const path = (s: (typeof t.states)[number]) => t.pathFromInitial(t.indexOf(s))?.map((x) => x.eventType);
  assert.equal(path('ready'), []);
  assert.equal(path('dataRecvd'), ['SendStream', 'SendFin', 'RecvAllAcks']);
  assert.equal(path('resetRecvd'), ['SendResetStream', 'RecvResetAck']);
  assert.is(BUILDER.pathFromInitial(BUILDER.indexOf('building')), undefined, 'the builder only moves through guarded or updating transitions');
});

test('a mirror gets exactly the accepted events, after the runtime entered their target; detach stops it', () => {
  const t = compileMachine(sendStreamMachine);
  const rt = new MachineRuntime(t);
  const sink = recorder(() => rt);
  rt.attachMirror(sink);
  rt.send({ type: 'SendStream' });
  assert.throws(() => rt.send({ type: 'RecvAllAcks' }));
  rt.send({ type: 'SendFin' });
  rt.detachMirror();
  rt.send({ type: 'RecvAllAcks' });
  assert.equal(sink.log, ['SendStream→send', 'SendFin→dataSent']);
  assert.is(rt.mirrorSink, undefined);
});

test("attaching mid-way: 'replay' sends the path to the current state first; 'wait' starts when the runtime is back in its initial state", () => {
  const t = compileMachine(sendStreamMachine);
  const rt = new MachineRuntime(t);
  rt.send({ type: 'SendStream' });
  const replayed: string[] = [];
  rt.attachMirror({ send: (e) => void replayed.push(e.type) }, 'replay');
  rt.send({ type: 'SendResetStream' });
  assert.equal(replayed, ['SendStream', 'SendResetStream']);

  const b = new MachineRuntime(BUILDER);
  b.send({ type: 'Initialize', sourceCidAvailable: true, maxFrames: 4 });
  const waited = recorder(() => b);
  b.attachMirror(waited, 'wait');
  b.send({ type: 'Cleanup' }); // back to the initial state: mirroring begins after this event
  b.send({ type: 'Initialize', sourceCidAvailable: true, maxFrames: 4 });
  assert.equal(waited.log, ['Initialize→initialized']);
  // 'replay' without a replayable path waits too.
  const c = new MachineRuntime(BUILDER);
  c.send({ type: 'Initialize', sourceCidAvailable: true, maxFrames: 4 });
  const fallback = recorder(() => c);
  c.attachMirror(fallback, 'replay');
  c.send({ type: 'PrepareForStreamFrames', level: 'oneRtt', keyAvailable: true, tailLossProbe: false });
  assert.equal(fallback.log, []);
});

test('a mirror host under a parent lives in the parent’s system: its children appear under it, finish with their runtime and are released', () => {
  const inspected: InspectionEvent[] = [];
  const connection = createActor(setup({}).createMachine({ id: 'connection' }), { inspect: (e) => inspected.push(e) }).start();
  const host = new MirrorHost({ id: 'mirrors', actors: { send: sendStreamMachine }, parent: connection });
  assert.is(connection.system.get('mirrors'), host.actor, 'registered in the connection’s system');
  assert.is((host.actor as AnyActorRef & { _parent?: AnyActorRef })._parent, connection, 'its parent is the connection');
  const rt = new MachineRuntime(compileMachine(sendStreamMachine));
  const child = host.spawn('send', 'stream.0.send');
  assert.is(connection.system.get('stream.0.send'), child);
  rt.attachMirror(child);
  rt.send({ type: 'SendResetStream' });
  assert.is(child.getSnapshot().value, 'resetSent');
  const created = inspected.filter((e) => e.type === '@xstate.actor' && e.actorRef === child);
  assert.is(created.length, 1, 'the connection’s inspector saw the mirror created');
  rt.send({ type: 'RecvResetAck' });
  assert.is(child.getSnapshot().status, 'done');
  assert.equal(Object.keys(host.children()), [], 'a finished mirror is released by the host');
  assert.is(connection.system.get('stream.0.send'), undefined);
  const other = host.spawn('send', 'stream.4.send');
  host.close();
  assert.is(other.getSnapshot().status, 'stopped', 'close stops the running mirrors');
  assert.is(connection.system.get('mirrors'), undefined, 'and unregisters the host');
  assert.throws(() => host.spawn('send', 'x'), /closed/);
  // The same id can be hosted again after close; a second live host with that id is refused.
  const again = new MirrorHost({ id: 'mirrors', actors: { send: sendStreamMachine }, parent: connection });
  assert.throws(() => new MirrorHost({ id: 'mirrors', actors: { send: sendStreamMachine }, parent: connection }), /already has an actor with systemId 'mirrors'/);
  again.close();
  connection.stop();
});

test('a root mirror host reports to its observer; with a parent, an observer is subscribed to the parent’s system until close', () => {
  const seen: InspectionEvent[] = [];
  const root = new MirrorHost({ id: 'mirrors', actors: { send: sendStreamMachine }, observer: (e) => seen.push(e) });
  const child = root.spawn('send', 'a');
  child.send({ type: 'SendStream' });
  assert.ok(seen.some((e) => e.type === '@xstate.event' && e.actorRef === child && e.event.type === 'SendStream'));
  root.close();
  const connection = createActor(setup({}).createMachine({ id: 'connection' })).start();
  const late: InspectionEvent[] = [];
  const hosted = new MirrorHost({ id: 'mirrors', actors: { send: sendStreamMachine }, parent: connection, observer: (e) => late.push(e) });
  hosted.spawn('send', 'b').send({ type: 'SendStream' });
  const count = late.length;
  assert.ok(count > 0);
  hosted.close();
  const afterClose = late.length;
  connection.send({ type: 'anything' });
  assert.is(late.length, afterClose, 'unsubscribed at close');
  connection.stop();
});

test('a refusal factory names the component: the runtime throws its subclass of MachineRefusalError', () => {
  class SendPartError extends MachineRefusalError {}
  const t = compileMachine(sendStreamMachine, { refusal: (id, state, type, failed) => new SendPartError(id, state, type, failed, 'send part') });
  const rt = new MachineRuntime(t);
  try {
    rt.send({ type: 'RecvAllAcks' });
    assert.unreachable();
  } catch (e) {
    assert.instance(e, SendPartError);
    assert.match((e as Error).message, /^send part: RecvAllAcks not accepted in state ready$/);
  }
  assert.not.ok(rt.can({ type: 'toString' } as never), 'an Object.prototype key is no event');
  assert.throws(() => rt.send({ type: 'constructor' } as never), (e: unknown) => e instanceof SendPartError);
});

test('the mirror gets a copy of each event: the caller may reuse its event object', () => {
  const rt = new MachineRuntime(BUILDER);
  const got: EventObject[] = [];
  rt.attachMirror({ send: (e) => void got.push(e) });
  const scratch = { type: 'Initialize', sourceCidAvailable: true, maxFrames: 3 } as PacketBuilderEvent & { maxFrames: number };
  rt.send(scratch);
  scratch.maxFrames = 99;
  assert.equal(got, [{ type: 'Initialize', sourceCidAvailable: true, maxFrames: 3 }]);
  assert.is.not(got[0], scratch);
});

test.run();
