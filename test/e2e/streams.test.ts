import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { lastValueFrom, toArray } from 'rxjs';
import { QuicStreamError, type QuicBidirectionalStream } from '../../src/index.js';
import { accepted, bytes, client, readAll, rejection, server, text, until, writeAll } from './helpers.js';

async function incomingBidi(c: { incomingBidirectionalStreams: ReadableStream<QuicBidirectionalStream> }): Promise<QuicBidirectionalStream> {
  const reader = c.incomingBidirectionalStreams.getReader();
  const { value } = await reader.read();
  reader.releaseLock();
  if (value === undefined) throw new Error('no stream');
  return value;
}

test('a receiver that does not read holds the sender back: the peer gets no more than the stream window until data is read', async () => {
  const window = 64 * 1024;
  const s = await server({ transport: { initialMaxStreamDataBidiLocal: window, initialMaxStreamDataBidiRemote: window, initialMaxStreamDataUni: window, maxStreamWindow: window } });
  const serverSide = accepted(s);
  const c = await client(s, { transport: { streamSendBufferSize: 128 * 1024 } });
  const sc = await serverSide;
  const stream = await c.createBidirectionalStream();
  const total = 2 * 1024 * 1024;
  const writer = stream.writable.getWriter();
  let written = 0;
  const writing = (async () => {
    for (let off = 0; off < total; off += 16 * 1024) {
      await writer.ready;
      written += 16 * 1024;
      writer.write(new Uint8Array(16 * 1024)).catch(() => undefined);
    }
    await writer.close();
  })();
  const peer = await incomingBidi(sc);
  // Nothing reads on the server: the window fills, then the writer is held.
  await until(() => (peer.stats()?.bytesReceived ?? 0) >= window, 'the window to fill');
  await until(() => writer.desiredSize !== null && writer.desiredSize <= 0, 'the writer to be held back');
  assert.ok(peer.stats()!.bytesReceived <= window, `received ${peer.stats()!.bytesReceived} of a ${window}-byte window`);
  assert.ok(written < total, 'the writer is waiting, not done');
  // Reading opens the window; everything arrives.
  const got = await readAll(peer.readable);
  await writing;
  assert.is(got.length, total);
  await c.close();
  await s.close();
});

test('a reset stream errors the peer’s readable with a QuicStreamError carrying the code', async () => {
  const s = await server();
  const serverSide = accepted(s);
  const c = await client(s);
  const sc = await serverSide;
  const stream = await c.createBidirectionalStream();
  const writer = stream.writable.getWriter();
  await writer.write(bytes('partial'));
  const peer = await incomingBidi(sc);
  const reading = rejection(readAll(peer.readable));
  await writer.abort(77n);
  const error = await reading;
  assert.instance(error, QuicStreamError);
  assert.is((error as QuicStreamError).kind, 'reset');
  assert.is((error as QuicStreamError).code, 77n);
  assert.is((error as QuicStreamError).streamId, stream.id);
  await c.close();
  await s.close();
});

test('STOP_SENDING from the reader errors the writer with a QuicStreamError (stop-sending) carrying the code', async () => {
  const s = await server();
  const serverSide = accepted(s);
  const c = await client(s);
  const sc = await serverSide;
  const stream = await c.createBidirectionalStream();
  const writer = stream.writable.getWriter();
  await writer.write(bytes('hello'));
  const peer = await incomingBidi(sc);
  peer.stopSending(5);
  const failure = await (async () => {
    for (;;) {
      try {
        await writer.ready;
        await writer.write(new Uint8Array(1024));
      } catch (e) {
        return e;
      }
    }
  })();
  assert.instance(failure, QuicStreamError);
  assert.is((failure as QuicStreamError).kind, 'stop-sending');
  assert.is((failure as QuicStreamError).code, 5n);
  const sent = await stream.sendComplete.then(
    () => 'complete',
    (e: unknown) => e,
  );
  assert.instance(sent, QuicStreamError);
  await c.close();
  await s.close();
});

test('cancelling a readable sends STOP_SENDING with the reason’s code', async () => {
  const s = await server();
  const serverSide = accepted(s);
  const c = await client(s);
  const sc = await serverSide;
  const stream = await c.createBidirectionalStream();
  const writer = stream.writable.getWriter();
  await writer.write(bytes('x'));
  const peer = await incomingBidi(sc);
  await peer.readable.cancel(42);
  const failure = await rejection(writer.closed);
  assert.instance(failure, QuicStreamError);
  assert.is((failure as QuicStreamError).code, 42n);
  await c.close();
  await s.close();
});

test('createBidirectionalStream waits while the peer’s MAX_STREAMS is used up and resumes when a stream ends', async () => {
  const s = await server({ transport: { maxStreamsBidi: 2 } });
  s.connection$.subscribe((sc) =>
    sc.stream$.subscribe(async (stream) => {
      if (!('writable' in stream)) return;
      await readAll(stream.readable);
      await writeAll(stream.writable, bytes('done'));
    }),
  );
  const c = await client(s);
  const first = await c.createBidirectionalStream();
  await c.createBidirectionalStream();
  let third: QuicBidirectionalStream | undefined;
  const opening = c.createBidirectionalStream().then((x) => (third = x));
  // Finish the first stream both ways: the server's credit for a new stream follows.
  await Promise.all([writeAll(first.writable, bytes('a')), readAll(first.readable)]);
  await opening;
  assert.ok(third !== undefined);
  assert.is(third!.id, 8, 'the third client bidirectional stream');
  await c.close();
  await s.close();
});

test('data$ delivers a stream’s bytes as an Observable and completes at the FIN', async () => {
  const s = await server();
  s.connection$.subscribe((sc) =>
    sc.stream$.subscribe(async (stream) => {
      if ('writable' in stream) await writeAll(stream.writable, bytes('pushed '.repeat(1000)));
    }),
  );
  const c = await client(s);
  const stream = await c.createBidirectionalStream();
  await writeAll(stream.writable, bytes('go'));
  const chunks = await lastValueFrom(stream.data$.pipe(toArray()));
  assert.is(text(Buffer.concat(chunks)), 'pushed '.repeat(1000));
  assert.throws(() => stream.readable, /data\$/, 'one reading mode per stream');
  await c.close();
  await s.close();
});

test('stream$ delivers the peer’s streams of both kinds, including those opened before anyone subscribed', async () => {
  const s = await server();
  const serverSide = accepted(s);
  const c = await client(s);
  const sc = await serverSide;
  const bidi = await c.createBidirectionalStream();
  const uni = await c.createUnidirectionalStream();
  await writeAll(bidi.writable, bytes('b'));
  await writeAll(uni.writable, bytes('u'));
  // Both FINs acknowledged: the server has opened both streams before anyone subscribes.
  await Promise.all([bidi.sendComplete, uni.sendComplete]);
  const seen: number[] = [];
  sc.stream$.subscribe((x) => seen.push(x.id));
  await until(() => seen.length === 2, 'both streams');
  assert.equal(seen.sort((a, b) => a - b), [bidi.id, uni.id].sort((a, b) => a - b));
  await c.close();
  await s.close();
});

test.run();
