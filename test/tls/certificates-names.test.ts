// Identity checks (RFC 6125 §6.4 / RFC 9525 §6.3), end-entity usages and name constraints
// (RFC 5280 §4.2.1.10).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { verifyCertificateChain, type VerifyCertificateChainOptions } from '../../src/tls/certificates.js';
import { TlsAlert, TlsAlertError } from '../../src/tls/alerts.js';
import { createChain, createRootCa, type TestCertificate, type TestCertificateOptions } from '../support/pki.js';

const now = new Date();

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

let root: TestCertificate;
let intermediate: TestCertificate;
test.before(async () => {
  root = await createRootCa();
  intermediate = await root.issueIntermediate();
});

async function leafChain(options: TestCertificateOptions): Promise<Uint8Array[]> {
  const leaf = await intermediate.issueLeaf(options);
  return [leaf.der, intermediate.der];
}

const verify = (chain: Uint8Array[], extra: Partial<VerifyCertificateChainOptions>) =>
  verifyCertificateChain(chain, { trustAnchors: [root.der], now, ...extra });

const accepts = (chain: Uint8Array[], extra: Partial<VerifyCertificateChainOptions>) => {
  verify(chain, extra);
};
const mismatch = (chain: Uint8Array[], extra: Partial<VerifyCertificateChainOptions>, re?: RegExp) =>
  throwsAlert(() => verify(chain, extra), TlsAlert.bad_certificate, re ?? /does not match/);

test('a dNSName matches exactly, case-insensitively and with or without a trailing dot', async () => {
  const chain = await leafChain({ dnsNames: ['Example.COM', 'www.example.com.'] });
  for (const host of ['example.com', 'EXAMPLE.com', 'example.com.', 'www.example.com', 'WWW.Example.Com.']) accepts(chain, { serverName: host });
  mismatch(chain, { serverName: 'localhost' }, /certificate for Example\.COM, www\.example\.com\. does not match host localhost/);
  mismatch(chain, { serverName: 'ample.com' });
  mismatch(chain, { serverName: 'example.com.evil' });
  mismatch(chain, { serverName: 'a.example.com' });
});

test('*.example.com matches one left-most label: a.example.com, not a.b.example.com nor example.com', async () => {
  const chain = await leafChain({ dnsNames: ['*.example.com'] });
  accepts(chain, { serverName: 'a.example.com' });
  accepts(chain, { serverName: 'XN--BCHER-KVA.example.com' });
  mismatch(chain, { serverName: 'a.b.example.com' });
  mismatch(chain, { serverName: 'example.com' });
  mismatch(chain, { serverName: 'aexample.com' });
});

test('partial wildcards, inner wildcards and wildcards over a single label never match', async () => {
  const cases: Array<[string, string]> = [
    ['f*.example.com', 'foo.example.com'],
    ['*o.example.com', 'foo.example.com'],
    ['f*o.example.com', 'foo.example.com'],
    ['a.*.example.com', 'a.b.example.com'],
    ['*.com', 'example.com'],
    ['*', 'localhost'],
    ['*.*.example.com', 'a.b.example.com'],
  ];
  for (const [san, host] of cases) mismatch(await leafChain({ dnsNames: [san] }), { serverName: host });
});

test('Unicode server names are compared as A-labels (IDNA)', async () => {
  const chain = await leafChain({ dnsNames: ['xn--bcher-kva.example'] });
  accepts(chain, { serverName: 'bücher.example' });
  accepts(chain, { serverName: 'xn--bcher-kva.example' });
  mismatch(chain, { serverName: 'bucher.example' });
});

test('iPAddress SANs match 127.0.0.1 and ::1 (any spelling, IPv4-mapped too); nothing else', async () => {
  const chain = await leafChain({ dnsNames: [], ipAddresses: ['127.0.0.1', '::1', '2001:db8::1:0:0:1'] });
  for (const ip of ['127.0.0.1', '::1', '0:0:0:0:0:0:0:1', '[::1]', '::ffff:127.0.0.1', '::ffff:7f00:1', '2001:db8:0:0:1::1', '2001:DB8::1:0:0:1']) {
    accepts(chain, { ipAddress: ip });
  }
  mismatch(chain, { ipAddress: '127.0.0.2' }, /certificate for 127\.0\.0\.1, ::1, 2001:db8::1:0:0:1 does not match IP address 127\.0\.0\.2/);
  mismatch(chain, { ipAddress: '::2' });
  mismatch(chain, { serverName: 'localhost' });
});

test('a dNSName "127.0.0.1" never matches the IP address 127.0.0.1, also when given as serverName', async () => {
  const chain = await leafChain({ dnsNames: ['127.0.0.1', '::1'], ipAddresses: [] });
  mismatch(chain, { ipAddress: '127.0.0.1' });
  mismatch(chain, { serverName: '127.0.0.1' }); // an IP literal serverName is checked as an IP
  mismatch(chain, { ipAddress: '::1' });
});

test('the common name is never used: no SAN means no identity, with a message saying so', async () => {
  const noSan = await leafChain({ subject: 'CN=localhost', omitSubjectAltName: true });
  mismatch(noSan, { serverName: 'localhost' }, /no DNS or IP subjectAltName; the common name is not used/);
  const otherSan = await leafChain({ subject: 'CN=localhost', dnsNames: ['example.com'] });
  mismatch(otherSan, { serverName: 'localhost' });
  // An email-only SAN gives no host identity either.
  mismatch(await leafChain({ subject: 'CN=localhost', emails: ['a@localhost'] }), { serverName: 'localhost' });
});

test('serverName takes precedence over ipAddress; an invalid serverName or ipAddress is the caller\'s internal_error', async () => {
  const chain = await leafChain({ dnsNames: ['example.com'], ipAddresses: ['192.0.2.1'] });
  accepts(chain, { serverName: 'example.com', ipAddress: '203.0.113.9' });
  mismatch(chain, { serverName: 'other.example', ipAddress: '192.0.2.1' });
  throwsAlert(() => verify(chain, { serverName: 'bad host!' }), TlsAlert.internal_error, /not a valid DNS host name/);
  throwsAlert(() => verify(chain, { serverName: '*.example.com' }), TlsAlert.internal_error);
  throwsAlert(() => verify(chain, { ipAddress: '300.1.1.1' }), TlsAlert.internal_error, /not an IP address/);
});

test('the end entity must allow digitalSignature when keyUsage is present', async () => {
  const keyEncipherment = await leafChain({ keyUsage: ['keyEncipherment'] });
  throwsAlert(() => verify(keyEncipherment, { serverName: 'localhost' }), TlsAlert.bad_certificate, /without digitalSignature/);
  accepts(await leafChain({ keyUsage: null }), { serverName: 'localhost' });
  accepts(await leafChain({ keyUsage: ['digitalSignature', 'keyEncipherment'] }), { serverName: 'localhost' });
});

test('extendedKeyUsage: serverAuth for a server, clientAuth for a client, anyExtendedKeyUsage for both, absent allows all', async () => {
  const serverOnly = await leafChain({ extendedKeyUsage: ['serverAuth'] });
  const clientOnly = await leafChain({ extendedKeyUsage: ['clientAuth'] });
  const codeSigning = await leafChain({ extendedKeyUsage: ['codeSigning'] });
  const any = await leafChain({ extendedKeyUsage: ['any'] });
  const none = await leafChain({ extendedKeyUsage: null });
  accepts(serverOnly, { serverName: 'localhost' });
  throwsAlert(() => verify(serverOnly, { role: 'client' }), TlsAlert.bad_certificate, /does not allow clientAuth/);
  accepts(clientOnly, { role: 'client' });
  throwsAlert(() => verify(clientOnly, { serverName: 'localhost' }), TlsAlert.bad_certificate, /does not allow serverAuth/);
  throwsAlert(() => verify(codeSigning, { serverName: 'localhost' }), TlsAlert.bad_certificate);
  for (const chain of [any, none]) {
    accepts(chain, { serverName: 'localhost' });
    accepts(chain, { role: 'client' });
  }
});

// Name constraints ---------------------------------------------------------------------------

async function constrained(nc: TestCertificateOptions['nameConstraints'], leaf: TestCertificateOptions, where: 'root' | 'intermediate' = 'intermediate') {
  const r = await createRootCa(where === 'root' ? { nameConstraints: nc } : {});
  const i = await r.issueIntermediate(where === 'intermediate' ? { nameConstraints: nc } : {});
  const l = await i.issueLeaf(leaf);
  return { chain: [l.der, i.der], anchors: [r.der] };
}

const ncVerify = (p: { chain: Uint8Array[]; anchors: Uint8Array[] }, extra: Partial<VerifyCertificateChainOptions> = { role: 'client' }) =>
  verifyCertificateChain(p.chain, { trustAnchors: p.anchors, now, ...extra });

async function fails(pending: ReturnType<typeof constrained>, alert: number, re?: RegExp): Promise<void> {
  const p = await pending;
  throwsAlert(() => ncVerify(p), alert, re);
}

test('permitted dNSName subtrees: names under example.com pass, others are bad_certificate', async () => {
  const nc = { permitted: [{ dns: 'example.com' }] };
  ncVerify(await constrained(nc, { dnsNames: ['example.com', 'a.b.example.com', '*.example.com'], ipAddresses: [] }));
  const p1 = await constrained(nc, { dnsNames: ['a.example.com', 'evil.com'], ipAddresses: [] });
  throwsAlert(() => ncVerify(p1), TlsAlert.bad_certificate, /names DNS:evil\.com, outside what CA .* permits \(DNS:example\.com\)/);
  await fails(constrained(nc, { dnsNames: ['badexample.com'], ipAddresses: [] }), TlsAlert.bad_certificate);
  // A leading dot permits subdomains only.
  const dot = { permitted: [{ dns: '.example.com' }] };
  ncVerify(await constrained(dot, { dnsNames: ['a.example.com'], ipAddresses: [] }));
  await fails(constrained(dot, { dnsNames: ['example.com'], ipAddresses: [] }), TlsAlert.bad_certificate);
});

test('excluded dNSName subtrees, including a wildcard that could name an excluded host', async () => {
  const nc = { excluded: [{ dns: 'secret.example.com' }] };
  ncVerify(await constrained(nc, { dnsNames: ['www.example.com'], ipAddresses: [] }));
  await fails(constrained(nc, { dnsNames: ['a.secret.example.com'], ipAddresses: [] }), TlsAlert.bad_certificate, /which CA .* excludes/);
  await fails(constrained(nc, { dnsNames: ['SECRET.example.com'], ipAddresses: [] }), TlsAlert.bad_certificate);
  await fails(constrained(nc, { dnsNames: ['*.example.com'], ipAddresses: [] }), TlsAlert.bad_certificate, /\*\.example\.com/);
});

test('a root CA\'s name constraints bind the whole path', async () => {
  const nc = { permitted: [{ dns: 'example.com' }] };
  await fails(constrained(nc, { dnsNames: ['evil.com'], ipAddresses: [] }, 'root'), TlsAlert.bad_certificate);
  ncVerify(await constrained(nc, { dnsNames: ['ok.example.com'], ipAddresses: [] }, 'root'));
});

test('iPAddress constraints compare address and mask; IPv4-mapped SANs count as IPv4', async () => {
  const nc = { permitted: [{ ip: '10.0.0.0/8' }, { ip: '2001:db8::/32' }] };
  ncVerify(await constrained(nc, { dnsNames: [], ipAddresses: ['10.1.2.3', '2001:db8::5'] }));
  await fails(constrained(nc, { dnsNames: [], ipAddresses: ['192.168.1.1'] }), TlsAlert.bad_certificate, /IP:192\.168\.1\.1/);
  await fails(constrained(nc, { dnsNames: [], ipAddresses: ['2001:db9::1'] }), TlsAlert.bad_certificate);
  const excluded = { excluded: [{ ip: '10.0.0.0/8' }] };
  await fails(constrained(excluded, { dnsNames: [], ipAddresses: ['::ffff:10.0.0.1'] }), TlsAlert.bad_certificate, /excludes/);
});

test('a non-contiguous iPAddress constraint mask is bad_certificate', async () => {
  const nc = { permitted: [{ ipRaw: new Uint8Array([10, 0, 5, 0, 255, 0, 255, 0]) }] };
  await fails(constrained(nc, { dnsNames: [], ipAddresses: ['10.0.5.1'] }), TlsAlert.bad_certificate, /malformed iPAddress name constraint/);
});

test('directoryName constraints apply to subject names of the certificates below', async () => {
  const nc = { permitted: [{ dn: 'O=Good Corp' }] };
  ncVerify(await constrained(nc, { subject: 'O=Good Corp, CN=leaf' }));
  ncVerify(await constrained(nc, { subject: 'O=good  corp, CN=leaf' })); // case and spaces do not matter
  await fails(constrained(nc, { subject: 'O=Evil Corp, CN=leaf' }), TlsAlert.bad_certificate, /DN:/);
  const excluded = { excluded: [{ dn: 'O=Evil Corp' }] };
  await fails(constrained(excluded, { subject: 'O=Evil Corp, CN=leaf' }), TlsAlert.bad_certificate);
});

test('rfc822Name and URI constraints are enforced on email and URI SANs', async () => {
  const email = { permitted: [{ email: 'example.com' }] };
  ncVerify(await constrained(email, { emails: ['a@example.com'] }));
  await fails(constrained(email, { emails: ['a@evil.com'] }), TlsAlert.bad_certificate);
  const uri = { permitted: [{ uri: '.example.com' }] };
  ncVerify(await constrained(uri, { uris: ['https://www.example.com/x'] }));
  await fails(constrained(uri, { uris: ['https://evil.com/'] }), TlsAlert.bad_certificate);
});

test('constraints of one name form leave other forms alone', async () => {
  const nc = { permitted: [{ dns: 'example.com' }] };
  ncVerify(await constrained(nc, { dnsNames: ['a.example.com'], ipAddresses: ['192.0.2.1'] }));
});

test.run();
