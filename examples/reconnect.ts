// Reconnecting without a Retry (RFC 9000 §8.1.3): a server that validates every client's address
// with a Retry round trip (`retry: true`) gives each connection a NEW_TOKEN token; `connect()`
// remembers it and spends it on the next connection to that server, which then starts with its
// address validated — one round trip less.
//
//   node --import tsx examples/reconnect.ts
import { connect, createServer } from '../src/index.js';

const server = await createServer({ host: '127.0.0.1', port: 0, alpn: ['demo'], retry: true });
const options = { host: '127.0.0.1', port: server.address.port, alpn: ['demo'], pinnedSpkiSha256: [server.certificateSpkiSha256] };

for (const attempt of ['first', 'second']) {
  const started = performance.now();
  const connection = await connect(options);
  const ms = (performance.now() - started).toFixed(1);
  const stats = server.stats();
  console.log(`${attempt} connection: ${ms} ms, Retries sent so far ${stats.retriesSent}, tokens accepted ${stats.newTokensAccepted}`);
  // The token arrives just after the handshake; wait for it before closing the first connection.
  if (attempt === 'first') await new Promise<void>((resolve) => connection.newToken$.subscribe(() => resolve()));
  await connection.close();
}
await server.close();
