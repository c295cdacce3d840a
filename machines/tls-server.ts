/**
 * The TLS 1.3 server handshake for QUIC as an XState machine: the states and transitions of
 * RFC 8446 Appendix A.2 (RFC 9846 Appendix A.2), with QUIC's changes (RFC 9001).
 *
 * ```text
 *   START ──client_hello: check it, select parameters──▶ RECVD_CH
 *   RECVD_CH ─(no usable key share: send HelloRetryRequest, first time only)─▶ START
 *   RECVD_CH ─(parameters selected)─▶ NEGOTIATED
 *   NEGOTIATED ─(send ServerHello, K_send = handshake, EncryptedExtensions, [CertificateRequest],
 *                Certificate, CertificateVerify, Finished, K_send = application)─▶ WAIT_FLIGHT2
 *   WAIT_FLIGHT2 ─(no client auth)─▶ WAIT_FINISHED      WAIT_FLIGHT2 ─(client auth requested)─▶ WAIT_CERT
 *   WAIT_CERT ──certificate (empty)──▶ WAIT_FINISHED     WAIT_CERT ──certificate──▶ WAIT_CV
 *   WAIT_CV ──certificate_verify──▶ WAIT_FINISHED
 *   WAIT_FINISHED ──finished: K_recv = application, [send NewSessionTicket]──▶ CONNECTED
 *   any state ──close──▶ closed;  a refused message, a failed step or `fail` ──▶ failed
 * ```
 *
 * RECVD_CH, NEGOTIATED and WAIT_FLIGHT2 are passed through within one macrostep (eventless
 * transitions), as in the RFC where they are decision points, not waits.
 *
 * Differences from the RFC diagram, all from QUIC:
 * - WAIT_EOED is not used: EndOfEarlyData is forbidden in QUIC (RFC 9001 §8.3), and this server
 *   accepts no early data (it never puts early_data in EncryptedExtensions, RFC 8446 §4.2.10), so
 *   the "0-RTT" branch after NEGOTIATED does not exist.
 * - Keys: the handshake secrets are installed in both directions with the ServerHello; the client's
 *   1-RTT secret is installed only after the client's Finished is verified (RFC 9001 §5.7: no 1-RTT
 *   packet is processed before the handshake is complete).
 * - After CONNECTED a QUIC client sends no handshake message (KeyUpdate is forbidden, RFC 9001 §6;
 *   post-handshake authentication is not offered), so every message there is unexpected_message.
 *
 * Any message event a state has no transition for takes the root wildcard transition to `failed`
 * with unexpected_message. Each state's `meta.level` is the encryption level it reads.
 *
 * @module
 */
import { assign, setup, type AnyActorRef } from 'xstate';
import type { Certificate, CertificateVerify, ClientHello, Finished } from '../src/tls/messages.js';
import { UNBOUND_HANDLERS_FAILURE, type TlsFailureInfo, type TlsStateMeta, type TlsStepResult } from './tls-common.js';

/** The states of the server machine: RFC 8446 Appendix A.2 names (without WAIT_EOED), plus the final `closed` and `failed`. */
export const TLS_SERVER_STATES = [
  'START',
  'RECVD_CH',
  'NEGOTIATED',
  'WAIT_FLIGHT2',
  'WAIT_CERT',
  'WAIT_CV',
  'WAIT_FINISHED',
  'CONNECTED',
  'closed',
  'failed',
] as const;

/** A state of the server machine. */
export type TlsServerState = (typeof TLS_SERVER_STATES)[number];

/** The context of the server machine: plain data, shown by an inspector. */
export interface TlsServerMachineContext {
  /** True once a HelloRetryRequest was sent (at most one per connection, RFC 8446 §4.1.4). */
  readonly retried: boolean;
  /** Set by parameter selection: no key share is usable, a HelloRetryRequest is needed (RFC 8446 §4.1.1). */
  readonly helloRetryNeeded: boolean;
  /** Whether this server sends a CertificateRequest (its configuration, RFC 8446 §4.3.2). */
  readonly certificateRequested: boolean;
  /** Why the handshake failed, once it has. */
  readonly failure: TlsFailureInfo | undefined;
}

/** The input of the server machine. */
export interface TlsServerMachineInput {
  /** Whether the server asks the client for a certificate. */
  readonly requestClientCertificate: boolean;
}

/** A received handshake message as a machine event: the decoded message and its bytes (for the transcript). */
export interface TlsServerMessageEvent<T extends string, M> {
  readonly type: T;
  /** The decoded message. */
  readonly message: M;
  /** The whole message as received, header included (RFC 8446 §4.4.1 transcript input). */
  readonly raw: Uint8Array;
}

/** The events of the server machine: one per received client message, plus close and fail. */
export type TlsServerMachineEvent =
  | TlsServerMessageEvent<'client_hello', ClientHello>
  | TlsServerMessageEvent<'certificate', Certificate>
  | TlsServerMessageEvent<'certificate_verify', CertificateVerify>
  | TlsServerMessageEvent<'finished', Finished>
  | { readonly type: 'close' }
  | { readonly type: 'fail'; readonly failure: TlsFailureInfo };

/** The type names of the server machine's message events (the client messages it can receive). */
export type TlsServerMessageEventType = Exclude<TlsServerMachineEvent['type'], 'close' | 'fail'>;

/** The outcome of parameter selection. */
export interface TlsParameterSelection {
  /** `undefined` when selection succeeded. */
  readonly failure: TlsFailureInfo | undefined;
  /** True when no offered key share is usable but a supported group is: send a HelloRetryRequest. */
  readonly helloRetryNeeded: boolean;
}

/**
 * The steps the server machine performs, implemented by the TLS session. Each returns `undefined`
 * on success or why it failed; none throws. `raw` is the received message with its header.
 */
export interface TlsServerMachineHandlers {
  /** START → RECVD_CH: check the ClientHello (QUIC rules, consistency of ClientHello2 with the HelloRetryRequest). */
  receiveClientHello(message: ClientHello, raw: Uint8Array): TlsStepResult;
  /** START → RECVD_CH: select version, cipher suite, group, signature scheme and ALPN (RFC 8446 §4.1.1). */
  selectParameters(): TlsParameterSelection;
  /** RECVD_CH → START: send the HelloRetryRequest for the selected group (RFC 8446 §4.1.4). */
  sendHelloRetryRequest(): TlsStepResult;
  /** NEGOTIATED → WAIT_FLIGHT2: send ServerHello and install the handshake secrets. */
  sendServerHello(): TlsStepResult;
  /** NEGOTIATED → WAIT_FLIGHT2: send EncryptedExtensions. */
  sendEncryptedExtensions(): TlsStepResult;
  /** NEGOTIATED → WAIT_FLIGHT2 with client authentication: send CertificateRequest. */
  sendCertificateRequest(): TlsStepResult;
  /** NEGOTIATED → WAIT_FLIGHT2: send Certificate and CertificateVerify. */
  sendCertificateAndVerify(): TlsStepResult;
  /** NEGOTIATED → WAIT_FLIGHT2: send Finished and install the 1-RTT write secret. */
  sendFinished(): TlsStepResult;
  /** WAIT_CERT → WAIT_FINISHED: the client sent an empty Certificate (certificate_required if one is required). */
  receiveEmptyCertificate(message: Certificate, raw: Uint8Array): TlsStepResult;
  /** WAIT_CERT → WAIT_CV: verify the client's certificate chain. */
  receiveCertificate(message: Certificate, raw: Uint8Array): TlsStepResult;
  /** WAIT_CV → WAIT_FINISHED: verify the client's CertificateVerify. */
  receiveCertificateVerify(message: CertificateVerify, raw: Uint8Array): TlsStepResult;
  /** WAIT_FINISHED → CONNECTED: verify the client's Finished, install the 1-RTT read secret, report completion. */
  receiveFinished(message: Finished, raw: Uint8Array): TlsStepResult;
  /** WAIT_FINISHED → CONNECTED: issue the configured NewSessionTickets. */
  sendNewSessionTickets(): TlsStepResult;
  /** A message event `state` has no transition for: the unexpected_message failure to record. */
  unexpectedMessage(eventType: string, state: string): TlsFailureInfo;
  /** Entered a final state (`closed` or `failed`): erase secrets. */
  terminated(state: 'closed' | 'failed'): void;
}

/** What the server machine outputs when it reaches a final state. */
export interface TlsServerMachineOutput {
  /** The final state. */
  readonly state: 'closed' | 'failed';
  /** Why it failed (for `failed`). */
  readonly failure: TlsFailureInfo | undefined;
}

const level = (l: TlsStateMeta['level']): TlsStateMeta => ({ level: l });

/**
 * Creates the server machine. Its steps are looked up per actor with `handlersFor(self)`, so one
 * machine serves every connection while each connection's handshake state stays out of the
 * machine's context (an inspector never sees secrets). {@link tlsServerMachine} is the machine the
 * sessions use ({@link bindTlsServerHandlers} attaches a connection's handlers to its actor); tests
 * build their own with model handlers.
 */
export function createTlsServerMachine(handlersFor: (self: AnyActorRef) => TlsServerMachineHandlers) {
  const step = (context: TlsServerMachineContext, run: () => TlsStepResult): Partial<TlsServerMachineContext> =>
    context.failure !== undefined ? {} : { failure: run() };
  const failedCheck = { guard: 'failed', target: 'failed' } as const;

  return setup({
    types: {} as {
      context: TlsServerMachineContext;
      events: TlsServerMachineEvent;
      input: TlsServerMachineInput;
      output: TlsServerMachineOutput;
    },
    actions: {
      receiveClientHello: assign(({ context, event, self }) =>
        event.type === 'client_hello' ? step(context, () => handlersFor(self).receiveClientHello(event.message, event.raw)) : {},
      ),
      selectParameters: assign(({ context, self }) => {
        if (context.failure !== undefined) return {};
        const selection = handlersFor(self).selectParameters();
        return { failure: selection.failure, helloRetryNeeded: selection.helloRetryNeeded };
      }),
      sendHelloRetryRequest: assign(({ context, self }) => ({
        ...step(context, () => handlersFor(self).sendHelloRetryRequest()),
        retried: true,
        helloRetryNeeded: false,
      })),
      sendServerHello: assign(({ context, self }) => step(context, () => handlersFor(self).sendServerHello())),
      sendEncryptedExtensions: assign(({ context, self }) => step(context, () => handlersFor(self).sendEncryptedExtensions())),
      sendCertificateRequest: assign(({ context, self }) => step(context, () => handlersFor(self).sendCertificateRequest())),
      sendCertificateAndVerify: assign(({ context, self }) => step(context, () => handlersFor(self).sendCertificateAndVerify())),
      sendFinished: assign(({ context, self }) => step(context, () => handlersFor(self).sendFinished())),
      receiveEmptyCertificate: assign(({ context, event, self }) =>
        event.type === 'certificate' ? step(context, () => handlersFor(self).receiveEmptyCertificate(event.message, event.raw)) : {},
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
      sendNewSessionTickets: assign(({ context, self }) => step(context, () => handlersFor(self).sendNewSessionTickets())),
      recordFailure: assign(({ context, event }) => (event.type === 'fail' && context.failure === undefined ? { failure: event.failure } : {})),
      unexpectedMessage: assign(({ context, event, self }) =>
        context.failure !== undefined ? {} : { failure: handlersFor(self).unexpectedMessage(event.type, String(self.getSnapshot().value)) },
      ),
      terminatedClosed: ({ self }) => handlersFor(self).terminated('closed'),
      terminatedFailed: ({ self }) => handlersFor(self).terminated('failed'),
    },
    guards: {
      failed: ({ context }) => context.failure !== undefined,
      // RFC 8446 §4.1.4: at most one HelloRetryRequest; a ClientHello2 without a usable share fails in selection.
      helloRetryNeeded: ({ context }) => context.helloRetryNeeded && !context.retried,
      certificateRequested: ({ context }) => context.certificateRequested,
      emptyCertificate: ({ event }) => event.type === 'certificate' && event.message.entries.length === 0,
    },
  }).createMachine({
    id: 'tls-server',
    initial: 'START',
    context: ({ input }) => ({
      retried: false,
      helloRetryNeeded: false,
      certificateRequested: input.requestClientCertificate,
      failure: undefined,
    }),
    output: ({ context }) => ({ state: context.failure === undefined ? 'closed' : 'failed', failure: context.failure }),
    on: {
      close: { target: '.closed' },
      fail: { target: '.failed', actions: 'recordFailure' },
      // RFC 8446 §4: a message out of order (or not acceptable here) → unexpected_message.
      '*': { target: '.failed', actions: 'unexpectedMessage' },
    },
    states: {
      START: {
        meta: level('initial'),
        always: [failedCheck],
        on: { client_hello: { target: 'RECVD_CH', actions: ['receiveClientHello', 'selectParameters'] } },
      },
      RECVD_CH: {
        meta: level('initial'),
        always: [
          failedCheck,
          // RFC 8446 Appendix A.2: Send HelloRetryRequest → START.
          { guard: 'helloRetryNeeded', target: 'START', actions: 'sendHelloRetryRequest' },
          { target: 'NEGOTIATED' },
        ],
      },
      NEGOTIATED: {
        meta: level('initial'),
        always: [
          failedCheck,
          {
            guard: 'certificateRequested',
            target: 'WAIT_FLIGHT2',
            actions: ['sendServerHello', 'sendEncryptedExtensions', 'sendCertificateRequest', 'sendCertificateAndVerify', 'sendFinished'],
          },
          { target: 'WAIT_FLIGHT2', actions: ['sendServerHello', 'sendEncryptedExtensions', 'sendCertificateAndVerify', 'sendFinished'] },
        ],
      },
      WAIT_FLIGHT2: {
        meta: level('handshake'),
        always: [failedCheck, { guard: 'certificateRequested', target: 'WAIT_CERT' }, { target: 'WAIT_FINISHED' }],
      },
      WAIT_CERT: {
        meta: level('handshake'),
        always: [failedCheck],
        on: {
          certificate: [
            { guard: 'emptyCertificate', target: 'WAIT_FINISHED', actions: 'receiveEmptyCertificate' },
            { target: 'WAIT_CV', actions: 'receiveCertificate' },
          ],
        },
      },
      WAIT_CV: {
        meta: level('handshake'),
        always: [failedCheck],
        on: { certificate_verify: { target: 'WAIT_FINISHED', actions: 'receiveCertificateVerify' } },
      },
      WAIT_FINISHED: {
        meta: level('handshake'),
        always: [failedCheck],
        on: { finished: { target: 'CONNECTED', actions: ['receiveFinished', 'sendNewSessionTickets'] } },
      },
      CONNECTED: {
        // A QUIC client sends no post-handshake message: anything here is unexpected_message.
        meta: level('oneRtt'),
        always: [failedCheck],
      },
      closed: { type: 'final', meta: level(null), entry: 'terminatedClosed' },
      failed: { type: 'final', meta: level(null), entry: 'terminatedFailed' },
    },
  });
}

/** The server machine type. */
export type TlsServerMachine = ReturnType<typeof createTlsServerMachine>;

const serverHandlers = new WeakMap<AnyActorRef, TlsServerMachineHandlers>();

const unboundServerHandlers: TlsServerMachineHandlers = {
  receiveClientHello: () => UNBOUND_HANDLERS_FAILURE,
  selectParameters: () => ({ failure: UNBOUND_HANDLERS_FAILURE, helloRetryNeeded: false }),
  sendHelloRetryRequest: () => UNBOUND_HANDLERS_FAILURE,
  sendServerHello: () => UNBOUND_HANDLERS_FAILURE,
  sendEncryptedExtensions: () => UNBOUND_HANDLERS_FAILURE,
  sendCertificateRequest: () => UNBOUND_HANDLERS_FAILURE,
  sendCertificateAndVerify: () => UNBOUND_HANDLERS_FAILURE,
  sendFinished: () => UNBOUND_HANDLERS_FAILURE,
  receiveEmptyCertificate: () => UNBOUND_HANDLERS_FAILURE,
  receiveCertificate: () => UNBOUND_HANDLERS_FAILURE,
  receiveCertificateVerify: () => UNBOUND_HANDLERS_FAILURE,
  receiveFinished: () => UNBOUND_HANDLERS_FAILURE,
  sendNewSessionTickets: () => UNBOUND_HANDLERS_FAILURE,
  unexpectedMessage: () => UNBOUND_HANDLERS_FAILURE,
  terminated: () => undefined,
};

/**
 * The TLS server machine every server session runs: the single definition of the server
 * handshake's states and transitions. Each actor's steps come from {@link bindTlsServerHandlers};
 * an actor without them fails its first step with internal_error.
 */
export const tlsServerMachine: TlsServerMachine = createTlsServerMachine((self) => serverHandlers.get(self) ?? unboundServerHandlers);

/** Attaches a connection's handshake steps to its actor of {@link tlsServerMachine}; call before `start()`. */
export function bindTlsServerHandlers(actor: AnyActorRef, handlers: TlsServerMachineHandlers): void {
  serverHandlers.set(actor, handlers);
}
