import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createPrivateKey } from 'node:crypto';
import { applicationCode, QuicConnectionError, QuicStreamError } from '../../src/api/errors.js';
import { resolveCertificate, resolveCrypto, toInspectFunction } from '../../src/api/options.js';
import { nobleCrypto } from '../../src/crypto/noble.js';
import { nodeCrypto } from '../../src/crypto/node.js';
import { connect, createServer } from '../../src/index.js';
import { spkiSha256Base64 } from '../../src/tls/certificates.js';
import { generateSelfSignedCertificate } from '../../src/tls/self-signed.js';

test('crypto providers resolve by name, default to node:crypto, and an unknown name is a TypeError', () => {
  assert.is(resolveCrypto(undefined), nodeCrypto);
  assert.is(resolveCrypto('node'), nodeCrypto);
  assert.is(resolveCrypto('noble'), nobleCrypto);
  assert.is(resolveCrypto(nobleCrypto), nobleCrypto);
  assert.throws(() => resolveCrypto('openssl' as 'node'), TypeError);
});

test('an inspection Observer is adapted to the function the connection takes', () => {
  const seen: string[] = [];
  const fn = toInspectFunction({ next: (e) => seen.push(e.type) });
  fn?.({ type: '@xstate.event' } as never);
  assert.equal(seen, ['@xstate.event']);
  assert.is(toInspectFunction(undefined), undefined);
});

test('certificates load from PEM text, PEM lists, DER with a PKCS#8 DER key, or a KeyObject', async () => {
  const cert = await generateSelfSignedCertificate();
  const fromPem = resolveCertificate({ key: cert.privateKeyPem, chain: cert.certificatePem });
  assert.equal([...fromPem.certificateChain[0]], [...cert.certificateChain[0]]);
  assert.is(fromPem.privateKey.asymmetricKeyType, 'ec');
  const der = new Uint8Array(cert.privateKey.export({ type: 'pkcs8', format: 'der' }));
  const fromDer = resolveCertificate({ key: der, chain: [cert.certificateChain[0]] });
  assert.ok(fromDer.privateKey.equals(createPrivateKey(cert.privateKeyPem)));
  const fromList = resolveCertificate({ key: cert.privateKey, chain: [cert.certificatePem, cert.certificateChain[0]] });
  assert.is(fromList.certificateChain.length, 2);
});

test('QuicConnectionError exposes the close info and decodes a CRYPTO_ERROR into the TLS alert', () => {
  const tlsFailure = new QuicConnectionError({ source: 'local', application: false, code: 0x12an, reason: 'bad cert' });
  assert.is(tlsFailure.tlsAlert, 42);
  assert.is(tlsFailure.tlsAlertName, 'bad_certificate');
  assert.match(tlsFailure.message, /CRYPTO_ERROR\(0x12a\)/);
  const app = new QuicConnectionError({ source: 'peer', application: true, code: 0x12an, reason: '' });
  assert.is(app.tlsAlert, undefined, 'an application code is never a TLS alert');
  assert.is(app.source, 'peer');
  assert.instance(app, Error);
});

test('stream error codes come from numbers, bigints and QuicStreamErrors; anything else is 0', () => {
  assert.is(applicationCode(5), 5n);
  assert.is(applicationCode(2n ** 62n - 1n), 2n ** 62n - 1n);
  assert.is(applicationCode(new QuicStreamError(0, 'local', 8n)), 8n);
  assert.is(applicationCode('no'), 0n);
  assert.is(applicationCode(-1), 0n);
});

test('a server started with a given certificate pins that certificate’s key and is reachable with it as CA', async () => {
  const cert = await generateSelfSignedCertificate({ hostnames: ['example.test'] });
  const server = await createServer({ alpn: ['x'], certificate: { key: cert.privateKeyPem, chain: cert.certificatePem } });
  assert.is(server.certificateSpkiSha256, spkiSha256Base64(cert.certificateChain[0]));
  assert.is(server.certificatePem, undefined, 'only a generated certificate is offered as PEM');
  const c = await connect({ host: '127.0.0.1', port: server.address.port, alpn: ['x'], ca: cert.certificatePem, serverName: 'example.test' });
  assert.is(c.handshakeInfo?.peerCertificateTrust, 'path');
  await c.close();
  await server.close();
});

test('createServer refuses an empty ALPN list, a key that does not match the certificate, and out-of-range transport settings', async () => {
  const a = await generateSelfSignedCertificate();
  const b = await generateSelfSignedCertificate();
  const noAlpn = await createServer({ alpn: [] }).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.instance(noAlpn, TypeError);
  const mismatch = await createServer({ alpn: ['x'], certificate: { key: b.privateKey, chain: a.certificatePem } }).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.instance(mismatch, Error);
  assert.match(String(mismatch), /does not belong/);
  const settings = await createServer({ alpn: ['x'], transport: { maxStreamWindow: 1 } }).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.instance(settings, RangeError);
});

test('connect refuses a port out of range and an IPv6 target from an IPv4 endpoint', async () => {
  const e1 = await connect({ host: '127.0.0.1', port: 0, alpn: ['x'] }).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.instance(e1, RangeError);
  const { createEndpoint } = await import('../../src/index.js');
  const endpoint = await createEndpoint({ host: '127.0.0.1' });
  const e2 = await endpoint.connect({ host: '::1', port: 443, alpn: ['x'] }).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.instance(e2, TypeError);
  await endpoint.close();
});

test.run();
