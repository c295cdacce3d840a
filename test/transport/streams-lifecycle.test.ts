// Stream lifecycles between two managers: resets and STOP_SENDING in both directions (RFC 9000
// §3.1, §3.2, §3.5), what the application is told and when, retransmission of lost RESET_STREAM
// and the relevance of STOP_SENDING, credit released by abandoned data, and the application API's
// typed refusals.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { notifyAcked, notifyLost } from '../../src/packet/dispatch.js';
import { StreamOperationError } from '../../src/transport/stream.js';
import type { Frame } from '../../src/wire/frames/types.js';
import { StreamPair, streamSettings, type StreamEndpoint, type WirePacket } from '../support/stream-pair.js';

function framesOf(packets: WirePacket[], kind: Frame['kind']): Frame[] {
  return packets.flatMap((p) => p.frames.filter((f) => f.kind === kind));
}

/** Flushes `from`, delivers everything to the peer and acknowledges it; returns the packets. */
function send(pair: StreamPair, from: StreamEndpoint): WirePacket[] {
  const packets = from.flush();
  for (const p of packets) pair.deliver(from, p);
  for (const p of packets) notifyAcked(p.sent);
  return packets;
}

function refusal(f: () => unknown): StreamOperationError {
  try {
    f();
  } catch (e) {
    assert.instance(e, StreamOperationError);
    return e as StreamOperationError;
  }
  throw new Error('not refused');
}

test('an application reset sends RESET_STREAM with the final size; the peer is told, drops unread data and reopens its window', () => {
  const pair = new StreamPair({ server: streamSettings({ initialMaxData: 10_000, maxConnectionWindow: 10_000 }) });
  const c = pair.client.sm;
  const id = c.open(true, 0) as number;
  c.write(id, new Uint8Array(8000).fill(1), false, 0);
  send(pair, pair.client);
  pair.server.takeEvents();
  c.reset(id, 77n, 0);
  assert.is(c.stats(id)?.sendState, 'resetSent');
  const packets = send(pair, pair.client);
  assert.equal(framesOf(packets, 'resetStream'), [{ kind: 'resetStream', streamId: id, applicationErrorCode: 77n, finalSize: 8000 }]);
  assert.equal(framesOf(packets, 'stream'), [], 'nothing but the reset after RESET_STREAM (RFC 9000 §3.3)');
  assert.is(c.stats(id)?.sendState, 'resetRecvd', 'acknowledged RESET_STREAM: Reset Recvd');
  assert.equal(pair.server.takeEvents(), [{ type: 'streamReset', streamId: id, code: 77n, finalSize: 8000 }]);
  assert.is(pair.server.sm.stats(id)?.receiveState, 'resetRead');
  assert.is(pair.server.sm.read(id, 100, 0), null, 'the unread 8000 bytes are gone');
  // The discarded bytes count as consumed: the connection window reopens (RFC 9000 §4.5).
  assert.equal(framesOf(pair.server.flush(), 'maxData'), [{ kind: 'maxData', maximum: 18_000 }]);
});

test('a lost RESET_STREAM is sent again with the same content until acknowledged', () => {
  const pair = new StreamPair();
  const c = pair.client.sm;
  const id = c.open(false, 0) as number;
  c.write(id, new Uint8Array(100), false, 0);
  send(pair, pair.client);
  c.reset(id, 5n, 0);
  const [lost] = pair.client.flush();
  assert.equal(framesOf([lost], 'resetStream').length, 1);
  notifyLost(lost.sent);
  assert.is(c.stats(id)?.sendState, 'resetSent');
  const again = send(pair, pair.client);
  assert.equal(framesOf(again, 'resetStream'), [{ kind: 'resetStream', streamId: id, applicationErrorCode: 5n, finalSize: 100 }]);
  assert.is(c.stats(id), undefined, 'acknowledged: the unidirectional stream is forgotten');
  assert.is(pair.server.sm.stats(id), undefined, 'and so is the receiver’s side, told of the reset');
});

test('STOP_SENDING: the sender resets with the receiver’s code and is told; both sides forget the stream (RFC 9000 §3.5)', () => {
  const pair = new StreamPair({ server: streamSettings({ maxStreamsUni: 1 }) });
  const c = pair.client.sm;
  const id = c.open(false, 0) as number;
  c.write(id, new Uint8Array(3000).fill(9), false, 0);
  send(pair, pair.client);
  pair.server.sm.stopSending(id, 42n, 0);
  const stop = send(pair, pair.server);
  assert.equal(framesOf(stop, 'stopSending'), [{ kind: 'stopSending', streamId: id, applicationErrorCode: 42n }]);
  assert.equal(pair.client.takeEvents(), [{ type: 'streamStopSending', streamId: id, code: 42n }]);
  assert.is(c.stats(id)?.sendState, 'resetSent');
  assert.is(refusal(() => c.write(id, Uint8Array.of(1), false, 0)).reason, 'sendReset');
  const reset = send(pair, pair.client);
  assert.equal(framesOf(reset, 'resetStream'), [{ kind: 'resetStream', streamId: id, applicationErrorCode: 42n, finalSize: 3000 }]);
  assert.is(c.streamCount, 0);
  assert.is(pair.server.sm.streamCount, 0);
  // The receiver's stream closed: MAX_STREAMS credit lets the client open another one.
  send(pair, pair.server);
  assert.ok(c.open(false, 0) !== undefined);
});

test('STOP_SENDING for a stream the peer never wrote on opens it and is answered by a RESET_STREAM with final size 0', () => {
  const pair = new StreamPair();
  pair.server.sm.onStopSending({ kind: 'stopSending', streamId: 8, applicationErrorCode: 3n }, 0);
  assert.equal(pair.server.takeEvents(), [
    { type: 'streamOpened', streamId: 0, bidirectional: true },
    { type: 'streamOpened', streamId: 4, bidirectional: true },
    { type: 'streamOpened', streamId: 8, bidirectional: true },
    { type: 'streamStopSending', streamId: 8, code: 3n },
  ]);
  assert.equal(framesOf(pair.server.flush(), 'resetStream'), [{ kind: 'resetStream', streamId: 8, applicationErrorCode: 3n, finalSize: 0 }]);
});

test('resets in both directions of a bidirectional stream close it on both sides', () => {
  const pair = new StreamPair();
  const id = pair.client.sm.open(true, 0) as number;
  pair.client.sm.write(id, new Uint8Array(10), false, 0);
  send(pair, pair.client);
  pair.server.sm.write(id, new Uint8Array(20), false, 0);
  pair.server.sm.reset(id, 1n, 0);
  pair.server.sm.stopSending(id, 2n, 0);
  send(pair, pair.server); // RESET_STREAM + STOP_SENDING
  assert.equal(
    pair.client.takeEvents().map((e) => e.type),
    ['streamReset', 'streamStopSending'],
  );
  send(pair, pair.client); // the client's RESET_STREAM in reply
  send(pair, pair.server);
  assert.is(pair.client.sm.streamCount, 0);
  assert.is(pair.server.sm.streamCount, 0);
});

test('STOP_SENDING is withheld once everything arrived, and a queued one is cancelled when the FIN completes the data first', () => {
  const pair = new StreamPair();
  const c = pair.client.sm;
  const a = c.open(true, 0) as number;
  c.write(a, new Uint8Array(50), true, 0);
  send(pair, pair.client);
  assert.is(pair.server.sm.stats(a)?.receiveState, 'dataRecvd');
  pair.server.sm.stopSending(a, 1n, 0); // Data Recvd: unnecessary (RFC 9000 §3.5); the data is discarded
  assert.is(pair.server.sm.stats(a)?.receiveState, 'dataRead');
  assert.is(pair.server.control.length, 0);
  // Size Known: STOP_SENDING is queued, then the missing bytes arrive before it goes out.
  const b = c.open(true, 0) as number;
  c.write(b, new Uint8Array(100), false, 0);
  const held = pair.client.flush();
  c.write(b, new Uint8Array(0), true, 0);
  for (const p of pair.client.flush()) pair.deliver(pair.client, p); // the FIN alone
  assert.is(pair.server.sm.stats(b)?.receiveState, 'sizeKnown');
  pair.server.sm.stopSending(b, 2n, 0);
  assert.is(pair.server.control.length, 1);
  for (const p of held) pair.deliver(pair.client, p);
  assert.is(pair.server.control.length, 0, 'no longer needed once all data is in');
  assert.equal(framesOf(pair.server.flush(), 'stopSending'), []);
});

test('after the application stops reading, data still arriving is counted and its credit released', () => {
  const pair = new StreamPair({ server: streamSettings({ initialMaxData: 4000, maxConnectionWindow: 4000, initialMaxStreamDataUni: 100_000 }) });
  const c = pair.client.sm;
  const id = c.open(false, 0) as number;
  c.write(id, new Uint8Array(3000), false, 0);
  send(pair, pair.client);
  pair.server.sm.stopSending(id, 0n, 0);
  assert.is(pair.server.sm.read(id, 100, 0), null);
  const credit = pair.server.flush();
  assert.equal(framesOf(credit, 'maxData'), [{ kind: 'maxData', maximum: 7000 }], 'the 3000 discarded bytes free the window');
  assert.equal(framesOf(credit, 'maxStreamData'), [], 'but the stream gets no more credit');
});

test('streamReadable is edge-triggered; a FIN arriving after everything was read makes the end readable', () => {
  const pair = new StreamPair();
  const c = pair.client.sm;
  const id = c.open(false, 0) as number;
  c.write(id, new Uint8Array(10).fill(4), false, 0);
  send(pair, pair.client);
  c.write(id, new Uint8Array(10).fill(5), false, 0);
  send(pair, pair.client);
  assert.equal(pair.server.takeEvents(), [
    { type: 'streamOpened', streamId: id, bidirectional: false },
    { type: 'streamReadable', streamId: id },
  ]);
  assert.equal(pair.server.sm.read(id, 15, 0)?.data, Uint8Array.of(...new Array(10).fill(4), 5, 5, 5, 5, 5));
  assert.equal(pair.server.sm.read(id, 15, 0), { data: new Uint8Array(5).fill(5), fin: false });
  assert.is(pair.server.sm.read(id, 15, 0), null);
  c.write(id, new Uint8Array(0), true, 0);
  send(pair, pair.client);
  assert.equal(pair.server.takeEvents(), [{ type: 'streamReadable', streamId: id }]);
  assert.equal(pair.server.sm.read(id, 15, 0), { data: new Uint8Array(0), fin: true });
  assert.is(pair.server.sm.stats(id), undefined, 'forgotten once the application saw the end');
});

test('RESET_STREAM after all data arrived but before it was read interrupts delivery (the optional Data Recvd → Reset Recvd)', () => {
  const pair = new StreamPair();
  const c = pair.client.sm;
  const id = c.open(false, 0) as number;
  c.write(id, new Uint8Array(10), true, 0);
  const data = pair.client.flush();
  for (const p of data) pair.deliver(pair.client, p);
  assert.is(pair.server.sm.stats(id)?.receiveState, 'dataRecvd');
  c.reset(id, 6n, 0); // possible: the data is not yet acknowledged, the part is in Data Sent
  send(pair, pair.client);
  assert.is(pair.server.sm.read(id, 100, 0), null);
  assert.equal(pair.server.takeEvents().pop(), { type: 'streamReset', streamId: id, code: 6n, finalSize: 10 });
  assert.is(pair.server.sm.streamCount, 0);
});

test('streamWritable follows a drain below the high-water mark, never after a reset; streamSendComplete needs the FIN acknowledged', () => {
  const pair = new StreamPair({ client: streamSettings({ streamSendBufferSize: 4000 }) });
  const c = pair.client.sm;
  const id = c.open(true, 0) as number;
  assert.is(c.write(id, new Uint8Array(3000), false, 0), true);
  assert.is(c.write(id, new Uint8Array(3000), false, 0), false, 'at the high-water mark');
  send(pair, pair.client);
  assert.equal(pair.client.takeEvents(), [{ type: 'streamWritable', streamId: id }]);
  assert.equal(c.stats(id)?.bytesAcked, 6000);
  assert.equal(pair.client.takeEvents(), [], 'everything acknowledged, but no FIN: not complete');
  c.write(id, new Uint8Array(0), true, 0);
  send(pair, pair.client);
  assert.equal(pair.client.takeEvents(), [{ type: 'streamSendComplete', streamId: id }]);
  assert.is(c.stats(id)?.sendState, 'dataRecvd');
  const other = c.open(true, 0) as number;
  c.write(other, new Uint8Array(5000), false, 0);
  c.reset(other, 0n, 0);
  send(pair, pair.client);
  assert.equal(pair.client.takeEvents(), [], 'no streamWritable for a reset stream');
});

test('the application API refuses impossible operations with typed errors and tolerates finished streams', () => {
  const pair = new StreamPair();
  const c = pair.client.sm;
  const uni = c.open(false, 0) as number;
  const s = pair.server.sm;
  s.onStreamFrame({ kind: 'stream', streamId: uni, offset: 0, data: Uint8Array.of(1), fin: false }, 0);
  assert.is(refusal(() => s.write(uni, Uint8Array.of(1), false, 0)).reason, 'receiveOnly');
  assert.is(refusal(() => s.reset(uni, 0n, 0)).reason, 'receiveOnly');
  assert.is(refusal(() => c.read(uni, 10, 0)).reason, 'sendOnly');
  assert.is(refusal(() => c.stopSending(uni, 0n, 0)).reason, 'sendOnly');
  assert.is(refusal(() => c.write(40, Uint8Array.of(1), false, 0)).reason, 'unknownStream');
  assert.is(refusal(() => c.read(41, 10, 0)).reason, 'unknownStream');
  assert.is(refusal(() => c.reset(44, 0n, 0)).reason, 'unknownStream');
  assert.is(c.stats(44), undefined);
  c.write(uni, Uint8Array.of(1), true, 0);
  assert.is(refusal(() => c.write(uni, Uint8Array.of(1), false, 0)).reason, 'sendFinished');
  send(pair, pair.client);
  assert.is(c.stats(uni), undefined, 'finished and forgotten');
  assert.is(refusal(() => c.write(uni, Uint8Array.of(1), false, 0)).reason, 'closedStream');
  c.reset(uni, 0n, 0); // a finished stream: nothing to do
  const bidi = c.open(true, 0) as number;
  c.abandonAll();
  assert.is(refusal(() => c.write(bidi, Uint8Array.of(1), false, 0)).reason, 'connectionClosed');
  assert.is(c.stats(bidi), undefined);
});

test.run();
