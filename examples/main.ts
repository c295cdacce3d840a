// `npm start`: a QUIC server and client on loopback. The client connects (pinning the server's
// generated certificate), opens 8 bidirectional streams and sends 1 MB on each while the server
// sends 1 MB back on each — 8 MB up and 8 MB down at once — checks every byte with SHA-256,
// then prints what the connection measured.
//
//   npm start                      defaults
//   npm start -- --mb 32 --streams 16 --crypto noble
import { createHash, randomBytes } from 'node:crypto';
import { connect, createServer, type QuicBidirectionalStream, type QuicConnection } from '../src/index.js';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i].replace(/^--/, ''), process.argv[i + 1] ?? '');
const STREAMS = Number(args.get('streams') ?? 8);
const MB_EACH_WAY = Number(args.get('mb') ?? 8);
const CRYPTO = (args.get('crypto') ?? 'node') as 'node' | 'noble';
const PER_STREAM = Math.floor((MB_EACH_WAY * 1e6) / STREAMS);
const TOTAL = PER_STREAM * STREAMS * 2;
const CHUNK = 64 * 1024;
const WATCHDOG_MS = 120_000;

const tty = process.stdout.isTTY === true;
const mb = (n: number): string => (n / 1e6).toFixed(1);

/** Writes `data` in chunks, waiting for the stream's backpressure, then sends the FIN. */
async function writeAll(stream: QuicBidirectionalStream, data: Uint8Array): Promise<void> {
  const writer = stream.writable.getWriter();
  for (let off = 0; off < data.length; off += CHUNK) {
    await writer.ready;
    // Failures surface through `ready` and `close()`.
    writer.write(data.subarray(off, off + CHUNK)).catch(() => undefined);
  }
  await writer.close();
}

/** Reads a stream to its end: SHA-256 and length, counting progress. */
async function readAll(stream: QuicBidirectionalStream, progress: (n: number) => void): Promise<{ sha256: string; length: number }> {
  const hash = createHash('sha256');
  let length = 0;
  const reader = stream.readable.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    hash.update(value);
    length += value.length;
    progress(value.length);
  }
  return { sha256: hash.digest('hex'), length };
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

let moved = 0;
let lastPrinted = -1;
function drawProgress(final = false): void {
  const fraction = Math.min(1, moved / TOTAL);
  if (tty) {
    const width = 40;
    const filled = Math.round(fraction * width);
    process.stdout.write(`\r  [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}%  ${mb(moved)} / ${mb(TOTAL)} MB${final ? '\n' : ''}`);
  } else {
    const quarter = Math.floor(fraction * 4);
    if (quarter > lastPrinted) {
      lastPrinted = quarter;
      console.log(`  progress ${quarter * 25}% (${mb(moved)} / ${mb(TOTAL)} MB)`);
    }
  }
}

async function main(): Promise<void> {
  console.log(`quic-actors: ${STREAMS} streams, ${mb(PER_STREAM * STREAMS)} MB up and ${mb(PER_STREAM * STREAMS)} MB down over loopback (crypto: ${CRYPTO})`);
  const upload = Array.from({ length: STREAMS }, () => new Uint8Array(randomBytes(PER_STREAM)));
  const download = Array.from({ length: STREAMS }, () => new Uint8Array(randomBytes(PER_STREAM)));
  const serverReceived: Promise<{ sha256: string; length: number }>[] = [];
  let serverStreams = 0;

  const server = await createServer({ host: '127.0.0.1', port: 0, alpn: ['quic-actors-demo'], crypto: CRYPTO });
  let serverConnection: QuicConnection | undefined;
  server.connection$.subscribe((connection) => {
    serverConnection = connection;
    connection.stream$.subscribe((stream) => {
      if (!('writable' in stream)) return;
      // Client-initiated bidirectional stream IDs are 0, 4, 8, … (RFC 9000 §2.1).
      const i = stream.id / 4;
      serverReceived[i] = readAll(stream, (n) => (moved += n));
      serverStreams++;
      void writeAll(stream, download[i]);
    });
  });

  const timer = tty ? setInterval(() => drawProgress(), 100) : setInterval(() => drawProgress(), 50);
  const start = performance.now();
  const client = await connect({
    host: '127.0.0.1',
    port: server.address.port,
    alpn: ['quic-actors-demo'],
    pinnedSpkiSha256: [server.certificateSpkiSha256],
    crypto: CRYPTO,
  });
  const handshakeMs = performance.now() - start;
  const transferStart = performance.now();
  const streams = await Promise.all(Array.from({ length: STREAMS }, () => client.createBidirectionalStream()));
  const clientReceived = streams.map((s) => readAll(s, (n) => (moved += n)));
  await Promise.all(streams.map((s, i) => writeAll(s, upload[i])));
  const down = await Promise.all(clientReceived);
  await new Promise<void>((resolve) => {
    const check = (): void => (serverStreams === STREAMS ? resolve() : void setTimeout(check, 1));
    check();
  });
  const up = await Promise.all(serverReceived);
  const transferMs = performance.now() - transferStart;
  clearInterval(timer);
  drawProgress(true);

  // Byte-exact both ways.
  for (let i = 0; i < STREAMS; i++) {
    const id = streams[i].id;
    if (down[i].length !== PER_STREAM || down[i].sha256 !== sha(download[id / 4])) throw new Error(`download on stream ${id} differs`);
    if (up[id / 4].length !== PER_STREAM || up[id / 4].sha256 !== sha(upload[i])) throw new Error(`upload on stream ${id} differs`);
  }

  const c = client.stats();
  const s = serverConnection!.stats();
  const seconds = transferMs / 1000;
  console.log('');
  console.log(`  handshake        ${handshakeMs.toFixed(1)} ms (${client.alpnProtocol}, ${client.handshakeInfo?.cipherSuite.name ?? '?'}, ${client.handshakeInfo?.group ?? '?'})`);
  console.log(`  transferred      ${mb(PER_STREAM * STREAMS)} MB up, ${mb(PER_STREAM * STREAMS)} MB down, SHA-256 verified on all ${STREAMS * 2} directions`);
  console.log(`  time             ${transferMs.toFixed(0)} ms`);
  console.log(`  throughput       ${mb(TOTAL / seconds)} MB/s total (${mb(TOTAL / 2 / seconds)} MB/s each way)`);
  console.log(`  client packets   ${c.packetsSent} sent, ${c.packetsReceived} received, ${c.packetsLost} lost, ${c.ptoCount} PTO`);
  console.log(`  server packets   ${s.packetsSent} sent, ${s.packetsReceived} received, ${s.packetsLost} lost, ${s.ptoCount} PTO`);
  console.log(`  RTT (client)     smoothed ${c.smoothedRtt.toFixed(2)} ms, min ${c.minRtt.toFixed(2)} ms, latest ${c.latestRtt.toFixed(2)} ms`);
  console.log(`  cwnd             client ${mb(c.congestionWindow)} MB, server ${mb(s.congestionWindow)} MB`);

  const closed = await client.close({ closeCode: 0, reason: 'done' });
  await server.close();
  console.log(`  closed           ${closed.source} close, code ${closed.code}${closed.reason ? ` (${closed.reason})` : ''}`);
}

const watchdog = setTimeout(() => {
  console.error(`\nquic-actors: the transfer did not finish within ${WATCHDOG_MS / 1000} s (moved ${mb(moved)} of ${mb(TOTAL)} MB)`);
  process.exit(1);
}, WATCHDOG_MS);
watchdog.unref();

main().then(
  () => {
    clearTimeout(watchdog);
  },
  (error: unknown) => {
    console.error('\nquic-actors: failed:', error);
    process.exit(1);
  },
);
