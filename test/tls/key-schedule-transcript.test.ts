/**
 * The transcript hash (RFC 8446 §4.4.1), including the HelloRetryRequest rule: ClientHello1 is
 * replaced by message_hash(Hash(ClientHello1)), whether the transcript kept ClientHello1 (client,
 * stateful server) or only its hash (stateless server, from the cookie).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { providers } from '../support/providers.js';
import type { HashAlgorithm } from '../../src/crypto/provider.js';
import { isTlsAlertError, TlsAlert } from '../../src/tls/alerts.js';
import { messageHashMessage, Transcript } from '../../src/tls/transcript.js';

const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const cat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));

/** A well-formed-looking handshake message: type, 24-bit length, body. */
const message = (type: number): fc.Arbitrary<Uint8Array> =>
  fc.uint8Array({ maxLength: 300 }).map((body) => cat(Uint8Array.from([type, body.length >> 16, (body.length >> 8) & 0xff, body.length & 0xff]), body));

for (const provider of providers) {
  for (const hash of ['sha256', 'sha384'] as const) {
    const len = hash === 'sha256' ? 32 : 48;

    test(`[${provider.name}] ${hash}: after a HelloRetryRequest the transcript hashes message_hash || 00 00 Hash.length || Hash(CH1) || HRR || …`, () => {
      fc.assert(
        fc.property(message(1), message(2), message(1), message(2), (ch1, hrr, ch2, sh) => {
          // Written out from RFC 8446 §4.4.1, independently of messageHashMessage.
          const synthetic = cat(Uint8Array.from([254, 0, 0, len]), provider.digest(hash, ch1));
          const expected = provider.digest(hash, cat(synthetic, hrr, ch2, sh));

          const client = new Transcript(provider);
          client.add(ch1);
          client.selectHash(hash);
          client.replaceClientHelloWithMessageHash();
          client.add(hrr);
          client.add(ch2);
          client.add(sh);
          assert.is(toHex(client.hash()), toHex(expected));

          const stateless = Transcript.afterHelloRetryRequest(provider, hash, provider.digest(hash, ch1));
          stateless.add(hrr);
          stateless.add(ch2);
          stateless.add(sh);
          assert.is(toHex(stateless.hash()), toHex(expected));

          // Without the rule the hash would be over CH1 itself: the replacement must change it.
          assert.is.not(toHex(expected), toHex(provider.digest(hash, cat(ch1, hrr, ch2, sh))));
        }),
        { numRuns: 50 },
      );
    });

    test(`[${provider.name}] ${hash}: messages added before the hash is known are hashed once it is selected`, () => {
      fc.assert(
        fc.property(fc.array(message(8), { minLength: 1, maxLength: 5 }), fc.integer({ min: 0, max: 5 }), (msgs, split) => {
          const k = Math.min(split, msgs.length);
          const t = new Transcript(provider);
          msgs.slice(0, k).forEach((m) => t.add(m));
          assert.is(t.hashAlgorithm, undefined);
          t.selectHash(hash);
          msgs.slice(k).forEach((m) => t.add(m));
          assert.is(toHex(t.hash()), toHex(provider.digest(hash, cat(...msgs))));
          assert.is(t.messageCount, msgs.length);
        }),
        { numRuns: 50 },
      );
    });

    test(`[${provider.name}] ${hash}: hashWith and clone leave the transcript unchanged`, () => {
      const t = new Transcript(provider);
      const a = Uint8Array.from([1, 0, 0, 1, 7]);
      const b = Uint8Array.from([2, 0, 0, 0]);
      t.add(a);
      assert.is(toHex(t.hashWith(b, hash)), toHex(provider.digest(hash, cat(a, b))), 'before selection, with the PSK hash');
      t.selectHash(hash);
      assert.is(toHex(t.hashWith(b)), toHex(provider.digest(hash, cat(a, b))));
      const fork = t.clone();
      fork.add(b);
      assert.is(toHex(t.hash()), toHex(provider.digest(hash, a)));
      assert.is(toHex(fork.hash()), toHex(provider.digest(hash, cat(a, b))));
    });
  }
}

function expectInternal(fn: () => unknown, what: string): void {
  try {
    fn();
  } catch (e) {
    assert.ok(isTlsAlertError(e, TlsAlert.internal_error), `${what}: ${String(e)}`);
    return;
  }
  assert.unreachable(`${what}: no error`);
}

const p = providers[0];

test('the message_hash message is type 254 with a 3-byte length of Hash.length', () => {
  const h = new Uint8Array(48).fill(0xab);
  assert.is(toHex(messageHashMessage(h)), 'fe000030' + 'ab'.repeat(48));
  expectInternal(() => messageHashMessage(new Uint8Array(31)), 'odd hash length');
});

test('misusing the transcript is an internal_error', () => {
  const t = new Transcript(p);
  expectInternal(() => t.hash(), 'hash before selection');
  expectInternal(() => t.hashWith(new Uint8Array(4)), 'hashWith without a hash');
  expectInternal(() => t.replaceClientHelloWithMessageHash(), 'replacement before selection');
  t.add(Uint8Array.from([1, 0, 0, 0]));
  t.add(Uint8Array.from([2, 0, 0, 0]));
  t.selectHash('sha256');
  expectInternal(() => t.selectHash('sha384'), 'second, different hash');
  t.selectHash('sha256');
  expectInternal(() => t.replaceClientHelloWithMessageHash(), 'replacement with two messages');
  expectInternal(() => t.hashWith(new Uint8Array(4), 'sha384' as HashAlgorithm), 'hashWith with another hash');
  expectInternal(() => t.add(new Uint8Array(3)), 'message shorter than a header');
  expectInternal(() => Transcript.afterHelloRetryRequest(p, 'sha384', new Uint8Array(32)), 'sha256-sized hash for sha384');
});

test.run();
