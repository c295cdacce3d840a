// Key updates (RFC 9001 §6) in the middle of transfers: initiated by either side through
// updateKeys, answered by the peer, and triggered automatically by the packet builder's key
// budget — with loss and reordering, every byte still arrives.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createPair, Transfer, type Pair } from '../support/connection-pair.js';

const MB = 1 << 20;

async function midTransferUpdate(initiator: 'client' | 'server'): Promise<{ p: Pair; t: Transfer }> {
  const t = new Transfer({ streams: 2, bytes: MB, response: MB });
  const p = await createPair({ seed: 21, link: { loss: 0.02, jitter: 4 }, clientHandler: t.clientHandler, serverHandler: t.serverHandler });
  assert.ok(p.net.run(() => p.hasServer && p.server.conn.stats().streamBytesReceived >= MB / 2, 120_000), 'transfer under way');
  const side = initiator === 'client' ? p.client : p.server;
  let started = false;
  // updateKeys may have to wait for an acknowledgement of a packet of the current phase.
  p.net.run(() => (started = side.act((c, now) => c.updateKeys(now))), 10_000);
  assert.ok(started, 'the key update started');
  assert.is(side.conn.stats().keyUpdates, 1);
  assert.ok(p.net.run(() => t.done, 600_000), 'transfer finished');
  assert.equal(t.mismatches(), []);
  return { p, t };
}

test('a key update initiated by the client mid-transfer is answered by the server; the transfer is byte-exact', async () => {
  const { p } = await midTransferUpdate('client');
  assert.is(p.client.conn.stats().keyUpdates, 1);
  assert.is(p.server.conn.stats().keyUpdates, 1, 'the server followed');
  assert.is(p.client.closeInfo, undefined);
  assert.is(p.server.closeInfo, undefined);
});

test('a key update initiated by the server mid-transfer is answered by the client; the transfer is byte-exact', async () => {
  const { p } = await midTransferUpdate('server');
  assert.is(p.server.conn.stats().keyUpdates, 1);
  assert.is(p.client.conn.stats().keyUpdates, 1, 'the client followed');
});

test('the builder updates keys on its own once a key has protected keyUpdatePackets packets, many times, through loss and reordering', async () => {
  const t = new Transfer({ streams: 2, bytes: MB, response: MB });
  const p = await createPair({
    seed: 8,
    link: { loss: 0.02, reorder: 0.05, jitter: 3 },
    clientTransport: { keyUpdatePackets: 150 },
    serverTransport: { keyUpdatePackets: 200 },
    clientHandler: t.clientHandler,
    serverHandler: t.serverHandler,
  });
  assert.ok(p.net.run(() => t.done, 600_000), 'transfer finished');
  assert.equal(t.mismatches(), []);
  const c = p.client.conn.stats().keyUpdates;
  const s = p.server.conn.stats().keyUpdates;
  assert.ok(c >= 4 && s >= 4, `key updates: client ${c}, server ${s}`);
  // Every update is answered, so both sides went through the same generations.
  assert.ok(Math.abs(c - s) <= 1, 'both sides kept in step');
});

test('updateKeys is refused before the handshake is confirmed and while the previous update is unconfirmed', async () => {
  const p = await createPair();
  assert.not.ok(p.client.act((c, now) => c.updateKeys(now)), 'not before confirmation (RFC 9001 §6.1)');
  assert.ok(p.handshake());
  // Exchange 1-RTT packets so that a packet of the current phase is acknowledged.
  p.client.act((c, now) => c.writeStream(c.openStream(true, now) as number, new Uint8Array(1000), false, now));
  p.net.advance(200);
  assert.ok(p.client.act((c, now) => c.updateKeys(now)), 'allowed once a packet of the current phase was acknowledged');
  assert.not.ok(p.client.act((c, now) => c.updateKeys(now)), 'not again before the peer answered and acknowledged the new phase');
  p.client.act((c, now) => c.writeStream(0, new Uint8Array(1000), false, now));
  p.net.advance(40);
  assert.not.ok(p.client.act((c, now) => c.updateKeys(now)), 'not within three PTOs of the confirming acknowledgement (RFC 9001 §6.5)');
  p.net.advance(2_000);
  p.client.act((c, now) => c.writeStream(0, new Uint8Array(1000), false, now));
  p.net.advance(100);
  assert.ok(p.client.act((c, now) => c.updateKeys(now)), 'allowed again later');
  assert.is(p.client.conn.stats().keyUpdates, 2);
});

test.run();
