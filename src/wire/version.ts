/**
 * QUIC version numbers (RFC 9000 §15, RFC 9369 §3.1).
 *
 * @module
 */

/** QUIC version 1, RFC 9000. */
export const QUIC_V1 = 0x0000_0001;
/** QUIC version 2, RFC 9369. */
export const QUIC_V2 = 0x6b33_43cf;
/** The versions this implementation speaks, most preferred first. */
export const SUPPORTED_VERSIONS: readonly number[] = [QUIC_V1, QUIC_V2];

/** A QUIC version this implementation speaks. */
export type QuicVersion = typeof QUIC_V1 | typeof QUIC_V2;

/** True for versions this implementation speaks. */
export function isSupportedVersion(version: number): version is QuicVersion {
  return version === QUIC_V1 || version === QUIC_V2;
}

/** True for the reserved versions 0x?a?a?a?a used to exercise version negotiation (RFC 9000 §15). */
export function isReservedVersion(version: number): boolean {
  return (version & 0x0f0f_0f0f) === 0x0a0a_0a0a;
}
