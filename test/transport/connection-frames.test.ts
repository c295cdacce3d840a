// Connection-level frames and receive-path rules through the real send and receive paths:
// NEW_CONNECTION_ID / RETIRE_CONNECTION_ID and routing, PATH_CHALLENGE / PATH_RESPONSE, NEW_TOKEN,
// packets that arrive before their keys, a server Initial with a token, TLS failures, and
// internal errors.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { initialKeys } from '../../src/crypto/keys.js';
import { nodeCrypto } from '../../src/crypto/node.js';
import { applyHeaderProtection, openPacket, removeHeaderProtection, sealPacket } from '../../src/crypto/packet-protection.js';
import type { FrameSource } from '../../src/packet/types.js';
import type { AckSource } from '../../src/transport/sources/ack-source.js';
import { QuicConnection as QuicConnectionClass, type QuicConnection } from '../../src/transport/connection.js';
import type { PeerConnectionIds } from '../../src/transport/connection-ids.js';
import type { KeyManager } from '../../src/transport/key-manager.js';
import { CRYPTO_ERROR_BASE, TransportErrorCode } from '../../src/wire/errors.js';
import { decodeFrames } from '../../src/wire/frames/decode.js';
import { encodeFrame, frameSize } from '../../src/wire/frames/encode.js';
import type { Frame } from '../../src/wire/frames/types.js';
import { iteratePackets, keyPhaseBit, parsePacketHeader } from '../../src/wire/header.js';
import { setLongHeaderLength, writeLongHeader } from '../../src/wire/header-write.js';
import { connectionIdKey } from '../../src/transport/connection-ids.js';
import { CLIENT_ADDRESS, createPair, InjectSource, SERVER_ADDRESS, testCertificate } from '../support/connection-pair.js';
import { generateSelfSignedCertificate } from '../../src/tls/self-signed.js';

/** Test-only view of a connection's private state. */
interface Internals {
  readonly keys: KeyManager;
  readonly ackSource: AckSource;
  readonly peerCids: PeerConnectionIds;
}
const internals = (c: QuicConnection): Internals => c as unknown as Internals;

/** The frames of the 1-RTT packet in `datagram` as `receiver` would read them (on a copy). */
function framesOf(receiver: QuicConnection, datagram: Uint8Array, dcidLength = 8): Frame[] {
  const buf = datagram.slice();
  const { keys, ackSource } = internals(receiver);
  const out: Frame[] = [];
  for (const r of iteratePackets(buf, { shortHeaderDcidLength: dcidLength, allowFixedBitZero: true })) {
    if (!r.ok || r.packet.form !== 'short') continue;
    const pkt = r.packet;
    const hp = keys.oneRtt.headerProtectionKeys;
    if (hp === undefined) continue;
    const h = removeHeaderProtection(hp.hp, buf, pkt.packetStart, pkt.pnOffset, pkt.packetEnd, ackSource.tracker('application').largestReceived ?? -1);
    const sel = keys.oneRtt.select(keyPhaseBit(h.firstByte), h.packetNumber);
    if (sel === undefined) continue;
    try {
      const end = openPacket(sel.keys, buf, pkt.packetStart, pkt.pnOffset, h.pnLength, h.packetNumber, pkt.packetEnd);
      out.push(...decodeFrames(buf.subarray(pkt.pnOffset + h.pnLength, end), 'oneRtt'));
    } catch {
      // Not for these keys.
    }
  }
  return out;
}

test('each side issues NEW_CONNECTION_ID up to the peer’s active_connection_id_limit; the routing table follows localConnectionIds$', async () => {
  const changes: string[] = [];
  const p = await createPair({
    clientTransport: { activeConnectionIdLimit: 3 },
    serverTransport: { activeConnectionIdLimit: 5 },
    onServer: (s) => {
      s.conn.localConnectionIds$.subscribe((c) => changes.push(c.added !== undefined ? `+${connectionIdKey(c.added)}` : `-${connectionIdKey(c.removed as Uint8Array)}`));
    },
  });
  assert.ok(p.handshake());
  p.net.advance(200);
  assert.is(p.server.conn.localConnectionIds().length, 3, 'the server keeps the client’s limit of 3 active');
  assert.is(p.client.conn.localConnectionIds().length, 5, 'the client issues up to the server’s 5');
  assert.is(internals(p.client.conn).peerCids.activeCount, 3, 'the client received them all');
  assert.is(internals(p.server.conn).peerCids.activeCount, 5);
  assert.equal(changes, p.server.conn.localConnectionIds().slice(1).map((c) => `+${connectionIdKey(c)}`), 'an added notification per new connection ID');
});

test('a RETIRE_CONNECTION_ID retires that connection ID (removed from routing) and a replacement is issued', async () => {
  const inject = new InjectSource();
  const changes: string[] = [];
  const p = await createPair({
    clientTuning: { extraSource: inject },
    onServer: (s) => {
      s.conn.localConnectionIds$.subscribe((c) => changes.push(c.added !== undefined ? `+${connectionIdKey(c.added)}` : `-${connectionIdKey(c.removed as Uint8Array)}`));
    },
  });
  assert.ok(p.handshake());
  p.net.advance(200);
  const before = p.server.conn.localConnectionIds().map(connectionIdKey);
  changes.length = 0;
  // The client stops using sequence 1 (as a migrating client would) and tells the server.
  p.client.act(() => {
    internals(p.client.conn).peerCids.retire(1);
    inject.add('oneRtt', { kind: 'retireConnectionId', sequenceNumber: 1 });
  });
  p.net.advance(200);
  const after = p.server.conn.localConnectionIds().map(connectionIdKey);
  assert.not.ok(after.includes(before[1]), 'sequence 1 no longer routes');
  assert.is(after.length, before.length, 'replaced');
  assert.equal(changes, [`-${before[1]}`, `+${after[after.length - 1]}`]);
  assert.is(p.client.conn.state, 'confirmed');
  assert.is(p.server.conn.state, 'confirmed');
});

test('a RETIRE_CONNECTION_ID of the connection ID its own packet was sent to is a PROTOCOL_VIOLATION', async () => {
  const inject = new InjectSource();
  const p = await createPair({ clientTuning: { extraSource: inject } });
  assert.ok(p.handshake());
  // The client sends to sequence 0 (it never switched).
  p.client.act(() => inject.add('oneRtt', { kind: 'retireConnectionId', sequenceNumber: 0 }));
  assert.ok(p.runUntilClosed());
  assert.is(p.server.closeInfo?.code, BigInt(TransportErrorCode.PROTOCOL_VIOLATION));
  assert.is(p.client.closeInfo?.source, 'peer');
  assert.is(p.client.closeInfo?.frameType, 0x19);
});

test('a PATH_CHALLENGE is answered with a PATH_RESPONSE echoing its data', async () => {
  const inject = new InjectSource();
  const data = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
  const seen: Frame[] = [];
  const p = await createPair({ clientTuning: { extraSource: inject } });
  assert.ok(p.handshake());
  p.clientHost.onDeliver = (d, sc) => seen.push(...framesOf(sc.conn, d));
  p.client.act(() => inject.add('oneRtt', { kind: 'pathChallenge', data }));
  p.net.advance(100);
  const responses = seen.filter((f): f is Extract<Frame, { kind: 'pathResponse' }> => f.kind === 'pathResponse');
  assert.is(responses.length, 1);
  assert.equal(responses[0].data, data);
});

test('a NEW_TOKEN from the server reaches the client as a newToken event', async () => {
  const p = await createPair();
  assert.ok(p.handshake());
  const token = new Uint8Array([0x51, 0x52, 0x53, 0x54]);
  p.server.act((c) => c.sendNewToken(token));
  p.net.advance(100);
  assert.equal(p.client.eventsOf('newToken').map((e) => e.token), [token]);
  assert.throws(() => p.client.conn.sendNewToken(token), /only a server/);
});

test('a NEW_TOKEN token given to a later connection goes in its Initial packets (RFC 9000 §8.1.3)', async () => {
  const seen: Uint8Array[] = [];
  const p = await createPair({
    accept: (packet) => {
      seen.push(packet.token.slice());
      return {};
    },
  });
  assert.ok(p.handshake());
  p.server.act((c) => c.sendNewToken(new Uint8Array([7, 7, 7, 7])));
  p.net.advance(100);
  const token = p.client.eventsOf('newToken')[0].token;
  const cert = await testCertificate();
  const second = p.clientHost.connect(
    { provider: nodeCrypto, statelessResetKey: new Uint8Array(32), token, tls: { serverName: 'localhost', alpnProtocols: ['test'], trustAnchors: [cert.certificatePem] } },
    SERVER_ADDRESS,
  );
  assert.ok(p.net.run(() => second.conn.state === 'confirmed', 5_000));
  assert.equal(seen, [new Uint8Array(0), new Uint8Array([7, 7, 7, 7])], 'the first connection had no token, the second carried it');
});

test('Handshake and 1-RTT packets that arrive before the Initial carrying their keys are buffered and processed once the keys arrive', async () => {
  // An RSA certificate makes the server's first flight two datagrams: Initial + Handshake, then Handshake + 1-RTT.
  const certificate = await generateSelfSignedCertificate({ hostnames: ['localhost'], keyType: 'rsa-pss' });
  let overtaken = 0;
  const p = await createPair({
    certificate,
    down: {
      filter: (d, i) => {
        if (i !== 0) return 'deliver';
        // The Initial (with the ServerHello) is overtaken by the datagram after it.
        p.net.inject(SERVER_ADDRESS, CLIENT_ADDRESS, d, p.net.now + 25);
        overtaken++;
        return 'drop';
      },
    },
    deferStart: true,
  });
  p.start();
  assert.ok(p.handshake());
  assert.is(overtaken, 1);
  const c = p.client.conn.stats();
  assert.is(c.ptoCount, 0, 'no probe was needed');
  assert.is(p.server.conn.stats().ptoCount, 0, 'nothing had to be sent again');
  assert.is(c.packetsDropped, 0, 'the early Handshake and 1-RTT packets were not dropped');
});

test('a server Initial carrying a token is dropped by the client (RFC 9000 §17.2.2)', async () => {
  let odcid: Uint8Array | undefined;
  let rewritten = 0;
  const addToken = (d: Uint8Array, token: Uint8Array): Uint8Array => {
    const h = parsePacketHeader(d, 0, { shortHeaderDcidLength: 8 });
    if (h.form !== 'long' || h.type !== 'initial') return d;
    // Open the server's Initial with the server's Initial keys, then seal it again with a token.
    const k = initialKeys(nodeCrypto, 1, odcid as Uint8Array, 'server').send;
    const buf = d.slice(0, h.packetEnd);
    const u = removeHeaderProtection(k.hp, buf, 0, h.pnOffset, h.packetEnd, -1);
    const end = openPacket(k, buf, 0, h.pnOffset, u.pnLength, u.packetNumber, h.packetEnd);
    const payload = buf.slice(h.pnOffset + u.pnLength, end);
    const out = new Uint8Array(d.length + 64);
    const layout = writeLongHeader(out, 0, { version: 1, type: 'initial', dcid: h.dcid, scid: h.scid, token, packetNumber: u.packetNumber, pnLength: u.pnLength, lengthFieldSize: 2 });
    out.set(payload, layout.payloadOffset);
    setLongHeaderLength(out, layout.lengthOffset, 2, u.pnLength + payload.length + 16);
    const packetEnd = sealPacket(k, out, 0, layout.pnOffset, u.pnLength, u.packetNumber, layout.payloadOffset + payload.length);
    applyHeaderProtection(k.hp, out, 0, layout.pnOffset, u.pnLength);
    rewritten++;
    // Keep the rest of the datagram (coalesced Handshake packets).
    const rest = d.subarray(h.packetEnd);
    const full = new Uint8Array(packetEnd + rest.length);
    full.set(out.subarray(0, packetEnd));
    full.set(rest, packetEnd);
    return full;
  };
  for (const token of [new Uint8Array(0), new Uint8Array([1, 2, 3])]) {
    rewritten = 0;
    const p = await createPair({
      up: {
        filter: (d, i) => {
          if (i === 0) odcid = (parsePacketHeader(d, 0, { shortHeaderDcidLength: 8 }) as { dcid: Uint8Array }).dcid.slice();
          return 'deliver';
        },
      },
      down: { filter: (d, i) => (i === 0 ? addToken(d, token) : 'deliver') },
    });
    assert.ok(p.handshake(), 'the handshake completes either way');
    assert.is(rewritten, 1);
    if (token.length === 0) {
      assert.is(p.client.conn.stats().ptoCount, 0, 'control: the re-sealed Initial without a token is accepted');
    } else {
      assert.ok(p.client.conn.stats().packetsDropped >= 1, 'the Initial with a token was dropped');
      assert.ok(p.client.conn.stats().ptoCount + p.server.conn.stats().ptoCount >= 1, 'and had to be sent again');
    }
  }
});

test('a certificate the client does not trust fails the handshake with the TLS alert’s CRYPTO_ERROR, sent to the server', async () => {
  const other = await generateSelfSignedCertificate({ hostnames: ['localhost'] });
  const p = await createPair({ deferStart: true });
  // Swap the client's trust anchor: it trusts another self-signed certificate only.
  const host = p.clientHost;
  const sc = host.connect(
    { provider: nodeCrypto, statelessResetKey: new Uint8Array(32), tls: { serverName: 'localhost', alpnProtocols: ['test'], trustAnchors: [other.certificatePem] } },
    SERVER_ADDRESS,
  );
  assert.ok(p.net.run(() => sc.closed && p.hasServer && p.server.closed, 60_000));
  const local = sc.closeInfo;
  assert.ok(local !== undefined && local.code >= BigInt(CRYPTO_ERROR_BASE) && local.code <= BigInt(CRYPTO_ERROR_BASE + 0xff), `CRYPTO_ERROR, got ${local?.code}`);
  assert.match(local?.reason ?? '', /TLS/);
  assert.is(p.server.closeInfo?.source, 'peer');
  assert.is(p.server.closeInfo?.code, local?.code, 'the server decoded the same CRYPTO_ERROR');
});

test('a client whose ALPN the server does not speak gets CRYPTO_ERROR no_application_protocol (0x178)', async () => {
  const p = await createPair({ deferStart: true });
  const cert = await testCertificate();
  const sc = p.clientHost.connect(
    { provider: nodeCrypto, statelessResetKey: new Uint8Array(32), tls: { serverName: 'localhost', alpnProtocols: ['other'], trustAnchors: [cert.certificatePem] } },
    SERVER_ADDRESS,
  );
  assert.ok(p.net.run(() => sc.closed && p.hasServer && p.server.closed, 60_000));
  assert.is(p.server.closeInfo?.source, 'local');
  assert.is(p.server.closeInfo?.code, BigInt(CRYPTO_ERROR_BASE + 120));
  assert.is(sc.closeInfo?.source, 'peer');
  assert.is(sc.closeInfo?.code, BigInt(CRYPTO_ERROR_BASE + 120));
});

test('datagrams from an address other than the peer’s are dropped and counted (no connection migration)', async () => {
  let replay: Uint8Array | undefined;
  const p = await createPair({
    down: {
      filter: (d) => {
        replay = d.slice();
        return 'deliver';
      },
    },
  });
  assert.ok(p.handshake());
  p.server.act((c) => c.sendNewToken(new Uint8Array([1])));
  p.net.advance(50);
  const dropped = p.client.conn.stats().packetsDropped;
  const received = p.client.conn.stats().packetsReceived;
  p.client.conn.receive(replay as Uint8Array, { address: '127.0.0.2', port: SERVER_ADDRESS.port, family: 'IPv4' }, p.net.now);
  p.client.conn.receive(replay as Uint8Array, { ...SERVER_ADDRESS, port: SERVER_ADDRESS.port + 1 }, p.net.now);
  assert.is(p.client.conn.stats().packetsDropped, dropped + 2);
  assert.is(p.client.conn.stats().packetsReceived, received);
  assert.is(p.client.conn.state, 'confirmed');
});

test('a server discards a client Initial carried in a datagram below 1200 bytes (RFC 9000 §14.1)', async () => {
  const cert = await testCertificate();
  const now = Date.now();
  const client = new QuicConnectionClass({
    role: 'client',
    provider: nodeCrypto,
    now,
    remoteAddress: SERVER_ADDRESS,
    statelessResetKey: new Uint8Array(32),
    tls: { serverName: 'localhost', alpnProtocols: ['test'], trustAnchors: [cert.certificatePem] },
  });
  const first = client.flush(now)[0];
  assert.is(first.length, 1200, 'the client pads its Initial');
  const h = parsePacketHeader(first, 0, { shortHeaderDcidLength: 8 }) as Extract<ReturnType<typeof parsePacketHeader>, { form: 'long' }>;
  // The same Initial without its padding, sealed again with the client's Initial keys.
  const k = initialKeys(nodeCrypto, 1, h.dcid, 'client').send;
  const buf = first.slice(0, h.packetEnd);
  const u = removeHeaderProtection(k.hp, buf, 0, h.pnOffset, h.packetEnd, -1);
  const end = openPacket(k, buf, 0, h.pnOffset, u.pnLength, u.packetNumber, h.packetEnd);
  const frames = decodeFrames(buf.subarray(h.pnOffset + u.pnLength, end), 'initial').filter((f) => f.kind !== 'padding');
  const payload = new Uint8Array(frames.reduce((n, f) => n + frameSize(f), 0));
  let off = 0;
  for (const f of frames) off = encodeFrame(payload, off, f);
  const short = new Uint8Array(first.length);
  const layout = writeLongHeader(short, 0, { version: 1, type: 'initial', dcid: h.dcid, scid: h.scid, packetNumber: u.packetNumber, pnLength: u.pnLength, lengthFieldSize: 2 });
  short.set(payload, layout.payloadOffset);
  setLongHeaderLength(short, layout.lengthOffset, 2, u.pnLength + payload.length + 16);
  const packetEnd = sealPacket(k, short, 0, layout.pnOffset, u.pnLength, u.packetNumber, layout.payloadOffset + payload.length);
  applyHeaderProtection(k.hp, short, 0, layout.pnOffset, u.pnLength);
  const small = short.slice(0, packetEnd);
  assert.ok(small.length < 1200);
  const server = new QuicConnectionClass({
    role: 'server',
    provider: nodeCrypto,
    now,
    remoteAddress: CLIENT_ADDRESS,
    statelessResetKey: new Uint8Array(32),
    tls: { certificateChain: cert.certificateChain, privateKey: cert.privateKey, alpnProtocols: ['test'] },
    version: 1,
    originalDestinationCid: h.dcid.slice(),
    clientSourceCid: h.scid.slice(),
  });
  server.receive(small, CLIENT_ADDRESS, now);
  assert.is(server.state, 'idle', 'the short Initial was not processed');
  assert.is(server.stats().packetsDropped, 1);
  assert.equal(server.flush(now), []);
  server.receive(first, CLIENT_ADDRESS, now);
  assert.is(server.state, 'handshaking', 'the padded one is');
});

test('an error that is not a QuicError (here, a frame source that throws) closes with INTERNAL_ERROR', async () => {
  let armed = false;
  const broken: FrameSource = {
    name: 'broken',
    hasPending: (level) => armed && level === 'oneRtt',
    write: () => {
      throw new TypeError('boom');
    },
  };
  const p = await createPair({ clientTuning: { extraSource: broken } });
  assert.ok(p.handshake());
  p.client.act(() => {
    armed = true;
  });
  armed = false;
  assert.ok(p.runUntilClosed());
  const info = p.client.closeInfo;
  assert.is(info?.code, BigInt(TransportErrorCode.INTERNAL_ERROR));
  assert.match(info?.reason ?? '', /boom/);
  assert.ok(info?.error instanceof TypeError);
  assert.is(p.server.closeInfo?.code, BigInt(TransportErrorCode.INTERNAL_ERROR));
});

test.run();
