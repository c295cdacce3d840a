import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { InspectionEvent } from 'xstate';
import { QuicConnectionError, type ConnectionState } from '../../src/index.js';
import { TransportErrorCode } from '../../src/wire/errors.js';
import { accepted, client, rejection, server, until } from './helpers.js';

test('close with a code and reason: the peer sees an application close from the peer with both', async () => {
  const s = await server();
  const serverSide = accepted(s);
  const c = await client(s);
  const sc = await serverSide;
  const local = await c.close({ closeCode: 0x1234, reason: 'finished here' });
  assert.equal(local, { source: 'local', application: true, code: 0x1234n, reason: 'finished here' });
  const remote = await sc.closed;
  assert.is(remote.source, 'peer');
  assert.is(remote.application, true);
  assert.is(remote.code, 0x1234n);
  assert.is(remote.reason, 'finished here');
  assert.is(c.state, 'closed');
  await s.close();
});

test('a server-side close reaches the client, whose open stream and pending stream creation fail with the close info', async () => {
  const s = await server({ transport: { maxStreamsBidi: 1 } });
  const serverSide = accepted(s);
  const c = await client(s);
  const sc = await serverSide;
  const stream = await c.createBidirectionalStream();
  const blocked = rejection(c.createBidirectionalStream());
  const reading = rejection(stream.readable.getReader().read());
  await sc.close({ closeCode: 9, reason: 'server going away' });
  const info = await c.closed;
  assert.equal({ source: info.source, code: info.code, reason: info.reason }, { source: 'peer', code: 9n, reason: 'server going away' });
  const e1 = await blocked;
  const e2 = await reading;
  assert.instance(e1, QuicConnectionError);
  assert.instance(e2, QuicConnectionError);
  assert.is((e2 as QuicConnectionError).code, 9n);
  await s.close();
});

test('a close from the peer fails the open streams at once, while the connection is still draining (closed waits for the period)', async () => {
  const s = await server();
  const serverSide = accepted(s);
  const c = await client(s);
  const sc = await serverSide;
  const stream = await c.createBidirectionalStream();
  let closedSettled = false;
  void c.closed.then(() => (closedSettled = true));
  const reading = rejection(stream.readable.getReader().read());
  // Not awaited here: the server's close resolves only after its own closing period (three PTOs),
  // by which time the client's draining period — as long, and begun a moment later — may be over
  // too (it was, once, on a loaded CI machine).
  const serverClosed = sc.close({ closeCode: 5, reason: 'bye' });
  const error = await reading;
  assert.instance(error, QuicConnectionError);
  assert.is((error as QuicConnectionError).code, 5n);
  // RFC 9000 §10.2.2: the client drains for three PTOs; the application heard of the close before.
  assert.is(c.state, 'draining');
  assert.is(closedSettled, false);
  assert.is(c.closeReason, undefined);
  await serverClosed;
  const info = await c.closed;
  assert.is(info.code, 5n);
  assert.is(c.state, 'closed');
  await s.close();
});

test('while the connection is closing, opening a stream or writing fails with a QuicConnectionError carrying the close info', async () => {
  const s = await server();
  const c = await client(s);
  const stream = await c.createBidirectionalStream();
  const writer = stream.writable.getWriter();
  await writer.write(new Uint8Array(10));
  void c.close({ closeCode: 4, reason: 'going' });
  assert.is(c.state, 'closing');
  const openError = await rejection(c.createBidirectionalStream());
  assert.instance(openError, QuicConnectionError);
  assert.is((openError as QuicConnectionError).code, 4n);
  const writeError = await rejection(writer.write(new Uint8Array(10)));
  assert.instance(writeError, QuicConnectionError);
  await c.closed;
  await s.close();
});

test('an idle connection times out on both sides (source idle-timeout)', async () => {
  const s = await server({ transport: { maxIdleTimeout: 300 } });
  const serverSide = accepted(s);
  const c = await client(s, { transport: { maxIdleTimeout: 300 } });
  const sc = await serverSide;
  const [ci, si] = await Promise.all([c.closed, sc.closed]);
  assert.is(ci.source, 'idle-timeout');
  assert.is(si.source, 'idle-timeout');
  assert.is(s.connectionCount, 0, 'the server forgot the connection');
  await s.close();
});

test('keep-alive PINGs hold an otherwise idle connection open past the idle timeout', async () => {
  const s = await server({ transport: { maxIdleTimeout: 300 } });
  const serverSide = accepted(s);
  const c = await client(s, { transport: { maxIdleTimeout: 300, keepAliveInterval: 50 } });
  const sc = await serverSide;
  // Wait for several idle periods' worth of keep-alives (packets counted, not time).
  const start = c.stats().packetsSent;
  await until(() => c.stats().packetsSent >= start + 20, 'twenty keep-alive packets');
  assert.is(c.closeReason, undefined);
  assert.is(sc.closeReason, undefined);
  await c.close();
  await s.close();
});

test('state$ reports the lifecycle from the current state to closed, then completes', async () => {
  const s = await server();
  const c = await client(s);
  const states: ConnectionState[] = [];
  let completed = false;
  c.state$.subscribe({ next: (v) => states.push(v), complete: () => (completed = true) });
  await c.close();
  await until(() => completed, 'state$ to complete');
  assert.ok(states[0] === 'established' || states[0] === 'confirmed', `starts at ${states[0]}`);
  assert.is(states[states.length - 1], 'closed');
  assert.ok(states.includes('closing') || states.includes('draining'), `went through closing: ${states.join(' → ')}`);
  await s.close();
});

test('server.close() closes its connections (the client sees the peer’s close) and ends incomingConnections', async () => {
  const s = await server();
  let n = 0;
  const iterating = (async () => {
    for await (const _ of s) n++;
    return n;
  })();
  const c = await client(s);
  // Closed after the server's handshake completed too (before it, an application close travels as
  // APPLICATION_ERROR without its reason, RFC 9000 §10.2.3).
  await until(() => n === 1, 'the server to accept');
  await s.close({ closeCode: 0, reason: 'shutdown' });
  const info = await c.closed;
  assert.is(info.source, 'peer');
  assert.is(info.reason, 'shutdown');
  assert.is(await iterating, 1, 'the one connection, then the end');
});

test('the inspect observer sees the connection machine and its TLS child on both sides', async () => {
  const clientEvents: InspectionEvent[] = [];
  const serverEvents: InspectionEvent[] = [];
  const s = await server({ inspect: (e) => serverEvents.push(e) });
  const c = await client(s, { inspect: { next: (e) => clientEvents.push(e) } });
  await c.close();
  await s.close();
  for (const events of [clientEvents, serverEvents]) {
    const actors = events.filter((e) => e.type === '@xstate.actor');
    assert.ok(actors.length >= 2, `actors: ${actors.length}`);
    const systemIds = new Set(actors.map((e) => (e.actorRef as { options?: { systemId?: string } }).options?.systemId).filter((x) => x !== undefined));
    assert.ok(systemIds.has('tls'), `system ids: ${[...systemIds].join(', ')}`);
    assert.ok(events.some((e) => e.type === '@xstate.snapshot'));
  }
});

test('a handshake the server never answers fails with handshake-timeout', async () => {
  const { createSocket } = await import('node:dgram');
  const silent = createSocket('udp4');
  await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
  const { connect } = await import('../../src/index.js');
  const error = await rejection(
    connect({
      host: '127.0.0.1',
      port: silent.address().port,
      alpn: ['test'],
      insecureSkipVerify: true,
      transport: { handshakeTimeout: 300 },
    }),
  );
  assert.instance(error, QuicConnectionError);
  assert.is((error as QuicConnectionError).source, 'handshake-timeout');
  silent.close();
});

test('a server refuses connections beyond its accept backlog with CONNECTION_REFUSED', async () => {
  const s = await server({ backlog: 1 });
  // Nobody takes connections: touch incomingConnections so they queue there.
  void s.incomingConnections;
  const first = await client(s);
  const second = await client(s);
  const info = await second.closed;
  assert.is(info.source, 'peer');
  assert.is(info.application, false);
  assert.is(info.code, BigInt(TransportErrorCode.CONNECTION_REFUSED));
  assert.is(first.closeReason, undefined);
  await first.close();
  await s.close();
});

test.run();
