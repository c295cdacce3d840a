import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ControlQueue, type ControlFrame } from '../../src/transport/control-queue.js';
import { ControlSource, PATH_VALIDATION_MIN_FRAME_BYTES } from '../../src/transport/sources/control-source.js';
import type { Frame } from '../../src/wire/frames/types.js';
import { ackPacket, losePacket, writeOne } from '../support/outbound-harness.js';

const retire = (n: number): ControlFrame => ({ kind: 'retireConnectionId', sequenceNumber: n });
/** The frames without PADDING (a datagram with PATH_* frames is padded, RFC 9000 §8.2.1). */
const unpadded = (frames: Frame[]): Frame[] => frames.filter((f) => f.kind !== 'padding');
const seqs = (frames: Frame[]): number[] => frames.map((f) => (f.kind === 'retireConnectionId' ? f.sequenceNumber : -1));

test('control frames are written first in, first out, as many as fit the room', () => {
  const q = new ControlQueue();
  const src = new ControlSource(q);
  for (let i = 0; i < 5; i++) q.enqueue(retire(i));
  const w = writeOne(src, 'oneRtt', 6); // RETIRE_CONNECTION_ID(n<64) is 2 bytes
  assert.equal(seqs(w.frames()), [0, 1, 2]);
  assert.is(w.offset, 6);
  assert.equal(seqs(writeOne(src, 'oneRtt', 100).frames()), [3, 4]);
  assert.is(q.length, 0);
});

test('lost frames go back to the front of the queue in their original order', () => {
  const q = new ControlQueue();
  const src = new ControlSource(q);
  for (let i = 0; i < 6; i++) q.enqueue(retire(i));
  const pA = writeOne(src, 'oneRtt', 4).packet(0); // 0, 1
  const pB = writeOne(src, 'oneRtt', 4).packet(1); // 2, 3
  let wakes = 0;
  q.pending$.subscribe(() => wakes++);
  losePacket(src, pB); // lost later frames first
  losePacket(src, pA);
  assert.ok(wakes >= 2);
  assert.equal(seqs(writeOne(src, 'oneRtt', 100).frames()), [0, 1, 2, 3, 4, 5]);
});

test('acknowledged frames are forgotten; a frame with the same identity can then be queued again', () => {
  const q = new ControlQueue();
  const src = new ControlSource(q);
  assert.ok(q.enqueue({ kind: 'handshakeDone' }));
  assert.not.ok(q.enqueue({ kind: 'handshakeDone' }), 'queued already');
  const p = writeOne(src, 'oneRtt', 10).packet(0);
  assert.not.ok(q.enqueue({ kind: 'handshakeDone' }), 'in flight: no duplicate');
  assert.is(q.inFlightCount, 1);
  ackPacket(src, p);
  assert.is(q.inFlightCount, 0);
  losePacket(src, p);
  assert.is(q.length, 0, 'an acknowledged frame is not re-sent');
});

test('every retransmittable kind is re-sent with identical content after a loss; PATH_RESPONSE and PATH_CHALLENGE are not', () => {
  const q = new ControlQueue();
  const src = new ControlSource(q);
  const frames: ControlFrame[] = [
    { kind: 'handshakeDone' },
    { kind: 'newConnectionId', sequenceNumber: 3, retirePriorTo: 1, connectionId: new Uint8Array([1, 2, 3, 4]), statelessResetToken: new Uint8Array(16).fill(7) },
    { kind: 'retireConnectionId', sequenceNumber: 2 },
    { kind: 'newToken', token: new Uint8Array([9, 9, 9]) },
    { kind: 'pathChallenge', data: new Uint8Array(8).fill(1) },
    { kind: 'pathResponse', data: new Uint8Array(8).fill(2) },
    { kind: 'resetStream', streamId: 4, applicationErrorCode: 77n, finalSize: 1000 },
    { kind: 'stopSending', streamId: 8, applicationErrorCode: 5n },
  ];
  for (const f of frames) q.enqueue(f);
  const w = writeOne(src, 'oneRtt', 1000);
  assert.equal(unpadded(w.frames()), frames);
  losePacket(src, w.packet(0));
  const again = writeOne(src, 'oneRtt', 1000).frames();
  assert.equal(
    again,
    frames.filter((f) => f.kind !== 'pathChallenge' && f.kind !== 'pathResponse'),
  );
});

test('the queue copies byte strings: a decoded frame whose packet buffer is reused is sent as it was', () => {
  const q = new ControlQueue();
  const src = new ControlSource(q);
  const packetBuffer = new Uint8Array(8).fill(0xaa);
  q.enqueue({ kind: 'pathResponse', data: packetBuffer });
  packetBuffer.fill(0);
  assert.equal(unpadded(writeOne(src, 'oneRtt', 100).frames()), [{ kind: 'pathResponse', data: new Uint8Array(8).fill(0xaa) }]);
});

test('PATH_RESPONSE frames are bounded: beyond the bound the oldest is dropped and counted', () => {
  const q = new ControlQueue({ maxPathResponses: 2 });
  const src = new ControlSource(q);
  for (let i = 0; i < 5; i++) q.enqueue({ kind: 'pathResponse', data: new Uint8Array(8).fill(i) });
  q.enqueue(retire(1));
  assert.is(q.length, 3);
  assert.is(q.droppedPathResponses, 3);
  const out = unpadded(writeOne(src, 'oneRtt', 100).frames());
  assert.equal(
    out.map((f) => (f.kind === 'pathResponse' ? f.data[0] : -1)),
    [3, 4, -1],
    'the newest two responses, then the rest in order',
  );
});

test('a lost frame no longer needed is not queued again (RFC 9000 §13.3)', () => {
  const retired = new Set<number>();
  const q = new ControlQueue({ stillNeeded: (f) => !(f.kind === 'newConnectionId' && retired.has(f.sequenceNumber)) });
  const src = new ControlSource(q);
  q.enqueue({ kind: 'newConnectionId', sequenceNumber: 1, retirePriorTo: 0, connectionId: new Uint8Array([1]), statelessResetToken: new Uint8Array(16) });
  q.enqueue({ kind: 'newConnectionId', sequenceNumber: 2, retirePriorTo: 0, connectionId: new Uint8Array([2]), statelessResetToken: new Uint8Array(16) });
  const p = writeOne(src, 'oneRtt', 1000).packet(0);
  retired.add(1);
  losePacket(src, p);
  assert.equal(
    writeOne(src, 'oneRtt', 1000).frames().map((f) => (f.kind === 'newConnectionId' ? f.sequenceNumber : -1)),
    [2],
  );
});

test('cancel removes queued frames and forgets matching frames in flight', () => {
  const q = new ControlQueue();
  const src = new ControlSource(q);
  q.enqueue({ kind: 'stopSending', streamId: 4, applicationErrorCode: 0n });
  const p = writeOne(src, 'oneRtt', 100).packet(0);
  q.enqueue({ kind: 'resetStream', streamId: 4, applicationErrorCode: 0n, finalSize: 0 });
  q.enqueue(retire(9));
  assert.is(
    q.cancel((f) => (f.kind === 'stopSending' || f.kind === 'resetStream') && f.streamId === 4),
    1,
  );
  losePacket(src, p);
  assert.equal(seqs(writeOne(src, 'oneRtt', 100).frames()), [9]);
});

test('order is strict: a head frame not allowed at the level, or too large, stops the packet', () => {
  const q = new ControlQueue();
  const src = new ControlSource(q);
  q.enqueue({ kind: 'handshakeDone' }); // 1-RTT only
  q.enqueue({ kind: 'stopSending', streamId: 0, applicationErrorCode: 0n }); // 0-RTT allowed
  assert.not.ok(src.hasPending('zeroRtt'), 'HANDSHAKE_DONE cannot go in 0-RTT, and nothing overtakes it');
  assert.is(writeOne(src, 'zeroRtt', 100).committed.length, 0);
  assert.not.ok(src.hasPending('handshake'));
  assert.ok(src.hasPending('oneRtt'));
  q.enqueue({ kind: 'newToken', token: new Uint8Array(50) });
  const w = writeOne(src, 'oneRtt', 10);
  assert.equal(w.frames().map((f) => f.kind), ['handshakeDone', 'stopSending']);
  assert.equal(writeOne(src, 'oneRtt', 52).frames().map((f) => f.kind), ['newToken']);
});


test('a packet with PATH_CHALLENGE or PATH_RESPONSE is padded after its frames so its datagram reaches 1200 bytes, within the room the packet has', () => {
  for (const kind of ['pathChallenge', 'pathResponse'] as const) {
    const q = new ControlQueue();
    const src = new ControlSource(q);
    q.enqueue({ kind, data: new Uint8Array(8).fill(5) });
    q.enqueue(retire(1));
    const w = writeOne(src, 'oneRtt', 1500);
    const frames = w.frames();
    assert.equal(frames.map((f) => f.kind), [kind, 'retireConnectionId', 'padding']);
    // 1200 minus the smallest short header (2) and the AEAD tag (16): the frames fill at least 1182 bytes.
    assert.ok(w.offset >= PATH_VALIDATION_MIN_FRAME_BYTES && w.offset < PATH_VALIDATION_MIN_FRAME_BYTES + 20, `${w.offset} bytes`);
    // A small room (the amplification budget): as much padding as fits, no more.
    const q2 = new ControlQueue();
    const src2 = new ControlSource(q2);
    q2.enqueue({ kind, data: new Uint8Array(8).fill(5) });
    const small = writeOne(src2, 'oneRtt', 300);
    assert.is(small.offset, 300);
  }
  // Other control frames are not padded.
  const q3 = new ControlQueue();
  const src3 = new ControlSource(q3);
  q3.enqueue(retire(1));
  assert.is(writeOne(src3, 'oneRtt', 1500).offset, 2);
});

test.run();
