// The inspector sees every stream's RFC 9000 §3 machines live: while attached, each stream part has
// a mirror actor (under a host that is a child of the connection's actor when one is given) that
// takes exactly the runtime's transitions; finished parts' mirrors go away; without an inspector no
// actor exists per stream.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createActor, setup, type AnyActorRef, type InspectionEvent } from 'xstate';
import { MirrorHost } from '../../machines/compiled.js';
import { notifyAcked } from '../../src/packet/dispatch.js';
import { STREAMS_SYSTEM_ID } from '../../src/transport/streams.js';
import { StreamPair } from '../support/stream-pair.js';

const connectionMachine = setup({}).createMachine({ id: 'connection' });

function parentOf(ref: AnyActorRef): AnyActorRef | undefined {
  return (ref as AnyActorRef & { _parent?: AnyActorRef })._parent;
}

test('with the connection’s actor given, each stream part is mirrored by a child of the streams host under the connection, in the runtime’s state', () => {
  const inspected: InspectionEvent[] = [];
  const connection = createActor(connectionMachine, { inspect: (e) => inspected.push(e) }).start();
  const pair = new StreamPair({ clientExtra: { inspect: { parent: connection } } });
  const c = pair.client.sm;
  const host = connection.system.get(STREAMS_SYSTEM_ID) as AnyActorRef;
  assert.ok(host !== undefined && parentOf(host) === connection, 'the host is the connection’s child');
  const bidi = c.open(true, 0) as number;
  const uni = c.open(false, 0) as number;
  const send = connection.system.get(`stream.${bidi}.send`) as AnyActorRef;
  const recv = connection.system.get(`stream.${bidi}.recv`) as AnyActorRef;
  assert.ok(send !== undefined && recv !== undefined && parentOf(send) === host && parentOf(recv) === host);
  assert.is(connection.system.get(`stream.${uni}.recv`), undefined, 'our unidirectional stream has no receiving part');
  assert.ok(inspected.some((e) => e.type === '@xstate.actor' && e.actorRef === send), 'the connection’s inspector saw it created');
  c.write(bidi, new Uint8Array(100), true, 0);
  pair.client.flush();
  assert.is(send.getSnapshot().value, c.stats(bidi)?.sendState);
  assert.is(send.getSnapshot().value, 'dataSent');
  c.reset(uni, 1n, 0);
  assert.is((connection.system.get(`stream.${uni}.send`) as AnyActorRef).getSnapshot().value, 'resetSent');
  connection.stop();
});

test('mirrors of finished parts are released; a forgotten stream leaves no actor', () => {
  const connection = createActor(connectionMachine).start();
  const pair = new StreamPair({ clientExtra: { inspect: { parent: connection } } });
  const c = pair.client.sm;
  const id = c.open(false, 0) as number;
  const mirror = connection.system.get(`stream.${id}.send`) as AnyActorRef;
  c.write(id, Uint8Array.of(1, 2, 3), true, 0);
  pair.exchange();
  assert.is(c.stats(id), undefined, 'forgotten');
  assert.is(mirror.getSnapshot().status, 'done');
  assert.equal(Object.keys((connection.system.get(STREAMS_SYSTEM_ID) as AnyActorRef).getSnapshot().children), []);
  assert.is(connection.system.get(`stream.${id}.send`), undefined);
  connection.stop();
});

test('attached later, streams already open are shown in their current state; detached, the mirrors stop and streams go on', () => {
  const seen: InspectionEvent[] = [];
  const pair = new StreamPair();
  const c = pair.client.sm;
  const id = c.open(true, 0) as number;
  c.write(id, new Uint8Array(10), false, 0);
  const sent = pair.client.flush();
  assert.is(c.inspection, undefined);
  const inspection = c.attachInspector((e) => seen.push(e));
  const mirrors = (inspection.actor.getSnapshot() as { children: Record<string, AnyActorRef> }).children;
  assert.is(mirrors[`stream.${id}.send`].getSnapshot().value, 'send', 'caught up by replaying Ready → Send');
  assert.is(mirrors[`stream.${id}.recv`].getSnapshot().value, 'recv');
  assert.is(parentOf(inspection.actor), undefined, 'without a parent the host is a root actor');
  c.write(id, new Uint8Array(0), true, 0);
  sent.push(...pair.client.flush());
  assert.is(mirrors[`stream.${id}.send`].getSnapshot().value, 'dataSent');
  inspection.detach();
  assert.is(c.inspection, undefined);
  assert.is(mirrors[`stream.${id}.send`].getSnapshot().status, 'stopped');
  const count = seen.length;
  for (const p of sent) notifyAcked(p.sent);
  assert.is(c.stats(id)?.sendState, 'dataRecvd', 'the stream went on');
  assert.is(seen.length, count, 'nothing reported after detach');
});

test('abandonAll stops the mirrors with everything else', () => {
  const connection = createActor(connectionMachine).start();
  const pair = new StreamPair({ clientExtra: { inspect: { parent: connection } } });
  const id = pair.client.sm.open(true, 0) as number;
  const mirror = connection.system.get(`stream.${id}.send`) as AnyActorRef;
  pair.client.sm.abandonAll();
  assert.is(mirror.getSnapshot().status, 'stopped');
  assert.is(connection.system.get(STREAMS_SYSTEM_ID), undefined);
  assert.is(pair.client.sm.inspection, undefined);
  connection.stop();
});

test('without an inspector no actor is created per stream, for thousands of streams', () => {
  const spawn = MirrorHost.prototype.spawn;
  let spawned = 0;
  MirrorHost.prototype.spawn = function (this: MirrorHost, src: string, id: string) {
    spawned++;
    return spawn.call(this, src, id);
  };
  try {
    const pair = new StreamPair();
    for (let i = 0; i < 3000; i++) {
      const id = pair.client.sm.open(i % 2 === 0, 0);
      if (id === undefined) break;
      pair.client.sm.write(id, Uint8Array.of(i & 0xff), true, 0);
    }
    pair.exchange();
    assert.is(spawned, 0);
    assert.is(pair.client.sm.inspection, undefined);
    // The same work with an inspector does create them: the count above can fail.
    const inspected = new StreamPair({ clientExtra: { inspect: () => undefined } });
    inspected.client.sm.open(true, 0);
    assert.is(spawned, 2);
    inspected.client.sm.abandonAll();
  } finally {
    MirrorHost.prototype.spawn = spawn;
  }
});

test.run();
