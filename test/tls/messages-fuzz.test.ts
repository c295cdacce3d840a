/**
 * Fuzzing of every handshake message decoder and of the CRYPTO reassembler: for each decoder
 * 100,000 inputs, half random bytes and half mutations of valid messages (bit flips, byte
 * overwrites with boundary values, insertions, deletions, truncations, splices, with and without
 * a repaired length header). Every input must either decode — and then re-encode to something
 * that decodes to the same value — or be refused with a TlsAlertError. Nothing else may escape,
 * and every run ends (a hang would time the file out).
 *
 * A seeded generator keeps runs reproducible; a failure prints the seed and the input.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { dequal } from 'dequal';
import { messagesBySender } from '../support/tls-arbitraries.js';
import { TlsAlertError } from '../../src/tls/alerts.js';
import { HandshakeType } from '../../src/tls/constants.js';
import {
  DEFAULT_MAX_HANDSHAKE_MESSAGE_LENGTH,
  decodeHandshakeMessage,
  encodeHandshakeMessage,
  HandshakeReader,
  type DecodeOptions,
  type HandshakeMessage,
} from '../../src/tls/messages.js';

const INPUTS_PER_DECODER = 100_000;
const SEED = Number(process.env.TLS_FUZZ_SEED ?? 0x7e57c0de);

/** mulberry32: a small, fast, seedable PRNG. */
class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  u32(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  int(n: number): number {
    return n <= 0 ? 0 : this.u32() % n;
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }
}

const BOUNDARY_BYTES = [0x00, 0x01, 0x02, 0x03, 0x04, 0x0a, 0x1a, 0x20, 0x2f, 0x30, 0x7f, 0x80, 0xfe, 0xff];

function mutate(rng: Rng, input: Uint8Array): Uint8Array {
  let b: Uint8Array = input.slice();
  const rounds = 1 + rng.int(4);
  for (let r = 0; r < rounds; r++) {
    const pos = rng.int(b.length + 1);
    switch (rng.int(8)) {
      case 0: // flip a bit
        if (b.length) b[rng.int(b.length)] ^= 1 << rng.int(8);
        break;
      case 1: // overwrite a byte with a boundary value
        if (b.length) b[rng.int(b.length)] = BOUNDARY_BYTES[rng.int(BOUNDARY_BYTES.length)];
        break;
      case 2: // overwrite a byte at random
        if (b.length) b[rng.int(b.length)] = rng.u32() & 0xff;
        break;
      case 3: {
        // insert bytes
        const ins = rng.bytes(1 + rng.int(8));
        b = concat(b.subarray(0, pos), ins, b.subarray(pos));
        break;
      }
      case 4: // delete bytes
        b = concat(b.subarray(0, pos), b.subarray(Math.min(b.length, pos + 1 + rng.int(8))));
        break;
      case 5: // truncate
        b = b.subarray(0, rng.int(b.length + 1));
        break;
      case 6: {
        // duplicate a slice elsewhere (repeated extensions, entries, …)
        const from = rng.int(b.length + 1);
        const slice = b.slice(from, Math.min(b.length, from + 1 + rng.int(24)));
        b = concat(b.subarray(0, pos), slice, b.subarray(pos));
        break;
      }
      default: {
        // overwrite a 16-bit field with a boundary value (a length or a code point)
        if (b.length >= 2) {
          const at = rng.int(b.length - 1);
          const v = [0x0000, 0x0001, 0x00ff, 0x0100, 0x7fff, 0xffff, 0x0a0a, 0x0304][rng.int(8)];
          b[at] = v >> 8;
          b[at + 1] = v & 0xff;
        }
      }
    }
  }
  return b;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Sets the uint24 length to what follows the header (when there is a header). */
function repairHeader(b: Uint8Array): Uint8Array {
  if (b.length < 4) return b;
  const n = b.length - 4;
  b[1] = n >> 16;
  b[2] = (n >> 8) & 0xff;
  b[3] = n & 0xff;
  return b;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Decodes `input`; a successful decode must survive re-encoding. Throws on any untyped failure. */
function check(input: Uint8Array, options: DecodeOptions): 'accepted' | 'refused' {
  let decoded: HandshakeMessage;
  try {
    decoded = decodeHandshakeMessage(input, options);
  } catch (e) {
    if (e instanceof TlsAlertError) return 'refused';
    throw new Error(`untyped failure ${String(e)} for ${hex(input)} (seed ${SEED})`, { cause: e });
  }
  let again: Uint8Array;
  try {
    again = encodeHandshakeMessage(decoded);
  } catch (e) {
    // A few accepted forms cannot be re-sent as is (e.g. a ticket lifetime above 7 days, a
    // server_name with only unknown name types): the encoder must refuse them with a typed error.
    if (e instanceof TlsAlertError) return 'accepted';
    throw new Error(`untyped encode failure ${String(e)} for ${hex(input)} (seed ${SEED})`, { cause: e });
  }
  const redecoded = decodeHandshakeMessage(again, options);
  if (!dequal(redecoded, decoded)) throw new Error(`re-encoding changed the message for ${hex(input)} (seed ${SEED})`);
  return 'accepted';
}

/** A body for a random input: random bytes, sometimes after the fixed prefix the decoder checks first. */
function randomBody(rng: Rng, type: number): Uint8Array {
  const len = rng.int(4) === 0 ? rng.int(8) : rng.int(400);
  const body = rng.bytes(len);
  if ((type === HandshakeType.client_hello || type === HandshakeType.server_hello) && len >= 2 && rng.int(2) === 0) {
    body[0] = 3;
    body[1] = 3;
  }
  return body;
}

for (const { name, sender, arb } of messagesBySender) {
  test(`${name}: ${INPUTS_PER_DECODER} random and mutated inputs are decoded or refused with a TlsAlertError`, () => {
    const rng = new Rng(SEED ^ name.length ^ (name.charCodeAt(0) << 8));
    const seeds = fc.sample(arb, { numRuns: 200, seed: SEED }).map((m) => encodeHandshakeMessage(m));
    const type = seeds[0][0];
    const options: DecodeOptions = { sender, hashLength: type === HandshakeType.finished ? (rng.int(2) ? 32 : 48) : undefined };
    const counts = { accepted: 0, refused: 0 };
    for (let i = 0; i < INPUTS_PER_DECODER / 2; i++) {
      const body = randomBody(rng, type);
      const input = concat(Uint8Array.of(type, body.length >> 16, (body.length >> 8) & 0xff, body.length & 0xff), body);
      counts[check(input, options)]++;
    }
    for (let i = 0; i < INPUTS_PER_DECODER / 2; i++) {
      const input = mutate(rng, seeds[rng.int(seeds.length)]);
      counts[check(rng.int(4) === 0 ? input : repairHeader(input), options)]++;
    }
    assert.is(counts.accepted + counts.refused, INPUTS_PER_DECODER);
    // Mutations must reach past the first checks: some inputs are accepted, most refused.
    assert.ok(counts.accepted > 0 && counts.refused > INPUTS_PER_DECODER / 4, JSON.stringify(counts));
  });
}

test(`any msg_type: ${INPUTS_PER_DECODER} random messages are decoded or refused with a TlsAlertError, from either sender`, () => {
  const rng = new Rng(SEED + 1);
  for (let i = 0; i < INPUTS_PER_DECODER; i++) {
    const type = rng.int(3) === 0 ? rng.int(256) : [1, 2, 4, 5, 8, 11, 13, 15, 20, 24, 254][rng.int(11)];
    const body = randomBody(rng, type);
    check(concat(Uint8Array.of(type, 0, (body.length >> 8) & 0xff, body.length & 0xff), body), { sender: rng.int(2) ? 'client' : 'server' });
  }
});

test(`the reassembler: ${INPUTS_PER_DECODER} random chunks never escape a TlsAlertError and never hold more than one maximal message`, () => {
  const rng = new Rng(SEED + 2);
  const max = DEFAULT_MAX_HANDSHAKE_MESSAGE_LENGTH;
  let reader = new HandshakeReader('handshake');
  let messages = 0;
  let refusals = 0;
  for (let i = 0; i < INPUTS_PER_DECODER; i++) {
    let chunk: Uint8Array;
    if (rng.int(3) === 0) {
      // a plausible header, often with a huge length
      const len = rng.int(2) ? rng.int(300) : rng.int(1 << 24);
      chunk = Uint8Array.of(rng.int(256), len >> 16, (len >> 8) & 0xff, len & 0xff);
    } else {
      chunk = rng.bytes(rng.int(64));
    }
    try {
      messages += reader.push(chunk).length;
    } catch (e) {
      if (!(e instanceof TlsAlertError)) throw new Error(`untyped failure ${String(e)} (seed ${SEED}, chunk ${i})`, { cause: e });
      refusals++;
      reader = new HandshakeReader('handshake');
    }
    assert.ok(reader.pendingBytes <= max + 4, `holds ${reader.pendingBytes} bytes`);
  }
  assert.ok(messages > 0 && refusals > 0, `${messages} messages, ${refusals} refusals`);
});

test.run();
