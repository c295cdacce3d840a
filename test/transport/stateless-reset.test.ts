import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { createHmac } from 'node:crypto';
import {
  MIN_STATELESS_RESET_LENGTH,
  StatelessResetLimiter,
  StatelessResetTokenGenerator,
  buildStatelessReset,
  generateStatelessResetKey,
  isStatelessReset,
  matchesStatelessResetToken,
  minPacketSizeHidingResets,
  statelessResetSizeRange,
} from '../../src/transport/stateless-reset.js';
import { providers } from '../support/providers.js';
import { nodeCrypto } from '../../src/crypto/node.js';

const key = Uint8Array.from({ length: 32 }, (_, i) => i * 3);
const cid = Uint8Array.from([0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4]);

function withTail(body: number, token: Uint8Array): Uint8Array {
  const d = new Uint8Array(body + 16);
  d.fill(0x41, 0, body);
  d.set(token, body);
  return d;
}

for (const provider of providers) {
  test(`[${provider.name}] the token is HMAC-SHA256(static key, connection ID) truncated to 16 bytes`, () => {
    const expected = createHmac('sha256', key).update(cid).digest().subarray(0, 16);
    const token = new StatelessResetTokenGenerator(provider, key).token(cid);
    assert.is(token.length, 16);
    assert.equal([...token], [...expected]);
  });
}

test('tokens are stable per connection ID and key, and differ across IDs and keys', () => {
  const [a, b] = providers;
  const g1 = new StatelessResetTokenGenerator(a, key);
  const g2 = new StatelessResetTokenGenerator(b, key);
  assert.equal([...g1.token(cid)], [...g2.token(cid)]);
  assert.equal([...g1.token(cid)], [...g1.token(Uint8Array.from(cid))]);
  assert.not.equal([...g1.token(cid)], [...g1.token(Uint8Array.from([...cid.subarray(0, 7), 5]))]);
  const otherKey = new StatelessResetTokenGenerator(a, Uint8Array.from(key, (v) => v ^ 1));
  assert.not.equal([...g1.token(cid)], [...otherKey.token(cid)]);
});

test('the generator keeps its own copy of the key', () => {
  const k = Uint8Array.from(key);
  const g = new StatelessResetTokenGenerator(nodeCrypto, k);
  const before = [...g.token(cid)];
  k.fill(0);
  assert.equal([...g.token(cid)], before);
});

test('a zero-length connection ID gets no token, and a short key is refused', () => {
  const g = new StatelessResetTokenGenerator(nodeCrypto, key);
  assert.throws(() => g.token(new Uint8Array(0)), RangeError);
  assert.throws(() => new StatelessResetTokenGenerator(nodeCrypto, new Uint8Array(15)), RangeError);
  assert.is(generateStatelessResetKey(nodeCrypto).length, 32);
});

test('a datagram of 21 bytes or more ending in a token is a stateless reset, whatever its first byte', () => {
  const token = new StatelessResetTokenGenerator(nodeCrypto, key).token(cid);
  assert.ok(matchesStatelessResetToken(withTail(5, token), token));
  const long = withTail(30, token);
  long[0] = 0xc0; // a long header
  assert.ok(isStatelessReset(long, [token]));
  assert.not.ok(matchesStatelessResetToken(withTail(4, token), token), '20 bytes is too short');
  const altered = withTail(10, token);
  altered[altered.length - 1] ^= 0x80;
  assert.not.ok(isStatelessReset(altered, [token]));
  const inside = new Uint8Array(40);
  inside.set(token, 10);
  assert.not.ok(isStatelessReset(inside, [token]));
  assert.not.ok(isStatelessReset(withTail(10, token), []));
});

test('detection checks every token it is given', () => {
  const g = new StatelessResetTokenGenerator(nodeCrypto, key);
  const tokens = [1, 2, 3].map((i) => g.token(Uint8Array.of(i, i, i, i)));
  assert.ok(isStatelessReset(withTail(20, tokens[2]), tokens));
  assert.ok(isStatelessReset(withTail(20, tokens[0]), new Set(tokens)));
  assert.not.ok(isStatelessReset(withTail(20, g.token(Uint8Array.of(9))), tokens));
});

test('no reset answers a datagram of 21 bytes or fewer; up to 43 bytes the reset is one byte shorter (RFC 9000 §10.3, §10.3.3)', () => {
  assert.is(statelessResetSizeRange(0), undefined);
  assert.is(statelessResetSizeRange(20), undefined);
  assert.is(statelessResetSizeRange(MIN_STATELESS_RESET_LENGTH), undefined);
  assert.equal(statelessResetSizeRange(22), { min: 21, max: 21 });
  assert.equal(statelessResetSizeRange(43), { min: 42, max: 42 });
  assert.equal(statelessResetSizeRange(44), { min: 41, max: 43 });
  assert.equal(statelessResetSizeRange(1200), { min: 41, max: 1199 });
  assert.equal(statelessResetSizeRange(1200, 100), { min: 41, max: 100 });
  assert.equal(statelessResetSizeRange(1200, 30), { min: 30, max: 30 });
  assert.is(statelessResetSizeRange(1200, 20), undefined);
});

for (const provider of providers) {
  test(`[${provider.name}] a built reset looks like a short-header packet, is smaller than its trigger and ends in the token`, () => {
    const token = new StatelessResetTokenGenerator(provider, key).token(cid);
    const sizes = new Set<number>();
    for (let i = 0; i < 50; i++) {
      const reset = buildStatelessReset(provider, token, 1200) as Uint8Array;
      assert.ok(reset.length >= 41 && reset.length < 1200, `size ${reset.length}`);
      assert.is(reset[0] & 0xc0, 0x40, 'header form 0, fixed bit 1');
      assert.equal([...reset.subarray(reset.length - 16)], [...token]);
      assert.ok(isStatelessReset(reset, [token]));
      sizes.add(reset.length);
    }
    assert.ok(sizes.size > 1, 'sizes vary');
    assert.is(buildStatelessReset(provider, token, 21), undefined);
    assert.is((buildStatelessReset(provider, token, 30) as Uint8Array).length, 29);
  });
}

test('the six low bits of the first byte and the bytes before the token are random', () => {
  const token = new Uint8Array(16);
  const firsts = new Set<number>();
  const seconds = new Set<number>();
  for (let i = 0; i < 64; i++) {
    const r = buildStatelessReset(nodeCrypto, token, 43) as Uint8Array;
    firsts.add(r[0]);
    seconds.add(r[1]);
  }
  assert.ok(firsts.size > 8);
  assert.ok(seconds.size > 8);
});

test('a token that is not 16 bytes is refused when building', () => {
  assert.throws(() => buildStatelessReset(nodeCrypto, new Uint8Array(15), 100), RangeError);
});

test('packets at least 22 bytes longer than our connection ID length hide resets (RFC 9000 §10.3)', () => {
  assert.is(minPacketSizeHidingResets(8), 30);
  assert.is(minPacketSizeHidingResets(0), 22);
});

test('property: reset sizes follow RFC 9000 §10.3 for every trigger size and cap', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 70000 }), fc.option(fc.integer({ min: 0, max: 70000 }), { nil: undefined }), (trigger, cap) => {
      const token = new Uint8Array(16).fill(7);
      const reset = buildStatelessReset(nodeCrypto, token, trigger, { maxLength: cap });
      const limit = Math.min(trigger - 1, cap ?? Infinity);
      if (limit < MIN_STATELESS_RESET_LENGTH) {
        assert.is(reset, undefined);
        return;
      }
      assert.ok(reset !== undefined);
      assert.ok(reset.length < trigger, 'smaller than the trigger (no loops, no amplification)');
      assert.ok(reset.length >= MIN_STATELESS_RESET_LENGTH);
      assert.ok(reset.length <= limit);
      if (trigger <= 43) assert.is(reset.length, trigger - 1);
      else assert.ok(reset.length >= Math.min(41, limit));
      assert.ok(isStatelessReset(reset, [token]));
    }),
    { numRuns: 500 },
  );
});

test('property: detection is exact: a datagram is a reset iff it has 21+ bytes and its last 16 equal one of the tokens', () => {
  const g = new StatelessResetTokenGenerator(nodeCrypto, key);
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ minLength: 1, maxLength: 20 }), { maxLength: 5 }),
      fc.uint8Array({ minLength: 0, maxLength: 60 }),
      fc.option(fc.nat(), { nil: undefined }),
      (cids, prefix, pick) => {
        const tokens = cids.map((c) => g.token(c));
        assert.equal(tokens.map((t) => [...t]), cids.map((c) => [...g.token(Uint8Array.from(c))]), 'stable');
        const datagram =
          pick !== undefined && tokens.length > 0 ? Uint8Array.from([...prefix, ...tokens[pick % tokens.length]]) : prefix;
        const tail = [...datagram.subarray(Math.max(0, datagram.length - 16))];
        const expected = datagram.length >= 21 && tokens.some((t) => t.every((v, i) => v === tail[i]));
        assert.is(isStatelessReset(datagram, tokens), expected);
      },
    ),
    { numRuns: 500 },
  );
});

test('the limiter allows a burst per address, then one reset per refill interval', () => {
  const l = new StatelessResetLimiter({ perAddressBurst: 2, perAddressRate: 1, globalBurst: 100, globalRate: 100 });
  assert.ok(l.allow('a', 0));
  assert.ok(l.allow('a', 0));
  assert.not.ok(l.allow('a', 0));
  assert.not.ok(l.allow('a', 999));
  assert.ok(l.allow('a', 1000));
  assert.not.ok(l.allow('a', 1000));
  assert.ok(l.allow('b', 1000), 'another address has its own budget');
});

test('the limiter’s global budget bounds every address together', () => {
  const l = new StatelessResetLimiter({ perAddressBurst: 10, globalBurst: 3, globalRate: 1 });
  assert.ok(l.allow('a', 0));
  assert.ok(l.allow('b', 0));
  assert.ok(l.allow('c', 0));
  assert.not.ok(l.allow('d', 0));
  assert.ok(l.allow('d', 1000));
});

test('the limiter tracks a bounded number of addresses and never refills when time goes backwards', () => {
  const l = new StatelessResetLimiter({ perAddressBurst: 1, maxAddresses: 4, globalBurst: 1000, globalRate: 0 });
  for (let i = 0; i < 100; i++) l.allow(`addr${i}`, 0);
  assert.is(l.trackedAddresses, 4);
  const t = new StatelessResetLimiter({ perAddressBurst: 1, perAddressRate: 1 });
  assert.ok(t.allow('x', 5000));
  assert.not.ok(t.allow('x', 0));
  assert.not.ok(t.allow('x', 5500));
  assert.ok(t.allow('x', 6000));
});

test.run();
