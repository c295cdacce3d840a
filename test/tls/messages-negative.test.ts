/**
 * What the handshake codec refuses, and with which alert: truncation and trailing garbage
 * (decode_error), the RFC 8446 §4.2 extension-block rules (illegal_parameter,
 * unsupported_extension), fixed-value fields, messages QUIC forbids, oversized messages, and the
 * RFC 9001 checks.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import {
  certificate,
  clientHello,
  concat,
  extensionBlock,
  handshake,
  helloRetryRequest,
  messagesBySender,
  serverHello,
  vec,
} from '../support/tls-arbitraries.js';
import { isTlsAlertError, TlsAlert } from '../../src/tls/alerts.js';
import { ExtensionType, HELLO_RETRY_REQUEST_RANDOM, HandshakeType, isGrease16 } from '../../src/tls/constants.js';
import {
  checkSolicitedExtensions,
  EXTENSION_ALLOWED_IN,
  extensionAllowedIn,
  type ExtensionContext,
} from '../../src/tls/extensions.js';
import {
  checkQuicClientHello,
  checkQuicEncryptedExtensions,
  checkQuicNewSessionTicket,
  clientHelloExtensionTypes,
  decodeHandshakeMessage,
  encodeHandshakeMessage,
  HandshakeReader,
  type ClientHello,
  type DecodeOptions,
  type HandshakeMessage,
} from '../../src/tls/messages.js';
import { isQuicError, TransportErrorCode } from '../../src/wire/errors.js';

const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const fromHex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

function expectAlert(fn: () => unknown, alert: number, what: string): void {
  try {
    fn();
  } catch (e) {
    assert.ok(isTlsAlertError(e, alert), `${what}: expected alert ${alert}, got ${String(e)}`);
    return;
  }
  assert.unreachable(`${what}: accepted`);
}

const asServer: DecodeOptions = { sender: 'server' };
const asClient: DecodeOptions = { sender: 'client' };

// ---------------------------------------------------------------------------------------------
// Hand-built messages

const x25519Share = new Uint8Array(32).fill(9);
const u16 = (v: number): number[] => [v >> 8, v & 0xff];

/** A TLS 1.3 ClientHello body with the given extension block. */
function chBody(block: Uint8Array, opts: { version?: number; sessionId?: Uint8Array; compression?: number[] } = {}): Uint8Array {
  return concat(
    u16(opts.version ?? 0x0303),
    new Uint8Array(32).fill(1),
    vec(1, opts.sessionId ?? new Uint8Array(0)),
    vec(2, [0x13, 0x01]),
    vec(1, opts.compression ?? [0]),
    block,
  );
}

/** The extensions of a minimal valid TLS 1.3 ClientHello. */
const baseChExts: Array<readonly [number, Uint8Array | number[]]> = [
  [ExtensionType.supported_versions, vec(1, u16(0x0304))],
  [ExtensionType.supported_groups, vec(2, u16(0x001d))],
  [ExtensionType.key_share, vec(2, concat(u16(0x001d), vec(2, x25519Share)))],
  [ExtensionType.signature_algorithms, vec(2, u16(0x0804))],
  [ExtensionType.quic_transport_parameters, []],
];
const ch = (exts = baseChExts, opts?: Parameters<typeof chBody>[1]): Uint8Array => handshake(HandshakeType.client_hello, chBody(extensionBlock(exts), opts));

function shBody(block: Uint8Array, opts: { random?: Uint8Array; suite?: number; compression?: number; version?: number } = {}): Uint8Array {
  return concat(u16(opts.version ?? 0x0303), opts.random ?? new Uint8Array(32).fill(2), vec(1, []), u16(opts.suite ?? 0x1301), [opts.compression ?? 0], block);
}
const baseShExts: Array<readonly [number, Uint8Array | number[]]> = [
  [ExtensionType.supported_versions, u16(0x0304)],
  [ExtensionType.key_share, concat(u16(0x001d), vec(2, x25519Share))],
];
const sh = (exts = baseShExts, opts?: Parameters<typeof shBody>[1]): Uint8Array => handshake(HandshakeType.server_hello, shBody(extensionBlock(exts), opts));
const hrr = (exts: Array<readonly [number, Uint8Array | number[]]>): Uint8Array =>
  handshake(HandshakeType.server_hello, shBody(extensionBlock(exts), { random: HELLO_RETRY_REQUEST_RANDOM }));
const ee = (exts: Array<readonly [number, Uint8Array | number[]]>): Uint8Array => handshake(HandshakeType.encrypted_extensions, extensionBlock(exts));
const cr = (exts: Array<readonly [number, Uint8Array | number[]]>): Uint8Array => handshake(HandshakeType.certificate_request, concat(vec(1, []), extensionBlock(exts)));
const certWith = (exts: Array<readonly [number, Uint8Array | number[]]>): Uint8Array =>
  handshake(HandshakeType.certificate, concat(vec(1, []), vec(3, concat(vec(3, [0x30, 0x00]), extensionBlock(exts)))));
const nst = (exts: Array<readonly [number, Uint8Array | number[]]>): Uint8Array =>
  handshake(HandshakeType.new_session_ticket, concat([0, 0, 0, 60], [1, 2, 3, 4], vec(1, [0]), vec(2, [7, 7, 7]), extensionBlock(exts)));

test('the hand-built base messages are valid (so each negative test changes one thing)', () => {
  for (const [raw, opts] of [
    [ch(), asClient],
    [sh(), asServer],
    [hrr([[ExtensionType.supported_versions, u16(0x0304)]]), asServer],
    [ee([]), asServer],
    [cr([[ExtensionType.signature_algorithms, vec(2, u16(0x0804))]]), asServer],
    [certWith([]), asServer],
    [nst([]), asServer],
  ] as const) {
    decodeHandshakeMessage(raw, opts);
  }
});

// ---------------------------------------------------------------------------------------------
// Truncation and trailing bytes

/** Rewrites the uint24 length of a whole message for a body cut to `bodyLength`. */
function cutBody(raw: Uint8Array, bodyLength: number): Uint8Array {
  const out = raw.slice(0, 4 + bodyLength);
  out[1] = bodyLength >> 16;
  out[2] = (bodyLength >> 8) & 0xff;
  out[3] = bodyLength & 0xff;
  return out;
}

/** Offset of a ClientHello's / ServerHello's extension block in the body (where a legacy, extension-less form ends). */
function helloFixedPartLength(m: HandshakeMessage, raw: Uint8Array): number | undefined {
  if (m.kind === 'client_hello') {
    const body = raw.subarray(4);
    let pos = 2 + 32;
    pos += 1 + body[pos];
    pos += 2 + ((body[pos] << 8) | body[pos + 1]);
    pos += 1 + body[pos];
    return pos;
  }
  if (m.kind === 'server_hello' || m.kind === 'hello_retry_request') return 2 + 32 + 1 + m.legacySessionIdEcho.length + 2 + 1;
  return undefined;
}

for (const { name, sender, arb } of messagesBySender) {
  test(`${name}: every truncated body is a decode_error`, () => {
    fc.assert(
      fc.property(arb, (m) => {
        const raw = encodeHandshakeMessage(m);
        const fixed = helloFixedPartLength(m, raw);
        for (let len = 0; len < raw.length - 4; len++) {
          const cut = cutBody(raw, len);
          if (len === fixed) {
            // RFC 8446 §4.1.2: a ClientHello may end after legacy_compression_methods (pre-TLS 1.2
            // form): it decodes, with no extensions. A ServerHello ending there negotiates TLS 1.2
            // (protocol_version, RFC 9001 §4.2); a HelloRetryRequest lacks supported_versions.
            if (m.kind === 'client_hello') {
              const d = decodeHandshakeMessage(cut, { sender });
              assert.ok(d.kind === 'client_hello' && d.extensions.length === 0);
            } else {
              expectAlert(() => decodeHandshakeMessage(cut, { sender }), m.kind === 'server_hello' ? TlsAlert.protocol_version : TlsAlert.missing_extension, `${name} without extensions`);
            }
            continue;
          }
          expectAlert(() => decodeHandshakeMessage(cut, { sender, hashLength: m.kind === 'finished' ? m.verifyData.length : undefined }), TlsAlert.decode_error, `${name} cut to ${len}`);
        }
        // The raw bytes cut without fixing the header: the length no longer matches.
        expectAlert(() => decodeHandshakeMessage(raw.subarray(0, raw.length - 1), { sender }), TlsAlert.decode_error, `${name} header mismatch`);
      }),
      { numRuns: 25 },
    );
  });

  test(`${name}: trailing bytes after the message are a decode_error`, () => {
    fc.assert(
      fc.property(arb, fc.uint8Array({ minLength: 1, maxLength: 8 }), (m, extra) => {
        const raw = encodeHandshakeMessage(m);
        const longer = cutBody(concat(raw, extra), raw.length - 4 + extra.length);
        expectAlert(() => decodeHandshakeMessage(longer, { sender, hashLength: m.kind === 'finished' ? m.verifyData.length : undefined }), TlsAlert.decode_error, name);
      }),
      { numRuns: 100 },
    );
  });
}

test('garbage: length fields of 0xff everywhere are a decode_error, not a RangeError', () => {
  const filler = (n: number) => new Uint8Array(n).fill(0xff);
  for (const n of [0, 1, 2, 3, 33, 40, 100]) {
    expectAlert(() => decodeHandshakeMessage(handshake(1, concat([3, 3], filler(n))), asClient), TlsAlert.decode_error, `ClientHello +${n}`);
    expectAlert(() => decodeHandshakeMessage(handshake(2, concat([3, 3], filler(n))), asServer), TlsAlert.decode_error, `ServerHello +${n}`);
    expectAlert(() => decodeHandshakeMessage(handshake(8, filler(n)), asServer), TlsAlert.decode_error, `EncryptedExtensions ${n}`);
    expectAlert(() => decodeHandshakeMessage(handshake(13, filler(n)), asServer), TlsAlert.decode_error, `CertificateRequest ${n}`);
    expectAlert(() => decodeHandshakeMessage(handshake(11, filler(n)), asServer), TlsAlert.decode_error, `Certificate ${n}`);
    expectAlert(() => decodeHandshakeMessage(handshake(15, concat([4, 3], filler(n))), asServer), TlsAlert.decode_error, `CertificateVerify ${n}`);
    expectAlert(() => decodeHandshakeMessage(handshake(4, filler(n + 8)), asServer), TlsAlert.decode_error, `NewSessionTicket ${n}`);
    if (n !== 32) expectAlert(() => decodeHandshakeMessage(handshake(20, filler(n)), { sender: 'server', hashLength: 32 }), TlsAlert.decode_error, `Finished ${n}`);
  }
  expectAlert(() => decodeHandshakeMessage(new Uint8Array(0), asClient), TlsAlert.decode_error, 'empty input');
  expectAlert(() => decodeHandshakeMessage(Uint8Array.from([1, 0]), asClient), TlsAlert.decode_error, 'half a header');
});

test('an extension body with data after its structure is a decode_error (RFC 8446 §4.2)', () => {
  const cases: Array<[string, Uint8Array, DecodeOptions]> = [
    ['supported_versions', ch([[ExtensionType.supported_versions, concat(vec(1, u16(0x0304)), [0])], ...baseChExts.slice(1)]), asClient],
    ['server_name', ch([...baseChExts, [ExtensionType.server_name, concat(vec(2, concat([0], vec(2, [0x61]))), [0])]]), asClient],
    ['early_data', ch([...baseChExts, [ExtensionType.early_data, [0]]]), asClient],
    ['cookie', ch([...baseChExts, [ExtensionType.cookie, concat(vec(2, [1]), [0])]]), asClient],
    ['selected version', sh([[ExtensionType.supported_versions, [3, 4, 0]]]), asServer],
    ['server key share', sh([[ExtensionType.key_share, concat(u16(0x001d), vec(2, x25519Share), [0])]]), asServer],
    ['HRR selected group', hrr([[ExtensionType.key_share, [0, 0x17, 0]]]), asServer],
    ['server_name in EE', ee([[ExtensionType.server_name, [0]]]), asServer],
    ['early_data in NST', nst([[ExtensionType.early_data, [0, 0, 0, 1, 0]]]), asServer],
    ['short early_data in NST', nst([[ExtensionType.early_data, [0, 0, 1]]]), asServer],
  ];
  for (const [what, raw, opts] of cases) expectAlert(() => decodeHandshakeMessage(raw, opts), TlsAlert.decode_error, what);
});

// ---------------------------------------------------------------------------------------------
// Extension block rules

test('a duplicate extension is illegal_parameter in every message (RFC 8446 §4.2)', () => {
  const dup = (type: number, data: number[] | Uint8Array): Array<readonly [number, Uint8Array | number[]]> => [
    [type, data],
    [type, data],
  ];
  expectAlert(() => decodeHandshakeMessage(ch([...baseChExts, ...dup(0x7777, [])]), asClient), TlsAlert.illegal_parameter, 'CH unknown');
  expectAlert(() => decodeHandshakeMessage(ch([...baseChExts, ...dup(ExtensionType.early_data, [])]), asClient), TlsAlert.illegal_parameter, 'CH early_data');
  expectAlert(() => decodeHandshakeMessage(ch([...baseChExts, ...dup(0x1a1a, [])]), asClient), TlsAlert.illegal_parameter, 'CH GREASE');
  expectAlert(() => decodeHandshakeMessage(sh([...baseShExts, ...dup(0x7777, [1])]), asServer), TlsAlert.illegal_parameter, 'SH');
  expectAlert(() => decodeHandshakeMessage(sh([baseShExts[0], ...baseShExts]), asServer), TlsAlert.illegal_parameter, 'SH supported_versions');
  expectAlert(() => decodeHandshakeMessage(hrr(dup(ExtensionType.cookie, vec(2, [1]))), asServer), TlsAlert.illegal_parameter, 'HRR cookie');
  expectAlert(() => decodeHandshakeMessage(ee(dup(ExtensionType.quic_transport_parameters, [])), asServer), TlsAlert.illegal_parameter, 'EE');
  expectAlert(() => decodeHandshakeMessage(cr([[ExtensionType.signature_algorithms, vec(2, u16(0x0804))], ...dup(0x7777, [])]), asServer), TlsAlert.illegal_parameter, 'CR');
  expectAlert(() => decodeHandshakeMessage(certWith(dup(ExtensionType.status_request, [])), asServer), TlsAlert.illegal_parameter, 'CT');
  expectAlert(() => decodeHandshakeMessage(nst(dup(0x2a2a, [])), asServer), TlsAlert.illegal_parameter, 'NST');
});

const CONTEXTS: Array<[ExtensionContext, (type: number) => Uint8Array, DecodeOptions]> = [
  ['client_hello', (t) => ch([...baseChExts.filter(([bt]) => bt !== t), [t, []]]), asClient],
  ['server_hello', (t) => sh([...baseShExts.filter(([bt]) => bt !== t), [t, []]]), asServer],
  ['hello_retry_request', (t) => hrr(t === ExtensionType.supported_versions ? [[t, []]] : [[ExtensionType.supported_versions, u16(0x0304)], [t, []]]), asServer],
  ['encrypted_extensions', (t) => ee([[t, []]]), asServer],
  ['certificate_request', (t) => cr(t === ExtensionType.signature_algorithms ? [[t, []]] : [[ExtensionType.signature_algorithms, vec(2, u16(0x0804))], [t, []]]), asServer],
  ['certificate', (t) => certWith([[t, []]]), asServer],
  ['new_session_ticket', (t) => nst([[t, []]]), asServer],
];

test('every recognized extension in a message the RFC 8446 §4.2 table does not allow is illegal_parameter', () => {
  let checked = 0;
  for (const type of EXTENSION_ALLOWED_IN.keys()) {
    for (const [context, build, opts] of CONTEXTS) {
      if (extensionAllowedIn(type, context)) continue;
      expectAlert(() => decodeHandshakeMessage(build(type), opts), TlsAlert.illegal_parameter, `type ${type} in ${context}`);
      checked++;
    }
  }
  assert.ok(checked > 150, `${checked} combinations`);
  // Spot checks straight from the table.
  assert.not.ok(extensionAllowedIn(ExtensionType.server_name, 'server_hello'));
  assert.not.ok(extensionAllowedIn(ExtensionType.key_share, 'encrypted_extensions'));
  assert.not.ok(extensionAllowedIn(ExtensionType.quic_transport_parameters, 'new_session_ticket'));
  assert.ok(extensionAllowedIn(ExtensionType.quic_transport_parameters, 'encrypted_extensions'));
  assert.ok(extensionAllowedIn(ExtensionType.cookie, 'hello_retry_request'));
  assert.ok(extensionAllowedIn(0x7777, 'server_hello'), 'unknown types are not restricted by the table');
});

test('GREASE extensions are tolerated in ClientHello, CertificateRequest and NewSessionTicket but refused in server responses (RFC 8701 §3)', () => {
  const g = 0x5a5a;
  decodeHandshakeMessage(ch([...baseChExts, [g, [1, 2]]]), asClient);
  decodeHandshakeMessage(cr([[ExtensionType.signature_algorithms, vec(2, u16(0x0804))], [g, []]]), asServer);
  decodeHandshakeMessage(nst([[g, []]]), asServer);
  expectAlert(() => decodeHandshakeMessage(sh([...baseShExts, [g, []]]), asServer), TlsAlert.unsupported_extension, 'SH');
  expectAlert(() => decodeHandshakeMessage(hrr([[ExtensionType.supported_versions, u16(0x0304)], [g, []]]), asServer), TlsAlert.unsupported_extension, 'HRR');
  expectAlert(() => decodeHandshakeMessage(ee([[g, []]]), asServer), TlsAlert.unsupported_extension, 'EE');
  expectAlert(() => decodeHandshakeMessage(certWith([[g, []]]), asServer), TlsAlert.unsupported_extension, 'CT');
});

test('GREASE values inside ClientHello lists decode like any other value', () => {
  const raw = ch([
    [0x0a0a, []],
    [ExtensionType.supported_versions, vec(1, [...u16(0x3a3a), ...u16(0x0304)])],
    [ExtensionType.supported_groups, vec(2, [...u16(0x4a4a), ...u16(0x001d)])],
    [ExtensionType.key_share, vec(2, concat(u16(0x4a4a), vec(2, [0]), u16(0x001d), vec(2, x25519Share)))],
    [ExtensionType.signature_algorithms, vec(2, [...u16(0x6a6a), ...u16(0x0804)])],
    [ExtensionType.application_layer_protocol_negotiation, vec(2, concat(vec(1, [0x7a, 0x7a]), vec(1, [0x68, 0x33])))],
    [ExtensionType.psk_key_exchange_modes, vec(1, [0x2a, 1])],
  ]);
  const m = decodeHandshakeMessage(concat(raw.subarray(0, 1), raw.subarray(1)), asClient) as ClientHello;
  assert.equal(m.extensions.map((e) => e.kind), ['raw', 'supported_versions', 'supported_groups', 'key_share', 'signature_algorithms', 'alpn', 'psk_key_exchange_modes']);
  assert.is(toHex(encodeHandshakeMessage(m)), toHex(raw));
});

test('pre_shared_key that is not the last ClientHello extension is illegal_parameter (RFC 8446 §4.2.11)', () => {
  const psk = vec(2, concat(u16(5), [1, 2, 3, 4, 5], [0, 0, 0, 0])); // one identity
  const offered = concat(psk, vec(2, vec(1, new Uint8Array(32))));
  const modes: readonly [number, Uint8Array] = [ExtensionType.psk_key_exchange_modes, vec(1, [1])];
  decodeHandshakeMessage(ch([...baseChExts, modes, [ExtensionType.pre_shared_key, offered]]), asClient);
  expectAlert(() => decodeHandshakeMessage(ch([...baseChExts, [ExtensionType.pre_shared_key, offered], modes]), asClient), TlsAlert.illegal_parameter, 'psk first');
});

test('semantically invalid extension values are illegal_parameter', () => {
  const cases: Array<[string, Uint8Array, DecodeOptions]> = [
    ['duplicate supported group (RFC 8446 §4.2.7)', ch([baseChExts[0], [ExtensionType.supported_groups, vec(2, [0, 0x1d, 0, 0x1d])], ...baseChExts.slice(2)]), asClient],
    ['two key shares for one group (RFC 8446 §4.2.8)', ch([baseChExts[0], baseChExts[1], [ExtensionType.key_share, vec(2, concat(u16(0x1d), vec(2, x25519Share), u16(0x1d), vec(2, x25519Share)))], ...baseChExts.slice(3)]), asClient],
    ['x25519 share of 31 bytes (RFC 8446 §4.2.8.2)', ch([baseChExts[0], baseChExts[1], [ExtensionType.key_share, vec(2, concat(u16(0x1d), vec(2, new Uint8Array(31))))], ...baseChExts.slice(3)]), asClient],
    ['key share for an unlisted group (RFC 8446 §4.2.8)', ch([baseChExts[0], [ExtensionType.supported_groups, vec(2, u16(0x17))], ...baseChExts.slice(2)]), asClient],
    ['two host_names (RFC 6066 §3)', ch([...baseChExts, [ExtensionType.server_name, vec(2, concat([0], vec(2, [0x61]), [0], vec(2, [0x62])))]]), asClient],
    ['non-ASCII host_name (RFC 6066 §3)', ch([...baseChExts, [ExtensionType.server_name, vec(2, concat([0], vec(2, [0x61, 0xc3, 0xa9])))]]), asClient],
    ['identities without binders (RFC 8446 §4.2.11)', ch([...baseChExts, [ExtensionType.psk_key_exchange_modes, vec(1, [1])], [ExtensionType.pre_shared_key, concat(vec(2, concat(vec(2, [1, 2, 3]), [0, 0, 0, 0], vec(2, [4, 5, 6]), [0, 0, 0, 0])), vec(2, vec(1, new Uint8Array(32))))]]), asClient],
    ['selected version TLS 1.2 (RFC 8446 §4.2.1)', sh([[ExtensionType.supported_versions, u16(0x0303)]]), asServer],
    ['selected GREASE version (RFC 8701 §3)', sh([[ExtensionType.supported_versions, u16(0x1a1a)]]), asServer],
    ['server share in a GREASE group (RFC 8701 §3)', sh([baseShExts[0], [ExtensionType.key_share, concat(u16(0x2a2a), vec(2, [1]))]]), asServer],
    ['server x25519 share of 33 bytes', sh([baseShExts[0], [ExtensionType.key_share, concat(u16(0x1d), vec(2, new Uint8Array(33)))]]), asServer],
    ['HRR selecting a GREASE group (RFC 8701 §3)', hrr([[ExtensionType.supported_versions, u16(0x0304)], [ExtensionType.key_share, u16(0x3a3a)]]), asServer],
    ['server selecting a GREASE ALPN protocol (RFC 8701 §3)', ee([[ExtensionType.application_layer_protocol_negotiation, vec(2, vec(1, [0x8a, 0x8a]))]]), asServer],
    ['CertificateVerify with a GREASE scheme (RFC 8701 §3)', handshake(HandshakeType.certificate_verify, concat(u16(0x0a0a), vec(2, [1]))), asServer],
    ['ServerHello with a GREASE cipher suite (RFC 8701 §3)', sh(baseShExts, { suite: 0xfafa }), asServer],
    ['ClientHello compression methods [1] (RFC 8446 §4.1.2)', ch(baseChExts, { compression: [1] }), asClient],
    ['ClientHello compression methods [0, 1] (RFC 8446 §4.1.2)', ch(baseChExts, { compression: [0, 1] }), asClient],
    ['ServerHello compression method 1 (RFC 8446 §4.1.3)', sh(baseShExts, { compression: 1 }), asServer],
    [
      'TLS 1.2 ServerHello with the downgrade sentinel (RFC 8446 §4.1.3)',
      handshake(HandshakeType.server_hello, shBody(extensionBlock([]), { random: concat(new Uint8Array(24), fromHex('444f574e47524401')) })),
      asServer,
    ],
  ];
  for (const [what, raw, opts] of cases) expectAlert(() => decodeHandshakeMessage(raw, opts), TlsAlert.illegal_parameter, what);
});

test('structural violations inside extensions are decode_error', () => {
  const cases: Array<[string, Uint8Array, DecodeOptions]> = [
    ['ALPN with two protocols in EncryptedExtensions (RFC 7301 §3.1)', ee([[ExtensionType.application_layer_protocol_negotiation, vec(2, concat(vec(1, [0x68, 0x33]), vec(1, [0x68, 0x32])))]]), asServer],
    ['empty ALPN protocol name', ch([...baseChExts, [ExtensionType.application_layer_protocol_negotiation, vec(2, concat(vec(1, []), vec(1, [0x68])))]]), asClient],
    ['odd-length supported_groups', ch([baseChExts[0], [ExtensionType.supported_groups, vec(2, [0, 0x1d, 0])], ...baseChExts.slice(2)]), asClient],
    ['empty supported_versions list', ch([[ExtensionType.supported_versions, vec(1, [])], ...baseChExts.slice(1)]), asClient],
    ['binder of 31 bytes', ch([...baseChExts, [ExtensionType.psk_key_exchange_modes, vec(1, [1])], [ExtensionType.pre_shared_key, concat(vec(2, concat(vec(2, [1, 2, 3]), [0, 0, 0, 0])), vec(2, vec(1, new Uint8Array(31))))]]), asClient],
    ['empty cookie', ch([...baseChExts, [ExtensionType.cookie, vec(2, [])]]), asClient],
    ['empty psk_key_exchange_modes', ch([...baseChExts, [ExtensionType.psk_key_exchange_modes, vec(1, [])]]), asClient],
    ['legacy_session_id of 33 bytes', ch(baseChExts, { sessionId: new Uint8Array(33) }), asClient],
    ['empty server Certificate (RFC 8446 §4.4.2.4)', handshake(HandshakeType.certificate, concat(vec(1, []), vec(3, []))), asServer],
    ['empty cert_data', handshake(HandshakeType.certificate, concat(vec(1, []), vec(3, concat(vec(3, []), vec(2, []))))), asServer],
    ['Finished of 31 bytes', handshake(HandshakeType.finished, new Uint8Array(31)), { sender: 'server', hashLength: 32 }],
    ['Finished of 48 bytes with SHA-256', handshake(HandshakeType.finished, new Uint8Array(48)), { sender: 'server', hashLength: 32 }],
    ['empty ticket', handshake(HandshakeType.new_session_ticket, concat(new Uint8Array(8), vec(1, []), vec(2, []), vec(2, []))), asServer],
  ];
  for (const [what, raw, opts] of cases) expectAlert(() => decodeHandshakeMessage(raw, opts), TlsAlert.decode_error, what);
  // A client may answer a CertificateRequest with no certificate (RFC 8446 §4.4.2).
  decodeHandshakeMessage(handshake(HandshakeType.certificate, concat(vec(1, [5]), vec(3, []))), asClient);
});

test('legacy_version other than 0x0303 is protocol_version (RFC 9846 §4.1.2, §4.1.3)', () => {
  expectAlert(() => decodeHandshakeMessage(ch(baseChExts, { version: 0x0304 }), asClient), TlsAlert.protocol_version, 'ClientHello 0x0304');
  expectAlert(() => decodeHandshakeMessage(ch(baseChExts, { version: 0x0301 }), asClient), TlsAlert.protocol_version, 'ClientHello 0x0301');
  expectAlert(() => decodeHandshakeMessage(sh(baseShExts, { version: 0x0302 }), asServer), TlsAlert.protocol_version, 'ServerHello 0x0302');
});

test('a TLS 1.3 ClientHello missing what RFC 8446 §9.2 requires is missing_extension', () => {
  const without = (...types: number[]) => baseChExts.filter(([t]) => !types.includes(t));
  expectAlert(() => decodeHandshakeMessage(ch(without(ExtensionType.signature_algorithms)), asClient), TlsAlert.missing_extension, 'no signature_algorithms');
  expectAlert(() => decodeHandshakeMessage(ch(without(ExtensionType.supported_groups, ExtensionType.key_share)), asClient), TlsAlert.missing_extension, 'no supported_groups');
  expectAlert(() => decodeHandshakeMessage(ch(without(ExtensionType.key_share)), asClient), TlsAlert.missing_extension, 'groups without key_share');
  expectAlert(() => decodeHandshakeMessage(ch(without(ExtensionType.supported_groups)), asClient), TlsAlert.missing_extension, 'key_share without groups');
  const offered = concat(vec(2, concat(vec(2, [1]), [0, 0, 0, 0])), vec(2, vec(1, new Uint8Array(32))));
  expectAlert(() => decodeHandshakeMessage(ch([...baseChExts, [ExtensionType.pre_shared_key, offered]]), asClient), TlsAlert.missing_extension, 'psk without modes');
  // A PSK-only ClientHello needs neither signature_algorithms nor groups.
  decodeHandshakeMessage(ch([baseChExts[0], [ExtensionType.psk_key_exchange_modes, vec(1, [0])], [ExtensionType.pre_shared_key, offered]]), asClient);
  // Not offering TLS 1.3: the §9.2 rules do not apply (the handshake refuses the version instead).
  decodeHandshakeMessage(ch([[ExtensionType.supported_versions, vec(1, u16(0x0303))]]), asClient);
  decodeHandshakeMessage(handshake(1, chBody(new Uint8Array(0))), asClient);
});

test('a ServerHello negotiating TLS 1.2 is protocol_version (RFC 9001 §4.2); a HelloRetryRequest without supported_versions is missing_extension (RFC 8446 §4.1.4)', () => {
  expectAlert(() => decodeHandshakeMessage(sh([baseShExts[1]]), asServer), TlsAlert.protocol_version, 'SH without supported_versions');
  expectAlert(() => decodeHandshakeMessage(handshake(HandshakeType.server_hello, shBody(new Uint8Array(0))), asServer), TlsAlert.protocol_version, 'SH without extensions');
  expectAlert(() => decodeHandshakeMessage(hrr([[ExtensionType.key_share, u16(0x17)]]), asServer), TlsAlert.missing_extension, 'HRR without supported_versions');
});

test('a CertificateRequest without signature_algorithms is missing_extension (RFC 8446 §4.3.2)', () => {
  expectAlert(() => decodeHandshakeMessage(cr([[ExtensionType.signature_algorithms_cert, vec(2, u16(0x0804))]]), asServer), TlsAlert.missing_extension, 'CR');
});

// ---------------------------------------------------------------------------------------------
// Message types

test('KeyUpdate is refused with unexpected_message, i.e. QUIC error 0x010a (RFC 9001 §6)', () => {
  for (const opts of [asClient, asServer]) {
    for (const body of [[0], [1], [2], []]) {
      try {
        decodeHandshakeMessage(handshake(HandshakeType.key_update, Uint8Array.from(body)), opts);
        assert.unreachable('accepted');
      } catch (e) {
        assert.ok(isTlsAlertError(e, TlsAlert.unexpected_message));
        assert.ok(isQuicError(e, 0x010a), String(e));
      }
    }
  }
});

test('EndOfEarlyData, message_hash and unknown types are unexpected_message (RFC 9001 §8.3, RFC 8446 §4)', () => {
  for (const opts of [asClient, asServer]) {
    expectAlert(() => decodeHandshakeMessage(handshake(HandshakeType.end_of_early_data, new Uint8Array(0)), opts), TlsAlert.unexpected_message, 'EOED');
    expectAlert(() => decodeHandshakeMessage(handshake(HandshakeType.message_hash, new Uint8Array(32)), opts), TlsAlert.unexpected_message, 'message_hash');
    for (const t of [0, 3, 12, 14, 16, 21, 22, 25, 99, 255]) expectAlert(() => decodeHandshakeMessage(handshake(t, new Uint8Array(4)), opts), TlsAlert.unexpected_message, `type ${t}`);
  }
});

test('a message its sender never sends is unexpected_message', () => {
  expectAlert(() => decodeHandshakeMessage(ch(), asServer), TlsAlert.unexpected_message, 'ClientHello from a server');
  expectAlert(() => decodeHandshakeMessage(sh(), asClient), TlsAlert.unexpected_message, 'ServerHello from a client');
  expectAlert(() => decodeHandshakeMessage(ee([]), asClient), TlsAlert.unexpected_message, 'EE from a client');
  expectAlert(() => decodeHandshakeMessage(nst([]), asClient), TlsAlert.unexpected_message, 'NST from a client');
  expectAlert(() => decodeHandshakeMessage(cr([[13, vec(2, u16(0x0804))]]), asClient), TlsAlert.unexpected_message, 'CR from a client');
});

// ---------------------------------------------------------------------------------------------
// Reassembler bounds

test('a message longer than the limit is refused when its header arrives, before its body is buffered', () => {
  const reader = new HandshakeReader('handshake');
  assert.equal(reader.push(Uint8Array.from([HandshakeType.certificate, 0x01, 0x00])), []);
  expectAlert(() => reader.push(Uint8Array.from([0x01])), TlsAlert.illegal_parameter, '65537-byte Certificate');
  // Exactly the limit is accepted.
  const ok = new HandshakeReader('handshake');
  const big = handshake(HandshakeType.certificate, new Uint8Array(65536));
  assert.equal(ok.push(big.subarray(0, 1000)), []);
  assert.is(ok.pendingBytes, 1000);
  assert.is(ok.push(big.subarray(1000)).length, 1);
});

test('per-type and global limits are configurable', () => {
  const reader = new HandshakeReader('initial', { maxMessageLength: 1000, maxMessageLengthByType: { [HandshakeType.certificate]: 5000 } });
  assert.is(reader.push(handshake(HandshakeType.certificate, new Uint8Array(5000))).length, 1);
  expectAlert(() => reader.push(handshake(HandshakeType.client_hello, new Uint8Array(1001)).subarray(0, 4)), TlsAlert.illegal_parameter, 'ClientHello over 1000');
  const r2 = new HandshakeReader('initial', { maxMessageLength: 1000 });
  expectAlert(() => r2.push(Uint8Array.from([HandshakeType.certificate, 0, 0x13, 0x89])), TlsAlert.illegal_parameter, 'certificate over the global limit');
});

test('a partial message across a key change is unexpected_message (RFC 8446 §5.1)', () => {
  const reader = new HandshakeReader('initial');
  const raw = sh();
  reader.push(raw.subarray(0, 2));
  assert.ok(reader.hasPartialMessage);
  expectAlert(() => reader.assertNoPartialMessage(), TlsAlert.unexpected_message, 'half a header');
  reader.push(raw.subarray(2, 10));
  expectAlert(() => reader.assertNoPartialMessage(), TlsAlert.unexpected_message, 'half a body');
  assert.is(reader.push(raw.subarray(10)).length, 1);
  reader.assertNoPartialMessage();
});

test('no reassembler exists for the 0-RTT level, which carries no CRYPTO frames (RFC 9001 §4.1.3)', () => {
  expectAlert(() => new HandshakeReader('zeroRtt'), TlsAlert.internal_error, 'zeroRtt reader');
});

test('zero-length bodies complete as soon as their header does', () => {
  const reader = new HandshakeReader('handshake');
  const out = reader.push(concat(handshake(HandshakeType.end_of_early_data, new Uint8Array(0)), handshake(HandshakeType.encrypted_extensions, vec(2, []))));
  assert.equal(out.map((m) => [m.type, m.body.length]), [
    [5, 0],
    [8, 2],
  ]);
});

// ---------------------------------------------------------------------------------------------
// QUIC checks and solicited extensions

test('RFC 9001 checks on ClientHello, EncryptedExtensions and NewSessionTicket', () => {
  const chMsg = decodeHandshakeMessage(ch(), asClient) as ClientHello;
  assert.is(checkQuicClientHello(chMsg).transportParameters.length, 0);
  try {
    checkQuicClientHello({ ...chMsg, legacySessionId: new Uint8Array(32) });
    assert.unreachable('compatibility mode accepted');
  } catch (e) {
    assert.ok(isQuicError(e, TransportErrorCode.PROTOCOL_VIOLATION) && !isTlsAlertError(e), String(e));
  }
  const tls12Only = decodeHandshakeMessage(ch([[ExtensionType.supported_versions, vec(1, u16(0x0303))], [ExtensionType.quic_transport_parameters, []]]), asClient) as ClientHello;
  expectAlert(() => checkQuicClientHello(tls12Only), TlsAlert.protocol_version, 'ClientHello offering only TLS 1.2 (RFC 9001 §4.2)');
  const noTp = { ...chMsg, extensions: chMsg.extensions.filter((e) => e.kind !== 'quic_transport_parameters') };
  expectAlert(() => checkQuicClientHello(noTp), TlsAlert.missing_extension, 'ClientHello without transport parameters (0x016d)');
  try {
    checkQuicClientHello(noTp);
  } catch (e) {
    assert.ok(isQuicError(e, 0x016d));
  }

  const eeOk = decodeHandshakeMessage(ee([[ExtensionType.quic_transport_parameters, [1, 2]], [ExtensionType.application_layer_protocol_negotiation, vec(2, vec(1, [0x68, 0x33]))]]), asServer);
  assert.is(eeOk.kind, 'encrypted_extensions');
  if (eeOk.kind !== 'encrypted_extensions') return;
  const params = checkQuicEncryptedExtensions(eeOk);
  assert.is(toHex(params.transportParameters), '0102');
  assert.is(toHex(params.alpn!), '6833');
  const eeNoAlpn = decodeHandshakeMessage(ee([[ExtensionType.quic_transport_parameters, []]]), asServer);
  if (eeNoAlpn.kind !== 'encrypted_extensions') return;
  expectAlert(() => checkQuicEncryptedExtensions(eeNoAlpn), TlsAlert.no_application_protocol, 'no ALPN (0x0178)');
  assert.is(checkQuicEncryptedExtensions(eeNoAlpn, { requireAlpn: false }).alpn, undefined);
  const eeNoTp = decodeHandshakeMessage(ee([]), asServer);
  if (eeNoTp.kind !== 'encrypted_extensions') return;
  expectAlert(() => checkQuicEncryptedExtensions(eeNoTp, { requireAlpn: false }), TlsAlert.missing_extension, 'EE without transport parameters');
  assert.is(toHex(checkQuicEncryptedExtensions(eeOk, { offeredAlpn: [Uint8Array.from([0x68, 0x33])] }).alpn!), '6833');
  expectAlert(() => checkQuicEncryptedExtensions(eeOk, { offeredAlpn: [Uint8Array.from([0x68, 0x32])] }), TlsAlert.no_application_protocol, 'ALPN not offered (0x0178)');

  const ticket = (max?: number) => {
    const m = decodeHandshakeMessage(nst(max === undefined ? [] : [[ExtensionType.early_data, [max >>> 24, (max >>> 16) & 0xff, (max >>> 8) & 0xff, max & 0xff]]]), asServer);
    if (m.kind !== 'new_session_ticket') throw new Error('not a ticket');
    return m;
  };
  assert.is(checkQuicNewSessionTicket(ticket()), false);
  assert.is(checkQuicNewSessionTicket(ticket(0xffffffff)), true);
  for (const bad of [0, 16384, 0xfffffffe]) {
    try {
      checkQuicNewSessionTicket(ticket(bad));
      assert.unreachable('accepted');
    } catch (e) {
      assert.ok(isQuicError(e, TransportErrorCode.PROTOCOL_VIOLATION), String(e));
    }
  }
});

test('extension responses without a request are unsupported_extension, except cookie in HelloRetryRequest (RFC 8446 §4.2)', () => {
  fc.assert(
    fc.property(clientHello, serverHello, helloRetryRequest, (c, s, h) => {
      const offered = clientHelloExtensionTypes(c);
      const shTypes = s.extensions.map((e) => (e.kind === 'raw' ? e.type : e.kind));
      try {
        checkSolicitedExtensions(s.extensions, offered, 'server_hello');
        // Accepted only if every response type was offered.
        for (const e of s.extensions) {
          const t = e.kind === 'raw' ? e.type : { supported_versions_selected: 43, key_share_selected: 51, pre_shared_key_selected: 41 }[e.kind];
          assert.ok(offered.includes(t), `accepted unrequested ${String(shTypes)}`);
        }
      } catch (e) {
        assert.ok(isTlsAlertError(e, TlsAlert.unsupported_extension), String(e));
      }
      const allOffered = [...offered, 43, 51, 41, 0x1234, 0x3333, 0x7777, 0xff01, 0x0023, 0x0017, 0xbeef, 0x4444];
      checkSolicitedExtensions(s.extensions, allOffered, 'server_hello');
      checkSolicitedExtensions(h.extensions, allOffered, 'hello_retry_request');
    }),
    { numRuns: 100 },
  );
  expectAlert(() => checkSolicitedExtensions([{ kind: 'alpn', protocols: [Uint8Array.from([0x68])] }], [ExtensionType.server_name], 'encrypted_extensions'), TlsAlert.unsupported_extension, 'ALPN not offered');
  checkSolicitedExtensions([{ kind: 'cookie', cookie: Uint8Array.from([1]) }], [], 'hello_retry_request');
  expectAlert(() => checkSolicitedExtensions([{ kind: 'cookie', cookie: Uint8Array.from([1]) }], [], 'server_hello'), TlsAlert.unsupported_extension, 'cookie in SH');
  checkSolicitedExtensions([{ kind: 'raw', type: 0x7777, data: new Uint8Array(0) }], [], 'new_session_ticket');
});

// ---------------------------------------------------------------------------------------------
// Encoders refuse what decoders refuse

test('encoders refuse invalid messages with internal_error, never a RangeError', () => {
  const valid = fc.sample(clientHello, { numRuns: 1, seed: 7 })[0];
  const bad: Array<[string, HandshakeMessage]> = [
    ['random of 31 bytes', { ...valid, random: new Uint8Array(31) }],
    ['session id of 33 bytes', { ...valid, legacySessionId: new Uint8Array(33) }],
    ['no cipher suites', { ...valid, cipherSuites: [] }],
    ['cipher suite above 0xffff', { ...valid, cipherSuites: [0x10000] }],
    ['duplicate extension', { ...valid, extensions: [...valid.extensions.filter((e) => e.kind !== 'pre_shared_key'), { kind: 'raw', type: 0x7777, data: new Uint8Array(0) }, { kind: 'raw', type: 0x7777, data: new Uint8Array(0) }] }],
    ['host name with a trailing dot', { ...valid, extensions: [{ kind: 'server_name', hostName: 'example.com.' }, ...valid.extensions.filter((e) => e.kind !== 'server_name')] }],
    ['key_share_selected in a ClientHello', { ...valid, extensions: [{ kind: 'key_share_selected', share: { group: 0x1d, keyExchange: new Uint8Array(32) } }, ...valid.extensions] } as unknown as ClientHello],
    ['ALPN with 2 protocols in EE', { kind: 'encrypted_extensions', extensions: [{ kind: 'alpn', protocols: [Uint8Array.from([1]), Uint8Array.from([2])] }] }],
    ['status_request in EE', { kind: 'encrypted_extensions', extensions: [{ kind: 'raw', type: ExtensionType.status_request, data: new Uint8Array(0) }] }],
    ['GREASE extension in EE', { kind: 'encrypted_extensions', extensions: [{ kind: 'raw', type: 0x0a0a, data: new Uint8Array(0) }] }],
    ['Finished of 20 bytes', { kind: 'finished', verifyData: new Uint8Array(20) }],
    ['ticket lifetime over 7 days', { kind: 'new_session_ticket', lifetime: 604801, ageAdd: 0, nonce: new Uint8Array(0), ticket: Uint8Array.from([1]), extensions: [] }],
    ['empty ticket', { kind: 'new_session_ticket', lifetime: 1, ageAdd: 0, nonce: new Uint8Array(0), ticket: new Uint8Array(0), extensions: [] }],
    ['CertificateRequest without signature_algorithms', { kind: 'certificate_request', context: new Uint8Array(0), extensions: [] }],
    ['HRR selecting TLS 1.2', { kind: 'hello_retry_request', legacySessionIdEcho: new Uint8Array(0), cipherSuite: 0x1301, extensions: [{ kind: 'supported_versions_selected', version: 0x0303 }] }],
    ['ServerHello with the HRR random', { kind: 'server_hello', random: HELLO_RETRY_REQUEST_RANDOM, legacySessionIdEcho: new Uint8Array(0), cipherSuite: 0x1301, extensions: [{ kind: 'supported_versions_selected', version: 0x0304 }] }],
    ['ServerHello without supported_versions', { kind: 'server_hello', random: new Uint8Array(32), legacySessionIdEcho: new Uint8Array(0), cipherSuite: 0x1301, extensions: [] }],
    ['HelloRetryRequest without supported_versions', { kind: 'hello_retry_request', legacySessionIdEcho: new Uint8Array(0), cipherSuite: 0x1301, extensions: [] }],
  ];
  for (const [what, m] of bad) expectAlert(() => encodeHandshakeMessage(m), TlsAlert.internal_error, what);
});

test('the arbitraries produce GREASE where peers may send it (so the round trips cover it)', () => {
  const samples = fc.sample(clientHello, { numRuns: 200, seed: 42 });
  const greaseSeen = samples.some((c) =>
    c.extensions.some((e) => (e.kind === 'raw' && isGrease16(e.type)) || (e.kind === 'supported_groups' && e.groups.some(isGrease16))),
  );
  assert.ok(greaseSeen);
  assert.ok(fc.sample(certificate('server'), { numRuns: 20, seed: 1 }).every((c) => c.entries.length >= 1));
});

test.run();
