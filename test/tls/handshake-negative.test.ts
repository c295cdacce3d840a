/**
 * Handshakes that must fail, each with the right alert (CRYPTO_ERROR 0x100 + alert) or QUIC error,
 * a typed error, the machine in `failed` and a `failed` event last: truncated and garbage
 * messages, messages out of order or at the wrong encryption level, partial messages across a key
 * change, tampered Finished and CertificateVerify, bad certificates, downgrades, duplicate and
 * forbidden extensions, key shares outside the offer, HelloRetryRequest misuse, missing ALPN and
 * transport parameters, middlebox compatibility mode, forbidden messages.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TlsAlert, TlsAlertError, tlsAlertName } from '../../src/tls/alerts.js';
import { CipherSuite } from '../../src/tls/cipher-suites.js';
import type { TlsClientConfig, TlsServerConfig } from '../../src/tls/config.js';
import { ExtensionType, HandshakeType, NamedGroup, ProtocolVersion, SignatureScheme } from '../../src/tls/constants.js';
import { decodeHandshakeMessage, encodeHandshakeMessage, type HelloRetryRequest } from '../../src/tls/messages.js';
import { createClientSession, createServerSession, type TlsClientSession, type TlsServerSession, type TlsSession } from '../../src/tls/session.js';
import { QuicError, TransportErrorCode } from '../../src/wire/errors.js';
import { createChain, type TestChain } from '../support/pki.js';
import { concat, extensionBlock, handshake, vec } from '../support/tls-arbitraries.js';
import {
  CLIENT_TP,
  collect,
  joinFlight,
  rewriteExtensions,
  rewriteInFlight,
  runHandshake,
  SERVER_TP,
  serverChain,
  splitFlight,
  type PumpOptions,
  type RawExt,
  type SideRecord,
} from '../support/tls-handshake.js';

const A = TlsAlert;
const now = Date.now();

async function pair(client: Partial<TlsClientConfig> = {}, server: Partial<TlsServerConfig> = {}, chain?: TestChain) {
  const c = chain ?? (await serverChain('ecdsa-p256'));
  return {
    chain: c,
    client: createClientSession({ serverName: 'localhost', alpnProtocols: ['h3'], transportParameters: CLIENT_TP, trustAnchors: c.anchors, grease: false, ...client }),
    server: createServerSession({ certificateChain: c.chain, privateKey: c.leaf.privateKey, alpnProtocols: ['h3'], transportParameters: SERVER_TP, ...server }),
  };
}

/** The failing side ended in `failed` with a TlsAlertError of `alert`, reported as the last event. */
function assertAlert(session: TlsSession, rec: SideRecord | undefined, alert: number, pattern?: RegExp): void {
  const error = session.error;
  assert.instance(error, TlsAlertError, `expected ${tlsAlertName(alert)}, got ${String(error)}`);
  assert.is((error as TlsAlertError).alert, alert, `expected ${tlsAlertName(alert)}, got ${error?.message}`);
  assert.is(error!.code, 0x100 + alert);
  if (pattern !== undefined) assert.match(error!.message, pattern);
  assert.is(session.state, 'failed');
  assert.is(session.terminated, true);
  const events = rec?.events ?? session.drain();
  assert.is(events[events.length - 1]?.type, 'failed', 'the failure is the last event');
}

/** Runs a handshake in which `fn` rewrites the flights of `from` at `level`. */
async function tampered(
  from: 'client' | 'server',
  level: 'initial' | 'handshake' | 'oneRtt',
  fn: (data: Uint8Array, nth: number) => Uint8Array,
  configs: { client?: Partial<TlsClientConfig>; server?: Partial<TlsServerConfig>; chain?: TestChain; pump?: PumpOptions } = {},
) {
  const p = await pair(configs.client, configs.server, configs.chain);
  const counts = { client: 0, server: 0 };
  const run = runHandshake(p.client, p.server, {
    now,
    ...configs.pump,
    tamper: (f, l, data) => (f === from && l === level ? fn(data, counts[f]++) : data),
  });
  return { ...p, run };
}

const dropExt = (type: number) => (exts: RawExt[]) => exts.filter(([t]) => t !== type);
const addExt = (type: number, data: number[] | Uint8Array = []) => (exts: RawExt[]) => [...exts, [type, Uint8Array.from(data)] as RawExt];
const setExt = (type: number, data: Uint8Array) => (exts: RawExt[]) => exts.map(([t, d]): RawExt => [t, t === type ? data : d]);
const u16 = (v: number) => [v >> 8, v & 0xff];

/** Rewrites the body of a message keeping its header consistent. */
function withBody(raw: Uint8Array, body: (b: Uint8Array) => Uint8Array): Uint8Array {
  return handshake(raw[0], body(raw.slice(4)));
}

// ---------------------------------------------------------------------------------------------
// Server side: what a client may send wrong

test('server: a truncated ClientHello (consistent header, body cut short) → decode_error', async () => {
  const { server, run } = await tampered('client', 'initial', (d) => withBody(d, (b) => b.slice(0, b.length - 7)));
  assertAlert(server, run.server, A.decode_error);
});

test('server: garbage in place of the ClientHello → a typed alert, never an exception', async () => {
  for (const garbage of [Uint8Array.of(1, 0, 0, 3, 0xff, 0xff, 0xff), Uint8Array.of(99, 0, 0, 0), Uint8Array.of(2, 0, 0, 1, 0)]) {
    const { server, run } = await tampered('client', 'initial', () => garbage);
    assert.instance(server.error, TlsAlertError, String(server.error));
    assertAlert(server, run.server, (server.error as TlsAlertError).alert);
  }
});

test('server: downgrade — no supported_versions, or TLS 1.2 only → protocol_version (RFC 9001 §4.2)', async () => {
  const r1 = await tampered('client', 'initial', (d) => rewriteExtensions(d, dropExt(ExtensionType.supported_versions)));
  assertAlert(r1.server, r1.run.server, A.protocol_version);
  const r2 = await tampered('client', 'initial', (d) => rewriteExtensions(d, setExt(ExtensionType.supported_versions, Uint8Array.from(vec(1, u16(0x0303))))));
  assertAlert(r2.server, r2.run.server, A.protocol_version);
});

test('server: a non-empty legacy_session_id (middlebox compatibility mode) → PROTOCOL_VIOLATION, not an alert (RFC 9001 §8.4)', async () => {
  const { server, run } = await tampered('client', 'initial', (d) =>
    withBody(d, (b) => concat(b.subarray(0, 34), vec(1, new Uint8Array(32).fill(7)), b.subarray(35))),
  );
  assert.instance(server.error, QuicError);
  assert.not.instance(server.error, TlsAlertError);
  assert.is(server.error!.code, TransportErrorCode.PROTOCOL_VIOLATION);
  assert.is(server.state, 'failed');
  assert.is(run.server.events[run.server.events.length - 1].type, 'failed');
});

test('server: duplicate or forbidden ClientHello extensions → illegal_parameter (RFC 8446 §4.2)', async () => {
  const dup = await tampered('client', 'initial', (d) => rewriteExtensions(d, (e) => [...e, e.find(([t]) => t === ExtensionType.application_layer_protocol_negotiation)!]));
  assertAlert(dup.server, dup.run.server, A.illegal_parameter, /duplicate/);
  const dupUnknown = await tampered('client', 'initial', (d) => rewriteExtensions(d, (e) => [[0x7777, new Uint8Array(0)], ...e, [0x7777, new Uint8Array(0)]]));
  assertAlert(dupUnknown.server, dupUnknown.run.server, A.illegal_parameter, /duplicate/);
  const forbidden = await tampered('client', 'initial', (d) => rewriteExtensions(d, addExt(ExtensionType.oid_filters, [0, 0])));
  assertAlert(forbidden.server, forbidden.run.server, A.illegal_parameter, /not allowed in client_hello/);
});

test('server: a key share for a group not in supported_groups → illegal_parameter (RFC 8446 §4.2.8)', async () => {
  const { server, run } = await tampered('client', 'initial', (d) => rewriteExtensions(d, setExt(ExtensionType.supported_groups, Uint8Array.from(vec(2, u16(NamedGroup.secp256r1))))));
  assertAlert(server, run.server, A.illegal_parameter, /not listed in supported_groups/);
});

test('server: an invalid key share (x25519 point of order 1, all-zero secret) → illegal_parameter (RFC 8446 §7.4.2)', async () => {
  const { server, run } = await tampered('client', 'initial', (d) =>
    rewriteExtensions(d, setExt(ExtensionType.key_share, Uint8Array.from(vec(2, [...u16(NamedGroup.x25519), ...vec(2, new Uint8Array(32))])))),
  );
  assertAlert(server, run.server, A.illegal_parameter, /invalid key share/);
});

test('server: missing ALPN → no_application_protocol; missing transport parameters → missing_extension; missing signature_algorithms → missing_extension', async () => {
  const alpn = await tampered('client', 'initial', (d) => rewriteExtensions(d, dropExt(ExtensionType.application_layer_protocol_negotiation)));
  assertAlert(alpn.server, alpn.run.server, A.no_application_protocol);
  const tp = await tampered('client', 'initial', (d) => rewriteExtensions(d, dropExt(ExtensionType.quic_transport_parameters)));
  assertAlert(tp.server, tp.run.server, A.missing_extension, /quic_transport_parameters/);
  assert.is(tp.server.error!.code, 0x16d);
  const sig = await tampered('client', 'initial', (d) => rewriteExtensions(d, dropExt(ExtensionType.signature_algorithms)));
  assertAlert(sig.server, sig.run.server, A.missing_extension, /signature_algorithms/);
});

test('server: no cipher suite in common → handshake_failure; no signature scheme for its key → handshake_failure', async () => {
  const p = await pair({ cipherSuites: [CipherSuite.TLS_CHACHA20_POLY1305_SHA256] }, { cipherSuites: [CipherSuite.TLS_AES_128_GCM_SHA256] });
  const r = runHandshake(p.client, p.server, { now });
  assertAlert(p.server, r.server, A.handshake_failure, /cipher suite/);
  const s = await tampered('client', 'initial', (d) => rewriteExtensions(d, setExt(ExtensionType.signature_algorithms, Uint8Array.from(vec(2, u16(SignatureScheme.ed25519))))));
  assertAlert(s.server, s.run.server, A.handshake_failure, /no common signature scheme/);
});

test('server: ClientHello2 must match the HelloRetryRequest — one share for the selected group, the cookie echoed, nothing else changed → illegal_parameter', async () => {
  const retry = { client: { groups: ['secp256r1', 'x25519'] as const }, server: { groups: ['x25519'] as const, helloRetryRequestCookie: true } };
  const configs = { client: { groups: [...retry.client.groups] }, server: { ...retry.server, groups: [...retry.server.groups] } };
  const secondOnly = (fn: (d: Uint8Array) => Uint8Array) => (d: Uint8Array, nth: number) => (nth === 1 ? fn(d) : d);
  const alpn = await tampered('client', 'initial', secondOnly((d) => rewriteExtensions(d, setExt(ExtensionType.application_layer_protocol_negotiation, Uint8Array.from(vec(2, vec(1, [0x68, 0x32])))))), configs);
  assertAlert(alpn.server, alpn.run.server, A.illegal_parameter, /ClientHello2 changed application_layer_protocol_negotiation/);
  const cookie = await tampered('client', 'initial', secondOnly((d) => rewriteExtensions(d, dropExt(ExtensionType.cookie))), configs);
  assertAlert(cookie.server, cookie.run.server, A.illegal_parameter, /cookie/);
  const share = await tampered(
    'client',
    'initial',
    secondOnly((d) => rewriteExtensions(d, setExt(ExtensionType.key_share, Uint8Array.from(vec(2, [...u16(NamedGroup.secp256r1), ...vec(2, Uint8Array.of(4, ...new Uint8Array(64)))]))))),
    configs,
  );
  assertAlert(share.server, share.run.server, A.illegal_parameter, /exactly one key share/);
  const early = await tampered('client', 'initial', secondOnly((d) => rewriteExtensions(d, addExt(ExtensionType.early_data))), configs);
  assertAlert(early.server, early.run.server, A.illegal_parameter, /early_data/);
});

test('server: a tampered client Finished → decrypt_error (RFC 8446 §4.4.4)', async () => {
  const { server, run } = await tampered('client', 'handshake', (d) => rewriteInFlight(d, HandshakeType.finished, (m) => withBody(m, (b) => ((b[5] ^= 0x40), b))));
  assertAlert(server, run.server, A.decrypt_error, /Finished/);
});

test('server: a tampered client CertificateVerify → decrypt_error (RFC 8446 §4.4.3)', async () => {
  const clientPki = await createChain({ leaf: { keyType: 'ed25519' } });
  const { server, run } = await tampered(
    'client',
    'handshake',
    (d) => rewriteInFlight(d, HandshakeType.certificate_verify, (m) => withBody(m, (b) => ((b[b.length - 3] ^= 1), b))),
    { client: { certificate: { certificateChain: clientPki.chain, privateKey: clientPki.leaf.privateKey } }, server: { clientAuthentication: { trustAnchors: clientPki.anchors } } },
  );
  assertAlert(server, run.server, A.decrypt_error, /CertificateVerify/);
});

test('server: the client Finished without the requested Certificate → unexpected_message (out of order)', async () => {
  const { server, run } = await tampered('client', 'handshake', (d) => rewriteInFlight(d, HandshakeType.certificate, () => null), { server: { clientAuthentication: {} } });
  assertAlert(server, run.server, A.unexpected_message, /finished is not acceptable in state WAIT_CERT/);
});

test('server: EndOfEarlyData and KeyUpdate are refused with unexpected_message (RFC 9001 §8.3, §6)', async () => {
  const eoed = await tampered('client', 'handshake', (d) => joinFlight([handshake(HandshakeType.end_of_early_data, new Uint8Array(0)), d]));
  assertAlert(eoed.server, eoed.run.server, A.unexpected_message, /EndOfEarlyData/);
  const p = await pair();
  runHandshake(p.client, p.server, { now });
  p.server.receive('oneRtt', handshake(HandshakeType.key_update, Uint8Array.of(0)), now);
  assertAlert(p.server, undefined, A.unexpected_message, /KeyUpdate/);
});

test('server: bytes at the wrong level, a message after the key change, a partial message left behind, CRYPTO at 0-RTT → unexpected_message', async () => {
  const start = async () => {
    const p = await pair();
    p.client.start(now);
    const ch = p.client.drain().find((e) => e.type === 'handshake_data')!;
    return { ...p, ch: (ch as { data: Uint8Array }).data };
  };
  const a = await start();
  a.server.receive('handshake', a.ch, now);
  assertAlert(a.server, undefined, A.unexpected_message, /at the Handshake level in state START, which reads the Initial level/);
  const b = await start();
  b.server.receive('initial', joinFlight([b.ch, handshake(HandshakeType.finished, new Uint8Array(32))]), now);
  assertAlert(b.server, undefined, A.unexpected_message, /finished at the Initial level after the keys changed/);
  const c = await start();
  c.server.receive('initial', joinFlight([c.ch, Uint8Array.of(20, 0)]), now);
  assertAlert(c.server, undefined, A.unexpected_message, /incomplete handshake message remain at the initial level across a key change/);
  const d = await start();
  d.server.receive('zeroRtt', d.ch, now);
  assertAlert(d.server, undefined, A.unexpected_message, /0-RTT/);
});

test('a middlebox-compatibility ChangeCipherSpec record (no record layer in QUIC) is refused with a typed alert on both sides', async () => {
  const ccs = Uint8Array.of(0x14, 0x03, 0x03, 0x00, 0x01, 0x01);
  const p = await pair();
  p.server.receive('initial', ccs, now);
  // Read as a handshake message of type 20 with a 196,609-byte length: over the message limit.
  assertAlert(p.server, undefined, A.illegal_parameter);
  const q = await pair();
  q.client.start(now);
  q.client.drain();
  q.client.receive('initial', ccs, now);
  assertAlert(q.client, undefined, A.illegal_parameter);
});

// ---------------------------------------------------------------------------------------------
// Client side: what a server may send wrong

test('client: a truncated ServerHello → decode_error; garbage → a typed alert', async () => {
  const t = await tampered('server', 'initial', (d) => withBody(d, (b) => b.slice(0, 40)));
  assertAlert(t.client, t.run.client, A.decode_error);
  const g = await tampered('server', 'initial', () => handshake(HandshakeType.server_hello, Uint8Array.of(3, 3, 1, 2, 3)));
  assertAlert(g.client, g.run.client, A.decode_error);
});

test('client: downgrade — a TLS 1.2 ServerHello → protocol_version; with the downgrade sentinel in its random → illegal_parameter (RFC 8446 §4.1.3)', async () => {
  const tls12 = await tampered('server', 'initial', (d) => rewriteExtensions(d, dropExt(ExtensionType.supported_versions)));
  assertAlert(tls12.client, tls12.run.client, A.protocol_version);
  const sentinel = await tampered('server', 'initial', (d) =>
    rewriteExtensions(
      withBody(d, (b) => (b.set([0x44, 0x4f, 0x57, 0x4e, 0x47, 0x52, 0x44, 0x01], 26), b)),
      dropExt(ExtensionType.supported_versions),
    ),
  );
  assertAlert(sentinel.client, sentinel.run.client, A.illegal_parameter, /downgrade sentinel/);
  const future = await tampered('server', 'initial', (d) => rewriteExtensions(d, setExt(ExtensionType.supported_versions, Uint8Array.from(u16(0x0305)))));
  assertAlert(future.client, future.run.client, A.illegal_parameter, /not offered/);
});

test('client: a ServerHello with a cipher suite, key share group or session id echo the client did not send → illegal_parameter', async () => {
  const suite = await tampered('server', 'initial', (d) => withBody(d, (b) => (b.set(u16(CipherSuite.TLS_AES_256_GCM_SHA384), 35), b)), {
    client: { cipherSuites: [CipherSuite.TLS_AES_128_GCM_SHA256] },
  });
  assertAlert(suite.client, suite.run.client, A.illegal_parameter, /cipher suite/);
  const group = await tampered('server', 'initial', (d) =>
    rewriteExtensions(d, setExt(ExtensionType.key_share, Uint8Array.from([...u16(NamedGroup.secp256r1), ...vec(2, Uint8Array.of(4, ...new Uint8Array(64).fill(1)))]))),
  );
  assertAlert(group.client, group.run.client, A.illegal_parameter, /for which the client sent no share/);
  const echo = await tampered('server', 'initial', (d) => withBody(d, (b) => concat(b.subarray(0, 34), vec(1, [1, 2, 3, 4]), b.subarray(35))));
  assertAlert(echo.client, echo.run.client, A.illegal_parameter, /legacy_session_id/);
  const point = await tampered('server', 'initial', (d) => rewriteExtensions(d, setExt(ExtensionType.key_share, Uint8Array.from([...u16(NamedGroup.x25519), ...vec(2, new Uint8Array(32))]))));
  assertAlert(point.client, point.run.client, A.illegal_parameter, /invalid key share/);
});

test('client: duplicate, forbidden or unsolicited ServerHello extensions → illegal_parameter / unsupported_extension', async () => {
  const dup = await tampered('server', 'initial', (d) => rewriteExtensions(d, (e) => [...e, e[0]]));
  assertAlert(dup.client, dup.run.client, A.illegal_parameter, /duplicate/);
  const forbidden = await tampered('server', 'initial', (d) => rewriteExtensions(d, addExt(ExtensionType.application_layer_protocol_negotiation, vec(2, vec(1, [0x68, 0x33])))));
  assertAlert(forbidden.client, forbidden.run.client, A.illegal_parameter, /not allowed in server_hello/);
  const psk = await tampered('server', 'initial', (d) => rewriteExtensions(d, addExt(ExtensionType.pre_shared_key, [0, 0])));
  assertAlert(psk.client, psk.run.client, A.unsupported_extension, /not requested/);
});

test('client: EncryptedExtensions without ALPN, with an ALPN not offered → no_application_protocol; without transport parameters → missing_extension', async () => {
  const ee = (fn: (e: RawExt[]) => RawExt[]) => (d: Uint8Array) => rewriteInFlight(d, HandshakeType.encrypted_extensions, (m) => rewriteExtensions(m, fn));
  const none = await tampered('server', 'handshake', ee(dropExt(ExtensionType.application_layer_protocol_negotiation)));
  assertAlert(none.client, none.run.client, A.no_application_protocol);
  assert.is(none.client.error!.code, 0x178);
  const other = await tampered('server', 'handshake', ee(setExt(ExtensionType.application_layer_protocol_negotiation, Uint8Array.from(vec(2, vec(1, [0x68, 0x32]))))));
  assertAlert(other.client, other.run.client, A.no_application_protocol, /did not offer/);
  const tp = await tampered('server', 'handshake', ee(dropExt(ExtensionType.quic_transport_parameters)));
  assertAlert(tp.client, tp.run.client, A.missing_extension, /quic_transport_parameters/);
});

test('client: EncryptedExtensions with early_data (not offered) → unsupported_extension; duplicate → illegal_parameter; key_share (forbidden there) → illegal_parameter', async () => {
  const ee = (fn: (e: RawExt[]) => RawExt[]) => (d: Uint8Array) => rewriteInFlight(d, HandshakeType.encrypted_extensions, (m) => rewriteExtensions(m, fn));
  const early = await tampered('server', 'handshake', ee(addExt(ExtensionType.early_data)));
  assertAlert(early.client, early.run.client, A.unsupported_extension, /early_data/);
  const dup = await tampered('server', 'handshake', ee((e) => [...e, e[0]]));
  assertAlert(dup.client, dup.run.client, A.illegal_parameter, /duplicate/);
  const ks = await tampered('server', 'handshake', ee(addExt(ExtensionType.key_share, [0, 0x1d])));
  assertAlert(ks.client, ks.run.client, A.illegal_parameter, /not allowed in encrypted_extensions/);
});

test('client: server messages out of order → unexpected_message', async () => {
  const swap = await tampered('server', 'handshake', (d) => {
    const [ee, cert, ...rest] = splitFlight(d);
    return joinFlight([cert, ee, ...rest]);
  });
  assertAlert(swap.client, swap.run.client, A.unexpected_message, /certificate is not acceptable in state WAIT_EE/);
  const skip = await tampered('server', 'handshake', (d) => rewriteInFlight(d, HandshakeType.certificate_verify, () => null));
  assertAlert(skip.client, skip.run.client, A.unexpected_message, /finished is not acceptable in state WAIT_CV/);
  const noCert = await tampered('server', 'handshake', (d) => rewriteInFlight(rewriteInFlight(d, HandshakeType.certificate, () => null), HandshakeType.certificate_verify, () => null));
  assertAlert(noCert.client, noCert.run.client, A.unexpected_message, /finished is not acceptable in state WAIT_CERT_CR/);
});

test('client: a tampered server CertificateVerify → decrypt_error; one naming a scheme not offered → illegal_parameter', async () => {
  const cv = await tampered('server', 'handshake', (d) => rewriteInFlight(d, HandshakeType.certificate_verify, (m) => withBody(m, (b) => ((b[b.length - 2] ^= 0x80), b))));
  assertAlert(cv.client, cv.run.client, A.decrypt_error, /CertificateVerify/);
  const scheme = await tampered('server', 'handshake', (d) => rewriteInFlight(d, HandshakeType.certificate_verify, (m) => withBody(m, (b) => (b.set(u16(SignatureScheme.rsa_pkcs1_sha256), 0), b))));
  assertAlert(scheme.client, scheme.run.client, A.illegal_parameter);
});

test('client: a tampered server Finished → decrypt_error, and no 1-RTT secret is released', async () => {
  const { client, run } = await tampered('server', 'handshake', (d) => rewriteInFlight(d, HandshakeType.finished, (m) => withBody(m, (b) => ((b[0] ^= 1), b))));
  assertAlert(client, run.client, A.decrypt_error, /Finished/);
  assert.is(run.client.secrets.has('oneRtt:read'), false);
  assert.is(run.client.secrets.has('oneRtt:write'), false);
});

test('client: certificate problems — expired → certificate_expired, wrong host → bad_certificate, unknown CA → unknown_ca', async () => {
  const expired = await createChain({ leaf: { notBefore: new Date(now - 10 * 86400_000), notAfter: new Date(now - 86400_000) } });
  const e = await pair({}, {}, expired);
  assertAlert(e.client, runHandshake(e.client, e.server, { now }).client, A.certificate_expired);
  const host = await pair({ serverName: 'example.org' });
  assertAlert(host.client, runHandshake(host.client, host.server, { now }).client, A.bad_certificate, /example\.org/);
  const other = await createChain({});
  const ca = await pair({ trustAnchors: other.anchors });
  assertAlert(ca.client, runHandshake(ca.client, ca.server, { now }).client, A.unknown_ca);
});

test('client: a CertificateRequest or server Certificate with a non-empty context → illegal_parameter', async () => {
  const cr = await tampered('server', 'handshake', (d) => rewriteInFlight(d, HandshakeType.certificate_request, (m) => withBody(m, (b) => concat(vec(1, [9]), b.subarray(1)))), {
    server: { clientAuthentication: {} },
  });
  assertAlert(cr.client, cr.run.client, A.illegal_parameter, /certificate_request_context/);
  const cert = await tampered('server', 'handshake', (d) => rewriteInFlight(d, HandshakeType.certificate, (m) => withBody(m, (b) => concat(vec(1, [9]), b.subarray(1)))));
  assertAlert(cert.client, cert.run.client, A.illegal_parameter, /certificate_request_context/);
});

function hrrBytes(extensions: HelloRetryRequest['extensions'], suite: number = CipherSuite.TLS_AES_128_GCM_SHA256): Uint8Array {
  return encodeHandshakeMessage({ kind: 'hello_retry_request', legacySessionIdEcho: new Uint8Array(0), cipherSuite: suite, extensions });
}

async function startedClient(config: Partial<TlsClientConfig> = {}): Promise<TlsClientSession> {
  const { client } = await pair(config);
  client.start(now);
  client.drain();
  return client;
}

test('client: HelloRetryRequest selecting a group not offered, or one already shared, or asking for nothing → illegal_parameter; a second one → unexpected_message', async () => {
  const v = { kind: 'supported_versions_selected' as const, version: ProtocolVersion.TLS13 };
  const notOffered = await startedClient({ groups: ['x25519'] });
  notOffered.receive('initial', hrrBytes([v, { kind: 'key_share_retry', selectedGroup: NamedGroup.secp256r1 }]), now);
  assertAlert(notOffered, undefined, A.illegal_parameter, /not offered/);
  const unknown = await startedClient();
  unknown.receive('initial', hrrBytes([v, { kind: 'key_share_retry', selectedGroup: NamedGroup.secp384r1 }]), now);
  assertAlert(unknown, undefined, A.illegal_parameter, /not offered/);
  const shared = await startedClient({ groups: ['x25519', 'secp256r1'] });
  shared.receive('initial', hrrBytes([v, { kind: 'key_share_retry', selectedGroup: NamedGroup.x25519 }]), now);
  assertAlert(shared, undefined, A.illegal_parameter, /already carries a key share/);
  const nothing = await startedClient();
  nothing.receive('initial', hrrBytes([v]), now);
  assertAlert(nothing, undefined, A.illegal_parameter, /no change/);
  const twice = await startedClient({ groups: ['x25519', 'secp256r1'] });
  const hrr = hrrBytes([v, { kind: 'key_share_retry', selectedGroup: NamedGroup.secp256r1 }]);
  twice.receive('initial', hrr, now);
  assert.is(twice.state, 'WAIT_SH');
  const ch2 = twice.drain().find((e) => e.type === 'handshake_data') as { data: Uint8Array };
  assert.ok(ch2 !== undefined && ch2.data[0] === HandshakeType.client_hello, 'ClientHello2 sent');
  twice.receive('initial', hrr, now);
  assertAlert(twice, undefined, A.unexpected_message, /hello_retry_request is not acceptable in state WAIT_SH/);
});

test('client: a ServerHello after a HelloRetryRequest with another cipher suite or group → illegal_parameter', async () => {
  const p = await pair({ groups: ['secp256r1', 'x25519'] }, { groups: ['x25519'] });
  const run = runHandshake(p.client, p.server, {
    now,
    tamper: (from, level, data) => {
      if (from !== 'server' || level !== 'initial') return data;
      const m = decodeHandshakeMessage(data, { sender: 'server' });
      return m.kind === 'server_hello' ? withBody(data, (b) => (b.set(u16(CipherSuite.TLS_CHACHA20_POLY1305_SHA256), 35), b)) : data;
    },
  });
  assertAlert(p.client, run.client, A.illegal_parameter, /HelloRetryRequest's cipher suite/);
});

test('client: KeyUpdate after the handshake → unexpected_message; a NewSessionTicket with a bad max_early_data_size → PROTOCOL_VIOLATION (RFC 9001 §4.6.1)', async () => {
  const p = await pair();
  runHandshake(p.client, p.server, { now });
  p.client.receive('oneRtt', handshake(HandshakeType.key_update, Uint8Array.of(1)), now);
  assertAlert(p.client, undefined, A.unexpected_message, /KeyUpdate/);
  const q = await pair();
  runHandshake(q.client, q.server, { now });
  const nst = handshake(HandshakeType.new_session_ticket, concat([0, 0, 1, 0], [0, 0, 0, 0], vec(1, [1]), vec(2, [1, 2, 3]), extensionBlock([[ExtensionType.early_data, [0, 0, 0x40, 0]]])));
  q.client.receive('oneRtt', nst, now);
  assert.instance(q.client.error, QuicError);
  assert.is(q.client.error!.code, TransportErrorCode.PROTOCOL_VIOLATION);
  assert.is(q.client.state, 'failed');
  // A NewSessionTicket at the Handshake level (wrong level for CONNECTED) → unexpected_message.
  const r = await pair();
  runHandshake(r.client, r.server, { now });
  r.client.receive('handshake', handshake(HandshakeType.new_session_ticket, concat([0, 0, 1, 0], [0, 0, 0, 0], vec(1, []), vec(2, [1]), vec(2, []))), now);
  assertAlert(r.client, undefined, A.unexpected_message, /Handshake level in state CONNECTED/);
});

test('client: the server flight at the Initial level (after the keys changed) → unexpected_message; bytes before start → unexpected_message', async () => {
  const p = await pair();
  p.client.start(now);
  const rec = { events: [], secrets: new Map(), sent: new Map(), transportParameters: undefined, info: undefined, error: undefined } as SideRecord;
  for (const f of collect(p.client, rec)) p.server.receive(f.level, f.data, now);
  const serverOut = collect(p.server, rec);
  p.client.receive('initial', joinFlight(serverOut.map((f) => f.data)), now);
  assertAlert(p.client, undefined, A.unexpected_message, /encrypted_extensions at the Initial level after the keys changed/);
  const q = await pair();
  q.client.receive('initial', Uint8Array.of(2, 0, 0, 0), now);
  assertAlert(q.client, undefined, A.unexpected_message, /which reads no handshake messages/);
});

test.run();
