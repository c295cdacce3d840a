// Full in-memory TLS 1.3 handshakes for QUIC per second (`npm run bench -- handshake`), and where
// the time goes.
//
// Setup: ECDSA P-256 server key in a root → intermediate → leaf chain, X25519, TLS_AES_128_GCM_SHA256,
// ALPN h3, no client authentication, no tickets; client and server sessions in one process, the
// CRYPTO bytes handed across directly. Both crypto providers (node, noble), each in its own
// child process (clean JIT and heap).
//
// In the same run, taking turns with the full handshakes, the parts one handshake contains are
// measured on their own with the same inputs:
//   - signature: one CertificateVerify signature and its verification (ecdsa_secp256r1_sha256);
//   - key exchange: two X25519 key pairs and two shared secrets (client and server), with the provider;
//   - certificate verification: one verifyCertificateChain of the server chain (path to the anchor,
//     two signatures, names, validity).
// "Rest" is the handshake minus those parts: messages, transcript, key schedule (HKDF/HMAC with
// the provider), the XState actors, session bookkeeping.
// Times are this process's CPU time (process.cpuUsage), best of several slices. Absolute figures
// drift on shared machines; compare the shares and ratios measured in the same run.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { nobleCrypto } from '../src/crypto/noble.js';
import { nodeCrypto } from '../src/crypto/node.js';
import type { CryptoProvider } from '../src/crypto/provider.js';
import { TrustStore, verifyCertificateChain } from '../src/tls/certificates.js';
import { SignatureScheme } from '../src/tls/constants.js';
import { createClientSession, createServerSession, type TlsSession } from '../src/tls/session.js';
import { signCertificateVerify, verifyCertificateVerify } from '../src/tls/signatures.js';
import { createChain } from '../test/support/pki.js';

const CELL_MS = Number(process.env.BENCH_CELL_MS ?? 600);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 6);
const WARMUP_MS = 300;

/** CPU time this process has used, in milliseconds. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Runs `fn` for about `ms` of CPU time; returns calls per CPU second. */
function run(fn: () => void, ms: number): number {
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
  return (ops * 1000) / elapsed;
}

function pump(from: TlsSession, to: TlsSession, now: number): number {
  let n = 0;
  for (const e of from.drain()) {
    if (e.type === 'handshake_data') {
      to.receive(e.level, e.data, now);
      n++;
    }
  }
  return n;
}

async function measure(provider: CryptoProvider): Promise<Record<string, number>> {
  const pki = await createChain({ keyType: 'ecdsa-p256' });
  const anchors = new TrustStore(pki.anchors);
  const tp = new Uint8Array(40).fill(1);
  const serverConfig = { certificateChain: pki.chain, privateKey: pki.leaf.privateKey, alpnProtocols: ['h3'], transportParameters: tp, cipherSuites: [0x1301], groups: ['x25519' as const] };
  const clientConfig = { serverName: 'localhost', alpnProtocols: ['h3'], transportParameters: tp, trustAnchors: anchors, cipherSuites: [0x1301], groups: ['x25519' as const] };
  const now = Date.now();
  const date = new Date(now);

  const handshake = () => {
    const client = createClientSession(clientConfig, provider);
    const server = createServerSession(serverConfig, provider);
    client.start(now);
    for (let i = 0; i < 8 && pump(client, server, now) + pump(server, client, now) > 0; i++);
    if (!client.handshakeComplete || !server.handshakeComplete) throw new Error(`handshake did not complete: ${client.error?.message ?? server.error?.message}`);
  };
  const transcriptHash = provider.digest('sha256', Uint8Array.of(1, 2, 3));
  const scheme = SignatureScheme.ecdsa_secp256r1_sha256;
  const signature = () => {
    const sig = signCertificateVerify(scheme, pki.leaf.privateKey, transcriptHash, 'server');
    verifyCertificateVerify(scheme, pki.leaf.keys.publicKey, transcriptHash, 'server', sig);
  };
  const keyExchange = () => {
    const a = provider.keyShare('x25519');
    const b = provider.keyShare('x25519');
    a.computeSecret(b.publicKey);
    b.computeSecret(a.publicKey);
  };
  const certificate = () => {
    verifyCertificateChain(pki.chain, { trustAnchors: anchors, serverName: 'localhost', now: date });
  };
  const ops: Record<string, () => void> = { handshake, signature, keyExchange, certificate };
  for (const fn of Object.values(ops)) run(fn, WARMUP_MS);
  const best: Record<string, number> = {};
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, fn] of Object.entries(ops)) best[name] = Math.max(best[name] ?? 0, run(fn, CELL_MS));
  }
  return best;
}

const child = process.argv[2];
if (child !== undefined) {
  const provider = child === 'noble' ? nobleCrypto : nodeCrypto;
  process.stdout.write(JSON.stringify(await measure(provider)));
} else {
  const self = fileURLToPath(import.meta.url);
  console.log('TLS 1.3 handshakes for QUIC, in memory: ECDSA P-256 chain (root → intermediate → leaf), X25519, AES-128-GCM');
  console.log(`CPU time, best of ${ROUNDS} slices of ${CELL_MS} ms per operation, taking turns; one process per provider\n`);
  const rows: Array<[string, Record<string, number>]> = [];
  for (const name of ['node', 'noble']) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', self, name], { encoding: 'utf8', maxBuffer: 1 << 20 });
    if (r.status !== 0) {
      console.log(`${name}: failed\n${r.stderr}`);
      process.exitCode = 1;
      continue;
    }
    rows.push([name, JSON.parse(r.stdout) as Record<string, number>]);
  }
  const us = (perSecond: number) => 1e6 / perSecond;
  for (const [name, r] of rows) {
    const total = us(r.handshake);
    const parts = { signature: us(r.signature), 'key exchange': us(r.keyExchange), 'certificate verification': us(r.certificate) };
    const rest = total - Object.values(parts).reduce((a, b) => a + b, 0);
    console.log(`${name.padEnd(6)} ${r.handshake.toFixed(0).padStart(6)} handshakes/s  (${total.toFixed(0)} µs per client+server handshake)`);
    for (const [part, t] of [...Object.entries(parts), ['rest (messages, transcript, key schedule, actors, sessions)', rest] as const]) {
      console.log(`         ${part.padEnd(58)} ${t.toFixed(0).padStart(6)} µs  ${((100 * t) / total).toFixed(1).padStart(5)} %`);
    }
  }
  if (rows.length === 2) console.log(`\nnode / noble handshake rate: ${(rows[0][1].handshake / rows[1][1].handshake).toFixed(2)}×`);
}
