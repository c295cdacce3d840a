// The connection's lifecycle through the real receive and send paths on a simulated network:
// handshake states and events, the machine and its children in the inspector, closes in both
// directions, closing and draining periods, idle and handshake timeouts, stateless reset.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { AnyActorRef, InspectionEvent } from 'xstate';
import { nodeCrypto } from '../../src/crypto/node.js';
import { CloseResponder } from '../../src/transport/closing.js';
import { ConnectionClosedError, QuicConnection } from '../../src/transport/connection.js';
import type { ConnectionEvent, ConnectionState } from '../../src/transport/connection-types.js';
import type { KeyManager } from '../../src/transport/key-manager.js';
import { buildStatelessReset, StatelessResetTokenGenerator } from '../../src/transport/stateless-reset.js';
import { TransportErrorCode } from '../../src/wire/errors.js';
import { iteratePackets } from '../../src/wire/header.js';
import { CLIENT_ADDRESS, createPair, SERVER_ADDRESS, testCertificate } from '../support/connection-pair.js';

function states(events: readonly ConnectionEvent[]): ConnectionState[] {
  return events.flatMap((e) => (e.type === 'stateChanged' ? [e.state] : []));
}

function kinds(events: readonly ConnectionEvent[]): string[] {
  return events.map((e) => (e.type === 'stateChanged' ? `state:${e.state}` : e.type));
}

test('a handshake moves both sides idle → handshaking → established → confirmed, with handshakeComplete before handshakeConfirmed', async () => {
  const p = await createPair();
  assert.is(p.client.conn.state, 'handshaking', 'the client left idle with its first Initial');
  assert.ok(p.handshake(), 'handshake confirmed on both sides');
  for (const side of [p.client, p.server]) {
    assert.equal(states(side.events), ['handshaking', 'established', 'confirmed']);
    assert.equal(kinds(side.events), ['state:handshaking', 'state:established', 'handshakeComplete', 'state:confirmed', 'handshakeConfirmed']);
    const hc = side.eventsOf('handshakeComplete')[0];
    assert.is(hc.info.alpn, 'test');
    assert.is(side.conn.stats().handshakeDuration !== undefined, true);
  }
  assert.ok(p.client.conn.peerTransportParameters !== undefined && p.server.conn.peerTransportParameters !== undefined);
  assert.is(p.client.conn.version, 1);
});

test('a server is idle until it processes the first Initial; a client leaves idle with its first datagram', async () => {
  const p = await createPair({ deferStart: true });
  const cert = await testCertificate();
  const server = new QuicConnection({
    role: 'server',
    provider: nodeCrypto,
    now: 0,
    remoteAddress: CLIENT_ADDRESS,
    statelessResetKey: new Uint8Array(32),
    tls: { certificateChain: cert.certificateChain, privateKey: cert.privateKey, alpnProtocols: ['test'] },
    version: 1,
    originalDestinationCid: new Uint8Array(8).fill(1),
    clientSourceCid: new Uint8Array(8).fill(2),
  });
  assert.is(server.state, 'idle');
  assert.equal(server.flush(0), [], 'nothing to send before the client speaks');
  const client = p.start();
  assert.is(client.conn.state, 'handshaking');
  assert.ok(client.sent >= 1);
});

test('Initial keys go when the client sends its first Handshake packet and when the server processes one; Handshake keys at confirmation (RFC 9001 §4.9)', async () => {
  const p = await createPair({ deferStart: true });
  const keys = (c: QuicConnection): KeyManager => (c as unknown as { keys: KeyManager }).keys;
  let serverHadInitialKeys: boolean | undefined;
  p.serverHost.onDeliver = (_d, sc) => {
    // Just before the second datagram — the client's Initial ACK and first Handshake packet — is processed.
    if (sc.conn.stats().datagramsReceived === 1) serverHadInitialKeys = !keys(sc.conn).isDiscarded('initial');
  };
  const client = p.start();
  p.net.run(() => client.conn.stats().packetsReceived > 0, 5_000);
  // The client processed the server's flight and answered with an Initial ACK and a Handshake packet (Finished).
  assert.ok(keys(client.conn).isDiscarded('initial'), 'client: Initial keys discarded once it sent a Handshake packet');
  assert.is(client.conn.state, 'established');
  assert.not.ok(keys(client.conn).isDiscarded('handshake'), 'client: Handshake keys kept until confirmation');
  assert.ok(p.handshake());
  assert.is(serverHadInitialKeys, true, 'the server kept its Initial keys until it processed a Handshake packet');
  for (const side of [p.client, p.server]) {
    assert.ok(keys(side.conn).isDiscarded('initial'));
    assert.ok(keys(side.conn).isDiscarded('handshake'), `${side.conn.role}: Handshake keys discarded at confirmation`);
  }
});

test('with an inspector, the connection actor is the parent of the TLS handshake actor and of the packet builder and PMTU discovery mirrors', async () => {
  const seen: InspectionEvent[] = [];
  const p = await createPair({ clientInspect: (e) => seen.push(e) });
  assert.ok(p.handshake());
  const idOf = (e: InspectionEvent): string => (e.actorRef as AnyActorRef).id;
  const actors = seen.filter((e) => e.type === '@xstate.actor').map((e) => ({ id: idOf(e), parent: (e.actorRef as AnyActorRef)._parent?.id }));
  const byId = (a: { id: string; parent: string | undefined }, b: { id: string }): number => a.id.localeCompare(b.id);
  assert.equal(actors.sort(byId), [
    { id: 'connection', parent: undefined },
    { id: 'packetBuilder', parent: 'connection' },
    { id: 'pmtud', parent: 'connection' },
    { id: 'streams', parent: 'connection' },
    { id: 'tls', parent: 'connection' },
  ]);
  // The connection actor sees only lifecycle events (a handful), never packets.
  const connectionEvents = seen.filter((e) => e.type === '@xstate.event' && idOf(e) === 'connection').map((e) => (e as { event: { type: string } }).event.type);
  assert.ok(connectionEvents.length <= 8, `few lifecycle events: ${connectionEvents.join(', ')}`);
  assert.ok(connectionEvents.includes('handshakeComplete') && connectionEvents.includes('handshakeConfirmed'));
  const builderEvents = seen.filter((e) => e.type === '@xstate.event' && idOf(e) === 'packetBuilder');
  assert.ok(builderEvents.length > 10, 'the builder lifecycle is mirrored');
  assert.is(p.client.conn.actor.getSnapshot().value, 'confirmed', 'the machine holds the state the connection reports');
  // A stream's machines appear under the streams host.
  p.client.act((c, now) => c.writeStream(c.openStream(true, now) as number, new Uint8Array(10), true, now));
  const streamActors = seen.filter((e) => e.type === '@xstate.actor' && idOf(e).startsWith('stream.')).map((e) => ({ id: idOf(e), parent: (e.actorRef as AnyActorRef)._parent?.id }));
  assert.equal(streamActors.sort(byId), [{ id: 'stream.0.recv', parent: 'streams' }, { id: 'stream.0.send', parent: 'streams' }]);
});

for (const closer of ['client', 'server'] as const) {
  test(`an application close by the ${closer} reaches the peer with its code and reason; both end closed`, async () => {
    const p = await createPair();
    assert.ok(p.handshake());
    const [a, b] = closer === 'client' ? [p.client, p.server] : [p.server, p.client];
    a.act((c, now) => c.close({ code: 0x1234n, reason: 'done here ✓' }, now));
    assert.is(a.conn.state, 'closing');
    assert.ok(p.runUntilClosed());
    assert.equal(a.closeInfo, { source: 'local', application: true, code: 0x1234n, reason: 'done here ✓' });
    assert.equal(b.closeInfo, { source: 'peer', application: true, code: 0x1234n, reason: 'done here ✓' });
    assert.equal(states(a.events).slice(-2), ['closing', 'closed']);
    assert.equal(states(b.events).slice(-2), ['draining', 'closed']);
    assert.is(a.events[a.events.length - 1].type, 'closed', 'closed is the last event');
    assert.is(b.events[b.events.length - 1].type, 'closed');
    // The `closing` event: once per side, as the closing or draining period starts, with the reason.
    for (const [side, info] of [[a, a.closeInfo], [b, b.closeInfo]] as const) {
      const closing = side.events.filter((e) => e.type === 'closing');
      assert.is(closing.length, 1);
      assert.equal(closing[0].type === 'closing' ? closing[0].info : undefined, info);
      const at = side.events.indexOf(closing[0]);
      assert.equal(kinds(side.events.slice(at, at + 2)), ['closing', `state:${side === a ? 'closing' : 'draining'}`]);
    }
  });
}

test('a transport close carries its code to the peer as a transport error', async () => {
  const p = await createPair();
  assert.ok(p.handshake());
  p.server.act((c, now) => c.close({ code: TransportErrorCode.CONNECTION_REFUSED, reason: 'go away', application: false }, now));
  assert.ok(p.runUntilClosed());
  const info = p.client.closeInfo;
  assert.is(info?.source, 'peer');
  assert.is(info?.application, false);
  assert.is(info?.code, BigInt(TransportErrorCode.CONNECTION_REFUSED));
  assert.is(info?.reason, 'go away');
});

test('closing: packets from the peer are answered with CONNECTION_CLOSE, rate-limited, and the closing period lasts three PTOs', async () => {
  // The server sends a keep-alive PING every 20 ms and never hears the client's close.
  const p = await createPair({ serverTransport: { keepAliveInterval: 20 } });
  assert.ok(p.handshake());
  let closing = false;
  p.net.configure(CLIENT_ADDRESS, SERVER_ADDRESS, { filter: () => (closing ? 'drop' : 'deliver') });
  const sentBefore = p.client.sent;
  const receivedBefore = p.client.conn.stats().datagramsReceived;
  closing = true;
  p.client.act((c, now) => c.close({ code: 1n }, now));
  const closeAt = p.net.now;
  assert.ok(p.net.run(() => p.client.closed, 60_000), 'closed after the closing period');
  const answers = p.client.sent - sentBefore;
  const arrivals = p.client.conn.stats().datagramsReceived - receivedBefore;
  assert.ok(arrivals >= 5, `the server kept sending (${arrivals} datagrams)`);
  assert.ok(answers >= 2, 'the close, and at least one answer');
  // The close itself, then one answer each time the packets received double.
  assert.ok(answers <= 2 + Math.ceil(Math.log2(arrivals + 1)), `${answers} answers to ${arrivals} datagrams`);
  const srtt = p.client.conn.stats().smoothedRtt;
  assert.ok(p.net.now - closeAt >= 3 * srtt, 'closing lasted at least three PTOs');
});

test('the closing connection answers the 1st, 3rd, 7th, 15th … packet, the interval doubling up to 256', () => {
  const r = new CloseResponder();
  const answered: number[] = [];
  for (let i = 1; i <= 2_000; i++) if (r.onPacket()) answered.push(i);
  assert.equal(answered.slice(0, 9), [1, 3, 7, 15, 31, 63, 127, 255, 511]);
  assert.equal(answered.slice(9), [767, 1023, 1279, 1535, 1791], 'then every 256th');
});

test('draining: after the peer closes, the connection sends nothing and is closed after three PTOs', async () => {
  const p = await createPair();
  assert.ok(p.handshake());
  p.client.act((c, now) => c.close({ code: 7n, reason: 'x' }, now));
  p.net.run(() => p.server.conn.state === 'draining', 5_000);
  assert.is(p.server.conn.state, 'draining');
  const sent = p.server.sent;
  const at = p.net.now;
  // A packet arriving while draining gets no answer.
  p.net.inject(CLIENT_ADDRESS, SERVER_ADDRESS, new Uint8Array(1200).fill(0x41));
  assert.ok(p.runUntilClosed());
  assert.is(p.server.sent, sent, 'nothing sent while draining');
  assert.ok(p.net.now - at > 0);
  assert.equal(states(p.server.events).slice(-2), ['draining', 'closed']);
});

test('idle timeout: the smaller announced timeout applies on both sides, silently', async () => {
  const p = await createPair({ clientTransport: { maxIdleTimeout: 10_000 }, serverTransport: { maxIdleTimeout: 3_000 } });
  assert.ok(p.handshake());
  const t0 = p.net.now;
  const sent = p.client.sent + p.server.sent;
  assert.ok(p.runUntilClosed());
  const elapsed = p.net.now - t0;
  assert.ok(elapsed >= 2_900 && elapsed <= 3_200, `closed after ${elapsed} ms`);
  for (const side of [p.client, p.server]) {
    assert.is(side.closeInfo?.source, 'idle-timeout');
    assert.equal(states(side.events).slice(-1), ['closed']);
  }
  assert.ok(p.client.sent + p.server.sent - sent <= 2, 'no CONNECTION_CLOSE is sent on idle timeout');
});

test('idle timeout: never shorter than three PTOs', async () => {
  const p = await createPair({ link: { delay: 100 }, clientTransport: { maxIdleTimeout: 1 }, serverTransport: { maxIdleTimeout: 1 } });
  assert.ok(p.handshake());
  const t0 = p.net.now;
  assert.ok(p.runUntilClosed());
  const srtt = p.client.conn.stats().smoothedRtt;
  assert.ok(p.net.now - t0 >= 3 * srtt, `idle period ${p.net.now - t0} ms ≥ 3 × smoothed RTT ${srtt}`);
});

test('handshake timeout: a client whose server never answers gives up with source handshake-timeout', async () => {
  const p = await createPair({ down: { loss: 1 }, clientTransport: { handshakeTimeout: 4_000 } });
  assert.ok(p.net.run(() => p.client.closed, 20_000));
  const info = p.client.closeInfo;
  assert.is(info?.source, 'handshake-timeout');
  assert.ok(Math.abs(p.elapsed - 4_000) < 1, `gave up after ${p.elapsed} ms`);
});

test('a stateless reset whose token matches the server’s ends the client connection (draining, source stateless-reset)', async () => {
  const p = await createPair();
  assert.ok(p.handshake());
  const serverCid = p.server.conn.localConnectionIds()[0];
  const key = p.serverHost.server?.statelessResetKey as Uint8Array;
  const token = new StatelessResetTokenGenerator(nodeCrypto, key).token(serverCid);
  // A reset with a wrong token is just a packet that does not decrypt.
  const wrong = buildStatelessReset(nodeCrypto, new Uint8Array(16).fill(9), 100) as Uint8Array;
  p.net.inject(SERVER_ADDRESS, CLIENT_ADDRESS, wrong);
  p.net.advance(1);
  assert.is(p.client.conn.state, 'confirmed');
  const reset = buildStatelessReset(nodeCrypto, token, 100) as Uint8Array;
  p.net.inject(SERVER_ADDRESS, CLIENT_ADDRESS, reset);
  p.net.advance(1);
  assert.is(p.client.conn.state, 'draining');
  const sent = p.client.sent;
  p.net.run(() => p.client.closed, 10_000);
  assert.is(p.client.sent, sent, 'nothing sent after a stateless reset');
  assert.equal(p.client.closeInfo, { source: 'stateless-reset', application: false, code: 0n, reason: 'stateless reset received' });
});

test('a client closed before its first flush is closed at once and sends nothing', async () => {
  const cert = await testCertificate();
  const c = new QuicConnection({
    role: 'client',
    provider: nodeCrypto,
    now: Date.now(),
    remoteAddress: SERVER_ADDRESS,
    statelessResetKey: new Uint8Array(32),
    tls: { serverName: 'localhost', alpnProtocols: ['test'], trustAnchors: [cert.certificatePem] },
  });
  c.close({ code: 0n }, Date.now());
  assert.is(c.state, 'closed');
  assert.equal(c.flush(Date.now()), []);
  const events = c.drainEvents();
  assert.equal(kinds(events), ['closing', 'state:closed', 'closed']);
  assert.equal(c.localConnectionIds(), []);
  assert.is(c.nextTimeout(), undefined);
});

/** The packet types of a datagram's coalesced packets (`initial`, `handshake`, `1rtt`, …), headers only (the Fixed Bit may be greased, RFC 9287). */
function packetTypes(datagram: Uint8Array): string[] {
  const out: string[] = [];
  for (const r of iteratePackets(datagram, { shortHeaderDcidLength: 8, allowFixedBitZero: true })) {
    if (!('packet' in r)) continue;
    out.push(r.packet.form === 'long' ? r.packet.type : r.packet.form === 'short' ? '1rtt' : r.packet.form);
  }
  return out;
}

/** A client and a server core driven by hand until the client's handshake is complete, its Finished not yet flushed. */
async function clientCompleteBeforeFinishedFlushed(): Promise<{ client: QuicConnection; server: QuicConnection; now: number }> {
  const cert = await testCertificate();
  let now = Date.now();
  const client = new QuicConnection({
    role: 'client',
    provider: nodeCrypto,
    now,
    remoteAddress: SERVER_ADDRESS,
    statelessResetKey: new Uint8Array(32),
    tls: { serverName: 'localhost', alpnProtocols: ['test'], trustAnchors: [cert.certificatePem] },
  });
  const first = client.flush(now);
  const initial = [...iteratePackets(first[0], { shortHeaderDcidLength: 8 })][0];
  assert.ok('packet' in initial && initial.packet.form === 'long');
  const hello = initial.packet;
  const server = new QuicConnection({
    role: 'server',
    provider: nodeCrypto,
    now,
    remoteAddress: CLIENT_ADDRESS,
    statelessResetKey: new Uint8Array(32).fill(1),
    tls: { certificateChain: cert.certificateChain, privateKey: cert.privateKey, alpnProtocols: ['test'] },
    version: hello.version,
    originalDestinationCid: hello.dcid.slice(),
    clientSourceCid: hello.scid.slice(),
  });
  for (const d of first) server.receive(d, CLIENT_ADDRESS, now);
  now += 10;
  for (const d of server.flush(now)) client.receive(d, SERVER_ADDRESS, now);
  assert.ok(client.drainEvents().some((e) => e.type === 'handshakeComplete'), 'the client completed its handshake');
  assert.is(client.state, 'established');
  server.drainEvents();
  return { client, server, now };
}

function closedInfo(connection: QuicConnection, now: number): unknown {
  connection.onTimeout(now + 60_000);
  const closed = connection.drainEvents().find((e) => e.type === 'closed');
  return closed?.type === 'closed' ? closed.info : undefined;
}

test('a client that closes right after its handshake completes, before its Finished was flushed, sends the Finished with a 1-RTT CONNECTION_CLOSE and no Initial: the server completes its handshake and gets the application code and reason', async () => {
  // Found with ngtcp2's gtlsserver: `await connect()` resolves on handshakeComplete, before the
  // flush that carries the Finished; an immediate close() sent Initial, Handshake and 1-RTT
  // CONNECTION_CLOSE frames without it, the server stopped at the Initial one (RFC 9000 §10.2.3
  // asks only a server to send both Initial and Handshake), never completed its handshake and
  // saw APPLICATION_ERROR instead of the application's code.
  const pair = await clientCompleteBeforeFinishedFlushed();
  const { client, server } = pair;
  let now = pair.now;
  // The application closes before the flush that would have carried the Finished.
  client.close({ code: 0x100n, reason: 'bye' }, now);
  const closing = client.flush(now);
  assert.is(closing.length, 1);
  assert.equal(packetTypes(closing[0]), ['handshake', '1rtt'], 'the Finished in a Handshake packet, the close in 1-RTT, no Initial');
  now += 10;
  server.receive(closing[0], CLIENT_ADDRESS, now);
  assert.ok(server.drainEvents().some((e) => e.type === 'handshakeComplete'), 'the Finished reached the server');
  assert.is(server.state, 'draining', 'the close was read');
  assert.equal(closedInfo(server, now), { source: 'peer', application: true, code: 0x100n, reason: 'bye' });
});

test('when that first close flight is lost, the closing client answers the server’s retransmission with CONNECTION_CLOSE in Handshake and 1-RTT packets: the server, without the Finished, still learns of the close (as APPLICATION_ERROR)', async () => {
  const pair = await clientCompleteBeforeFinishedFlushed();
  const { client, server } = pair;
  let now = pair.now;
  client.close({ code: 0x100n, reason: 'bye' }, now);
  assert.is(client.flush(now).length, 1, 'the close flight (lost)');
  // The server's PTO fires: it retransmits its flight, which reaches the closing client.
  now = server.nextTimeout()!;
  server.onTimeout(now);
  const retransmission = server.flush(now);
  assert.ok(retransmission.length > 0, 'the server probed');
  for (const d of retransmission) client.receive(d, SERVER_ADDRESS, now);
  const answer = client.flush(now);
  assert.is(answer.length, 1);
  assert.equal(packetTypes(answer[0]), ['handshake', '1rtt'], 'CONNECTION_CLOSE at both levels the server may read, still no Initial');
  server.receive(answer[0], CLIENT_ADDRESS, now);
  assert.is(server.state, 'draining');
  // RFC 9000 §10.2.3: in a Handshake packet the application close is APPLICATION_ERROR without a reason.
  assert.equal(closedInfo(server, now), { source: 'peer', application: false, code: BigInt(TransportErrorCode.APPLICATION_ERROR), reason: '', frameType: 0 });
});

test('application calls on a closing connection throw ConnectionClosedError', async () => {
  const p = await createPair();
  assert.ok(p.handshake());
  p.client.act((c, now) => c.close({ code: 3n, reason: 'bye' }, now));
  assert.throws(() => p.client.conn.openStream(true, p.net.now), (e: unknown) => e instanceof ConnectionClosedError && e.info?.code === 3n);
  assert.throws(() => p.client.conn.sendDatagram(new Uint8Array(1), p.net.now), (e: unknown) => e instanceof ConnectionClosedError);
  // A second close is ignored.
  p.client.act((c, now) => c.close({ code: 4n }, now));
  assert.ok(p.runUntilClosed());
  assert.is(p.server.closeInfo?.code, 3n);
});

test('an undecryptable late Initial after the keys were discarded is dropped and counted; the connection is unaffected', async () => {
  let firstServerDatagram: Uint8Array | undefined;
  const p = await createPair({
    down: {
      filter: (d, i) => {
        if (i === 0) firstServerDatagram = d.slice();
        return 'deliver';
      },
    },
  });
  assert.ok(p.handshake());
  const dropped = p.client.conn.stats().packetsDropped;
  p.net.inject(SERVER_ADDRESS, CLIENT_ADDRESS, firstServerDatagram as Uint8Array);
  p.net.advance(5);
  assert.ok(p.client.conn.stats().packetsDropped > dropped, 'the old Initial/Handshake packets are dropped');
  assert.is(p.client.conn.state, 'confirmed');
});

test.run();
