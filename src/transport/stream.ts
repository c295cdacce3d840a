/**
 * One stream as the stream manager (`streams.ts`) keeps it: its sending part and/or receiving part, each
 * following its RFC 9000 §3 machine through the compiled transition tables below.
 *
 * The machines (`machines/send-stream.ts`, `machines/recv-stream.ts`) are the single definition of
 * the states and of the events that move them; at module load they are compiled into tables
 * (`machines/compiled.ts`) and every part owns a {@link MachineRuntime} — two small objects per
 * stream, no actor (ARCHITECTURE.md principle 2). A live actor mirrors a part only while an
 * inspector is attached.
 *
 * Bytes stay where they were: the sending part's data in its `SendBuffer` (through the
 * `StreamSource`), the receiving part's in its {@link RecvBuffer}. The receive buffer keeps its own
 * record of the §3.2 states (it decides when data is complete or read); {@link RecvPart.sync} steps
 * the machine along with it, so a transition the machine does not allow is refused loudly.
 *
 * @module
 */
import type { Subscription } from 'rxjs';
import type { ContextFrom } from 'xstate';
import { compileMachine, MachineRuntime } from '../../machines/compiled.js';
import {
  recvStreamMachine,
  type RecvStreamEvent,
  type RecvStreamEventType,
  type RecvStreamMachineState,
} from '../../machines/recv-stream.js';
import {
  sendStreamMachine,
  type SendStreamEvent,
  type SendStreamEventType,
  type SendStreamState,
} from '../../machines/send-stream.js';
import { QuicError, TransportErrorCode } from '../wire/errors.js';
import { FrameType, STREAM_FIN_BIT, STREAM_LEN_BIT, STREAM_OFF_BIT, type StreamFrame } from '../wire/frames/types.js';
import type { RecvBuffer, RecvStreamState } from './recv-buffer.js';
import type { SendStream } from './sources/stream-source.js';

/** The sending part's machine compiled into a transition table, once, at module load. */
export const SEND_STREAM_TABLE = compileMachine(sendStreamMachine);

/** The receiving part's machine compiled into a transition table, once, at module load. */
export const RECV_STREAM_TABLE = compileMachine(recvStreamMachine);

/** The runtime of a sending part's machine. */
export type SendStreamRuntime = MachineRuntime<SendStreamState, SendStreamEvent, ContextFrom<typeof sendStreamMachine>>;

/** The runtime of a receiving part's machine. */
export type RecvStreamRuntime = MachineRuntime<RecvStreamMachineState, RecvStreamEvent, ContextFrom<typeof recvStreamMachine>>;

function events<T extends string>(types: readonly T[]): Readonly<Record<T, { readonly type: T }>> {
  const out = {} as Record<T, { readonly type: T }>;
  for (const type of types) out[type] = Object.freeze({ type });
  return Object.freeze(out);
}

/** The sending part's events as shared constants (they carry no data): stepping allocates nothing. */
export const SEND_EVENTS: Readonly<Record<SendStreamEventType, SendStreamEvent>> = events<SendStreamEventType>([
  'SendStream',
  'SendStreamDataBlocked',
  'SendFin',
  'SendResetStream',
  'RecvAllAcks',
  'RecvResetAck',
]);

/** The receiving part's events as shared constants. */
export const RECV_EVENTS: Readonly<Record<RecvStreamEventType, RecvStreamEvent>> = events<RecvStreamEventType>([
  'RecvFin',
  'RecvAllData',
  'AppReadAllData',
  'RecvResetStream',
  'AppReadReset',
]);

/** Why an application operation on a stream was refused (see {@link StreamOperationError}). */
export type StreamOperationFailure =
  /** No stream with this ID was ever opened, by either side. */
  | 'unknownStream'
  /** The stream was opened, reached its terminal states and has been forgotten. */
  | 'closedStream'
  /** A send operation on a stream this endpoint only receives on (the peer's unidirectional stream). */
  | 'receiveOnly'
  /** A receive operation on a stream this endpoint only sends on (its own unidirectional stream). */
  | 'sendOnly'
  /** A write after the end of the stream (FIN) was written. */
  | 'sendFinished'
  /** A write after the sending part was reset (by the application, or in reply to the peer's STOP_SENDING). */
  | 'sendReset'
  /** The connection is closed: every stream was abandoned. */
  | 'connectionClosed';

/**
 * An application operation the stream cannot perform (a programming error or a race with the peer,
 * never a protocol error: the connection is unaffected).
 */
export class StreamOperationError extends Error {
  /** The stream named. */
  readonly streamId: number;
  /** Why the operation was refused. */
  readonly reason: StreamOperationFailure;

  /** Builds the refusal of `operation` on `streamId`. */
  constructor(streamId: number, operation: string, reason: StreamOperationFailure) {
    super(`cannot ${operation} stream ${streamId}: ${reason}`);
    this.name = 'StreamOperationError';
    this.streamId = streamId;
    this.reason = reason;
  }
}

/** The frame type of a STREAM frame as it was on the wire (RFC 9000 §19.8), for error reports. */
export function streamFrameType(frame: StreamFrame): number {
  return (
    FrameType.STREAM |
    (frame.offset > 0 ? STREAM_OFF_BIT : 0) |
    (frame.explicitLength === false ? 0 : STREAM_LEN_BIT) |
    (frame.fin ? STREAM_FIN_BIT : 0)
  );
}

/** The sending part of a stream (RFC 9000 §3.1). */
export class SendPart {
  /** The §3.1 machine's runtime. */
  readonly machine: SendStreamRuntime = new MachineRuntime(SEND_STREAM_TABLE);
  /** The application's handle on the `StreamSource`; undefined once the part is terminal and released. */
  handle: SendStream | undefined;
  /** Waiting for the send buffer to drain (`streamWritable`). */
  drain: Subscription | undefined;
  private finalWritten = 0;
  private finalAcked = 0;

  /** Wraps the stream source's handle. */
  constructor(handle: SendStream) {
    this.handle = handle;
  }

  /** Bytes the application wrote. */
  get bytesWritten(): number {
    return this.handle?.buffer.writtenBytes ?? this.finalWritten;
  }

  /** Bytes acknowledged below the first unacknowledged byte. */
  get bytesAcked(): number {
    return this.handle?.buffer.acknowledgedOffset ?? this.finalAcked;
  }

  /** True in "Ready", "Send" or "Data Sent": the part can still be reset (RFC 9000 §3.1). */
  get resettable(): boolean {
    const s = this.machine.state;
    return s === 'ready' || s === 'send' || s === 'dataSent';
  }

  /** Keeps the final counters and lets go of the send buffer (the part is terminal). */
  release(): void {
    if (this.handle !== undefined) {
      this.finalWritten = this.handle.buffer.writtenBytes;
      this.finalAcked = this.handle.buffer.acknowledgedOffset;
      this.handle = undefined;
    }
    this.drain?.unsubscribe();
    this.drain = undefined;
  }
}

/** The next event that moves a receiving part's machine from `from` towards the buffer's state `to`. */
function nextRecvEvent(from: RecvStreamMachineState, to: RecvStreamState): RecvStreamEvent | undefined {
  if (to === 'resetRecvd' || to === 'resetRead') {
    if (from === 'resetRecvd') return to === 'resetRead' ? RECV_EVENTS.AppReadReset : undefined;
    return from === 'resetRead' ? undefined : RECV_EVENTS.RecvResetStream;
  }
  switch (from) {
    case 'recv':
      return RECV_EVENTS.RecvFin;
    case 'sizeKnown':
      return RECV_EVENTS.RecvAllData;
    case 'dataRecvd':
      return RECV_EVENTS.AppReadAllData;
    default:
      return undefined;
  }
}

/** The receiving part of a stream (RFC 9000 §3.2). */
export class RecvPart {
  /** The §3.2 machine's runtime. */
  readonly machine: RecvStreamRuntime = new MachineRuntime(RECV_STREAM_TABLE);
  /** Reassembly, final size, flow-control limit checks. */
  readonly buffer: RecvBuffer;
  /** Distinct bytes received (before any reset). */
  bytesReceived = 0;
  /** Bytes handed to the application by reads. */
  bytesRead = 0;
  /** The application has seen the end: read the FIN, was told of the reset, or stopped reading. */
  endSeen = false;
  /** `streamReadable` was emitted and the application has not yet emptied the stream. */
  readableNotified = false;
  /** A STOP_SENDING was queued and may still be queued or in flight. */
  stopSendingQueued = false;

  /** Wraps a receive buffer. */
  constructor(buffer: RecvBuffer) {
    this.buffer = buffer;
  }

  /**
   * Steps the machine to the buffer's state, one event per transition ("Recv STREAM + FIN", "Recv
   * All Data", …), and returns the state.
   *
   * @throws QuicError(INTERNAL_ERROR) when the buffer moved in a way the machine does not allow.
   */
  sync(): RecvStreamMachineState {
    const target = this.buffer.state;
    for (let steps = 0; this.machine.state !== target; steps++) {
      const e = steps < 4 ? nextRecvEvent(this.machine.state, target) : undefined;
      if (e === undefined) {
        throw new QuicError(TransportErrorCode.INTERNAL_ERROR, `receive buffer went from ${this.machine.state} to ${target}, which RFC 9000 §3.2 does not allow`);
      }
      this.machine.send(e);
    }
    return target;
  }

  /** True while the application could be told something: readable bytes, or the end not yet seen. */
  get hasReadable(): boolean {
    if (this.endSeen || this.buffer.readingStopped) return false;
    return this.buffer.readableBytes > 0 || this.buffer.state === 'dataRead';
  }
}

/** A stream: its ID, direction, initiator and parts. */
export class Stream {
  /** Stream ID. */
  readonly id: number;
  /** True for a bidirectional stream. */
  readonly bidirectional: boolean;
  /** True when this endpoint opened it. */
  readonly local: boolean;
  /** The sending part; undefined on the peer's unidirectional streams. */
  readonly send: SendPart | undefined;
  /** The receiving part; undefined on this endpoint's unidirectional streams. */
  readonly recv: RecvPart | undefined;

  /** Assembles a stream from its parts. */
  constructor(id: number, bidirectional: boolean, local: boolean, send: SendPart | undefined, recv: RecvPart | undefined) {
    this.id = id;
    this.bidirectional = bidirectional;
    this.local = local;
    this.send = send;
    this.recv = recv;
  }

  /**
   * True when the stream can be forgotten: each part is terminal (RFC 9000 §3.1 "Data Recvd" /
   * "Reset Recvd", §3.2 "Data Read" / "Reset Read") and the application has seen the end of the
   * receiving part.
   */
  get finished(): boolean {
    const sendDone = this.send === undefined || this.send.machine.done;
    const recvDone = this.recv === undefined || (this.recv.machine.done && this.recv.endSeen);
    return sendDone && recvDone;
  }
}
