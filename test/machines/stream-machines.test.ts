// The RFC 9000 §3 stream machines and their compiled tables: the machines draw exactly the arrows
// of Figures 2 and 3; @xstate/graph paths (shortest and simple) replayed on the compiled runtime
// leave it in the machine's state after every event, and after every path prefix the runtime
// accepts exactly the events the machine accepts — a refusal is a typed error that changes nothing.
import { createTestModel } from '@xstate/graph';
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { getInitialSnapshot, transition, type AnyStateMachine, type EventObject } from 'xstate';
import { MachineRefusalError, MachineRuntime, type CompiledMachine } from '../../machines/compiled.js';
import { RECV_STREAM_EVENT_TYPES, RECV_STREAM_STATES, recvStreamMachine } from '../../machines/recv-stream.js';
import { SEND_STREAM_EVENT_TYPES, SEND_STREAM_STATES, sendStreamMachine } from '../../machines/send-stream.js';
import { RECV_STREAM_TABLE, SEND_STREAM_TABLE } from '../../src/transport/stream.js';

interface Case {
  readonly name: string;
  readonly machine: AnyStateMachine;
  readonly table: CompiledMachine<string, EventObject, unknown>;
  readonly states: readonly string[];
  readonly eventTypes: readonly string[];
  /** The figure's arrows: `source --Event--> target`. */
  readonly figure: readonly string[];
  readonly finals: readonly string[];
}

const CASES: readonly Case[] = [
  {
    name: 'send (RFC 9000 Figure 2)',
    machine: sendStreamMachine,
    table: SEND_STREAM_TABLE as unknown as CompiledMachine<string, EventObject, unknown>,
    states: SEND_STREAM_STATES,
    eventTypes: SEND_STREAM_EVENT_TYPES,
    figure: [
      'ready --SendStream--> send',
      'ready --SendStreamDataBlocked--> send',
      'ready --SendResetStream--> resetSent',
      'send --SendFin--> dataSent',
      'send --SendResetStream--> resetSent',
      'dataSent --RecvAllAcks--> dataRecvd',
      'dataSent --SendResetStream--> resetSent',
      'resetSent --RecvResetAck--> resetRecvd',
    ],
    finals: ['dataRecvd', 'resetRecvd'],
  },
  {
    name: 'receive (RFC 9000 Figure 3)',
    machine: recvStreamMachine,
    table: RECV_STREAM_TABLE as unknown as CompiledMachine<string, EventObject, unknown>,
    states: RECV_STREAM_STATES,
    eventTypes: RECV_STREAM_EVENT_TYPES,
    figure: [
      'recv --RecvFin--> sizeKnown',
      'recv --RecvResetStream--> resetRecvd',
      'sizeKnown --RecvAllData--> dataRecvd',
      'sizeKnown --RecvResetStream--> resetRecvd',
      'dataRecvd --AppReadAllData--> dataRead',
      // The optional arrow Data Recvd → Reset Recvd is taken; Reset Recvd → Data Recvd is not.
      'dataRecvd --RecvResetStream--> resetRecvd',
      'resetRecvd --AppReadReset--> resetRead',
    ],
    finals: ['dataRead', 'resetRead'],
  },
];

function pathsOf(c: Case) {
  const model = createTestModel(c.machine, { events: c.eventTypes.map((type) => ({ type })) });
  return [...model.getShortestPaths({ allowDuplicatePaths: true }), ...model.getSimplePaths()];
}

function eventsOf(path: { steps: ReadonlyArray<{ event: EventObject }> }): EventObject[] {
  return path.steps.map((s) => s.event).filter((e) => e.type !== 'xstate.init');
}

for (const c of CASES) {
  test(`${c.name}: the machine has exactly the figure's states, arrows and terminal states`, () => {
    assert.equal(Object.keys(c.machine.root.states), [...c.states]);
    assert.equal(c.table.all.map((t) => `${t.source} --${t.eventType}--> ${t.target}`).sort(), [...c.figure].sort());
    assert.ok(c.table.all.every((t) => t.guard === undefined && t.updates.length === 0), 'no guards, no context: the state is all a part keeps');
    assert.equal(c.states.filter((_, i) => c.table.isFinal(i)), [...c.finals]);
    assert.equal([...c.table.eventTypes].sort(), [...c.eventTypes].sort(), 'every event is used by some arrow');
  });

  test(`${c.name}: on every shortest and simple path the compiled runtime is in the machine's state after every event (path.test)`, async () => {
    const paths = pathsOf(c);
    const reached = new Set<string>();
    for (const path of paths) {
      const rt = new MachineRuntime(c.table);
      const states = Object.fromEntries(
        c.states.map((name) => [
          name,
          (snap: { value: unknown }) => {
            assert.is(rt.state, snap.value, `${path.description}: state`);
            reached.add(rt.state);
          },
        ]),
      );
      const events = Object.fromEntries(c.eventTypes.map((type) => [type, ({ event }: { event: EventObject }) => void rt.send(event)]));
      await path.test({ states, events });
    }
    assert.equal([...reached].sort(), [...c.states].sort(), 'every state reached');
  });

  test(`${c.name}: after every path prefix the runtime accepts exactly what the machine accepts; a refusal is typed and changes nothing`, () => {
    const prefixes = new Map<string, EventObject[]>();
    for (const path of pathsOf(c)) {
      const evs = eventsOf(path);
      for (let k = 0; k <= evs.length; k++) prefixes.set(evs.slice(0, k).map((e) => e.type).join(','), evs.slice(0, k));
    }
    let accepted = 0;
    let refused = 0;
    for (const prefix of prefixes.values()) {
      let snap = getInitialSnapshot(c.machine);
      for (const e of prefix) snap = transition(c.machine, snap, e)[0];
      for (const type of c.eventTypes) {
        const e = { type };
        const rt = new MachineRuntime(c.table);
        for (const p of prefix) rt.send(p);
        assert.is(rt.can(e), snap.can(e), `${prefix.map((p) => p.type).join(' → ')} then ${type}: can`);
        if (snap.can(e)) {
          rt.send(e);
          assert.is(rt.state, transition(c.machine, snap, e)[0].value);
          accepted++;
        } else {
          const before = rt.state;
          try {
            rt.send(e);
            assert.unreachable('accepted an event the machine refuses');
          } catch (err) {
            assert.instance(err, MachineRefusalError);
            const r = err as MachineRefusalError;
            assert.is(r.machineId, c.machine.id);
            assert.is(r.state, snap.value);
            assert.is(r.eventType, type);
            assert.equal(r.failedGuards, []);
          }
          assert.is(rt.state, before, 'unchanged after the refusal');
          refused++;
        }
      }
    }
    assert.ok(accepted >= c.figure.length && refused > accepted, `${accepted} accepted, ${refused} refused`);
  });

  test(`${c.name}: random event sequences — runtime and machine agree on acceptance and state`, () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...c.eventTypes), { maxLength: 12 }), (types) => {
        const rt = new MachineRuntime(c.table);
        let snap = getInitialSnapshot(c.machine);
        for (const type of types) {
          const e = { type };
          const can = snap.can(e);
          assert.is(rt.can(e), can);
          if (can) {
            rt.send(e);
            snap = transition(c.machine, snap, e)[0];
          } else assert.throws(() => rt.send(e), (err: unknown) => err instanceof MachineRefusalError);
          assert.is(rt.state, snap.value);
          assert.is(rt.done, snap.status === 'done');
        }
      }),
      { numRuns: 500 },
    );
  });
}

test.run();
