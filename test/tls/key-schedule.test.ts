/**
 * The key schedule beyond RFC 8448: SHA-384 (which RFC 8448 has no trace for) and SHA-256 checked
 * against an independent computation over the provider's raw HKDF, cross-provider agreement,
 * stage ordering, secrets by encryption level, exporters, and the cipher suite table.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { providers } from '../support/providers.js';
import type { CryptoProvider, HashAlgorithm } from '../../src/crypto/provider.js';
import { isTlsAlertError, TlsAlert } from '../../src/tls/alerts.js';
import {
  CIPHER_SUITES,
  CipherSuite,
  cipherSuiteParams,
  DEFAULT_CIPHER_SUITES,
  requireOfferedCipherSuite,
  selectCipherSuite,
} from '../../src/tls/cipher-suites.js';
import {
  directionalSecrets,
  exportKeyingMaterial,
  finishedVerifyData,
  KeySchedule,
  resumptionPsk,
  verifyPskBinder,
} from '../../src/tls/key-schedule.js';

const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const HASH_LEN: Record<HashAlgorithm, number> = { sha256: 32, sha384: 48 };

/**
 * An independent HKDF-Expand-Label (RFC 8446 §7.1) written from the RFC's HkdfLabel struct, over
 * the provider's raw HKDF-Expand — it shares no code with src/crypto/hkdf.ts.
 */
function refExpandLabel(p: CryptoProvider, h: HashAlgorithm, secret: Uint8Array, label: string, context: Uint8Array, length: number): Uint8Array {
  const full = Buffer.from('tls13 ' + label, 'ascii');
  const info = Buffer.concat([Buffer.from([length >> 8, length & 0xff, full.length]), full, Buffer.from([context.length]), Buffer.from(context)]);
  return p.hkdfExpand(h, secret, new Uint8Array(info), length);
}

function refDeriveSecret(p: CryptoProvider, h: HashAlgorithm, secret: Uint8Array, label: string, transcriptHash: Uint8Array): Uint8Array {
  return refExpandLabel(p, h, secret, label, transcriptHash, HASH_LEN[h]);
}

interface Inputs {
  psk: Uint8Array | undefined;
  ecdhe: Uint8Array | undefined;
  chHash: Uint8Array;
  shHash: Uint8Array;
  sfHash: Uint8Array;
  cfHash: Uint8Array;
}

/** Every secret of RFC 8446 §7.1 computed step by step the way the diagram reads. */
function reference(p: CryptoProvider, h: HashAlgorithm, x: Inputs): Record<string, string> {
  const zeros = new Uint8Array(HASH_LEN[h]);
  const empty = p.digest(h, new Uint8Array(0));
  const early = p.hkdfExtract(h, zeros, x.psk ?? zeros);
  const hsSecret = p.hkdfExtract(h, refDeriveSecret(p, h, early, 'derived', empty), x.ecdhe ?? zeros);
  const master = p.hkdfExtract(h, refDeriveSecret(p, h, hsSecret, 'derived', empty), zeros);
  return {
    early: toHex(early),
    resBinder: toHex(refDeriveSecret(p, h, early, 'res binder', empty)),
    extBinder: toHex(refDeriveSecret(p, h, early, 'ext binder', empty)),
    cEarly: toHex(refDeriveSecret(p, h, early, 'c e traffic', x.chHash)),
    eExp: toHex(refDeriveSecret(p, h, early, 'e exp master', x.chHash)),
    handshake: toHex(hsSecret),
    cHs: toHex(refDeriveSecret(p, h, hsSecret, 'c hs traffic', x.shHash)),
    sHs: toHex(refDeriveSecret(p, h, hsSecret, 's hs traffic', x.shHash)),
    master: toHex(master),
    cAp: toHex(refDeriveSecret(p, h, master, 'c ap traffic', x.sfHash)),
    sAp: toHex(refDeriveSecret(p, h, master, 's ap traffic', x.sfHash)),
    exp: toHex(refDeriveSecret(p, h, master, 'exp master', x.sfHash)),
    res: toHex(refDeriveSecret(p, h, master, 'res master', x.cfHash)),
  };
}

function viaKeySchedule(p: CryptoProvider, h: HashAlgorithm, x: Inputs): Record<string, string> {
  // Two schedules, because one schedule derives the early-stage values once per PSK.
  const binders = new KeySchedule(p, h);
  binders.deriveEarlySecret(x.psk);
  const extBinder = toHex(binders.binderKey('external'));
  const ks = new KeySchedule(p, h);
  const early = toHex(ks.deriveEarlySecret(x.psk));
  const resBinder = toHex(ks.binderKey('resumption'));
  const cEarly = ks.earlyTrafficSecret(x.chHash);
  const eExp = toHex(ks.earlyExporterSecret(x.chHash));
  const handshake = toHex(ks.deriveHandshakeSecret(x.ecdhe));
  const hs = ks.handshakeTrafficSecrets(x.shHash);
  const master = toHex(ks.deriveMasterSecret());
  const ap = ks.applicationTrafficSecrets(x.sfHash);
  const exp = toHex(ks.exporterMasterSecret(x.sfHash));
  const res = toHex(ks.resumptionMasterSecret(x.cfHash));
  return {
    early,
    resBinder,
    extBinder,
    cEarly: toHex(cEarly.client),
    eExp,
    handshake,
    cHs: toHex(hs.client),
    sHs: toHex(hs.server),
    master,
    cAp: toHex(ap.client),
    sAp: toHex(ap.server),
    exp,
    res,
  };
}

function inputs(h: HashAlgorithm): fc.Arbitrary<Inputs> {
  const digest = fc.uint8Array({ minLength: HASH_LEN[h], maxLength: HASH_LEN[h] });
  return fc.record({
    psk: fc.option(fc.uint8Array({ minLength: 1, maxLength: 64 }), { nil: undefined }),
    ecdhe: fc.option(fc.uint8Array({ minLength: 32, maxLength: 66 }), { nil: undefined }),
    chHash: digest,
    shHash: digest,
    sfHash: digest,
    cfHash: digest,
  });
}

for (const hash of ['sha384', 'sha256'] as const) {
  for (const provider of providers) {
    test(`[${provider.name}] ${hash}: every stage equals an independent RFC 8446 §7.1 computation over raw HKDF`, () => {
      fc.assert(
        fc.property(inputs(hash), (x) => {
          const got = viaKeySchedule(provider, hash, x);
          assert.equal(got, reference(provider, hash, x));
          for (const v of Object.values(got)) assert.is(v.length, HASH_LEN[hash] * 2);
        }),
        { numRuns: 40 },
      );
    });
  }

  test(`${hash}: every provider derives the same schedule`, () => {
    fc.assert(
      fc.property(inputs(hash), (x) => {
        const [first, ...rest] = providers.map((p) => viaKeySchedule(p, hash, x));
        for (const other of rest) assert.equal(other, first);
      }),
      { numRuns: 40 },
    );
  });
}

test('the SHA-384 schedule differs from the SHA-256 one for the same inputs (the hash is really used)', () => {
  const p = providers[0];
  const x: Inputs = {
    psk: undefined,
    ecdhe: new Uint8Array(32).fill(7),
    chHash: new Uint8Array(48),
    shHash: new Uint8Array(48).fill(1),
    sfHash: new Uint8Array(48).fill(2),
    cfHash: new Uint8Array(48).fill(3),
  };
  const s384 = viaKeySchedule(p, 'sha384', x);
  const s256 = viaKeySchedule(p, 'sha256', { ...x, chHash: x.chHash.subarray(0, 32), shHash: x.shHash.subarray(0, 32), sfHash: x.sfHash.subarray(0, 32), cfHash: x.cfHash.subarray(0, 32) });
  assert.is.not(s384.early.slice(0, 64), s256.early);
  assert.is(s384.early.length, 96);
});

for (const provider of providers) {
  test(`[${provider.name}] without PSK and without (EC)DHE the zero string is used, not a skipped round (RFC 8446 §7.1)`, () => {
    const zeros = new Uint8Array(48);
    const ks = new KeySchedule(provider, 'sha384');
    assert.is(toHex(ks.deriveEarlySecret()), toHex(provider.hkdfExtract('sha384', zeros, zeros)));
    assert.is(toHex(new KeySchedule(provider, 'sha384').deriveEarlySecret(zeros)), toHex(provider.hkdfExtract('sha384', zeros, zeros)));
  });

  test(`[${provider.name}] exporter equals HKDF-Expand-Label(Derive-Secret(S, label, ""), "exporter", Hash(context), L) (RFC 8446 §7.5)`, () => {
    for (const hash of ['sha256', 'sha384'] as const) {
      const secret = new Uint8Array(HASH_LEN[hash]).fill(0x5a);
      const context = Uint8Array.from([1, 2, 3]);
      const got = exportKeyingMaterial(provider, hash, secret, 'EXPORTER-quic test', context, 42);
      const inner = refDeriveSecret(provider, hash, secret, 'EXPORTER-quic test', provider.digest(hash, new Uint8Array(0)));
      assert.is(toHex(got), toHex(refExpandLabel(provider, hash, inner, 'exporter', provider.digest(hash, context), 42)));
      assert.is(got.length, 42);
    }
  });
}

function expectAlert(fn: () => unknown, alert: number, what: string): void {
  try {
    fn();
  } catch (e) {
    assert.ok(isTlsAlertError(e, alert), `${what}: ${String(e)}`);
    return;
  }
  assert.unreachable(`${what}: no error`);
}

const p0 = providers[0];
const h32 = new Uint8Array(32);

test('stages used out of order are refused with internal_error', () => {
  const ks = new KeySchedule(p0, 'sha256');
  expectAlert(() => ks.binderKey('resumption'), TlsAlert.internal_error, 'binder key before early secret');
  expectAlert(() => ks.deriveHandshakeSecret(h32), TlsAlert.internal_error, 'handshake secret before early secret');
  ks.deriveEarlySecret();
  expectAlert(() => ks.deriveEarlySecret(), TlsAlert.internal_error, 'early secret twice');
  expectAlert(() => ks.handshakeTrafficSecrets(h32), TlsAlert.internal_error, 'handshake traffic before handshake secret');
  expectAlert(() => ks.deriveMasterSecret(), TlsAlert.internal_error, 'master before handshake secret');
  ks.deriveHandshakeSecret(h32);
  expectAlert(() => ks.binderKey('external'), TlsAlert.internal_error, 'binder key after the early secret was erased');
  expectAlert(() => ks.applicationTrafficSecrets(h32), TlsAlert.internal_error, 'application traffic before master');
  ks.deriveMasterSecret();
  expectAlert(() => ks.handshakeTrafficSecrets(h32), TlsAlert.internal_error, 'handshake traffic after the handshake secret was erased');
  ks.resumptionMasterSecret(h32);
  expectAlert(() => ks.exporterMasterSecret(h32), TlsAlert.internal_error, 'exporter after the master secret was erased');
});

test('a transcript hash of the wrong length is refused with internal_error', () => {
  const ks = new KeySchedule(p0, 'sha384');
  ks.deriveEarlySecret();
  expectAlert(() => ks.earlyTrafficSecret(new Uint8Array(32)), TlsAlert.internal_error, 'sha256-sized hash in a sha384 schedule');
  expectAlert(() => finishedVerifyData(p0, 'sha256', h32, new Uint8Array(48)), TlsAlert.internal_error, 'finished over a 48-byte hash with sha256');
});

test('secrets handed out stay intact when the schedule erases its own copies', () => {
  const ks = new KeySchedule(p0, 'sha256');
  const early = ks.deriveEarlySecret(Uint8Array.from([1, 2, 3]));
  const hsSecret = ks.deriveHandshakeSecret(h32);
  const hs = ks.handshakeTrafficSecrets(h32);
  const copies = [early, hsSecret, hs.client, hs.server].map(toHex);
  ks.deriveMasterSecret();
  ks.erase();
  assert.equal([early, hsSecret, hs.client, hs.server].map(toHex), copies);
  assert.ok(copies.every((c) => c !== '00'.repeat(32)));
  expectAlert(() => ks.applicationTrafficSecrets(h32), TlsAlert.internal_error, 'after erase');
});

test('secrets map to encryption levels and are oriented for each role (RFC 9001 §4.1.4)', () => {
  const ks = new KeySchedule(p0, 'sha256');
  ks.deriveEarlySecret(Uint8Array.from([9]));
  const early = ks.earlyTrafficSecret(h32);
  assert.is(early.level, 'zeroRtt');
  assert.equal(directionalSecrets('client', early), { level: 'zeroRtt', read: undefined, write: early.client });
  assert.equal(directionalSecrets('server', early), { level: 'zeroRtt', read: early.client, write: undefined });
  ks.deriveHandshakeSecret(h32);
  const hs = ks.handshakeTrafficSecrets(h32);
  assert.is(hs.level, 'handshake');
  assert.equal(directionalSecrets('client', hs), { level: 'handshake', read: hs.server, write: hs.client });
  assert.equal(directionalSecrets('server', hs), { level: 'handshake', read: hs.client, write: hs.server });
  ks.deriveMasterSecret();
  const ap = ks.applicationTrafficSecrets(h32);
  assert.is(ap.level, 'oneRtt');
  assert.equal(directionalSecrets('server', ap), { level: 'oneRtt', read: ap.client, write: ap.server });
  assert.is.not(toHex(ap.client), toHex(ap.server));
});

test('a PSK binder computed with the wrong binder kind does not validate (res vs ext labels, RFC 8446 §7.1)', () => {
  const psk = resumptionPsk(p0, 'sha256', new Uint8Array(32).fill(1), Uint8Array.from([0, 1]));
  const a = new KeySchedule(p0, 'sha256');
  a.deriveEarlySecret(psk);
  const b = new KeySchedule(p0, 'sha256');
  b.deriveEarlySecret(psk);
  const resKey = a.binderKey('resumption');
  const extKey = b.binderKey('external');
  const binder = finishedVerifyData(p0, 'sha256', resKey, h32);
  verifyPskBinder(p0, 'sha256', resKey, h32, binder);
  expectAlert(() => verifyPskBinder(p0, 'sha256', extKey, h32, binder), TlsAlert.decrypt_error, 'external binder key');
});

test('exporter arguments that HKDF cannot take are refused with internal_error, not RangeError', () => {
  expectAlert(() => exportKeyingMaterial(p0, 'sha256', h32, 'x'.repeat(250), new Uint8Array(0), 16), TlsAlert.internal_error, 'long label');
  expectAlert(() => exportKeyingMaterial(p0, 'sha256', h32, 'EXPORTER', new Uint8Array(0), 255 * 32 + 1), TlsAlert.internal_error, 'long output');
  expectAlert(() => resumptionPsk(p0, 'sha256', h32, new Uint8Array(256)), TlsAlert.internal_error, 'long nonce');
});

// ---- cipher suites ----

test('the three TLS 1.3 suites map to their AEAD, hash and key sizes', () => {
  assert.equal(
    [...CIPHER_SUITES.values()].map((s) => [s.code, s.name, s.aead, s.hash, s.keyLength, s.ivLength, s.hashLength]),
    [
      [0x1301, 'TLS_AES_128_GCM_SHA256', 'aes-128-gcm', 'sha256', 16, 12, 32],
      [0x1302, 'TLS_AES_256_GCM_SHA384', 'aes-256-gcm', 'sha384', 32, 12, 48],
      [0x1303, 'TLS_CHACHA20_POLY1305_SHA256', 'chacha20-poly1305', 'sha256', 32, 12, 32],
    ],
  );
  assert.is(cipherSuiteParams(0x1304), undefined, 'TLS_AES_128_CCM_SHA256 is not implemented');
  assert.is(cipherSuiteParams(0x1305), undefined, 'TLS_AES_128_CCM_8_SHA256 is never negotiated in QUIC');
  assert.is(cipherSuiteParams(0x0a0a), undefined, 'GREASE');
});

test('server suite selection follows the server preference and ignores GREASE and unknown suites', () => {
  assert.is(selectCipherSuite([0x0a0a, 0x1303, 0x1302, 0xc02f])?.code, CipherSuite.TLS_AES_256_GCM_SHA384);
  assert.is(selectCipherSuite([0x1303, 0x1301], [0x1303, 0x1301])?.code, CipherSuite.TLS_CHACHA20_POLY1305_SHA256);
  assert.is(selectCipherSuite([0x2a2a, 0x1304, 0xc02f]), undefined);
  assert.is(DEFAULT_CIPHER_SUITES[0], CipherSuite.TLS_AES_128_GCM_SHA256);
});

test('a client refuses a suite it did not offer with illegal_parameter (RFC 8446 §4.1.3)', () => {
  assert.is(requireOfferedCipherSuite(0x1302, [0x1301, 0x1302]).hash, 'sha384');
  expectAlert(() => requireOfferedCipherSuite(0x1303, [0x1301, 0x1302]), TlsAlert.illegal_parameter, 'not offered');
  expectAlert(() => requireOfferedCipherSuite(0x1304, [0x1304]), TlsAlert.illegal_parameter, 'unsupported');
});

test.run();
