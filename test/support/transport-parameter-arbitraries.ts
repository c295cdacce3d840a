/**
 * fast-check arbitraries and raw-encoding helpers for transport parameter tests
 * (RFC 9000 §18). The raw helpers assemble bytes without going through the encoder, so tests can
 * build encodings the encoder refuses to produce.
 */
import fc from 'fast-check';
import {
  type PreferredAddress,
  type TransportParameterRole,
  type TransportParameters,
  type VersionInformation,
  DEFAULT_TRANSPORT_PARAMETERS,
} from '../../src/wire/transport-parameters.js';
import { varintSizeBig, writeVarintBig } from '../../src/wire/varint.js';

/** Bytes of a varint in its shortest encoding. */
export function varintBytes(value: number | bigint): Uint8Array {
  const v = BigInt(value);
  const out = new Uint8Array(varintSizeBig(v));
  writeVarintBig(out, 0, v);
  return out;
}

/** Bytes of a varint written with exactly `length` bytes (non-minimal encodings are legal). */
export function varintBytesWithLength(value: number | bigint, length: 1 | 2 | 4 | 8): Uint8Array {
  let v = BigInt(value);
  const out = new Uint8Array(length);
  for (let i = length - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  out[0] |= [0, 0x00, 0x40, 0, 0x80, 0, 0, 0, 0xc0][length];
  return out;
}

/** Concatenates byte strings. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** One raw (ID, length, value) tuple, RFC 9000 §18 Figure 20. */
export function rawParam(id: number | bigint, value: Uint8Array | number[]): Uint8Array {
  const v = value instanceof Uint8Array ? value : Uint8Array.from(value);
  return concat(varintBytes(id), varintBytes(v.length), v);
}

/** A raw integer parameter whose value is the shortest varint of `value`. */
export function rawVarintParam(id: number | bigint, value: number | bigint): Uint8Array {
  return rawParam(id, varintBytes(value));
}

/** `n` bytes counting up from `start`. */
export function seq(n: number, start = 1): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (start + i) & 0xff);
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** A connection ID of 0–20 bytes. */
export const connectionIdArb: fc.Arbitrary<Uint8Array> = fc.uint8Array({ minLength: 0, maxLength: 20 });

/** A preferred_address with a 1–20 byte connection ID. */
export const preferredAddressArb: fc.Arbitrary<PreferredAddress> = fc.record({
  ipv4Address: fc.uint8Array({ minLength: 4, maxLength: 4 }),
  ipv4Port: fc.integer({ min: 0, max: 0xffff }),
  ipv6Address: fc.uint8Array({ minLength: 16, maxLength: 16 }),
  ipv6Port: fc.integer({ min: 0, max: 0xffff }),
  connectionId: fc.uint8Array({ minLength: 1, maxLength: 20 }),
  statelessResetToken: fc.uint8Array({ minLength: 16, maxLength: 16 }),
})
  // fc.record builds null-prototype objects; decoded parameters are plain objects.
  .map((pa) => ({ ...pa }));

const versionArb = fc.integer({ min: 1, max: 0xffff_ffff });

/** A valid version_information for `sender` (a client's includes its chosen version). */
export function versionInformationArb(sender: TransportParameterRole): fc.Arbitrary<VersionInformation> {
  return fc
    .record({
      chosenVersion: versionArb,
      availableVersions: fc.array(versionArb, { maxLength: 6 }),
      insertAt: fc.nat(),
    })
    .map(({ chosenVersion, availableVersions, insertAt }) => {
      if (sender === 'server') return { chosenVersion, availableVersions: [...availableVersions] };
      const list = [...availableVersions];
      list.splice(insertAt % (list.length + 1), 0, chosenVersion);
      return { chosenVersion, availableVersions: list };
    });
}

/** A limit: mostly small, sometimes up to 2^53−1. */
const limitArb = fc.oneof(fc.integer({ min: 0, max: 1 << 20 }), fc.integer({ min: 0, max: MAX_SAFE }));

/** Either the default value or a random one. */
function orDefault<T>(arb: fc.Arbitrary<T>, def: T): fc.Arbitrary<T> {
  return fc.oneof(fc.constant(def), arb);
}

/** Either absent or a random value. */
function optional<T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> {
  return fc.option(arb, { nil: undefined });
}

/**
 * A valid, encodable set of transport parameters that `role` may send: integers ≤ 2^53−1,
 * initial_source_connection_id always set, server-only parameters only for a server
 * (original_destination_connection_id always set there), preferred_address only with a
 * non-empty initial_source_connection_id.
 */
export function transportParametersArb(role: TransportParameterRole): fc.Arbitrary<TransportParameters> {
  const d = DEFAULT_TRANSPORT_PARAMETERS;
  const server = role === 'server';
  return fc
    .record({
      originalDestinationConnectionId: server ? connectionIdArb : fc.constant(undefined),
      maxIdleTimeout: orDefault(limitArb, d.maxIdleTimeout),
      statelessResetToken: server ? optional(fc.uint8Array({ minLength: 16, maxLength: 16 })) : fc.constant(undefined),
      maxUdpPayloadSize: orDefault(fc.oneof(fc.integer({ min: 1200, max: 65527 }), fc.integer({ min: 1200, max: MAX_SAFE })), d.maxUdpPayloadSize),
      initialMaxData: orDefault(limitArb, d.initialMaxData),
      initialMaxStreamDataBidiLocal: orDefault(limitArb, d.initialMaxStreamDataBidiLocal),
      initialMaxStreamDataBidiRemote: orDefault(limitArb, d.initialMaxStreamDataBidiRemote),
      initialMaxStreamDataUni: orDefault(limitArb, d.initialMaxStreamDataUni),
      initialMaxStreamsBidi: orDefault(limitArb, d.initialMaxStreamsBidi),
      initialMaxStreamsUni: orDefault(limitArb, d.initialMaxStreamsUni),
      ackDelayExponent: orDefault(fc.integer({ min: 0, max: 20 }), d.ackDelayExponent),
      maxAckDelay: orDefault(fc.integer({ min: 0, max: (1 << 14) - 1 }), d.maxAckDelay),
      disableActiveMigration: fc.boolean(),
      preferredAddress: server ? optional(preferredAddressArb) : fc.constant(undefined),
      activeConnectionIdLimit: orDefault(fc.oneof(fc.integer({ min: 2, max: 16 }), fc.integer({ min: 2, max: MAX_SAFE })), d.activeConnectionIdLimit),
      initialSourceConnectionId: connectionIdArb,
      retrySourceConnectionId: server ? optional(connectionIdArb) : fc.constant(undefined),
      versionInformation: optional(versionInformationArb(role)),
      maxDatagramFrameSize: optional(fc.oneof(fc.constant(0), fc.constant(65535), limitArb)),
      greaseQuicBit: fc.boolean(),
    })
    .map((p) =>
      // RFC 9000 §18.2: a server with a zero-length connection ID sends no preferred_address.
      p.preferredAddress !== undefined && p.initialSourceConnectionId.length === 0
        ? { ...p, initialSourceConnectionId: Uint8Array.of(0xaa) }
        : { ...p },
    );
}
