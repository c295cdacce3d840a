/**
 * Stateless reset (RFC 9000 §10.3): the tokens we issue, detection of a peer's reset, building
 * a reset datagram for a packet we cannot associate with a connection, and the rules that keep
 * resets from looping or amplifying (§10.3.3).
 *
 * Tokens are HMAC-SHA256(static key, connection ID) truncated to 16 bytes (§10.3.2), so an
 * endpoint that lost a connection's state can still compute the token for the connection ID of a
 * packet it receives. Comparisons with a peer's tokens run in constant time (§10.3.1).
 *
 * @module
 */
import { constantTimeEqual } from '../crypto/common.js';
import type { CryptoProvider } from '../crypto/provider.js';
import { STATELESS_RESET_TOKEN_LENGTH } from '../wire/frames/types.js';

/**
 * The smallest stateless reset: 2 fixed bits and at least 38 unpredictable bits (5 bytes), then
 * the 16-byte token (RFC 9000 §10.3). Shorter datagrams are never a valid QUIC packet, so they
 * are neither treated as resets nor answered with one.
 */
export const MIN_STATELESS_RESET_LENGTH = 21;

/**
 * A stateless reset shorter than this "might be identifiable as a Stateless Reset by an observer"
 * (RFC 9000 §10.3.3); we send at least this many bytes when the triggering packet allows it.
 */
export const UNIDENTIFIABLE_STATELESS_RESET_LENGTH = 41;

/**
 * RFC 9000 §10.3: "An endpoint that sends a Stateless Reset in response to a packet that is 43
 * bytes or shorter SHOULD send a Stateless Reset that is one byte shorter than the packet".
 */
export const SHORT_TRIGGER_LENGTH = 43;

/** Length of the static key {@link generateStatelessResetKey} makes (the HMAC-SHA256 block-sized secret we recommend). */
export const STATELESS_RESET_KEY_LENGTH = 32;

/** Shortest static key {@link StatelessResetTokenGenerator} accepts. */
export const MIN_STATELESS_RESET_KEY_LENGTH = 16;

/** A fresh random static key for {@link StatelessResetTokenGenerator}; share it across an endpoint's restarts (and cluster) to reset after losing state. */
export function generateStatelessResetKey(provider: CryptoProvider): Uint8Array {
  return provider.randomBytes(STATELESS_RESET_KEY_LENGTH);
}

/**
 * Computes stateless reset tokens as a keyed function of the connection ID (RFC 9000 §10.3.2):
 * HMAC-SHA256(static key, connection ID), truncated to 16 bytes. The same key and connection ID
 * always give the same token.
 *
 * §10.3.2 conditions this design relies on, for the caller: the combination of connection ID and
 * static key MUST NOT be used for another connection, the endpoint's connection IDs have one length
 * (or encode it) so a stateless endpoint can read them, and zero-length connection IDs get no token.
 */
export class StatelessResetTokenGenerator {
  private readonly provider: CryptoProvider;
  private readonly key: Uint8Array;

  /** `key` is the static secret (at least {@link MIN_STATELESS_RESET_KEY_LENGTH} bytes); it is copied. */
  constructor(provider: CryptoProvider, key: Uint8Array) {
    if (key.length < MIN_STATELESS_RESET_KEY_LENGTH) {
      throw new RangeError(`a stateless reset key needs at least ${MIN_STATELESS_RESET_KEY_LENGTH} bytes, got ${key.length}`);
    }
    this.provider = provider;
    this.key = new Uint8Array(key);
  }

  /** The 16-byte token for `connectionId` (1–20 bytes). A zero-length connection ID has no token: it would be shared by every connection. */
  token(connectionId: Uint8Array): Uint8Array {
    if (connectionId.length === 0) throw new RangeError('a zero-length connection ID cannot have a stateless reset token (RFC 9000 §10.3.2)');
    return this.provider.hmac('sha256', this.key, connectionId).slice(0, STATELESS_RESET_TOKEN_LENGTH);
  }
}

/**
 * True when the last 16 bytes of `datagram` equal `token`, compared in constant time
 * (RFC 9000 §10.3.1). Datagrams shorter than {@link MIN_STATELESS_RESET_LENGTH} never match.
 */
export function matchesStatelessResetToken(datagram: Uint8Array, token: Uint8Array): boolean {
  if (datagram.length < MIN_STATELESS_RESET_LENGTH || token.length !== STATELESS_RESET_TOKEN_LENGTH) return false;
  return constantTimeEqual(datagram, datagram.length - STATELESS_RESET_TOKEN_LENGTH, token, 0, STATELESS_RESET_TOKEN_LENGTH);
}

/**
 * True when `datagram` is a stateless reset for one of `tokens` (RFC 9000 §10.3.1): at least 21
 * bytes, ending in one of the tokens. Call it for a datagram whose first packet cannot be
 * associated with a connection or cannot be decrypted, with the tokens of the connection IDs the
 * connection has used and not retired. The header form is not checked: "endpoints MUST treat any
 * packet ending in a valid stateless reset token as a Stateless Reset". Every token is compared
 * (no early exit), each in constant time.
 */
export function isStatelessReset(datagram: Uint8Array, tokens: Iterable<Uint8Array>): boolean {
  if (datagram.length < MIN_STATELESS_RESET_LENGTH) return false;
  let found = false;
  for (const token of tokens) {
    if (matchesStatelessResetToken(datagram, token)) found = true;
  }
  return found;
}

/** The sizes a stateless reset answering a packet may take, both inclusive. */
export interface StatelessResetSizeRange {
  /** Smallest size. */
  readonly min: number;
  /** Largest size. */
  readonly max: number;
}

/**
 * The sizes allowed for a stateless reset answering a datagram of `triggerLength` bytes, or
 * `undefined` when none may be sent (RFC 9000 §10.3, §10.3.3):
 * - strictly smaller than the triggering datagram, so a loop of resets shrinks until it stops
 *   (which also keeps far below the 3× amplification limit);
 * - at least {@link MIN_STATELESS_RESET_LENGTH}: a datagram of 21 bytes or fewer gets no reset;
 * - one byte shorter than a trigger of {@link SHORT_TRIGGER_LENGTH} bytes or fewer;
 * - otherwise from {@link UNIDENTIFIABLE_STATELESS_RESET_LENGTH} up to one byte shorter than the
 *   trigger, capped by `maxLength` (e.g. the path's datagram size).
 */
export function statelessResetSizeRange(triggerLength: number, maxLength = Number.POSITIVE_INFINITY): StatelessResetSizeRange | undefined {
  const max = Math.min(triggerLength - 1, Math.floor(maxLength));
  if (!(max >= MIN_STATELESS_RESET_LENGTH)) return undefined;
  if (triggerLength <= SHORT_TRIGGER_LENGTH) return { min: max, max };
  return { min: Math.min(max, UNIDENTIFIABLE_STATELESS_RESET_LENGTH), max };
}

/** Options of {@link buildStatelessReset}. */
export interface BuildStatelessResetOptions {
  /** Upper bound on the reset's size (e.g. the path MTU). */
  readonly maxLength?: number;
}

/**
 * Builds a stateless reset datagram answering a datagram of `triggerLength` bytes, or returns
 * `undefined` when the looping rules forbid one ({@link statelessResetSizeRange}). The size is
 * drawn uniformly from the allowed range. Layout (RFC 9000 §10.3): first byte `0b01xxxxxx` (short
 * header form, fixed bit set, 6 random bits), random bytes, then the 16-byte `token`.
 *
 * Rate limiting (§10.3.3) is the endpoint's: see {@link StatelessResetLimiter}.
 */
export function buildStatelessReset(
  provider: CryptoProvider,
  token: Uint8Array,
  triggerLength: number,
  options: BuildStatelessResetOptions = {},
): Uint8Array | undefined {
  if (token.length !== STATELESS_RESET_TOKEN_LENGTH) throw new RangeError(`a stateless reset token has 16 bytes, got ${token.length}`);
  const range = statelessResetSizeRange(triggerLength, options.maxLength);
  if (range === undefined) return undefined;
  const span = range.max - range.min + 1;
  const r = provider.randomBytes(4);
  const pick = (((r[0] << 24) | (r[1] << 16) | (r[2] << 8) | r[3]) >>> 0) % span;
  const size = range.min + pick;
  const out = new Uint8Array(size);
  out.set(provider.randomBytes(size - STATELESS_RESET_TOKEN_LENGTH), 0);
  // Fixed Bits (2) = 1: header form 0 (short), fixed bit 1; the other six bits stay random.
  out[0] = 0x40 | (out[0] & 0x3f);
  out.set(token, size - STATELESS_RESET_TOKEN_LENGTH);
  return out;
}

/**
 * The smallest packet we should send so that a stateless reset from the peer cannot be told
 * apart from a valid packet: 22 bytes more than the connection ID length we ask the peer to use,
 * i.e. our own connection ID length (RFC 9000 §10.3; pad with PADDING frames).
 */
export function minPacketSizeHidingResets(localConnectionIdLength: number): number {
  return localConnectionIdLength + 22;
}

/** Options of a {@link StatelessResetLimiter}. Rates are per second; time is in milliseconds. */
export interface StatelessResetLimiterOptions {
  /** Resets per second one remote address earns. Default 1. */
  readonly perAddressRate?: number;
  /** Resets one remote address may receive in a burst. Default 3. */
  readonly perAddressBurst?: number;
  /** Resets per second for the whole endpoint. Default 100. */
  readonly globalRate?: number;
  /** Burst for the whole endpoint. Default 100. */
  readonly globalBurst?: number;
  /** Remote addresses tracked at once; the least recently seen is forgotten beyond it. Default 1024. */
  readonly maxAddresses?: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * Token-bucket limits on the stateless resets an endpoint sends (RFC 9000 §10.3.3: "An endpoint
 * can remember the number of Stateless Resets that it has sent and stop generating new Stateless
 * Resets once a limit is reached. Using separate limits for different remote addresses will
 * ensure that Stateless Resets can be used to close connections when other peers or connections
 * have exhausted limits."). A global bucket bounds the total; one bucket per remote address
 * (a bounded, least-recently-used map) keeps one address from using it all. Sans-IO: the caller
 * passes the time.
 */
export class StatelessResetLimiter {
  private readonly perRate: number;
  private readonly perBurst: number;
  private readonly globalRate: number;
  private readonly maxAddresses: number;
  private readonly global: Bucket;
  private readonly globalBurst: number;
  private readonly buckets = new Map<string, Bucket>();

  constructor(options: StatelessResetLimiterOptions = {}) {
    this.perRate = options.perAddressRate ?? 1;
    this.perBurst = options.perAddressBurst ?? 3;
    this.globalRate = options.globalRate ?? 100;
    this.globalBurst = options.globalBurst ?? 100;
    this.maxAddresses = Math.max(1, options.maxAddresses ?? 1024);
    this.global = { tokens: this.globalBurst, at: Number.NEGATIVE_INFINITY };
  }

  /** Number of remote addresses currently tracked (never above `maxAddresses`). */
  get trackedAddresses(): number {
    return this.buckets.size;
  }

  /**
   * Whether a stateless reset may be sent to `address` (any stable key, e.g. `ip:port`) at time
   * `now` (ms). When allowed, the reset is counted against both limits.
   */
  allow(address: string, now: number): boolean {
    refill(this.global, now, this.globalRate, this.globalBurst);
    let bucket = this.buckets.get(address);
    if (bucket === undefined) {
      bucket = { tokens: this.perBurst, at: now };
      if (this.buckets.size >= this.maxAddresses) {
        const oldest = this.buckets.keys().next().value as string;
        this.buckets.delete(oldest);
      }
    } else {
      this.buckets.delete(address);
      refill(bucket, now, this.perRate, this.perBurst);
    }
    this.buckets.set(address, bucket);
    if (bucket.tokens < 1 || this.global.tokens < 1) return false;
    bucket.tokens -= 1;
    this.global.tokens -= 1;
    return true;
  }
}

function refill(bucket: Bucket, now: number, ratePerSecond: number, burst: number): void {
  if (bucket.at === Number.NEGATIVE_INFINITY) {
    bucket.at = now;
    return;
  }
  const elapsed = now - bucket.at;
  if (elapsed > 0) {
    bucket.tokens = Math.min(burst, bucket.tokens + (elapsed * ratePerSecond) / 1000);
    bucket.at = now;
  }
}
