// A peer address change after the handshake (NAT rebinding, RFC 9000 §9) on a simulated network:
// the server follows the client to its new address once an authenticated non-probing packet with
// the highest packet number arrives from it (§9.3), validates the new path (PATH_CHALLENGE /
// PATH_RESPONSE, §8.2), holds it to the anti-amplification limit until then (§9.3, §8), resets
// congestion state only when the IP address changed (§9.4), switches to a fresh connection ID
// (§9.5), and reverts to the old address when validation fails (§9.3.2). Before the handshake is
// confirmed, and for packets that fail authentication, nothing changes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { initialWindow } from '../../src/recovery/congestion.js';
import type { SocketAddress } from '../../src/transport/connection-types.js';
import { CLIENT_ADDRESS, createPair, forwardOneCopyFrom, SERVER_ADDRESS, Transfer, type Pair } from '../support/connection-pair.js';
import { simAddress, type SimConnection } from '../support/sim-network.js';

const KB = 1024;
const NEW_PORT = simAddress(50002);
const NEW_IP = simAddress(50001, '127.0.0.2');

function same(a: SocketAddress, b: SocketAddress): boolean {
  return a.address === b.address && a.port === b.port;
}

/** The Destination Connection ID of a short header datagram sent to the client (8-byte IDs). */
function dcidOf(d: Uint8Array): string {
  return Buffer.from(d.subarray(1, 9)).toString('hex');
}

/** Runs a transfer until the server sent `sent` stream bytes, then rebinds the client to `to`. */
async function rebindMidTransfer(seed: number, to: SocketAddress, options: { readonly keepOld?: boolean } = {}): Promise<{ p: Pair; t: Transfer }> {
  const t = new Transfer({ streams: 2, bytes: 64 * KB, response: 256 * KB });
  const p = await createPair({ seed, clientHandler: t.clientHandler, serverHandler: t.serverHandler });
  assert.ok(p.net.run(() => p.hasServer && p.server.conn.stats().streamBytesSent > 100 * KB, 60_000), 'the transfer is under way');
  assert.not.ok(t.done);
  p.net.rebind(p.clientHost, to, options);
  return { p, t };
}

test('a transfer survives the client NAT rebinding to a new port mid-transfer, byte-exact; the server validates the new path, sends there, keeps its congestion state and switches connection ID', async () => {
  const { p, t } = await rebindMidTransfer(31, NEW_PORT);
  const server = p.server;
  const dcids: { before: Set<string>; after: Set<string> } = { before: new Set(), after: new Set() };
  const cwndBefore = server.conn.stats().congestionWindow;
  let validatedCwnd: number | undefined;
  let validatedRtt: number | undefined;
  p.clientHost.onDeliver = (d) => {
    if ((d[0] & 0x80) === 0) (same(p.clientHost.address, NEW_PORT) && server.conn.stats().pathValidationsStarted > 0 ? dcids.after : dcids.before).add(dcidOf(d));
  };
  assert.ok(
    p.net.run(() => {
      const s = server.conn.stats();
      if (validatedCwnd === undefined && s.pathValidationsSucceeded === 1) {
        validatedCwnd = s.congestionWindow;
        validatedRtt = s.smoothedRtt;
      }
      return t.done;
    }, 120_000),
  );
  assert.equal(t.mismatches(), []);
  const s = server.conn.stats();
  // One validation, and a second, full-size one when the anti-amplification limit kept the first challenge small (RFC 9000 §8.2.1).
  assert.ok(s.pathValidationsStarted >= 1 && s.pathValidationsStarted <= 2, `${s.pathValidationsStarted} validations`);
  assert.is(s.pathValidationsSucceeded, s.pathValidationsStarted, 'PATH_CHALLENGE answered by a matching PATH_RESPONSE');
  assert.is(s.pathValidationsFailed, 0);
  assert.is(s.peerAddressChanges, 1);
  assert.ok(same(server.conn.remoteAddress, NEW_PORT));
  // The server sends to the new address, nothing more to the old one after the move.
  const toNew = p.net.link(SERVER_ADDRESS, NEW_PORT).stats;
  assert.ok(toNew.delivered + toNew.bytes > 0 && toNew.sent > 20, `${toNew.sent} datagrams to the new address`);
  // RFC 9000 §9.4: a port-only change keeps congestion and RTT state (the window is far above the initial one).
  assert.ok(validatedCwnd !== undefined && validatedCwnd > initialWindow(s.pathMtu) && validatedCwnd >= cwndBefore / 2, `window ${validatedCwnd} (before ${cwndBefore})`);
  assert.ok(validatedRtt !== undefined && validatedRtt < 100, `smoothed RTT kept: ${validatedRtt}`);
  // RFC 9000 §9.5: a connection ID not used on the old path.
  assert.ok(dcids.after.size > 0);
  for (const id of dcids.after) assert.not.ok(dcids.before.has(id), `connection ID ${id} reused on the new path`);
  assert.is(p.client.closeInfo, undefined);
  assert.is(server.closeInfo, undefined);
});

test('a client IP address change resets the congestion window and the RTT estimate to initial values once validated', async () => {
  const { p, t } = await rebindMidTransfer(32, NEW_IP);
  const server = p.server;
  let at: { cwnd: number; srtt: number; mtu: number } | undefined;
  assert.ok(
    p.net.run(() => {
      const s = server.conn.stats();
      if (at === undefined && s.pathValidationsSucceeded === 1) at = { cwnd: s.congestionWindow, srtt: s.smoothedRtt, mtu: s.pathMtu };
      return t.done;
    }, 120_000),
  );
  assert.equal(t.mismatches(), []);
  assert.ok(at !== undefined);
  assert.is(at.cwnd, initialWindow(at.mtu), 'congestion window back to the initial window');
  assert.is(at.srtt, 333, 'smoothed RTT back to kInitialRtt');
  assert.ok(same(server.conn.remoteAddress, NEW_IP));
});

test('a packet from a new address that fails authentication changes nothing', async () => {
  const p = await createPair({ seed: 33 });
  assert.ok(p.handshake());
  p.net.advance(200);
  const server = p.server;
  const before = server.conn.stats();
  const cid = server.conn.localConnectionIds()[0];
  const spoof = new Uint8Array(1200);
  for (let i = 0; i < spoof.length; i++) spoof[i] = (i * 131 + 7) & 0xff;
  spoof[0] = 0x40 | (spoof[0] & 0x3f) & ~0x18; // short header, fixed bit, reserved bits clear
  spoof.set(cid, 1);
  const attacker = simAddress(40000, '10.9.9.9');
  p.net.inject(attacker, SERVER_ADDRESS, spoof);
  p.net.advance(100);
  const after = server.conn.stats();
  assert.ok(after.packetsDropped > before.packetsDropped, 'dropped');
  assert.is(after.peerAddressChanges, 0);
  assert.is(after.pathValidationsStarted, 0);
  assert.ok(same(server.conn.remoteAddress, CLIENT_ADDRESS));
  assert.is(p.net.link(SERVER_ADDRESS, attacker).stats.sent, 0, 'nothing sent to the spoofed address');
  // Still working: a stream round trip.
  const id = p.client.act((c, now) => c.openStream(true, now)) as number;
  p.client.act((c, now) => c.writeStream(id, new Uint8Array([1, 2, 3]), true, now));
  assert.ok(p.net.run(() => server.conn.streamStats(id)?.bytesReceived === 3, 10_000));
});

test('a non-probing packet with a lower packet number from a new address does not move the connection', async () => {
  const t = new Transfer({ streams: 1, bytes: 128 * KB, response: 64 * KB });
  const p = await createPair({ seed: 34, clientHandler: t.clientHandler, serverHandler: t.serverHandler });
  assert.ok(p.handshake());
  let held: Uint8Array | undefined;
  let index = 0;
  p.client.outgoing = (d) => {
    // Hold back one 1-RTT datagram of the transfer (it never reaches the server from the client's address).
    if (held === undefined && (d[0] & 0x80) === 0 && ++index === 20) {
      held = d.slice();
      return 'drop';
    }
    return d;
  };
  assert.ok(p.net.run(() => held !== undefined && p.server.conn.stats().packetsReceived > 40, 30_000));
  // A later arrival of the held packet, from elsewhere: authenticated, non-probing, but older than packets already received.
  const received = p.server.conn.stats().packetsReceived;
  p.serverHost.deliver((held as Uint8Array).slice(), NEW_PORT, p.net.now);
  assert.is(p.server.conn.stats().packetsReceived, received + 1, 'the packet was processed');
  assert.is(p.server.conn.stats().peerAddressChanges, 0);
  assert.is(p.server.conn.stats().pathValidationsStarted, 0);
  assert.ok(same(p.server.conn.remoteAddress, CLIENT_ADDRESS));
  assert.ok(p.net.run(() => t.done, 60_000));
  assert.equal(t.mismatches(), []);
});

test('the server sends at most three times the bytes received from the new address until the path is validated', async () => {
  const t = new Transfer({ streams: 2, bytes: 32 * KB, response: 512 * KB });
  // A slow return path, so the server has long to send to the unvalidated address.
  const p = await createPair({ seed: 35, clientHandler: t.clientHandler, serverHandler: t.serverHandler });
  assert.ok(p.net.run(() => p.hasServer && p.server.conn.stats().streamBytesSent > 100 * KB, 60_000));
  p.net.configure(NEW_PORT, SERVER_ADDRESS, { delay: 60 });
  const server = p.server;
  let received = 0;
  let sent = 0;
  let violations = 0;
  const deliver = p.serverHost.deliver.bind(p.serverHost);
  p.serverHost.deliver = (d, from, now) => {
    if (same(from, NEW_PORT) && server.conn.stats().pathValidationsSucceeded === 0) received += d.length;
    deliver(d, from, now);
  };
  p.net.configure(SERVER_ADDRESS, NEW_PORT, {
    filter: (d) => {
      if (server.conn.stats().pathValidationsSucceeded === 0) {
        sent += d.length;
        if (sent > 3 * received) violations++;
      }
      return 'deliver';
    },
  });
  p.net.rebind(p.clientHost, NEW_PORT);
  assert.ok(p.net.run(() => t.done, 120_000));
  assert.equal(t.mismatches(), []);
  assert.ok(server.conn.stats().pathValidationsSucceeded >= 1);
  assert.ok(sent > 0 && received > 0, `sent ${sent}, received ${received} before validation`);
  assert.is(violations, 0, `sent ${sent} > 3 × received ${received}`);
});

test('a failed validation (the new path is black-holed) reverts to the old address and the connection keeps working', async () => {
  const { p, t } = await rebindMidTransfer(36, NEW_PORT, { keepOld: true });
  p.net.configure(SERVER_ADDRESS, NEW_PORT, { filter: () => 'drop' });
  const server = p.server;
  let reverted = false;
  assert.ok(
    p.net.run(() => {
      const s = server.conn.stats();
      if (s.pathValidationsFailed > 0 && same(server.conn.remoteAddress, CLIENT_ADDRESS)) reverted = true;
      return t.done;
    }, 120_000),
  );
  assert.equal(t.mismatches(), []);
  const s = server.conn.stats();
  assert.ok(reverted, 'back to the old address after the failure');
  assert.ok(s.pathValidationsStarted >= 1 && s.pathValidationsFailed >= 1, `${s.pathValidationsStarted} started, ${s.pathValidationsFailed} failed`);
  assert.is(s.pathValidationsSucceeded, 0);
  assert.ok(s.peerAddressChanges >= 2);
  assert.ok(p.net.link(SERVER_ADDRESS, CLIENT_ADDRESS).stats.sent > 0);
  assert.is(p.client.closeInfo, undefined);
  assert.is(server.closeInfo, undefined);
});

test('a spurious migration by a forwarded copy of a genuine packet is undone by the next packet from the validated address', async () => {
  const t = new Transfer({ streams: 1, bytes: 128 * KB, response: 128 * KB });
  const p = await createPair({ seed: 37, clientHandler: t.clientHandler, serverHandler: t.serverHandler });
  assert.ok(p.handshake());
  const attacker = simAddress(40000, '10.9.9.9');
  // RFC 9000 §9.3.3: an off-path attacker forwards one copy that arrives before the original.
  forwardOneCopyFrom(p, attacker);
  let moved = false;
  assert.ok(
    p.net.run(() => {
      if (same(p.server.conn.remoteAddress, attacker)) moved = true;
      return t.done;
    }, 120_000),
  );
  assert.equal(t.mismatches(), []);
  const s = p.server.conn.stats();
  assert.ok(moved, 'the copy moved the connection');
  assert.ok(same(p.server.conn.remoteAddress, CLIENT_ADDRESS), 'back to the genuine address');
  assert.ok(s.peerAddressChanges >= 2);
  assert.is(s.pathValidationsSucceeded, 0);
  // The attacker's address got at most three times the copy's size.
  assert.ok(p.net.link(SERVER_ADDRESS, attacker).stats.bytes <= 3 * 1500);
});

test('before the handshake is confirmed, a datagram from a new client address is dropped', async () => {
  const p = await createPair({ seed: 38 });
  assert.ok(p.net.run(() => p.hasServer, 5_000));
  const server: SimConnection = p.server;
  p.net.rebind(p.clientHost, NEW_PORT);
  const dropped = server.conn.stats().packetsDropped;
  p.net.advance(3_000);
  const s = server.conn.stats();
  assert.is.not(server.conn.state, 'confirmed');
  assert.ok(s.packetsDropped > dropped, 'the client packets from the new address were dropped');
  assert.is(s.peerAddressChanges, 0);
  assert.is(s.pathValidationsStarted, 0);
  assert.ok(same(server.conn.remoteAddress, CLIENT_ADDRESS));
  assert.is(p.net.link(SERVER_ADDRESS, NEW_PORT).stats.sent, 0);
});

test.run();
