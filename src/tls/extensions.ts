/**
 * TLS 1.3 extensions (RFC 8446 §4.2): typed forms of the extensions this stack negotiates, raw
 * carriage of every other one, and the rules that apply to an extension block as a whole.
 *
 * An extension's body depends on the message that carries it (supported_versions is a list in a
 * ClientHello and one version in a ServerHello), so every decoder and encoder takes an
 * {@link ExtensionContext}. Each typed extension has its own `kind`; the context decides which
 * kinds may appear (e.g. `key_share` in a ClientHello, `key_share_selected` in a ServerHello,
 * `key_share_retry` in a HelloRetryRequest). Extensions that are not parsed in a context are kept as
 * {@link RawExtension} `{ type, data }`.
 *
 * Rules applied to every extension block on decode (and refused on encode):
 * - no two extensions of the same type (RFC 8446 §4.2) → illegal_parameter;
 * - an extension this stack recognizes in a message where the RFC 8446 / RFC 9846 §4.2 table does
 *   not allow it → illegal_parameter;
 * - a GREASE extension in a ServerHello, HelloRetryRequest, EncryptedExtensions or Certificate
 *   (RFC 8701 §3: peers never negotiate GREASE) → unsupported_extension;
 * - pre_shared_key not last in a ClientHello (RFC 8446 §4.2.11) → illegal_parameter;
 * - malformed bodies and trailing bytes (RFC 8446 §4.2) → decode_error; semantically invalid values
 *   (duplicate groups, key shares of the wrong length, GREASE selected by the server, …) →
 *   illegal_parameter.
 *
 * Rules that depend on what was sent earlier (an extension response without a request, RFC 8446
 * §4.2 → unsupported_extension) are checked by {@link checkSolicitedExtensions}, called by the
 * handshake with the types it offered.
 *
 * @module
 */
import { TlsAlert, TlsAlertError } from './alerts.js';
import {
  ECDHE_KEY_EXCHANGE_LENGTH,
  ExtensionType,
  extensionTypeName,
  isGrease16,
  isGreaseAlpn,
  ProtocolVersion,
  ServerNameType,
} from './constants.js';
import { encodeError, TlsReader, type TlsSink } from './messages/wire.js';

/** The message an extension block belongs to (the columns of the RFC 8446 §4.2 table). */
export type ExtensionContext =
  | 'client_hello'
  | 'server_hello'
  | 'hello_retry_request'
  | 'encrypted_extensions'
  | 'certificate'
  | 'certificate_request'
  | 'new_session_ticket';

/** An extension carried as bytes: every type this stack does not parse in the message at hand. */
export interface RawExtension {
  /** Discriminator. */
  readonly kind: 'raw';
  /** The extension_type code point (any value, GREASE included). */
  readonly type: number;
  /** The extension_data, unparsed. */
  readonly data: Uint8Array;
}

/**
 * server_name (RFC 6066 §3). In a ClientHello: the host name asked for, from the single host_name
 * entry of the ServerNameList (entries of other name types are skipped; `hostName` is absent when
 * the list holds no host_name, and such an extension cannot be re-encoded). In
 * EncryptedExtensions the body is empty and `hostName` is absent: the server acknowledges that it
 * used the name.
 */
export interface ServerNameExtension {
  /** Discriminator. */
  readonly kind: 'server_name';
  /** The DNS host name, ASCII without a trailing dot (RFC 6066 §3); absent in EncryptedExtensions. */
  readonly hostName?: string;
}

/** supported_groups (RFC 8446 §4.2.7): named groups in preference order (ClientHello, EncryptedExtensions). */
export interface SupportedGroupsExtension {
  /** Discriminator. */
  readonly kind: 'supported_groups';
  /** NamedGroup code points; GREASE values are carried like any other. */
  readonly groups: readonly number[];
}

/** signature_algorithms (RFC 8446 §4.2.3): schemes accepted in CertificateVerify (ClientHello, CertificateRequest). */
export interface SignatureAlgorithmsExtension {
  /** Discriminator. */
  readonly kind: 'signature_algorithms';
  /** SignatureScheme code points in preference order. */
  readonly schemes: readonly number[];
}

/** signature_algorithms_cert (RFC 8446 §4.2.3): schemes accepted in certificates (ClientHello, CertificateRequest). */
export interface SignatureAlgorithmsCertExtension {
  /** Discriminator. */
  readonly kind: 'signature_algorithms_cert';
  /** SignatureScheme code points in preference order. */
  readonly schemes: readonly number[];
}

/**
 * application_layer_protocol_negotiation (RFC 7301 §3.1): the client's protocols in preference
 * order, or the one protocol the server selected (EncryptedExtensions: exactly one).
 */
export interface AlpnExtension {
  /** Discriminator. */
  readonly kind: 'alpn';
  /** ProtocolName byte strings (1–255 bytes each); see {@link alpnProtocol}. */
  readonly protocols: readonly Uint8Array[];
}

/** quic_transport_parameters (RFC 9001 §8.2): the transport parameters, handed to QUIC undecoded. */
export interface QuicTransportParametersExtension {
  /** Discriminator. */
  readonly kind: 'quic_transport_parameters';
  /** The encoded transport parameters (RFC 9000 §18). */
  readonly data: Uint8Array;
}

/** supported_versions in a ClientHello (RFC 8446 §4.2.1): versions in preference order. */
export interface SupportedVersionsExtension {
  /** Discriminator. */
  readonly kind: 'supported_versions';
  /** ProtocolVersion values; GREASE values are carried like any other. */
  readonly versions: readonly number[];
}

/** supported_versions in a ServerHello or HelloRetryRequest (RFC 8446 §4.2.1): the selected version. */
export interface SupportedVersionsSelectedExtension {
  /** Discriminator. */
  readonly kind: 'supported_versions_selected';
  /** The selected ProtocolVersion (0x0304 for TLS 1.3; lower values are refused on decode). */
  readonly version: number;
}

/** One KeyShareEntry (RFC 8446 §4.2.8). */
export interface KeyShareEntry {
  /** NamedGroup code point. */
  readonly group: number;
  /** The public value: 32 bytes for X25519, a 65-byte uncompressed point for secp256r1 (RFC 8446 §4.2.8.2). */
  readonly keyExchange: Uint8Array;
}

/** key_share in a ClientHello (RFC 8446 §4.2.8): the offered shares (possibly none, to ask for a HelloRetryRequest). */
export interface KeyShareExtension {
  /** Discriminator. */
  readonly kind: 'key_share';
  /** Shares in client preference order, at most one per group. */
  readonly shares: readonly KeyShareEntry[];
}

/** key_share in a ServerHello (RFC 8446 §4.2.8): the server's share. */
export interface KeyShareSelectedExtension {
  /** Discriminator. */
  readonly kind: 'key_share_selected';
  /** The server's share, in the group of one of the client's shares. */
  readonly share: KeyShareEntry;
}

/** key_share in a HelloRetryRequest (RFC 8446 §4.2.8): the group the client must send a share for. */
export interface KeyShareRetryExtension {
  /** Discriminator. */
  readonly kind: 'key_share_retry';
  /** NamedGroup code point. */
  readonly selectedGroup: number;
}

/** One PskIdentity (RFC 8446 §4.2.11). */
export interface PskIdentity {
  /** The identity: a ticket or an external PSK label (1–65535 bytes). */
  readonly identity: Uint8Array;
  /** Ticket age in ms plus ticket_age_add, mod 2^32 (RFC 8446 §4.2.11.1); 0 for external PSKs. */
  readonly obfuscatedTicketAge: number;
}

/**
 * pre_shared_key in a ClientHello (RFC 8446 §4.2.11): OfferedPsks. It is the last extension of the
 * ClientHello; the binders are computed over the message truncated before the binders list (see
 * `truncateClientHelloForBinders` in `messages`).
 */
export interface PreSharedKeyExtension {
  /** Discriminator. */
  readonly kind: 'pre_shared_key';
  /** Offered identities. */
  readonly identities: readonly PskIdentity[];
  /** One binder (32–255 bytes, Hash.length of the PSK's hash) per identity, in the same order. */
  readonly binders: readonly Uint8Array[];
}

/** pre_shared_key in a ServerHello (RFC 8446 §4.2.11): index of the identity the server accepted. */
export interface PreSharedKeySelectedExtension {
  /** Discriminator. */
  readonly kind: 'pre_shared_key_selected';
  /** 0-based index into the client's identities. */
  readonly selectedIdentity: number;
}

/** psk_key_exchange_modes (RFC 8446 §4.2.9), ClientHello only. */
export interface PskKeyExchangeModesExtension {
  /** Discriminator. */
  readonly kind: 'psk_key_exchange_modes';
  /** PskKeyExchangeMode values (1–255 of them); GREASE values are carried like any other. */
  readonly modes: readonly number[];
}

/** early_data in a ClientHello or EncryptedExtensions (RFC 8446 §4.2.10): an empty indication. */
export interface EarlyDataExtension {
  /** Discriminator. */
  readonly kind: 'early_data';
}

/**
 * early_data in a NewSessionTicket (RFC 8446 §4.2.10): max_early_data_size. QUIC servers send
 * only 0xffffffff (RFC 9001 §4.6.1; see `checkQuicNewSessionTicket`).
 */
export interface EarlyDataTicketExtension {
  /** Discriminator. */
  readonly kind: 'early_data_ticket';
  /** max_early_data_size, a uint32. */
  readonly maxEarlyDataSize: number;
}

/** cookie (RFC 8446 §4.2.2), in a HelloRetryRequest and the ClientHello that answers it. */
export interface CookieExtension {
  /** Discriminator. */
  readonly kind: 'cookie';
  /** The opaque cookie (1–65535 bytes). */
  readonly cookie: Uint8Array;
}

/** Extensions of a ClientHello. */
export type ClientHelloExtension =
  | ServerNameExtension
  | SupportedGroupsExtension
  | SignatureAlgorithmsExtension
  | SignatureAlgorithmsCertExtension
  | AlpnExtension
  | QuicTransportParametersExtension
  | SupportedVersionsExtension
  | KeyShareExtension
  | PreSharedKeyExtension
  | PskKeyExchangeModesExtension
  | EarlyDataExtension
  | CookieExtension
  | RawExtension;

/** Extensions of a ServerHello. */
export type ServerHelloExtension = SupportedVersionsSelectedExtension | KeyShareSelectedExtension | PreSharedKeySelectedExtension | RawExtension;

/** Extensions of a HelloRetryRequest. */
export type HelloRetryRequestExtension = SupportedVersionsSelectedExtension | KeyShareRetryExtension | CookieExtension | RawExtension;

/** Extensions of EncryptedExtensions. */
export type EncryptedExtensionsExtension =
  | ServerNameExtension
  | SupportedGroupsExtension
  | AlpnExtension
  | QuicTransportParametersExtension
  | EarlyDataExtension
  | RawExtension;

/** Extensions of a CertificateRequest. */
export type CertificateRequestExtension = SignatureAlgorithmsExtension | SignatureAlgorithmsCertExtension | RawExtension;

/** Extensions of a CertificateEntry (status_request, signed_certificate_timestamp, … are carried raw). */
export type CertificateEntryExtension = RawExtension;

/** Extensions of a NewSessionTicket. */
export type NewSessionTicketExtension = EarlyDataTicketExtension | RawExtension;

/** Every extension form. */
export type Extension =
  | ClientHelloExtension
  | ServerHelloExtension
  | HelloRetryRequestExtension
  | EncryptedExtensionsExtension
  | CertificateRequestExtension
  | NewSessionTicketExtension;

/** The extension type each context's decoder produces. */
export interface ExtensionsByContext {
  /** ClientHello. */
  client_hello: ClientHelloExtension;
  /** ServerHello. */
  server_hello: ServerHelloExtension;
  /** HelloRetryRequest. */
  hello_retry_request: HelloRetryRequestExtension;
  /** EncryptedExtensions. */
  encrypted_extensions: EncryptedExtensionsExtension;
  /** CertificateEntry. */
  certificate: CertificateEntryExtension;
  /** CertificateRequest. */
  certificate_request: CertificateRequestExtension;
  /** NewSessionTicket. */
  new_session_ticket: NewSessionTicketExtension;
}

/** A typed extension kind (every `kind` but `raw`). */
export type ExtensionKind = Exclude<Extension['kind'], 'raw'>;

/** The extension_type code point of each typed kind. */
export const EXTENSION_KIND_TYPE: Readonly<Record<ExtensionKind, number>> = {
  server_name: ExtensionType.server_name,
  supported_groups: ExtensionType.supported_groups,
  signature_algorithms: ExtensionType.signature_algorithms,
  signature_algorithms_cert: ExtensionType.signature_algorithms_cert,
  alpn: ExtensionType.application_layer_protocol_negotiation,
  quic_transport_parameters: ExtensionType.quic_transport_parameters,
  supported_versions: ExtensionType.supported_versions,
  supported_versions_selected: ExtensionType.supported_versions,
  key_share: ExtensionType.key_share,
  key_share_selected: ExtensionType.key_share,
  key_share_retry: ExtensionType.key_share,
  pre_shared_key: ExtensionType.pre_shared_key,
  pre_shared_key_selected: ExtensionType.pre_shared_key,
  psk_key_exchange_modes: ExtensionType.psk_key_exchange_modes,
  early_data: ExtensionType.early_data,
  early_data_ticket: ExtensionType.early_data,
  cookie: ExtensionType.cookie,
};

/** Which typed kind each context parses, by extension type; other types stay {@link RawExtension}. */
const PARSED: Readonly<Record<ExtensionContext, ReadonlyMap<number, ExtensionKind>>> = {
  client_hello: kindsByType([
    'server_name',
    'supported_groups',
    'signature_algorithms',
    'signature_algorithms_cert',
    'alpn',
    'quic_transport_parameters',
    'supported_versions',
    'key_share',
    'pre_shared_key',
    'psk_key_exchange_modes',
    'early_data',
    'cookie',
  ]),
  server_hello: kindsByType(['supported_versions_selected', 'key_share_selected', 'pre_shared_key_selected']),
  hello_retry_request: kindsByType(['supported_versions_selected', 'key_share_retry', 'cookie']),
  encrypted_extensions: kindsByType(['server_name', 'supported_groups', 'alpn', 'quic_transport_parameters', 'early_data']),
  certificate: kindsByType([]),
  certificate_request: kindsByType(['signature_algorithms', 'signature_algorithms_cert']),
  new_session_ticket: kindsByType(['early_data_ticket']),
};

function kindsByType(kinds: ExtensionKind[]): ReadonlyMap<number, ExtensionKind> {
  return new Map(kinds.map((k) => [EXTENSION_KIND_TYPE[k], k]));
}

/**
 * The message abbreviations of the RFC 8446 §4.2 table: ClientHello, ServerHello,
 * HelloRetryRequest, EncryptedExtensions, Certificate, CertificateRequest, NewSessionTicket.
 */
export type ExtensionMessageAbbrev = 'CH' | 'SH' | 'HRR' | 'EE' | 'CT' | 'CR' | 'NST';
type Abbrev = ExtensionMessageAbbrev;
const CONTEXT_ABBREV: Readonly<Record<ExtensionContext, Abbrev>> = {
  client_hello: 'CH',
  server_hello: 'SH',
  hello_retry_request: 'HRR',
  encrypted_extensions: 'EE',
  certificate: 'CT',
  certificate_request: 'CR',
  new_session_ticket: 'NST',
};

/**
 * The messages each recognized extension may appear in: the table of RFC 9846 §4.2 (which updates
 * RFC 8446 §4.2), plus max_fragment_length and signed_certificate_timestamp from the RFC 8446 table
 * and quic_transport_parameters from RFC 9001 §8.2. Types absent from this table are unknown to this
 * stack and allowed anywhere (RFC 8446 §4.2 applies the rule to extensions the receiver recognizes).
 */
export const EXTENSION_ALLOWED_IN: ReadonlyMap<number, ReadonlySet<ExtensionMessageAbbrev>> = new Map<number, ReadonlySet<ExtensionMessageAbbrev>>([
  [ExtensionType.server_name, new Set(['CH', 'EE', 'CR'])],
  [ExtensionType.max_fragment_length, new Set(['CH', 'EE'])],
  [ExtensionType.status_request, new Set(['CH', 'CR', 'CT'])],
  [ExtensionType.supported_groups, new Set(['CH', 'EE'])],
  [ExtensionType.signature_algorithms, new Set(['CH', 'CR'])],
  [ExtensionType.use_srtp, new Set(['CH', 'EE'])],
  [ExtensionType.heartbeat, new Set(['CH', 'EE'])],
  [ExtensionType.application_layer_protocol_negotiation, new Set(['CH', 'EE'])],
  [ExtensionType.signed_certificate_timestamp, new Set(['CH', 'CR', 'CT'])],
  [ExtensionType.client_certificate_type, new Set(['CH', 'EE'])],
  [ExtensionType.server_certificate_type, new Set(['CH', 'EE'])],
  [ExtensionType.padding, new Set(['CH'])],
  [ExtensionType.compress_certificate, new Set(['CH', 'CR'])],
  [ExtensionType.record_size_limit, new Set(['CH', 'EE'])],
  [ExtensionType.delegated_credential, new Set(['CH', 'CR', 'CT'])],
  [ExtensionType.supported_ekt_ciphers, new Set(['CH', 'EE'])],
  [ExtensionType.pre_shared_key, new Set(['CH', 'SH'])],
  [ExtensionType.early_data, new Set(['CH', 'EE', 'NST'])],
  [ExtensionType.supported_versions, new Set(['CH', 'SH', 'HRR'])],
  [ExtensionType.cookie, new Set(['CH', 'HRR'])],
  [ExtensionType.psk_key_exchange_modes, new Set(['CH'])],
  [ExtensionType.certificate_authorities, new Set(['CH', 'CR'])],
  [ExtensionType.oid_filters, new Set(['CR'])],
  [ExtensionType.post_handshake_auth, new Set(['CH'])],
  [ExtensionType.signature_algorithms_cert, new Set(['CH', 'CR'])],
  [ExtensionType.key_share, new Set(['CH', 'SH', 'HRR'])],
  [ExtensionType.transparency_info, new Set(['CH', 'CR', 'CT'])],
  [ExtensionType.external_id_hash, new Set(['CH', 'EE'])],
  [ExtensionType.external_session_id, new Set(['CH', 'EE'])],
  [ExtensionType.quic_transport_parameters, new Set(['CH', 'EE'])],
  [ExtensionType.ticket_request, new Set(['CH', 'EE'])],
  [ExtensionType.ech_outer_extensions, new Set(['CH'])],
  [ExtensionType.encrypted_client_hello, new Set(['CH', 'HRR', 'EE'])],
]);

/** Contexts in which the peer is a server negotiating with us: GREASE must never appear there (RFC 8701 §3). */
const NO_GREASE_CONTEXTS: ReadonlySet<ExtensionContext> = new Set(['server_hello', 'hello_retry_request', 'encrypted_extensions', 'certificate']);

/** True when an extension of `type` may appear in a message of `context` (RFC 8446 §4.2 table). */
export function extensionAllowedIn(type: number, context: ExtensionContext): boolean {
  const allowed = EXTENSION_ALLOWED_IN.get(type);
  return allowed === undefined || allowed.has(CONTEXT_ABBREV[context]);
}

/** The extension_type code point of `ext`. */
export function extensionTypeOf(ext: Extension): number {
  return ext.kind === 'raw' ? ext.type : EXTENSION_KIND_TYPE[ext.kind];
}

function illegal(reason: string): never {
  throw new TlsAlertError(TlsAlert.illegal_parameter, reason);
}

function decodeFail(reason: string): never {
  throw new TlsAlertError(TlsAlert.decode_error, reason);
}

// ---------------------------------------------------------------------------------------------
// Decoding

/**
 * Decodes an extension block `Extension extensions<0..2^16-1>` at the reader's position for a
 * message of `context`, applying the block rules listed in the module description. `min` is the
 * smallest block length the message's grammar allows (decode_error below it).
 */
export function decodeExtensions<C extends ExtensionContext>(r: TlsReader, context: C, min = 0): ExtensionsByContext[C][] {
  const block = r.subVector(2, `${context} extensions`, min);
  const seen = new Set<number>();
  const out: Extension[] = [];
  while (!block.done) {
    const type = block.u16('extension_type');
    const data = block.vector(2, `${extensionTypeName(type)} extension_data`);
    // RFC 8446 §4.2: "There MUST NOT be more than one extension of the same type in a given extension block."
    if (seen.has(type)) illegal(`duplicate ${extensionTypeName(type)} extension in ${context}`);
    seen.add(type);
    // RFC 8446 §4.2: a recognized extension not specified for the message → illegal_parameter.
    if (!extensionAllowedIn(type, context)) illegal(`${extensionTypeName(type)} extension is not allowed in ${context}`);
    // RFC 8701 §3: clients MUST fail the connection on a GREASE extension in server messages.
    if (isGrease16(type) && NO_GREASE_CONTEXTS.has(context)) {
      throw new TlsAlertError(TlsAlert.unsupported_extension, `GREASE extension ${extensionTypeName(type)} in ${context}`);
    }
    const kind = PARSED[context].get(type);
    out.push(kind === undefined ? { kind: 'raw', type, data } : decodeBody(kind, data, context));
  }
  // RFC 8446 §4.2.11: pre_shared_key MUST be the last extension in the ClientHello → illegal_parameter.
  if (context === 'client_hello') {
    const i = out.findIndex((e) => e.kind === 'pre_shared_key');
    if (i !== -1 && i !== out.length - 1) illegal('pre_shared_key is not the last extension of the ClientHello');
  }
  return out as ExtensionsByContext[C][];
}

function readU16List(r: TlsReader, what: string, min: number, max: number): number[] {
  const body = r.subVector(2, what, min, max);
  if (body.remaining % 2 !== 0) decodeFail(`${what} has odd length ${body.remaining}`);
  const out: number[] = [];
  while (!body.done) out.push(body.u16(what));
  return out;
}

function readKeyShareEntry(r: TlsReader): KeyShareEntry {
  const group = r.u16('KeyShareEntry.group');
  const keyExchange = r.vector(2, 'KeyShareEntry.key_exchange', 1);
  checkKeyExchangeLength(group, keyExchange.length);
  return { group, keyExchange };
}

function checkKeyExchangeLength(group: number, length: number): void {
  // RFC 8446 §4.2.8.2: the key_exchange of the ECDHE groups has a fixed length; anything else is a
  // semantically invalid share → illegal_parameter (RFC 8446 §6.2).
  const expected = ECDHE_KEY_EXCHANGE_LENGTH.get(group);
  if (expected !== undefined && expected !== length) {
    illegal(`key share for group 0x${group.toString(16).padStart(4, '0')} is ${length} bytes, expected ${expected}`);
  }
}

function hex16(v: number): string {
  return `0x${v.toString(16).padStart(4, '0')}`;
}

function decodeBody(kind: ExtensionKind, data: Uint8Array, context: ExtensionContext): Extension {
  const r = new TlsReader(data);
  let ext: Extension;
  switch (kind) {
    case 'server_name': {
      if (context !== 'client_hello') {
        // RFC 6066 §3: the server's server_name extension "SHALL be empty".
        r.finish('server_name in EncryptedExtensions (must be empty)');
        return { kind };
      }
      // RFC 6066 §3: ServerName server_name_list<1..2^16-1>; HostName opaque<1..2^16-1>.
      const list = r.subVector(2, 'server_name_list', 1);
      let hostName: string | undefined;
      while (!list.done) {
        const nameType = list.u8('ServerName.name_type');
        const name = list.vector(2, 'ServerName.name', 1);
        if (nameType !== ServerNameType.host_name) continue;
        // RFC 6066 §3: "The ServerNameList MUST NOT contain more than one name of the same name_type."
        if (hostName !== undefined) illegal('server_name has more than one host_name');
        hostName = decodeHostName(name);
      }
      ext = hostName === undefined ? { kind } : { kind, hostName };
      break;
    }
    case 'supported_groups': {
      // RFC 8446 §4.2.7: NamedGroup named_group_list<2..2^16-1>.
      const groups = readU16List(r, 'named_group_list', 2, 0xffff);
      // RFC 8446 §4.2.7: MUST NOT contain duplicates; a recipient MAY abort with illegal_parameter.
      if (new Set(groups).size !== groups.length) illegal('supported_groups lists a group twice');
      ext = { kind, groups };
      break;
    }
    case 'signature_algorithms':
    case 'signature_algorithms_cert':
      // RFC 8446 §4.2.3: SignatureScheme supported_signature_algorithms<2..2^16-2>.
      ext = { kind, schemes: readU16List(r, `${kind} list`, 2, 0xfffe) };
      break;
    case 'alpn': {
      // RFC 7301 §3.1: ProtocolName protocol_name_list<2..2^16-1>; ProtocolName opaque<1..2^8-1>.
      const list = r.subVector(2, 'protocol_name_list', 2);
      const protocols: Uint8Array[] = [];
      while (!list.done) protocols.push(list.vector(1, 'ProtocolName', 1));
      if (context === 'encrypted_extensions') {
        // RFC 7301 §3.1: the server's list "MUST contain exactly one ProtocolName".
        if (protocols.length !== 1) decodeFail(`ALPN in EncryptedExtensions carries ${protocols.length} protocols, not exactly one`);
        // RFC 8701 §3: a GREASE protocol selected by the server is refused.
        if (isGreaseAlpn(protocols[0])) illegal('server selected a GREASE ALPN protocol');
      }
      ext = { kind, protocols };
      break;
    }
    case 'quic_transport_parameters':
      // RFC 9001 §8.2: the content is defined by the QUIC version; QUIC decodes it.
      return { kind, data };
    case 'supported_versions': {
      // RFC 8446 §4.2.1: ProtocolVersion versions<2..254>.
      const list = r.subVector(1, 'supported_versions list', 2, 254);
      if (list.remaining % 2 !== 0) decodeFail(`supported_versions list has odd length ${list.remaining}`);
      const versions: number[] = [];
      while (!list.done) versions.push(list.u16('ProtocolVersion'));
      ext = { kind, versions };
      break;
    }
    case 'supported_versions_selected': {
      const version = r.u16('selected_version');
      // RFC 8701 §3 (GREASE never selected) and RFC 8446 §4.2.1 (a version prior to TLS 1.3 →
      // illegal_parameter).
      if (isGrease16(version)) illegal(`server selected GREASE version ${hex16(version)}`);
      if (version < ProtocolVersion.TLS13) illegal(`supported_versions selects ${hex16(version)}, prior to TLS 1.3`);
      ext = { kind, version };
      break;
    }
    case 'key_share': {
      // RFC 8446 §4.2.8: KeyShareEntry client_shares<0..2^16-1>.
      const list = r.subVector(2, 'client_shares');
      const shares: KeyShareEntry[] = [];
      const groups = new Set<number>();
      while (!list.done) {
        const share = readKeyShareEntry(list);
        // RFC 8446 §4.2.8: clients MUST NOT offer two shares for one group; servers MAY abort with illegal_parameter.
        if (groups.has(share.group)) illegal(`key_share offers group ${hex16(share.group)} twice`);
        groups.add(share.group);
        shares.push(share);
      }
      ext = { kind, shares };
      break;
    }
    case 'key_share_selected': {
      const share = readKeyShareEntry(r);
      if (isGrease16(share.group)) illegal(`server key share uses GREASE group ${hex16(share.group)}`);
      ext = { kind, share };
      break;
    }
    case 'key_share_retry': {
      const selectedGroup = r.u16('selected_group');
      if (isGrease16(selectedGroup)) illegal(`HelloRetryRequest selects GREASE group ${hex16(selectedGroup)}`);
      ext = { kind, selectedGroup };
      break;
    }
    case 'pre_shared_key': {
      // RFC 8446 §4.2.11: PskIdentity identities<7..2^16-1>; PskBinderEntry binders<33..2^16-1>.
      const idList = r.subVector(2, 'OfferedPsks.identities', 7);
      const identities: PskIdentity[] = [];
      while (!idList.done) {
        const identity = idList.vector(2, 'PskIdentity.identity', 1);
        identities.push({ identity, obfuscatedTicketAge: idList.u32('obfuscated_ticket_age') });
      }
      const binderList = r.subVector(2, 'OfferedPsks.binders', 33);
      const binders: Uint8Array[] = [];
      while (!binderList.done) binders.push(binderList.vector(1, 'PskBinderEntry', 32, 255));
      // RFC 8446 §4.2.11: one binder per identity, in the same order.
      if (binders.length !== identities.length) illegal(`pre_shared_key has ${identities.length} identities but ${binders.length} binders`);
      ext = { kind, identities, binders };
      break;
    }
    case 'pre_shared_key_selected':
      ext = { kind, selectedIdentity: r.u16('selected_identity') };
      break;
    case 'psk_key_exchange_modes': {
      // RFC 8446 §4.2.9: PskKeyExchangeMode ke_modes<1..255>.
      ext = { kind, modes: Array.from(r.vector(1, 'ke_modes', 1)) };
      break;
    }
    case 'early_data':
      // RFC 8446 §4.2.10: empty in ClientHello and EncryptedExtensions.
      ext = { kind };
      break;
    case 'early_data_ticket':
      ext = { kind, maxEarlyDataSize: r.u32('max_early_data_size') };
      break;
    case 'cookie':
      // RFC 8446 §4.2.2: opaque cookie<1..2^16-1>.
      ext = { kind, cookie: r.vector(2, 'cookie', 1) };
      break;
  }
  // RFC 8446 §4.2: data left over after parsing the structure → decode_error.
  r.finish(`${extensionTypeName(EXTENSION_KIND_TYPE[kind])} extension`);
  return ext;
}

function decodeHostName(name: Uint8Array): string {
  // RFC 6066 §3: HostName is "a byte string using ASCII encoding"; anything else (controls, 8-bit
  // bytes) is not a host name → illegal_parameter.
  let s = '';
  for (const b of name) {
    if (b < 0x21 || b > 0x7e) illegal('server_name host_name is not printable ASCII');
    s += String.fromCharCode(b);
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// Encoding

/**
 * Appends the extension block `Extension extensions<min..2^16-1>` for a message of `context`.
 * Refuses (internal_error) what the decoder would refuse: a kind not parsed in `context`, two
 * extensions of one type, a type the §4.2 table forbids in `context`, pre_shared_key not last in a
 * ClientHello, and out-of-range bodies.
 */
export function encodeExtensions(sink: TlsSink, context: ExtensionContext, extensions: readonly Extension[], min = 0): void {
  const seen = new Set<number>();
  extensions.forEach((ext, i) => {
    const type = extensionTypeOf(ext);
    if (seen.has(type)) encodeError(`duplicate ${extensionTypeName(type)} extension`);
    seen.add(type);
    if (!extensionAllowedIn(type, context)) encodeError(`${extensionTypeName(type)} extension is not allowed in ${context}`);
    if (ext.kind !== 'raw' && PARSED[context].get(type) !== ext.kind) encodeError(`a ${ext.kind} extension cannot be sent in ${context}`);
    if (isGrease16(type) && NO_GREASE_CONTEXTS.has(context)) encodeError(`GREASE extension in ${context}`);
    if (context === 'client_hello' && type === ExtensionType.pre_shared_key && i !== extensions.length - 1) {
      encodeError('pre_shared_key must be the last ClientHello extension');
    }
  });
  sink.vector(
    2,
    `${context} extensions`,
    () => {
      for (const ext of extensions) {
        sink.u16(extensionTypeOf(ext));
        sink.vector(2, `${extensionTypeName(extensionTypeOf(ext))} extension_data`, () => encodeBody(sink, ext, context));
      }
    },
    min,
  );
}

function writeU16List(sink: TlsSink, prefix: 1 | 2, what: string, values: readonly number[], min: number, max: number): void {
  sink.vector(prefix, what, () => values.forEach((v) => sink.u16(v)), min, max);
}

function encodeKeyShareEntry(sink: TlsSink, share: KeyShareEntry): void {
  const expected = ECDHE_KEY_EXCHANGE_LENGTH.get(share.group);
  if (expected !== undefined && expected !== share.keyExchange.length) {
    encodeError(`key share for group ${hex16(share.group)} is ${share.keyExchange.length} bytes, expected ${expected}`);
  }
  sink.u16(share.group);
  sink.vector(2, 'KeyShareEntry.key_exchange', () => sink.bytes(share.keyExchange), 1);
}

function encodeBody(sink: TlsSink, ext: Extension, context: ExtensionContext): void {
  switch (ext.kind) {
    case 'raw':
      sink.bytes(ext.data);
      return;
    case 'server_name':
      if (context !== 'client_hello') {
        if (ext.hostName !== undefined) encodeError('server_name outside a ClientHello must be empty');
        return;
      }
      if (ext.hostName === undefined) encodeError('server_name in a ClientHello needs a hostName');
      {
        const name = encodeHostName(ext.hostName);
        sink.vector(
          2,
          'server_name_list',
          () => {
            sink.u8(ServerNameType.host_name);
            sink.vector(2, 'HostName', () => sink.bytes(name), 1);
          },
          1,
        );
      }
      return;
    case 'supported_groups':
      if (new Set(ext.groups).size !== ext.groups.length) encodeError('supported_groups lists a group twice');
      writeU16List(sink, 2, 'named_group_list', ext.groups, 2, 0xffff);
      return;
    case 'signature_algorithms':
    case 'signature_algorithms_cert':
      writeU16List(sink, 2, `${ext.kind} list`, ext.schemes, 2, 0xfffe);
      return;
    case 'alpn':
      if (context === 'encrypted_extensions' && ext.protocols.length !== 1) encodeError('ALPN in EncryptedExtensions carries exactly one protocol');
      sink.vector(2, 'protocol_name_list', () => ext.protocols.forEach((p) => sink.vector(1, 'ProtocolName', () => sink.bytes(p), 1)), 2);
      return;
    case 'quic_transport_parameters':
      sink.bytes(ext.data);
      return;
    case 'supported_versions':
      writeU16List(sink, 1, 'supported_versions list', ext.versions, 2, 254);
      return;
    case 'supported_versions_selected':
      if (ext.version < ProtocolVersion.TLS13 || isGrease16(ext.version)) encodeError(`cannot select version ${hex16(ext.version)}`);
      sink.u16(ext.version);
      return;
    case 'key_share': {
      const groups = new Set(ext.shares.map((s) => s.group));
      if (groups.size !== ext.shares.length) encodeError('key_share offers a group twice');
      sink.vector(2, 'client_shares', () => ext.shares.forEach((s) => encodeKeyShareEntry(sink, s)));
      return;
    }
    case 'key_share_selected':
      if (isGrease16(ext.share.group)) encodeError('server key share in a GREASE group');
      encodeKeyShareEntry(sink, ext.share);
      return;
    case 'key_share_retry':
      if (isGrease16(ext.selectedGroup)) encodeError('HelloRetryRequest selecting a GREASE group');
      sink.u16(ext.selectedGroup);
      return;
    case 'pre_shared_key':
      if (ext.identities.length !== ext.binders.length) encodeError('pre_shared_key needs one binder per identity');
      sink.vector(
        2,
        'OfferedPsks.identities',
        () =>
          ext.identities.forEach((id) => {
            sink.vector(2, 'PskIdentity.identity', () => sink.bytes(id.identity), 1);
            sink.u32(id.obfuscatedTicketAge);
          }),
        7,
      );
      sink.vector(2, 'OfferedPsks.binders', () => ext.binders.forEach((b) => sink.vector(1, 'PskBinderEntry', () => sink.bytes(b), 32, 255)), 33);
      return;
    case 'pre_shared_key_selected':
      sink.u16(ext.selectedIdentity);
      return;
    case 'psk_key_exchange_modes':
      sink.vector(1, 'ke_modes', () => ext.modes.forEach((m) => sink.u8(m)), 1);
      return;
    case 'early_data':
      return;
    case 'early_data_ticket':
      sink.u32(ext.maxEarlyDataSize);
      return;
    case 'cookie':
      sink.vector(2, 'cookie', () => sink.bytes(ext.cookie), 1);
      return;
  }
}

function encodeHostName(hostName: string): Uint8Array {
  // RFC 6066 §3: ASCII, without a trailing dot.
  if (hostName.length === 0 || hostName.endsWith('.')) encodeError(`host name ${JSON.stringify(hostName)} is empty or ends with a dot`);
  const out = new Uint8Array(hostName.length);
  for (let i = 0; i < hostName.length; i++) {
    const c = hostName.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) encodeError(`host name ${JSON.stringify(hostName)} is not printable ASCII`);
    out[i] = c;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Accessors and handshake-level checks

/** The extension of `kind` in `extensions`, or `undefined`. */
export function findExtension<E extends Extension, K extends E['kind']>(extensions: readonly E[], kind: K): Extract<E, { kind: K }> | undefined {
  return extensions.find((e): e is Extract<E, { kind: K }> => e.kind === kind);
}

/** The raw extension of `type` in `extensions` (only for types not parsed in that message), or `undefined`. */
export function findRawExtension(extensions: readonly Extension[], type: number): RawExtension | undefined {
  return extensions.find((e): e is RawExtension => e.kind === 'raw' && e.type === type);
}

/**
 * The extension of `kind`, or a `missing_extension` {@link TlsAlertError} naming `message`
 * (RFC 8446 §9.2, RFC 9001 §8.2 use missing_extension for mandatory extensions).
 */
export function requireExtension<E extends Extension, K extends Exclude<E['kind'], 'raw'>>(extensions: readonly E[], kind: K, message: string): Extract<E, { kind: K }> {
  const ext = findExtension(extensions, kind);
  if (ext === undefined) {
    throw new TlsAlertError(TlsAlert.missing_extension, `${message} lacks the ${extensionTypeName(EXTENSION_KIND_TYPE[kind as ExtensionKind])} extension`);
  }
  return ext;
}

/**
 * Refuses extension responses that answer no request (RFC 8446 §4.2): every extension in a
 * ServerHello, HelloRetryRequest, EncryptedExtensions or Certificate must have a type in
 * `requestedTypes` (the types of the ClientHello, or of the CertificateRequest for a client's
 * Certificate), except cookie in a HelloRetryRequest → unsupported_extension. NewSessionTicket may
 * carry unsolicited extensions (RFC 8446 §4.2), so `new_session_ticket` accepts everything.
 */
export function checkSolicitedExtensions(received: readonly Extension[], requestedTypes: Iterable<number>, context: ExtensionContext): void {
  if (context === 'new_session_ticket' || context === 'client_hello' || context === 'certificate_request') return;
  const requested = new Set(requestedTypes);
  for (const ext of received) {
    const type = extensionTypeOf(ext);
    if (requested.has(type)) continue;
    if (context === 'hello_retry_request' && type === ExtensionType.cookie) continue;
    throw new TlsAlertError(TlsAlert.unsupported_extension, `${context} carries ${extensionTypeName(type)}, which was not requested`);
  }
}

const alpnEncoder = new TextEncoder();
const alpnDecoder = new TextDecoder('utf-8', { fatal: false });

/** The ProtocolName bytes of an ALPN identifier such as `h3` (RFC 7301 §3.1). */
export function alpnProtocol(name: string): Uint8Array {
  return alpnEncoder.encode(name);
}

/** An ALPN ProtocolName as text (for logs and comparisons with configured names). */
export function alpnName(protocol: Uint8Array): string {
  return alpnDecoder.decode(protocol);
}
