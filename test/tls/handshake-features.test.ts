/**
 * Handshake features beyond the basic flight: HelloRetryRequest (group and cookie), ALPN selection
 * and mismatch, client authentication (answered with and without a certificate, verified or not),
 * session tickets (issued, stored, sealed with the server key), identities (SNI, IP address, pins,
 * insecure mode), GREASE, byte-by-byte delivery, close, and configuration refusals.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { X509Certificate } from 'node:crypto';
import { nodeCrypto } from '../../src/crypto/node.js';
import { TlsAlert, TlsAlertError } from '../../src/tls/alerts.js';
import { ExtensionType, HandshakeType, isGrease16, SignatureScheme } from '../../src/tls/constants.js';
import { findExtension } from '../../src/tls/extensions.js';
import { decodeHandshakeMessage, type ClientHello } from '../../src/tls/messages.js';
import { generateSelfSignedCertificate } from '../../src/tls/self-signed.js';
import { createClientSession, createServerSession, type TlsClientSession, type TlsServerSession } from '../../src/tls/session.js';
import type { TlsClientConfig, TlsServerConfig } from '../../src/tls/config.js';
import { MemoryTicketStore, openSessionTicket, sealSessionTicket, type SessionTicket } from '../../src/tls/tickets.js';
import { CRYPTO_ERROR_BASE } from '../../src/wire/errors.js';
import { createChain, type TestChain } from '../support/pki.js';
import { CLIENT_TP, rewriteExtensions, runHandshake, SERVER_TP, serverChain, splitFlight } from '../support/tls-handshake.js';

const hex = (b: Uint8Array | undefined) => (b === undefined ? 'undefined' : Buffer.from(b).toString('hex'));

async function pair(
  client: Partial<TlsClientConfig> = {},
  server: Partial<TlsServerConfig> = {},
  chain?: TestChain,
): Promise<{ client: TlsClientSession; server: TlsServerSession; chain: TestChain }> {
  const c = chain ?? (await serverChain('ecdsa-p256'));
  return {
    chain: c,
    client: createClientSession({ serverName: 'localhost', alpnProtocols: ['h3'], transportParameters: CLIENT_TP, trustAnchors: c.anchors, ...client }),
    server: createServerSession({ certificateChain: c.chain, privateKey: c.leaf.privateKey, alpnProtocols: ['h3'], transportParameters: SERVER_TP, ...server }),
  };
}

function secretsAgree(run: ReturnType<typeof runHandshake>): void {
  for (const level of ['handshake', 'oneRtt']) {
    assert.is(hex(run.client.secrets.get(`${level}:write`)), hex(run.server.secrets.get(`${level}:read`)));
    assert.is(hex(run.client.secrets.get(`${level}:read`)), hex(run.server.secrets.get(`${level}:write`)));
  }
}

function clientHellos(run: ReturnType<typeof runHandshake>): ClientHello[] {
  return (run.client.sent.get('initial') ?? []).flatMap(splitFlight).map((m) => decodeHandshakeMessage(m, { sender: 'client' }) as ClientHello);
}

// ---------------------------------------------------------------------------------------------
// HelloRetryRequest

test('HelloRetryRequest: a key share for a group the server does not accept, but a supported group it does, leads to a retry and a completed handshake', async () => {
  const { client, server } = await pair({ groups: ['secp256r1', 'x25519'] }, { groups: ['x25519'] });
  const run = runHandshake(client, server);
  assert.is(run.client.error, undefined, run.client.error?.message);
  assert.is(run.server.error, undefined, run.server.error?.message);
  secretsAgree(run);
  const [ch1, ch2] = clientHellos(run);
  assert.equal(findExtension(ch1.extensions, 'key_share')!.shares.filter((s) => !isGrease16(s.group)).map((s) => s.group), [0x0017]);
  // RFC 8446 §4.1.2: ClientHello2 carries exactly one share, for the selected group, and the same random.
  assert.equal(findExtension(ch2.extensions, 'key_share')!.shares.map((s) => s.group), [0x001d]);
  assert.is(hex(ch2.random), hex(ch1.random));
  assert.is(run.client.info!.helloRetryRequest, true);
  assert.is(run.server.info!.helloRetryRequest, true);
  assert.is(run.client.info!.group, 'x25519');
});

test('HelloRetryRequest with a cookie: ClientHello2 echoes it byte for byte (RFC 8446 §4.2.2)', async () => {
  const { client, server } = await pair({ groups: ['secp256r1', 'x25519'] }, { groups: ['x25519'], helloRetryRequestCookie: true });
  const run = runHandshake(client, server);
  assert.is(run.server.error, undefined, run.server.error?.message);
  secretsAgree(run);
  const hrr = decodeHandshakeMessage(splitFlight((run.server.sent.get('initial') ?? [])[0])[0], { sender: 'server' });
  assert.is(hrr.kind, 'hello_retry_request');
  const cookie = hrr.kind === 'hello_retry_request' ? findExtension(hrr.extensions, 'cookie')?.cookie : undefined;
  assert.ok(cookie !== undefined && cookie.length === 32);
  const [, ch2] = clientHellos(run);
  assert.is(hex(findExtension(ch2.extensions, 'cookie')?.cookie), hex(cookie));
});

test('no HelloRetryRequest when the client sends a share for an acceptable group; the server picks among shares in its own order', async () => {
  const { client, server } = await pair({ groups: ['secp256r1', 'x25519'], keyShareCount: 2 }, { groups: ['x25519', 'secp256r1'] });
  const run = runHandshake(client, server);
  assert.is(run.server.info!.helloRetryRequest, false);
  assert.is(run.server.info!.group, 'x25519');
  assert.is(clientHellos(run).length, 1);
  const p2 = await pair({ groups: ['secp256r1'] }, { groups: ['x25519', 'secp256r1'] });
  const run2 = runHandshake(p2.client, p2.server);
  assert.is(run2.server.info!.group, 'secp256r1');
  assert.is(run2.server.info!.helloRetryRequest, false);
});

test('no group in common: the server aborts with handshake_failure (RFC 8446 §4.1.1)', async () => {
  const { client, server } = await pair({ groups: ['secp256r1'] }, { groups: ['x25519'] });
  const run = runHandshake(client, server);
  assert.instance(run.server.error, TlsAlertError);
  assert.is((run.server.error as TlsAlertError).alert, TlsAlert.handshake_failure);
  assert.is(server.state, 'failed');
});

// ---------------------------------------------------------------------------------------------
// ALPN

test('ALPN mismatch: the server fails with no_application_protocol, CRYPTO_ERROR 0x178 (RFC 9001 §8.1), and sends nothing', async () => {
  const { client, server } = await pair({ alpnProtocols: ['h3'] }, { alpnProtocols: ['hq-interop'] });
  const run = runHandshake(client, server);
  assert.instance(run.server.error, TlsAlertError);
  assert.is(run.server.error!.code, 0x178);
  assert.is(run.server.error!.code, CRYPTO_ERROR_BASE + TlsAlert.no_application_protocol);
  assert.match(run.server.error!.message, /no application protocol in common: the client offered h3/);
  assert.is(run.server.sent.size, 0, 'no ServerHello');
  assert.is(run.server.events[run.server.events.length - 1].type, 'failed');
  assert.is(server.state, 'failed');
  assert.is(client.state, 'WAIT_SH');
});

test('selectAlpn chooses among the offered protocols; undefined means no_application_protocol', async () => {
  const seen: string[][] = [];
  const { client, server } = await pair(
    { alpnProtocols: ['h3', 'hq-interop'] },
    { alpnProtocols: undefined, selectAlpn: (offered, sni) => (seen.push([...offered.map((p) => Buffer.from(p).toString()), String(sni)]), offered[1]) },
  );
  const run = runHandshake(client, server);
  assert.is(run.client.info!.alpn, 'hq-interop');
  assert.is(run.server.info!.alpn, 'hq-interop');
  // GREASE ALPN values never reach the callback.
  assert.equal(seen, [['h3', 'hq-interop', 'localhost']]);
  const p2 = await pair({}, { alpnProtocols: undefined, selectAlpn: () => undefined });
  assert.is(runHandshake(p2.client, p2.server).server.error?.code, 0x178);
});

// ---------------------------------------------------------------------------------------------
// Client authentication

test('CertificateRequest answered with a client certificate: verified against the server trust store, CertificateVerify checked', async () => {
  const clientPki = await createChain({ leaf: { keyType: 'ecdsa-p384' } });
  const { client, server } = await pair(
    { certificate: { certificateChain: clientPki.chain, privateKey: clientPki.leaf.privateKey } },
    { clientAuthentication: { trustAnchors: clientPki.anchors, required: true } },
  );
  const run = runHandshake(client, server);
  assert.is(run.server.error, undefined, run.server.error?.message);
  assert.is(run.client.error, undefined, run.client.error?.message);
  secretsAgree(run);
  assert.is(run.server.info!.peerCertificateTrust, 'path');
  assert.is(run.server.info!.peerSignatureScheme, SignatureScheme.ecdsa_secp384r1_sha384);
  assert.equal(run.server.info!.peerCertificates.map(hex), clientPki.chain.map(hex));
  // The client's second flight: Certificate, CertificateVerify, Finished.
  const flight2 = (run.client.sent.get('handshake') ?? []).flatMap(splitFlight).map((m) => m[0]);
  assert.equal(flight2, [HandshakeType.certificate, HandshakeType.certificate_verify, HandshakeType.finished]);
});

test('CertificateRequest answered without a certificate: an empty Certificate, no CertificateVerify; accepted when not required', async () => {
  const { client, server } = await pair({}, { clientAuthentication: {} });
  const run = runHandshake(client, server);
  assert.is(run.server.error, undefined, run.server.error?.message);
  secretsAgree(run);
  const flight2 = (run.client.sent.get('handshake') ?? []).flatMap(splitFlight);
  assert.equal(flight2.map((m) => m[0]), [HandshakeType.certificate, HandshakeType.finished]);
  const cert = decodeHandshakeMessage(flight2[0], { sender: 'client' });
  assert.ok(cert.kind === 'certificate' && cert.entries.length === 0);
  assert.is(run.server.info!.peerCertificateTrust, 'none');
  assert.equal(run.server.info!.peerCertificates, []);
});

test('a server that requires a client certificate fails with certificate_required when it gets an empty one (RFC 8446 §4.4.2.4)', async () => {
  const { client, server } = await pair({}, { clientAuthentication: { required: true } });
  const run = runHandshake(client, server);
  assert.is((run.server.error as TlsAlertError).alert, TlsAlert.certificate_required);
  assert.is(server.state, 'failed');
});

test('a client certificate from a CA the server does not trust: unknown_ca', async () => {
  const clientPki = await createChain({});
  const otherPki = await createChain({});
  const { client, server } = await pair(
    { certificate: { certificateChain: clientPki.chain, privateKey: clientPki.leaf.privateKey } },
    { clientAuthentication: { trustAnchors: otherPki.anchors } },
  );
  const run = runHandshake(client, server);
  assert.is((run.server.error as TlsAlertError).alert, TlsAlert.unknown_ca);
});

test('a server without client trust settings takes the client certificate unverified, with possession proven by CertificateVerify', async () => {
  const self = await generateSelfSignedCertificate({ keyType: 'ed25519' });
  const { client, server } = await pair({ certificate: { certificateChain: self.certificateChain, privateKey: self.privateKey } }, { clientAuthentication: {} });
  const run = runHandshake(client, server);
  assert.is(run.server.error, undefined, run.server.error?.message);
  assert.is(run.server.info!.peerCertificateTrust, 'unverified');
  assert.is(run.server.info!.peerSignatureScheme, SignatureScheme.ed25519);
});

// ---------------------------------------------------------------------------------------------
// Session tickets

test('NewSessionTicket: issued at the 1-RTT level, stored by the client, and its PSK equals the one sealed in the ticket', async () => {
  const key = nodeCrypto.randomBytes(32);
  const store = new MemoryTicketStore();
  const { client, server } = await pair({ ticketStore: store }, { sessionTickets: { key, count: 2, lifetime: 3600 } });
  const run = runHandshake(client, server, { now: Date.now() });
  assert.is(run.server.error, undefined, run.server.error?.message);
  const issued = run.server.events.filter((e) => e.type === 'session_ticket_issued');
  const received = run.client.events.filter((e) => e.type === 'session_ticket').map((e) => (e as { ticket: SessionTicket }).ticket);
  assert.is(issued.length, 2);
  assert.is(received.length, 2);
  assert.is((run.server.sent.get('oneRtt') ?? []).flatMap(splitFlight).length, 2, 'two NewSessionTicket messages at 1-RTT');
  assert.is(store.size, 2);
  assert.is.not(hex(received[0].psk), hex(received[1].psk), 'distinct nonces give distinct PSKs');
  for (const t of received) {
    assert.is(t.serverName, 'localhost');
    assert.is(t.alpn, 'h3');
    assert.is(t.lifetime, 3600);
    assert.is(t.maxEarlyDataSize, 0, 'no 0-RTT offered by this server');
    assert.is(hex(t.peerTransportParameters), hex(SERVER_TP));
    const state = openSessionTicket(nodeCrypto, key, t.ticket, t.receivedAt + 1000);
    assert.ok(state !== undefined, 'the server key opens the ticket');
    assert.is(hex(state!.psk), hex(t.psk), 'client and server derive the same resumption PSK');
    assert.is(state!.serverName, 'localhost');
    assert.is(Buffer.from(state!.alpn).toString(), 'h3');
    // Expired, other key, tampered: refused without throwing.
    assert.is(openSessionTicket(nodeCrypto, key, t.ticket, t.receivedAt + 3600_000 + 1), undefined);
    assert.is(openSessionTicket(nodeCrypto, nodeCrypto.randomBytes(32), t.ticket, t.receivedAt), undefined);
    const bad = t.ticket.slice();
    bad[bad.length - 1] ^= 1;
    assert.is(openSessionTicket(nodeCrypto, key, bad, t.receivedAt), undefined);
  }
  const taken = store.take('localhost', Date.now());
  assert.ok(taken !== undefined);
  assert.is(store.size, 1, 'a ticket is handed out once');
});

test('no tickets when the client does not list psk_dhe_ke (no ticket store), nor when the server has no ticket key', async () => {
  const key = nodeCrypto.randomBytes(32);
  const p1 = await pair({}, { sessionTickets: { key } });
  const r1 = runHandshake(p1.client, p1.server);
  assert.is(r1.server.events.filter((e) => e.type === 'session_ticket_issued').length, 0);
  const p2 = await pair({ ticketStore: new MemoryTicketStore() }, {});
  const r2 = runHandshake(p2.client, p2.server);
  assert.is(r2.client.events.filter((e) => e.type === 'session_ticket').length, 0);
  assert.is(r2.server.error, undefined);
});

test('sealed tickets carry the session state and the client certificate hash; the ticket format refuses foreign bytes', () => {
  const key = nodeCrypto.randomBytes(32);
  const state = {
    cipherSuite: 0x1302 as const,
    issuedAt: 1_700_000_000_123,
    lifetime: 600,
    ageAdd: 0xdeadbeef,
    psk: nodeCrypto.randomBytes(48),
    alpn: Uint8Array.from(Buffer.from('h3')),
    serverName: 'example.com',
    clientCertificateSha256: nodeCrypto.randomBytes(32),
  };
  const ticket = sealSessionTicket(nodeCrypto, key, state);
  const opened = openSessionTicket(nodeCrypto, [nodeCrypto.randomBytes(32), key], ticket, state.issuedAt);
  assert.equal({ ...opened!, psk: hex(opened!.psk), alpn: hex(opened!.alpn), clientCertificateSha256: hex(opened!.clientCertificateSha256) }, {
    ...state,
    psk: hex(state.psk),
    alpn: hex(state.alpn),
    clientCertificateSha256: hex(state.clientCertificateSha256),
  });
  assert.is(openSessionTicket(nodeCrypto, key, ticket, state.issuedAt - 1), undefined, 'issued in the future');
  assert.is(openSessionTicket(nodeCrypto, key, Uint8Array.of(1, 2, 3), state.issuedAt), undefined);
  assert.is(openSessionTicket(nodeCrypto, key, new Uint8Array(64), state.issuedAt), undefined);
  assert.throws(() => sealSessionTicket(nodeCrypto, new Uint8Array(16), state), (e: unknown) => e instanceof TlsAlertError && e.alert === TlsAlert.internal_error);
});

test('a ClientHello offering early_data gets a full handshake: no early_data in EncryptedExtensions, no 0-RTT secret (RFC 8446 §4.2.10, RFC 9001 §4.6.2)', async () => {
  const { client, server } = await pair();
  client.start(Date.now());
  const ch = (client.drain().find((e) => e.type === 'handshake_data') as { data: Uint8Array }).data;
  const withEarlyData = rewriteExtensions(ch, (exts) => [...exts, [ExtensionType.early_data, new Uint8Array(0)]]);
  server.receive('initial', withEarlyData, Date.now());
  assert.is(server.error, undefined, server.error?.message);
  const events = server.drain();
  assert.not.ok(events.some((e) => e.type === 'secret' && (e.level as string) === 'zeroRtt'));
  const flight = splitFlight((events.find((e) => e.type === 'handshake_data' && e.level === 'handshake') as { data: Uint8Array }).data);
  const ee = decodeHandshakeMessage(flight[0], { sender: 'server' });
  assert.ok(ee.kind === 'encrypted_extensions');
  assert.is(findExtension(ee.extensions, 'early_data'), undefined);
  assert.is(server.state, 'WAIT_FINISHED');
});

// ---------------------------------------------------------------------------------------------
// Identities

test('an IP address as serverName sends no SNI (RFC 6066 §3) and is matched against iPAddress SANs; so is remoteAddress', async () => {
  for (const client of [{ serverName: '127.0.0.1' }, { serverName: undefined, remoteAddress: '::1' }, { serverName: '[::1]' }]) {
    const { client: c, server: s } = await pair(client);
    const run = runHandshake(c, s);
    assert.is(run.client.error, undefined, run.client.error?.message);
    assert.is(findExtension(clientHellos(run)[0].extensions, 'server_name'), undefined);
    assert.is(run.server.info!.serverName, undefined);
    assert.is(run.client.info!.peerCertificateTrust, 'path');
  }
  const { client, server } = await pair({ serverName: '10.9.8.7' });
  assert.is((runHandshake(client, server).client.error as TlsAlertError).alert, TlsAlert.bad_certificate);
});

test('a Unicode server name is sent as its A-label (lower case, no trailing dot)', async () => {
  const chain = await createChain({ leaf: { dnsNames: ['xn--bcher-kva.example'] } });
  const { client, server } = await pair({ serverName: 'Bücher.example.' }, {}, chain);
  const run = runHandshake(client, server);
  assert.is(run.client.error, undefined, run.client.error?.message);
  assert.is(run.server.info!.serverName, 'xn--bcher-kva.example');
});

test('a pinned self-signed server key is accepted in pin-only mode; insecureSkipVerify accepts anything parsable', async () => {
  const self = await generateSelfSignedCertificate({ keyType: 'ecdsa-p256' });
  const serverConfig = { certificateChain: self.certificateChain, privateKey: self.privateKey };
  const p1 = await pair({ trustAnchors: undefined, pinnedSpkiSha256: [self.spkiSha256Base64], pinMode: 'pin-only' }, serverConfig);
  assert.is(runHandshake(p1.client, p1.server).client.info?.peerCertificateTrust, 'pin');
  const p2 = await pair({ trustAnchors: undefined, insecureSkipVerify: true, serverName: 'anything.invalid' }, serverConfig);
  assert.is(runHandshake(p2.client, p2.server).client.info?.peerCertificateTrust, 'insecure');
  const p3 = await pair({ trustAnchors: undefined, pinnedSpkiSha256: [Buffer.alloc(32).toString('base64')], pinMode: 'pin-only' }, serverConfig);
  assert.is((runHandshake(p3.client, p3.server).client.error as TlsAlertError).alert, TlsAlert.certificate_unknown);
  // The system store does not know a self-signed certificate.
  const p4 = await pair({ trustAnchors: 'system' }, serverConfig);
  assert.is((runHandshake(p4.client, p4.server).client.error as TlsAlertError).alert, TlsAlert.unknown_ca);
});

// ---------------------------------------------------------------------------------------------
// GREASE, delivery, close

test('the client GREASEs cipher suites, extensions, groups, key shares, versions and signature algorithms (RFC 8701); the server ignores them', async () => {
  const { client, server } = await pair({ ticketStore: new MemoryTicketStore() });
  const run = runHandshake(client, server);
  assert.is(run.server.error, undefined);
  const ch = clientHellos(run)[0];
  assert.ok(ch.cipherSuites.some(isGrease16));
  assert.is(ch.extensions.filter((e) => e.kind === 'raw' && isGrease16(e.type)).length, 2);
  assert.ok(findExtension(ch.extensions, 'supported_groups')!.groups.some(isGrease16));
  assert.ok(findExtension(ch.extensions, 'key_share')!.shares.some((s) => isGrease16(s.group)));
  assert.ok(findExtension(ch.extensions, 'supported_versions')!.versions.some(isGrease16));
  assert.ok(findExtension(ch.extensions, 'signature_algorithms')!.schemes.some(isGrease16));
  assert.is(ch.legacySessionId.length, 0, 'RFC 9001 §8.4: no middlebox compatibility mode');
  const p2 = await pair({ grease: false });
  const ch2 = clientHellos(runHandshake(p2.client, p2.server))[0];
  assert.not.ok(ch2.cipherSuites.some(isGrease16));
  assert.not.ok(ch2.extensions.some((e) => e.kind === 'raw'));
  // Without a ticket store the client does not invite tickets (RFC 8446 §4.2.9).
  assert.is(findExtension(ch2.extensions, 'psk_key_exchange_modes'), undefined);
  assert.ok(findExtension(ch.extensions, 'psk_key_exchange_modes')!.modes.includes(1));
});

test('CRYPTO bytes delivered one byte at a time complete the same handshake', async () => {
  const { client, server } = await pair({}, { clientAuthentication: {} });
  const run = runHandshake(client, server, { chunk: 1 });
  assert.is(run.client.error, undefined, run.client.error?.message);
  assert.is(run.server.error, undefined, run.server.error?.message);
  secretsAgree(run);
});

test('close() moves the machine to closed; later bytes are ignored and nothing more is reported', async () => {
  const { client, server } = await pair();
  runHandshake(client, server);
  client.close();
  server.close();
  assert.is(client.state, 'closed');
  assert.is(server.state, 'closed');
  client.receive('oneRtt', Uint8Array.of(4, 0, 0, 1, 0), Date.now());
  assert.equal(client.drain(), []);
  assert.is(client.error, undefined);
  assert.throws(() => client.start(0), (e: unknown) => e instanceof TlsAlertError && e.alert === TlsAlert.internal_error);
});

// ---------------------------------------------------------------------------------------------
// Configuration

test('configuration mistakes are refused at creation with internal_error naming the field', async () => {
  const chain = await serverChain('ecdsa-p256');
  const other = await serverChain('ed25519');
  const good: TlsServerConfig = { certificateChain: chain.chain, privateKey: chain.leaf.privateKey, alpnProtocols: ['h3'], transportParameters: SERVER_TP };
  const refuse = (what: RegExp, fn: () => unknown) =>
    assert.throws(fn, (e: unknown) => e instanceof TlsAlertError && e.alert === TlsAlert.internal_error && what.test(e.message), String(what));
  refuse(/does not belong to the end-entity certificate/, () => createServerSession({ ...good, privateKey: other.leaf.privateKey }));
  refuse(/alpnProtocols must list at least one/, () => createServerSession({ ...good, alpnProtocols: [] }));
  refuse(/alpnProtocols or selectAlpn/, () => createServerSession({ ...good, alpnProtocols: undefined }));
  refuse(/sessionTickets.key must be 32 bytes/, () => createServerSession({ ...good, sessionTickets: { key: new Uint8Array(16) } }));
  refuse(/sessionTickets.lifetime/, () => createServerSession({ ...good, sessionTickets: { key: new Uint8Array(32), lifetime: 604801 } }));
  refuse(/cipherSuites lists 0x1304/, () => createServerSession({ ...good, cipherSuites: [0x1304] }));
  refuse(/certificateChain is empty/, () => createServerSession({ ...good, certificateChain: [] }));
  const client: TlsClientConfig = { serverName: 'localhost', alpnProtocols: ['h3'], transportParameters: CLIENT_TP };
  refuse(/alpnProtocols must list at least one/, () => createClientSession({ ...client, alpnProtocols: [] }));
  refuse(/give serverName or remoteAddress/, () => createClientSession({ ...client, serverName: undefined }));
  refuse(/keyShareCount/, () => createClientSession({ ...client, keyShareCount: 3 }));
  refuse(/1 to 255 bytes/, () => createClientSession({ ...client, alpnProtocols: [''] }));
  refuse(/pinnedSpkiSha256 is empty/, () => createClientSession({ ...client, pinnedSpkiSha256: [] }));
  assert.ok(new X509Certificate(chain.chain[0]).checkPrivateKey(chain.leaf.privateKey));
});

test.run();
