// The unprotected packet headers of RFC 9001 Appendix A (QUIC v1) and RFC 9369 Appendix A (QUIC v2):
// parsing them gives the fields and offsets the RFCs describe, and writing those fields reproduces
// the bytes exactly.
import { createCipheriv } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  keyPhaseBit,
  packetNumberLengthFromFirstByte,
  parsePacketHeader,
  RETRY_INTEGRITY_TAG_LENGTH,
  spinBit,
  checkReservedBits,
  type ParsedPacket,
} from '../../src/wire/header.js';
import {
  longHeaderSize,
  retryPseudoPacket,
  retryWithoutTagSize,
  setLongHeaderLength,
  shortHeaderSize,
  writeLongHeader,
  writeRetryWithoutTag,
  writeShortHeader,
} from '../../src/wire/header-write.js';
import { readTruncatedPacketNumber } from '../../src/wire/packet-number.js';
import { QUIC_V1, QUIC_V2, type QuicVersion } from '../../src/wire/version.js';
import { expectForm } from '../support/header-arbitraries.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

const CLIENT_DCID = hex('8394c8f03e515708');
const SERVER_SCID = hex('f067a5502a4262b5');

/** The header followed by filler up to the packet's end, as the Length field requires. */
function withPayload(header: Uint8Array, totalLength: number): Uint8Array {
  const d = new Uint8Array(totalLength);
  d.set(header);
  return d;
}

const expectLong = (p: ParsedPacket) => expectForm(p, 'long');

const initialCases: { name: string; version: QuicVersion; client: string; server: string }[] = [
  {
    name: 'RFC 9001 A.2/A.3 (v1)',
    version: QUIC_V1,
    client: 'c300000001088394c8f03e5157080000449e00000002',
    server: 'c1000000010008f067a5502a4262b50040750001',
  },
  {
    name: 'RFC 9369 A.2/A.3 (v2)',
    version: QUIC_V2,
    client: 'd36b3343cf088394c8f03e5157080000449e00000002',
    server: 'd16b3343cf0008f067a5502a4262b50040750001',
  },
];

for (const c of initialCases) {
  test(`${c.name}: the client Initial header parses to DCID, empty token, Length 1182 and a 4-byte packet number 2`, () => {
    const header = hex(c.client);
    const datagram = withPayload(header, header.length - 4 + 1182);
    const p = expectLong(parsePacketHeader(datagram, 0, { shortHeaderDcidLength: 0 }));
    assert.is(p.type, 'initial');
    assert.is(p.version, c.version);
    assert.is(toHex(p.dcid), toHex(CLIENT_DCID));
    assert.is(p.scid.length, 0);
    assert.is(p.token.length, 0);
    assert.is(p.packetStart, 0);
    assert.is(p.pnOffset, 18);
    assert.is(p.packetEnd, 18 + 1182);
    assert.is(p.packetEnd, datagram.length);
    // The header in the RFC is unprotected, so the first-byte helpers apply directly.
    assert.is(packetNumberLengthFromFirstByte(datagram[0]), 4);
    assert.is(readTruncatedPacketNumber(datagram, p.pnOffset, 4), 2);
    checkReservedBits(datagram[0], 'long');
  });

  test(`${c.name}: writing the client Initial fields reproduces the header bytes`, () => {
    const buf = new Uint8Array(64).fill(0xee);
    const layout = writeLongHeader(buf, 5, {
      type: 'initial',
      version: c.version,
      dcid: CLIENT_DCID,
      scid: new Uint8Array(0),
      token: new Uint8Array(0),
      packetNumber: 2,
      pnLength: 4,
      lengthFieldSize: 2,
    });
    setLongHeaderLength(buf, layout.lengthOffset, 2, 1182);
    assert.is(toHex(buf.subarray(5, layout.payloadOffset)), c.client);
    assert.is(layout.lengthOffset, 5 + 16);
    assert.is(layout.pnOffset, 5 + 18);
    assert.is(layout.payloadOffset, 5 + 22);
    assert.is(longHeaderSize({ type: 'initial', dcidLength: 8, scidLength: 0, pnLength: 4 }), 22);
    assert.is(buf[4], 0xee, 'nothing written before the offset');
    assert.is(buf[layout.payloadOffset], 0xee, 'nothing written after the header');
  });

  test(`${c.name}: the server Initial header parses to SCID, Length 117 and a 2-byte packet number 1`, () => {
    const header = hex(c.server);
    const datagram = withPayload(header, header.length - 2 + 117);
    const p = expectLong(parsePacketHeader(datagram, 0, { shortHeaderDcidLength: 8 }));
    assert.is(p.type, 'initial');
    assert.is(p.version, c.version);
    assert.is(p.dcid.length, 0);
    assert.is(toHex(p.scid), toHex(SERVER_SCID));
    assert.is(p.token.length, 0);
    assert.is(p.pnOffset, 18);
    assert.is(p.packetEnd, 18 + 117);
    assert.is(packetNumberLengthFromFirstByte(datagram[0]), 2);
    assert.is(readTruncatedPacketNumber(datagram, p.pnOffset, 2), 1);
  });

  test(`${c.name}: writing the server Initial fields reproduces the header bytes`, () => {
    const buf = new Uint8Array(20);
    const layout = writeLongHeader(buf, 0, {
      type: 'initial',
      version: c.version,
      dcid: new Uint8Array(0),
      scid: SERVER_SCID,
      packetNumber: 1,
      pnLength: 2,
    });
    setLongHeaderLength(buf, layout.lengthOffset, 2, 117);
    assert.is(layout.payloadOffset, 20);
    assert.is(toHex(buf), c.server);
  });
}

// Retry integrity keys: RFC 9001 §5.8 (v1) and RFC 9369 §3.3.3 (v2).
const retryCases: { name: string; version: QuicVersion; packet: string; key: string; nonce: string }[] = [
  {
    name: 'RFC 9001 A.4 (v1)',
    version: QUIC_V1,
    key: 'be0c690b9f66575a1d766b54e368c84e',
    nonce: '461599d35d632bf2239825bb',
    packet: 'ff000000010008f067a5502a4262b574 6f6b656e04a265ba2eff4d829058fb3f 0f2496ba',
  },
  {
    name: 'RFC 9369 A.4 (v2)',
    version: QUIC_V2,
    key: '8fb4b01b56ac48e260fbcbcead7ccc92',
    nonce: 'd86969bc2d7c6d9990efb04a',
    packet: 'cf6b3343cf0008f067a5502a4262b574 6f6b656ec8646ce8bfe33952d9555436 65dcc7b6',
  },
];

for (const c of retryCases) {
  test(`${c.name}: the Retry parses to SCID, token "token" and the integrity tag`, () => {
    const datagram = hex(c.packet);
    const p = expectForm(parsePacketHeader(datagram, 0, { shortHeaderDcidLength: 0 }), 'retry');
    assert.is(p.version, c.version);
    assert.is(p.dcid.length, 0);
    assert.is(toHex(p.scid), toHex(SERVER_SCID));
    assert.is(Buffer.from(p.token).toString('latin1'), 'token');
    assert.is(toHex(p.integrityTag), toHex(datagram.subarray(datagram.length - 16)));
    assert.is(p.packetStart, 0);
    assert.is(p.packetEnd, datagram.length);
  });

  test(`${c.name}: writing the Retry fields reproduces the packet without its tag`, () => {
    const expected = hex(c.packet);
    const withoutTag = expected.subarray(0, expected.length - RETRY_INTEGRITY_TAG_LENGTH);
    const buf = new Uint8Array(withoutTag.length);
    const end = writeRetryWithoutTag(buf, 0, {
      version: c.version,
      dcid: new Uint8Array(0),
      scid: SERVER_SCID,
      token: new TextEncoder().encode('token'),
      unusedBits: 0x0f,
    });
    assert.is(end, withoutTag.length);
    assert.is(retryWithoutTagSize(0, 8, 5), withoutTag.length);
    assert.is(toHex(buf), toHex(withoutTag));
  });

  test(`${c.name}: the Retry pseudo-packet prepends the client's original DCID to the packet without its tag`, () => {
    const datagram = hex(c.packet);
    const p = parsePacketHeader(datagram, 0, { shortHeaderDcidLength: 0 });
    const withoutTag = datagram.subarray(p.packetStart, p.packetEnd - RETRY_INTEGRITY_TAG_LENGTH);
    const pseudo = retryPseudoPacket(CLIENT_DCID, withoutTag);
    // RFC 9001 §5.8: ODCID Length (8), Original Destination Connection ID, Retry without the tag.
    assert.is(toHex(pseudo), '08' + toHex(CLIENT_DCID) + toHex(withoutTag));
    // The RFC's tag is AES-128-GCM over exactly this pseudo-packet with an empty plaintext.
    const gcm = createCipheriv('aes-128-gcm', hex(c.key), hex(c.nonce));
    gcm.setAAD(pseudo);
    gcm.final();
    assert.is(toHex(gcm.getAuthTag()), toHex(expectForm(p, 'retry').integrityTag));
  });
}

for (const [name, version] of [
  ['RFC 9001 A.5', QUIC_V1],
  ['RFC 9369 A.5', QUIC_V2],
] as const) {
  test(`${name}: the ChaCha20 short header 4200bff4 parses with an empty DCID and a 3-byte packet number`, () => {
    // The 21-byte packet: the unprotected header 4200bff4, then the 17 ciphertext bytes.
    const ciphertext = version === QUIC_V1 ? '655e5cd55c41f69080575d7999c25a5bfb' : '0ae7b6b932bc27d786f4bc2bb20f2162ba';
    const datagram = hex('4200bff4' + ciphertext);
    const p = expectForm(parsePacketHeader(datagram, 0, { shortHeaderDcidLength: 0 }), 'short');
    assert.is(p.dcid.length, 0);
    assert.is(p.packetStart, 0);
    assert.is(p.pnOffset, 1);
    assert.is(p.packetEnd, 21);
    assert.is(packetNumberLengthFromFirstByte(datagram[0]), 3);
    assert.is(keyPhaseBit(datagram[0]), 0);
    assert.is(spinBit(datagram[0]), 0);
    assert.is(readTruncatedPacketNumber(datagram, 1, 3), 49140);
    checkReservedBits(datagram[0], 'short');
  });

  test(`${name}: writing packet number 654360564 in 3 bytes reproduces the short header 4200bff4`, () => {
    const buf = new Uint8Array(4);
    const layout = writeShortHeader(buf, 0, { dcid: new Uint8Array(0), spinBit: 0, keyPhase: 0, packetNumber: 654360564, pnLength: 3 });
    assert.is(toHex(buf), '4200bff4');
    assert.equal(layout, { pnOffset: 1, payloadOffset: 4 });
    assert.is(shortHeaderSize(0, 3), 4);
  });
}

test.run();
