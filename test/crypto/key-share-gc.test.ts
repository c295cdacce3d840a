// The node provider's X25519 key shares survive garbage collection during their export. Node 20
// deadlocks when a key made by generateKeyPairSync is exported as a JWK while a collection runs
// (the export holds the key's mutex while it allocates; the collected key-generation job's
// destructor takes the same mutex). With that construction a loop like this one hung within
// 2,000–12,000 shares under a 1 MiB young generation; it hung a CI run of the handshake fuzz test.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { nodeCrypto, x25519PrivateKey, x25519PrivateKeyDer } from '../../src/crypto/node.js';

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

test('an x25519 private key made from its 32 bytes, as a JWK or as PKCS #8 DER, has the public key of RFC 7748 §6.1', () => {
  // Alice's and Bob's keys from RFC 7748 §6.1.
  const vectors = [
    ['77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a', '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a'],
    ['5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb', 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f'],
  ];
  for (const [d, x] of vectors) {
    // The JWK import, and the PKCS #8 DER import it falls back to should a Node version refuse the JWK.
    for (const key of [x25519PrivateKey(Buffer.from(d, 'hex')), x25519PrivateKeyDer(Buffer.from(d, 'hex'))]) {
      assert.is(Buffer.from(key.export({ format: 'jwk' }).x ?? '', 'base64url').toString('hex'), x);
    }
  }
});

test.run();
