/**
 * ngtcp2 0.12's `gtlsclient` (GnuTLS), an HTTP/3 client, against our server (the public API,
 * real UDP on loopback).
 *
 * The sequence (our server has no HTTP/3 yet): gtlsclient completes the handshake (QUIC v1, ALPN
 * h3), opens its HTTP/3 control and QPACK streams and sends a GET request on bidirectional stream
 * 0; our server accepts the three unidirectional streams (reading their stream types) and reads
 * the request to its FIN, then closes the connection with H3_NO_ERROR (0x100) and the reason
 * "no HTTP/3 yet". gtlsclient logs that CONNECTION_CLOSE and exits with status 0. Both sides decode
 * the other's transport parameters. Done for every cipher suite × group, chosen by gtlsclient's
 * GnuTLS priorities (our server on its generated self-signed certificate) and by our server's own
 * TLS configuration (on an openssl certificate), and every suite with the noble provider. Then:
 * gtlsclient closing after we reject its request; our Retry; Version Negotiation from the v2 draft
 * to v1; simulated loss; a key update gtlsclient initiates during an upload; gtlsclient changing
 * its address during an upload, by NAT rebinding and by active migration; client certificates; our
 * NEW_TOKEN frame.
 *
 * Set NGTCP2_LOG_DIR=<directory> to keep gtlsclient's whole output for each failing run.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect, createServer, type QuicBidirectionalStream, type QuicConnection, type QuicServer, type QuicServerOptions } from '../../src/api/index.js';
import { CipherSuite } from '../../src/tls/cipher-suites.js';
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
  H3_REQUEST_REJECTED,
  H3_STREAM,
  http3Frames,
  http3Response200,
  makeOpensslCertificate,
  ownTlsFactory,
  readAll,
  startGtlsClient,
  uniStreamHeads,
  within,
  type Ngtcp2CipherSuite,
  type Ngtcp2Group,
  type Ngtcp2Log,
  type OpensslCertificate,
  type PeerProcess,
} from '../support/ngtcp2.js';
import { createChain, type TestChain } from '../support/pki.js';
import { requirePeer } from '../support/peers.js';

const KiB = 1024;
const MiB = 1024 * 1024;

/** What gtlsclient is told to announce, and the values we expect to decode from its transport parameters. */
const CLIENT_ARGS = ['--timeout=6s', '--max-data=5M', '--max-streams-uni=40', '--max-stream-data-bidi-local=700K', '--max-stream-data-uni=90K'];
const CLIENT_TP: Partial<TransportParameters> = {
  maxIdleTimeout: 6000,
  initialMaxData: 5 * MiB,
  initialMaxStreamsUni: 40,
  initialMaxStreamsBidi: 0,
  initialMaxStreamDataBidiLocal: 700 * KiB,
  initialMaxStreamDataUni: 90 * KiB,
};

/** Our server's transport settings, and how gtlsclient logs them (`cry remote transport_parameters …`). */
const SERVER_TRANSPORT = { maxIdleTimeout: 8000, initialMaxData: 3 * MiB, maxStreamsBidi: 11, maxStreamsUni: 6, initialMaxStreamDataBidiRemote: 512 * KiB };
const SERVER_TP_LOGGED = { max_idle_timeout: '8000', initial_max_data: String(3 * MiB), initial_max_streams_bidi: '11', initial_max_streams_uni: '6', initial_max_stream_data_bidi_remote: String(512 * KiB) };

const REASON = 'no HTTP/3 yet';

let certificate: OpensslCertificate | undefined;
function opensslCertificate(): OpensslCertificate {
  certificate ??= makeOpensslCertificate();
  return certificate;
}
test.after(() => certificate?.remove());

/** True when the live parts can run (gtlsclient and openssl present, or skipped explicitly). */
function peersPresent(): boolean {
  return requirePeer('gtlsclient') && requirePeer('openssl');
}

const json = (v: unknown): string => JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? `0x${x.toString(16)}` : x));

/**
 * Starts our server with `options`, then gtlsclient (`args`, our port) against it; runs `body`
 * with both and the first accepted connection (waited for at most `acceptTimeoutMs`), and always
 * kills gtlsclient and closes the server.
 */
async function withGtlsClient(
  options: Partial<QuicServerOptions>,
  args: readonly string[],
  body: (connection: QuicConnection, client: PeerProcess, server: QuicServer) => Promise<void>,
  acceptTimeoutMs = 15_000,
): Promise<void> {
  const server = await createServer({ host: '127.0.0.1', port: 0, alpn: ['h3'], transport: SERVER_TRANSPORT, ...options });
  const incoming = server.incomingConnections.getReader();
  const client = startGtlsClient('127.0.0.1', server.address.port, args, 60_000);
  try {
    const next = await within(incoming.read(), acceptTimeoutMs, 'a connection from gtlsclient').catch((error: Error) => {
      throw new Error(`${error.message}\n--- gtlsclient output (tail) ---\n${client.output.split('\n').slice(-30).join('\n')}`);
    });
    assert.ok(!next.done, 'a connection was accepted');
    await body(next.value, client, server);
  } catch (error) {
    if (process.env.NGTCP2_LOG_DIR !== undefined) writeFileSync(join(process.env.NGTCP2_LOG_DIR, `gtlsclient-${server.address.port}.log`), client.output);
    throw new Error(`${(error as Error).message}\n--- gtlsclient output (tail) ---\n${client.output.split('\n').slice(-30).join('\n')}`, { cause: error });
  } finally {
    incoming.releaseLock();
    await client.stop();
    await within(server.close(), 15_000, 'server.close()').catch(() => undefined);
  }
}

/** Enough of an HTTP/3 unidirectional stream: its type, and for the control stream the type of its first frame. */
const http3StreamHead = (head: Uint8Array): boolean => head.length >= (head[0] === H3_STREAM.CONTROL ? 2 : 1);

/**
 * Accepts gtlsclient's HTTP/3 streams — control and QPACK encoder/decoder on client-initiated
 * unidirectional streams 2, 6, 10 (RFC 9114 §6.2.1, RFC 9204 §4.2) — and reads its request on
 * bidirectional stream 0 to the FIN (each wait bounded by `timeoutMs`); returns the request stream and its bytes.
 */
async function acceptHttp3(connection: QuicConnection, label: string, timeoutMs = 10_000): Promise<{ requestStream: QuicBidirectionalStream; request: Uint8Array }> {
  const heads = await within(uniStreamHeads(connection, 3, http3StreamHead), timeoutMs, 'the HTTP/3 streams');
  assert.equal(
    heads.map((h) => h.id).sort((a, b) => a - b),
    [2, 6, 10],
    `${label}: client-initiated unidirectional stream IDs`,
  );
  assert.equal(
    heads.map((h) => h.head[0]).sort(),
    [H3_STREAM.CONTROL, H3_STREAM.QPACK_ENCODER, H3_STREAM.QPACK_DECODER],
    `${label}: stream types`,
  );
  assert.is(heads.find((h) => h.head[0] === H3_STREAM.CONTROL)!.head[1], H3_FRAME.SETTINGS, `${label}: the control stream starts with SETTINGS`);
  const bidi = connection.incomingBidirectionalStreams.getReader();
  const next = await within(bidi.read(), timeoutMs, 'the request stream');
  bidi.releaseLock();
  assert.ok(!next.done, `${label}: a request stream`);
  assert.is(next.value.id, 0, `${label}: the request is on stream 0`);
  const request = await within(readAll(next.value.readable), timeoutMs, 'the request');
  assert.is(http3Frames(request)[0].type, H3_FRAME.HEADERS, `${label}: the request starts with HEADERS`);
  return { requestStream: next.value, request };
}

/** Checks what both sides saw: v1, h3, the suite and group, both sets of transport parameters, gtlsclient's completion and confirmation. */
function assertHandshake(connection: QuicConnection, log: Ngtcp2Log, suite: Ngtcp2CipherSuite, group: Ngtcp2Group, label: string): void {
  assert.is(connection.version, QUIC_V1, `${label}: QUIC v1`);
  assert.is(connection.alpnProtocol, 'h3', label);
  const info = connection.handshakeInfo!;
  assert.is(info.cipherSuite.name, suite, label);
  assert.is(info.group, group, label);
  assert.is(info.serverName, 'localhost', `${label}: gtlsclient's SNI`);
  const tp = decodeTransportParameters(info.peerTransportParameters, { sender: 'client' });
  for (const [k, v] of Object.entries(CLIENT_TP)) assert.is(tp[k as keyof TransportParameters], v, `${label}: gtlsclient's ${k}`);
  assert.ok(log.handshakeCompleted, `${label}: gtlsclient printed "QUIC handshake has completed"`);
  assert.ok(log.handshakeConfirmed, `${label}: gtlsclient printed "QUIC handshake has been confirmed" (our HANDSHAKE_DONE)`);
  assert.equal(log.negotiatedVersions, [QUIC_V1], `${label}: gtlsclient's "the negotiated version is 0x00000001"`);
  assert.is(log.negotiatedCipher, gnutlsCipherName(suite), `${label}: gtlsclient's "Negotiated cipher suite is …"`);
  assert.is(log.negotiatedAlpn, 'h3', label);
  const ours = log.remoteTransportParameters;
  for (const [k, v] of Object.entries(SERVER_TP_LOGGED)) assert.is(ours.get(k), v, `${label}: gtlsclient decoded our ${k}`);
}

/**
 * Once gtlsclient has confirmed the handshake (it printed "QUIC handshake has been confirmed": our
 * HANDSHAKE_DONE arrived, RFC 9001 §4.1.2), closes with H3_NO_ERROR and {@link REASON}; checks our
 * close info, gtlsclient's exit status and the CONNECTION_CLOSE it logged.
 */
async function closeAndCheck(connection: QuicConnection, client: PeerProcess, label: string): Promise<Ngtcp2Log> {
  await client.waitFor((l) => l.handshakeConfirmed, 'gtlsclient confirming the handshake');
  const info = await within(connection.close({ closeCode: H3_NO_ERROR, reason: REASON }), 10_000, 'our close');
  assert.equal(info, { source: 'local', application: true, code: H3_NO_ERROR, reason: REASON }, `${label}: our close info`);
  const exit = await client.waitForExit(10_000);
  assert.equal(exit, { code: 0, signal: null, timedOut: false }, `${label}: gtlsclient exited with status 0 on our close`);
  const log = client.log;
  assert.equal(json(log.receivedCloses), json([{ direction: 'rx', level: '1RTT', frameType: 0x1d, errorCode: H3_NO_ERROR, reason: REASON }]), `${label}: gtlsclient's "frm rx … 1RTT CONNECTION_CLOSE(0x1d) error_code=…(0x100) … reason=[${REASON}]"`);
  assert.ok(log.has('ngtcp2_conn_read_pkt: ERR_DRAINING'), `${label}: gtlsclient drained`);
  return log;
}

// ---------------------------------------------------------------------------------------------
// Every cipher suite and group, both ways of choosing them

for (const suite of CIPHER_SUITES) {
  for (const group of GROUPS) {
    test(`${suite} with ${group}, chosen by gtlsclient's --ciphers/--groups: gtlsclient completes a v1 h3 handshake with our server (generated self-signed certificate), transport parameters are exchanged, its HTTP/3 streams and request are read, and it reports our H3_NO_ERROR close`, async () => {
      if (!peersPresent()) return;
      const label = `peer-chosen ${suite}/${group}`;
      await withGtlsClient({}, [ciphersArgument(suite), groupsArgument(group), ...CLIENT_ARGS], async (connection, client) => {
        await acceptHttp3(connection, label);
        assert.is(connection.handshakeInfo?.helloRetryRequest, false, `${label}: gtlsclient sent a share for its only group`);
        const log = await closeAndCheck(connection, client, label);
        assertHandshake(connection, log, suite, group, label);
      });
    });

    test(`${suite} with ${group}, chosen by our server's own TLS configuration (openssl certificate): gtlsclient with its defaults completes a v1 h3 handshake, transport parameters are exchanged, and it reports our H3_NO_ERROR close`, async () => {
      if (!peersPresent()) return;
      const label = `own ${suite}/${group}`;
      const cert = opensslCertificate();
      await withGtlsClient(
        { certificate: { key: cert.keyPem, chain: cert.certificatePem }, connectionFactory: ownTlsFactory({ cipherSuites: [CipherSuite[suite]], groups: [group] }) },
        CLIENT_ARGS,
        async (connection, client) => {
          await acceptHttp3(connection, label);
          // GnuTLS sends shares for X25519 and P-256 (and P-384): no HelloRetryRequest either way.
          assert.is(connection.handshakeInfo?.helloRetryRequest, false, label);
          const log = await closeAndCheck(connection, client, label);
          assertHandshake(connection, log, suite, group, label);
        },
      );
    });
  }
}

test("every cipher suite with the pure-JS crypto provider (crypto: 'noble'): gtlsclient completes a v1 h3 handshake with our server and reports our H3_NO_ERROR close", async () => {
  if (!peersPresent()) return;
  for (const suite of CIPHER_SUITES) {
    const label = `noble ${suite}`;
    await withGtlsClient({ crypto: 'noble' }, [ciphersArgument(suite), ...CLIENT_ARGS], async (connection, client) => {
      await acceptHttp3(connection, label);
      const log = await closeAndCheck(connection, client, label);
      assertHandshake(connection, log, suite, 'x25519', label);
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Peer close, versions, loss, key update

test('gtlsclient closes the connection with H3_NO_ERROR once we reject its request (RESET_STREAM H3_REQUEST_REJECTED): our server reports a close by the peer with that code', async () => {
  if (!peersPresent()) return;
  await withGtlsClient({}, ['--exit-on-all-streams-close', ...CLIENT_ARGS], async (connection, client) => {
    const { requestStream } = await acceptHttp3(connection, 'reject');
    requestStream.reset(H3_REQUEST_REJECTED);
    const info = await within(connection.closed, 10_000, 'the close by gtlsclient');
    assert.equal(info, { source: 'peer', application: true, code: H3_NO_ERROR, reason: '' });
    const exit = await client.waitForExit(10_000);
    assert.is(exit.code, 0, 'gtlsclient exited with status 0');
    const log = client.log;
    assert.ok(log.has(`HTTP stream 0 closed with error code ${Number(H3_REQUEST_REJECTED)}`), 'gtlsclient saw our RESET_STREAM code');
    assert.equal(json(log.connectionCloses), json([{ direction: 'tx', level: '1RTT', frameType: 0x1d, errorCode: H3_NO_ERROR, reason: '' }]), 'gtlsclient sent one CONNECTION_CLOSE');
  });
});

test('our server validating addresses with Retry (retry: true): gtlsclient follows the Retry, the handshake completes, and it authenticates retry_source_connection_id', async () => {
  if (!peersPresent()) return;
  await withGtlsClient({ retry: true }, CLIENT_ARGS, async (connection, client, server) => {
    await acceptHttp3(connection, 'retry');
    assert.is(server.stats().retriesSent, 1, 'our server sent one Retry');
    const log = await closeAndCheck(connection, client, 'retry');
    assert.ok(log.lines.some((l) => / pkt rx pkn=0 dcid=0x[0-9a-f]+ scid=0x[0-9a-f]+ version=0x00000001 type=Retry /.test(l)), 'gtlsclient received our Retry');
    assert.ok(log.remoteTransportParameters.has('retry_source_connection_id'), 'and our retry_source_connection_id');
    assert.ok(log.handshakeCompleted);
  });
});

test('gtlsclient starting with the QUIC v2 draft (-v v2draft) gets our Version Negotiation (v1 and RFC 9369 v2), picks v1 and completes the handshake', async () => {
  if (!peersPresent()) return;
  await withGtlsClient({}, ['-v', 'v2draft', '--preferred-versions=v1,v2draft', ...CLIENT_ARGS], async (connection, client, server) => {
    await acceptHttp3(connection, 'version negotiation');
    assert.is(server.stats().versionNegotiationsSent, 1, 'our server sent one Version Negotiation packet');
    assert.is(connection.version, QUIC_V1);
    const log = await closeAndCheck(connection, client, 'version negotiation');
    assert.ok(log.has('pkt rx 0 VN v=0x00000001'), 'our Version Negotiation listed v1');
    assert.ok(log.has(`pkt rx 0 VN v=0x${QUIC_V2.toString(16).padStart(8, '0')}`), 'and v2');
    assert.ok(log.has('Client selected version 0x1'), 'gtlsclient picked v1');
    assert.equal(log.negotiatedVersions, [QUIC_V1]);
    assert.ok(log.handshakeCompleted);
  });
});

test("a handshake through gtlsclient's simulated loss (-t 0.15 -r 0.15, both directions) completes and is confirmed on both sides and the request arrives; runs repeat until a loss hit the handshake itself", async () => {
  if (!peersPresent()) return;
  // ngtcp2 draws losses from an unseeded generator: a run may lose nothing during the handshake.
  // Every run must complete; up to 12 runs are made until one lost packets before gtlsclient
  // printed "QUIC handshake has been confirmed" (about 5 packets: no loss in 12 runs has odds near
  // 1e-4). Idle and handshake timeouts are 30 s on both sides, so only several losses in a row on
  // one step (PTOs back off: 1, 2, 4, 8 s …) could fail a run, and the waits are bounded above them.
  const lossy = { ...SERVER_TRANSPORT, maxIdleTimeout: 30_000, handshakeTimeout: 30_000 };
  let lossyRuns = 0;
  for (let run = 0; run < 12 && lossyRuns === 0; run++) {
    await withGtlsClient(
      { transport: lossy },
      ['-t', '0.15', '-r', '0.15', ...CLIENT_ARGS, '--timeout=30s', '--handshake-timeout=30s'],
      async (connection, client) => {
        await acceptHttp3(connection, `lossy run ${run}`, 40_000);
        const log = await client.waitFor((l) => l.handshakeConfirmed, 'handshake confirmation', 40_000);
        assert.ok(log.handshakeCompleted);
        if (log.simulatedLosses('QUIC handshake has been confirmed') > 0) lossyRuns++;
        assert.is(connection.version, QUIC_V1);
        // Under loss our CONNECTION_CLOSE may be lost as well: only our side is checked.
        const info = await within(connection.close({ closeCode: H3_NO_ERROR, reason: REASON }), 40_000, 'our close');
        assert.is(info.source, 'local');
      },
      40_000,
    );
  }
  assert.ok(lossyRuns > 0, 'some run lost packets during the handshake');
});

test('a key update gtlsclient initiates during an upload (--key-update) is followed by our server: the 1 MiB request body arrives whole, our answer goes out in key phase 1, and gtlsclient confirms the update', async () => {
  if (!peersPresent()) return;
  const upload = join(opensslCertificate().dir, 'upload.bin');
  writeFileSync(upload, new Uint8Array(MiB).map((_, i) => i & 0xff));
  await withGtlsClient({}, ['--key-update=5ms', '--exit-on-all-streams-close', '-d', upload, ...CLIENT_ARGS], async (connection, client) => {
    const { requestStream, request } = await acceptHttp3(connection, 'key update');
    const frames = http3Frames(request);
    assert.is(
      frames.filter((f) => f.type === H3_FRAME.DATA).reduce((n, f) => n + f.length, 0),
      MiB,
      'the whole body in DATA frames',
    );
    // Answer only once gtlsclient has moved to the next keys, so the answer and its ACK use them.
    await client.waitFor((l) => l.has('Initiate key update'), 'gtlsclient starting its key update');
    const writer = requestStream.writable.getWriter();
    await writer.write(http3Response200());
    await writer.close();
    // gtlsclient closes once its only request stream is done.
    const info = await within(connection.closed, 10_000, 'the close by gtlsclient');
    assert.equal(info, { source: 'peer', application: true, code: H3_NO_ERROR, reason: '' });
    assert.is(connection.stats().keyUpdates, 1, 'our server followed one key update');
    const exit = await client.waitForExit(10_000);
    assert.is(exit.code, 0);
    const log = client.log;
    assert.ok(log.has('http: stream 0x0 [:status: 200]'), 'gtlsclient read our response');
    assert.ok(log.keyPhases('tx').includes(1), 'gtlsclient sent in key phase 1');
    assert.ok(log.keyPhases('rx').includes(1), 'our packets reached gtlsclient in key phase 1');
    assert.ok(log.has('cry key update confirmed'), 'gtlsclient confirmed the update');
  });
});

// ---------------------------------------------------------------------------------------------
// The client's address changes (RFC 9000 §9)

/** An upload long enough to be in progress when gtlsclient changes its address 20 ms after the handshake. */
function bigUpload(name: string): { path: string; bytes: number } {
  const bytes = 8 * MiB;
  const path = join(opensslCertificate().dir, name);
  writeFileSync(path, new Uint8Array(bytes).map((_, i) => (i * 7) & 0xff));
  return { path, bytes };
}

/** Sum of the DATA frame payloads of an HTTP/3 request. */
const dataBytes = (request: Uint8Array): number => http3Frames(request).filter((f) => f.type === H3_FRAME.DATA).reduce((n, f) => n + f.length, 0);

/** The port gtlsclient says it moved to ("Local address is now [127.0.0.1]:PORT"). */
function newLocalPort(log: Ngtcp2Log): number {
  const line = log.lines.find((l) => l.startsWith('Local address is now '));
  const m = line === undefined ? null : /:(\d+)$/.exec(line);
  assert.ok(m !== null, 'gtlsclient logged its new local address');
  return Number(m![1]);
}

/** Answers the request, waits for gtlsclient's close and exit, and checks it read the answer. */
async function answerAndFinish(connection: QuicConnection, client: PeerProcess, requestStream: QuicBidirectionalStream, label: string): Promise<Ngtcp2Log> {
  const writer = requestStream.writable.getWriter();
  await writer.write(http3Response200());
  await writer.close();
  const info = await within(connection.closed, 10_000, 'the close by gtlsclient');
  assert.equal(info, { source: 'peer', application: true, code: H3_NO_ERROR, reason: '' }, label);
  const exit = await client.waitForExit(10_000);
  assert.is(exit.code, 0, `${label}: gtlsclient exited with status 0`);
  const log = client.log;
  assert.ok(log.has('http: stream 0x0 [:status: 200]'), `${label}: our answer reached gtlsclient at its new address`);
  return log;
}

test('gtlsclient rebinding to a new port in the middle of an 8 MiB upload (--change-local-addr --nat-rebinding: same connection ID, no PATH_CHALLENGE of its own): our server validates the new path and follows it (RFC 9000 §9.3), the body arrives whole and our answer reaches the new port', async () => {
  if (!peersPresent()) return;
  const upload = bigUpload('upload-rebinding.bin');
  await withGtlsClient({}, ['--change-local-addr=20ms', '--nat-rebinding', '--exit-on-all-streams-close', '-d', upload.path, ...CLIENT_ARGS], async (connection, client) => {
    const before = connection.remoteAddress;
    const { requestStream, request } = await acceptHttp3(connection, 'rebinding', 30_000);
    assert.is(dataBytes(request), upload.bytes, 'the whole body in DATA frames');
    const port = newLocalPort(await client.waitFor((l) => l.has('Local address is now'), 'gtlsclient changing its local port'));
    assert.is.not(port, before.port);
    assert.equal(connection.remoteAddress, { ...before, port }, 'our server sends to the new port');
    const stats = connection.stats();
    assert.is(stats.peerAddressChanges, 1);
    assert.is(stats.pathValidationsStarted, 1);
    assert.is(stats.pathValidationsSucceeded, 1);
    assert.is(stats.pathValidationsFailed, 0);
    const log = await answerAndFinish(connection, client, requestStream, 'rebinding');
    assert.ok(log.lines.some((l) => / frm rx \d+ 1RTT PATH_CHALLENGE\(0x1a\) /.test(l)), 'our PATH_CHALLENGE reached gtlsclient');
    assert.ok(log.lines.some((l) => / frm tx \d+ 1RTT PATH_RESPONSE\(0x1b\) /.test(l)), 'gtlsclient answered it');
    assert.is(log.oneRttDestinationCids('tx').length, 1, 'a rebinding keeps the connection ID');
  });
});

test('gtlsclient migrating on purpose in the middle of an 8 MiB upload (--change-local-addr, our server with disableActiveMigration: false): it moves to a connection ID we issued (RFC 9000 §9.5), both sides validate the new path, the body arrives whole and our answer reaches the new port', async () => {
  if (!peersPresent()) return;
  const upload = bigUpload('upload-migration.bin');
  await withGtlsClient(
    { transport: { ...SERVER_TRANSPORT, disableActiveMigration: false } },
    ['--change-local-addr=20ms', '--exit-on-all-streams-close', '-d', upload.path, ...CLIENT_ARGS],
    async (connection, client) => {
      const before = connection.remoteAddress;
      const { requestStream, request } = await acceptHttp3(connection, 'migration', 30_000);
      assert.is(dataBytes(request), upload.bytes, 'the whole body in DATA frames');
      const log0 = await client.waitFor((l) => l.lines.some((x) => /^Path validation against path .* succeeded$/.test(x)), 'gtlsclient validating the new path');
      assert.ok(log0.remoteTransportParameters.get('disable_active_migration') === '0', 'we allowed active migration');
      const port = newLocalPort(log0);
      assert.equal(connection.remoteAddress, { ...before, port }, 'our server sends to the new port');
      const stats = connection.stats();
      assert.is(stats.peerAddressChanges, 1);
      assert.is(stats.pathValidationsSucceeded, 1);
      assert.is(stats.pathValidationsFailed, 0);
      const log = await answerAndFinish(connection, client, requestStream, 'migration');
      assert.is(log.oneRttDestinationCids('tx').length, 2, 'gtlsclient moved to a second connection ID of ours');
    },
  );
});

// ---------------------------------------------------------------------------------------------
// Client certificates (RFC 8446 §4.3.2, §4.4.2)

/** gtlsclient's --key/--cert files for the leaf of `pki` (the certificate file holds leaf then intermediates). */
function clientCertificateFiles(pki: TestChain): { dir: string; args: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'quic-actors-mtls-'));
  writeFileSync(join(dir, 'client-key.pem'), pki.leaf.privateKeyPem);
  writeFileSync(join(dir, 'client-cert.pem'), [pki.leaf, ...[...pki.intermediates].reverse()].map((c) => c.pem).join('\n'));
  return { dir, args: [`--key=${join(dir, 'client-key.pem')}`, `--cert=${join(dir, 'client-cert.pem')}`] };
}

test("gtlsclient with a client certificate (--key/--cert, leaf + intermediate) against our server with requestClientCertificate: 'require': the handshake completes and the server sees the chain it verified against clientCa", async () => {
  if (!peersPresent()) return;
  const pki = await createChain({ intermediates: 1, leaf: { subject: 'CN=gtlsclient, O=quic-actors tests' } });
  const files = clientCertificateFiles(pki);
  try {
    await withGtlsClient({ requestClientCertificate: 'require', clientCa: pki.root.pem }, [...files.args, ...CLIENT_ARGS], async (connection, client) => {
      await acceptHttp3(connection, 'mtls');
      const peer = connection.handshakeInfo?.peerCertificates ?? [];
      assert.equal(
        peer.map((c) => Buffer.from(c).toString('hex')),
        pki.chain.map((c) => Buffer.from(c).toString('hex')),
        'the verified chain: gtlsclient\'s leaf and intermediate',
      );
      const log = await closeAndCheck(connection, client, 'mtls');
      assert.ok(log.handshakeCompleted);
    });
  } finally {
    rmSync(files.dir, { recursive: true, force: true });
  }
});

test("gtlsclient with a client certificate from a CA our server does not trust: the server refuses it with CRYPTO_ERROR 0x130 (unknown_ca) in a CONNECTION_CLOSE gtlsclient reads, counts a failed handshake and delivers no connection", async () => {
  if (!peersPresent()) return;
  const pki = await createChain({ intermediates: 0 });
  const trusted = await createChain({ intermediates: 0 });
  const files = clientCertificateFiles(pki);
  const server = await createServer({ host: '127.0.0.1', port: 0, alpn: ['h3'], transport: SERVER_TRANSPORT, requestClientCertificate: 'require', clientCa: trusted.root.pem });
  let delivered = 0;
  const counting = server.connection$.subscribe(() => delivered++);
  const client = startGtlsClient('127.0.0.1', server.address.port, [...files.args, ...CLIENT_ARGS], 60_000);
  try {
    const exit = await client.waitForExit(20_000);
    assert.is(exit.timedOut, false, 'gtlsclient gave up on its own');
    const closes = client.log.receivedCloses;
    assert.ok(closes.length >= 1, `gtlsclient read our CONNECTION_CLOSE\n${client.output.split('\n').slice(-20).join('\n')}`);
    assert.equal(
      closes.map((c) => [c.frameType, c.errorCode]),
      closes.map(() => [0x1c, 0x130n]),
      'a transport CONNECTION_CLOSE with CRYPTO_ERROR 0x100 + unknown_ca (48)',
    );
    assert.is(server.failedHandshakes, 1);
    assert.is(delivered, 0, 'no connection delivered to the application');
  } finally {
    counting.unsubscribe();
    await client.stop();
    await within(server.close(), 15_000, 'server.close()').catch(() => undefined);
    rmSync(files.dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------------------------------------
// NEW_TOKEN (RFC 9000 §8.1.3)

test('gtlsclient reads our NEW_TOKEN frame (--token-file stores the token it carried); that token, spent by our client from the same address, validates at our server without a Retry', async () => {
  if (!peersPresent()) return;
  // gtlsclient 0.12 writes tokens but cannot read its token file back ("Could not read token in …",
  // with gtlsserver's tokens too), so our own client spends the token gtlsclient stored.
  const tokenFile = join(opensslCertificate().dir, 'gtlsclient-token.pem');
  await withGtlsClient({ retry: true }, [`--token-file=${tokenFile}`, ...CLIENT_ARGS], async (connection, client, server) => {
    await acceptHttp3(connection, 'new token');
    assert.is(server.stats().retriesSent, 1);
    await closeAndCheck(connection, client, 'new token');
    assert.is(server.stats().newTokensSent, 1);
    const pem = readFileSync(tokenFile, 'utf8');
    const m = /-----BEGIN QUIC TOKEN-----\s+([A-Za-z0-9+/=\s]+?)\s+-----END QUIC TOKEN-----/.exec(pem);
    assert.ok(m !== null, `gtlsclient stored a token:\n${pem}`);
    const token = new Uint8Array(Buffer.from(m![1].replace(/\s/g, ''), 'base64'));
    const ours = await within(connect({ host: '127.0.0.1', port: server.address.port, alpn: ['h3'], pinnedSpkiSha256: [server.certificateSpkiSha256], token }), 10_000, 'our connect()');
    assert.is(server.stats().newTokensAccepted, 1, 'the token gtlsclient received validated');
    assert.is(server.stats().retriesSent, 1, 'no second Retry');
    await ours.close();
  });
});

test.run();
