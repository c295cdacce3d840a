import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { nodeCrypto } from '../../src/crypto/node.js';
import { Endpoint } from '../../src/endpoint/endpoint.js';
import { StatelessResetTokenGenerator } from '../../src/transport/stateless-reset.js';
import { parsePacketHeader } from '../../src/wire/header.js';
import { isReservedVersion, QUIC_V1, QUIC_V2 } from '../../src/wire/version.js';
import { fakeFactory } from './fake-core.js';
import { initialDatagram, rawPeer, random, shortDatagram, unknownVersionDatagram, until } from './helpers.js';

const tls = { certificateChain: [], privateKey: undefined as never, alpnProtocols: ['test'] };

async function server(extra: Partial<Parameters<typeof Endpoint.bind>[0]> = {}) {
  const factory = fakeFactory();
  const endpoint = await Endpoint.bind({ host: '127.0.0.1', provider: nodeCrypto, createConnection: factory.create, ...extra });
  endpoint.listen({ tls, onConnection: () => undefined });
  return { endpoint, factory };
}

test('an unsupported version in a 1200-byte datagram gets Version Negotiation: IDs swapped, v1 and v2 listed, greased with a reserved version', async () => {
  const { endpoint, factory } = await server();
  const peer = await rawPeer();
  const dcid = random(12);
  const scid = random(3);
  await peer.send(unknownVersionDatagram(0x1a2b3c4d, dcid, scid), endpoint.address.port);
  const vn = await peer.next('Version Negotiation');
  const p = parsePacketHeader(vn, 0, { shortHeaderDcidLength: 0 });
  assert.is(p.form, 'versionNegotiation');
  if (p.form !== 'versionNegotiation') return;
  assert.equal([...p.dcid], [...scid]);
  assert.equal([...p.scid], [...dcid]);
  assert.ok(p.supportedVersions.includes(QUIC_V1));
  assert.ok(p.supportedVersions.includes(QUIC_V2));
  assert.ok(p.supportedVersions.some(isReservedVersion), 'a reserved version greases the list');
  assert.ok((vn[0] & 0x80) !== 0, 'long header form');
  assert.is(factory.cores.length, 0, 'no connection state');
  await peer.close();
  await endpoint.destroy();
});

test('Version Negotiation is not sent for a datagram under 1200 bytes, nor by an endpoint that does not listen', async () => {
  const { endpoint } = await server();
  const peer = await rawPeer();
  await peer.send(unknownVersionDatagram(0x1a2b3c4d, random(8), random(8), 1199), endpoint.address.port);
  await until(() => endpoint.stats.datagramsReceived === 1, 'the datagram');
  assert.is(endpoint.stats.versionNegotiationsSent, 0);
  assert.is(endpoint.stats.dropped.unsupportedVersion, 1);
  endpoint.stopListening();
  await peer.send(unknownVersionDatagram(0x1a2b3c4d, random(8), random(8), 1200), endpoint.address.port);
  await until(() => endpoint.stats.datagramsReceived === 2, 'the datagram');
  assert.is(endpoint.stats.versionNegotiationsSent, 0);
  assert.is(peer.inbox.length, 0);
  await peer.close();
  await endpoint.destroy();
});

test('Version Negotiation is rate limited per address', async () => {
  const { endpoint } = await server({ versionNegotiation: { perAddressRate: 0.001, perAddressBurst: 3, globalRate: 1000, globalBurst: 1000 } });
  const peer = await rawPeer();
  for (let i = 0; i < 10; i++) await peer.send(unknownVersionDatagram(0x1a2b3c4d, random(8), random(8)), endpoint.address.port);
  await until(() => endpoint.stats.datagramsReceived === 10, 'all datagrams');
  assert.is(endpoint.stats.versionNegotiationsSent, 3);
  assert.is(endpoint.stats.dropped.unsupportedVersion, 7);
  await peer.close();
  await endpoint.destroy();
});

test('a short header for an unknown connection ID gets a stateless reset: smaller than the trigger, ending in the token of that ID', async () => {
  const { endpoint } = await server();
  const peer = await rawPeer();
  const dcid = random(8);
  await peer.send(shortDatagram(dcid, 200), endpoint.address.port);
  const reset = await peer.next('a stateless reset');
  assert.ok(reset.length < 200, `reset of ${reset.length} bytes answers 200`);
  assert.ok(reset.length >= 21);
  assert.is(reset[0] & 0xc0, 0x40, 'short header form with the fixed bit');
  const token = new StatelessResetTokenGenerator(nodeCrypto, endpoint.resetKey).token(dcid);
  assert.equal([...reset.subarray(reset.length - 16)], [...token]);
  assert.is(endpoint.stats.statelessResetsSent, 1);
  await peer.close();
  await endpoint.destroy();
});

test('a trigger of 43 bytes or fewer gets a reset exactly one byte shorter; 21 bytes or fewer gets none', async () => {
  const { endpoint } = await server();
  const peer = await rawPeer();
  await peer.send(shortDatagram(random(8), 40), endpoint.address.port);
  const reset = await peer.next();
  assert.is(reset.length, 39);
  await peer.send(shortDatagram(random(8), 21), endpoint.address.port);
  await peer.send(shortDatagram(random(8), 22), endpoint.address.port);
  const second = await peer.next();
  assert.is(second.length, 21, 'the 22-byte trigger is answered, the 21-byte one is not');
  assert.is(endpoint.stats.statelessResetsSent, 2);
  assert.is(endpoint.stats.dropped.unanswered, 1);
  await peer.close();
  await endpoint.destroy();
});

test('stateless resets are rate limited, and can be disabled', async () => {
  const limited = await server({ statelessReset: { perAddressRate: 0.001, perAddressBurst: 2 } });
  const peer = await rawPeer();
  for (let i = 0; i < 6; i++) await peer.send(shortDatagram(random(8), 100), limited.endpoint.address.port);
  await until(() => limited.endpoint.stats.datagramsReceived === 6, 'all datagrams');
  assert.is(limited.endpoint.stats.statelessResetsSent, 2);
  await limited.endpoint.destroy();
  const disabled = await server({ statelessReset: false });
  await peer.send(shortDatagram(random(8), 100), disabled.endpoint.address.port);
  await until(() => disabled.endpoint.stats.datagramsReceived === 1, 'the datagram');
  assert.is(disabled.endpoint.stats.statelessResetsSent, 0);
  await peer.close();
  await disabled.endpoint.destroy();
});

test('an unroutable short header from the peer of a live connection is offered to that connection (it may be a reset), never answered', async () => {
  const { endpoint, factory } = await server();
  const peer = await rawPeer();
  await peer.send(initialDatagram({ dcid: random(8), scid: random(8) }), endpoint.address.port);
  await until(() => factory.cores.length === 1 && factory.cores[0].received.length === 1, 'the connection');
  const maybeReset = shortDatagram(random(8), 60);
  await peer.send(maybeReset, endpoint.address.port);
  await until(() => factory.cores[0].received.length === 2, 'the offered datagram');
  assert.equal([...factory.cores[0].received[1].datagram], [...maybeReset]);
  assert.is(endpoint.stats.statelessResetsSent, 0);
  assert.is(endpoint.stats.offeredByAddress, 1);
  await peer.close();
  await endpoint.destroy();
});

test('long header packets other than a client Initial for unknown connections are dropped silently', async () => {
  const { endpoint, factory } = await server();
  const peer = await rawPeer();
  await peer.send(initialDatagram({ dcid: random(8), scid: random(8), type: 'handshake' }), endpoint.address.port);
  await peer.send(initialDatagram({ dcid: random(8), scid: random(8), type: 'zeroRtt' }), endpoint.address.port);
  await until(() => endpoint.stats.datagramsReceived === 2, 'the datagrams');
  assert.is(endpoint.stats.dropped.unknownConnection, 2);
  assert.is(factory.cores.length, 0);
  assert.is(endpoint.stats.datagramsSent, 0);
  await peer.close();
  await endpoint.destroy();
});

test.run();
