// Random garbage at established connections, through the real receive path: tens of thousands of
// datagrams — random bytes, headers carrying the connection's own connection ID and version with
// random contents, and mutations of real captured datagrams — never make `receive` throw, never
// close the connection (nothing authenticates), and leave it working.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeLongHeader } from '../../src/wire/header-write.js';
import { QUIC_V1, QUIC_V2 } from '../../src/wire/version.js';
import { prng } from '../support/outbound-harness.js';
import { CLIENT_ADDRESS, createPair, patternData, SERVER_ADDRESS, sha256, type Pair } from '../support/connection-pair.js';

type Rng = ReturnType<typeof prng>;

function randomBytes(r: Rng, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = r.int(256);
  return out;
}

/** One garbage datagram aimed at a connection whose connection ID is `cid`; `captured` are real datagrams sent to it. */
function garbage(r: Rng, cid: Uint8Array, captured: readonly Uint8Array[]): Uint8Array {
  switch (r.int(6)) {
    case 0:
      // Anything.
      return randomBytes(r, r.int(1500));
    case 1: {
      // A short header with our connection ID and a random protected rest.
      const d = randomBytes(r, 1 + cid.length + r.int(1400));
      d[0] = 0x40 | (d[0] & 0x3f);
      d.set(cid.subarray(0, Math.min(cid.length, d.length - 1)), 1);
      return d;
    }
    case 2: {
      // A long header of a supported version with our connection ID, a random type, Length and body.
      const body = r.int(1300);
      const d = new Uint8Array(120 + body);
      const type = (['initial', 'zeroRtt', 'handshake'] as const)[r.int(3)];
      const layout = writeLongHeader(d, 0, {
        version: r.int(2) === 0 ? QUIC_V1 : QUIC_V2,
        type,
        dcid: cid,
        scid: randomBytes(r, r.int(21)),
        ...(type === 'initial' ? { token: randomBytes(r, r.int(40)) } : {}),
        packetNumber: r.int(1000),
        pnLength: 2,
        lengthFieldSize: 2,
      });
      d.set(randomBytes(r, d.length - layout.pnOffset), layout.pnOffset);
      // A Length that fits, overruns or is tiny.
      const len = [r.int(d.length - layout.pnOffset + 1), r.int(0x3fff), r.int(30)][r.int(3)];
      d[layout.lengthOffset] = 0x40 | (len >> 8);
      d[layout.lengthOffset + 1] = len & 0xff;
      return d;
    }
    case 3: {
      // A real datagram, bits flipped.
      const d = captured[r.int(captured.length)].slice();
      const flips = 1 + r.int(8);
      for (let i = 0; i < flips; i++) d[r.int(d.length)] ^= 1 << r.int(8);
      return d;
    }
    case 4: {
      // A real datagram, truncated or extended.
      const src = captured[r.int(captured.length)];
      if (r.int(2) === 0) return src.slice(0, r.int(src.length));
      const d = new Uint8Array(src.length + 1 + r.int(200));
      d.set(src);
      d.set(randomBytes(r, d.length - src.length), src.length);
      return d;
    }
    default: {
      // First bytes of Retry / Version Negotiation / reserved versions, random rest.
      const d = randomBytes(r, 7 + r.int(200));
      d[0] = 0xc0 | (d[0] & 0x3f);
      const version = [0, 0x0a0a0a0a, QUIC_V1, QUIC_V2][r.int(4)];
      d[1] = version >>> 24;
      d[2] = (version >>> 16) & 0xff;
      d[3] = (version >>> 8) & 0xff;
      d[4] = version & 0xff;
      return d;
    }
  }
}

/** A handshaken pair that recorded the datagrams each side received. */
async function capturedPair(seed: number): Promise<{ p: Pair; toClient: Uint8Array[]; toServer: Uint8Array[] }> {
  const toClient: Uint8Array[] = [];
  const toServer: Uint8Array[] = [];
  const record = (into: Uint8Array[]) => ({
    filter: (d: Uint8Array) => {
      into.push(d.slice());
      return 'deliver' as const;
    },
  });
  const p = await createPair({ seed, up: record(toServer), down: record(toClient) });
  assert.ok(p.handshake());
  // Some 1-RTT traffic to capture too.
  p.client.act((c, now) => c.writeStream(c.openStream(true, now) as number, patternData(20_000, 1), true, now));
  p.net.advance(200);
  return { p, toClient, toServer };
}

/** Sends `data` on a new stream from the client and checks the server reads it all. */
function stillWorks(p: Pair, seed: number): void {
  const data = patternData(50_000, seed);
  const id = p.client.act((c, now) => {
    const s = c.openStream(true, now) as number;
    c.writeStream(s, data, true, now);
    return s;
  });
  const chunks: Uint8Array[] = [];
  let fin = false;
  p.net.run(() => {
    if (!p.server.eventsOf('streamReadable').some((e) => e.streamId === id)) return false;
    for (;;) {
      const r = p.server.conn.readStream(id, 1 << 20, p.net.now);
      if (r === null) break;
      chunks.push(r.data);
      if (r.fin) fin = true;
    }
    return fin;
  }, 10_000);
  assert.ok(fin, 'the new stream was delivered');
  assert.is(sha256(Buffer.concat(chunks)), sha256(data));
}

for (const target of ['client', 'server'] as const) {
  test(`12,000 garbage datagrams at an established ${target}: no throw, no close, dropped and counted, still working`, async () => {
    const { p, toClient, toServer } = await capturedPair(target === 'client' ? 31 : 32);
    const side = target === 'client' ? p.client : p.server;
    const from = target === 'client' ? SERVER_ADDRESS : CLIENT_ADDRESS;
    const captured = target === 'client' ? toClient : toServer;
    const cid = side.conn.localConnectionIds()[0];
    const r = prng(target === 'client' ? 1001 : 1002);
    const before = side.conn.stats();
    const N = 12_000;
    // Straight into the connection's receive path (an endpoint would route only some of these).
    for (let i = 0; i < N; i++) {
      side.conn.receive(garbage(r, cid, captured), from, p.net.now);
      side.service(p.net.now);
      if (i % 500 === 499) p.net.advance(1);
    }
    p.net.advance(10);
    assert.is(side.conn.state, 'confirmed', `still confirmed (${side.closeInfo?.reason ?? ''})`);
    const after = side.conn.stats();
    assert.ok(after.datagramsReceived - before.datagramsReceived >= N, 'every datagram reached the connection');
    assert.ok(after.packetsDropped - before.packetsDropped >= N * 0.9, `dropped ${after.packetsDropped - before.packetsDropped}`);
    stillWorks(p, target === 'client' ? 7 : 8);
    assert.is(p.client.closeInfo, undefined);
    assert.is(p.server.closeInfo, undefined);
  });
}

test.run();
