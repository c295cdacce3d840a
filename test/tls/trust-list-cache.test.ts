// A client's trust anchor list is turned into one TrustStore per distinct content, reused by later
// sessions given the same list (a list is not parsed again per connection), and never shared with
// a list of other content; an invalid anchor still fails every session it is given to.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TlsAlert, TlsAlertError } from '../../src/tls/alerts.js';
import { TrustStore, verifyCertificateChain } from '../../src/tls/certificates.js';
import { resolveClientConfig, type TlsClientConfig } from '../../src/tls/config.js';
import { createChain, type TestChain } from '../support/pki.js';

let pki: TestChain;
let other: TestChain;
test.before(async () => {
  pki = await createChain();
  other = await createChain();
});

const config = (trustAnchors: TlsClientConfig['trustAnchors']): TlsClientConfig => ({
  serverName: 'example.com',
  alpnProtocols: ['test'],
  transportParameters: new Uint8Array(0),
  trustAnchors,
});

const storeOf = (trustAnchors: TlsClientConfig['trustAnchors']): TrustStore => {
  const store = resolveClientConfig(config(trustAnchors)).trust.trustAnchors;
  if (!(store instanceof TrustStore)) throw new Error('expected a TrustStore');
  return store;
};

test('a list of the same content (a fresh array, copied bytes) gets the same TrustStore', () => {
  const a = storeOf([pki.root.pem]);
  assert.is(storeOf([pki.root.pem]), a);
  assert.is(storeOf([`${pki.root.pem}`]), a);
  const d = storeOf([pki.root.der]);
  assert.is(storeOf([pki.root.der.slice()]), d);
  assert.is(d.size, 1);
});

test('lists of other content get other stores, which verify as their own content says', () => {
  const mine = storeOf([pki.root.der]);
  const theirs = storeOf([other.root.der]);
  assert.is.not(mine, theirs);
  assert.is.not(storeOf([pki.root.der, other.root.der]), mine);
  assert.is(verifyCertificateChain(pki.chain, { trustAnchors: mine, serverName: 'localhost', now: new Date() }).chain.length >= 2, true);
  try {
    verifyCertificateChain(pki.chain, { trustAnchors: theirs, serverName: 'localhost', now: new Date() });
    assert.unreachable('verified with another list');
  } catch (e) {
    assert.instance(e, TlsAlertError);
    assert.is((e as TlsAlertError).alert, TlsAlert.unknown_ca);
  }
});

test('an invalid anchor fails every time it is given (nothing is kept)', () => {
  for (let i = 0; i < 2; i++) {
    try {
      resolveClientConfig(config([new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01])]));
      assert.unreachable('accepted an invalid anchor');
    } catch (e) {
      assert.instance(e, TlsAlertError);
      assert.is((e as TlsAlertError).alert, TlsAlert.internal_error);
    }
  }
});

test.run();
