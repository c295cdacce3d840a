import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RecvBuffer, ReassemblyBuffer, SMALL_SEGMENT_LENGTH } from '../../src/transport/recv-buffer.js';
import { QuicError, TransportErrorCode } from '../../src/wire/errors.js';
import { FrameType } from '../../src/wire/frames/types.js';

const BIG = 1 << 20;

function bytes(from: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (from + i) & 0xff;
  return out;
}

function readAll(b: { read(max?: number): Uint8Array | undefined }, max?: number): number[] {
  const out: number[] = [];
  for (let c = b.read(max); c !== undefined; c = b.read(max)) out.push(...c);
  return out;
}

function expectError(fn: () => unknown, code: number, frameType?: number): QuicError {
  try {
    fn();
  } catch (e) {
    assert.instance(e, QuicError);
    const q = e as QuicError;
    assert.is(q.code, code, q.message);
    if (frameType !== undefined) assert.is(q.frameType, frameType);
    return q;
  }
  assert.unreachable('expected a QuicError');
  throw new Error('unreachable');
}

test('in-order frames are readable at once, in order, and read() honours its maximum length', () => {
  const b = new RecvBuffer();
  b.insert(0, bytes(0, 10), false, BIG);
  b.insert(10, bytes(10, 5), false, BIG);
  assert.is(b.readableBytes, 15);
  const first = b.read(4);
  assert.equal([...(first as Uint8Array)], [0, 1, 2, 3]);
  assert.is(b.readOffset, 4);
  assert.equal(readAll(b, 3), [4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
  assert.is(b.readOffset, 15);
  assert.is(b.read(), undefined);
  assert.is(b.bufferedBytes, 0);
});

test('data after a hole is held until the hole is filled', () => {
  const b = new RecvBuffer();
  b.insert(5, bytes(5, 5), false, BIG);
  assert.is(b.readableBytes, 0);
  assert.is(b.read(), undefined);
  assert.is(b.bufferedBytes, 5);
  b.insert(0, bytes(0, 5), false, BIG);
  assert.is(b.readableBytes, 10);
  assert.equal(readAll(b), [...bytes(0, 10)]);
});

test('overlapping and duplicate frames store only bytes not received before', () => {
  const b = new RecvBuffer();
  assert.is(b.insert(10, bytes(10, 10), false, BIG).newBytes, 10);
  assert.is(b.insert(10, bytes(10, 10), false, BIG).newBytes, 0);
  assert.is(b.insert(5, bytes(5, 10), false, BIG).newBytes, 5);
  assert.is(b.insert(15, bytes(15, 10), false, BIG).newBytes, 5);
  assert.is(b.insert(0, bytes(0, 30), false, BIG).newBytes, 5 + 5);
  assert.is(b.bufferedBytes, 30);
  assert.equal(readAll(b), [...bytes(0, 30)]);
  // Bytes below the read offset are dropped too.
  assert.is(b.insert(0, bytes(0, 31), false, BIG).newBytes, 1);
});

test('a frame spanning several holes fills each of them', () => {
  const b = new RecvBuffer();
  b.insert(2, bytes(2, 2), false, BIG);
  b.insert(6, bytes(6, 2), false, BIG);
  b.insert(10, bytes(10, 2), false, BIG);
  assert.is(b.insert(0, bytes(0, 14), false, BIG).newBytes, 8);
  assert.equal(readAll(b), [...bytes(0, 14)]);
});

test('inserted data is copied: the packet buffer can be reused at once', () => {
  // Pieces of 600 bytes: too large to be coalesced (which would copy them anyway).
  const b = new RecvBuffer();
  const packet = bytes(0, 1800);
  b.insert(1200, packet.subarray(1200), false, BIG);
  b.insert(0, packet.subarray(0, 600), false, BIG);
  b.insert(600, packet.subarray(600, 1200), false, BIG);
  packet.fill(0xee);
  assert.equal(readAll(b), [...bytes(0, 1800)]);
});

test('a Node Buffer (whose slice() is a view) is copied as well', () => {
  const b = new RecvBuffer();
  const packet = Buffer.from(bytes(0, 1200));
  b.insert(600, packet.subarray(600), false, BIG); // beyond everything: the append path
  b.insert(0, packet.subarray(0, 700), false, BIG); // among segments: the splice path
  packet.fill(0xee);
  assert.equal(readAll(b), [...bytes(0, 1200)]);
});

test('chunks handed out never change when later tiny frames are coalesced behind them', () => {
  const b = new RecvBuffer();
  b.insert(0, bytes(0, 3), false, BIG);
  const chunk = b.read() as Uint8Array;
  const copy = [...chunk];
  for (let i = 3; i < 200; i++) b.insert(i, new Uint8Array([0xaa]), false, BIG);
  assert.equal([...chunk], copy);
  assert.is(b.readableBytes, 197);
});

test('each byte is charged to connection flow control once: increments sum to the highest offset', () => {
  const b = new RecvBuffer();
  assert.is(b.insert(100, bytes(100, 50), false, BIG).flowControlIncrement, 150);
  assert.is(b.insert(0, bytes(0, 100), false, BIG).flowControlIncrement, 0);
  assert.is(b.insert(140, bytes(140, 20), false, BIG).flowControlIncrement, 10);
  assert.is(b.insert(140, bytes(140, 20), false, BIG).flowControlIncrement, 0);
  assert.is(b.highestOffset, 160);
});

test('data ending beyond the stream flow-control limit is FLOW_CONTROL_ERROR; ending exactly at it is accepted', () => {
  const b = new RecvBuffer();
  b.insert(0, bytes(0, 100), false, 100);
  expectError(() => b.insert(100, bytes(100, 1), false, 100), TransportErrorCode.FLOW_CONTROL_ERROR);
  expectError(() => new RecvBuffer().insert(50, bytes(50, 60), false, 100), TransportErrorCode.FLOW_CONTROL_ERROR);
});

test('a FIN fixes the final size: states go Recv → Size Known → Data Recvd → Data Read', () => {
  const b = new RecvBuffer();
  assert.is(b.state, 'recv');
  b.insert(5, bytes(5, 5), true, BIG);
  assert.is(b.state, 'sizeKnown');
  assert.is(b.finalSize, 10);
  assert.not.ok(b.allDataReceived);
  b.insert(0, bytes(0, 5), false, BIG);
  assert.is(b.state, 'dataRecvd');
  assert.ok(b.allDataReceived);
  b.read(7);
  assert.is(b.state, 'dataRecvd');
  b.read();
  assert.is(b.state, 'dataRead');
  assert.ok(b.allDataRead);
  assert.ok(b.isTerminal);
  // Retransmissions after everything was read change nothing.
  assert.is(b.insert(0, bytes(0, 10), true, BIG).newBytes, 0);
  assert.is(b.state, 'dataRead');
});

test('an empty STREAM frame with FIN at offset 0 ends an empty stream', () => {
  const b = new RecvBuffer();
  b.insert(0, new Uint8Array(0), true, 0);
  assert.is(b.state, 'dataRead');
  assert.is(b.finalSize, 0);
});

test('a FIN at a different offset than the known final size is FINAL_SIZE_ERROR', () => {
  const b = new RecvBuffer();
  b.insert(0, bytes(0, 10), true, BIG);
  expectError(() => b.insert(0, bytes(0, 9), true, BIG), TransportErrorCode.FINAL_SIZE_ERROR);
  expectError(() => b.insert(0, bytes(0, 11), true, BIG), TransportErrorCode.FINAL_SIZE_ERROR);
});

test('data at or beyond the final size is FINAL_SIZE_ERROR, even empty data past it', () => {
  const b = new RecvBuffer();
  b.insert(0, bytes(0, 10), true, BIG);
  expectError(() => b.insert(8, bytes(8, 3), false, BIG), TransportErrorCode.FINAL_SIZE_ERROR);
  expectError(() => b.insert(11, new Uint8Array(0), false, BIG), TransportErrorCode.FINAL_SIZE_ERROR);
  // Empty data exactly at the final size is not beyond it.
  b.insert(10, new Uint8Array(0), false, BIG);
});

test('a FIN below data already received is FINAL_SIZE_ERROR', () => {
  const b = new RecvBuffer();
  b.insert(20, bytes(20, 10), false, BIG);
  expectError(() => b.insert(0, bytes(0, 25), true, BIG), TransportErrorCode.FINAL_SIZE_ERROR);
});

test('final size errors take precedence over the flow-control limit', () => {
  const b = new RecvBuffer();
  b.insert(0, bytes(0, 10), true, 10);
  expectError(() => b.insert(10, bytes(10, 10), false, 10), TransportErrorCode.FINAL_SIZE_ERROR);
});

test('RESET_STREAM discards buffered data, releases credit up to the final size and enters Reset Recvd', () => {
  const b = new RecvBuffer();
  b.insert(0, bytes(0, 10), false, BIG);
  b.insert(20, bytes(20, 10), false, BIG);
  b.read(4);
  assert.is(b.takeConsumed(), 4);
  const r = b.reset(50, BIG);
  assert.equal(r, { flowControlIncrement: 20, reset: true });
  assert.is(b.state, 'resetRecvd');
  assert.ok(b.isReset);
  assert.is(b.bufferedBytes, 0);
  assert.is(b.readableBytes, 0);
  assert.is(b.read(), undefined);
  assert.is(b.highestOffset, 50);
  assert.is(b.finalSize, 50);
  assert.is(b.consumedOffset, 50);
  assert.is(b.takeConsumed(), 46);
  assert.is(b.readOffset, 4);
  // Late data within the final size is accepted and dropped; beyond it is an error.
  assert.equal(b.insert(30, bytes(30, 20), true, BIG), { flowControlIncrement: 0, newBytes: 0 });
  expectError(() => b.insert(45, bytes(45, 10), false, BIG), TransportErrorCode.FINAL_SIZE_ERROR);
  // A repeated RESET_STREAM is ignored; the application then learns of the reset.
  assert.equal(b.reset(50, BIG), { flowControlIncrement: 0, reset: false });
  b.acknowledgeReset();
  assert.is(b.state, 'resetRead');
  assert.ok(b.isTerminal);
});

test('RESET_STREAM with a final size that differs from the known one is FINAL_SIZE_ERROR', () => {
  const b = new RecvBuffer();
  b.insert(0, bytes(0, 10), true, BIG);
  expectError(() => b.reset(11, BIG), TransportErrorCode.FINAL_SIZE_ERROR, FrameType.RESET_STREAM);
  const c = new RecvBuffer();
  c.reset(10, BIG);
  expectError(() => c.reset(12, BIG), TransportErrorCode.FINAL_SIZE_ERROR, FrameType.RESET_STREAM);
  expectError(() => c.insert(0, bytes(0, 12), true, BIG), TransportErrorCode.FINAL_SIZE_ERROR);
});

test('RESET_STREAM with a final size below data already received is FINAL_SIZE_ERROR', () => {
  const b = new RecvBuffer();
  b.insert(30, bytes(30, 10), false, BIG);
  expectError(() => b.reset(39, BIG), TransportErrorCode.FINAL_SIZE_ERROR, FrameType.RESET_STREAM);
});

test('RESET_STREAM with a final size beyond the flow-control limit is FLOW_CONTROL_ERROR', () => {
  const b = new RecvBuffer();
  expectError(() => b.reset(101, 100), TransportErrorCode.FLOW_CONTROL_ERROR, FrameType.RESET_STREAM);
});

test('RESET_STREAM in Data Recvd interrupts delivery; after Data Read it is ignored', () => {
  const b = new RecvBuffer();
  b.insert(0, bytes(0, 10), true, BIG);
  assert.is(b.state, 'dataRecvd');
  assert.ok(b.reset(10, BIG).reset);
  assert.is(b.state, 'resetRecvd');
  assert.is(b.read(), undefined);
  const c = new RecvBuffer();
  c.insert(0, bytes(0, 10), true, BIG);
  readAll(c);
  assert.equal(c.reset(10, BIG), { flowControlIncrement: 0, reset: false });
  assert.is(c.state, 'dataRead');
});

test('retransmitted data that differs from buffered data is PROTOCOL_VIOLATION and changes nothing', () => {
  const b = new RecvBuffer();
  b.insert(10, bytes(10, 10), false, BIG);
  const changed = bytes(5, 10);
  changed[7] ^= 1; // offset 12
  const e = expectError(() => b.insert(5, changed, false, BIG), TransportErrorCode.PROTOCOL_VIOLATION);
  assert.match(e.reason, /offset 12/);
  assert.is(b.bufferedBytes, 10);
  assert.is(b.highestOffset, 20);
  const lax = new RecvBuffer({ checkRetransmittedData: false });
  lax.insert(10, bytes(10, 10), false, BIG);
  assert.is(lax.insert(5, changed, false, BIG).newBytes, 5);
});

test('many tiny fragments separated by holes exceed the fragmentation bound (PROTOCOL_VIOLATION)', () => {
  const b = new RecvBuffer({ fragmentAllowance: 16 });
  expectError(() => {
    for (let off = 0; off < 200; off += 2) b.insert(off + 1, new Uint8Array([1]), false, BIG);
  }, TransportErrorCode.PROTOCOL_VIOLATION);
});

test('tiny frames in order, or touching, coalesce into few segments and never hit the fragmentation bound', () => {
  const r = new ReassemblyBuffer({ fragmentAllowance: 0 });
  for (let i = 0; i < 20000; i++) r.insert(i, new Uint8Array([i & 0xff]), FrameType.STREAM);
  assert.is(r.bufferedBytes, 20000);
  assert.ok(r.segmentCount <= 20000 / (SMALL_SEGMENT_LENGTH * 2), `${r.segmentCount} segments`);
  // Touching tiny frames arriving backwards coalesce with the segment after them.
  const back = new ReassemblyBuffer({ fragmentAllowance: 1 });
  for (let i = 3000; i >= 1; i--) back.insert(i, new Uint8Array([i & 0xff]), FrameType.STREAM);
  assert.is(back.bufferedBytes, 3000);
  back.insert(0, new Uint8Array([0]), FrameType.STREAM);
  const all = readAll(back);
  assert.is(all.length, 3001);
  assert.ok(all.every((v, i) => v === (i & 0xff)));
});

test('large in-order frames are appended without coalescing copies', () => {
  const r = new ReassemblyBuffer();
  for (let i = 0; i < 100; i++) r.insert(i * 1200, bytes(i * 1200, 1200), FrameType.STREAM);
  assert.is(r.segmentCount, 100);
  assert.is(r.readableBytes, 120000);
});

test('stopReading drops readable bytes, drops later ones as they become contiguous, and still reaches Data Read', () => {
  const b = new RecvBuffer();
  b.insert(0, bytes(0, 10), false, BIG);
  b.insert(20, bytes(20, 10), true, BIG);
  assert.is(b.stopReading(), 10);
  assert.ok(b.readingStopped);
  assert.is(b.readOffset, 10);
  assert.is(b.takeConsumed(), 10);
  assert.is(b.read(), undefined);
  b.insert(10, bytes(10, 10), false, BIG);
  assert.is(b.bufferedBytes, 0);
  assert.is(b.state, 'dataRead');
  assert.is(b.takeConsumed(), 20);
});

test('takeConsumed reports each released byte once', () => {
  const b = new RecvBuffer();
  b.insert(0, bytes(0, 100), false, BIG);
  assert.is(b.takeConsumed(), 0);
  b.read(30);
  assert.is(b.takeConsumed(), 30);
  assert.is(b.takeConsumed(), 0);
  b.read();
  assert.is(b.takeConsumed(), 70);
});

test('insertFrame reports the exact STREAM frame type in its errors', () => {
  const b = new RecvBuffer();
  expectError(
    () => b.insertFrame({ kind: 'stream', streamId: 0, offset: 8, data: bytes(0, 4), fin: true, explicitLength: false }, 10),
    TransportErrorCode.FLOW_CONTROL_ERROR,
    0x08 | 0x04 | 0x01,
  );
  expectError(
    () => b.insertFrame({ kind: 'stream', streamId: 0, offset: 0, data: bytes(0, 11), fin: false, explicitLength: true }, 10),
    TransportErrorCode.FLOW_CONTROL_ERROR,
    0x08 | 0x02,
  );
});

test('an offset that is not a non-negative safe integer is refused with INTERNAL_ERROR', () => {
  const b = new RecvBuffer();
  expectError(() => b.insert(-1, bytes(0, 1), false, BIG), TransportErrorCode.INTERNAL_ERROR);
  expectError(() => b.insert(Number.NaN, bytes(0, 1), false, BIG), TransportErrorCode.INTERNAL_ERROR);
  expectError(() => b.reset(1.5, BIG), TransportErrorCode.INTERNAL_ERROR);
});

test.run();
