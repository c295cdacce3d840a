// The runnable examples stay runnable: each is run as a user would (`node --import tsx
// examples/<name>.ts`) and must exit 0 and print what its comment promises.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Runs an example (at most `timeoutMs`); its exit code and output. */
function runExample(name: string, args: readonly string[] = [], timeoutMs = 90_000): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', `examples/${name}.ts`, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

test('examples/mutual-tls.ts: the client with its certificate is greeted by name, the one without is refused with certificate_required', async () => {
  const { code, output } = await runExample('mutual-tls');
  assert.is(code, 0, output);
  assert.match(output, /with a certificate: +hello, CN=alice\.example/);
  assert.match(output, /without a certificate: refused, certificate_required \(CRYPTO_ERROR 0x174\)/);
});

test('examples/reconnect.ts: the second connection spends the NEW_TOKEN token and needs no Retry', async () => {
  const { code, output } = await runExample('reconnect');
  assert.is(code, 0, output);
  assert.match(output, /first connection: [\d.]+ ms, Retries sent so far 1, tokens accepted 0/);
  assert.match(output, /second connection: [\d.]+ ms, Retries sent so far 1, tokens accepted 1/);
});

test('examples/inspect.ts: the connection actor and its children report their states', async () => {
  const { code, output } = await runExample('inspect');
  assert.is(code, 0, output);
  for (const actor of ['connection', 'tls', 'packetBuilder', 'pmtud']) assert.match(output, new RegExp(`actor +${actor}\\b`), `${actor} in:\n${output.slice(0, 2000)}`);
});

test('examples/main.ts (npm start) with a small transfer: every byte checked, exit 0', async () => {
  const { code, output } = await runExample('main', ['--mb', '2', '--streams', '4']);
  assert.is(code, 0, output);
  assert.match(output, /closed +local close, code 0/);
});

test.run();
