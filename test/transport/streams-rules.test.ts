// The receive-side rules of RFC 9000 §2–§4 and §19 enforced by the stream manager: each violation
// is a QuicError with the RFC's transport error code and the offending frame type; streams the
// peer opens implicitly appear in order; frames for streams closed and forgotten are ignored.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { QuicError, TransportErrorCode } from '../../src/wire/errors.js';
import { FrameType, type StreamFrame } from '../../src/wire/frames/types.js';
import { StreamEndpoint, streamSettings, transportParametersOf } from '../support/stream-pair.js';

function expectError(f: () => void, code: number, frameType?: number): QuicError {
  try {
    f();
  } catch (e) {
    assert.instance(e, QuicError);
    const q = e as QuicError;
    assert.is(q.code, code, `${q.message}: code`);
    if (frameType !== undefined) assert.is(q.frameType, frameType, `${q.message}: frame type`);
    return q;
  }
  throw new Error(`expected a QuicError with code ${code}, nothing was thrown`);
}

function bytes(n: number, seed = 1): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
}

function stream(streamId: number, offset: number, data: Uint8Array, fin = false): StreamFrame {
  return { kind: 'stream', streamId, offset, data, fin };
}

const S = TransportErrorCode;
const F = FrameType;

/** A server (it receives the client's streams 0, 4, … and 2, 6, …). */
function server(o: Parameters<typeof streamSettings>[0] = {}): StreamEndpoint {
  return new StreamEndpoint('server', streamSettings(o));
}

test('STREAM, RESET_STREAM and STREAM_DATA_BLOCKED on our own unidirectional stream are STREAM_STATE_ERROR (RFC 9000 §19.4, §19.8, §19.13)', () => {
  const e = new StreamEndpoint('client');
  e.sm.setPeerTransportParameters(transportParametersOf(streamSettings()));
  const uni = e.sm.open(false, 0) as number;
  assert.is(uni, 2);
  const sm = e.sm;
  for (const id of [uni, uni + 4 /* not even opened */]) {
    expectError(() => sm.onStreamFrame(stream(id, 0, bytes(3)), 0), S.STREAM_STATE_ERROR, F.STREAM | 0x02);
    expectError(() => sm.onResetStream({ kind: 'resetStream', streamId: id, applicationErrorCode: 0n, finalSize: 0 }, 0), S.STREAM_STATE_ERROR, F.RESET_STREAM);
    expectError(() => sm.onStreamDataBlocked({ kind: 'streamDataBlocked', streamId: id, limit: 0 }), S.STREAM_STATE_ERROR, F.STREAM_DATA_BLOCKED);
  }
});

test('MAX_STREAM_DATA and STOP_SENDING on a stream we only receive on are STREAM_STATE_ERROR (RFC 9000 §19.5, §19.10)', () => {
  const e = server();
  e.sm.onStreamFrame(stream(2, 0, bytes(5)), 0); // the client's unidirectional stream 2
  expectError(() => e.sm.onMaxStreamData({ kind: 'maxStreamData', streamId: 2, maximum: 1000 }), S.STREAM_STATE_ERROR, F.MAX_STREAM_DATA);
  expectError(() => e.sm.onStopSending({ kind: 'stopSending', streamId: 2, applicationErrorCode: 1n }, 0), S.STREAM_STATE_ERROR, F.STOP_SENDING);
  // Also for one the peer has not opened yet: the direction alone decides.
  expectError(() => e.sm.onStopSending({ kind: 'stopSending', streamId: 6, applicationErrorCode: 1n }, 0), S.STREAM_STATE_ERROR, F.STOP_SENDING);
});

test('any frame naming a stream of ours that we have not opened is STREAM_STATE_ERROR', () => {
  const e = server(); // the server's bidirectional streams are 1, 5, …
  e.sm.setPeerTransportParameters(transportParametersOf(streamSettings()));
  const sm = e.sm;
  expectError(() => sm.onStreamFrame(stream(1, 0, bytes(1)), 0), S.STREAM_STATE_ERROR);
  expectError(() => sm.onResetStream({ kind: 'resetStream', streamId: 1, applicationErrorCode: 0n, finalSize: 0 }, 0), S.STREAM_STATE_ERROR);
  expectError(() => sm.onStopSending({ kind: 'stopSending', streamId: 1, applicationErrorCode: 0n }, 0), S.STREAM_STATE_ERROR);
  expectError(() => sm.onMaxStreamData({ kind: 'maxStreamData', streamId: 1, maximum: 10 }), S.STREAM_STATE_ERROR);
  expectError(() => sm.onStreamDataBlocked({ kind: 'streamDataBlocked', streamId: 1, limit: 0 }), S.STREAM_STATE_ERROR);
  assert.is(sm.open(true, 0), 1);
  sm.onMaxStreamData({ kind: 'maxStreamData', streamId: 1, maximum: 10 }); // now it is ours and open
  expectError(() => sm.onMaxStreamData({ kind: 'maxStreamData', streamId: 5, maximum: 10 }), S.STREAM_STATE_ERROR);
});

test('a peer stream beyond the MAX_STREAMS we advertised is STREAM_LIMIT_ERROR, whichever frame names it (RFC 9000 §4.6)', () => {
  const make = () => server({ maxStreamsBidi: 2, maxStreamsUni: 1 });
  const e = make();
  e.sm.onStreamFrame(stream(4, 0, bytes(1)), 0); // index 1: within 2
  expectError(() => e.sm.onStreamFrame(stream(8, 0, bytes(1)), 0), S.STREAM_LIMIT_ERROR, F.STREAM | 0x02);
  expectError(() => make().sm.onStreamFrame(stream(6, 0, bytes(1)), 0), S.STREAM_LIMIT_ERROR); // uni index 1 of 1
  expectError(() => make().sm.onMaxStreamData({ kind: 'maxStreamData', streamId: 8, maximum: 1 }), S.STREAM_LIMIT_ERROR, F.MAX_STREAM_DATA);
  expectError(() => make().sm.onStopSending({ kind: 'stopSending', streamId: 8, applicationErrorCode: 0n }, 0), S.STREAM_LIMIT_ERROR, F.STOP_SENDING);
  expectError(() => make().sm.onResetStream({ kind: 'resetStream', streamId: 8, applicationErrorCode: 0n, finalSize: 0 }, 0), S.STREAM_LIMIT_ERROR, F.RESET_STREAM);
  expectError(() => make().sm.onStreamDataBlocked({ kind: 'streamDataBlocked', streamId: 8, limit: 0 }), S.STREAM_LIMIT_ERROR);
  assert.is(make().sm.streamCount, 0);
});

test('a new peer stream opens every lower-numbered stream of its type first, with streamOpened in order (RFC 9000 §3.2)', () => {
  const e = server();
  e.sm.onStreamFrame(stream(8, 0, bytes(3)), 0);
  assert.equal(e.takeEvents(), [
    { type: 'streamOpened', streamId: 0, bidirectional: true },
    { type: 'streamOpened', streamId: 4, bidirectional: true },
    { type: 'streamOpened', streamId: 8, bidirectional: true },
    { type: 'streamReadable', streamId: 8 },
  ]);
  e.sm.onStreamFrame(stream(4, 0, bytes(2)), 0);
  assert.equal(e.takeEvents(), [{ type: 'streamReadable', streamId: 4 }], 'no second streamOpened');
  // MAX_STREAM_DATA and STOP_SENDING open the peer's bidirectional streams too (RFC 9000 §3.2).
  e.sm.onMaxStreamData({ kind: 'maxStreamData', streamId: 12, maximum: 100 });
  e.sm.onStreamDataBlocked({ kind: 'streamDataBlocked', streamId: 10, limit: 0 });
  assert.equal(e.takeEvents(), [
    { type: 'streamOpened', streamId: 12, bidirectional: true },
    { type: 'streamOpened', streamId: 2, bidirectional: false },
    { type: 'streamOpened', streamId: 6, bidirectional: false },
    { type: 'streamOpened', streamId: 10, bidirectional: false },
  ]);
  assert.equal(e.sm.streamIds().sort((a, b) => a - b), [0, 2, 4, 6, 8, 10, 12]);
  assert.equal(e.sm.stats(0), { bytesWritten: 0, bytesAcked: 0, bytesReceived: 0, bytesRead: 0, sendState: 'ready', receiveState: 'recv' });
  assert.equal(e.sm.stats(2)?.sendState, undefined, 'a peer unidirectional stream has no sending part');
});

test('data beyond a stream’s advertised limit is FLOW_CONTROL_ERROR; up to it is accepted (RFC 9000 §4.1)', () => {
  const e = server({ initialMaxStreamDataBidiRemote: 100, initialMaxStreamDataUni: 50 });
  e.sm.onStreamFrame(stream(0, 0, bytes(100)), 0);
  expectError(() => e.sm.onStreamFrame(stream(0, 100, bytes(1)), 0), S.FLOW_CONTROL_ERROR, F.STREAM | 0x04 | 0x02);
  expectError(() => e.sm.onStreamFrame(stream(2, 40, bytes(11)), 0), S.FLOW_CONTROL_ERROR);
});

test('data beyond the connection’s limit, summed over streams, is FLOW_CONTROL_ERROR; retransmissions are not counted twice (RFC 9000 §4.1)', () => {
  const e = server({ initialMaxData: 250, initialMaxStreamDataBidiRemote: 200 });
  e.sm.onStreamFrame(stream(0, 0, bytes(150)), 0);
  e.sm.onStreamFrame(stream(0, 0, bytes(150)), 0); // a retransmission
  e.sm.onStreamFrame(stream(4, 50, bytes(50)), 0); // highest offset 100 counts, the hole too
  assert.is(e.sm.flow.connectionReceiveWindow.highest, 250);
  expectError(() => e.sm.onStreamFrame(stream(8, 0, bytes(1)), 0), S.FLOW_CONTROL_ERROR);
});

test('a changed final size, data beyond it, or a FIN below data received is FINAL_SIZE_ERROR (RFC 9000 §4.5)', () => {
  const e = server();
  e.sm.onStreamFrame(stream(0, 0, bytes(10), true), 0);
  expectError(() => e.sm.onStreamFrame(stream(0, 0, bytes(11), true), 0), S.FINAL_SIZE_ERROR);
  expectError(() => e.sm.onStreamFrame(stream(0, 10, bytes(1)), 0), S.FINAL_SIZE_ERROR);
  expectError(() => e.sm.onResetStream({ kind: 'resetStream', streamId: 0, applicationErrorCode: 0n, finalSize: 9 }, 0), S.FINAL_SIZE_ERROR, F.RESET_STREAM);
  e.sm.onStreamFrame(stream(4, 0, bytes(20)), 0);
  expectError(() => e.sm.onStreamFrame(stream(4, 0, bytes(15), true), 0), S.FINAL_SIZE_ERROR);
  expectError(() => e.sm.onResetStream({ kind: 'resetStream', streamId: 4, applicationErrorCode: 0n, finalSize: 19 }, 0), S.FINAL_SIZE_ERROR);
  // After a reset the final size stands for later STREAM frames too.
  e.sm.onResetStream({ kind: 'resetStream', streamId: 8, applicationErrorCode: 0n, finalSize: 30 }, 0);
  expectError(() => e.sm.onStreamFrame(stream(8, 25, bytes(6)), 0), S.FINAL_SIZE_ERROR);
});

test('a RESET_STREAM final size is checked against both limits and charged to the connection (RFC 9000 §4.5)', () => {
  const e = server({ initialMaxData: 1000, initialMaxStreamDataBidiRemote: 600 });
  expectError(() => e.sm.onResetStream({ kind: 'resetStream', streamId: 0, applicationErrorCode: 0n, finalSize: 601 }, 0), S.FLOW_CONTROL_ERROR, F.RESET_STREAM);
  const f = server({ initialMaxData: 1000, initialMaxStreamDataBidiRemote: 600 });
  f.sm.onStreamFrame(stream(0, 0, bytes(500)), 0);
  expectError(() => f.sm.onResetStream({ kind: 'resetStream', streamId: 4, applicationErrorCode: 0n, finalSize: 501 }, 0), S.FLOW_CONTROL_ERROR);
  const g = server({ initialMaxData: 1000, initialMaxStreamDataBidiRemote: 600 });
  g.sm.onResetStream({ kind: 'resetStream', streamId: 0, applicationErrorCode: 7n, finalSize: 600 }, 0);
  assert.is(g.sm.flow.connectionReceiveWindow.highest, 600, 'the final size counts although no byte arrived');
  expectError(() => g.sm.onStreamFrame(stream(4, 0, bytes(401)), 0), S.FLOW_CONTROL_ERROR);
  g.sm.onStreamFrame(stream(4, 0, bytes(400)), 0);
});

test('frames for a stream closed and forgotten are ignored, whatever they say', () => {
  const e = server();
  e.sm.onStreamFrame(stream(2, 0, bytes(10), true), 0);
  const r = e.sm.read(2, 100, 0);
  assert.equal(r?.fin, true);
  assert.is(e.sm.stats(2), undefined, 'forgotten once read to the end');
  e.takeEvents();
  e.sm.onStreamFrame(stream(2, 0, bytes(99), true), 0); // would be FINAL_SIZE_ERROR on a live stream
  e.sm.onResetStream({ kind: 'resetStream', streamId: 2, applicationErrorCode: 0n, finalSize: 5 }, 0);
  e.sm.onStreamDataBlocked({ kind: 'streamDataBlocked', streamId: 2, limit: 10 });
  assert.equal(e.takeEvents(), []);
  assert.is(e.sm.streamCount, 0);
  assert.is(e.sm.read(2, 10, 0), null, 'reading a forgotten stream returns null');
});

test('after abandonAll every frame and call is ignored and nothing is emitted', () => {
  const e = server();
  e.sm.onStreamFrame(stream(0, 0, bytes(10)), 0);
  e.takeEvents();
  e.sm.abandonAll();
  e.sm.onStreamFrame(stream(4, 0, bytes(10)), 0);
  e.sm.onStopSending({ kind: 'stopSending', streamId: 0, applicationErrorCode: 1n }, 0);
  e.sm.onMaxStreams({ kind: 'maxStreams', bidirectional: true, maximum: 1000 });
  assert.is(e.sm.read(0, 10, 0), null);
  assert.is(e.sm.open(true, 0), undefined);
  assert.equal(e.takeEvents(), []);
  assert.is(e.sm.streamCount, 0);
  assert.not.ok(e.sm.sources.stream.hasPending('oneRtt'));
});

test.run();
