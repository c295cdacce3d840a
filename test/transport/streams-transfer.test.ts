// Data transfer between two stream managers wired back to back through encoded and decoded
// frames: bulk transfer on many streams both ways under random loss (recovered through the
// sources' onLost), flow control windows honoured and growing as the application reads, stream
// limits and MAX_STREAMS credit, backpressure, and every stream forgotten once finished.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Frame } from '../../src/wire/frames/types.js';
import { prng } from '../support/outbound-harness.js';
import { StreamPair, streamSettings, type StreamEndpoint, type WirePacket } from '../support/stream-pair.js';

/** The bytes `role` sends on stream `id`: length and content follow from both. */
function payloadFor(role: 'client' | 'server', id: number, maxLength: number): Uint8Array {
  const seed = (role === 'client' ? 17 : 91) + id * 7919;
  const n = 1 + ((seed * 2654435761) >>> 0) % maxLength;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed + (i >>> 8)) & 0xff;
  return out;
}

/** An application on one endpoint: opens its streams as limits allow, writes with backpressure, reads everything, answers the peer's bidirectional streams. */
class App {
  readonly role: 'client' | 'server';
  readonly peerRole: 'client' | 'server';
  private readonly toOpen: boolean[];
  private readonly sending = new Map<number, { payload: Uint8Array; written: number; blocked: boolean }>();
  private readonly readable = new Set<number>();
  readonly received = new Map<number, Uint8Array[]>();
  readonly finished = new Set<number>();
  readonly sendComplete = new Set<number>();
  opened: number[] = [];
  refusedOpens = 0;
  writeBackpressure = 0;

  constructor(
    readonly ep: StreamEndpoint,
    plan: { bidi: number; uni: number },
    private readonly maxLength: number,
  ) {
    this.role = ep.sm.role;
    this.peerRole = this.role === 'client' ? 'server' : 'client';
    this.toOpen = [...Array(plan.bidi).fill(true), ...Array(plan.uni).fill(false)];
  }

  private startSending(id: number): void {
    this.sending.set(id, { payload: payloadFor(this.role, id, this.maxLength), written: 0, blocked: false });
  }

  pump(): void {
    const sm = this.ep.sm;
    for (const e of this.ep.takeEvents()) {
      if (e.type === 'streamOpened' && e.bidirectional) this.startSending(e.streamId); // answer on the peer's stream
      else if (e.type === 'streamReadable') this.readable.add(e.streamId);
      else if (e.type === 'streamWritable') {
        const s = this.sending.get(e.streamId);
        if (s !== undefined) s.blocked = false;
      } else if (e.type === 'streamSendComplete') this.sendComplete.add(e.streamId);
      else if (e.type === 'streamReset' || e.type === 'streamStopSending') throw new Error(`unexpected ${e.type}`);
    }
    while (this.toOpen.length > 0) {
      const id = sm.open(this.toOpen[0], 0);
      if (id === undefined) {
        this.refusedOpens++;
        break; // wait for streamsAvailable
      }
      this.toOpen.shift();
      this.opened.push(id);
      this.startSending(id);
    }
    for (const [id, s] of this.sending) {
      while (!s.blocked && s.written < s.payload.length) {
        const chunk = s.payload.subarray(s.written, Math.min(s.payload.length, s.written + 8192));
        s.written += chunk.length;
        const fin = s.written === s.payload.length;
        if (!sm.write(id, chunk, fin, 0)) {
          s.blocked = true;
          this.writeBackpressure++;
        }
      }
      if (s.written === s.payload.length) this.sending.delete(id);
    }
    for (const id of [...this.readable]) {
      for (;;) {
        const r = sm.read(id, 3000, 0);
        if (r === null) break;
        let chunks = this.received.get(id);
        if (chunks === undefined) this.received.set(id, (chunks = []));
        chunks.push(r.data.slice());
        if (r.fin) this.finished.add(id);
      }
      this.readable.delete(id);
    }
  }

  /** The bytes received on `id`, concatenated. */
  bytes(id: number): Uint8Array {
    const chunks = this.received.get(id) ?? [];
    const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let o = 0;
    for (const c of chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

test('bulk transfer on many streams both ways with 10 % random loss: byte-exact, every stream completed, acknowledged and forgotten', () => {
  const settings = streamSettings({
    initialMaxData: 64 * 1024,
    initialMaxStreamDataBidiLocal: 16 * 1024,
    initialMaxStreamDataBidiRemote: 16 * 1024,
    initialMaxStreamDataUni: 16 * 1024,
    maxConnectionWindow: 256 * 1024,
    maxStreamWindow: 64 * 1024,
    maxStreamsBidi: 4,
    maxStreamsUni: 3,
    streamSendBufferSize: 32 * 1024,
  });
  const rtt = { clientExtra: { smoothedRtt: () => 20 }, serverExtra: { smoothedRtt: () => 20 } };
  const pair = new StreamPair({ client: settings, server: settings, ...rtt });
  const client = new App(pair.client, { bidi: 10, uni: 6 }, 60_000);
  const server = new App(pair.server, { bidi: 8, uni: 5 }, 60_000);
  const rng = prng(7);
  let dropped = 0;
  let rounds = 0;
  const done = () => pair.client.sm.streamCount === 0 && pair.server.sm.streamCount === 0 && client.opened.length === 16 && server.opened.length === 13;
  while (!done()) {
    if (++rounds > 5000) throw new Error('no progress');
    client.pump();
    server.pump();
    pair.exchange(() => {
      const drop = rng.next() < 0.1;
      if (drop) dropped++;
      return drop;
    });
  }
  assert.ok(dropped > 50, `${dropped} packets lost and recovered`);
  // Byte-exact in both directions, on every stream either side opened.
  for (const [app, peer] of [
    [client, server],
    [server, client],
  ] as const) {
    for (const id of app.opened) {
      assert.equal(peer.bytes(id), payloadFor(app.role, id, 60_000), `${app.role} stream ${id} received intact`);
      assert.ok(peer.finished.has(id));
      assert.ok(app.sendComplete.has(id), `${app.role} stream ${id}: streamSendComplete`);
      if (id % 4 < 2) {
        assert.equal(app.bytes(id), payloadFor(peer.role, id, 60_000), `answer on ${id} intact`);
        assert.ok(peer.sendComplete.has(id));
      }
    }
  }
  assert.ok(client.refusedOpens > 0 && server.refusedOpens > 0, 'stream limits were reached and credit came back with MAX_STREAMS');
  assert.ok(client.writeBackpressure > 0, 'writes met the high-water mark and resumed on streamWritable');
  // Memory: nothing of any stream is left anywhere.
  for (const ep of [pair.client, pair.server]) {
    assert.is(ep.sm.sources.stream.size, 0);
    for (const id of [...client.opened, ...server.opened]) assert.not.ok(ep.sm.flow.hasStream(id), `flow state of ${id} released`);
    assert.is(ep.control.length + ep.control.inFlightCount, 0);
    assert.not.ok(ep.sm.sources.stream.hasPending('oneRtt'));
  }
  assert.is(pair.client.sm.bytesDelivered, [...server.opened].reduce((n, id) => n + payloadFor('server', id, 60_000).length, 0) + client.opened.filter((id) => id % 4 < 2).reduce((n, id) => n + payloadFor('server', id, 60_000).length, 0));
});

/** Every frame of a kind the client sent. */
function framesOf(packets: WirePacket[], kind: Frame['kind']): Frame[] {
  return packets.flatMap((p) => p.frames.filter((f) => f.kind === kind));
}

test('a stream sends exactly up to the peer’s stream window, signals STREAM_DATA_BLOCKED at that limit, and resumes as the reader reads', () => {
  const pair = new StreamPair({ server: streamSettings({ initialMaxStreamDataBidiRemote: 10_000, maxStreamWindow: 10_000 }) });
  const id = pair.client.sm.open(true, 0) as number;
  pair.client.sm.write(id, new Uint8Array(50_000).fill(5), true, 0);
  const first = pair.client.flush();
  for (const p of first) pair.deliver(pair.client, p);
  const sent = framesOf(first, 'stream').reduce((n, f) => n + (f.kind === 'stream' ? f.data.length : 0), 0);
  assert.is(sent, 10_000, 'not a byte beyond the window');
  assert.equal(framesOf(first, 'streamDataBlocked'), [{ kind: 'streamDataBlocked', streamId: id, limit: 10_000 }]);
  assert.equal(pair.client.flush(), [], 'blocked: nothing more until credit arrives');
  // The reader reads half the window: MAX_STREAM_DATA follows (RFC 9000 §4.2), and data flows again.
  let read = 0;
  while (read < 5000) read += pair.server.sm.read(id, 5000 - read, 0)?.data.length ?? 0;
  const update = pair.server.flush();
  assert.equal(framesOf(update, 'maxStreamData'), [{ kind: 'maxStreamData', streamId: id, maximum: 15_000 }]);
  for (const p of update) pair.deliver(pair.server, p);
  const more = pair.client.flush();
  assert.is(framesOf(more, 'stream').reduce((n, f) => n + (f.kind === 'stream' ? f.data.length : 0), 0), 5000);
});

test('the connection window bounds all streams together: DATA_BLOCKED at the limit, MAX_DATA as the reader reads', () => {
  const pair = new StreamPair({ server: streamSettings({ initialMaxData: 30_000, maxConnectionWindow: 30_000, initialMaxStreamDataBidiRemote: 1 << 20 }) });
  const ids = [0, 1, 2].map(() => pair.client.sm.open(true, 0) as number);
  for (const id of ids) pair.client.sm.write(id, new Uint8Array(20_000).fill(id), true, 0);
  const first = pair.client.flush();
  for (const p of first) pair.deliver(pair.client, p);
  assert.is(pair.client.sm.bytesSent, 30_000);
  assert.equal(framesOf(first, 'dataBlocked'), [{ kind: 'dataBlocked', limit: 30_000 }]);
  assert.is(pair.server.sm.flow.connectionReceiveWindow.highest, 30_000);
  const got = new Map<number, number>(ids.map((id) => [id, 0]));
  const readAll = () => {
    for (const id of ids) for (let r = pair.server.sm.read(id, 1 << 20, 0); r !== null; r = pair.server.sm.read(id, 1 << 20, 0)) got.set(id, (got.get(id) as number) + r.data.length);
  };
  readAll();
  const update = pair.server.flush();
  assert.equal(framesOf(update, 'maxData'), [{ kind: 'maxData', maximum: 60_000 }]);
  for (const p of update) pair.deliver(pair.server, p);
  for (let rounds = 0; rounds < 100 && [...got.values()].some((n) => n < 20_000); rounds++) {
    pair.exchange();
    readAll();
  }
  assert.equal([...got.values()], [20_000, 20_000, 20_000], 'everything delivered once the window reopened');
});

test('with an RTT estimate the receive windows auto-tune up to their maximum as the application keeps up; without one they stay fixed', () => {
  const run = (smoothedRtt: (() => number) | undefined): number[] => {
    const pair = new StreamPair({
      server: streamSettings({ initialMaxStreamDataBidiRemote: 8192, maxStreamWindow: 65_536, initialMaxData: 1 << 20, maxConnectionWindow: 1 << 22 }),
      serverExtra: { smoothedRtt },
    });
    const id = pair.client.sm.open(true, 0) as number;
    pair.client.sm.write(id, new Uint8Array(600_000).fill(1), true, 0);
    const limits: number[] = [];
    for (let round = 0; round < 200 && pair.server.sm.stats(id)?.receiveState !== 'dataRead'; round++) {
      for (const p of pair.client.flush()) pair.deliver(pair.client, p);
      while (pair.server.sm.read(id, 1 << 20, 0) !== null);
      for (const p of pair.server.flush()) {
        for (const f of p.frames) if (f.kind === 'maxStreamData') limits.push(f.maximum);
        pair.deliver(pair.server, p);
      }
    }
    return limits.map((l, i) => l - (i === 0 ? 8192 : limits[i - 1]));
  };
  const tuned = run(() => 30);
  assert.ok(tuned.some((step) => step >= 32_768), `window grew: steps ${tuned.slice(0, 8).join(', ')}`);
  const fixed = run(undefined);
  assert.ok(fixed.every((step) => step <= 8192), `fixed window: steps ${fixed.slice(0, 8).join(', ')}`);
});

test('opening beyond the peer’s MAX_STREAMS is refused with STREAMS_BLOCKED; finishing streams brings MAX_STREAMS and streamsAvailable', () => {
  const pair = new StreamPair({ server: streamSettings({ maxStreamsUni: 2 }) });
  const c = pair.client.sm;
  const a = c.open(false, 0) as number;
  const b = c.open(false, 0) as number;
  assert.equal([a, b], [2, 6]);
  assert.is(c.open(false, 0), undefined);
  assert.is(c.open(false, 0), undefined);
  const blocked = pair.client.flush();
  assert.equal(framesOf(blocked, 'streamsBlocked'), [{ kind: 'streamsBlocked', bidirectional: false, limit: 2 }], 'once per limit');
  for (const p of blocked) pair.deliver(pair.client, p);
  assert.ok(c.open(true, 0) !== undefined, 'the other direction has its own limit');
  // The client finishes both; the server reads them to the end: they are forgotten, credit returns.
  c.write(a, Uint8Array.of(1), true, 0);
  c.write(b, Uint8Array.of(2), true, 0);
  pair.exchange();
  for (const id of [a, b]) assert.equal(pair.server.sm.read(id, 10, 0)?.fin, true);
  assert.is(pair.server.sm.stats(a), undefined);
  const credit = pair.server.flush();
  assert.equal(framesOf(credit, 'maxStreams'), [{ kind: 'maxStreams', bidirectional: false, maximum: 4 }]);
  pair.client.takeEvents();
  for (const p of credit) pair.deliver(pair.server, p);
  assert.equal(pair.client.takeEvents(), [{ type: 'streamsAvailable', bidirectional: false }]);
  assert.is(c.open(false, 0), 10);
});

test('a peer blocked on MAX_STREAMS gets freed credit at once on STREAMS_BLOCKED, below the usual threshold (RFC 9000 §4.6)', () => {
  const pair = new StreamPair({ server: streamSettings({ maxStreamsUni: 4 }) });
  const c = pair.client.sm;
  const ids = [0, 1, 2, 3].map(() => c.open(false, 0) as number);
  c.write(ids[0], Uint8Array.of(1), true, 0);
  pair.exchange();
  assert.equal(pair.server.sm.read(ids[0], 10, 0)?.fin, true);
  assert.equal(framesOf(pair.server.flush(), 'maxStreams'), [], 'one closed stream of a window of 4: below the threshold');
  assert.is(c.open(false, 0), undefined);
  const blocked = pair.client.flush();
  assert.equal(framesOf(blocked, 'streamsBlocked'), [{ kind: 'streamsBlocked', bidirectional: false, limit: 4 }]);
  for (const p of blocked) pair.deliver(pair.client, p);
  assert.equal(framesOf(pair.server.flush(), 'maxStreams'), [{ kind: 'maxStreams', bidirectional: false, maximum: 5 }]);
});

test('thousands of streams: each is forgotten on both sides as soon as it is finished', () => {
  const pair = new StreamPair({ server: streamSettings({ maxStreamsUni: 3000 }), client: streamSettings() });
  const c = pair.client.sm;
  const ids: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const id = c.open(false, 0) as number;
    c.write(id, Uint8Array.of(i & 0xff, 1, 2), true, 0);
    ids.push(id);
  }
  pair.exchange();
  assert.is(pair.server.sm.streamCount, 2000);
  let finished = 0;
  for (const id of ids) if (pair.server.sm.read(id, 10, 0)?.fin) finished++;
  assert.is(finished, 2000);
  assert.is(pair.server.sm.streamCount, 0, 'every received stream forgotten');
  pair.exchange();
  assert.is(pair.client.sm.streamCount, 0, 'every sent stream forgotten once acknowledged');
});

test.run();
