import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ControlQueue } from '../../src/transport/control-queue.js';
import { FlowController, type FlowControlParameters } from '../../src/transport/flow-control.js';
import { StreamSource } from '../../src/transport/sources/stream-source.js';
import type { StreamFrame } from '../../src/wire/frames/types.js';
import { ackPacket, losePacket, writeOne } from '../support/outbound-harness.js';

const big = 1 << 30;
const params = (o: Partial<FlowControlParameters> = {}): FlowControlParameters => ({
  initialMaxData: big,
  initialMaxStreamDataBidiLocal: big,
  initialMaxStreamDataBidiRemote: big,
  initialMaxStreamDataUni: big,
  initialMaxStreamsBidi: 100,
  initialMaxStreamsUni: 100,
  ...o,
});

function setup(peer: Partial<FlowControlParameters> = {}, highWaterMark?: number) {
  const flow = new FlowController({ role: 'client', local: params(), peer: params(peer) });
  const control = new ControlQueue();
  const src = new StreamSource({ flow, control, sendBuffer: highWaterMark === undefined ? undefined : { highWaterMark } });
  return { flow, control, src };
}

function data(n: number, seed = 0): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + seed * 13 + 1) & 0xff;
  return b;
}

function streamFrames(w: ReturnType<typeof writeOne>): StreamFrame[] {
  return w.frames().map((f) => {
    assert.is(f.kind, 'stream');
    return f as StreamFrame;
  });
}

test('stream data is cut at flush time to the room; a frame filling the packet omits its Length', () => {
  const { src } = setup();
  const s = src.open(0);
  const payload = data(5000);
  s.write(payload);
  let offset = 0;
  for (const room of [1200, 1200, 333, 64, 1200]) {
    const w = writeOne(src, 'oneRtt', room);
    assert.ok(w.offset === room && w.guardIntact(), `room ${room} used exactly (${w.offset})`);
    const [f] = streamFrames(w);
    assert.is(f.offset, offset, 'contiguous');
    assert.is(f.explicitLength, false);
    assert.equal(f.data, payload.subarray(offset, offset + f.data.length));
    offset += f.data.length;
  }
  assert.not.ok(src.hasPending('handshake'), 'STREAM frames only in 0-RTT and 1-RTT packets');
  assert.ok(src.hasPending('zeroRtt'));
});

test('streams take turns: the stream that wrote last goes to the back of the ring', () => {
  const { src } = setup();
  for (const id of [0, 4, 8]) src.open(id).write(data(1000, id));
  const order: number[] = [];
  for (let i = 0; i < 6; i++) order.push(...streamFrames(writeOne(src, 'oneRtt', 200)).map((f) => f.streamId));
  assert.equal(order, [0, 4, 8, 0, 4, 8]);
  src.open(12).write(data(1000, 12));
  const next: number[] = [];
  for (let i = 0; i < 4; i++) next.push(...streamFrames(writeOne(src, 'oneRtt', 200)).map((f) => f.streamId));
  assert.equal(next, [0, 4, 8, 12], 'a newly ready stream joins at the back');
});

test('several small streams share one packet, one frame each per turn', () => {
  const { src } = setup();
  src.open(0).write(data(10, 1));
  src.open(4).write(data(10, 2));
  const frames = streamFrames(writeOne(src, 'oneRtt', 1000));
  assert.equal(frames.map((f) => [f.streamId, f.offset, f.data.length]), [
    [0, 0, 10],
    [4, 0, 10],
  ]);
});

test('new data is limited by stream credit; the blocked stream signals STREAM_DATA_BLOCKED and waits for MAX_STREAM_DATA', () => {
  const { src, flow } = setup({ initialMaxStreamDataBidiRemote: 300 });
  const s = src.open(0);
  s.write(data(1000));
  const [f] = streamFrames(writeOne(src, 'oneRtt', 1200));
  assert.is(f.data.length, 300);
  assert.not.ok(src.hasPending('oneRtt'), 'blocked: nothing to send');
  assert.equal(flow.peekFrame(), { kind: 'streamDataBlocked', streamId: 0, limit: 300 });
  let wakes = 0;
  src.pending$.subscribe(() => wakes++);
  s.write(data(10)); // more data does not wake a blocked stream
  assert.is(wakes, 0);
  flow.onMaxStreamData(0, 800);
  assert.is(wakes, 1);
  const [g] = streamFrames(writeOne(src, 'oneRtt', 1200));
  assert.equal([g.offset, g.data.length], [300, 500]);
});

test('connection credit is shared across streams and DATA_BLOCKED is signalled when it runs out', () => {
  const { src, flow } = setup({ initialMaxData: 500 });
  src.open(0).write(data(400));
  src.open(4).write(data(400));
  const frames = streamFrames(writeOne(src, 'oneRtt', 1200));
  assert.equal(frames.map((f) => [f.streamId, f.data.length]), [
    [0, 400],
    [4, 100],
  ]);
  assert.not.ok(src.hasPending('oneRtt'));
  assert.equal(flow.peekFrame(), { kind: 'dataBlocked', limit: 500 });
  flow.onMaxData(1000);
  assert.ok(src.hasPending('oneRtt'));
  assert.equal(streamFrames(writeOne(src, 'oneRtt', 1200)).map((f) => [f.streamId, f.offset, f.data.length]), [[4, 100, 300]]);
});

test('retransmissions are sent without credit and consume none', () => {
  const { src, flow } = setup({ initialMaxData: 600 });
  src.open(0).write(data(1000));
  const w = writeOne(src, 'oneRtt', 1200);
  assert.is(flow.connectionSendCredit, 0);
  losePacket(src, w.packet(0));
  assert.ok(src.hasPending('oneRtt'), 'lost data needs no credit');
  const again = streamFrames(writeOne(src, 'oneRtt', 400));
  assert.equal([again[0].offset, again[0].data.length, again[0].data], [0, again[0].data.length, data(1000).subarray(0, again[0].data.length)]);
  const rest = streamFrames(writeOne(src, 'oneRtt', 1200));
  assert.equal(rest.map((f) => [f.offset, f.offset + f.data.length]), [[again[0].data.length, 600]]);
  assert.is(flow.connectionSendState.used, 600, 'credit consumed once per byte');
});

test('FIN goes with the last byte, or in a FIN-only frame when everything was sent before end()', () => {
  const { src } = setup();
  const a = src.open(0);
  a.write(data(10));
  a.end();
  const [f] = streamFrames(writeOne(src, 'oneRtt', 100));
  assert.equal([f.offset, f.data.length, f.fin], [0, 10, true]);
  const b = src.open(4);
  b.write(data(10));
  writeOne(src, 'oneRtt', 100);
  b.end();
  const [g] = streamFrames(writeOne(src, 'oneRtt', 100));
  assert.equal([g.streamId, g.offset, g.data.length, g.fin], [4, 10, 0, true]);
});

test('all data and FIN acknowledged is reported; acknowledged data is released', () => {
  const { src } = setup();
  const s = src.open(0);
  const done: number[] = [];
  src.allAcknowledged$.subscribe((id) => done.push(id));
  s.write(data(3000));
  s.end();
  const packets = [0, 1, 2].map((pn) => writeOne(src, 'oneRtt', 1200).packet(pn));
  ackPacket(src, packets[2]);
  ackPacket(src, packets[0]);
  assert.equal(done, []);
  assert.ok(s.buffer.bufferedBytes > 0);
  ackPacket(src, packets[1]);
  assert.equal(done, [0]);
  assert.is(s.buffer.bufferedBytes, 0);
});

test('reset stops sending and re-sending, and queues RESET_STREAM with the final size on the control queue', () => {
  const { src, control } = setup();
  const s = src.open(4);
  s.write(data(5000));
  const p = writeOne(src, 'oneRtt', 1200).packet(0);
  assert.is(s.reset(9n), 1198, 'type + stream ID take 2 of the 1200 bytes');
  assert.equal(control.peek(), { kind: 'resetStream', streamId: 4, applicationErrorCode: 9n, finalSize: 1198 });
  losePacket(src, p);
  assert.not.ok(src.hasPending('oneRtt'));
  assert.is(writeOne(src, 'oneRtt', 1200).committed.length, 0);
  s.reset(9n);
  assert.is(control.length, 1, 'one RESET_STREAM');
});

test('the write API reports a full buffer at the high-water mark and signals when acknowledgements drain it', () => {
  const { src } = setup({}, 2000);
  const s = src.open(0);
  let drained = 0;
  s.drained$.subscribe(() => drained++);
  assert.ok(s.write(data(1500)));
  assert.not.ok(s.write(data(1500)));
  assert.ok(s.isFull);
  const packets = [0, 1, 2].map((pn) => writeOne(src, 'oneRtt', 1200).packet(pn));
  ackPacket(src, packets[0]);
  assert.is(drained, 1, '3000 − 1200 held: below the mark');
  assert.not.ok(s.isFull);
  ackPacket(src, packets[1]);
  assert.is(drained, 1);
});

test('a frame cap stops the stream source once the packet is full', () => {
  const { src } = setup();
  for (const id of [0, 4, 8]) src.open(id).write(data(10, id));
  const w = writeOne(src, 'oneRtt', 1000, { maxFrames: 2 });
  assert.equal(streamFrames(w).map((f) => f.streamId), [0, 4]);
  assert.equal(streamFrames(writeOne(src, 'oneRtt', 1000)).map((f) => f.streamId), [8]);
});

test.run();
