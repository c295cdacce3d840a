// Certification path building and validation: trust anchors, ordering, validity, CA constraints,
// signature algorithms, key types, malformed input and limits.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { X509Certificate } from 'node:crypto';
import { rootCertificates } from 'node:tls';
import {
  MAX_CHAIN_CERTIFICATES,
  loadCertificateChainPem,
  spkiSha256Base64,
  TrustStore,
  systemTrustStore,
  verifyCertificateChain,
  type VerifyCertificateChainOptions,
} from '../../src/tls/certificates.js';
import { TlsAlert, TlsAlertError } from '../../src/tls/alerts.js';
import { CRYPTO_ERROR_BASE } from '../../src/wire/errors.js';
import { createChain, createRootCa, createSelfSignedLeaf, generateTestKeyPair, type TestChain, type TestKeyType } from '../support/pki.js';
import * as x509 from '@peculiar/x509';

const now = new Date();
const day = 86400_000;

function throwsAlert(fn: () => unknown, alert: number, pattern?: RegExp): TlsAlertError {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof TlsAlertError)) throw new Error(`expected a TlsAlertError, got ${String(e)}`, { cause: e });
    assert.is(e.alert, alert, `expected alert ${alert}, got ${e.alert}: ${e.message}`);
    assert.is(e.code, CRYPTO_ERROR_BASE + alert);
    if (pattern) assert.match(e.message, pattern);
    return e;
  }
  assert.unreachable(`expected TLS alert ${alert}`);
  throw new Error('unreachable');
}

const opts = (pki: { anchors: Uint8Array[] }, extra: Partial<VerifyCertificateChainOptions> = {}): VerifyCertificateChainOptions => ({
  trustAnchors: pki.anchors,
  serverName: 'localhost',
  now,
  ...extra,
});

const subjects = (chain: readonly X509Certificate[]) => chain.map((c) => c.subject);

let basic: TestChain;
test.before(async () => {
  basic = await createChain({ intermediates: 2 });
});

test('leaf + two intermediates + root verifies; the result is the path leaf → root and the leaf key', () => {
  const r = verifyCertificateChain(basic.chain, opts(basic));
  assert.is(r.trust, 'path');
  assert.equal(subjects(r.chain), [basic.leaf.x509.subject, basic.intermediates[1].x509.subject, basic.intermediates[0].x509.subject, basic.root.x509.subject]);
  assert.ok(r.leaf.raw.equals(Buffer.from(basic.leaf.der)));
  assert.ok(r.leafPublicKey.equals(basic.leaf.keys.publicKey));
});

test('intermediates in any order, with duplicates and unrelated extras, still verify', async () => {
  const stranger = await createRootCa();
  const strangerLeaf = await stranger.issueLeaf();
  const [leaf, i2, i1] = basic.chain;
  for (const chain of [
    [leaf, i1, i2],
    [leaf, stranger.der, i1, strangerLeaf.der, i2, i1, i2],
    [leaf, leaf, i2, basic.root.der, i1], // a duplicate leaf and the root itself
  ]) {
    const r = verifyCertificateChain(chain, opts(basic));
    assert.is(r.chain.length, 4);
    assert.is(r.chain[3].subject, basic.root.x509.subject);
  }
});

test('the trust anchor can be given as PEM, DER, X509Certificate or a reusable TrustStore', () => {
  for (const anchors of [[basic.root.pem], [basic.root.der], [basic.root.x509], new TrustStore([basic.root.pem + '\n' + (basic.intermediates[0].pem)])]) {
    assert.is(verifyCertificateChain(basic.chain, { trustAnchors: anchors, serverName: 'localhost', now }).chain.length >= 3, true);
  }
});

test('an intermediate can be the trust anchor: the path stops there', () => {
  const r = verifyCertificateChain(basic.chain, { ...opts(basic), trustAnchors: [basic.intermediates[1].der] });
  assert.equal(subjects(r.chain), [basic.leaf.x509.subject, basic.intermediates[1].x509.subject]);
});

test('a missing intermediate is unknown_ca, naming the issuer that was not found', () => {
  const [leaf, , i1] = basic.chain;
  throwsAlert(() => verifyCertificateChain([leaf, i1], opts(basic)), TlsAlert.unknown_ca, /was issued by "CN=Test Intermediate CA .*", which is not a trusted CA and is not in the chain/);
  throwsAlert(() => verifyCertificateChain([leaf], opts(basic)), TlsAlert.unknown_ca);
});

test('a chain to an unknown root is unknown_ca, also when the peer sends that root', async () => {
  const other = await createRootCa();
  throwsAlert(() => verifyCertificateChain(basic.chain, { ...opts(basic), trustAnchors: [other.der] }), TlsAlert.unknown_ca);
  throwsAlert(() => verifyCertificateChain([...basic.chain, basic.root.der], { ...opts(basic), trustAnchors: [other.der] }), TlsAlert.unknown_ca, /\(self-signed\)/);
});

test('a trusted root name on a different key (an impersonated CA) is unknown_ca', async () => {
  const impostor = await createRootCa({ subject: basic.root.subject });
  throwsAlert(() => verifyCertificateChain(basic.chain, { ...opts(basic), trustAnchors: [impostor.der] }), TlsAlert.unknown_ca, /does not verify with the key of trusted CA/);
});

test('a tampered certificate signature from a sent issuer is bad_certificate', () => {
  const tampered = Uint8Array.from(basic.leaf.der);
  tampered[tampered.length - 5] ^= 0x01; // inside the signature BIT STRING
  throwsAlert(() => verifyCertificateChain([tampered, ...basic.chain.slice(1)], opts(basic)), TlsAlert.bad_certificate, /signature on certificate .* does not verify/);
});

test('same-named CAs with different keys (key rollover): the one that signed is used; a wrong one alone is bad_certificate', async () => {
  const root = await createRootCa();
  const oldCa = await root.issueIntermediate({ subject: 'CN=Rollover CA' });
  const newCa = await root.issueIntermediate({ subject: 'CN=Rollover CA' });
  const leaf = await newCa.issueLeaf();
  const o = { trustAnchors: [root.der], serverName: 'localhost', now };
  const r = verifyCertificateChain([leaf.der, oldCa.der, newCa.der], o);
  assert.ok(r.chain[1].raw.equals(Buffer.from(newCa.der)));
  const unrelated = await createRootCa();
  throwsAlert(() => verifyCertificateChain([leaf.der, oldCa.der, newCa.der], { ...o, trustAnchors: [unrelated.der] }), TlsAlert.unknown_ca);
  throwsAlert(() => verifyCertificateChain([leaf.der, oldCa.der], o), TlsAlert.bad_certificate, /does not verify with the key of its issuer "Rollover CA"/);
});

test('expired or not-yet-valid leaf, intermediate or root is certificate_expired', async () => {
  const past = { notBefore: new Date(now.getTime() - 10 * day), notAfter: new Date(now.getTime() - day) };
  const future = { notBefore: new Date(now.getTime() + day), notAfter: new Date(now.getTime() + 10 * day) };
  const expiredLeaf = await createChain({ leaf: past });
  throwsAlert(() => verifyCertificateChain(expiredLeaf.chain, opts(expiredLeaf)), TlsAlert.certificate_expired, /certificate "Test Leaf .*" expired at/);
  const expiredInt = await createChain({ intermediates: [past] });
  throwsAlert(() => verifyCertificateChain(expiredInt.chain, opts(expiredInt)), TlsAlert.certificate_expired, /intermediate CA .* expired/);
  const expiredRoot = await createChain({ root: past });
  throwsAlert(() => verifyCertificateChain(expiredRoot.chain, opts(expiredRoot)), TlsAlert.certificate_expired, /trusted CA .* expired/);
  const notYet = await createChain({ leaf: future });
  throwsAlert(() => verifyCertificateChain(notYet.chain, opts(notYet)), TlsAlert.certificate_expired, /is not valid before/);
  const notYetInt = await createChain({ intermediates: [future] });
  throwsAlert(() => verifyCertificateChain(notYetInt.chain, opts(notYetInt)), TlsAlert.certificate_expired, /not valid before/);
});

test('validity bounds are inclusive to the second and follow options.now, not the clock', async () => {
  const notBefore = new Date(Math.floor(now.getTime() / 1000) * 1000 - day);
  const notAfter = new Date(notBefore.getTime() + 2 * day);
  const wide = { notBefore: new Date(notBefore.getTime() - day), notAfter: new Date(notAfter.getTime() + day) };
  const pki = await createChain({ root: wide, intermediates: [wide], leaf: { notBefore, notAfter } });
  verifyCertificateChain(pki.chain, opts(pki, { now: notBefore }));
  verifyCertificateChain(pki.chain, opts(pki, { now: notAfter }));
  throwsAlert(() => verifyCertificateChain(pki.chain, opts(pki, { now: new Date(notAfter.getTime() + 1000) })), TlsAlert.certificate_expired);
  throwsAlert(() => verifyCertificateChain(pki.chain, opts(pki, { now: new Date(notBefore.getTime() - 1000) })), TlsAlert.certificate_expired);
});

test('an expired copy of an intermediate is skipped when a valid one with the same name and key is sent', async () => {
  const root = await createRootCa();
  const key = generateTestKeyPair('ecdsa-p256');
  const old = await root.issueIntermediate({ subject: 'CN=Rolling CA', keys: key, notBefore: new Date(now.getTime() - 20 * day), notAfter: new Date(now.getTime() - day) });
  const fresh = await root.issueIntermediate({ subject: 'CN=Rolling CA', keys: key });
  const leaf = await fresh.issueLeaf();
  const r = verifyCertificateChain([leaf.der, old.der, fresh.der], { trustAnchors: [root.der], serverName: 'localhost', now });
  assert.ok(r.chain[1].raw.equals(Buffer.from(fresh.der)));
  throwsAlert(() => verifyCertificateChain([leaf.der, old.der], { trustAnchors: [root.der], serverName: 'localhost', now }), TlsAlert.certificate_expired);
});

test('an intermediate that is not a CA (cA false or no basicConstraints) is bad_certificate', async () => {
  const notCa = await createChain({ intermediates: [{ ca: false, keyUsage: ['keyCertSign'] }] });
  throwsAlert(() => verifyCertificateChain(notCa.chain, opts(notCa)), TlsAlert.bad_certificate, /is not a CA/);
  const noBc = await createChain({ intermediates: [{ omitBasicConstraints: true }] });
  throwsAlert(() => verifyCertificateChain(noBc.chain, opts(noBc)), TlsAlert.bad_certificate, /is not a CA/);
  // A leaf used as an issuer: its own leaf cannot chain through it.
  const pki = await createChain();
  const grandchild = await pki.leaf.issueLeaf();
  throwsAlert(() => verifyCertificateChain([grandchild.der, ...pki.chain], opts(pki)), TlsAlert.bad_certificate, /is not a CA/);
});

test('a trust anchor with cA false cannot issue, but a v1-style anchor without basicConstraints can', async () => {
  const noBcRoot = await createChain({ root: { omitBasicConstraints: true } });
  verifyCertificateChain(noBcRoot.chain, opts(noBcRoot));
  const caFalseRoot = await createChain({ root: { ca: false, keyUsage: ['keyCertSign'] } });
  throwsAlert(() => verifyCertificateChain(caFalseRoot.chain, opts(caFalseRoot)), TlsAlert.bad_certificate, /trusted CA .* is not a CA/);
});

test('pathLenConstraint limits the intermediates below a CA (root or intermediate)', async () => {
  const ok0 = await createChain({ intermediates: [{ pathLength: 0 }] });
  verifyCertificateChain(ok0.chain, opts(ok0));
  const rootLen0 = await createChain({ root: { pathLength: 0 }, intermediates: 1 });
  throwsAlert(() => verifyCertificateChain(rootLen0.chain, opts(rootLen0)), TlsAlert.bad_certificate, /allows 0 intermediate CA\(s\) below it \(pathLenConstraint\), the path has 1/);
  const rootLen1 = await createChain({ root: { pathLength: 1 }, intermediates: 2 });
  throwsAlert(() => verifyCertificateChain(rootLen1.chain, opts(rootLen1)), TlsAlert.bad_certificate, /pathLenConstraint/);
  const intLen0 = await createChain({ intermediates: [{ pathLength: 0 }, {}] });
  throwsAlert(() => verifyCertificateChain(intLen0.chain, opts(intLen0)), TlsAlert.bad_certificate, /pathLenConstraint/);
  const rootLen2 = await createChain({ root: { pathLength: 2 }, intermediates: 2 });
  verifyCertificateChain(rootLen2.chain, opts(rootLen2));
});

test('an issuer whose keyUsage lacks keyCertSign is bad_certificate', async () => {
  const pki = await createChain({ intermediates: [{ keyUsage: ['digitalSignature', 'cRLSign'] }] });
  throwsAlert(() => verifyCertificateChain(pki.chain, opts(pki)), TlsAlert.bad_certificate, /without keyCertSign/);
  const noKu = await createChain({ intermediates: [{ keyUsage: null }] });
  verifyCertificateChain(noKu.chain, opts(noKu));
});

test('an intermediate whose extendedKeyUsage excludes the purpose is bad_certificate', async () => {
  const pki = await createChain({ intermediates: [{ extendedKeyUsage: ['clientAuth'] }] });
  throwsAlert(() => verifyCertificateChain(pki.chain, opts(pki)), TlsAlert.bad_certificate, /intermediate CA .* does not allow serverAuth/);
  verifyCertificateChain(pki.chain, opts(pki, { role: 'client' }));
});

test('certificates signed with SHA-1 are refused (bad_certificate) but a SHA-1 self-signed root is a fine anchor', async () => {
  const sha1Leaf = await createChain({ leaf: { signatureHash: 'SHA-1' } });
  throwsAlert(() => verifyCertificateChain(sha1Leaf.chain, opts(sha1Leaf)), TlsAlert.bad_certificate, /signed with ecdsa-with-SHA1, which is not accepted/);
  const rsaRoot = await createRootCa({ keyType: 'rsa', signatureHash: 'SHA-1' });
  const rsaSha1Int = await createChain({ root: rsaRoot, intermediates: [{ signatureHash: 'SHA-1' }] });
  throwsAlert(() => verifyCertificateChain(rsaSha1Int.chain, opts(rsaSha1Int)), TlsAlert.bad_certificate, /sha1WithRSAEncryption/);
  const underSha1Root = await createChain({ root: rsaRoot });
  verifyCertificateChain(underSha1Root.chain, opts(underSha1Root));
});

test('RSASSA-PSS and RSASSA-PKCS1-v1_5 SHA-2 certificate signatures verify', async () => {
  const root = await createRootCa({ keyType: 'rsa' });
  const pss = await createChain({ root, intermediates: [{ rsaSignature: 'pss', signatureHash: 'SHA-384' }], leaf: {} });
  verifyCertificateChain(pss.chain, opts(pss));
  const pkcs1 = await createChain({ root, intermediates: [{ signatureHash: 'SHA-512' }] });
  verifyCertificateChain(pkcs1.chain, opts(pkcs1));
});

for (const keyType of ['ecdsa-p256', 'ecdsa-p384', 'ecdsa-p521', 'ed25519', 'rsa'] as TestKeyType[]) {
  test(`a ${keyType} PKI (root, intermediate, leaf) verifies and yields a ${keyType} leaf key`, async () => {
    const pki = await createChain({ keyType });
    const r = verifyCertificateChain(pki.chain, opts(pki));
    assert.ok(r.leafPublicKey.equals(pki.leaf.keys.publicKey));
  });
}

test('an RSASSA-PSS-OID leaf key is accepted and returned as an rsa-pss key', async () => {
  const pki = await createChain({ leaf: { keyType: 'rsa-pss' } });
  assert.is(verifyCertificateChain(pki.chain, opts(pki)).leafPublicKey.asymmetricKeyType, 'rsa-pss');
});

test('unusable leaf keys (RSA-1024, secp256k1, Ed448) are unsupported_certificate; so is an RSA-1024 intermediate', async () => {
  for (const [keyType, re] of [['rsa-1024', /RSA 1024-bit key \(at least 2048/], ['ecdsa-secp256k1', /secp256k1/], ['ed448', /Ed448/]] as const) {
    const pki = await createChain({ leaf: { keyType } });
    throwsAlert(() => verifyCertificateChain(pki.chain, opts(pki)), TlsAlert.unsupported_certificate, re);
  }
  const weakInt = await createChain({ intermediates: [{ keyType: 'rsa-1024' }] });
  throwsAlert(() => verifyCertificateChain(weakInt.chain, opts(weakInt)), TlsAlert.unsupported_certificate, /intermediate CA .* RSA 1024-bit/);
});

test('an unknown critical extension is unsupported_certificate; an unknown non-critical one is ignored', async () => {
  const ext = (critical: boolean) => new x509.Extension('1.3.6.1.4.1.55555.1', critical, new Uint8Array([0x05, 0x00]));
  const crit = await createChain({ leaf: { extensions: [ext(true)] } });
  throwsAlert(() => verifyCertificateChain(crit.chain, opts(crit)), TlsAlert.unsupported_certificate, /critical extension 1\.3\.6\.1\.4\.1\.55555\.1/);
  const critInt = await createChain({ intermediates: [{ extensions: [ext(true)] }] });
  throwsAlert(() => verifyCertificateChain(critInt.chain, opts(critInt)), TlsAlert.unsupported_certificate);
  const nonCrit = await createChain({ leaf: { extensions: [ext(false)] } });
  verifyCertificateChain(nonCrit.chain, opts(nonCrit));
});

test('a duplicated extension makes the certificate bad_certificate (RFC 5280 §4.2)', async () => {
  const pki = await createChain({ leaf: { extensions: [new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true)] } });
  throwsAlert(() => verifyCertificateChain(pki.chain, opts(pki)), TlsAlert.bad_certificate, /appears twice/);
});

test('empty chain: decode_error from a server, certificate_required from a client (RFC 8446 §4.4.2.4)', () => {
  throwsAlert(() => verifyCertificateChain([], opts(basic)), TlsAlert.decode_error, /empty certificate chain/);
  throwsAlert(() => verifyCertificateChain([], opts(basic, { role: 'client' })), TlsAlert.certificate_required);
});

test('malformed certificates are bad_certificate, never an untyped error', () => {
  const der = basic.leaf.der;
  const cases: Uint8Array[] = [
    new Uint8Array(0),
    new Uint8Array([0x30]),
    new Uint8Array([0x30, 0x80, 0x00, 0x00]), // indefinite length
    der.subarray(0, der.length - 1),
    Uint8Array.from([...der, 0x00]), // trailing byte
    new TextEncoder().encode(basic.leaf.pem), // PEM text is not DER
    Uint8Array.from([0x31, ...der.subarray(1)]), // SET instead of SEQUENCE
  ];
  for (const bad of cases) {
    throwsAlert(() => verifyCertificateChain([bad], opts(basic)), TlsAlert.bad_certificate, /not a valid DER X\.509 certificate/);
    throwsAlert(() => verifyCertificateChain([basic.chain[0], bad], opts(basic)), TlsAlert.bad_certificate, /certificate 1 of the server's chain/);
  }
});

test('random bytes and corrupted certificates only ever produce TlsAlertErrors (property)', () => {
  const der = basic.leaf.der;
  const mutated = fc.tuple(fc.nat(der.length - 1), fc.integer({ min: 1, max: 255 })).map(([i, x]) => {
    const b = Uint8Array.from(der);
    b[i] ^= x;
    return b;
  });
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), mutated), (bytes) => {
      try {
        verifyCertificateChain([bytes, ...basic.chain.slice(1)], opts(basic));
      } catch (e) {
        if (!(e instanceof TlsAlertError)) throw e;
        return;
      }
    }),
    { numRuns: 300 },
  );
});

test(`more than ${MAX_CHAIN_CERTIFICATES} certificates are refused; paths longer than 10 are unknown_ca`, async () => {
  throwsAlert(() => verifyCertificateChain(new Array(MAX_CHAIN_CERTIFICATES + 1).fill(basic.leaf.der), opts(basic)), TlsAlert.bad_certificate, /at most 32/);
  const deep = await createChain({ intermediates: 10 });
  throwsAlert(() => verifyCertificateChain(deep.chain, opts(deep)), TlsAlert.unknown_ca, /at most 10 certificates/);
  const ok = await createChain({ intermediates: 8 }); // 10 certificates with leaf and root
  verifyCertificateChain(ok.chain, opts(ok));
});

test('two CAs that certify each other do not loop: unknown_ca', async () => {
  const keyA = generateTestKeyPair();
  const keyB = generateTestKeyPair();
  const b0 = await createRootCa({ subject: 'CN=Loop B', keys: keyB });
  const a = await b0.issueIntermediate({ subject: 'CN=Loop A', keys: keyA });
  const b = await a.issueIntermediate({ subject: 'CN=Loop B', keys: keyB });
  const leaf = await a.issueLeaf();
  const unrelated = await createRootCa();
  throwsAlert(() => verifyCertificateChain([leaf.der, a.der, b.der], { trustAnchors: [unrelated.der], serverName: 'localhost', now }), TlsAlert.unknown_ca);
  // With B's self-signed certificate trusted, the same loop resolves.
  verifyCertificateChain([leaf.der, a.der, b.der], { trustAnchors: [b0.der], serverName: 'localhost', now });
});

test('a crafted chain of many same-named CAs that certify each other ends in unknown_ca within the work bounds', async () => {
  const keys = [0, 1, 2, 3].map(() => generateTestKeyPair());
  const seeds = await Promise.all(keys.map((k) => createRootCa({ subject: 'CN=Crowd', keys: k })));
  const crowd: Uint8Array[] = [];
  for (let i = 0; i < keys.length; i++) {
    for (let copy = 0; copy < 6; copy++) crowd.push((await seeds[(i + 1) % keys.length].issueIntermediate({ subject: 'CN=Crowd', keys: keys[i] })).der);
  }
  const leaf = await seeds[0].issueLeaf();
  const unrelated = await createRootCa();
  const chain = [leaf.der, ...crowd, ...seeds.map((c) => c.der)];
  assert.ok(chain.length <= MAX_CHAIN_CERTIFICATES);
  throwsAlert(() => verifyCertificateChain(chain, { trustAnchors: [unrelated.der], serverName: 'localhost', now }), TlsAlert.unknown_ca);
});

test('the system root store loads once and refuses an unrelated self-signed certificate and a private PKI', async () => {
  const store = systemTrustStore();
  assert.ok(store.size > 50, `system store has ${store.size} roots`);
  assert.is(store.size, new Set(rootCertificates).size, 'every bundled root is usable');
  for (const pem of rootCertificates) spkiSha256Base64(loadCertificateChainPem(pem)[0]); // full parse of each root
  assert.is(systemTrustStore(), store);
  const self = await createSelfSignedLeaf();
  throwsAlert(() => verifyCertificateChain([self.der], { trustAnchors: 'system', serverName: 'localhost', now }), TlsAlert.unknown_ca, /\(self-signed\)/);
  throwsAlert(() => verifyCertificateChain(basic.chain, { serverName: 'localhost', now }), TlsAlert.unknown_ca);
});

test('a self-signed end-entity certificate trusted as its own anchor verifies; a different certificate for the same key does not', async () => {
  const self = await createSelfSignedLeaf();
  const r = verifyCertificateChain([self.der], { trustAnchors: [self.der], serverName: 'localhost', now });
  assert.is(r.chain.length, 1);
  const sameKey = await createSelfSignedLeaf({ keys: self.keys, subject: self.subject });
  throwsAlert(() => verifyCertificateChain([sameKey.der], { trustAnchors: [self.der], serverName: 'localhost', now }), TlsAlert.unknown_ca);
});

test('caller mistakes are internal_error: no now, no name for a server, bad anchors, contradictory options', () => {
  throwsAlert(() => verifyCertificateChain(basic.chain, { trustAnchors: basic.anchors, serverName: 'localhost' } as unknown as VerifyCertificateChainOptions), TlsAlert.internal_error, /options\.now/);
  throwsAlert(() => verifyCertificateChain(basic.chain, { trustAnchors: basic.anchors, now }), TlsAlert.internal_error, /needs serverName or ipAddress/);
  throwsAlert(() => verifyCertificateChain(basic.chain, { trustAnchors: ['not a pem'], serverName: 'localhost', now }), TlsAlert.internal_error);
  throwsAlert(() => new TrustStore([new Uint8Array([1, 2, 3])]), TlsAlert.internal_error, /trust anchor 1/);
  // A client certificate needs no name.
  verifyCertificateChain(basic.chain, { trustAnchors: basic.anchors, now, role: 'client' });
});

test.run();
