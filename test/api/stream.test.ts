import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { QuicConnectionError, QuicStreamError } from '../../src/api/errors.js';
import { QuicBidirectionalStream, ReceivePart, SendPart, type StreamHost } from '../../src/api/stream.js';
import type { QuicConnectionCore } from '../../src/transport/connection-types.js';

/** A stand-in for the connection: a receive buffer the test fills, a send side that records. */
class Host implements StreamHost {
  incoming: Uint8Array[] = [];
  fin = false;
  reads = 0;
  written: Uint8Array[] = [];
  finWritten = false;
  accept = true;
  resets: bigint[] = [];
  stops: bigint[] = [];
  done: number[] = [];
  private readonly core = {
    readStream: (_id: number, max: number) => {
      this.reads++;
      if (this.incoming.length === 0) return this.fin ? { data: new Uint8Array(0), fin: (this.fin = false) || true } : null;
      const head = this.incoming[0];
      const data = head.subarray(0, max);
      if (data.length === head.length) this.incoming.shift();
      else this.incoming[0] = head.subarray(max);
      return { data, fin: false };
    },
    writeStream: (_id: number, data: Uint8Array, fin: boolean) => {
      if (data.length > 0) this.written.push(data.slice());
      if (fin) this.finWritten = true;
      return this.accept;
    },
    resetStream: (_id: number, code: bigint) => void this.resets.push(code),
    stopSending: (_id: number, code: bigint) => void this.stops.push(code),
  } as unknown as QuicConnectionCore;
  call<T>(fn: (core: QuicConnectionCore, now: number) => T): T {
    return fn(this.core, 0);
  }
  streamStats(): undefined {
    return undefined;
  }
  partDone(id: number): void {
    this.done.push(id);
  }
}

const u8 = (...b: number[]): Uint8Array => Uint8Array.from(b);

test('the readable reads the connection only when the application asks for data (flow control follows reads)', async () => {
  const host = new Host();
  const rx = new ReceivePart(host, 0);
  host.incoming.push(u8(1, 2, 3));
  const reader = rx.readable.getReader();
  assert.is(host.reads, 0, 'nothing read before the application reads');
  assert.equal(await reader.read(), { value: u8(1, 2, 3), done: false });
  assert.is(host.reads, 1);
  // No data: the read waits for streamReadable.
  const pending = reader.read();
  await new Promise((r) => setImmediate(r));
  const readsWhileWaiting = host.reads;
  host.incoming.push(u8(4));
  rx.onReadable();
  assert.equal(await pending, { value: u8(4), done: false });
  assert.ok(host.reads > readsWhileWaiting);
  host.fin = true;
  rx.onReadable();
  assert.equal(await reader.read(), { value: undefined, done: true });
  assert.equal(host.done, [0], 'the receive side reports it is finished');
});

test('streamReadable without a pending read does not read (the data waits in the connection)', () => {
  const host = new Host();
  const rx = new ReceivePart(host, 0);
  void rx.readable;
  host.incoming.push(u8(1));
  rx.onReadable();
  assert.is(host.reads, 0);
});

test('a peer reset errors the readable with QuicStreamError(reset, code); a connection close with the connection error', async () => {
  const host = new Host();
  const rx = new ReceivePart(host, 4);
  const reader = rx.readable.getReader();
  const pending = reader.read().catch((e: unknown) => e);
  rx.onReset(9n);
  const e = await pending;
  assert.instance(e, QuicStreamError);
  assert.is((e as QuicStreamError).kind, 'reset');
  assert.is((e as QuicStreamError).code, 9n);
  assert.is((e as QuicStreamError).streamId, 4);
  const rx2 = new ReceivePart(host, 8);
  const closeError = new QuicConnectionError({ source: 'peer', application: true, code: 3n, reason: 'bye' });
  rx2.onConnectionClosed(closeError);
  const e2 = await rx2.readable.getReader().read().catch((x: unknown) => x);
  assert.is(e2, closeError);
});

test('cancel sends STOP_SENDING with the reason’s code', async () => {
  const host = new Host();
  const rx = new ReceivePart(host, 0);
  await rx.readable.cancel(12);
  assert.equal(host.stops, [12n]);
});

test('data$ pushes everything already received at subscription, then each arrival, and completes at the FIN', () => {
  const host = new Host();
  const rx = new ReceivePart(host, 0);
  host.incoming.push(u8(1), u8(2));
  const got: number[] = [];
  let complete = false;
  rx.data$.subscribe({ next: (d) => got.push(...d), complete: () => (complete = true) });
  assert.equal(got, [1, 2]);
  host.incoming.push(u8(3));
  rx.onReadable();
  assert.equal(got, [1, 2, 3]);
  host.fin = true;
  rx.onReadable();
  assert.ok(complete);
});

test('unsubscribing from data$ before the end sends STOP_SENDING', () => {
  const host = new Host();
  const rx = new ReceivePart(host, 0);
  const sub = rx.data$.subscribe(() => undefined);
  sub.unsubscribe();
  assert.equal(host.stops, [0n]);
});

test('a write the connection accepts above its high-water mark waits for streamWritable (backpressure)', async () => {
  const host = new Host();
  const tx = new SendPart(host, 0);
  const writer = tx.writable.getWriter();
  await writer.write(u8(1));
  host.accept = false;
  let resolved = false;
  const second = writer.write(u8(2)).then(() => (resolved = true));
  await new Promise((r) => setImmediate(r));
  assert.not.ok(resolved, 'held until the send buffer drains');
  assert.is(writer.desiredSize, 0);
  tx.onWritable();
  await second;
  assert.ok(resolved);
  await writer.close();
  assert.ok(host.finWritten, 'close() sends the FIN');
  assert.equal(host.written.map((d) => [...d]), [[1], [2]]);
});

test('STOP_SENDING from the peer errors the writable and sendComplete with QuicStreamError(stop-sending)', async () => {
  const host = new Host();
  const tx = new SendPart(host, 0);
  const writer = tx.writable.getWriter();
  tx.onStopSending(6n);
  const e = await writer.write(u8(1)).catch((x: unknown) => x);
  assert.instance(e, QuicStreamError);
  assert.is((e as QuicStreamError).kind, 'stop-sending');
  assert.is((e as QuicStreamError).code, 6n);
  assert.is(await tx.sendComplete.catch((x: unknown) => x), e);
});

test('abort(code) resets the stream; sendComplete resolves only on streamSendComplete', async () => {
  const host = new Host();
  const a = new SendPart(host, 0);
  await a.writable.abort(31n);
  assert.equal(host.resets, [31n]);
  const b = new SendPart(host, 4);
  let complete = false;
  void b.sendComplete.then(() => (complete = true));
  await new Promise((r) => setImmediate(r));
  assert.not.ok(complete);
  b.onSendComplete();
  await b.sendComplete;
  assert.ok(complete);
});

test('a bidirectional stream exposes both parts under one id and refuses a second reading mode', () => {
  const host = new Host();
  const s = new QuicBidirectionalStream(host, new ReceivePart(host, 8), new SendPart(host, 8));
  assert.is(s.id, 8);
  void s.readable;
  let error: unknown;
  s.data$.subscribe({ error: (e: unknown) => (error = e) });
  assert.instance(error, TypeError);
  s.reset(2);
  s.stopSending(3);
  assert.equal(host.resets, [2n]);
  assert.equal(host.stops, [3n]);
});

test.run();
