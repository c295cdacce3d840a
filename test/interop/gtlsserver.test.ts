/**
 * Our client (the public API, real UDP on loopback) against ngtcp2 0.12's `gtlsserver` (GnuTLS),
 * an HTTP/3 server serving a certificate made by openssl at test time.
 *
 * Every run: `connect()` trusts that certificate through `ca` or pins its key — never
 * insecureSkipVerify — so certificate verification is part of the proof; the handshake completes
 * in QUIC v1 with ALPN h3; each side decodes the other's transport parameters (we decode what
 * gtlsserver announced and check the values it was started with; gtlsserver logs what we
 * announced); gtlsserver's HTTP/3 control and QPACK encoder/decoder streams are accepted and their
 * stream types read; once the handshake is confirmed (HANDSHAKE_DONE) we close with H3_NO_ERROR
 * and a reason, and gtlsserver logs that CONNECTION_CLOSE. Then: every cipher suite × group, chosen
 * by gtlsserver's GnuTLS priorities and by our own TLS configuration; every suite with the noble
 * provider; a close right after `connect()`; Retry; Version Negotiation away from QUIC v2; simulated
 * loss; a key update we initiate; IPv6 loopback; a client certificate gtlsserver requires, sent and
 * missing; gtlsserver's NEW_TOKEN spent on a second connection.
 *
 * Set NGTCP2_LOG_DIR=<directory> to keep gtlsserver's whole output for each failing run.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect, QuicConnectionError, type QuicConnection, type QuicConnectOptions } from '../../src/api/index.js';
import { CipherSuite } from '../../src/tls/cipher-suites.js';
import { parsePacketHeader } from '../../src/wire/header.js';
import { decodeTransportParameters, type TransportParameters } from '../../src/wire/transport-parameters.js';
import { QUIC_V1, QUIC_V2 } from '../../src/wire/version.js';
import {
  CIPHER_SUITES,
  ciphersArgument,
  gnutlsCipherName,
  GROUPS,
  groupsArgument,
  H3_FRAME,
  H3_NO_ERROR,
  H3_STREAM,
  http3Frames,
  http3GetRequest,
  makeOpensslCertificate,
  ownTlsFactory,
  reachState,
  readAll,
  startGtlsServer,
  uniStreamHeads,
  within,
  type GtlsServer,
  type Ngtcp2CipherSuite,
  type Ngtcp2Group,
  type Ngtcp2Log,
  type OpensslCertificate,
} from '../support/ngtcp2.js';
import { createChain, type TestKeyType } from '../support/pki.js';
import { requirePeer } from '../support/peers.js';

const KiB = 1024;
const MiB = 1024 * 1024;

/** What gtlsserver is told to announce, and the values we expect to decode from its transport parameters. */
const SERVER_ARGS = ['--timeout=7s', '--max-data=3M', '--max-streams-bidi=17', '--max-streams-uni=5', '--max-stream-data-bidi-local=300K', '--max-stream-data-bidi-remote=200K', '--max-stream-data-uni=100K'];
const SERVER_TP: Partial<TransportParameters> = {
  maxIdleTimeout: 7000,
  initialMaxData: 3 * MiB,
  initialMaxStreamsBidi: 17,
  initialMaxStreamsUni: 5,
  initialMaxStreamDataBidiLocal: 300 * KiB,
  initialMaxStreamDataBidiRemote: 200 * KiB,
  initialMaxStreamDataUni: 100 * KiB,
};

/** Our client's transport settings, and how gtlsserver logs them (`cry remote transport_parameters …`). */
const CLIENT_TRANSPORT = { maxIdleTimeout: 9000, initialMaxData: 2 * MiB, maxStreamsBidi: 2, maxStreamsUni: 8, initialMaxStreamDataUni: 64 * KiB };
const CLIENT_TP_LOGGED = { max_idle_timeout: '9000', initial_max_data: String(2 * MiB), initial_max_streams_bidi: '2', initial_max_streams_uni: '8', initial_max_stream_data_uni: String(64 * KiB) };

let certificate: OpensslCertificate | undefined;
function serverCertificate(): OpensslCertificate {
  certificate ??= makeOpensslCertificate();
  return certificate;
}
test.after(() => certificate?.remove());

/** True when the live parts can run (gtlsserver and openssl present, or skipped explicitly). */
function peersPresent(): boolean {
  return requirePeer('gtlsserver') && requirePeer('openssl');
}

const json = (v: unknown): string => JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? `0x${x.toString(16)}` : x));

/** Starts gtlsserver with `args`, runs `body` with it, and always kills it (and closes `connection`s left open). */
async function withGtlsServer(args: readonly string[], body: (server: GtlsServer, opened: QuicConnection[]) => Promise<void>, host: '127.0.0.1' | '::1' = '127.0.0.1'): Promise<void> {
  const server = await startGtlsServer({ certificate: serverCertificate(), args, host, timeLimitMs: 60_000 });
  const opened: QuicConnection[] = [];
  try {
    await body(server, opened);
  } catch (error) {
    if (process.env.NGTCP2_LOG_DIR !== undefined) writeFileSync(join(process.env.NGTCP2_LOG_DIR, `gtlsserver-${server.port}.log`), server.process.output);
    throw new Error(`${(error as Error).message}\n--- gtlsserver output (tail) ---\n${server.process.output.split('\n').slice(-30).join('\n')}`, { cause: error });
  } finally {
    for (const c of opened) if (c.closeReason === undefined) await within(c.close(), 10_000, 'our close').catch(() => undefined);
    await server.process.stop();
  }
}

/** Connects to `server` (SNI localhost, ALPN h3, our transport settings) with `options`. */
async function connectTo(server: GtlsServer, opened: QuicConnection[], options: Partial<QuicConnectOptions>): Promise<QuicConnection> {
  const connection = await within(
    connect({ host: server.host, port: server.port, serverName: 'localhost', alpn: ['h3'], transport: CLIENT_TRANSPORT, ...options }),
    15_000,
    'connect()',
  );
  opened.push(connection);
  return connection;
}

/** Checks what both sides saw of a completed handshake: v1, h3, the suite and group, both sets of transport parameters. */
function assertHandshake(connection: QuicConnection, log: Ngtcp2Log, suite: Ngtcp2CipherSuite, group: Ngtcp2Group, label: string): void {
  assert.is(connection.version, QUIC_V1, `${label}: QUIC v1`);
  assert.is(connection.alpnProtocol, 'h3', label);
  const info = connection.handshakeInfo!;
  assert.is(info.cipherSuite.name, suite, label);
  assert.is(info.group, group, label);
  assert.is(info.serverName, 'localhost', label);
  // gtlsserver's transport parameters, decoded by us: the values it was started with.
  const tp = decodeTransportParameters(info.peerTransportParameters, { sender: 'server' });
  for (const [k, v] of Object.entries(SERVER_TP)) assert.is(tp[k as keyof TransportParameters], v, `${label}: gtlsserver's ${k}`);
  assert.is(tp.statelessResetToken?.length, 16, `${label}: stateless_reset_token`);
  assert.ok(tp.originalDestinationConnectionId !== undefined && tp.initialSourceConnectionId !== undefined, `${label}: connection ID parameters`);
  // gtlsserver's side: completion, version, suite, ALPN, and our transport parameters as it decoded them.
  assert.ok(log.handshakeCompleted, `${label}: gtlsserver printed "QUIC handshake has completed"`);
  assert.equal(log.negotiatedVersions, [QUIC_V1], `${label}: gtlsserver's "the negotiated version is 0x00000001"`);
  assert.is(log.negotiatedCipher, gnutlsCipherName(suite), `${label}: gtlsserver's "Negotiated cipher suite is …"`);
  assert.is(log.negotiatedAlpn, 'h3', label);
  const ours = log.remoteTransportParameters;
  for (const [k, v] of Object.entries(CLIENT_TP_LOGGED)) assert.is(ours.get(k), v, `${label}: gtlsserver decoded our ${k}`);
}

/** Enough of an HTTP/3 unidirectional stream: its type, and for the control stream the type of its first frame (QPACK streams carry nothing more until a request needs them). */
const http3StreamHead = (head: Uint8Array): boolean => head.length >= (head[0] === H3_STREAM.CONTROL ? 2 : 1);

/** gtlsserver's three HTTP/3 unidirectional streams (RFC 9114 §6.2.1, RFC 9204 §4.2): server-initiated IDs 3, 7, 11; control (SETTINGS first), QPACK encoder, decoder. */
function assertHttp3Streams(heads: Awaited<ReturnType<typeof uniStreamHeads>>, label: string): void {
  assert.equal(
    heads.map((h) => h.id).sort((a, b) => a - b),
    [3, 7, 11],
    `${label}: server-initiated unidirectional stream IDs`,
  );
  assert.equal(
    heads.map((h) => h.head[0]).sort(),
    [H3_STREAM.CONTROL, H3_STREAM.QPACK_ENCODER, H3_STREAM.QPACK_DECODER],
    `${label}: stream types`,
  );
  const control = heads.find((h) => h.head[0] === H3_STREAM.CONTROL)!;
  assert.is(control.head[1], H3_FRAME.SETTINGS, `${label}: the control stream starts with SETTINGS`);
}

/** Closes with H3_NO_ERROR and `reason`; checks our close info and the CONNECTION_CLOSE gtlsserver logged. */
async function closeAndCheck(connection: QuicConnection, server: GtlsServer, reason: string, label: string): Promise<Ngtcp2Log> {
  const info = await within(connection.close({ closeCode: H3_NO_ERROR, reason }), 10_000, 'our close');
  assert.equal(info, { source: 'local', application: true, code: H3_NO_ERROR, reason }, `${label}: our close info`);
  // "Draining period has started" follows the close line: waiting for it bounds the wait for both.
  const log = await server.process.waitFor((l) => l.has('Draining period has started'), 'gtlsserver draining');
  assert.equal(json(log.receivedCloses), json([{ direction: 'rx', level: '1RTT', frameType: 0x1d, errorCode: H3_NO_ERROR, reason }]), `${label}: gtlsserver's "frm rx … 1RTT CONNECTION_CLOSE(0x1d) error_code=…(0x100) … reason=[${reason}]"`);
  return log;
}

// ---------------------------------------------------------------------------------------------
// Every cipher suite and group, both ways of choosing them

for (const suite of CIPHER_SUITES) {
  for (const group of GROUPS) {
    test(`${suite} with ${group}, chosen by gtlsserver's --ciphers/--groups: our client (trusting the CA) completes a v1 h3 handshake, exchanges transport parameters, accepts the HTTP/3 streams and closes with H3_NO_ERROR, which gtlsserver reads`, async () => {
      if (!peersPresent()) return;
      const label = `peer-chosen ${suite}/${group}`;
      await withGtlsServer([ciphersArgument(suite), groupsArgument(group), ...SERVER_ARGS], async (server, opened) => {
        const connection = await connectTo(server, opened, { ca: serverCertificate().certificatePem });
        const heads = await within(uniStreamHeads(connection, 3, http3StreamHead), 10_000, 'the HTTP/3 streams');
        await within(reachState(connection, 'confirmed'), 10_000, 'HANDSHAKE_DONE');
        assertHttp3Streams(heads, label);
        assert.is(connection.handshakeInfo?.peerCertificateTrust, 'path', `${label}: the chain verified to the CA`);
        // Our client sends one key share (X25519): a secp256r1-only server asks again.
        assert.is(connection.handshakeInfo?.helloRetryRequest, group === 'secp256r1', `${label}: HelloRetryRequest`);
        const log = await closeAndCheck(connection, server, `done ${suite} ${group}`, label);
        assertHandshake(connection, log, suite, group, label);
      });
    });

    test(`${suite} with ${group}, chosen by our client's own TLS configuration: our client (pinning the key) completes a v1 h3 handshake with gtlsserver's defaults, exchanges transport parameters and closes with H3_NO_ERROR, which gtlsserver reads`, async () => {
      if (!peersPresent()) return;
      const label = `own ${suite}/${group}`;
      await withGtlsServer(SERVER_ARGS, async (server, opened) => {
        const connection = await connectTo(server, opened, {
          pinnedSpkiSha256: [serverCertificate().spkiSha256],
          connectionFactory: ownTlsFactory({ cipherSuites: [CipherSuite[suite]], groups: [group] }),
        });
        const heads = await within(uniStreamHeads(connection, 3, http3StreamHead), 10_000, 'the HTTP/3 streams');
        await within(reachState(connection, 'confirmed'), 10_000, 'HANDSHAKE_DONE');
        assertHttp3Streams(heads, label);
        assert.is(connection.handshakeInfo?.peerCertificateTrust, 'pin', `${label}: the key matched the pin`);
        assert.is(connection.handshakeInfo?.helloRetryRequest, false, label);
        const log = await closeAndCheck(connection, server, `own ${suite} ${group}`, label);
        assertHandshake(connection, log, suite, group, label);
      });
    });
  }
}

test("every cipher suite with the pure-JS crypto provider (crypto: 'noble'): our client completes a v1 h3 handshake with gtlsserver and closes with H3_NO_ERROR, which gtlsserver reads", async () => {
  if (!peersPresent()) return;
  for (const suite of CIPHER_SUITES) {
    const label = `noble ${suite}`;
    await withGtlsServer([ciphersArgument(suite), ...SERVER_ARGS], async (server, opened) => {
      const connection = await connectTo(server, opened, { ca: serverCertificate().certificatePem, crypto: 'noble' });
      await within(reachState(connection, 'confirmed'), 10_000, 'HANDSHAKE_DONE');
      const log = await closeAndCheck(connection, server, `noble ${suite}`, label);
      assertHandshake(connection, log, suite, 'x25519', label);
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Closing, Retry, versions, loss, key update, IPv6

test('closing right after connect() resolves (before our Finished was flushed): gtlsserver still completes its handshake and reads the 1-RTT close with our code and reason', async () => {
  if (!peersPresent()) return;
  await withGtlsServer([], async (server, opened) => {
    const connection = await connectTo(server, opened, { ca: serverCertificate().certificatePem });
    assert.is(connection.state, 'established', 'handshake complete, not yet confirmed');
    const info = await within(connection.close({ closeCode: H3_NO_ERROR, reason: 'at once' }), 10_000, 'our close');
    assert.equal(info, { source: 'local', application: true, code: H3_NO_ERROR, reason: 'at once' });
    const log = await server.process.waitFor((l) => l.receivedCloses.length > 0, 'a received CONNECTION_CLOSE');
    assert.ok(log.handshakeCompleted, 'gtlsserver completed its handshake (our Finished went with the close)');
    assert.equal(json(log.receivedCloses), json([{ direction: 'rx', level: '1RTT', frameType: 0x1d, errorCode: H3_NO_ERROR, reason: 'at once' }]));
  });
});

test("gtlsserver's address validation (-V): our client answers its Retry with the token and completes the handshake; retry_source_connection_id authenticates the Retry", async () => {
  if (!peersPresent()) return;
  await withGtlsServer(['-V', ...SERVER_ARGS], async (server, opened) => {
    const connection = await connectTo(server, opened, { ca: serverCertificate().certificatePem });
    const tp = decodeTransportParameters(connection.handshakeInfo!.peerTransportParameters, { sender: 'server' });
    assert.ok(tp.retrySourceConnectionId !== undefined, 'retry_source_connection_id announced');
    await within(reachState(connection, 'confirmed'), 10_000, 'HANDSHAKE_DONE');
    await closeAndCheck(connection, server, 'after retry', 'retry');
    const log = server.process.log;
    assert.ok(log.has('Sending Retry packet to [127.0.0.1]'), 'gtlsserver sent a Retry');
    assert.ok(log.has('Verifying Retry token from [127.0.0.1]'), 'and got its token back');
    assert.ok(log.handshakeCompleted);
  });
});

test('QUIC v2 is not expected of ngtcp2 0.12: our client offering v2 (RFC 9369) gets a Version Negotiation listing v1 alone (beside a reserved version), and completes the handshake in v1', async () => {
  if (!peersPresent()) return;
  await withGtlsServer([], async (server, opened) => {
    const received: Uint8Array[] = [];
    const connection = await connectTo(server, opened, {
      ca: serverCertificate().certificatePem,
      version: QUIC_V2,
      connectionFactory: ownTlsFactory({}, (d) => received.push(d)),
    });
    const first = parsePacketHeader(received[0], 0, { shortHeaderDcidLength: 0 });
    assert.is(first.form, 'versionNegotiation', 'the first datagram from gtlsserver is a Version Negotiation packet');
    const versions = first.form === 'versionNegotiation' ? first.supportedVersions : [];
    const listed = versions.map((v) => `0x${v.toString(16)}`).join(', ');
    // RFC 9000 §15: versions 0x?a?a?a?a are reserved (greased) and carry no meaning.
    assert.equal(versions.filter((v) => (v & 0x0f0f0f0f) !== 0x0a0a0a0a), [QUIC_V1], `v1 is the only real version listed (${listed})`);
    assert.is(connection.version, QUIC_V1);
    await within(reachState(connection, 'confirmed'), 10_000, 'HANDSHAKE_DONE');
    const log = await closeAndCheck(connection, server, 'v1 it is', 'version negotiation');
    assert.equal(log.negotiatedVersions, [QUIC_V1]);
  });
});

test("a handshake through gtlsserver's simulated loss (-t 0.15 -r 0.15, both directions) completes on both sides and our client confirms it; runs repeat until a loss hit the handshake itself", async () => {
  if (!peersPresent()) return;
  // ngtcp2 draws losses from an unseeded generator: a run may lose nothing during the handshake.
  // Every run must complete; up to 12 runs are made until gtlsserver had logged a loss by the time
  // our client confirmed the handshake (about 5 packets: no loss in 12 runs has odds near 1e-4).
  // Idle and handshake timeouts are 30 s on both sides, so only several losses in a row on one
  // step (PTOs back off: 1, 2, 4, 8 s …) could fail a run, and the waits are bounded above them.
  const transport = { ...CLIENT_TRANSPORT, maxIdleTimeout: 30_000, handshakeTimeout: 30_000 };
  let lossyRuns = 0;
  for (let run = 0; run < 12 && lossyRuns === 0; run++) {
    await withGtlsServer(['-t', '0.15', '-r', '0.15', '--timeout=30s', '--handshake-timeout=30s'], async (server, opened) => {
      const connection = await within(
        connect({ host: server.host, port: server.port, serverName: 'localhost', alpn: ['h3'], transport, ca: serverCertificate().certificatePem }),
        40_000,
        'connect()',
      );
      opened.push(connection);
      await within(reachState(connection, 'confirmed'), 40_000, 'HANDSHAKE_DONE');
      const lossesByConfirmation = server.process.log.simulatedLosses();
      await server.process.waitFor((l) => l.handshakeCompleted, 'handshake completion');
      assert.is(connection.version, QUIC_V1);
      if (lossesByConfirmation > 0) lossyRuns++;
      // Under loss our CONNECTION_CLOSE may be lost too (then gtlsserver idles out): only our side is checked.
      const info = await within(connection.close({ closeCode: H3_NO_ERROR, reason: 'lossy' }), 40_000, 'our close');
      assert.is(info.source, 'local');
    });
  }
  assert.ok(lossyRuns > 0, 'some run lost packets during the handshake');
});

test('a key update we initiate (updateKeys) is accepted by gtlsserver: it decrypts our key phase 1 packets, rotates its keys and answers in phase 1; an HTTP/3 response after the update arrives whole', async () => {
  if (!peersPresent()) return;
  await withGtlsServer(SERVER_ARGS, async (server, opened) => {
    const connection = await connectTo(server, opened, { ca: serverCertificate().certificatePem });
    await within(reachState(connection, 'confirmed'), 10_000, 'HANDSHAKE_DONE');
    const get = async (path: string, size: number): Promise<void> => {
      const stream = await connection.createBidirectionalStream();
      const writer = stream.writable.getWriter();
      await writer.write(http3GetRequest(path, 'localhost'));
      await writer.close();
      const response = await within(readAll(stream.readable), 10_000, `the response to ${path}`);
      const frames = http3Frames(response);
      assert.is(frames[0].type, H3_FRAME.HEADERS, `${path}: HEADERS first`);
      assert.is(
        frames.filter((f) => f.type === H3_FRAME.DATA).reduce((n, f) => n + f.length, 0),
        size,
        `${path}: the whole body in DATA frames`,
      );
    };
    // A first exchange in key phase 0: updateKeys() waits for an acknowledged packet of the current
    // phase (RFC 9001 §6.1 requires one before a subsequent update; this implementation before the
    // first as well), so it is retried until that acknowledgement has arrived.
    await get('/1000', 1000);
    let started = false;
    for (let i = 0; i < 200 && !(started = connection.updateKeys()); i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(started, 'updateKeys() started a key update');
    await get('/40000', 40000);
    assert.is(connection.stats().keyUpdates, 1);
    await closeAndCheck(connection, server, 'after key update', 'key update');
    const log = server.process.log;
    assert.ok(log.keyPhases('rx').includes(1), 'gtlsserver received packets in key phase 1 ("pkt rx … type=1RTT k=1")');
    assert.ok(log.has('pkt decrypting with new key'), 'and decrypted them with the next keys');
    assert.ok(log.has('con rotate keys'), 'gtlsserver rotated its keys');
    assert.ok(log.has('cry key update confirmed'), 'and confirmed the update');
    assert.ok(log.keyPhases('tx').includes(1), 'gtlsserver sent in key phase 1 ("pkt tx … type=1RTT k=1")');
    assert.is(log.keyPhases('rx').at(-1), 1, 'our last packet (the close) was in phase 1');
  });
});

test('over IPv6 loopback (::1): our client completes a v1 h3 handshake with gtlsserver and closes with H3_NO_ERROR, which gtlsserver reads', async () => {
  if (!peersPresent()) return;
  await withGtlsServer(SERVER_ARGS, async (server, opened) => {
    const connection = await connectTo(server, opened, { ca: serverCertificate().certificatePem });
    assert.is(connection.remoteAddress.family, 'IPv6');
    await within(reachState(connection, 'confirmed'), 10_000, 'HANDSHAKE_DONE');
    const log = await closeAndCheck(connection, server, 'v6', 'IPv6');
    assertHandshake(connection, log, 'TLS_AES_128_GCM_SHA256', 'x25519', 'IPv6');
  }, '::1');
});

// ---------------------------------------------------------------------------------------------
// Client certificates (RFC 8446 §4.3.2, §4.4.2)

test('gtlsserver requesting a client certificate (--verify-client): our client sends its certificate chain and a CertificateVerify GnuTLS accepts, for ECDSA P-256, ECDSA P-384, RSA (RSA-PSS) and Ed25519 keys', async () => {
  if (!peersPresent()) return;
  const keyTypes: readonly TestKeyType[] = ['ecdsa-p256', 'ecdsa-p384', 'rsa', 'ed25519'];
  for (const keyType of keyTypes) {
    const label = `client certificate ${keyType}`;
    const pki = await createChain({ intermediates: 1, keyType, leaf: { subject: `CN=our client ${keyType}` } });
    await withGtlsServer(['--verify-client', ...SERVER_ARGS], async (server, opened) => {
      const connection = await connectTo(server, opened, { ca: serverCertificate().certificatePem, clientCertificate: { key: pki.leaf.privateKeyPem, chain: [pki.leaf.pem, pki.intermediates[0].pem] } });
      assert.is(connection.handshakeInfo?.certificateRequested, true, `${label}: gtlsserver sent a CertificateRequest`);
      await within(reachState(connection, 'confirmed'), 10_000, 'HANDSHAKE_DONE');
      const log = await closeAndCheck(connection, server, `done ${keyType}`, label);
      assert.ok(log.handshakeCompleted, `${label}: gtlsserver completed its handshake`);
    });
  }
});

test('gtlsserver requiring a client certificate (--verify-client) from our client that has none: we answer with an empty Certificate (RFC 8446 §4.4.2.4), gtlsserver aborts with certificate_required, and connect() rejects with CRYPTO_ERROR 0x174 from the peer', async () => {
  if (!peersPresent()) return;
  await withGtlsServer(['--verify-client', ...SERVER_ARGS], async (server) => {
    const error = await within(
      connect({ host: server.host, port: server.port, serverName: 'localhost', alpn: ['h3'], transport: CLIENT_TRANSPORT, ca: serverCertificate().certificatePem }).then(
        async (c) => {
          await c.close();
          return undefined;
        },
        (e: unknown) => e,
      ),
      15_000,
      'connect()',
    );
    assert.instance(error, QuicConnectionError, 'connect() rejected');
    const e = error as QuicConnectionError;
    assert.is(e.source, 'peer', e.message);
    assert.is(e.code, 0x174n, 'CRYPTO_ERROR 0x100 + certificate_required (116)');
    assert.is(e.tlsAlertName, 'certificate_required');
    const log = await server.process.waitFor((l) => l.connectionCloses.length > 0, 'gtlsserver closing');
    assert.ok(log.connectionCloses.every((c) => c.direction === 'tx' && c.errorCode === 0x174n), 'gtlsserver sent CRYPTO_ERROR 0x174');
  });
});

// ---------------------------------------------------------------------------------------------
// NEW_TOKEN (RFC 9000 §8.1.3)

test("gtlsserver's address validation (-V) with NEW_TOKEN: our client receives its token on the first connection, spends it on the next one, and gtlsserver validates it instead of sending a second Retry", async () => {
  if (!peersPresent()) return;
  await withGtlsServer(['-V', ...SERVER_ARGS], async (server, opened) => {
    const first = await connectTo(server, opened, { ca: serverCertificate().certificatePem });
    const token = await within(
      new Promise<Uint8Array>((resolve) => {
        const sub = first.newToken$.subscribe((t) => {
          sub.unsubscribe();
          resolve(t);
        });
      }),
      10_000,
      "gtlsserver's NEW_TOKEN",
    );
    assert.ok(token.length > 0);
    await closeAndCheck(first, server, 'first', 'first connection');
    const second = await connectTo(server, opened, { ca: serverCertificate().certificatePem });
    await within(reachState(second, 'confirmed'), 10_000, 'HANDSHAKE_DONE');
    // The verdict follows "Verifying token from …" (a NEW_TOKEN token; Retry tokens are "Verifying Retry token from …").
    const verdictOf = (lines: readonly string[]): string | undefined => {
      const from = lines.findIndex((l) => l.startsWith('Verifying token from'));
      return from < 0 ? undefined : lines.slice(from + 1).find((l) => l === 'Token was successfully validated' || /^Could not|[Ff]ail|[Ii]nvalid/.test(l));
    };
    const log = await server.process.waitFor((l) => l.has('Verifying token from') && verdictOf(l.lines) !== undefined, 'gtlsserver verifying our token');
    const retries = log.lines.filter((l) => l.startsWith('Sending Retry packet')).length;
    assert.is(retries, 1, 'one Retry, for the first connection only');
    assert.is(verdictOf(log.lines), 'Token was successfully validated', 'gtlsserver validated the NEW_TOKEN token our client sent');
    await within(second.close({ closeCode: H3_NO_ERROR, reason: 'second' }), 10_000, 'our close');
  });
});

test.run();
