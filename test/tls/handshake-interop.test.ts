/**
 * What real peers send, and real handshakes with them:
 *
 * - a ClientHello captured from ngtcp2 0.12's `gtlsclient` (GnuTLS) is accepted by our server, with
 *   everything GnuTLS adds (status_request, ec_point_formats, encrypt_then_mac,
 *   extended_master_secret, session_ticket, renegotiation_info, record_size_limit, two key shares,
 *   TLS_AES_128_CCM_SHA256, SHA-1 and PKCS#1 signature schemes, psk_ke);
 * - a Chromium-shaped ClientHello (GREASE everywhere, an X25519MLKEM768 share 0x11ec, ECH GREASE,
 *   compress_certificate, ALPS) makes our server ignore the unknown share and pick X25519 — its
 *   secrets and Finished check out against an independent computation — or send a
 *   HelloRetryRequest for a group it supports;
 * - when `gtlsserver` / `gtlsclient` are installed: our client and our server complete handshakes
 *   with them over loopback (QUIC Initial/Handshake packets built by a test harness from the
 *   project's own packet protection), for several cipher suites, groups and key types, with a
 *   HelloRetryRequest, and with GnuTLS's NewSessionTicket.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { nodeCrypto } from '../../src/crypto/node.js';
import { CipherSuite } from '../../src/tls/cipher-suites.js';
import { ExtensionType, GREASE_VALUES, HandshakeType, NamedGroup, SignatureScheme } from '../../src/tls/constants.js';
import { findExtension, alpnProtocol } from '../../src/tls/extensions.js';
import { finishedVerifyData, KeySchedule } from '../../src/tls/key-schedule.js';
import { decodeHandshakeMessage, encodeHandshakeMessage, type ClientHello, type ServerHello } from '../../src/tls/messages.js';
import { generateSelfSignedCertificate, type SelfSignedKeyType } from '../../src/tls/self-signed.js';
import { createServerSession, type TlsServerSession } from '../../src/tls/session.js';
import { MemoryTicketStore } from '../../src/tls/tickets.js';
import { verifyCertificateVerify } from '../../src/tls/signatures.js';
import { decodeTransportParameters } from '../../src/wire/transport-parameters.js';
import { SERVER_TP, serverChain, splitFlight } from '../support/tls-handshake.js';
import { captureClientHello, clientAgainstGtlsServer, gtlsClientAgainstServer } from '../support/tls-quic-probe.js';
import { requirePeer } from '../support/peers.js';

const now = Date.now();
const fromHex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

/** The ClientHello `gtlsclient -q localhost <port> https://localhost:<port>/` sent (ngtcp2 0.12.1, GnuTLS 3.7, Debian 12), decrypted from its Initial. */
const GNUTLS_CLIENT_HELLO = fromHex(`
0100016d0303733cef46dd9b07e331cce9764116748846903942ea2e538acb67574fa0aca36000000813011302130313040100013c0039
00460f119498e8f345f7c625bda8b7f16feaca5047050480600000060480600000070480600000040480f000000902406401024bb80e01
076ab20080ff73db080000000100000001000500050100000000000a000a0008001d001700180019000b00020100000d00220020040108
090804040308070501080a0805050308080601080b08060603020102030010000500030268330016000000170000002300000033006b00
69001d0020e1e0353f42efdf115be9f9e7d1028e8eca513e23ce70c99c43ba391ac61c130000170041042125aa53031742e8e110857a50
c7ba7b1aa0cfa64de6655457dddea1510af7011fa2090dc09060fb9d1cdf2bc1aae11ccaa2eca2635224c03b7b99ee44cd7b94002b0003
020304ff010001000000000e000c0000096c6f63616c686f7374002d0003020100001c00024001`);

/** Extension types of {@link GNUTLS_CLIENT_HELLO}, in order. */
const GNUTLS_EXTENSIONS = [57, 5, 10, 11, 13, 16, 22, 23, 35, 51, 43, 0xff01, 0, 45, 28];

async function server(config: Partial<Parameters<typeof createServerSession>[0]> = {}): Promise<TlsServerSession> {
  const chain = await serverChain('ecdsa-p256');
  return createServerSession({ certificateChain: chain.chain, privateKey: chain.leaf.privateKey, alpnProtocols: ['h3'], transportParameters: SERVER_TP, ...config });
}

function serverHelloOf(s: TlsServerSession): ServerHello {
  const initial = s.drain().find((e) => e.type === 'handshake_data' && e.level === 'initial') as { data: Uint8Array };
  const m = decodeHandshakeMessage(splitFlight(initial.data)[0], { sender: 'server' });
  assert.is(m.kind, 'server_hello');
  return m as ServerHello;
}

test('the captured GnuTLS ClientHello carries what GnuTLS sends, and our server answers it', async () => {
  const ch = decodeHandshakeMessage(GNUTLS_CLIENT_HELLO, { sender: 'client' }) as ClientHello;
  assert.equal(ch.extensions.map((e) => (e.kind === 'raw' ? e.type : { quic_transport_parameters: 57, supported_groups: 10, signature_algorithms: 13, alpn: 16, key_share: 51, supported_versions: 43, server_name: 0, psk_key_exchange_modes: 45 }[e.kind as string])), GNUTLS_EXTENSIONS);
  assert.equal(ch.cipherSuites, [0x1301, 0x1302, 0x1303, 0x1304]);
  assert.equal(findExtension(ch.extensions, 'key_share')!.shares.map((s) => s.group), [NamedGroup.x25519, NamedGroup.secp256r1]);
  for (const groups of [['x25519', 'secp256r1'], ['secp256r1']] as const) {
    const s = await server({ groups: [...groups] });
    s.receive('initial', GNUTLS_CLIENT_HELLO, now);
    assert.is(s.error, undefined, s.error?.message);
    assert.is(s.state, 'WAIT_FINISHED');
    const sh = serverHelloOf(s);
    // Both shares are usable: the server takes its own first choice, without a HelloRetryRequest.
    assert.is(findExtension(sh.extensions, 'key_share_selected')!.share.group, groups[0] === 'x25519' ? NamedGroup.x25519 : NamedGroup.secp256r1);
    assert.is(sh.cipherSuite, CipherSuite.TLS_AES_128_GCM_SHA256);
  }
});

test('live: the GnuTLS client sends the ClientHello captured above (same cipher suites and extension types)', async () => {
  if (!requirePeer('gtlsclient')) return;
  const ch = await captureClientHello('gtlsclient', ['-q', '--timeout=3s', 'localhost', '{port}', 'https://localhost:{port}/']);
  assert.ok(ch !== undefined, 'captured a ClientHello');
  const live = decodeHandshakeMessage(ch!, { sender: 'client' }) as ClientHello;
  const fixture = decodeHandshakeMessage(GNUTLS_CLIENT_HELLO, { sender: 'client' }) as ClientHello;
  assert.equal(live.cipherSuites, fixture.cipherSuites);
  assert.equal(live.extensions.map((e) => e.kind + ('type' in e ? e.type : '')), fixture.extensions.map((e) => e.kind + ('type' in e ? e.type : '')));
});

// ---------------------------------------------------------------------------------------------
// Chromium-shaped ClientHello

function chromiumClientHello(shares: Array<{ group: number; keyExchange: Uint8Array }>, groups: number[]): Uint8Array {
  const g = (i: number) => GREASE_VALUES[i];
  const ch: ClientHello = {
    kind: 'client_hello',
    random: nodeCrypto.randomBytes(32),
    legacySessionId: new Uint8Array(0),
    cipherSuites: [g(3), 0x1301, 0x1302, 0x1303],
    extensions: [
      { kind: 'raw', type: g(5), data: new Uint8Array(0) },
      { kind: 'raw', type: ExtensionType.compress_certificate, data: Uint8Array.of(2, 0, 2) },
      { kind: 'supported_versions', versions: [g(7), 0x0304] },
      { kind: 'raw', type: ExtensionType.encrypted_client_hello, data: nodeCrypto.randomBytes(90) },
      { kind: 'raw', type: 0x44cd, data: Uint8Array.of(0, 3, 2, 0x68, 0x33) },
      { kind: 'signature_algorithms', schemes: [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601] },
      { kind: 'alpn', protocols: [alpnProtocol('h3')] },
      { kind: 'psk_key_exchange_modes', modes: [1] },
      { kind: 'raw', type: ExtensionType.signed_certificate_timestamp, data: new Uint8Array(0) },
      { kind: 'raw', type: ExtensionType.status_request, data: Uint8Array.of(1, 0, 0, 0, 0) },
      { kind: 'server_name', hostName: 'localhost' },
      { kind: 'supported_groups', groups: [g(2), ...groups] },
      { kind: 'key_share', shares: [{ group: g(2), keyExchange: Uint8Array.of(0) }, ...shares] },
      { kind: 'quic_transport_parameters', data: Uint8Array.of(0x0f, 0x04, 1, 2, 3, 4) },
      { kind: 'raw', type: g(9), data: Uint8Array.of(0) },
    ],
  };
  return encodeHandshakeMessage(ch);
}

test('a Chromium-shaped ClientHello: the X25519MLKEM768 (0x11ec) and GREASE shares are ignored, X25519 is used, and the secrets match an independent computation', async () => {
  const mine = nodeCrypto.keyShare('x25519');
  const mlkem = { group: 0x11ec, keyExchange: nodeCrypto.randomBytes(1216) };
  const ch = chromiumClientHello([mlkem, { group: NamedGroup.x25519, keyExchange: mine.publicKey }], [0x11ec, NamedGroup.x25519, NamedGroup.secp256r1, NamedGroup.secp384r1]);
  assert.ok(ch.length > 1200, 'spans two Initial packets, as Chromium\'s does');
  const s = await server();
  s.receive('initial', ch.subarray(0, 1000), now);
  s.receive('initial', ch.subarray(1000), now);
  assert.is(s.error, undefined, s.error?.message);
  const events = s.drain();
  const initial = events.find((e) => e.type === 'handshake_data' && e.level === 'initial') as { data: Uint8Array };
  const shRaw = splitFlight(initial.data)[0];
  const sh = decodeHandshakeMessage(shRaw, { sender: 'server' }) as ServerHello;
  const share = findExtension(sh.extensions, 'key_share_selected')!.share;
  assert.is(share.group, NamedGroup.x25519);
  // Independent key schedule (RFC 8446 §7.1) from our own X25519 key.
  const ks = new KeySchedule(nodeCrypto, 'sha256');
  ks.deriveEarlySecret();
  ks.deriveHandshakeSecret(mine.computeSecret(share.keyExchange));
  const transcript = nodeCrypto.hash('sha256').update(ch).update(shRaw);
  const hs = ks.handshakeTrafficSecrets(transcript.digest());
  const secret = (dir: string) => Buffer.from((events.find((e) => e.type === 'secret' && e.level === 'handshake' && e.direction === dir) as { secret: Uint8Array }).secret).toString('hex');
  assert.is(secret('write'), Buffer.from(hs.server).toString('hex'));
  assert.is(secret('read'), Buffer.from(hs.client).toString('hex'));
  // The server's flight: CertificateVerify and Finished verify under that independent transcript.
  const flight = splitFlight((events.find((e) => e.type === 'handshake_data' && e.level === 'handshake') as { data: Uint8Array }).data);
  assert.equal(flight.map((m) => m[0]), [HandshakeType.encrypted_extensions, HandshakeType.certificate, HandshakeType.certificate_verify, HandshakeType.finished]);
  transcript.update(flight[0]).update(flight[1]);
  const cv = decodeHandshakeMessage(flight[2], { sender: 'server' });
  const chain = await serverChain('ecdsa-p256');
  assert.ok(cv.kind === 'certificate_verify');
  assert.is(cv.algorithm, SignatureScheme.ecdsa_secp256r1_sha256);
  verifyCertificateVerify(cv.algorithm, chain.leaf.keys.publicKey, transcript.digest(), 'server', cv.signature);
  transcript.update(flight[2]);
  const fin = decodeHandshakeMessage(flight[3], { sender: 'server' });
  assert.ok(fin.kind === 'finished');
  assert.is(Buffer.from(fin.verifyData).toString('hex'), Buffer.from(finishedVerifyData(nodeCrypto, 'sha256', hs.server, transcript.digest())).toString('hex'));
});

test('a Chromium-shaped ClientHello with shares only for groups the server lacks: a HelloRetryRequest for a supported group', async () => {
  const mlkem = { group: 0x11ec, keyExchange: nodeCrypto.randomBytes(1216) };
  const x = nodeCrypto.keyShare('x25519');
  // Server without X25519: the client's X25519 share is not usable, secp256r1 is listed → HRR.
  const s1 = await server({ groups: ['secp256r1'] });
  s1.receive('initial', chromiumClientHello([mlkem, { group: NamedGroup.x25519, keyExchange: x.publicKey }], [0x11ec, NamedGroup.x25519, NamedGroup.secp256r1]), now);
  assert.is(s1.error, undefined, s1.error?.message);
  assert.is(s1.state, 'START');
  const hrr = decodeHandshakeMessage(splitFlight((s1.drain().find((e) => e.type === 'handshake_data') as { data: Uint8Array }).data)[0], { sender: 'server' });
  assert.ok(hrr.kind === 'hello_retry_request');
  assert.is(findExtension(hrr.extensions, 'key_share_retry')!.selectedGroup, NamedGroup.secp256r1);
  // Only an ML-KEM share: HRR for X25519 (the server's first group the client lists).
  const s2 = await server();
  s2.receive('initial', chromiumClientHello([mlkem], [0x11ec, NamedGroup.x25519]), now);
  assert.is(s2.state, 'START');
  const hrr2 = decodeHandshakeMessage(splitFlight((s2.drain().find((e) => e.type === 'handshake_data') as { data: Uint8Array }).data)[0], { sender: 'server' });
  assert.ok(hrr2.kind === 'hello_retry_request' && findExtension(hrr2.extensions, 'key_share_retry')!.selectedGroup === NamedGroup.x25519);
});

// ---------------------------------------------------------------------------------------------
// Live handshakes with GnuTLS

const certificates = new Map<SelfSignedKeyType, Awaited<ReturnType<typeof generateSelfSignedCertificate>>>();
async function selfSigned(keyType: SelfSignedKeyType) {
  let c = certificates.get(keyType);
  if (c === undefined) certificates.set(keyType, (c = await generateSelfSignedCertificate({ hostnames: ['localhost'], keyType })));
  return c;
}

test('live: our client completes handshakes with gtlsserver (GnuTLS) for every suite and group, and stores its NewSessionTicket', async () => {
  if (!requirePeer('gtlsserver')) return;
  const cert = await selfSigned('ecdsa-p256');
  const cases: Array<[number, 'x25519' | 'secp256r1']> = [
    [CipherSuite.TLS_AES_128_GCM_SHA256, 'x25519'],
    [CipherSuite.TLS_AES_256_GCM_SHA384, 'secp256r1'],
    [CipherSuite.TLS_CHACHA20_POLY1305_SHA256, 'x25519'],
    [CipherSuite.TLS_AES_128_GCM_SHA256, 'secp256r1'],
  ];
  for (const [suite, group] of cases) {
    const store = new MemoryTicketStore();
    const run = await clientAgainstGtlsServer(
      cert,
      { serverName: 'localhost', alpnProtocols: ['h3'], trustAnchors: [cert.certificatePem], cipherSuites: [suite], groups: [group], ticketStore: store },
      () => store.size > 0,
    );
    const label = `0x${suite.toString(16)} ${group}`;
    assert.is(run.session.error, undefined, `${label}: ${run.session.error?.message}`);
    assert.is(run.session.state, 'CONNECTED', label);
    const info = run.endpoint.events.find((e) => e.type === 'handshake_complete');
    assert.ok(info?.type === 'handshake_complete');
    assert.is(info.info.cipherSuite.code, suite, label);
    assert.is(info.info.group, group, label);
    assert.is(info.info.alpn, 'h3');
    assert.is(info.info.peerCertificateTrust, 'path');
    // GnuTLS's transport parameters arrive intact (QUIC decodes them).
    assert.ok(decodeTransportParameters(info.info.peerTransportParameters, { sender: 'server' }).initialSourceConnectionId !== undefined);
    // The server confirmed the handshake (it verified our Finished) and sent a ticket we stored.
    assert.ok(run.frames.has('oneRtt:handshakeDone'), `${label}: HANDSHAKE_DONE received`);
    assert.is(store.size, 1, `${label}: ticket stored`);
  }
});

test('live: our client verifies gtlsserver certificates of every key type (ECDSA P-384, Ed25519, RSA)', async () => {
  if (!requirePeer('gtlsserver')) return;
  const expected: Array<[SelfSignedKeyType, number]> = [
    ['ecdsa-p384', SignatureScheme.ecdsa_secp384r1_sha384],
    ['ed25519', SignatureScheme.ed25519],
    ['rsa', SignatureScheme.rsa_pss_rsae_sha256],
  ];
  for (const [keyType, scheme] of expected) {
    const cert = await selfSigned(keyType);
    const run = await clientAgainstGtlsServer(cert, { serverName: 'localhost', alpnProtocols: ['h3'], trustAnchors: [cert.certificatePem] });
    assert.is(run.session.error, undefined, `${keyType}: ${run.session.error?.message}`);
    const info = run.endpoint.events.find((e) => e.type === 'handshake_complete');
    assert.ok(info?.type === 'handshake_complete');
    assert.is(info.info.peerSignatureScheme, scheme, keyType);
  }
});

test('live: a gtlsserver certificate for another name is refused with bad_certificate, and GnuTLS is told so', async () => {
  if (!requirePeer('gtlsserver')) return;
  const cert = await generateSelfSignedCertificate({ hostnames: ['example.org'] });
  const run = await clientAgainstGtlsServer(cert, { serverName: 'localhost', alpnProtocols: ['h3'], trustAnchors: [cert.certificatePem] });
  assert.is(run.session.state, 'failed');
  assert.is(run.session.error?.code, 0x100 + 42);
});

test('live: gtlsclient (GnuTLS) completes handshakes with our server — default, secp256r1 only, ChaCha20 or AES-256 only, and via a HelloRetryRequest', async () => {
  if (!requirePeer('gtlsclient')) return;
  const cert = await selfSigned('ecdsa-p256');
  const cases: Array<{ args: string[]; suite: number; group: string; retry: boolean; serverGroups?: Array<'x25519' | 'secp256r1'> }> = [
    { args: [], suite: CipherSuite.TLS_AES_128_GCM_SHA256, group: 'x25519', retry: false },
    { args: ['--groups=-GROUP-ALL:+GROUP-SECP256R1'], suite: CipherSuite.TLS_AES_128_GCM_SHA256, group: 'secp256r1', retry: false },
    { args: ['--ciphers=NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+CHACHA20-POLY1305'], suite: CipherSuite.TLS_CHACHA20_POLY1305_SHA256, group: 'x25519', retry: false },
    { args: ['--ciphers=NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-256-GCM'], suite: CipherSuite.TLS_AES_256_GCM_SHA384, group: 'x25519', retry: false },
    // GnuTLS sends one share per curve family (here P-384 and X25519); a server with secp256r1 only asks again.
    { args: ['--groups=-GROUP-ALL:+GROUP-SECP384R1:+GROUP-SECP256R1:+GROUP-X25519'], suite: CipherSuite.TLS_AES_128_GCM_SHA256, group: 'secp256r1', retry: true, serverGroups: ['secp256r1'] },
  ];
  for (const c of cases) {
    const run = await gtlsClientAgainstServer(
      { certificateChain: cert.certificateChain, privateKey: cert.privateKey, alpnProtocols: ['h3'], groups: c.serverGroups },
      c.args,
    );
    const label = c.args.join(' ') || 'default';
    assert.ok(run.session !== undefined, `${label}: the client sent an Initial`);
    assert.is(run.session!.error, undefined, `${label}: ${run.session!.error?.message}`);
    assert.is(run.session!.state, 'CONNECTED', label);
    const info = run.endpoint.events.find((e) => e.type === 'handshake_complete');
    assert.ok(info?.type === 'handshake_complete');
    assert.is(info.info.cipherSuite.code, c.suite, label);
    assert.is(info.info.group, c.group, label);
    assert.is(info.info.helloRetryRequest, c.retry, label);
    assert.is(info.info.serverName, 'localhost');
    assert.match(run.log, /QUIC handshake has completed/, `${label}: GnuTLS completed too`);
  }
});

test.run();
