// The inspector sees the packet builder's real lifecycle: a live actor of the lifecycle machine
// runs under the connection's actor while an inspector is attached, and receives exactly the
// events the runtime builder accepted; nothing is mirrored otherwise.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createActor, setup, spawnChild, stopChild, type AnyActorRef, type InspectionEvent } from 'xstate';
import {
  PACKET_BUILDER_INSPECT_ATTACH,
  PACKET_BUILDER_INSPECT_DETACH,
  PACKET_BUILDER_SYSTEM_ID,
  packetBuilderMachine,
  type PacketBuilderEvent,
  type PacketBuilderInspectEvent,
} from '../../machines/packet-builder.js';
import { PacketAssembler, type OutboundSources } from '../../src/packet/assembler.js';
import type { FrameSource, PacketWriter } from '../../src/packet/types.js';
import { AckSource, CryptoSource, FakeContext, patternBytes, StreamSource } from '../support/test-sources.js';

/** A stand-in for the connection machine (it arrives in a later issue): it only hosts the mirror. */
const connectionMachine = setup({
  types: { events: {} as PacketBuilderInspectEvent },
  actors: { packetBuilder: packetBuilderMachine },
}).createMachine({
  id: 'connection',
  on: {
    [PACKET_BUILDER_INSPECT_ATTACH]: { actions: spawnChild('packetBuilder', { id: PACKET_BUILDER_SYSTEM_ID, systemId: PACKET_BUILDER_SYSTEM_ID }) },
    [PACKET_BUILDER_INSPECT_DETACH]: { actions: stopChild(PACKET_BUILDER_SYSTEM_ID) },
  },
});

/** An assembler whose lifecycle events (and the state after each) are recorded. */
function recordedAssembler(ctx: FakeContext): { assembler: PacketAssembler; trace: { type: string; state: string }[] } {
  const assembler = new PacketAssembler(ctx);
  const trace: { type: string; state: string }[] = [];
  const lc = assembler.builder.lifecycle;
  const send = lc.send.bind(lc);
  lc.send = (e: PacketBuilderEvent) => {
    send(e);
    trace.push({ type: e.type, state: lc.state });
  };
  return { assembler, trace };
}

function outbound(): OutboundSources {
  const ack = new AckSource().set('initial', [{ smallest: 0, largest: 3 }]);
  const crypto = new CryptoSource().add('initial', patternBytes(200)).add('handshake', patternBytes(1500));
  const stream = new StreamSource().addStream(0, patternBytes(3000));
  return { sources: [ack, crypto, stream], congestionGate: 2 };
}

function mirrorEvents(events: readonly InspectionEvent[], child: AnyActorRef): { type: string; state?: string }[] {
  const out: { type: string; state?: string }[] = [];
  for (const e of events) {
    if (e.actorRef !== child) continue;
    if (e.type === '@xstate.event' && e.event.type !== 'xstate.init') out.push({ type: e.event.type });
    if (e.type === '@xstate.snapshot' && e.event.type !== 'xstate.init' && out.length > 0) {
      out[out.length - 1].state = String((e.snapshot as { value?: unknown }).value);
    }
  }
  return out;
}

test('with an inspector attached, the lifecycle actor under the connection receives every event the builder accepted, in order, and ends in the same state', () => {
  const inspected: InspectionEvent[] = [];
  const connection = createActor(connectionMachine, { inspect: (e) => inspected.push(e) }).start();
  const ctx = new FakeContext();
  const { assembler, trace } = recordedAssembler(ctx);
  const inspection = assembler.attachInspector(connection);
  assert.is(connection.system.get(PACKET_BUILDER_SYSTEM_ID), inspection.actor, 'registered under its systemId');
  assert.ok(connection.getSnapshot().children[PACKET_BUILDER_SYSTEM_ID] === inspection.actor, 'a child of the connection actor');
  const r = assembler.flush(0, outbound());
  assert.ok(r.datagrams >= 3, 'the flush built several datagrams');
  const mirrored = mirrorEvents(inspected, inspection.actor);
  assert.equal(
    mirrored.map((m) => m.type),
    trace.map((t) => t.type),
    'same events, same order',
  );
  assert.equal(
    mirrored.map((m) => m.state),
    trace.map((t) => t.state),
    'same state after every event',
  );
  for (const type of ['Initialize', 'PrepareForControlFrames', 'PrepareForStreamFrames', 'AddFrame', 'AddStreamFrame', 'Finalize', 'Cleanup']) {
    assert.ok(trace.some((t) => t.type === type), `${type} seen`);
  }
  assert.is(inspection.actor.getSnapshot().value, 'uninitialized');
  // The mirror's context is the lifecycle's facts.
  assert.equal(inspection.actor.getSnapshot().context, { ...assembler.builder.lifecycle.facts });
  inspection.detach();
  connection.stop();
});

test('after detach the child is stopped and nothing more is mirrored; without attach nothing is mirrored at all', () => {
  const inspected: InspectionEvent[] = [];
  const connection = createActor(connectionMachine, { inspect: (e) => inspected.push(e) }).start();
  const ctx = new FakeContext();
  const { assembler } = recordedAssembler(ctx);
  assembler.flush(0, outbound());
  assert.is(connection.system.get(PACKET_BUILDER_SYSTEM_ID), undefined, 'no child before attach');
  assert.not.ok(
    inspected.some((e) => e.type === '@xstate.event' && e.actorRef !== connection),
    'no events to any other actor before attach',
  );
  const inspection = assembler.attachInspector(connection);
  assembler.flush(1, outbound());
  const child = inspection.actor;
  const during = mirrorEvents(inspected, child).length;
  assert.ok(during > 0);
  inspection.detach();
  assert.is(child.getSnapshot().status, 'stopped');
  assert.is(connection.system.get(PACKET_BUILDER_SYSTEM_ID), undefined);
  assert.is(assembler.builder.lifecycle.mirrorActor, undefined);
  assembler.flush(2, outbound());
  assert.is(mirrorEvents(inspected, child).length, during, 'no event after detach');
  connection.stop();
});

test('an observer given at attach is subscribed to the connection system and unsubscribed at detach', () => {
  const connection = createActor(connectionMachine).start();
  const seen: InspectionEvent[] = [];
  const ctx = new FakeContext();
  const { assembler, trace } = recordedAssembler(ctx);
  const inspection = assembler.attachInspector(connection, (e) => seen.push(e));
  assembler.flush(0, outbound());
  assert.is(mirrorEvents(seen, inspection.actor).length, trace.length);
  inspection.detach();
  const count = seen.length;
  connection.send({ type: PACKET_BUILDER_INSPECT_ATTACH });
  assert.is(seen.length, count, 'unsubscribed');
  connection.stop();
});

test('attaching in the middle of a flush starts mirroring at the next flush, from the initial state', () => {
  const inspected: InspectionEvent[] = [];
  const connection = createActor(connectionMachine, { inspect: (e) => inspected.push(e) }).start();
  const ctx = new FakeContext();
  const { assembler, trace } = recordedAssembler(ctx);
  let inspection: ReturnType<PacketAssembler['attachInspector']> | undefined;
  const attacher: FrameSource = {
    name: 'attacher',
    hasPending: () => inspection === undefined,
    write(_w: PacketWriter): number {
      inspection = assembler.attachInspector(connection);
      return 0;
    },
  };
  const o = outbound();
  assembler.flush(0, { sources: [attacher, ...o.sources], congestionGate: o.congestionGate + 1 });
  assert.ok(inspection !== undefined);
  assert.is(mirrorEvents(inspected, inspection.actor).length, 0, 'nothing mirrored mid-flush');
  const before = trace.length;
  assembler.flush(1, outbound());
  const mirrored = mirrorEvents(inspected, inspection.actor);
  assert.equal(
    mirrored.map((m) => m.type),
    trace.slice(before).map((t) => t.type),
  );
  assert.is(mirrored[0].type, 'Initialize');
  inspection.detach();
  connection.stop();
});

test('attaching to a connection actor that does not host the mirror is refused with a clear error', () => {
  const bare = createActor(setup({}).createMachine({ id: 'bare' })).start();
  const assembler = new PacketAssembler(new FakeContext());
  assert.throws(() => assembler.attachInspector(bare), /did not spawn 'packetBuilder'/);
  assert.is(assembler.builder.lifecycle.mirrorActor, undefined);
  bare.stop();
});

test.run();
