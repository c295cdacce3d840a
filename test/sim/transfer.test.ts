// Bulk transfers over several bidirectional streams on a simulated network: every byte arrives,
// exactly once and in order (checked by SHA-256), through random loss in both directions,
// reordering, duplication, corruption, a bandwidth-limited bottleneck and different path MTUs.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CLIENT_ADDRESS, createPair, SERVER_ADDRESS, Transfer, type PairOptions, type TransferPlan } from '../support/connection-pair.js';

const MB = 1 << 20;

async function transfer(plan: TransferPlan, options: PairOptions, maxDuration = 600_000): Promise<{ readonly t: Transfer; readonly p: Awaited<ReturnType<typeof createPair>> }> {
  const t = new Transfer(plan);
  const p = await createPair({ ...options, clientHandler: t.clientHandler, serverHandler: t.serverHandler });
  const ok = p.net.run(() => t.done, maxDuration);
  assert.ok(ok, `transfer finished (${t.requestsDone}/${plan.streams} requests, ${t.responsesDone} responses after ${p.elapsed} ms virtual)`);
  assert.equal(t.mismatches(), [], 'byte-exact');
  assert.is(p.client.closeInfo, undefined, 'the client is still open');
  assert.is(p.server.closeInfo, undefined, 'the server is still open');
  return { t, p };
}

test('8 MB over 4 bidirectional streams (1 MB each way per stream) at 5% loss in both directions, byte-exact', async () => {
  const { p, t } = await transfer({ streams: 4, bytes: MB, response: MB }, { seed: 3, link: { loss: 0.05 } });
  const c = p.client.conn.stats();
  const s = p.server.conn.stats();
  assert.is(c.streamBytesSent, 4 * MB);
  assert.is(s.streamBytesSent, 4 * MB);
  assert.is(c.streamBytesReceived, 4 * MB);
  assert.is(s.streamBytesReceived, 4 * MB);
  assert.ok(c.packetsLost > 50 && s.packetsLost > 50, `losses recovered: client ${c.packetsLost}, server ${s.packetsLost}`);
  assert.ok(p.net.link(CLIENT_ADDRESS, SERVER_ADDRESS).stats.lost > 50 && p.net.link(SERVER_ADDRESS, CLIENT_ADDRESS).stats.lost > 50);
  assert.is(t.totalBytes, 8 * MB);
});

test('4 MB at 5% loss with 10% reordering, 5% duplication and 8 ms jitter, byte-exact', async () => {
  const { p } = await transfer({ streams: 4, bytes: MB / 2, response: MB / 2 }, { seed: 11, link: { loss: 0.05, reorder: 0.1, duplicate: 0.05, jitter: 8 } });
  const l = p.net.link(SERVER_ADDRESS, CLIENT_ADDRESS).stats;
  assert.ok(l.duplicated > 20 && l.reordered > 20, `duplicated ${l.duplicated}, reordered ${l.reordered}`);
  assert.ok(p.client.conn.stats().packetsDropped > 0, 'duplicates were dropped');
});

test('2 MB through 1% bit corruption and 2% loss: corrupted packets fail authentication and are recovered', async () => {
  const { p } = await transfer({ streams: 2, bytes: MB / 2, response: MB / 2 }, { seed: 5, link: { loss: 0.02, corrupt: 0.01 } });
  assert.ok(p.net.link(SERVER_ADDRESS, CLIENT_ADDRESS).stats.corrupted > 5);
  assert.ok(p.client.conn.stats().packetsDropped > 0);
});

for (const mtu of [1200, 1500]) {
  test(`a transfer on a path MTU of ${mtu}: full-sized datagrams, none above the MTU`, async () => {
    const sizes = new Map<number, number>();
    const watch = {
      mtu,
      filter: (d: Uint8Array) => {
        sizes.set(d.length, (sizes.get(d.length) ?? 0) + 1);
        return 'deliver' as const;
      },
    };
    // The static maxDatagramSize alone: PMTU discovery's probes exceed it by design (test/sim/pmtud.test.ts).
    const transport = { maxDatagramSize: mtu, pathMtuDiscovery: false };
    await transfer({ streams: 2, bytes: MB, response: 0 }, { seed: 2, up: watch, down: watch, clientTransport: transport, serverTransport: transport });
    const largest = Math.max(...sizes.keys());
    assert.is(largest, mtu, `largest datagram ${largest}`);
    let nearlyFull = 0;
    for (const [size, n] of sizes) if (size > mtu - 32) nearlyFull += n;
    const dataDatagrams = (2 * MB) / (mtu - 50);
    assert.ok(nearlyFull > 0.75 * dataDatagrams, `data datagrams fill the MTU (${nearlyFull} within 32 bytes of it, for about ${Math.round(dataDatagrams)})`);
  });
}

test('a bandwidth-limited bottleneck with a small queue (10 Mbit/s, 30 kB): congestion losses are recovered', async () => {
  const bottleneck = { bandwidth: 1_250_000, queueBytes: 30_000, delay: 20 };
  const { p } = await transfer({ streams: 2, bytes: MB, response: 0 }, { seed: 7, up: bottleneck, down: { delay: 20 } });
  const lost = p.net.link(CLIENT_ADDRESS, SERVER_ADDRESS).stats.lost;
  const elapsed = p.elapsed;
  // 2 MB at 1.25 MB/s cannot take less than 1.6 s of virtual time.
  assert.ok(elapsed > 1_600, `${elapsed} ms`);
  assert.ok(lost > 0, 'the queue overflowed at least once');
  assert.ok(p.client.conn.stats().packetsLost > 0, 'and the sender recovered the losses');
});

test('more streams than MAX_STREAMS allows at once: the client waits for streamsAvailable, all 60 complete', async () => {
  const { p } = await transfer({ streams: 60, bytes: 20_000, response: 5_000 }, { seed: 4, link: { loss: 0.02 }, serverTransport: { maxStreamsBidi: 8 } });
  assert.is(p.server.conn.peerTransportParameters?.initialMaxStreamsBidi !== undefined, true);
  assert.ok(p.client.eventsOf('streamsAvailable').length >= 1, 'the stream limit was reached and raised');
});

const SMALL_WINDOWS = {
  initialMaxData: 40_000,
  initialMaxStreamDataBidiLocal: 16_000,
  initialMaxStreamDataBidiRemote: 16_000,
  initialMaxStreamDataUni: 16_000,
  maxConnectionWindow: 40_000,
  maxStreamWindow: 16_000,
};

test('small windows: flow control limits the sender and reads reopen them, byte-exact', async () => {
  await transfer(
    { streams: 3, bytes: 300_000, response: 300_000, chunk: 7_000, readSize: 5_000 },
    {
      seed: 9,
      link: { loss: 0.03 },
      clientTransport: SMALL_WINDOWS,
      serverTransport: SMALL_WINDOWS,
    },
  );
});

test.run();
