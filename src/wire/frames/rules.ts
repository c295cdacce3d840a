/**
 * Frame classification: which packet types may carry a frame (RFC 9000 §12.4 Table 3, §12.5;
 * RFC 9221 §4), which frames elicit acknowledgments and which count toward bytes in flight
 * (RFC 9002 §2), and the wire type an in-memory frame encodes to.
 *
 * @module
 */
import type { EncryptionLevel } from '../levels.js';
import {
  FrameType,
  STREAM_FIN_BIT,
  STREAM_LEN_BIT,
  STREAM_OFF_BIT,
  type Frame,
  type FrameKind,
} from './types.js';

// Bits of the "Pkts" column of RFC 9000 §12.4 Table 3.
const I = 1;
const Z = 2; // 0-RTT
const H = 4;
const O = 8; // 1-RTT

const levelBit: Record<EncryptionLevel, number> = { initial: I, zeroRtt: Z, handshake: H, oneRtt: O };

/**
 * Permitted packet types per frame type, indexed by type value (0x00–0x31); 0 = unknown type.
 *
 * RFC 9000 §12.4 Table 3, tightened for 0-RTT by §12.5: "it is not possible to send the following
 * frames in 0-RTT packets: ACK, CRYPTO, HANDSHAKE_DONE, NEW_TOKEN, PATH_RESPONSE, and
 * RETIRE_CONNECTION_ID. A server MAY treat receipt of these frames in 0-RTT packets as a connection
 * error of type PROTOCOL_VIOLATION." Table 3 lists RETIRE_CONNECTION_ID as __01; we apply §12.5.
 */
const permitted = new Uint8Array(0x32);
permitted[FrameType.PADDING] = I | H | Z | O;
permitted[FrameType.PING] = I | H | Z | O;
permitted[FrameType.ACK] = I | H | O;
permitted[FrameType.ACK_ECN] = I | H | O;
permitted[FrameType.RESET_STREAM] = Z | O;
permitted[FrameType.STOP_SENDING] = Z | O;
permitted[FrameType.CRYPTO] = I | H | O;
permitted[FrameType.NEW_TOKEN] = O;
for (let t: number = FrameType.STREAM; t <= FrameType.STREAM_MAX; t++) permitted[t] = Z | O;
permitted[FrameType.MAX_DATA] = Z | O;
permitted[FrameType.MAX_STREAM_DATA] = Z | O;
permitted[FrameType.MAX_STREAMS_BIDI] = Z | O;
permitted[FrameType.MAX_STREAMS_UNI] = Z | O;
permitted[FrameType.DATA_BLOCKED] = Z | O;
permitted[FrameType.STREAM_DATA_BLOCKED] = Z | O;
permitted[FrameType.STREAMS_BLOCKED_BIDI] = Z | O;
permitted[FrameType.STREAMS_BLOCKED_UNI] = Z | O;
permitted[FrameType.NEW_CONNECTION_ID] = Z | O;
permitted[FrameType.RETIRE_CONNECTION_ID] = O; // §12.5, see above
permitted[FrameType.PATH_CHALLENGE] = Z | O;
permitted[FrameType.PATH_RESPONSE] = O;
// "ih01": only the transport variant 0x1c may appear in Initial and Handshake packets.
permitted[FrameType.CONNECTION_CLOSE] = I | H | Z | O;
permitted[FrameType.CONNECTION_CLOSE_APP] = Z | O;
permitted[FrameType.HANDSHAKE_DONE] = O;
// RFC 9221 §4: DATAGRAM frames are protected by 0-RTT or 1-RTT keys only.
permitted[FrameType.DATAGRAM] = Z | O;
permitted[FrameType.DATAGRAM_LEN] = Z | O;

/** True when `frameType` is a frame type this implementation understands (RFC 9000 §12.4, RFC 9221 §4). */
export function isKnownFrameType(frameType: number): boolean {
  // A fractional or out-of-range index reads `undefined` from the typed array.
  return (permitted[frameType] ?? 0) !== 0;
}

/**
 * True when a frame of type `frameType` may appear in a packet protected at `level`
 * (RFC 9000 §12.4 Table 3 with the 0-RTT restrictions of §12.5; RFC 9221 §4 for DATAGRAM).
 * Unknown types are never allowed.
 */
export function frameAllowedIn(frameType: number, level: EncryptionLevel): boolean {
  return ((permitted[frameType] ?? 0) & levelBit[level]) !== 0;
}

/**
 * True when a frame of this kind is ack-eliciting: every frame except ACK, PADDING and
 * CONNECTION_CLOSE (RFC 9002 §2; RFC 9000 §12.4 Table 3 "N").
 */
export function isAckEliciting(frame: Frame | FrameKind): boolean {
  const kind = typeof frame === 'string' ? frame : frame.kind;
  return kind !== 'ack' && kind !== 'padding' && kind !== 'connectionClose';
}

/**
 * True when a packet carrying this frame counts toward bytes in flight: ack-eliciting frames and
 * PADDING (RFC 9002 §2 "In-flight packets"; ACK and CONNECTION_CLOSE alone do not count).
 */
export function countsInFlight(frame: Frame | FrameKind): boolean {
  const kind = typeof frame === 'string' ? frame : frame.kind;
  return kind !== 'ack' && kind !== 'connectionClose';
}

/**
 * The Frame Type value that `encodeFrame` writes for `frame`: flag bits included
 * (STREAM's OFF only when `offset > 0`; LEN unless `explicitLength === false`).
 */
export function frameTypeOf(frame: Frame): number {
  switch (frame.kind) {
    case 'padding':
      return FrameType.PADDING;
    case 'ping':
      return FrameType.PING;
    case 'ack':
      return frame.ecn === undefined ? FrameType.ACK : FrameType.ACK_ECN;
    case 'resetStream':
      return FrameType.RESET_STREAM;
    case 'stopSending':
      return FrameType.STOP_SENDING;
    case 'crypto':
      return FrameType.CRYPTO;
    case 'newToken':
      return FrameType.NEW_TOKEN;
    case 'stream':
      return streamFrameType(frame.offset, frame.fin, frame.explicitLength !== false);
    case 'maxData':
      return FrameType.MAX_DATA;
    case 'maxStreamData':
      return FrameType.MAX_STREAM_DATA;
    case 'maxStreams':
      return frame.bidirectional ? FrameType.MAX_STREAMS_BIDI : FrameType.MAX_STREAMS_UNI;
    case 'dataBlocked':
      return FrameType.DATA_BLOCKED;
    case 'streamDataBlocked':
      return FrameType.STREAM_DATA_BLOCKED;
    case 'streamsBlocked':
      return frame.bidirectional ? FrameType.STREAMS_BLOCKED_BIDI : FrameType.STREAMS_BLOCKED_UNI;
    case 'newConnectionId':
      return FrameType.NEW_CONNECTION_ID;
    case 'retireConnectionId':
      return FrameType.RETIRE_CONNECTION_ID;
    case 'pathChallenge':
      return FrameType.PATH_CHALLENGE;
    case 'pathResponse':
      return FrameType.PATH_RESPONSE;
    case 'connectionClose':
      return frame.application ? FrameType.CONNECTION_CLOSE_APP : FrameType.CONNECTION_CLOSE;
    case 'handshakeDone':
      return FrameType.HANDSHAKE_DONE;
    case 'datagram':
      return frame.explicitLength === false ? FrameType.DATAGRAM : FrameType.DATAGRAM_LEN;
  }
}

/** The STREAM frame type (0x08–0x0f) for these fields (RFC 9000 §19.8). */
export function streamFrameType(offset: number, fin: boolean, explicitLength: boolean): number {
  return FrameType.STREAM | (offset > 0 ? STREAM_OFF_BIT : 0) | (explicitLength ? STREAM_LEN_BIT : 0) | (fin ? STREAM_FIN_BIT : 0);
}
