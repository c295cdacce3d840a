// Model-based tests of the stream manager: every shortest and simple path of the RFC 9000 §3
// machines (@xstate/graph) is replayed on real streams between two managers — each machine event
// produced by a real action (writing, flushing, acknowledging, delivering a frame, reading) — and the
// stream's part must take exactly the path's events, in the machine's state after each one (seen by
// the part's live mirror), with the manager reporting the same state.
//
// One action can take more than one transition (RFC 9000 §3: "a single event or action can cause a
// transition through multiple states"); the only such chain the runtime always takes is
// RecvResetStream → AppReadReset (the reset is signalled to the application as it is received).
import { createTestModel } from '@xstate/graph';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { getInitialSnapshot, transition, type AnyStateMachine, type EventObject, type InspectionEvent } from 'xstate';
import { notifyAcked } from '../../src/packet/dispatch.js';
import type { SentPacket } from '../../src/packet/types.js';
import { RECV_STREAM_EVENT_TYPES, recvStreamMachine, recvStreamMirrorId } from '../../machines/recv-stream.js';
import { SEND_STREAM_EVENT_TYPES, sendStreamMachine, sendStreamMirrorId } from '../../machines/send-stream.js';
import { StreamPair, streamSettings, type StreamEndpoint, type WirePacket } from '../support/stream-pair.js';

interface Step {
  readonly event: string;
  readonly state: string;
}

/** Records what a part's live mirror went through: each event and the state after it. */
function mirrorTrace(mirrorId: string): { observer: (e: InspectionEvent) => void; steps: Step[] } {
  const steps: Step[] = [];
  return {
    steps,
    observer: (e) => {
      if (e.type !== '@xstate.snapshot' || (e.actorRef as { id?: string }).id !== mirrorId || e.event.type.startsWith('xstate.')) return;
      steps.push({ event: e.event.type, state: String((e.snapshot as { value?: unknown }).value) });
    },
  };
}

/** Real actions on a client stream's sending part, one per send-machine event. */
class SendScenario {
  readonly pair: StreamPair;
  readonly id: number;
  readonly trace = mirrorTrace(sendStreamMirrorId(0));
  private readonly outstanding: SentPacket[] = [];

  constructor(readonly blocked: boolean) {
    // With `blocked`, the server grants no stream credit: the first thing sent is STREAM_DATA_BLOCKED.
    this.pair = new StreamPair({
      server: streamSettings({ initialMaxStreamDataBidiRemote: blocked ? 0 : 1 << 20 }),
      clientExtra: { inspect: this.trace.observer },
    });
    this.id = this.pair.client.sm.open(true, 0) as number;
  }

  get state(): string | undefined {
    return this.pair.client.sm.stats(this.id)?.sendState;
  }

  /** Sends what the client has; packets are acknowledged by `RecvAllAcks` / `RecvResetAck` (the peer's receipt is not needed: the server-side grant of the blocked case is simulated). */
  private flush(): void {
    for (const p of this.pair.client.flush(300)) this.outstanding.push(p.sent);
  }

  apply(event: string): void {
    const sm = this.pair.client.sm;
    switch (event) {
      case 'SendStream':
      case 'SendStreamDataBlocked':
        sm.write(this.id, new Uint8Array(500).fill(1), false, 0);
        return this.flush();
      case 'SendFin':
        if (this.blocked) sm.onMaxStreamData({ kind: 'maxStreamData', streamId: this.id, maximum: 1 << 20 });
        sm.write(this.id, new Uint8Array(0), true, 0);
        return this.flush();
      case 'SendResetStream':
        sm.reset(this.id, 7n, 0);
        return this.flush();
      case 'RecvAllAcks':
      case 'RecvResetAck':
        for (const p of this.outstanding.splice(0)) notifyAcked(p);
        return;
      default:
        throw new Error(`no action for ${event}`);
    }
  }
}

/** Real actions on the server's receiving part of a client stream, one per receive-machine event. */
class RecvScenario {
  readonly pair: StreamPair;
  readonly id: number;
  readonly trace = mirrorTrace(recvStreamMirrorId(0));
  private held: WirePacket[] = [];

  constructor() {
    this.pair = new StreamPair({ serverExtra: { inspect: this.trace.observer } });
    const client = this.pair.client;
    this.id = client.sm.open(true, 0) as number;
    client.sm.write(this.id, new Uint8Array(10).fill(2), false, 0);
    this.send(client.flush()); // the server's stream exists, in Recv
  }

  get state(): string | undefined {
    return this.pair.server.sm.stats(this.id)?.receiveState;
  }

  private send(packets: WirePacket[]): void {
    for (const p of packets) this.pair.deliver(this.pair.client, p);
  }

  apply(event: string): void {
    const client: StreamEndpoint = this.pair.client;
    switch (event) {
      case 'RecvFin': {
        // Bytes [10, 20) are held back, the FIN alone at 20 arrives: the final size is known, data is missing.
        client.sm.write(this.id, new Uint8Array(10).fill(3), false, 0);
        this.held = client.flush();
        client.sm.write(this.id, new Uint8Array(0), true, 0);
        return this.send(client.flush());
      }
      case 'RecvAllData':
        return this.send(this.held.splice(0));
      case 'AppReadAllData':
        while (this.pair.server.sm.read(this.id, 4, 0)?.fin === false);
        return;
      case 'RecvResetStream':
        client.sm.reset(this.id, 9n, 0);
        return this.send(client.flush());
      default:
        throw new Error(`no action for ${event}`);
    }
  }
}

/** Follow-up transitions the runtime takes in the same call as the one before. */
const CHAINED: Readonly<Record<string, string>> = { RecvResetStream: 'AppReadReset' };

function paths(machine: AnyStateMachine, types: readonly string[]) {
  const model = createTestModel(machine, { events: types.map((type) => ({ type })) });
  return [...model.getShortestPaths({ allowDuplicatePaths: true }), ...model.getSimplePaths()].map((p) =>
    p.steps.map((s) => s.event as EventObject).filter((e) => e.type !== 'xstate.init'),
  );
}

function replay(machine: AnyStateMachine, events: EventObject[], scenario: { apply(e: string): void; state: string | undefined; trace: { steps: Step[] } }): void {
  const where = events.map((e) => e.type).join(' → ');
  let snap = getInitialSnapshot(machine);
  assert.is(scenario.state, snap.value, `${where}: initial state`);
  for (let k = 0; k < events.length; k++) {
    const e = events[k];
    const chained = k > 0 && CHAINED[events[k - 1].type] === e.type && scenario.trace.steps.length > k;
    if (!chained) scenario.apply(e.type);
    snap = transition(machine, snap, e)[0];
    const steps = scenario.trace.steps;
    assert.ok(steps.length > k, `${where}: step ${k} (${e.type}) taken`);
    assert.equal(steps[k], { event: e.type, state: String(snap.value) }, `${where}: step ${k}`);
    const expectedLength = k + 1 + (CHAINED[e.type] !== undefined ? 1 : 0);
    assert.is(steps.length, expectedLength, `${where}: no other transition after ${e.type} (${JSON.stringify(steps)})`);
    assert.is(scenario.state, steps[steps.length - 1].state, `${where}: the manager reports the mirror's state`);
  }
}

test('send part: every shortest and simple path of RFC 9000 Figure 2 is taken by a real stream, event by event', () => {
  const all = paths(sendStreamMachine, SEND_STREAM_EVENT_TYPES);
  const covered = new Set<string>();
  for (const events of all) {
    const scenario = new SendScenario(events.some((e) => e.type === 'SendStreamDataBlocked'));
    replay(sendStreamMachine, events, scenario);
    for (const s of scenario.trace.steps) covered.add(s.event);
  }
  assert.equal([...covered].sort(), [...SEND_STREAM_EVENT_TYPES].sort(), 'every event produced by a real action');
  assert.ok(all.length >= 8, `${all.length} paths`);
});

test('receive part: every shortest and simple path of RFC 9000 Figure 3 is taken by a real stream, event by event', () => {
  const all = paths(recvStreamMachine, RECV_STREAM_EVENT_TYPES);
  const covered = new Set<string>();
  for (const events of all) {
    const scenario = new RecvScenario();
    replay(recvStreamMachine, events, scenario);
    for (const s of scenario.trace.steps) covered.add(s.event);
  }
  assert.equal([...covered].sort(), [...RECV_STREAM_EVENT_TYPES].sort());
  assert.ok(all.length >= 6, `${all.length} paths`);
});

test('events the send machine refuses leave a real stream where it is: acknowledgements before FIN, reset after completion, writes after FIN or reset', () => {
  const s = new SendScenario(false);
  s.apply('SendStream');
  s.apply('RecvAllAcks'); // every byte acknowledged, but no FIN yet: "Recv All ACKs" cannot happen in Send
  assert.is(s.state, 'send');
  s.apply('SendFin');
  s.apply('RecvAllAcks');
  assert.is(s.state, 'dataRecvd');
  const steps = s.trace.steps.length;
  s.pair.client.sm.reset(s.id, 1n, 0); // Send RESET_STREAM is not an arrow out of Data Recvd
  s.pair.client.sm.onStopSending({ kind: 'stopSending', streamId: s.id, applicationErrorCode: 2n }, 0);
  assert.is(s.state, 'dataRecvd');
  assert.is(s.trace.steps.length, steps, 'nothing sent to the machine');
  assert.throws(() => s.pair.client.sm.write(s.id, new Uint8Array(1), false, 0), /sendFinished/);
  const r = new SendScenario(false);
  r.apply('SendResetStream');
  assert.throws(() => r.pair.client.sm.write(r.id, new Uint8Array(1), false, 0), /sendReset/);
  r.pair.client.sm.reset(r.id, 3n, 0);
  assert.equal(r.trace.steps.map((x) => x.event), ['SendResetStream'], 'a second reset is no event');
});

test('a STREAM frame carrying FIN as the first frame takes Ready → Send → Data Sent, one event per transition', () => {
  const s = new SendScenario(false);
  s.pair.client.sm.write(s.id, new Uint8Array(5), true, 0);
  s.pair.client.flush();
  assert.equal(s.trace.steps, [
    { event: 'SendStream', state: 'send' },
    { event: 'SendFin', state: 'dataSent' },
  ]);
});

test.run();
