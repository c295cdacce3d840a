/**
 * Address validation tokens across connections (RFC 9000 §8.1.3) through the public API: our
 * server gives each client a NEW_TOKEN token once the handshake is complete; our client remembers
 * it per server and spends it on its next connection, which then starts validated — no Retry.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TOKEN_MEMORY_SERVERS, TOKENS_PER_SERVER, TokenMemory, tokenServerKey } from '../../src/api/token-memory.js';
import type { QuicConnection } from '../../src/index.js';
import { client, server, until } from './helpers.js';

/** The first token `c` receives. */
function firstToken(c: QuicConnection): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const sub = c.newToken$.subscribe({ next: (t) => (sub.unsubscribe(), resolve(t)), complete: () => reject(new Error('closed without a NEW_TOKEN')) });
  });
}

test('a server with retry: true: the first connection goes through a Retry and receives a NEW_TOKEN token; the next connect() spends it and needs no Retry', async () => {
  const s = await server({ retry: true });
  const first = await client(s);
  const token = await firstToken(first);
  assert.ok(token.length > 0);
  assert.is(s.stats().retriesSent, 1, 'the first connection was validated by a Retry');
  assert.is(s.stats().newTokensSent, 1);
  await first.close();
  const second = await client(s);
  assert.is(s.stats().newTokensAccepted, 1, 'the remembered token was sent and accepted');
  assert.is(s.stats().retriesSent, 1, 'no second Retry');
  await firstToken(second); // the server hands out a fresh token on every connection
  await second.close();
  await s.close();
});

test('a token serves once: spending the same token twice (token option) gets the second connection a Retry, and it still connects', async () => {
  const s = await server({ retry: true });
  const first = await client(s, { token: false });
  const token = await firstToken(first);
  await first.close();
  const retries = s.stats().retriesSent;
  const a = await client(s, { token });
  assert.is(s.stats().retriesSent, retries, 'accepted once');
  const b = await client(s, { token });
  assert.is(s.stats().retriesSent, retries + 1, 'the replay was ignored: a Retry validated the address instead');
  assert.is(s.stats().newTokensRefused, 1);
  assert.is(s.stats().invalidTokens, 0);
  await Promise.all([a.close(), b.close()]);
  await s.close();
});

test("a token of another server is ignored (the connection proceeds as without one), and token: false neither sends nor remembers", async () => {
  const s1 = await server({ retry: true });
  const s2 = await server({ retry: true });
  const c1 = await client(s1, { token: false });
  const foreign = await firstToken(c1);
  await c1.close();
  const c2 = await client(s2, { token: foreign });
  assert.is(s2.stats().newTokensRefused, 1);
  assert.is(s2.stats().retriesSent, 1);
  await c2.close();
  // c1 used token: false, so nothing was remembered for s1: the next connect() needs a Retry again.
  const before = s1.stats().retriesSent;
  const c3 = await client(s1, { token: false });
  assert.is(s1.stats().retriesSent, before + 1);
  assert.is(s1.stats().newTokensAccepted, 0);
  await c3.close();
  await Promise.all([s1.close(), s2.close()]);
});

test('a server with newTokens: false sends no NEW_TOKEN frame', async () => {
  const s = await server({ newTokens: false });
  const c = await client(s);
  let received = 0;
  c.newToken$.subscribe(() => received++);
  // A round trip on a stream after the handshake: a NEW_TOKEN would have come with HANDSHAKE_DONE.
  await until(() => c.state === 'confirmed', 'HANDSHAKE_DONE');
  const stream = await c.createBidirectionalStream();
  await stream.writable.close();
  await c.close();
  assert.is(received, 0);
  assert.is(s.stats().newTokensSent, 0);
  await s.close();
});

test('a custom tokenStore receives the tokens and supplies the next one; servers sharing a newTokens key accept each other\'s tokens (a cluster, or a restart)', async () => {
  const key = new Uint8Array(16).fill(7);
  const a = await server({ retry: true, newTokens: { key } });
  const b = await server({ retry: true, newTokens: { key } });
  const kept: { server: string; token: Uint8Array }[] = [];
  const store = {
    remember: (server: string, token: Uint8Array): void => void kept.push({ server, token }),
    take: (): Uint8Array | undefined => kept.shift()?.token,
  };
  const c1 = await client(a, { tokenStore: store });
  await until(() => kept.length === 1, 'the token in the custom store');
  assert.is(kept[0].server, `addr:127.0.0.1:${a.address.port}`, 'remembered under the server it came from');
  await c1.close();
  // The store decides what to hand out: here, server a's token to server b, which shares a's key.
  const c2 = await client(b, { tokenStore: store });
  assert.is(b.stats().newTokensAccepted, 1, 'b validated the token a issued');
  assert.is(b.stats().retriesSent, 0);
  await c2.close();
  await Promise.all([a.close(), b.close()]);
});

test('a tokenStore that throws loses the token but not the connection: it still opens and carries data', async () => {
  const s = await server();
  const store = {
    remember: (): void => {
      throw new Error('disk full');
    },
    take: (): undefined => {
      throw new Error('disk gone');
    },
  };
  const c = await client(s, { tokenStore: store });
  const token = await firstToken(c); // delivered to the application all the same
  assert.ok(token.length > 0);
  const stream = await c.createBidirectionalStream();
  await stream.writable.close();
  assert.is(c.state, 'confirmed');
  await c.close();
  await s.close();
});

test('the token memory keeps tokens per server, hands each out once (newest first), and is bounded', () => {
  const m = new TokenMemory();
  const a = tokenServerKey('example.com', '192.0.2.1', 443);
  const b = tokenServerKey(undefined, '192.0.2.1', 443);
  assert.is.not(a, b, 'a name and an address are different servers');
  assert.is(tokenServerKey('Example.COM', '192.0.2.9', 443), a, 'names compare without case; the address does not matter with a name');
  assert.is.not(tokenServerKey('example.com', '192.0.2.1', 8443), a, 'another port is another server');
  m.remember(a, Uint8Array.of(1));
  m.remember(a, Uint8Array.of(2));
  assert.is(m.take(b), undefined);
  assert.equal([...(m.take(a) ?? [])], [2]);
  assert.equal([...(m.take(a) ?? [])], [1]);
  assert.is(m.take(a), undefined, 'each token once');
  for (let i = 0; i < TOKENS_PER_SERVER + 3; i++) m.remember(a, Uint8Array.of(i));
  assert.is(m.count(a), TOKENS_PER_SERVER);
  for (let i = 0; i < TOKEN_MEMORY_SERVERS + 5; i++) m.remember(tokenServerKey(`s${i}`, '192.0.2.1', 443), Uint8Array.of(i));
  assert.is(m.count(a), 0, 'the least recently used server was forgotten');
  assert.is(m.count(tokenServerKey(`s${TOKEN_MEMORY_SERVERS + 4}`, '192.0.2.1', 443)), 1);
  assert.is(m.count(tokenServerKey('s0', '192.0.2.1', 443)), 0);
});

test.run();
