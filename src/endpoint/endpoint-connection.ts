/**
 * One connection as the endpoint drives it: the sans-IO core plus what the core must not have —
 * a timer, an outbound path that flushes the core and sends its datagrams, the routing entries of
 * its connection IDs, and a fence that keeps a failing connection from touching anything else.
 *
 * After every call into the core (a received datagram, a timer, a flush, or an application call
 * through {@link EndpointConnection.call}) the connection {@link EndpointConnection.settle | settles}:
 * it drains the core's events, hands them to the application's handler and re-arms the timer for
 * `nextTimeout()`. A core that throws from `receive`, `onTimeout` or `flush` (which the contract
 * says it never does for peer input) is closed with INTERNAL_ERROR; if it throws again it is torn
 * down and reported closed. Either way the other connections and the endpoint carry on.
 *
 * @module
 */
import type { Subscription } from 'rxjs';
import { OutboundPath } from '../../streams/outbound.js';
import type { FlushScheduler } from '../../streams/schedulers.js';
import type { ConnectionCloseInfo, ConnectionEvent, QuicConnectionCore, SocketAddress } from '../transport/connection-types.js';
import { TransportErrorCode } from '../wire/errors.js';
import { cidKey } from './cid-key.js';

/** What an {@link EndpointConnection} needs from its endpoint. @internal */
export interface EndpointHost {
  /** The clock, ms (performance.now() by default). */
  readonly clock: () => number;
  /** The outbound paths' scheduler. */
  readonly scheduler: FlushScheduler | undefined;
  /** Sends one datagram. */
  send(datagram: Uint8Array, to: SocketAddress): void;
  /** Routes `key` (a connection ID key) to `connection`; false when another connection holds it. */
  addRoute(key: string, connection: EndpointConnection): boolean;
  /** Removes the route `key` if it leads to `connection`. */
  removeRoute(key: string, connection: EndpointConnection): void;
  /** Called once, when the connection is gone (closed or torn down). */
  connectionGone(connection: EndpointConnection): void;
  /** The connection's peer address changed from `from` to `to` (RFC 9000 §9.3): the by-address map of stateless resets follows. */
  peerAddressChanged(connection: EndpointConnection, from: SocketAddress, to: SocketAddress): void;
  /** Called once, when the core reports `handshakeComplete` (the connection no longer counts as a handshake in progress). */
  handshakeComplete(connection: EndpointConnection): void;
  /** Counts a connection that threw. */
  countConnectionError(): void;
}

/** Receives a connection's events, oldest first. */
export type ConnectionEventHandler = (events: readonly ConnectionEvent[]) => void;

/** Longest delay `setTimeout` takes. */
const MAX_TIMER_DELAY = 0x7fff_ffff;
/** `setTimeout` works in whole milliseconds (and waits at least one); only a deadline already due uses `setImmediate`. */
const TIMER_GRANULARITY = 1;

function isImmediate(t: NodeJS.Timeout | NodeJS.Immediate): t is NodeJS.Immediate {
  return !('refresh' in t);
}

/**
 * A connection registered with an endpoint. Created by the endpoint (server accept or client
 * connect); the public API wraps it.
 */
export class EndpointConnection {
  /** The sans-IO connection. */
  readonly core: QuicConnectionCore;
  private peer: SocketAddress;
  private readonly host: EndpointHost;
  private readonly outbound: OutboundPath;
  private readonly routeKeys = new Set<string>();
  private readonly cidSubscription: Subscription;
  private handler: ConnectionEventHandler | undefined;
  private queued: ConnectionEvent[] = [];
  private timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  private readonly timerCallback = (): void => this.onTimer();
  private timerDeadline = Number.POSITIVE_INFINITY;
  private settling = false;
  private resettle = false;
  private failures = 0;
  private gone = false;
  private handshakeDone = false;
  private closeInfo: ConnectionCloseInfo | undefined;

  /**
   * Registers `core` with `host`: routes its connection IDs (and `extraRouteKeys`, e.g. the
   * Original Destination Connection ID of a server connection), follows `localConnectionIds$`,
   * and starts its outbound path. @internal
   */
  constructor(host: EndpointHost, core: QuicConnectionCore, remoteAddress: SocketAddress, extraRouteKeys: readonly string[] = []) {
    this.host = host;
    this.core = core;
    this.peer = remoteAddress;
    for (const key of extraRouteKeys) this.route(key);
    for (const cid of core.localConnectionIds()) this.route(cidKey(cid));
    this.cidSubscription = core.localConnectionIds$.subscribe((change) => {
      if (this.gone) return;
      if (change.added !== undefined) this.route(cidKey(change.added));
      if (change.removed !== undefined) {
        const key = cidKey(change.removed);
        if (this.routeKeys.delete(key)) host.removeRoute(key, this);
      }
    });
    this.outbound = new OutboundPath({
      signals: [core.pending$],
      flush: (now) => this.flush(now),
      scheduler: host.scheduler,
      clock: host.clock,
      onError: (error) => this.fail(error),
    });
  }

  /**
   * The peer's address: where datagrams go and under which the endpoint offers it possible
   * stateless resets. It follows the core's `remoteAddress` (the peer's migration, RFC 9000 §9.3)
   * at every flush.
   */
  get remoteAddress(): SocketAddress {
    return this.peer;
  }

  /** True once the connection is closed and unregistered. */
  get isGone(): boolean {
    return this.gone;
  }

  /** Why the connection ended, once it has. */
  get closeReason(): ConnectionCloseInfo | undefined {
    return this.closeInfo;
  }

  /** True while a timer is armed for the core's next deadline. @internal */
  get timerArmed(): boolean {
    return this.timer !== undefined;
  }

  /** Routing keys currently held (connection IDs as hex). @internal */
  get routes(): ReadonlySet<string> {
    return this.routeKeys;
  }

  /**
   * Sets the receiver of this connection's events. Events that arrived before are delivered at
   * once, in order.
   */
  setEventHandler(handler: ConnectionEventHandler): void {
    this.handler = handler;
    if (this.queued.length > 0) {
      const events = this.queued;
      this.queued = [];
      handler(events);
    }
  }

  /**
   * Runs an application operation on the core at the current time (`fn(core, now)`), then settles
   * (events, timer) and asks the outbound path for a flush. Errors thrown by `fn` (the core's typed
   * errors for a misuse, e.g. writing to a reset stream) propagate to the caller; the connection
   * is not failed for them.
   */
  call<T>(fn: (core: QuicConnectionCore, now: number) => T): T {
    const now = this.host.clock();
    try {
      return fn(this.core, now);
    } finally {
      if (!this.gone) {
        // The flush this wake-up schedules (later in this event-loop turn) re-arms the timer.
        this.settle(now, false);
        this.outbound.wake();
      }
    }
  }

  /** Asks for a flush in this turn's coalesced outbound pass. */
  wake(): void {
    if (!this.gone) this.outbound.wake();
  }

  /** Hands a received datagram to the core. @internal */
  receive(datagram: Uint8Array, from: SocketAddress, now: number): void {
    if (this.gone) return;
    try {
      this.core.receive(datagram, from, now);
    } catch (error) {
      this.fail(error);
      return;
    }
    // Events now; the timer is re-armed by the flush this wake-up schedules in this turn (one
    // nextTimeout() per flush rather than per datagram).
    this.settle(now, false);
    this.outbound.wake();
  }

  /**
   * Tears the connection down at once, without sending anything: unregisters it and reports it
   * closed with `info` (unless the core already reported its close). @internal
   */
  destroy(info: ConnectionCloseInfo): void {
    if (this.gone) return;
    this.finish([{ type: 'closed', info }]);
  }

  /** Closes the connection because it threw: INTERNAL_ERROR through the core, or teardown if that fails too. */
  private fail(error: unknown): void {
    if (this.gone) return;
    this.host.countConnectionError();
    const err = error instanceof Error ? error : new Error(String(error));
    this.failures++;
    if (this.failures === 1) {
      try {
        const now = this.host.clock();
        this.core.close({ code: TransportErrorCode.INTERNAL_ERROR, reason: 'internal error', application: false }, now);
        this.settle(now);
        this.outbound.wake();
        return;
      } catch {
        // The core cannot even close: tear it down below.
      }
    }
    this.finish([{ type: 'closed', info: { source: 'local', application: false, code: BigInt(TransportErrorCode.INTERNAL_ERROR), reason: err.message, error: err } }]);
  }

  private flush(now: number): void {
    if (this.gone) return;
    const core = this.core;
    const datagrams = core.flush(now);
    // The core's current peer address: it follows the peer's migration (RFC 9000 §9.3).
    const to = core.remoteAddress ?? this.peer;
    if (to !== this.peer && (to.address !== this.peer.address || to.port !== this.peer.port)) {
      const from = this.peer;
      this.peer = to;
      this.host.peerAddressChanged(this, from, to);
    }
    for (let i = 0; i < datagrams.length; i++) this.host.send(datagrams[i], to);
    // Datagrams of the same flush for other peer addresses (RFC 9000 §8.2.2, §9.3.3).
    if (core.drainOffPathDatagrams !== undefined) {
      const off = core.drainOffPathDatagrams();
      for (let i = 0; i < off.length; i++) this.host.send(off[i].datagram, off[i].to);
    }
    this.settle(now);
  }

  private onTimer(): void {
    this.timer = undefined;
    this.timerDeadline = Number.POSITIVE_INFINITY;
    if (this.gone) return;
    const now = this.host.clock();
    let due: number | undefined;
    try {
      due = this.core.nextTimeout();
      if (due !== undefined && due <= now) this.core.onTimeout(now);
    } catch (error) {
      this.fail(error);
      return;
    }
    this.settle(now);
    if (due !== undefined && due <= now) this.outbound.wake();
  }

  /**
   * Drains the core's events to the handler (repeating while the handler's own calls into the
   * core queue more) and, with `rearm`, re-arms the timer for `nextTimeout()`. Callers that skip
   * the re-arm wake the outbound path, whose flush re-arms it in the same event-loop turn. @internal
   */
  settle(now: number, rearm = true): void {
    if (this.gone) return;
    if (this.settling) {
      this.resettle = true;
      return;
    }
    this.settling = true;
    try {
      do {
        this.resettle = false;
        const events = this.core.drainEvents();
        if (events.length === 0) continue;
        let closed = false;
        for (let i = 0; i < events.length; i++) {
          const type = events[i].type;
          if (type === 'closed') closed = true;
          else if (type === 'handshakeComplete' && !this.handshakeDone) {
            this.handshakeDone = true;
            this.host.handshakeComplete(this);
          }
        }
        if (closed) {
          this.finish(events);
          return;
        }
        this.deliver(events);
      } while (this.resettle && !this.gone);
      if (rearm && !this.gone) this.armTimer(now);
    } catch (error) {
      this.settling = false;
      this.fail(error);
    } finally {
      this.settling = false;
    }
  }

  private deliver(events: readonly ConnectionEvent[]): void {
    if (this.handler === undefined) {
      for (const e of events) this.queued.push(e);
      return;
    }
    try {
      this.handler(events);
    } catch (error) {
      // The handler is the public API layer, which catches application errors itself; a throw here
      // is a bug in that layer. Surface it without corrupting the endpoint's state.
      queueMicrotask(() => {
        throw error;
      });
    }
  }

  private armTimer(now: number): void {
    const deadline = this.core.nextTimeout();
    if (deadline === undefined) {
      this.clearTimer();
      return;
    }
    // A timer already set for an earlier (or the same) moment stays: when it fires it finds nothing
    // due yet and re-arms for the later deadline. This avoids a clear/set per datagram.
    if (this.timer !== undefined && this.timerDeadline <= deadline) return;
    this.clearTimer();
    this.timerDeadline = deadline;
    const wait = deadline - now;
    if (wait <= 0) {
      // Due now (a flush that yielded, `nextTimeout() = now`): in the next event-loop turn, after
      // pending I/O. Anything later waits for a timer: the pacer sizes its bursts to the timer
      // granularity (src/recovery/pacer.ts), so a pacing gap is worth a whole millisecond.
      const immediate = setImmediate(this.timerCallback);
      immediate.unref();
      this.timer = immediate;
      return;
    }
    const timeout = setTimeout(this.timerCallback, Math.min(MAX_TIMER_DELAY, Math.max(TIMER_GRANULARITY, Math.ceil(wait))));
    timeout.unref();
    this.timer = timeout;
  }

  private clearTimer(): void {
    const t = this.timer;
    if (t !== undefined) {
      if (isImmediate(t)) clearImmediate(t);
      else clearTimeout(t);
    }
    this.timer = undefined;
    this.timerDeadline = Number.POSITIVE_INFINITY;
  }

  private route(key: string): void {
    if (this.routeKeys.has(key)) return;
    if (this.host.addRoute(key, this)) this.routeKeys.add(key);
  }

  /** Unregisters everything, then delivers the final events (the last one being `closed`). */
  private finish(events: readonly ConnectionEvent[]): void {
    if (this.gone) return;
    this.gone = true;
    const closed = events.find((e): e is Extract<ConnectionEvent, { type: 'closed' }> => e.type === 'closed');
    this.closeInfo = closed?.info;
    this.clearTimer();
    this.outbound.stop();
    this.cidSubscription.unsubscribe();
    for (const key of this.routeKeys) this.host.removeRoute(key, this);
    this.routeKeys.clear();
    this.host.connectionGone(this);
    this.deliver(events);
  }
}
