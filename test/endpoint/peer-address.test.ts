// The endpoint follows a connection's peer address change (RFC 9000 §9.3): datagrams of a flush
// go to the core's current remoteAddress, off-path datagrams (drainOffPathDatagrams) to their own
// address, and the by-address map that offers unroutable short headers to connections as possible
// stateless resets (RFC 9000 §10.3.1) moves from the old address to the new one.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { nodeCrypto } from '../../src/crypto/node.js';
import { cidKey } from '../../src/endpoint/cid-key.js';
import { Endpoint } from '../../src/endpoint/endpoint.js';
import { fakeFactory } from './fake-core.js';
import { bytes, initialDatagram, rawPeer, random, shortDatagram, text, until } from './helpers.js';

const tls = { certificateChain: [], privateKey: undefined as never, alpnProtocols: ['test'] };

test('after the core moves to a new peer address, flushes go there, off-path datagrams go to their address, and the stateless-reset address map follows', async () => {
  const factory = fakeFactory((core) => {
    core.onReceive = (_r, c) => c.queue(bytes(`echo ${cidKey(c.localConnectionIds()[0])} ${c.received.length}`));
  });
  const endpoint = await Endpoint.bind({ host: '127.0.0.1', port: 0, provider: nodeCrypto, createConnection: factory.create });
  endpoint.listen({ tls, onConnection: () => undefined });
  const oldPeer = await rawPeer();
  const newPeer = await rawPeer();
  await oldPeer.send(initialDatagram({ dcid: random(8), scid: random(8) }), endpoint.address.port);
  assert.ok(text(await oldPeer.next('the echo')).startsWith('echo '));
  const core = factory.cores[0];

  // The peer migrated (as QuicConnection.remoteAddress does after RFC 9000 §9.3); a PATH_CHALLENGE goes on the old path.
  core.remoteAddress = { address: '127.0.0.1', port: newPeer.port, family: 'IPv4' };
  core.queueOffPath(bytes('challenge on the old path'), { address: '127.0.0.1', port: oldPeer.port, family: 'IPv4' });
  core.queue(bytes('to the new address'));
  assert.is(text(await newPeer.next('the flush at the new address')), 'to the new address');
  assert.is(text(await oldPeer.next('the off-path datagram')), 'challenge on the old path');

  // An unroutable short header from the new address is offered to the connection (it may be a stateless reset from its peer).
  const offered = endpoint.stats.offeredByAddress;
  const received = core.received.length;
  await newPeer.send(shortDatagram(random(8)), endpoint.address.port);
  await until(() => endpoint.stats.offeredByAddress === offered + 1, 'offered by the new address');
  assert.is(core.received.length, received + 1);
  // One from the old address no longer is: it gets a stateless reset like any stranger's.
  const resets = endpoint.stats.statelessResetsSent;
  await oldPeer.send(shortDatagram(random(8), 200), endpoint.address.port);
  await until(() => endpoint.stats.statelessResetsSent === resets + 1, 'a stateless reset to the old address');
  assert.is(endpoint.stats.offeredByAddress, offered + 1);
  await Promise.all([oldPeer.close(), newPeer.close()]);
  await endpoint.destroy();
});

test.run();
