/**
 * Showing the packet builder's lifecycle in the XState inspector (ARCHITECTURE.md principle 2).
 *
 * The builder never runs an actor per packet. While an inspector is attached, a live actor of
 * `packetBuilderMachine` runs as a child of the connection's actor — spawned by the connection
 * machine itself, with `systemId` `packetBuilder`, so the inspector shows it in the actor tree —
 * and every lifecycle event the builder accepts is sent to it. Detaching stops the child; from then
 * on nothing is mirrored.
 *
 * The connection machine hosts the child by registering the machine and handling two events:
 *
 * ```ts
 * setup({ actors: { packetBuilder: packetBuilderMachine } }).createMachine({
 *   on: {
 *     [PACKET_BUILDER_INSPECT_ATTACH]: { actions: spawnChild('packetBuilder', { id: PACKET_BUILDER_SYSTEM_ID, systemId: PACKET_BUILDER_SYSTEM_ID }) },
 *     [PACKET_BUILDER_INSPECT_DETACH]: { actions: stopChild(PACKET_BUILDER_SYSTEM_ID) },
 *   },
 * });
 * ```
 *
 * @module
 */
import type { AnyActorRef, InspectionEvent, Observer, Subscription } from 'xstate';
import { PACKET_BUILDER_INSPECT_ATTACH, PACKET_BUILDER_INSPECT_DETACH, PACKET_BUILDER_SYSTEM_ID } from '../../machines/packet-builder.js';

/** Something whose lifecycle events can be mirrored (the packet builder or its lifecycle). */
export interface MirrorTarget {
  /** Mirrors every accepted lifecycle event to `actor` (from the next return to `uninitialized` if mid-flush). */
  attachMirror(actor: AnyActorRef): void;
  /** Stops mirroring. */
  detachMirror(): void;
}

/** An attached inspection of a packet builder. */
export interface PacketBuilderInspection {
  /** The live lifecycle actor under the connection (`systemId` `packetBuilder`). */
  readonly actor: AnyActorRef;
  /** Stops mirroring, stops the child actor and unsubscribes the observer given at attach. */
  detach(): void;
}

/**
 * Attaches the inspector to a packet builder's lifecycle: asks `connection` to spawn the lifecycle
 * machine as its child (see the module comment), then mirrors the builder's lifecycle events to
 * it. With `observer`, also subscribes it to the connection's actor system
 * (`system.inspect(observer)`), for when the inspector is attached after the actor was created;
 * an inspector given to `createActor(…, { inspect })` needs no observer here.
 *
 * @throws Error when the connection machine did not spawn the child on
 *   {@link PACKET_BUILDER_INSPECT_ATTACH}.
 */
export function attachPacketBuilderInspector(
  connection: AnyActorRef,
  builder: MirrorTarget,
  observer?: Observer<InspectionEvent> | ((event: InspectionEvent) => void),
): PacketBuilderInspection {
  const subscription: Subscription | undefined = observer === undefined ? undefined : connection.system.inspect(observer);
  // A second attach reuses the child: spawning another with the same systemId would fail.
  if (connection.system.get(PACKET_BUILDER_SYSTEM_ID) === undefined) connection.send({ type: PACKET_BUILDER_INSPECT_ATTACH });
  const actor = connection.system.get(PACKET_BUILDER_SYSTEM_ID) as AnyActorRef | undefined;
  if (actor === undefined) {
    subscription?.unsubscribe();
    throw new Error(`the connection actor did not spawn '${PACKET_BUILDER_SYSTEM_ID}' on ${PACKET_BUILDER_INSPECT_ATTACH}`);
  }
  builder.attachMirror(actor);
  let attached = true;
  return {
    actor,
    detach(): void {
      if (!attached) return;
      attached = false;
      builder.detachMirror();
      connection.send({ type: PACKET_BUILDER_INSPECT_DETACH });
      subscription?.unsubscribe();
    },
  };
}
