// The sans-IO connection on the simulated network, in this process:
// - memory per idle connection: 1,000 connections (500 client/server pairs) after their handshakes,
//   heap used after GC divided by the count, and the share of it the lifecycle actor takes
//   (a bare actor of the connection machine measured the same way);
// - handshakes per second of CPU time, and bulk transfer throughput (CPU time, no loss, 1200-byte
//   MTU), per side, against the raw AEAD seal cost of the same packets measured in this run.
// Figures drift from run to run on shared machines: compare the ratios.
import { createActor } from 'xstate';
import { connectionMachine } from '../machines/connection.js';
import { nodeCrypto } from '../src/crypto/node.js';
import { initialKeys } from '../src/crypto/keys.js';
import { createPair, Transfer, type Pair } from '../test/support/connection-pair.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc (npm run bench -- connection)');

function heap(): number {
  gc!();
  gc!();
  return process.memoryUsage().heapUsed;
}

// Warm up module loading and the certificate.
(await createPair()).handshake();

// ---- idle connections --------------------------------------------------------------------------
const PAIRS = 500;
const keep: Pair[] = [];
const before = heap();
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

const actors: unknown[] = [];
const beforeActors = heap();
for (let i = 0; i < 2 * PAIRS; i++) actors.push(createActor(connectionMachine, { input: { role: 'client' } }).start());
const perActor = (heap() - beforeActors) / (2 * PAIRS);

console.log(`idle connections: ${2 * PAIRS}, heap per connection ≈ ${(perConnection / 1024).toFixed(1)} KiB (simulation hosts and links included)`);
console.log(`  lifecycle actor alone ≈ ${(perActor / 1024).toFixed(1)} KiB = ${((100 * perActor) / perConnection).toFixed(1)} % of a connection`);
console.log(`handshakes (both sides, in process): ${((PAIRS * 1000) / handshakeMs).toFixed(0)} per second of wall time`);
keep.length = 0;
actors.length = 0;

// ---- bulk transfer -------------------------------------------------------------------------------
const MB = 1 << 20;
const t = new Transfer({ streams: 4, bytes: 4 * MB, response: 4 * MB });
const p = await createPair({ seed: 99, clientHandler: t.clientHandler, serverHandler: t.serverHandler });
const cpu0 = process.cpuUsage();
const w0 = performance.now();
if (!p.net.run(() => t.done, 600_000)) throw new Error('transfer did not finish');
const cpu = process.cpuUsage(cpu0);
const wall = performance.now() - w0;
if (t.mismatches().length > 0) throw new Error('transfer not byte-exact');
const cpuMs = (cpu.user + cpu.system) / 1000;
const packets = p.client.conn.stats().packetsSent + p.server.conn.stats().packetsSent;
console.log(`transfer: ${(t.totalBytes / MB).toFixed(0)} MB both ways, ${packets} packets, ${((t.totalBytes / MB) / (cpuMs / 1000)).toFixed(1)} MB/s of CPU time (${wall.toFixed(0)} ms wall, ${(p.elapsed / 1000).toFixed(2)} s virtual)`);

// The raw cost of protecting the same number of 1200-byte packets, for the ratio.
const k = initialKeys(nodeCrypto, 1, new Uint8Array(8), 'client').send;
const buf = new Uint8Array(1200 + 16);
const s0 = performance.now();
for (let i = 0; i < packets; i++) k.aead.seal(k.nonce, buf.subarray(0, 20), buf, 20, 1180);
const sealMs = performance.now() - s0;
console.log(`  per packet: ${((cpuMs * 1000) / packets).toFixed(1)} µs of CPU for everything (both sides, simulation included) vs ${((sealMs * 1000) / packets).toFixed(1)} µs to seal it: ratio ${(cpuMs / sealMs).toFixed(1)}`);
