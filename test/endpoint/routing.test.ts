import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { nodeCrypto } from '../../src/crypto/node.js';
import { cidKey } from '../../src/endpoint/cid-key.js';
import { Endpoint } from '../../src/endpoint/endpoint.js';
import type { ServerConnectionOptions } from '../../src/transport/connection-types.js';
import { QUIC_V1, QUIC_V2 } from '../../src/wire/version.js';
import { fakeFactory, type FakeCore } from './fake-core.js';
import { bytes, initialDatagram, rawPeer, random, shortDatagram, text, until } from './helpers.js';

const tls = { certificateChain: [], privateKey: undefined as never, alpnProtocols: ['test'] };

/** A server endpoint on `host` whose fake connections answer every datagram with `echo <first cid> <n>`. */
async function echoServer(host = '127.0.0.1', extra: Partial<Parameters<typeof Endpoint.bind>[0]> = {}) {
  const factory = fakeFactory((core) => {
    core.onReceive = (_r, c) => c.queue(bytes(`echo ${cidKey(c.localConnectionIds()[0])} ${c.received.length}`));
  });
  const endpoint = await Endpoint.bind({ host, port: 0, provider: nodeCrypto, createConnection: factory.create, ...extra });
  const accepted: unknown[] = [];
  endpoint.listen({ tls, onConnection: (c) => accepted.push(c) });
  return { endpoint, factory, accepted };
}

test('a client Initial of 1200 bytes creates one server connection with the Initial’s IDs, version, address and the endpoint’s reset key', async () => {
  const { endpoint, factory, accepted } = await echoServer();
  const peer = await rawPeer();
  const dcid = random(8);
  const scid = random(5);
  await peer.send(initialDatagram({ dcid, scid, version: QUIC_V2 }), endpoint.address.port);
  const reply = text(await peer.next('the echo'));
  assert.is(factory.cores.length, 1);
  assert.is(accepted.length, 1);
  const core = factory.cores[0];
  const o = core.options as ServerConnectionOptions;
  assert.is(o.role, 'server');
  assert.is(o.version, QUIC_V2);
  assert.equal([...o.originalDestinationCid], [...dcid]);
  assert.equal([...o.clientSourceCid], [...scid]);
  assert.is(o.retrySourceCid, undefined);
  assert.is(o.addressValidated, false);
  assert.equal(o.remoteAddress, { address: '127.0.0.1', port: peer.port, family: 'IPv4' });
  assert.equal([...o.statelessResetKey], [...endpoint.resetKey]);
  assert.is(o.transport?.connectionIdLength, 8, 'the endpoint imposes its connection ID length');
  assert.is(core.received.length, 1, 'the creating datagram reaches the connection');
  assert.is(core.received[0].datagram.length, 1200);
  assert.is(reply, `echo ${cidKey(core.localConnectionIds()[0])} 1`, 'the flush is sent to the client');
  await peer.close();
  await endpoint.destroy();
});

test('later packets route by the server’s connection IDs (short header) and by the original DCID (retransmitted Initial)', async () => {
  const { endpoint, factory } = await echoServer();
  const peer = await rawPeer();
  const dcid = random(8);
  await peer.send(initialDatagram({ dcid, scid: random(8) }), endpoint.address.port);
  await peer.next();
  const core = factory.cores[0];
  await peer.send(shortDatagram(core.localConnectionIds()[0]), endpoint.address.port);
  await peer.next();
  await peer.send(initialDatagram({ dcid, scid: random(8) }), endpoint.address.port);
  await peer.next();
  assert.is(factory.cores.length, 1, 'no second connection');
  assert.is(core.received.length, 3);
  assert.is(core.received[1].datagram.length, 100);
  await peer.close();
  await endpoint.destroy();
});

test('two clients get two connections and each datagram reaches only its own', async () => {
  const { endpoint, factory } = await echoServer();
  const a = await rawPeer();
  const b = await rawPeer();
  await a.send(initialDatagram({ dcid: random(8), scid: random(8) }), endpoint.address.port);
  await a.next();
  await b.send(initialDatagram({ dcid: random(8), scid: random(8) }), endpoint.address.port);
  await b.next();
  assert.is(factory.cores.length, 2);
  const [ca, cb] = factory.cores;
  for (let i = 0; i < 3; i++) {
    await a.send(shortDatagram(ca.localConnectionIds()[0]), endpoint.address.port);
    await b.send(shortDatagram(cb.localConnectionIds()[0]), endpoint.address.port);
  }
  await until(() => ca.received.length === 4 && cb.received.length === 4, 'both connections to get their datagrams');
  assert.ok(ca.received.every((r) => r.from.port === a.port));
  assert.ok(cb.received.every((r) => r.from.port === b.port));
  // Replies go to each connection's own peer.
  await until(() => a.inbox.length === 4 && b.inbox.length === 4, 'replies');
  assert.ok(a.inbox.every((m) => text(m.data).startsWith(`echo ${cidKey(ca.localConnectionIds()[0])}`)));
  assert.ok(b.inbox.every((m) => text(m.data).startsWith(`echo ${cidKey(cb.localConnectionIds()[0])}`)));
  await Promise.all([a.close(), b.close()]);
  await endpoint.destroy();
});

test('connection IDs issued later route to the connection; retired ones stop routing', async () => {
  const { endpoint, factory } = await echoServer();
  const peer = await rawPeer();
  await peer.send(initialDatagram({ dcid: random(8), scid: random(8) }), endpoint.address.port);
  await peer.next();
  const core = factory.cores[0];
  const extra = random(8);
  core.addConnectionId(extra);
  await peer.send(shortDatagram(extra), endpoint.address.port);
  await until(() => core.received.length === 2, 'the datagram for the new ID');
  core.removeConnectionId(extra);
  const before = endpoint.stats.offeredByAddress;
  await peer.send(shortDatagram(extra), endpoint.address.port);
  // The retired ID no longer routes: the datagram is only offered by address (it may be a reset).
  await until(() => endpoint.stats.offeredByAddress === before + 1, 'the unroutable datagram');
  await peer.close();
  await endpoint.destroy();
});

test('client Initials under 1200 bytes, or with a DCID under 8 bytes, create no connection', async () => {
  const { endpoint, factory } = await echoServer();
  const peer = await rawPeer();
  await peer.send(initialDatagram({ dcid: random(8), scid: random(8), size: 1199 }), endpoint.address.port);
  await peer.send(initialDatagram({ dcid: random(7), scid: random(8), size: 1200 }), endpoint.address.port);
  await until(() => endpoint.stats.datagramsReceived === 2, 'both datagrams');
  assert.is(endpoint.stats.dropped.initialTooSmall, 2);
  assert.is(factory.cores.length, 0);
  assert.is(endpoint.stats.datagramsSent, 0, 'nothing is sent back');
  await peer.close();
  await endpoint.destroy();
});

test('an endpoint that does not listen creates no connection for a client Initial', async () => {
  const factory = fakeFactory();
  const endpoint = await Endpoint.bind({ host: '127.0.0.1', provider: nodeCrypto, createConnection: factory.create });
  const peer = await rawPeer();
  await peer.send(initialDatagram({ dcid: random(8), scid: random(8) }), endpoint.address.port);
  await until(() => endpoint.stats.datagramsReceived === 1, 'the datagram');
  assert.is(endpoint.stats.dropped.notListening, 1);
  assert.is(factory.cores.length, 0);
  await peer.close();
  await endpoint.destroy();
});

test('client connections on one shared endpoint: each sends from the one socket and receives by its own connection ID', async () => {
  const factory = fakeFactory((core) => {
    if (core.role === 'client') core.queue(bytes('client hello'));
  });
  const endpoint = await Endpoint.bind({ host: '127.0.0.1', provider: nodeCrypto, createConnection: factory.create });
  const server = await rawPeer();
  const remote = { address: '127.0.0.1', port: server.port, family: 'IPv4' as const };
  const c1 = endpoint.connect({ remoteAddress: remote, tls: { alpnProtocols: ['t'], insecureSkipVerify: true } });
  const c2 = endpoint.connect({ remoteAddress: remote, tls: { alpnProtocols: ['t'], insecureSkipVerify: true } });
  await until(() => server.inbox.length === 2, 'both first flights');
  assert.ok(server.inbox.every((m) => m.from.port === endpoint.address.port), 'one socket');
  const [k1, k2] = factory.cores;
  assert.is(k1.options.role, 'client');
  assert.equal(k1.options.remoteAddress, remote);
  await server.send(shortDatagram(k2.localConnectionIds()[0]), endpoint.address.port);
  await server.send(shortDatagram(k1.localConnectionIds()[0]), endpoint.address.port);
  await server.send(shortDatagram(k2.localConnectionIds()[0]), endpoint.address.port);
  await until(() => k1.received.length + k2.received.length === 3, 'routing');
  assert.is(k1.received.length, 1);
  assert.is(k2.received.length, 2);
  assert.is(c1.core, k1);
  assert.is(c2.core, k2);
  await server.close();
  await endpoint.destroy();
});

test('an IPv6 endpoint accepts and routes over ::1', async () => {
  const { endpoint, factory } = await echoServer('::1');
  assert.is(endpoint.address.family, 'IPv6');
  const peer = await rawPeer('udp6');
  await peer.send(initialDatagram({ dcid: random(8), scid: random(8) }), endpoint.address.port, '::1');
  await peer.next();
  const core: FakeCore = factory.cores[0];
  assert.equal(core.options.remoteAddress, { address: '::1', port: peer.port, family: 'IPv6' });
  await peer.send(shortDatagram(core.localConnectionIds()[0]), endpoint.address.port, '::1');
  await until(() => core.received.length === 2, 'the short packet');
  await peer.close();
  await endpoint.destroy();
});

test('the endpoint’s connection ID length decides how many bytes of a short header are routed', async () => {
  const { endpoint, factory } = await echoServer('127.0.0.1', { connectionIdLength: 16 });
  const peer = await rawPeer();
  await peer.send(initialDatagram({ dcid: random(8), scid: random(8), version: QUIC_V1 }), endpoint.address.port);
  await peer.next();
  const cid = factory.cores[0].localConnectionIds()[0];
  assert.is(cid.length, 16);
  await peer.send(shortDatagram(cid), endpoint.address.port);
  await until(() => factory.cores[0].received.length === 2, 'routing by 16 bytes');
  await peer.close();
  await endpoint.destroy();
});

test.run();
