/**
 * The Retry Integrity Tag (RFC 9001 §5.8; version 2 key and nonce in RFC 9369 §3.3.3):
 * AEAD_AES_128_GCM with a fixed key and nonce over an empty plaintext, with the Retry
 * Pseudo-Packet (ODCID Length, ODCID, then the Retry packet without its tag) as associated data.
 *
 * @module
 */
import { QUIC_V1, QUIC_V2 } from '../wire/version.js';
import { constantTimeEqual, UnsupportedVersionError } from './common.js';
import { AEAD_TAG_LENGTH, type Aead, type CryptoProvider } from './provider.js';

/** Length in bytes of the Retry Integrity Tag (RFC 9000 §17.2.5). */
export const RETRY_INTEGRITY_TAG_LENGTH = AEAD_TAG_LENGTH;

/** The fixed key and nonce of the Retry Integrity Tag of one version. */
export interface RetryIntegrityParameters {
  /** The 128-bit AES-GCM key. */
  readonly key: Uint8Array;
  /** The 96-bit nonce. */
  readonly nonce: Uint8Array;
  /** The secret the key and nonce are derived from with the version's "key"/"iv" labels. */
  readonly secret: Uint8Array;
}

const hex = (s: string): Uint8Array => Uint8Array.from(s.match(/../g) ?? [], (b) => parseInt(b, 16));

// RFC 9001 §5.8
const RETRY_V1: RetryIntegrityParameters = Object.freeze({
  key: hex('be0c690b9f66575a1d766b54e368c84e'),
  nonce: hex('461599d35d632bf2239825bb'),
  secret: hex('d9c9943e6101fd200021506bcc02814c73030f25c79d71ce876eca876e6fca8e'),
});

// RFC 9369 §3.3.3
const RETRY_V2: RetryIntegrityParameters = Object.freeze({
  key: hex('8fb4b01b56ac48e260fbcbcead7ccc92'),
  nonce: hex('d86969bc2d7c6d9990efb04a'),
  secret: hex('c4dd2484d681aefa4ff4d69c2c20299984a765a5d3c31982f38fc74162155e9f'),
});

function parameters(version: number): RetryIntegrityParameters {
  if (version === QUIC_V1) return RETRY_V1;
  if (version === QUIC_V2) return RETRY_V2;
  throw new UnsupportedVersionError(version);
}

/**
 * The Retry Integrity Tag key, nonce and secret of `version` (fresh copies).
 *
 * @throws {@link UnsupportedVersionError} for a version other than 1 and 2.
 */
export function retryIntegrityParameters(version: number): RetryIntegrityParameters {
  const p = parameters(version);
  return { key: p.key.slice(), nonce: p.nonce.slice(), secret: p.secret.slice() };
}

/** One AEAD per provider and version: the key is fixed, so it is created once. */
const aeads = new WeakMap<CryptoProvider, Map<number, Aead>>();

function retryAead(provider: CryptoProvider, version: number): Aead {
  let byVersion = aeads.get(provider);
  if (!byVersion) aeads.set(provider, (byVersion = new Map()));
  let aead = byVersion.get(version);
  if (!aead) {
    aead = provider.aead('aes-128-gcm', parameters(version).key);
    byVersion.set(version, aead);
  }
  return aead;
}

/** Largest ODCID the 8-bit ODCID Length of the pseudo-packet can describe. */
const MAX_ODCID_LENGTH = 255;

function computeTag(provider: CryptoProvider, version: number, originalDcid: Uint8Array, retryWithoutTag: Uint8Array, out: Uint8Array): void {
  const { nonce } = parameters(version);
  if (originalDcid.length > MAX_ODCID_LENGTH) {
    throw new RangeError(`original destination connection ID of ${originalDcid.length} bytes does not fit the Retry pseudo-packet`);
  }
  // RFC 9001 §5.8: Retry Pseudo-Packet = ODCID Length (8) || ODCID || Retry packet without the tag.
  const pseudo = new Uint8Array(1 + originalDcid.length + retryWithoutTag.length);
  pseudo[0] = originalDcid.length;
  pseudo.set(originalDcid, 1);
  pseudo.set(retryWithoutTag, 1 + originalDcid.length);
  // The plaintext is empty, so sealing writes just the 16-byte tag at out[0, 16).
  retryAead(provider, version).seal(nonce, pseudo, out, 0, 0);
}

/**
 * Computes the Retry Integrity Tag for a Retry packet (RFC 9001 §5.8).
 *
 * @param originalDcid the Destination Connection ID of the client's Initial that the Retry answers.
 * @param retryPacketWithoutTag the Retry packet from its first byte through the Retry Token.
 * @returns the 16-byte tag to append to the packet.
 * @throws {@link UnsupportedVersionError} for a version other than 1 and 2; `RangeError` for an
 *   ODCID longer than 255 bytes.
 */
export function retryIntegrityTag(provider: CryptoProvider, version: number, originalDcid: Uint8Array, retryPacketWithoutTag: Uint8Array): Uint8Array {
  const tag = new Uint8Array(RETRY_INTEGRITY_TAG_LENGTH);
  computeTag(provider, version, originalDcid, retryPacketWithoutTag, tag);
  return tag;
}

/**
 * Checks the Retry Integrity Tag at the end of a received Retry packet (RFC 9001 §5.8); a client
 * discards a Retry whose tag does not verify (RFC 9000 §17.2.5.2).
 *
 * @param originalDcid the Destination Connection ID the client put in its first Initial.
 * @param retryPacket the whole Retry packet, tag included.
 * @returns false for a wrong tag, a packet shorter than the tag, an unsupported version or an
 *   ODCID too long for the pseudo-packet; never throws.
 */
export function verifyRetryIntegrityTag(provider: CryptoProvider, version: number, originalDcid: Uint8Array, retryPacket: Uint8Array): boolean {
  if (retryPacket.length < RETRY_INTEGRITY_TAG_LENGTH) return false;
  if (version !== QUIC_V1 && version !== QUIC_V2) return false;
  if (originalDcid.length > MAX_ODCID_LENGTH) return false;
  const bodyLength = retryPacket.length - RETRY_INTEGRITY_TAG_LENGTH;
  const expected = new Uint8Array(RETRY_INTEGRITY_TAG_LENGTH);
  computeTag(provider, version, originalDcid, retryPacket.subarray(0, bodyLength), expected);
  return constantTimeEqual(expected, 0, retryPacket, bodyLength, RETRY_INTEGRITY_TAG_LENGTH);
}
