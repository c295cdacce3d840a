/**
 * Packet protection keys (RFC 9001 §5.1, §5.3, §6.1; RFC 9369 §3.3.2): the AEAD key, IV and
 * header-protection key derived from a TLS traffic secret, the Initial keys, the next key
 * generation for key updates, and the per-packet nonce.
 *
 * @module
 */
import { QUIC_V1, QUIC_V2, type QuicVersion } from '../wire/version.js';
import { AEAD_KEY_LENGTH, UnsupportedVersionError } from './common.js';
import { hashLength, hkdfExpandLabel } from './hkdf.js';
import { initialSecrets } from './initial.js';
import type { Aead, AeadAlgorithm, CryptoProvider, HashAlgorithm, HeaderProtection } from './provider.js';

/** Length in bytes of the packet protection IV (and so of the AEAD nonce) of every QUIC AEAD (RFC 9001 §5.3). */
export const PACKET_IV_LENGTH = 12;

/**
 * Everything needed to protect or unprotect packets of one direction at one encryption level
 * and key phase.
 *
 * Objects are created by {@link derivePacketKeys}, {@link initialKeys} and
 * {@link nextGenerationKeys}; treat every field as read-only.
 */
export interface PacketKeys {
  /** The AEAD of the negotiated cipher suite (AES-128-GCM for Initial packets). */
  readonly algorithm: AeadAlgorithm;
  /** The hash of the cipher suite, used to derive these keys and the next generation. */
  readonly hash: HashAlgorithm;
  /** The QUIC version whose labels derived these keys (RFC 9369 §3.3.2). */
  readonly version: QuicVersion;
  /** The traffic secret these keys were derived from (the input to the next key update). */
  readonly secret: Uint8Array;
  /** The AEAD key: HKDF-Expand-Label(secret, "quic key", "", key length). */
  readonly key: Uint8Array;
  /** The IV: HKDF-Expand-Label(secret, "quic iv", "", 12). */
  readonly iv: Uint8Array;
  /** The header-protection key: HKDF-Expand-Label(secret, "quic hp", "", key length). */
  readonly hpKey: Uint8Array;
  /** An AEAD bound to {@link key}. */
  readonly aead: Aead;
  /** A header-protection mask generator bound to {@link hpKey}. */
  readonly hp: HeaderProtection;
  /**
   * Scratch space for the per-packet nonce ({@link writeNonce}), reused by every packet protected
   * or opened with these keys so the hot path does not allocate. Its content is transient.
   */
  readonly nonce: Uint8Array;
}

/** The HKDF labels of one QUIC version (RFC 9001 §5.1, §5.4, §6.1; RFC 9369 §3.3.2). */
export interface PacketProtectionLabels {
  /** Label of the AEAD key. */
  readonly key: string;
  /** Label of the IV. */
  readonly iv: string;
  /** Label of the header-protection key. */
  readonly hp: string;
  /** Label of the key update ("next generation") secret. */
  readonly ku: string;
}

const LABELS_V1: PacketProtectionLabels = Object.freeze({ key: 'quic key', iv: 'quic iv', hp: 'quic hp', ku: 'quic ku' });
const LABELS_V2: PacketProtectionLabels = Object.freeze({ key: 'quicv2 key', iv: 'quicv2 iv', hp: 'quicv2 hp', ku: 'quicv2 ku' });

/**
 * The packet protection labels of `version`: "quic key"/"quic iv"/"quic hp"/"quic ku" for
 * version 1 (RFC 9001 §5.1, §6.1) and "quicv2 …" for version 2 (RFC 9369 §3.3.2).
 *
 * @throws {@link UnsupportedVersionError} for a version other than 1 and 2.
 */
export function packetProtectionLabels(version: number): PacketProtectionLabels {
  if (version === QUIC_V1) return LABELS_V1;
  if (version === QUIC_V2) return LABELS_V2;
  throw new UnsupportedVersionError(version);
}

const EMPTY = new Uint8Array(0);

function checkSecret(hash: HashAlgorithm, secret: Uint8Array): void {
  // TLS 1.3 traffic secrets are Hash.length bytes (RFC 8446 §7.1).
  if (secret.length !== hashLength(hash)) {
    throw new RangeError(`a ${hash} traffic secret is ${hashLength(hash)} bytes, got ${secret.length}`);
  }
}

function buildKeys(
  provider: CryptoProvider,
  version: QuicVersion,
  algorithm: AeadAlgorithm,
  hash: HashAlgorithm,
  secret: Uint8Array,
  hpKey: Uint8Array,
  hp: HeaderProtection,
): PacketKeys {
  const labels = packetProtectionLabels(version);
  // RFC 9001 §5.1: key and IV from the secret with the "quic key" / "quic iv" labels.
  const key = hkdfExpandLabel(provider, hash, secret, labels.key, EMPTY, AEAD_KEY_LENGTH[algorithm]);
  const iv = hkdfExpandLabel(provider, hash, secret, labels.iv, EMPTY, PACKET_IV_LENGTH);
  return {
    algorithm,
    hash,
    version,
    secret,
    key,
    iv,
    hpKey,
    aead: provider.aead(algorithm, key),
    hp,
    nonce: new Uint8Array(PACKET_IV_LENGTH),
  };
}

function checkVersion(version: number): QuicVersion {
  if (version !== QUIC_V1 && version !== QUIC_V2) throw new UnsupportedVersionError(version);
  return version;
}

/**
 * Derives the packet protection keys of a traffic secret (RFC 9001 §5.1): the AEAD key, the IV
 * and the header-protection key (RFC 9001 §5.4), with the labels of `version`.
 *
 * @param secret a TLS traffic secret of `hash`'s output length.
 * @throws {@link UnsupportedVersionError} for a version other than 1 and 2; `RangeError` for a
 *   secret whose length is not the hash length.
 */
export function derivePacketKeys(
  provider: CryptoProvider,
  version: number,
  algorithm: AeadAlgorithm,
  hash: HashAlgorithm,
  secret: Uint8Array,
): PacketKeys {
  const v = checkVersion(version);
  checkSecret(hash, secret);
  const labels = packetProtectionLabels(v);
  const hpKey = hkdfExpandLabel(provider, hash, secret, labels.hp, EMPTY, AEAD_KEY_LENGTH[algorithm]);
  return buildKeys(provider, v, algorithm, hash, secret, hpKey, provider.headerProtection(algorithm, hpKey));
}

/** The two directions of one encryption level, from one endpoint's point of view. */
export interface DirectionalKeys {
  /** Keys that protect the packets this endpoint sends. */
  readonly send: PacketKeys;
  /** Keys that remove protection from the packets this endpoint receives. */
  readonly receive: PacketKeys;
}

/**
 * The Initial packet protection keys (RFC 9001 §5.2): AEAD_AES_128_GCM with SHA-256, derived
 * from the Destination Connection ID of the client's first Initial packet. A client sends with
 * the client secret and receives with the server secret; a server the other way round.
 *
 * @throws {@link UnsupportedVersionError} for a version other than 1 and 2.
 */
export function initialKeys(provider: CryptoProvider, version: number, clientDcid: Uint8Array, role: 'client' | 'server'): DirectionalKeys {
  const secrets = initialSecrets(provider, version, clientDcid);
  const client = derivePacketKeys(provider, version, 'aes-128-gcm', 'sha256', secrets.client);
  const server = derivePacketKeys(provider, version, 'aes-128-gcm', 'sha256', secrets.server);
  return role === 'client' ? { send: client, receive: server } : { send: server, receive: client };
}

/**
 * The keys of the next key phase (RFC 9001 §6.1): secret_<n+1> = HKDF-Expand-Label(secret_<n>,
 * "quic ku", "", Hash.length) ("quicv2 ku" in version 2, RFC 9369 §3.3.2), and a new key and IV
 * from it. The header-protection key is not updated: the result shares `keys.hpKey` and
 * `keys.hp`.
 */
export function nextGenerationKeys(provider: CryptoProvider, keys: PacketKeys): PacketKeys {
  const labels = packetProtectionLabels(keys.version);
  const secret = hkdfExpandLabel(provider, keys.hash, keys.secret, labels.ku, EMPTY, hashLength(keys.hash));
  return buildKeys(provider, keys.version, keys.algorithm, keys.hash, secret, keys.hpKey, keys.hp);
}

const TWO_POW_32 = 0x1_0000_0000;

/**
 * Writes the AEAD nonce of a packet into `out` and returns `out` (RFC 9001 §5.3): the packet
 * number in network byte order, left-padded with zeros to the IV's length, XORed with the IV.
 *
 * Exact for every packet number from 0 to 2^53 (the integers a `number` holds exactly). It never
 * throws: a value outside that range yields a nonce the peer did not use, so opening fails
 * authentication rather than raising an untyped error on the receive path.
 *
 * @param out a buffer of the IV's length (usually {@link PacketKeys.nonce}).
 */
export function writeNonce(iv: Uint8Array, packetNumber: number, out: Uint8Array): Uint8Array {
  const n = iv.length;
  // `>>> 0` is the number modulo 2^32 (ToUint32), exact for integers up to 2^53 and without the
  // floating-point remainder `%` would compute for a divisor above the small-integer range.
  const low = packetNumber >>> 0;
  const high = (packetNumber - low) / TWO_POW_32; // < 2^21 for packet numbers up to 2^53
  for (let i = 0; i < n - 8; i++) out[i] = iv[i];
  out[n - 8] = iv[n - 8] ^ ((high >>> 24) & 0xff);
  out[n - 7] = iv[n - 7] ^ ((high >>> 16) & 0xff);
  out[n - 6] = iv[n - 6] ^ ((high >>> 8) & 0xff);
  out[n - 5] = iv[n - 5] ^ (high & 0xff);
  out[n - 4] = iv[n - 4] ^ ((low >>> 24) & 0xff);
  out[n - 3] = iv[n - 3] ^ ((low >>> 16) & 0xff);
  out[n - 2] = iv[n - 2] ^ ((low >>> 8) & 0xff);
  out[n - 1] = iv[n - 1] ^ (low & 0xff);
  return out;
}

/** Usage limits of one AEAD (RFC 9001 §6.6). */
export interface AeadLimits {
  /** Packets one key may encrypt; a key update is due before this many are sent. */
  readonly confidentiality: number;
  /** Packets failing authentication a connection tolerates, across all keys, before it must
   * close with AEAD_LIMIT_REACHED. */
  readonly integrity: number;
}

/**
 * Usage limits of each AEAD (RFC 9001 §6.6). ChaCha20-Poly1305's confidentiality limit exceeds
 * the 2^62 possible packets and is given as `Infinity`.
 */
export const AEAD_LIMITS: Readonly<Record<AeadAlgorithm, AeadLimits>> = Object.freeze({
  'aes-128-gcm': Object.freeze({ confidentiality: 2 ** 23, integrity: 2 ** 52 }),
  'aes-256-gcm': Object.freeze({ confidentiality: 2 ** 23, integrity: 2 ** 52 }),
  'chacha20-poly1305': Object.freeze({ confidentiality: Number.POSITIVE_INFINITY, integrity: 2 ** 36 }),
});
