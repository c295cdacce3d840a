// SPKI pins, insecureSkipVerify, PEM loading and spkiSha256Base64.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  loadCertificateChainPem,
  loadPrivateKeyPem,
  spkiSha256Base64,
  verifyCertificateChain,
  type VerifyCertificateChainOptions,
} from '../../src/tls/certificates.js';
import { TlsAlert, TlsAlertError } from '../../src/tls/alerts.js';
import { createChain, createSelfSignedLeaf, type TestChain, type TestCertificate } from '../support/pki.js';

const now = new Date();
const day = 86400_000;

function throwsAlert(fn: () => unknown, alert: number, pattern?: RegExp): TlsAlertError {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof TlsAlertError)) throw new Error(`expected a TlsAlertError, got ${String(e)}`, { cause: e });
    assert.is(e.alert, alert, `expected alert ${alert}, got ${e.alert}: ${e.message}`);
    if (pattern) assert.match(e.message, pattern);
    return e;
  }
  assert.unreachable(`expected TLS alert ${alert}`);
  throw new Error('unreachable');
}

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

let pki: TestChain;
let self: TestCertificate;
let expiredSelf: TestCertificate;
test.before(async () => {
  pki = await createChain();
  self = await createSelfSignedLeaf({ dnsNames: ['dev.local'], ipAddresses: [] });
  expiredSelf = await createSelfSignedLeaf({ notBefore: new Date(now.getTime() - 10 * day), notAfter: new Date(now.getTime() - day) });
});

const base = (extra: Partial<VerifyCertificateChainOptions>): VerifyCertificateChainOptions => ({
  trustAnchors: pki.anchors,
  serverName: 'localhost',
  now,
  ...extra,
});

test('spkiSha256Base64 hashes the SubjectPublicKeyInfo the same from DER, X509Certificate, public and private key', () => {
  const expected = createHash('sha256').update(pki.leaf.keys.spki).digest('base64');
  assert.is(spkiSha256Base64(pki.leaf.der), expected);
  assert.is(spkiSha256Base64(pki.leaf.x509), expected);
  assert.is(spkiSha256Base64(pki.leaf.keys.publicKey), expected);
  assert.is(spkiSha256Base64(pki.leaf.keys.privateKey), expected);
  assert.is(pki.leaf.spkiSha256, expected);
  assert.is.not(spkiSha256Base64(pki.root.der), expected);
  throwsAlert(() => spkiSha256Base64(new Uint8Array([1, 2, 3])), TlsAlert.bad_certificate);
});

test('spkiSha256Base64 equals the openssl recipe Chromium documents for --ignore-certificate-errors-spki-list', () => {
  if (!hasOpenssl()) {
    console.log('  (openssl not installed: sub-check skipped)');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'quic-actors-spki-'));
  try {
    const file = join(dir, 'cert.pem');
    writeFileSync(file, pki.leaf.pem);
    const pub = execFileSync('openssl', ['x509', '-in', file, '-noout', '-pubkey']);
    const der = execFileSync('openssl', ['pkey', '-pubin', '-outform', 'der'], { input: pub });
    const digest = execFileSync('openssl', ['dgst', '-sha256', '-binary'], { input: der });
    assert.is(spkiSha256Base64(pki.leaf.der), digest.toString('base64'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("pins with 'require-chain' (default): a valid chain whose leaf key matches a pin passes as path+pin", () => {
  const r = verifyCertificateChain(pki.chain, base({ pinnedSpkiSha256: ['AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=', pki.leaf.spkiSha256] }));
  assert.is(r.trust, 'path+pin');
  assert.is(r.chain.length, 3);
});

test("pins with 'require-chain': a pin mismatch fails even though the chain is valid (certificate_unknown)", () => {
  throwsAlert(() => verifyCertificateChain(pki.chain, base({ pinnedSpkiSha256: [pki.root.spkiSha256] })), TlsAlert.certificate_unknown, /matches none of the 1 pinned key/);
});

test("pins with 'require-chain': a pin match does not excuse an untrusted, expired or misnamed certificate", () => {
  throwsAlert(() => verifyCertificateChain([self.der], base({ serverName: 'dev.local', pinnedSpkiSha256: [self.spkiSha256] })), TlsAlert.unknown_ca);
  throwsAlert(() => verifyCertificateChain(pki.chain, base({ serverName: 'example.com', pinnedSpkiSha256: [pki.leaf.spkiSha256] })), TlsAlert.bad_certificate);
  throwsAlert(
    () => verifyCertificateChain([expiredSelf.der], base({ trustAnchors: [expiredSelf.der], pinnedSpkiSha256: [expiredSelf.spkiSha256] })),
    TlsAlert.certificate_expired,
  );
});

test("pinMode 'pin-only': the pin alone suffices, as with Chromium's flag (no anchor, validity or name check)", () => {
  const r = verifyCertificateChain([self.der], { now, pinMode: 'pin-only', pinnedSpkiSha256: [self.spkiSha256] });
  assert.is(r.trust, 'pin');
  assert.ok(r.leafPublicKey.equals(self.keys.publicKey));
  verifyCertificateChain([expiredSelf.der], { now, serverName: 'wrong.example', pinMode: 'pin-only', pinnedSpkiSha256: [expiredSelf.spkiSha256] });
  // base64url spelling without padding is the same pin.
  const url = self.spkiSha256.replace(/\+/g, '-').replace(/\//g, '_').replace(/=$/, '');
  verifyCertificateChain([self.der], { now, pinMode: 'pin-only', pinnedSpkiSha256: [url] });
});

test("pinMode 'pin-only': another key is refused with certificate_unknown", () => {
  throwsAlert(() => verifyCertificateChain([expiredSelf.der], { now, pinMode: 'pin-only', pinnedSpkiSha256: [self.spkiSha256] }), TlsAlert.certificate_unknown);
  // Only the end entity's key counts, not a CA's key further up the chain.
  throwsAlert(() => verifyCertificateChain(pki.chain, { now, pinMode: 'pin-only', pinnedSpkiSha256: [pki.intermediates[0].spkiSha256] }), TlsAlert.certificate_unknown);
});

test('malformed pins and contradictory pin options are internal_error', () => {
  throwsAlert(() => verifyCertificateChain(pki.chain, base({ pinnedSpkiSha256: ['not base64!'] })), TlsAlert.internal_error, /pinnedSpkiSha256\[0\]/);
  throwsAlert(() => verifyCertificateChain(pki.chain, base({ pinnedSpkiSha256: [Buffer.alloc(20).toString('base64')] })), TlsAlert.internal_error);
  throwsAlert(() => verifyCertificateChain(pki.chain, base({ pinMode: 'pin-only' })), TlsAlert.internal_error, /needs at least one pin/);
  throwsAlert(() => verifyCertificateChain(pki.chain, base({ pinnedSpkiSha256: [] })), TlsAlert.internal_error, /is empty/);
  throwsAlert(() => verifyCertificateChain(pki.chain, base({ insecureSkipVerify: true, pinnedSpkiSha256: [pki.leaf.spkiSha256] })), TlsAlert.internal_error);
});

test('insecureSkipVerify accepts any parsable chain (untrusted, expired, misnamed, non-CA issuer) and returns the leaf key', async () => {
  const notCa = await createChain({ intermediates: [{ ca: false }] });
  for (const chain of [[self.der], [expiredSelf.der], notCa.chain, pki.chain.slice(0, 1)]) {
    const r = verifyCertificateChain(chain, { now, serverName: 'nobody.example', insecureSkipVerify: true, trustAnchors: [] });
    assert.is(r.trust, 'insecure');
    assert.ok(r.leaf.raw.equals(Buffer.from(chain[0])));
    assert.is(r.chain.length, 1);
  }
});

test('insecureSkipVerify still refuses unparsable certificates and keys that cannot sign CertificateVerify', async () => {
  const skip = { now, insecureSkipVerify: true };
  throwsAlert(() => verifyCertificateChain([new Uint8Array([0x30, 0x00])], skip), TlsAlert.bad_certificate);
  throwsAlert(() => verifyCertificateChain([self.der, new Uint8Array([0xff])], skip), TlsAlert.bad_certificate);
  throwsAlert(() => verifyCertificateChain([], skip), TlsAlert.decode_error);
  const weak = await createSelfSignedLeaf({ keyType: 'rsa-1024' });
  throwsAlert(() => verifyCertificateChain([weak.der], skip), TlsAlert.unsupported_certificate);
});

test('loadCertificateChainPem returns every certificate of a PEM bundle in order, ignoring surrounding text', () => {
  const text = `subject=leaf\n${pki.leaf.pem}\n# comment\n${pki.intermediates[0].pem}\r\n${pki.root.pem}`;
  const ders = loadCertificateChainPem(text);
  assert.is(ders.length, 3);
  assert.ok(Buffer.from(ders[0]).equals(Buffer.from(pki.leaf.der)));
  assert.ok(Buffer.from(ders[2]).equals(Buffer.from(pki.root.der)));
  verifyCertificateChain(ders.slice(0, 2), base({}));
});

test('loadCertificateChainPem refuses text without certificates or with a corrupt one (internal_error)', () => {
  throwsAlert(() => loadCertificateChainPem(''), TlsAlert.internal_error, /no "-----BEGIN CERTIFICATE-----" block/);
  throwsAlert(() => loadCertificateChainPem(pki.leaf.privateKeyPem), TlsAlert.internal_error);
  const corrupt = pki.leaf.pem.replace(/\n[A-Za-z0-9+/]{20}/, '\nAAAAAAAAAAAAAAAAAAAA');
  throwsAlert(() => loadCertificateChainPem(corrupt), TlsAlert.internal_error, /PEM certificate 1 does not parse/);
});

test('loadPrivateKeyPem reads PKCS#8, SEC1 and PKCS#1 keys and encrypted PKCS#8 with a passphrase', () => {
  const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ed = generateKeyPairSync('ed25519');
  const pems = [
    ec.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    ec.privateKey.export({ type: 'sec1', format: 'pem' }) as string,
    rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }) as string,
    ed.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
  ];
  for (const pem of pems) assert.is(loadPrivateKeyPem(pem).type, 'private');
  const encrypted = ec.privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret' }) as string;
  assert.ok(loadPrivateKeyPem(encrypted, 'secret').equals(ec.privateKey));
  throwsAlert(() => loadPrivateKeyPem(encrypted), TlsAlert.internal_error);
  throwsAlert(() => loadPrivateKeyPem(encrypted, 'wrong'), TlsAlert.internal_error);
});

test('loadPrivateKeyPem refuses non-keys and keys that cannot sign TLS 1.3 CertificateVerify', () => {
  throwsAlert(() => loadPrivateKeyPem('hello'), TlsAlert.internal_error, /not a private key/);
  throwsAlert(() => loadPrivateKeyPem(pki.leaf.pem), TlsAlert.internal_error);
  const weak = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  throwsAlert(() => loadPrivateKeyPem(weak), TlsAlert.internal_error, /at least 2048 bits/);
  const k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  throwsAlert(() => loadPrivateKeyPem(k1), TlsAlert.internal_error, /P-256, P-384 and P-521/);
});

test('a trust list may be one PEM bundle string', () => {
  const bundle = `${pki.root.pem}\n${(new X509Certificate(pki.intermediates[0].der)).toString()}`;
  const r = verifyCertificateChain(pki.chain.slice(0, 1), { trustAnchors: [bundle], serverName: 'localhost', now });
  assert.is(r.chain.length, 2); // the intermediate in the bundle is itself an anchor
});

test.run();
