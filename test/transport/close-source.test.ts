import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CloseSource, truncateReason } from '../../src/transport/sources/close-source.js';
import { PingSource } from '../../src/transport/sources/ping-source.js';
import { TransportErrorCode } from '../../src/wire/errors.js';
import type { ConnectionCloseFrame } from '../../src/wire/frames/types.js';
import { losePacket, writeOne } from '../support/outbound-harness.js';

function closeOf(w: ReturnType<typeof writeOne>): ConnectionCloseFrame {
  const frames = w.frames();
  assert.is(frames.length, 1);
  assert.is(frames[0].kind, 'connectionClose');
  return frames[0] as ConnectionCloseFrame;
}

const text = (b: Uint8Array): string => new TextDecoder().decode(b);

test('CONNECTION_CLOSE is pending once at each level the connection names, and written once per level', () => {
  const src = new CloseSource();
  assert.not.ok(src.hasPending('initial'));
  src.close({ kind: 'transport', errorCode: TransportErrorCode.PROTOCOL_VIOLATION, frameType: 0x08, reason: 'bad' }, ['initial', 'handshake']);
  assert.ok(src.hasPending('initial') && src.hasPending('handshake'));
  assert.not.ok(src.hasPending('oneRtt'));
  const w = writeOne(src, 'handshake', 100);
  const f = closeOf(w);
  assert.equal(
    { application: f.application, code: f.errorCode, type: f.frameType, reason: text(f.reason) },
    { application: false, code: BigInt(TransportErrorCode.PROTOCOL_VIOLATION), type: 0x08, reason: 'bad' },
  );
  assert.is(w.committed[0].ackEliciting, false, 'CONNECTION_CLOSE is not ack-eliciting');
  assert.not.ok(src.hasPending('handshake'));
  assert.ok(src.hasPending('initial'));
  losePacket(src, w.packet(0));
  assert.not.ok(src.hasPending('handshake'), 'not retransmitted on loss (RFC 9000 §13.3)');
  src.resend();
  assert.ok(src.hasPending('handshake'), 'armed again when the closing connection answers a packet');
});

test('an application close becomes a transport APPLICATION_ERROR close with no reason in Initial and Handshake packets', () => {
  const src = new CloseSource();
  src.close({ kind: 'application', errorCode: 0x10cn, reason: 'secret application state' }, ['initial', 'handshake', 'oneRtt']);
  for (const level of ['initial', 'handshake'] as const) {
    const f = closeOf(writeOne(src, level, 100));
    assert.is(f.application, false, level);
    assert.is(f.errorCode, BigInt(TransportErrorCode.APPLICATION_ERROR));
    assert.is(f.frameType, 0);
    assert.is(f.reason.length, 0, 'the reason phrase is cleared');
  }
  const app = closeOf(writeOne(src, 'oneRtt', 100));
  assert.is(app.application, true);
  assert.is(app.errorCode, 0x10cn);
  assert.is(text(app.reason), 'secret application state');
});

test('the reason phrase is truncated to the room, on a UTF-8 character boundary', () => {
  const src = new CloseSource();
  const reason = 'é'.repeat(100); // 200 bytes, 2 per character
  src.close({ kind: 'application', errorCode: 1n, reason }, ['oneRtt']);
  for (const room of [200, 70, 66, 10, 4]) {
    src.resend();
    const w = writeOne(src, 'oneRtt', room);
    assert.ok(w.offset <= room && w.guardIntact(), `room ${room}`);
    const f = closeOf(w);
    assert.ok(reason.startsWith(text(f.reason)), 'a prefix of whole characters');
    assert.is(f.reason.length % 2, 0);
    assert.ok(room - w.offset <= 2, `room ${room}: ${room - w.offset} bytes unused`);
  }
  src.resend();
  assert.is(writeOne(src, 'oneRtt', 2).committed.length, 0, 'even an empty phrase (3 bytes) does not fit 2 bytes');
  assert.ok(src.hasPending('oneRtt'), 'still pending');
  assert.equal(truncateReason(new Uint8Array([0x61, 0xe2, 0x82, 0xac]), 3), new Uint8Array([0x61]));
});

test('PING is written once per packet for each request, ack-eliciting, and not repeated when lost', () => {
  const ping = new PingSource();
  let wakes = 0;
  ping.pending$.subscribe(() => wakes++);
  ping.request('handshake', 2);
  assert.is(wakes, 1);
  assert.not.ok(ping.hasPending('oneRtt'));
  const w1 = writeOne(ping, 'handshake', 100);
  assert.equal(w1.frames(), [{ kind: 'ping' }]);
  assert.equal(w1.committed, [{ length: 1, sent: { kind: 'ping' }, ackEliciting: true }]);
  assert.ok(ping.hasPending('handshake'));
  writeOne(ping, 'handshake', 100);
  assert.not.ok(ping.hasPending('handshake'));
  losePacket(ping, w1.packet(0));
  assert.not.ok(ping.hasPending('handshake'));
  assert.is(writeOne(ping, 'handshake', 0).committed.length, 0);
});

test.run();
