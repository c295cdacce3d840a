/**
 * QUIC transport parameters (RFC 9000 §7.4, §18), the content of the TLS
 * quic_transport_parameters extension (RFC 9001 §8.2).
 *
 * The encoding is a sequence of (ID, length, value) tuples (RFC 9000 §18). This module decodes a
 * peer's sequence into a typed {@link TransportParameters} object, validating every rule that
 * concerns the parameters alone (RFC 9000 §7.4, §18.2; RFC 9221 §3; RFC 9368 §3–§4;
 * RFC 9287 §3), encodes ours, and provides the checks that compare the parameters with the
 * connection: connection ID authentication (RFC 9000 §7.3) and 0-RTT compatibility
 * (RFC 9000 §7.4.1, RFC 9221 §3).
 *
 * Every failure while decoding a peer's parameters is a {@link QuicError} with
 * TRANSPORT_PARAMETER_ERROR. Encoding parameters that break a rule is a bug of ours and throws
 * a QuicError with INTERNAL_ERROR.
 *
 * @module
 */
import { QuicError, TransportErrorCode } from './errors.js';
import { Reader } from './reader.js';
import { varintSize, writeVarint } from './varint.js';

/** The endpoint role that sends (or encodes) a set of transport parameters. */
export type TransportParameterRole = 'client' | 'server';

/**
 * Transport parameter IDs: RFC 9000 §18.2, plus version_information (RFC 9368 §3),
 * max_datagram_frame_size (RFC 9221 §3) and grease_quic_bit (RFC 9287 §3).
 */
export const TransportParameterId = {
  /** original_destination_connection_id (RFC 9000 §18.2), server only. */
  ORIGINAL_DESTINATION_CONNECTION_ID: 0x00,
  /** max_idle_timeout (RFC 9000 §18.2). */
  MAX_IDLE_TIMEOUT: 0x01,
  /** stateless_reset_token (RFC 9000 §18.2), server only. */
  STATELESS_RESET_TOKEN: 0x02,
  /** max_udp_payload_size (RFC 9000 §18.2). */
  MAX_UDP_PAYLOAD_SIZE: 0x03,
  /** initial_max_data (RFC 9000 §18.2). */
  INITIAL_MAX_DATA: 0x04,
  /** initial_max_stream_data_bidi_local (RFC 9000 §18.2). */
  INITIAL_MAX_STREAM_DATA_BIDI_LOCAL: 0x05,
  /** initial_max_stream_data_bidi_remote (RFC 9000 §18.2). */
  INITIAL_MAX_STREAM_DATA_BIDI_REMOTE: 0x06,
  /** initial_max_stream_data_uni (RFC 9000 §18.2). */
  INITIAL_MAX_STREAM_DATA_UNI: 0x07,
  /** initial_max_streams_bidi (RFC 9000 §18.2). */
  INITIAL_MAX_STREAMS_BIDI: 0x08,
  /** initial_max_streams_uni (RFC 9000 §18.2). */
  INITIAL_MAX_STREAMS_UNI: 0x09,
  /** ack_delay_exponent (RFC 9000 §18.2). */
  ACK_DELAY_EXPONENT: 0x0a,
  /** max_ack_delay (RFC 9000 §18.2). */
  MAX_ACK_DELAY: 0x0b,
  /** disable_active_migration (RFC 9000 §18.2), zero-length. */
  DISABLE_ACTIVE_MIGRATION: 0x0c,
  /** preferred_address (RFC 9000 §18.2), server only. */
  PREFERRED_ADDRESS: 0x0d,
  /** active_connection_id_limit (RFC 9000 §18.2). */
  ACTIVE_CONNECTION_ID_LIMIT: 0x0e,
  /** initial_source_connection_id (RFC 9000 §18.2). */
  INITIAL_SOURCE_CONNECTION_ID: 0x0f,
  /** retry_source_connection_id (RFC 9000 §18.2), server only. */
  RETRY_SOURCE_CONNECTION_ID: 0x10,
  /** version_information (RFC 9368 §3). */
  VERSION_INFORMATION: 0x11,
  /** max_datagram_frame_size (RFC 9221 §3). */
  MAX_DATAGRAM_FRAME_SIZE: 0x20,
  /** grease_quic_bit (RFC 9287 §3), zero-length. */
  GREASE_QUIC_BIT: 0x2ab2,
} as const;

/** A transport parameter ID this module understands (a value of {@link TransportParameterId}). */
export type TransportParameterIdValue = (typeof TransportParameterId)[keyof typeof TransportParameterId];

// The next three are deliberately not exported: src/wire/header.ts and src/wire/frames/types.ts
// export the same names, and `export *` from the wire index would make them ambiguous.
/** Largest connection ID length in QUIC version 1, in bytes (RFC 9000 §17.2). */
const MAX_CONNECTION_ID_LENGTH = 20;
/** Length of a stateless reset token, in bytes (RFC 9000 §10.3). */
const STATELESS_RESET_TOKEN_LENGTH = 16;
/** Largest valid initial_max_streams_bidi / initial_max_streams_uni: 2^60 (RFC 9000 §4.6). */
const MAX_STREAMS_LIMIT = 1n << 60n;
/** Smallest valid max_udp_payload_size (RFC 9000 §18.2). */
export const MIN_MAX_UDP_PAYLOAD_SIZE = 1200;
/** Largest valid ack_delay_exponent (RFC 9000 §18.2). */
export const MAX_ACK_DELAY_EXPONENT = 20;
/** max_ack_delay values must be below this: 2^14 milliseconds (RFC 9000 §18.2). */
export const MAX_ACK_DELAY_LIMIT = 1 << 14;
/** Smallest valid active_connection_id_limit (RFC 9000 §18.2). */
export const MIN_ACTIVE_CONNECTION_ID_LIMIT = 2;

/**
 * The server's preferred address (RFC 9000 §18.2, §9.6). Addresses are raw bytes in network
 * byte order. A server that offers only one address family sends an all-zero address and port
 * for the other (0.0.0.0:0 or [::]:0); this object keeps those zeros as they are on the wire.
 */
export interface PreferredAddress {
  /** IPv4 address, exactly 4 bytes. All zero (with port 0) when no IPv4 address is offered. */
  readonly ipv4Address: Uint8Array;
  /** IPv4 port (0–65535). */
  readonly ipv4Port: number;
  /** IPv6 address, exactly 16 bytes. All zero (with port 0) when no IPv6 address is offered. */
  readonly ipv6Address: Uint8Array;
  /** IPv6 port (0–65535). */
  readonly ipv6Port: number;
  /** The connection ID with sequence number 1 (RFC 9000 §5.1.1): 1 to 20 bytes, never empty. */
  readonly connectionId: Uint8Array;
  /** The stateless reset token of {@link connectionId}, exactly 16 bytes. */
  readonly statelessResetToken: Uint8Array;
}

/** The version_information transport parameter (RFC 9368 §3). */
export interface VersionInformation {
  /** The version the sender chose for this connection; never 0 (RFC 9368 §4). */
  readonly chosenVersion: number;
  /**
   * The versions the sender supports, in its order of preference; none is 0. When a client
   * sends it, it includes {@link chosenVersion} (RFC 9368 §4).
   */
  readonly availableVersions: readonly number[];
}

/**
 * A complete set of transport parameters (RFC 9000 §18.2 and the extensions above).
 *
 * Optional parameters are `undefined` when absent; numeric parameters hold the RFC default when
 * absent. Byte strings decoded from a peer are views into the decoded buffer, not copies.
 *
 * Limits are exact up to 2^53−1: a peer's value above 2^53−1 (a peer may announce 2^62−1 as
 * "unlimited") is saturated at `Number.MAX_SAFE_INTEGER` when decoded, which no counter of ours
 * can reach, so the limit behaves the same. The fields where this happens say so.
 */
export interface TransportParameters {
  /**
   * original_destination_connection_id (0x00): the Destination Connection ID of the client's
   * first Initial packet (RFC 9000 §7.3). Server only; 0–20 bytes.
   */
  readonly originalDestinationConnectionId: Uint8Array | undefined;
  /**
   * max_idle_timeout (0x01) in milliseconds; 0 (the default) means no idle timeout from this
   * endpoint (RFC 9000 §10.1). Saturates at 2^53−1 when decoded.
   */
  readonly maxIdleTimeout: number;
  /** stateless_reset_token (0x02): 16 bytes (RFC 9000 §10.3). Server only. */
  readonly statelessResetToken: Uint8Array | undefined;
  /**
   * max_udp_payload_size (0x03): the largest UDP payload the endpoint will receive; at least
   * 1200, default 65527. Saturates at 2^53−1 when decoded.
   */
  readonly maxUdpPayloadSize: number;
  /** initial_max_data (0x04): the initial connection flow control limit. Saturates at 2^53−1 when decoded. */
  readonly initialMaxData: number;
  /**
   * initial_max_stream_data_bidi_local (0x05): the initial limit for bidirectional streams opened
   * by the sender of these parameters. Saturates at 2^53−1 when decoded.
   */
  readonly initialMaxStreamDataBidiLocal: number;
  /**
   * initial_max_stream_data_bidi_remote (0x06): the initial limit for bidirectional streams
   * opened by the receiver of these parameters. Saturates at 2^53−1 when decoded.
   */
  readonly initialMaxStreamDataBidiRemote: number;
  /**
   * initial_max_stream_data_uni (0x07): the initial limit for unidirectional streams opened by the
   * receiver of these parameters. Saturates at 2^53−1 when decoded.
   */
  readonly initialMaxStreamDataUni: number;
  /**
   * initial_max_streams_bidi (0x08): how many bidirectional streams the receiver may open; at
   * most 2^60 (RFC 9000 §4.6). Saturates at 2^53−1 when decoded.
   */
  readonly initialMaxStreamsBidi: number;
  /**
   * initial_max_streams_uni (0x09): how many unidirectional streams the receiver may open; at
   * most 2^60 (RFC 9000 §4.6). Saturates at 2^53−1 when decoded.
   */
  readonly initialMaxStreamsUni: number;
  /** ack_delay_exponent (0x0a): 0–20, default 3 (RFC 9000 §18.2). */
  readonly ackDelayExponent: number;
  /** max_ack_delay (0x0b) in milliseconds: below 2^14, default 25 (RFC 9000 §18.2). */
  readonly maxAckDelay: number;
  /** disable_active_migration (0x0c): true when the (zero-length) parameter is present. */
  readonly disableActiveMigration: boolean;
  /** preferred_address (0x0d): the server's preferred address (RFC 9000 §9.6). Server only. */
  readonly preferredAddress: PreferredAddress | undefined;
  /**
   * active_connection_id_limit (0x0e): how many connection IDs from the peer the sender will
   * store; at least 2, default 2. Saturates at 2^53−1 when decoded.
   */
  readonly activeConnectionIdLimit: number;
  /**
   * initial_source_connection_id (0x0f): the Source Connection ID of the sender's first Initial
   * packet (RFC 9000 §7.3); 0–20 bytes. Both endpoints must send it.
   */
  readonly initialSourceConnectionId: Uint8Array | undefined;
  /**
   * retry_source_connection_id (0x10): the Source Connection ID of the server's Retry packet
   * (RFC 9000 §7.3); 0–20 bytes. Server only, and only after a Retry.
   */
  readonly retrySourceConnectionId: Uint8Array | undefined;
  /** version_information (0x11, RFC 9368 §3). */
  readonly versionInformation: VersionInformation | undefined;
  /**
   * max_datagram_frame_size (0x20, RFC 9221 §3): the largest DATAGRAM frame the sender will
   * receive. `undefined` (absent) or 0 means DATAGRAM frames are not supported. Saturates at
   * 2^53−1 when decoded.
   */
  readonly maxDatagramFrameSize: number | undefined;
  /** grease_quic_bit (0x2ab2, RFC 9287 §3): true when the (zero-length) parameter is present. */
  readonly greaseQuicBit: boolean;
}

/** The value every parameter takes when it is absent (RFC 9000 §18.2). Frozen. */
export const DEFAULT_TRANSPORT_PARAMETERS: TransportParameters = Object.freeze({
  originalDestinationConnectionId: undefined,
  maxIdleTimeout: 0,
  statelessResetToken: undefined,
  maxUdpPayloadSize: 65527,
  initialMaxData: 0,
  initialMaxStreamDataBidiLocal: 0,
  initialMaxStreamDataBidiRemote: 0,
  initialMaxStreamDataUni: 0,
  initialMaxStreamsBidi: 0,
  initialMaxStreamsUni: 0,
  ackDelayExponent: 3,
  maxAckDelay: 25,
  disableActiveMigration: false,
  preferredAddress: undefined,
  activeConnectionIdLimit: 2,
  initialSourceConnectionId: undefined,
  retrySourceConnectionId: undefined,
  versionInformation: undefined,
  maxDatagramFrameSize: undefined,
  greaseQuicBit: false,
});

/** A fresh (unfrozen) copy of {@link DEFAULT_TRANSPORT_PARAMETERS} with `overrides` applied. */
export function defaultTransportParameters(overrides: Partial<TransportParameters> = {}): TransportParameters {
  return { ...DEFAULT_TRANSPORT_PARAMETERS, ...overrides };
}

/** A reserved transport parameter (RFC 9000 §18.1): ID `31 * N + 27`, arbitrary value. */
export interface ReservedTransportParameter {
  /** The ID, of the form `31 * N + 27`, at most 2^53−1. */
  readonly id: number;
  /** The value; arbitrary bytes. */
  readonly value: Uint8Array;
}

/** True when `id` is a reserved transport parameter ID, `31 * N + 27` (RFC 9000 §18.1). */
export function isReservedTransportParameterId(id: number | bigint): boolean {
  if (typeof id === 'bigint') return id >= 27n && (id - 27n) % 31n === 0n;
  return Number.isSafeInteger(id) && id >= 27 && (id - 27) % 31 === 0;
}

/** Largest N for which `31 * N + 27` stays at or below 2^53−1. */
const MAX_SAFE_RESERVED_N = Math.floor((Number.MAX_SAFE_INTEGER - 27) / 31);

/**
 * A random reserved transport parameter for greasing (RFC 9000 §18.1): ID `31 * N + 27` with N
 * random over magnitudes from 0 to 2^47 (so the ID's varint takes 1, 2, 4 or 8 bytes), and a
 * random value of 0–15 bytes.
 */
export function randomReservedTransportParameter(): ReservedTransportParameter {
  const rnd = new Uint32Array(3);
  globalThis.crypto.getRandomValues(rnd);
  // Pick a bit width first so that small and large IDs both occur.
  const bits = rnd[0] % 48;
  const n = bits <= 32 ? Math.floor(rnd[1] / 2 ** (32 - bits)) : (rnd[1] % 2 ** (bits - 32)) * 2 ** 32 + rnd[2];
  const value = new Uint8Array((rnd[0] >>> 8) % 16);
  globalThis.crypto.getRandomValues(value);
  return { id: 31 * Math.min(n, MAX_SAFE_RESERVED_N) + 27, value };
}

/** Options of {@link encodeTransportParameters}. */
export interface EncodeTransportParametersOptions {
  /** Our role: a client must not send server-only parameters (RFC 9000 §18.2). */
  readonly role: TransportParameterRole;
  /** Add one random reserved parameter (RFC 9000 §18.1) to exercise the peer's "ignore unknown". */
  readonly grease?: boolean;
}

/** Options of {@link transportParametersSize} and {@link writeTransportParameters}. */
export interface WriteTransportParametersOptions {
  /** Our role: a client must not send server-only parameters (RFC 9000 §18.2). */
  readonly role: TransportParameterRole;
  /** A reserved parameter to append (RFC 9000 §18.1), e.g. from {@link randomReservedTransportParameter}. */
  readonly reserved?: ReservedTransportParameter;
}

/** Options of {@link decodeTransportParameters}. */
export interface DecodeTransportParametersOptions {
  /** The role of the peer that sent the parameters. */
  readonly sender: TransportParameterRole;
}

const TP_ERROR = TransportErrorCode.TRANSPORT_PARAMETER_ERROR;
const ID = TransportParameterId;

/** RFC 9000 §18.2: parameters only a server may send. */
const SERVER_ONLY: ReadonlyMap<number, string> = new Map([
  [ID.ORIGINAL_DESTINATION_CONNECTION_ID, 'original_destination_connection_id'],
  [ID.STATELESS_RESET_TOKEN, 'stateless_reset_token'],
  [ID.PREFERRED_ADDRESS, 'preferred_address'],
  [ID.RETRY_SOURCE_CONNECTION_ID, 'retry_source_connection_id'],
]);

const NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(TransportParameterId).map(([name, id]) => [id, name.toLowerCase()]),
);

function parameterName(id: bigint): string {
  const known = id <= 0xffffn ? NAMES.get(Number(id)) : undefined;
  if (known !== undefined) return known;
  return `${isReservedTransportParameterId(id) ? 'reserved' : 'unknown'} transport parameter 0x${id.toString(16)}`;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

// ---------------------------------------------------------------------------------------------
// Value rules shared by the encoder (INTERNAL_ERROR) and the decoder (TRANSPORT_PARAMETER_ERROR).
// ---------------------------------------------------------------------------------------------

function checkConnectionId(cid: Uint8Array | undefined, name: string, fail: (reason: string) => never): void {
  // RFC 9000 §17.2: connection IDs in QUIC v1 are at most 20 bytes.
  if (cid !== undefined && cid.length > MAX_CONNECTION_ID_LENGTH) {
    fail(`${name} is ${cid.length} bytes, longer than ${MAX_CONNECTION_ID_LENGTH}`);
  }
}

function checkValues(p: TransportParameters, sender: TransportParameterRole, fail: (reason: string) => never): void {
  if (sender === 'client') {
    // RFC 9000 §18.2: a client MUST NOT include any server-only transport parameter.
    if (p.originalDestinationConnectionId !== undefined) fail('server-only parameter original_destination_connection_id from a client');
    if (p.statelessResetToken !== undefined) fail('server-only parameter stateless_reset_token from a client');
    if (p.preferredAddress !== undefined) fail('server-only parameter preferred_address from a client');
    if (p.retrySourceConnectionId !== undefined) fail('server-only parameter retry_source_connection_id from a client');
  }
  checkConnectionId(p.originalDestinationConnectionId, 'original_destination_connection_id', fail);
  checkConnectionId(p.initialSourceConnectionId, 'initial_source_connection_id', fail);
  checkConnectionId(p.retrySourceConnectionId, 'retry_source_connection_id', fail);
  // RFC 9000 §18.2: the stateless reset token is a sequence of 16 bytes.
  if (p.statelessResetToken !== undefined && p.statelessResetToken.length !== STATELESS_RESET_TOKEN_LENGTH) {
    fail(`stateless_reset_token is ${p.statelessResetToken.length} bytes, not ${STATELESS_RESET_TOKEN_LENGTH}`);
  }
  // RFC 9000 §18.2: values of max_udp_payload_size below 1200 are invalid.
  if (p.maxUdpPayloadSize < MIN_MAX_UDP_PAYLOAD_SIZE) {
    fail(`max_udp_payload_size ${p.maxUdpPayloadSize} is below ${MIN_MAX_UDP_PAYLOAD_SIZE}`);
  }
  // RFC 9000 §18.2: ack_delay_exponent values above 20 are invalid.
  if (p.ackDelayExponent > MAX_ACK_DELAY_EXPONENT) {
    fail(`ack_delay_exponent ${p.ackDelayExponent} is above ${MAX_ACK_DELAY_EXPONENT}`);
  }
  // RFC 9000 §18.2: max_ack_delay values of 2^14 or greater are invalid.
  if (p.maxAckDelay >= MAX_ACK_DELAY_LIMIT) fail(`max_ack_delay ${p.maxAckDelay} is not below 2^14`);
  // RFC 9000 §18.2: active_connection_id_limit MUST be at least 2.
  if (p.activeConnectionIdLimit < MIN_ACTIVE_CONNECTION_ID_LIMIT) {
    fail(`active_connection_id_limit ${p.activeConnectionIdLimit} is below ${MIN_ACTIVE_CONNECTION_ID_LIMIT}`);
  }
  const pa = p.preferredAddress;
  if (pa !== undefined) {
    if (pa.ipv4Address.length !== 4) fail(`preferred_address IPv4 address is ${pa.ipv4Address.length} bytes, not 4`);
    if (pa.ipv6Address.length !== 16) fail(`preferred_address IPv6 address is ${pa.ipv6Address.length} bytes, not 16`);
    for (const port of [pa.ipv4Port, pa.ipv6Port]) {
      if (!Number.isInteger(port) || port < 0 || port > 0xffff) fail(`preferred_address port ${port} is not a 16-bit port`);
    }
    // RFC 9000 §18.2: a server MUST NOT include a zero-length connection ID in preferred_address.
    if (pa.connectionId.length === 0) fail('preferred_address carries a zero-length connection ID');
    checkConnectionId(pa.connectionId, 'preferred_address connection ID', fail);
    if (pa.statelessResetToken.length !== STATELESS_RESET_TOKEN_LENGTH) {
      fail(`preferred_address stateless reset token is ${pa.statelessResetToken.length} bytes, not ${STATELESS_RESET_TOKEN_LENGTH}`);
    }
    // RFC 9000 §18.2: a server that chooses a zero-length connection ID MUST NOT provide a
    // preferred address.
    if (p.initialSourceConnectionId !== undefined && p.initialSourceConnectionId.length === 0) {
      fail('preferred_address sent by a server that uses a zero-length connection ID');
    }
  }
  const vi = p.versionInformation;
  if (vi !== undefined) {
    const isVersion = (v: number): boolean => Number.isInteger(v) && v >= 0 && v <= 0xffff_ffff;
    // RFC 9368 §4: a Chosen Version or an Available Version equal to zero is a parsing failure.
    if (!isVersion(vi.chosenVersion) || vi.chosenVersion === 0) {
      fail(`version_information chosen version ${vi.chosenVersion} is invalid`);
    }
    for (const v of vi.availableVersions) {
      if (!isVersion(v) || v === 0) fail(`version_information available version ${v} is invalid`);
    }
    // RFC 9368 §4: a server MUST treat a client's Chosen Version missing from its Available
    // Versions as a parsing failure.
    if (sender === 'client' && !vi.availableVersions.includes(vi.chosenVersion)) {
      fail(`version_information from a client lacks its chosen version 0x${vi.chosenVersion.toString(16)} in the available versions`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

/** One pass over the parameters to send; run against a sizing sink and a writing sink. */
interface ParameterSink {
  varint(id: number, value: number): void;
  bytes(id: number, value: Uint8Array): void;
  empty(id: number): void;
  preferredAddress(id: number, pa: PreferredAddress): void;
  versionInformation(id: number, vi: VersionInformation): void;
}

function preferredAddressLength(pa: PreferredAddress): number {
  // RFC 9000 §18.2 Figure 22: 4 + 2 + 16 + 2 + 1 + CID + 16.
  return 41 + pa.connectionId.length;
}

/** Our own parameters break a rule: a bug of ours, INTERNAL_ERROR. */
function refuseToEncode(reason: string): never {
  throw new QuicError(TransportErrorCode.INTERNAL_ERROR, `refusing to encode transport parameters: ${reason}`);
}

function emitParameters(p: TransportParameters, options: WriteTransportParametersOptions, sink: ParameterSink): void {
  checkValues(p, options.role, refuseToEncode);
  // RFC 9000 §7.3: a server always sends original_destination_connection_id.
  if (options.role === 'server' && p.originalDestinationConnectionId === undefined) {
    refuseToEncode('a server must send original_destination_connection_id');
  }
  // RFC 9000 §7.3: each endpoint sends initial_source_connection_id.
  if (p.initialSourceConnectionId === undefined) refuseToEncode('initial_source_connection_id is required');
  const d = DEFAULT_TRANSPORT_PARAMETERS;
  // Presence matters for connection IDs, tokens, version_information, max_datagram_frame_size
  // and the zero-length flags; numeric parameters equal to their default are omitted.
  if (p.originalDestinationConnectionId !== undefined) sink.bytes(ID.ORIGINAL_DESTINATION_CONNECTION_ID, p.originalDestinationConnectionId);
  if (p.maxIdleTimeout !== d.maxIdleTimeout) sink.varint(ID.MAX_IDLE_TIMEOUT, p.maxIdleTimeout);
  if (p.statelessResetToken !== undefined) sink.bytes(ID.STATELESS_RESET_TOKEN, p.statelessResetToken);
  if (p.maxUdpPayloadSize !== d.maxUdpPayloadSize) sink.varint(ID.MAX_UDP_PAYLOAD_SIZE, p.maxUdpPayloadSize);
  if (p.initialMaxData !== d.initialMaxData) sink.varint(ID.INITIAL_MAX_DATA, p.initialMaxData);
  if (p.initialMaxStreamDataBidiLocal !== d.initialMaxStreamDataBidiLocal) {
    sink.varint(ID.INITIAL_MAX_STREAM_DATA_BIDI_LOCAL, p.initialMaxStreamDataBidiLocal);
  }
  if (p.initialMaxStreamDataBidiRemote !== d.initialMaxStreamDataBidiRemote) {
    sink.varint(ID.INITIAL_MAX_STREAM_DATA_BIDI_REMOTE, p.initialMaxStreamDataBidiRemote);
  }
  if (p.initialMaxStreamDataUni !== d.initialMaxStreamDataUni) sink.varint(ID.INITIAL_MAX_STREAM_DATA_UNI, p.initialMaxStreamDataUni);
  if (p.initialMaxStreamsBidi !== d.initialMaxStreamsBidi) sink.varint(ID.INITIAL_MAX_STREAMS_BIDI, p.initialMaxStreamsBidi);
  if (p.initialMaxStreamsUni !== d.initialMaxStreamsUni) sink.varint(ID.INITIAL_MAX_STREAMS_UNI, p.initialMaxStreamsUni);
  if (p.ackDelayExponent !== d.ackDelayExponent) sink.varint(ID.ACK_DELAY_EXPONENT, p.ackDelayExponent);
  if (p.maxAckDelay !== d.maxAckDelay) sink.varint(ID.MAX_ACK_DELAY, p.maxAckDelay);
  if (p.disableActiveMigration) sink.empty(ID.DISABLE_ACTIVE_MIGRATION);
  if (p.preferredAddress !== undefined) sink.preferredAddress(ID.PREFERRED_ADDRESS, p.preferredAddress);
  if (p.activeConnectionIdLimit !== d.activeConnectionIdLimit) sink.varint(ID.ACTIVE_CONNECTION_ID_LIMIT, p.activeConnectionIdLimit);
  sink.bytes(ID.INITIAL_SOURCE_CONNECTION_ID, p.initialSourceConnectionId);
  if (p.retrySourceConnectionId !== undefined) sink.bytes(ID.RETRY_SOURCE_CONNECTION_ID, p.retrySourceConnectionId);
  if (p.versionInformation !== undefined) sink.versionInformation(ID.VERSION_INFORMATION, p.versionInformation);
  if (p.maxDatagramFrameSize !== undefined) sink.varint(ID.MAX_DATAGRAM_FRAME_SIZE, p.maxDatagramFrameSize);
  if (p.greaseQuicBit) sink.empty(ID.GREASE_QUIC_BIT);
  const reserved = options.reserved;
  if (reserved !== undefined) {
    // RFC 9000 §18.1: reserved IDs are 31 * N + 27.
    if (!isReservedTransportParameterId(reserved.id)) refuseToEncode(`${reserved.id} is not a reserved transport parameter ID (31 * N + 27)`);
    sink.bytes(reserved.id, reserved.value);
  }
}

class SizeSink implements ParameterSink {
  size = 0;
  private add(id: number, length: number): void {
    this.size += varintSize(id) + varintSize(length) + length;
  }
  varint(id: number, value: number): void {
    this.add(id, varintSize(value));
  }
  bytes(id: number, value: Uint8Array): void {
    this.add(id, value.length);
  }
  empty(id: number): void {
    this.add(id, 0);
  }
  preferredAddress(id: number, pa: PreferredAddress): void {
    this.add(id, preferredAddressLength(pa));
  }
  versionInformation(id: number, vi: VersionInformation): void {
    this.add(id, 4 + 4 * vi.availableVersions.length);
  }
}

class WriteSink implements ParameterSink {
  constructor(
    private readonly buf: Uint8Array,
    public offset: number,
  ) {}
  private header(id: number, length: number): void {
    this.offset = writeVarint(this.buf, this.offset, id);
    this.offset = writeVarint(this.buf, this.offset, length);
  }
  private raw(bytes: Uint8Array): void {
    this.buf.set(bytes, this.offset);
    this.offset += bytes.length;
  }
  private u16(v: number): void {
    this.buf[this.offset++] = v >>> 8;
    this.buf[this.offset++] = v & 0xff;
  }
  private u32(v: number): void {
    this.u16(v >>> 16);
    this.u16(v & 0xffff);
  }
  varint(id: number, value: number): void {
    this.header(id, varintSize(value));
    this.offset = writeVarint(this.buf, this.offset, value);
  }
  bytes(id: number, value: Uint8Array): void {
    this.header(id, value.length);
    this.raw(value);
  }
  empty(id: number): void {
    this.header(id, 0);
  }
  preferredAddress(id: number, pa: PreferredAddress): void {
    // RFC 9000 §18.2 Figure 22.
    this.header(id, preferredAddressLength(pa));
    this.raw(pa.ipv4Address);
    this.u16(pa.ipv4Port);
    this.raw(pa.ipv6Address);
    this.u16(pa.ipv6Port);
    this.buf[this.offset++] = pa.connectionId.length;
    this.raw(pa.connectionId);
    this.raw(pa.statelessResetToken);
  }
  versionInformation(id: number, vi: VersionInformation): void {
    // RFC 9368 §3: Chosen Version (32), Available Versions (32) ...
    this.header(id, 4 + 4 * vi.availableVersions.length);
    this.u32(vi.chosenVersion);
    for (const v of vi.availableVersions) this.u32(v);
  }
}

/**
 * Exact encoded size of `params` as {@link writeTransportParameters} writes them. Throws a
 * QuicError with INTERNAL_ERROR for parameters we must not send (see {@link encodeTransportParameters}).
 */
export function transportParametersSize(params: TransportParameters, options: WriteTransportParametersOptions): number {
  const sink = new SizeSink();
  emitParameters(params, options, sink);
  return sink.size;
}

/**
 * Writes `params` (RFC 9000 §18) at `offset` in `buf` and returns the offset after them. The
 * caller guarantees room ({@link transportParametersSize}). Throws a QuicError with
 * INTERNAL_ERROR, before writing anything, for parameters we must not send.
 */
export function writeTransportParameters(
  buf: Uint8Array,
  offset: number,
  params: TransportParameters,
  options: WriteTransportParametersOptions,
): number {
  // Validate and size first, so that a refused set writes nothing.
  const size = transportParametersSize(params, options);
  if (offset < 0 || offset + size > buf.length) {
    throw new QuicError(TransportErrorCode.INTERNAL_ERROR, `transport parameters need ${size} bytes at offset ${offset}, buffer has ${buf.length}`);
  }
  const sink = new WriteSink(buf, offset);
  emitParameters(params, options, sink);
  return sink.offset;
}

/**
 * Encodes our transport parameters for the quic_transport_parameters extension (RFC 9000 §18).
 *
 * Numeric parameters equal to their default are omitted; connection IDs, tokens,
 * preferred_address, version_information, max_datagram_frame_size and the zero-length flags are
 * sent whenever set. With `grease`, one random reserved parameter is appended (RFC 9000 §18.1).
 *
 * Throws a QuicError with INTERNAL_ERROR (our bug, not the peer's) when the parameters break a
 * rule: a client including a server-only parameter (RFC 9000 §18.2), a missing
 * initial_source_connection_id (or, for a server, original_destination_connection_id; RFC 9000
 * §7.3), any value the peer would have to reject (see {@link decodeTransportParameters}), or an
 * integer that is not a varint of at most 2^53−1.
 */
export function encodeTransportParameters(params: TransportParameters, options: EncodeTransportParametersOptions): Uint8Array {
  const writeOptions: WriteTransportParametersOptions = options.grease
    ? { role: options.role, reserved: randomReservedTransportParameter() }
    : { role: options.role };
  const out = new Uint8Array(transportParametersSize(params, writeOptions));
  writeTransportParameters(out, 0, params, writeOptions);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

const MAX_SAFE_BIG = BigInt(Number.MAX_SAFE_INTEGER);

function saturate(v: bigint): number {
  return v > MAX_SAFE_BIG ? Number.MAX_SAFE_INTEGER : Number(v);
}

/** Reads the value of an integer parameter: one varint filling the whole value (RFC 9000 §18.2). */
function readIntegerValue(v: Reader, name: string): bigint {
  const start = v.pos;
  const value = v.varintBig(name);
  if (!v.done) {
    v.fail(`${name} has length ${v.end - start} but its varint takes ${v.pos - start} byte(s)`);
  }
  return value;
}

function readEmptyValue(v: Reader, name: string): void {
  if (!v.done) v.fail(`${name} must be zero-length, got ${v.remaining} byte(s)`);
}

function readPreferredAddress(v: Reader): PreferredAddress {
  // RFC 9000 §18.2 Figure 22.
  const ipv4Address = v.take(4, 'preferred_address IPv4 address');
  const ipv4Port = v.u16('preferred_address IPv4 port');
  const ipv6Address = v.take(16, 'preferred_address IPv6 address');
  const ipv6Port = v.u16('preferred_address IPv6 port');
  const cidLength = v.u8('preferred_address connection ID length');
  if (cidLength > MAX_CONNECTION_ID_LENGTH) {
    v.fail(`preferred_address connection ID length ${cidLength} is longer than ${MAX_CONNECTION_ID_LENGTH}`);
  }
  const connectionId = v.take(cidLength, 'preferred_address connection ID');
  const statelessResetToken = v.take(STATELESS_RESET_TOKEN_LENGTH, 'preferred_address stateless reset token');
  if (!v.done) v.fail(`preferred_address has ${v.remaining} byte(s) after its stateless reset token`);
  return { ipv4Address, ipv4Port, ipv6Address, ipv6Port, connectionId, statelessResetToken };
}

function readVersionInformation(v: Reader): VersionInformation {
  // RFC 9368 §3–§4: a non-empty sequence of 32-bit versions; a length that is too short or not
  // divisible by four is a parsing failure (TRANSPORT_PARAMETER_ERROR in QUIC v1).
  const length = v.remaining;
  if (length < 4 || length % 4 !== 0) {
    v.fail(`version_information length ${length} is not a non-zero multiple of 4`);
  }
  const chosenVersion = v.u32('version_information chosen version');
  const availableVersions: number[] = [];
  while (!v.done) availableVersions.push(v.u32('version_information available version'));
  return { chosenVersion, availableVersions };
}

function checkStreamsLimit(value: bigint, name: string, v: Reader): number {
  // RFC 9000 §4.6: a max_streams transport parameter above 2^60 is a TRANSPORT_PARAMETER_ERROR.
  if (value > MAX_STREAMS_LIMIT) v.fail(`${name} ${value} is above 2^60`);
  return saturate(value);
}

/**
 * Decodes a peer's transport parameters (RFC 9000 §18) and validates every rule that concerns
 * the parameters alone. Unknown and reserved parameters (RFC 9000 §7.4.2, §18.1) are skipped.
 *
 * Throws a {@link QuicError} with TRANSPORT_PARAMETER_ERROR (RFC 9000 §7.4) for: truncation or a
 * value whose length does not match its encoding; a parameter ID seen twice (any ID, unknown ones
 * included; RFC 9000 §7.4); a server-only parameter sent by a client (RFC 9000 §18.2); an invalid
 * value (max_udp_payload_size < 1200, ack_delay_exponent > 20, max_ack_delay ≥ 2^14,
 * active_connection_id_limit < 2, initial_max_streams_* > 2^60, a stateless reset token that is
 * not 16 bytes, a connection ID over 20 bytes, a malformed preferred_address or one with a
 * zero-length connection ID or from a server whose initial_source_connection_id is empty,
 * non-empty disable_active_migration or grease_quic_bit, version_information not a non-zero
 * multiple of 4 bytes, with a zero version, or, from a client, without its chosen version among
 * its available versions — RFC 9368 §4).
 *
 * Checks against the connection (RFC 9000 §7.3) are separate: {@link validatePeerConnectionIds}.
 * Byte strings in the result are views into `bytes`.
 */
export function decodeTransportParameters(bytes: Uint8Array, options: DecodeTransportParametersOptions): TransportParameters {
  const r = new Reader(bytes, 0, bytes.length, TP_ERROR);
  const p: Mutable<TransportParameters> = { ...DEFAULT_TRANSPORT_PARAMETERS };
  const seen = new Set<bigint>();
  while (!r.done) {
    const id = r.varintBig('transport parameter ID');
    const name = parameterName(id);
    const length = r.varint(`${name} length`);
    if (length > r.remaining) r.fail(`truncated ${name}: length ${length}, ${r.remaining} byte(s) left`);
    const v = new Reader(bytes, r.pos, r.pos + length, TP_ERROR);
    r.pos += length;
    // RFC 9000 §7.4: an endpoint MUST NOT send a parameter more than once; we refuse any repeat.
    if (seen.has(id)) r.fail(`duplicate ${name}`);
    seen.add(id);
    if (id > 0xffffn) continue; // unknown or reserved: ignored (RFC 9000 §7.4.2, §18.1)
    const n = Number(id);
    // RFC 9000 §18.2: a server MUST treat a server-only parameter from a client as an error.
    if (options.sender === 'client' && SERVER_ONLY.has(n)) r.fail(`client sent server-only parameter ${name}`);
    switch (n) {
      case ID.ORIGINAL_DESTINATION_CONNECTION_ID:
        p.originalDestinationConnectionId = v.rest();
        break;
      case ID.MAX_IDLE_TIMEOUT:
        p.maxIdleTimeout = saturate(readIntegerValue(v, name));
        break;
      case ID.STATELESS_RESET_TOKEN:
        p.statelessResetToken = v.rest();
        break;
      case ID.MAX_UDP_PAYLOAD_SIZE:
        p.maxUdpPayloadSize = saturate(readIntegerValue(v, name));
        break;
      case ID.INITIAL_MAX_DATA:
        p.initialMaxData = saturate(readIntegerValue(v, name));
        break;
      case ID.INITIAL_MAX_STREAM_DATA_BIDI_LOCAL:
        p.initialMaxStreamDataBidiLocal = saturate(readIntegerValue(v, name));
        break;
      case ID.INITIAL_MAX_STREAM_DATA_BIDI_REMOTE:
        p.initialMaxStreamDataBidiRemote = saturate(readIntegerValue(v, name));
        break;
      case ID.INITIAL_MAX_STREAM_DATA_UNI:
        p.initialMaxStreamDataUni = saturate(readIntegerValue(v, name));
        break;
      case ID.INITIAL_MAX_STREAMS_BIDI:
        p.initialMaxStreamsBidi = checkStreamsLimit(readIntegerValue(v, name), name, v);
        break;
      case ID.INITIAL_MAX_STREAMS_UNI:
        p.initialMaxStreamsUni = checkStreamsLimit(readIntegerValue(v, name), name, v);
        break;
      case ID.ACK_DELAY_EXPONENT: {
        const value = readIntegerValue(v, name);
        // RFC 9000 §18.2: values above 20 are invalid (checked exactly, before any saturation).
        if (value > BigInt(MAX_ACK_DELAY_EXPONENT)) v.fail(`ack_delay_exponent ${value} is above ${MAX_ACK_DELAY_EXPONENT}`);
        p.ackDelayExponent = Number(value);
        break;
      }
      case ID.MAX_ACK_DELAY: {
        const value = readIntegerValue(v, name);
        // RFC 9000 §18.2: values of 2^14 or greater are invalid.
        if (value >= BigInt(MAX_ACK_DELAY_LIMIT)) v.fail(`max_ack_delay ${value} is not below 2^14`);
        p.maxAckDelay = Number(value);
        break;
      }
      case ID.DISABLE_ACTIVE_MIGRATION:
        // RFC 9000 §18.2: a zero-length value.
        readEmptyValue(v, name);
        p.disableActiveMigration = true;
        break;
      case ID.PREFERRED_ADDRESS:
        p.preferredAddress = readPreferredAddress(v);
        break;
      case ID.ACTIVE_CONNECTION_ID_LIMIT:
        p.activeConnectionIdLimit = saturate(readIntegerValue(v, name));
        break;
      case ID.INITIAL_SOURCE_CONNECTION_ID:
        p.initialSourceConnectionId = v.rest();
        break;
      case ID.RETRY_SOURCE_CONNECTION_ID:
        p.retrySourceConnectionId = v.rest();
        break;
      case ID.VERSION_INFORMATION:
        p.versionInformation = readVersionInformation(v);
        break;
      case ID.MAX_DATAGRAM_FRAME_SIZE:
        // RFC 9221 §3: a variable-length integer.
        p.maxDatagramFrameSize = saturate(readIntegerValue(v, name));
        break;
      case ID.GREASE_QUIC_BIT:
        // RFC 9287 §3: a zero-length value; anything else is a TRANSPORT_PARAMETER_ERROR.
        readEmptyValue(v, name);
        p.greaseQuicBit = true;
        break;
      default:
        break; // unknown or reserved: ignored (RFC 9000 §7.4.2, §18.1)
    }
  }
  checkValues(p, options.sender, (reason) => {
    throw new QuicError(TP_ERROR, reason);
  });
  return p;
}

// ---------------------------------------------------------------------------------------------
// Checks against the connection
// ---------------------------------------------------------------------------------------------

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function hex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s.length === 0 ? '(empty)' : s;
}

/**
 * The connection IDs a peer's transport parameters must authenticate (RFC 9000 §7.3), as the
 * validating endpoint saw them on the wire.
 */
export type ExpectedPeerConnectionIds =
  | {
      /** The parameters come from the client: we are the server. */
      readonly sender: 'client';
      /** The Source Connection ID of the client's first Initial packet we received. */
      readonly initialSourceConnectionId: Uint8Array;
    }
  | {
      /** The parameters come from the server: we are the client. */
      readonly sender: 'server';
      /** The Destination Connection ID of our first Initial packet (before any Retry). */
      readonly originalDestinationConnectionId: Uint8Array;
      /** The Source Connection ID of the server's first Initial packet we received. */
      readonly initialSourceConnectionId: Uint8Array;
      /** The Source Connection ID of the Retry packet we acted on; omitted when there was no Retry. */
      readonly retrySourceConnectionId?: Uint8Array;
    };

/**
 * Authenticates the handshake's connection IDs with the peer's transport parameters
 * (RFC 9000 §7.3). Throws a QuicError with TRANSPORT_PARAMETER_ERROR when:
 * - initial_source_connection_id is absent (either peer) or differs from the Source Connection
 *   ID of the peer's Initial packets;
 * - from a server: original_destination_connection_id is absent or differs from the Destination
 *   Connection ID of our first Initial; retry_source_connection_id is absent after a Retry,
 *   differs from the Retry's Source Connection ID, or is present although no Retry was received.
 */
export function validatePeerConnectionIds(params: TransportParameters, expected: ExpectedPeerConnectionIds): void {
  const fail = (reason: string): never => {
    throw new QuicError(TP_ERROR, reason);
  };
  const iscid = params.initialSourceConnectionId;
  // RFC 9000 §7.3: absence of initial_source_connection_id from either endpoint is an error.
  if (iscid === undefined) fail(`${expected.sender} did not send initial_source_connection_id`);
  else if (!bytesEqual(iscid, expected.initialSourceConnectionId)) {
    fail(`initial_source_connection_id ${hex(iscid)} does not match the Initial packets' Source Connection ID ${hex(expected.initialSourceConnectionId)}`);
  }
  if (expected.sender === 'client') return;
  const odcid = params.originalDestinationConnectionId;
  // RFC 9000 §7.3: absence of original_destination_connection_id from the server is an error.
  if (odcid === undefined) fail('server did not send original_destination_connection_id');
  else if (!bytesEqual(odcid, expected.originalDestinationConnectionId)) {
    fail(`original_destination_connection_id ${hex(odcid)} does not match our first Destination Connection ID ${hex(expected.originalDestinationConnectionId)}`);
  }
  const rscid = params.retrySourceConnectionId;
  const retry = expected.retrySourceConnectionId;
  if (retry === undefined) {
    // RFC 9000 §7.3: retry_source_connection_id present when no Retry packet was received.
    if (rscid !== undefined) fail('server sent retry_source_connection_id but no Retry was received');
  } else if (rscid === undefined) {
    // RFC 9000 §7.3: absence of retry_source_connection_id after a Retry.
    fail('server did not send retry_source_connection_id after a Retry');
  } else if (!bytesEqual(rscid, retry)) {
    fail(`retry_source_connection_id ${hex(rscid)} does not match the Retry's Source Connection ID ${hex(retry)}`);
  }
}

/**
 * The server parameters a client applies to 0-RTT from remembered ones (RFC 9000 §7.4.1): the
 * client MUST NOT use remembered ack_delay_exponent, max_ack_delay, initial_source_connection_id,
 * original_destination_connection_id, preferred_address, retry_source_connection_id and
 * stateless_reset_token; those take their defaults until the server's new values arrive. All
 * other parameters, max_datagram_frame_size included (RFC 9221 §3), are kept.
 */
export function zeroRttTransportParameters(remembered: TransportParameters): TransportParameters {
  const d = DEFAULT_TRANSPORT_PARAMETERS;
  return {
    ...remembered,
    ackDelayExponent: d.ackDelayExponent,
    maxAckDelay: d.maxAckDelay,
    initialSourceConnectionId: undefined,
    originalDestinationConnectionId: undefined,
    preferredAddress: undefined,
    retrySourceConnectionId: undefined,
    statelessResetToken: undefined,
  };
}

/** The limits a server accepting 0-RTT must not reduce (RFC 9000 §7.4.1, RFC 9221 §3). */
const ZERO_RTT_LIMITS: ReadonlyArray<readonly [string, (p: TransportParameters) => number]> = [
  ['active_connection_id_limit', (p) => p.activeConnectionIdLimit],
  ['initial_max_data', (p) => p.initialMaxData],
  ['initial_max_stream_data_bidi_local', (p) => p.initialMaxStreamDataBidiLocal],
  ['initial_max_stream_data_bidi_remote', (p) => p.initialMaxStreamDataBidiRemote],
  ['initial_max_stream_data_uni', (p) => p.initialMaxStreamDataUni],
  ['initial_max_streams_bidi', (p) => p.initialMaxStreamsBidi],
  ['initial_max_streams_uni', (p) => p.initialMaxStreamsUni],
  // RFC 9221 §3: absent counts as 0 (DATAGRAM not supported).
  ['max_datagram_frame_size', (p) => p.maxDatagramFrameSize ?? 0],
];

/**
 * The names of the parameters whose value in `current` is smaller than in `remembered`, among
 * those a server that accepts 0-RTT MUST NOT reduce: active_connection_id_limit,
 * initial_max_data, initial_max_stream_data_*, initial_max_streams_* (RFC 9000 §7.4.1) and
 * max_datagram_frame_size (RFC 9221 §3). A server accepts 0-RTT only when this is empty. (The
 * server's option to also reject 0-RTT for a smaller max_idle_timeout or max_udp_payload_size,
 * RFC 9000 §7.4.1, is a policy left to the caller.)
 */
export function zeroRttLimitReductions(remembered: TransportParameters, current: TransportParameters): string[] {
  const reduced: string[] = [];
  for (const [name, get] of ZERO_RTT_LIMITS) if (get(current) < get(remembered)) reduced.push(name);
  return reduced;
}

/**
 * Client-side check after the server accepted 0-RTT: the server's new parameters must not reduce
 * any limit the client used with the remembered ones (RFC 9000 §7.4.1). Throws a QuicError with
 * PROTOCOL_VIOLATION (the code RFC 9221 §3 mandates for max_datagram_frame_size; RFC 9000 names
 * none for the other limits and this uses the same) naming every reduced parameter.
 */
export function validateZeroRttAcceptedParameters(remembered: TransportParameters, received: TransportParameters): void {
  const reduced = zeroRttLimitReductions(remembered, received);
  if (reduced.length > 0) {
    throw new QuicError(TransportErrorCode.PROTOCOL_VIOLATION, `server accepted 0-RTT but reduced ${reduced.join(', ')}`);
  }
}
