import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { nodeCrypto } from '../../src/crypto/node.js';
import { cidKey } from '../../src/endpoint/cid-key.js';
import type { EndpointConnection } from '../../src/endpoint/endpoint-connection.js';
import { Endpoint } from '../../src/endpoint/endpoint.js';
import type { ConnectionEvent } from '../../src/transport/connection-types.js';
import { TransportErrorCode } from '../../src/wire/errors.js';
import { fakeFactory, type FakeCore } from './fake-core.js';
import { bytes, initialDatagram, rawPeer, random, shortDatagram, text, until, type RawPeer } from './helpers.js';

const tls = { certificateChain: [], privateKey: undefined as never, alpnProtocols: ['test'] };

async function server(setup?: (core: FakeCore) => void) {
  const factory = fakeFactory((core) => {
    core.onReceive = (_r, c) => c.queue(bytes(`echo ${cidKey(c.localConnectionIds()[0])}`));
    setup?.(core);
  });
  const endpoint = await Endpoint.bind({ host: '127.0.0.1', provider: nodeCrypto, createConnection: factory.create });
  const connections: EndpointConnection[] = [];
  const events = new Map<EndpointConnection, ConnectionEvent[]>();
  endpoint.listen({
    tls,
    onConnection: (c) => {
      connections.push(c);
      events.set(c, []);
      c.setEventHandler((e) => events.get(c)!.push(...e));
    },
  });
  return { endpoint, factory, connections, events };
}

async function open(peer: RawPeer, port: number): Promise<void> {
  await peer.send(initialDatagram({ dcid: random(8), scid: random(8) }), port);
  await peer.next('the echo of the first Initial');
}

function closedInfo(events: ConnectionEvent[]) {
  const e = events.find((x): x is Extract<ConnectionEvent, { type: 'closed' }> => x.type === 'closed');
  return e?.info;
}

test('garbage datagrams are dropped and counted; the connection next to them carries on', async () => {
  const { endpoint, factory } = await server();
  const peer = await rawPeer();
  await open(peer, endpoint.address.port);
  const core = factory.cores[0];
  const garbage = [new Uint8Array([0xc0]), new Uint8Array([0xc0, 0, 0, 0, 1, 30]), random(5).fill(0xff, 0, 1), new Uint8Array([0x40, 1, 2])];
  for (const g of garbage) await peer.send(g, endpoint.address.port);
  await until(() => endpoint.stats.datagramsReceived === 1 + garbage.length, 'the garbage');
  assert.is(endpoint.stats.dropped.malformed, garbage.length);
  await peer.send(shortDatagram(core.localConnectionIds()[0]), endpoint.address.port);
  assert.is(text(await peer.next()), `echo ${cidKey(core.localConnectionIds()[0])}`);
  assert.is(factory.cores.length, 1);
  await peer.close();
  await endpoint.destroy();
});

test('a connection that throws on receive is closed with INTERNAL_ERROR; the other connection is untouched', async () => {
  const { endpoint, factory, connections, events } = await server();
  const a = await rawPeer();
  const b = await rawPeer();
  await open(a, endpoint.address.port);
  await open(b, endpoint.address.port);
  const [bad, good] = factory.cores;
  bad.throwOnReceive = true;
  await a.send(shortDatagram(bad.localConnectionIds()[0]), endpoint.address.port);
  await until(() => connections[0].isGone, 'the failing connection to close');
  assert.is(bad.closes.length, 1);
  assert.is(bad.closes[0].code, TransportErrorCode.INTERNAL_ERROR);
  assert.is(bad.closes[0].application, false);
  assert.is(closedInfo(events.get(connections[0])!)?.code, BigInt(TransportErrorCode.INTERNAL_ERROR));
  assert.is(endpoint.stats.connectionErrors, 1);
  assert.is(endpoint.connectionCount, 1);
  await b.send(shortDatagram(good.localConnectionIds()[0]), endpoint.address.port);
  assert.is(text(await b.next()), `echo ${cidKey(good.localConnectionIds()[0])}`);
  assert.is(good.closes.length, 0);
  await Promise.all([a.close(), b.close()]);
  await endpoint.destroy();
});

test('a connection that throws on receive and on close is torn down and reported closed with the error', async () => {
  const { endpoint, factory, connections, events } = await server();
  const a = await rawPeer();
  await open(a, endpoint.address.port);
  const core = factory.cores[0];
  core.throwOnReceive = true;
  core.throwOnClose = true;
  const cid = core.localConnectionIds()[0];
  await a.send(shortDatagram(cid, 80), endpoint.address.port);
  await until(() => connections[0].isGone, 'the teardown');
  const info = closedInfo(events.get(connections[0])!);
  assert.is(info?.source, 'local');
  assert.is(info?.code, BigInt(TransportErrorCode.INTERNAL_ERROR));
  assert.instance(info?.error, TypeError);
  assert.is(endpoint.connectionCount, 0);
  // Its connection ID no longer routes: a packet for it now gets a stateless reset.
  await a.send(shortDatagram(cid, 80), endpoint.address.port);
  await until(() => endpoint.stats.statelessResetsSent === 1, 'the reset');
  await a.close();
  await endpoint.destroy();
});

test('a connection whose flush throws is closed with INTERNAL_ERROR', async () => {
  const { endpoint, factory, connections } = await server((core) => {
    core.throwOnFlush = true;
  });
  const a = await rawPeer();
  await a.send(initialDatagram({ dcid: random(8), scid: random(8) }), endpoint.address.port);
  await until(() => connections.length === 1 && connections[0].isGone, 'the close');
  assert.is(factory.cores[0].closes[0].code, TransportErrorCode.INTERNAL_ERROR);
  await a.close();
  await endpoint.destroy();
});

test('the timer calls onTimeout once the deadline has passed, with a clock at or after it', async () => {
  const { endpoint, factory } = await server((core) => {
    core.onReceive = (r, c) => {
      c.timeoutAt = r.now + 15;
    };
  });
  const a = await rawPeer();
  await a.send(initialDatagram({ dcid: random(8), scid: random(8) }), endpoint.address.port);
  await until(() => factory.cores.length === 1 && factory.cores[0].timeouts.length === 1, 'the timeout');
  const core = factory.cores[0];
  assert.ok(core.timeouts[0] >= core.received[0].now + 15);
  await a.close();
  await endpoint.destroy();
});

test('a deadline moved later is not served early; a deadline moved earlier is served', async () => {
  const { endpoint, factory, connections } = await server((core) => {
    core.onReceive = undefined;
  });
  const a = await rawPeer();
  await a.send(initialDatagram({ dcid: random(8), scid: random(8) }), endpoint.address.port);
  await until(() => connections.length === 1, 'the connection');
  const core = factory.cores[0];
  const ec = connections[0];
  let t0 = 0;
  ec.call((c, now) => {
    t0 = now;
    (c as FakeCore).timeoutAt = now + 5;
  });
  ec.call((c) => {
    (c as FakeCore).timeoutAt = t0 + 40;
  });
  await until(() => core.timeouts.length === 1, 'the later deadline');
  assert.ok(core.timeouts[0] >= t0 + 40, 'not called at the abandoned earlier deadline');
  ec.call((c, now) => {
    t0 = now;
    (c as FakeCore).timeoutAt = now + 10_000;
  });
  ec.call((c) => {
    (c as FakeCore).timeoutAt = t0 + 5;
  });
  await until(() => core.timeouts.length === 2, 'the earlier deadline');
  assert.ok(core.timeouts[1] >= t0 + 5 && core.timeouts[1] < t0 + 10_000);
  await a.close();
  await endpoint.destroy();
});

test('pending signals of one turn make one flush; every datagram it returns is sent to the peer', async () => {
  const { endpoint, factory, connections } = await server((core) => {
    core.onReceive = undefined;
  });
  const a = await rawPeer();
  await a.send(initialDatagram({ dcid: random(8), scid: random(8) }), endpoint.address.port);
  await until(() => connections.length === 1, 'the connection');
  const core = factory.cores[0];
  await new Promise((r) => setImmediate(r));
  const before = core.flushes;
  core.queue(bytes('one'));
  core.queue(bytes('two'));
  core.queue(bytes('three'));
  await until(() => a.inbox.length === 3, 'three datagrams');
  assert.is(core.flushes - before, 1);
  assert.equal(a.inbox.map((m) => text(m.data)), ['one', 'two', 'three']);
  await a.close();
  await endpoint.destroy();
});

test('a closed connection is removed from routing and its timer is cleared', async () => {
  const { endpoint, factory, connections, events } = await server((core) => {
    core.closeImmediately = false;
  });
  const a = await rawPeer();
  await open(a, endpoint.address.port);
  const core = factory.cores[0];
  const ec = connections[0];
  ec.call((c, now) => c.close({ code: 7n, reason: 'bye', application: true }, now));
  assert.is(core.state, 'closing');
  assert.is(ec.isGone, false, 'still routed while closing');
  await until(() => ec.isGone, 'closed');
  assert.equal(closedInfo(events.get(ec)!), { source: 'local', application: true, code: 7n, reason: 'bye' });
  assert.is(endpoint.connectionCount, 0);
  assert.is(ec.routes.size, 0);
  assert.is(ec.timerArmed, false, 'no timer left for a closed connection');
  await a.close();
  await endpoint.destroy();
});

test('endpoint close() closes every connection, waits for them to finish closing, then closes the socket', async () => {
  const { endpoint, factory } = await server((core) => {
    core.closeImmediately = false;
  });
  const a = await rawPeer();
  const b = await rawPeer();
  await open(a, endpoint.address.port);
  await open(b, endpoint.address.port);
  await endpoint.close({ code: 3, reason: 'shutdown' });
  assert.is(endpoint.isClosed, true);
  for (const core of factory.cores) {
    assert.equal(core.closes, [{ code: 3, reason: 'shutdown', application: true }]);
    assert.is(core.state, 'closed');
  }
  await Promise.all([a.close(), b.close()]);
});

test('events queued before the handler is set are delivered to it in order', async () => {
  const factory = fakeFactory((core) => {
    core.emit({ type: 'stateChanged', state: 'handshaking' });
    core.emit({ type: 'handshakeConfirmed' });
  });
  const endpoint = await Endpoint.bind({ host: '127.0.0.1', provider: nodeCrypto, createConnection: factory.create });
  const ec = endpoint.connect({ remoteAddress: { address: '127.0.0.1', port: 9, family: 'IPv4' }, tls: { alpnProtocols: ['t'], insecureSkipVerify: true } });
  const seen: string[] = [];
  ec.setEventHandler((events) => seen.push(...events.map((e) => e.type)));
  assert.equal(seen, ['stateChanged', 'handshakeConfirmed']);
  await endpoint.destroy();
});

test('an endpoint made for one client closes its socket when its last connection is gone', async () => {
  const factory = fakeFactory();
  const endpoint = await Endpoint.bind({ host: '127.0.0.1', provider: nodeCrypto, createConnection: factory.create, closeWhenIdle: true });
  const ec = endpoint.connect({ remoteAddress: { address: '127.0.0.1', port: 9, family: 'IPv4' }, tls: { alpnProtocols: ['t'], insecureSkipVerify: true } });
  assert.is(endpoint.isClosed, false);
  ec.call((c, now) => c.close({ code: 0, application: true }, now));
  await until(() => endpoint.isClosed, 'the socket to close');
});

test.run();
