/**
 * NEW_TOKEN tokens (RFC 9000 §8.1.3–§8.1.4): the codec (bound to the client's IP address, expiry,
 * single use, bounded replay memory) and how a server endpoint treats an Initial carrying one.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { nodeCrypto } from '../../src/crypto/node.js';
import { Endpoint } from '../../src/endpoint/endpoint.js';
import { NEW_TOKEN_LENGTH, NEW_TOKEN_MARKER, NewTokens } from '../../src/endpoint/new-token.js';
import { RetryTokens } from '../../src/endpoint/retry-token.js';
import type { ServerConnectionOptions, SocketAddress } from '../../src/transport/connection-types.js';
import { parsePacketHeader } from '../../src/wire/header.js';
import { fakeFactory } from './fake-core.js';
import { initialDatagram, rawPeer, random, until } from './helpers.js';

const client: SocketAddress = { address: '192.0.2.7', port: 40000, family: 'IPv4' };

test('a NEW_TOKEN token validates from the IP address it was issued to, whatever the port, and from no other', () => {
  const tokens = new NewTokens(nodeCrypto);
  const token = tokens.issue(client);
  assert.is(token.length, NEW_TOKEN_LENGTH);
  assert.is(token[0], NEW_TOKEN_MARKER);
  assert.equal(new NewTokens(nodeCrypto).validate(token, client), { ok: false, reason: 'invalid' }, 'another key');
  assert.equal(tokens.validate(token, { ...client, address: '192.0.2.8' }), { ok: false, reason: 'invalid' }, 'another IP address');
  assert.is(tokens.validate(token, { ...client, port: 40001 }).ok, true, 'a new port (NAT rebinding between connections, §8.1.3)');
  const key = random(16);
  assert.is(new NewTokens(nodeCrypto, { key }).validate(new NewTokens(nodeCrypto, { key }).issue(client), client).ok, true, 'the same key: another endpoint accepts it');
  assert.throws(() => new NewTokens(nodeCrypto, { key: random(15) }), (e: unknown) => e instanceof RangeError && /NEW_TOKEN key has 16 bytes, got 15/.test(e.message));
});

test('a NEW_TOKEN token serves once: the same token again is refused as replayed (RFC 9000 §8.1.4)', () => {
  const tokens = new NewTokens(nodeCrypto);
  const token = tokens.issue(client);
  assert.is(tokens.validate(token, client).ok, true);
  assert.equal(tokens.validate(token, client), { ok: false, reason: 'replayed' });
  assert.is(tokens.validate(tokens.issue(client), client).ok, true, 'a second token of the same client is another token');
});

test('a NEW_TOKEN token expires after its lifetime; the replay memory forgets expired tokens and keeps at most replayMemory', () => {
  let now = 1_000_000;
  const tokens = new NewTokens(nodeCrypto, { lifetime: 60_000, replayMemory: 3, clock: () => now });
  const old = tokens.issue(client);
  now += 60_001;
  assert.equal(tokens.validate(old, client), { ok: false, reason: 'expired' });
  const issued = [0, 1, 2, 3].map(() => tokens.issue(client));
  for (const t of issued) assert.is(tokens.validate(t, client).ok, true);
  assert.is(tokens.remembered, 3, 'bounded');
  assert.equal(tokens.validate(issued[3], client), { ok: false, reason: 'replayed' });
  // The oldest was forgotten to make room: replay is limited, not prevented, beyond the memory.
  assert.is(tokens.validate(issued[0], client).ok, true);
  now += 60_001;
  assert.equal(tokens.validate(tokens.issue(client), client).ok, true);
  assert.is(tokens.remembered, 1, 'expired entries were dropped');
});

test('altered NEW_TOKEN tokens, Retry tokens and arbitrary bytes never validate (property)', () => {
  const tokens = new NewTokens(nodeCrypto);
  const retry = new RetryTokens(nodeCrypto).issue(client, random(8), random(8));
  assert.equal(tokens.validate(retry, client), { ok: false, reason: 'not-a-new-token' });
  const token = tokens.issue(client);
  fc.assert(
    fc.property(fc.integer({ min: 1, max: NEW_TOKEN_LENGTH - 1 }), fc.integer({ min: 1, max: 255 }), (i, flip) => {
      const altered = token.slice();
      altered[i] ^= flip;
      assert.is(tokens.validate(altered, client).ok, false);
    }),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 80 }), (bytes) => {
      const candidate = bytes.length > 0 ? bytes : new Uint8Array([NEW_TOKEN_MARKER]);
      assert.is(tokens.validate(candidate, client).ok, false);
    }),
    { numRuns: 500 },
  );
  assert.is(tokens.validate(token, client).ok, true, 'the original still validates');
});

async function tokenServer(newTokens: false | { key: Uint8Array }) {
  const factory = fakeFactory();
  const endpoint = await Endpoint.bind({ host: '127.0.0.1', provider: nodeCrypto, createConnection: factory.create });
  endpoint.listen({ tls: { certificateChain: [], privateKey: undefined as never, alpnProtocols: ['test'] }, retry: true, newTokens, onConnection: () => undefined });
  return { endpoint, factory };
}

test('an Initial with a valid NEW_TOKEN token starts a connection with the address validated, without a Retry even under retry: true; a replay or a foreign token gets a Retry, not INVALID_TOKEN', async () => {
  const key = random(16);
  const { endpoint, factory } = await tokenServer({ key });
  const peer = await rawPeer();
  const minted = new NewTokens(nodeCrypto, { key });
  const token = minted.issue({ address: '127.0.0.1', port: 1, family: 'IPv4' });
  const dcid = random(8);
  await peer.send(initialDatagram({ dcid, scid: random(8), token }), endpoint.address.port);
  await until(() => factory.cores.length === 1, 'the connection');
  const o = factory.cores[0].options as ServerConnectionOptions;
  assert.is(o.addressValidated, true);
  assert.is(o.retrySourceCid, undefined, 'no Retry took place');
  assert.equal([...o.originalDestinationCid], [...dcid]);
  assert.is(endpoint.stats.newTokensAccepted, 1);
  assert.is(endpoint.stats.retriesSent, 0);
  // The same token again (a replay), then a token of another server: each as if there were none.
  for (const t of [token, new NewTokens(nodeCrypto).issue({ address: '127.0.0.1', port: 1, family: 'IPv4' })]) {
    await peer.send(initialDatagram({ dcid: random(8), scid: random(8), token: t }), endpoint.address.port);
    const answer = await peer.next('a Retry');
    assert.is(parsePacketHeader(answer, 0, { shortHeaderDcidLength: 0 }).form, 'retry');
  }
  assert.is(endpoint.stats.newTokensRefused, 2);
  assert.is(endpoint.stats.invalidTokens, 0, 'never INVALID_TOKEN for a NEW_TOKEN token (§8.1.3)');
  assert.is(factory.cores.length, 1);
  await peer.close();
  await endpoint.destroy();
});

test('with newTokens: false a NEW_TOKEN token is ignored (a Retry follows) and none is issued', async () => {
  const { endpoint, factory } = await tokenServer(false);
  const peer = await rawPeer();
  const token = new NewTokens(nodeCrypto).issue({ address: '127.0.0.1', port: 1, family: 'IPv4' });
  await peer.send(initialDatagram({ dcid: random(8), scid: random(8), token }), endpoint.address.port);
  const answer = await peer.next('a Retry');
  assert.is(parsePacketHeader(answer, 0, { shortHeaderDcidLength: 0 }).form, 'retry');
  assert.is(endpoint.stats.newTokensRefused, 1);
  assert.is(factory.cores.length, 0);
  await peer.close();
  await endpoint.destroy();
});

test.run();
