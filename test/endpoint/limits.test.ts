/**
 * Connection and handshake limits of a server endpoint (maxConnections, maxHandshakes): what a
 * flood of client Initials can make the server hold, and how the refused or retried Initials are
 * answered (RFC 9000 §5.2.2, §8.1.2, §10.2.3). Fake cores, raw UDP peers on loopback.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { initialKeys } from '../../src/crypto/keys.js';
import { nodeCrypto } from '../../src/crypto/node.js';
import { openPacket, removeHeaderProtection } from '../../src/crypto/packet-protection.js';
import { Endpoint, type EndpointServerOptions } from '../../src/endpoint/endpoint.js';
import type { ServerConnectionOptions } from '../../src/transport/connection-types.js';
import { TransportErrorCode } from '../../src/wire/errors.js';
import { decodeFrames } from '../../src/wire/frames/decode.js';
import { parsePacketHeader } from '../../src/wire/header.js';
import { fakeFactory, type FakeCore } from './fake-core.js';
import { initialDatagram, rawPeer, random, until, type RawPeer } from './helpers.js';

const tls = { certificateChain: [], privateKey: undefined as never, alpnProtocols: ['test'] };

async function limitedServer(options: Partial<EndpointServerOptions>) {
  const factory = fakeFactory();
  const endpoint = await Endpoint.bind({ host: '127.0.0.1', provider: nodeCrypto, createConnection: factory.create });
  endpoint.listen({ tls, onConnection: () => undefined, ...options });
  return { endpoint, factory };
}

/** The transport error code of the CONNECTION_CLOSE in a server Initial answering a client Initial with `clientDcid`. */
function closeCode(datagram: Uint8Array, clientDcid: Uint8Array): bigint | undefined {
  const p = parsePacketHeader(datagram, 0, { shortHeaderDcidLength: 0 });
  if (p.form !== 'long' || p.type !== 'initial') return undefined;
  const keys = initialKeys(nodeCrypto, p.version, clientDcid, 'client').receive;
  const buf = datagram.slice();
  const h = removeHeaderProtection(keys.hp, buf, p.packetStart, p.pnOffset, p.packetEnd, -1);
  const end = openPacket(keys, buf, p.packetStart, p.pnOffset, h.pnLength, h.packetNumber, p.packetEnd);
  const frame = decodeFrames(buf.subarray(p.pnOffset + h.pnLength, end), 'initial')[0];
  return frame?.kind === 'connectionClose' && !frame.application ? frame.errorCode : undefined;
}

async function sendInitial(peer: RawPeer, endpoint: Endpoint, dcid = random(8), token?: Uint8Array): Promise<Uint8Array> {
  await peer.send(initialDatagram({ dcid, scid: random(8), token }), endpoint.address.port);
  return dcid;
}

/** Reports the fake core's handshake complete, as the real core does, and has the endpoint drain it (a flush settles). */
function completeHandshake(core: FakeCore): void {
  core.emit({ type: 'handshakeComplete', info: {} as never });
  core.pending$.next();
}

test('at maxConnections a client Initial creates no connection and is answered with an Initial CONNECTION_CLOSE carrying CONNECTION_REFUSED', async () => {
  const { endpoint, factory } = await limitedServer({ maxConnections: 2 });
  const peer = await rawPeer();
  await sendInitial(peer, endpoint);
  await sendInitial(peer, endpoint);
  await until(() => endpoint.connectionCount === 2, 'two connections');
  const refusedDcid = await sendInitial(peer, endpoint);
  const answer = await peer.next('the refusal');
  assert.is(closeCode(answer, refusedDcid), BigInt(TransportErrorCode.CONNECTION_REFUSED));
  assert.ok(answer.length < 1200, 'far below the anti-amplification limit (RFC 9000 §8.1)');
  assert.is(factory.cores.length, 2, 'no third core was created');
  assert.is(endpoint.connectionCount, 2);
  assert.is(endpoint.stats.initialsRefused, 1);
  assert.is(endpoint.stats.connectionsAccepted, 2);
  // The existing connections still get their datagrams.
  const before = factory.cores[0].received.length;
  const cid = factory.cores[0].localConnectionIds()[0];
  await peer.send(initialDatagram({ dcid: cid, scid: random(8), type: 'handshake' }), endpoint.address.port);
  await until(() => factory.cores[0].received.length === before + 1, 'a datagram for an existing connection');
  await peer.close();
  await endpoint.destroy();
});

test('a flood of client Initials at the limit grows no state: connections stay at maxConnections and refusals beyond the rate limit are dropped and counted', async () => {
  const { endpoint, factory } = await limitedServer({ maxConnections: 3, refusals: { perAddressRate: 1, perAddressBurst: 5, globalRate: 1, globalBurst: 5 } });
  const peer = await rawPeer();
  for (let i = 0; i < 3; i++) await sendInitial(peer, endpoint);
  await until(() => endpoint.connectionCount === 3, 'three connections');
  const flood = 300;
  for (let i = 0; i < flood; i++) await sendInitial(peer, endpoint);
  await until(() => endpoint.stats.datagramsReceived === 3 + flood, 'the flood');
  assert.is(endpoint.connectionCount, 3);
  assert.is(endpoint.serverConnectionCount, 3);
  assert.is(factory.cores.length, 3, 'no core created for a refused Initial');
  assert.is(endpoint.stats.initialsRefused, 5, 'the burst of refusals, then the rate limit');
  assert.is(endpoint.stats.dropped.refusalLimited, flood - 5);
  assert.is(endpoint.stats.datagramsSent, 5);
  await peer.close();
  await endpoint.destroy();
});

test('a connection that is gone frees its slot: the next client Initial creates a connection again', async () => {
  const { endpoint, factory } = await limitedServer({ maxConnections: 1 });
  const peer = await rawPeer();
  await sendInitial(peer, endpoint);
  await until(() => endpoint.connectionCount === 1, 'the connection');
  const refused = await sendInitial(peer, endpoint);
  assert.is(closeCode(await peer.next('the refusal'), refused), BigInt(TransportErrorCode.CONNECTION_REFUSED));
  const first = factory.cores[0];
  first.close({ code: 0 }, endpoint.clock());
  first.pending$.next();
  await until(() => endpoint.connectionCount === 0, 'the first connection to be gone');
  assert.is(endpoint.serverConnectionCount, 0);
  await sendInitial(peer, endpoint);
  await until(() => factory.cores.length === 2 && endpoint.connectionCount === 1, 'a new connection');
  assert.is(endpoint.stats.initialsRefused, 1);
  await peer.close();
  await endpoint.destroy();
});

test('beyond maxHandshakes a client Initial gets a Retry (address validation under load) and its token-bearing Initial is admitted', async () => {
  const { endpoint, factory } = await limitedServer({ maxHandshakes: 1, maxConnections: 10 });
  const peer = await rawPeer();
  await sendInitial(peer, endpoint);
  await until(() => endpoint.handshakeCount === 1, 'one handshake in progress');
  const dcid = random(8);
  const scid = random(8);
  await peer.send(initialDatagram({ dcid, scid }), endpoint.address.port);
  const retry = parsePacketHeader(await peer.next('a Retry'), 0, { shortHeaderDcidLength: 0 });
  assert.is(retry.form, 'retry');
  if (retry.form !== 'retry') return;
  assert.is(factory.cores.length, 1, 'no state for the retried Initial');
  assert.is(endpoint.stats.retriesUnderLoad, 1);
  assert.is(endpoint.stats.retriesSent, 1);
  await peer.send(initialDatagram({ dcid: retry.scid, scid, token: retry.token }), endpoint.address.port);
  await until(() => factory.cores.length === 2, 'the validated client’s connection');
  const o = factory.cores[1].options as ServerConnectionOptions;
  assert.is(o.addressValidated, true);
  assert.equal([...o.originalDestinationCid], [...dcid]);
  assert.is(endpoint.handshakeCount, 2, 'a validated client is admitted beyond maxHandshakes, up to maxConnections');
  await peer.close();
  await endpoint.destroy();
});

test('a completed handshake frees its handshake slot: the next client Initial is accepted without a Retry', async () => {
  const { endpoint, factory } = await limitedServer({ maxHandshakes: 1 });
  const peer = await rawPeer();
  await sendInitial(peer, endpoint);
  await until(() => endpoint.handshakeCount === 1, 'one handshake in progress');
  completeHandshake(factory.cores[0]);
  await until(() => endpoint.handshakeCount === 0, 'the handshake to complete');
  assert.is(endpoint.connectionCount, 1);
  await sendInitial(peer, endpoint);
  await until(() => factory.cores.length === 2, 'a second connection');
  assert.is(endpoint.stats.retriesSent, 0);
  assert.is(peer.inbox.length, 0, 'nothing answered statelessly');
  await peer.close();
  await endpoint.destroy();
});

test('beyond maxHandshakes with retry: false a client Initial is refused with CONNECTION_REFUSED', async () => {
  const { endpoint, factory } = await limitedServer({ maxHandshakes: 1, retry: false });
  const peer = await rawPeer();
  await sendInitial(peer, endpoint);
  await until(() => endpoint.handshakeCount === 1, 'one handshake in progress');
  const refused = await sendInitial(peer, endpoint);
  assert.is(closeCode(await peer.next('the refusal'), refused), BigInt(TransportErrorCode.CONNECTION_REFUSED));
  assert.is(factory.cores.length, 1);
  assert.is(endpoint.stats.initialsRefused, 1);
  assert.is(endpoint.stats.retriesSent, 0);
  await peer.close();
  await endpoint.destroy();
});

test('at maxConnections an Initial with a valid Retry token is still refused (RFC 9000 §8.1: a validated address is not a connection)', async () => {
  const { endpoint, factory } = await limitedServer({ retry: true, maxConnections: 1 });
  const peer = await rawPeer();
  // Client A: Retry, then admitted.
  const scidA = random(8);
  await peer.send(initialDatagram({ dcid: random(8), scid: scidA }), endpoint.address.port);
  const retryA = parsePacketHeader(await peer.next('a Retry for A'), 0, { shortHeaderDcidLength: 0 });
  if (retryA.form !== 'retry') throw new Error('expected a Retry');
  // Client B gets its Retry before A takes the only slot.
  const scidB = random(8);
  await peer.send(initialDatagram({ dcid: random(8), scid: scidB }), endpoint.address.port);
  const retryB = parsePacketHeader(await peer.next('a Retry for B'), 0, { shortHeaderDcidLength: 0 });
  if (retryB.form !== 'retry') throw new Error('expected a Retry');
  await peer.send(initialDatagram({ dcid: retryA.scid, scid: scidA, token: retryA.token }), endpoint.address.port);
  await until(() => endpoint.connectionCount === 1, 'A’s connection');
  await peer.send(initialDatagram({ dcid: retryB.scid, scid: scidB, token: retryB.token }), endpoint.address.port);
  assert.is(closeCode(await peer.next('B’s refusal'), retryB.scid), BigInt(TransportErrorCode.CONNECTION_REFUSED));
  assert.is(factory.cores.length, 1);
  assert.is(endpoint.stats.invalidTokens, 0, 'B’s token was valid');
  assert.is(endpoint.stats.initialsRefused, 1);
  await peer.close();
  await endpoint.destroy();
});

test('client connections started on a listening endpoint do not take server connection slots', async () => {
  const { endpoint, factory } = await limitedServer({ maxConnections: 1 });
  const peer = await rawPeer();
  endpoint.connect({ remoteAddress: { address: '127.0.0.1', port: peer.port, family: 'IPv4' }, tls: { alpnProtocols: ['test'] } as never });
  assert.is(endpoint.connectionCount, 1);
  assert.is(endpoint.serverConnectionCount, 0);
  await sendInitial(peer, endpoint);
  await until(() => endpoint.serverConnectionCount === 1, 'the server connection');
  assert.is(factory.cores.length, 2);
  await peer.close();
  await endpoint.destroy();
});

test('limits must be non-negative integers or Infinity', async () => {
  const factory = fakeFactory();
  const endpoint = await Endpoint.bind({ host: '127.0.0.1', provider: nodeCrypto, createConnection: factory.create });
  for (const bad of [-1, 1.5, Number.NaN]) {
    assert.throws(() => endpoint.listen({ tls, onConnection: () => undefined, maxConnections: bad }), RangeError);
    assert.throws(() => endpoint.listen({ tls, onConnection: () => undefined, maxHandshakes: bad }), RangeError);
  }
  endpoint.listen({ tls, onConnection: () => undefined, maxConnections: Number.POSITIVE_INFINITY, maxHandshakes: 0, retry: false });
  const peer = await rawPeer();
  const refused = await sendInitial(peer, endpoint);
  assert.is(closeCode(await peer.next('the refusal'), refused), BigInt(TransportErrorCode.CONNECTION_REFUSED), 'maxHandshakes 0 without Retry admits no one');
  await peer.close();
  await endpoint.destroy();
});

test.run();
