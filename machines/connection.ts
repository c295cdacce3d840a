/**
 * The lifecycle of a QUIC connection as an XState machine: the single definition of its states
 * and of what moves it between them (RFC 9000 §10; RFC 9001 §4.1.1, §4.1.2).
 *
 * ```
 * idle ─start─▶ handshaking ─handshakeComplete─▶ established ─handshakeConfirmed─▶ confirmed
 *   │               │                                 │                               │
 *   ├─close─────────┼──────────close──────────────────┴───────────────────────────────┴─▶ closing ─periodEnded─▶ closed
 *   │               ├──────────drain─────────────────────────────────────────────────────▶ draining ─periodEnded─▶ closed
 *   └─abandon───────┴──────────abandon (idle or handshake timeout, version negotiation)──▶ closed
 *                                                                          closing ─drain─▶ draining
 * ```
 *
 * - `idle`: created, nothing exchanged yet (a client before its first Initial leaves, a server
 *   before it has processed the client's first Initial).
 * - `handshaking` → `established` when the TLS handshake completes (RFC 9001 §4.1.1) →
 *   `confirmed` when it is confirmed (RFC 9001 §4.1.2: at once for a server, on HANDSHAKE_DONE for
 *   a client).
 * - `closing`: this endpoint sent CONNECTION_CLOSE and answers further packets with it
 *   (RFC 9000 §10.2.1); `draining`: the peer closed (or reset) the connection, nothing is sent
 *   (RFC 9000 §10.2.2). Both last three PTOs and end in `closed`.
 * - `abandon` closes at once without sending anything: an idle timeout (RFC 9000 §10.1), a
 *   handshake that timed out, a failed version negotiation (RFC 9000 §6.2), or a close before any
 *   packet was exchanged.
 *
 * The machine only ever sees these lifecycle events — a handful per connection (ARCHITECTURE.md
 * principle 2); datagrams, packets and frames never go through it. Its live actor is the parent
 * of the TLS handshake actor (system id `tls`) and, while an inspector is attached, of the packet
 * builder's lifecycle mirror (system id `packetBuilder`) and the PMTU discovery mirror (system id
 * `pmtud`), so an inspector shows the whole tree.
 *
 * @module
 */
import { assign, setup, spawnChild, stopChild } from 'xstate';
import type { ConnectionCloseInfo, ConnectionState } from '../src/transport/connection-types.js';
import { PACKET_BUILDER_INSPECT_ATTACH, PACKET_BUILDER_INSPECT_DETACH, PACKET_BUILDER_SYSTEM_ID, packetBuilderMachine, type PacketBuilderInspectEvent } from './packet-builder.js';
import { PMTUD_INSPECT_ATTACH, PMTUD_INSPECT_DETACH, PMTUD_SYSTEM_ID, pmtudMachine, type PmtudInspectEvent } from './pmtud.js';

/** The connection lifecycle states, in order (the `ConnectionState` values). */
export const CONNECTION_STATES = ['idle', 'handshaking', 'established', 'confirmed', 'closing', 'draining', 'closed'] as const satisfies readonly ConnectionState[];

/** What the machine records about the end of the connection (plain data the inspector can show: codes as text). */
export interface ConnectionEndFacts {
  /** Who ended it (`ConnectionCloseInfo.source`). */
  readonly source: ConnectionCloseInfo['source'];
  /** The error code, decimal text (a 62-bit code does not fit a JSON number). */
  readonly code: string;
  /** The reason phrase. */
  readonly reason: string;
  /** True for an application close. */
  readonly application: boolean;
}

/** The machine's context: the role, and how the connection ended once it did. */
export interface ConnectionMachineContext {
  /** This endpoint's role. */
  readonly role: 'client' | 'server';
  /** Set when the connection starts to close. */
  readonly end: ConnectionEndFacts | undefined;
}

/** The first packet was sent (client) or processed (server). */
export interface ConnectionStartEvent {
  /** Discriminant. */
  readonly type: 'start';
}
/** The TLS handshake completed (RFC 9001 §4.1.1). */
export interface ConnectionHandshakeCompleteEvent {
  /** Discriminant. */
  readonly type: 'handshakeComplete';
}
/** The handshake is confirmed (RFC 9001 §4.1.2). */
export interface ConnectionHandshakeConfirmedEvent {
  /** Discriminant. */
  readonly type: 'handshakeConfirmed';
}
/** This endpoint closes: CONNECTION_CLOSE is sent, the closing period starts (RFC 9000 §10.2.1). */
export interface ConnectionCloseEvent {
  /** Discriminant. */
  readonly type: 'close';
  /** Why. */
  readonly end: ConnectionEndFacts;
}
/** The peer closed (CONNECTION_CLOSE received) or reset the connection: the draining period starts (RFC 9000 §10.2.2, §10.3.1). */
export interface ConnectionDrainEvent {
  /** Discriminant. */
  readonly type: 'drain';
  /** Why (kept only when nothing was recorded before, e.g. not after our own close). */
  readonly end: ConnectionEndFacts;
}
/** The connection ends at once, sending nothing (idle or handshake timeout, failed version negotiation, close before any exchange). */
export interface ConnectionAbandonEvent {
  /** Discriminant. */
  readonly type: 'abandon';
  /** Why. */
  readonly end: ConnectionEndFacts;
}
/** The closing or draining period (three PTOs, RFC 9000 §10.2) is over. */
export interface ConnectionPeriodEndedEvent {
  /** Discriminant. */
  readonly type: 'periodEnded';
}

/** Every event the connection machine accepts. */
export type ConnectionMachineEvent =
  | ConnectionStartEvent
  | ConnectionHandshakeCompleteEvent
  | ConnectionHandshakeConfirmedEvent
  | ConnectionCloseEvent
  | ConnectionDrainEvent
  | ConnectionAbandonEvent
  | ConnectionPeriodEndedEvent
  | PacketBuilderInspectEvent
  | PmtudInspectEvent;

/** The machine's input: the role. */
export interface ConnectionMachineInput {
  /** This endpoint's role. */
  readonly role: 'client' | 'server';
}

/** The id and system id of the connection actor (the root of each connection's actor system). */
export const CONNECTION_SYSTEM_ID = 'connection';

/** The system id of the TLS handshake actor under the connection actor (the TLS session's default). */
export const CONNECTION_TLS_SYSTEM_ID = 'tls';

/**
 * The connection lifecycle machine. Transitions leaving the open states on `close`, `drain` and
 * `abandon` record why in the context (`end`); `drain` in `closing` keeps our own reason.
 */
export const connectionMachine = setup({
  types: {
    context: {} as ConnectionMachineContext,
    events: {} as ConnectionMachineEvent,
    input: {} as ConnectionMachineInput,
  },
  actors: { packetBuilder: packetBuilderMachine, pmtud: pmtudMachine },
  actions: {
    recordEnd: assign({
      end: ({ context, event }) => context.end ?? ('end' in event ? event.end : undefined),
    }),
  },
}).createMachine({
  id: 'connection',
  initial: 'idle',
  context: ({ input }) => ({ role: input.role, end: undefined }),
  on: {
    // The packet builder's lifecycle mirror, spawned while an inspector is attached (src/packet/inspect.ts).
    [PACKET_BUILDER_INSPECT_ATTACH]: { actions: spawnChild('packetBuilder', { id: PACKET_BUILDER_SYSTEM_ID, systemId: PACKET_BUILDER_SYSTEM_ID }) },
    [PACKET_BUILDER_INSPECT_DETACH]: { actions: stopChild(PACKET_BUILDER_SYSTEM_ID) },
    // The PMTU discovery mirror (src/transport/pmtud.ts), likewise.
    [PMTUD_INSPECT_ATTACH]: { actions: spawnChild('pmtud', { id: PMTUD_SYSTEM_ID, systemId: PMTUD_SYSTEM_ID }) },
    [PMTUD_INSPECT_DETACH]: { actions: stopChild(PMTUD_SYSTEM_ID) },
  },
  states: {
    idle: {
      description: 'Created; no packet exchanged yet.',
      on: {
        start: { target: 'handshaking' },
        close: { target: 'closing', actions: 'recordEnd', description: 'A server refusing the client\'s first Initial (e.g. INVALID_TOKEN) answers it with CONNECTION_CLOSE.' },
        abandon: { target: 'closed', actions: 'recordEnd', description: 'Nothing was sent (a client before its first Initial): nothing to tell the peer.' },
      },
    },
    handshaking: {
      description: 'The TLS handshake is running in the Initial and Handshake packet number spaces.',
      on: {
        handshakeComplete: { target: 'established' },
        close: { target: 'closing', actions: 'recordEnd' },
        drain: { target: 'draining', actions: 'recordEnd' },
        abandon: { target: 'closed', actions: 'recordEnd' },
      },
    },
    established: {
      description: 'The handshake is complete (RFC 9001 §4.1.1): streams and datagrams flow; not yet confirmed.',
      on: {
        handshakeConfirmed: { target: 'confirmed' },
        close: { target: 'closing', actions: 'recordEnd' },
        drain: { target: 'draining', actions: 'recordEnd' },
        abandon: { target: 'closed', actions: 'recordEnd' },
      },
    },
    confirmed: {
      description: 'The handshake is confirmed (RFC 9001 §4.1.2): Handshake keys discarded, key updates allowed.',
      on: {
        close: { target: 'closing', actions: 'recordEnd' },
        drain: { target: 'draining', actions: 'recordEnd' },
        abandon: { target: 'closed', actions: 'recordEnd' },
      },
    },
    closing: {
      description: 'CONNECTION_CLOSE sent; further packets are answered with it, rate-limited, for three PTOs (RFC 9000 §10.2.1).',
      on: {
        drain: { target: 'draining', actions: 'recordEnd', description: 'The peer closed too (RFC 9000 §10.2.2).' },
        periodEnded: { target: 'closed' },
        abandon: { target: 'closed', actions: 'recordEnd' },
      },
    },
    draining: {
      description: 'The peer closed or reset the connection; nothing is sent for three PTOs (RFC 9000 §10.2.2).',
      on: {
        periodEnded: { target: 'closed' },
      },
    },
    closed: {
      description: 'Gone: every resource released.',
      type: 'final',
    },
  },
});

/** The connection machine's type. */
export type ConnectionMachine = typeof connectionMachine;
