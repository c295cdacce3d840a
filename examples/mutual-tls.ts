// Mutual TLS: a server that accepts only clients holding a known key, and a client that proves it
// holds one. Both use generated self-signed certificates and trust each other by key pin (SPKI
// SHA-256); with a CA you would pass `clientCa` on the server and `ca` on the client instead.
//
//   node --import tsx examples/mutual-tls.ts
//
// The server reads who connected from `handshakeInfo.peerCertificates`, answers one request, and
// a client without a certificate is refused with the TLS alert certificate_required.
import { X509Certificate } from 'node:crypto';
import { connect, createServer, QuicConnectionError, tls, type QuicConnection } from '../src/index.js';

const clientCertificate = await tls.generateSelfSignedCertificate({ hostnames: ['alice.example'] });
const server = await createServer({
  host: '127.0.0.1',
  port: 0,
  alpn: ['hello'],
  requestClientCertificate: 'require',
  clientPinnedSpkiSha256: [clientCertificate.spkiSha256Base64],
});
server.connection$.subscribe((connection: QuicConnection) => {
  const [leaf] = connection.handshakeInfo?.peerCertificates ?? [];
  const who = leaf === undefined ? 'nobody' : new X509Certificate(leaf).subject;
  connection.stream$.subscribe(async (stream) => {
    if (!('writable' in stream)) return;
    const writer = stream.writable.getWriter();
    await writer.write(new TextEncoder().encode(`hello, ${who}`));
    await writer.close();
  });
});

const options = { host: '127.0.0.1', port: server.address.port, alpn: ['hello'], pinnedSpkiSha256: [server.certificateSpkiSha256] };
const client = await connect({ ...options, clientCertificate: { key: clientCertificate.privateKeyPem, chain: clientCertificate.certificatePem } });
const stream = await client.createBidirectionalStream();
await stream.writable.close();
let answer = '';
for await (const chunk of stream.readable) answer += new TextDecoder().decode(chunk, { stream: true });
console.log(`with a certificate:    ${answer}`);
await client.close();

try {
  await connect(options);
  console.log('without a certificate: connected (unexpected)');
  process.exitCode = 1;
} catch (error) {
  if (!(error instanceof QuicConnectionError)) throw error;
  console.log(`without a certificate: refused, ${error.tlsAlertName} (CRYPTO_ERROR 0x${error.code.toString(16)})`);
}
await server.close();
