// Packet numbers per space: increasing, skipped now and then at random, empty packets give their
// number back, numbers of packets that failed to seal are never reused, and an ACK of any
// never-sent number is an optimistic ACK — on which the builder's state and loss recovery agree.
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { CryptoProvider } from '../../src/crypto/provider.js';
import { nodeCrypto } from '../../src/crypto/node.js';
import { MAX_REMEMBERED_SKIPS, PacketNumberState } from '../../src/packet/packet-numbers.js';
import { cryptoRandomSource } from '../../src/packet/random.js';
import type { SentPacket } from '../../src/packet/types.js';
import { Recovery } from '../../src/recovery/recovery.js';
import { QuicError, TransportErrorCode } from '../../src/wire/errors.js';
import { scriptedRandom, seededRandom } from '../support/test-sources.js';

function allocateN(s: PacketNumberState, n: number): number[] {
  return Array.from({ length: n }, () => s.allocate());
}

test('without skipping, packet numbers count up from 0 (RFC 9000 §12.3)', () => {
  const s = new PacketNumberState('initial', { random: seededRandom(1) });
  assert.equal(allocateN(s, 5), [0, 1, 2, 3, 4]);
  assert.equal(s.skipped(), []);
});

test('the default policy skips in the application space only', () => {
  const random = seededRandom(3);
  const app = new PacketNumberState('application', { random });
  const hs = new PacketNumberState('handshake', { random });
  allocateN(app, 200_000);
  allocateN(hs, 200_000);
  assert.ok(app.skipped().length >= 2, `application space skipped ${app.skipped().length} numbers in 200000`);
  assert.is(hs.skipped().length, 0);
});

test('skips follow the drawn intervals: each interval is the count of numbers used between skips', () => {
  // draws: 1 + 2 = 3, 1 + 4 = 5, 1 + 0 = 1, then 1 + 0 = 1 …
  const s = new PacketNumberState('application', { random: scriptedRandom([2, 4, 0]), skip: { minInterval: 1, maxInterval: 10 } });
  assert.equal(allocateN(s, 11), [0, 1, 2, 4, 5, 6, 7, 8, 10, 12, 14]);
  assert.equal(s.skipped(), [3, 9, 11, 13]);
  for (const pn of [3, 9, 11, 13]) assert.ok(s.isSkipped(pn));
  for (const pn of [0, 2, 4, 8, 10, 12, 14, 15]) assert.not.ok(s.isSkipped(pn));
});

test('an empty packet gives its number back, also right after a skip, and the skip stays remembered', () => {
  const s = new PacketNumberState('application', { random: scriptedRandom([1, 1]), skip: { minInterval: 1, maxInterval: 5 } });
  assert.equal(allocateN(s, 2), [0, 1]);
  const pn = s.allocate(); // skips 2
  assert.is(pn, 3);
  s.revert(pn);
  assert.is(s.next, 3);
  assert.is(s.allocate(), 3, 'the same number again');
  assert.is(s.allocate(), 4);
  assert.equal(s.skipped(), [2]);
  assert.is(s.allocate(), 6, 'the interval of 2 continues as drawn');
});

test('only the last allocated number can be reverted', () => {
  const s = new PacketNumberState('initial', { random: seededRandom(1) });
  const a = s.allocate();
  s.allocate();
  assert.throws(() => s.revert(a), (e: unknown) => e instanceof QuicError && e.code === TransportErrorCode.INTERNAL_ERROR);
});

test('a number abandoned after a failed seal is never reused and an ACK of it is refused', () => {
  const s = new PacketNumberState('handshake', { random: seededRandom(1) });
  allocateN(s, 3);
  s.abandon(2);
  assert.is(s.allocate(), 3);
  assert.ok(s.isSkipped(2));
  assert.throws(() => s.abandon(10), /not allocated/);
});

test('an ACK covering a never-sent number is a PROTOCOL_VIOLATION naming it (RFC 9000 §13.1, §21.4)', () => {
  const s = new PacketNumberState('application', { random: scriptedRandom([4, 50]), skip: { minInterval: 1, maxInterval: 100 } });
  allocateN(s, 20); // skips 5, then not before 57
  assert.is(s.findAcknowledgedSkip([{ smallest: 6, largest: 19 }, { smallest: 0, largest: 4 }]), undefined);
  s.checkAcknowledged([{ smallest: 6, largest: 19 }, { smallest: 0, largest: 4 }]);
  assert.is(s.findAcknowledgedSkip([{ smallest: 10, largest: 19 }, { smallest: 3, largest: 7 }]), 5);
  try {
    s.checkAcknowledged([{ smallest: 0, largest: 19 }], 0x03);
    assert.unreachable('accepted');
  } catch (e) {
    assert.instance(e, QuicError);
    assert.is((e as QuicError).code, TransportErrorCode.PROTOCOL_VIOLATION);
    assert.is((e as QuicError).frameType, 0x03);
    assert.match((e as QuicError).message, /packet 5 /);
  }
});

test('the never-sent set is bounded: the oldest numbers are forgotten first', () => {
  const s = new PacketNumberState('application', { random: seededRandom(2), skip: { minInterval: 1, maxInterval: 1 } });
  allocateN(s, 2 * (MAX_REMEMBERED_SKIPS + 10));
  const skipped = s.skipped();
  assert.is(skipped.length, MAX_REMEMBERED_SKIPS);
  assert.not.ok(s.isSkipped(1), 'the first skip is forgotten');
  assert.ok(s.isSkipped(skipped[skipped.length - 1]));
});

test('the encoded length follows the largest acknowledged (RFC 9000 §17.1)', () => {
  const s = new PacketNumberState('application', { random: seededRandom(1), skip: false });
  assert.is(s.encodedLength(100), 1);
  assert.is(s.encodedLength(200), 2, 'nothing acknowledged: 201 unacknowledged packets need 2 bytes');
  s.onAcknowledged(190);
  assert.is(s.encodedLength(200), 1);
  s.onAcknowledged(10);
  assert.is(s.largestAcked, 190, 'never moves back');
  assert.is(s.encodedLength(190 + 200), 2);
});

test('skip policies are validated', () => {
  assert.throws(() => new PacketNumberState('application', { random: seededRandom(1), skip: { minInterval: 0, maxInterval: 10 } }), RangeError);
  assert.throws(() => new PacketNumberState('application', { random: seededRandom(1), skip: { minInterval: 5, maxInterval: 4 } }), RangeError);
});

function record(pn: number): SentPacket {
  return { packetNumber: pn, space: 'application', level: 'oneRtt', size: 100, ackEliciting: true, inFlight: true, timeSent: 0, frames: [{ kind: 'ping' }], isMtuProbe: false, keyPhase: 0 };
}

test('the builder state and loss recovery agree on which numbers were never sent', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 2 ** 31 }),
      fc.integer({ min: 1, max: 12 }),
      fc.array(fc.constantFrom('send', 'send', 'send', 'empty', 'fail'), { minLength: 1, maxLength: 120 }),
      (seed, maxInterval, ops) => {
        const s = new PacketNumberState('application', { random: seededRandom(seed), skip: { minInterval: 1, maxInterval } });
        const recovery = new Recovery({ isServer: false, pacing: false });
        const sent = new Set<number>();
        for (const op of ops) {
          const pn = s.allocate();
          if (op === 'empty') s.revert(pn);
          else if (op === 'fail') s.abandon(pn);
          else {
            recovery.onPacketSent(record(pn));
            sent.add(pn);
          }
        }
        for (let pn = 0; pn < s.next; pn++) {
          let refusedByRecovery = false;
          try {
            recovery.onAckReceived('application', { ranges: [{ smallest: pn, largest: pn }], ackDelay: 0 }, 1);
          } catch (e) {
            if (!(e instanceof QuicError) || e.code !== TransportErrorCode.PROTOCOL_VIOLATION) throw e;
            refusedByRecovery = true;
          }
          const refusedHere = s.findAcknowledgedSkip([{ smallest: pn, largest: pn }]) !== undefined;
          assert.is(refusedHere, !sent.has(pn), `builder state on ${pn}`);
          assert.is(refusedByRecovery, refusedHere, `recovery and builder agree on ${pn}`);
        }
      },
    ),
    { numRuns: 300 },
  );
});

test('the crypto random source draws uniformly in range from the provider, in pooled requests', () => {
  let calls = 0;
  const provider = { ...nodeCrypto, randomBytes: (n: number) => (calls++, nodeCrypto.randomBytes(n)) } as CryptoProvider;
  const r = cryptoRandomSource(provider);
  const counts = [0, 0, 0];
  for (let i = 0; i < 3000; i++) counts[r.nextInt(3)]++;
  for (const c of counts) assert.ok(c > 800 && c < 1200, `counts ${counts}`);
  assert.ok(calls <= 3000 / 64 + 2, `${calls} provider calls`);
  assert.is(r.nextInt(1), 0);
  assert.ok(r.nextInt(2 ** 32) < 2 ** 32);
  assert.throws(() => r.nextInt(0), RangeError);
  assert.throws(() => r.nextInt(1.5), RangeError);
});

test.run();
