/**
 * The TLS 1.3 cipher suites QUIC can use with the crypto providers (RFC 8446 §B.4, RFC 9001 §5.3),
 * mapped to the provider's AEAD and hash algorithms.
 *
 * TLS_AES_128_CCM_SHA256 is allowed by QUIC but implemented by no provider;
 * TLS_AES_128_CCM_8_SHA256 MUST NOT be negotiated by QUIC (RFC 9001 §5.3). Neither is listed.
 *
 * @module
 */
import { AEAD_KEY_LENGTH } from '../crypto/common.js';
import { hashLength } from '../crypto/hkdf.js';
import type { AeadAlgorithm, HashAlgorithm } from '../crypto/provider.js';
import { TlsAlert, TlsAlertError } from './alerts.js';

/** Cipher suite code points (RFC 8446 §B.4). */
export const CipherSuite = {
  TLS_AES_128_GCM_SHA256: 0x1301,
  TLS_AES_256_GCM_SHA384: 0x1302,
  TLS_CHACHA20_POLY1305_SHA256: 0x1303,
} as const;

/** A {@link CipherSuite} value. */
export type CipherSuiteValue = (typeof CipherSuite)[keyof typeof CipherSuite];

/** What a cipher suite means to the key schedule and to packet protection. */
export interface CipherSuiteParams {
  /** The code point. */
  readonly code: CipherSuiteValue;
  /** The RFC name, e.g. `TLS_AES_128_GCM_SHA256`. */
  readonly name: keyof typeof CipherSuite;
  /** The AEAD protecting records (QUIC packets, RFC 9001 §5.3). */
  readonly aead: AeadAlgorithm;
  /** The hash of HKDF and of the transcript (RFC 8446 §7.1). */
  readonly hash: HashAlgorithm;
  /** AEAD key length in bytes (also the header-protection key length, RFC 9001 §5.4). */
  readonly keyLength: number;
  /** AEAD nonce / IV length in bytes: 12 for every suite (RFC 8446 §5.3, RFC 9001 §5.3). */
  readonly ivLength: 12;
  /** Hash.length in bytes. */
  readonly hashLength: 32 | 48;
}

function params(name: keyof typeof CipherSuite, aead: AeadAlgorithm, hash: HashAlgorithm): CipherSuiteParams {
  return { code: CipherSuite[name], name, aead, hash, keyLength: AEAD_KEY_LENGTH[aead], ivLength: 12, hashLength: hashLength(hash) };
}

/** Every supported suite, by code point. */
export const CIPHER_SUITES: ReadonlyMap<number, CipherSuiteParams> = new Map(
  [
    params('TLS_AES_128_GCM_SHA256', 'aes-128-gcm', 'sha256'),
    params('TLS_AES_256_GCM_SHA384', 'aes-256-gcm', 'sha384'),
    params('TLS_CHACHA20_POLY1305_SHA256', 'chacha20-poly1305', 'sha256'),
  ].map((p) => [p.code, p]),
);

/** The default preference order: every supported suite, AES-128-GCM first (mandatory to implement, RFC 8446 §9.1). */
export const DEFAULT_CIPHER_SUITES: readonly CipherSuiteValue[] = [
  CipherSuite.TLS_AES_128_GCM_SHA256,
  CipherSuite.TLS_AES_256_GCM_SHA384,
  CipherSuite.TLS_CHACHA20_POLY1305_SHA256,
];

/** The parameters of `code`, or `undefined` for a suite this stack does not implement (GREASE included). */
export function cipherSuiteParams(code: number): CipherSuiteParams | undefined {
  return CIPHER_SUITES.get(code);
}

/**
 * The parameters of the suite a server selected. A client that receives a suite it did not offer
 * aborts with illegal_parameter (RFC 8446 §4.1.3); `offered` are the suites of its ClientHello.
 */
export function requireOfferedCipherSuite(code: number, offered: readonly number[]): CipherSuiteParams {
  const p = CIPHER_SUITES.get(code);
  if (p === undefined || !offered.includes(code)) {
    throw new TlsAlertError(TlsAlert.illegal_parameter, `server selected cipher suite 0x${code.toString(16).padStart(4, '0')}, which was not offered`);
  }
  return p;
}

/**
 * Server-side selection (RFC 8446 §4.1.1): the first of `preferred` (the server's order) that the
 * client offered; unknown and GREASE suites in `offered` are ignored (RFC 8446 §4.1.2). `undefined`
 * when there is no overlap — the server then aborts with handshake_failure (RFC 8446 §4.1.1).
 */
export function selectCipherSuite(offered: readonly number[], preferred: readonly number[] = DEFAULT_CIPHER_SUITES): CipherSuiteParams | undefined {
  const client = new Set(offered);
  for (const code of preferred) {
    const p = CIPHER_SUITES.get(code);
    if (p !== undefined && client.has(code)) return p;
  }
  return undefined;
}
