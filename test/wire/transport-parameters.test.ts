import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import {
  DEFAULT_TRANSPORT_PARAMETERS,
  TransportParameterId,
  type TransportParameterRole,
  type TransportParameters,
  decodeTransportParameters,
  defaultTransportParameters,
  encodeTransportParameters,
  isReservedTransportParameterId,
  randomReservedTransportParameter,
  transportParametersSize,
  writeTransportParameters,
} from '../../src/wire/transport-parameters.js';
import { QuicError, TransportErrorCode } from '../../src/wire/errors.js';
import { Reader } from '../../src/wire/reader.js';
import { QUIC_V1, QUIC_V2 } from '../../src/wire/version.js';
import {
  concat,
  rawParam,
  rawVarintParam,
  seq,
  transportParametersArb,
  varintBytesWithLength,
} from '../support/transport-parameter-arbitraries.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const ID = TransportParameterId;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** The (ID, value) tuples of an encoding, read with the RFC 9000 §18 layout. */
function tuples(bytes: Uint8Array): Array<{ id: bigint; value: Uint8Array }> {
  const r = new Reader(bytes);
  const out: Array<{ id: bigint; value: Uint8Array }> = [];
  while (!r.done) {
    const id = r.varintBig();
    out.push({ id, value: r.take(r.varint()) });
  }
  return out;
}

function throwsCode(fn: () => unknown, code: number, reason?: RegExp): void {
  try {
    fn();
  } catch (e) {
    assert.instance(e, QuicError);
    assert.is((e as QuicError).code, code, (e as QuicError).message);
    if (reason) assert.match((e as QuicError).reason, reason);
    return;
  }
  assert.unreachable('expected a QuicError');
}

const clientBase = defaultTransportParameters({ initialSourceConnectionId: hex('c1c2c3c4') });
const serverBase = defaultTransportParameters({
  originalDestinationConnectionId: hex('0001020304050607'),
  initialSourceConnectionId: hex('5353'),
});

for (const role of ['client', 'server'] as const satisfies readonly TransportParameterRole[]) {
  test(`random valid ${role} parameters survive encode then decode unchanged`, () => {
    fc.assert(
      fc.property(transportParametersArb(role), (params) => {
        const bytes = encodeTransportParameters(params, { role });
        assert.equal(decodeTransportParameters(bytes, { sender: role }), params);
      }),
      { numRuns: 3000 },
    );
  });

  test(`the size function is exact and writing at an offset leaves the rest of the buffer alone (${role})`, () => {
    fc.assert(
      fc.property(transportParametersArb(role), fc.nat({ max: 40 }), (params, offset) => {
        const size = transportParametersSize(params, { role });
        const buf = new Uint8Array(offset + size + 5).fill(0xee);
        const end = writeTransportParameters(buf, offset, params, { role });
        assert.is(end, offset + size);
        assert.ok(buf.subarray(0, offset).every((b) => b === 0xee));
        assert.ok(buf.subarray(end).every((b) => b === 0xee));
        assert.equal(decodeTransportParameters(buf.subarray(offset, end), { sender: role }), params);
      }),
      { numRuns: 500 },
    );
  });
}

test('limits sent as 2^62-1 decode saturated at 2^53-1', () => {
  const max62 = (1n << 62n) - 1n;
  const limits: Array<[number, keyof TransportParameters]> = [
    [ID.MAX_IDLE_TIMEOUT, 'maxIdleTimeout'],
    [ID.MAX_UDP_PAYLOAD_SIZE, 'maxUdpPayloadSize'],
    [ID.INITIAL_MAX_DATA, 'initialMaxData'],
    [ID.INITIAL_MAX_STREAM_DATA_BIDI_LOCAL, 'initialMaxStreamDataBidiLocal'],
    [ID.INITIAL_MAX_STREAM_DATA_BIDI_REMOTE, 'initialMaxStreamDataBidiRemote'],
    [ID.INITIAL_MAX_STREAM_DATA_UNI, 'initialMaxStreamDataUni'],
    [ID.ACTIVE_CONNECTION_ID_LIMIT, 'activeConnectionIdLimit'],
    [ID.MAX_DATAGRAM_FRAME_SIZE, 'maxDatagramFrameSize'],
  ];
  for (const [id, field] of limits) {
    const bytes = rawVarintParam(id, max62);
    assert.is(bytes.length, 1 + 1 + 8);
    assert.is(decodeTransportParameters(bytes, { sender: 'client' })[field], MAX_SAFE, field);
  }
});

test('initial_max_streams at exactly 2^60 is accepted and saturates at 2^53-1', () => {
  const p = decodeTransportParameters(
    concat(rawVarintParam(ID.INITIAL_MAX_STREAMS_BIDI, 1n << 60n), rawVarintParam(ID.INITIAL_MAX_STREAMS_UNI, 1n << 60n)),
    { sender: 'server' },
  );
  assert.is(p.initialMaxStreamsBidi, MAX_SAFE);
  assert.is(p.initialMaxStreamsUni, MAX_SAFE);
});

test('limits exactly at 2^53-1 decode exactly', () => {
  const p = decodeTransportParameters(rawVarintParam(ID.INITIAL_MAX_DATA, MAX_SAFE), { sender: 'client' });
  assert.is(p.initialMaxData, MAX_SAFE);
  const q = decodeTransportParameters(rawVarintParam(ID.INITIAL_MAX_DATA, MAX_SAFE - 1), { sender: 'client' });
  assert.is(q.initialMaxData, MAX_SAFE - 1);
});

test('a hand-assembled server encoding with preferred_address and version_information decodes field by field', () => {
  // Written from RFC 9000 §18 / §18.2 Figure 22 and RFC 9368 §3, not produced by our encoder.
  const bytes = hex(`
    00 08 0001020304050607
    01 04 80007530
    02 10 f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff
    03 02 45dc
    04 04 80010000
    05 02 4400
    06 02 7fff
    07 01 3f
    08 02 4064
    09 01 03
    0a 01 0a
    0b 01 14
    0c 00
    0d 2d c0000201 01bb 20010db8000000000000000000000001 115c 04 d1d2d3d4 a0a1a2a3a4a5a6a7a8a9aaabacadaeaf
    0e 01 08
    0f 02 5353
    10 03 525252
    11 0c 00000001 00000001 6b3343cf
    20 04 8000ffff
    6ab2 00
    1b 03 aabbcc
  `);
  const p = decodeTransportParameters(bytes, { sender: 'server' });
  assert.equal(p, {
    originalDestinationConnectionId: hex('0001020304050607'),
    maxIdleTimeout: 30_000,
    statelessResetToken: hex('f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff'),
    maxUdpPayloadSize: 1500,
    initialMaxData: 65_536,
    initialMaxStreamDataBidiLocal: 1024,
    initialMaxStreamDataBidiRemote: 16_383,
    initialMaxStreamDataUni: 63,
    initialMaxStreamsBidi: 100,
    initialMaxStreamsUni: 3,
    ackDelayExponent: 10,
    maxAckDelay: 20,
    disableActiveMigration: true,
    preferredAddress: {
      ipv4Address: hex('c0000201'),
      ipv4Port: 443,
      ipv6Address: hex('20010db8000000000000000000000001'),
      ipv6Port: 4444,
      connectionId: hex('d1d2d3d4'),
      statelessResetToken: hex('a0a1a2a3a4a5a6a7a8a9aaabacadaeaf'),
    },
    activeConnectionIdLimit: 8,
    initialSourceConnectionId: hex('5353'),
    retrySourceConnectionId: hex('525252'),
    versionInformation: { chosenVersion: QUIC_V1, availableVersions: [QUIC_V1, QUIC_V2] },
    maxDatagramFrameSize: 65_535,
    greaseQuicBit: true,
  } satisfies TransportParameters);
});

test('an empty extension decodes to every default', () => {
  assert.equal(decodeTransportParameters(new Uint8Array(0), { sender: 'client' }), DEFAULT_TRANSPORT_PARAMETERS);
});

test('decoded byte strings are views into the input, not copies', () => {
  const bytes = concat(rawParam(ID.INITIAL_SOURCE_CONNECTION_ID, [9, 8, 7]));
  const p = decodeTransportParameters(bytes, { sender: 'client' });
  assert.is(p.initialSourceConnectionId?.buffer, bytes.buffer);
  assert.is(p.initialSourceConnectionId?.byteOffset, 2);
});

test('integer values in a non-minimal varint encoding are accepted', () => {
  const p = decodeTransportParameters(
    concat(rawParam(ID.INITIAL_MAX_DATA, varintBytesWithLength(5, 8)), rawParam(ID.ACK_DELAY_EXPONENT, varintBytesWithLength(7, 2))),
    { sender: 'client' },
  );
  assert.is(p.initialMaxData, 5);
  assert.is(p.ackDelayExponent, 7);
});

test('a parameter ID written in a non-minimal varint is the same parameter', () => {
  const p = decodeTransportParameters(concat(varintBytesWithLength(ID.INITIAL_MAX_DATA, 4), hex('01 2a')), { sender: 'client' });
  assert.is(p.initialMaxData, 42);
});

test('the encoder omits numeric parameters equal to their defaults', () => {
  assert.is(toHex(encodeTransportParameters(clientBase, { role: 'client' })), '0f04c1c2c3c4');
  assert.is(toHex(encodeTransportParameters(serverBase, { role: 'server' })), '0008000102030405060' + '70f025353');
  const explicit = { ...clientBase, maxUdpPayloadSize: 65527, ackDelayExponent: 3, maxAckDelay: 25, activeConnectionIdLimit: 2, initialMaxData: 0 };
  assert.is(toHex(encodeTransportParameters(explicit, { role: 'client' })), '0f04c1c2c3c4');
});

test('the encoder writes a known set in RFC wire format', () => {
  const params = defaultTransportParameters({
    initialSourceConnectionId: new Uint8Array(0),
    maxIdleTimeout: 30_000,
    initialMaxData: 1 << 20,
    initialMaxStreamsBidi: 100,
    ackDelayExponent: 0,
    disableActiveMigration: true,
    versionInformation: { chosenVersion: QUIC_V1, availableVersions: [QUIC_V2, QUIC_V1] },
    maxDatagramFrameSize: 1200,
    greaseQuicBit: true,
  });
  assert.is(
    toHex(encodeTransportParameters(params, { role: 'client' })),
    [
      '01 04 80007530', // max_idle_timeout 30000
      '04 04 80100000', // initial_max_data 2^20
      '08 02 4064', // initial_max_streams_bidi 100
      '0a 01 00', // ack_delay_exponent 0
      '0c 00', // disable_active_migration
      '0f 00', // initial_source_connection_id, zero-length
      '11 0c 00000001 6b3343cf 00000001', // version_information
      '20 02 44b0', // max_datagram_frame_size 1200
      '6ab2 00', // grease_quic_bit
    ]
      .join('')
      .replace(/\s+/g, ''),
  );
});

test('presence-only parameters survive even with default-like values', () => {
  const params = defaultTransportParameters({
    initialSourceConnectionId: new Uint8Array(0),
    maxDatagramFrameSize: 0,
    versionInformation: { chosenVersion: QUIC_V1, availableVersions: [QUIC_V1] },
  });
  const decoded = decodeTransportParameters(encodeTransportParameters(params, { role: 'client' }), { sender: 'client' });
  assert.is(decoded.maxDatagramFrameSize, 0);
  assert.equal(decoded.initialSourceConnectionId, new Uint8Array(0));
  assert.equal(decoded.versionInformation, { chosenVersion: QUIC_V1, availableVersions: [QUIC_V1] });
  const absent = decodeTransportParameters(encodeTransportParameters(clientBase, { role: 'client' }), { sender: 'client' });
  assert.is(absent.maxDatagramFrameSize, undefined);
  assert.is(absent.versionInformation, undefined);
});

const serverOnly: Array<[string, Partial<TransportParameters>]> = [
  ['original_destination_connection_id', { originalDestinationConnectionId: hex('01') }],
  ['stateless_reset_token', { statelessResetToken: seq(16) }],
  [
    'preferred_address',
    {
      preferredAddress: {
        ipv4Address: seq(4),
        ipv4Port: 1,
        ipv6Address: seq(16),
        ipv6Port: 2,
        connectionId: seq(4),
        statelessResetToken: seq(16),
      },
    },
  ],
  ['retry_source_connection_id', { retrySourceConnectionId: hex('02') }],
];

for (const [name, extra] of serverOnly) {
  test(`a client refuses to encode the server-only ${name} with INTERNAL_ERROR`, () => {
    throwsCode(() => encodeTransportParameters({ ...clientBase, ...extra }, { role: 'client' }), TransportErrorCode.INTERNAL_ERROR, new RegExp(name));
    // The same parameter is fine from a server.
    const bytes = encodeTransportParameters({ ...serverBase, ...extra }, { role: 'server' });
    decodeTransportParameters(bytes, { sender: 'server' });
  });
}

test('the encoder refuses values a peer would reject, with INTERNAL_ERROR', () => {
  const bad: Array<[Partial<TransportParameters>, RegExp]> = [
    [{ maxUdpPayloadSize: 1199 }, /max_udp_payload_size/],
    [{ ackDelayExponent: 21 }, /ack_delay_exponent/],
    [{ maxAckDelay: 1 << 14 }, /max_ack_delay/],
    [{ activeConnectionIdLimit: 1 }, /active_connection_id_limit/],
    [{ initialSourceConnectionId: seq(21) }, /initial_source_connection_id/],
    [{ versionInformation: { chosenVersion: 0, availableVersions: [QUIC_V1] } }, /chosen version/],
    [{ versionInformation: { chosenVersion: QUIC_V1, availableVersions: [QUIC_V2] } }, /lacks its chosen version/],
    [{ versionInformation: { chosenVersion: QUIC_V1, availableVersions: [QUIC_V1, 0] } }, /available version/],
    [{ initialMaxData: 2 ** 53 }, /not encodable/],
    [{ initialMaxData: -1 }, /not encodable/],
    [{ maxIdleTimeout: 1.5 }, /not encodable/],
  ];
  for (const [extra, reason] of bad) {
    throwsCode(() => encodeTransportParameters({ ...clientBase, ...extra }, { role: 'client' }), TransportErrorCode.INTERNAL_ERROR, reason);
  }
  const badServer: Array<[Partial<TransportParameters>, RegExp]> = [
    [{ statelessResetToken: seq(15) }, /stateless_reset_token/],
    [{ originalDestinationConnectionId: undefined }, /original_destination_connection_id/],
    [{ preferredAddress: { ipv4Address: seq(4), ipv4Port: 1, ipv6Address: seq(16), ipv6Port: 1, connectionId: new Uint8Array(0), statelessResetToken: seq(16) } }, /zero-length connection ID/],
    [{ preferredAddress: { ipv4Address: seq(4), ipv4Port: 70000, ipv6Address: seq(16), ipv6Port: 1, connectionId: seq(2), statelessResetToken: seq(16) } }, /port/],
    [
      {
        initialSourceConnectionId: new Uint8Array(0),
        preferredAddress: { ipv4Address: seq(4), ipv4Port: 1, ipv6Address: seq(16), ipv6Port: 1, connectionId: seq(2), statelessResetToken: seq(16) },
      },
      /zero-length connection ID/,
    ],
  ];
  for (const [extra, reason] of badServer) {
    throwsCode(() => encodeTransportParameters({ ...serverBase, ...extra }, { role: 'server' }), TransportErrorCode.INTERNAL_ERROR, reason);
  }
});

test('the encoder requires initial_source_connection_id from either role', () => {
  throwsCode(() => encodeTransportParameters(DEFAULT_TRANSPORT_PARAMETERS, { role: 'client' }), TransportErrorCode.INTERNAL_ERROR, /initial_source_connection_id/);
  throwsCode(
    () => encodeTransportParameters({ ...serverBase, initialSourceConnectionId: undefined }, { role: 'server' }),
    TransportErrorCode.INTERNAL_ERROR,
    /initial_source_connection_id/,
  );
});

test('a refused write leaves the buffer untouched', () => {
  const buf = new Uint8Array(64).fill(0xee);
  throwsCode(() => writeTransportParameters(buf, 0, { ...clientBase, statelessResetToken: seq(16) }, { role: 'client' }), TransportErrorCode.INTERNAL_ERROR);
  assert.ok(buf.every((b) => b === 0xee));
  throwsCode(() => writeTransportParameters(new Uint8Array(3), 0, clientBase, { role: 'client' }), TransportErrorCode.INTERNAL_ERROR, /need 6 bytes/);
});

test('a greased encoding carries exactly one reserved parameter and decodes to the same parameters', () => {
  const ids = new Set<bigint>();
  for (const role of ['client', 'server'] as const) {
    const base = role === 'client' ? clientBase : serverBase;
    for (let i = 0; i < 200; i++) {
      const bytes = encodeTransportParameters(base, { role, grease: true });
      const reserved = tuples(bytes).filter((t) => isReservedTransportParameterId(t.id));
      assert.is(reserved.length, 1);
      assert.ok(reserved[0].value.length < 16);
      ids.add(reserved[0].id);
      assert.equal(decodeTransportParameters(bytes, { sender: role }), base);
    }
  }
  // The ID is random (RFC 9000 §18.1 leaves N to the sender).
  assert.ok(ids.size > 1);
});

test('random reserved parameters have IDs of the form 31 * N + 27 and vary in encoded size', () => {
  const sizes = new Set<number>();
  for (let i = 0; i < 2000; i++) {
    const r = randomReservedTransportParameter();
    assert.ok(Number.isSafeInteger(r.id));
    assert.is((r.id - 27) % 31, 0);
    sizes.add(r.id < 64 ? 1 : r.id < 16384 ? 2 : r.id < 2 ** 30 ? 4 : 8);
  }
  assert.equal([...sizes].sort(), [1, 2, 4, 8]);
});

test('writeTransportParameters refuses a "reserved" ID that is not 31 * N + 27', () => {
  throwsCode(
    () => transportParametersSize(clientBase, { role: 'client', reserved: { id: 28, value: new Uint8Array(0) } }),
    TransportErrorCode.INTERNAL_ERROR,
    /reserved/,
  );
  assert.is(transportParametersSize(clientBase, { role: 'client', reserved: { id: 27, value: seq(3) } }), 6 + 5);
});

test('reserved parameters are skipped for small and very large N', () => {
  const maxN = ((1n << 62n) - 1n - 27n) / 31n;
  const ns = [0n, 1n, 2n, 527n, 1000n, 1n << 20n, 1n << 40n, 1n << 55n, maxN];
  const parts = ns.map((n, i) => rawParam(31n * n + 27n, seq(i * 3)));
  for (const sender of ['client', 'server'] as const) {
    const p = decodeTransportParameters(concat(...parts, rawParam(ID.INITIAL_SOURCE_CONNECTION_ID, [1])), { sender });
    assert.equal(p, { ...DEFAULT_TRANSPORT_PARAMETERS, initialSourceConnectionId: Uint8Array.of(1) });
  }
  assert.ok(isReservedTransportParameterId(31n * maxN + 27n));
  assert.ok(31n * maxN + 27n <= (1n << 62n) - 1n);
});

test('unknown parameters are skipped whatever their value', () => {
  const unknown = [0x12n, 0x1an, 0x21n, 0x2ab1n, 0xff73dbn, 0x3fffn, (1n << 62n) - 1n];
  for (const id of unknown) assert.not.ok(isReservedTransportParameterId(id), String(id));
  const parts = unknown.map((id, i) => rawParam(id, seq(i * 5, 0xf0)));
  const p = decodeTransportParameters(concat(rawVarintParam(ID.INITIAL_MAX_DATA, 7), ...parts, rawVarintParam(ID.INITIAL_MAX_STREAMS_UNI, 9)), {
    sender: 'client',
  });
  assert.equal(p, { ...DEFAULT_TRANSPORT_PARAMETERS, initialMaxData: 7, initialMaxStreamsUni: 9 });
});

test('defaultTransportParameters returns a fresh object with overrides applied', () => {
  const a = defaultTransportParameters();
  assert.equal(a, DEFAULT_TRANSPORT_PARAMETERS);
  assert.is.not(a, DEFAULT_TRANSPORT_PARAMETERS);
  assert.ok(Object.isFrozen(DEFAULT_TRANSPORT_PARAMETERS));
  assert.is(defaultTransportParameters({ initialMaxData: 5 }).initialMaxData, 5);
  assert.is(DEFAULT_TRANSPORT_PARAMETERS.maxUdpPayloadSize, 65527);
  assert.is(DEFAULT_TRANSPORT_PARAMETERS.ackDelayExponent, 3);
  assert.is(DEFAULT_TRANSPORT_PARAMETERS.maxAckDelay, 25);
  assert.is(DEFAULT_TRANSPORT_PARAMETERS.activeConnectionIdLimit, 2);
  assert.is(DEFAULT_TRANSPORT_PARAMETERS.maxIdleTimeout, 0);
});

test.run();
