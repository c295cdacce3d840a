// DATAGRAM frames (RFC 9221) between two connections that announced max_datagram_frame_size:
// delivery, acknowledgement and loss reports, the size limits, a bounded receive queue, refusal
// when the peer does not support them.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DatagramRefusedError } from '../../src/transport/datagram-queue.js';
import { createPair, InjectSource, patternData } from '../support/connection-pair.js';

const DATAGRAMS = { maxDatagramFrameSize: 1200 };

test('datagrams flow both ways when both sides announced support; each is reported acked', async () => {
  const p = await createPair({ clientTransport: DATAGRAMS, serverTransport: DATAGRAMS });
  assert.ok(p.handshake());
  const sent: Uint8Array[] = [];
  for (let i = 0; i < 40; i++) {
    const d = patternData(20 + i * 25, i);
    sent.push(d);
    p.client.act((c, now) => c.sendDatagram(d, now));
    p.server.act((c, now) => c.sendDatagram(d, now));
  }
  p.net.advance(500);
  const atServer = p.server.eventsOf('datagram').map((e) => e.data);
  const atClient = p.client.eventsOf('datagram').map((e) => e.data);
  assert.equal(atServer, sent, 'the server received every datagram, in order, unchanged');
  assert.equal(atClient, sent, 'and so did the client');
  const statuses = p.client.eventsOf('datagramStatus');
  assert.is(statuses.filter((s) => s.status === 'acked').length, 40);
  assert.equal([...new Set(statuses.map((s) => s.id))].length, 40);
});

test('lost datagrams are reported lost and never retransmitted (RFC 9221 §5.2)', async () => {
  const p = await createPair({ clientTransport: DATAGRAMS, serverTransport: DATAGRAMS, up: { loss: 0.25 }, seed: 12 });
  assert.ok(p.handshake());
  for (let i = 0; i < 100; i++) {
    p.client.act((c, now) => c.sendDatagram(patternData(100, i), now));
    p.net.advance(5);
  }
  p.net.advance(2_000);
  const received = p.server.eventsOf('datagram').length;
  const statuses = p.client.eventsOf('datagramStatus');
  const lost = statuses.filter((s) => s.status === 'lost').length;
  const acked = statuses.filter((s) => s.status === 'acked').length;
  assert.ok(lost > 5, `${lost} lost`);
  assert.is(received, acked, 'every datagram that arrived was acknowledged');
  assert.is(received + lost, 100, 'none arrived twice, none was sent again');
});

test('maxDatagramPayload follows the peer’s max_datagram_frame_size and the path; larger datagrams are refused', async () => {
  const p = await createPair({ clientTransport: { maxDatagramFrameSize: 500 }, serverTransport: { maxDatagramFrameSize: 300 } });
  assert.is(p.client.conn.maxDatagramPayload(), 0, 'nothing before the peer’s parameters');
  assert.ok(p.handshake());
  const max = p.client.conn.maxDatagramPayload();
  assert.is(max, 300 - 1 - 2, 'the server accepts frames of 300 bytes: type, 2-byte length, payload');
  assert.throws(() => p.client.conn.sendDatagram(new Uint8Array(max + 1), p.net.now), (e: unknown) => e instanceof DatagramRefusedError && e.reason === 'tooLarge');
  p.client.act((c, now) => c.sendDatagram(new Uint8Array(max), now));
  p.net.advance(100);
  assert.is(p.server.eventsOf('datagram')[0]?.data.length, max);
  // The path caps it too: the server may send frames up to 500 bytes, far below the 1200-byte MTU.
  assert.is(p.server.conn.maxDatagramPayload(), 500 - 1 - 2);
});

test('a peer without DATAGRAM support: sendDatagram is refused', async () => {
  const p = await createPair({ clientTransport: DATAGRAMS });
  assert.ok(p.handshake());
  assert.is(p.client.conn.maxDatagramPayload(), 0);
  assert.throws(() => p.client.conn.sendDatagram(new Uint8Array(10), p.net.now), (e: unknown) => e instanceof DatagramRefusedError && e.reason === 'unsupported');
});

test('the receive queue is bounded: datagrams not yet drained beyond datagramReceiveQueueLength drop the oldest', async () => {
  const inject = new InjectSource();
  const p = await createPair({ clientTransport: DATAGRAMS, serverTransport: { ...DATAGRAMS, datagramReceiveQueueLength: 4 }, clientTuning: { extraSource: inject } });
  assert.ok(p.handshake());
  // Ten DATAGRAM frames in one packet: the server queues them before the application drains.
  p.client.act(() => {
    for (let i = 0; i < 10; i++) inject.add('oneRtt', { kind: 'datagram', data: new Uint8Array([i, i, i]) });
  });
  p.net.advance(50);
  const got = p.server.eventsOf('datagram').map((e) => e.data[0]);
  assert.equal(got, [6, 7, 8, 9], 'the newest four');
  assert.is(p.server.conn.state, 'confirmed');
});

test.run();
