import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FlowController, ReceiveWindow, SendCredit, type FlowControlParameters } from '../../src/transport/flow-control.js';
import { FlowControlSource } from '../../src/transport/sources/flow-control-source.js';
import { QuicError, TransportErrorCode, isQuicError } from '../../src/wire/errors.js';
import type { Frame } from '../../src/wire/frames/types.js';
import { ackPacket, losePacket, writeOne } from '../support/outbound-harness.js';

const params = (o: Partial<FlowControlParameters> = {}): FlowControlParameters => ({
  initialMaxData: 1000,
  initialMaxStreamDataBidiLocal: 100,
  initialMaxStreamDataBidiRemote: 200,
  initialMaxStreamDataUni: 300,
  initialMaxStreamsBidi: 4,
  initialMaxStreamsUni: 2,
  ...o,
});

function throwsCode(fn: () => unknown, code: number): QuicError {
  try {
    fn();
  } catch (e) {
    assert.ok(isQuicError(e, code), `expected code ${code}, got ${String(e)}`);
    return e as QuicError;
  }
  assert.unreachable('expected a QuicError');
  throw new Error('unreachable');
}

function flush(src: FlowControlSource, room = 1000): { frames: Frame[]; w: ReturnType<typeof writeOne> } {
  const w = writeOne(src, 'oneRtt', room);
  return { frames: w.frames(), w };
}

test('a receive window advertises consumed + window once half of it was read', () => {
  const w = new ReceiveWindow({ initial: 100 });
  assert.not.ok(w.onConsumed(49, 0));
  assert.ok(w.onConsumed(1, 0), 'half consumed: an update is due');
  assert.not.ok(w.onConsumed(10, 0), 'due once until advertised');
  assert.is(w.nextLimit(), 160);
  w.onAdvertised(160);
  assert.is(w.limit, 160);
  assert.ok(w.exceeds(161) && !w.exceeds(160));
});

test('receive-side enforcement: data beyond the stream or the connection limit is FLOW_CONTROL_ERROR', () => {
  const fc = new FlowController({ role: 'server', local: params({ initialMaxData: 250 }) });
  fc.addStream(0); // client-initiated bidirectional: our bidi_remote limit (200)
  fc.addStream(4);
  fc.checkStreamData(0, 200);
  throwsCode(() => fc.checkStreamData(0, 201, 0x08), TransportErrorCode.FLOW_CONTROL_ERROR);
  fc.onStreamData(0, 200);
  fc.onStreamData(0, 150); // retransmitted data below the highest counts once
  fc.checkStreamData(4, 50);
  const e = throwsCode(() => fc.checkStreamData(4, 51), TransportErrorCode.FLOW_CONTROL_ERROR);
  assert.match(e.reason, /connection/);
});

test('reading data queues MAX_STREAM_DATA and MAX_DATA, written with current values, and the limits grow only once sent', () => {
  const fc = new FlowController({ role: 'server', local: params() });
  const src = new FlowControlSource(fc);
  let wakes = 0;
  fc.pending$.subscribe(() => wakes++);
  fc.addStream(0);
  fc.onStreamData(0, 200);
  fc.onStreamRead(0, 100, 0);
  assert.is(wakes, 1);
  assert.ok(src.hasPending('oneRtt'));
  assert.not.ok(src.hasPending('handshake'));
  fc.onStreamRead(0, 20, 0); // more read before the flush: the frame carries the current value
  assert.is(fc.streamReceiveWindow(0)!.limit, 200, 'not advertised before it is sent');
  const { frames } = flush(src);
  assert.equal(frames, [{ kind: 'maxStreamData', streamId: 0, maximum: 320 }]);
  assert.is(fc.streamReceiveWindow(0)!.limit, 320);
  for (let i = 0; i < 4; i++) fc.onStreamRead(0, 100, 0);
  const out = flush(src).frames;
  assert.equal(out[0], { kind: 'maxData', maximum: 520 + 1000 });
});

test('a lost MAX_DATA is sent again with the current value; not after a newer one was acknowledged', () => {
  const fc = new FlowController({ role: 'server', local: params() });
  const src = new FlowControlSource(fc);
  fc.addStream(0);
  fc.onStreamData(0, 200);
  fc.connectionReceiveWindow.onConsumed(0, 0);
  for (const n of [100, 100, 100, 100, 100, 100]) fc.onStreamRead(0, n, 0);
  const first = flush(src);
  const maxData = first.frames.find((f) => f.kind === 'maxData');
  assert.equal(maxData, { kind: 'maxData', maximum: 1600 });
  const lost = first.w.packet(0);
  losePacket(src, lost);
  assert.equal(flush(src).frames.filter((f) => f.kind === 'maxData'), [{ kind: 'maxData', maximum: 1600 }], 're-sent');

  // A newer MAX_DATA acknowledged makes an older loss irrelevant.
  for (const n of [300, 300]) fc.onStreamRead(0, n, 0);
  const newer = flush(src);
  const older = newer.w.packet(1);
  fc.onStreamRead(0, 700, 0);
  const newest = flush(src);
  ackPacket(src, newest.w.packet(2));
  losePacket(src, older);
  const after = flush(src).frames;
  assert.equal(after.filter((f) => f.kind === 'maxData'), [], 'the peer already has a larger limit');
  assert.equal(after, [{ kind: 'maxStreamData', streamId: 0, maximum: fc.streamReceiveWindow(0)!.limit }], 'the stream update in the lost packet is re-sent');
});

test('MAX_STREAM_DATA is not re-sent once the receiving part of the stream is finished (RFC 9000 §13.3)', () => {
  const fc = new FlowController({ role: 'client', local: params() });
  const src = new FlowControlSource(fc);
  fc.addStream(1); // server-initiated bidirectional
  fc.onStreamData(1, 200);
  fc.onStreamRead(1, 150, 0);
  const { w } = flush(src);
  fc.onStreamReceiveFinished(1);
  losePacket(src, w.packet(0));
  assert.not.ok(fc.hasPendingFrames);
});

test('send credit is consumed by new data only, and blocking is signalled once per limit value', () => {
  const fc = new FlowController({ role: 'client', local: params(), peer: params({ initialMaxData: 150 }) });
  const src = new FlowControlSource(fc);
  fc.addStream(0); // ours: the peer's bidi_remote limit (200) applies
  assert.is(fc.streamSendCredit(0), 200);
  assert.is(fc.connectionSendCredit, 150);
  fc.consumeSendCredit(0, 150);
  assert.is(fc.connectionSendCredit, 0);
  fc.onSendBlocked(0);
  fc.onSendBlocked(0);
  const { frames, w } = flush(src);
  assert.equal(frames, [{ kind: 'dataBlocked', limit: 150 }], 'once per limit');
  fc.onSendBlocked(0);
  assert.not.ok(fc.hasPendingFrames);
  // Lost while still blocked at that limit: sent again.
  losePacket(src, w.packet(0));
  const again = flush(src);
  assert.equal(again.frames, [{ kind: 'dataBlocked', limit: 150 }]);
  // Credit arrives: a loss of the old signal is no longer relevant.
  let raised: (number | undefined)[] = [];
  fc.sendCreditRaised$.subscribe((id) => raised.push(id));
  fc.onMaxData(100); // smaller: ignored
  fc.onMaxData(400);
  assert.equal(raised, [undefined]);
  losePacket(src, again.w.packet(1));
  assert.not.ok(fc.hasPendingFrames);
  assert.throws(() => fc.consumeSendCredit(0, 51), (e: unknown) => isQuicError(e, TransportErrorCode.INTERNAL_ERROR), 'stream credit is 200');
});

test('STREAM_DATA_BLOCKED carries the stream limit and is relevant only while blocked at it', () => {
  const fc = new FlowController({ role: 'client', local: params(), peer: params({ initialMaxData: 10_000 }) });
  const src = new FlowControlSource(fc);
  fc.addStream(2); // our unidirectional stream: the peer's uni limit (300)
  fc.consumeSendCredit(2, 300);
  fc.onSendBlocked(2);
  const { frames, w } = flush(src);
  assert.equal(frames, [{ kind: 'streamDataBlocked', streamId: 2, limit: 300 }]);
  fc.onMaxStreamData(2, 500);
  losePacket(src, w.packet(0));
  assert.not.ok(fc.hasPendingFrames);
});

test('closing peer streams earns MAX_STREAMS with the stream ID space\'s new limit, enforced at once', () => {
  const fc = new FlowController({ role: 'server', local: params({ initialMaxStreamsBidi: 4 }) });
  const src = new FlowControlSource(fc);
  const ids = fc.streamIds;
  for (const id of [0, 4, 8, 12]) {
    ids.classify(id, 'stream');
    fc.addStream(id);
  }
  throwsCode(() => ids.classify(16, 'stream'), TransportErrorCode.STREAM_LIMIT_ERROR);
  fc.onStreamClosed(0);
  assert.not.ok(fc.hasPendingFrames, 'one closed stream is below the threshold (half of 4)');
  assert.not.ok(fc.hasStream(0));
  fc.onStreamClosed(4);
  const { frames, w } = flush(src);
  assert.equal(frames, [{ kind: 'maxStreams', bidirectional: true, maximum: 6 }]);
  ids.classify(20, 'stream');
  throwsCode(() => ids.classify(24, 'stream'), TransportErrorCode.STREAM_LIMIT_ERROR);
  losePacket(src, w.packet(0));
  assert.equal(flush(src).frames, [{ kind: 'maxStreams', bidirectional: true, maximum: 6 }], 'a lost MAX_STREAMS is re-sent');
});

test('a peer STREAMS_BLOCKED makes freed credit advertised below the threshold', () => {
  const fc = new FlowController({ role: 'server', local: params({ initialMaxStreamsUni: 10 }) });
  const src = new FlowControlSource(fc);
  fc.streamIds.classify(2, 'stream');
  fc.addStream(2);
  fc.onStreamClosed(2);
  assert.not.ok(fc.hasPendingFrames);
  fc.onPeerStreamsBlocked(false, 10);
  assert.equal(flush(src).frames, [{ kind: 'maxStreams', bidirectional: false, maximum: 11 }]);
});

test('opening local streams follows the peer limit, with STREAMS_BLOCKED once per limit and a signal when it rises', () => {
  const fc = new FlowController({ role: 'server', local: params(), peer: params({ initialMaxStreamsUni: 2 }) });
  const src = new FlowControlSource(fc);
  const raised: boolean[] = [];
  fc.streamLimitRaised$.subscribe((b) => raised.push(b));
  assert.is(fc.openLocalStream(false), 3, 'server unidirectional: 3, 7, …');
  assert.is(fc.openLocalStream(false), 7);
  assert.is(fc.openLocalStream(false), undefined);
  assert.is(fc.openLocalStream(false), undefined);
  assert.equal(flush(src).frames, [{ kind: 'streamsBlocked', bidirectional: false, limit: 2 }]);
  fc.onMaxStreams(false, 3);
  assert.equal(raised, [false]);
  assert.is(fc.openLocalStream(false), 11);
  assert.ok(fc.hasStream(11));
});

test('the peer transport parameters raise the credit of streams opened before them (0-RTT) by the right parameter', () => {
  const fc = new FlowController({ role: 'client', local: params() });
  fc.addStream(0); // client bidi: peer bidi_remote
  fc.addStream(2); // client uni: peer uni
  fc.addStream(1); // server bidi: peer bidi_local
  assert.is(fc.streamSendCredit(0), 0);
  fc.setPeerParameters(params({ initialMaxStreamDataBidiLocal: 11, initialMaxStreamDataBidiRemote: 22, initialMaxStreamDataUni: 33 }));
  assert.is(fc.streamSendCredit(0), 22);
  assert.is(fc.streamSendCredit(2), 33);
  assert.is(fc.streamSendCredit(1), 11);
  assert.is(fc.streamReceiveWindow(2), undefined, 'our unidirectional stream has no receive side');
  assert.is(fc.streamReceiveWindow(1)!.limit, 200, 'our bidi_remote applies to a server stream');
});

test('auto-tuning doubles a window consumed within a few round trips, and leaves a slowly read one alone', () => {
  const fast = new ReceiveWindow({ initial: 1000, maxWindow: 8000 });
  fast.onConsumed(10, 0, 50);
  fast.onConsumed(600, 20, 50); // update due 20 ms after the epoch began, RTT 50 ms
  assert.is(fast.window, 2000);
  assert.is(fast.nextLimit(), 610 + 2000);
  const slow = new ReceiveWindow({ initial: 1000, maxWindow: 8000 });
  slow.onConsumed(10, 0, 50);
  slow.onConsumed(600, 5000, 50);
  assert.is(slow.window, 1000);
  const capped = new ReceiveWindow({ initial: 1000, maxWindow: 1500 });
  capped.onConsumed(10, 0, 50);
  capped.onConsumed(600, 1, 50);
  assert.is(capped.window, 1500);
});

test('a reset stream releases its unread bytes to the connection window', () => {
  const fc = new FlowController({ role: 'server', local: params({ initialMaxData: 300 }) });
  const src = new FlowControlSource(fc);
  fc.addStream(0);
  fc.onStreamData(0, 100);
  fc.onStreamReceiveAbandoned(0, 0, 180);
  assert.is(fc.connectionReceiveWindow.highest, 180, 'the final size counts');
  assert.equal(flush(src).frames, [{ kind: 'maxData', maximum: 480 }]);
});

test('SendCredit ignores smaller limits and reports blocking once per limit', () => {
  const c = new SendCredit(10);
  assert.not.ok(c.raise(5));
  c.consume(10);
  assert.ok(c.takeBlockedSignal());
  assert.not.ok(c.takeBlockedSignal());
  assert.ok(c.raise(20));
  assert.not.ok(c.takeBlockedSignal(), 'credit available');
  c.consume(10);
  assert.ok(c.takeBlockedSignal(), 'blocked at the new limit');
});

test.run();
