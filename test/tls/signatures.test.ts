import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { createHash, sign as nodeSign, constants } from 'node:crypto';
import { SignatureScheme } from '../../src/tls/constants.js';
import {
  certificateVerifyInput,
  isCertificateVerifyScheme,
  selectSignatureScheme,
  signCertificateVerify,
  signatureSchemeMatchesKey,
  signatureSchemeName,
  supportedCertificateSignatureSchemes,
  supportedSignatureSchemes,
  verifyCertificateVerify,
} from '../../src/tls/signatures.js';
import { TlsAlert, TlsAlertError } from '../../src/tls/alerts.js';
import { CRYPTO_ERROR_BASE } from '../../src/wire/errors.js';
import { generateTestKeyPair, type TestKeyPair, type TestKeyType } from '../support/pki.js';

const S = SignatureScheme;

function throwsAlert(fn: () => unknown, alert: number, pattern?: RegExp): TlsAlertError {
  try {
    fn();
  } catch (e) {
    assert.instance(e, TlsAlertError, `expected a TlsAlertError, got ${String(e)}`);
    const err = e as TlsAlertError;
    assert.is(err.alert, alert, `expected alert ${alert}, got ${err.alert}: ${err.message}`);
    assert.is(err.code, CRYPTO_ERROR_BASE + alert);
    if (pattern) assert.match(err.message, pattern);
    return err;
  }
  assert.unreachable(`expected TLS alert ${alert}`);
  throw new Error('unreachable');
}

const keyCache = new Map<TestKeyType, TestKeyPair>();
const key = (t: TestKeyType): TestKeyPair => {
  let k = keyCache.get(t);
  if (k === undefined) keyCache.set(t, (k = generateTestKeyPair(t)));
  return k;
};

const transcript = createHash('sha256').update('a transcript').digest();
const transcript384 = createHash('sha384').update('a transcript').digest();

// Every CertificateVerify scheme with the key types that fit it.
const matrix: Array<[number, TestKeyType]> = [
  [S.ecdsa_secp256r1_sha256, 'ecdsa-p256'],
  [S.ecdsa_secp384r1_sha384, 'ecdsa-p384'],
  [S.ecdsa_secp521r1_sha512, 'ecdsa-p521'],
  [S.rsa_pss_rsae_sha256, 'rsa'],
  [S.rsa_pss_rsae_sha384, 'rsa'],
  [S.rsa_pss_rsae_sha512, 'rsa'],
  [S.ed25519, 'ed25519'],
  [S.rsa_pss_pss_sha256, 'rsa-pss'],
];

test('CertificateVerify input is 64 spaces, the context string, 0x00 and the hash (RFC 8446 §4.4.3 example)', () => {
  const hash = new Uint8Array(32).fill(0x01);
  const expected =
    '20'.repeat(64) +
    '544c5320312e332c207365727665722043657274696669636174655665726966' +
    '79' +
    '00' +
    '01'.repeat(32);
  assert.is(Buffer.from(certificateVerifyInput('server', hash)).toString('hex'), expected);
  const client = Buffer.from(certificateVerifyInput('client', hash)).toString('latin1');
  assert.ok(client.includes('TLS 1.3, client CertificateVerify\u0000'));
});

for (const [scheme, type] of matrix) {
  test(`${signatureSchemeName(scheme)} with a ${type} key: signature made for one side verifies for that side only`, () => {
    const k = key(type);
    for (const hash of [transcript, transcript384]) {
      const sig = signCertificateVerify(scheme, k.privateKey, hash, 'server');
      verifyCertificateVerify(scheme, k.publicKey, hash, 'server', sig);
      // Context strings separate server and client signatures (RFC 8446 §4.4.3).
      throwsAlert(() => verifyCertificateVerify(scheme, k.publicKey, hash, 'client', sig), TlsAlert.decrypt_error);
      const csig = signCertificateVerify(scheme, k.privateKey, hash, 'client');
      verifyCertificateVerify(scheme, k.publicKey, hash, 'client', csig);
    }
  });
}

test('rsa_pss_pss_sha384 and _sha512 work with unrestricted RSASSA-PSS keys', async () => {
  const { generateKeyPairSync } = await import('node:crypto');
  const pair = generateKeyPairSync('rsa-pss', { modulusLength: 2048 });
  for (const scheme of [S.rsa_pss_pss_sha256, S.rsa_pss_pss_sha384, S.rsa_pss_pss_sha512]) {
    const sig = signCertificateVerify(scheme, pair.privateKey, transcript, 'client');
    verifyCertificateVerify(scheme, pair.publicKey, transcript, 'client', sig);
  }
});

test('ECDSA signatures are DER ECDSA-Sig-Value; raw r||s (IEEE P1363) is refused with decrypt_error', () => {
  const k = key('ecdsa-p256');
  const sig = signCertificateVerify(S.ecdsa_secp256r1_sha256, k.privateKey, transcript, 'server');
  assert.is(sig[0], 0x30, 'DER SEQUENCE');
  const p1363 = nodeSign('sha256', certificateVerifyInput('server', transcript), { key: k.privateKey, dsaEncoding: 'ieee-p1363' });
  throwsAlert(() => verifyCertificateVerify(S.ecdsa_secp256r1_sha256, k.publicKey, transcript, 'server', p1363), TlsAlert.decrypt_error);
  // Trailing garbage after the DER signature is not accepted either.
  const padded = new Uint8Array([...sig, 0]);
  throwsAlert(() => verifyCertificateVerify(S.ecdsa_secp256r1_sha256, k.publicKey, transcript, 'server', padded), TlsAlert.decrypt_error);
});

test('RSA-PSS uses salt length = hash length: a signature with another salt length is refused', () => {
  const k = key('rsa');
  const data = certificateVerifyInput('server', transcript);
  const salt20 = nodeSign('sha256', data, { key: k.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 20 });
  throwsAlert(() => verifyCertificateVerify(S.rsa_pss_rsae_sha256, k.publicKey, transcript, 'server', salt20), TlsAlert.decrypt_error);
  const salt32 = nodeSign('sha256', data, { key: k.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
  verifyCertificateVerify(S.rsa_pss_rsae_sha256, k.publicKey, transcript, 'server', salt32);
});

test('any flipped bit in signature or transcript hash gives decrypt_error (property)', () => {
  const cases = matrix.filter(([, t]) => t !== 'rsa-pss').map(([scheme, type]) => {
    const k = key(type);
    return { scheme, k, sig: signCertificateVerify(scheme, k.privateKey, transcript, 'server') };
  });
  fc.assert(
    fc.property(fc.nat(cases.length - 1), fc.nat(), fc.integer({ min: 0, max: 7 }), fc.boolean(), (ci, pos, bit, inSig) => {
      const { scheme, k, sig } = cases[ci];
      const s = Uint8Array.from(sig);
      const h = Uint8Array.from(transcript);
      if (inSig) s[pos % s.length] ^= 1 << bit;
      else h[pos % h.length] ^= 1 << bit;
      throwsAlert(() => verifyCertificateVerify(scheme, k.publicKey, h, 'server', s), TlsAlert.decrypt_error);
    }),
    { numRuns: 200 },
  );
});

test('empty and truncated signatures give decrypt_error, never an untyped error', () => {
  for (const [scheme, type] of matrix) {
    const k = key(type);
    const sig = signCertificateVerify(scheme, k.privateKey, transcript, 'server');
    for (const bad of [new Uint8Array(0), sig.subarray(0, 1), sig.subarray(0, sig.length - 1), new Uint8Array(600)]) {
      throwsAlert(() => verifyCertificateVerify(scheme, k.publicKey, transcript, 'server', bad), TlsAlert.decrypt_error);
    }
  }
});

test('a signature by another key of the same type gives decrypt_error', () => {
  const other = generateTestKeyPair('ecdsa-p256');
  const sig = signCertificateVerify(S.ecdsa_secp256r1_sha256, other.privateKey, transcript, 'server');
  throwsAlert(() => verifyCertificateVerify(S.ecdsa_secp256r1_sha256, key('ecdsa-p256').publicKey, transcript, 'server', sig), TlsAlert.decrypt_error);
});

test('a scheme that does not fit the key is illegal_parameter: ECDSA binds the curve, PSS binds the key OID', () => {
  const sig = new Uint8Array(72);
  const cases: Array<[number, TestKeyType, RegExp]> = [
    [S.ecdsa_secp256r1_sha256, 'rsa', /needs an EC key, got an RSA 2048-bit key/],
    [S.ecdsa_secp256r1_sha256, 'ecdsa-p384', /needs a P-256 key, got an EC P-384 key/],
    [S.ecdsa_secp384r1_sha384, 'ecdsa-p256', /needs a P-384 key/],
    [S.ecdsa_secp521r1_sha512, 'ecdsa-p384', /needs a P-521 key/],
    [S.rsa_pss_rsae_sha256, 'ecdsa-p256', /needs an RSA key with the rsaEncryption OID/],
    [S.rsa_pss_rsae_sha256, 'rsa-pss', /rsaEncryption OID, got an RSA-PSS/],
    [S.rsa_pss_pss_sha256, 'rsa', /RSASSA-PSS OID, got an RSA 2048/],
    [S.rsa_pss_pss_sha384, 'rsa-pss', /restricted to sha256/],
    [S.ed25519, 'ecdsa-p256', /needs an Ed25519 key/],
    [S.ed25519, 'ed448', /needs an Ed25519 key, got an Ed448 key/],
  ];
  for (const [scheme, type, re] of cases) {
    throwsAlert(() => verifyCertificateVerify(scheme, key(type).publicKey, transcript, 'server', sig), TlsAlert.illegal_parameter, re);
    assert.not.ok(signatureSchemeMatchesKey(scheme, key(type).publicKey));
    // Signing with a mismatched key is our own configuration error.
    throwsAlert(() => signCertificateVerify(scheme, key(type).privateKey, transcript, 'server'), TlsAlert.internal_error);
  }
});

test('RSASSA-PKCS1-v1_5, SHA-1, ed448 and unknown schemes are refused in CertificateVerify with illegal_parameter', () => {
  const rsa = key('rsa');
  const data = certificateVerifyInput('server', transcript);
  // A genuine PKCS#1 v1.5 signature over the right content is still refused: RFC 8446 §4.2.3.
  const pkcs1 = nodeSign('sha256', data, { key: rsa.privateKey, padding: constants.RSA_PKCS1_PADDING });
  throwsAlert(() => verifyCertificateVerify(S.rsa_pkcs1_sha256, rsa.publicKey, transcript, 'server', pkcs1), TlsAlert.illegal_parameter, /certificates only/);
  for (const scheme of [S.rsa_pkcs1_sha384, S.rsa_pkcs1_sha512, S.rsa_pkcs1_sha1, S.ecdsa_sha1]) {
    throwsAlert(() => verifyCertificateVerify(scheme, rsa.publicKey, transcript, 'server', pkcs1), TlsAlert.illegal_parameter);
    throwsAlert(() => signCertificateVerify(scheme, rsa.privateKey, transcript, 'server'), TlsAlert.internal_error);
    assert.not.ok(isCertificateVerifyScheme(scheme));
  }
  throwsAlert(() => verifyCertificateVerify(S.ed448, key('ed448').publicKey, transcript, 'server', new Uint8Array(114)), TlsAlert.illegal_parameter, /does not support/);
  throwsAlert(() => verifyCertificateVerify(0x1234, rsa.publicKey, transcript, 'server', pkcs1), TlsAlert.illegal_parameter, /unknown signature scheme 0x1234/);
});

test('a scheme we did not offer is refused with illegal_parameter when offeredSchemes is given', () => {
  const k = key('ecdsa-p256');
  const sig = signCertificateVerify(S.ecdsa_secp256r1_sha256, k.privateKey, transcript, 'server');
  verifyCertificateVerify(S.ecdsa_secp256r1_sha256, k.publicKey, transcript, 'server', sig, { offeredSchemes: [S.ecdsa_secp256r1_sha256] });
  throwsAlert(
    () => verifyCertificateVerify(S.ecdsa_secp256r1_sha256, k.publicKey, transcript, 'server', sig, { offeredSchemes: [S.ed25519] }),
    TlsAlert.illegal_parameter,
    /not offered/,
  );
});

test('selectSignatureScheme follows our preference among what the peer offered and the key allows', () => {
  const rsa = key('rsa');
  const all = [S.rsa_pss_rsae_sha512, S.rsa_pss_rsae_sha384, S.rsa_pss_rsae_sha256, S.ecdsa_secp256r1_sha256];
  assert.is(selectSignatureScheme(rsa.privateKey, all), S.rsa_pss_rsae_sha256); // our default order
  assert.is(selectSignatureScheme(rsa.privateKey, all, [S.rsa_pss_rsae_sha512, S.rsa_pss_rsae_sha256]), S.rsa_pss_rsae_sha512);
  assert.is(selectSignatureScheme(rsa.privateKey, [S.rsa_pss_rsae_sha384]), S.rsa_pss_rsae_sha384);
  assert.is(selectSignatureScheme(key('ecdsa-p384').privateKey, supportedSignatureSchemes), S.ecdsa_secp384r1_sha384);
  assert.is(selectSignatureScheme(key('ed25519').privateKey, [0x0a0a, S.ed25519]), S.ed25519); // GREASE ignored
  assert.is(selectSignatureScheme(key('rsa-pss').privateKey, supportedSignatureSchemes), S.rsa_pss_pss_sha256);
});

test('selectSignatureScheme refuses with handshake_failure when nothing fits', () => {
  // The peer offers only PKCS#1 for our RSA key: not usable in CertificateVerify.
  throwsAlert(() => selectSignatureScheme(key('rsa').privateKey, [S.rsa_pkcs1_sha256, S.rsa_pkcs1_sha1]), TlsAlert.handshake_failure, /rsa_pss_rsae_sha256/);
  // A P-256 key when the peer only verifies P-384.
  throwsAlert(() => selectSignatureScheme(key('ecdsa-p256').privateKey, [S.ecdsa_secp384r1_sha384]), TlsAlert.handshake_failure);
  throwsAlert(() => selectSignatureScheme(key('ed25519').privateKey, []), TlsAlert.handshake_failure);
  throwsAlert(() => selectSignatureScheme(key('ed448').privateKey, [S.ed448]), TlsAlert.handshake_failure, /nothing we support/);
});

test('the advertised lists: CertificateVerify schemes exclude PKCS#1 and SHA-1; the certificate list adds PKCS#1 SHA-2 last', () => {
  for (const s of supportedSignatureSchemes) assert.ok(isCertificateVerifyScheme(s), signatureSchemeName(s));
  assert.is(supportedSignatureSchemes[0], S.ecdsa_secp256r1_sha256);
  assert.equal(supportedCertificateSignatureSchemes.slice(-3), [S.rsa_pkcs1_sha256, S.rsa_pkcs1_sha384, S.rsa_pkcs1_sha512]);
  assert.not.ok(supportedCertificateSignatureSchemes.includes(S.rsa_pkcs1_sha1));
  assert.not.ok(supportedCertificateSignatureSchemes.includes(S.ecdsa_sha1));
  assert.ok(Object.isFrozen(supportedSignatureSchemes));
});

test('signing needs a private key and a transcript hash of 32 to 64 bytes', () => {
  const k = key('ecdsa-p256');
  throwsAlert(() => signCertificateVerify(S.ecdsa_secp256r1_sha256, k.publicKey, transcript, 'server'), TlsAlert.internal_error, /private key/);
  throwsAlert(() => signCertificateVerify(S.ecdsa_secp256r1_sha256, k.privateKey, new Uint8Array(16), 'server'), TlsAlert.internal_error, /transcript hash/);
});

test.run();
