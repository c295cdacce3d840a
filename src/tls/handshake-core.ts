/**
 * What the client and server handshake steps share: the output queue, the transcript, the
 * conversion of any failure into a typed {@link QuicError}, and secret erasure.
 *
 * @module
 */
import { KeyExchangeError } from '../crypto/common.js';
import type { CryptoProvider } from '../crypto/provider.js';
import { QuicError } from '../wire/errors.js';
import type { TlsFailureInfo, TlsHandshakeLevel, TlsStepResult } from '../../machines/tls-common.js';
import { TlsAlert, TlsAlertError } from './alerts.js';
import type { CipherSuiteParams } from './cipher-suites.js';
import type { KeySchedule } from './key-schedule.js';
import { encodeHandshakeMessage, type HandshakeMessage } from './messages.js';
import type { TlsSessionEvent } from './session-events.js';
import { Transcript } from './transcript.js';

/**
 * Any failure as the typed error QUIC closes the connection with: a {@link QuicError} (a
 * {@link TlsAlertError} included) as is; an invalid key share (`KeyExchangeError`) as
 * illegal_parameter (RFC 8446 §4.2.8.2); anything else — a bug — as internal_error.
 */
export function toQuicError(e: unknown): QuicError {
  if (e instanceof QuicError) return e;
  if (e instanceof KeyExchangeError) return new TlsAlertError(TlsAlert.illegal_parameter, `invalid key share: ${e.message}`, { cause: e });
  const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return new TlsAlertError(TlsAlert.internal_error, `unexpected failure: ${message}`, { cause: e });
}

/** The plain-data summary of an error that the machines keep in their context. */
export function failureInfo(error: QuicError): TlsFailureInfo {
  return { code: error.code, alert: error instanceof TlsAlertError ? error.alert : undefined, reason: error.reason };
}

/** @internal Shared state and helpers of {@link ClientHandshake} and {@link ServerHandshake}. */
export abstract class HandshakeCore {
  /** The crypto provider. */
  readonly provider: CryptoProvider;
  /** Transcript-Hash input (RFC 8446 §4.4.1). */
  protected readonly transcript: Transcript;
  /** The key schedule, once the cipher suite is known. */
  protected keySchedule: KeySchedule | undefined;
  /** The negotiated suite. */
  protected suite: CipherSuiteParams | undefined;
  /** The first failure. */
  error: QuicError | undefined;
  /** The time of the current input, in ms. */
  now = 0;
  /** True once the handshake is complete. */
  complete = false;
  private readonly events: TlsSessionEvent[] = [];
  private readonly secrets: Uint8Array[] = [];

  constructor(provider: CryptoProvider) {
    this.provider = provider;
    this.transcript = new Transcript(provider);
  }

  /** Runs a step: its failure, whatever it is, becomes {@link error} and the returned summary. */
  protected run(step: () => void): TlsStepResult {
    if (this.error !== undefined) return failureInfo(this.error);
    try {
      step();
      return undefined;
    } catch (e) {
      return this.recordFailure(e);
    }
  }

  /** Records `e` as the failure (the first one wins) and returns its summary. */
  recordFailure(e: unknown): TlsFailureInfo {
    this.error ??= toQuicError(e);
    return failureInfo(this.error);
  }

  /** Takes every event queued since the last call, in order. */
  drain(): TlsSessionEvent[] {
    return this.events.splice(0, this.events.length);
  }

  /** Queues an event. */
  protected emit(event: TlsSessionEvent): void {
    this.events.push(event);
  }

  /**
   * Encodes `message`, adds it to the transcript unless told not to (NewSessionTicket is not part of
   * it), and queues its bytes at `level`, joined to the previous bytes of that level when nothing
   * came in between.
   */
  protected send(level: TlsHandshakeLevel, message: HandshakeMessage, options: { transcript?: boolean } = {}): Uint8Array {
    const raw = encodeHandshakeMessage(message);
    if (options.transcript !== false) this.transcript.add(raw);
    const last = this.events[this.events.length - 1];
    if (last !== undefined && last.type === 'handshake_data' && last.level === level) {
      const joined = new Uint8Array(last.data.length + raw.length);
      joined.set(last.data, 0);
      joined.set(raw, last.data.length);
      this.events[this.events.length - 1] = { type: 'handshake_data', level, data: joined };
    } else {
      this.emit({ type: 'handshake_data', level, data: raw });
    }
    return raw;
  }

  /** Queues a traffic secret (a copy) for QUIC. */
  protected emitSecret(level: 'handshake' | 'oneRtt', direction: 'read' | 'write', secret: Uint8Array): void {
    if (this.suite === undefined) throw new TlsAlertError(TlsAlert.internal_error, 'secret before the cipher suite is known');
    this.emit({ type: 'secret', level, direction, secret: secret.slice(), cipherSuite: this.suite });
  }

  /** Remembers `secret` so that {@link erase} zeroes it; returns it. */
  protected keep(secret: Uint8Array): Uint8Array {
    this.secrets.push(secret);
    return secret;
  }

  /** Hash.length of the negotiated cipher suite, once known (to check Finished lengths). */
  get negotiatedHashLength(): number | undefined {
    return this.suite?.hashLength;
  }

  /** The negotiated cipher suite, once known. */
  get cipherSuite(): CipherSuiteParams | undefined {
    return this.suite;
  }

  /**
   * Entered a final state of the machine: report the failure (for `failed`) as the last event and
   * erase the secrets.
   */
  terminated(state: 'closed' | 'failed'): void {
    if (state === 'failed' && this.error !== undefined) this.emit({ type: 'failed', error: this.error });
    this.erase();
  }

  /** Zeroes every kept secret and the key schedule (RFC 8446 §7.1: secrets SHOULD be erased once no longer needed). */
  erase(): void {
    for (const s of this.secrets) s.fill(0);
    this.secrets.length = 0;
    this.keySchedule?.erase();
  }
}

/** Byte-wise equality. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The failure for a message event that the machine's current state does not accept (RFC 8446 §4). */
export function unexpectedMessageFailure(core: HandshakeCore, eventType: string, state: string): TlsFailureInfo {
  return core.recordFailure(new TlsAlertError(TlsAlert.unexpected_message, `${eventType} is not acceptable in state ${state}`));
}
