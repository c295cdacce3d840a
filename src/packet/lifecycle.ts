/**
 * The packet builder's lifecycle at run time: a transition table compiled, at module load, from
 * the machine in `machines/packet-builder.ts`, and a stepper that walks it for a few nanoseconds
 * per event instead of the 6–13 µs of an actor event (ARCHITECTURE.md principle 2).
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
  initialPacketBuilderFacts,
  PACKET_BUILDER_EVENT_TYPES,
  PACKET_BUILDER_STATES,
  packetBuilderGuards,
  packetBuilderMachine,
  packetBuilderUpdates,
  type PacketBuilderEvent,
  type PacketBuilderEventType,
  type PacketBuilderFacts,
  type PacketBuilderGuard,
  type PacketBuilderGuardArgs,
  type PacketBuilderGuardName,
  type PacketBuilderState,
  type PacketBuilderUpdate,
  type PacketBuilderUpdateName,
} from '../../machines/packet-builder.js';

/** One candidate transition of the compiled table, in the order the machine lists it. */
export interface CompiledTransition {
  /** The state it leaves. */
  readonly source: PacketBuilderState;
  /** The event type that triggers it. */
  readonly eventType: PacketBuilderEventType;
  /** Name of its guard, or undefined when unguarded. */
  readonly guardName: PacketBuilderGuardName | undefined;
  /** The guard function (the machine's own). */
  readonly guard: PacketBuilderGuard | undefined;
  /** The state it enters; the source itself for a targetless transition. */
  readonly target: PacketBuilderState;
  /** Index of {@link target} in `PACKET_BUILDER_STATES`. */
  readonly targetIndex: number;
  /** Names of its context updates, in order. */
  readonly updateNames: readonly PacketBuilderUpdateName[];
  /** The update functions (the machine's own), in order. */
  readonly updates: readonly PacketBuilderUpdate[];
}

/** The compiled lifecycle: `transitions[stateIndex][eventType]` lists the candidates in order. */
export interface LifecycleTable {
  /** Per state (indexed as `PACKET_BUILDER_STATES`), the candidates per event type (absent: refused). */
  readonly transitions: ReadonlyArray<Readonly<Partial<Record<PacketBuilderEventType, readonly CompiledTransition[]>>>>;
  /** Every compiled transition, in config order. */
  readonly all: readonly CompiledTransition[];
  /** The same candidates, flat: `flat[stateIndex * PACKET_BUILDER_EVENT_TYPES.length + eventIndex]`. */
  readonly flat: ReadonlyArray<readonly CompiledTransition[] | undefined>;
  /** Index of the machine's initial state. */
  readonly initialIndex: number;
}

function nameOf(ref: unknown, what: string, where: string): string {
  if (typeof ref === 'string') return ref;
  if (typeof ref === 'object' && ref !== null && typeof (ref as { type?: unknown }).type === 'string') return (ref as { type: string }).type;
  throw new Error(`packet builder machine: ${where} has an inline ${what}; only named ${what}s can be compiled into the lifecycle table`);
}

/**
 * Compiles a machine shaped like `packetBuilderMachine` (flat states, named guards and actions from
 * `packetBuilderGuards` / `packetBuilderUpdates`) into a {@link LifecycleTable}.
 *
 * @throws Error when the machine uses an unknown state, event, guard or action, an inline guard or
 *   action, or a nested state — anything the table could not reproduce exactly.
 */
export function compileLifecycleTable(machine: AnyStateMachine): LifecycleTable {
  const stateIndex = new Map<string, number>(PACKET_BUILDER_STATES.map((s, i) => [s, i]));
  const eventTypes = new Set<string>(PACKET_BUILDER_EVENT_TYPES);
  const guards: Record<string, PacketBuilderGuard> = packetBuilderGuards;
  const updates: Record<string, PacketBuilderUpdate> = packetBuilderUpdates;
  const transitions: Array<Partial<Record<PacketBuilderEventType, CompiledTransition[]>>> = PACKET_BUILDER_STATES.map(() => ({}));
  const all: CompiledTransition[] = [];
  for (const [key, node] of Object.entries(machine.root.states)) {
    const source = key as PacketBuilderState;
    const si = stateIndex.get(key);
    if (si === undefined) throw new Error(`packet builder machine: unknown state ${key}`);
    if (Object.keys(node.states).length > 0) throw new Error(`packet builder machine: state ${key} is nested`);
    if (node.always !== undefined && node.always.length > 0) throw new Error(`packet builder machine: state ${key} has eventless transitions`);
    for (const [eventType, defs] of node.transitions) {
      if (!eventTypes.has(eventType)) throw new Error(`packet builder machine: unknown event ${eventType} in state ${key}`);
      const list: CompiledTransition[] = [];
      for (const def of defs) {
        const where = `${key} --${eventType}-->`;
        let guardName: PacketBuilderGuardName | undefined;
        if (def.guard !== undefined) {
          const name = nameOf(def.guard, 'guard', where);
          if (!(name in guards)) throw new Error(`packet builder machine: ${where} uses unknown guard ${name}`);
          guardName = name as PacketBuilderGuardName;
        }
        const updateNames = def.actions.map((a: unknown) => {
          const name = nameOf(a, 'action', where);
          if (!(name in updates)) throw new Error(`packet builder machine: ${where} uses unknown action ${name}`);
          return name as PacketBuilderUpdateName;
        });
        const targets = def.target ?? [];
        if (targets.length > 1) throw new Error(`packet builder machine: ${where} has several targets`);
        const target = (targets.length === 0 ? key : targets[0].key) as PacketBuilderState;
        const ti = stateIndex.get(target);
        if (ti === undefined) throw new Error(`packet builder machine: ${where} targets unknown state ${target}`);
        const t: CompiledTransition = {
          source,
          eventType: eventType as PacketBuilderEventType,
          guardName,
          guard: guardName === undefined ? undefined : guards[guardName],
          target,
          targetIndex: ti,
          updateNames,
          updates: updateNames.map((n: PacketBuilderUpdateName) => updates[n]),
        };
        list.push(t);
        all.push(t);
      }
      transitions[si][eventType as PacketBuilderEventType] = list;
    }
  }
  const initialIndex = stateIndex.get(String(machine.root.initial.target[0].key));
  if (initialIndex === undefined) throw new Error('packet builder machine: unknown initial state');
  const flat: (readonly CompiledTransition[] | undefined)[] = [];
  transitions.forEach((row, si) => PACKET_BUILDER_EVENT_TYPES.forEach((type, ei) => (flat[si * EVENT_COUNT + ei] = row[type])));
  return { transitions, all, initialIndex, flat };
}

const EVENT_COUNT = PACKET_BUILDER_EVENT_TYPES.length;
/** Index of each event type in `PACKET_BUILDER_EVENT_TYPES` (a fixed-shape object: one cheap lookup per event). */
const EVENT_INDEX: Readonly<Record<PacketBuilderEventType, number>> = {
  Initialize: 0,
  PrepareForControlFrames: 1,
  PrepareForPathMtuDiscovery: 2,
  PrepareForStreamFrames: 3,
  AddFrame: 4,
  AddStreamFrame: 5,
  Finalize: 6,
  Cleanup: 7,
};
for (const [type, i] of Object.entries(EVENT_INDEX)) {
  if (PACKET_BUILDER_EVENT_TYPES[i] !== type) throw new Error(`packet builder lifecycle: event index of ${type} is stale`);
}

/** The lifecycle table of `packetBuilderMachine`, compiled once at module load. */
export const PACKET_BUILDER_TABLE: LifecycleTable = compileLifecycleTable(packetBuilderMachine);

/**
 * An event the lifecycle does not accept in its current state: a "cannot happen" case of the
 * contract (Prepare before Initialize, Cleanup with a datagram unsent, a frame beyond the cap, …)
 * or a failed guard. The builder's state is unchanged.
 */
export class BuilderLifecycleError extends Error {
  /** The state the event was refused in. */
  readonly state: PacketBuilderState;
  /** The refused event type. */
  readonly eventType: PacketBuilderEventType;
  /** Guards that were tried and failed, in order (empty when the state has no transition for the event). */
  readonly failedGuards: readonly PacketBuilderGuardName[];

  /** Builds the error for `event` refused in `state` after `failedGuards` failed. */
  constructor(state: PacketBuilderState, eventType: PacketBuilderEventType, failedGuards: readonly PacketBuilderGuardName[]) {
    const why = failedGuards.length === 0 ? `not accepted in state ${state}` : `refused in state ${state}: guard ${failedGuards.join(', ')} failed`;
    super(`packet builder: ${eventType} ${why}`);
    this.name = 'BuilderLifecycleError';
    this.state = state;
    this.eventType = eventType;
    this.failedGuards = failedGuards;
  }
}

/**
 * The runtime lifecycle of one packet builder: the current state, the facts the guards read, and
 * the optional mirror actor.
 */
export class BuilderLifecycle {
  private stateIndex: number;
  /** The facts the guards read; updated only by the machine's own updates. */
  readonly facts: PacketBuilderFacts = initialPacketBuilderFacts();
  private readonly table: LifecycleTable;
  private readonly args: { context: PacketBuilderFacts; event: PacketBuilderEvent };
  private mirror: AnyActorRef | undefined;
  private pendingMirror: AnyActorRef | undefined;

  /** Starts in the machine's initial state (uninitialized). */
  constructor(table: LifecycleTable = PACKET_BUILDER_TABLE) {
    this.table = table;
    this.stateIndex = table.initialIndex;
    this.args = { context: this.facts, event: { type: 'Cleanup' } };
  }

  /** The current state. */
  get state(): PacketBuilderState {
    return PACKET_BUILDER_STATES[this.stateIndex];
  }

  /** True when `event` would be accepted now (the machine's `snapshot.can(event)`). */
  can(event: PacketBuilderEvent): boolean {
    return this.select(event) !== undefined;
  }

  /**
   * Takes `event`: runs the first candidate whose guard passes, applies its updates and enters its
   * target, then mirrors the event when an inspector is attached. The caller must not reuse `event`
   * for another event before this returns.
   *
   * @throws {@link BuilderLifecycleError} when no candidate is enabled; nothing changes then.
   */
  send(event: PacketBuilderEvent): void {
    const t = this.select(event);
    if (t === undefined) throw this.refusal(event);
    const updates = t.updates;
    for (let i = 0; i < updates.length; i++) updates[i](this.facts, event);
    this.stateIndex = t.targetIndex;
    if (this.mirror !== undefined) this.mirror.send({ ...event });
    else if (this.pendingMirror !== undefined && this.stateIndex === this.table.initialIndex) this.startMirror();
  }

  /**
   * Mirrors every accepted event to `actor`, a live actor of `packetBuilderMachine`. The mirror
   * starts in the machine's initial state, so mirroring begins now if the lifecycle is there, or
   * else as soon as it returns there (after the current flush's Cleanup).
   */
  attachMirror(actor: AnyActorRef): void {
    this.mirror = undefined;
    this.pendingMirror = actor;
    if (this.stateIndex === this.table.initialIndex) this.startMirror();
  }

  /** Stops mirroring. */
  detachMirror(): void {
    this.mirror = undefined;
    this.pendingMirror = undefined;
  }

  /** The actor events are mirrored to, once mirroring has begun. */
  get mirrorActor(): AnyActorRef | undefined {
    return this.mirror;
  }

  private startMirror(): void {
    this.mirror = this.pendingMirror;
    this.pendingMirror = undefined;
  }

  private select(event: PacketBuilderEvent): CompiledTransition | undefined {
    const candidates = this.table.flat[this.stateIndex * EVENT_COUNT + EVENT_INDEX[event.type]];
    if (candidates === undefined) return undefined;
    const args = this.args;
    args.event = event;
    for (let i = 0; i < candidates.length; i++) {
      const t = candidates[i];
      if (t.guard === undefined || t.guard(args as PacketBuilderGuardArgs)) return t;
    }
    return undefined;
  }

  private refusal(event: PacketBuilderEvent): BuilderLifecycleError {
    const candidates = this.table.transitions[this.stateIndex][event.type] ?? [];
    const failed: PacketBuilderGuardName[] = [];
    for (const t of candidates) if (t.guardName !== undefined) failed.push(t.guardName);
    return new BuilderLifecycleError(this.state, event.type, failed);
  }
}
