/**
 * Client certificates (mutual TLS, RFC 8446 §4.3.2, §4.4.2) through the public API: our server
 * (`requestClientCertificate`, `clientCa`, `clientPinnedSpkiSha256`) and our client
 * (`clientCertificate`) over loopback. Every CA and key is generated at test time.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { X509Certificate } from 'node:crypto';
import { QuicConnectionError, type QuicConnection, type QuicServer } from '../../src/index.js';
import { TlsAlert, TlsAlertError } from '../../src/tls/alerts.js';
import { SignatureScheme } from '../../src/tls/constants.js';
import { createChain, createSelfSignedLeaf, type TestChain, type TestKeyType } from '../support/pki.js';
import { bytes, client, readAll, server, text, until, writeAll } from './helpers.js';

/** The client certificate input of a test chain: PKCS#8 PEM key and the chain (leaf, intermediates) as PEM texts. */
function certificateOf(pki: TestChain): { key: string; chain: string[] } {
  return { key: pki.leaf.privateKeyPem, chain: [pki.leaf, ...[...pki.intermediates].reverse()].map((c) => c.pem) };
}

/** Server connections delivered, answering each bidirectional stream with what it read, prefixed. */
function echoing(s: QuicServer): QuicConnection[] {
  const delivered: QuicConnection[] = [];
  s.connection$.subscribe((c) => {
    delivered.push(c);
    c.stream$.subscribe(async (stream) => {
      if (!('writable' in stream)) return;
      const data = await readAll(stream.readable);
      await writeAll(stream.writable, bytes(`echo:${text(data)}`));
    });
  });
  return delivered;
}

async function ask(c: QuicConnection, message: string): Promise<string> {
  const stream = await c.createBidirectionalStream();
  const [, back] = await Promise.all([writeAll(stream.writable, bytes(message)), readAll(stream.readable)]);
  return text(back);
}

/** connect() must reject with a QuicConnectionError; returns it. */
async function refused(attempt: Promise<QuicConnection>): Promise<QuicConnectionError> {
  try {
    const c = await attempt;
    await c.close();
  } catch (error) {
    assert.instance(error, QuicConnectionError);
    return error as QuicConnectionError;
  }
  assert.unreachable('connect() resolved, but the server should have refused the client');
  throw new Error('unreachable');
}

/** The server refused the client with `alert`: connect() rejects with it, the server counts a failed handshake and delivers nothing. */
async function assertRefusedWith(s: QuicServer, delivered: QuicConnection[], attempt: Promise<QuicConnection>, alert: number, name: string): Promise<void> {
  const error = await refused(attempt);
  assert.is(error.source, 'peer', error.message);
  assert.is(error.application, false);
  assert.is(error.code, BigInt(0x100 + alert), `CRYPTO_ERROR 0x100 + ${name}`);
  assert.is(error.tlsAlert, alert);
  assert.is(error.tlsAlertName, name);
  await until(() => s.failedHandshakes === 1, 'the server counts the failed handshake');
  await until(() => s.connectionCount === 0, 'the refused connection is gone');
  assert.is(delivered.length, 0, 'no connection delivered to the application');
}

test("'require' + a client certificate from the trusted CA: connects, and the server sees the verified chain (subject, SPKI)", async () => {
  const pki = await createChain({ intermediates: 1, leaf: { subject: 'CN=client one, O=quic-actors tests' } });
  const s = await server({ requestClientCertificate: 'require', clientCa: pki.root.pem });
  const delivered = echoing(s);
  const c = await client(s, { clientCertificate: certificateOf(pki) });
  assert.is(await ask(c, 'hello'), 'echo:hello', 'the connection carries data');
  assert.is(c.handshakeInfo?.certificateRequested, true, 'the client saw the CertificateRequest');
  await until(() => delivered.length === 1, 'the server delivers the connection');
  const info = delivered[0].handshakeInfo!;
  assert.is(info.certificateRequested, true);
  assert.is(info.peerCertificateTrust, 'path');
  assert.is(info.peerSignatureScheme, SignatureScheme.ecdsa_secp256r1_sha256);
  assert.equal(info.peerCertificates.map((d) => Buffer.from(d).toString('hex')), pki.chain.map((d) => Buffer.from(d).toString('hex')), 'leaf then intermediate, as sent');
  const leaf = new X509Certificate(info.peerCertificates[0]);
  assert.ok(leaf.subject.includes('CN=client one'), leaf.subject);
  assert.ok(leaf.subject.includes('O=quic-actors tests'), leaf.subject);
  const spki = leaf.publicKey.export({ type: 'spki', format: 'der' });
  assert.ok(Buffer.from(spki).equals(Buffer.from(pki.leaf.keys.spki)), 'the public key is the client key');
  assert.is(s.failedHandshakes, 0);
  await c.close();
  await s.close();
});

test("'require' + no client certificate: connect() rejects with certificate_required, the server delivers no connection", async () => {
  const pki = await createChain({});
  const s = await server({ requestClientCertificate: 'require', clientCa: pki.root.pem });
  const delivered = echoing(s);
  await assertRefusedWith(s, delivered, client(s), TlsAlert.certificate_required, 'certificate_required');
  await s.close();
});

test("'require' + a client certificate from another CA: connect() rejects with unknown_ca", async () => {
  const trusted = await createChain({});
  const other = await createChain({});
  const s = await server({ requestClientCertificate: 'require', clientCa: trusted.root.pem });
  const delivered = echoing(s);
  await assertRefusedWith(s, delivered, client(s, { clientCertificate: certificateOf(other) }), TlsAlert.unknown_ca, 'unknown_ca');
  await s.close();
});

test("'require' + a client certificate whose extendedKeyUsage lacks clientAuth: connect() rejects with bad_certificate", async () => {
  const pki = await createChain({ leaf: { extendedKeyUsage: ['serverAuth'] } });
  const s = await server({ requestClientCertificate: 'require', clientCa: pki.root.pem });
  const delivered = echoing(s);
  await assertRefusedWith(s, delivered, client(s, { clientCertificate: certificateOf(pki) }), TlsAlert.bad_certificate, 'bad_certificate');
  await s.close();
});

test("'request' + no client certificate: connects, the server sees no peer certificate", async () => {
  const pki = await createChain({});
  const s = await server({ requestClientCertificate: 'request', clientCa: pki.root.pem });
  const delivered = echoing(s);
  const c = await client(s);
  assert.is(await ask(c, 'anonymous'), 'echo:anonymous');
  assert.is(c.handshakeInfo?.certificateRequested, true);
  await until(() => delivered.length === 1, 'the server delivers the connection');
  const info = delivered[0].handshakeInfo!;
  assert.equal(info.peerCertificates, []);
  assert.is(info.peerCertificateTrust, 'none');
  assert.is(info.peerSignatureScheme, undefined);
  await c.close();
  await s.close();
});

test("'request' + a client certificate: verified all the same — a trusted one is seen, one from another CA refused with unknown_ca", async () => {
  const trusted = await createChain({});
  const other = await createChain({});
  const s = await server({ requestClientCertificate: 'request', clientCa: [trusted.root.pem] });
  const delivered = echoing(s);
  const c = await client(s, { clientCertificate: certificateOf(trusted) });
  await until(() => delivered.length === 1, 'the server delivers the connection');
  assert.is(delivered[0].handshakeInfo!.peerCertificateTrust, 'path');
  assert.is(delivered[0].handshakeInfo!.peerCertificates.length, 2);
  const error = await refused(client(s, { clientCertificate: certificateOf(other) }));
  assert.is(error.tlsAlertName, 'unknown_ca');
  await until(() => s.failedHandshakes === 1, 'the server counts the failed handshake');
  assert.is(delivered.length, 1, 'the refused client was not delivered');
  await c.close();
  await s.close();
});

const keyTypes: readonly [TestKeyType, number][] = [
  ['ed25519', SignatureScheme.ed25519],
  ['rsa', SignatureScheme.rsa_pss_rsae_sha256],
  ['ecdsa-p384', SignatureScheme.ecdsa_secp384r1_sha384],
];
for (const [keyType, scheme] of keyTypes) {
  test(`a client certificate with an ${keyType} key is accepted; its CertificateVerify uses scheme 0x${scheme.toString(16)}`, async () => {
    const pki = await createChain({ leaf: { keyType } });
    const s = await server({ requestClientCertificate: 'require', clientCa: pki.root.pem });
    const delivered = echoing(s);
    const c = await client(s, { clientCertificate: certificateOf(pki) });
    await until(() => delivered.length === 1, 'the server delivers the connection');
    const info = delivered[0].handshakeInfo!;
    assert.is(info.peerSignatureScheme, scheme);
    assert.is(new X509Certificate(info.peerCertificates[0]).publicKey.asymmetricKeyType, pki.leaf.keys.publicKey.asymmetricKeyType);
    await c.close();
    await s.close();
  });
}

test('clientPinnedSpkiSha256 alone: a self-signed client certificate with a pinned key connects; another key is refused with certificate_unknown', async () => {
  const pinned = await createSelfSignedLeaf({ subject: 'pinned client' });
  const stranger = await createSelfSignedLeaf({ subject: 'stranger' });
  const s = await server({ requestClientCertificate: 'require', clientPinnedSpkiSha256: [pinned.spkiSha256] });
  const delivered = echoing(s);
  const c = await client(s, { clientCertificate: { key: pinned.privateKey, chain: [pinned.der] } });
  await until(() => delivered.length === 1, 'the server delivers the connection');
  assert.is(delivered[0].handshakeInfo!.peerCertificateTrust, 'pin');
  assert.ok(new X509Certificate(delivered[0].handshakeInfo!.peerCertificates[0]).subject.includes('pinned client'));
  const error = await refused(client(s, { clientCertificate: { key: stranger.privateKeyPem, chain: stranger.pem } }));
  assert.is(error.source, 'peer');
  assert.is(error.tlsAlertName, 'certificate_unknown', 'a key that matches no pin');
  await until(() => s.failedHandshakes === 1, 'the server counts the failed handshake');
  await c.close();
  await s.close();
});

test('clientCa and clientPinnedSpkiSha256 together: the chain must verify and the key must be pinned (certificate_unknown otherwise)', async () => {
  const pki = await createChain({});
  const unpinned = await pki.root.issueLeaf({});
  const s = await server({ requestClientCertificate: 'require', clientCa: pki.root.pem, clientPinnedSpkiSha256: [pki.leaf.spkiSha256] });
  const delivered = echoing(s);
  const c = await client(s, { clientCertificate: certificateOf(pki) });
  await until(() => delivered.length === 1, 'the server delivers the connection');
  assert.is(delivered[0].handshakeInfo!.peerCertificateTrust, 'path+pin');
  const error = await refused(client(s, { clientCertificate: { key: unpinned.privateKeyPem, chain: unpinned.pem } }));
  assert.is(error.tlsAlertName, 'certificate_unknown', 'a chain that verifies but a key that matches no pin');
  await c.close();
  await s.close();
});

test('a server that does not ask: the client keeps its certificate to itself and connect() resolves at once', async () => {
  const pki = await createChain({});
  const s = await server();
  const delivered = echoing(s);
  const c = await client(s, { clientCertificate: certificateOf(pki) });
  assert.is(c.handshakeInfo?.certificateRequested, false);
  await until(() => delivered.length === 1, 'the server delivers the connection');
  assert.is(delivered[0].handshakeInfo!.certificateRequested, false);
  assert.equal(delivered[0].handshakeInfo!.peerCertificates, []);
  await c.close();
  await s.close();
});

test('misconfiguration is refused up front: a mode without clientCa or pins, CA settings without a mode, a client key that does not match its certificate', async () => {
  const pki = await createChain({});
  const other = await createChain({});
  for (const bad of [
    { requestClientCertificate: 'require' as const },
    { requestClientCertificate: 'request' as const, clientCa: [] },
    { clientCa: pki.root.pem },
    { requestClientCertificate: 'always' as unknown as 'require', clientCa: pki.root.pem },
  ]) {
    try {
      await server(bad);
      assert.unreachable(`createServer accepted ${JSON.stringify(bad)}`);
    } catch (error) {
      assert.instance(error, TypeError, String(error));
    }
  }
  const s = await server({ requestClientCertificate: 'require', clientCa: pki.root.pem });
  try {
    await client(s, { clientCertificate: { key: other.leaf.privateKeyPem, chain: pki.leaf.pem } });
    assert.unreachable('connect accepted a key that does not belong to the certificate');
  } catch (error) {
    assert.instance(error, TlsAlertError);
    assert.is((error as TlsAlertError).alert, TlsAlert.internal_error);
    assert.match((error as Error).message, /clientCertificate privateKey does not belong/);
  }
  assert.is(s.stats().connectionsAccepted, 0, 'nothing was sent');
  await s.close();
});

test.run();
