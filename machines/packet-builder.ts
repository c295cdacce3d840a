/**
 * The packet builder's lifecycle as an XState machine: the single definition of which operation is
 * allowed when (msquic's QUIC_PACKET_BUILDER contract, `seeds/001_*` sections B–E).
 *
 * ```
 * uninitialized ─Initialize─▶ initialized ─Prepare*─▶ prepared ─Add*Frame─▶ building ⟲ Add*Frame
 *       ▲                       │   ▲                    │                      │
 *       └──────Cleanup──────────┘   └─Finalize (empty)───┤                      ├─Finalize{flush:false}─▶ finalized
 *       └──────Cleanup──────────── sent ◀─Finalize{flush:true}─────────────────┴──────────────────────── finalized
 *                                  sent / finalized ─Prepare*─▶ prepared
 * ```
 *
 * The machine is never run per packet: `src/packet/lifecycle.ts` compiles its transitions into a
 * table at module load and the builder steps through that table (ARCHITECTURE.md principle 2: an
 * actor event costs 6–13 µs, a table step a few nanoseconds). The guards and the context updates
 * below are the only implementations: the machine uses them through `setup()` and the table calls
 * the very same functions. While an inspector is attached, a live actor of this machine runs as a
 * child of the connection (`systemId` {@link PACKET_BUILDER_SYSTEM_ID}) and receives every event the
 * table accepted, so the inspector shows the real lifecycle.
 *
 * Where the contract's diagram and its text differ, this machine chooses (and says why):
 * - **Prepare after a flush.** The diagram has `sent` lead only to Cleanup; the text says
 *   "Finalize(FlushBatchedDatagrams=TRUE) forces send and returns to Initialized state", and
 *   PrepareForPathMtuDiscovery "forces flush of batched datagrams" before preparing. Both are needed
 *   (one flush hands datagrams over in batches), so `sent` accepts Prepare* as well as Cleanup; the
 *   `sent` state is kept because the inspector should show that the batch left the builder.
 * - **The Finalized → Initialized loop.** The diagram draws an unlabelled arrow back to Initialized
 *   ("loop: prepare more packets"); no event drives it, so it is folded into `finalized`
 *   accepting Prepare* directly (coalescing the next packet into the open datagram).
 * - **Finalize of an empty packet.** The diagram has no arrow from Prepared; the text says such a
 *   Finalize "reverts packet number, removes header, returns FALSE". It is accepted in `prepared`
 *   and returns to `finalized` when sealed packets wait in the batch, else to `initialized` — or to
 *   `sent` when it flushes.
 * - **Cleanup.** The text's "Finalized → … or → Cleanup" is allowed only where nothing is unsent
 *   ("Flush Before Cleanup: SendData must be NULL"): `initialized` and `sent`. In `finalized` a sealed
 *   packet always waits in the open datagram, so Cleanup there is refused, as in `prepared` and
 *   `building`.
 * - **"Cannot happen" cases** (Prepare before Initialize, Cleanup with a datagram unsent, a frame
 *   beyond QUIC_MAX_FRAMES_PER_PACKET, Finalize with nothing open) are asserts in msquic. Here the
 *   machine simply has no enabled transition, and the runtime raises a typed `BuilderLifecycleError`.
 * - **Failures that return FALSE** in msquic (Initialize without a source CID, Prepare without a
 *   key, PMTUD before address validation) are guards. The flush checks them before asking, so a
 *   refused event can only be a caller's bug; it is refused loudly rather than ignored.
 *
 * Guards read only the event and the context, and the context holds only what the guards need
 * (frames in the packet, the frame cap, whether sealed packets wait unsent), so a graph traversal of
 * the machine is finite and model-based tests can replay every path on the runtime.
 *
 * @module
 */
import { assign, setup } from 'xstate';
import type { EncryptionLevel } from '../src/wire/levels.js';

/** The lifecycle states, in the contract's order (`seeds/001_*` §B "State Machine"). */
export const PACKET_BUILDER_STATES = ['uninitialized', 'initialized', 'prepared', 'building', 'finalized', 'sent'] as const;

/** A lifecycle state of the packet builder. */
export type PacketBuilderState = (typeof PACKET_BUILDER_STATES)[number];

/** Event types of the lifecycle, one per contract API that changes state (`seeds/001_*` §A). */
export const PACKET_BUILDER_EVENT_TYPES = [
  'Initialize',
  'PrepareForControlFrames',
  'PrepareForPathMtuDiscovery',
  'PrepareForStreamFrames',
  'AddFrame',
  'AddStreamFrame',
  'Finalize',
  'Cleanup',
] as const;

/** A lifecycle event type. */
export type PacketBuilderEventType = (typeof PACKET_BUILDER_EVENT_TYPES)[number];

/** QuicPacketBuilderInitialize: binds the builder to the connection for one flush. */
export interface InitializeEvent {
  /** Discriminant. */
  readonly type: 'Initialize';
  /** The connection has a source connection ID to put in long headers (contract §A.1: FALSE without one). */
  readonly sourceCidAvailable: boolean;
  /** QUIC_MAX_FRAMES_PER_PACKET for this flush (≥ 1). */
  readonly maxFrames: number;
}

/** QuicPacketBuilderPrepareForControlFrames: opens a packet at `level` for ACK, CRYPTO, CONNECTION_CLOSE, control frames. */
export interface PrepareForControlFramesEvent {
  /** Discriminant. */
  readonly type: 'PrepareForControlFrames';
  /** Encryption level of the packet. */
  readonly level: EncryptionLevel;
  /** Write keys for `level` are installed (contract §A.3: FALSE without them). */
  readonly keyAvailable: boolean;
  /** The packet is a tail-loss / PTO probe (padded as contract §E says). */
  readonly tailLossProbe: boolean;
}

/** QuicPacketBuilderPrepareForPathMtuDiscovery: opens a 1-RTT PMTU probe in a datagram of its own. */
export interface PrepareForPathMtuDiscoveryEvent {
  /** Discriminant. */
  readonly type: 'PrepareForPathMtuDiscovery';
  /** 1-RTT write keys are installed (contract §A.4). */
  readonly keyAvailable: boolean;
  /** The peer's address is validated (contract §A.4: "PMTUD should only happen after source address validation"). */
  readonly addressValidated: boolean;
  /** Size in bytes the probe datagram is padded to. */
  readonly probeSize: number;
}

/** QuicPacketBuilderPrepareForStreamFrames: opens a 1-RTT packet (0-RTT when 1-RTT keys are not there yet). */
export interface PrepareForStreamFramesEvent {
  /** Discriminant. */
  readonly type: 'PrepareForStreamFrames';
  /** The level chosen: 1-RTT, or 0-RTT only without 1-RTT keys (contract §A.5). */
  readonly level: 'zeroRtt' | 'oneRtt';
  /** Write keys for `level` are installed. */
  readonly keyAvailable: boolean;
  /** The packet is a tail-loss / PTO probe. */
  readonly tailLossProbe: boolean;
}

/** QuicPacketBuilderAddFrame: a frame was written into the packet. */
export interface AddFrameEvent {
  /** Discriminant. */
  readonly type: 'AddFrame';
  /** What the frame was (`padding` for PADDING the builder adds, `frame` when a source tracks nothing). */
  readonly kind: string;
  /** The frame elicits an acknowledgement. */
  readonly ackEliciting: boolean;
}

/** QuicPacketBuilderAddStreamFrame: a STREAM frame was written into the packet. */
export interface AddStreamFrameEvent {
  /** Discriminant. */
  readonly type: 'AddStreamFrame';
  /** The stream it belongs to. */
  readonly streamId: number;
}

/**
 * QuicPacketBuilderFinalize: completes the open packet (or drops it when empty) — a long header is
 * sealed now, a short header with its batch; `flush` seals and hands the batch over.
 */
export interface FinalizeEvent {
  /** Discriminant. */
  readonly type: 'Finalize';
  /** FlushBatchedDatagrams: hand every batched datagram to the socket. */
  readonly flush: boolean;
}

/** QuicPacketBuilderCleanup: releases the builder after a flush. */
export interface CleanupEvent {
  /** Discriminant. */
  readonly type: 'Cleanup';
}

/** Every lifecycle event. */
export type PacketBuilderEvent =
  | InitializeEvent
  | PrepareForControlFramesEvent
  | PrepareForPathMtuDiscoveryEvent
  | PrepareForStreamFramesEvent
  | AddFrameEvent
  | AddStreamFrameEvent
  | FinalizeEvent
  | CleanupEvent;

/**
 * The facts the guards read: the machine's context, and the runtime's lifecycle record (kept up
 * to date by the same {@link packetBuilderUpdates}).
 */
export interface PacketBuilderFacts {
  /** Frames committed to the open packet (contract: `Metadata->FrameCount`). */
  frameCount: number;
  /** QUIC_MAX_FRAMES_PER_PACKET for this flush. */
  maxFrames: number;
  /** Sealed packets wait in the batch, not yet handed over (contract: `SendData != NULL`). */
  unsent: boolean;
}

/** The facts of a builder that has not been initialized. */
export function initialPacketBuilderFacts(): PacketBuilderFacts {
  return { frameCount: 0, maxFrames: 0, unsent: false };
}

/** What a guard sees: the facts and the event (the shape XState passes to `setup({ guards })`). */
export interface PacketBuilderGuardArgs {
  /** The lifecycle facts before the transition. */
  readonly context: PacketBuilderFacts;
  /** The event being decided. */
  readonly event: PacketBuilderEvent;
}

/** A named guard of the lifecycle. */
export type PacketBuilderGuard = (args: PacketBuilderGuardArgs) => boolean;

/**
 * The lifecycle's guards, each encoding one contract invariant. Used by the machine (through
 * `setup({ guards })`) and by the compiled table alike.
 */
export const packetBuilderGuards = {
  /** contract §A.1: Initialize returns FALSE when `Connection->SourceCids.Next == NULL`. */
  hasSourceCid: ({ event }: PacketBuilderGuardArgs): boolean => event.type === 'Initialize' && event.sourceCidAvailable,
  /** contract §A.3, §A.5, §C.4: a packet is prepared only with write keys for its level. */
  keyAvailable: ({ event }: PacketBuilderGuardArgs): boolean =>
    (event.type === 'PrepareForControlFrames' || event.type === 'PrepareForStreamFrames') && event.keyAvailable,
  /** contract §A.4: a PMTU probe needs 1-RTT keys and a validated peer address. */
  mtuProbeAllowed: ({ event }: PacketBuilderGuardArgs): boolean =>
    event.type === 'PrepareForPathMtuDiscovery' && event.keyAvailable && event.addressValidated,
  /** contract §A.8, §B: `FrameCount < QUIC_MAX_FRAMES_PER_PACKET` before a frame is added. */
  belowFrameCap: ({ context }: PacketBuilderGuardArgs): boolean => context.frameCount < context.maxFrames,
  /** contract §A.6: Finalize(FlushBatchedDatagrams=TRUE) sends the batch. */
  flushRequested: ({ event }: PacketBuilderGuardArgs): boolean => event.type === 'Finalize' && event.flush,
  /** contract §A.6: a Finalize that drops an empty packet leaves earlier sealed packets batched. */
  hasUnsentPackets: ({ context }: PacketBuilderGuardArgs): boolean => context.unsent,
} as const;

/** The name of a lifecycle guard. */
export type PacketBuilderGuardName = keyof typeof packetBuilderGuards;

/** A named update of the lifecycle facts; mutates `facts` in place (the machine applies it to a copy). */
export type PacketBuilderUpdate = (facts: PacketBuilderFacts, event: PacketBuilderEvent) => void;

/**
 * The lifecycle's context updates. The machine wraps each in `assign` (on a copy of its context);
 * the runtime applies the same function to its facts in place, so the bookkeeping has one definition.
 */
export const packetBuilderUpdates = {
  /** Initialize: a fresh flush with the connection's frame cap. */
  beginFlush: (facts: PacketBuilderFacts, event: PacketBuilderEvent): void => {
    facts.frameCount = 0;
    facts.unsent = false;
    if (event.type === 'Initialize') facts.maxFrames = event.maxFrames;
  },
  /** Prepare*: a new packet holds no frames yet. */
  openPacket: (facts: PacketBuilderFacts): void => {
    facts.frameCount = 0;
  },
  /** AddFrame / AddStreamFrame: one more frame in the packet (contract §A.8: `FrameCount++`). */
  countFrame: (facts: PacketBuilderFacts): void => {
    facts.frameCount += 1;
  },
  /** Finalize{flush:false} of a packet with frames: it is complete and waits in the batch. */
  batchPacket: (facts: PacketBuilderFacts): void => {
    facts.frameCount = 0;
    facts.unsent = true;
  },
  /** Finalize of an empty packet: its packet number is reverted and its header removed (contract §A.6). */
  dropEmptyPacket: (facts: PacketBuilderFacts): void => {
    facts.frameCount = 0;
  },
  /** Finalize{flush:true}: every batched datagram is handed over (contract §A.6: SendData becomes NULL). */
  flushBatch: (facts: PacketBuilderFacts): void => {
    facts.frameCount = 0;
    facts.unsent = false;
  },
  /** Cleanup: back to the uninitialized facts. */
  reset: (facts: PacketBuilderFacts): void => {
    facts.frameCount = 0;
    facts.maxFrames = 0;
    facts.unsent = false;
  },
} as const;

/** The name of a lifecycle update. */
export type PacketBuilderUpdateName = keyof typeof packetBuilderUpdates;

function assignFrom(update: PacketBuilderUpdate) {
  return assign<PacketBuilderFacts, PacketBuilderEvent, undefined, PacketBuilderEvent, never>(({ context, event }) => {
    const next: PacketBuilderFacts = { ...context };
    update(next, event);
    return next;
  });
}

const prepareTransitions = {
  PrepareForControlFrames: { guard: 'keyAvailable', target: 'prepared', actions: 'openPacket' },
  PrepareForStreamFrames: { guard: 'keyAvailable', target: 'prepared', actions: 'openPacket' },
  PrepareForPathMtuDiscovery: { guard: 'mtuProbeAllowed', target: 'prepared', actions: 'openPacket' },
} as const;

const addFrameTransitions = {
  AddFrame: { guard: 'belowFrameCap', target: 'building', actions: 'countFrame' },
  AddStreamFrame: { guard: 'belowFrameCap', target: 'building', actions: 'countFrame' },
} as const;

/**
 * The packet builder lifecycle (`seeds/001_*` §B state machine, §C environment invariants, §D API
 * transitions). Its context is {@link PacketBuilderFacts}; see the module comment for the choices
 * made where the contract's diagram and text differ.
 */
export const packetBuilderMachine = setup({
  types: {
    context: {} as PacketBuilderFacts,
    events: {} as PacketBuilderEvent,
  },
  guards: packetBuilderGuards,
  actions: {
    beginFlush: assignFrom(packetBuilderUpdates.beginFlush),
    openPacket: assignFrom(packetBuilderUpdates.openPacket),
    countFrame: assignFrom(packetBuilderUpdates.countFrame),
    batchPacket: assignFrom(packetBuilderUpdates.batchPacket),
    dropEmptyPacket: assignFrom(packetBuilderUpdates.dropEmptyPacket),
    flushBatch: assignFrom(packetBuilderUpdates.flushBatch),
    reset: assignFrom(packetBuilderUpdates.reset),
  },
}).createMachine({
  id: 'packetBuilder',
  initial: 'uninitialized',
  context: initialPacketBuilderFacts(),
  states: {
    uninitialized: {
      description: 'No connection bound (contract §B state 1).',
      on: {
        Initialize: { guard: 'hasSourceCid', target: 'initialized', actions: 'beginFlush' },
      },
    },
    initialized: {
      description: 'Bound to the connection and path, limits read; no buffers (contract §B: SendData == NULL, Datagram == NULL).',
      on: {
        ...prepareTransitions,
        Cleanup: { target: 'uninitialized', actions: 'reset' },
      },
    },
    prepared: {
      description: 'A packet header is written in the datagram; no frame yet (contract §B: FrameCount == 0).',
      on: {
        ...addFrameTransitions,
        Finalize: [
          { guard: 'flushRequested', target: 'sent', actions: ['dropEmptyPacket', 'flushBatch'], description: 'Empty packet: packet number reverted, header removed; batch sent.' },
          { guard: 'hasUnsentPackets', target: 'finalized', actions: 'dropEmptyPacket', description: 'Empty packet: packet number reverted, header removed; earlier packets still batched.' },
          { target: 'initialized', actions: 'dropEmptyPacket', description: 'Empty packet: packet number reverted, header removed; nothing batched.' },
        ],
      },
    },
    building: {
      description: 'Frames are being written (contract §B: FrameCount > 0).',
      on: {
        AddFrame: { guard: 'belowFrameCap', actions: 'countFrame' },
        AddStreamFrame: { guard: 'belowFrameCap', actions: 'countFrame' },
        Finalize: [
          { guard: 'flushRequested', target: 'sent', actions: 'flushBatch', description: 'Sealed, header protected, batch sent.' },
          { target: 'finalized', actions: 'batchPacket', description: 'Sealed; waits in the batch (coalescing may continue).' },
        ],
      },
    },
    finalized: {
      description: 'The last packet is sealed and batched; the datagram may take more packets (contract §B: Finalized (partial)).',
      on: {
        ...prepareTransitions,
        Finalize: { guard: 'flushRequested', target: 'sent', actions: 'flushBatch', description: 'Batch sent.' },
      },
    },
    sent: {
      description: 'Every batched datagram was handed over (contract §B: Finalized (flushed), SendData == NULL).',
      on: {
        ...prepareTransitions,
        Cleanup: { target: 'uninitialized', actions: 'reset' },
      },
    },
  },
});

/** The `systemId` (and child `id`) of the live lifecycle actor under a connection's actor. */
export const PACKET_BUILDER_SYSTEM_ID = 'packetBuilder';

/**
 * The event a connection machine handles by spawning the lifecycle mirror:
 * `spawnChild('packetBuilder', { id: PACKET_BUILDER_SYSTEM_ID, systemId: PACKET_BUILDER_SYSTEM_ID })`
 * with `packetBuilderMachine` registered in its `setup({ actors: { packetBuilder } })`.
 */
export const PACKET_BUILDER_INSPECT_ATTACH = 'packetBuilder.inspect.attach';

/** The event a connection machine handles by stopping the mirror: `stopChild(PACKET_BUILDER_SYSTEM_ID)`. */
export const PACKET_BUILDER_INSPECT_DETACH = 'packetBuilder.inspect.detach';

/** The two events a connection machine handles to host the lifecycle mirror. */
export type PacketBuilderInspectEvent = { readonly type: typeof PACKET_BUILDER_INSPECT_ATTACH } | { readonly type: typeof PACKET_BUILDER_INSPECT_DETACH };
