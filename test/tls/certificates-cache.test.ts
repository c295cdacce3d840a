// CertificateCache: certificates seen again are not parsed again, and nothing but parsing is cached.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CertificateCache, verifyCertificateChain, type VerifyCertificateChainOptions } from '../../src/tls/certificates.js';
import { TlsAlert, TlsAlertError } from '../../src/tls/alerts.js';
import { createChain, createSelfSignedLeaf, type TestChain, type TestCertificate } from '../support/pki.js';
import { spkiSha256Base64 } from '../../src/tls/certificates.js';

const now = new Date();
const day = 86400_000;

function alertOf(fn: () => unknown): number {
  try {
    fn();
  } catch (e) {
    if (e instanceof TlsAlertError) return e.alert;
    throw e;
  }
  assert.unreachable('expected a TlsAlertError');
  return -1;
}

let pki: TestChain;
let other: TestChain;
let self: TestCertificate;
test.before(async () => {
  pki = await createChain();
  other = await createChain();
  self = await createSelfSignedLeaf({ notBefore: new Date(now.getTime() - day), notAfter: new Date(now.getTime() + day) });
});

const base = (cache: CertificateCache, extra: Partial<VerifyCertificateChainOptions> = {}): VerifyCertificateChainOptions => ({
  trustAnchors: pki.anchors,
  serverName: 'localhost',
  now,
  certificateCache: cache,
  ...extra,
});

test('a chain verified again with the same cache is not parsed again, and gives the same result', () => {
  const cache = new CertificateCache();
  const first = verifyCertificateChain(pki.chain, base(cache));
  assert.is(cache.misses, pki.chain.length);
  assert.is(cache.hits, 0);
  // A fresh copy of the bytes (as a new connection receives them) hits.
  const second = verifyCertificateChain(pki.chain.map((c) => c.slice()), base(cache));
  assert.is(cache.hits, pki.chain.length);
  assert.is(second.trust, first.trust);
  assert.equal(second.chain.map((c) => c.fingerprint256), first.chain.map((c) => c.fingerprint256));
});

test('a cached certificate is still checked against the validity window at each verification', () => {
  const cache = new CertificateCache();
  verifyCertificateChain(pki.chain, base(cache));
  assert.is(alertOf(() => verifyCertificateChain(pki.chain, base(cache, { now: new Date(now.getTime() + 365 * day) }))), TlsAlert.certificate_expired);
  assert.ok(cache.hits > 0);
});

test('a cached certificate is still checked against the trust anchors, the name and the pins at each verification', () => {
  const cache = new CertificateCache();
  verifyCertificateChain(pki.chain, base(cache));
  assert.is(alertOf(() => verifyCertificateChain(pki.chain, base(cache, { trustAnchors: other.anchors }))), TlsAlert.unknown_ca);
  assert.is(alertOf(() => verifyCertificateChain(pki.chain, base(cache, { serverName: 'elsewhere.example' }))), TlsAlert.bad_certificate);
  const pin = spkiSha256Base64(self.der);
  assert.is(verifyCertificateChain([self.der], base(cache, { pinnedSpkiSha256: [pin], pinMode: 'pin-only' })).trust, 'pin');
  assert.is(alertOf(() => verifyCertificateChain(pki.chain, base(cache, { pinnedSpkiSha256: [pin], pinMode: 'pin-only' }))), TlsAlert.certificate_unknown);
});

test('a certificate that differs in one byte is parsed on its own, never answered from the cache', () => {
  const cache = new CertificateCache();
  verifyCertificateChain(pki.chain, base(cache));
  const tampered = pki.chain.map((c) => c.slice());
  tampered[0][tampered[0].length - 1] ^= 1; // the signature's last byte
  const hits = cache.hits;
  assert.is(alertOf(() => verifyCertificateChain(tampered, base(cache))), TlsAlert.bad_certificate);
  assert.is(cache.hits, hits + pki.chain.length - 1); // only the untouched intermediate
});

test('the cache keeps at most its capacity, dropping the least recently used certificate', () => {
  const cache = new CertificateCache(2);
  verifyCertificateChain(pki.chain, base(cache)); // leaf, intermediate
  verifyCertificateChain([self.der], base(cache, { pinnedSpkiSha256: [spkiSha256Base64(self.der)], pinMode: 'pin-only' }));
  assert.is(cache.size, 2);
  const misses = cache.misses;
  verifyCertificateChain([self.der], base(cache, { pinnedSpkiSha256: [spkiSha256Base64(self.der)], pinMode: 'pin-only' }));
  assert.is(cache.misses, misses);
  assert.throws(() => new CertificateCache(0), RangeError);
});

test.run();
