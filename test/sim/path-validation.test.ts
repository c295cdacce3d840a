// Path validation on more than one path at a time (RFC 9000 §8.2, §9.3.3, §9.4, §14.3) on a
// simulated network: a PATH_CHALLENGE from an address other than the current one is answered on
// that path, in a datagram expanded to 1200 bytes within that address's anti-amplification budget;
// after an apparent migration the previous path is challenged too; a challenge the limit kept
// small is followed by a full-size validation; after an IP change, packets sent on the old path
// neither count against nor shrink the new congestion window; PMTU discovery starts over on a new
// IP address and keeps its size across a port change.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { initialWindow } from '../../src/recovery/congestion.js';
import { PMTUD_BASE_PLPMTU } from '../../src/transport/pmtud.js';
import type { SocketAddress } from '../../src/transport/connection-types.js';
import { CLIENT_ADDRESS, createPair, forwardOneCopyFrom, InjectSource, SERVER_ADDRESS, Transfer } from '../support/connection-pair.js';
import { simAddress } from '../support/sim-network.js';

const KB = 1024;
const PROBE = simAddress(50003);
const NEW_PORT = simAddress(50002);
const NEW_IP = simAddress(50001, '127.0.0.2');

function same(a: SocketAddress, b: SocketAddress): boolean {
  return a.address === b.address && a.port === b.port;
}

/**
 * A confirmed pair whose client can send a probing packet (PATH_CHALLENGE, with `padding` bytes of
 * PADDING) from `PROBE` — as a client probing a new path before migrating does (RFC 9000 §9.1).
 */
async function probingPair(seed: number) {
  const inject = new InjectSource();
  const p = await createPair({ seed, clientTuning: { extraSource: inject } });
  assert.ok(p.handshake());
  p.net.advance(500); // every ACK sent: the probe's packet carries nothing else
  const probe = (data: Uint8Array, padding: number): void => {
    inject.add('oneRtt', { kind: 'pathChallenge', data });
    if (padding > 0) inject.add('oneRtt', new Uint8Array(padding));
    let diverted = false;
    p.client.outgoing = (d) => {
      if (diverted || (d[0] & 0x80) !== 0) return d;
      diverted = true;
      // The probing packet leaves from the new address (the client host answers there too).
      p.net.send(PROBE, SERVER_ADDRESS, d);
      return 'drop';
    };
    p.client.act(() => undefined);
    p.client.outgoing = undefined;
    assert.ok(diverted, 'the probing packet was sent');
  };
  return { p, probe };
}

test('a PATH_CHALLENGE probing a new client address is answered on that path, in a datagram of at least 1200 bytes, without moving the connection', async () => {
  const { p, probe } = await probingPair(61);
  p.net.rebind(p.clientHost, PROBE, { keepOld: true });
  p.net.rebind(p.clientHost, CLIENT_ADDRESS, { keepOld: true }); // reachable at both addresses, sending from the old one
  const server = p.server;
  const received = p.client.conn.stats().packetsReceived;
  probe(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), 1100);
  p.net.advance(100);
  const toProbe = server.offPathSent.filter((d) => same(d.to, PROBE));
  assert.is(toProbe.length, 1, 'one PATH_RESPONSE datagram to the probing address');
  assert.ok(toProbe[0].bytes >= 1200, `PATH_RESPONSE datagram of ${toProbe[0].bytes} bytes`);
  assert.is(p.net.link(SERVER_ADDRESS, PROBE).stats.sent, 1);
  assert.ok(p.client.conn.stats().packetsReceived > received, 'the client authenticated the response');
  const s = server.conn.stats();
  assert.is(s.offPathDatagramsSent, 1);
  // A probing packet moves nothing (RFC 9000 §9.3).
  assert.ok(same(server.conn.remoteAddress, CLIENT_ADDRESS));
  assert.is(s.peerAddressChanges, 0);
  assert.is(s.pathValidationsStarted, 0);
  assert.is(server.closeInfo, undefined);
});

test('a small probing datagram gets its PATH_RESPONSE on its path within three times its size (the anti-amplification limit)', async () => {
  const { p, probe } = await probingPair(62);
  const server = p.server;
  probe(new Uint8Array([9, 9, 9, 9, 9, 9, 9, 9]), 0);
  p.net.advance(100);
  const toProbe = server.offPathSent.filter((d) => same(d.to, PROBE));
  assert.is(toProbe.length, 1);
  const probeSize = p.net.link(PROBE, SERVER_ADDRESS).stats.bytes;
  assert.ok(probeSize > 0 && probeSize < 200, `probe of ${probeSize} bytes`);
  assert.ok(toProbe[0].bytes <= 3 * probeSize, `response ${toProbe[0].bytes} > 3 × ${probeSize}`);
  assert.ok(same(server.conn.remoteAddress, CLIENT_ADDRESS));
});

test('after a spurious migration by a forwarded packet the server challenges the previous path too, and the answer from it moves the connection back', async () => {
  const t = new Transfer({ streams: 1, bytes: 64 * KB, response: 64 * KB });
  const p = await createPair({ seed: 63, clientHandler: t.clientHandler, serverHandler: t.serverHandler });
  assert.ok(p.handshake());
  const attacker = simAddress(40000, '10.9.9.9');
  const copies = forwardOneCopyFrom(p, attacker);
  // What the server sends to the genuine address while the attacker's is the current one.
  let toOldWhileMoved = 0;
  p.net.configure(SERVER_ADDRESS, CLIENT_ADDRESS, {
    filter: () => {
      if (same(p.server.conn.remoteAddress, attacker)) toOldWhileMoved++;
      return 'deliver';
    },
  });
  assert.ok(p.net.run(() => t.done, 120_000));
  assert.equal(t.mismatches(), []);
  const s = p.server.conn.stats();
  assert.ok(copies() === 1 && s.peerAddressChanges >= 2, `${s.peerAddressChanges} address changes`);
  assert.ok(s.previousPathChallengesSent >= 1, 'PATH_CHALLENGE on the previous path (RFC 9000 §9.3.3)');
  assert.ok(toOldWhileMoved >= 1, 'sent on the previous path while moved');
  assert.ok(p.server.offPathSent.some((d) => same(d.to, CLIENT_ADDRESS) && d.bytes >= 1200), 'a full-size challenge datagram to the previous path');
  assert.ok(s.previousPathChallengesAnswered >= 1, 'the genuine client answered it');
  assert.ok(same(p.server.conn.remoteAddress, CLIENT_ADDRESS));
});

test('a PATH_CHALLENGE the anti-amplification limit kept below 1200 bytes is followed by a full-size validation once the address is validated', async () => {
  const p = await createPair({ seed: 64 });
  assert.ok(p.handshake());
  p.net.advance(500);
  const server = p.server;
  p.net.rebind(p.clientHost, NEW_PORT);
  // Record the sizes of the server's datagrams to the new address.
  const sizes: { bytes: number; validated: number }[] = [];
  p.net.configure(SERVER_ADDRESS, NEW_PORT, {
    filter: (d) => {
      sizes.push({ bytes: d.length, validated: server.conn.stats().pathValidationsSucceeded });
      return 'deliver';
    },
  });
  // A small non-probing packet from the new address: three bytes of stream data.
  const id = p.client.act((c, now) => c.openStream(true, now)) as number;
  p.client.act((c, now) => c.writeStream(id, new Uint8Array([1, 2, 3]), true, now));
  assert.ok(p.net.run(() => server.conn.stats().pathValidationsSucceeded >= 2, 10_000), 'two validations');
  const s = server.conn.stats();
  assert.is(s.pathValidationsStarted, 2, 'a second path validation (RFC 9000 §8.2.1)');
  assert.is(s.pathValidationsFailed, 0);
  assert.ok(sizes.length > 0 && sizes[0].bytes < 1200, `first datagram to the new address: ${sizes[0]?.bytes} bytes`);
  assert.ok(sizes.some((x) => x.validated === 1 && x.bytes >= 1200), 'a full-size datagram after the first validation');
  assert.ok(same(server.conn.remoteAddress, NEW_PORT));
});

test('after an IP change with congestion reset, the loss of packets sent on the old path does not shrink the new congestion window', async () => {
  const t = new Transfer({ streams: 2, bytes: 32 * KB, response: 512 * KB });
  const p = await createPair({ seed: 65, clientHandler: t.clientHandler, serverHandler: t.serverHandler });
  assert.ok(p.net.run(() => p.hasServer && p.server.conn.stats().streamBytesSent > 100 * KB, 60_000));
  const server = p.server;
  const inFlight = server.conn.stats().bytesInFlight;
  assert.ok(inFlight > 10 * KB, `${inFlight} bytes in flight to the old address`);
  // The old address is gone: everything in flight to it is lost.
  p.net.rebind(p.clientHost, NEW_IP);
  let minAfter = Number.POSITIVE_INFINITY;
  let initial = 0;
  let lostAfter = 0;
  let lostAtValidation: number | undefined;
  assert.ok(
    p.net.run(() => {
      const s = server.conn.stats();
      if (s.pathValidationsSucceeded >= 1) {
        // The window the reset made (the datagram size at that moment: PMTU discovery starts over too).
        if (lostAtValidation === undefined) initial = initialWindow(s.pathMtu);
        lostAtValidation ??= s.packetsLost;
        lostAfter = s.packetsLost - lostAtValidation;
        minAfter = Math.min(minAfter, s.congestionWindow);
      }
      return t.done;
    }, 120_000),
  );
  assert.equal(t.mismatches(), []);
  assert.ok(same(server.conn.remoteAddress, NEW_IP));
  assert.ok(lostAfter > 0, 'old-path packets were declared lost after the reset');
  assert.ok(minAfter >= initial, `congestion window ${minAfter} fell below the initial ${initial}`);
});

test('the server gives a NEW_TOKEN token at confirmation and a fresh one for the new address after a validated move to a new IP address (RFC 9000 §8.1.3); a port change gets none', async () => {
  for (const [to, fresh] of [
    [NEW_IP, true],
    [NEW_PORT, false],
  ] as const) {
    const minted: string[] = [];
    const t = new Transfer({ streams: 1, bytes: 16 * KB, response: 128 * KB });
    const p = await createPair({
      seed: 67,
      clientHandler: t.clientHandler,
      serverHandler: t.serverHandler,
      serverNewToken: (a) => {
        minted.push(a.address);
        return new TextEncoder().encode(`token for ${a.address}`);
      },
    });
    assert.ok(p.net.run(() => p.hasServer && p.server.conn.stats().streamBytesSent > 50 * KB, 60_000));
    assert.equal(minted, [CLIENT_ADDRESS.address], 'one token at confirmation');
    p.net.rebind(p.clientHost, to, { keepOld: true });
    assert.ok(p.net.run(() => t.done, 120_000));
    assert.equal(t.mismatches(), []);
    assert.ok(same(p.server.conn.remoteAddress, to), 'the server followed the client');
    const received = p.client.events.flatMap((e) => (e.type === 'newToken' ? [new TextDecoder().decode(e.token)] : []));
    if (fresh) {
      assert.equal(minted, [CLIENT_ADDRESS.address, NEW_IP.address]);
      assert.equal(received, [`token for ${CLIENT_ADDRESS.address}`, `token for ${NEW_IP.address}`]);
    } else {
      assert.equal(minted, [CLIENT_ADDRESS.address], 'a new port keeps the IP address, and the token stays good');
      assert.equal(received, [`token for ${CLIENT_ADDRESS.address}`]);
    }
  }
});

test('PMTU discovery restarts from the base on a validated IP change and keeps its size on a port change', async () => {
  for (const [to, restarts] of [
    [NEW_IP, true],
    [NEW_PORT, false],
  ] as const) {
    const t = new Transfer({ streams: 1, bytes: 16 * KB, response: 256 * KB });
    const p = await createPair({ seed: 66, clientHandler: t.clientHandler, serverHandler: t.serverHandler });
    assert.ok(p.net.run(() => p.hasServer && p.server.conn.stats().pmtudState === 'searchComplete' && p.server.conn.stats().streamBytesSent > 50 * KB, 60_000));
    const server = p.server;
    const before = server.conn.stats();
    assert.ok(before.pathMtu > PMTUD_BASE_PLPMTU, `PMTU ${before.pathMtu} found on loopback`);
    // The old address keeps working (no black hole from packets in flight to it, RFC 8899 §4.3).
    p.net.rebind(p.clientHost, to, { keepOld: true });
    let atValidation: number | undefined;
    assert.ok(
      p.net.run(() => {
        const s = server.conn.stats();
        if (atValidation === undefined && s.pathValidationsSucceeded >= 1) atValidation = s.pathMtu;
        return t.done;
      }, 120_000),
    );
    assert.equal(t.mismatches(), []);
    const after = server.conn.stats();
    if (restarts) {
      assert.is(atValidation, PMTUD_BASE_PLPMTU, 'back to the base on the new IP address');
      assert.ok(after.mtuProbesSent > before.mtuProbesSent, 'probes on the new path');
      assert.is(after.pathMtu, before.pathMtu, 'the loopback size found again');
    } else {
      assert.is(atValidation, before.pathMtu, 'kept across a port change');
      assert.is(after.mtuProbesSent, before.mtuProbesSent);
    }
  }
});

test.run();
