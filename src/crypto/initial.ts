/**
 * Initial secrets (RFC 9001 §5.2, RFC 9369 §3.3.1): Initial packets are protected with keys
 * derived from the client's first Destination Connection ID and a version-specific salt, so any
 * on-path observer can remove that protection — it guards against off-path injection and
 * middlebox ossification only.
 *
 * @module
 */
import { QUIC_V1, QUIC_V2 } from '../wire/version.js';
import { UnsupportedVersionError } from './common.js';
import { hkdfExpandLabel } from './hkdf.js';
import type { CryptoProvider } from './provider.js';

/** RFC 9001 §5.2: initial_salt for QUIC version 1. */
export const INITIAL_SALT_V1: Uint8Array = Uint8Array.from([
  0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a,
]);

/** RFC 9369 §3.3.1: initial_salt for QUIC version 2. */
export const INITIAL_SALT_V2: Uint8Array = Uint8Array.from([
  0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9,
]);

/**
 * The Initial salt of `version`.
 *
 * @throws {@link UnsupportedVersionError} for a version other than 1 and 2.
 */
export function initialSalt(version: number): Uint8Array {
  if (version === QUIC_V1) return INITIAL_SALT_V1;
  if (version === QUIC_V2) return INITIAL_SALT_V2;
  throw new UnsupportedVersionError(version);
}

/** The secrets of the Initial encryption level (RFC 9001 §5.2). */
export interface InitialSecrets {
  /** initial_secret = HKDF-Extract(initial_salt, client_dst_connection_id). */
  readonly initialSecret: Uint8Array;
  /** client_initial_secret = HKDF-Expand-Label(initial_secret, "client in", "", 32). */
  readonly client: Uint8Array;
  /** server_initial_secret = HKDF-Expand-Label(initial_secret, "server in", "", 32). */
  readonly server: Uint8Array;
}

const EMPTY = new Uint8Array(0);

/**
 * Derives the Initial secrets from the Destination Connection ID of the client's first Initial
 * packet (RFC 9001 §5.2). The hash is SHA-256; the labels "client in" and "server in" are the
 * same in version 2 (RFC 9369 §3.3.2 changes only the "quic …" labels).
 *
 * @throws {@link UnsupportedVersionError} for a version other than 1 and 2.
 */
export function initialSecrets(provider: CryptoProvider, version: number, clientDcid: Uint8Array): InitialSecrets {
  const initialSecret = provider.hkdfExtract('sha256', initialSalt(version), clientDcid);
  return {
    initialSecret,
    client: hkdfExpandLabel(provider, 'sha256', initialSecret, 'client in', EMPTY, 32),
    server: hkdfExpandLabel(provider, 'sha256', initialSecret, 'server in', EMPTY, 32),
  };
}
