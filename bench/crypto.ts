// Packet protection throughput of both crypto providers (`npm run bench -- crypto`).
//
// For each provider × AEAD it measures, in one run:
//   - the raw AEAD seal / open of a 1200-byte plaintext (Aead.seal / Aead.open, in place);
//   - full protection of a 1200-byte 1-RTT packet (short header: 1 + 8-byte DCID + 2-byte packet
//     number; payload 1173 B; 16-byte tag): protectPacket = nonce + seal + header protection,
//     and full removal: removeHeaderProtection + openPacket;
//   - header protection alone per packet, one mask call per packet vs one maskBatch call for 16.
// Each provider × AEAD runs in a child process of its own; times are that process's CPU time
// (process.cpuUsage), best of several slices in which the operations take turns.
// and prints packets per second, the protected/raw ratio, and which provider is faster per suite.
// Absolute figures drift on shared machines; compare the ratios measured in the same run.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { derivePacketKeys, type PacketKeys } from '../src/crypto/keys.js';
import { nobleCrypto } from '../src/crypto/noble.js';
import { nodeCrypto } from '../src/crypto/node.js';
import {
  applyHeaderProtection,
  applyHeaderProtectionBatch,
  openPacket,
  protectPacket,
  removeHeaderProtection,
  sealPacket,
  type PacketOffsets,
} from '../src/crypto/packet-protection.js';
import type { AeadAlgorithm, CryptoProvider, HashAlgorithm } from '../src/crypto/provider.js';
import { QUIC_V1 } from '../src/wire/version.js';

const CELL_MS = Number(process.env.BENCH_CELL_MS ?? 800);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 8);
const WARMUP_MS = 150;
const PACKET_SIZE = 1200;
const RAW_SIZE = 1200;
const DCID_LENGTH = 8;
const PN_LENGTH = 2;
const PN_OFFSET = 1 + DCID_LENGTH;
const PAYLOAD_END = PACKET_SIZE - 16;
const BATCH = 16;

const providers: readonly CryptoProvider[] = [nodeCrypto, nobleCrypto];
const suites: ReadonlyArray<{ algorithm: AeadAlgorithm; hash: HashAlgorithm }> = [
  { algorithm: 'aes-128-gcm', hash: 'sha256' },
  { algorithm: 'aes-256-gcm', hash: 'sha384' },
  { algorithm: 'chacha20-poly1305', hash: 'sha256' },
];

/** CPU time this process has used, in milliseconds (user + system, all threads). */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/**
 * Runs `fn` (which does `per` operations) repeatedly for about `ms` of this process's CPU time;
 * returns operations per CPU second. CPU time rather than wall time, so that other processes on a
 * busy machine do not count against the figure.
 */
function run(fn: () => void, per: number, ms: number): number {
  let ops = 0;
  let batch = 1;
  const start = cpuMs();
  let elapsed = 0;
  while (elapsed < ms) {
    for (let i = 0; i < batch; i++) fn();
    ops += batch;
    elapsed = cpuMs() - start;
    if (elapsed < ms / 20) batch *= 2;
  }
  return (ops * per * 1000) / elapsed;
}

function keysFor(p: CryptoProvider, algorithm: AeadAlgorithm, hash: HashAlgorithm): PacketKeys {
  const secret = new Uint8Array(hash === 'sha256' ? 32 : 48).map((_, i) => (i * 29 + 11) & 0xff);
  return derivePacketKeys(p, QUIC_V1, algorithm, hash, secret);
}

/** Writes an unprotected 1-RTT packet of PACKET_SIZE bytes (short header, 2-byte pn) at `off`. */
function writeShortHeaderPacket(buf: Uint8Array, off: number): void {
  buf[off] = 0x40 | (PN_LENGTH - 1);
  for (let i = 1; i <= DCID_LENGTH; i++) buf[off + i] = i;
  for (let i = off + PN_OFFSET + PN_LENGTH; i < off + PAYLOAD_END; i++) buf[i] = i & 0xff;
}

const OPS = ['seal', 'protect', 'open', 'unprotect', 'hpSingle', 'hpBatch'] as const;
type Op = (typeof OPS)[number];
type Row = { provider: string; algorithm: AeadAlgorithm } & Record<Op, number>;

/** The operations of one provider × suite, each a closure doing `per` operations per call. */
function operations(p: CryptoProvider, algorithm: AeadAlgorithm, hash: HashAlgorithm): Record<Op, { fn: () => void; per: number }> {
  const keys = keysFor(p, algorithm, hash);
  const nonce = new Uint8Array(12).fill(3);
  const aad = new Uint8Array(PN_OFFSET + PN_LENGTH).fill(1);

  // Raw AEAD seal of 1200 bytes, in place (re-encrypting the same buffer: the same work each time).
  const raw = new Uint8Array(RAW_SIZE + 16).fill(0x5a);
  // Raw open: restore the sealed bytes, then open (the 1216-byte copy is part of the figure).
  const sealedRaw = new Uint8Array(RAW_SIZE + 16).fill(0x5a);
  keys.aead.seal(nonce, aad, sealedRaw, 0, RAW_SIZE);
  const openBuf = new Uint8Array(RAW_SIZE + 16);

  // Full protection of 1200-byte 1-RTT packets, a fresh packet number each time.
  const pkt = new Uint8Array(PACKET_SIZE);
  writeShortHeaderPacket(pkt, 0);
  let pn = 1000;

  // Full removal: header protection then open, on a restored copy of one protected packet.
  const protectedPkt = new Uint8Array(PACKET_SIZE);
  writeShortHeaderPacket(protectedPkt, 0);
  protectPacket(keys, protectedPkt, 0, PN_OFFSET, PN_LENGTH, 5000, PAYLOAD_END);
  const rx = new Uint8Array(PACKET_SIZE);

  // Header protection alone: BATCH sealed packets back to back; per-packet vs batched masks.
  const batchBuf = new Uint8Array(PACKET_SIZE * BATCH);
  const offsets: PacketOffsets[] = [];
  for (let i = 0; i < BATCH; i++) {
    const off = i * PACKET_SIZE;
    writeShortHeaderPacket(batchBuf, off);
    sealPacket(keys, batchBuf, off, off + PN_OFFSET, PN_LENGTH, 7000 + i, off + PAYLOAD_END);
    offsets.push({ packetStart: off, pnOffset: off + PN_OFFSET, pnLength: PN_LENGTH });
  }

  return {
    seal: { per: 1, fn: () => keys.aead.seal(nonce, aad, raw, 0, RAW_SIZE) },
    open: {
      per: 1,
      fn: () => {
        openBuf.set(sealedRaw);
        keys.aead.open(nonce, aad, openBuf, 0, RAW_SIZE + 16);
      },
    },
    protect: {
      per: 1,
      fn: () => {
        pkt[0] = 0x40 | (PN_LENGTH - 1); // the builder writes a fresh first byte for every packet
        protectPacket(keys, pkt, 0, PN_OFFSET, PN_LENGTH, pn++, PAYLOAD_END);
      },
    },
    unprotect: {
      per: 1,
      fn: () => {
        rx.set(protectedPkt);
        const h = removeHeaderProtection(keys.hp, rx, 0, PN_OFFSET, PACKET_SIZE, 4999);
        openPacket(keys, rx, 0, PN_OFFSET, h.pnLength, h.packetNumber, PACKET_SIZE);
      },
    },
    hpSingle: {
      per: BATCH,
      fn: () => {
        for (let i = 0; i < BATCH; i++) applyHeaderProtection(keys.hp, batchBuf, offsets[i].packetStart, offsets[i].pnOffset, PN_LENGTH);
      },
    },
    hpBatch: { per: BATCH, fn: () => applyHeaderProtectionBatch(keys.hp, batchBuf, offsets, BATCH) },
  };
}

/**
 * Measures every operation of one provider × suite. The operations take turns (ROUNDS slices of
 * CELL_MS / ROUNDS of CPU time each), so that a disturbance hits them alike and the ratios stay
 * fair; each keeps its best slice.
 */
function benchCell(provider: CryptoProvider, algorithm: AeadAlgorithm, hash: HashAlgorithm): Row {
  const ops = operations(provider, algorithm, hash);
  for (const o of OPS) run(ops[o].fn, ops[o].per, WARMUP_MS);
  const best = Object.fromEntries(OPS.map((o) => [o, 0])) as Record<Op, number>;
  for (let r = 0; r < ROUNDS; r++) {
    for (const o of OPS) best[o] = Math.max(best[o], run(ops[o].fn, ops[o].per, CELL_MS / ROUNDS));
  }
  return { provider: provider.name, algorithm, ...best };
}

const CHILD_FLAG = '--cell';
const childAt = process.argv.indexOf(CHILD_FLAG);
if (childAt >= 0) {
  // Child: one provider × suite, answered as one JSON line.
  const provider = providers.find((p) => p.name === process.argv[childAt + 1]);
  const suite = suites.find((x) => x.algorithm === process.argv[childAt + 2]);
  if (!provider || !suite) throw new Error(`unknown cell ${process.argv.slice(childAt + 1).join(' ')}`);
  console.log(JSON.stringify(benchCell(provider, suite.algorithm, suite.hash)));
  process.exit(0);
}

const fmtRate = (r: number): string => `${Math.round(r).toLocaleString('en-US')}/s`.padStart(11) + ` ${(1e6 / r).toFixed(1).padStart(6)} µs`;
const fmtRatio = (r: number): string => r.toFixed(2).padStart(5);

console.log(`Node ${process.version}. Each provider × AEAD runs in its own process (a clean JIT and heap, as in a`);
console.log(`deployment that uses one of them); after ${WARMUP_MS} ms of warm-up per operation, the operations take turns`);
console.log(`for ${ROUNDS} slices of ${CELL_MS / ROUNDS} ms and each keeps its best. Times are the process's CPU time, so load from`);
console.log('other processes does not count: packets per CPU second and CPU µs per packet.');
console.log(`seal/open: raw Aead on ${RAW_SIZE} B of plaintext; protect/unprotect: whole ${PACKET_SIZE}-byte 1-RTT packets (${PAYLOAD_END - PN_OFFSET - PN_LENGTH} B payload).`);
console.log('open and unprotect include restoring the ciphertext (a 1.2 kB copy) before each call.\n');

const rows: Row[] = [];
for (const { algorithm } of suites) {
  for (const p of providers) {
    const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), CHILD_FLAG, p.name, algorithm], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    if (child.status !== 0) throw new Error(`benchmark of ${p.name} ${algorithm} failed (exit ${child.status})`);
    rows.push(JSON.parse(child.stdout.trim().split('\n').pop() ?? '') as Row);
  }
}

const header =
  'provider  aead               ' +
  'seal 1200 B'.padEnd(22) + 'protect 1200 B'.padEnd(22) + 'prot/raw  ' +
  'open 1200 B'.padEnd(22) + 'unprotect 1200 B'.padEnd(22) + 'unprot/raw';
console.log(header);
console.log('-'.repeat(header.length));
for (const r of rows) {
  console.log(
    r.provider.padEnd(10) + r.algorithm.padEnd(19) +
    fmtRate(r.seal).padEnd(22) + fmtRate(r.protect).padEnd(22) + fmtRatio(r.protect / r.seal).padEnd(10) +
    fmtRate(r.open).padEnd(22) + fmtRate(r.unprotect).padEnd(22) + fmtRatio(r.unprotect / r.open),
  );
}

console.log(`\nheader protection alone (per packet): one mask() per packet vs one maskBatch() per ${BATCH} packets`);
const hpHeader = 'provider  aead               ' + 'single'.padEnd(22) + `batch of ${BATCH}`.padEnd(22) + 'batch/single';
console.log(hpHeader);
console.log('-'.repeat(hpHeader.length));
for (const r of rows) {
  console.log(r.provider.padEnd(10) + r.algorithm.padEnd(19) + fmtRate(r.hpSingle).padEnd(22) + fmtRate(r.hpBatch).padEnd(22) + fmtRatio(r.hpBatch / r.hpSingle));
}

console.log('\nfaster provider per suite (protected 1200-byte packets; unprotect in brackets):');
for (const { algorithm } of suites) {
  const [a, b] = rows.filter((r) => r.algorithm === algorithm);
  const [fast, slow] = a.protect >= b.protect ? [a, b] : [b, a];
  const [ufast, uslow] = a.unprotect >= b.unprotect ? [a, b] : [b, a];
  console.log(
    `  ${algorithm.padEnd(18)} ${fast.provider} ×${(fast.protect / slow.protect).toFixed(2)} faster than ${slow.provider}` +
    `  (unprotect: ${ufast.provider} ×${(ufast.unprotect / uslow.unprotect).toFixed(2)})`,
  );
}
