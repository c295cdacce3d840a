/**
 * The acceptance transfer: our client and server move 50 MB each way at once over 16
 * concurrent bidirectional streams on loopback UDP, checked byte for byte with SHA-256.
 */
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import type { CryptoOption, QuicBidirectionalStream } from '../../src/index.js';
import { accepted, client, digestAll, server, sha256, writeAll } from './helpers.js';

/** Bytes each way. */
export const BULK_BYTES = 50_000_000;
/** Concurrent streams. */
export const BULK_STREAMS = 16;

/** Runs the transfer with `crypto` on both sides; returns the connection statistics. */
export async function bulkTransfer(crypto: CryptoOption): Promise<{ readonly ms: number }> {
  const perStream = BULK_BYTES / BULK_STREAMS;
  const up = Array.from({ length: BULK_STREAMS }, () => new Uint8Array(randomBytes(perStream)));
  const down = Array.from({ length: BULK_STREAMS }, () => new Uint8Array(randomBytes(perStream)));
  const s = await server({ crypto });
  const serverSide = accepted(s);
  const c = await client(s, { crypto });
  const sc = await serverSide;
  const serverDone: Promise<{ id: number; sha256: string; length: number }>[] = [];
  const serverStreams = sc.incomingBidirectionalStreams.getReader();
  const serving = (async () => {
    for (let i = 0; i < BULK_STREAMS; i++) {
      const { value: stream } = await serverStreams.read();
      if (stream === undefined) throw new Error('the connection ended early');
      const index = stream.id / 4;
      serverDone.push(Promise.all([digestAll(stream.readable), writeAll(stream.writable, down[index])]).then(([d]) => ({ id: stream.id, ...d })));
    }
  })();
  const start = performance.now();
  const streams: QuicBidirectionalStream[] = await Promise.all(Array.from({ length: BULK_STREAMS }, () => c.createBidirectionalStream()));
  const clientDone = await Promise.all(streams.map((st) => Promise.all([digestAll(st.readable), writeAll(st.writable, up[st.id / 4])]).then(([d]) => ({ id: st.id, ...d }))));
  await serving;
  const serverResults = await Promise.all(serverDone);
  const ms = performance.now() - start;
  for (const r of clientDone) {
    assert.is(r.length, perStream, `download length on stream ${r.id}`);
    assert.is(r.sha256, sha256(down[r.id / 4]), `download SHA-256 on stream ${r.id}`);
  }
  for (const r of serverResults) {
    assert.is(r.length, perStream, `upload length on stream ${r.id}`);
    assert.is(r.sha256, sha256(up[r.id / 4]), `upload SHA-256 on stream ${r.id}`);
  }
  assert.is(clientDone.length + serverResults.length, 2 * BULK_STREAMS);
  assert.is(c.stats().streamBytesReceived, BULK_BYTES);
  assert.is(sc.stats().streamBytesReceived, BULK_BYTES);
  await c.close();
  await s.close();
  return { ms };
}
