/**
 * Transport settings: their defaults, their validation, and the transport parameters a
 * connection announces from them (RFC 9000 §7.4, §18.2).
 *
 * A setting out of range is the application's mistake, never the peer's: it is refused when the
 * connection is created with a `RangeError` naming the field.
 *
 * @module
 */
import { MAX_CONNECTION_ID_LENGTH } from '../wire/header.js';
import {
  defaultTransportParameters,
  MAX_ACK_DELAY_EXPONENT,
  MAX_ACK_DELAY_LIMIT,
  MIN_ACTIVE_CONNECTION_ID_LIMIT,
  MIN_MAX_UDP_PAYLOAD_SIZE,
  type TransportParameters,
} from '../wire/transport-parameters.js';
import type { TransportSettings } from './connection-types.js';

/** The default transport settings (see each field of {@link TransportSettings}). Frozen. */
export const DEFAULT_TRANSPORT_SETTINGS: Readonly<TransportSettings> = Object.freeze({
  maxIdleTimeout: 30_000,
  handshakeTimeout: 10_000,
  initialMaxData: 1 << 20,
  initialMaxStreamDataBidiLocal: 256 * 1024,
  initialMaxStreamDataBidiRemote: 256 * 1024,
  initialMaxStreamDataUni: 256 * 1024,
  maxConnectionWindow: 16 << 20,
  maxStreamWindow: 6 << 20,
  maxStreamsBidi: 100,
  maxStreamsUni: 100,
  ackDelayExponent: 3,
  maxAckDelay: 25,
  activeConnectionIdLimit: 4,
  maxUdpPayloadSize: 65_527,
  maxDatagramFrameSize: 0,
  disableActiveMigration: true,
  greaseQuicBit: true,
  connectionIdLength: 8,
  initialRtt: 333,
  maxDatagramSize: 1200,
  pathMtuDiscovery: 'loopback',
  pathMtuUpperBound: 1452,
  keepAliveInterval: 0,
  streamSendBufferSize: 1 << 20,
  datagramSendQueueLength: 64,
  datagramReceiveQueueLength: 64,
  keyUpdatePackets: undefined,
});

/** Largest value a stream count limit may take (RFC 9000 §4.6: 2^60). */
const MAX_STREAMS = 2 ** 60;

function check(ok: boolean, field: keyof TransportSettings, value: unknown, rule: string): void {
  if (!ok) throw new RangeError(`transport setting ${field} = ${String(value)}: ${rule}`);
}

function isCount(v: number, max = Number.MAX_SAFE_INTEGER): boolean {
  return Number.isSafeInteger(v) && v >= 0 && v <= max;
}

/**
 * The settings of a connection: `overrides` on top of {@link DEFAULT_TRANSPORT_SETTINGS},
 * validated. `role` matters for one rule: a server needs connection IDs of at least 1 byte, or
 * the endpoint could not route the client's short header packets to it.
 *
 * @throws RangeError naming the first setting out of range.
 */
export function resolveTransportSettings(overrides: Partial<TransportSettings> | undefined, role: 'client' | 'server'): TransportSettings {
  const s: TransportSettings = { ...DEFAULT_TRANSPORT_SETTINGS };
  if (overrides !== undefined) {
    for (const [k, v] of Object.entries(overrides)) if (v !== undefined) (s as unknown as Record<string, unknown>)[k] = v;
  }
  check(isCount(s.maxIdleTimeout), 'maxIdleTimeout', s.maxIdleTimeout, 'a whole number of ms ≥ 0 (0: none)');
  check(Number.isFinite(s.handshakeTimeout) && s.handshakeTimeout > 0, 'handshakeTimeout', s.handshakeTimeout, 'a positive number of ms');
  for (const f of ['initialMaxData', 'initialMaxStreamDataBidiLocal', 'initialMaxStreamDataBidiRemote', 'initialMaxStreamDataUni'] as const) {
    check(isCount(s[f]), f, s[f], 'a byte count ≥ 0');
  }
  check(isCount(s.maxConnectionWindow) && s.maxConnectionWindow >= s.initialMaxData, 'maxConnectionWindow', s.maxConnectionWindow, 'a byte count ≥ initialMaxData');
  check(
    isCount(s.maxStreamWindow) && s.maxStreamWindow >= Math.max(s.initialMaxStreamDataBidiLocal, s.initialMaxStreamDataBidiRemote, s.initialMaxStreamDataUni),
    'maxStreamWindow',
    s.maxStreamWindow,
    'a byte count ≥ every initialMaxStreamData* setting',
  );
  // RFC 9000 §4.6: stream count limits are at most 2^60.
  check(isCount(s.maxStreamsBidi, MAX_STREAMS), 'maxStreamsBidi', s.maxStreamsBidi, 'a count in 0..2^60');
  check(isCount(s.maxStreamsUni, MAX_STREAMS), 'maxStreamsUni', s.maxStreamsUni, 'a count in 0..2^60');
  // RFC 9000 §18.2: ack_delay_exponent ≤ 20, max_ack_delay < 2^14, active_connection_id_limit ≥ 2,
  // max_udp_payload_size ≥ 1200.
  check(isCount(s.ackDelayExponent, MAX_ACK_DELAY_EXPONENT), 'ackDelayExponent', s.ackDelayExponent, `an integer in 0..${MAX_ACK_DELAY_EXPONENT}`);
  check(isCount(s.maxAckDelay, MAX_ACK_DELAY_LIMIT - 1), 'maxAckDelay', s.maxAckDelay, `an integer number of ms below 2^14`);
  check(
    isCount(s.activeConnectionIdLimit) && s.activeConnectionIdLimit >= MIN_ACTIVE_CONNECTION_ID_LIMIT,
    'activeConnectionIdLimit',
    s.activeConnectionIdLimit,
    `an integer ≥ ${MIN_ACTIVE_CONNECTION_ID_LIMIT}`,
  );
  check(isCount(s.maxUdpPayloadSize) && s.maxUdpPayloadSize >= MIN_MAX_UDP_PAYLOAD_SIZE, 'maxUdpPayloadSize', s.maxUdpPayloadSize, 'an integer ≥ 1200');
  check(isCount(s.maxDatagramFrameSize), 'maxDatagramFrameSize', s.maxDatagramFrameSize, 'a byte count ≥ 0 (0: DATAGRAM frames not supported)');
  check(
    isCount(s.connectionIdLength, MAX_CONNECTION_ID_LENGTH) && (role === 'client' || s.connectionIdLength >= 1),
    'connectionIdLength',
    s.connectionIdLength,
    role === 'client' ? 'an integer in 0..20' : 'an integer in 1..20 for a server (its endpoint routes by connection ID)',
  );
  check(Number.isFinite(s.initialRtt) && s.initialRtt > 0, 'initialRtt', s.initialRtt, 'a positive number of ms');
  // RFC 9000 §14: QUIC needs paths carrying at least 1200-byte datagrams.
  check(isCount(s.maxDatagramSize) && s.maxDatagramSize >= 1200 && s.maxDatagramSize <= 65_527, 'maxDatagramSize', s.maxDatagramSize, 'an integer in 1200..65527');
  check(typeof s.pathMtuDiscovery === 'boolean' || s.pathMtuDiscovery === 'loopback', 'pathMtuDiscovery', s.pathMtuDiscovery, "true, false or 'loopback'");
  // RFC 9000 §18.2: 65527 is the largest max_udp_payload_size.
  check(isCount(s.pathMtuUpperBound) && s.pathMtuUpperBound >= 1200 && s.pathMtuUpperBound <= 65_527, 'pathMtuUpperBound', s.pathMtuUpperBound, 'an integer in 1200..65527');
  check(Number.isFinite(s.keepAliveInterval) && s.keepAliveInterval >= 0, 'keepAliveInterval', s.keepAliveInterval, 'a number of ms ≥ 0 (0: never)');
  check(isCount(s.streamSendBufferSize) && s.streamSendBufferSize >= 1, 'streamSendBufferSize', s.streamSendBufferSize, 'a byte count ≥ 1');
  check(isCount(s.datagramSendQueueLength) && s.datagramSendQueueLength >= 1, 'datagramSendQueueLength', s.datagramSendQueueLength, 'a count ≥ 1');
  check(isCount(s.datagramReceiveQueueLength) && s.datagramReceiveQueueLength >= 1, 'datagramReceiveQueueLength', s.datagramReceiveQueueLength, 'a count ≥ 1');
  if (s.keyUpdatePackets !== undefined) {
    check(isCount(s.keyUpdatePackets) && s.keyUpdatePackets >= 1, 'keyUpdatePackets', s.keyUpdatePackets, 'a packet count ≥ 1');
  }
  return Object.freeze(s);
}

/** The connection IDs a connection's transport parameters carry (RFC 9000 §7.3). */
export interface TransportParameterConnectionIds {
  /** initial_source_connection_id: the Source Connection ID of our first Initial packet. */
  readonly initialSource: Uint8Array;
  /** Server: original_destination_connection_id, the DCID of the client's first Initial. */
  readonly originalDestination?: Uint8Array;
  /** Server after a Retry: retry_source_connection_id. */
  readonly retrySource?: Uint8Array;
  /** Server: the stateless_reset_token of the connection ID with sequence 0 (RFC 9000 §10.3). */
  readonly statelessResetToken?: Uint8Array;
}

/**
 * The transport parameters announced for `settings` (RFC 9000 §18.2): flow control and stream
 * limits, idle timeout, ACK parameters, connection ID limit, max_udp_payload_size,
 * max_datagram_frame_size (only when non-zero, RFC 9221 §3), disable_active_migration,
 * grease_quic_bit (RFC 9287), and the connection IDs of `ids` (server-only ones only for a server).
 */
export function localTransportParameters(settings: TransportSettings, role: 'client' | 'server', ids: TransportParameterConnectionIds): TransportParameters {
  return defaultTransportParameters({
    maxIdleTimeout: settings.maxIdleTimeout,
    maxUdpPayloadSize: settings.maxUdpPayloadSize,
    initialMaxData: settings.initialMaxData,
    initialMaxStreamDataBidiLocal: settings.initialMaxStreamDataBidiLocal,
    initialMaxStreamDataBidiRemote: settings.initialMaxStreamDataBidiRemote,
    initialMaxStreamDataUni: settings.initialMaxStreamDataUni,
    initialMaxStreamsBidi: settings.maxStreamsBidi,
    initialMaxStreamsUni: settings.maxStreamsUni,
    ackDelayExponent: settings.ackDelayExponent,
    maxAckDelay: settings.maxAckDelay,
    disableActiveMigration: settings.disableActiveMigration,
    activeConnectionIdLimit: settings.activeConnectionIdLimit,
    initialSourceConnectionId: ids.initialSource,
    maxDatagramFrameSize: settings.maxDatagramFrameSize > 0 ? settings.maxDatagramFrameSize : undefined,
    greaseQuicBit: settings.greaseQuicBit,
    // RFC 9000 §18.2: these are server-only.
    originalDestinationConnectionId: role === 'server' ? ids.originalDestination : undefined,
    retrySourceConnectionId: role === 'server' ? ids.retrySource : undefined,
    statelessResetToken: role === 'server' ? ids.statelessResetToken : undefined,
  });
}
