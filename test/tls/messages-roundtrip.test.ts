/**
 * Property tests: every handshake message type with random valid contents (GREASE values
 * included) survives encode → decode unchanged, re-encodes to the same bytes, has an exact size,
 * and comes out of the CRYPTO reassembler whole however its bytes are cut.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { anyMessage, messagesBySender } from '../support/tls-arbitraries.js';
import {
  decodeHandshakeMessage,
  encodeHandshakeMessage,
  HandshakeReader,
  handshakeMessageSize,
  handshakeTypeOf,
  writeHandshakeMessage,
} from '../../src/tls/messages.js';
import { isTlsAlertError, TlsAlert } from '../../src/tls/alerts.js';

const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

for (const { name, sender, arb } of messagesBySender) {
  test(`${name}: decode(encode(m)) equals m and re-encodes to the same bytes`, () => {
    fc.assert(
      fc.property(arb, (m) => {
        const raw = encodeHandshakeMessage(m);
        assert.is(raw[0], handshakeTypeOf(m));
        assert.is((raw[1] << 16) | (raw[2] << 8) | raw[3], raw.length - 4, 'uint24 length');
        const decoded = decodeHandshakeMessage(raw, { sender });
        assert.equal(decoded, m);
        assert.is(toHex(encodeHandshakeMessage(decoded)), toHex(raw));
      }),
      { numRuns: 300 },
    );
  });

  test(`${name}: the size function is exact and the writer honours the offset`, () => {
    fc.assert(
      fc.property(arb, fc.integer({ min: 0, max: 16 }), (m, offset) => {
        const size = handshakeMessageSize(m);
        const buf = new Uint8Array(offset + size + 3).fill(0xee);
        const end = writeHandshakeMessage(buf, offset, m);
        assert.is(end, offset + size);
        assert.is(toHex(buf.subarray(offset, end)), toHex(encodeHandshakeMessage(m)));
        assert.ok(buf.subarray(0, offset).every((b) => b === 0xee) && buf.subarray(end).every((b) => b === 0xee), 'bytes outside untouched');
        // One byte less room is refused with internal_error, never written past.
        const small = new Uint8Array(offset + size - 1);
        try {
          writeHandshakeMessage(small, offset, m);
          assert.unreachable('wrote into a buffer that is too small');
        } catch (e) {
          assert.ok(isTlsAlertError(e, TlsAlert.internal_error), String(e));
        }
      }),
      { numRuns: 100 },
    );
  });
}

test('the reassembler returns the same messages whatever the CRYPTO frame boundaries', () => {
  fc.assert(
    fc.property(
      fc.array(anyMessage, { minLength: 1, maxLength: 6 }),
      fc.array(fc.integer({ min: 0, max: 1 << 16 }), { maxLength: 12 }),
      (msgs, cutSeeds) => {
        const encoded = msgs.map(({ message }) => encodeHandshakeMessage(message));
        const stream = new Uint8Array(Buffer.concat(encoded));
        const cuts = [...new Set(cutSeeds.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
        const reader = new HandshakeReader('handshake');
        const out = [];
        let prev = 0;
        for (const cut of [...cuts, stream.length]) {
          out.push(...reader.push(stream.subarray(prev, cut)));
          prev = cut;
        }
        assert.is(out.length, msgs.length);
        assert.not.ok(reader.hasPartialMessage);
        reader.assertNoPartialMessage();
        assert.is(reader.bytesReceived, stream.length);
        out.forEach((m, i) => {
          assert.is(toHex(m.raw), toHex(encoded[i]));
          assert.is(m.type, encoded[i][0]);
          assert.equal(decodeHandshakeMessage(m, { sender: msgs[i].sender }), msgs[i].message);
        });
      },
    ),
    { numRuns: 300 },
  );
});

test('messages returned by the reassembler are copies: reusing the input buffer does not change them', () => {
  fc.assert(
    fc.property(anyMessage, ({ message }) => {
      const encoded = encodeHandshakeMessage(message);
      const buf = encoded.slice();
      const [m] = new HandshakeReader('initial').push(buf);
      buf.fill(0);
      assert.is(toHex(m.raw), toHex(encoded));
    }),
    { numRuns: 50 },
  );
});

test.run();
