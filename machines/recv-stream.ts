/**
 * The receiving part of a stream (RFC 9000 §3.2, Figure 3) as an XState machine: the single
 * definition of its states and of the events that move it.
 *
 * ```
 *        o  Recv STREAM / STREAM_DATA_BLOCKED / RESET_STREAM, Create Bidirectional Stream (Sending),
 *        │  Recv MAX_STREAM_DATA / STOP_SENDING (Bidirectional), Create Higher-Numbered Stream
 *        v
 *    recv ──RecvResetStream───────────────┐
 *        │ RecvFin (Recv STREAM + FIN)     │
 *        v                                 │
 *    sizeKnown ─RecvResetStream──────────▶│
 *        │ RecvAllData                     v
 *    dataRecvd ─RecvResetStream──────▶ resetRecvd      (the optional arrow: taken)
 *        │ AppReadAllData                  │ AppReadReset
 *        v                                 v
 *    dataRead (final)                resetRead (final)
 * ```
 *
 * The figure's two optional arrows between "Data Recvd" and "Reset Recvd" (RFC 9000 §3.2: "An
 * implementation is free to manage this situation as it chooses"):
 * - **Data Recvd → Reset Recvd on RESET_STREAM: taken.** The reset interrupts delivery: data
 *   received but not yet read is discarded and the application is told of the reset (the RFC's
 *   "MAY interrupt delivery of stream data, discard any data that was not consumed, and signal the
 *   receipt of the RESET_STREAM"). The peer asked to abandon the stream, and the buffered bytes are
 *   released at once; this is what `RecvBuffer.reset` implements.
 * - **Reset Recvd → Data Recvd on "Recv All Data": not taken.** Data arriving after a reset is
 *   checked against the final size and flow control, then discarded; the reset stands.
 *
 * "App Read All Data" is the moment every byte up to the final size has been handed to the
 * application (or discarded after the application stopped reading). "App Read Reset" is the moment
 * the reset is signalled to the application (the connection's `streamReset` event): the runtime
 * takes it right after `RecvResetStream`, in the same call.
 *
 * The machine is never run per stream: `src/transport/stream.ts` compiles it into a transition
 * table (`machines/compiled.ts`) that every stream's runtime steps through, and a live actor of it
 * mirrors a stream only while an inspector is attached (ARCHITECTURE.md principle 2).
 *
 * @module
 */
import { setup } from 'xstate';

/** The states of a receiving part, in the figure's order (the same names as `RecvStreamState` of `recv-buffer.ts`). */
export const RECV_STREAM_STATES = ['recv', 'sizeKnown', 'dataRecvd', 'dataRead', 'resetRecvd', 'resetRead'] as const;

/** A state of a receiving part (RFC 9000 §3.2). */
export type RecvStreamMachineState = (typeof RECV_STREAM_STATES)[number];

/** The events of a receiving part, one per arrow label of RFC 9000 Figure 3 (the optional arrow taken). */
export const RECV_STREAM_EVENT_TYPES = ['RecvFin', 'RecvAllData', 'AppReadAllData', 'RecvResetStream', 'AppReadReset'] as const;

/** An event type of a receiving part. */
export type RecvStreamEventType = (typeof RECV_STREAM_EVENT_TYPES)[number];

/**
 * An event of a receiving part; no data (offsets, bytes and limits stay in the receive buffer and
 * the flow controller).
 * - `RecvFin`: a STREAM frame with FIN fixed the final size ("Recv STREAM + FIN").
 * - `RecvAllData`: every byte up to the final size has been received.
 * - `AppReadAllData`: every byte up to the final size has been delivered to (or, after the
 *   application stopped reading, discarded for) the application.
 * - `RecvResetStream`: a RESET_STREAM was accepted.
 * - `AppReadReset`: the application was told of the reset.
 */
export interface RecvStreamEvent {
  /** Discriminant. */
  readonly type: RecvStreamEventType;
}

/** The receiving part of a stream, RFC 9000 §3.2 Figure 3 (see the module comment for the optional arrows). */
export const recvStreamMachine = setup({
  types: { events: {} as RecvStreamEvent },
}).createMachine({
  id: 'recvStream',
  initial: 'recv',
  states: {
    recv: {
      description: 'Receiving STREAM data; MAX_STREAM_DATA is sent as the application reads (RFC 9000 §3.2).',
      on: {
        RecvFin: { target: 'sizeKnown', description: 'Recv STREAM + FIN' },
        RecvResetStream: { target: 'resetRecvd', description: 'Recv RESET_STREAM' },
      },
    },
    sizeKnown: {
      description: 'Final size known; waiting for the missing data; no more MAX_STREAM_DATA.',
      on: {
        RecvAllData: { target: 'dataRecvd', description: 'Recv All Data' },
        RecvResetStream: { target: 'resetRecvd', description: 'Recv RESET_STREAM' },
      },
    },
    dataRecvd: {
      description: 'Every byte received; waiting for the application to read it.',
      on: {
        AppReadAllData: { target: 'dataRead', description: 'App Read All Data' },
        RecvResetStream: { target: 'resetRecvd', description: 'Recv RESET_STREAM (optional arrow, taken: delivery is interrupted)' },
      },
    },
    dataRead: { type: 'final', description: 'Every byte delivered (terminal).' },
    resetRecvd: {
      description: 'Reset: buffered data discarded; the application is about to be told.',
      on: {
        AppReadReset: { target: 'resetRead', description: 'App Read Reset' },
      },
    },
    resetRead: { type: 'final', description: 'The application was told of the reset (terminal).' },
  },
});

/** The `systemId` of a stream's live receive-part mirror: `stream.<id>.recv`. */
export function recvStreamMirrorId(streamId: number): string {
  return `stream.${streamId}.recv`;
}
