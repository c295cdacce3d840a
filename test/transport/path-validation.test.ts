import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MAX_PATH_CHALLENGES, PathValidator } from '../../src/transport/path-validation.js';

/** Distinct 8-byte values in sequence, so that tests can tell challenges apart. */
function counterRandom(): (length: number) => Uint8Array {
  let n = 0;
  return (length) => {
    n++;
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) out[i] = (n >>> (8 * (i % 4))) & 0xff;
    return out;
  };
}

test('a validation draws 8 bytes of challenge data from the random source and fails at its deadline (RFC 9000 §8.2.1, §8.2.4)', () => {
  const drawn: number[] = [];
  const v = new PathValidator((length) => {
    drawn.push(length);
    return new Uint8Array(length).fill(7);
  });
  assert.is(v.active, false);
  assert.is(v.deadline, undefined);
  const data = v.start(1500, false);
  assert.equal(drawn, [8]);
  assert.equal(data, new Uint8Array(8).fill(7));
  assert.is(v.active, true);
  assert.is(v.deadline, 1500);
  assert.is(v.stats.started, 1);
});

test('a PATH_RESPONSE echoing the challenge validates the path once; the same response again is ignored (RFC 9000 §8.2.3)', () => {
  const v = new PathValidator(counterRandom());
  const data = v.start(100, false);
  assert.equal(v.onResponse(data.slice()), { kind: 'validated', mtuCheck: false, small: false });
  assert.is(v.active, false);
  assert.equal(v.onResponse(data), { kind: 'ignored' });
  assert.is(v.stats.succeeded, 1);
});

test('an unsolicited PATH_RESPONSE, or one with other data, is ignored and leaves the validation under way (RFC 9000 §8.2.2)', () => {
  const v = new PathValidator(counterRandom());
  assert.equal(v.onResponse(new Uint8Array(8)), { kind: 'ignored' });
  v.start(100, false);
  assert.equal(v.onResponse(new Uint8Array(8).fill(0xee)), { kind: 'ignored' });
  assert.is(v.active, true);
  assert.is(v.stats.succeeded, 0);
});

test(`a lost challenge is replaced by a fresh one, ${MAX_PATH_CHALLENGES} at most; a response to any of them validates (RFC 9000 §13.3)`, () => {
  const v = new PathValidator(counterRandom());
  const first = v.start(100, false);
  const sent = [first];
  for (;;) {
    const fresh = v.onChallengeLost(sent[sent.length - 1]);
    if (fresh === undefined) break;
    assert.not.equal(fresh, sent[sent.length - 1], 'fresh data');
    sent.push(fresh);
  }
  assert.is(sent.length, MAX_PATH_CHALLENGES);
  assert.is(v.onChallengeLost(new Uint8Array(8).fill(0xee)), undefined, 'not one of ours');
  assert.equal(v.onResponse(first), { kind: 'validated', mtuCheck: false, small: false }, 'the first challenge still counts');
});

test('a response to a challenge that went out below 1200 bytes leaves the path MTU unvalidated; the others do not (RFC 9000 §8.2.1)', () => {
  const v = new PathValidator(counterRandom());
  const small = v.start(100, false);
  const full = v.onChallengeLost(small) as Uint8Array;
  v.onSmallDatagramSent([{ kind: 'ping' }, { kind: 'pathChallenge', data: small }, { kind: 'pathChallenge', data: new Uint8Array(8).fill(0xee) }]);
  assert.equal(v.onResponse(small), { kind: 'validated', mtuCheck: false, small: true });
  const second = v.start(200, true);
  v.onChallengeLost(second);
  assert.equal(v.onResponse(full), { kind: 'ignored' }, 'a challenge of the previous validation');
  assert.equal(v.onResponse(second), { kind: 'validated', mtuCheck: true, small: false }, 'the full-size check');
});

test('the challenge of the previous path is answered apart from the validation under way (RFC 9000 §9.3.3)', () => {
  const v = new PathValidator(counterRandom());
  const current = v.start(100, false);
  const previous = v.challengePreviousPath();
  assert.equal(v.onResponse(previous), { kind: 'previous-path' });
  assert.equal(v.onResponse(previous), { kind: 'ignored' }, 'answered once');
  assert.is(v.active, true);
  assert.equal(v.onResponse(current), { kind: 'validated', mtuCheck: false, small: false });
  assert.equal(v.stats, { started: 1, succeeded: 1, failed: 0, previousPathChallengesSent: 1, previousPathChallengesAnswered: 1 });
});

test('an abandoned or timed-out validation is forgotten: later responses are ignored, the timeout left is returned', () => {
  const v = new PathValidator(counterRandom());
  const a = v.start(100, false);
  assert.is(v.abandon(), true);
  assert.is(v.abandon(), false);
  assert.equal(v.onResponse(a), { kind: 'ignored' });
  const b = v.start(250, false);
  assert.is(v.fail(200), 50);
  assert.is(v.active, false);
  assert.equal(v.onResponse(b), { kind: 'ignored' });
  assert.is(v.stats.failed, 1);
  assert.is(v.fail(300), 0, 'none under way');
});

test('property: a response validates exactly when it echoes a challenge of the validation under way, and only once', () => {
  type Op = { kind: 'start'; mtu: boolean } | { kind: 'lose'; pick: number } | { kind: 'respond'; pick: number } | { kind: 'abandon' } | { kind: 'fail' };
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ kind: fc.constant('start' as const), mtu: fc.boolean() }),
    fc.record({ kind: fc.constant('lose' as const), pick: fc.nat(20) }),
    fc.record({ kind: fc.constant('respond' as const), pick: fc.nat(20) }),
    fc.record({ kind: fc.constant('abandon' as const) }),
    fc.record({ kind: fc.constant('fail' as const) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
      const v = new PathValidator(counterRandom());
      const everSent: Uint8Array[] = [];
      let current: Uint8Array[] | undefined;
      for (const o of ops) {
        if (o.kind === 'start') {
          current = [v.start(1000, o.mtu)];
          everSent.push(current[0]);
        } else if (o.kind === 'lose' && everSent.length > 0) {
          const data = everSent[o.pick % everSent.length];
          const fresh = v.onChallengeLost(data);
          const ours = current !== undefined && current.some((c) => c.every((b, i) => b === data[i]));
          assert.is(fresh !== undefined, ours && (current as Uint8Array[]).length < MAX_PATH_CHALLENGES);
          if (fresh !== undefined) {
            (current as Uint8Array[]).push(fresh);
            everSent.push(fresh);
          }
        } else if (o.kind === 'respond' && everSent.length > 0) {
          const data = everSent[o.pick % everSent.length];
          const ours = current !== undefined && current.some((c) => c.every((b, i) => b === data[i]));
          assert.is(v.onResponse(data).kind, ours ? 'validated' : 'ignored');
          if (ours) current = undefined;
        } else if (o.kind === 'abandon') {
          assert.is(v.abandon(), current !== undefined);
          current = undefined;
        } else if (o.kind === 'fail') {
          v.fail(0);
          current = undefined;
        }
        assert.is(v.active, current !== undefined);
      }
    }),
    { numRuns: 300 },
  );
});

test.run();
