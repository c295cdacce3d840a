// Packet protection against the sample packets of RFC 9001 Appendix A (QUIC v1) and RFC 9369
// Appendix A (QUIC v2), with every provider. The bytes are read from the RFC markdown sources in
// ../shared/rfc/ at test time, so they are the RFC's bytes and nothing pasted by hand.
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { hkdfLabel } from '../../src/crypto/hkdf.js';
import { initialSecrets } from '../../src/crypto/initial.js';
import { derivePacketKeys, initialKeys, nextGenerationKeys, writeNonce } from '../../src/crypto/keys.js';
import { openPacket, protectPacket, removeHeaderProtection } from '../../src/crypto/packet-protection.js';
import { retryIntegrityTag, verifyRetryIntegrityTag } from '../../src/crypto/retry.js';
import { QUIC_V1, QUIC_V2 } from '../../src/wire/version.js';
import { providers } from '../support/providers.js';

const RFC_DIR = new URL('../../../shared/rfc/', import.meta.url);
const toHex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const fromHex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));

/** The text of the appendix section `## title` (exact title, up to the next heading). */
function section(md: string, title: string): string {
  const appendix = md.slice(md.indexOf('\n# Sample Packet Protection'));
  const escaped = title.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const m = new RegExp(`^## ${escaped}(?: \\{[^}]*\\})?[ \\t]*$`, 'm').exec(appendix);
  if (!m) throw new Error(`no section ${title}`);
  const rest = appendix.slice(m.index + m[0].length);
  const next = rest.search(/^#{1,2} /m);
  return next < 0 ? rest : rest.slice(0, next);
}

/** The contents of the ~~~ code blocks of a section, in order. */
function codeBlocks(text: string): string[] {
  const out: string[] = [];
  const re = /^~~~[^\n]*\n([\s\S]*?)^~~~/gm;
  for (let m = re.exec(text); m; m = re.exec(text)) out.push(m[1]);
  return out;
}

/** A code block that is nothing but hex (whitespace-separated groups). */
function hexBlock(block: string): Uint8Array {
  const h = block.replace(/\s+/g, '');
  if (!/^([0-9a-f]{2})+$/.test(h)) throw new Error(`not a hex block: ${block.slice(0, 40)}`);
  return fromHex(h);
}

/**
 * The `name = … = hex` entries of a code block: an entry starts at column 0, continuation lines
 * are indented; the value is what follows the entry's last `=`.
 */
function entries(block: string): Map<string, string> {
  const out = new Map<string, string>();
  const lines = block.split('\n').filter((l) => l.trim() !== '');
  const groups: string[][] = [];
  for (const l of lines) {
    if (/^\S/.test(l)) groups.push([l]);
    else groups[groups.length - 1].push(l);
  }
  for (const g of groups) {
    const text = g.join(' ');
    const name = (g[0].includes('=') ? g[0].slice(0, g[0].indexOf('=')) : g[0]).trim();
    out.set(name, text.slice(text.lastIndexOf('=') + 1).replace(/\s+/g, ''));
  }
  return out;
}

function hexEntry(map: Map<string, string>, name: string): Uint8Array {
  const v = map.get(name);
  if (v === undefined || !/^([0-9a-f]{2})+$/.test(v)) throw new Error(`no hex entry ${name}`);
  return fromHex(v);
}

interface Vectors {
  labels: Map<string, Uint8Array>;
  initialSecret: Uint8Array;
  client: { secret: Uint8Array; key: Uint8Array; iv: Uint8Array; hp: Uint8Array };
  server: { secret: Uint8Array; key: Uint8Array; iv: Uint8Array; hp: Uint8Array };
  clientInitial: { payload: Uint8Array; header: Uint8Array; sample: Uint8Array; mask: Uint8Array; packet: Uint8Array };
  serverInitial: { payload: Uint8Array; header: Uint8Array; sample: Uint8Array; mask: Uint8Array; packet: Uint8Array };
  retry: Uint8Array;
  chacha: {
    secret: Uint8Array; key: Uint8Array; iv: Uint8Array; hp: Uint8Array; ku: Uint8Array;
    pn: number; nonce: Uint8Array; header: Uint8Array; plaintext: Uint8Array; ciphertext: Uint8Array;
    sample: Uint8Array; mask: Uint8Array; packet: Uint8Array;
  };
}

function loadVectors(file: string): Vectors {
  const md = readFileSync(new URL(file, RFC_DIR), 'utf8');
  const keys = section(md, 'Keys');
  const labels = new Map<string, Uint8Array>();
  const labelRe = /^(client in|server in|quic(?:v2)? (?:key|iv|hp)):\s*(?:\n:\s*)?([0-9a-f]+)\s*$/gm;
  for (let m = labelRe.exec(keys); m; m = labelRe.exec(keys)) labels.set(m[1], fromHex(m[2]));
  const [common, clientBlock, serverBlock] = codeBlocks(keys).map(entries);
  const secrets = (e: Map<string, string>, side: string) => ({
    secret: hexEntry(e, `${side}_initial_secret`),
    key: hexEntry(e, 'key'),
    iv: hexEntry(e, 'iv'),
    hp: hexEntry(e, 'hp'),
  });
  const initialPacket = (title: string) => {
    const [payload, header, steps, packet] = codeBlocks(section(md, title));
    const s = entries(steps);
    return { payload: hexBlock(payload), header: hexBlock(header), sample: hexEntry(s, 'sample'), mask: hexEntry(s, 'mask'), packet: hexBlock(packet) };
  };
  const [chachaKeys, chachaSteps, chachaHp, chachaPacket] = codeBlocks(section(md, 'ChaCha20-Poly1305 Short Header Packet')).map(entries);
  const pn = /^pn\s*=\s*(\d+)/m.exec(section(md, 'ChaCha20-Poly1305 Short Header Packet'));
  if (!pn) throw new Error('no pn in the ChaCha20 example');
  return {
    labels,
    initialSecret: hexEntry(common, 'initial_secret'),
    client: secrets(clientBlock, 'client'),
    server: secrets(serverBlock, 'server'),
    clientInitial: initialPacket('Client Initial'),
    serverInitial: initialPacket('Server Initial'),
    retry: hexBlock(codeBlocks(section(md, 'Retry'))[0]),
    chacha: {
      secret: hexEntry(chachaKeys, 'secret'),
      key: hexEntry(chachaKeys, 'key'),
      iv: hexEntry(chachaKeys, 'iv'),
      hp: hexEntry(chachaKeys, 'hp'),
      ku: hexEntry(chachaKeys, 'ku'),
      pn: Number(pn[1]),
      nonce: hexEntry(chachaSteps, 'nonce'),
      header: hexEntry(chachaSteps, 'unprotected header'),
      plaintext: hexEntry(chachaSteps, 'payload plaintext'),
      ciphertext: hexEntry(chachaSteps, 'payload ciphertext'),
      sample: hexEntry(chachaHp, 'sample'),
      mask: hexEntry(chachaHp, 'mask'),
      packet: hexEntry(chachaPacket, 'packet'),
    },
  };
}

const ODCID = fromHex('8394c8f03e515708');
const EMPTY = new Uint8Array(0);

const suites = [
  { rfc: 'RFC 9001', file: 'rfc9001.md', version: QUIC_V1, prefix: 'quic' },
  { rfc: 'RFC 9369', file: 'rfc9369.md', version: QUIC_V2, prefix: 'quicv2' },
] as const;

/** Builds an unprotected packet: header, then the payload padded with PADDING (0x00) to `payloadLength`, then room for the tag. */
function unprotectedPacket(header: Uint8Array, payload: Uint8Array, payloadLength: number): Uint8Array {
  const buf = new Uint8Array(header.length + payloadLength + 16);
  buf.set(header, 0);
  buf.set(payload, header.length);
  return buf;
}

for (const suite of suites) {
  const v = loadVectors(suite.file);
  const { version } = suite;

  test(`${suite.rfc} A.1: hkdfLabel builds the listed HkdfLabel structures`, () => {
    assert.is(v.labels.size, 5);
    assert.is(toHex(hkdfLabel('client in', EMPTY, 32)), toHex(v.labels.get('client in')!));
    assert.is(toHex(hkdfLabel('server in', EMPTY, 32)), toHex(v.labels.get('server in')!));
    assert.is(toHex(hkdfLabel(`${suite.prefix} key`, EMPTY, 16)), toHex(v.labels.get(`${suite.prefix} key`)!));
    assert.is(toHex(hkdfLabel(`${suite.prefix} iv`, EMPTY, 12)), toHex(v.labels.get(`${suite.prefix} iv`)!));
    assert.is(toHex(hkdfLabel(`${suite.prefix} hp`, EMPTY, 16)), toHex(v.labels.get(`${suite.prefix} hp`)!));
  });

  for (const p of providers) {
    const tag = `[${p.name}] ${suite.rfc}`;

    test(`${tag} A.1: initial secrets and the client and server key, iv and hp`, () => {
      const s = initialSecrets(p, version, ODCID);
      assert.is(toHex(s.initialSecret), toHex(v.initialSecret));
      assert.is(toHex(s.client), toHex(v.client.secret));
      assert.is(toHex(s.server), toHex(v.server.secret));
      const { send: client, receive: server } = initialKeys(p, version, ODCID, 'client');
      for (const [keys, want] of [[client, v.client], [server, v.server]] as const) {
        assert.is(toHex(keys.secret), toHex(want.secret));
        assert.is(toHex(keys.key), toHex(want.key));
        assert.is(toHex(keys.iv), toHex(want.iv));
        assert.is(toHex(keys.hpKey), toHex(want.hp));
        assert.is(keys.algorithm, 'aes-128-gcm');
        assert.is(keys.version, version);
      }
      const serverSide = initialKeys(p, version, ODCID, 'server');
      assert.is(toHex(serverSide.send.key), toHex(v.server.key));
      assert.is(toHex(serverSide.receive.key), toHex(v.client.key));
    });

    for (const [name, which, role] of [
      ['A.2: the client Initial', 'clientInitial', 'client'],
      ['A.3: the server Initial', 'serverInitial', 'server'],
    ] as const) {
      const pkt = v[which];
      const pnLength = (pkt.header[0] & 0x03) + 1;
      const pnOffset = pkt.header.length - pnLength;
      const pn = pkt.header.subarray(pnOffset).reduce((a, b) => a * 256 + b, 0);
      const payloadLength = pkt.packet.length - pkt.header.length - 16;

      test(`${tag} ${name}: the header-protection mask of the listed sample`, () => {
        const { send } = initialKeys(p, version, ODCID, role);
        const out = new Uint8Array(5);
        send.hp.mask(pkt.sample, 0, out, 0);
        assert.is(toHex(out), toHex(pkt.mask));
      });

      test(`${tag} ${name}: protecting the unprotected header and payload gives the protected packet byte for byte`, () => {
        const { send } = initialKeys(p, version, ODCID, role);
        const buf = unprotectedPacket(pkt.header, pkt.payload, payloadLength);
        const end = protectPacket(send, buf, 0, pnOffset, pnLength, pn, pkt.header.length + payloadLength);
        assert.is(end, pkt.packet.length);
        assert.is(toHex(buf), toHex(pkt.packet));
      });

      test(`${tag} ${name}: unprotecting the protected packet gives back the header, packet number and payload`, () => {
        const peer = initialKeys(p, version, ODCID, role === 'client' ? 'server' : 'client');
        const buf = pkt.packet.slice();
        const h = removeHeaderProtection(peer.receive.hp, buf, 0, pnOffset, buf.length, -1);
        assert.is(h.firstByte, pkt.header[0]);
        assert.is(h.pnLength, pnLength);
        assert.is(h.packetNumber, pn);
        const payloadEnd = openPacket(peer.receive, buf, 0, pnOffset, h.pnLength, h.packetNumber, buf.length);
        assert.is(payloadEnd, pkt.header.length + payloadLength);
        assert.is(toHex(buf.subarray(0, payloadEnd)), toHex(unprotectedPacket(pkt.header, pkt.payload, payloadLength).subarray(0, payloadEnd)));
      });
    }

    test(`${tag} A.4: the Retry integrity tag is the packet's last 16 bytes and verifies`, () => {
      const body = v.retry.subarray(0, v.retry.length - 16);
      assert.is(toHex(retryIntegrityTag(p, version, ODCID, body)), toHex(v.retry.subarray(v.retry.length - 16)));
      assert.ok(verifyRetryIntegrityTag(p, version, ODCID, v.retry));
      // The other version's key and nonce do not verify it.
      assert.not.ok(verifyRetryIntegrityTag(p, version === QUIC_V1 ? QUIC_V2 : QUIC_V1, ODCID, v.retry));
    });

    test(`${tag} A.5: ChaCha20-Poly1305 key, iv, hp and nonce from the application secret`, () => {
      const keys = derivePacketKeys(p, version, 'chacha20-poly1305', 'sha256', v.chacha.secret);
      assert.is(toHex(keys.key), toHex(v.chacha.key));
      assert.is(toHex(keys.iv), toHex(v.chacha.iv));
      assert.is(toHex(keys.hpKey), toHex(v.chacha.hp));
      assert.is(toHex(writeNonce(keys.iv, v.chacha.pn, new Uint8Array(12))), toHex(v.chacha.nonce));
      const out = new Uint8Array(5);
      keys.hp.mask(v.chacha.sample, 0, out, 0);
      assert.is(toHex(out), toHex(v.chacha.mask));
    });

    test(`${tag} A.5: protecting the PING packet gives the 21-byte protected short-header packet`, () => {
      const keys = derivePacketKeys(p, version, 'chacha20-poly1305', 'sha256', v.chacha.secret);
      const { header, plaintext } = v.chacha;
      const buf = unprotectedPacket(header, plaintext, plaintext.length);
      const pnLength = (header[0] & 0x03) + 1;
      const end = protectPacket(keys, buf, 0, header.length - pnLength, pnLength, v.chacha.pn, header.length + plaintext.length);
      assert.is(end, v.chacha.packet.length);
      assert.is(toHex(buf.subarray(header.length)), toHex(v.chacha.ciphertext));
      assert.is(toHex(buf), toHex(v.chacha.packet));
    });

    test(`${tag} A.5: unprotecting the short-header packet recovers packet number ${v.chacha.pn} and the PING frame`, () => {
      const keys = derivePacketKeys(p, version, 'chacha20-poly1305', 'sha256', v.chacha.secret);
      const buf = v.chacha.packet.slice();
      // Empty Destination Connection ID: the packet number starts right after the first byte.
      const h = removeHeaderProtection(keys.hp, buf, 0, 1, buf.length, v.chacha.pn - 1);
      assert.is(h.firstByte, v.chacha.header[0]);
      assert.is(h.pnLength, 3);
      assert.is(h.packetNumber, v.chacha.pn);
      const payloadEnd = openPacket(keys, buf, 0, 1, h.pnLength, h.packetNumber, buf.length);
      assert.is(toHex(buf.subarray(0, payloadEnd)), toHex(new Uint8Array([...v.chacha.header, ...v.chacha.plaintext])));
    });

    test(`${tag} A.5 key update: the next generation's secret is the listed "${suite.prefix} ku" value and keeps the hp key`, () => {
      const keys = derivePacketKeys(p, version, 'chacha20-poly1305', 'sha256', v.chacha.secret);
      const next = nextGenerationKeys(p, keys);
      assert.is(toHex(next.secret), toHex(v.chacha.ku));
      // RFC 9001 §6.1: key and IV come from the new secret; the header-protection key is not updated.
      const fromKu = derivePacketKeys(p, version, 'chacha20-poly1305', 'sha256', v.chacha.ku);
      assert.is(toHex(next.key), toHex(fromKu.key));
      assert.is(toHex(next.iv), toHex(fromKu.iv));
      assert.is(toHex(next.hpKey), toHex(v.chacha.hp));
      assert.is(next.hp, keys.hp);
      assert.is.not(toHex(next.key), toHex(keys.key));
    });
  }
}

test.run();
