import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { firstValueFrom } from 'rxjs';
import { accepted, bytes, client, server, text, until } from './helpers.js';

const withDatagrams = { transport: { maxDatagramFrameSize: 1200 } };

test('when both sides accept DATAGRAM frames, datagrams go both ways (writable → datagram$, writable → readable)', async () => {
  const s = await server(withDatagrams);
  const serverSide = accepted(s);
  const c = await client(s, withDatagrams);
  const sc = await serverSide;
  assert.ok(c.datagrams.maxDatagramSize > 0 && c.datagrams.maxDatagramSize < 1200, `max ${c.datagrams.maxDatagramSize}`);
  // Server echoes every datagram it receives.
  const echoWriter = sc.datagrams.writable.getWriter();
  sc.datagram$.subscribe((d) => void echoWriter.write(bytes(`echo ${text(d)}`)));
  const writer = c.datagrams.writable.getWriter();
  const reader = c.datagrams.readable.getReader();
  const received = new Set<string>();
  // Datagrams are unreliable: send until one comes back (loopback rarely drops any).
  let i = 0;
  while (received.size === 0) {
    await writer.write(bytes(`ping ${i++}`));
    const { value } = await reader.read();
    if (value !== undefined) received.add(text(value));
  }
  assert.ok([...received][0].startsWith('echo ping '));
  await c.close();
  await s.close();
});

test('datagram$ on the client sees a datagram the server sends', async () => {
  const s = await server(withDatagrams);
  const serverSide = accepted(s);
  const c = await client(s, withDatagrams);
  const sc = await serverSide;
  const next = firstValueFrom(c.datagram$);
  const w = sc.datagrams.writable.getWriter();
  await w.write(bytes('from the server'));
  assert.is(text(await next), 'from the server');
  await c.close();
  await s.close();
});

test('without DATAGRAM support negotiated, maxDatagramSize is 0 and written datagrams are dropped (as WebTransport does)', async () => {
  const s = await server();
  const c = await client(s, withDatagrams);
  assert.is(c.datagrams.maxDatagramSize, 0);
  const w = c.datagrams.writable.getWriter();
  await w.write(bytes('nobody listens'));
  assert.is(c.datagrams.droppedOutgoing, 1);
  await c.close();
  await s.close();
});

test('a datagram larger than maxDatagramSize is dropped, smaller ones are sent', async () => {
  const s = await server(withDatagrams);
  const serverSide = accepted(s);
  const c = await client(s, withDatagrams);
  const sc = await serverSide;
  const got: number[] = [];
  sc.datagram$.subscribe((d) => got.push(d.length));
  const w = c.datagrams.writable.getWriter();
  await w.write(new Uint8Array(c.datagrams.maxDatagramSize + 1));
  assert.is(c.datagrams.droppedOutgoing, 1);
  // Unreliable: resend (at most 20 times) until one arrives.
  for (let k = 0; k < 20 && got.length === 0; k++) {
    await w.write(new Uint8Array(c.datagrams.maxDatagramSize));
    await until(() => got.length > 0, 'a datagram at the limit', 200).catch(() => undefined);
  }
  await until(() => got.length > 0, 'a datagram at the limit');
  assert.is(got[0], c.datagrams.maxDatagramSize);
  await c.close();
  await s.close();
});

test.run();
