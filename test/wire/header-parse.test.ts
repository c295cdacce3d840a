// Header parsing rules (RFC 9000 §12.2, §17; RFC 8999; RFC 9287; RFC 9369 §3.2), the first-byte
// helpers used after header protection removal, and the writers' refusal of invalid fields.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isQuicError, QuicError, TransportErrorCode } from '../../src/wire/errors.js';
import {
  checkReservedBits,
  iteratePackets,
  longPacketTypeBits,
  longPacketTypeFromBits,
  parsePacketHeader,
  type CoalescedPacketResult,
  type PacketParseOptions,
  type ParsedPacket,
} from '../../src/wire/header.js';
import {
  setLongHeaderLength,
  writeLongHeader,
  writeRetryWithoutTag,
  writeShortHeader,
  writeVersionNegotiation,
  type LongHeaderFields,
} from '../../src/wire/header-write.js';
import { QUIC_V1, QUIC_V2 } from '../../src/wire/version.js';
import { expectForm } from '../support/header-arbitraries.js';

const OPTS: PacketParseOptions = { shortHeaderDcidLength: 4 };
const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const bytes = (n: number, v = 0x11): Uint8Array => new Uint8Array(n).fill(v);

function throwsCode(fn: () => unknown, code: number, reason?: RegExp): void {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof QuicError, `expected a QuicError, got ${String(e)}`);
    assert.is((e as QuicError).code, code, (e as QuicError).message);
    if (reason) assert.match((e as QuicError).reason, reason);
    return;
  }
  assert.unreachable('expected a QuicError');
}

/** A complete long header packet (header + payload filler) written with the real writer. */
function longPacket(fields: Partial<LongHeaderFields> = {}, payloadLength = 20): Uint8Array {
  const f: LongHeaderFields = {
    type: 'handshake',
    version: QUIC_V1,
    dcid: bytes(4, 0xd0),
    scid: bytes(3, 0x50),
    packetNumber: 7,
    pnLength: 1,
    ...fields,
  };
  const buf = new Uint8Array(200);
  const l = writeLongHeader(buf, 0, f);
  setLongHeaderLength(buf, l.lengthOffset, f.lengthFieldSize ?? 2, f.pnLength + payloadLength);
  return buf.slice(0, l.payloadOffset + payloadLength);
}

function shortPacket(dcid = bytes(4, 0xd0), payloadLength = 20, greaseFixedBit = false): Uint8Array {
  const buf = new Uint8Array(1 + dcid.length + 4 + payloadLength);
  const l = writeShortHeader(buf, 0, { dcid, spinBit: 1, keyPhase: 1, packetNumber: 9, pnLength: 2, greaseFixedBit });
  return buf.slice(0, l.payloadOffset + payloadLength);
}

const concat = (...parts: Uint8Array[]): Uint8Array => Uint8Array.from(parts.flatMap((p) => [...p]));

// --- long packet types per version ---------------------------------------------------------------

test('long packet type bits follow RFC 9000 §17.2 for v1 and RFC 9369 §3.2 for v2', () => {
  const v1 = { initial: 0, zeroRtt: 1, handshake: 2, retry: 3 } as const;
  const v2 = { initial: 1, zeroRtt: 2, handshake: 3, retry: 0 } as const;
  for (const type of ['initial', 'zeroRtt', 'handshake', 'retry'] as const) {
    assert.is(longPacketTypeBits(QUIC_V1, type), v1[type]);
    assert.is(longPacketTypeBits(QUIC_V2, type), v2[type]);
    assert.is(longPacketTypeFromBits(QUIC_V1, v1[type]), type);
    assert.is(longPacketTypeFromBits(QUIC_V2, v2[type]), type);
  }
});

test('the same type bits mean different packet types in v1 and v2', () => {
  // First byte 0xc0 (type bits 0) with Length and a 1-byte pn: an Initial in v1 ...
  const v1Initial = hex('c0 00000001 00 00 00 01 00');
  const p1 = parsePacketHeader(v1Initial, 0, OPTS);
  assert.is(p1.form === 'long' && p1.type, 'initial');
  // ... but a Retry in v2, where bits 0 are Retry: the rest is token + 16-byte tag.
  const v2Retry = concat(hex('c0 6b3343cf 00 00'), bytes(3), bytes(16));
  const p2 = parsePacketHeader(v2Retry, 0, OPTS);
  assert.is(p2.form, 'retry');
  // Type bits 3: Retry in v1, Handshake in v2.
  const v2Handshake = hex('f0 6b3343cf 00 00 01 00');
  const p3 = parsePacketHeader(v2Handshake, 0, OPTS);
  assert.is(p3.form === 'long' && p3.type, 'handshake');
});

// --- fixed bit --------------------------------------------------------------------------------

test('a v1 or v2 long header with Fixed Bit 0 is dropped unless grease_quic_bit was advertised', () => {
  for (const version of [QUIC_V1, QUIC_V2] as const) {
    const packet = longPacket({ version, greaseFixedBit: true });
    assert.is(packet[0] & 0x40, 0);
    throwsCode(() => parsePacketHeader(packet, 0, OPTS), TransportErrorCode.PROTOCOL_VIOLATION, /Fixed Bit/);
    const p = parsePacketHeader(packet, 0, { ...OPTS, allowFixedBitZero: true });
    assert.is(p.form === 'long' && p.type, 'handshake');
  }
});

test('a short header with Fixed Bit 0 is dropped unless grease_quic_bit was advertised', () => {
  const packet = shortPacket(bytes(4, 0xd0), 20, true);
  assert.is(packet[0] & 0x40, 0);
  throwsCode(() => parsePacketHeader(packet, 0, OPTS), TransportErrorCode.PROTOCOL_VIOLATION, /Fixed Bit/);
  assert.is(parsePacketHeader(packet, 0, { ...OPTS, allowFixedBitZero: true }).form, 'short');
});

test('a Retry with Fixed Bit 0 is dropped unless grease_quic_bit was advertised', () => {
  const packet = concat(hex('b0 00000001 00 00'), bytes(3), bytes(16));
  throwsCode(() => parsePacketHeader(packet, 0, OPTS), TransportErrorCode.PROTOCOL_VIOLATION, /Fixed Bit/);
  assert.is(parsePacketHeader(packet, 0, { ...OPTS, allowFixedBitZero: true }).form, 'retry');
});

test('a Version Negotiation packet is accepted whatever its unused bits, the Fixed Bit position included', () => {
  for (const first of [0x80, 0xc0, 0xff, 0xaa]) {
    const p = parsePacketHeader(concat(Uint8Array.of(first), hex('00000000 00 00 00000001')), 0, OPTS);
    assert.is(p.form, 'versionNegotiation');
  }
});

test('an unsupported version is reported whatever its version-specific first-byte bits', () => {
  const p = parsePacketHeader(hex('80 1a2a3a4a 01 aa 00'), 0, OPTS);
  assert.is(p.form, 'unsupportedVersion');
});

// --- connection ID lengths ------------------------------------------------------------------

test('a v1 or v2 long header with a 21-byte Destination or Source Connection ID is dropped', () => {
  for (const version of ['00000001', '6b3343cf']) {
    const dcid21 = concat(hex(`c0 ${version} 15`), bytes(21), hex('00 00 05'), bytes(5));
    throwsCode(() => parsePacketHeader(dcid21, 0, OPTS), TransportErrorCode.PROTOCOL_VIOLATION, /Destination Connection ID Length 21 exceeds 20/);
    const scid21 = concat(hex(`c0 ${version} 00 15`), bytes(21), hex('00 05'), bytes(5));
    throwsCode(() => parsePacketHeader(scid21, 0, OPTS), TransportErrorCode.PROTOCOL_VIOLATION, /Source Connection ID Length 21 exceeds 20/);
  }
});

test('a 20-byte connection ID is accepted in v1', () => {
  const p = expectForm(parsePacketHeader(longPacket({ dcid: bytes(20, 1), scid: bytes(20, 2) }), 0, OPTS), 'long');
  assert.is(p.dcid.length, 20);
  assert.is(p.scid.length, 20);
});

test('an unknown version with 21- and 255-byte connection IDs is parsed for Version Negotiation', () => {
  const dcid = bytes(255, 0xd1);
  const scid = bytes(21, 0x5c);
  const datagram = concat(hex('c0 ff00001d ff'), dcid, hex('15'), scid, bytes(900, 0));
  const p = expectForm(parsePacketHeader(datagram, 0, OPTS), 'unsupportedVersion');
  assert.is(p.version, 0xff00001d);
  assert.is(toHex(p.dcid), toHex(dcid));
  assert.is(toHex(p.scid), toHex(scid));
  assert.is(p.packetStart, 0);
  assert.is(p.packetEnd, datagram.length);
});

test('an unknown version whose connection IDs are truncated is dropped', () => {
  throwsCode(() => parsePacketHeader(concat(hex('c0 ff00001d 10'), bytes(15)), 0, OPTS), TransportErrorCode.PROTOCOL_VIOLATION, /truncated Destination Connection ID/);
  throwsCode(() => parsePacketHeader(hex('c0 ff00001d 00'), 0, OPTS), TransportErrorCode.PROTOCOL_VIOLATION, /truncated Source Connection ID Length/);
  throwsCode(() => parsePacketHeader(hex('c0 ff0000'), 0, OPTS), TransportErrorCode.PROTOCOL_VIOLATION, /truncated Version/);
});

// --- Length, token, truncation ----------------------------------------------------------------

test('a Length beyond the end of the datagram is dropped', () => {
  const packet = longPacket({}, 20);
  throwsCode(() => parsePacketHeader(packet.subarray(0, packet.length - 1), 0, OPTS), TransportErrorCode.PROTOCOL_VIOLATION, /Length 21 exceeds the 20 bytes left/);
});

test('a Length of 0 is dropped: it leaves no room for a packet number', () => {
  throwsCode(() => parsePacketHeader(hex('e0 00000001 00 00 00 ff ff'), 0, OPTS), TransportErrorCode.PROTOCOL_VIOLATION, /Length 0/);
});

test('the Length field is a varint of any size, and the packet ends where it says', () => {
  // Length 3 encoded in 1, 2, 4 and 8 bytes, followed by 3 bytes of packet and 2 bytes of a next packet.
  for (const len of ['03', '4003', '80000003', 'c000000000000003']) {
    const datagram = hex(`e0 00000001 00 00 ${len} 010203 c0ff`);
    const p = expectForm(parsePacketHeader(datagram, 0, OPTS), 'long');
    assert.is(p.pnOffset, 7 + len.length / 2);
    assert.is(p.packetEnd, p.pnOffset + 3);
  }
});

test('a Length above 2^53-1 is dropped as a protocol violation, not a RangeError', () => {
  throwsCode(() => parsePacketHeader(hex('e0 00000001 00 00 ffffffffffffffff 00'), 0, OPTS), TransportErrorCode.PROTOCOL_VIOLATION, /Length/);
});

test("an Initial's token is read by its varint Token Length and returned as a view", () => {
  const token = Uint8Array.from({ length: 70 }, (_, i) => i);
  const datagram = longPacket({ type: 'initial', token });
  const p = expectForm(parsePacketHeader(datagram, 0, OPTS), 'long');
  assert.is(toHex(p.token), toHex(token));
  // 70 needs a 2-byte varint: first byte, version, 1+4 DCID, 1+3 SCID, then 0x4046.
  assert.is(toHex(datagram.subarray(14, 16)), '4046');
  assert.is(p.token.buffer, datagram.buffer, 'token is a view into the datagram');
  assert.is(p.token.byteOffset, datagram.byteOffset + 16);
});

test('a truncated Initial token or a Token Length beyond the datagram is dropped', () => {
  throwsCode(() => parsePacketHeader(hex('c0 00000001 00 00 05 aabb'), 0, OPTS), TransportErrorCode.PROTOCOL_VIOLATION, /truncated Token/);
  throwsCode(() => parsePacketHeader(hex('c0 00000001 00 00 40'), 0, OPTS), TransportErrorCode.PROTOCOL_VIOLATION, /truncated Token Length/);
  throwsCode(() => parsePacketHeader(hex('c0 00000001 00 00 00'), 0, OPTS), TransportErrorCode.PROTOCOL_VIOLATION, /truncated Length/);
});

test('0-RTT and Handshake headers carry no token field: the byte after the SCID is the Length', () => {
  for (const first of ['d0', 'e0']) {
    const p = expectForm(parsePacketHeader(hex(`${first} 00000001 00 00 02 0102`), 0, OPTS), 'long');
    assert.is(p.token.length, 0);
    assert.is(p.pnOffset, 8);
    assert.is(p.packetEnd, 10);
  }
});

test('every prefix of a valid long header packet is dropped as truncated', () => {
  const packet = longPacket({ type: 'initial', token: bytes(3), dcid: bytes(8), scid: bytes(8) }, 5);
  for (let n = 1; n < packet.length; n++) {
    throwsCode(() => parsePacketHeader(packet.subarray(0, n), 0, OPTS), TransportErrorCode.PROTOCOL_VIOLATION);
  }
  assert.is(parsePacketHeader(packet, 0, OPTS).form, 'long');
});

test('a short header needs its DCID and at least one packet number byte', () => {
  const packet = shortPacket(bytes(4, 0xd0), 0);
  const p = expectForm(parsePacketHeader(packet, 0, OPTS), 'short');
  assert.is(toHex(p.dcid), 'd0d0d0d0');
  assert.is(p.pnOffset, 5);
  assert.is(p.packetEnd, packet.length);
  throwsCode(() => parsePacketHeader(packet.subarray(0, 5), 0, OPTS), TransportErrorCode.PROTOCOL_VIOLATION, /truncated short header/);
  throwsCode(() => parsePacketHeader(packet.subarray(0, 3), 0, OPTS), TransportErrorCode.PROTOCOL_VIOLATION, /truncated short header/);
});

test('a short header is parsed with the DCID length the receiver configured', () => {
  const packet = shortPacket(bytes(8, 0xd8), 10);
  const p = parsePacketHeader(packet, 0, { shortHeaderDcidLength: 8 });
  assert.is(p.dcid.length, 8);
  assert.is(p.form === 'short' && p.pnOffset, 9);
  const zero = parsePacketHeader(packet, 0, { shortHeaderDcidLength: 0 });
  assert.is(zero.form === 'short' && zero.pnOffset, 1);
});

test('parsing at an offset reads the packet there and reports absolute offsets', () => {
  const packet = longPacket({}, 4);
  const datagram = concat(bytes(9, 0xee), packet);
  const p = expectForm(parsePacketHeader(datagram, 9, OPTS), 'long');
  assert.is(p.packetStart, 9);
  assert.is(p.packetEnd, datagram.length);
  assert.is(p.dcid.byteOffset, 15);
});

test('an empty packet is a protocol violation; an offset outside the datagram or a bad option is an internal error', () => {
  throwsCode(() => parsePacketHeader(new Uint8Array(3), 3, OPTS), TransportErrorCode.PROTOCOL_VIOLATION, /no first byte/);
  throwsCode(() => parsePacketHeader(new Uint8Array(3), 4, OPTS), TransportErrorCode.INTERNAL_ERROR);
  throwsCode(() => parsePacketHeader(new Uint8Array(3), -1, OPTS), TransportErrorCode.INTERNAL_ERROR);
  throwsCode(() => parsePacketHeader(new Uint8Array(3), 0.5, OPTS), TransportErrorCode.INTERNAL_ERROR);
  throwsCode(() => parsePacketHeader(shortPacket(), 0, { shortHeaderDcidLength: 21 }), TransportErrorCode.INTERNAL_ERROR);
});

// --- Version Negotiation and Retry ---------------------------------------------------------------

test('a Version Negotiation packet lists its versions in order', () => {
  const p = expectForm(parsePacketHeader(hex('8a 00000000 02 abcd 01 ef 00000001 6b3343cf 1a2a3a4a'), 0, OPTS), 'versionNegotiation');
  assert.is(toHex(p.dcid), 'abcd');
  assert.is(toHex(p.scid), 'ef');
  assert.equal(p.supportedVersions, [QUIC_V1, QUIC_V2, 0x1a2a3a4a]);
  assert.is(p.packetEnd, 22);
});

test('a Version Negotiation packet with an empty or ragged version list is dropped', () => {
  throwsCode(() => parsePacketHeader(hex('80 00000000 00 00'), 0, OPTS), TransportErrorCode.PROTOCOL_VIOLATION, /without Supported Version/);
  for (const tail of ['00', '0000', '000000', '0000000100']) {
    throwsCode(() => parsePacketHeader(hex(`80 00000000 00 00 ${tail}`), 0, OPTS), TransportErrorCode.PROTOCOL_VIOLATION, /not a multiple of 4/);
  }
});

test('a Version Negotiation packet may echo connection IDs up to 255 bytes (RFC 8999)', () => {
  const buf = new Uint8Array(600);
  const end = writeVersionNegotiation(buf, 0, { dcid: bytes(255, 1), scid: bytes(200, 2), supportedVersions: [QUIC_V1], unusedBits: 0x40 });
  const p = expectForm(parsePacketHeader(buf.subarray(0, end), 0, OPTS), 'versionNegotiation');
  assert.is(p.dcid.length, 255);
  assert.is(p.scid.length, 200);
  assert.is(buf[0], 0xc0);
});

test('a Retry with an empty token or shorter than its integrity tag is dropped', () => {
  throwsCode(() => parsePacketHeader(concat(hex('f0 00000001 00 00'), bytes(16)), 0, OPTS), TransportErrorCode.PROTOCOL_VIOLATION, /empty Retry Token/);
  throwsCode(() => parsePacketHeader(concat(hex('f0 00000001 00 00'), bytes(15)), 0, OPTS), TransportErrorCode.PROTOCOL_VIOLATION, /Retry Integrity Tag/);
});

test("a Retry's unused bits are ignored", () => {
  for (let unused = 0; unused < 16; unused++) {
    const p = parsePacketHeader(concat(Uint8Array.of(0xf0 | unused), hex('00000001 00 00'), bytes(17)), 0, OPTS);
    assert.is(p.form, 'retry');
  }
});

// --- reserved bits and first-byte helpers ---------------------------------------------------------

test('reserved bits: every first byte is accepted exactly when bits 0x0c (long) or 0x18 (short) are clear', () => {
  for (let b = 0; b < 256; b++) {
    for (const [form, mask] of [['long', 0x0c], ['short', 0x18]] as const) {
      let threw: unknown;
      try {
        checkReservedBits(b, form);
      } catch (e) {
        threw = e;
      }
      if ((b & mask) === 0) assert.is(threw, undefined, `${form} 0x${b.toString(16)}`);
      else assert.ok(isQuicError(threw, TransportErrorCode.PROTOCOL_VIOLATION), `${form} 0x${b.toString(16)}`);
    }
  }
});

// --- coalesced datagrams ---------------------------------------------------------------------

const forms = (results: CoalescedPacketResult[]): string[] =>
  results.map((r) => (r.ok ? (r.packet.form === 'long' ? r.packet.type : r.packet.form) : `error@${r.offset}`));

test('a datagram of Initial + Handshake + short packets is walked in order', () => {
  const dcid = bytes(4, 0xd0);
  const initial = longPacket({ type: 'initial', dcid, token: bytes(5) }, 40);
  const handshake = longPacket({ type: 'handshake', dcid }, 30);
  const short = shortPacket(dcid, 25);
  const datagram = concat(initial, handshake, short);
  const results = [...iteratePackets(datagram, OPTS)];
  assert.equal(forms(results), ['initial', 'handshake', 'short']);
  const packets = results.map((r) => (r.ok ? r.packet : undefined)) as ParsedPacket[];
  assert.equal(
    packets.map((p) => [p.packetStart, p.packetEnd]),
    [
      [0, initial.length],
      [initial.length, initial.length + handshake.length],
      [initial.length + handshake.length, datagram.length],
    ],
  );
});

test('a truncated second packet yields the first packet, then a typed error at its offset', () => {
  const initial = longPacket({ type: 'initial' }, 40);
  const handshake = longPacket({ type: 'handshake' }, 30);
  const datagram = concat(initial, handshake.subarray(0, handshake.length - 1));
  const results = [...iteratePackets(datagram, OPTS)];
  assert.equal(forms(results), ['initial', `error@${initial.length}`]);
  const last = results[1];
  assert.ok(!last.ok && last.error instanceof QuicError && last.error.code === TransportErrorCode.PROTOCOL_VIOLATION);
});

test('the walk hands out each packet before parsing the next, so a consumer can stop early', () => {
  const datagram = concat(longPacket({ type: 'initial' }, 10), hex('ffff'));
  const it = iteratePackets(datagram, OPTS);
  const first = it.next();
  assert.ok(!first.done && first.value.ok);
  const second = it.next();
  assert.ok(!second.done && !second.value.ok);
  assert.ok(it.next().done);
});

test('a later packet with a different Destination Connection ID ends the walk', () => {
  const datagram = concat(longPacket({ type: 'initial', dcid: bytes(4, 1) }, 10), longPacket({ type: 'handshake', dcid: bytes(4, 2) }, 10));
  const results = [...iteratePackets(datagram, OPTS)];
  assert.is(results.length, 2);
  assert.ok(results[0].ok);
  assert.ok(!results[1].ok && /different Destination Connection ID/.test(results[1].error.reason));
});

test('a Retry or Version Negotiation packet after another packet ends the walk', () => {
  const first = longPacket({ type: 'initial', dcid: bytes(4, 0xd0) }, 10);
  const retryBuf = new Uint8Array(100);
  const retryEnd = writeRetryWithoutTag(retryBuf, 0, { version: QUIC_V1, dcid: bytes(4, 0xd0), scid: bytes(4), token: bytes(8) });
  const retry = retryBuf.subarray(0, retryEnd + 16);
  const vnBuf = new Uint8Array(100);
  const vn = vnBuf.subarray(0, writeVersionNegotiation(vnBuf, 0, { dcid: bytes(4, 0xd0), scid: bytes(4), supportedVersions: [QUIC_V1], unusedBits: 0 }));
  for (const second of [retry, vn]) {
    const results = [...iteratePackets(concat(first, second), OPTS)];
    assert.equal(forms(results), ['initial', `error@${first.length}`]);
  }
  assert.equal(forms([...iteratePackets(retry, OPTS)]), ['retry']);
  assert.equal(forms([...iteratePackets(vn, OPTS)]), ['versionNegotiation']);
});

test('zero bytes after the last long packet are reported as an error after the packet', () => {
  const initial = longPacket({ type: 'initial' }, 10);
  const results = [...iteratePackets(concat(initial, new Uint8Array(50)), OPTS)];
  assert.equal(forms(results), ['initial', `error@${initial.length}`]);
});

test('an empty datagram yields nothing', () => {
  assert.equal([...iteratePackets(new Uint8Array(0), OPTS)], []);
});

// --- writers refuse invalid fields ---------------------------------------------------------------

test('writers refuse connection IDs over 20 bytes, tokens outside Initial packets and unknown versions', () => {
  const buf = new Uint8Array(300);
  const base: LongHeaderFields = { type: 'handshake', version: QUIC_V1, dcid: bytes(4), scid: bytes(4), packetNumber: 0, pnLength: 1 };
  throwsCode(() => writeLongHeader(buf, 0, { ...base, dcid: bytes(21) }), TransportErrorCode.INTERNAL_ERROR);
  throwsCode(() => writeLongHeader(buf, 0, { ...base, scid: bytes(21) }), TransportErrorCode.INTERNAL_ERROR);
  throwsCode(() => writeLongHeader(buf, 0, { ...base, token: bytes(1) }), TransportErrorCode.INTERNAL_ERROR, /no token/);
  throwsCode(() => writeLongHeader(buf, 0, { ...base, version: 0x1a2a3a4a as typeof QUIC_V1 }), TransportErrorCode.INTERNAL_ERROR);
  throwsCode(() => writeLongHeader(buf, 0, { ...base, pnLength: 5 as 4 }), TransportErrorCode.INTERNAL_ERROR);
  throwsCode(() => writeLongHeader(buf, 0, { ...base, packetNumber: -1 }), TransportErrorCode.INTERNAL_ERROR);
  throwsCode(() => writeShortHeader(buf, 0, { dcid: bytes(21), spinBit: 0, keyPhase: 0, packetNumber: 0, pnLength: 1 }), TransportErrorCode.INTERNAL_ERROR);
  throwsCode(() => writeRetryWithoutTag(buf, 0, { version: QUIC_V1, dcid: bytes(4), scid: bytes(4), token: new Uint8Array(0) }), TransportErrorCode.INTERNAL_ERROR, /non-empty token/);
  throwsCode(() => writeVersionNegotiation(buf, 0, { dcid: bytes(4), scid: bytes(4), supportedVersions: [], unusedBits: 0 }), TransportErrorCode.INTERNAL_ERROR);
  throwsCode(() => writeVersionNegotiation(buf, 0, { dcid: bytes(256), scid: bytes(4), supportedVersions: [1], unusedBits: 0 }), TransportErrorCode.INTERNAL_ERROR);
  throwsCode(() => writeVersionNegotiation(buf, 0, { dcid: bytes(4), scid: bytes(4), supportedVersions: [2 ** 32], unusedBits: 0 }), TransportErrorCode.INTERNAL_ERROR);
});

test('writers refuse to write past the end of the buffer and leave it untouched', () => {
  const buf = new Uint8Array(16).fill(0xee);
  throwsCode(
    () => writeLongHeader(buf, 0, { type: 'initial', version: QUIC_V1, dcid: bytes(8), scid: bytes(0), packetNumber: 0, pnLength: 4 }),
    TransportErrorCode.INTERNAL_ERROR,
    /does not fit/,
  );
  throwsCode(() => writeShortHeader(buf, 10, { dcid: bytes(4), spinBit: 0, keyPhase: 0, packetNumber: 0, pnLength: 2 }), TransportErrorCode.INTERNAL_ERROR, /does not fit/);
  throwsCode(() => writeRetryWithoutTag(buf, 0, { version: QUIC_V1, dcid: bytes(4), scid: bytes(4), token: bytes(2) }), TransportErrorCode.INTERNAL_ERROR, /does not fit/);
  throwsCode(() => writeVersionNegotiation(buf, 0, { dcid: bytes(4), scid: bytes(4), supportedVersions: [1, 2], unusedBits: 0 }), TransportErrorCode.INTERNAL_ERROR, /does not fit/);
  assert.ok(buf.every((b) => b === 0xee));
});

test('the Length field is filled with exactly the reserved size, and a value too large for it is refused', () => {
  const buf = new Uint8Array(64);
  const l = writeLongHeader(buf, 0, { type: 'handshake', version: QUIC_V1, dcid: bytes(0), scid: bytes(0), packetNumber: 0, pnLength: 1, lengthFieldSize: 4 });
  assert.is(setLongHeaderLength(buf, l.lengthOffset, 4, 5), l.lengthOffset + 4);
  assert.is(toHex(buf.subarray(l.lengthOffset, l.lengthOffset + 4)), '80000005');
  const l1 = writeLongHeader(buf, 0, { type: 'handshake', version: QUIC_V1, dcid: bytes(0), scid: bytes(0), packetNumber: 0, pnLength: 1, lengthFieldSize: 1 });
  setLongHeaderLength(buf, l1.lengthOffset, 1, 63);
  throwsCode(() => setLongHeaderLength(buf, l1.lengthOffset, 1, 64), TransportErrorCode.INTERNAL_ERROR);
  throwsCode(() => setLongHeaderLength(buf, l1.lengthOffset, 2, 0x4000), TransportErrorCode.INTERNAL_ERROR);
});

test('greasing the Fixed Bit clears only 0x40 of the first byte', () => {
  const a = longPacket({ greaseFixedBit: false });
  const b = longPacket({ greaseFixedBit: true });
  assert.is(a[0] ^ b[0], 0x40);
  assert.is(toHex(a.subarray(1)), toHex(b.subarray(1)));
  const s1 = shortPacket(bytes(4), 5, false);
  const s2 = shortPacket(bytes(4), 5, true);
  assert.is(s1[0] ^ s2[0], 0x40);
});

test.run();
