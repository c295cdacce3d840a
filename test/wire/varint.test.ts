import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import {
  MAX_VARINT,
  VarintRangeError,
  varintSize,
  varintSizeBig,
  writeVarint,
  writeVarintBig,
  writeVarintWithLength,
} from '../../src/wire/varint.js';
import { Reader } from '../../src/wire/reader.js';
import { QuicError, TransportErrorCode } from '../../src/wire/errors.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

// RFC 9000 Appendix A.1: the sample varints.
const samples: Array<[string, bigint]> = [
  ['c2197c5eff14e88c', 151288809941952652n],
  ['9d7f3e7d', 494878333n],
  ['7bbd', 15293n],
  ['25', 37n],
  ['4025', 37n], // the two-byte encoding of 37
];

test('decodes the RFC 9000 Appendix A.1 samples exactly', () => {
  for (const [h, v] of samples) {
    const r = new Reader(hex(h));
    assert.is(r.varintBig(), v, h);
    assert.ok(r.done, `${h} fully consumed`);
  }
});

test('encodes the RFC 9000 Appendix A.1 samples in their shortest form', () => {
  for (const [h, v] of samples.slice(0, 4)) {
    const buf = new Uint8Array(8);
    const end = writeVarintBig(buf, 0, v);
    assert.is(Buffer.from(buf.subarray(0, end)).toString('hex'), h);
  }
});

test('number decoding refuses values above 2^53-1 with a typed error instead of rounding', () => {
  const r = new Reader(hex('c2197c5eff14e88c'));
  try {
    r.varint();
    assert.unreachable('should refuse');
  } catch (e) {
    assert.instance(e, QuicError);
    assert.is((e as QuicError).code, TransportErrorCode.FRAME_ENCODING_ERROR);
  }
  // the largest safe value decodes exactly
  const buf = new Uint8Array(8);
  writeVarint(buf, 0, Number.MAX_SAFE_INTEGER);
  assert.is(new Reader(buf).varint(), Number.MAX_SAFE_INTEGER);
});

test('limit decoding saturates 2^62-1 at 2^53-1', () => {
  const buf = new Uint8Array(8);
  writeVarintBig(buf, 0, MAX_VARINT);
  assert.is(new Reader(buf).varintLimit(), Number.MAX_SAFE_INTEGER);
  assert.is(new Reader(buf).varintBig(), MAX_VARINT);
});

test('sizes and boundaries of all four lengths', () => {
  const cases: Array<[number, number]> = [
    [0, 1], [63, 1], [64, 2], [16383, 2], [16384, 4], [2 ** 30 - 1, 4], [2 ** 30, 8], [Number.MAX_SAFE_INTEGER, 8],
  ];
  for (const [v, n] of cases) {
    assert.is(varintSize(v), n, String(v));
    const buf = new Uint8Array(8);
    assert.is(writeVarint(buf, 0, v), n);
    assert.is(new Reader(buf, 0, n).varint(), v);
  }
  assert.is(varintSizeBig(MAX_VARINT), 8);
});

test('encoding a non-varint throws VarintRangeError', () => {
  for (const v of [-1, 1.5, Number.MAX_SAFE_INTEGER + 2, Infinity, NaN]) {
    assert.throws(() => varintSize(v), (e: unknown) => e instanceof VarintRangeError, String(v));
  }
  assert.throws(() => varintSizeBig(MAX_VARINT + 1n), (e: unknown) => e instanceof VarintRangeError);
  assert.throws(() => writeVarintWithLength(new Uint8Array(2), 0, 0x4000, 2), (e: unknown) => e instanceof VarintRangeError);
});

test('round-trips random values through every length that can hold them', () => {
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: MAX_VARINT }), (v) => {
      const buf = new Uint8Array(8);
      const end = writeVarintBig(buf, 0, v);
      assert.is(end, varintSizeBig(v));
      const r = new Reader(buf, 0, end);
      assert.is(r.varintBig(), v);
      if (v <= BigInt(Number.MAX_SAFE_INTEGER)) {
        const n = Number(v);
        for (const len of [1, 2, 4, 8] as const) {
          if (len < varintSize(n)) continue;
          const b2 = new Uint8Array(8);
          writeVarintWithLength(b2, 0, n, len);
          assert.is(new Reader(b2, 0, len).varint(), n);
        }
      }
    }),
    { numRuns: 20_000 },
  );
});

test('truncated varints throw the reader error code, never RangeError', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 9 }), fc.integer({ min: 0, max: 9 }), (bytes, cut) => {
      const end = Math.min(cut, bytes.length);
      const r = new Reader(bytes, 0, end, TransportErrorCode.TRANSPORT_PARAMETER_ERROR);
      try {
        r.varintBig();
        assert.ok(r.pos <= end);
      } catch (e) {
        assert.instance(e, QuicError);
        assert.is((e as QuicError).code, TransportErrorCode.TRANSPORT_PARAMETER_ERROR);
      }
    }),
    { numRuns: 100_000 },
  );
});

test.run();
