// A client's handling of Version Negotiation (RFC 9000 §6.2) and Retry (RFC 9000 §17.2.5) packets,
// crafted with the header writers and the Retry integrity tag, on a simulated network.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { nodeCrypto } from '../../src/crypto/node.js';
import { retryIntegrityTag } from '../../src/crypto/retry.js';
import { TransportErrorCode } from '../../src/wire/errors.js';
import { parsePacketHeader, type ParsedLongPacket } from '../../src/wire/header.js';
import { retryWithoutTagSize, versionNegotiationSize, writeRetryWithoutTag, writeVersionNegotiation } from '../../src/wire/header-write.js';
import { QUIC_V1, QUIC_V2, type QuicVersion } from '../../src/wire/version.js';
import { CLIENT_ADDRESS, createPair, SERVER_ADDRESS, type Pair } from '../support/connection-pair.js';

/** The client's first Initial, parsed. */
function parseInitial(d: Uint8Array): ParsedLongPacket {
  const p = parsePacketHeader(d, 0, { shortHeaderDcidLength: 8 });
  if (p.form !== 'long' || p.type !== 'initial') throw new Error('not an Initial');
  return p;
}

function versionNegotiation(answering: ParsedLongPacket, versions: readonly number[], swapCids = true): Uint8Array {
  const dcid = swapCids ? answering.scid : answering.dcid;
  const scid = swapCids ? answering.dcid : answering.scid;
  const out = new Uint8Array(versionNegotiationSize(dcid.length, scid.length, versions.length));
  writeVersionNegotiation(out, 0, { dcid, scid, supportedVersions: versions, unusedBits: 0x40 });
  return out;
}

function retry(answering: ParsedLongPacket, scid: Uint8Array, token: Uint8Array, version: QuicVersion = QUIC_V1, tagOdcid = answering.dcid): Uint8Array {
  const size = retryWithoutTagSize(answering.scid.length, scid.length, token.length);
  const out = new Uint8Array(size + 16);
  writeRetryWithoutTag(out, 0, { version, dcid: answering.scid, scid, token });
  out.set(retryIntegrityTag(nodeCrypto, version, tagOdcid, out.subarray(0, size)), size);
  return out;
}

/**
 * A pair whose client's first Initial is intercepted (never reaches the server): `answer` turns it
 * into the datagrams the client receives instead.
 */
async function intercepted(answer: (initial: ParsedLongPacket, raw: Uint8Array) => Uint8Array[], options: Parameters<typeof createPair>[0] = {}): Promise<Pair> {
  let p: Pair | undefined;
  const pair = await createPair({
    ...options,
    deferStart: true,
    up: {
      filter: (d, i) => {
        if (i !== 0) return 'deliver';
        for (const reply of answer(parseInitial(d), d)) (p as Pair).net.inject(SERVER_ADDRESS, CLIENT_ADDRESS, reply, (p as Pair).net.now + 10);
        return 'drop';
      },
    },
  });
  p = pair;
  pair.start();
  return pair;
}

// ---- Version Negotiation ---------------------------------------------------------------------------

test('Version Negotiation without a common version ends the attempt (source version-negotiation)', async () => {
  const p = await intercepted((i) => [versionNegotiation(i, [0x0a0a0a0a, 0xff00001d])]);
  assert.ok(p.net.run(() => p.client.closed, 5_000));
  const info = p.client.closeInfo;
  assert.is(info?.source, 'version-negotiation');
  assert.is(info?.code, BigInt(TransportErrorCode.VERSION_NEGOTIATION_ERROR));
  assert.match(info?.reason ?? '', /0xa0a0a0a/);
  assert.not.ok(p.hasServer, 'no server connection was ever made');
});

test('Version Negotiation offering QUIC v2: the client starts over in v2 with a fresh Initial and completes', async () => {
  let firstDcid: Uint8Array | undefined;
  let secondVersion: number | undefined;
  let secondDcid: Uint8Array | undefined;
  const p = await intercepted((i) => {
    firstDcid = i.dcid.slice();
    return [versionNegotiation(i, [0x1a2a3a4a, QUIC_V2])];
  });
  p.serverHost.onDeliver = (d) => {
    if (secondVersion !== undefined) return;
    const h = parseInitial(d);
    secondVersion = h.version;
    secondDcid = h.dcid.slice();
  };
  assert.ok(p.handshake(), 'confirmed');
  assert.is(secondVersion, QUIC_V2);
  assert.is(p.client.conn.version, QUIC_V2);
  assert.is(p.server.conn.version, QUIC_V2);
  assert.not.equal(secondDcid, firstDcid, 'a fresh Destination Connection ID');
});

test('Version Negotiation listing our own version is ignored (RFC 9000 §6.2)', async () => {
  const p = await intercepted((i) => [versionNegotiation(i, [QUIC_V1, QUIC_V2])]);
  assert.ok(p.handshake(), 'the handshake goes on (the Initial is sent again on PTO)');
  assert.is(p.client.conn.version, QUIC_V1);
  assert.ok(p.client.conn.stats().packetsDropped >= 1);
});

test('Version Negotiation whose connection IDs do not echo ours is ignored', async () => {
  const p = await intercepted((i) => [versionNegotiation(i, [0x0a0a0a0a], false)]);
  assert.ok(p.handshake());
  assert.is(p.client.conn.version, QUIC_V1);
});

test('Version Negotiation arriving after a packet from the server was processed is ignored', async () => {
  let initial: ParsedLongPacket | undefined;
  const p = await createPair({
    up: {
      filter: (d, i) => {
        if (i === 0) initial = parseInitial(d);
        return 'deliver';
      },
    },
  });
  assert.ok(p.handshake());
  p.net.inject(SERVER_ADDRESS, CLIENT_ADDRESS, versionNegotiation(initial as ParsedLongPacket, [0x0a0a0a0a]));
  p.net.advance(5);
  assert.is(p.client.conn.state, 'confirmed');
});

// ---- Retry --------------------------------------------------------------------------------------------

const TOKEN = new Uint8Array([0xab, 0xcd, 0xef, 1, 2, 3, 4, 5]);

/** A pair whose server "endpoint" answers the first Initial with a Retry and accepts the token after it. */
async function retryPair(options: { readonly retryScid?: Uint8Array; readonly serverForgetsRetry?: boolean; readonly extra?: (i: ParsedLongPacket) => Uint8Array[] } = {}): Promise<{ p: Pair; odcid: () => Uint8Array; tokens: Uint8Array[] }> {
  const retryScid = options.retryScid ?? new Uint8Array([9, 8, 7, 6, 5, 4, 3, 2]);
  let odcid: Uint8Array | undefined;
  const tokens: Uint8Array[] = [];
  const p = await intercepted(
    (i) => {
      odcid = i.dcid.slice();
      return [retry(i, retryScid, TOKEN), ...(options.extra?.(i) ?? [])];
    },
    {
      accept: (packet) => {
        tokens.push(packet.token.slice());
        // The endpoint validated the token: the connection learns both connection IDs (RFC 9000 §7.3).
        if (options.serverForgetsRetry === true) return { originalDestinationCid: packet.dcid.slice(), addressValidated: true };
        return { originalDestinationCid: odcid, retrySourceCid: packet.dcid.slice(), addressValidated: true };
      },
    },
  );
  return { p, odcid: () => odcid as Uint8Array, tokens };
}

test('a Retry: the client resends its Initial to the new connection ID with the token, and the handshake completes', async () => {
  const { p, tokens } = await retryPair();
  assert.ok(p.handshake(), 'confirmed');
  assert.equal(tokens[0], TOKEN, 'the Initial after the Retry carries its token');
  assert.equal(p.client.conn.peerTransportParameters?.retrySourceConnectionId, new Uint8Array([9, 8, 7, 6, 5, 4, 3, 2]), 'retry_source_connection_id validated');
  assert.is(p.serverHost.connections.length, 1);
});

test('a second Retry is ignored (RFC 9000 §17.2.5.2: at most one)', async () => {
  const { p } = await retryPair({ extra: (i) => [retry(i, new Uint8Array([1, 1, 1, 1, 1, 1, 1, 1]), new Uint8Array([7]))] });
  assert.ok(p.handshake(), 'confirmed with the first Retry');
  assert.equal(p.client.conn.peerTransportParameters?.retrySourceConnectionId, new Uint8Array([9, 8, 7, 6, 5, 4, 3, 2]));
});

test('a Retry whose integrity tag does not verify is ignored', async () => {
  const p = await intercepted((i) => {
    const r = retry(i, new Uint8Array(8).fill(5), TOKEN);
    r[r.length - 1] ^= 1;
    return [r];
  });
  assert.ok(p.handshake(), 'the handshake completes without it');
  assert.is(p.client.conn.peerTransportParameters?.retrySourceConnectionId, undefined);
});

test('a Retry whose Source Connection ID equals our Destination Connection ID is ignored', async () => {
  const p = await intercepted((i) => [retry(i, i.dcid.slice(), TOKEN)]);
  assert.ok(p.handshake());
  assert.is(p.client.conn.peerTransportParameters?.retrySourceConnectionId, undefined);
});

test('a Retry after an Initial from the server was processed is ignored', async () => {
  let initial: ParsedLongPacket | undefined;
  const p = await createPair({
    up: {
      filter: (d, i) => {
        if (i === 0) initial = parseInitial(d);
        return 'deliver';
      },
    },
  });
  assert.ok(p.handshake());
  p.net.inject(SERVER_ADDRESS, CLIENT_ADDRESS, retry(initial as ParsedLongPacket, new Uint8Array(8).fill(3), TOKEN));
  p.net.advance(5);
  assert.is(p.client.conn.state, 'confirmed');
});

test('after a Retry, server transport parameters that do not name it are a TRANSPORT_PARAMETER_ERROR', async () => {
  const { p } = await retryPair({ serverForgetsRetry: true });
  assert.ok(p.runUntilClosed());
  assert.is(p.client.closeInfo?.code, BigInt(TransportErrorCode.TRANSPORT_PARAMETER_ERROR));
  assert.match(p.client.closeInfo?.reason ?? '', /original_destination_connection_id/);
  assert.is(p.server.closeInfo?.source, 'peer');
  assert.is(p.server.closeInfo?.code, BigInt(TransportErrorCode.TRANSPORT_PARAMETER_ERROR));
});

test.run();
