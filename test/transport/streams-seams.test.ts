// The hooks the stream manager relies on in the modules it builds on: StreamSource reports each
// committed STREAM frame, FlowController each committed flow control frame, ControlQueue each
// acknowledged control frame, and StreamIdSpace reports the exact frame type in its errors.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ControlQueue, type ControlFrame } from '../../src/transport/control-queue.js';
import { FlowController, type FlowControlFrame, type FlowControlParameters } from '../../src/transport/flow-control.js';
import { ControlSource } from '../../src/transport/sources/control-source.js';
import { FlowControlSource } from '../../src/transport/sources/flow-control-source.js';
import { StreamSource } from '../../src/transport/sources/stream-source.js';
import { StreamIdSpace } from '../../src/transport/stream-id.js';
import { QuicError, TransportErrorCode } from '../../src/wire/errors.js';
import { ackPacket, losePacket, writeOne } from '../support/outbound-harness.js';

const params = (o: Partial<FlowControlParameters> = {}): FlowControlParameters => ({
  initialMaxData: 1 << 20,
  initialMaxStreamDataBidiLocal: 1 << 20,
  initialMaxStreamDataBidiRemote: 1 << 20,
  initialMaxStreamDataUni: 1 << 20,
  initialMaxStreamsBidi: 10,
  initialMaxStreamsUni: 10,
  ...o,
});

test('StreamSource.onFrameSent reports every committed STREAM frame with its FIN, retransmissions included, and nothing when no frame fits', () => {
  const reports: [number, boolean][] = [];
  const flow = new FlowController({ role: 'client', local: params(), peer: params() });
  const src = new StreamSource({ flow, control: new ControlQueue(), onFrameSent: (id, fin) => reports.push([id, fin]) });
  src.open(0).write(new Uint8Array(100));
  src.get(0)?.end();
  const tiny = writeOne(src, 'oneRtt', 2); // no room for any STREAM frame
  assert.is(tiny.committed.length, 0);
  assert.equal(reports, []);
  const a = writeOne(src, 'oneRtt', 60);
  const b = writeOne(src, 'oneRtt', 200);
  assert.equal(reports, [
    [0, false],
    [0, true],
  ]);
  losePacket(src, b.packet(2));
  writeOne(src, 'oneRtt', 200);
  assert.equal(reports[2], [0, true], 'the retransmitted FIN is reported again');
  ackPacket(src, a.packet(1));
});

test('FlowController.onFrameSent reports each flow control frame once it is committed, not when it is queued', () => {
  const sent: FlowControlFrame[] = [];
  const flow = new FlowController({ role: 'client', local: params(), peer: params({ initialMaxStreamDataBidiRemote: 0 }), onFrameSent: (f) => sent.push(f) });
  const source = new FlowControlSource(flow);
  const id = flow.openLocalStream(true) as number;
  flow.onSendBlocked(id);
  assert.equal(sent, [], 'queued only');
  writeOne(source, 'oneRtt', 100);
  assert.equal(sent, [{ kind: 'streamDataBlocked', streamId: id, limit: 0 }]);
});

test('ControlQueue.acknowledged$ emits an acknowledged frame once — whichever copy is acknowledged — and never for PATH_RESPONSE', () => {
  const queue = new ControlQueue();
  const source = new ControlSource(queue);
  const acked: ControlFrame[] = [];
  queue.acknowledged$.subscribe((f) => acked.push(f));
  queue.enqueue({ kind: 'resetStream', streamId: 4, applicationErrorCode: 9n, finalSize: 100 });
  queue.enqueue({ kind: 'pathResponse', data: new Uint8Array(8) });
  const first = writeOne(source, 'oneRtt', 200).packet(1);
  losePacket(source, first);
  assert.equal(acked, []);
  const second = writeOne(source, 'oneRtt', 200).packet(2);
  // A late acknowledgement of the copy declared lost: the same information reached the peer.
  ackPacket(source, first);
  assert.equal(acked, [{ kind: 'resetStream', streamId: 4, applicationErrorCode: 9n, finalSize: 100 }]);
  ackPacket(source, second);
  assert.is(acked.length, 1, 'once');
});

test('StreamIdSpace errors carry the exact frame type given, or the kind’s base type by default', () => {
  const ids = new StreamIdSpace({ role: 'server', maxConcurrentPeerBidiStreams: 1, maxConcurrentPeerUniStreams: 1 });
  const typeOf = (f: () => void): number | undefined => {
    try {
      f();
    } catch (e) {
      assert.instance(e, QuicError);
      return (e as QuicError).frameType;
    }
    return undefined;
  };
  assert.is(typeOf(() => ids.classify(4, 'stream', 0x0f)), 0x0f);
  assert.is(typeOf(() => ids.classify(4, 'stream')), 0x08);
  assert.is(typeOf(() => ids.classify(1, 'stream', 0x0b)), 0x0b, 'a stream of ours not opened');
  try {
    ids.classify(4, 'stream');
  } catch (e) {
    assert.is((e as QuicError).code, TransportErrorCode.STREAM_LIMIT_ERROR);
  }
});

test.run();
