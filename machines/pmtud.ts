/**
 * Datagram Packetization Layer PMTU Discovery (RFC 8899 §5.2, Figure 5; RFC 9000 §14.3) as an
 * XState machine: the single definition of its states and of the events that move them.
 *
 * ```
 *    disabled ──Start──▶ searching ──SearchComplete──▶ searchComplete
 *        ▲                 │  ▲ ◀──────────Raise──────────┘  │
 *        │ Stop            │  └──BaseConfirmed──┐           │
 *     (any state)    BlackHole                  │       BlackHole
 *                          ▼                    │           │
 *                        base ◀──────────────────┼───────────┘
 *                          │ BaseFailed         │
 *                          ▼                    │
 *                        error ──BaseConfirmed──┘
 * ```
 *
 * QUIC confirms the base when the handshake completes (its Initial packets were padded to 1200
 * bytes, RFC 9000 §14.1), so `Start` goes straight to `searching`; `base` is where a black hole
 * leads, until an acknowledgement confirms the base again. A search with nothing to search (an
 * upper bound at or below the base) is `Start` then `SearchComplete`.
 *
 * `src/transport/pmtud.ts` compiles it into a transition table (`machines/compiled.ts`) whose
 * runtime the discovery steps (its inputs are per packet; its state changes a handful of times per
 * connection). While an inspector is attached, a live actor of this machine runs as a child of the
 * connection's actor (system id {@link PMTUD_SYSTEM_ID}) and receives every event the runtime
 * accepts, so the inspector shows the discovery's state live.
 *
 * @module
 */
import { setup } from 'xstate';

/** The states of RFC 8899 §5.2. */
export const PMTUD_STATES = ['disabled', 'searching', 'searchComplete', 'base', 'error'] as const;

/** A state of PMTU discovery (RFC 8899 §5.2). */
export type PmtudMachineState = (typeof PMTUD_STATES)[number];

/** The events of PMTU discovery. */
export const PMTUD_EVENT_TYPES = ['Start', 'SearchComplete', 'Raise', 'BlackHole', 'BaseConfirmed', 'BaseFailed', 'Stop'] as const;

/** An event type of PMTU discovery. */
export type PmtudEventType = (typeof PMTUD_EVENT_TYPES)[number];

/**
 * An event of PMTU discovery. The events carry no data: sizes and counters stay in the discovery.
 * - `Start`: the handshake is confirmed and the peer's address validated (RFC 9000 §14.3).
 * - `SearchComplete`: the range of untried sizes is narrower than the search precision.
 * - `Raise`: PMTU_RAISE_TIMER expired (RFC 8899 §5.1.1): search for a larger size again.
 * - `BlackHole`: packets of the current size vanish (RFC 8899 §4.3): fall back to BASE_PLPMTU.
 * - `BaseConfirmed`: something sent at the base was acknowledged.
 * - `BaseFailed`: even the base is not acknowledged.
 * - `Stop`: discovery is turned off.
 */
export interface PmtudEvent {
  /** Discriminant. */
  readonly type: PmtudEventType;
}

/** PMTU discovery, RFC 8899 §5.2. */
export const pmtudMachine = setup({
  types: { events: {} as PmtudEvent },
}).createMachine({
  id: 'pmtud',
  initial: 'disabled',
  states: {
    disabled: {
      description: 'No probing: turned off, or waiting for a confirmed handshake and a validated address (RFC 9000 §14.3).',
      on: { Start: { target: 'searching', description: 'Handshake confirmed, address validated' } },
    },
    searching: {
      description: 'Probing (PING + PADDING, RFC 9000 §14.4) for a larger PLPMTU; at most one probe outstanding.',
      on: {
        SearchComplete: { target: 'searchComplete', description: 'Range narrower than the precision' },
        BlackHole: { target: 'base', description: 'Large packets lost (RFC 8899 §4.3)' },
        Stop: { target: 'disabled' },
      },
    },
    searchComplete: {
      description: 'PLPMTU found; PMTU_RAISE_TIMER armed below the upper bound (RFC 8899 §5.1.1).',
      on: {
        Raise: { target: 'searching', description: 'PMTU_RAISE_TIMER' },
        BlackHole: { target: 'base', description: 'Large packets lost (RFC 8899 §4.3)' },
        Stop: { target: 'disabled' },
      },
    },
    base: {
      description: 'Fell back to BASE_PLPMTU; waiting for an acknowledgement confirming it (RFC 8899 §5.2).',
      on: {
        BaseConfirmed: { target: 'searching', description: 'Acknowledged at the base' },
        BaseFailed: { target: 'error', description: 'PTOs at the base' },
        Stop: { target: 'disabled' },
      },
    },
    error: {
      description: 'Even BASE_PLPMTU is not acknowledged; QUIC cannot go below 1200 bytes, so the size stays (RFC 8899 §5.2).',
      on: {
        BaseConfirmed: { target: 'searching', description: 'Acknowledged at the base' },
        Stop: { target: 'disabled' },
      },
    },
  },
});

/** The system id (and child id) of the PMTU discovery mirror under a connection's actor. */
export const PMTUD_SYSTEM_ID = 'pmtud';

/**
 * The event a connection machine handles by spawning the mirror:
 * `spawnChild('pmtud', { id: PMTUD_SYSTEM_ID, systemId: PMTUD_SYSTEM_ID })`.
 */
export const PMTUD_INSPECT_ATTACH = 'pmtud.inspect.attach';

/** The event a connection machine handles by stopping the mirror: `stopChild(PMTUD_SYSTEM_ID)`. */
export const PMTUD_INSPECT_DETACH = 'pmtud.inspect.detach';

/** The events that attach and detach the PMTU discovery mirror. */
export type PmtudInspectEvent = { readonly type: typeof PMTUD_INSPECT_ATTACH } | { readonly type: typeof PMTUD_INSPECT_DETACH };
