import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import {
  TransportParameterId,
  type TransportParameterRole,
  type TransportParameters,
  decodeTransportParameters,
  encodeTransportParameters,
} from '../../src/wire/transport-parameters.js';
import { QuicError, TransportErrorCode } from '../../src/wire/errors.js';
import { concat, transportParametersArb, varintBytes } from '../support/transport-parameter-arbitraries.js';

const ROLES: readonly TransportParameterRole[] = ['client', 'server'];

/**
 * Decodes `bytes` as if sent by `sender`. Any failure must be a QuicError carrying
 * TRANSPORT_PARAMETER_ERROR (RangeError, TypeError or another code fails the property). Anything
 * accepted must be something we can represent: re-encoding it and decoding again gives it back.
 */
function decodeOrRefuse(bytes: Uint8Array, sender: TransportParameterRole): void {
  let params: TransportParameters;
  try {
    params = decodeTransportParameters(bytes, { sender });
  } catch (e) {
    if (!(e instanceof QuicError)) throw new Error(`decoder threw a non-QuicError: ${String(e)}`);
    if (e.code !== TransportErrorCode.TRANSPORT_PARAMETER_ERROR) throw new Error(`decoder threw ${e.message}`);
    return;
  }
  // The encoder insists on the connection IDs RFC 9000 §7.3 requires; the decoder leaves that
  // check to validatePeerConnectionIds, so only complete sets are re-encoded.
  const complete = params.initialSourceConnectionId !== undefined && (sender === 'client' || params.originalDestinationConnectionId !== undefined);
  if (complete) {
    assert.equal(decodeTransportParameters(encodeTransportParameters(params, { role: sender }), { sender }), params);
  }
}

function decodeWithBothRoles(bytes: Uint8Array): void {
  for (const sender of ROLES) decodeOrRefuse(bytes, sender);
}

test('100,000 random byte strings are decoded or refused with TRANSPORT_PARAMETER_ERROR only', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 96 }), (bytes) => decodeWithBothRoles(bytes)),
    { numRuns: 100_000 },
  );
});

/** IDs that reach every decoding branch, plus reserved and unknown ones, written minimally or not. */
const idArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.constantFrom(...Object.values(TransportParameterId)).map((id) => varintBytes(id)),
  fc.constantFrom(0x1b, 0x3a, 0x59, 0x12, 0x21, 0x3fff).map((id) => varintBytes(id)),
  fc.bigInt({ min: 0n, max: (1n << 62n) - 1n }).map((id) => varintBytes(id)),
  fc.integer({ min: 0, max: 0x20 }).map((id) => Uint8Array.of(0x40, id)),
);

/** A tuple whose length field may or may not match its value. */
const tupleArb: fc.Arbitrary<Uint8Array> = fc
  .record({
    id: idArb,
    value: fc.oneof(fc.uint8Array({ maxLength: 8 }), fc.uint8Array({ minLength: 40, maxLength: 64 })),
    lengthSkew: fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: -3, max: 3 })),
  })
  .map(({ id, value, lengthSkew }) => concat(id, varintBytes(Math.max(0, value.length + lengthSkew)), value));

test('50,000 random sequences of parameter tuples are decoded or refused with TRANSPORT_PARAMETER_ERROR only', () => {
  fc.assert(
    fc.property(fc.array(tupleArb, { maxLength: 8 }), (tuples) => decodeWithBothRoles(concat(...tuples))),
    { numRuns: 50_000 },
  );
});

type Mutation =
  | { kind: 'flip'; pos: number; bit: number }
  | { kind: 'set'; pos: number; byte: number }
  | { kind: 'insert'; pos: number; bytes: Uint8Array }
  | { kind: 'delete'; pos: number; count: number }
  | { kind: 'truncate'; pos: number }
  | { kind: 'copy'; from: number; count: number; pos: number };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), pos: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({
    kind: fc.constant('set' as const),
    pos: fc.nat(),
    byte: fc.oneof(fc.constantFrom(0x00, 0x01, 0x14, 0x15, 0x3f, 0x40, 0x7f, 0x80, 0xbf, 0xc0, 0xff), fc.integer({ min: 0, max: 255 })),
  }),
  fc.record({ kind: fc.constant('insert' as const), pos: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 4 }) }),
  fc.record({ kind: fc.constant('delete' as const), pos: fc.nat(), count: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ kind: fc.constant('truncate' as const), pos: fc.nat() }),
  fc.record({ kind: fc.constant('copy' as const), from: fc.nat(), count: fc.integer({ min: 1, max: 24 }), pos: fc.nat() }),
);

function mutate(input: Uint8Array, m: Mutation): Uint8Array {
  const n = input.length;
  const at = (p: number, extra = 0): number => (n + extra === 0 ? 0 : p % (n + extra));
  switch (m.kind) {
    case 'flip': {
      if (n === 0) return input;
      const out = input.slice();
      out[at(m.pos)] ^= 1 << m.bit;
      return out;
    }
    case 'set': {
      if (n === 0) return input;
      const out = input.slice();
      out[at(m.pos)] = m.byte;
      return out;
    }
    case 'insert': {
      const p = at(m.pos, 1);
      return concat(input.subarray(0, p), m.bytes, input.subarray(p));
    }
    case 'delete': {
      const p = at(m.pos);
      return concat(input.subarray(0, p), input.subarray(p + m.count));
    }
    case 'truncate':
      return input.subarray(0, at(m.pos));
    case 'copy': {
      // Repeats a slice elsewhere: makes duplicate parameters and misaligned tuples.
      const from = at(m.from);
      const slice = input.subarray(from, from + m.count);
      const p = at(m.pos, 1);
      return concat(input.subarray(0, p), slice, input.subarray(p));
    }
  }
}

function validEncodingArb(role: TransportParameterRole): fc.Arbitrary<Uint8Array> {
  return fc.tuple(transportParametersArb(role), fc.boolean()).map(([params, grease]) => encodeTransportParameters(params, { role, grease }));
}

test('100,000 mutations of valid encodings are decoded or refused with TRANSPORT_PARAMETER_ERROR only', () => {
  fc.assert(
    fc.property(
      fc.oneof(validEncodingArb('client'), validEncodingArb('server')),
      fc.array(mutationArb, { minLength: 1, maxLength: 4 }),
      (encoding, mutations) => {
        const mutated = mutations.reduce(mutate, encoding);
        const before = mutated.slice();
        decodeWithBothRoles(mutated);
        // Decoding never writes to its input.
        assert.equal(mutated, before);
      },
    ),
    { numRuns: 100_000 },
  );
});

test.run();
