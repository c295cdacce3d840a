import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect, createEndpoint, QuicConnectionError, type QuicServer } from '../../src/index.js';
import { TlsAlert } from '../../src/tls/alerts.js';
import { QUIC_V1, QUIC_V2 } from '../../src/wire/version.js';
import { accepted, bytes, client, readAll, rejection, server, text, writeAll } from './helpers.js';

/** An echo service: every incoming bidirectional stream is piped back. */
function echo(s: QuicServer): void {
  s.connection$.subscribe((c) => {
    c.stream$.subscribe((stream) => {
      if ('writable' in stream) void stream.readable.pipeTo(stream.writable).catch(() => undefined);
    });
  });
}

for (const family of ['IPv4', 'IPv6'] as const) {
  test(`handshake and echo over ${family} loopback`, async () => {
    const s = await server({ host: family === 'IPv4' ? '127.0.0.1' : '::1' });
    echo(s);
    const c = await client(s);
    assert.is(c.alpnProtocol, 'test');
    assert.is(c.version, QUIC_V1);
    assert.is(c.role, 'client');
    assert.is(c.state === 'established' || c.state === 'confirmed', true);
    assert.equal(c.remoteAddress, { address: family === 'IPv4' ? '127.0.0.1' : '::1', port: s.address.port, family });
    assert.is(c.handshakeInfo?.peerCertificateTrust, 'pin');
    const stream = await c.createBidirectionalStream();
    const message = bytes(`hello over ${family}`);
    const [, back] = await Promise.all([writeAll(stream.writable, message), readAll(stream.readable)]);
    assert.is(text(back), `hello over ${family}`);
    await c.close();
    await s.close();
  });
}

test('dual stack: a server on :: serves an IPv4 client (seen as ::ffff:127.0.0.1); a client endpoint on :: reaches an IPv4 server', async () => {
  const dual = await server({ host: '::' });
  echo(dual);
  const serverSide = accepted(dual);
  const c = await connect({ host: '127.0.0.1', port: dual.address.port, alpn: ['test'], pinnedSpkiSha256: [dual.certificateSpkiSha256] });
  const stream = await c.createBidirectionalStream();
  const [, back] = await Promise.all([writeAll(stream.writable, bytes('mapped')), readAll(stream.readable)]);
  assert.is(text(back), 'mapped');
  assert.is((await serverSide).remoteAddress.address, '::ffff:127.0.0.1');
  await c.close();
  const v4 = await server();
  echo(v4);
  const endpoint = await createEndpoint({ host: '::' });
  const c2 = await endpoint.connect({ host: '127.0.0.1', port: v4.address.port, alpn: ['test'], pinnedSpkiSha256: [v4.certificateSpkiSha256] });
  assert.equal(c2.remoteAddress, { address: '::ffff:127.0.0.1', port: v4.address.port, family: 'IPv6' });
  const s2 = await c2.createBidirectionalStream();
  const [, back2] = await Promise.all([writeAll(s2.writable, bytes('from ::')), readAll(s2.readable)]);
  assert.is(text(back2), 'from ::');
  await endpoint.close();
  await Promise.all([dual.close(), v4.close()]);
});

test('a client trusting the generated certificate as its CA, by name, completes the handshake with path validation', async () => {
  const s = await server();
  assert.type(s.certificatePem, 'string');
  const c = await client(s, { pinnedSpkiSha256: undefined, ca: s.certificatePem, serverName: 'localhost' });
  assert.is(c.handshakeInfo?.peerCertificateTrust, 'path');
  assert.is(c.handshakeInfo?.serverName, 'localhost');
  await c.close();
  await s.close();
});

test('QUIC v2 (RFC 9369) works end to end when the client starts with it', async () => {
  const s = await server();
  echo(s);
  const c = await client(s, { version: QUIC_V2 });
  assert.is(c.version, QUIC_V2);
  const stream = await c.createBidirectionalStream();
  const [, back] = await Promise.all([writeAll(stream.writable, bytes('v2')), readAll(stream.readable)]);
  assert.is(text(back), 'v2');
  await c.close();
  await s.close();
});

test('a wrong pin fails connect() with a QuicConnectionError carrying the TLS alert as CRYPTO_ERROR', async () => {
  const s = await server();
  const error = await rejection(client(s, { pinnedSpkiSha256: ['AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='] }));
  assert.instance(error, QuicConnectionError);
  const e = error as QuicConnectionError;
  assert.is(e.application, false);
  assert.ok(e.tlsAlert !== undefined, `a TLS alert, got code ${e.code}`);
  assert.is(e.code, BigInt(0x100 + e.tlsAlert!));
  assert.is(e.source, 'local');
  await s.close();
});

test('an ALPN the server does not serve fails with no_application_protocol, seen by the client as the peer’s close', async () => {
  const s = await server({ alpn: ['other'] });
  const error = await rejection(client(s));
  assert.instance(error, QuicConnectionError);
  assert.is((error as QuicConnectionError).tlsAlert, TlsAlert.no_application_protocol);
  assert.is((error as QuicConnectionError).source, 'peer');
  await s.close();
});

test('the system trust store refuses the self-signed certificate', async () => {
  const s = await server();
  const error = await rejection(connect({ host: '127.0.0.1', port: s.address.port, alpn: ['test'], serverName: 'localhost' }));
  assert.instance(error, QuicConnectionError);
  assert.ok((error as QuicConnectionError).tlsAlert !== undefined);
  await s.close();
});

test('the server delivers the connection through incomingConnections, async iteration and onConnection alike', async () => {
  const seen: string[] = [];
  const s = await server({ onConnection: (c) => seen.push(`callback ${c.remoteAddress.port}`) });
  const fromStream = accepted(s);
  const c = await client(s);
  const sc = await fromStream;
  assert.is(sc.role, 'server');
  assert.is(sc.alpnProtocol, 'test');
  assert.is(sc.remoteAddress.port, c.localAddress.port);
  assert.equal(seen, [`callback ${c.localAddress.port}`]);
  const iterated = (async () => {
    for await (const next of s) return next;
    return undefined;
  })();
  const c2 = await client(s);
  const sc2 = await iterated;
  assert.is(sc2?.remoteAddress.port, c2.localAddress.port);
  await Promise.all([c.close(), c2.close()]);
  await s.close();
});

test('unidirectional streams carry data both ways; incomingUnidirectionalStreams ends when the connection closes', async () => {
  const s = await server();
  const serverSide = accepted(s);
  const c = await client(s);
  const sc = await serverSide;
  const up = await c.createUnidirectionalStream();
  await writeAll(up.writable, bytes('up'));
  const reader = sc.incomingUnidirectionalStreams.getReader();
  const first = await reader.read();
  assert.is(first.done, false);
  assert.is(text(await readAll(first.value!.readable)), 'up');
  const down = await sc.createUnidirectionalStream();
  await writeAll(down.writable, bytes('down'));
  const incoming = c.incomingUnidirectionalStreams.getReader();
  const d = await incoming.read();
  assert.is(text(await readAll(d.value!.readable)), 'down');
  assert.is(down.id % 4, 3, 'server-initiated unidirectional');
  assert.is(up.id % 4, 2, 'client-initiated unidirectional');
  await c.close();
  assert.is((await reader.read()).done, true);
  await s.close();
});

test.run();
