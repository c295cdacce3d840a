// The sans-IO connection on the simulated network, in this process:
// - memory per idle connection: 1,000 connections (500 client/server pairs) after their handshakes,
//   heap used after GC divided by the count (plus the ArrayBuffer memory outside the heap), and the
//   share of it the lifecycle actor takes (a bare actor of the connection machine measured the same way);
// - memory per connection in the middle of a handshake (the server has sent its flight, the client
//   waits for it), 500 pairs measured the same way;
// - handshakes per second of wall time, and bulk transfer throughput (CPU time, no loss, 1200-byte
//   MTU) per packet, both sides together, against the raw AEAD seal and open of 1200-byte packets
//   measured in slices interleaved with the transfer's;
// - a breakdown of where a transfer's time goes (inside the connections or not);
// - the cost of `new QuicConnection` alone (client with its ClientHello, server), in µs.
// Figures drift from run to run on shared machines: compare the ratios.
import { createActor } from 'xstate';
import { connectionMachine } from '../machines/connection.js';
import { nodeCrypto } from '../src/crypto/node.js';
import { initialKeys } from '../src/crypto/keys.js';
import { QuicConnection } from '../src/transport/connection.js';
import { QUIC_V1 } from '../src/wire/version.js';
import { createPair, testCertificate, Transfer, type Pair } from '../test/support/connection-pair.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc (npm run bench -- connection)');

function heap(): number {
  gc!();
  gc!();
  return process.memoryUsage().heapUsed;
}

/** Bytes of ArrayBuffer backing stores (outside the JS heap: datagram arenas, send-buffer pages, keys), after GC. */
function arrayBuffers(): number {
  gc!();
  gc!();
  return process.memoryUsage().arrayBuffers;
}

// Warm up module loading and the certificate.
(await createPair()).handshake();

// ---- idle connections --------------------------------------------------------------------------
const PAIRS = 500;
const keep: Pair[] = [];
const before = heap();
const beforeBuffers = arrayBuffers();
const t0 = performance.now();
for (let i = 0; i < PAIRS; i++) {
  const p = await createPair({ seed: i + 1 });
  if (!p.handshake()) throw new Error('handshake failed');
  p.net.advance(100); // ACKs settle: idle
  // The simulation's own bookkeeping (event logs) is not the connection's.
  p.client.events.length = 0;
  p.server.events.length = 0;
  keep.push(p);
}
const handshakeMs = performance.now() - t0;
const perConnection = (heap() - before) / (2 * PAIRS);
const buffersPerConnection = (arrayBuffers() - beforeBuffers) / (2 * PAIRS);

const actors: unknown[] = [];
const beforeActors = heap();
for (let i = 0; i < 2 * PAIRS; i++) actors.push(createActor(connectionMachine, { input: { role: 'client' } }).start());
const perActor = (heap() - beforeActors) / (2 * PAIRS);

console.log(
  `idle connections: ${2 * PAIRS}, heap per connection ≈ ${(perConnection / 1024).toFixed(1)} KiB (simulation hosts and links included), ` +
    `ArrayBuffer memory outside the heap ≈ ${(buffersPerConnection / 1024).toFixed(1)} KiB more`,
);
console.log(`  lifecycle actor alone ≈ ${(perActor / 1024).toFixed(1)} KiB = ${((100 * perActor) / perConnection).toFixed(1)} % of a connection`);
console.log(`handshakes (both sides, in process): ${((PAIRS * 1000) / handshakeMs).toFixed(0)} per second of wall time`);
keep.length = 0;
actors.length = 0;

// ---- connections in the middle of a handshake --------------------------------------------------
// What a flood of Initials leaves behind (the server's handshake limit, maxHandshakes, is counted
// in such connections): pairs stopped once the server has read the ClientHello and sent its
// flight, which the down link's filter drops as it is sent (so that no datagram waits in the
// simulated network), while the client waits for it. Heap per connection, both sides counted; the server side alone is not
// separable here.
{
  const halfOpen: Pair[] = [];
  const beforeHalf = heap();
  const beforeHalfBuffers = arrayBuffers();
  for (let i = 0; i < PAIRS; i++) {
    const p = await createPair({ seed: i + 1, down: { filter: () => 'drop' } });
    p.net.advance(15); // one-way delay 10 ms: the server has answered, the client has heard nothing
    p.client.events.length = 0;
    p.server.events.length = 0;
    halfOpen.push(p);
  }
  const perHalf = (heap() - beforeHalf) / (2 * PAIRS);
  const buffersPerHalf = (arrayBuffers() - beforeHalfBuffers) / (2 * PAIRS);
  const states = new Set(halfOpen.map((p) => `client ${p.client.conn.state}, server ${p.hasServer ? p.server.conn.state : "none"}`));
  console.log(
    `mid-handshake connections: ${2 * PAIRS} (states ${[...states].join(', ')}), heap per connection ≈ ${(perHalf / 1024).toFixed(1)} KiB, ` +
      `ArrayBuffer memory ≈ ${(buffersPerHalf / 1024).toFixed(1)} KiB more`,
  );
  halfOpen.length = 0;
}

// ---- construction ------------------------------------------------------------------------------
// `new QuicConnection` alone, no network: a client (its ClientHello built, key share included) and
// a server (before the client's first Initial), with the options the pairs above use; µs each.
{
  const cert = await testCertificate();
  const remote = { address: '10.0.0.1', port: 4433, family: 'IPv4' } as const;
  const key = nodeCrypto.randomBytes(32);
  const client = (i: number): QuicConnection =>
    new QuicConnection({ role: 'client', provider: nodeCrypto, now: i, remoteAddress: remote, statelessResetKey: key, tls: { serverName: 'localhost', alpnProtocols: ['test'], trustAnchors: [cert.certificatePem] } });
  const server = (i: number): QuicConnection =>
    new QuicConnection({
      role: 'server',
      provider: nodeCrypto,
      now: i,
      remoteAddress: remote,
      statelessResetKey: key,
      tls: { certificateChain: cert.certificateChain, privateKey: cert.privateKey, alpnProtocols: ['test'] },
      originalDestinationCid: nodeCrypto.randomBytes(16),
      clientSourceCid: nodeCrypto.randomBytes(8),
      version: QUIC_V1,
    });
  const perConstruction = (make: (i: number) => QuicConnection): number => {
    for (let i = 0; i < 100; i++) make(i); // warm-up
    const times: number[] = [];
    for (let r = 0; r < 5; r++) {
      const t = performance.now();
      for (let i = 0; i < 200; i++) make(i);
      times.push(((performance.now() - t) * 1000) / 200);
    }
    return times.sort((a, b) => a - b)[2];
  };
  console.log(`construction (median of 5 × 200): client ${perConstruction(client).toFixed(0)} µs (ClientHello included), server ${perConstruction(server).toFixed(0)} µs`);
}

// ---- bulk transfer -------------------------------------------------------------------------------
const MB = 1 << 20;

// The raw cost of protecting and unprotecting 1200-byte packets, for the ratio: every packet is
// sealed by one side and opened by the other. The open loop restores the sealed bytes before each
// open (a 1.2 KB copy, as the simulated network's delivery makes). The reference runs in slices
// of 64 seals and 64 opens between slices of the transfer (about 10 ms each), each timed in CPU
// time, so that both see the same conditions on a shared machine.
const k = initialKeys(nodeCrypto, 1, new Uint8Array(8), 'client').send;
const buf = new Uint8Array(1200 + 16);
const aad = buf.subarray(0, 20);
k.aead.seal(k.nonce, aad, buf, 20, 1180);
const sealed = buf.slice();
let sealMs = 0;
let openMs = 0;
let refPackets = 0;
function cpuNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}
function referenceSlice(): void {
  const a = cpuNow();
  for (let i = 0; i < 64; i++) k.aead.seal(k.nonce, aad, buf, 20, 1180);
  const b = cpuNow();
  for (let i = 0; i < 64; i++) {
    buf.set(sealed);
    k.aead.open(k.nonce, aad, buf, 20, 1196);
  }
  sealMs += b - a;
  openMs += cpuNow() - b;
  refPackets += 64;
}

/** Runs a transfer of `mb` MiB per stream each way on 4 streams, in slices of ~10 ms of wall time; returns its pair, plan, CPU and wall time. */
async function transfer(mb: number, reference: boolean): Promise<{ p: Pair; t: Transfer; cpuMs: number; wallMs: number }> {
  const t = new Transfer({ streams: 4, bytes: mb * MB, response: mb * MB });
  const p = await createPair({ seed: 99, clientHandler: t.clientHandler, serverHandler: t.serverHandler });
  let cpuMs = 0;
  let wallMs = 0;
  const v0 = p.net.now;
  for (;;) {
    const w = performance.now();
    const sliceEnd = w + 10;
    const c = cpuNow();
    p.net.run(() => t.done || performance.now() >= sliceEnd, 600_000 - (p.net.now - v0));
    cpuMs += cpuNow() - c;
    wallMs += performance.now() - w;
    if (reference) referenceSlice();
    if (t.done) break;
    if (p.net.now - v0 >= 600_000) throw new Error('transfer did not finish');
  }
  if (t.mismatches().length > 0) throw new Error('transfer not byte-exact');
  return { p, t, cpuMs, wallMs };
}

for (let i = 0; i < 20; i++) referenceSlice(); // warm-up
sealMs = openMs = refPackets = 0;
{
  const { p, t, cpuMs } = await transfer(4, true);
  const packets = p.client.conn.stats().packetsSent + p.server.conn.stats().packetsSent;
  console.log(`transfer: ${(t.totalBytes / MB).toFixed(0)} MB both ways, ${packets} packets, ${(t.totalBytes / MB / (cpuMs / 1000)).toFixed(1)} MB/s of CPU time (${(p.elapsed / 1000).toFixed(2)} s virtual)`);
  const seal = sealMs / refPackets;
  const open = openMs / refPackets;
  const perPacket = cpuMs / packets;
  console.log(
    `  per packet: ${(perPacket * 1000).toFixed(1)} µs of CPU for everything (both sides, simulation included) vs ${(seal * 1000).toFixed(1)} µs to seal it and ${(open * 1000).toFixed(1)} µs to open it: ` +
      `ratio ${(perPacket / seal).toFixed(1)} to the seal, ${(perPacket / (seal + open)).toFixed(1)} to seal + open`,
  );
}

// Where the CPU goes, in a second, smaller transfer: the time spent inside the connections' own
// calls (receive, flush, timers, application calls) is measured by wrapping those methods
// (wall-clock per call, so shares rather than CPU figures, and the wrappers add a little); the rest
// is the simulated network and the test application (SHA-256 of what it reads).
{
  const timed = ['receive', 'flush', 'onTimeout', 'nextTimeout', 'readStream', 'writeStream', 'drainEvents'] as const;
  const spent: Record<string, number> = {};
  const proto = QuicConnection.prototype as unknown as Record<string, (...args: unknown[]) => unknown>;
  const originals = new Map<string, (...args: unknown[]) => unknown>();
  for (const m of timed) {
    const orig = proto[m];
    originals.set(m, orig);
    spent[m] = 0;
    proto[m] = function (this: unknown, ...args: unknown[]): unknown {
      const s = performance.now();
      try {
        return orig.apply(this, args);
      } finally {
        spent[m] += performance.now() - s;
      }
    };
  }
  const { p, cpuMs, wallMs } = await transfer(1, false);
  for (const [m, orig] of originals) proto[m] = orig;
  const packets = p.client.conn.stats().packetsSent + p.server.conn.stats().packetsSent;
  const inside = timed.reduce((n, m) => n + spent[m], 0);
  const share = (ms: number): string => `${((cpuMs * 1000 * ms) / wallMs / packets).toFixed(1)} µs`;
  console.log(
    `  breakdown (8 MB run, shares of wall time as µs of CPU per packet): receive ${share(spent.receive)}, flush ${share(spent.flush)}, ` +
      `timers ${share(spent.onTimeout + spent.nextTimeout)}, application calls ${share(spent.readStream + spent.writeStream + spent.drainEvents)}, ` +
      `simulation and test application ${share(wallMs - inside)}`,
  );
}
