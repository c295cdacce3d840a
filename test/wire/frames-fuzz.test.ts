import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { QuicError, TransportErrorCode } from '../../src/wire/errors.js';
import { Reader } from '../../src/wire/reader.js';
import type { EncryptionLevel } from '../../src/wire/levels.js';
import { decodeFrame, decodeFrames, encodeFrame, frameSize, type Frame } from '../../src/wire/frames/index.js';
import { arbPayloadFrames } from '../support/frame-arbitraries.js';

// Deterministic: the seed is printed on failure and can be replayed with FUZZ_SEED=<n>.
const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed_f00d) >>> 0;
const LEVELS: EncryptionLevel[] = ['initial', 'handshake', 'zeroRtt', 'oneRtt'];
const KNOWN_TYPES = [...Array(0x1f).keys(), 0x30, 0x31];
const INTERESTING = [0x00, 0x01, 0x3f, 0x40, 0x7f, 0x80, 0xbf, 0xc0, 0xff, 0x14, 0x15];

/** xorshift32: a small seeded PRNG so that every run feeds the same inputs. */
function prng(seed: number) {
  let s = seed || 1;
  const next = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x1_0000_0000;
  };
  return { next, int: (n: number) => Math.floor(next() * n), pick: <T>(a: readonly T[]): T => a[Math.floor(next() * a.length)] };
}

type Outcome = 'ok' | 'FRAME_ENCODING_ERROR' | 'PROTOCOL_VIOLATION';

function encodePayload(frames: Frame[]): Uint8Array {
  const buf = new Uint8Array(frames.reduce((n, f) => n + frameSize(f), 0));
  let off = 0;
  for (const f of frames) off = encodeFrame(buf, off, f);
  return buf;
}

/**
 * Feeds `input` to decodeFrames at `level` and to decodeFrame from `start`. Any failure must be a
 * QuicError with FRAME_ENCODING_ERROR or PROTOCOL_VIOLATION; anything else is rethrown with the
 * input. Successfully decoded payloads must re-encode to frames that decode identically.
 */
function feed(input: Uint8Array, level: EncryptionLevel, start: number, what: string): Outcome {
  const check = (e: unknown): Outcome => {
    if (e instanceof QuicError && (e.code === TransportErrorCode.FRAME_ENCODING_ERROR || e.code === TransportErrorCode.PROTOCOL_VIOLATION)) {
      return e.code === TransportErrorCode.FRAME_ENCODING_ERROR ? 'FRAME_ENCODING_ERROR' : 'PROTOCOL_VIOLATION';
    }
    throw new Error(`${what} (seed ${SEED}, level ${level}, start ${start}): ${String(e)}\ninput ${Buffer.from(input).toString('hex')}`, {
      cause: e,
    });
  };
  let outcome: Outcome;
  try {
    const frames = decodeFrames(input, level);
    outcome = 'ok';
    // Whatever decodes is a valid frame sequence: it re-encodes and decodes to the same frames.
    assert.equal(decodeFrames(encodePayload(frames), level), frames, `${what}: re-encoding changed the frames`);
  } catch (e) {
    if (e instanceof assert.Assertion) throw e;
    outcome = check(e);
  }
  if (start <= input.length) {
    const r = new Reader(input, start);
    try {
      while (!r.done) {
        const before = r.pos;
        decodeFrame(r);
        assert.ok(r.pos > before, `${what}: decodeFrame made no progress`);
      }
    } catch (e) {
      if (e instanceof assert.Assertion) throw e;
      check(e);
    }
  }
  return outcome;
}

test('100,000 random byte strings only ever fail with FRAME_ENCODING_ERROR or PROTOCOL_VIOLATION', () => {
  const rnd = prng(SEED);
  const counts: Record<Outcome, number> = { ok: 0, FRAME_ENCODING_ERROR: 0, PROTOCOL_VIOLATION: 0 };
  for (let i = 0; i < 100_000; i++) {
    const length = rnd.next() < 0.9 ? rnd.int(48) : rnd.int(1500);
    const input = new Uint8Array(length);
    for (let j = 0; j < length; j++) input[j] = rnd.next() < 0.15 ? rnd.pick(INTERESTING) : rnd.int(256);
    // Half of the inputs start with a known frame type so the field decoders get exercised.
    if (length > 0 && i % 2 === 0) input[0] = rnd.pick(KNOWN_TYPES);
    counts[feed(input, LEVELS[i & 3], rnd.int(length + 1), `random #${i}`)]++;
  }
  // Every outcome happened: the inputs reached all three paths.
  assert.ok(counts.ok > 1000 && counts.FRAME_ENCODING_ERROR > 1000 && counts.PROTOCOL_VIOLATION > 1000, JSON.stringify(counts));
});

test('100,000 mutations of valid payloads only ever fail with FRAME_ENCODING_ERROR or PROTOCOL_VIOLATION', () => {
  const rnd = prng(SEED ^ 0x9e37_79b9);
  const corpus: Array<{ level: EncryptionLevel; bytes: Uint8Array }> = [];
  for (const level of LEVELS) {
    for (const frames of fc.sample(arbPayloadFrames(level), { numRuns: 400, seed: SEED })) {
      corpus.push({ level, bytes: encodePayload(frames) });
    }
  }
  const counts: Record<Outcome, number> = { ok: 0, FRAME_ENCODING_ERROR: 0, PROTOCOL_VIOLATION: 0 };
  for (let i = 0; i < 100_000; i++) {
    const base = rnd.pick(corpus);
    let bytes = base.bytes.slice(0, Math.min(base.bytes.length, 2048));
    const mutations = 1 + rnd.int(3);
    for (let m = 0; m < mutations; m++) {
      const at = rnd.int(bytes.length + 1);
      switch (rnd.int(6)) {
        case 0: // bit flip
          if (bytes.length > 0) bytes[at % bytes.length] ^= 1 << rnd.int(8);
          break;
        case 1: // interesting byte (varint prefixes, zero, 0xff)
          if (bytes.length > 0) bytes[at % bytes.length] = rnd.pick(INTERESTING);
          break;
        case 2: // truncation
          bytes = bytes.slice(0, at);
          break;
        case 3: {
          // insertion of 1–8 random bytes
          const ins = Uint8Array.from({ length: 1 + rnd.int(8) }, () => rnd.int(256));
          const out = new Uint8Array(bytes.length + ins.length);
          out.set(bytes.subarray(0, at));
          out.set(ins, at);
          out.set(bytes.subarray(at), at + ins.length);
          bytes = out;
          break;
        }
        case 4: {
          // deletion of 1–8 bytes
          const n = 1 + rnd.int(8);
          const out = new Uint8Array(Math.max(0, bytes.length - n));
          out.set(bytes.subarray(0, at).subarray(0, out.length));
          if (at + n < bytes.length) out.set(bytes.subarray(at + n), at);
          bytes = out;
          break;
        }
        default: // wrong level for the payload
          break;
      }
    }
    const level = rnd.next() < 0.8 ? base.level : rnd.pick(LEVELS);
    counts[feed(bytes, level, rnd.int(bytes.length + 1), `mutation #${i}`)]++;
  }
  assert.ok(counts.ok > 1000 && counts.FRAME_ENCODING_ERROR > 1000 && counts.PROTOCOL_VIOLATION > 1000, JSON.stringify(counts));
});

test.run();
