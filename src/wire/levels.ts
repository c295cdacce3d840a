/**
 * Encryption levels and packet number spaces (RFC 9000 §12.3, RFC 9001 §4).
 *
 * @module
 */

/** The four encryption levels a QUIC packet can be protected at. */
export type EncryptionLevel = 'initial' | 'zeroRtt' | 'handshake' | 'oneRtt';

/** The three packet number spaces (RFC 9000 §12.3): 0-RTT and 1-RTT share `application`. */
export type PacketNumberSpace = 'initial' | 'handshake' | 'application';

/** Encryption levels in the order their packets are coalesced into a datagram (RFC 9000 §12.2). */
export const ENCRYPTION_LEVELS: readonly EncryptionLevel[] = ['initial', 'zeroRtt', 'handshake', 'oneRtt'];

/** Packet number spaces in handshake order. */
export const PACKET_NUMBER_SPACES: readonly PacketNumberSpace[] = ['initial', 'handshake', 'application'];

/** The packet number space of an encryption level. */
export function spaceOf(level: EncryptionLevel): PacketNumberSpace {
  return level === 'initial' ? 'initial' : level === 'handshake' ? 'handshake' : 'application';
}
