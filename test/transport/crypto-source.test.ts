import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CryptoSource } from '../../src/transport/sources/crypto-source.js';
import type { CryptoFrame } from '../../src/wire/frames/types.js';
import { ackPacket, losePacket, writeOne } from '../support/outbound-harness.js';

function tls(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 13 + seed) & 0xff;
  return b;
}

function cryptoFrames(w: ReturnType<typeof writeOne>): CryptoFrame[] {
  return w.frames().map((f) => {
    assert.is(f.kind, 'crypto');
    return f as CryptoFrame;
  });
}

test('CRYPTO frames are cut at flush time to the room left, never beyond it', () => {
  const src = new CryptoSource();
  const data = tls(5000);
  src.append('handshake', data);
  let offset = 0;
  for (const room of [1162, 1162, 37, 900, 3]) {
    const w = writeOne(src, 'handshake', room);
    assert.ok(w.offset <= room && w.guardIntact());
    for (const f of cryptoFrames(w)) {
      assert.is(f.offset, offset, 'contiguous');
      assert.equal(f.data, data.subarray(offset, offset + f.data.length));
      offset += f.data.length;
    }
    if (room >= 10) assert.ok(room - w.offset <= 2, `room ${room} left ${room - w.offset} bytes unused`);
  }
  assert.is(writeOne(src, 'handshake', 3).committed.length, 0, '3 bytes cannot hold a CRYPTO frame with data');
});

test('lost CRYPTO data is re-sent first, lowest offset first, and acknowledged data is released', () => {
  const src = new CryptoSource();
  const data = tls(3000);
  src.append('initial', data);
  const p0 = writeOne(src, 'initial', 1000).packet(0);
  const p1 = writeOne(src, 'initial', 1000).packet(1);
  const p2 = writeOne(src, 'initial', 1000).packet(2);
  let wakes = 0;
  src.pending$.subscribe(() => wakes++);
  losePacket(src, p1);
  losePacket(src, p0);
  assert.is(wakes, 2);
  ackPacket(src, p2);
  const len = (p: typeof p0): number => (p.frames[0].kind === 'crypto' ? p.frames[0].length : -1);
  const [a, b, c] = [len(p0), len(p1), len(p2)];
  const w = writeOne(src, 'initial', 3200);
  const frames = cryptoFrames(w);
  assert.equal(
    frames.map((f) => [f.offset, f.data.length]),
    [
      [0, a + b], // the two lost ranges, merged, lowest offset first
      [a + b + c, 3000 - (a + b + c)], // then the data never sent; the acknowledged range is skipped
    ],
  );
  for (const f of frames) assert.equal(f.data, data.subarray(f.offset, f.offset + f.data.length));
  ackPacket(src, w.packet(3));
  assert.ok(src.stream('initial').allAcknowledged);
  assert.not.ok(src.hasPending('initial'));
});

test('each level has its own CRYPTO stream and offsets; 0-RTT carries none', () => {
  const src = new CryptoSource();
  src.append('initial', tls(100, 1));
  src.append('handshake', tls(200, 2));
  assert.ok(src.hasPending('initial') && src.hasPending('handshake'));
  assert.not.ok(src.hasPending('oneRtt') || src.hasPending('zeroRtt'));
  assert.is(writeOne(src, 'zeroRtt', 1000).committed.length, 0);
  const h = cryptoFrames(writeOne(src, 'handshake', 1000));
  assert.equal(h.map((f) => [f.offset, f.data.length]), [[0, 200]]);
  assert.equal(h[0].data, tls(200, 2));
});

test('discarding a level drops its data and losses for it are ignored (RFC 9001 §4.9)', () => {
  const src = new CryptoSource();
  src.append('initial', tls(500));
  const p = writeOne(src, 'initial', 300).packet(0);
  src.stream('initial').discard();
  losePacket(src, p);
  assert.not.ok(src.hasPending('initial'));
  assert.is(writeOne(src, 'initial', 1000).committed.length, 0);
});

test('a frame cap stops CRYPTO writing after the committed frame that filled the packet', () => {
  const src = new CryptoSource();
  src.append('initial', tls(100));
  const p = writeOne(src, 'initial', 1000).packet(0);
  losePacket(src, p);
  src.append('initial', tls(100, 9));
  // Lost [0,100) and new [100,200) are two frames; with a cap of one frame only the first goes.
  const w = writeOne(src, 'initial', 1000, { maxFrames: 1 });
  assert.equal(cryptoFrames(w).map((f) => [f.offset, f.data.length]), [[0, 100]]);
});

test.run();
