// The node provider's X25519 key shares survive garbage collection during their export. Node 20
// deadlocks when a key made by generateKeyPairSync is exported as a JWK while a collection runs
// (the export holds the key's mutex while it allocates; the collected key-generation job's
// destructor takes the same mutex). With that construction a loop like this one hung within
// 2,000–12,000 shares under a 1 MiB young generation; it hung a CI run of the handshake fuzz test.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { nodeCrypto } from '../../src/crypto/node.js';

const CHILD = fileURLToPath(new URL('../support/key-share-churn.ts', import.meta.url));
const SHARES = 30_000;
// A hang detector, not a timing assertion: the loop normally ends in a few seconds.
const HANG_LIMIT_MS = 120_000;

test('30,000 node x25519 key shares made under constant garbage collection never deadlock', async () => {
  const child = spawn(process.execPath, ['--max-semi-space-size=1', '--import', 'tsx', CHILD, String(SHARES)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  let hung = false;
  const timer = setTimeout(() => {
    hung = true;
    child.kill('SIGKILL');
  }, HANG_LIMIT_MS);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearTimeout(timer);
  assert.not.ok(hung, `the key-share loop did not finish in ${HANG_LIMIT_MS / 1000} s (deadlocked?); printed: ${out}`);
  assert.is(code, 0, `child failed: ${err}`);
  assert.is(out.trim(), `done ${SHARES}`);
});

test('every node x25519 key share has its own random private key', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) seen.add(Buffer.from(nodeCrypto.keyShare('x25519').publicKey).toString('hex'));
  assert.is(seen.size, 200);
});

test.run();
