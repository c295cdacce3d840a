/**
 * The sources against the builder engineer's real flush (`PacketAssembler`), decoded by a peer:
 * seal failure, ACK trimming, handshake levels, CONNECTION_CLOSE, the congestion gate, flow
 * control blocking, datagrams.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fitAckRanges } from '../../src/wire/frames/encode.js';
import type { AckFrame, ConnectionCloseFrame, Frame } from '../../src/wire/frames/types.js';
import { TransportErrorCode } from '../../src/wire/errors.js';
import { OutboundPath } from '../../streams/outbound.js';
import { ManualScheduler } from '../../streams/schedulers.js';
import { OutboundHarness, openLimits } from '../support/outbound-harness.js';

function data(n: number, seed = 0): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 17 + seed * 31 + 5) & 0xff;
  return b;
}

const retire = (n: number) => ({ kind: 'retireConnectionId' as const, sequenceNumber: n });

function framesOfKind<K extends Frame['kind']>(h: OutboundHarness, kind: K): Extract<Frame, { kind: K }>[] {
  return h.peer.frames.filter((f) => f.frame.kind === kind).map((f) => f.frame as Extract<Frame, { kind: K }>);
}

test('seal failure: the packet\'s frames go back to their sources in order and are sent by the next flush', () => {
  const h = new OutboundHarness();
  for (let i = 0; i < 5; i++) h.controlQueue.enqueue(retire(i));
  const payload = data(3000);
  const s = h.streams.open(0);
  s.write(payload);
  s.end();
  h.sealFailures = 1;
  h.flush(0);
  assert.is(h.fatalErrors.length, 1, 'the flush reports the failure');
  assert.match(h.fatalErrors[0].message, /injected seal failure/);
  assert.is(h.sent.length, 0, 'nothing was handed over');
  assert.is(h.controlQueue.length, 5, 'the control frames are back in the queue');
  assert.ok(s.buffer.hasLostData, 'the stream data is back, as lost data');
  h.flush(1);
  assert.is(h.fatalErrors.length, 1);
  h.deliver();
  assert.equal(
    framesOfKind(h, 'retireConnectionId').map((f) => f.sequenceNumber),
    [0, 1, 2, 3, 4],
    'every control frame once, in the original order',
  );
  const r = h.peer.stream(0);
  assert.is(r.duplicates, 0);
  assert.equal(r.bytes(), payload);
  assert.is(r.finalSize, 3000);
  const pns = h.sentPackets().map((p) => p.packetNumber);
  assert.ok(!pns.includes(0), 'the packet number of the failed packet is never reused');
});

test('seal failure in a coalesced handshake datagram: every packet of the datagram gives its frames back', () => {
  const h = new OutboundHarness({ levels: ['initial', 'handshake', 'oneRtt'] });
  h.crypto.append('initial', data(300, 1));
  h.crypto.append('handshake', data(600, 2));
  h.ack.tracker('initial').onPacketReceived(0, true, 0);
  // The Initial packet seals; the Handshake packet coalesced after it fails once.
  let seals = 0;
  const keys = h.keys.get('handshake')!;
  const seal = keys.aead.seal.bind(keys.aead);
  (keys.aead as { seal: typeof seal }).seal = (...args) => {
    if (seals++ === 0) throw new Error('injected seal failure');
    seal(...args);
  };
  h.flush(0);
  assert.is(h.fatalErrors.length, 1);
  assert.is(h.sent.length, 0, 'the Initial packet sealed before it shared the datagram: nothing was sent');
  h.flush(1);
  h.deliver();
  assert.equal(h.peer.crypto.get('initial')!.bytes(), data(300, 1));
  assert.equal(h.peer.crypto.get('handshake')!.bytes(), data(600, 2));
  assert.is(h.peer.crypto.get('initial')!.duplicates + h.peer.crypto.get('handshake')!.duplicates, 0);
  assert.is(framesOfKind(h, 'ack').length, 1, 'the Initial ACK is written again too');
});

test('ACK trimming in the real flush: hundreds of ranges, the newest that fit, never an oversize packet', () => {
  const h = new OutboundHarness({ ackMaxRanges: 1000 });
  const t = h.ack.tracker('application');
  for (let pn = 0; pn < 2000; pn += 2) t.onPacketReceived(pn, true, 0); // 1000 ranges
  const ranges = [...t.ranges];
  h.streams.open(0).write(data(5000));
  h.flush(0);
  assert.ok(h.sent.every((d) => d.bytes.length <= h.mtu));
  h.deliver();
  const acks = framesOfKind(h, 'ack');
  assert.is(acks.length, 1, 'one ACK frame');
  const ack = acks[0] as AckFrame;
  assert.ok(ack.ranges.length > 100 && ack.ranges.length < 1000, `${ack.ranges.length} ranges: trimmed, not dropped`);
  assert.equal(ack.ranges, ranges.slice(0, ack.ranges.length), 'the newest ranges');
  const room = h.mtu - 1 - 8 - 1 - 16; // the first packet: short header with a 1-byte packet number, AEAD tag
  assert.is(ack.ranges.length, fitAckRanges(ack.ackDelay, ranges, undefined, room), 'as many as fit the packet');
  assert.equal(h.peer.stream(0).bytes(), data(5000), 'the stream data follows in the next packets');
});

test('handshake levels: CRYPTO of Initial and Handshake coalesced in one padded datagram, cut to the room, reassembled per level', () => {
  const h = new OutboundHarness({ levels: ['initial', 'handshake'] });
  const ch = data(280, 3);
  const flight = data(5000, 4);
  h.crypto.append('initial', ch);
  h.crypto.append('handshake', flight);
  h.flush(0);
  assert.ok(h.sent.every((d) => d.bytes.length <= 1200));
  assert.is(h.sent[0].bytes.length, 1200, 'a client pads a datagram with an Initial to 1200 bytes');
  assert.equal(h.sent[0].packets.map((p) => p.level), ['initial', 'handshake'], 'coalesced');
  h.deliver();
  assert.equal(h.peer.crypto.get('initial')!.bytes(), ch);
  assert.equal(h.peer.crypto.get('handshake')!.bytes(), flight);
});

test('lost CRYPTO data is sent again at its level, before new data', () => {
  const h = new OutboundHarness({ levels: ['handshake'] });
  h.crypto.append('handshake', data(4000, 5));
  h.flush(0);
  const n = h.inFlight.length;
  h.drop(1);
  h.deliver();
  h.settle();
  h.crypto.append('handshake', data(100, 6));
  h.flush(1);
  const resent = h.sent.slice(n);
  const firstFrame = resent[0].packets[0].frames[0];
  assert.ok(firstFrame.kind === 'crypto' && firstFrame.offset > 0 && firstFrame.offset < 4000, 'the lost range first');
  h.deliver();
  const r = h.peer.crypto.get('handshake')!;
  assert.is(r.duplicates, 0);
  assert.equal(r.bytes().subarray(0, 4000), data(4000, 5));
  assert.equal(r.bytes().subarray(4000), data(100, 6));
});

test('CONNECTION_CLOSE: one per level with keys, an application close as APPLICATION_ERROR in Initial and Handshake', () => {
  const h = new OutboundHarness({ levels: ['initial', 'handshake', 'oneRtt'] });
  h.close.close({ kind: 'application', errorCode: 42n, reason: 'bye' }, ['initial', 'handshake', 'oneRtt']);
  h.flush(0);
  h.deliver();
  const closes = h.peer.frames.filter((f) => f.frame.kind === 'connectionClose');
  assert.equal(
    closes.map((c) => {
      const f = c.frame as ConnectionCloseFrame;
      return [c.level, f.application, f.errorCode, new TextDecoder().decode(f.reason)];
    }),
    [
      ['initial', false, BigInt(TransportErrorCode.APPLICATION_ERROR), ''],
      ['handshake', false, BigInt(TransportErrorCode.APPLICATION_ERROR), ''],
      ['oneRtt', true, 42n, 'bye'],
    ],
  );
  assert.is(h.sent.length, 1, 'coalesced in one datagram');
});

test('the congestion gate: with no allowance, ACK and CRYPTO still go, control and stream data wait', () => {
  let allowance = 0;
  const h = new OutboundHarness({ levels: ['handshake', 'oneRtt'], congestionAllowance: () => allowance });
  h.crypto.append('handshake', data(100));
  h.ack.tracker('application').onPacketReceived(0, true, 0);
  h.ack.tracker('application').onPacketReceived(1, true, 0);
  h.controlQueue.enqueue(retire(7));
  h.streams.open(0).write(data(100));
  h.flush(0);
  h.deliver();
  assert.equal(h.peer.crypto.get('handshake')!.bytes(), data(100));
  assert.is(framesOfKind(h, 'ack').length, 1);
  assert.is(framesOfKind(h, 'retireConnectionId').length, 0);
  assert.is(h.peer.streams.size, 0);
  allowance = Infinity;
  h.flush(1);
  h.deliver();
  assert.is(framesOfKind(h, 'retireConnectionId').length, 1);
  assert.equal(h.peer.stream(0).bytes(), data(100));
});

test('flow control end to end: a stream blocked by its limit sends STREAM_DATA_BLOCKED, resumes on MAX_STREAM_DATA', () => {
  const h = new OutboundHarness({ peer: openLimits({ initialMaxStreamDataBidiRemote: 2500, initialMaxData: 100_000 }) });
  const s = h.streams.open(0);
  s.write(data(6000));
  h.runToQuiescence();
  assert.is(h.peer.stream(0).end, 2500, 'no byte beyond the peer limit');
  assert.equal(framesOfKind(h, 'streamDataBlocked'), [{ kind: 'streamDataBlocked', streamId: 0, limit: 2500 }]);
  h.flow.onMaxStreamData(0, 6000);
  h.runToQuiescence();
  assert.equal(h.peer.stream(0).bytes(), data(6000));
  assert.is(h.flow.connectionSendState.used, 6000);
});

test('receive-side window updates are written by the flush with current values', () => {
  const h = new OutboundHarness({ local: openLimits({ initialMaxStreamDataBidiRemote: 1000 }) });
  h.flow.addStream(1); // the server's (peer's) first bidirectional stream
  h.flow.onStreamData(1, 1000);
  h.flow.onStreamRead(1, 700, 0);
  h.runToQuiescence();
  assert.equal(framesOfKind(h, 'maxStreamData'), [{ kind: 'maxStreamData', streamId: 1, maximum: 1700 }]);
});

test('datagrams: the largest the queue accepts fits an empty packet; acknowledgements are reported by id', () => {
  const h = new OutboundHarness();
  h.datagramQueue.setPeerMaxFrameSize(65535);
  h.datagramQueue.setMaxPacketPayload(h.mtu - 1 - 8 - 4 - 16);
  const events: string[] = [];
  h.datagramQueue.events$.subscribe((e) => events.push(`${e.id}:${e.outcome}`));
  const big = h.datagramQueue.maxDatagramSize;
  h.datagramQueue.send(data(big, 1));
  h.datagramQueue.send(data(10, 2));
  h.runToQuiescence();
  const got = framesOfKind(h, 'datagram').map((f) => f.data);
  assert.equal(got, [data(big, 1), data(10, 2)]);
  assert.equal(events, ['0:acked', '1:acked']);
});

test('signals raised inside the real flush (onLost after a failed seal, a stream blocking) are served by the next flush, never inside it', () => {
  const h = new OutboundHarness({ peer: openLimits({ initialMaxStreamDataBidiRemote: 1000 }) });
  const scheduler = new ManualScheduler();
  let depth = 0;
  let maxDepth = 0;
  const signalsDuringFlush: string[] = [];
  h.controlQueue.pending$.subscribe(() => depth > 0 && signalsDuringFlush.push('control'));
  h.flowSource.pending$.subscribe(() => depth > 0 && signalsDuringFlush.push('flow'));
  h.streams.pending$.subscribe(() => depth > 0 && signalsDuringFlush.push('stream'));
  const path = new OutboundPath({
    signals: h.signals,
    scheduler,
    flush: (now) => {
      depth++;
      maxDepth = Math.max(maxDepth, depth);
      try {
        return h.flush(now);
      } finally {
        depth--;
      }
    },
  });
  h.controlQueue.enqueue(retire(1));
  h.streams.open(0).write(data(3000));
  h.sealFailures = 1;
  assert.ok(scheduler.runNext(), 'the first flush');
  assert.is(h.fatalErrors.length, 1);
  assert.ok(signalsDuringFlush.includes('control') && signalsDuringFlush.includes('stream'), `onLost signalled inside the flush: ${signalsDuringFlush}`);
  assert.is(scheduler.pending, 1, 'and only scheduled the next flush');
  scheduler.runNext();
  assert.ok(signalsDuringFlush.includes('flow'), 'the stream hit its limit inside the second flush: STREAM_DATA_BLOCKED signalled');
  scheduler.runAll();
  path.stop();
  assert.is(maxDepth, 1);
  h.deliver();
  assert.equal(framesOfKind(h, 'retireConnectionId'), [retire(1)]);
  assert.equal(framesOfKind(h, 'streamDataBlocked'), [{ kind: 'streamDataBlocked', streamId: 0, limit: 1000 }]);
  assert.equal(h.peer.stream(0).bytes(), data(3000).subarray(0, 1000));
});

test.run();
