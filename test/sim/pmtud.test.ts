// Path MTU discovery (RFC 9000 §14.3, RFC 8899) on a simulated network whose links drop datagrams
// above their MTU: the search converges to the path MTU and never goes above it, probe losses do not
// shrink the congestion window, a later drop of the link MTU is detected as a black hole and the
// connection falls back to 1200 bytes and still delivers every byte, disabled discovery never
// probes, and a large-MTU path carries the same bytes in fewer datagrams.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CLIENT_ADDRESS, createPair, SERVER_ADDRESS, Transfer, type PairOptions, type TransferPlan } from '../support/connection-pair.js';
import type { AnyActorRef, InspectionEvent } from 'xstate';
import { simAddress } from '../support/sim-network.js';
import type { LinkOptions } from '../support/sim-network.js';

const KB = 1024;

/** Link options that record every datagram's size (before the MTU check) and drop those above `mtu`. */
function watched(mtu: number, delay = 10): { link: LinkOptions & { mtu: number }; sizes: number[] } {
  const sizes: number[] = [];
  return {
    sizes,
    link: {
      delay,
      mtu,
      filter: (d: Uint8Array) => {
        sizes.push(d.length);
        return 'deliver';
      },
    },
  };
}

test('the search converges to a link MTU of 1400 (within 10 bytes, within 20 probes) and nothing above it is ever delivered', async () => {
  const up = watched(1400);
  const down = watched(1400);
  const p = await createPair({ seed: 21, up: up.link, down: down.link });
  assert.ok(p.handshake());
  p.net.advance(5_000);
  for (const sc of [p.client, p.server]) {
    const s = sc.conn.stats();
    assert.is(s.pmtudState, 'searchComplete', `${sc.conn.role}: ${s.pmtudState}`);
    assert.ok(s.pathMtu >= 1390 && s.pathMtu <= 1400, `${sc.conn.role} path MTU ${s.pathMtu}`);
    assert.ok(s.mtuProbesSent <= 20, `${sc.conn.role}: ${s.mtuProbesSent} probes`);
    assert.ok(s.mtuProbesLost >= 3, `${sc.conn.role}: the first probe (1452) was lost ${s.mtuProbesLost} times`);
  }
  // Datagrams above the link MTU were only probes, and the link dropped every one of them.
  const ls = p.net.link(CLIENT_ADDRESS, SERVER_ADDRESS).stats;
  assert.ok(ls.tooBig >= 3);
  assert.is(p.client.closeInfo, undefined);
});

test('a transfer while probing: probe losses do not reduce the congestion window and every byte arrives', async () => {
  const up = watched(1300);
  const down = watched(1300);
  const t = new Transfer({ streams: 2, bytes: 256 * KB, response: 256 * KB });
  const p = await createPair({ seed: 22, up: up.link, down: down.link, clientHandler: t.clientHandler, serverHandler: t.serverHandler });
  assert.ok(p.net.run(() => t.done, 120_000));
  assert.equal(t.mismatches(), []);
  for (const sc of [p.client, p.server]) {
    const s = sc.conn.stats();
    assert.ok(s.mtuProbesLost >= 3, `${sc.conn.role}: ${s.mtuProbesLost} probes lost`);
    // No loss but the probes' (the link drops nothing else): no congestion event, the window never shrank.
    assert.is(s.packetsLost, s.mtuProbesLost, `${sc.conn.role}: only probes were lost`);
    assert.ok(s.pathMtu >= 1292 && s.pathMtu <= 1300, `${sc.conn.role} path MTU ${s.pathMtu}`);
  }
});

test('a later drop of the link MTU (1452 → 1280) is a black hole: the connection falls back to 1200, searches again, and the transfer stays byte-exact', async () => {
  const t = new Transfer({ streams: 2, bytes: 512 * KB, response: 512 * KB });
  // 1 MB/s each way: the transfer lasts about a second.
  const link = { delay: 10, bandwidth: 1_000_000 };
  const p = await createPair({ seed: 23, link: { ...link, mtu: 1500 }, clientHandler: t.clientHandler, serverHandler: t.serverHandler });
  assert.ok(p.net.run(() => p.hasServer && p.client.conn.stats().pathMtu === 1452 && p.server.conn.stats().pathMtu === 1452 && t.totalBytes > 128 * KB, 30_000));
  assert.ok(!t.done);
  // Mid-transfer the path's MTU shrinks in both directions.
  p.net.configure(CLIENT_ADDRESS, SERVER_ADDRESS, { ...link, mtu: 1280 });
  p.net.configure(SERVER_ADDRESS, CLIENT_ADDRESS, { ...link, mtu: 1280 });
  assert.ok(p.net.run(() => t.done, 120_000), 'the transfer finished');
  assert.equal(t.mismatches(), [], 'byte-exact');
  for (const sc of [p.client, p.server]) {
    const s = sc.conn.stats();
    assert.ok(s.pmtuBlackHoles >= 1, `${sc.conn.role}: black holes ${s.pmtuBlackHoles}`);
    assert.ok(s.pathMtu >= 1200 && s.pathMtu <= 1280, `${sc.conn.role} path MTU ${s.pathMtu}`);
  }
  assert.is(p.client.closeInfo, undefined);
  assert.is(p.server.closeInfo, undefined);
});

test('probing starts only once the sender\'s handshake is confirmed: every datagram above 1200 bytes is a 1-RTT packet sent after it', async () => {
  const early: string[] = [];
  let large = 0;
  const p = await createPair({ seed: 26, deferStart: true });
  const check = (side: 'client' | 'server') => (d: Uint8Array) => {
    if (d.length > 1200) {
      large++;
      const conn = side === 'client' ? p.client.conn : p.server.conn;
      if ((d[0] & 0x80) !== 0 || conn.state !== 'confirmed') early.push(`${side}: ${d.length} bytes in state ${conn.state}`);
    }
    return 'deliver' as const;
  };
  p.net.configure(CLIENT_ADDRESS, SERVER_ADDRESS, { delay: 10, filter: check('client') });
  p.net.configure(SERVER_ADDRESS, CLIENT_ADDRESS, { delay: 10, filter: check('server') });
  p.start();
  assert.ok(p.handshake());
  p.net.advance(1_000);
  assert.equal(early, []);
  assert.ok(large >= 2, `both sides probed (${large} large datagrams)`);
  assert.is(p.client.conn.stats().pathMtu, 1452);
  assert.is(p.server.conn.stats().pathMtu, 1452);
});

test('with an inspector, PMTU discovery appears as a live actor under the connection (system id pmtud) that takes every transition the discovery takes, a black hole included', async () => {
  const seen: InspectionEvent[] = [];
  const t = new Transfer({ streams: 1, bytes: 512 * KB, response: 64 * KB });
  const link = { delay: 10, bandwidth: 1_000_000 };
  const p = await createPair({ seed: 23, link: { ...link, mtu: 1500 }, clientInspect: (e) => seen.push(e), clientHandler: t.clientHandler, serverHandler: t.serverHandler });
  assert.ok(p.net.run(() => p.hasServer && p.client.conn.stats().pathMtu === 1452 && t.totalBytes > 128 * KB, 30_000));
  p.net.configure(CLIENT_ADDRESS, SERVER_ADDRESS, { ...link, mtu: 1280 });
  p.net.configure(SERVER_ADDRESS, CLIENT_ADDRESS, { ...link, mtu: 1280 });
  assert.ok(p.net.run(() => t.done, 120_000), 'the transfer finished');
  p.net.advance(2_000);
  const mirror = seen.find((e) => e.type === '@xstate.actor' && (e.actorRef as AnyActorRef).id === 'pmtud')?.actorRef as AnyActorRef | undefined;
  assert.ok(mirror !== undefined, 'a pmtud actor was created');
  assert.is(mirror!._parent?.id, 'connection');
  const events = seen.filter((e) => e.type === '@xstate.event' && e.actorRef === mirror).map((e) => (e as { event: { type: string } }).event.type);
  assert.equal(events.slice(0, 3), ['xstate.init', 'Start', 'SearchComplete']);
  assert.ok(events.includes('BlackHole') && events.indexOf('BlackHole') < events.lastIndexOf('SearchComplete'), `a black hole, then a new search: ${events.join(' ')}`);
  assert.ok(p.client.conn.stats().pmtuBlackHoles >= 1);
  assert.is(mirror!.getSnapshot().value, p.client.conn.stats().pmtudState, 'the mirror ends in the discovery\'s state');
});

test('the peer\'s max_udp_payload_size caps the search: a server announcing 1300 never gets a larger datagram', async () => {
  const up = watched(9000);
  const p = await createPair({ seed: 27, up: up.link, serverTransport: { maxUdpPayloadSize: 1300 } });
  assert.ok(p.handshake());
  p.net.advance(2_000);
  assert.ok(Math.max(...up.sizes) <= 1300, `largest ${Math.max(...up.sizes)}`);
  const s = p.client.conn.stats();
  assert.is(s.pathMtu, 1300);
  assert.is(s.pmtudState, 'searchComplete');
  assert.is(s.mtuProbesLost, 0, 'no probe above the cap, so none lost');
  assert.is(p.server.conn.stats().pathMtu, 1452, 'the other direction is not capped');
});

test('disabled PMTU discovery never probes: no datagram above 1200 bytes on a 9000-byte link', async () => {
  const up = watched(9000);
  const down = watched(9000);
  const t = new Transfer({ streams: 1, bytes: 128 * KB, response: 128 * KB });
  const off = { pathMtuDiscovery: false };
  const p = await createPair({ seed: 24, up: up.link, down: down.link, clientTransport: off, serverTransport: off, clientHandler: t.clientHandler, serverHandler: t.serverHandler });
  assert.ok(p.net.run(() => t.done, 60_000));
  assert.equal(t.mismatches(), []);
  assert.is(Math.max(...up.sizes, ...down.sizes), 1200);
  for (const sc of [p.client, p.server]) {
    const s = sc.conn.stats();
    assert.is(s.pmtudState, 'disabled');
    assert.is(s.mtuProbesSent, 0);
    assert.is(s.pathMtu, 1200);
  }
});

test('with PMTU discovery on a large-MTU link a transfer uses bigger packets: fewer datagrams for the same bytes', async () => {
  const plan: TransferPlan = { streams: 1, bytes: 512 * KB, response: 0 };
  const run = async (options: PairOptions): Promise<number> => {
    const up = watched(9000);
    const t = new Transfer(plan);
    const p = await createPair({ seed: 25, ...options, up: up.link, down: { delay: 10 }, clientHandler: t.clientHandler, serverHandler: t.serverHandler });
    assert.ok(p.net.run(() => t.done, 60_000));
    assert.equal(t.mismatches(), []);
    return up.sizes.length;
  };
  const off = await run({ clientTransport: { pathMtuDiscovery: false }, serverTransport: { pathMtuDiscovery: false } });
  const on = await run({ clientTransport: { pathMtuUpperBound: 8000 }, serverTransport: { pathMtuUpperBound: 8000 } });
  assert.ok(on < off * 0.5, `${on} datagrams with discovery, ${off} without`);
});


test("by default ('loopback') discovery runs only toward a loopback peer; true turns it on for any address", async () => {
  const addresses = { clientAddress: simAddress(50001, '192.0.2.10'), serverAddress: simAddress(4433, '198.51.100.1') };
  const bound = { pathMtuUpperBound: 8000 };
  const remote = await createPair({ seed: 31, link: { delay: 10, mtu: 8000 }, ...addresses, clientTransport: bound, serverTransport: bound });
  assert.ok(remote.handshake());
  remote.net.advance(5_000);
  for (const sc of [remote.client, remote.server]) {
    const s = sc.conn.stats();
    assert.is(s.mtuProbesSent, 0, `${sc.conn.role} probed a non-loopback peer by default`);
    assert.is(s.pathMtu, 1200);
  }
  const on = { pathMtuUpperBound: 8000, pathMtuDiscovery: true };
  const forced = await createPair({ seed: 31, link: { delay: 10, mtu: 8000 }, ...addresses, clientTransport: on, serverTransport: on });
  assert.ok(forced.handshake());
  forced.net.advance(5_000);
  for (const sc of [forced.client, forced.server]) assert.ok(sc.conn.stats().pathMtu > 7900, `${sc.conn.role}: ${sc.conn.stats().pathMtu}`);
  const loopback = await createPair({ seed: 31, link: { delay: 10, mtu: 8000 }, clientTransport: bound, serverTransport: bound });
  assert.ok(loopback.handshake());
  loopback.net.advance(5_000);
  for (const sc of [loopback.client, loopback.server]) assert.ok(sc.conn.stats().pathMtu > 7900, `${sc.conn.role}: ${sc.conn.stats().pathMtu}`);
});

test.run();
