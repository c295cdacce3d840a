/**
 * The TLS machines are the handshake's single definition, and the running handshake follows them:
 *
 * - each state's accepted messages and encryption level equal the RFC 8446 Appendix A tables
 *   (written out here by hand);
 * - every path @xstate/graph finds from START to CONNECTED (with model steps) is exactly one of
 *   the handshake shapes the RFC allows, and a real handshake configured for that shape passes
 *   through the same (event, state) sequence, as an attached inspector reports it live;
 * - a real session in each state refuses every message the table does not list there with
 *   unexpected_message, decided by the machine;
 * - the actor joins a parent's system under the system id `tls`, and the parent learns when it ends.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { getSimplePaths } from '@xstate/graph';
import { assign, createActor, setup, type AnyActorRef, type InspectionEvent } from 'xstate';
import {
  createTlsClientMachine,
  tlsClientMachine,
  TLS_CLIENT_STATES,
  type TlsClientMachineEvent,
  type TlsClientMachineHandlers,
} from '../../machines/tls-client.js';
import {
  createTlsServerMachine,
  tlsServerMachine,
  TLS_SERVER_STATES,
  type TlsServerMachineEvent,
  type TlsServerMachineHandlers,
} from '../../machines/tls-server.js';
import { TlsAlert, TlsAlertError } from '../../src/tls/alerts.js';
import { encodeHandshakeMessage, type Certificate, type ClientHello } from '../../src/tls/messages.js';
import { createClientSession, createServerSession, type TlsClientSession, type TlsServerSession } from '../../src/tls/session.js';
import type { TlsClientConfig, TlsServerConfig } from '../../src/tls/config.js';
import { MemoryTicketStore } from '../../src/tls/tickets.js';
import { createChain } from '../support/pki.js';
import { CLIENT_TP, runHandshake, SERVER_TP, serverChain, splitFlight } from '../support/tls-handshake.js';

const now = Date.now();

// ---------------------------------------------------------------------------------------------
// RFC 8446 Appendix A, as tables

/** Client: the messages each state accepts and the level it reads (RFC 8446 A.1; RFC 9001 §4 for levels). */
const CLIENT_TABLE: Record<string, { accepts: string[]; level: string | null }> = {
  START: { accepts: ['start'], level: null },
  WAIT_SH: { accepts: ['hello_retry_request', 'server_hello'], level: 'initial' },
  WAIT_EE: { accepts: ['encrypted_extensions'], level: 'handshake' },
  WAIT_CERT_CR: { accepts: ['certificate', 'certificate_request'], level: 'handshake' },
  WAIT_CERT: { accepts: ['certificate'], level: 'handshake' },
  WAIT_CV: { accepts: ['certificate_verify'], level: 'handshake' },
  WAIT_FINISHED: { accepts: ['finished'], level: 'handshake' },
  CONNECTED: { accepts: ['new_session_ticket'], level: 'oneRtt' },
  closed: { accepts: [], level: null },
  failed: { accepts: [], level: null },
};

/** Server: RFC 8446 A.2 without WAIT_EOED (RFC 9001 §8.3); RECVD_CH, NEGOTIATED, WAIT_FLIGHT2 are passed through. */
const SERVER_TABLE: Record<string, { accepts: string[]; level: string | null }> = {
  START: { accepts: ['client_hello'], level: 'initial' },
  RECVD_CH: { accepts: [], level: 'initial' },
  NEGOTIATED: { accepts: [], level: 'initial' },
  WAIT_FLIGHT2: { accepts: [], level: 'handshake' },
  WAIT_CERT: { accepts: ['certificate'], level: 'handshake' },
  WAIT_CV: { accepts: ['certificate_verify'], level: 'handshake' },
  WAIT_FINISHED: { accepts: ['finished'], level: 'handshake' },
  CONNECTED: { accepts: [], level: 'oneRtt' },
  closed: { accepts: [], level: null },
  failed: { accepts: [], level: null },
};

function stateConfig(machine: typeof tlsClientMachine | typeof tlsServerMachine, name: string) {
  const node = (machine.states as Record<string, { config: { on?: Record<string, unknown>; type?: string }; meta?: { level: string | null } }>)[name];
  return { accepts: Object.keys(node.config.on ?? {}).sort(), level: node.meta?.level ?? null, final: node.config.type === 'final' };
}

test('client machine: the states are RFC 8446 A.1 names, and each accepts exactly the messages of the table at its level', () => {
  assert.equal(Object.keys(tlsClientMachine.states).sort(), [...TLS_CLIENT_STATES].sort());
  for (const [name, row] of Object.entries(CLIENT_TABLE)) {
    const c = stateConfig(tlsClientMachine, name);
    assert.equal(c.accepts, [...row.accepts].sort(), `${name} accepts`);
    assert.is(c.level, row.level, `${name} level`);
  }
  assert.ok(stateConfig(tlsClientMachine, 'closed').final && stateConfig(tlsClientMachine, 'failed').final);
});

test('server machine: the states are RFC 8446 A.2 names without WAIT_EOED, and each accepts exactly the messages of the table at its level', () => {
  assert.equal(Object.keys(tlsServerMachine.states).sort(), [...TLS_SERVER_STATES].sort());
  assert.not.ok('WAIT_EOED' in tlsServerMachine.states);
  for (const [name, row] of Object.entries(SERVER_TABLE)) {
    const c = stateConfig(tlsServerMachine, name);
    assert.equal(c.accepts, [...row.accepts].sort(), `${name} accepts`);
    assert.is(c.level, row.level, `${name} level`);
  }
});

// ---------------------------------------------------------------------------------------------
// Graph paths with model steps, replayed by real handshakes

const msg = <T>(m: T) => ({ message: m, raw: new Uint8Array(4) });
const emptyCert: Certificate = { kind: 'certificate', context: new Uint8Array(0), entries: [] };
const someCert: Certificate = { kind: 'certificate', context: new Uint8Array(0), entries: [{ data: new Uint8Array(1), extensions: [] }] };
const CLIENT_EVENTS = [
  { type: 'start' },
  { type: 'hello_retry_request', ...msg({}) },
  { type: 'server_hello', ...msg({}) },
  { type: 'encrypted_extensions', ...msg({}) },
  { type: 'certificate_request', ...msg({}) },
  { type: 'certificate', ...msg(someCert) },
  { type: 'certificate_verify', ...msg({}) },
  { type: 'finished', ...msg({}) },
  { type: 'new_session_ticket', ...msg({}) },
] as unknown as TlsClientMachineEvent[];

const ok = () => undefined;
const modelClient: TlsClientMachineHandlers = {
  sendClientHello: ok,
  receiveHelloRetryRequest: ok,
  receiveServerHello: ok,
  receiveEncryptedExtensions: ok,
  receiveCertificateRequest: ok,
  receiveCertificate: ok,
  receiveCertificateVerify: ok,
  receiveFinished: ok,
  sendClientAuthentication: ok,
  sendFinished: ok,
  receiveNewSessionTicket: ok,
  unexpectedMessage: (t, s) => ({ code: 0x10a, alert: 10, reason: `${t} in ${s}` }),
  terminated: () => undefined,
};

/** A model server: a ClientHello whose random starts with 1 needs a HelloRetryRequest. */
let lastClientHello: ClientHello | undefined;
const modelServer: TlsServerMachineHandlers = {
  receiveClientHello: (m) => ((lastClientHello = m), undefined),
  selectParameters: () => ({ failure: undefined, helloRetryNeeded: lastClientHello?.random[0] === 1 }),
  sendHelloRetryRequest: ok,
  sendServerHello: ok,
  sendEncryptedExtensions: ok,
  sendCertificateRequest: ok,
  sendCertificateAndVerify: ok,
  sendFinished: ok,
  receiveEmptyCertificate: ok,
  receiveCertificate: ok,
  receiveCertificateVerify: ok,
  receiveFinished: ok,
  sendNewSessionTickets: ok,
  unexpectedMessage: (t, s) => ({ code: 0x10a, alert: 10, reason: `${t} in ${s}` }),
  terminated: () => undefined,
};
const ch = (retry: boolean) => ({ type: 'client_hello', ...msg({ kind: 'client_hello', random: Uint8Array.of(retry ? 1 : 0), legacySessionId: new Uint8Array(0), cipherSuites: [], extensions: [] }) });

type Step = [event: string, state: string];

/** The (event, state) steps of every simple path to CONNECTED, as strings. */
function pathsToConnected(paths: Array<{ state: { value: unknown }; steps: Array<{ event: { type: string; message?: unknown }; state: { value: unknown } }> }>): Step[][] {
  return paths
    .filter((p) => p.state.value === 'CONNECTED')
    .map((p) => p.steps.filter((s) => s.event.type !== 'xstate.init').map((s): Step => [label(s.event), String(s.state.value)]));
}

function label(event: { type: string; message?: unknown }): string {
  if (event.type === 'certificate' && (event.message as Certificate | undefined)?.entries.length === 0) return 'certificate(empty)';
  return event.type;
}

/** Records (event, state) of the TLS actor from inspection: one step per processed event. */
function recorder() {
  const steps: Step[] = [];
  const microsteps: string[] = [];
  const inspect = (e: InspectionEvent) => {
    const id = (e.actorRef as AnyActorRef).id;
    if (!(id === 'tls' || (e.actorRef as AnyActorRef).src === tlsClientMachine || (e.actorRef as AnyActorRef).src === tlsServerMachine)) return;
    if (e.type === '@xstate.snapshot' && e.event.type !== 'xstate.init') {
      const ev = e.event as { type: string; message?: unknown };
      steps.push([label(ev), String((e.snapshot as unknown as { value: unknown }).value)]);
    }
    if (e.type === '@xstate.microstep') microsteps.push(String((e.snapshot as unknown as { value: unknown }).value));
  };
  return { steps, microsteps, inspect };
}

const CLIENT_SHAPES: Step[][] = [
  [['start', 'WAIT_SH'], ['server_hello', 'WAIT_EE'], ['encrypted_extensions', 'WAIT_CERT_CR'], ['certificate', 'WAIT_CV'], ['certificate_verify', 'WAIT_FINISHED'], ['finished', 'CONNECTED']],
  [['start', 'WAIT_SH'], ['server_hello', 'WAIT_EE'], ['encrypted_extensions', 'WAIT_CERT_CR'], ['certificate_request', 'WAIT_CERT'], ['certificate', 'WAIT_CV'], ['certificate_verify', 'WAIT_FINISHED'], ['finished', 'CONNECTED']],
];
const withRetry = (shape: Step[]): Step[] => [shape[0], ['hello_retry_request', 'WAIT_SH'], ...shape.slice(1)];

test('client: the graph paths to CONNECTED are exactly the RFC shapes (with/without HelloRetryRequest and CertificateRequest)', () => {
  const model = createTlsClientMachine(() => modelClient);
  const found = pathsToConnected(getSimplePaths(model, { events: CLIENT_EVENTS }) as never);
  const expected = [...CLIENT_SHAPES, ...CLIENT_SHAPES.map(withRetry)];
  assert.equal(found.map((p) => JSON.stringify(p)).sort(), expected.map((p) => JSON.stringify(p)).sort());
});

async function clientRun(shape: { retry: boolean; certificateRequest: boolean }) {
  const chain = await serverChain('ecdsa-p256');
  const rec = recorder();
  const client = createClientSession(
    { serverName: 'localhost', alpnProtocols: ['h3'], transportParameters: CLIENT_TP, trustAnchors: chain.anchors, groups: shape.retry ? ['secp256r1', 'x25519'] : ['x25519'] },
    undefined,
    { inspect: rec.inspect },
  );
  const server = createServerSession({
    certificateChain: chain.chain,
    privateKey: chain.leaf.privateKey,
    alpnProtocols: ['h3'],
    transportParameters: SERVER_TP,
    groups: ['x25519'],
    clientAuthentication: shape.certificateRequest ? {} : undefined,
  });
  const run = runHandshake(client, server, { now });
  assert.is(run.client.error, undefined, run.client.error?.message);
  return rec;
}

test('client: a real handshake of each graph shape passes through the same (event, state) steps, seen live by an inspector', async () => {
  for (const retry of [false, true]) {
    for (const certificateRequest of [false, true]) {
      const rec = await clientRun({ retry, certificateRequest });
      const shape = CLIENT_SHAPES[certificateRequest ? 1 : 0];
      assert.equal(rec.steps, retry ? withRetry(shape) : shape, `retry=${retry} certificateRequest=${certificateRequest}`);
      // The HelloRetryRequest goes back to START (RFC 8446 A.1) within the same macrostep.
      if (retry) assert.ok(rec.microsteps.join(' ').includes('START WAIT_SH'), rec.microsteps.join(' '));
    }
  }
});

const SERVER_EVENTS = (snapshot: { context: { retried: boolean } }) =>
  [
    ch(false),
    ...(snapshot.context.retried ? [] : [ch(true)]),
    { type: 'certificate', ...msg(emptyCert) },
    { type: 'certificate', ...msg(someCert) },
    { type: 'certificate_verify', ...msg({}) },
    { type: 'finished', ...msg({}) },
  ] as unknown as TlsServerMachineEvent[];

const SERVER_SHAPES = (auth: boolean, cert: boolean): Step[] =>
  !auth
    ? [['client_hello', 'WAIT_FINISHED'], ['finished', 'CONNECTED']]
    : cert
      ? [['client_hello', 'WAIT_CERT'], ['certificate', 'WAIT_CV'], ['certificate_verify', 'WAIT_FINISHED'], ['finished', 'CONNECTED']]
      : [['client_hello', 'WAIT_CERT'], ['certificate(empty)', 'WAIT_FINISHED'], ['finished', 'CONNECTED']];
const serverWithRetry = (shape: Step[]): Step[] => [['client_hello', 'START'], ...shape];

test('server: the graph paths to CONNECTED are exactly the RFC shapes, with the transient RECVD_CH, NEGOTIATED and WAIT_FLIGHT2', () => {
  for (const auth of [false, true]) {
    const model = createTlsServerMachine(() => modelServer);
    const found = pathsToConnected(getSimplePaths(model, { events: SERVER_EVENTS as never, input: { requestClientCertificate: auth } }) as never);
    const shapes = auth ? [SERVER_SHAPES(true, false), SERVER_SHAPES(true, true)] : [SERVER_SHAPES(false, false)];
    const expected = [...shapes, ...shapes.map(serverWithRetry)];
    assert.equal(found.map((p) => JSON.stringify(p)).sort(), expected.map((p) => JSON.stringify(p)).sort(), `auth=${auth}`);
  }
  const actor = createActor(createTlsServerMachine(() => modelServer), { input: { requestClientCertificate: false } });
  const micro: string[] = [];
  actor.system.inspect((e) => {
    if (e.type === '@xstate.microstep') micro.push(String((e.snapshot as unknown as { value: unknown }).value));
  });
  actor.start();
  actor.send(ch(false) as unknown as TlsServerMachineEvent);
  assert.equal(micro, ['RECVD_CH', 'NEGOTIATED', 'WAIT_FLIGHT2', 'WAIT_FINISHED']);
});

test('server: a real handshake of each graph shape passes through the same (event, state) steps, seen live by an inspector', async () => {
  const chain = await serverChain('ecdsa-p256');
  const clientPki = await createChain({ leaf: { keyType: 'ed25519' } });
  for (const retry of [false, true]) {
    for (const [auth, cert] of [
      [false, false],
      [true, false],
      [true, true],
    ] as const) {
      const rec = recorder();
      const client = createClientSession({
        serverName: 'localhost',
        alpnProtocols: ['h3'],
        transportParameters: CLIENT_TP,
        trustAnchors: chain.anchors,
        groups: retry ? ['secp256r1', 'x25519'] : ['x25519'],
        certificate: cert ? { certificateChain: clientPki.chain, privateKey: clientPki.leaf.privateKey } : undefined,
      });
      const server = createServerSession(
        { certificateChain: chain.chain, privateKey: chain.leaf.privateKey, alpnProtocols: ['h3'], transportParameters: SERVER_TP, groups: ['x25519'], clientAuthentication: auth ? {} : undefined },
        undefined,
        { inspect: rec.inspect },
      );
      const run = runHandshake(client, server, { now });
      assert.is(run.server.error, undefined, run.server.error?.message);
      const shape = SERVER_SHAPES(auth, cert);
      assert.equal(rec.steps, retry ? serverWithRetry(shape) : shape, `retry=${retry} auth=${auth} cert=${cert}`);
      const micro = rec.microsteps.join(' ');
      assert.ok(micro.includes('RECVD_CH NEGOTIATED WAIT_FLIGHT2'), micro);
      if (retry) assert.ok(micro.startsWith('RECVD_CH START'), micro);
    }
  }
});

// ---------------------------------------------------------------------------------------------
// Real sessions refuse, in each state, what the table does not list

interface ServerFlights {
  serverHello: Uint8Array;
  hrr: Uint8Array;
  handshake: Uint8Array[];
  ticket: Uint8Array;
}

async function referenceServerFlights(): Promise<ServerFlights> {
  const chain = await serverChain('ecdsa-p256');
  const client = createClientSession({ serverName: 'localhost', alpnProtocols: ['h3'], transportParameters: CLIENT_TP, trustAnchors: chain.anchors, ticketStore: new MemoryTicketStore() });
  const server = createServerSession({
    certificateChain: chain.chain,
    privateKey: chain.leaf.privateKey,
    alpnProtocols: ['h3'],
    transportParameters: SERVER_TP,
    clientAuthentication: {},
    sessionTickets: { key: new Uint8Array(32) },
  });
  const run = runHandshake(client, server, { now });
  const hrr = encodeHandshakeMessage({
    kind: 'hello_retry_request',
    legacySessionIdEcho: new Uint8Array(0),
    cipherSuite: 0x1301,
    extensions: [
      { kind: 'supported_versions_selected', version: 0x0304 },
      { kind: 'key_share_retry', selectedGroup: 0x0017 },
    ],
  });
  return {
    serverHello: run.server.sent.get('initial')![0],
    hrr,
    handshake: splitFlight(run.server.sent.get('handshake')![0]),
    ticket: run.server.sent.get('oneRtt')![0],
  };
}

/**
 * A client driven to `state` by a live server (with client authentication, so WAIT_CERT is
 * reachable): the server's messages are delivered one by one until the client is there.
 */
async function clientIn(state: string): Promise<TlsClientSession> {
  const chain = await serverChain('ecdsa-p256');
  const client = createClientSession({ serverName: 'localhost', alpnProtocols: ['h3'], transportParameters: CLIENT_TP, trustAnchors: chain.anchors });
  const server = createServerSession({ certificateChain: chain.chain, privateKey: chain.leaf.privateKey, alpnProtocols: ['h3'], transportParameters: SERVER_TP, clientAuthentication: {} });
  client.start(now);
  for (const e of client.drain()) if (e.type === 'handshake_data') server.receive(e.level, e.data, now);
  const out = server.drain().flatMap((e) => (e.type === 'handshake_data' ? splitFlight(e.data).map((m) => ({ level: e.level, m })) : []));
  for (const { level, m } of out) {
    if (client.state === state) break;
    client.receive(level, m, now);
  }
  client.drain();
  return client;
}

const MESSAGE_OF: Record<string, (f: ServerFlights) => Uint8Array> = {
  hello_retry_request: (f) => f.hrr,
  server_hello: (f) => f.serverHello,
  encrypted_extensions: (f) => f.handshake[0],
  certificate_request: (f) => f.handshake[1],
  certificate: (f) => f.handshake[2],
  certificate_verify: (f) => f.handshake[3],
  finished: (f) => f.handshake[4],
  new_session_ticket: (f) => f.ticket,
};

test('client: in every waiting state, every server message the table does not list is refused by the machine with unexpected_message', async () => {
  const flights = await referenceServerFlights();
  assert.equal(flights.handshake.map((m) => m[0]), [8, 13, 11, 15, 20], 'EE, CR, Certificate, CertificateVerify, Finished');
  let checked = 0;
  for (const state of ['WAIT_SH', 'WAIT_EE', 'WAIT_CERT_CR', 'WAIT_CERT', 'WAIT_CV', 'WAIT_FINISHED']) {
    const level = CLIENT_TABLE[state].level as 'initial' | 'handshake';
    for (const [kind, bytes] of Object.entries(MESSAGE_OF)) {
      if (CLIENT_TABLE[state].accepts.includes(kind)) continue;
      const client = await clientIn(state);
      assert.is(client.state, state);
      client.receive(level, bytes(flights), now);
      const e = client.error;
      assert.ok(e instanceof TlsAlertError && e.alert === TlsAlert.unexpected_message, `${kind} in ${state}: ${e?.message}`);
      assert.match(e!.message, new RegExp(`${kind} is not acceptable in state ${state}`));
      assert.is(client.state, 'failed');
      checked++;
    }
  }
  assert.is(checked, 6 * 8 - 8);
});

test('server: in every waiting state, every client message the table does not list is refused by the machine with unexpected_message', async () => {
  const chain = await serverChain('ecdsa-p256');
  const clientPki = await createChain({});
  const config: TlsServerConfig = {
    certificateChain: chain.chain,
    privateKey: chain.leaf.privateKey,
    alpnProtocols: ['h3'],
    transportParameters: SERVER_TP,
    clientAuthentication: {},
  };
  const clientConfig: TlsClientConfig = {
    serverName: 'localhost',
    alpnProtocols: ['h3'],
    transportParameters: CLIENT_TP,
    trustAnchors: chain.anchors,
    certificate: { certificateChain: clientPki.chain, privateKey: clientPki.leaf.privateKey },
  };
  // Messages to inject (their content is never looked at: the machine refuses them first).
  const ref = runHandshake(createClientSession(clientConfig), createServerSession(config), { now });
  const [certificate, certificateVerify, finished] = splitFlight(ref.client.sent.get('handshake')![0]);
  const messages: Record<string, Uint8Array> = { client_hello: ref.client.sent.get('initial')![0], certificate, certificate_verify: certificateVerify, finished };
  /** A server driven to `state` by a live client, whose second flight is delivered message by message. */
  const serverIn = (state: string): TlsServerSession => {
    const s = createServerSession(config);
    if (state === 'START') return s;
    const c = createClientSession(clientConfig);
    c.start(now);
    for (const e of c.drain()) if (e.type === 'handshake_data') s.receive(e.level, e.data, now);
    for (const e of s.drain()) if (e.type === 'handshake_data') c.receive(e.level, e.data, now);
    const flight2 = c.drain().flatMap((e) => (e.type === 'handshake_data' ? splitFlight(e.data) : []));
    for (const m of flight2) {
      if (s.state === state) break;
      s.receive('handshake', m, now);
    }
    s.drain();
    return s;
  };
  let checked = 0;
  for (const state of ['START', 'WAIT_CERT', 'WAIT_CV', 'WAIT_FINISHED']) {
    for (const [kind, bytes] of Object.entries(messages)) {
      if (SERVER_TABLE[state].accepts.includes(kind)) continue;
      const s = serverIn(state);
      assert.is(s.state, state);
      s.receive(SERVER_TABLE[state].level as 'initial' | 'handshake', bytes, now);
      const e = s.error;
      assert.ok(e instanceof TlsAlertError && e.alert === TlsAlert.unexpected_message, `${kind} in ${state}: ${e?.message}`);
      assert.match(e!.message, new RegExp(`${kind} is not acceptable in state ${state}`));
      checked++;
    }
  }
  assert.is(checked, 4 * 4 - 4);
});

// ---------------------------------------------------------------------------------------------
// Inspector, parent, unbound actors

test('an inspector attached to a session sees the TLS actor, its events and every state change live', async () => {
  const events: InspectionEvent[] = [];
  const chain = await serverChain('ecdsa-p256');
  const client = createClientSession({ serverName: 'localhost', alpnProtocols: ['h3'], transportParameters: CLIENT_TP, trustAnchors: chain.anchors }, undefined, {
    inspect: (e) => events.push(e),
  });
  const server = createServerSession({ certificateChain: chain.chain, privateKey: chain.leaf.privateKey, alpnProtocols: ['h3'], transportParameters: SERVER_TP });
  assert.ok(events.some((e) => e.type === '@xstate.actor' && e.actorRef === client.actor));
  const states = () => events.filter((e) => e.type === '@xstate.snapshot').map((e) => String((e as unknown as { snapshot: { value: unknown } }).snapshot.value));
  client.start(now);
  assert.equal(states(), ['START', 'WAIT_SH'], 'seen as it happens, not afterwards');
  runHandshakeFrom(client, server);
  assert.equal(states(), ['START', 'WAIT_SH', 'WAIT_EE', 'WAIT_CERT_CR', 'WAIT_CV', 'WAIT_FINISHED', 'CONNECTED']);
  // The context an inspector sees holds no secret material: only flags and the failure summary.
  const last = events.filter((e) => e.type === '@xstate.snapshot').pop() as unknown as { snapshot: { context: object } };
  assert.equal(Object.keys(last.snapshot.context).sort(), ['certificateRequested', 'failure', 'retried']);
});

/** Continues a handshake whose client was already started. */
function runHandshakeFrom(client: TlsClientSession, server: TlsServerSession): void {
  for (let i = 0; i < 10; i++) {
    const c = client.drain().filter((e) => e.type === 'handshake_data');
    for (const e of c) server.receive(e.level, e.data, now);
    const s = server.drain().filter((e) => e.type === 'handshake_data');
    for (const e of s) client.receive(e.level, e.data, now);
    if (c.length === 0 && s.length === 0) return;
  }
}

test('with a parent actor the TLS actor joins its system as systemId tls; the parent inspector sees it; the parent learns when it ends', async () => {
  const parentMachine = setup({
    types: {} as { context: { tlsOutput: unknown } },
  }).createMachine({
    id: 'connection',
    context: { tlsOutput: undefined },
    on: { 'xstate.done.actor.tls': { actions: assign({ tlsOutput: ({ event }) => (event as unknown as { output: unknown }).output }) } },
  });
  const seen: InspectionEvent[] = [];
  const parent = createActor(parentMachine, { inspect: (e) => seen.push(e) });
  parent.start();
  const chain = await serverChain('ecdsa-p256');
  const client = createClientSession({ serverName: 'localhost', alpnProtocols: ['h3'], transportParameters: CLIENT_TP, trustAnchors: chain.anchors }, undefined, { parent });
  assert.is(parent.system.get('tls'), client.actor);
  assert.is(client.actor._parent, parent);
  const server = createServerSession({ certificateChain: chain.chain, privateKey: chain.leaf.privateKey, alpnProtocols: ['h3'], transportParameters: SERVER_TP });
  runHandshake(client, server, { now });
  assert.is(client.state, 'CONNECTED');
  const tlsSnapshots = seen.filter((e) => e.type === '@xstate.snapshot' && e.actorRef === client.actor).map((e) => String((e as unknown as { snapshot: { value: unknown } }).snapshot.value));
  assert.equal(tlsSnapshots, ['START', 'WAIT_SH', 'WAIT_EE', 'WAIT_CERT_CR', 'WAIT_CV', 'WAIT_FINISHED', 'CONNECTED']);
  assert.ok(seen.some((e) => e.type === '@xstate.actor' && e.actorRef === client.actor && (e.actorRef as AnyActorRef)._parent === parent));
  // While it runs, its system id is taken: a second session must pick another one.
  assert.throws(
    () => createClientSession({ serverName: 'localhost', alpnProtocols: ['h3'], transportParameters: CLIENT_TP, trustAnchors: chain.anchors }, undefined, { parent }),
    (e: unknown) => e instanceof TlsAlertError && e.alert === TlsAlert.internal_error && /system id "tls"/.test(e.message),
  );
  client.close();
  assert.equal(parent.getSnapshot().context.tlsOutput, { state: 'closed', failure: undefined });
  // Another session in the same system, with its own system id.
  const other = createClientSession({ serverName: 'localhost', alpnProtocols: ['h3'], transportParameters: CLIENT_TP, trustAnchors: chain.anchors }, undefined, { parent, systemId: 'tls-2' });
  assert.is(parent.system.get('tls-2'), other.actor);
});

test('a failure is the parent\'s too: the done event carries the failed state and the alert', async () => {
  const parent = createActor(setup({ types: {} as { context: { out: unknown } } }).createMachine({
    context: { out: undefined },
    on: { 'xstate.done.actor.tls': { actions: assign({ out: ({ event }) => (event as unknown as { output: unknown }).output }) } },
  }));
  parent.start();
  const client = createClientSession({ serverName: 'localhost', alpnProtocols: ['h3'], transportParameters: CLIENT_TP }, undefined, { parent });
  client.start(now);
  client.receive('initial', Uint8Array.of(8, 0, 0, 2, 0, 0), now);
  const out = parent.getSnapshot().context.out as { state: string; failure: { alert: number; code: number } };
  assert.is(out.state, 'failed');
  assert.is(out.failure.alert, TlsAlert.unexpected_message);
  assert.is(out.failure.code, 0x10a);
});

test('an actor of the shared machine without bound steps fails its first step with internal_error instead of throwing', () => {
  const actor = createActor(tlsClientMachine);
  actor.start();
  actor.send({ type: 'start' });
  assert.is(actor.getSnapshot().value, 'failed');
  assert.is(actor.getSnapshot().context.failure?.alert, TlsAlert.internal_error);
});

test.run();
