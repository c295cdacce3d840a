// generateSelfSignedCertificate: a development certificate for every key type, usable by our own
// verifier (as its own anchor or by pin), by CertificateVerify, and parsable by OpenSSL.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSelfSignedCertificate, type SelfSignedKeyType } from '../../src/tls/self-signed.js';
import { loadCertificateChainPem, loadPrivateKeyPem, spkiSha256Base64, verifyCertificateChain } from '../../src/tls/certificates.js';
import { selectSignatureScheme, signCertificateVerify, supportedSignatureSchemes, verifyCertificateVerify } from '../../src/tls/signatures.js';
import { TlsAlert, TlsAlertError } from '../../src/tls/alerts.js';

const now = new Date();

function opensslAvailable(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const openssl = opensslAvailable();

async function rejects(p: Promise<unknown>, alert: number, re?: RegExp): Promise<void> {
  try {
    await p;
  } catch (e) {
    if (!(e instanceof TlsAlertError)) throw new Error(`expected a TlsAlertError, got ${String(e)}`, { cause: e });
    assert.is(e.alert, alert, e.message);
    if (re) assert.match(e.message, re);
    return;
  }
  assert.unreachable('expected a rejection');
}

const expectedKey: Record<SelfSignedKeyType, string> = {
  'ecdsa-p256': 'ec',
  'ecdsa-p384': 'ec',
  ed25519: 'ed25519',
  'rsa-pss': 'rsa',
  rsa: 'rsa',
};

for (const keyType of Object.keys(expectedKey) as SelfSignedKeyType[]) {
  test(`${keyType}: verifies against itself for localhost, 127.0.0.1 and ::1, signs CertificateVerify, and OpenSSL parses it`, async () => {
    const s = await generateSelfSignedCertificate({ keyType });
    assert.is(s.certificateChain.length, 1);
    const der = s.certificateChain[0];
    assert.is(s.privateKey.asymmetricKeyType, expectedKey[keyType]);
    assert.ok(Buffer.from(loadCertificateChainPem(s.certificatePem)[0]).equals(Buffer.from(der)));
    assert.ok(loadPrivateKeyPem(s.privateKeyPem).equals(s.privateKey));
    assert.is(s.spkiSha256Base64, spkiSha256Base64(der));

    for (const identity of [{ serverName: 'localhost' }, { ipAddress: '127.0.0.1' }, { ipAddress: '::1' }]) {
      const r = verifyCertificateChain(s.certificateChain, { trustAnchors: [s.certificatePem], now, ...identity });
      assert.is(r.trust, 'path');
    }
    const wrong = () => verifyCertificateChain(s.certificateChain, { trustAnchors: [s.certificatePem], now, serverName: 'example.com' });
    assert.throws(wrong, (e: unknown) => e instanceof TlsAlertError && e.alert === TlsAlert.bad_certificate);
    // Also usable as a client certificate, and by pin alone.
    verifyCertificateChain(s.certificateChain, { trustAnchors: [der], now, role: 'client' });
    const pinned = verifyCertificateChain(s.certificateChain, { now, pinMode: 'pin-only', pinnedSpkiSha256: [s.spkiSha256Base64] });

    // The key signs a CertificateVerify that the certificate's key verifies.
    const scheme = selectSignatureScheme(s.privateKey, supportedSignatureSchemes);
    const hash = createHash('sha256').update(keyType).digest();
    const sig = signCertificateVerify(scheme, s.privateKey, hash, 'server');
    verifyCertificateVerify(scheme, pinned.leafPublicKey, hash, 'server', sig);

    const cert = new X509Certificate(der);
    assert.is(cert.ca, false);
    assert.is(cert.subject, 'CN=localhost');
    assert.is(cert.issuer, cert.subject, 'self-issued');
    assert.ok(cert.verify(cert.publicKey), 'self-signed');

    if (!openssl) {
      console.log('  (openssl not installed: OpenSSL sub-check skipped)');
      return;
    }
    const text = execFileSync('openssl', ['x509', '-noout', '-text'], { input: s.certificatePem }).toString();
    assert.match(text, /Version: 3/);
    assert.match(text, /DNS:localhost, IP Address:127\.0\.0\.1, IP Address:0:0:0:0:0:0:0:1/);
    assert.match(text, /CA:FALSE/);
    assert.match(text, /Digital Signature/);
    assert.match(text, /TLS Web Server Authentication, TLS Web Client Authentication/);
    if (keyType === 'rsa-pss') assert.match(text, /Signature Algorithm: rsassaPss/);
    if (keyType === 'rsa') assert.match(text, /Signature Algorithm: sha256WithRSAEncryption/);
    if (keyType === 'ed25519') assert.match(text, /Signature Algorithm: ED25519/);
    // OpenSSL also accepts it as its own trust anchor for serverAuth.
    const dir = mkdtempSync(join(tmpdir(), 'quic-actors-self-signed-'));
    try {
      const file = join(dir, 'cert.pem');
      writeFileSync(file, s.certificatePem);
      const out = execFileSync('openssl', ['verify', '-purpose', 'sslserver', '-CAfile', file, file]).toString();
      assert.match(out, /OK/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('serial numbers are random, positive and 16 bytes', async () => {
  const serials = new Set<string>();
  for (let i = 0; i < 4; i++) {
    const s = await generateSelfSignedCertificate();
    const serial = new X509Certificate(s.certificateChain[0]).serialNumber;
    assert.is(serial.length, 32);
    assert.ok(parseInt(serial.slice(0, 2), 16) < 0x80, 'positive: high bit clear');
    assert.ok(parseInt(serial.slice(0, 2), 16) > 0, 'minimal encoding: no leading zero byte');
    serials.add(serial);
  }
  assert.is(serials.size, 4);
});

test('custom host names, addresses and validity window are honoured', async () => {
  const notBefore = new Date(Math.floor(now.getTime() / 1000) * 1000 + 86400_000);
  const s = await generateSelfSignedCertificate({ hostnames: ['dev.example', '*.dev.example'], ipAddresses: ['192.0.2.7'], validityDays: 2, notBefore });
  const cert = new X509Certificate(s.certificateChain[0]);
  assert.is(cert.subject, 'CN=dev.example');
  assert.is(new Date(cert.validFrom).getTime(), notBefore.getTime());
  assert.is(new Date(cert.validTo).getTime(), notBefore.getTime() + 2 * 86400_000);
  const at = (t: number, identity: { serverName?: string; ipAddress?: string }) =>
    verifyCertificateChain(s.certificateChain, { trustAnchors: [s.certificatePem], now: new Date(t), ...identity });
  at(notBefore.getTime() + 1000, { serverName: 'api.dev.example' });
  at(notBefore.getTime() + 1000, { ipAddress: '192.0.2.7' });
  assert.throws(() => at(notBefore.getTime() + 1000, { serverName: 'localhost' }), (e: unknown) => e instanceof TlsAlertError && e.alert === TlsAlert.bad_certificate);
  assert.throws(() => at(now.getTime(), { serverName: 'dev.example' }), (e: unknown) => e instanceof TlsAlertError && e.alert === TlsAlert.certificate_expired);
  assert.throws(() => at(notBefore.getTime() + 3 * 86400_000, { serverName: 'dev.example' }), (e: unknown) => e instanceof TlsAlertError && e.alert === TlsAlert.certificate_expired);
});

test('IPv6 addresses with an embedded IPv4 tail are encoded as the right 16 bytes', async () => {
  const s = await generateSelfSignedCertificate({ hostnames: [], ipAddresses: ['::ffff:192.0.2.1', '64:ff9b::198.51.100.7'] });
  const v = (ipAddress: string) => verifyCertificateChain(s.certificateChain, { trustAnchors: [s.certificatePem], now, ipAddress });
  v('192.0.2.1'); // IPv4-mapped compares as IPv4
  v('64:ff9b::c633:6407');
  assert.throws(() => v('192.0.2.2'), (e: unknown) => e instanceof TlsAlertError && e.alert === TlsAlert.bad_certificate);
  assert.is(new X509Certificate(s.certificateChain[0]).subject, 'CN=::ffff:192.0.2.1');
});

test('the default validity starts before now (clock skew) and lasts 30 days', async () => {
  const before = Date.now();
  const s = await generateSelfSignedCertificate();
  const cert = new X509Certificate(s.certificateChain[0]);
  const from = new Date(cert.validFrom).getTime();
  assert.ok(from < before && from > before - 2 * 3600_000);
  assert.is(new Date(cert.validTo).getTime() - from, 30 * 86400_000);
});

test('invalid options are refused with internal_error', async () => {
  await rejects(generateSelfSignedCertificate({ hostnames: [], ipAddresses: [] }), TlsAlert.internal_error, /at least one/);
  await rejects(generateSelfSignedCertificate({ hostnames: ['bad host'] }), TlsAlert.internal_error, /not a DNS host name/);
  await rejects(generateSelfSignedCertificate({ hostnames: ['127.0.0.1'] }), TlsAlert.internal_error, /not a DNS host name/);
  await rejects(generateSelfSignedCertificate({ ipAddresses: ['localhost'] }), TlsAlert.internal_error, /not an IP address/);
  await rejects(generateSelfSignedCertificate({ ipAddresses: ['fe80::1%eth0'] }), TlsAlert.internal_error, /not an IP address/);
  await rejects(generateSelfSignedCertificate({ validityDays: 0 }), TlsAlert.internal_error, /validityDays/);
  await rejects(generateSelfSignedCertificate({ keyType: 'dsa' as SelfSignedKeyType }), TlsAlert.internal_error, /unknown keyType/);
  await rejects(generateSelfSignedCertificate({ notBefore: new Date(NaN) }), TlsAlert.internal_error, /notBefore/);
});

test.run();
