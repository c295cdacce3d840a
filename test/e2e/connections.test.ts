import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createSocket } from 'node:dgram';
import { createEndpoint, type QuicConnection, type QuicServer } from '../../src/index.js';
import { bytes, client, readAll, server, text, until, writeAll } from './helpers.js';

/** Echo with a prefix naming the server connection, so a client sees which connection answered. */
function taggedEcho(s: QuicServer): QuicConnection[] {
  const connections: QuicConnection[] = [];
  s.connection$.subscribe((c) => {
    const tag = connections.push(c) - 1;
    c.stream$.subscribe(async (stream) => {
      if (!('writable' in stream)) return;
      const data = await readAll(stream.readable);
      await writeAll(stream.writable, bytes(`${tag}:${text(data)}`));
    });
  });
  return connections;
}

async function ask(c: QuicConnection, message: string): Promise<string> {
  const stream = await c.createBidirectionalStream();
  const [, back] = await Promise.all([writeAll(stream.writable, bytes(message)), readAll(stream.readable)]);
  return text(back);
}

test('several clients on one server socket each talk to their own connection', async () => {
  const s = await server();
  const serverConnections = taggedEcho(s);
  const clients = await Promise.all(Array.from({ length: 6 }, () => client(s)));
  assert.is(s.connectionCount, 6);
  const answers = await Promise.all(clients.map((c, i) => ask(c, `client ${i}`)));
  const tags = new Set<string>();
  answers.forEach((a, i) => {
    const [tag, rest] = a.split(':');
    assert.is(rest, `client ${i}`);
    tags.add(tag);
    // The server connection that answered is the one whose peer is this client.
    assert.is(serverConnections[Number(tag)].remoteAddress.port, clients[i].localAddress.port);
  });
  assert.is(tags.size, 6, 'six distinct server connections');
  await Promise.all(clients.map((c) => c.close()));
  await s.close();
});

test('client connections can share one endpoint (one local port) and stay separate', async () => {
  const s = await server();
  taggedEcho(s);
  const endpoint = await createEndpoint({ host: '127.0.0.1' });
  const a = await client(s, { endpoint });
  const b = await endpoint.connect({ host: '127.0.0.1', port: s.address.port, alpn: ['test'], pinnedSpkiSha256: [s.certificateSpkiSha256] });
  assert.is(a.localAddress.port, endpoint.address.port);
  assert.is(b.localAddress.port, endpoint.address.port);
  assert.is(endpoint.connectionCount, 2);
  const [ra, rb] = await Promise.all([ask(a, 'a'), ask(b, 'b')]);
  assert.is(ra.split(':')[1], 'a');
  assert.is(rb.split(':')[1], 'b');
  assert.is.not(ra.split(':')[0], rb.split(':')[0]);
  await a.close();
  assert.is(await ask(b, 'still here'), `${rb.split(':')[0]}:still here`, 'closing one leaves the other working');
  await endpoint.close();
  await s.close();
});

test('connect({ localPort }) binds the client’s own socket to that port', async () => {
  const s = await server();
  taggedEcho(s);
  // A port that was free a moment ago (loopback, this process).
  const probe = createSocket('udp4');
  await new Promise<void>((resolve) => probe.bind(0, '127.0.0.1', resolve));
  const port = probe.address().port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const c = await client(s, { localHost: '127.0.0.1', localPort: port });
  assert.is(c.localAddress.port, port);
  assert.is((await ask(c, 'from a fixed port')).split(':')[1], 'from a fixed port');
  await c.close();
  await s.close();
});

test('a server endpoint can also make client connections (to another server) from the same socket', async () => {
  const s1 = await server();
  const s2 = await server();
  taggedEcho(s2);
  const c = await client(s2, { endpoint: s1.endpoint });
  assert.is(c.localAddress.port, s1.address.port);
  assert.is((await ask(c, 'via s1')).split(':')[1], 'via s1');
  await c.close();
  await Promise.all([s1.close(), s2.close()]);
});

test('bad datagrams (garbage, truncated headers, a forged packet with a live connection ID) never affect the connections', async () => {
  const s = await server();
  taggedEcho(s);
  const a = await client(s);
  const b = await client(s);
  assert.is((await ask(a, 'before')).split(':')[1], 'before');
  const raw = createSocket('udp4');
  await new Promise<void>((resolve) => raw.bind(0, '127.0.0.1', resolve));
  const send = (d: Uint8Array): Promise<void> => new Promise((resolve) => raw.send(d, s.address.port, '127.0.0.1', () => resolve()));
  const stats = s.stats();
  const received = stats.datagramsReceived;
  const bad: Uint8Array[] = [new Uint8Array([0xff]), new Uint8Array([0xc0, 0, 0, 0, 1]), new Uint8Array(1200).fill(0xc3), crypto.getRandomValues(new Uint8Array(300))];
  for (const d of bad) await send(d);
  // A short header packet carrying connection b's routing: it reaches b's connection, which
  // cannot decrypt it (and it comes from another address) and drops it.
  const cidOfB = [...s.endpoint.endpoint['routes'].entries()].find(([, conn]) => conn.remoteAddress.port === b.localAddress.port)?.[0];
  assert.ok(cidOfB !== undefined);
  const forged = crypto.getRandomValues(new Uint8Array(200));
  forged[0] = 0x40;
  forged.set(Buffer.from(cidOfB!.slice(0, 16), 'hex'), 1);
  await send(forged);
  await until(() => s.stats().datagramsReceived >= received + bad.length + 1, 'the bad datagrams');
  assert.ok(s.stats().dropped.malformed >= 2);
  assert.is((await ask(a, 'after a')).split(':')[1], 'after a');
  assert.is((await ask(b, 'after b')).split(':')[1], 'after b');
  assert.is(a.state === 'confirmed' || a.state === 'established', true);
  assert.is(s.connectionCount, 2);
  raw.close();
  await Promise.all([a.close(), b.close()]);
  await s.close();
});

test('with retry on, a client is validated by a Retry round trip and then served', async () => {
  const s = await server({ retry: true });
  taggedEcho(s);
  const c = await client(s);
  assert.is((await ask(c, 'validated')).split(':')[1], 'validated');
  assert.is(s.stats().retriesSent, 1);
  assert.is(s.stats().connectionsAccepted, 1);
  await c.close();
  await s.close();
});

test('an unsupported version from a real socket gets Version Negotiation from a live server, which keeps serving', async () => {
  const s = await server();
  taggedEcho(s);
  const raw = createSocket('udp4');
  await new Promise<void>((resolve) => raw.bind(0, '127.0.0.1', resolve));
  const got = new Promise<Buffer>((resolve) => raw.once('message', resolve));
  const probe = new Uint8Array(1200);
  probe.set([0xc0, 0x0a, 0x1a, 0x2a, 0x3a, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0]);
  raw.send(probe, s.address.port, '127.0.0.1');
  const vn = await got;
  assert.is(vn.readUInt32BE(1), 0, 'Version Negotiation');
  raw.close();
  const c = await client(s);
  assert.is((await ask(c, 'ok')).split(':')[1], 'ok');
  await c.close();
  await s.close();
});

test.run();
