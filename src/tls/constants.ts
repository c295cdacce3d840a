/**
 * TLS 1.3 code points: handshake message types, extension types, named groups, signature schemes,
 * protocol versions, PSK key exchange modes and the GREASE values of RFC 8701.
 *
 * Values are plain numbers grouped in `as const` objects so that they can be switched on and
 * compared with what is read off the wire; the `…Value` types are their unions.
 *
 * @module
 */
import type { KeyExchangeGroup } from '../crypto/provider.js';

/** Handshake message types (RFC 8446 §4, RFC 9846 §4). */
export const HandshakeType = {
  client_hello: 1,
  server_hello: 2,
  new_session_ticket: 4,
  end_of_early_data: 5,
  encrypted_extensions: 8,
  certificate: 11,
  certificate_request: 13,
  certificate_verify: 15,
  finished: 20,
  key_update: 24,
  /** The synthetic message that replaces ClientHello1 in the transcript after a HelloRetryRequest (RFC 8446 §4.4.1). */
  message_hash: 254,
} as const;

/** A {@link HandshakeType} value. */
export type HandshakeTypeValue = (typeof HandshakeType)[keyof typeof HandshakeType];

const handshakeTypeNames = new Map<number, string>(Object.entries(HandshakeType).map(([n, v]) => [v, n]));

/** The RFC name of a handshake type, e.g. `client_hello`, or `handshake_type_N` when unknown. */
export function handshakeTypeName(type: number): string {
  return handshakeTypeNames.get(type) ?? `handshake_type_${type}`;
}

/**
 * Extension types (RFC 8446 §4.2 and RFC 9846 §4.2; quic_transport_parameters from RFC 9001 §8.2).
 * Only the code points this stack names; any other value is carried as a raw extension.
 */
export const ExtensionType = {
  server_name: 0,
  max_fragment_length: 1,
  status_request: 5,
  supported_groups: 10,
  signature_algorithms: 13,
  use_srtp: 14,
  heartbeat: 15,
  application_layer_protocol_negotiation: 16,
  signed_certificate_timestamp: 18,
  client_certificate_type: 19,
  server_certificate_type: 20,
  padding: 21,
  compress_certificate: 27,
  record_size_limit: 28,
  delegated_credential: 34,
  supported_ekt_ciphers: 39,
  pre_shared_key: 41,
  early_data: 42,
  supported_versions: 43,
  cookie: 44,
  psk_key_exchange_modes: 45,
  certificate_authorities: 47,
  oid_filters: 48,
  post_handshake_auth: 49,
  signature_algorithms_cert: 50,
  key_share: 51,
  transparency_info: 52,
  external_id_hash: 55,
  external_session_id: 56,
  quic_transport_parameters: 57,
  ticket_request: 58,
  ech_outer_extensions: 0xfd00,
  encrypted_client_hello: 0xfe0d,
} as const;

/** An {@link ExtensionType} value. */
export type ExtensionTypeValue = (typeof ExtensionType)[keyof typeof ExtensionType];

const extensionTypeNames = new Map<number, string>(Object.entries(ExtensionType).map(([n, v]) => [v, n]));

/** The RFC name of an extension type, e.g. `key_share`, `GREASE(0x1a1a)` or `extension_N`. */
export function extensionTypeName(type: number): string {
  const name = extensionTypeNames.get(type);
  if (name !== undefined) return name;
  return isGrease16(type) ? `GREASE(0x${type.toString(16)})` : `extension_${type}`;
}

/** Named groups for key exchange (RFC 8446 §4.2.7). */
export const NamedGroup = {
  secp256r1: 0x0017,
  secp384r1: 0x0018,
  secp521r1: 0x0019,
  x25519: 0x001d,
  x448: 0x001e,
  ffdhe2048: 0x0100,
  ffdhe3072: 0x0101,
  ffdhe4096: 0x0102,
  ffdhe6144: 0x0103,
  ffdhe8192: 0x0104,
} as const;

/** A {@link NamedGroup} value. */
export type NamedGroupValue = (typeof NamedGroup)[keyof typeof NamedGroup];

/**
 * Length in bytes of a key_exchange value for the elliptic-curve groups whose encoding is fixed
 * (RFC 8446 §4.2.8.2: X25519 32, X448 56, NIST curves as an uncompressed point 1 + 2 × coordinate).
 */
export const ECDHE_KEY_EXCHANGE_LENGTH: ReadonlyMap<number, number> = new Map([
  [NamedGroup.secp256r1, 65],
  [NamedGroup.secp384r1, 97],
  [NamedGroup.secp521r1, 133],
  [NamedGroup.x25519, 32],
  [NamedGroup.x448, 56],
]);

/** The TLS code point of a {@link KeyExchangeGroup} the crypto providers implement. */
export function namedGroupOf(group: KeyExchangeGroup): NamedGroupValue {
  return group === 'x25519' ? NamedGroup.x25519 : NamedGroup.secp256r1;
}

/** The {@link KeyExchangeGroup} of a named group code point, or `undefined` when no provider implements it. */
export function keyExchangeGroupOf(namedGroup: number): KeyExchangeGroup | undefined {
  if (namedGroup === NamedGroup.x25519) return 'x25519';
  if (namedGroup === NamedGroup.secp256r1) return 'secp256r1';
  return undefined;
}

/**
 * SignatureScheme code points (RFC 8446 §4.2.3). Which of them this stack signs and verifies, and
 * which key each one binds, is decided in `signatures.ts`.
 */
export const SignatureScheme = {
  /** RSASSA-PKCS1-v1_5 with SHA-256: certificate signatures only (RFC 8446 §4.2.3). */
  rsa_pkcs1_sha256: 0x0401,
  /** RSASSA-PKCS1-v1_5 with SHA-384: certificate signatures only. */
  rsa_pkcs1_sha384: 0x0501,
  /** RSASSA-PKCS1-v1_5 with SHA-512: certificate signatures only. */
  rsa_pkcs1_sha512: 0x0601,
  /** ECDSA on P-256 with SHA-256. */
  ecdsa_secp256r1_sha256: 0x0403,
  /** ECDSA on P-384 with SHA-384. */
  ecdsa_secp384r1_sha384: 0x0503,
  /** ECDSA on P-521 with SHA-512. */
  ecdsa_secp521r1_sha512: 0x0603,
  /** RSASSA-PSS, MGF1 and salt = hash length, SHA-256; key with the rsaEncryption OID. */
  rsa_pss_rsae_sha256: 0x0804,
  /** RSASSA-PSS with SHA-384; key with the rsaEncryption OID. */
  rsa_pss_rsae_sha384: 0x0805,
  /** RSASSA-PSS with SHA-512; key with the rsaEncryption OID. */
  rsa_pss_rsae_sha512: 0x0806,
  /** PureEdDSA over edwards25519 (RFC 8032). */
  ed25519: 0x0807,
  /** PureEdDSA over edwards448: recognised by name, not supported by this implementation. */
  ed448: 0x0808,
  /** RSASSA-PSS with SHA-256; key with the RSASSA-PSS OID (RFC 5756). */
  rsa_pss_pss_sha256: 0x0809,
  /** RSASSA-PSS with SHA-384; key with the RSASSA-PSS OID. */
  rsa_pss_pss_sha384: 0x080a,
  /** RSASSA-PSS with SHA-512; key with the RSASSA-PSS OID. */
  rsa_pss_pss_sha512: 0x080b,
  /** Legacy RSASSA-PKCS1-v1_5 with SHA-1: certificate signatures only, deprecated. */
  rsa_pkcs1_sha1: 0x0201,
  /** Legacy ECDSA with SHA-1: certificate signatures only, deprecated. */
  ecdsa_sha1: 0x0203,
} as const;

/** A known {@link SignatureScheme} value. Functions that read the wire accept any 16-bit `number`. */
export type SignatureSchemeValue = (typeof SignatureScheme)[keyof typeof SignatureScheme];

/** Protocol versions as carried in legacy_version and supported_versions (RFC 8446 §4.1.2, §4.2.1). */
export const ProtocolVersion = {
  TLS12: 0x0303,
  TLS13: 0x0304,
} as const;

/** PSK key exchange modes (RFC 8446 §4.2.9). */
export const PskKeyExchangeMode = {
  psk_ke: 0,
  psk_dhe_ke: 1,
} as const;

/** KeyUpdateRequest values (RFC 8446 §4.6.3); QUIC forbids the message (RFC 9001 §6). */
export const KeyUpdateRequest = {
  update_not_requested: 0,
  update_requested: 1,
} as const;

/** ServerName name types (RFC 6066 §3). */
export const ServerNameType = {
  host_name: 0,
} as const;

/**
 * The ServerHello.random of a HelloRetryRequest: SHA-256("HelloRetryRequest") (RFC 8446 §4.1.3).
 * Treat as read-only.
 */
export const HELLO_RETRY_REQUEST_RANDOM: Uint8Array = Uint8Array.from([
  0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
  0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
]);

/**
 * The max_early_data_size a QUIC server puts in a NewSessionTicket early_data extension: the only
 * value allowed (RFC 9001 §4.6.1).
 */
export const QUIC_MAX_EARLY_DATA_SIZE = 0xffffffff;

/**
 * The 16 GREASE values for 16-bit code points: cipher suites, extensions, named groups,
 * signature algorithms and versions (RFC 8701 §2): 0x0A0A, 0x1A1A, …, 0xFAFA.
 */
export const GREASE_VALUES: readonly number[] = Array.from({ length: 16 }, (_, i) => ((i << 4) | 0x0a) * 0x101);

/** The eight GREASE values for PskKeyExchangeModes (RFC 8701 §2). */
export const GREASE_PSK_KEY_EXCHANGE_MODES: readonly number[] = [0x0b, 0x2a, 0x49, 0x68, 0x87, 0xa6, 0xc5, 0xe4];

/** True when `value` is one of the 16-bit GREASE values of RFC 8701 §2 (0x?A?A with equal bytes). */
export function isGrease16(value: number): boolean {
  return (value & 0x0f0f) === 0x0a0a && value >>> 8 === (value & 0xff);
}

/** True when `mode` is a GREASE PskKeyExchangeMode (RFC 8701 §2). */
export function isGreasePskMode(mode: number): boolean {
  return GREASE_PSK_KEY_EXCHANGE_MODES.includes(mode);
}

/** True when an ALPN protocol name is a GREASE identifier: the two bytes 0x?A 0x?A, equal (RFC 8701 §2). */
export function isGreaseAlpn(protocol: Uint8Array): boolean {
  return protocol.length === 2 && protocol[0] === protocol[1] && (protocol[0] & 0x0f) === 0x0a;
}
