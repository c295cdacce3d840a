/**
 * Configuration of the TLS client and server sessions, and its validation.
 *
 * A configuration mistake (an empty ALPN list, a key that does not match its certificate, a ticket
 * key of the wrong length, …) is refused when the session is created, with a
 * {@link TlsAlertError} `internal_error` naming the field: such a mistake is ours, never the peer's.
 *
 * @module
 */
import { X509Certificate, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';
import type { KeyExchangeGroup } from '../crypto/provider.js';
import { TlsAlert, TlsAlertError } from './alerts.js';
import { CIPHER_SUITES, DEFAULT_CIPHER_SUITES, type CipherSuiteValue } from './cipher-suites.js';
import { TrustStore, type CertificateCache, type TrustAnchorInput } from './certificates.js';
import { alpnProtocol } from './extensions.js';
import { MAX_TICKET_LIFETIME } from './messages/ticket.js';
import { signatureSchemeMatchesKey, supportedSignatureSchemes } from './signatures.js';
import { SESSION_TICKET_KEY_LENGTH, type TlsTicketStore } from './tickets.js';

/** An ALPN protocol identifier: text such as `h3` (encoded as UTF-8) or the raw ProtocolName bytes (RFC 7301 §3.1). */
export type AlpnProtocolInput = string | Uint8Array;

/** How a peer's certificate chain is judged (see `verifyCertificateChain`). */
export interface TlsTrustOptions {
  /**
   * The trust anchors: `'system'` (Node's bundled Mozilla roots), a {@link TrustStore}, or a list of
   * CA certificates (PEM, DER or `X509Certificate`; turned into a `TrustStore` when the session is
   * created, and that store is reused by later sessions given a list of the same content).
   */
  readonly trustAnchors?: 'system' | TrustStore | readonly TrustAnchorInput[];
  /** SPKI pins (base64 SHA-256 of the end entity's SubjectPublicKeyInfo); see {@link pinMode}. */
  readonly pinnedSpkiSha256?: readonly string[];
  /** `'require-chain'` (default): pin and full verification; `'pin-only'`: a pin match alone suffices. */
  readonly pinMode?: 'require-chain' | 'pin-only';
  /** INSECURE, tests only: accept any parsable chain; anyone can impersonate anyone. */
  readonly insecureSkipVerify?: boolean;
  /** Reuse the parsing of certificates seen before (exact bytes, see {@link CertificateCache}); verification is never cached. */
  readonly certificateCache?: CertificateCache;
}

/** A certificate chain and the private key of its end entity. */
export interface TlsCertificateKeyPair {
  /** DER certificates, end entity first (the Certificate message's list, RFC 8446 §4.4.2). */
  readonly certificateChain: readonly Uint8Array[];
  /** The end entity's private key (signs CertificateVerify, RFC 8446 §4.4.3). */
  readonly privateKey: KeyObject;
}

/** Configuration of a TLS client session. */
export interface TlsClientConfig extends TlsTrustOptions {
  /**
   * The server's name: sent as SNI (RFC 6066 §3) and matched against the certificate. Unicode names
   * are sent as A-labels. An IP address literal is not sent as SNI (RFC 6066 §3 forbids it) and is
   * matched against the certificate's iPAddress names instead.
   */
  readonly serverName?: string;
  /**
   * The IP address connected to: the identity to verify when there is no {@link serverName}
   * (iPAddress SAN match). Ignored when `serverName` is given.
   */
  readonly remoteAddress?: string;
  /** ALPN protocols in preference order; required and non-empty (RFC 9001 §8.1). */
  readonly alpnProtocols: readonly AlpnProtocolInput[];
  /** The encoded quic_transport_parameters to send (RFC 9001 §8.2); QUIC encodes and checks them. */
  readonly transportParameters: Uint8Array;
  /** Cipher suites to offer, in preference order (default: AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305). */
  readonly cipherSuites?: readonly number[];
  /** Key exchange groups to offer, in preference order (default `['x25519', 'secp256r1']`). */
  readonly groups?: readonly KeyExchangeGroup[];
  /** How many of the first {@link groups} get a key share in the first ClientHello (default 1; the server may ask for another with a HelloRetryRequest). */
  readonly keyShareCount?: number;
  /** The certificate to answer a CertificateRequest with; without it an empty Certificate is sent (RFC 8446 §4.4.2.3). */
  readonly certificate?: TlsCertificateKeyPair;
  /**
   * Where received session tickets go. When given, the client sends psk_key_exchange_modes
   * (psk_dhe_ke), which servers need before they issue tickets (RFC 8446 §4.2.9).
   */
  readonly ticketStore?: TlsTicketStore;
  /** Send GREASE values (RFC 8701) in cipher suites, extensions, groups, key shares, versions and signature algorithms (default true). */
  readonly grease?: boolean;
}

/** How a server asks clients for certificates (RFC 8446 §4.3.2) and judges them. */
export interface TlsClientAuthenticationConfig extends Omit<TlsTrustOptions, 'insecureSkipVerify'> {
  /** Refuse clients that send no certificate (certificate_required, RFC 8446 §4.4.2.4). Default false. */
  readonly required?: boolean;
}

/** Session ticket issuing (RFC 8446 §4.6.1); see `tickets.ts` for the ticket format. */
export interface TlsSessionTicketConfig {
  /** The 32-byte key tickets are sealed with (AES-256-GCM); share it between servers that should accept each other's tickets. */
  readonly key: Uint8Array;
  /** Tickets issued after each handshake (default 1, at most 8). */
  readonly count?: number;
  /** ticket_lifetime in seconds (default 86400, at most 604800). */
  readonly lifetime?: number;
}

/** Configuration of a TLS server session. */
export interface TlsServerConfig extends TlsCertificateKeyPair {
  /** ALPN protocols in the server's preference order; the first one the client also offers is selected. */
  readonly alpnProtocols?: readonly AlpnProtocolInput[];
  /**
   * Chooses the protocol instead of {@link alpnProtocols}: given the client's offered protocols
   * (GREASE removed) and its SNI, returns one of them, or `undefined` for no_application_protocol.
   */
  readonly selectAlpn?: (offered: readonly Uint8Array[], serverName: string | undefined) => AlpnProtocolInput | undefined;
  /** Cipher suites in the server's preference order (default as for the client). */
  readonly cipherSuites?: readonly number[];
  /** Groups in the server's preference order (default `['x25519', 'secp256r1']`). */
  readonly groups?: readonly KeyExchangeGroup[];
  /** The encoded quic_transport_parameters to send (RFC 9001 §8.2). */
  readonly transportParameters: Uint8Array;
  /**
   * Ask the client for a certificate. Its chain is verified when `trustAnchors` or
   * `pinnedSpkiSha256` is given; otherwise it is only parsed, its CertificateVerify still proves
   * possession of the key, and the application judges it (handshake info `peerCertificateTrust: 'unverified'`).
   */
  readonly clientAuthentication?: TlsClientAuthenticationConfig;
  /** Issue session tickets; absent: none are issued. */
  readonly sessionTickets?: TlsSessionTicketConfig;
  /**
   * Put a random cookie in a HelloRetryRequest and require ClientHello2 to echo it (RFC 8446
   * §4.2.2). This server keeps its state across the retry, so the cookie only checks the echo.
   */
  readonly helloRetryRequestCookie?: boolean;
}

/** The default group order: X25519 first (RFC 8446 §9.1 makes secp256r1 mandatory, X25519 SHOULD). */
export const DEFAULT_GROUPS: readonly KeyExchangeGroup[] = ['x25519', 'secp256r1'];

/** @internal Trust options with a list turned into a TrustStore. */
export interface ResolvedTrust {
  readonly trustAnchors: 'system' | TrustStore | undefined;
  readonly pinnedSpkiSha256: readonly string[] | undefined;
  readonly pinMode: 'require-chain' | 'pin-only' | undefined;
  readonly insecureSkipVerify: boolean;
  readonly certificateCache: CertificateCache | undefined;
}

/** @internal A validated client configuration. */
export interface ResolvedClientConfig {
  /** SNI host name (A-label form), absent for IP literals. */
  readonly sniHostName: string | undefined;
  /** The identity checked against the certificate. */
  readonly verifyName: { readonly serverName: string } | { readonly ipAddress: string } | undefined;
  /** The name tickets are stored under. */
  readonly ticketName: string;
  readonly alpn: readonly Uint8Array[];
  readonly transportParameters: Uint8Array;
  readonly cipherSuites: readonly CipherSuiteValue[];
  readonly groups: readonly KeyExchangeGroup[];
  readonly keyShareCount: number;
  readonly certificate: TlsCertificateKeyPair | undefined;
  readonly ticketStore: TlsTicketStore | undefined;
  readonly grease: boolean;
  readonly trust: ResolvedTrust;
}

/** @internal A validated server configuration. */
export interface ResolvedServerConfig {
  readonly certificateChain: readonly Uint8Array[];
  readonly privateKey: KeyObject;
  readonly alpn: readonly Uint8Array[] | undefined;
  readonly selectAlpn: TlsServerConfig['selectAlpn'];
  readonly cipherSuites: readonly CipherSuiteValue[];
  readonly groups: readonly KeyExchangeGroup[];
  readonly transportParameters: Uint8Array;
  readonly clientAuthentication: { readonly required: boolean; readonly trust: ResolvedTrust | undefined } | undefined;
  readonly sessionTickets: { readonly key: Uint8Array; readonly count: number; readonly lifetime: number } | undefined;
  readonly helloRetryRequestCookie: boolean;
}

function configError(reason: string): never {
  throw new TlsAlertError(TlsAlert.internal_error, `TLS configuration: ${reason}`);
}

function resolveAlpn(list: readonly AlpnProtocolInput[] | undefined, who: string): readonly Uint8Array[] {
  if (!Array.isArray(list) || list.length === 0) configError(`${who} alpnProtocols must list at least one protocol (RFC 9001 §8.1)`);
  return list.map((p, i) => toAlpnBytes(p, `${who} alpnProtocols[${i}]`));
}

/** @internal The ProtocolName bytes of an ALPN input; 1–255 bytes (RFC 7301 §3.1). */
export function toAlpnBytes(p: AlpnProtocolInput, what: string): Uint8Array {
  const bytes = typeof p === 'string' ? alpnProtocol(p) : p instanceof Uint8Array ? p : configError(`${what} is not a string or Uint8Array`);
  if (bytes.length < 1 || bytes.length > 255) configError(`${what} is ${bytes.length} bytes; an ALPN protocol name is 1 to 255 bytes`);
  return bytes.slice();
}

function resolveSuites(list: readonly number[] | undefined, who: string): readonly CipherSuiteValue[] {
  const suites = list ?? DEFAULT_CIPHER_SUITES;
  if (suites.length === 0) configError(`${who} cipherSuites is empty`);
  for (const s of suites) if (!CIPHER_SUITES.has(s)) configError(`${who} cipherSuites lists 0x${s.toString(16)}, which is not supported`);
  if (new Set(suites).size !== suites.length) configError(`${who} cipherSuites lists a suite twice`);
  return suites as readonly CipherSuiteValue[];
}

function resolveGroups(list: readonly KeyExchangeGroup[] | undefined, who: string): readonly KeyExchangeGroup[] {
  const groups = list ?? DEFAULT_GROUPS;
  if (groups.length === 0) configError(`${who} groups is empty`);
  for (const g of groups) if (g !== 'x25519' && g !== 'secp256r1') configError(`${who} groups lists ${String(g)}, which is not supported`);
  if (new Set(groups).size !== groups.length) configError(`${who} groups lists a group twice`);
  return groups;
}

/** Distinct trust anchor lists whose {@link TrustStore} is kept (see {@link trustStoreOfList}). */
const TRUST_LIST_CACHE_SIZE = 16;

/** Lists longer than this (characters of their key) are not kept. */
const TRUST_LIST_CACHE_MAX_KEY = 256 * 1024;

/** TrustStores of anchor lists, keyed on the list's exact content, least recently used first. */
const trustListCache = new Map<string, TrustStore>();

/**
 * The TrustStore of a list of anchors. Every connection of a client given the same list would
 * otherwise parse it again (PEM decoding, DER walk and OpenSSL's X509Certificate: ≈ 0.4 ms, a
 * third of building a client connection). The key is the list's exact content (text as given,
 * bytes as hex), so a different list never gets another's store; a list holding an
 * `X509Certificate`, or a very long one, is not kept. A store is immutable once built (its lazy
 * parsing of an anchor is the same for every user), so sharing it changes no verification.
 */
function trustStoreOfList(anchors: readonly TrustAnchorInput[]): TrustStore {
  let key = '';
  for (const a of anchors) {
    if (typeof a === 'string') key += `p${a.length}:${a}`;
    else if (a instanceof Uint8Array) key += `d${a.length}:${Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('hex')}`;
    else return new TrustStore(anchors);
    if (key.length > TRUST_LIST_CACHE_MAX_KEY) return new TrustStore(anchors);
  }
  const cached = trustListCache.get(key);
  if (cached !== undefined) {
    trustListCache.delete(key); // most recently used last
    trustListCache.set(key, cached);
    return cached;
  }
  const store = new TrustStore(anchors); // throws for an invalid anchor: nothing is kept
  trustListCache.set(key, store);
  if (trustListCache.size > TRUST_LIST_CACHE_SIZE) trustListCache.delete(trustListCache.keys().next().value as string);
  return store;
}

function resolveTrust(t: TlsTrustOptions): ResolvedTrust {
  const anchors = t.trustAnchors;
  let trustAnchors: 'system' | TrustStore | undefined;
  if (anchors === undefined || anchors === 'system' || anchors instanceof TrustStore) trustAnchors = anchors;
  else if (Array.isArray(anchors)) trustAnchors = trustStoreOfList(anchors);
  else configError(`trustAnchors must be 'system', a TrustStore or a list of certificates`);
  if (t.pinnedSpkiSha256 !== undefined && t.pinnedSpkiSha256.length === 0) configError('pinnedSpkiSha256 is empty: leave it out or give at least one pin');
  if (t.insecureSkipVerify === true && t.pinnedSpkiSha256 !== undefined) configError('insecureSkipVerify and pinnedSpkiSha256 contradict each other');
  if (t.pinMode === 'pin-only' && t.pinnedSpkiSha256 === undefined) configError("pinMode 'pin-only' needs pinnedSpkiSha256");
  return { trustAnchors, pinnedSpkiSha256: t.pinnedSpkiSha256, pinMode: t.pinMode, insecureSkipVerify: t.insecureSkipVerify === true, certificateCache: t.certificateCache };
}

/**
 * Key/certificate pairs already checked, by key object and certificate array: a server creates a
 * session per connection from the same configuration, and parsing the certificate again each time
 * costs more than the rest of the session setup. (The check is a configuration sanity check; the
 * peer verifies the certificate and the signature itself.)
 */
const checkedPairs = new WeakMap<KeyObject, WeakSet<Uint8Array>>();

/**
 * @internal Checks a certificate chain and its key as a session would when it is created: a
 * non-empty chain, a private key that can sign a TLS 1.3 CertificateVerify, and that belongs to the
 * end entity. Throws {@link TlsAlertError} internal_error naming `who`.
 */
export function checkKeyPair(pair: TlsCertificateKeyPair, who: string): void {
  if (!Array.isArray(pair.certificateChain) || pair.certificateChain.length === 0) configError(`${who} certificateChain is empty`);
  const key = pair.privateKey;
  if (key === undefined || key === null || typeof key !== 'object' || key.type !== 'private') configError(`${who} privateKey is not a private KeyObject`);
  if (checkedPairs.get(key)?.has(pair.certificateChain[0]) === true) return;
  if (!supportedSignatureSchemes.some((s) => signatureSchemeMatchesKey(s, key))) {
    configError(`${who} privateKey (${key.asymmetricKeyType}) cannot sign a TLS 1.3 CertificateVerify with any supported scheme`);
  }
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(pair.certificateChain[0]);
  } catch (cause) {
    throw new TlsAlertError(TlsAlert.internal_error, `TLS configuration: ${who} certificateChain[0] is not a DER certificate`, { cause });
  }
  if (!leaf.checkPrivateKey(key)) configError(`${who} privateKey does not belong to the end-entity certificate certificateChain[0]`);
  let set = checkedPairs.get(key);
  if (set === undefined) checkedPairs.set(key, (set = new WeakSet()));
  set.add(pair.certificateChain[0]);
}

function checkTransportParameters(tp: Uint8Array, who: string): void {
  if (!(tp instanceof Uint8Array)) configError(`${who} transportParameters must be the encoded parameters (a Uint8Array)`);
  if (tp.length > 0xffff) configError(`${who} transportParameters are ${tp.length} bytes; an extension holds at most 65535`);
}

/** @internal Validates a client configuration. */
export function resolveClientConfig(config: TlsClientConfig): ResolvedClientConfig {
  let sniHostName: string | undefined;
  let verifyName: ResolvedClientConfig['verifyName'];
  if (config.serverName !== undefined) {
    const name = config.serverName;
    if (typeof name !== 'string' || name.length === 0) configError('serverName is empty');
    const bare = name.startsWith('[') && name.endsWith(']') ? name.slice(1, -1) : name;
    if (isIP(bare) !== 0) {
      // RFC 6066 §3: "Literal IPv4 and IPv6 addresses are not permitted in HostName."
      verifyName = { ipAddress: bare };
    } else {
      const ascii = domainToASCII(name.endsWith('.') ? name.slice(0, -1) : name);
      if (ascii === '' || !/^[\x21-\x7e]+$/.test(ascii)) configError(`serverName ${JSON.stringify(name)} is not a valid host name`);
      sniHostName = ascii.toLowerCase();
      verifyName = { serverName: sniHostName };
    }
  } else if (config.remoteAddress !== undefined) {
    if (isIP(config.remoteAddress) === 0) configError(`remoteAddress ${JSON.stringify(config.remoteAddress)} is not an IP address`);
    verifyName = { ipAddress: config.remoteAddress };
  }
  const trust = resolveTrust(config);
  if (verifyName === undefined && !trust.insecureSkipVerify && trust.pinMode !== 'pin-only') {
    configError('give serverName or remoteAddress: the server certificate must be checked against an identity');
  }
  checkTransportParameters(config.transportParameters, 'client');
  const groups = resolveGroups(config.groups, 'client');
  const keyShareCount = config.keyShareCount ?? 1;
  if (!Number.isInteger(keyShareCount) || keyShareCount < 1 || keyShareCount > groups.length) {
    configError(`keyShareCount must be between 1 and the number of groups (${groups.length}), got ${keyShareCount}`);
  }
  if (config.certificate !== undefined) checkKeyPair(config.certificate, 'client certificate');
  return {
    sniHostName,
    verifyName,
    ticketName: sniHostName ?? (verifyName !== undefined && 'ipAddress' in verifyName ? verifyName.ipAddress : ''),
    alpn: resolveAlpn(config.alpnProtocols, 'client'),
    transportParameters: config.transportParameters.slice(),
    cipherSuites: resolveSuites(config.cipherSuites, 'client'),
    groups,
    keyShareCount,
    certificate: config.certificate,
    ticketStore: config.ticketStore,
    grease: config.grease ?? true,
    trust,
  };
}

/** @internal Validates a server configuration. */
export function resolveServerConfig(config: TlsServerConfig): ResolvedServerConfig {
  checkKeyPair(config, 'server');
  if (config.alpnProtocols === undefined && config.selectAlpn === undefined) configError('the server needs alpnProtocols or selectAlpn (RFC 9001 §8.1)');
  if (config.selectAlpn !== undefined && typeof config.selectAlpn !== 'function') configError('selectAlpn must be a function');
  checkTransportParameters(config.transportParameters, 'server');
  let sessionTickets: ResolvedServerConfig['sessionTickets'];
  if (config.sessionTickets !== undefined) {
    const { key, count = 1, lifetime = 86400 } = config.sessionTickets;
    if (!(key instanceof Uint8Array) || key.length !== SESSION_TICKET_KEY_LENGTH) configError(`sessionTickets.key must be ${SESSION_TICKET_KEY_LENGTH} bytes`);
    if (!Number.isInteger(count) || count < 0 || count > 8) configError(`sessionTickets.count must be an integer from 0 to 8, got ${count}`);
    // RFC 8446 §4.6.1: "Servers MUST NOT use any value greater than 604800 seconds (7 days)."
    if (!Number.isInteger(lifetime) || lifetime < 1 || lifetime > MAX_TICKET_LIFETIME) configError(`sessionTickets.lifetime must be 1 to ${MAX_TICKET_LIFETIME} s, got ${lifetime}`);
    sessionTickets = { key: key.slice(), count, lifetime };
  }
  const auth = config.clientAuthentication;
  return {
    certificateChain: config.certificateChain.map((c) => c.slice()),
    privateKey: config.privateKey,
    alpn: config.alpnProtocols === undefined ? undefined : resolveAlpn(config.alpnProtocols, 'server'),
    selectAlpn: config.selectAlpn,
    cipherSuites: resolveSuites(config.cipherSuites, 'server'),
    groups: resolveGroups(config.groups, 'server'),
    transportParameters: config.transportParameters.slice(),
    clientAuthentication:
      auth === undefined
        ? undefined
        : {
            required: auth.required === true,
            trust: auth.trustAnchors === undefined && auth.pinnedSpkiSha256 === undefined ? undefined : resolveTrust(auth),
          },
    sessionTickets,
    helloRetryRequestCookie: config.helloRetryRequestCookie === true,
  };
}
