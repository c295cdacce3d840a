/**
 * NEW_TOKEN tokens (RFC 9000 §8.1.3–§8.1.4): what a server gives a client in a NEW_TOKEN frame
 * once a connection is established, so that the client's next connection from the same address
 * starts with its address already validated — no Retry round trip, no anti-amplification limit.
 *
 * A token is AES-128-GCM sealed under a key only this endpoint knows:
 *
 *     marker (1) | nonce (12) | AEAD( issued-at ms (8) ) | tag (16)
 *
 * with the marker and the client's IP address — not its port, which NATs change between
 * connections (§8.1.3) — as associated data. So a token is valid only from the IP address it was
 * issued to, for {@link NewTokenOptions.lifetime}; a forged or altered token fails authentication;
 * and it carries nothing that links it to the connection it was issued on (§8.1.3: a fresh random
 * nonce, the rest encrypted). Its first byte tells it apart from a Retry token (§8.1.1), which
 * `retry-token.ts` validates more strictly.
 *
 * Replay (§8.1.4: servers MUST ensure replay of tokens is prevented or limited): each accepted
 * token's nonce is remembered until the token expires, in a bounded set; a token seen again is
 * refused. When the set is full the oldest entries go first, so replay is then limited to tokens
 * older than the newest {@link NewTokenOptions.replayMemory} accepted ones.
 *
 * A refused NEW_TOKEN token is not an error: the server proceeds as if the client had sent none
 * (§8.1.3), possibly with a Retry.
 *
 * @module
 */
import type { Aead, CryptoProvider } from '../crypto/provider.js';
import { AEAD_TAG_LENGTH } from '../crypto/provider.js';
import type { SocketAddress } from './address.js';
import { TOKEN_HEADER_LENGTH, TOKEN_NONCE_LENGTH, tokenAead } from './retry-token.js';

/** First byte of every NEW_TOKEN token this module makes (Retry tokens start with 0x52). */
export const NEW_TOKEN_MARKER = 0x4e;

const PLAINTEXT_LENGTH = 8;
/** Length of every token this module makes. */
export const NEW_TOKEN_LENGTH = TOKEN_HEADER_LENGTH + PLAINTEXT_LENGTH + AEAD_TAG_LENGTH;

/** Default {@link NewTokenOptions.lifetime}: one hour. */
export const DEFAULT_NEW_TOKEN_LIFETIME = 3_600_000;
/** Default {@link NewTokenOptions.replayMemory}: accepted tokens remembered at most. */
export const DEFAULT_NEW_TOKEN_REPLAY_MEMORY = 16_384;

/** Options of a {@link NewTokens} codec. */
export interface NewTokenOptions {
  /** The AES-128-GCM key (16 bytes); default: random, so tokens are valid only for this endpoint's lifetime. */
  readonly key?: Uint8Array;
  /** How long a token stays valid after it was issued, ms. Default {@link DEFAULT_NEW_TOKEN_LIFETIME}. */
  readonly lifetime?: number;
  /** Accepted tokens remembered to refuse their replay (§8.1.4). Default {@link DEFAULT_NEW_TOKEN_REPLAY_MEMORY}. */
  readonly replayMemory?: number;
  /** Wall clock for issue times, ms since the epoch; default `Date.now`. */
  readonly clock?: () => number;
}

/** Why a NEW_TOKEN token was refused. */
export type NewTokenRefusal =
  /** Not one of our NEW_TOKEN tokens (another marker or length): e.g. a Retry token, or another server's. */
  | 'not-a-new-token'
  /** Authentication failed: forged, altered, or issued to another IP address. */
  | 'invalid'
  /** Older than the lifetime (or issued in the future). */
  | 'expired'
  /** Accepted before: a replay (§8.1.4). */
  | 'replayed';

/** The outcome of {@link NewTokens.validate}. */
export type NewTokenValidation = { readonly ok: true; readonly issuedAt: number } | { readonly ok: false; readonly reason: NewTokenRefusal };

/** Issues and validates the NEW_TOKEN tokens of one server endpoint. */
export class NewTokens {
  private readonly provider: CryptoProvider;
  private readonly aead: Aead;
  private readonly lifetime: number;
  private readonly replayMemory: number;
  private readonly clock: () => number;
  /** Nonces (hex) of accepted tokens → when they expire; insertion order is acceptance order. */
  private readonly accepted = new Map<string, number>();

  /** Creates the codec; the key is copied (or generated). */
  constructor(provider: CryptoProvider, options: NewTokenOptions = {}) {
    const lifetime = options.lifetime ?? DEFAULT_NEW_TOKEN_LIFETIME;
    if (!(lifetime > 0)) throw new RangeError(`a NEW_TOKEN lifetime is a positive number of ms, got ${lifetime}`);
    const replayMemory = options.replayMemory ?? DEFAULT_NEW_TOKEN_REPLAY_MEMORY;
    if (!Number.isInteger(replayMemory) || replayMemory < 1) throw new RangeError(`replayMemory must be a positive integer, got ${replayMemory}`);
    this.provider = provider;
    this.aead = tokenAead(provider, options.key, 'a NEW_TOKEN key');
    this.lifetime = lifetime;
    this.replayMemory = replayMemory;
    this.clock = options.clock ?? Date.now;
  }

  /** Tokens remembered against replay (for tests and metrics). */
  get remembered(): number {
    return this.accepted.size;
  }

  /** A token for the client at `address` (bound to its IP address, not its port). */
  issue(address: SocketAddress): Uint8Array {
    const token = new Uint8Array(NEW_TOKEN_LENGTH);
    token[0] = NEW_TOKEN_MARKER;
    const nonce = this.provider.randomBytes(TOKEN_NONCE_LENGTH);
    token.set(nonce, 1);
    new DataView(token.buffer, token.byteOffset, token.byteLength).setFloat64(TOKEN_HEADER_LENGTH, this.clock());
    this.aead.seal(nonce, associatedData(address), token, TOKEN_HEADER_LENGTH, PLAINTEXT_LENGTH);
    return token;
  }

  /**
   * Checks a token sent in an Initial from `address`; an accepted token is remembered, so the same
   * token is refused as `replayed` afterwards. Never throws.
   */
  validate(token: Uint8Array, address: SocketAddress): NewTokenValidation {
    if (token.length !== NEW_TOKEN_LENGTH || token[0] !== NEW_TOKEN_MARKER) return { ok: false, reason: 'not-a-new-token' };
    // Open a copy: the token is a view into the received datagram, which the connection reads next.
    const copy = token.slice();
    try {
      this.aead.open(copy.subarray(1, TOKEN_HEADER_LENGTH), associatedData(address), copy, TOKEN_HEADER_LENGTH, PLAINTEXT_LENGTH + AEAD_TAG_LENGTH);
    } catch {
      return { ok: false, reason: 'invalid' };
    }
    const issuedAt = new DataView(copy.buffer, copy.byteOffset, copy.byteLength).getFloat64(TOKEN_HEADER_LENGTH);
    const now = this.clock();
    const age = now - issuedAt;
    // A small allowance for a clock that stepped back between issue and use.
    if (!(age <= this.lifetime && age >= -1000)) return { ok: false, reason: 'expired' };
    const nonce = Buffer.from(copy.buffer, copy.byteOffset + 1, TOKEN_NONCE_LENGTH).toString('hex');
    this.forgetExpired(now);
    if (this.accepted.has(nonce)) return { ok: false, reason: 'replayed' };
    if (this.accepted.size >= this.replayMemory) this.accepted.delete(this.accepted.keys().next().value as string);
    this.accepted.set(nonce, issuedAt + this.lifetime);
    return { ok: true, issuedAt };
  }

  /** Drops remembered tokens that have expired (they are refused as expired anyway). */
  private forgetExpired(now: number): void {
    // Acceptance order is roughly expiry order (same lifetime); stop at the first one still valid.
    for (const [nonce, expires] of this.accepted) {
      if (expires >= now) break;
      this.accepted.delete(nonce);
    }
  }
}

/** Associated data: the marker and the client's IP address as text (RFC 9000 §8.1.3: not the port). */
function associatedData(address: SocketAddress): Uint8Array {
  const ip = Buffer.from(address.address, 'utf8');
  const out = new Uint8Array(1 + ip.length);
  out[0] = NEW_TOKEN_MARKER;
  out.set(ip, 1);
  return out;
}
