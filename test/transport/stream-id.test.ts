import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import {
  StreamIdSpace,
  canReceiveOn,
  canSendOn,
  checkStreamFrameDirection,
  isBidirectionalStream,
  isLocallyInitiated,
  isUnidirectionalStream,
  openedStreamIds,
  streamIdFor,
  streamIndex,
  streamInitiator,
  type EndpointRole,
  type StreamFrameKind,
} from '../../src/transport/stream-id.js';
import { QuicError, TransportErrorCode } from '../../src/wire/errors.js';
import { FrameType } from '../../src/wire/frames/types.js';

function expectError(fn: () => unknown, code: number, frameType?: number): void {
  try {
    fn();
  } catch (e) {
    assert.instance(e, QuicError);
    assert.is((e as QuicError).code, code, (e as QuicError).message);
    if (frameType !== undefined) assert.is((e as QuicError).frameType, frameType);
    return;
  }
  assert.unreachable('expected a QuicError');
}

function space(role: EndpointRole, peerBidi = 10, peerUni = 10, localBidi = 10, localUni = 10): StreamIdSpace {
  return new StreamIdSpace({
    role,
    maxConcurrentPeerBidiStreams: peerBidi,
    maxConcurrentPeerUniStreams: peerUni,
    peerMaxStreamsBidi: localBidi,
    peerMaxStreamsUni: localUni,
  });
}

test('the two low bits give initiator and direction (RFC 9000 §2.1 Table 1)', () => {
  assert.equal(
    [0, 1, 2, 3].map((id) => [streamInitiator(id), isBidirectionalStream(id), isUnidirectionalStream(id)]),
    [
      ['client', true, false],
      ['server', true, false],
      ['client', false, true],
      ['server', false, true],
    ],
  );
  assert.is(streamIdFor('client', true, 5), 20);
  assert.is(streamIdFor('server', true, 5), 21);
  assert.is(streamIdFor('client', false, 5), 22);
  assert.is(streamIdFor('server', false, 5), 23);
  assert.is(streamIndex(23), 5);
  assert.ok(isLocallyInitiated(21, 'server'));
  assert.not.ok(isLocallyInitiated(21, 'client'));
});

test('stream IDs beyond 2^32 keep their exact index and type', () => {
  const id = 2 ** 52 + 7; // server-initiated unidirectional
  assert.is(streamIndex(id), 2 ** 50 + 1);
  assert.is(streamInitiator(id), 'server');
  assert.ok(isUnidirectionalStream(id));
  assert.is(streamIdFor('server', false, 2 ** 50 + 1), id);
});

test('each endpoint sends on bidirectional streams and its own unidirectional ones, and receives on bidirectional and the peer’s', () => {
  assert.equal([0, 1, 2, 3].map((id) => canSendOn('client', id)), [true, true, true, false]);
  assert.equal([0, 1, 2, 3].map((id) => canReceiveOn('client', id)), [true, true, false, true]);
  assert.equal([0, 1, 2, 3].map((id) => canSendOn('server', id)), [true, true, false, true]);
  assert.equal([0, 1, 2, 3].map((id) => canReceiveOn('server', id)), [true, true, true, false]);
});

test('STREAM, RESET_STREAM and STREAM_DATA_BLOCKED for our own unidirectional stream are STREAM_STATE_ERROR', () => {
  expectError(() => checkStreamFrameDirection('client', 2, 'stream'), TransportErrorCode.STREAM_STATE_ERROR, FrameType.STREAM);
  expectError(() => checkStreamFrameDirection('client', 6, 'resetStream'), TransportErrorCode.STREAM_STATE_ERROR, FrameType.RESET_STREAM);
  expectError(() => checkStreamFrameDirection('server', 3, 'streamDataBlocked'), TransportErrorCode.STREAM_STATE_ERROR, FrameType.STREAM_DATA_BLOCKED);
  checkStreamFrameDirection('client', 3, 'stream');
  checkStreamFrameDirection('server', 2, 'resetStream');
});

test('MAX_STREAM_DATA and STOP_SENDING for a stream we only receive on are STREAM_STATE_ERROR', () => {
  expectError(() => checkStreamFrameDirection('client', 3, 'maxStreamData'), TransportErrorCode.STREAM_STATE_ERROR, FrameType.MAX_STREAM_DATA);
  expectError(() => checkStreamFrameDirection('server', 2, 'stopSending'), TransportErrorCode.STREAM_STATE_ERROR, FrameType.STOP_SENDING);
  checkStreamFrameDirection('client', 2, 'maxStreamData');
  checkStreamFrameDirection('server', 1, 'stopSending');
});

test('the direction check comes first: a wrong-direction frame for a stream beyond the limit is STREAM_STATE_ERROR', () => {
  const s = space('server', 0, 0);
  expectError(() => s.classify(2 + 4 * 100, 'stopSending'), TransportErrorCode.STREAM_STATE_ERROR);
});

test('any frame for a locally initiated stream we have not opened is STREAM_STATE_ERROR', () => {
  const kinds: StreamFrameKind[] = ['stream', 'resetStream', 'streamDataBlocked', 'maxStreamData', 'stopSending'];
  for (const kind of kinds) expectError(() => space('client').classify(0, kind), TransportErrorCode.STREAM_STATE_ERROR);
  const s = space('client');
  assert.is(s.openLocal(true), 0);
  assert.equal(s.classify(0, 'stream'), { action: 'live' });
  expectError(() => s.classify(4, 'maxStreamData'), TransportErrorCode.STREAM_STATE_ERROR, FrameType.MAX_STREAM_DATA);
  expectError(() => s.classify(2, 'stopSending'), TransportErrorCode.STREAM_STATE_ERROR, FrameType.STOP_SENDING);
});

test('a peer stream at or beyond our advertised limit is STREAM_LIMIT_ERROR; just below it opens', () => {
  const s = space('server', 3, 1);
  assert.equal(s.classify(8, 'stream'), { action: 'open', firstStreamId: 0, count: 3 });
  expectError(() => s.classify(12, 'stream'), TransportErrorCode.STREAM_LIMIT_ERROR, FrameType.STREAM);
  assert.equal(s.classify(2, 'resetStream'), { action: 'open', firstStreamId: 2, count: 1 });
  expectError(() => s.classify(6, 'streamDataBlocked'), TransportErrorCode.STREAM_LIMIT_ERROR, FrameType.STREAM_DATA_BLOCKED);
  expectError(() => space('client', 0, 0).classify(1, 'stopSending'), TransportErrorCode.STREAM_LIMIT_ERROR, FrameType.STOP_SENDING);
});

test('opening a peer stream opens every lower-numbered one of its type, exactly once', () => {
  const s = space('client');
  const v = s.classify(13, 'stream'); // server-initiated bidirectional, index 3
  assert.equal([...openedStreamIds(v)], [1, 5, 9, 13]);
  assert.equal(s.classify(5, 'stream'), { action: 'live' });
  assert.equal([...openedStreamIds(s.classify(17, 'maxStreamData'))], [17]);
  assert.equal([...openedStreamIds(s.classify(5, 'stream'))], []);
  assert.is(s.peerStreamsOpened(true), 5);
  assert.is(s.peerStreamsOpened(false), 0);
  assert.is(s.liveCount(false, true), 5);
});

test('MAX_STREAM_DATA or STOP_SENDING opens a peer bidirectional stream (RFC 9000 §3.2)', () => {
  const s = space('server');
  assert.equal(s.classify(0, 'maxStreamData'), { action: 'open', firstStreamId: 0, count: 1 });
  assert.equal(s.classify(4, 'stopSending'), { action: 'open', firstStreamId: 4, count: 1 });
});

test('frames for a stream closed and forgotten are recognised as closed, local or peer', () => {
  const s = space('server');
  s.classify(0, 'stream');
  s.classify(4, 'stream');
  s.streamClosed(0);
  assert.equal(s.classify(0, 'stream'), { action: 'closed' });
  assert.equal(s.classify(0, 'resetStream'), { action: 'closed' });
  assert.equal(s.classify(4, 'stream'), { action: 'live' });
  assert.not.ok(s.isLive(0));
  const local = s.openLocal(false) as number;
  assert.is(local, 3);
  s.streamClosed(local);
  assert.equal(s.classify(local, 'stopSending'), { action: 'closed' });
  // Closing twice, or a stream never opened, changes nothing.
  s.streamClosed(0);
  s.streamClosed(400);
  assert.is(s.liveCount(false, true), 1);
});

test('local streams open in order up to the peer’s limit, then report STREAMS_BLOCKED with that limit (RFC 9000 §19.11 example)', () => {
  const s = space('server', 10, 10, 0, 3);
  assert.is(s.nextLocalStreamId(false), 3);
  assert.equal([s.openLocal(false), s.openLocal(false), s.openLocal(false)], [3, 7, 11]);
  assert.is(s.openLocal(false), undefined);
  assert.is(s.streamsBlocked(false), 3);
  assert.is(s.localStreamsAvailable(false), 0);
  assert.is(s.nextLocalStreamId(false), 15);
  assert.is(s.openLocal(true), undefined);
  assert.is(s.streamsBlocked(true), 0);
});

test('MAX_STREAMS raises the limit on our streams; one that does not raise it is ignored', () => {
  const s = space('client', 10, 10, 1, 0);
  assert.is(s.openLocal(true), 0);
  assert.is(s.openLocal(true), undefined);
  assert.ok(s.onMaxStreams(true, 3));
  assert.not.ok(s.onMaxStreams(true, 2));
  assert.not.ok(s.onMaxStreams(true, 3));
  assert.is(s.localLimit(true), 3);
  assert.equal([s.openLocal(true), s.openLocal(true), s.openLocal(true)], [4, 8, undefined]);
  assert.is(s.streamsBlocked(true), 3);
  assert.is(s.streamsBlocked(false), 0);
});

test('closing peer streams earns MAX_STREAMS credit once half the window is free, keeping the window open', () => {
  const s = space('server', 4, 4);
  s.classify(12, 'stream'); // opens 0, 4, 8, 12: the limit of 4 is reached
  expectError(() => s.classify(16, 'stream'), TransportErrorCode.STREAM_LIMIT_ERROR);
  s.streamClosed(0);
  assert.is(s.takeMaxStreamsUpdate(true), undefined);
  s.streamClosed(4);
  assert.is(s.takeMaxStreamsUpdate(true), 6);
  assert.is(s.takeMaxStreamsUpdate(true), undefined);
  assert.is(s.peerLimit(true), 6);
  assert.equal(s.classify(20, 'stream'), { action: 'open', firstStreamId: 16, count: 2 });
  expectError(() => s.classify(24, 'stream'), TransportErrorCode.STREAM_LIMIT_ERROR);
  assert.is(s.takeMaxStreamsUpdate(false), undefined);
});

test('STREAMS_BLOCKED from the peer at our limit makes freed credit announced below the threshold', () => {
  const s = space('server', 10, 10);
  s.classify(36, 'stream'); // all 10
  s.streamClosed(0);
  assert.is(s.takeMaxStreamsUpdate(true), undefined);
  s.onStreamsBlocked(true, 10);
  assert.is(s.takeMaxStreamsUpdate(true), 11);
  s.onStreamsBlocked(true, 5); // a stale signal below the limit forces nothing
  s.streamClosed(4);
  assert.is(s.takeMaxStreamsUpdate(true), undefined);
});

test('a window of one announces each closed stream', () => {
  const s = space('client', 1, 1);
  s.classify(3, 'stream');
  s.streamClosed(3);
  assert.is(s.takeMaxStreamsUpdate(false), 2);
});

test('stream counts outside 0..2^60 are refused at construction', () => {
  assert.throws(() => space('client', -1), RangeError);
  assert.throws(() => space('client', 1, 2 ** 61), RangeError);
  assert.throws(() => space('client', 1.5), RangeError);
});

type Action =
  | { kind: 'frame'; bidi: boolean; index: number; frame: StreamFrameKind }
  | { kind: 'close'; pick: number }
  | { kind: 'credit'; bidi: boolean }
  | { kind: 'blocked'; bidi: boolean };

const action: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('frame' as const),
      bidi: fc.boolean(),
      index: fc.integer({ min: 0, max: 24 }),
      frame: fc.constantFrom<StreamFrameKind>('stream', 'resetStream', 'streamDataBlocked', 'maxStreamData', 'stopSending'),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('close' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('credit' as const), bidi: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('blocked' as const), bidi: fc.boolean() }) },
);

test('property: random peer frames never open a stream beyond the advertised limit, implicit opening is exact, the open set stays within the window', () => {
  fc.assert(
    fc.property(
      fc.constantFrom<EndpointRole>('client', 'server'),
      fc.integer({ min: 0, max: 12 }),
      fc.integer({ min: 0, max: 12 }),
      fc.array(action, { minLength: 20, maxLength: 200, size: "max" }),
      (role, windowBidi, windowUni, actions) => {
        const s = space(role, windowBidi, windowUni);
        const peer: EndpointRole = role === 'client' ? 'server' : 'client';
        const model = { bidi: { opened: 0, live: new Set<number>(), limit: windowBidi }, uni: { opened: 0, live: new Set<number>(), limit: windowUni } };
        for (const a of actions) {
          if (a.kind === 'frame') {
            const id = streamIdFor(peer, a.bidi, a.index);
            const m = a.bidi ? model.bidi : model.uni;
            const wrongWay = !a.bidi && (a.frame === 'maxStreamData' || a.frame === 'stopSending');
            let verdict;
            try {
              verdict = s.classify(id, a.frame);
            } catch (e) {
              const code = (e as QuicError).code;
              if (wrongWay) assert.is(code, TransportErrorCode.STREAM_STATE_ERROR);
              else {
                assert.is(code, TransportErrorCode.STREAM_LIMIT_ERROR);
                assert.ok(a.index >= m.limit && a.index >= m.opened);
              }
              continue;
            }
            assert.not.ok(wrongWay);
            assert.ok(a.index < m.limit, `stream index ${a.index} opened beyond the limit ${m.limit}`);
            if (a.index >= m.opened) {
              assert.equal([...openedStreamIds(verdict)], Array.from({ length: a.index + 1 - m.opened }, (_, k) => streamIdFor(peer, a.bidi, m.opened + k)));
              for (let k = m.opened; k <= a.index; k++) m.live.add(k);
              m.opened = a.index + 1;
            } else {
              assert.is(verdict.action, m.live.has(a.index) ? 'live' : 'closed');
            }
          } else if (a.kind === 'close') {
            const all: [boolean, number][] = [...[...model.bidi.live].map((i): [boolean, number] => [true, i]), ...[...model.uni.live].map((i): [boolean, number] => [false, i])];
            if (all.length === 0) continue;
            const [bidi, index] = all[a.pick % all.length];
            s.streamClosed(streamIdFor(peer, bidi, index));
            (bidi ? model.bidi : model.uni).live.delete(index);
          } else if (a.kind === 'credit') {
            const m = a.bidi ? model.bidi : model.uni;
            const update = s.takeMaxStreamsUpdate(a.bidi);
            if (update !== undefined) {
              assert.ok(update > m.limit);
              m.limit = update;
            }
          } else {
            s.onStreamsBlocked(a.bidi, (a.bidi ? model.bidi : model.uni).limit);
          }
          for (const [bidi, m, w] of [
            [true, model.bidi, windowBidi],
            [false, model.uni, windowUni],
          ] as const) {
            assert.is(s.peerLimit(bidi), m.limit);
            assert.is(s.peerStreamsOpened(bidi), m.opened);
            assert.is(s.liveCount(false, bidi), m.live.size);
            assert.ok(m.live.size <= w, 'more open streams than the window');
          }
        }
      },
    ),
    { numRuns: 300 },
  );
});

test.run();
