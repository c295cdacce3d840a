import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { initialKeys } from '../../src/crypto/keys.js';
import { nodeCrypto } from '../../src/crypto/node.js';
import { openPacket, removeHeaderProtection } from '../../src/crypto/packet-protection.js';
import { verifyRetryIntegrityTag } from '../../src/crypto/retry.js';
import { Endpoint } from '../../src/endpoint/endpoint.js';
import { buildInitialClose } from '../../src/endpoint/initial-close.js';
import { RETRY_TOKEN_MARKER, RetryTokens } from '../../src/endpoint/retry-token.js';
import type { ServerConnectionOptions, SocketAddress } from '../../src/transport/connection-types.js';
import { TransportErrorCode } from '../../src/wire/errors.js';
import { decodeFrames } from '../../src/wire/frames/decode.js';
import { parsePacketHeader, type ParsedRetryPacket } from '../../src/wire/header.js';
import { QUIC_V1, QUIC_V2, type QuicVersion } from '../../src/wire/version.js';
import { fakeFactory } from './fake-core.js';
import { initialDatagram, rawPeer, random, until, type RawPeer } from './helpers.js';

const tls = { certificateChain: [], privateKey: undefined as never, alpnProtocols: ['test'] };
const here: SocketAddress = { address: '127.0.0.1', port: 5000, family: 'IPv4' };

async function retryServer(clock?: () => number) {
  const factory = fakeFactory();
  const endpoint = await Endpoint.bind({ host: '127.0.0.1', provider: nodeCrypto, createConnection: factory.create });
  endpoint.listen({ tls, retry: true, retryTokens: clock === undefined ? undefined : { clock }, onConnection: () => undefined });
  return { endpoint, factory };
}

async function firstRetry(peer: RawPeer, port: number, dcid: Uint8Array, scid: Uint8Array, version: QuicVersion = QUIC_V1): Promise<{ retry: ParsedRetryPacket; bytes: Uint8Array }> {
  await peer.send(initialDatagram({ dcid, scid, version }), port);
  const bytes = await peer.next('a Retry');
  const retry = parsePacketHeader(bytes, 0, { shortHeaderDcidLength: 0 });
  if (retry.form !== 'retry') throw new Error(`expected a Retry, got ${retry.form}`);
  return { retry, bytes };
}

/** Decrypts an Initial sent by the server for a client whose Initial had `clientDcid`. */
function readServerInitial(datagram: Uint8Array, clientDcid: Uint8Array, version: QuicVersion = QUIC_V1) {
  const p = parsePacketHeader(datagram, 0, { shortHeaderDcidLength: 0 });
  if (p.form !== 'long' || p.type !== 'initial') throw new Error(`expected an Initial, got ${p.form}`);
  const keys = initialKeys(nodeCrypto, version, clientDcid, 'client').receive;
  const buf = datagram.slice();
  const h = removeHeaderProtection(keys.hp, buf, p.packetStart, p.pnOffset, p.packetEnd, -1);
  const end = openPacket(keys, buf, p.packetStart, p.pnOffset, h.pnLength, h.packetNumber, p.packetEnd);
  return { header: p, frames: decodeFrames(buf.subarray(p.pnOffset + h.pnLength, end), 'initial') };
}

test('Retry tokens open only for the address and Retry connection ID they were issued for, and only within their lifetime', () => {
  let now = 1_000_000;
  const tokens = new RetryTokens(nodeCrypto, { lifetime: 10_000, clock: () => now });
  const odcid = random(9);
  const rscid = random(8);
  const token = tokens.issue(here, odcid, rscid);
  assert.is(token[0], RETRY_TOKEN_MARKER);
  const ok = tokens.validate(token, here, rscid);
  assert.ok(ok.ok);
  if (ok.ok) assert.equal([...ok.originalDestinationCid], [...odcid]);
  assert.equal(tokens.validate(token, { ...here, port: 5001 }, rscid), { ok: false, reason: 'invalid' });
  assert.equal(tokens.validate(token, { ...here, address: '127.0.0.2' }, rscid), { ok: false, reason: 'invalid' });
  assert.equal(tokens.validate(token, here, random(8)), { ok: false, reason: 'invalid' });
  const tampered = token.slice();
  tampered[20] ^= 1;
  assert.equal(tokens.validate(tampered, here, rscid), { ok: false, reason: 'invalid' });
  assert.equal(tokens.validate(random(40).fill(7, 0, 1), here, rscid), { ok: false, reason: 'not-a-retry-token' });
  assert.equal(new RetryTokens(nodeCrypto).validate(token, here, rscid), { ok: false, reason: 'invalid' }, 'another endpoint’s key');
  now += 10_001;
  assert.equal(tokens.validate(token, here, rscid), { ok: false, reason: 'expired' });
});

for (const version of [QUIC_V1, QUIC_V2] as const) {
  test(`with retry on, a first Initial (${version === QUIC_V1 ? 'v1' : 'v2'}) gets a Retry with a valid integrity tag and creates no connection`, async () => {
    const { endpoint, factory } = await retryServer();
    const peer = await rawPeer();
    const dcid = random(8);
    const scid = random(6);
    const { retry, bytes } = await firstRetry(peer, endpoint.address.port, dcid, scid, version);
    assert.is(retry.version, version);
    assert.equal([...retry.dcid], [...scid], 'addressed to the client’s Source Connection ID');
    assert.ok(retry.scid.length >= 8);
    assert.ok(retry.token.length > 0);
    assert.ok(verifyRetryIntegrityTag(nodeCrypto, version, dcid, bytes), 'RFC 9001 §5.8 tag over the original DCID');
    assert.is(factory.cores.length, 0);
    assert.is(endpoint.stats.retriesSent, 1);
    await peer.close();
    await endpoint.destroy();
  });
}

test('the Initial echoing the Retry token creates the connection with addressValidated, retrySourceCid and the original DCID', async () => {
  const { endpoint, factory } = await retryServer();
  const peer = await rawPeer();
  const dcid = random(8);
  const scid = random(8);
  const { retry } = await firstRetry(peer, endpoint.address.port, dcid, scid);
  await peer.send(initialDatagram({ dcid: retry.scid, scid, token: retry.token }), endpoint.address.port);
  await until(() => factory.cores.length === 1 && factory.cores[0].received.length === 1, 'the connection');
  const o = factory.cores[0].options as ServerConnectionOptions;
  assert.is(o.addressValidated, true);
  assert.equal([...(o.retrySourceCid ?? [])], [...retry.scid]);
  assert.equal([...o.originalDestinationCid], [...dcid]);
  assert.equal([...o.clientSourceCid], [...scid]);
  // Later Initials with the Retry's connection ID reach the same connection.
  await peer.send(initialDatagram({ dcid: retry.scid, scid, token: retry.token }), endpoint.address.port);
  await until(() => factory.cores[0].received.length === 2, 'the second Initial');
  assert.is(factory.cores.length, 1);
  await peer.close();
  await endpoint.destroy();
});

test('a Retry token echoed from another address is refused with an Initial CONNECTION_CLOSE carrying INVALID_TOKEN', async () => {
  const { endpoint, factory } = await retryServer();
  const peer = await rawPeer();
  const other = await rawPeer();
  const dcid = random(8);
  const scid = random(8);
  const { retry } = await firstRetry(peer, endpoint.address.port, dcid, scid);
  await other.send(initialDatagram({ dcid: retry.scid, scid, token: retry.token }), endpoint.address.port);
  const close = await other.next('the INVALID_TOKEN close');
  const { header, frames } = readServerInitial(close, retry.scid);
  assert.equal([...header.dcid], [...scid]);
  assert.is(frames[0].kind, 'connectionClose');
  if (frames[0].kind === 'connectionClose') {
    assert.is(frames[0].application, false);
    assert.is(frames[0].errorCode, BigInt(TransportErrorCode.INVALID_TOKEN));
  }
  assert.ok(close.length < 1200, 'far below the anti-amplification limit');
  assert.is(factory.cores.length, 0, 'no connection state');
  assert.is(endpoint.stats.invalidTokens, 1);
  await Promise.all([peer.close(), other.close()]);
  await endpoint.destroy();
});

test('an altered or expired Retry token is refused with INVALID_TOKEN; a token that is not ours gets a fresh Retry', async () => {
  let now = 5_000_000;
  const { endpoint, factory } = await retryServer(() => now);
  const peer = await rawPeer();
  const scid = random(8);
  const { retry } = await firstRetry(peer, endpoint.address.port, random(8), scid);
  const altered = retry.token.slice();
  altered[altered.length - 1] ^= 0x80;
  await peer.send(initialDatagram({ dcid: retry.scid, scid, token: altered }), endpoint.address.port);
  await peer.next('the close for the altered token');
  now += 60_000;
  await peer.send(initialDatagram({ dcid: retry.scid, scid, token: retry.token }), endpoint.address.port);
  const closeExpired = await peer.next('the close for the expired token');
  const frames = readServerInitial(closeExpired, retry.scid).frames;
  assert.ok(frames[0].kind === 'connectionClose' && frames[0].errorCode === BigInt(TransportErrorCode.INVALID_TOKEN));
  assert.is(endpoint.stats.invalidTokens, 2);
  const foreign = random(30);
  foreign[0] = 0x01;
  await peer.send(initialDatagram({ dcid: random(8), scid, token: foreign }), endpoint.address.port);
  const again = await peer.next('a fresh Retry');
  assert.is(parsePacketHeader(again, 0, { shortHeaderDcidLength: 0 }).form, 'retry');
  assert.is(factory.cores.length, 0);
  await peer.close();
  await endpoint.destroy();
});

test('the stateless Initial close decrypts with the client’s Initial keys and is not padded', () => {
  const dcid = random(8);
  const scid = random(4);
  const d = buildInitialClose(nodeCrypto, { version: QUIC_V2, clientDestinationCid: dcid, clientSourceCid: scid, errorCode: 0x0b, reason: 'x' });
  const { header, frames } = readServerInitial(d, dcid, QUIC_V2);
  assert.is(header.version, QUIC_V2);
  assert.equal([...header.scid], [...dcid]);
  assert.is(frames.length >= 1, true);
  assert.ok(frames[0].kind === 'connectionClose' && frames[0].errorCode === 0x0bn);
  assert.ok(d.length < 100);
});

test.run();
