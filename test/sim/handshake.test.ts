// Handshakes on a simulated network: lost first flights, loss everywhere, path MTUs, the
// anti-amplification limit of a server whose client goes silent, and both QUIC versions.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { nobleCrypto } from '../../src/crypto/noble.js';
import { QUIC_V2 } from '../../src/wire/version.js';
import { CLIENT_ADDRESS, createPair, SERVER_ADDRESS } from '../support/connection-pair.js';

const dropFirst = { filter: (_d: Uint8Array, i: number) => (i === 0 ? ('drop' as const) : ('deliver' as const)) };

test("a handshake completes when the client's first Initial is lost", async () => {
  const p = await createPair({ up: dropFirst });
  assert.ok(p.handshake(), 'confirmed');
  assert.ok(p.client.conn.stats().ptoCount >= 1, 'the client probed after a PTO');
  assert.is(p.net.link(CLIENT_ADDRESS, SERVER_ADDRESS).stats.filtered, 1);
});

test("a handshake completes when the server's first flight is lost", async () => {
  const p = await createPair({ down: dropFirst });
  assert.ok(p.handshake(), 'confirmed');
  assert.is(p.net.link(SERVER_ADDRESS, CLIENT_ADDRESS).stats.filtered, 1);
});

test('a handshake completes when both first flights are lost', async () => {
  const p = await createPair({ up: dropFirst, down: dropFirst });
  assert.ok(p.handshake(), 'confirmed');
  assert.ok(p.client.conn.stats().ptoCount >= 1);
});

test('a handshake completes when the first three datagrams in each direction are lost', async () => {
  const dropThree = { filter: (_d: Uint8Array, i: number) => (i < 3 ? ('drop' as const) : ('deliver' as const)) };
  const p = await createPair({ up: dropThree, down: dropThree });
  assert.ok(p.handshake(60_000), 'confirmed');
});

for (const seed of [1, 2, 3, 4, 5, 6]) {
  test(`a handshake completes at 30% loss with reordering and duplication (seed ${seed})`, async () => {
    const p = await createPair({ seed, link: { loss: 0.3, jitter: 15, duplicate: 0.1, reorder: 0.1 } });
    assert.ok(p.handshake(60_000), `confirmed after ${p.elapsed} ms`);
  });
}

for (const mtu of [1200, 1500]) {
  test(`a handshake with a path MTU of ${mtu}: no datagram above it`, async () => {
    let largest = 0;
    const watch = {
      mtu,
      filter: (d: Uint8Array) => {
        largest = Math.max(largest, d.length);
        return 'deliver' as const;
      },
    };
    // The static maxDatagramSize alone: PMTU discovery's probes exceed it by design (test/sim/pmtud.test.ts).
    const transport = { maxDatagramSize: mtu, pathMtuDiscovery: false };
    const p = await createPair({ up: watch, down: watch, clientTransport: transport, serverTransport: transport });
    assert.ok(p.handshake());
    assert.ok(largest <= mtu && largest >= 1200, `largest datagram ${largest}`);
    assert.is(p.net.link(CLIENT_ADDRESS, SERVER_ADDRESS).stats.tooBig + p.net.link(SERVER_ADDRESS, CLIENT_ADDRESS).stats.tooBig, 0);
  });
}

test('the peer’s max_udp_payload_size caps the datagrams sent to it', async () => {
  let largestDown = 0;
  const p = await createPair({
    clientTransport: { maxUdpPayloadSize: 1300, maxDatagramSize: 1500 },
    serverTransport: { maxDatagramSize: 9000 },
    down: {
      filter: (d) => {
        largestDown = Math.max(largestDown, d.length);
        return 'deliver';
      },
    },
  });
  assert.ok(p.handshake());
  // After the handshake the server's packets follow the client's limit (HANDSHAKE_DONE etc. are small;
  // the limit shows in the datagram allowance for DATAGRAM frames).
  assert.ok(largestDown <= 9000);
  assert.is(p.server.conn.peerTransportParameters?.maxUdpPayloadSize, 1300);
});

test('a server whose client goes silent never sends more than three times what it received (RFC 9000 §8.1)', async () => {
  let silent = true;
  let serverSent = 0;
  let violations = 0;
  const p = await createPair({
    up: { filter: (_d, i) => (i === 0 || !silent ? 'deliver' : 'drop') },
    down: { loss: 1 },
    clientTransport: { handshakeTimeout: 60_000 },
    serverTransport: { handshakeTimeout: 60_000 },
    onServer: (server) => {
      server.outgoing = (d) => {
        serverSent += d.length;
        if (server.conn.stats().bytesReceived * 3 < serverSent) violations++;
        return d;
      };
    },
  });
  p.net.run(() => p.hasServer, 1_000);
  const server = p.server;
  p.net.advance(4_000);
  assert.is(violations, 0, 'never above 3× the bytes received');
  const received = server.conn.stats().bytesReceived;
  assert.ok(serverSent > 0 && serverSent <= 3 * received, `sent ${serverSent}, received ${received}`);
  assert.ok(serverSent > 2 * received, 'the server used its budget (retransmitting its flight) and then stopped');
  const sentWhileBlocked = serverSent;
  p.net.advance(4_000);
  assert.is(serverSent, sentWhileBlocked, 'nothing more while no datagram arrives (no PTO while amplification-limited)');
  // The client speaks again: the limit grows, the handshake completes and the address is validated.
  silent = false;
  p.net.configure(SERVER_ADDRESS, CLIENT_ADDRESS, {});
  assert.ok(p.handshake(30_000), 'the handshake completes once the client is heard');
  assert.is(violations, 0);
});

test('QUIC version 2 (RFC 9369): a client starting with v2 completes the handshake in v2', async () => {
  const p = await createPair({ version: QUIC_V2 });
  assert.ok(p.handshake());
  assert.is(p.client.conn.version, QUIC_V2);
  assert.is(p.server.conn.version, QUIC_V2);
});

test('the noble crypto provider completes the same handshake', async () => {
  const p = await createPair({ provider: nobleCrypto });
  assert.ok(p.handshake());
});

test.run();
