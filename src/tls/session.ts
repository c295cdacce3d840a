/**
 * The QUIC-facing TLS 1.3 session (RFC 9001 §4.1): what a QUIC connection calls to run the
 * handshake. Sans-IO and synchronous: no timers, no I/O; time is a parameter.
 *
 * ```ts
 * const tls = createClientSession({ serverName: 'example.com', alpnProtocols: ['h3'], transportParameters }, provider);
 * tls.start(now);                          // the ClientHello
 * for (const e of tls.drain()) …           // handshake_data / secret / transport_parameters / handshake_complete / session_ticket / failed
 * tls.receive('initial', cryptoBytes, now) // CRYPTO stream bytes, in order, per encryption level
 * ```
 *
 * Each session runs its handshake as a live XState actor (`machines/tls-client.ts`,
 * `machines/tls-server.ts`; ARCHITECTURE.md principle 2: handshakes are rare events). The machine
 * decides which message is acceptable in which state and at which encryption level; the session
 * reassembles CRYPTO bytes into messages ({@link HandshakeReader}), decodes them and sends one event
 * per message. Pass `inspect` to watch the actor, or `parent` to make it a child of the
 * connection's actor (registered under the system id `tls` by default).
 *
 * Rules the session applies before the machine sees a message (each → unexpected_message,
 * RFC 8446 §5.1 / RFC 9001 §4.1.3): bytes at an encryption level the current state does not read;
 * a message left at a level after the keys moved on (a whole message, or part of one); CRYPTO bytes
 * at the 0-RTT level. Malformed messages fail in the codec (decode_error, illegal_parameter, …).
 *
 * Nothing a peer sends makes a method throw: failure is the `failed` event (the last one the
 * session emits), {@link TlsSession.error}, and the machine's `failed` state. Only misuse throws
 * (`start` twice, an invalid configuration), with a `TlsAlertError` internal_error.
 *
 * @module
 */
import { createActor, type Actor, type AnyActorRef, type InspectionEvent, type Observer } from 'xstate';
import { defaultCryptoProvider } from '../crypto/default.js';
import type { CryptoProvider } from '../crypto/provider.js';
import type { QuicError } from '../wire/errors.js';
import type { EncryptionLevel } from '../wire/levels.js';
import { bindTlsClientHandlers, tlsClientMachine, type TlsClientMachine, type TlsClientState } from '../../machines/tls-client.js';
import { tlsReceiveLevel, type TlsHandshakeLevel } from '../../machines/tls-common.js';
import { bindTlsServerHandlers, tlsServerMachine, type TlsServerMachine, type TlsServerState } from '../../machines/tls-server.js';
import { TlsAlert, TlsAlertError } from './alerts.js';
import { ClientHandshake } from './client-handshake.js';
import { resolveClientConfig, resolveServerConfig, type TlsClientConfig, type TlsServerConfig } from './config.js';
import { handshakeTypeName } from './constants.js';
import type { HandshakeCore } from './handshake-core.js';
import { exportKeyingMaterial } from './key-schedule.js';
import { decodeHandshakeMessage, HandshakeReader, type HandshakeMessage, type HandshakeRole } from './messages.js';
import { ServerHandshake } from './server-handshake.js';
import type { TlsSessionEvent } from './session-events.js';

/** How the session's actor is created. */
export interface TlsSessionOptions {
  /**
   * An inspector for the actor's system (XState `inspect`): it sees every event, state and context
   * of the handshake. Context holds no secrets.
   */
  readonly inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void);
  /**
   * The connection's actor: the TLS actor joins its system as a child (its `_parent`), so the
   * parent's inspector shows it in the tree, `parent.system.get(systemId)` finds it, and the parent
   * receives `xstate.done.actor.<id>` when the handshake closes or fails.
   */
  readonly parent?: AnyActorRef;
  /**
   * The actor's system id (and id) when it has a {@link parent}; default `'tls'`. System ids are
   * unique in a system: connections that share one need distinct ids.
   */
  readonly systemId?: string;
}

const LEVEL_NAME: Record<TlsHandshakeLevel, string> = { initial: 'Initial', handshake: 'Handshake', oneRtt: '1-RTT' };

function unexpected(reason: string): TlsAlertError {
  return new TlsAlertError(TlsAlert.unexpected_message, reason);
}

/** What every TLS session offers the connection. */
abstract class TlsSessionBase {
  /** This endpoint's role. */
  abstract readonly role: HandshakeRole;
  /** @internal The handshake steps the machine drives. */
  protected abstract readonly core: HandshakeCore;
  private readonly readers = new Map<TlsHandshakeLevel, HandshakeReader>();

  /** @internal The machine's current snapshot. */
  protected abstract snapshot(): { readonly value: unknown; readonly status: string; getMeta(): Record<string, unknown> };
  /** @internal Sends a decoded message to the machine as its event. */
  protected abstract dispatch(message: HandshakeMessage, raw: Uint8Array): void;
  /** @internal Sends `fail` to the machine. */
  protected abstract sendFail(event: { type: 'fail'; failure: ReturnType<HandshakeCore['recordFailure']> }): void;
  /** @internal Sends `close` to the machine. */
  protected abstract sendClose(): void;

  /** True once the machine is in a final state (`closed` or `failed`). */
  get terminated(): boolean {
    return this.snapshot().status !== 'active';
  }

  /** True once the handshake is complete (RFC 9001 §4.1.1) and not failed since. */
  get handshakeComplete(): boolean {
    return this.core.complete && this.core.error === undefined;
  }

  /** The failure, once the handshake has failed. */
  get error(): QuicError | undefined {
    return this.core.error;
  }

  /** The encryption level whose CRYPTO bytes the current state reads, or `null` (see `TlsStateMeta`). */
  get receiveLevel(): TlsHandshakeLevel | null {
    return tlsReceiveLevel(this.snapshot());
  }

  /** Takes the events produced since the last call, in order (see {@link TlsSessionEvent}). */
  drain(): TlsSessionEvent[] {
    return this.core.drain();
  }

  /**
   * Hands the session the next in-order bytes of the CRYPTO stream at `level` (QUIC orders and
   * buffers them, RFC 9001 §4.1.3), received at time `now` (ms). Complete messages are decoded and
   * given to the machine one by one; what they produce is queued for {@link drain}. After the
   * session has failed or closed, bytes are ignored.
   */
  receive(level: EncryptionLevel, data: Uint8Array, now: number): void {
    if (this.terminated) return;
    this.core.now = now;
    try {
      // RFC 9001 §4.1.3: "CRYPTO frames are carried in just three of these levels, omitting the 0-RTT level."
      if (level === 'zeroRtt') throw unexpected('handshake bytes at the 0-RTT level, which carries no CRYPTO frames');
      if (data.length === 0) return;
      const expected = this.receiveLevel;
      if (level !== expected) {
        throw unexpected(
          `${data.length} handshake bytes at the ${LEVEL_NAME[level]} level in state ${String(this.snapshot().value)}, which reads ` +
            (expected === null ? 'no handshake messages' : `the ${LEVEL_NAME[expected]} level`),
        );
      }
      let reader = this.readers.get(level);
      if (reader === undefined) this.readers.set(level, (reader = new HandshakeReader(level)));
      for (const m of reader.push(data)) {
        if (this.terminated) return;
        // RFC 8446 §5.1: handshake messages MUST NOT span a key change; one left at the old level is out of place.
        if (this.receiveLevel !== level) {
          throw unexpected(`${handshakeTypeName(m.type)} at the ${LEVEL_NAME[level]} level after the keys changed (state ${String(this.snapshot().value)})`);
        }
        const message = decodeHandshakeMessage(m, { sender: this.role === 'client' ? 'server' : 'client', hashLength: this.core.negotiatedHashLength });
        this.dispatch(message, m.raw);
      }
      if (!this.terminated && this.receiveLevel !== level) reader.assertNoPartialMessage();
    } catch (e) {
      this.sendFail({ type: 'fail', failure: this.core.recordFailure(e) });
    }
  }

  /** Ends the handshake (the connection is closing): the machine goes to `closed` and the secrets are erased. */
  close(): void {
    if (!this.terminated) this.sendClose();
  }

  /**
   * TLS-Exporter(label, context, length) (RFC 8446 §7.5), available once the handshake is complete.
   *
   * @throws TlsAlertError(internal_error) before completion or after close/failure.
   */
  exportKeyingMaterial(label: string, context: Uint8Array, length: number): Uint8Array {
    const secret = this.exporterSecret();
    const hash = this.core.cipherSuite?.hash;
    if (!this.handshakeComplete || this.terminated || secret === undefined || hash === undefined) {
      throw new TlsAlertError(TlsAlert.internal_error, 'keying material can only be exported from a completed, open handshake');
    }
    return exportKeyingMaterial(this.core.provider, hash, secret, label, context, length);
  }

  /** @internal The exporter_secret, once derived. */
  protected abstract exporterSecret(): Uint8Array | undefined;
}

/** A TLS 1.3 client session for one QUIC connection. */
export class TlsClientSession extends TlsSessionBase {
  /** Always `client`. */
  readonly role = 'client' as const;
  /** The live handshake actor (`machines/tls-client.ts`). */
  readonly actor: Actor<TlsClientMachine>;
  /** @internal The handshake steps the machine drives. */
  protected readonly core: ClientHandshake;
  private started = false;

  /** Use {@link createClientSession}. */
  constructor(config: TlsClientConfig, provider: CryptoProvider, options: TlsSessionOptions = {}) {
    super();
    this.core = new ClientHandshake(resolveClientConfig(config), provider);
    this.actor = createActor(tlsClientMachine, actorOptions(options));
    bindTlsClientHandlers(this.actor, this.core);
    if (options.parent !== undefined && options.inspect !== undefined) this.actor.system.inspect(options.inspect);
    this.actor.start();
  }

  /** The machine's state (RFC 8446 Appendix A.1 names). */
  get state(): TlsClientState {
    return this.actor.getSnapshot().value as TlsClientState;
  }

  /**
   * Starts the handshake at time `now` (ms): the ClientHello is queued as Initial `handshake_data`.
   *
   * @throws TlsAlertError(internal_error) when called twice.
   */
  start(now: number): void {
    if (this.started) throw new TlsAlertError(TlsAlert.internal_error, 'the TLS client session was already started');
    this.started = true;
    this.core.now = now;
    this.actor.send({ type: 'start' });
  }

  /** @internal The machine's current snapshot. */
  protected snapshot() {
    return this.actor.getSnapshot();
  }

  /** @internal Sends a decoded message to the machine as its event. */
  protected dispatch(message: HandshakeMessage, raw: Uint8Array): void {
    switch (message.kind) {
      case 'hello_retry_request':
      case 'server_hello':
      case 'encrypted_extensions':
      case 'certificate_request':
      case 'certificate':
      case 'certificate_verify':
      case 'finished':
      case 'new_session_ticket':
        this.actor.send({ type: message.kind, message, raw } as Parameters<typeof this.actor.send>[0]);
        return;
      default:
        // The codec refuses messages a server never sends; keep the machine the judge anyway.
        throw unexpected(`${message.kind} from a server`);
    }
  }

  /** @internal Sends `fail` to the machine. */
  protected sendFail(event: { type: 'fail'; failure: ReturnType<HandshakeCore['recordFailure']> }): void {
    this.actor.send(event);
  }

  /** @internal Sends `close` to the machine. */
  protected sendClose(): void {
    this.actor.send({ type: 'close' });
  }

  /** @internal The exporter_secret, once derived. */
  protected exporterSecret(): Uint8Array | undefined {
    return this.core.exporterMasterSecret;
  }
}

/** A TLS 1.3 server session for one QUIC connection. */
export class TlsServerSession extends TlsSessionBase {
  /** Always `server`. */
  readonly role = 'server' as const;
  /** The live handshake actor (`machines/tls-server.ts`). */
  readonly actor: Actor<TlsServerMachine>;
  /** @internal The handshake steps the machine drives. */
  protected readonly core: ServerHandshake;

  /** Use {@link createServerSession}. */
  constructor(config: TlsServerConfig, provider: CryptoProvider, options: TlsSessionOptions = {}) {
    super();
    const resolved = resolveServerConfig(config);
    this.core = new ServerHandshake(resolved, provider);
    this.actor = createActor(tlsServerMachine, { ...actorOptions(options), input: { requestClientCertificate: resolved.clientAuthentication !== undefined } });
    bindTlsServerHandlers(this.actor, this.core);
    if (options.parent !== undefined && options.inspect !== undefined) this.actor.system.inspect(options.inspect);
    this.actor.start();
  }

  /** The machine's state (RFC 8446 Appendix A.2 names). */
  get state(): TlsServerState {
    return this.actor.getSnapshot().value as TlsServerState;
  }

  /** @internal The machine's current snapshot. */
  protected snapshot() {
    return this.actor.getSnapshot();
  }

  /** @internal Sends a decoded message to the machine as its event. */
  protected dispatch(message: HandshakeMessage, raw: Uint8Array): void {
    switch (message.kind) {
      case 'client_hello':
      case 'certificate':
      case 'certificate_verify':
      case 'finished':
        this.actor.send({ type: message.kind, message, raw } as Parameters<typeof this.actor.send>[0]);
        return;
      default:
        throw unexpected(`${message.kind} from a client`);
    }
  }

  /** @internal Sends `fail` to the machine. */
  protected sendFail(event: { type: 'fail'; failure: ReturnType<HandshakeCore['recordFailure']> }): void {
    this.actor.send(event);
  }

  /** @internal Sends `close` to the machine. */
  protected sendClose(): void {
    this.actor.send({ type: 'close' });
  }

  /** @internal The exporter_secret, once derived. */
  protected exporterSecret(): Uint8Array | undefined {
    return this.core.exporterMasterSecret;
  }
}

function actorOptions(options: TlsSessionOptions): { inspect?: TlsSessionOptions['inspect']; parent?: AnyActorRef; id?: string; systemId?: string } {
  if (options.parent === undefined) return options.inspect === undefined ? {} : { inspect: options.inspect };
  const id = options.systemId ?? 'tls';
  // XState refuses a second actor with the same system id with an untyped Error; say it clearly first.
  if (options.parent.system.get(id) !== undefined) {
    throw new TlsAlertError(TlsAlert.internal_error, `TLS configuration: the parent's actor system already has an actor with system id ${JSON.stringify(id)}; give each session its own systemId`);
  }
  return { parent: options.parent, id, systemId: id };
}

/** A TLS session of either role. */
export type TlsSession = TlsClientSession | TlsServerSession;

/**
 * Creates a client session. Nothing is sent until {@link TlsClientSession.start}.
 *
 * @throws TlsAlertError(internal_error) for an invalid configuration (the message names the field).
 */
export function createClientSession(config: TlsClientConfig, provider: CryptoProvider = defaultCryptoProvider, options: TlsSessionOptions = {}): TlsClientSession {
  return new TlsClientSession(config, provider, options);
}

/**
 * Creates a server session, waiting for the ClientHello at the Initial level.
 *
 * @throws TlsAlertError(internal_error) for an invalid configuration (the message names the field).
 */
export function createServerSession(config: TlsServerConfig, provider: CryptoProvider = defaultCryptoProvider, options: TlsSessionOptions = {}): TlsServerSession {
  return new TlsServerSession(config, provider, options);
}
