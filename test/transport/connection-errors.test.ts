// Bad input through the real receive path: every protocol violation closes the connection with the
// right transport error code, which the peer decodes from the CONNECTION_CLOSE it receives; the
// local `closed` event names the reason. Malformed and unauthenticated packets are dropped and
// counted and leave the connection as it was.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { nodeCrypto } from '../../src/crypto/node.js';
import { applyHeaderProtection, openPacket, removeHeaderProtection, sealPacket } from '../../src/crypto/packet-protection.js';
import type { PacketNumberState } from '../../src/packet/packet-numbers.js';
import type { QuicConnection } from '../../src/transport/connection.js';
import type { ConnectionCloseInfo } from '../../src/transport/connection-types.js';
import type { KeyManager } from '../../src/transport/key-manager.js';
import { CRYPTO_ERROR_BASE, TransportErrorCode } from '../../src/wire/errors.js';
import type { EncryptionLevel } from '../../src/wire/levels.js';
import type { Frame } from '../../src/wire/frames/types.js';
import { writeLongHeader, writeShortHeader } from '../../src/wire/header-write.js';
import { CLIENT_ADDRESS, createPair, InjectSource, SERVER_ADDRESS, type Pair } from '../support/connection-pair.js';

/** Test-only access to a connection's private key and packet number state. */
function internals(conn: QuicConnection): { keys: KeyManager; pn: Record<'initial' | 'handshake' | 'application', PacketNumberState> } {
  return conn as unknown as { keys: KeyManager; pn: Record<'initial' | 'handshake' | 'application', PacketNumberState> };
}

/** Test-only: makes the connection send a PING in its next 1-RTT packet. */
function requestPing(conn: QuicConnection): void {
  (conn as unknown as { pingSource: { request(level: EncryptionLevel): void } }).pingSource.request('oneRtt');
}

/** A handshaken pair whose client can inject frames. */
async function pairWithInjector(options: Parameters<typeof createPair>[0] = {}): Promise<{ p: Pair; inject: InjectSource }> {
  const inject = new InjectSource();
  const p = await createPair({ ...options, clientTuning: { ...options.clientTuning, extraSource: inject } });
  return { p, inject };
}

/** Checks that the server closed with `code` (and `frameType`), and that the client decoded the same from its CONNECTION_CLOSE. */
function assertServerClosed(p: Pair, code: number, frameType: number | undefined, reason: RegExp): void {
  assert.ok(p.runUntilClosed(), 'both sides closed');
  const local = p.server.closeInfo as ConnectionCloseInfo;
  const remote = p.client.closeInfo as ConnectionCloseInfo;
  assert.is(local.source, 'local');
  assert.is(local.application, false);
  assert.is(local.code, BigInt(code), `server closed with 0x${local.code.toString(16)}: ${local.reason}`);
  assert.match(local.reason, reason, `server reason: ${local.reason}`);
  assert.ok(local.error !== undefined, 'the error behind the close is attached');
  assert.is(remote.source, 'peer', `the client learned it from the peer (got ${remote.source})`);
  assert.is(remote.code, BigInt(code));
  assert.is(remote.application, false);
  if (frameType !== undefined) {
    assert.is(local.frameType, frameType);
    assert.is(remote.frameType, frameType, 'the CONNECTION_CLOSE names the frame type');
  }
  assert.match(remote.reason, reason);
}

/** Sends `frame` at `level` from the client once the handshake is confirmed (or, for Initial/Handshake, right away). */
async function violate(level: EncryptionLevel, frame: Frame | Uint8Array, options: Parameters<typeof createPair>[0] = {}): Promise<Pair> {
  const { p, inject } = await pairWithInjector({ ...options, deferStart: true });
  if (level === 'initial' || level === 'handshake') {
    inject.add(level, frame);
    p.start();
  } else {
    p.start();
    assert.ok(p.handshake(), 'handshake');
    p.client.act(() => inject.add(level, frame));
  }
  return p;
}

test('frames in a packet number space Table 3 does not allow are a PROTOCOL_VIOLATION', async () => {
  const cases: { level: EncryptionLevel; frame: Frame; type: number }[] = [
    { level: 'handshake', frame: { kind: 'maxData', maximum: 1000 }, type: 0x10 },
    { level: 'initial', frame: { kind: 'stream', streamId: 0, offset: 0, data: new Uint8Array(3), fin: false }, type: 0x0a },
    { level: 'handshake', frame: { kind: 'newConnectionId', sequenceNumber: 1, retirePriorTo: 0, connectionId: new Uint8Array(8).fill(1), statelessResetToken: new Uint8Array(16) }, type: 0x18 },
  ];
  for (const c of cases) {
    const p = await violate(c.level, c.frame);
    assertServerClosed(p, TransportErrorCode.PROTOCOL_VIOLATION, c.type, /not permitted in/);
  }
});

test('a HANDSHAKE_DONE from a client is a PROTOCOL_VIOLATION', async () => {
  const p = await violate('oneRtt', { kind: 'handshakeDone' });
  assertServerClosed(p, TransportErrorCode.PROTOCOL_VIOLATION, 0x1e, /HANDSHAKE_DONE frame from a client/);
});

test('a NEW_TOKEN from a client is a PROTOCOL_VIOLATION', async () => {
  const p = await violate('oneRtt', { kind: 'newToken', token: new Uint8Array([1, 2, 3]) });
  assertServerClosed(p, TransportErrorCode.PROTOCOL_VIOLATION, 0x07, /NEW_TOKEN frame from a client/);
});

test('a DATAGRAM frame when DATAGRAM support was not announced is a PROTOCOL_VIOLATION', async () => {
  const p = await violate('oneRtt', { kind: 'datagram', data: new Uint8Array(10) });
  assertServerClosed(p, TransportErrorCode.PROTOCOL_VIOLATION, 0x31, /DATAGRAM support was not announced/);
});

test('a DATAGRAM frame larger than our max_datagram_frame_size is a PROTOCOL_VIOLATION', async () => {
  const p = await violate('oneRtt', { kind: 'datagram', data: new Uint8Array(200) }, { serverTransport: { maxDatagramFrameSize: 100 }, clientTransport: { maxDatagramFrameSize: 100 } });
  assertServerClosed(p, TransportErrorCode.PROTOCOL_VIOLATION, 0x31, /exceeds our max_datagram_frame_size 100/);
});

test('a STREAM frame on a stream beyond our MAX_STREAMS is a STREAM_LIMIT_ERROR', async () => {
  // The server allows 100 client bidirectional streams: IDs 0, 4, …, 396.
  const p = await violate('oneRtt', { kind: 'stream', streamId: 4 * 100, offset: 0, data: new Uint8Array(5), fin: false });
  assertServerClosed(p, TransportErrorCode.STREAM_LIMIT_ERROR, 0x0a, /stream 400 exceeds the 100 bidirectional streams allowed/);
});

test('STREAM data beyond the stream’s flow control limit is a FLOW_CONTROL_ERROR', async () => {
  // initial_max_stream_data_bidi_remote is 256 KiB by default.
  const p = await violate('oneRtt', { kind: 'stream', streamId: 0, offset: 256 * 1024, data: new Uint8Array(10), fin: false });
  assertServerClosed(p, TransportErrorCode.FLOW_CONTROL_ERROR, 0x0e, /stream 0: data up to 262154 exceeds the limit 262144/);
});

test('STREAM data beyond the connection’s flow control limit is a FLOW_CONTROL_ERROR', async () => {
  const { p, inject } = await pairWithInjector({ serverTransport: { initialMaxData: 1000, maxConnectionWindow: 1000 } });
  assert.ok(p.handshake());
  p.client.act(() => {
    inject.add('oneRtt', { kind: 'stream', streamId: 0, offset: 0, data: new Uint8Array(600), fin: false });
    inject.add('oneRtt', { kind: 'stream', streamId: 4, offset: 0, data: new Uint8Array(600), fin: false });
  });
  assertServerClosed(p, TransportErrorCode.FLOW_CONTROL_ERROR, 0x0a, /connection: data up to 1200 exceeds the limit 1000/);
});

test('a changed final size is a FINAL_SIZE_ERROR', async () => {
  const { p, inject } = await pairWithInjector();
  assert.ok(p.handshake());
  p.client.act(() => {
    inject.add('oneRtt', { kind: 'stream', streamId: 0, offset: 0, data: new Uint8Array(10), fin: true });
    inject.add('oneRtt', { kind: 'stream', streamId: 0, offset: 0, data: new Uint8Array(20), fin: true });
  });
  assertServerClosed(p, TransportErrorCode.FINAL_SIZE_ERROR, 0x0b, /final size changed from 10 to 20/);
});

test('an ACK of a packet number never sent is a PROTOCOL_VIOLATION', async () => {
  const p = await violate('oneRtt', { kind: 'ack', largest: 5000, ackDelay: 0, ranges: [{ smallest: 5000, largest: 5000 }] });
  assertServerClosed(p, TransportErrorCode.PROTOCOL_VIOLATION, 0x02, /ACK of packet 5000/);
});

test('an ACK of a packet number the sender skipped is a PROTOCOL_VIOLATION (optimistic ACK, RFC 9000 §21.4)', async () => {
  // With a random source drawing 0, the server's application space skips every other number: 1, 3, 5, …
  const zero = { nextInt: () => 0 };
  const { p, inject } = await pairWithInjector({ serverTuning: { random: zero } });
  assert.ok(p.handshake());
  const next = internals(p.server.conn).pn.application.next;
  assert.ok(next >= 3, `the server sent 1-RTT packets (next ${next})`);
  const skipped = internals(p.server.conn).pn.application.skipped();
  assert.ok(skipped.includes(1), `1 was skipped (${skipped.join(',')})`);
  p.client.act(() => inject.add('oneRtt', { kind: 'ack', largest: 2, ackDelay: 0, ranges: [{ smallest: 0, largest: 2 }] }));
  assertServerClosed(p, TransportErrorCode.PROTOCOL_VIOLATION, 0x02, /ACK of packet 1 in application, a packet number never sent/);
});

test('a TLS KeyUpdate message (out of place in QUIC) is CRYPTO_ERROR 0x10a', async () => {
  // RFC 9001 §6: a TLS KeyUpdate is a connection error 0x010a (unexpected_message).
  const keyUpdate = new Uint8Array([24, 0, 0, 1, 0]);
  const p = await violate('oneRtt', { kind: 'crypto', offset: 0, data: keyUpdate });
  assertServerClosed(p, CRYPTO_ERROR_BASE + 10, 0x06, /unexpected_message: KeyUpdate is forbidden/);
});

test('a TLS message at the wrong encryption level during the handshake is CRYPTO_ERROR 0x10a', async () => {
  // After its ClientHello, the client sends a Finished at the Initial level (where the server no
  // longer reads): RFC 8446 §5.1 / RFC 9001 §4.1.3 unexpected_message.
  const { p, inject } = await pairWithInjector();
  const clientHelloLength = (p.client.conn as unknown as { cryptoSource: { stream(l: 'initial'): { length: number } } }).cryptoSource.stream('initial').length;
  const finished = new Uint8Array(36);
  finished.set([20, 0, 0, 32]);
  p.client.act(() => inject.add('initial', { kind: 'crypto', offset: clientHelloLength, data: finished }));
  assertServerClosed(p, CRYPTO_ERROR_BASE + 10, 0x06, /unexpected_message: 36 handshake bytes at the Initial level in state WAIT_FINISHED/);
});

test('transport parameters whose connection IDs do not match the packets are a TRANSPORT_PARAMETER_ERROR', async () => {
  // The server announces an original_destination_connection_id the client never used.
  // (Its Initial keys still come from the client's DCID, passed as if a Retry had chosen it.)
  const p = await createPair({ accept: (packet) => ({ originalDestinationCid: new Uint8Array(8).fill(0xee), retrySourceCid: packet.dcid.slice() }) });
  assert.ok(p.runUntilClosed(), 'closed');
  const client = p.client.closeInfo as ConnectionCloseInfo;
  assert.is(client.source, 'local');
  assert.is(client.code, BigInt(TransportErrorCode.TRANSPORT_PARAMETER_ERROR));
  assert.match(client.reason, /original_destination_connection_id eeeeeeeeeeeeeeee does not match/);
  const server = p.server.closeInfo as ConnectionCloseInfo;
  assert.is(server.source, 'peer', 'the server decoded the client’s CONNECTION_CLOSE');
  assert.is(server.code, BigInt(TransportErrorCode.TRANSPORT_PARAMETER_ERROR));
  assert.is(p.client.eventsOf('handshakeComplete').length, 0, 'the handshake never completed');
});

test('reserved header bits set in an authenticated packet are a PROTOCOL_VIOLATION', async () => {
  const p = await createPair();
  assert.ok(p.handshake());
  const { keys, pn } = internals(p.client.conn);
  let done = false;
  p.client.outgoing = (d) => {
    if (done || (d[0] & 0x80) !== 0) return d;
    done = true;
    const buf = d.slice();
    const k = keys.sendKeys('oneRtt')!;
    const pnOffset = 1 + 8;
    const h = removeHeaderProtection(k.hp, buf, 0, pnOffset, buf.length, pn.application.next - 2);
    const payloadEnd = openPacket(k, buf, 0, pnOffset, h.pnLength, h.packetNumber, buf.length);
    buf[0] |= 0x10; // a reserved bit (RFC 9000 §17.3.1)
    sealPacket(k, buf, 0, pnOffset, h.pnLength, h.packetNumber, payloadEnd);
    applyHeaderProtection(k.hp, buf, 0, pnOffset, h.pnLength);
    return buf;
  };
  // Any 1-RTT packet will do: a PING.
  p.client.act(() => requestPing(p.client.conn));
  assertServerClosed(p, TransportErrorCode.PROTOCOL_VIOLATION, undefined, /short header reserved bits \(mask 0x18\) are not 0/);
});

test('malformed packets are dropped and counted; the connection goes on', async () => {
  const p = await createPair();
  assert.ok(p.handshake());
  const cid = p.client.conn.localConnectionIds()[0];
  const before = p.client.conn.stats().packetsDropped;
  const junk: Uint8Array[] = [];
  // Truncated short header, a short header too short for the header-protection sample, a long
  // header whose Length runs past the datagram, an unknown version, a bad Fixed Bit, garbage.
  const short = new Uint8Array(1 + cid.length + 30);
  writeShortHeader(short, 0, { dcid: cid, spinBit: 0, keyPhase: 0, packetNumber: 7, pnLength: 2 });
  junk.push(short.subarray(0, 1 + cid.length), short.subarray(0, 1 + cid.length + 10), short);
  const long = new Uint8Array(100);
  const layout = writeLongHeader(long, 0, { version: 1, type: 'handshake', dcid: cid, scid: new Uint8Array(8), packetNumber: 0, pnLength: 1, lengthFieldSize: 2 });
  long[layout.lengthOffset] = 0x40 | 0x3f; // Length 0x3fff: beyond the datagram
  long[layout.lengthOffset + 1] = 0xff;
  junk.push(long);
  const unknownVersion = long.slice();
  unknownVersion[1] = 0x0a;
  junk.push(unknownVersion);
  const badFixedBit = short.slice();
  badFixedBit[0] &= ~0x40;
  junk.push(badFixedBit);
  junk.push(new Uint8Array(0), new Uint8Array([0xff]), new Uint8Array(1500).fill(0x80));
  for (const d of junk) p.net.inject(SERVER_ADDRESS, CLIENT_ADDRESS, d);
  p.net.advance(5);
  assert.is(p.client.conn.state, 'confirmed');
  assert.ok(p.client.conn.stats().packetsDropped - before >= junk.length, `dropped ${p.client.conn.stats().packetsDropped - before} of ${junk.length}`);
  // Still usable: a clean close reaches the server.
  p.client.act((c, now) => c.close({ code: 9n, reason: 'still fine' }, now));
  assert.ok(p.runUntilClosed());
  assert.is(p.server.closeInfo?.reason, 'still fine');
});

test('corrupted packets fail authentication and are dropped; the connection goes on', async () => {
  const p = await createPair({ down: { corrupt: 0.5 }, up: { corrupt: 0.5 }, seed: 3 });
  assert.ok(p.handshake(60_000), 'the handshake completes through corruption');
  assert.ok(p.client.conn.stats().packetsDropped + p.server.conn.stats().packetsDropped > 0, 'corrupted packets were dropped');
  assert.is(p.client.closeInfo, undefined);
});

test('the AEAD integrity limit: too many packets failing authentication close with AEAD_LIMIT_REACHED', async () => {
  const p = await createPair({ clientTuning: { aeadIntegrityLimit: 20 } });
  assert.ok(p.handshake());
  const cid = p.client.conn.localConnectionIds()[0];
  for (let i = 0; i < 20; i++) {
    const d = nodeCrypto.randomBytes(80);
    d[0] = 0x40 | (d[0] & 0x3f & ~0x18);
    d.set(cid, 1);
    p.net.inject(SERVER_ADDRESS, CLIENT_ADDRESS, d);
  }
  p.net.advance(1);
  assert.is(p.client.conn.state, 'closing');
  assert.ok(p.runUntilClosed());
  assert.is(p.client.closeInfo?.code, BigInt(TransportErrorCode.AEAD_LIMIT_REACHED));
  assert.is(p.server.closeInfo?.source, 'peer');
  assert.is(p.server.closeInfo?.code, BigInt(TransportErrorCode.AEAD_LIMIT_REACHED));
});

test('a peer updating keys twice without waiting for our acknowledgement is a KEY_UPDATE_ERROR', async () => {
  // No other ack-eliciting traffic (a PMTU probe would make the server acknowledge in between).
  const p = await createPair({ clientTransport: { pathMtuDiscovery: false }, serverTransport: { pathMtuDiscovery: false } });
  assert.ok(p.handshake());
  const client = internals(p.client.conn);
  const ping = (): void => requestPing(p.client.conn);
  // Two key updates back to back, each carried by a packet, sent at the same time: the server
  // answers the first and sees the second before it sent an ACK with the new keys.
  p.client.act(() => {
    client.keys.oneRtt.initiate(client.pn.application.next);
    ping();
  });
  p.client.act(() => {
    client.keys.oneRtt.initiate(client.pn.application.next);
    ping();
  });
  assertServerClosed(p, TransportErrorCode.KEY_UPDATE_ERROR, undefined, /key update to generation 2 before we acknowledged/);
});

test.run();
