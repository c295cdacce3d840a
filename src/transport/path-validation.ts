/**
 * Path validation (RFC 9000 §8.2) as the connection runs it on the current peer address, and the
 * challenge of the previous path after an apparent migration (§9.3.3).
 *
 * Sans-IO: {@link PathValidator} draws the challenge data, remembers which challenges are its own,
 * when the validation fails and which challenges went out in datagrams too small to prove the
 * path MTU (§8.2.1), and judges each PATH_RESPONSE. The connection sends the frames and applies the
 * outcome (the anti-amplification limit, the fallback path, congestion and PMTU state).
 *
 * @module
 */
import { equalBytes } from '@noble/ciphers/utils.js';
import type { SentFrame } from '../packet/types.js';

/** PATH_CHALLENGE frames sent at most for one path validation (a lost one is replaced by a fresh one, RFC 9000 §8.2.1, §13.3). */
export const MAX_PATH_CHALLENGES = 4;

/** Bytes of PATH_CHALLENGE data (RFC 9000 §19.17). */
const CHALLENGE_LENGTH = 8;

/** What a PATH_RESPONSE meant (RFC 9000 §8.2.3). */
export type PathResponseOutcome =
  /** It echoed none of the current challenges: ignored (§8.2.2 only permits treating it as an error). */
  | { readonly kind: 'ignored' }
  /** It echoed the challenge sent to the previous path (§9.3.3): that path works; nothing else changes. */
  | { readonly kind: 'previous-path' }
  /**
   * It echoed a challenge of the validation under way, which is over. `mtuCheck`: that validation
   * was the second, full-size one §8.2.1 asks for. `small`: the echoed challenge went out in a
   * datagram below 1200 bytes, so the path MTU is not validated yet (§8.2.1).
   */
  | { readonly kind: 'validated'; readonly mtuCheck: boolean; readonly small: boolean };

/** Counts of a {@link PathValidator}, for the connection's statistics. */
export interface PathValidationStats {
  /** Validations started. */
  readonly started: number;
  /** Validations that received a matching PATH_RESPONSE. */
  readonly succeeded: number;
  /** Validations that timed out. */
  readonly failed: number;
  /** PATH_CHALLENGE frames sent to the previous path (§9.3.3). */
  readonly previousPathChallengesSent: number;
  /** Of those, answered. */
  readonly previousPathChallengesAnswered: number;
}

/** A validation under way: the data of its challenges, when it fails, and the challenges sent small. */
interface Validation {
  readonly challenges: Uint8Array[];
  readonly deadline: number;
  readonly small: Uint8Array[];
  readonly mtuCheck: boolean;
}

/**
 * The path validation of one connection: at most one validation under way on the current peer
 * address, plus at most one challenge of the previous path.
 */
export class PathValidator {
  private validation: Validation | undefined;
  private previous: Uint8Array | undefined;
  private started = 0;
  private succeeded = 0;
  private failed = 0;
  private previousSent = 0;
  private previousAnswered = 0;

  /** `randomBytes` draws the unpredictable challenge data (RFC 9000 §8.2.1). */
  constructor(private readonly randomBytes: (length: number) => Uint8Array) {}

  /** True while a validation is under way. */
  get active(): boolean {
    return this.validation !== undefined;
  }

  /** When the validation under way fails (RFC 9000 §8.2.4), or undefined. */
  get deadline(): number | undefined {
    return this.validation?.deadline;
  }

  /** The counts so far. */
  get stats(): PathValidationStats {
    return {
      started: this.started,
      succeeded: this.succeeded,
      failed: this.failed,
      previousPathChallengesSent: this.previousSent,
      previousPathChallengesAnswered: this.previousAnswered,
    };
  }

  /**
   * Starts a validation that fails at `deadline`, replacing any under way, and returns the data of
   * its first PATH_CHALLENGE. `mtuCheck`: the second, full-size validation of RFC 9000 §8.2.1.
   */
  start(deadline: number, mtuCheck: boolean): Uint8Array {
    const data = this.randomBytes(CHALLENGE_LENGTH);
    this.validation = { challenges: [data], deadline, small: [], mtuCheck };
    this.started++;
    return data;
  }

  /**
   * A packet carrying the PATH_CHALLENGE `data` was lost: returns the data of a fresh challenge to
   * send in its place (RFC 9000 §13.3), or undefined when `data` is not a challenge of the
   * validation under way or {@link MAX_PATH_CHALLENGES} were sent already.
   */
  onChallengeLost(data: Uint8Array): Uint8Array | undefined {
    const v = this.validation;
    if (v === undefined || v.challenges.length >= MAX_PATH_CHALLENGES || !includes(v.challenges, data)) return undefined;
    const fresh = this.randomBytes(CHALLENGE_LENGTH);
    v.challenges.push(fresh);
    return fresh;
  }

  /**
   * A datagram below 1200 bytes went out with `frames` while the anti-amplification limit applied:
   * its challenges of the validation under way cannot validate the path MTU (RFC 9000 §8.2.1).
   */
  onSmallDatagramSent(frames: readonly SentFrame[]): void {
    const v = this.validation;
    if (v === undefined) return;
    for (let i = 0; i < frames.length; i++) {
      const f = frames[i];
      if (f.kind === 'pathChallenge' && includes(v.challenges, f.data)) v.small.push(f.data);
    }
  }

  /** Returns the data of a PATH_CHALLENGE for the previous path (RFC 9000 §9.3.3), replacing any earlier one. */
  challengePreviousPath(): Uint8Array {
    const data = this.randomBytes(CHALLENGE_LENGTH);
    this.previous = data;
    this.previousSent++;
    return data;
  }

  /** Judges a PATH_RESPONSE echoing `data`, received on any path (RFC 9000 §8.2.3). */
  onResponse(data: Uint8Array): PathResponseOutcome {
    if (this.previous !== undefined && equalBytes(this.previous, data)) {
      this.previous = undefined;
      this.previousAnswered++;
      return { kind: 'previous-path' };
    }
    const v = this.validation;
    if (v === undefined || !includes(v.challenges, data)) return { kind: 'ignored' };
    this.validation = undefined;
    this.succeeded++;
    return { kind: 'validated', mtuCheck: v.mtuCheck, small: includes(v.small, data) };
  }

  /** Forgets the validation under way, if any; true when there was one (its queued challenges should be cancelled). */
  abandon(): boolean {
    if (this.validation === undefined) return false;
    this.validation = undefined;
    return true;
  }

  /**
   * The validation under way timed out (RFC 9000 §8.2.4): counts it and forgets it. Returns how
   * long its timeout had been left at `now` (0 when none was under way), for the caller's hold-off.
   */
  fail(now: number): number {
    const left = this.validation === undefined ? 0 : this.validation.deadline - now;
    this.failed++;
    this.validation = undefined;
    return left;
  }
}

function includes(list: readonly Uint8Array[], data: Uint8Array): boolean {
  for (let i = 0; i < list.length; i++) if (equalBytes(list[i], data)) return true;
  return false;
}
