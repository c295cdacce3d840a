/**
 * fast-check arbitraries of valid TLS 1.3 handshake messages (RFC 8446 §4) as the codec in
 * src/tls/messages.ts represents them, GREASE values (RFC 8701) included wherever a peer may send
 * them; plus helpers that build message bytes by hand, for tests that need what the encoders
 * refuse to produce.
 *
 * "Valid" means: what the decoders accept, so that decode(encode(m)) deep-equals m.
 *
 * @module
 */
import fc from 'fast-check';
import {
  ECDHE_KEY_EXCHANGE_LENGTH,
  ExtensionType,
  GREASE_PSK_KEY_EXCHANGE_MODES,
  GREASE_VALUES,
  HELLO_RETRY_REQUEST_RANDOM,
  isGrease16,
  NamedGroup,
  ProtocolVersion,
  SignatureScheme,
} from '../../src/tls/constants.js';
import type {
  AlpnExtension,
  CertificateEntryExtension,
  CertificateRequestExtension,
  ClientHelloExtension,
  EncryptedExtensionsExtension,
  HelloRetryRequestExtension,
  KeyShareEntry,
  NewSessionTicketExtension,
  RawExtension,
  ServerHelloExtension,
} from '../../src/tls/extensions.js';
import type {
  Certificate,
  CertificateRequest,
  CertificateVerify,
  ClientHello,
  EncryptedExtensions,
  Finished,
  HandshakeMessage,
  HelloRetryRequest,
  NewSessionTicket,
  ServerHello,
} from '../../src/tls/messages.js';
import { MAX_TICKET_LIFETIME } from '../../src/tls/messages.js';

/** Arbitrary bytes of a length in `[min, max]`. */
export const bytes = (min: number, max: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ minLength: min, maxLength: max });

/** One of the 16 GREASE values (RFC 8701 §2). */
export const grease16: fc.Arbitrary<number> = fc.constantFrom(...GREASE_VALUES);

/** A 16-bit code point that is not GREASE. */
export const nonGrease16: fc.Arbitrary<number> = fc.integer({ min: 0, max: 0xffff }).filter((v) => !isGrease16(v));

/** A 16-bit code point biased towards the given known values and GREASE. */
const code16 = (known: readonly number[]): fc.Arbitrary<number> =>
  fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...known) }, { weight: 1, arbitrary: grease16 }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) });

const KNOWN_GROUPS = Object.values(NamedGroup);
const KNOWN_SCHEMES = Object.values(SignatureScheme);
const KNOWN_SUITES = [0x1301, 0x1302, 0x1303, 0x1304, 0x1305];

/** A list of distinct named groups (RFC 8446 §4.2.7), GREASE included. */
export const groupList: fc.Arbitrary<number[]> = fc.uniqueArray(code16(KNOWN_GROUPS), { minLength: 1, maxLength: 10 });

/** A signature scheme list (RFC 8446 §4.2.3), GREASE included. */
export const schemeList: fc.Arbitrary<number[]> = fc.array(code16(KNOWN_SCHEMES), { minLength: 1, maxLength: 12 });

/** A key share in `group`, of the fixed length for the ECDHE groups (RFC 8446 §4.2.8.2). */
export const keyShareIn = (group: number): fc.Arbitrary<KeyShareEntry> => {
  const len = ECDHE_KEY_EXCHANGE_LENGTH.get(group);
  return (len === undefined ? bytes(1, 80) : bytes(len, len)).map((keyExchange) => ({ group, keyExchange }));
};

/** A DNS-ish host name: printable ASCII, not ending with a dot (RFC 6066 §3). */
export const hostName: fc.Arbitrary<string> = fc
  .array(fc.integer({ min: 0x21, max: 0x7e }), { minLength: 1, maxLength: 80 })
  .map((codes) => String.fromCharCode(...codes))
  .filter((s) => !s.endsWith('.'));

/** An ALPN ProtocolName: ASCII names, GREASE identifiers (RFC 8701 §2) or arbitrary bytes. */
export const alpnProtocol: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.constantFrom('h3', 'h3-29', 'hq-interop', 'doq').map((s) => new Uint8Array(Buffer.from(s))),
  fc.integer({ min: 0, max: 15 }).map((i) => Uint8Array.from([(i << 4) | 0x0a, (i << 4) | 0x0a])),
  bytes(1, 20),
);

const nonGreaseAlpn: fc.Arbitrary<Uint8Array> = alpnProtocol.filter((p) => !(p.length === 2 && p[0] === p[1] && (p[0] & 0x0f) === 0x0a));

/** Extension types no table knows and that are not GREASE: decoded as raw anywhere. */
const UNKNOWN_TYPES = [0x1234, 0x3333, 0x7777, 0xff01, 0x0023, 0x0017, 0xbeef, 0x4444];

/** Raw extensions whose types come from `types` (distinct), with arbitrary data. */
const rawExtensions = (types: readonly number[], maxLength = 3): fc.Arbitrary<RawExtension[]> =>
  fc.uniqueArray(fc.constantFrom(...types), { maxLength }).chain((ts) =>
    fc.tuple(...ts.map((type) => bytes(0, 40).map((data): RawExtension => ({ kind: 'raw', type, data })))),
  );

/** Known types this codec does not parse, by message: carried raw (RFC 8446 §4.2 table). */
const RAW_KNOWN: Record<'CH' | 'EE' | 'CR' | 'CT', number[]> = {
  CH: [ExtensionType.status_request, ExtensionType.padding, ExtensionType.record_size_limit, ExtensionType.post_handshake_auth, ExtensionType.certificate_authorities, ExtensionType.encrypted_client_hello],
  EE: [ExtensionType.record_size_limit, ExtensionType.use_srtp, ExtensionType.heartbeat, ExtensionType.server_certificate_type, ExtensionType.max_fragment_length, ExtensionType.ticket_request],
  CR: [ExtensionType.server_name, ExtensionType.status_request, ExtensionType.certificate_authorities, ExtensionType.oid_filters, ExtensionType.compress_certificate],
  CT: [ExtensionType.status_request, ExtensionType.signed_certificate_timestamp, ExtensionType.delegated_credential, ExtensionType.transparency_info],
};

/** Shuffles `items` (all of them). */
const shuffled = <T>(items: T[]): fc.Arbitrary<T[]> => fc.shuffledSubarray(items, { minLength: items.length, maxLength: items.length });

const opt = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(arb, { nil: undefined });

/**
 * A ClientHello that satisfies RFC 8446 §9.2 when it offers TLS 1.3: without PSK it has
 * signature_algorithms and supported_groups; supported_groups and key_share come together, key
 * shares are in listed groups; pre_shared_key (with psk_key_exchange_modes) is last.
 */
export const clientHello: fc.Arbitrary<ClientHello> = fc
  .record({
    random: bytes(32, 32),
    legacySessionId: fc.oneof(bytes(0, 0), bytes(1, 32)),
    cipherSuites: fc.array(code16(KNOWN_SUITES), { minLength: 1, maxLength: 8 }),
    versions: fc.array(code16([0x0304, 0x0303, 0x7f1c]), { maxLength: 5 }).map((v) => [...v, ProtocolVersion.TLS13]),
    groups: groupList,
    shareCount: fc.integer({ min: 0, max: 3 }),
    schemes: schemeList,
    schemesCert: opt(schemeList),
    hostName: opt(hostName),
    alpn: opt(fc.array(alpnProtocol, { minLength: 1, maxLength: 4 })),
    qtp: opt(bytes(0, 60)),
    psk: opt(
      fc.array(
        fc.record({ identity: bytes(1, 60), obfuscatedTicketAge: fc.integer({ min: 0, max: 0xffffffff }), binder: fc.constantFrom(32, 48).chain((n) => bytes(n, n)) }),
        { minLength: 1, maxLength: 3 },
      ),
    ),
    modes: fc.uniqueArray(fc.constantFrom(0, 1, ...GREASE_PSK_KEY_EXCHANGE_MODES), { minLength: 1, maxLength: 4 }),
    earlyData: fc.boolean(),
    cookie: opt(bytes(1, 64)),
    raw: rawExtensions([...GREASE_VALUES.slice(0, 4), ...UNKNOWN_TYPES, ...RAW_KNOWN.CH]),
  })
  .chain((c) =>
    fc.tuple(fc.constant(c), fc.tuple(...c.groups.slice(0, c.shareCount).map(keyShareIn))).chain(([c, shares]) => {
      const exts: ClientHelloExtension[] = [
        { kind: 'supported_versions', versions: c.versions },
        { kind: 'supported_groups', groups: c.groups },
        { kind: 'key_share', shares },
        { kind: 'signature_algorithms', schemes: c.schemes },
        ...c.raw,
      ];
      if (c.schemesCert) exts.push({ kind: 'signature_algorithms_cert', schemes: c.schemesCert });
      if (c.hostName !== undefined) exts.push({ kind: 'server_name', hostName: c.hostName });
      if (c.alpn) exts.push({ kind: 'alpn', protocols: c.alpn });
      if (c.qtp) exts.push({ kind: 'quic_transport_parameters', data: c.qtp });
      if (c.earlyData) exts.push({ kind: 'early_data' });
      if (c.cookie) exts.push({ kind: 'cookie', cookie: c.cookie });
      if (c.psk) exts.push({ kind: 'psk_key_exchange_modes', modes: c.modes });
      return shuffled(exts).map((ordered): ClientHello => {
        const extensions = c.psk
          ? [
              ...ordered,
              {
                kind: 'pre_shared_key' as const,
                identities: c.psk.map(({ identity, obfuscatedTicketAge }) => ({ identity, obfuscatedTicketAge })),
                binders: c.psk.map((p) => p.binder),
              },
            ]
          : ordered;
        return { kind: 'client_hello', random: c.random, legacySessionId: c.legacySessionId, cipherSuites: c.cipherSuites, extensions };
      });
    }),
  );

/** A selected version: TLS 1.3 or a later, non-GREASE value (RFC 8446 §4.2.1). */
const selectedVersion: fc.Arbitrary<number> = fc.oneof(
  { weight: 5, arbitrary: fc.constant(ProtocolVersion.TLS13) },
  { weight: 1, arbitrary: fc.integer({ min: 0x0305, max: 0xffff }).filter((v) => !isGrease16(v)) },
);

const nonGreaseGroup: fc.Arbitrary<number> = fc.oneof(fc.constantFrom(...KNOWN_GROUPS), nonGrease16);
const randomNotHrr = bytes(32, 32).filter((r) => Buffer.compare(Buffer.from(r), Buffer.from(HELLO_RETRY_REQUEST_RANDOM)) !== 0);
const unknownNonGrease = UNKNOWN_TYPES;

/** A ServerHello (never the HelloRetryRequest random, always with supported_versions). */
export const serverHello: fc.Arbitrary<ServerHello> = fc
  .record({
    random: randomNotHrr,
    legacySessionIdEcho: bytes(0, 32),
    cipherSuite: fc.oneof(fc.constantFrom(0x1301, 0x1302, 0x1303), nonGrease16),
    version: selectedVersion,
    share: opt(nonGreaseGroup.chain(keyShareIn)),
    selectedIdentity: opt(fc.integer({ min: 0, max: 0xffff })),
    raw: rawExtensions(unknownNonGrease, 2),
  })
  .chain((s) => {
    const exts: ServerHelloExtension[] = [{ kind: 'supported_versions_selected', version: s.version }, ...s.raw];
    if (s.share) exts.push({ kind: 'key_share_selected', share: s.share });
    if (s.selectedIdentity !== undefined) exts.push({ kind: 'pre_shared_key_selected', selectedIdentity: s.selectedIdentity });
    return shuffled(exts).map(
      (extensions): ServerHello => ({ kind: 'server_hello', random: s.random, legacySessionIdEcho: s.legacySessionIdEcho, cipherSuite: s.cipherSuite, extensions }),
    );
  });

/** A HelloRetryRequest. */
export const helloRetryRequest: fc.Arbitrary<HelloRetryRequest> = fc
  .record({
    legacySessionIdEcho: bytes(0, 32),
    cipherSuite: fc.oneof(fc.constantFrom(0x1301, 0x1302, 0x1303), nonGrease16),
    version: selectedVersion,
    group: opt(nonGreaseGroup),
    cookie: opt(bytes(1, 100)),
    raw: rawExtensions(unknownNonGrease, 2),
  })
  .chain((h) => {
    const exts: HelloRetryRequestExtension[] = [{ kind: 'supported_versions_selected', version: h.version }, ...h.raw];
    if (h.group !== undefined) exts.push({ kind: 'key_share_retry', selectedGroup: h.group });
    if (h.cookie) exts.push({ kind: 'cookie', cookie: h.cookie });
    return shuffled(exts).map(
      (extensions): HelloRetryRequest => ({ kind: 'hello_retry_request', legacySessionIdEcho: h.legacySessionIdEcho, cipherSuite: h.cipherSuite, extensions }),
    );
  });

/** EncryptedExtensions. */
export const encryptedExtensions: fc.Arbitrary<EncryptedExtensions> = fc
  .record({
    serverName: fc.boolean(),
    groups: opt(groupList),
    alpn: opt(nonGreaseAlpn),
    qtp: opt(bytes(0, 80)),
    earlyData: fc.boolean(),
    raw: rawExtensions([...unknownNonGrease, ...RAW_KNOWN.EE]),
  })
  .chain((e) => {
    const exts: EncryptedExtensionsExtension[] = [...e.raw];
    if (e.serverName) exts.push({ kind: 'server_name' });
    if (e.groups) exts.push({ kind: 'supported_groups', groups: e.groups });
    if (e.alpn) exts.push({ kind: 'alpn', protocols: [e.alpn] } satisfies AlpnExtension);
    if (e.qtp) exts.push({ kind: 'quic_transport_parameters', data: e.qtp });
    if (e.earlyData) exts.push({ kind: 'early_data' });
    return shuffled(exts).map((extensions): EncryptedExtensions => ({ kind: 'encrypted_extensions', extensions }));
  });

/** A CertificateRequest (always with signature_algorithms; GREASE allowed, RFC 8701 §4). */
export const certificateRequest: fc.Arbitrary<CertificateRequest> = fc
  .record({
    context: bytes(0, 40),
    schemes: schemeList,
    schemesCert: opt(schemeList),
    raw: rawExtensions([...GREASE_VALUES.slice(4, 8), ...unknownNonGrease, ...RAW_KNOWN.CR]),
  })
  .chain((c) => {
    const exts: CertificateRequestExtension[] = [{ kind: 'signature_algorithms', schemes: c.schemes }, ...c.raw];
    if (c.schemesCert) exts.push({ kind: 'signature_algorithms_cert', schemes: c.schemesCert });
    return shuffled(exts).map((extensions): CertificateRequest => ({ kind: 'certificate_request', context: c.context, extensions }));
  });

const certificateEntry = fc.record(
  {
    data: bytes(1, 1500),
    extensions: rawExtensions([...unknownNonGrease, ...RAW_KNOWN.CT], 2) as fc.Arbitrary<CertificateEntryExtension[]>,
  },
  { noNullPrototype: true },
);

/** A Certificate as a server sends it (at least one entry) or a client (possibly none). */
export const certificate = (sender: 'client' | 'server'): fc.Arbitrary<Certificate> =>
  fc.record({
    kind: fc.constant('certificate' as const),
    context: sender === 'server' ? bytes(0, 0) : bytes(0, 32),
    entries: fc.array(certificateEntry, { minLength: sender === 'server' ? 1 : 0, maxLength: 4 }),
  }, { noNullPrototype: true });

/** A CertificateVerify (never a GREASE scheme). */
export const certificateVerify: fc.Arbitrary<CertificateVerify> = fc.record({
  kind: fc.constant('certificate_verify' as const),
  algorithm: fc.oneof(fc.constantFrom(...KNOWN_SCHEMES), nonGrease16),
  signature: bytes(0, 600),
}, { noNullPrototype: true });

/** A Finished of 32 or 48 bytes. */
export const finished: fc.Arbitrary<Finished> = fc.constantFrom(32, 48).chain((n) => bytes(n, n).map((verifyData): Finished => ({ kind: 'finished', verifyData })));

/** A NewSessionTicket (lifetime within 7 days; GREASE extensions allowed, RFC 8701 §4). */
export const newSessionTicket: fc.Arbitrary<NewSessionTicket> = fc
  .record({
    lifetime: fc.integer({ min: 0, max: MAX_TICKET_LIFETIME }),
    ageAdd: fc.integer({ min: 0, max: 0xffffffff }),
    nonce: bytes(0, 255),
    ticket: bytes(1, 300),
    maxEarlyData: opt(fc.oneof(fc.constant(0xffffffff), fc.integer({ min: 0, max: 0xffffffff }))),
    raw: rawExtensions([...GREASE_VALUES.slice(8, 12), ...unknownNonGrease]),
  })
  .chain((t) => {
    const exts: NewSessionTicketExtension[] = [...t.raw];
    if (t.maxEarlyData !== undefined) exts.push({ kind: 'early_data_ticket', maxEarlyDataSize: t.maxEarlyData });
    return shuffled(exts).map(
      (extensions): NewSessionTicket => ({ kind: 'new_session_ticket', lifetime: t.lifetime, ageAdd: t.ageAdd, nonce: t.nonce, ticket: t.ticket, extensions }),
    );
  });

/** Each message arbitrary with the role that sends it. */
export const messagesBySender: ReadonlyArray<{ name: string; sender: 'client' | 'server'; arb: fc.Arbitrary<HandshakeMessage> }> = [
  { name: 'ClientHello', sender: 'client', arb: clientHello },
  { name: 'ServerHello', sender: 'server', arb: serverHello },
  { name: 'HelloRetryRequest', sender: 'server', arb: helloRetryRequest },
  { name: 'EncryptedExtensions', sender: 'server', arb: encryptedExtensions },
  { name: 'CertificateRequest', sender: 'server', arb: certificateRequest },
  { name: 'server Certificate', sender: 'server', arb: certificate('server') },
  { name: 'client Certificate', sender: 'client', arb: certificate('client') },
  { name: 'CertificateVerify', sender: 'server', arb: certificateVerify },
  { name: 'Finished', sender: 'client', arb: finished },
  { name: 'NewSessionTicket', sender: 'server', arb: newSessionTicket },
];

/** Any handshake message with its sender. */
export const anyMessage: fc.Arbitrary<{ sender: 'client' | 'server'; message: HandshakeMessage }> = fc.oneof(
  ...messagesBySender.map(({ sender, arb }) => arb.map((message) => ({ sender, message }))),
);

// ---------------------------------------------------------------------------------------------
// Hand-built bytes, for inputs the encoders refuse to produce

/** Concatenates byte strings and numbers (each number one byte). */
export function concat(...parts: Array<Uint8Array | number[]>): Uint8Array {
  return new Uint8Array(Buffer.concat(parts.map((p) => (p instanceof Uint8Array ? p : Uint8Array.from(p)))));
}

/** A big-endian `n`-byte length prefix followed by `data`. */
export function vec(n: 1 | 2 | 3, data: Uint8Array | number[]): Uint8Array {
  const d = data instanceof Uint8Array ? data : Uint8Array.from(data);
  const len = d.length;
  const prefix = n === 1 ? [len] : n === 2 ? [len >> 8, len & 0xff] : [len >> 16, (len >> 8) & 0xff, len & 0xff];
  return concat(prefix, d);
}

/** An extension block from `[type, data]` pairs, duplicates and all. */
export function extensionBlock(exts: ReadonlyArray<readonly [number, Uint8Array | number[]]>): Uint8Array {
  return vec(2, concat(...exts.map(([type, data]) => concat([type >> 8, type & 0xff], vec(2, data)))));
}

/** A whole handshake message: msg_type, uint24 length, body. */
export function handshake(type: number, body: Uint8Array): Uint8Array {
  return concat([type], vec(3, body));
}
