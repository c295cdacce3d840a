/**
 * Compiled machines: an XState machine turned, once, into a transition table that a runtime steps
 * through in nanoseconds instead of the 6–13 µs an actor event costs (ARCHITECTURE.md principle 2),
 * with the machine still the single definition and, while an inspector is attached, a live actor
 * of the same machine mirroring the runtime.
 *
 * - {@link compileMachine} reads a machine built with `setup({ guards })` and produces a
 *   {@link CompiledMachine}: per state and event type the ordered candidate transitions exactly as
 *   the config lists them, each with its guard (the machine's own function, or one given by
 *   name), its target and its named context updates. Anything the table could not reproduce
 *   exactly (nested or parallel states, eventless, delayed or wildcard transitions, entry/exit
 *   actions, invocations, inline guards or actions, several targets) is refused when compiling.
 * - {@link MachineRuntime} holds one runtime's state index and context and steps the table: the
 *   first candidate whose guard passes is taken, its updates applied, its target entered. An event
 *   with no enabled candidate is refused with a typed {@link MachineRefusalError} and nothing
 *   changes.
 * - Mirroring: a runtime with a {@link MirrorSink} attached sends it every event it accepted. A
 *   live actor of the machine is such a sink; {@link MirrorHost} creates those actors on demand —
 *   as children of a host actor that lives in a parent's actor system (a connection's actor) or as
 *   a root inspected by an observer — and releases them when they finish.
 *
 * @module
 */
import {
  assign,
  createActor,
  setup,
  stopChild,
  type AnyActorRef,
  type AnyStateMachine,
  type ContextFrom,
  type DoneActorEvent,
  type EventFromLogic,
  type EventObject,
  type InspectionEvent,
  type Observer,
  type StateValueFrom,
  type Subscription,
} from 'xstate';

/** The names of a flat machine's states (its state values). */
export type StateNameOf<M extends AnyStateMachine> = Extract<StateValueFrom<M>, string>;

/** What a compiled guard sees: the context and the event (the shape XState passes to `setup({ guards })`). */
export interface CompiledGuardArgs<C, E extends EventObject> {
  /** The runtime's context before the transition. */
  readonly context: C;
  /** The event being decided. */
  readonly event: E;
}

/** A guard of a compiled machine: the machine's own guard function. */
export type CompiledGuard<C, E extends EventObject> = (args: CompiledGuardArgs<C, E>) => boolean;

/**
 * A context update of a compiled machine, named like the machine action it stands for: it mutates
 * the runtime's context in place (the machine applies the same function to a copy through `assign`).
 */
export type CompiledUpdate<C, E extends EventObject> = (context: C, event: E) => void;

/**
 * One candidate transition of a compiled table, in the order the machine config lists it. `G` and
 * `U` are the names of the machine's guards and updates (plain strings unless given by name).
 */
export interface CompiledTransition<S extends string, E extends EventObject, C, G extends string = string, U extends string = string> {
  /** The state it leaves. */
  readonly source: S;
  /** The event type that triggers it. */
  readonly eventType: E['type'];
  /** Name of its guard, or undefined when unguarded. */
  readonly guardName: G | undefined;
  /** The guard function (the machine's own, or the one given by name to {@link compileMachine}). */
  readonly guard: CompiledGuard<C, E> | undefined;
  /** The state it enters; the source itself for a targetless transition. */
  readonly target: S;
  /** Index of {@link target} in {@link CompiledMachine.states}. */
  readonly targetIndex: number;
  /** Names of its actions (context updates), in order. */
  readonly updateNames: readonly U[];
  /** The update functions, in order. */
  readonly updates: readonly CompiledUpdate<C, E>[];
  /** The transition's description in the machine config, if any. */
  readonly description: string | undefined;
}

/** Builds the error for an event refused by a compiled machine (see {@link CompileOptions.refusal}). */
export type RefusalFactory<S extends string, E extends EventObject, G extends string> = (
  machineId: string,
  state: S,
  eventType: E['type'],
  failedGuards: readonly G[],
) => MachineRefusalError;

/** Options of {@link compileMachine}. */
export interface CompileOptions<S extends string, C, E extends EventObject, G extends string = string, U extends string = string> {
  /**
   * Guards by name. Defaults to the machine's own implementations (`setup({ guards })`); give them
   * when the machine's guards are wrapped (they must then be the very functions the machine wraps).
   */
  readonly guards?: Readonly<Record<G, CompiledGuard<C, E>>>;
  /** Context updates by action name: every action the machine names must have one. Default none. */
  readonly updates?: Readonly<Record<U, CompiledUpdate<C, E>>>;
  /** A fresh context for a new runtime. Defaults to a structured clone of the config's `context` (undefined when it has none). */
  readonly initialContext?: () => C;
  /** Builds the error of a refused event (a subclass of {@link MachineRefusalError} named after the component). Default: a MachineRefusalError. */
  readonly refusal?: RefusalFactory<S, E, G>;
}

/**
 * An event a compiled machine does not accept in the runtime's state: no transition for its type
 * there, or every candidate's guard failed. The runtime's state and context are unchanged.
 */
export class MachineRefusalError extends Error {
  /** The machine's id. */
  readonly machineId: string;
  /** The state the event was refused in. */
  readonly state: string;
  /** The refused event type. */
  readonly eventType: string;
  /** Guards that were tried and failed, in order (empty when the state has no transition for the event). */
  readonly failedGuards: readonly string[];

  /**
   * Builds the refusal of `eventType` in `state` after `failedGuards` failed; the message starts
   * with `subject` (default: the machine's id).
   */
  constructor(machineId: string, state: string, eventType: string, failedGuards: readonly string[], subject: string = machineId) {
    const why = failedGuards.length === 0 ? `not accepted in state ${state}` : `refused in state ${state}: guard ${failedGuards.join(', ')} failed`;
    super(`${subject}: ${eventType} ${why}`);
    this.name = 'MachineRefusalError';
    this.machineId = machineId;
    this.state = state;
    this.eventType = eventType;
    this.failedGuards = failedGuards;
  }
}

function nameOf(ref: unknown, what: string, where: string): string {
  if (typeof ref === 'string') return ref;
  if (typeof ref === 'object' && ref !== null && typeof (ref as { type?: unknown }).type === 'string') return (ref as { type: string }).type;
  throw new Error(`${where} has an inline ${what}; only named ${what}s can be compiled`);
}

/** A state node as far as the compiler reads it (XState's StateNode, loosely typed). */
interface NodeView {
  readonly key: string;
  readonly type: string;
  readonly states: Record<string, unknown>;
  readonly always?: readonly unknown[];
  readonly after: readonly unknown[];
  readonly entry: readonly unknown[];
  readonly exit: readonly unknown[];
  readonly invoke: readonly unknown[];
  readonly description?: string;
  readonly transitions: Map<string, ReadonlyArray<TransitionView>>;
}

/** A transition definition as far as the compiler reads it. */
interface TransitionView {
  readonly guard?: unknown;
  readonly actions: readonly unknown[];
  readonly target?: ReadonlyArray<{ readonly key: string }>;
  readonly description?: string;
}

/**
 * The transition table of a flat machine: `state × event type → ordered candidates`, typed by the
 * machine's state names `S`, events `E` and context `C`. Immutable; share one per machine.
 */
export class CompiledMachine<S extends string, E extends EventObject, C, G extends string = string, U extends string = string> {
  /** The machine's id. */
  readonly id: string;
  /** The machine compiled. */
  readonly machine: AnyStateMachine;
  /** The states, in config order; a runtime's state is an index into this list. */
  readonly states: readonly S[];
  /** Every event type some transition reacts to, in first-seen order. */
  readonly eventTypes: readonly E['type'][];
  /** Index of the initial state. */
  readonly initialIndex: number;
  /** Per state (indexed as {@link states}), the candidates per event type; absent means refused. */
  readonly transitions: ReadonlyArray<Readonly<Partial<Record<E['type'], readonly CompiledTransition<S, E, C, G, U>[]>>>>;
  /** Every compiled transition, in config order. */
  readonly all: readonly CompiledTransition<S, E, C, G, U>[];
  private readonly finals: readonly boolean[];
  private readonly flat: ReadonlyArray<readonly CompiledTransition<S, E, C, G, U>[] | undefined>;
  private readonly stateIndexOf: ReadonlyMap<string, number>;
  private readonly makeContext: () => C;
  private readonly makeRefusal: RefusalFactory<S, E, G>;
  /** Guard arguments reused by every step (stepping is synchronous and guards do not re-enter). */
  private readonly scratch: { context: C; event: E };

  /** @internal Built by {@link compileMachine}. */
  constructor(parts: {
    machine: AnyStateMachine;
    states: S[];
    eventTypes: E['type'][];
    initialIndex: number;
    finals: boolean[];
    transitions: Array<Partial<Record<E['type'], CompiledTransition<S, E, C, G, U>[]>>>;
    all: CompiledTransition<S, E, C, G, U>[];
    makeContext: () => C;
    makeRefusal: RefusalFactory<S, E, G>;
  }) {
    this.machine = parts.machine;
    this.id = parts.machine.id;
    this.states = parts.states;
    this.eventTypes = parts.eventTypes;
    this.initialIndex = parts.initialIndex;
    this.finals = parts.finals;
    this.transitions = parts.transitions;
    this.all = parts.all;
    this.makeContext = parts.makeContext;
    this.makeRefusal = parts.makeRefusal;
    this.stateIndexOf = new Map(parts.states.map((s, i) => [s, i]));
    const n = parts.eventTypes.length;
    const flat: (CompiledTransition<S, E, C, G, U>[] | undefined)[] = new Array(parts.states.length * n).fill(undefined);
    parts.transitions.forEach((row, si) => parts.eventTypes.forEach((t, ei) => (flat[si * n + ei] = row[t])));
    this.flat = flat;
    this.scratch = { context: undefined as C, event: undefined as unknown as E };
  }

  /** Index of `state` in {@link states}. @throws RangeError for a state the machine does not have. */
  indexOf(state: S): number {
    const i = this.stateIndexOf.get(state);
    if (i === undefined) throw new RangeError(`${this.id}: no state ${state}`);
    return i;
  }

  /** True when the state at `stateIndex` is final (`type: 'final'`). */
  isFinal(stateIndex: number): boolean {
    return this.finals[stateIndex];
  }

  /** A fresh context for a new runtime. */
  initialContext(): C {
    return this.makeContext();
  }

  /** The candidates for an event type in a state (undefined when the state has none). */
  candidates(stateIndex: number, eventType: string): readonly CompiledTransition<S, E, C, G, U>[] | undefined {
    const ei = this.indexOfEvent(eventType);
    return ei < 0 ? undefined : this.flat[stateIndex * this.eventTypes.length + ei];
  }

  /** The transition `event` takes in the state at `stateIndex` with `context` (the first candidate whose guard passes), or undefined when refused. Pure. */
  select(stateIndex: number, event: E, context: C): CompiledTransition<S, E, C, G, U> | undefined {
    const ei = this.indexOfEvent(event.type);
    if (ei < 0) return undefined; // an event no transition names
    const candidates = this.flat[stateIndex * this.eventTypes.length + ei];
    if (candidates === undefined) return undefined;
    const args = this.scratch;
    args.context = context;
    args.event = event;
    for (let i = 0; i < candidates.length; i++) {
      const t = candidates[i];
      if (t.guard === undefined || t.guard(args)) return t;
    }
    return undefined;
  }

  /**
   * Index of `type` in {@link eventTypes}, or -1. A scan of a few strict comparisons (interned
   * strings compare by pointer): a keyed lookup in a record of the event names goes megamorphic
   * once a machine has more than four event types (~0.02 µs per event in a perf profile of
   * bench/builder.ts, several events per packet).
   */
  private indexOfEvent(type: string): number {
    const types = this.eventTypes;
    for (let i = 0; i < types.length; i++) if (types[i] === type) return i;
    return -1;
  }

  /** The error for `event` refused in the state at `stateIndex` (naming the guards that failed). */
  refusal(stateIndex: number, event: E): MachineRefusalError {
    const failed: G[] = [];
    for (const t of this.candidates(stateIndex, event.type) ?? []) if (t.guardName !== undefined) failed.push(t.guardName);
    return this.makeRefusal(this.id, this.states[stateIndex], event.type, failed);
  }

  /**
   * The shortest sequence of unguarded transitions without updates leading from the initial state
   * to the state at `stateIndex` (empty for the initial state), or undefined when there is none.
   * Replaying it brings a fresh actor of the machine to that state whatever the context.
   */
  pathFromInitial(stateIndex: number): readonly CompiledTransition<S, E, C, G, U>[] | undefined {
    const previous = new Map<number, CompiledTransition<S, E, C, G, U> | null>([[this.initialIndex, null]]);
    const queue = [this.initialIndex];
    for (let q = 0; q < queue.length && !previous.has(stateIndex); q++) {
      const si = queue[q];
      for (const t of this.all) {
        if (t.source !== this.states[si] || t.guard !== undefined || t.updates.length > 0 || previous.has(t.targetIndex)) continue;
        previous.set(t.targetIndex, t);
        queue.push(t.targetIndex);
      }
    }
    if (!previous.has(stateIndex)) return undefined;
    const path: CompiledTransition<S, E, C, G, U>[] = [];
    for (let t = previous.get(stateIndex); t; t = previous.get(this.indexOf(t.source))) path.unshift(t);
    return path;
  }
}

/**
 * Compiles a flat machine built with `setup(...)` into its transition table.
 *
 * @throws Error when the machine has something the table could not reproduce exactly: nested or
 *   parallel states, eventless (`always`), delayed (`after`) or wildcard transitions, entry/exit
 *   actions, invocations, an inline guard or action, an unknown guard, an action without an update,
 *   or a transition with several targets.
 */
export function compileMachine<M extends AnyStateMachine, G extends string = string, U extends string = string>(
  machine: M,
  options: CompileOptions<StateNameOf<M>, ContextFrom<M>, EventFromLogic<M>, G, U> = {},
): CompiledMachine<StateNameOf<M>, EventFromLogic<M>, ContextFrom<M>, G, U> {
  type S = StateNameOf<M>;
  type E = EventFromLogic<M>;
  type C = ContextFrom<M>;
  const id = machine.id;
  const root = machine.root as unknown as NodeView & { initial: { target: ReadonlyArray<{ key: string }> } };
  if (root.type === 'parallel') throw new Error(`${id}: a parallel root cannot be compiled`);
  const implementations = (machine.implementations as { guards?: Record<string, unknown> }).guards ?? {};
  const guards = (options.guards ?? implementations) as Readonly<Record<string, CompiledGuard<C, E> | undefined>>;
  const updates = (options.updates ?? {}) as Readonly<Record<string, CompiledUpdate<C, E> | undefined>>;
  const nodes = Object.entries(root.states) as [string, NodeView][];
  const states = nodes.map(([key]) => key as S);
  const stateIndex = new Map<string, number>(states.map((s, i) => [s, i]));
  const eventTypes: E['type'][] = [];
  const transitions: Array<Partial<Record<E['type'], CompiledTransition<S, E, C, G, U>[]>>> = states.map(() => ({}));
  const all: CompiledTransition<S, E, C, G, U>[] = [];
  const finals: boolean[] = [];
  for (const [key, node] of nodes) {
    const si = stateIndex.get(key) as number;
    const where = `${id}: state ${key}`;
    if (Object.keys(node.states).length > 0) throw new Error(`${where} is nested`);
    if (node.always !== undefined && node.always.length > 0) throw new Error(`${where} has eventless transitions`);
    if (node.after.length > 0) throw new Error(`${where} has delayed transitions`);
    if (node.entry.length > 0 || node.exit.length > 0) throw new Error(`${where} has entry or exit actions`);
    if (node.invoke.length > 0) throw new Error(`${where} invokes actors`);
    finals.push(node.type === 'final');
    for (const [eventType, defs] of node.transitions) {
      if (eventType.includes('*')) throw new Error(`${where} has a wildcard transition ${eventType}`);
      if (!eventTypes.includes(eventType as E['type'])) eventTypes.push(eventType as E['type']);
      const list: CompiledTransition<S, E, C, G, U>[] = [];
      for (const def of defs) {
        const at = `${id}: ${key} --${eventType}-->`;
        let guardName: G | undefined;
        let guard: CompiledGuard<C, E> | undefined;
        if (def.guard !== undefined) {
          const name = nameOf(def.guard, 'guard', at);
          guard = Object.hasOwn(guards, name) ? guards[name] : undefined;
          if (typeof guard !== 'function') throw new Error(`${at} uses unknown guard ${name}`);
          guardName = name as G;
        }
        const updateNames = def.actions.map((a) => {
          const name = nameOf(a, 'action', at);
          if (!Object.hasOwn(updates, name) || typeof updates[name] !== 'function') throw new Error(`${at} uses unknown action ${name}`);
          return name as U;
        });
        const targets = def.target ?? [];
        if (targets.length > 1) throw new Error(`${at} has several targets`);
        const target = (targets.length === 0 ? key : targets[0].key) as S;
        const ti = stateIndex.get(target);
        if (ti === undefined) throw new Error(`${at} targets ${target}, which is not a state of the root`);
        const t: CompiledTransition<S, E, C, G, U> = {
          source: key as S,
          eventType: eventType as E['type'],
          guardName,
          guard,
          target,
          targetIndex: ti,
          updateNames,
          updates: updateNames.map((n) => updates[n] as CompiledUpdate<C, E>),
          description: def.description,
        };
        list.push(t);
        all.push(t);
      }
      transitions[si][eventType as E['type']] = list;
    }
  }
  const initialIndex = stateIndex.get(String(root.initial.target[0].key));
  if (initialIndex === undefined) throw new Error(`${id}: unknown initial state`);
  const configContext = (machine.config as { context?: unknown }).context;
  const makeContext =
    options.initialContext ??
    ((): C => {
      if (typeof configContext === 'function') throw new Error(`${id}: a context factory needs CompileOptions.initialContext`);
      return (configContext === undefined ? undefined : structuredClone(configContext)) as C;
    });
  const makeRefusal: RefusalFactory<S, E, G> = options.refusal ?? ((machineId, state, eventType, failed) => new MachineRefusalError(machineId, state, eventType, failed));
  return new CompiledMachine<S, E, C, G, U>({ machine, states, eventTypes, initialIndex, finals, transitions, all, makeContext, makeRefusal });
}

/** Where a runtime sends the events it accepted: a live actor of the machine, or a recorder in tests. */
export interface MirrorSink {
  /** Receives one accepted event, after the runtime entered the transition's target. */
  send(event: EventObject): void;
}

/**
 * How a mirror attached to a runtime that is not in its initial state catches up: `'replay'` sends
 * it the {@link CompiledMachine.pathFromInitial} events (`{ type }` objects: for machines whose
 * events carry no data), `'wait'` starts mirroring when the runtime is back in its initial state.
 */
export type MirrorCatchUp = 'replay' | 'wait';

/**
 * One runtime of a compiled machine: its state, its context, and an optional mirror. A few fields;
 * stepping allocates nothing.
 */
export class MachineRuntime<S extends string, E extends EventObject, C, G extends string = string, U extends string = string> {
  /** The compiled machine this runtime steps. */
  readonly compiled: CompiledMachine<S, E, C, G, U>;
  /** The context, updated in place by the machine's updates. */
  readonly context: C;
  private index: number;
  private mirror: MirrorSink | undefined;
  private pendingMirror: MirrorSink | undefined;

  /** Starts in the machine's initial state with `context` (default: a fresh initial context). */
  constructor(compiled: CompiledMachine<S, E, C, G, U>, context: C = compiled.initialContext()) {
    this.compiled = compiled;
    this.context = context;
    this.index = compiled.initialIndex;
  }

  /** The current state. */
  get state(): S {
    return this.compiled.states[this.index];
  }

  /** Index of the current state in the machine's `states`. */
  get stateIndex(): number {
    return this.index;
  }

  /** True in a final state. */
  get done(): boolean {
    return this.compiled.isFinal(this.index);
  }

  /** True when `event` would be accepted now (the machine's `snapshot.can(event)`). */
  can(event: E): boolean {
    return this.compiled.select(this.index, event, this.context) !== undefined;
  }

  /**
   * Takes `event`: the first candidate whose guard passes is taken, its updates applied, its target
   * entered; then a copy of the event goes to the mirror, if one is attached (so the caller may
   * reuse its event object). Read {@link state} for the new state.
   *
   * @throws `MachineRefusalError` (or the compiled machine's subclass) when no candidate is
   *   enabled; nothing changes then.
   */
  send(event: E): void {
    const t = this.compiled.select(this.index, event, this.context);
    if (t === undefined) throw this.compiled.refusal(this.index, event);
    const updates = t.updates;
    for (let i = 0; i < updates.length; i++) updates[i](this.context, event);
    this.index = t.targetIndex;
    if (this.mirror !== undefined) this.mirror.send({ ...event });
    else if (this.pendingMirror !== undefined && this.index === this.compiled.initialIndex) this.startMirror();
  }

  /**
   * Mirrors every accepted event to `sink` — a live actor of the same machine, started in its
   * initial state. In the initial state mirroring starts now; elsewhere `catchUp` decides
   * ({@link MirrorCatchUp}; `'replay'` falls back to `'wait'` when no replayable path exists).
   */
  attachMirror(sink: MirrorSink, catchUp: MirrorCatchUp = 'wait'): void {
    this.mirror = undefined;
    this.pendingMirror = sink;
    if (this.index === this.compiled.initialIndex) {
      this.startMirror();
      return;
    }
    if (catchUp !== 'replay') return;
    const path = this.compiled.pathFromInitial(this.index);
    if (path === undefined) return;
    for (const t of path) sink.send({ type: t.eventType });
    this.startMirror();
  }

  /** Stops mirroring. */
  detachMirror(): void {
    this.mirror = undefined;
    this.pendingMirror = undefined;
  }

  /** The sink events are mirrored to, once mirroring has begun. */
  get mirrorSink(): MirrorSink | undefined {
    return this.mirror;
  }

  private startMirror(): void {
    this.mirror = this.pendingMirror;
    this.pendingMirror = undefined;
  }
}

// =================================================================================================
// Live mirrors: a host actor that spawns one child per mirrored runtime.
// =================================================================================================

/** Asks a {@link MirrorHost}'s actor to spawn a mirror: a child of logic `src` with `id` (also its `systemId`). */
export interface MirrorSpawnEvent {
  /** Discriminant. */
  readonly type: 'mirror.spawn';
  /** Key of the logic in the host's actors. */
  readonly src: string;
  /** Child id and systemId. */
  readonly id: string;
}

/** Asks a {@link MirrorHost}'s actor to stop the child `id`. */
export interface MirrorStopEvent {
  /** Discriminant. */
  readonly type: 'mirror.stop';
  /** Child id. */
  readonly id: string;
}

/** Asks a {@link MirrorHost}'s actor to stop every child and finish. */
export interface MirrorCloseEvent {
  /** Discriminant. */
  readonly type: 'mirror.close';
}

/** The events of a mirror host machine (and the done events of its children, on which they are released). */
export type MirrorHostEvent = MirrorSpawnEvent | MirrorStopEvent | MirrorCloseEvent | DoneActorEvent<unknown, string>;

/**
 * The machine of a mirror host with id `id`: in `hosting` it spawns children of the given logics on
 * `mirror.spawn`, stops one on `mirror.stop` or when it finishes (a mirrored runtime reached a final
 * state), and on `mirror.close` enters its final state, which stops every child.
 */
export function createMirrorHostMachine(id: string, actors: Readonly<Record<string, AnyStateMachine>>): AnyStateMachine {
  return setup({
    types: { events: {} as MirrorHostEvent },
    actors: actors as Record<string, AnyStateMachine>,
  }).createMachine({
    id,
    initial: 'hosting',
    states: {
      hosting: {
        description: 'Hosts one live actor per mirrored runtime.',
        on: {
          'mirror.spawn': {
            actions: assign(({ spawn, event }) => {
              const e = event as MirrorSpawnEvent;
              // The logic is chosen at run time among the host's actors; XState types `spawn` per literal key.
              const spawnByKey = spawn as unknown as (src: string, options: { id: string; systemId: string }) => AnyActorRef;
              spawnByKey(e.src, { id: e.id, systemId: e.id });
              return {};
            }),
          },
          'mirror.stop': { actions: stopChild(({ event }) => (event as MirrorStopEvent).id) },
          'xstate.done.actor.*': { actions: stopChild(({ event }) => (event as DoneActorEvent<unknown, string>).actorId) },
          'mirror.close': { target: 'closed' },
        },
      },
      closed: { type: 'final', description: 'Detached: every mirror stopped.' },
    },
  });
}

/** Where a {@link MirrorHost} lives. */
export interface MirrorHostOptions {
  /** The host's id and systemId. */
  readonly id: string;
  /** The logics the host can spawn, by key. */
  readonly actors: Readonly<Record<string, AnyStateMachine>>;
  /**
   * An actor whose system hosts the mirrors (a connection's actor): the host is created in that
   * system with it as parent, so its inspector shows the host and every mirror under it.
   */
  readonly parent?: AnyActorRef;
  /**
   * An inspection observer. Without `parent` the host is a root actor inspected by it; with
   * `parent` it is subscribed to the parent's system until {@link MirrorHost.close}.
   */
  readonly observer?: Observer<InspectionEvent> | ((event: InspectionEvent) => void);
}

/**
 * Live actors mirroring compiled runtimes, created only while an inspector is attached: one host
 * actor, and one child of it per mirrored runtime. Children finish with their runtime (final
 * states) and are then released; {@link close} stops them all.
 */
export class MirrorHost {
  /** The host actor. */
  readonly actor: AnyActorRef;
  private readonly subscription: Subscription | undefined;
  private closed = false;

  /** Creates and starts the host actor. */
  constructor(options: MirrorHostOptions) {
    const machine = createMirrorHostMachine(options.id, options.actors);
    const parent = options.parent;
    if (parent !== undefined && parent.system.get(options.id) !== undefined) {
      throw new Error(`the actor system of ${parent.id} already has an actor with systemId '${options.id}'`);
    }
    this.subscription = parent !== undefined && options.observer !== undefined ? parent.system.inspect(options.observer) : undefined;
    this.actor = createActor(machine, {
      id: options.id,
      systemId: options.id,
      parent,
      inspect: parent === undefined ? options.observer : undefined,
    }).start();
  }

  /** True once {@link close} was called. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Spawns a live actor of logic `src` with id and systemId `id`, started in its initial state; returns it. */
  spawn(src: string, id: string): AnyActorRef {
    if (this.closed) throw new Error('mirror host is closed');
    this.actor.send({ type: 'mirror.spawn', src, id });
    const child = (this.actor.getSnapshot() as { children: Record<string, AnyActorRef | undefined> }).children[id];
    if (child === undefined) throw new Error(`mirror host did not spawn '${id}'`);
    return child;
  }

  /** Stops the mirror `id` if it is still running. */
  stop(id: string): void {
    if (!this.closed) this.actor.send({ type: 'mirror.stop', id });
  }

  /** The live mirrors (running children), by id. */
  children(): Readonly<Record<string, AnyActorRef>> {
    return { ...(this.actor.getSnapshot() as { children: Record<string, AnyActorRef> }).children };
  }

  /** Stops every mirror and the host, and unsubscribes the observer subscribed to a parent's system. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    // The host's final state stops every child and the host itself (and unregisters their systemIds).
    this.actor.send({ type: 'mirror.close' });
    this.subscription?.unsubscribe();
  }
}
