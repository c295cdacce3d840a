/**
 * What the TLS client and server machines share: the failure record they keep in their context,
 * the result of a handshake step, and the encryption level each state reads handshake bytes at.
 *
 * The machines (`tls-client.ts`, `tls-server.ts`) are the single definition of the handshake's
 * states and transitions (RFC 8446 Appendix A). Each transition names the steps it performs
 * (`receiveServerHello`, `sendFinished`, …); the steps are plain TypeScript handlers given to the
 * machine factory (the TLS session in `src/tls/session.ts` provides them). A step never throws:
 * it returns `undefined` on success or a {@link TlsFailureInfo}, which the machine stores in its
 * context; every non-final state's first eventless transition then leads to `failed` within the
 * same macrostep, so a refused message never leaves the machine in the state it would have reached.
 *
 * @module
 */
import type { EncryptionLevel } from '../src/wire/levels.js';

/** Why a handshake failed, as kept in the machine's context (plain data: the inspector shows it). */
export interface TlsFailureInfo {
  /** The QUIC error code: CRYPTO_ERROR (0x0100 + alert) for TLS alerts, or a transport error code. */
  readonly code: number;
  /** The TLS alert description, when the failure is a TLS alert. */
  readonly alert: number | undefined;
  /** What went wrong, for people. */
  readonly reason: string;
}

/** The result of one handshake step: `undefined` when it succeeded, otherwise why it failed. */
export type TlsStepResult = TlsFailureInfo | undefined;

/** The encryption levels that carry handshake messages (RFC 9001 §4.1.3: not 0-RTT). */
export type TlsHandshakeLevel = Exclude<EncryptionLevel, 'zeroRtt'>;

/**
 * State metadata of the TLS machines: the encryption level at which the state reads handshake
 * messages, or `null` when it reads none (the client's START, the final states). Bytes at any
 * other level are refused with unexpected_message (RFC 8446 §5.1, RFC 9001 §4.1.3).
 */
export interface TlsStateMeta {
  /** The level whose CRYPTO bytes this state reads. */
  readonly level: TlsHandshakeLevel | null;
}

/**
 * The receive level of a machine snapshot, read from the `meta` of its state (see
 * {@link TlsStateMeta}); `null` when the state reads no handshake bytes.
 */
export function tlsReceiveLevel(snapshot: { getMeta(): Record<string, unknown> }): TlsHandshakeLevel | null {
  for (const meta of Object.values(snapshot.getMeta())) {
    if (meta !== undefined && meta !== null && typeof meta === 'object' && 'level' in meta) return (meta as TlsStateMeta).level;
  }
  return null;
}

/**
 * The failure every step reports when an actor of the shared TLS machine has no handlers bound
 * (a programming error: bind them before `start()`): internal_error (0x150).
 */
export const UNBOUND_HANDLERS_FAILURE: TlsFailureInfo = {
  code: 0x100 + 80,
  alert: 80,
  reason: 'no TLS handshake handlers are bound to this actor',
};
