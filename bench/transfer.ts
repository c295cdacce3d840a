// Bulk transfer, handshakes and idle memory of our client and server over loopback UDP
// (`npm run bench -- transfer`), beside raw node:dgram measured in the same run.
//
//   1. raw node:dgram: 1200-byte datagrams from a sender to a receiver in this process, with a
//      window of datagrams in flight so none is dropped — the ceiling a UDP stack in one Node
//      process can reach here (ARCHITECTURE.md measured ≈ 57 MB/s);
//   2. QUIC: 100 MB from client to server on one stream, then on 16 concurrent streams (client and
//      server in this process, as the raw test), node:crypto provider;
//   3. raw node:dgram again (the figures drift on shared machines: the ratio uses the mean of both);
//   4. handshakes per second: sequential connect → handshake complete → close, on one client socket;
//   5. memory per idle connection: a child process opens 1,000 connections to a server in this
//      process; heap and RSS deltas after GC on the server side (here) and on the client side (child).
//
// Options (environment): BENCH_MB (default 100), BENCH_HANDSHAKES (default 200),
// BENCH_CONNECTIONS (default 1000), BENCH_ONLY=transfer|handshakes|memory (one part), or
// BENCH_ONLY=quic (the 16-stream transfer alone, to profile it:
// `BENCH_ONLY=quic node --cpu-prof --import tsx bench/transfer.ts`).
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { connect, createEndpoint, createServer, type QuicConnection } from '../src/index.js';

const MB = Number(process.env.BENCH_MB ?? 100);
const HANDSHAKES = Number(process.env.BENCH_HANDSHAKES ?? 200);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 1000);
const ONLY = process.env.BENCH_ONLY;
const DATAGRAM = 1200;

const gc = (globalThis as { gc?: () => void }).gc;

function settleHeap(): { heap: number; rss: number } {
  for (let i = 0; i < 3; i++) gc?.();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, rss: m.rss };
}

/** Raw node:dgram: `bytes` in 1200-byte datagrams, at most `window` in flight; MB/s delivered. */
async function rawDgram(bytes: number, window = 256): Promise<number> {
  const receiver = createSocket('udp4');
  const sender = createSocket('udp4');
  await new Promise<void>((r) => receiver.bind(0, '127.0.0.1', r));
  await new Promise<void>((r) => sender.bind(0, '127.0.0.1', r));
  receiver.setRecvBufferSize(4 * 1024 * 1024);
  const port = receiver.address().port;
  const total = Math.ceil(bytes / DATAGRAM);
  const payload = new Uint8Array(DATAGRAM);
  let sent = 0;
  let received = 0;
  const start = performance.now();
  await new Promise<void>((resolve) => {
    const pump = (): void => {
      while (sent < total && sent - received < window) {
        sender.send(payload, port, '127.0.0.1');
        sent++;
      }
    };
    receiver.on('message', () => {
      received++;
      if (received === total) resolve();
      else if (sent - received < window / 2) pump();
    });
    pump();
  });
  const ms = performance.now() - start;
  receiver.close();
  sender.close();
  return (total * DATAGRAM) / 1e3 / ms;
}

/** Our client uploads `bytes` to our server over `streams` streams; MB/s and the client's stats. */
async function quicTransfer(bytes: number, streams: number): Promise<{ mbps: number; cpuMs: number; lost: number; packets: number }> {
  const server = await createServer({ alpn: ['bench'] });
  server.connection$.subscribe((c) =>
    c.stream$.subscribe(async (s) => {
      const reader = s.readable.getReader();
      for (;;) if ((await reader.read()).done) break;
      if ('writable' in s) await s.writable.close();
    }),
  );
  const client = await connect({ host: '127.0.0.1', port: server.address.port, alpn: ['bench'], pinnedSpkiSha256: [server.certificateSpkiSha256] });
  const per = Math.floor(bytes / streams);
  const chunk = new Uint8Array(64 * 1024);
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  await Promise.all(
    Array.from({ length: streams }, async () => {
      const s = await client.createBidirectionalStream();
      const writer = s.writable.getWriter();
      for (let off = 0; off < per; off += chunk.length) {
        await writer.ready;
        writer.write(chunk.subarray(0, Math.min(chunk.length, per - off))).catch(() => undefined);
      }
      await writer.close();
      // Delivered: every byte and the FIN acknowledged by the server.
      await s.sendComplete;
    }),
  );
  const ms = performance.now() - start;
  const cpu = process.cpuUsage(cpu0);
  const stats = client.stats();
  await client.close();
  await server.close();
  return { mbps: (per * streams) / 1e3 / ms, cpuMs: (cpu.user + cpu.system) / 1000, lost: stats.packetsLost, packets: stats.packetsSent };
}

/** Sequential handshakes on one client socket; handshakes per second. */
async function handshakes(n: number): Promise<number> {
  const server = await createServer({ alpn: ['bench'] });
  const endpoint = await createEndpoint({ host: '127.0.0.1' });
  const options = { host: '127.0.0.1', port: server.address.port, alpn: ['bench'], pinnedSpkiSha256: [server.certificateSpkiSha256] };
  for (let i = 0; i < 10; i++) void (await endpoint.connect(options)).close();
  const start = performance.now();
  for (let i = 0; i < n; i++) void (await endpoint.connect(options)).close();
  const ms = performance.now() - start;
  await endpoint.close();
  await server.close();
  return (n * 1000) / ms;
}

/** Child process: opens `count` connections to the server, reports its memory delta, then waits to be told to close. */
async function clientChild(port: number, pin: string, count: number): Promise<void> {
  const endpoint = await createEndpoint({ host: '127.0.0.1' });
  const options = { host: '127.0.0.1', port, alpn: ['bench'], pinnedSpkiSha256: [pin], transport: { maxIdleTimeout: 600_000 } };
  // Warm up (code paths, JIT), then measure from a settled heap.
  const warm = await endpoint.connect(options);
  const before = settleHeap();
  const connections: QuicConnection[] = [];
  for (let i = 0; i < count; i++) connections.push(await endpoint.connect(options));
  await new Promise((r) => setTimeout(r, 200));
  const after = settleHeap();
  process.send?.({ heap: (after.heap - before.heap) / count, rss: (after.rss - before.rss) / count, open: endpoint.connectionCount - 1 });
  await new Promise<void>((resolve) => process.once('message', () => resolve()));
  await warm.close();
  await endpoint.close();
  process.exit(0);
}

async function memory(count: number): Promise<{ server: { heap: number; rss: number }; client: { heap: number; rss: number; open: number } }> {
  const server = await createServer({ alpn: ['bench'], transport: { maxIdleTimeout: 600_000 } });
  let accepted = 0;
  server.connection$.subscribe(() => accepted++);
  const self = fileURLToPath(import.meta.url);
  const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', self, '--clients', String(server.address.port), server.certificateSpkiSha256, String(count)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  // The child's warm-up connection comes first; measure the server from there.
  while (accepted < 1) await new Promise((r) => setTimeout(r, 5));
  await new Promise((r) => setTimeout(r, 100));
  const before = settleHeap();
  const clientReport = await new Promise<{ heap: number; rss: number; open: number }>((resolve) => child.once('message', (m) => resolve(m as { heap: number; rss: number; open: number })));
  while (accepted < count + 1) await new Promise((r) => setTimeout(r, 5));
  const after = settleHeap();
  const serverReport = { heap: (after.heap - before.heap) / count, rss: (after.rss - before.rss) / count };
  const open = server.connectionCount;
  child.send('close');
  await new Promise((r) => child.once('exit', r));
  await server.close({ reason: 'bench done' });
  if (open < count + 1) throw new Error(`only ${open} connections were open on the server`);
  return { server: serverReport, client: clientReport };
}

const kb = (n: number): string => `${(n / 1024).toFixed(1)} KiB`;

async function main(): Promise<void> {
  if (gc === undefined) console.log('(run with --expose-gc for the memory figures: npm run bench -- transfer)');
  if (ONLY === 'quic') {
    // Only the 16-stream transfer (for profiling).
    const r = await quicTransfer(MB * 1e6, 16);
    console.log(`QUIC ${MB} MB, 16 streams: ${r.mbps.toFixed(1)} MB/s (${(r.cpuMs / 1000).toFixed(1)} s CPU)`);
  }
  if (ONLY === undefined || ONLY === 'transfer') {
    const raw1 = await rawDgram(MB * 1e6);
    const one = await quicTransfer(MB * 1e6, 1);
    const sixteen = await quicTransfer(MB * 1e6, 16);
    const raw2 = await rawDgram(MB * 1e6);
    const raw = (raw1 + raw2) / 2;
    console.log(`raw node:dgram, ${DATAGRAM}-byte datagrams, one process   ${raw1.toFixed(1)} / ${raw2.toFixed(1)} MB/s (mean ${raw.toFixed(1)})`);
    console.log(
      `QUIC ${MB} MB, 1 stream                                ${one.mbps.toFixed(1)} MB/s = ${(one.mbps / raw).toFixed(2)} × raw dgram  (${one.packets} packets, ${one.lost} lost, ${(one.cpuMs / 1000).toFixed(1)} s CPU)`,
    );
    console.log(
      `QUIC ${MB} MB, 16 streams                              ${sixteen.mbps.toFixed(1)} MB/s = ${(sixteen.mbps / raw).toFixed(2)} × raw dgram  (${sixteen.packets} packets, ${sixteen.lost} lost, ${(sixteen.cpuMs / 1000).toFixed(1)} s CPU)`,
    );
  }
  if (ONLY === undefined || ONLY === 'handshakes') {
    const hs = await handshakes(HANDSHAKES);
    console.log(`handshakes (client + server in one process, sequential) ${hs.toFixed(0)} /s`);
  }
  if ((ONLY === undefined || ONLY === 'memory') && gc !== undefined) {
    const m = await memory(CONNECTIONS);
    console.log(`memory per idle connection (${CONNECTIONS} open)           server side: heap ${kb(m.server.heap)}, RSS ${kb(m.server.rss)}; client side: heap ${kb(m.client.heap)}, RSS ${kb(m.client.rss)}`);
  }
}

if (process.argv[2] === '--clients') {
  void clientChild(Number(process.argv[3]), process.argv[4], Number(process.argv[5]));
} else {
  await main();
}
