/**
 * The TLS 1.3 client handshake for QUIC as an XState machine: the states and transitions of
 * RFC 8446 Appendix A.1 (RFC 9846 Appendix A.1), with QUIC's changes (RFC 9001).
 *
 * ```text
 *   START ──start: send ClientHello──▶ WAIT_SH ──hello_retry_request (first only)──▶ START ─(send ClientHello2)─▶ WAIT_SH
 *   WAIT_SH ──server_hello: K_recv = K_send = handshake──▶ WAIT_EE
 *   WAIT_EE ──encrypted_extensions──▶ WAIT_CERT_CR
 *   WAIT_CERT_CR ──certificate──▶ WAIT_CV          WAIT_CERT_CR ──certificate_request──▶ WAIT_CERT ──certificate──▶ WAIT_CV
 *   WAIT_CV ──certificate_verify──▶ WAIT_FINISHED
 *   WAIT_FINISHED ──finished: [send Certificate [+ CertificateVerify]], send Finished, K = application──▶ CONNECTED
 *   CONNECTED ──new_session_ticket──▶ CONNECTED
 *   any state ──close──▶ closed;  a refused message, a failed step or `fail` ──▶ failed
 * ```
 *
 * Differences from the RFC diagram, all from QUIC:
 * - No early data: the client offers no PSK and no 0-RTT yet, so the "Using PSK" branch
 *   (WAIT_EE → WAIT_FINISHED) and [Send EndOfEarlyData] are absent; EndOfEarlyData is never used
 *   with QUIC (RFC 9001 §8.3).
 * - Keys: QUIC receives the handshake secrets in both directions when the ServerHello is processed
 *   (it must acknowledge Handshake packets before it sends CRYPTO data there, RFC 9001 §4.1.4).
 * - Post-handshake: only NewSessionTicket; KeyUpdate is refused by the codec (RFC 9001 §6).
 *
 * Any message event a state has no transition for — or whose guard refuses it, like a second
 * HelloRetryRequest (RFC 8446 §4.1.4) — takes the root wildcard transition to `failed` with
 * unexpected_message. Each state's `meta.level` is the encryption level it reads (see
 * `TlsStateMeta`).
 *
 * @module
 */
import { assign, setup, type AnyActorRef } from 'xstate';
import type {
  Certificate,
  CertificateRequest,
  CertificateVerify,
  EncryptedExtensions,
  Finished,
  HelloRetryRequest,
  NewSessionTicket,
  ServerHello,
} from '../src/tls/messages.js';
import { UNBOUND_HANDLERS_FAILURE, type TlsFailureInfo, type TlsStateMeta, type TlsStepResult } from './tls-common.js';

/** The states of the client machine: RFC 8446 Appendix A.1 names, plus the final `closed` and `failed`. */
export const TLS_CLIENT_STATES = [
  'START',
  'WAIT_SH',
  'WAIT_EE',
  'WAIT_CERT_CR',
  'WAIT_CERT',
  'WAIT_CV',
  'WAIT_FINISHED',
  'CONNECTED',
  'closed',
  'failed',
] as const;

/** A state of the client machine. */
export type TlsClientState = (typeof TLS_CLIENT_STATES)[number];

/** The context of the client machine: plain data, shown by an inspector. */
export interface TlsClientMachineContext {
  /** True once a HelloRetryRequest was received (a second one is unexpected_message, RFC 8446 §4.1.4). */
  readonly retried: boolean;
  /** True once the server sent a CertificateRequest: the client then authenticates (RFC 8446 §4.4.2). */
  readonly certificateRequested: boolean;
  /** Why the handshake failed, once it has. */
  readonly failure: TlsFailureInfo | undefined;
}

/** A received handshake message as a machine event: the decoded message and its bytes (for the transcript). */
export interface TlsClientMessageEvent<T extends string, M> {
  readonly type: T;
  /** The decoded message. */
  readonly message: M;
  /** The whole message as received, header included (RFC 8446 §4.4.1 transcript input). */
  readonly raw: Uint8Array;
}

/** The events of the client machine: one per received server message, plus start, close and fail. */
export type TlsClientMachineEvent =
  | { readonly type: 'start' }
  | TlsClientMessageEvent<'hello_retry_request', HelloRetryRequest>
  | TlsClientMessageEvent<'server_hello', ServerHello>
  | TlsClientMessageEvent<'encrypted_extensions', EncryptedExtensions>
  | TlsClientMessageEvent<'certificate_request', CertificateRequest>
  | TlsClientMessageEvent<'certificate', Certificate>
  | TlsClientMessageEvent<'certificate_verify', CertificateVerify>
  | TlsClientMessageEvent<'finished', Finished>
  | TlsClientMessageEvent<'new_session_ticket', NewSessionTicket>
  | { readonly type: 'close' }
  | { readonly type: 'fail'; readonly failure: TlsFailureInfo };

/** The type names of the client machine's message events (the server messages it can receive). */
export type TlsClientMessageEventType = Exclude<TlsClientMachineEvent['type'], 'start' | 'close' | 'fail'>;

/**
 * The steps the client machine performs, implemented by the TLS session. Each returns `undefined`
 * on success or why it failed; none throws. `raw` is the received message with its header.
 */
export interface TlsClientMachineHandlers {
  /** START → WAIT_SH: send the ClientHello (the second one, for the selected group, after a HelloRetryRequest). */
  sendClientHello(): TlsStepResult;
  /** WAIT_SH → START: check the HelloRetryRequest and prepare ClientHello2 (RFC 8446 §4.1.4). */
  receiveHelloRetryRequest(message: HelloRetryRequest, raw: Uint8Array): TlsStepResult;
  /** WAIT_SH → WAIT_EE: check the ServerHello, compute the (EC)DHE secret, install the handshake secrets. */
  receiveServerHello(message: ServerHello, raw: Uint8Array): TlsStepResult;
  /** WAIT_EE → WAIT_CERT_CR: check EncryptedExtensions (ALPN, transport parameters, solicited extensions). */
  receiveEncryptedExtensions(message: EncryptedExtensions, raw: Uint8Array): TlsStepResult;
  /** WAIT_CERT_CR → WAIT_CERT: record what the CertificateRequest asks for. */
  receiveCertificateRequest(message: CertificateRequest, raw: Uint8Array): TlsStepResult;
  /** → WAIT_CV: verify the server's certificate chain. */
  receiveCertificate(message: Certificate, raw: Uint8Array): TlsStepResult;
  /** WAIT_CV → WAIT_FINISHED: verify the server's CertificateVerify signature. */
  receiveCertificateVerify(message: CertificateVerify, raw: Uint8Array): TlsStepResult;
  /** WAIT_FINISHED → CONNECTED: verify the server's Finished; derive the application secrets. */
  receiveFinished(message: Finished, raw: Uint8Array): TlsStepResult;
  /** WAIT_FINISHED → CONNECTED after a CertificateRequest: send Certificate (possibly empty) [+ CertificateVerify]. */
  sendClientAuthentication(): TlsStepResult;
  /** WAIT_FINISHED → CONNECTED: send Finished, install the 1-RTT secrets, report the handshake complete. */
  sendFinished(): TlsStepResult;
  /** CONNECTED: check and store a NewSessionTicket. */
  receiveNewSessionTicket(message: NewSessionTicket, raw: Uint8Array): TlsStepResult;
  /** A message event `state` has no transition for: the unexpected_message failure to record. */
  unexpectedMessage(eventType: string, state: string): TlsFailureInfo;
  /** Entered a final state (`closed` or `failed`): erase secrets. */
  terminated(state: 'closed' | 'failed'): void;
}

/** What the client machine outputs when it reaches a final state. */
export interface TlsClientMachineOutput {
  /** The final state. */
  readonly state: 'closed' | 'failed';
  /** Why it failed (for `failed`). */
  readonly failure: TlsFailureInfo | undefined;
}

const level = (l: TlsStateMeta['level']): TlsStateMeta => ({ level: l });

/**
 * Creates the client machine. Its steps are looked up per actor with `handlersFor(self)`, so one
 * machine serves every connection while each connection's handshake state stays out of the
 * machine's context (an inspector never sees secrets). {@link tlsClientMachine} is the machine the
 * sessions use ({@link bindTlsClientHandlers} attaches a connection's handlers to its actor); tests
 * build their own with model handlers.
 */
export function createTlsClientMachine(handlersFor: (self: AnyActorRef) => TlsClientMachineHandlers) {
  const step = (context: TlsClientMachineContext, run: () => TlsStepResult): Partial<TlsClientMachineContext> =>
    context.failure !== undefined ? {} : { failure: run() };
  const failedCheck = { guard: 'failed', target: 'failed' } as const;

  return setup({
    types: {} as {
      context: TlsClientMachineContext;
      events: TlsClientMachineEvent;
      output: TlsClientMachineOutput;
    },
    actions: {
      sendClientHello: assign(({ context, self }) => step(context, () => handlersFor(self).sendClientHello())),
      receiveHelloRetryRequest: assign(({ context, event, self }) =>
        event.type === 'hello_retry_request' ? { ...step(context, () => handlersFor(self).receiveHelloRetryRequest(event.message, event.raw)), retried: true } : {},
      ),
      receiveServerHello: assign(({ context, event, self }) =>
        event.type === 'server_hello' ? step(context, () => handlersFor(self).receiveServerHello(event.message, event.raw)) : {},
      ),
      receiveEncryptedExtensions: assign(({ context, event, self }) =>
        event.type === 'encrypted_extensions' ? step(context, () => handlersFor(self).receiveEncryptedExtensions(event.message, event.raw)) : {},
      ),
      receiveCertificateRequest: assign(({ context, event, self }) =>
        event.type === 'certificate_request'
          ? { ...step(context, () => handlersFor(self).receiveCertificateRequest(event.message, event.raw)), certificateRequested: true }
          : {},
      ),
      receiveCertificate: assign(({ context, event, self }) =>
        event.type === 'certificate' ? step(context, () => handlersFor(self).receiveCertificate(event.message, event.raw)) : {},
      ),
      receiveCertificateVerify: assign(({ context, event, self }) =>
        event.type === 'certificate_verify' ? step(context, () => handlersFor(self).receiveCertificateVerify(event.message, event.raw)) : {},
      ),
      receiveFinished: assign(({ context, event, self }) =>
        event.type === 'finished' ? step(context, () => handlersFor(self).receiveFinished(event.message, event.raw)) : {},
      ),
      sendClientAuthentication: assign(({ context, self }) => step(context, () => handlersFor(self).sendClientAuthentication())),
      sendFinished: assign(({ context, self }) => step(context, () => handlersFor(self).sendFinished())),
      receiveNewSessionTicket: assign(({ context, event, self }) =>
        event.type === 'new_session_ticket' ? step(context, () => handlersFor(self).receiveNewSessionTicket(event.message, event.raw)) : {},
      ),
      recordFailure: assign(({ context, event }) => (event.type === 'fail' && context.failure === undefined ? { failure: event.failure } : {})),
      unexpectedMessage: assign(({ context, event, self }) =>
        context.failure !== undefined ? {} : { failure: handlersFor(self).unexpectedMessage(event.type, String(self.getSnapshot().value)) },
      ),
      terminatedClosed: ({ self }) => handlersFor(self).terminated('closed'),
      terminatedFailed: ({ self }) => handlersFor(self).terminated('failed'),
    },
    guards: {
      failed: ({ context }) => context.failure !== undefined,
      retried: ({ context }) => context.retried,
      notRetried: ({ context }) => !context.retried,
      certificateRequested: ({ context }) => context.certificateRequested,
    },
  }).createMachine({
    id: 'tls-client',
    initial: 'START',
    context: { retried: false, certificateRequested: false, failure: undefined },
    output: ({ context }) => ({ state: context.failure === undefined ? 'closed' : 'failed', failure: context.failure }),
    on: {
      close: { target: '.closed' },
      fail: { target: '.failed', actions: 'recordFailure' },
      // RFC 8446 §4: a message out of order (or not acceptable here) → unexpected_message.
      '*': { target: '.failed', actions: 'unexpectedMessage' },
    },
    states: {
      START: {
        meta: level(null),
        on: { start: { target: 'WAIT_SH', actions: 'sendClientHello' } },
        // RFC 8446 Appendix A.1: Recv HelloRetryRequest → START → Send ClientHello → WAIT_SH.
        always: [failedCheck, { guard: 'retried', target: 'WAIT_SH', actions: 'sendClientHello' }],
      },
      WAIT_SH: {
        meta: level('initial'),
        always: [failedCheck],
        on: {
          // RFC 8446 §4.1.4: a second HelloRetryRequest → unexpected_message (the guard refuses it).
          hello_retry_request: { guard: 'notRetried', target: 'START', actions: 'receiveHelloRetryRequest' },
          server_hello: { target: 'WAIT_EE', actions: 'receiveServerHello' },
        },
      },
      WAIT_EE: {
        meta: level('handshake'),
        always: [failedCheck],
        on: { encrypted_extensions: { target: 'WAIT_CERT_CR', actions: 'receiveEncryptedExtensions' } },
      },
      WAIT_CERT_CR: {
        meta: level('handshake'),
        always: [failedCheck],
        on: {
          certificate: { target: 'WAIT_CV', actions: 'receiveCertificate' },
          certificate_request: { target: 'WAIT_CERT', actions: 'receiveCertificateRequest' },
        },
      },
      WAIT_CERT: {
        meta: level('handshake'),
        always: [failedCheck],
        on: { certificate: { target: 'WAIT_CV', actions: 'receiveCertificate' } },
      },
      WAIT_CV: {
        meta: level('handshake'),
        always: [failedCheck],
        on: { certificate_verify: { target: 'WAIT_FINISHED', actions: 'receiveCertificateVerify' } },
      },
      WAIT_FINISHED: {
        meta: level('handshake'),
        always: [failedCheck],
        on: {
          finished: [
            { guard: 'certificateRequested', target: 'CONNECTED', actions: ['receiveFinished', 'sendClientAuthentication', 'sendFinished'] },
            { target: 'CONNECTED', actions: ['receiveFinished', 'sendFinished'] },
          ],
        },
      },
      CONNECTED: {
        // RFC 9001 §4: post-handshake messages (NewSessionTicket) arrive in 1-RTT packets.
        meta: level('oneRtt'),
        always: [failedCheck],
        on: { new_session_ticket: { actions: 'receiveNewSessionTicket' } },
      },
      closed: { type: 'final', meta: level(null), entry: 'terminatedClosed' },
      failed: { type: 'final', meta: level(null), entry: 'terminatedFailed' },
    },
  });
}

/** The client machine type. */
export type TlsClientMachine = ReturnType<typeof createTlsClientMachine>;

const clientHandlers = new WeakMap<AnyActorRef, TlsClientMachineHandlers>();

const unboundClientHandlers: TlsClientMachineHandlers = {
  sendClientHello: () => UNBOUND_HANDLERS_FAILURE,
  receiveHelloRetryRequest: () => UNBOUND_HANDLERS_FAILURE,
  receiveServerHello: () => UNBOUND_HANDLERS_FAILURE,
  receiveEncryptedExtensions: () => UNBOUND_HANDLERS_FAILURE,
  receiveCertificateRequest: () => UNBOUND_HANDLERS_FAILURE,
  receiveCertificate: () => UNBOUND_HANDLERS_FAILURE,
  receiveCertificateVerify: () => UNBOUND_HANDLERS_FAILURE,
  receiveFinished: () => UNBOUND_HANDLERS_FAILURE,
  sendClientAuthentication: () => UNBOUND_HANDLERS_FAILURE,
  sendFinished: () => UNBOUND_HANDLERS_FAILURE,
  receiveNewSessionTicket: () => UNBOUND_HANDLERS_FAILURE,
  unexpectedMessage: () => UNBOUND_HANDLERS_FAILURE,
  terminated: () => undefined,
};

/**
 * The TLS client machine every client session runs: the single definition of the client
 * handshake's states and transitions. Each actor's steps come from {@link bindTlsClientHandlers};
 * an actor without them fails its first step with internal_error.
 */
export const tlsClientMachine: TlsClientMachine = createTlsClientMachine((self) => clientHandlers.get(self) ?? unboundClientHandlers);

/** Attaches a connection's handshake steps to its actor of {@link tlsClientMachine}; call before `start()`. */
export function bindTlsClientHandlers(actor: AnyActorRef, handlers: TlsClientMachineHandlers): void {
  clientHandlers.set(actor, handlers);
}
