/**
 * A server's connection and handshake limits through the public API: our own client sees the
 * refusal (CONNECTION_REFUSED) or goes through the Retry, and existing connections carry on.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { QuicConnectionError, type QuicServer } from '../../src/index.js';
import { TransportErrorCode } from '../../src/wire/errors.js';
import { initialDatagram, rawPeer, random } from '../endpoint/helpers.js';
import { bytes, client, readAll, rejection, server, text, until, writeAll } from './helpers.js';

/** An echo service: every incoming bidirectional stream is piped back. */
function echo(s: QuicServer): void {
  s.connection$.subscribe((c) => {
    c.stream$.subscribe((stream) => {
      if ('writable' in stream) void stream.readable.pipeTo(stream.writable).catch(() => undefined);
    });
  });
}

async function echoes(c: Awaited<ReturnType<typeof client>>, message: string): Promise<string> {
  const stream = await c.createBidirectionalStream();
  const [, back] = await Promise.all([writeAll(stream.writable, bytes(message)), readAll(stream.readable)]);
  return text(back);
}

test('at maxConnections a new client is refused with CONNECTION_REFUSED while the existing connection keeps moving data', async () => {
  const s = await server({ maxConnections: 1 });
  echo(s);
  const first = await client(s);
  assert.is(await echoes(first, 'before'), 'before');
  await until(() => s.endpoint.endpoint.handshakeCount === 0, 'the server to count the handshake complete');
  const refused = await rejection(client(s));
  assert.instance(refused, QuicConnectionError);
  const error = refused as QuicConnectionError;
  assert.is(error.code, BigInt(TransportErrorCode.CONNECTION_REFUSED));
  assert.is(error.source, 'peer');
  assert.is(error.application, false);
  assert.is(s.connectionCount, 1, 'no state for the refused client');
  assert.is(s.stats().initialsRefused >= 1, true);
  assert.is(s.stats().connectionsAccepted, 1);
  assert.is(await echoes(first, 'after the refusal'), 'after the refusal');
  await first.close();
  await s.close();
});

test('after a connection has closed, its slot takes a new client', async () => {
  const s = await server({ maxConnections: 1 });
  echo(s);
  const first = await client(s);
  await first.close();
  await until(() => s.connectionCount === 0, 'the server side of the first connection to be gone');
  const second = await client(s);
  assert.is(await echoes(second, 'second'), 'second');
  assert.is(s.stats().initialsRefused, 0);
  await second.close();
  await s.close();
});

test('beyond maxHandshakes a new client is sent a Retry and completes its handshake after it', async () => {
  const s = await server({ maxHandshakes: 1 });
  echo(s);
  // A handshake that never progresses (an undecryptable Initial from a raw peer) holds the only slot.
  const stuck = await rawPeer();
  await stuck.send(initialDatagram({ dcid: random(8), scid: random(8) }), s.address.port);
  await until(() => s.endpoint.endpoint.handshakeCount === 1, 'a handshake in progress');
  const c = await client(s);
  assert.is(s.stats().retriesUnderLoad, 1);
  assert.is(s.stats().retriesSent, 1);
  assert.is(s.stats().initialsRefused, 0);
  assert.is(await echoes(c, 'validated'), 'validated');
  await c.close();
  await stuck.close();
  await s.close();
});

test('beyond maxHandshakes with retry: false a new client is refused with CONNECTION_REFUSED', async () => {
  const s = await server({ maxHandshakes: 1, retry: false });
  const stuck = await rawPeer();
  await stuck.send(initialDatagram({ dcid: random(8), scid: random(8) }), s.address.port);
  await until(() => s.endpoint.endpoint.handshakeCount === 1, 'a handshake in progress');
  const refused = await rejection(client(s));
  assert.instance(refused, QuicConnectionError);
  assert.is((refused as QuicConnectionError).code, BigInt(TransportErrorCode.CONNECTION_REFUSED));
  assert.is(s.stats().retriesSent, 0);
  assert.is(s.connectionCount, 1);
  await stuck.close();
  await s.close();
});

test('createServer refuses a maxConnections that is not a non-negative integer', async () => {
  let error: unknown;
  try {
    await server({ maxConnections: -1 });
  } catch (e) {
    error = e;
  }
  assert.instance(error, RangeError);
});

test.run();
