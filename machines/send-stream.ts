/**
 * The sending part of a stream (RFC 9000 §3.1, Figure 2) as an XState machine: the single
 * definition of its states and of the events that move it.
 *
 * ```
 *        o  Create Stream (Sending) / Peer Creates Bidirectional Stream
 *        v
 *    ready ──SendResetStream──────────────┐
 *        │ SendStream / SendStreamDataBlocked
 *        v                                 │
 *    send ───SendResetStream──────────────▶│
 *        │ SendFin (Send STREAM + FIN)     v
 *    dataSent ─SendResetStream──────▶ resetSent
 *        │ RecvAllAcks                     │ RecvResetAck
 *        v                                 v
 *    dataRecvd (final)               resetRecvd (final)
 * ```
 *
 * Exactly the arrows of the figure, one event per arrow label; nothing else is accepted. Where one
 * action causes several transitions (RFC 9000 §3: "sending STREAM with a FIN bit set can cause two
 * state transitions"), the runtime sends one event per transition: the first STREAM frame carrying
 * FIN is `SendStream` then `SendFin`. Sending more STREAM frames in `send`, retransmitting in
 * `dataSent`, receiving MAX_STREAM_DATA or partial acknowledgements change no state and are not
 * events of this machine.
 *
 * The machine is never run per stream: `src/transport/stream.ts` compiles it into a transition
 * table (`machines/compiled.ts`) that every stream's runtime steps through, and a live actor of it
 * mirrors a stream only while an inspector is attached (ARCHITECTURE.md principle 2).
 *
 * @module
 */
import { setup } from 'xstate';

/** The states of a sending part, in the figure's order. */
export const SEND_STREAM_STATES = ['ready', 'send', 'dataSent', 'dataRecvd', 'resetSent', 'resetRecvd'] as const;

/** A state of a sending part (RFC 9000 §3.1). */
export type SendStreamState = (typeof SEND_STREAM_STATES)[number];

/** The events of a sending part, one per arrow label of RFC 9000 Figure 2. */
export const SEND_STREAM_EVENT_TYPES = ['SendStream', 'SendStreamDataBlocked', 'SendFin', 'SendResetStream', 'RecvAllAcks', 'RecvResetAck'] as const;

/** An event type of a sending part. */
export type SendStreamEventType = (typeof SEND_STREAM_EVENT_TYPES)[number];

/**
 * An event of a sending part. The events carry no data: the state is all the machine keeps; bytes,
 * offsets and credit stay in the send buffer and the flow controller.
 * - `SendStream`: the first STREAM frame of the stream was sent.
 * - `SendStreamDataBlocked`: a STREAM_DATA_BLOCKED frame was sent before any STREAM frame.
 * - `SendFin`: a STREAM frame carrying FIN was sent ("Send STREAM + FIN").
 * - `SendResetStream`: the sending part is abandoned — by the application, or in reply to the
 *   peer's STOP_SENDING (RFC 9000 §3.5) — and RESET_STREAM is queued; nothing else is sent for the
 *   stream from then on (RFC 9000 §3.3).
 * - `RecvAllAcks`: every byte and the FIN are acknowledged.
 * - `RecvResetAck`: the packet carrying RESET_STREAM was acknowledged.
 */
export interface SendStreamEvent {
  /** Discriminant. */
  readonly type: SendStreamEventType;
}

/** The sending part of a stream, RFC 9000 §3.1 Figure 2. */
export const sendStreamMachine = setup({
  types: { events: {} as SendStreamEvent },
}).createMachine({
  id: 'sendStream',
  initial: 'ready',
  states: {
    ready: {
      description: 'Created: the application may write; data may be buffered, nothing was sent (RFC 9000 §3.1).',
      on: {
        SendStream: { target: 'send', description: 'Send STREAM' },
        SendStreamDataBlocked: { target: 'send', description: 'Send STREAM_DATA_BLOCKED' },
        SendResetStream: { target: 'resetSent', description: 'Send RESET_STREAM (as the first frame, or in reply to STOP_SENDING)' },
      },
    },
    send: {
      description: 'Sending (and retransmitting) STREAM frames within flow control.',
      on: {
        SendFin: { target: 'dataSent', description: 'Send STREAM + FIN' },
        SendResetStream: { target: 'resetSent', description: 'Send RESET_STREAM' },
      },
    },
    dataSent: {
      description: 'FIN sent: only retransmissions remain; MAX_STREAM_DATA can be ignored.',
      on: {
        RecvAllAcks: { target: 'dataRecvd', description: 'Recv All ACKs' },
        SendResetStream: { target: 'resetSent', description: 'Send RESET_STREAM' },
      },
    },
    dataRecvd: { type: 'final', description: 'Every byte and the FIN acknowledged (terminal).' },
    resetSent: {
      description: 'RESET_STREAM sent (and re-sent if lost); no STREAM or STREAM_DATA_BLOCKED any more.',
      on: {
        RecvResetAck: { target: 'resetRecvd', description: 'Recv ACK' },
      },
    },
    resetRecvd: { type: 'final', description: 'RESET_STREAM acknowledged (terminal).' },
  },
});

/** The `systemId` of a stream's live send-part mirror: `stream.<id>.send`. */
export function sendStreamMirrorId(streamId: number): string {
  return `stream.${streamId}.send`;
}
