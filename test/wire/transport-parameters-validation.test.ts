import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  TransportParameterId,
  type TransportParameterRole,
  type TransportParameters,
  decodeTransportParameters,
} from '../../src/wire/transport-parameters.js';
import { QuicError, TransportErrorCode } from '../../src/wire/errors.js';
import { QUIC_V1, QUIC_V2 } from '../../src/wire/version.js';
import { concat, rawParam, rawVarintParam, seq, varintBytesWithLength } from '../support/transport-parameter-arbitraries.js';

const ID = TransportParameterId;
const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const u32s = (...vs: number[]): Uint8Array => {
  const out = new Uint8Array(vs.length * 4);
  const dv = new DataView(out.buffer);
  vs.forEach((v, i) => dv.setUint32(i * 4, v));
  return out;
};

/** Decoding `bytes` from `sender` fails with TRANSPORT_PARAMETER_ERROR and a reason matching `reason`. */
function refused(bytes: Uint8Array, sender: TransportParameterRole, reason: RegExp): void {
  try {
    decodeTransportParameters(bytes, { sender });
  } catch (e) {
    assert.instance(e, QuicError);
    assert.is((e as QuicError).code, TransportErrorCode.TRANSPORT_PARAMETER_ERROR, (e as QuicError).message);
    assert.match((e as QuicError).reason, reason);
    return;
  }
  assert.unreachable(`expected TRANSPORT_PARAMETER_ERROR matching ${reason}`);
}

function accepted(bytes: Uint8Array, sender: TransportParameterRole): TransportParameters {
  return decodeTransportParameters(bytes, { sender });
}

/** A well-formed preferred_address body with a connection ID of `cidLength` bytes. */
function preferredAddressBody(cidLength: number): Uint8Array {
  return concat(seq(4), hex('01bb'), seq(16), hex('115c'), Uint8Array.of(cidLength), seq(cidLength, 0xc0), seq(16, 0xa0));
}

// --- Framing ----------------------------------------------------------------------------------

test('a truncated parameter ID is refused', () => {
  refused(hex('40'), 'client', /truncated transport parameter ID/);
  refused(concat(rawVarintParam(ID.INITIAL_MAX_DATA, 1), hex('c0 00 00')), 'client', /truncated transport parameter ID/);
});

test('a missing or truncated length field is refused', () => {
  refused(hex('04'), 'client', /truncated initial_max_data length/);
  refused(hex('04 40'), 'client', /truncated initial_max_data length/);
});

test('a length running past the end of the extension is refused', () => {
  refused(hex('04 05 01'), 'client', /truncated initial_max_data: length 5, 1 byte/);
  refused(hex('1b 02 00'), 'client', /truncated reserved transport parameter 0x1b/);
  refused(hex('3f 01'), 'server', /truncated unknown transport parameter 0x3f/);
});

test('a length field above 2^53-1 is refused', () => {
  refused(hex('04 ffffffffffffffff 00'), 'client', /initial_max_data length exceeds 2\^53-1/);
});

test('an integer parameter whose length is longer than its varint is refused', () => {
  // Length 3, but 0x4001 is a complete 2-byte varint: one byte is left over.
  refused(hex('01 03 4001 00'), 'client', /max_idle_timeout has length 3 but its varint takes 2 byte/);
  refused(hex('20 02 05 00'), 'client', /max_datagram_frame_size has length 2 but its varint takes 1 byte/);
});

test('an integer parameter whose length is shorter than its varint is refused', () => {
  refused(hex('04 01 40'), 'client', /truncated initial_max_data: need 2 bytes, 1 left/);
  refused(hex('03 04 c0000000'), 'client', /truncated max_udp_payload_size: need 8 bytes, 4 left/);
});

test('an integer parameter with a zero-length value is refused', () => {
  refused(hex('0a 00'), 'client', /truncated ack_delay_exponent/);
});

// --- Duplicates (RFC 9000 §7.4) ---------------------------------------------------------------

test('a known parameter appearing twice is refused', () => {
  refused(concat(rawVarintParam(ID.INITIAL_MAX_DATA, 1), rawVarintParam(ID.INITIAL_MAX_DATA, 1)), 'client', /duplicate initial_max_data/);
  refused(concat(rawParam(ID.DISABLE_ACTIVE_MIGRATION, []), rawParam(ID.DISABLE_ACTIVE_MIGRATION, [])), 'server', /duplicate disable_active_migration/);
});

test('the same ID written once minimally and once non-minimally is a duplicate', () => {
  refused(concat(rawVarintParam(ID.INITIAL_MAX_DATA, 1), varintBytesWithLength(ID.INITIAL_MAX_DATA, 2), hex('01 01')), 'client', /duplicate initial_max_data/);
});

test('an unknown parameter appearing twice is refused', () => {
  refused(concat(rawParam(0x3b, [1]), rawParam(0x3b, [2, 3])), 'client', /duplicate unknown transport parameter 0x3b/);
});

test('a reserved parameter appearing twice is refused', () => {
  const id = 31n * (1n << 50n) + 27n;
  refused(concat(rawParam(id, []), rawParam(0x04, [1]), rawParam(id, [9])), 'server', /duplicate reserved transport parameter/);
});

// --- Server-only parameters from a client (RFC 9000 §18.2) ------------------------------------

const serverOnly: Array<[string, Uint8Array]> = [
  ['original_destination_connection_id', rawParam(ID.ORIGINAL_DESTINATION_CONNECTION_ID, seq(8))],
  ['stateless_reset_token', rawParam(ID.STATELESS_RESET_TOKEN, seq(16))],
  ['preferred_address', rawParam(ID.PREFERRED_ADDRESS, preferredAddressBody(4))],
  ['retry_source_connection_id', rawParam(ID.RETRY_SOURCE_CONNECTION_ID, seq(8))],
];
for (const [name, param] of serverOnly) {
  test(`${name} sent by a client is refused (and accepted from a server)`, () => {
    refused(concat(rawParam(ID.INITIAL_SOURCE_CONNECTION_ID, [1]), param), 'client', new RegExp(`client sent server-only parameter ${name}`));
    accepted(concat(rawParam(ID.INITIAL_SOURCE_CONNECTION_ID, [1]), param), 'server');
  });
}

// --- Value rules (RFC 9000 §18.2, §4.6) -------------------------------------------------------

test('max_udp_payload_size below 1200 is refused, 1200 is accepted', () => {
  refused(rawVarintParam(ID.MAX_UDP_PAYLOAD_SIZE, 1199), 'client', /max_udp_payload_size 1199 is below 1200/);
  refused(rawVarintParam(ID.MAX_UDP_PAYLOAD_SIZE, 0), 'server', /max_udp_payload_size 0/);
  assert.is(accepted(rawVarintParam(ID.MAX_UDP_PAYLOAD_SIZE, 1200), 'client').maxUdpPayloadSize, 1200);
});

test('ack_delay_exponent above 20 is refused, 20 is accepted', () => {
  refused(rawVarintParam(ID.ACK_DELAY_EXPONENT, 21), 'client', /ack_delay_exponent 21 is above 20/);
  refused(rawVarintParam(ID.ACK_DELAY_EXPONENT, (1n << 62n) - 1n), 'server', /ack_delay_exponent 4611686018427387903 is above 20/);
  assert.is(accepted(rawVarintParam(ID.ACK_DELAY_EXPONENT, 20), 'client').ackDelayExponent, 20);
});

test('max_ack_delay of 2^14 or more is refused, 2^14-1 is accepted', () => {
  refused(rawVarintParam(ID.MAX_ACK_DELAY, 1 << 14), 'client', /max_ack_delay 16384 is not below 2\^14/);
  refused(rawVarintParam(ID.MAX_ACK_DELAY, 1n << 61n), 'server', /max_ack_delay/);
  assert.is(accepted(rawVarintParam(ID.MAX_ACK_DELAY, (1 << 14) - 1), 'client').maxAckDelay, 16383);
});

test('active_connection_id_limit below 2 is refused, 2 is accepted', () => {
  refused(rawVarintParam(ID.ACTIVE_CONNECTION_ID_LIMIT, 1), 'client', /active_connection_id_limit 1 is below 2/);
  refused(rawVarintParam(ID.ACTIVE_CONNECTION_ID_LIMIT, 0), 'server', /active_connection_id_limit 0 is below 2/);
  assert.is(accepted(rawVarintParam(ID.ACTIVE_CONNECTION_ID_LIMIT, 2), 'client').activeConnectionIdLimit, 2);
});

test('initial_max_streams_bidi above 2^60 is refused', () => {
  refused(rawVarintParam(ID.INITIAL_MAX_STREAMS_BIDI, (1n << 60n) + 1n), 'client', /initial_max_streams_bidi 1152921504606846977 is above 2\^60/);
  refused(rawVarintParam(ID.INITIAL_MAX_STREAMS_BIDI, (1n << 62n) - 1n), 'server', /initial_max_streams_bidi/);
});

test('initial_max_streams_uni above 2^60 is refused', () => {
  refused(rawVarintParam(ID.INITIAL_MAX_STREAMS_UNI, (1n << 60n) + 1n), 'server', /initial_max_streams_uni 1152921504606846977 is above 2\^60/);
});

test('a stateless_reset_token that is not 16 bytes is refused', () => {
  const cid = rawParam(ID.INITIAL_SOURCE_CONNECTION_ID, [1]);
  refused(concat(cid, rawParam(ID.STATELESS_RESET_TOKEN, seq(15))), 'server', /stateless_reset_token is 15 bytes, not 16/);
  refused(concat(cid, rawParam(ID.STATELESS_RESET_TOKEN, seq(17))), 'server', /stateless_reset_token is 17 bytes, not 16/);
  refused(concat(cid, rawParam(ID.STATELESS_RESET_TOKEN, [])), 'server', /stateless_reset_token is 0 bytes/);
});

const cidParams: Array<[string, number]> = [
  ['original_destination_connection_id', ID.ORIGINAL_DESTINATION_CONNECTION_ID],
  ['initial_source_connection_id', ID.INITIAL_SOURCE_CONNECTION_ID],
  ['retry_source_connection_id', ID.RETRY_SOURCE_CONNECTION_ID],
];
for (const [name, id] of cidParams) {
  test(`${name} longer than 20 bytes is refused, 20 and 0 bytes are accepted`, () => {
    refused(rawParam(id, seq(21)), 'server', new RegExp(`${name} is 21 bytes, longer than 20`));
    accepted(rawParam(id, seq(20)), 'server');
    accepted(rawParam(id, []), 'server');
  });
}

test('preferred_address with a zero-length connection ID is refused', () => {
  refused(concat(rawParam(ID.INITIAL_SOURCE_CONNECTION_ID, [1]), rawParam(ID.PREFERRED_ADDRESS, preferredAddressBody(0))), 'server', /preferred_address carries a zero-length connection ID/);
});

test('preferred_address with a connection ID length above 20 is refused', () => {
  refused(rawParam(ID.PREFERRED_ADDRESS, preferredAddressBody(21)), 'server', /preferred_address connection ID length 21 is longer than 20/);
});

test('a truncated preferred_address is refused at every cut', () => {
  const body = preferredAddressBody(4);
  for (let cut = 0; cut < body.length; cut++) {
    refused(rawParam(ID.PREFERRED_ADDRESS, body.subarray(0, cut)), 'server', /truncated preferred_address/);
  }
});

test('a preferred_address with bytes after its stateless reset token is refused', () => {
  refused(rawParam(ID.PREFERRED_ADDRESS, concat(preferredAddressBody(4), Uint8Array.of(0))), 'server', /preferred_address has 1 byte\(s\) after/);
});

test('a preferred_address whose connection ID length overruns the value is refused', () => {
  // Claims 20 bytes of connection ID but only 4 + 16 bytes follow: the token is cut short.
  const body = preferredAddressBody(4);
  body[24] = 20;
  refused(rawParam(ID.PREFERRED_ADDRESS, body), 'server', /truncated preferred_address stateless reset token/);
});

test('preferred_address from a server using a zero-length connection ID is refused', () => {
  refused(
    concat(rawParam(ID.INITIAL_SOURCE_CONNECTION_ID, []), rawParam(ID.PREFERRED_ADDRESS, preferredAddressBody(4))),
    'server',
    /preferred_address sent by a server that uses a zero-length connection ID/,
  );
});

test('a preferred_address decodes with both families and keeps all-zero families as sent', () => {
  const body = concat(new Uint8Array(6), seq(16), hex('115c'), Uint8Array.of(2), hex('abcd'), seq(16, 0xa0));
  const p = accepted(concat(rawParam(ID.INITIAL_SOURCE_CONNECTION_ID, [1]), rawParam(ID.PREFERRED_ADDRESS, body)), 'server');
  assert.equal(p.preferredAddress, {
    ipv4Address: new Uint8Array(4),
    ipv4Port: 0,
    ipv6Address: seq(16),
    ipv6Port: 4444,
    connectionId: hex('abcd'),
    statelessResetToken: seq(16, 0xa0),
  });
});

test('disable_active_migration with a non-empty value is refused', () => {
  refused(rawParam(ID.DISABLE_ACTIVE_MIGRATION, [0]), 'client', /disable_active_migration must be zero-length, got 1 byte/);
  assert.is(accepted(rawParam(ID.DISABLE_ACTIVE_MIGRATION, []), 'client').disableActiveMigration, true);
});

test('grease_quic_bit with a non-empty value is refused', () => {
  refused(rawParam(ID.GREASE_QUIC_BIT, [1, 2]), 'server', /grease_quic_bit must be zero-length, got 2 byte/);
  assert.is(accepted(rawParam(ID.GREASE_QUIC_BIT, []), 'server').greaseQuicBit, true);
});

// --- version_information (RFC 9368 §3, §4) ----------------------------------------------------

test('version_information whose length is not a non-zero multiple of 4 is refused', () => {
  for (const length of [0, 1, 2, 3, 5, 6, 7, 9]) {
    refused(rawParam(ID.VERSION_INFORMATION, seq(length)), 'server', new RegExp(`version_information length ${length} is not a non-zero multiple of 4`));
  }
});

test('version_information with a zero chosen version is refused', () => {
  refused(rawParam(ID.VERSION_INFORMATION, u32s(0, QUIC_V1)), 'server', /chosen version 0 is invalid/);
  refused(rawParam(ID.VERSION_INFORMATION, u32s(0, 0)), 'client', /chosen version 0 is invalid/);
});

test('version_information with a zero available version is refused', () => {
  refused(rawParam(ID.VERSION_INFORMATION, u32s(QUIC_V1, QUIC_V1, 0)), 'client', /available version 0 is invalid/);
  refused(rawParam(ID.VERSION_INFORMATION, u32s(QUIC_V1, 0)), 'server', /available version 0 is invalid/);
});

test('version_information from a client without its chosen version among the available ones is refused', () => {
  refused(rawParam(ID.VERSION_INFORMATION, u32s(QUIC_V1, QUIC_V2)), 'client', /lacks its chosen version 0x1/);
  refused(rawParam(ID.VERSION_INFORMATION, u32s(QUIC_V1)), 'client', /lacks its chosen version/);
});

test('version_information from a server need not list its chosen version', () => {
  assert.equal(accepted(rawParam(ID.VERSION_INFORMATION, u32s(QUIC_V2, QUIC_V1)), 'server').versionInformation, {
    chosenVersion: QUIC_V2,
    availableVersions: [QUIC_V1],
  });
  assert.equal(accepted(rawParam(ID.VERSION_INFORMATION, u32s(QUIC_V1)), 'server').versionInformation, {
    chosenVersion: QUIC_V1,
    availableVersions: [],
  });
});

test('version_information keeps reserved and unknown versions in order', () => {
  const grease = 0x1a2a3a4a;
  assert.equal(accepted(rawParam(ID.VERSION_INFORMATION, u32s(QUIC_V1, grease, QUIC_V2, 0xffffffff, QUIC_V1)), 'client').versionInformation, {
    chosenVersion: QUIC_V1,
    availableVersions: [grease, QUIC_V2, 0xffffffff, QUIC_V1],
  });
});

// --- max_datagram_frame_size (RFC 9221 §3) ----------------------------------------------------

test('max_datagram_frame_size is a varint: absent means no support, 0 is kept as sent', () => {
  assert.is(accepted(new Uint8Array(0), 'client').maxDatagramFrameSize, undefined);
  assert.is(accepted(rawVarintParam(ID.MAX_DATAGRAM_FRAME_SIZE, 0), 'client').maxDatagramFrameSize, 0);
  assert.is(accepted(rawVarintParam(ID.MAX_DATAGRAM_FRAME_SIZE, 65535), 'server').maxDatagramFrameSize, 65535);
  refused(rawParam(ID.MAX_DATAGRAM_FRAME_SIZE, []), 'client', /truncated max_datagram_frame_size/);
});

test('every refusal carries TRANSPORT_PARAMETER_ERROR and no frame type', () => {
  try {
    decodeTransportParameters(hex('0a 01 15'), { sender: 'client' });
    assert.unreachable();
  } catch (e) {
    assert.instance(e, QuicError);
    assert.is((e as QuicError).code, 0x08);
    assert.is((e as QuicError).frameType, undefined);
    assert.match((e as QuicError).message, /^TRANSPORT_PARAMETER_ERROR: /);
  }
});

test.run();
