import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  DEFAULT_TRANSPORT_PARAMETERS,
  type TransportParameters,
  decodeTransportParameters,
  defaultTransportParameters,
  encodeTransportParameters,
  validatePeerConnectionIds,
  validateZeroRttAcceptedParameters,
  zeroRttLimitReductions,
  zeroRttTransportParameters,
} from '../../src/wire/transport-parameters.js';
import { QuicError, TransportErrorCode } from '../../src/wire/errors.js';
import { seq } from '../support/transport-parameter-arbitraries.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));

function throwsCode(fn: () => unknown, code: number, reason: RegExp): void {
  try {
    fn();
  } catch (e) {
    assert.instance(e, QuicError);
    assert.is((e as QuicError).code, code, (e as QuicError).message);
    assert.match((e as QuicError).reason, reason);
    return;
  }
  assert.unreachable('expected a QuicError');
}
const tpError = (fn: () => unknown, reason: RegExp): void => throwsCode(fn, TransportErrorCode.TRANSPORT_PARAMETER_ERROR, reason);

// RFC 9000 §7.3 Figures 7 and 8: the client's first Initial has DCID=S1, SCID=C1; a Retry
// carries SCID=S2; the server's Initial has SCID=S3.
const S1 = hex('5101010101010101');
const C1 = hex('c1c1c1c1');
const S2 = hex('5202020202');
const S3 = hex('53030303');

/** The server's parameters as the client decodes them from the wire. */
function serverParams(overrides: Partial<TransportParameters>): TransportParameters {
  const bytes = encodeTransportParameters(defaultTransportParameters({ originalDestinationConnectionId: S1, initialSourceConnectionId: S3, ...overrides }), {
    role: 'server',
  });
  return decodeTransportParameters(bytes, { sender: 'server' });
}

// --- RFC 9000 §7.3 ----------------------------------------------------------------------------

test('a handshake without Retry (RFC 9000 §7.3 Figure 7) validates on both sides', () => {
  validatePeerConnectionIds(serverParams({}), { sender: 'server', originalDestinationConnectionId: S1, initialSourceConnectionId: S3 });
  const client = decodeTransportParameters(encodeTransportParameters(defaultTransportParameters({ initialSourceConnectionId: C1 }), { role: 'client' }), {
    sender: 'client',
  });
  validatePeerConnectionIds(client, { sender: 'client', initialSourceConnectionId: C1 });
});

test('a handshake with Retry (RFC 9000 §7.3 Figure 8) validates at the client', () => {
  validatePeerConnectionIds(serverParams({ retrySourceConnectionId: S2 }), {
    sender: 'server',
    originalDestinationConnectionId: S1,
    initialSourceConnectionId: S3,
    retrySourceConnectionId: S2,
  });
});

test('zero-length connection IDs are authenticated as zero-length values', () => {
  const empty = new Uint8Array(0);
  validatePeerConnectionIds(serverParams({ originalDestinationConnectionId: seq(8), initialSourceConnectionId: empty }), {
    sender: 'server',
    originalDestinationConnectionId: seq(8),
    initialSourceConnectionId: empty,
  });
  tpError(
    () => validatePeerConnectionIds(serverParams({ initialSourceConnectionId: empty }), { sender: 'server', originalDestinationConnectionId: S1, initialSourceConnectionId: S3 }),
    /initial_source_connection_id \(empty\) does not match/,
  );
});

test('a client without initial_source_connection_id is refused by the server', () => {
  tpError(() => validatePeerConnectionIds(DEFAULT_TRANSPORT_PARAMETERS, { sender: 'client', initialSourceConnectionId: C1 }), /client did not send initial_source_connection_id/);
});

test("a client's initial_source_connection_id that differs from its Initial's SCID is refused", () => {
  const client = defaultTransportParameters({ initialSourceConnectionId: hex('c1c1c1c2') });
  tpError(() => validatePeerConnectionIds(client, { sender: 'client', initialSourceConnectionId: C1 }), /initial_source_connection_id c1c1c1c2 does not match .* c1c1c1c1/);
  // A prefix is not a match either.
  tpError(() => validatePeerConnectionIds(defaultTransportParameters({ initialSourceConnectionId: hex('c1c1c1') }), { sender: 'client', initialSourceConnectionId: C1 }), /does not match/);
});

test('a server without initial_source_connection_id is refused by the client', () => {
  const params = defaultTransportParameters({ originalDestinationConnectionId: S1 });
  tpError(() => validatePeerConnectionIds(params, { sender: 'server', originalDestinationConnectionId: S1, initialSourceConnectionId: S3 }), /server did not send initial_source_connection_id/);
});

test("a server's initial_source_connection_id that differs from its Initial's SCID is refused", () => {
  tpError(
    () => validatePeerConnectionIds(serverParams({ initialSourceConnectionId: S2 }), { sender: 'server', originalDestinationConnectionId: S1, initialSourceConnectionId: S3 }),
    /initial_source_connection_id 5202020202 does not match/,
  );
});

test('a server without original_destination_connection_id is refused by the client', () => {
  const params = defaultTransportParameters({ initialSourceConnectionId: S3 });
  tpError(() => validatePeerConnectionIds(params, { sender: 'server', originalDestinationConnectionId: S1, initialSourceConnectionId: S3 }), /server did not send original_destination_connection_id/);
});

test("a server's original_destination_connection_id that differs from our first DCID is refused", () => {
  // After a Retry the server must still echo the DCID of the *first* Initial (S1), not S2.
  tpError(
    () =>
      validatePeerConnectionIds(serverParams({ originalDestinationConnectionId: S2, retrySourceConnectionId: S2 }), {
        sender: 'server',
        originalDestinationConnectionId: S1,
        initialSourceConnectionId: S3,
        retrySourceConnectionId: S2,
      }),
    /original_destination_connection_id 5202020202 does not match .* 5101010101010101/,
  );
});

test('retry_source_connection_id without a Retry is refused', () => {
  tpError(
    () => validatePeerConnectionIds(serverParams({ retrySourceConnectionId: S2 }), { sender: 'server', originalDestinationConnectionId: S1, initialSourceConnectionId: S3 }),
    /retry_source_connection_id but no Retry was received/,
  );
});

test('a missing retry_source_connection_id after a Retry is refused', () => {
  tpError(
    () =>
      validatePeerConnectionIds(serverParams({}), {
        sender: 'server',
        originalDestinationConnectionId: S1,
        initialSourceConnectionId: S3,
        retrySourceConnectionId: S2,
      }),
    /did not send retry_source_connection_id after a Retry/,
  );
});

test("a retry_source_connection_id that differs from the Retry's SCID is refused", () => {
  tpError(
    () =>
      validatePeerConnectionIds(serverParams({ retrySourceConnectionId: hex('52020202') }), {
        sender: 'server',
        originalDestinationConnectionId: S1,
        initialSourceConnectionId: S3,
        retrySourceConnectionId: S2,
      }),
    /retry_source_connection_id 52020202 does not match the Retry's Source Connection ID 5202020202/,
  );
});

// --- RFC 9000 §7.4.1, RFC 9221 §3 -------------------------------------------------------------

const remembered = serverParams({
  maxIdleTimeout: 30_000,
  statelessResetToken: seq(16),
  maxUdpPayloadSize: 1452,
  initialMaxData: 1_000_000,
  initialMaxStreamDataBidiLocal: 100_000,
  initialMaxStreamDataBidiRemote: 200_000,
  initialMaxStreamDataUni: 300_000,
  initialMaxStreamsBidi: 100,
  initialMaxStreamsUni: 10,
  ackDelayExponent: 8,
  maxAckDelay: 40,
  disableActiveMigration: true,
  preferredAddress: { ipv4Address: seq(4), ipv4Port: 443, ipv6Address: seq(16), ipv6Port: 443, connectionId: seq(8), statelessResetToken: seq(16, 0x80) },
  activeConnectionIdLimit: 4,
  retrySourceConnectionId: S2,
  maxDatagramFrameSize: 65535,
  greaseQuicBit: true,
});

test('0-RTT drops the remembered parameters a client must not reuse and keeps the others', () => {
  const z = zeroRttTransportParameters(remembered);
  const d = DEFAULT_TRANSPORT_PARAMETERS;
  // RFC 9000 §7.4.1: these take their defaults until the server's new values arrive.
  assert.is(z.ackDelayExponent, d.ackDelayExponent);
  assert.is(z.maxAckDelay, d.maxAckDelay);
  assert.is(z.initialSourceConnectionId, undefined);
  assert.is(z.originalDestinationConnectionId, undefined);
  assert.is(z.preferredAddress, undefined);
  assert.is(z.retrySourceConnectionId, undefined);
  assert.is(z.statelessResetToken, undefined);
  // Everything else is remembered.
  assert.equal(
    { ...z, ackDelayExponent: 8, maxAckDelay: 40 },
    {
      ...remembered,
      initialSourceConnectionId: undefined,
      originalDestinationConnectionId: undefined,
      preferredAddress: undefined,
      retrySourceConnectionId: undefined,
      statelessResetToken: undefined,
    },
  );
  assert.is(z.maxDatagramFrameSize, 65535);
  assert.is(z.initialMaxData, 1_000_000);
});

test('equal or larger limits are compatible with remembered 0-RTT parameters', () => {
  assert.equal(zeroRttLimitReductions(remembered, remembered), []);
  const larger = { ...remembered, initialMaxData: 2_000_000, initialMaxStreamsBidi: 200, activeConnectionIdLimit: 8, maxDatagramFrameSize: 70_000 };
  assert.equal(zeroRttLimitReductions(remembered, larger), []);
  // Parameters outside the §7.4.1 list may change freely.
  const others = { ...remembered, ackDelayExponent: 3, maxAckDelay: 25, maxIdleTimeout: 10, preferredAddress: undefined };
  assert.equal(zeroRttLimitReductions(remembered, others), []);
  validateZeroRttAcceptedParameters(remembered, larger);
});

test('each limit a server accepting 0-RTT must not reduce is reported when reduced', () => {
  const cases: Array<[string, Partial<TransportParameters>]> = [
    ['active_connection_id_limit', { activeConnectionIdLimit: 3 }],
    ['initial_max_data', { initialMaxData: 999_999 }],
    ['initial_max_stream_data_bidi_local', { initialMaxStreamDataBidiLocal: 0 }],
    ['initial_max_stream_data_bidi_remote', { initialMaxStreamDataBidiRemote: 199_999 }],
    ['initial_max_stream_data_uni', { initialMaxStreamDataUni: 1 }],
    ['initial_max_streams_bidi', { initialMaxStreamsBidi: 99 }],
    ['initial_max_streams_uni', { initialMaxStreamsUni: 9 }],
    ['max_datagram_frame_size', { maxDatagramFrameSize: 1200 }],
  ];
  for (const [name, change] of cases) {
    assert.equal(zeroRttLimitReductions(remembered, { ...remembered, ...change }), [name]);
  }
  assert.equal(zeroRttLimitReductions(remembered, { ...remembered, initialMaxData: 1, initialMaxStreamsUni: 0 }), ['initial_max_data', 'initial_max_streams_uni']);
});

test('a server dropping max_datagram_frame_size after remembering it counts as a reduction', () => {
  assert.equal(zeroRttLimitReductions(remembered, { ...remembered, maxDatagramFrameSize: undefined }), ['max_datagram_frame_size']);
  // Never remembered: any new value (or none) is fine.
  assert.equal(zeroRttLimitReductions({ ...remembered, maxDatagramFrameSize: undefined }, { ...remembered, maxDatagramFrameSize: undefined }), []);
});

test('a client refuses reduced limits after 0-RTT was accepted with PROTOCOL_VIOLATION', () => {
  throwsCode(
    () => validateZeroRttAcceptedParameters(remembered, { ...remembered, maxDatagramFrameSize: 100, initialMaxStreamsBidi: 1 }),
    TransportErrorCode.PROTOCOL_VIOLATION,
    /reduced initial_max_streams_bidi, max_datagram_frame_size/,
  );
});

test.run();
