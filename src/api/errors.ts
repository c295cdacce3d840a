/**
 * The errors of the public API: every failure a user sees is one of these classes (or the
 * transport's {@link QuicError} for a misuse the core refuses), never a plain string.
 *
 * @module
 */
import { CRYPTO_ERROR_BASE, QuicError, transportErrorName } from '../wire/errors.js';
import { tlsAlertName } from '../tls/alerts.js';
import type { ConnectionCloseInfo } from '../transport/connection-types.js';

/**
 * Why a connection ended: who ended it (`source`), whether it was the application's close
 * (`application`, CONNECTION_CLOSE 0x1d) or the transport's (0x1c), the error `code` and the
 * `reason` phrase (RFC 9000 §10.2, §19.19).
 */
export type QuicCloseInfo = ConnectionCloseInfo;

function describe(info: QuicCloseInfo): string {
  const code = info.application ? `application error ${info.code}` : transportErrorName(Number(info.code));
  const who =
    info.source === 'peer'
      ? 'closed by the peer'
      : info.source === 'local'
        ? 'closed locally'
        : info.source === 'idle-timeout'
          ? 'idle timeout'
          : info.source === 'handshake-timeout'
            ? 'handshake timeout'
            : info.source === 'stateless-reset'
              ? 'stateless reset by the peer'
              : 'version negotiation failed';
  return `QUIC connection ${who}: ${code}${info.reason ? ` (${info.reason})` : ''}`;
}

/**
 * A connection failed or ended while an operation needed it: a handshake that did not complete
 * (`connect()` rejects with it), a stream whose connection closed, a stream that could not be
 * opened. Carries the close information.
 */
export class QuicConnectionError extends Error {
  /** The close information. */
  readonly info: QuicCloseInfo;

  /** Wraps `info`; `cause` is the error behind a local close, if any. */
  constructor(info: QuicCloseInfo) {
    super(describe(info), info.error === undefined ? undefined : { cause: info.error });
    this.name = 'QuicConnectionError';
    this.info = info;
  }

  /** The error code: a transport error code (RFC 9000 §20.1) or the application's. */
  get code(): bigint {
    return this.info.code;
  }

  /** Who ended the connection. */
  get source(): QuicCloseInfo['source'] {
    return this.info.source;
  }

  /** True for an application close (CONNECTION_CLOSE type 0x1d). */
  get application(): boolean {
    return this.info.application;
  }

  /** The reason phrase. */
  get reason(): string {
    return this.info.reason;
  }

  /**
   * For a TLS failure (transport code CRYPTO_ERROR = 0x0100 + alert, RFC 9001 §4.8), the TLS alert
   * description (e.g. 42 bad_certificate, 120 no_application_protocol); otherwise undefined.
   */
  get tlsAlert(): number | undefined {
    if (this.info.application) return undefined;
    const c = Number(this.info.code);
    return c >= CRYPTO_ERROR_BASE && c <= CRYPTO_ERROR_BASE + 0xff ? c - CRYPTO_ERROR_BASE : undefined;
  }

  /** The TLS alert's name (`bad_certificate`, …) when {@link tlsAlert} is defined. */
  get tlsAlertName(): string | undefined {
    const a = this.tlsAlert;
    return a === undefined ? undefined : tlsAlertName(a);
  }
}

/** How a stream ended abruptly. */
export type QuicStreamErrorKind =
  /** The peer reset its sending side (RESET_STREAM, RFC 9000 §19.4): data stopped arriving. */
  | 'reset'
  /** The peer asked this endpoint to stop sending (STOP_SENDING, RFC 9000 §19.5): writes fail. */
  | 'stop-sending'
  /** This endpoint reset its sending side or stopped reading (`reset()`, `stopSending()`, abort, cancel). */
  | 'local';

/** A stream ended abruptly: reset by the peer, stopped by the peer, or aborted locally. */
export class QuicStreamError extends Error {
  /** The stream. */
  readonly streamId: number;
  /** The application error code the stream was reset or stopped with. */
  readonly code: bigint;
  /** What happened. */
  readonly kind: QuicStreamErrorKind;

  /** @internal */
  constructor(streamId: number, kind: QuicStreamErrorKind, code: bigint) {
    const what = kind === 'reset' ? 'reset by the peer' : kind === 'stop-sending' ? 'stopped by the peer (STOP_SENDING)' : 'aborted locally';
    super(`QUIC stream ${streamId} ${what} with code ${code}`);
    this.name = 'QuicStreamError';
    this.streamId = streamId;
    this.code = code;
    this.kind = kind;
  }
}

/** An application error code from a `reset(code)`/`abort(reason)`/`cancel(reason)` argument: a number or bigint, a {@link QuicStreamError}'s code, else 0. */
export function applicationCode(reason: unknown): bigint {
  if (typeof reason === 'bigint') return reason;
  if (typeof reason === 'number' && Number.isSafeInteger(reason) && reason >= 0) return BigInt(reason);
  if (reason instanceof QuicStreamError) return reason.code;
  return 0n;
}

export { QuicError };
