/**
 * Full in-memory handshakes for every cipher suite × group × server signature-key type × crypto
 * provider: both sides reach CONNECTED, derive identical secrets at every level (client write =
 * server read and vice versa), agree on ALPN, suite and group, and deliver each other's transport
 * parameters byte for byte.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { KeyExchangeGroup } from '../../src/crypto/provider.js';
import { CipherSuite, type CipherSuiteValue } from '../../src/tls/cipher-suites.js';
import { SignatureScheme } from '../../src/tls/constants.js';
import { createClientSession, createServerSession } from '../../src/tls/session.js';
import { providers } from '../support/providers.js';
import type { TestKeyType } from '../support/pki.js';
import { CLIENT_TP, runHandshake, SERVER_TP, serverChain, type HandshakeRun } from '../support/tls-handshake.js';

const suites: CipherSuiteValue[] = [CipherSuite.TLS_AES_128_GCM_SHA256, CipherSuite.TLS_AES_256_GCM_SHA384, CipherSuite.TLS_CHACHA20_POLY1305_SHA256];
const groups: KeyExchangeGroup[] = ['x25519', 'secp256r1'];
/** Server key type → the CertificateVerify scheme it must sign with (our preference order). */
const keyTypes: Array<[TestKeyType, number]> = [
  ['ecdsa-p256', SignatureScheme.ecdsa_secp256r1_sha256],
  ['ecdsa-p384', SignatureScheme.ecdsa_secp384r1_sha384],
  ['ed25519', SignatureScheme.ed25519],
  ['rsa', SignatureScheme.rsa_pss_rsae_sha256],
];

const hex = (b: Uint8Array | undefined) => (b === undefined ? 'undefined' : Buffer.from(b).toString('hex'));

function assertAgreement(run: HandshakeRun, hashLength: number, label: string): void {
  const { client, server } = run;
  assert.is(client.error, undefined, `${label}: client failed: ${client.error?.message}`);
  assert.is(server.error, undefined, `${label}: server failed: ${server.error?.message}`);
  for (const level of ['handshake', 'oneRtt']) {
    const cw = client.secrets.get(`${level}:write`);
    const cr = client.secrets.get(`${level}:read`);
    assert.ok(cw !== undefined && cr !== undefined, `${label}: client ${level} secrets`);
    assert.is(cw!.length, hashLength, `${label}: ${level} secret length`);
    assert.is(hex(cw), hex(server.secrets.get(`${level}:read`)), `${label}: client ${level} write = server read`);
    assert.is(hex(cr), hex(server.secrets.get(`${level}:write`)), `${label}: client ${level} read = server write`);
    assert.is.not(hex(cw), hex(cr), `${label}: the two directions differ`);
  }
  assert.is(hex(client.transportParameters), hex(SERVER_TP), `${label}: server transport parameters reach the client byte for byte`);
  assert.is(hex(server.transportParameters), hex(CLIENT_TP), `${label}: client transport parameters reach the server byte for byte`);
  assert.is(hex(client.info?.peerTransportParameters), hex(SERVER_TP));
  assert.is(hex(server.info?.peerTransportParameters), hex(CLIENT_TP));
}

for (const provider of providers) {
  for (const [keyType, scheme] of keyTypes) {
    test(`handshake completes with identical secrets for every suite × group, ${keyType} server key, ${provider.name} provider`, async () => {
      const chain = await serverChain(keyType);
      for (const suite of suites) {
        for (const group of groups) {
          const label = `${provider.name}/${keyType}/0x${suite.toString(16)}/${group}`;
          const client = createClientSession(
            { serverName: 'localhost', alpnProtocols: ['h3', 'hq-interop'], transportParameters: CLIENT_TP, trustAnchors: chain.anchors, cipherSuites: [suite], groups: [group] },
            provider,
          );
          const server = createServerSession(
            { certificateChain: chain.chain, privateKey: chain.leaf.privateKey, alpnProtocols: ['hq-interop', 'h3'], transportParameters: SERVER_TP },
            provider,
          );
          const run = runHandshake(client, server);
          const hashLength = suite === CipherSuite.TLS_AES_256_GCM_SHA384 ? 48 : 32;
          assertAgreement(run, hashLength, label);
          assert.is(client.state, 'CONNECTED', label);
          assert.is(server.state, 'CONNECTED', label);
          assert.ok(client.handshakeComplete && server.handshakeComplete, label);
          for (const info of [run.client.info!, run.server.info!]) {
            assert.is(info.cipherSuite.code, suite, `${label}: suite`);
            assert.is(info.group, group, `${label}: group`);
            // Server preference decides ALPN: hq-interop, which the client also offered.
            assert.is(info.alpn, 'hq-interop', `${label}: ALPN`);
            assert.is(info.serverName, 'localhost', `${label}: SNI`);
            assert.is(info.helloRetryRequest, false);
          }
          assert.is(run.client.info!.peerSignatureScheme, scheme, `${label}: server signed with the scheme of its key`);
          assert.is(run.client.info!.peerCertificateTrust, 'path');
          assert.equal(run.client.info!.peerCertificates.map(hex), chain.chain.map(hex), `${label}: the client sees the chain the server sent`);
          assert.is(run.server.info!.peerCertificateTrust, 'none');
          // The secrets are reported with the suite QUIC needs to derive packet keys (RFC 9001 §5.1).
          for (const e of run.client.events) if (e.type === 'secret') assert.is(e.cipherSuite.code, suite);
        }
      }
    });
  }
}

test('a node client and a noble server (and the reverse) agree on every secret', async () => {
  const chain = await serverChain('ecdsa-p256');
  for (const [a, b] of [
    [providers[0], providers[1]],
    [providers[1], providers[0]],
  ]) {
    const client = createClientSession({ serverName: 'localhost', alpnProtocols: ['h3'], transportParameters: CLIENT_TP, trustAnchors: chain.anchors }, a);
    const server = createServerSession({ certificateChain: chain.chain, privateKey: chain.leaf.privateKey, alpnProtocols: ['h3'], transportParameters: SERVER_TP }, b);
    assertAgreement(runHandshake(client, server), 32, `${a.name} client, ${b.name} server`);
  }
});

test('the 1-RTT exporter yields the same keying material on both sides, and differs by label (RFC 8446 §7.5)', async () => {
  const chain = await serverChain('ecdsa-p256');
  const client = createClientSession({ serverName: 'localhost', alpnProtocols: ['h3'], transportParameters: CLIENT_TP, trustAnchors: chain.anchors });
  const server = createServerSession({ certificateChain: chain.chain, privateKey: chain.leaf.privateKey, alpnProtocols: ['h3'], transportParameters: SERVER_TP });
  runHandshake(client, server);
  const ctx = Uint8Array.of(1, 2, 3);
  assert.is(hex(client.exportKeyingMaterial('EXPORTER-test', ctx, 32)), hex(server.exportKeyingMaterial('EXPORTER-test', ctx, 32)));
  assert.is.not(hex(client.exportKeyingMaterial('EXPORTER-a', ctx, 32)), hex(client.exportKeyingMaterial('EXPORTER-b', ctx, 32)));
  client.close();
  assert.throws(() => client.exportKeyingMaterial('EXPORTER-test', ctx, 32), /completed, open handshake/);
});

test.run();
