/**
 * Retry tokens (RFC 9000 §8.1.2–§8.1.4): what a server puts in a Retry packet and validates when
 * the client's next Initial echoes it, so the server keeps no state between the two.
 *
 * A token is AES-128-GCM sealed under a key only this endpoint knows:
 *
 *     marker (1) | nonce (12) | AEAD( issued-at ms (8) | ODCID length (1) | ODCID ) | tag (16)
 *
 * with the client's address and port and the Retry's Source Connection ID (the Destination
 * Connection ID the client must use next) as associated data. A token is therefore valid only
 * from the address it was issued to (§8.1.4), only with the connection ID of the Retry that
 * carried it, and only for a short time; a forged or altered token fails authentication. The
 * Original Destination Connection ID comes back out of the token, which is how the server fills
 * original_destination_connection_id after a Retry (§7.3).
 *
 * @module
 */
import type { Aead, CryptoProvider } from '../crypto/provider.js';
import { AEAD_TAG_LENGTH } from '../crypto/provider.js';
import { MAX_CONNECTION_ID_LENGTH } from '../wire/header.js';
import { addressBytes, type SocketAddress } from './address.js';

/** First byte of every Retry token this module makes: tells them apart from other tokens (e.g. NEW_TOKEN ones). */
export const RETRY_TOKEN_MARKER = 0x52;

/**
 * Length of the random AEAD nonce carried in a token (Retry and NEW_TOKEN tokens alike).
 *
 * @internal
 */
export const TOKEN_NONCE_LENGTH = 12;
/**
 * Bytes before the sealed part of a token: the marker and the nonce.
 *
 * @internal
 */
export const TOKEN_HEADER_LENGTH = 1 + TOKEN_NONCE_LENGTH;
/** Smallest plaintext: issued-at (8) and an ODCID length (1). */
const MIN_PLAINTEXT = 9;

/** Default {@link RetryTokenOptions.lifetime}: 10 s, ample for one round trip. */
export const DEFAULT_RETRY_TOKEN_LIFETIME = 10_000;

/** Options of a {@link RetryTokens} codec. */
export interface RetryTokenOptions {
  /** The AES-128-GCM key (16 bytes); default: random, so tokens are valid only for this endpoint's lifetime. */
  readonly key?: Uint8Array;
  /** How long a token stays valid after it was issued, ms. Default {@link DEFAULT_RETRY_TOKEN_LIFETIME}. */
  readonly lifetime?: number;
  /** Wall clock for issue times, ms since the epoch; default `Date.now`. */
  readonly clock?: () => number;
}

/** Why a token was refused. */
export type RetryTokenRefusal =
  /** Not one of our Retry tokens (other marker, or too short): e.g. a NEW_TOKEN token from another server. */
  | 'not-a-retry-token'
  /** Authentication failed: forged, altered, from another address, or bound to another connection ID. */
  | 'invalid'
  /** Older than the lifetime (or issued in the future). */
  | 'expired';

/** The outcome of {@link RetryTokens.validate}. */
export type RetryTokenValidation =
  | {
      /** The token is valid. */
      readonly ok: true;
      /** The Destination Connection ID of the client's first Initial, which the Retry answered. */
      readonly originalDestinationCid: Uint8Array;
      /** When the token was issued, ms since the epoch. */
      readonly issuedAt: number;
    }
  | {
      /** The token was refused. */
      readonly ok: false;
      /** Why. */
      readonly reason: RetryTokenRefusal;
    };

/** Seals and validates Retry tokens for one endpoint. */
export class RetryTokens {
  private readonly provider: CryptoProvider;
  private readonly aead: Aead;
  private readonly lifetime: number;
  private readonly clock: () => number;

  /** Creates the codec; the key is copied (or generated). */
  constructor(provider: CryptoProvider, options: RetryTokenOptions = {}) {
    this.provider = provider;
    this.aead = tokenAead(provider, options.key, 'a Retry token key');
    this.lifetime = options.lifetime ?? DEFAULT_RETRY_TOKEN_LIFETIME;
    this.clock = options.clock ?? Date.now;
  }

  /**
   * A token for a Retry sent to `address` in answer to an Initial whose Destination Connection ID
   * was `originalDestinationCid`; `retrySourceCid` is the Retry's Source Connection ID.
   */
  issue(address: SocketAddress, originalDestinationCid: Uint8Array, retrySourceCid: Uint8Array): Uint8Array {
    if (originalDestinationCid.length > MAX_CONNECTION_ID_LENGTH) throw new RangeError('original destination connection ID over 20 bytes');
    const plaintextLength = MIN_PLAINTEXT + originalDestinationCid.length;
    const token = new Uint8Array(TOKEN_HEADER_LENGTH + plaintextLength + AEAD_TAG_LENGTH);
    token[0] = RETRY_TOKEN_MARKER;
    const nonce = this.provider.randomBytes(TOKEN_NONCE_LENGTH);
    token.set(nonce, 1);
    const view = new DataView(token.buffer, token.byteOffset, token.byteLength);
    view.setFloat64(TOKEN_HEADER_LENGTH, this.clock());
    token[TOKEN_HEADER_LENGTH + 8] = originalDestinationCid.length;
    token.set(originalDestinationCid, TOKEN_HEADER_LENGTH + 9);
    this.aead.seal(nonce, associatedData(address, retrySourceCid), token, TOKEN_HEADER_LENGTH, plaintextLength);
    return token;
  }

  /**
   * Checks a token echoed in an Initial from `address` whose Destination Connection ID is
   * `destinationCid` (the Retry's Source Connection ID, RFC 9000 §7.2). Never throws.
   */
  validate(token: Uint8Array, address: SocketAddress, destinationCid: Uint8Array): RetryTokenValidation {
    if (token.length < TOKEN_HEADER_LENGTH + MIN_PLAINTEXT + AEAD_TAG_LENGTH || token[0] !== RETRY_TOKEN_MARKER) {
      return { ok: false, reason: 'not-a-retry-token' };
    }
    // Open a copy: the token is a view into the received datagram, which the connection reads next.
    const copy = token.slice();
    let plaintextLength: number;
    try {
      plaintextLength = this.aead.open(copy.subarray(1, TOKEN_HEADER_LENGTH), associatedData(address, destinationCid), copy, TOKEN_HEADER_LENGTH, copy.length - TOKEN_HEADER_LENGTH);
    } catch {
      return { ok: false, reason: 'invalid' };
    }
    const odcidLength = copy[TOKEN_HEADER_LENGTH + 8];
    if (plaintextLength !== MIN_PLAINTEXT + odcidLength || odcidLength > MAX_CONNECTION_ID_LENGTH) return { ok: false, reason: 'invalid' };
    const issuedAt = new DataView(copy.buffer, copy.byteOffset, copy.byteLength).getFloat64(TOKEN_HEADER_LENGTH);
    const age = this.clock() - issuedAt;
    // A small allowance for a clock that stepped back between issue and use.
    if (!(age <= this.lifetime && age >= -1000)) return { ok: false, reason: 'expired' };
    return { ok: true, originalDestinationCid: copy.slice(TOKEN_HEADER_LENGTH + 9, TOKEN_HEADER_LENGTH + 9 + odcidLength), issuedAt };
  }
}

/**
 * The AES-128-GCM AEAD that seals an endpoint's tokens (Retry and NEW_TOKEN): under `key` (copied;
 * 16 bytes, else a RangeError naming `what`), or a random key when none is given.
 *
 * @internal
 */
export function tokenAead(provider: CryptoProvider, key: Uint8Array | undefined, what: string): Aead {
  const k = key ?? provider.randomBytes(16);
  if (k.length !== 16) throw new RangeError(`${what} has 16 bytes, got ${k.length}`);
  return provider.aead('aes-128-gcm', new Uint8Array(k));
}

/** Associated data: the Retry's Source Connection ID (length-prefixed) and the client's address. */
function associatedData(address: SocketAddress, retrySourceCid: Uint8Array): Uint8Array {
  const a = addressBytes(address);
  const out = new Uint8Array(2 + retrySourceCid.length + a.length);
  out[0] = RETRY_TOKEN_MARKER;
  out[1] = retrySourceCid.length;
  out.set(retrySourceCid, 2);
  out.set(a, 2 + retrySourceCid.length);
  return out;
}
