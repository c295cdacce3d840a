/**
 * The packet builder's lifecycle at run time: the machine in `machines/packet-builder.ts` compiled,
 * at module load, by the generic compiler of `machines/compiled.ts` into a transition table, and a
 * stepper that walks it for a few nanoseconds per event instead of the 6–13 µs of an actor event
 * (ARCHITECTURE.md principle 2).
 *
 * The table is (state × event type) → ordered candidate transitions, each with its named guard,
 * target and named context updates, exactly as the machine's config lists them. Guards and
 * updates are looked up by name in `packetBuilderGuards` / `packetBuilderUpdates` — the functions
 * the machine itself uses — so the machine stays the single definition. An event with no enabled
 * candidate is refused with a {@link BuilderLifecycleError}; the state and facts are then unchanged.
 *
 * While an inspector is attached ({@link BuilderLifecycle.attachMirror}), every accepted event is
 * also sent to a live actor of the same machine, so the inspector shows the real lifecycle; with
 * none attached, nothing is sent.
 *
 * @module
 */
import type { AnyActorRef, AnyStateMachine } from 'xstate';
import {
  compileMachine,
  MachineRefusalError,
  MachineRuntime,
  type CompiledMachine,
  type CompiledTransition as GenericCompiledTransition,
} from '../../machines/compiled.js';
import {
  initialPacketBuilderFacts,
  PACKET_BUILDER_EVENT_TYPES,
  PACKET_BUILDER_STATES,
  packetBuilderGuards,
  packetBuilderMachine,
  packetBuilderUpdates,
  type PacketBuilderEvent,
  type PacketBuilderEventType,
  type PacketBuilderFacts,
  type PacketBuilderGuardName,
  type PacketBuilderState,
  type PacketBuilderUpdateName,
} from '../../machines/packet-builder.js';

/** One candidate transition of the compiled table, in the order the machine lists it (guard and update names typed). */
export type CompiledTransition = GenericCompiledTransition<PacketBuilderState, PacketBuilderEvent, PacketBuilderFacts, PacketBuilderGuardName, PacketBuilderUpdateName>;

/** The compiled lifecycle: `transitions[stateIndex][eventType]` lists the candidates in order (states indexed as `table.states`). */
export type LifecycleTable = CompiledMachine<PacketBuilderState, PacketBuilderEvent, PacketBuilderFacts, PacketBuilderGuardName, PacketBuilderUpdateName>;

/**
 * An event the lifecycle does not accept in its current state: a "cannot happen" case of the
 * contract (Prepare before Initialize, Cleanup with a datagram unsent, a frame beyond the cap, …)
 * or a failed guard. The builder's state is unchanged.
 */
export class BuilderLifecycleError extends MachineRefusalError {
  /** The state the event was refused in. */
  declare readonly state: PacketBuilderState;
  /** The refused event type. */
  declare readonly eventType: PacketBuilderEventType;
  /** Guards that were tried and failed, in order (empty when the state has no transition for the event). */
  declare readonly failedGuards: readonly PacketBuilderGuardName[];

  /** Builds the error for `event` refused in `state` after `failedGuards` failed. */
  constructor(state: PacketBuilderState, eventType: PacketBuilderEventType, failedGuards: readonly PacketBuilderGuardName[]) {
    super(packetBuilderMachine.id, state, eventType, failedGuards, 'packet builder');
    this.name = 'BuilderLifecycleError';
  }
}

/**
 * Compiles a machine shaped like `packetBuilderMachine` (flat states named in
 * `PACKET_BUILDER_STATES`, events of `PACKET_BUILDER_EVENT_TYPES`, named guards and actions from
 * `packetBuilderGuards` / `packetBuilderUpdates`) into a {@link LifecycleTable}.
 *
 * @throws Error when the machine uses an unknown state, event, guard or action, an inline guard or
 *   action, or anything else the generic compiler refuses (nested states, eventless transitions, …).
 */
export function compileLifecycleTable(machine: AnyStateMachine): LifecycleTable {
  const table = compileMachine(machine as typeof packetBuilderMachine, {
    guards: packetBuilderGuards,
    updates: packetBuilderUpdates,
    initialContext: initialPacketBuilderFacts,
    refusal: (_id, state, eventType, failed) => new BuilderLifecycleError(state, eventType, failed),
  });
  const states = new Set<string>(PACKET_BUILDER_STATES);
  const events = new Set<string>(PACKET_BUILDER_EVENT_TYPES);
  for (const s of table.states) if (!states.has(s)) throw new Error(`packet builder machine: unknown state ${s}`);
  for (const e of table.eventTypes) if (!events.has(e)) throw new Error(`packet builder machine: unknown event ${e}`);
  return table;
}

/** The lifecycle table of `packetBuilderMachine`, compiled once at module load. */
export const PACKET_BUILDER_TABLE: LifecycleTable = compileLifecycleTable(packetBuilderMachine);
if (PACKET_BUILDER_TABLE.states.join() !== PACKET_BUILDER_STATES.join()) {
  // Callers index the table's rows as PACKET_BUILDER_STATES.
  throw new Error('packet builder machine: its states are not PACKET_BUILDER_STATES, in order');
}

/**
 * The runtime lifecycle of one packet builder: the current state, the facts the guards read, and
 * the optional mirror actor. A {@link MachineRuntime} of {@link PACKET_BUILDER_TABLE}.
 */
export class BuilderLifecycle extends MachineRuntime<PacketBuilderState, PacketBuilderEvent, PacketBuilderFacts, PacketBuilderGuardName, PacketBuilderUpdateName> {
  /** Starts in the machine's initial state (uninitialized). */
  constructor(table: LifecycleTable = PACKET_BUILDER_TABLE) {
    super(table, initialPacketBuilderFacts());
  }

  /** The facts the guards read; updated only by the machine's own updates. */
  get facts(): PacketBuilderFacts {
    return this.context;
  }

  /**
   * Mirrors every accepted event to `actor`, a live actor of `packetBuilderMachine`. The mirror
   * starts in the machine's initial state, so mirroring begins now if the lifecycle is there, or
   * else as soon as it returns there (after the current flush's Cleanup).
   */
  override attachMirror(actor: AnyActorRef): void {
    super.attachMirror(actor, 'wait');
  }

  /** The actor events are mirrored to, once mirroring has begun. */
  get mirrorActor(): AnyActorRef | undefined {
    return this.mirrorSink as AnyActorRef | undefined;
  }
}
