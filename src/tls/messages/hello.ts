/**
 * ClientHello, ServerHello and HelloRetryRequest (RFC 8446 §4.1.2–§4.1.4).
 *
 * Decoders take the message body (after the 4-byte handshake header) and return views into it.
 * The fixed legacy fields (legacy_version 0x0303, compression method null) are checked on decode
 * and written by the encoders, so they do not appear in the types.
 *
 * @module
 */
import { TlsAlert, TlsAlertError } from '../alerts.js';
import { HELLO_RETRY_REQUEST_RANDOM, isGrease16, ProtocolVersion } from '../constants.js';
import {
  decodeExtensions,
  encodeExtensions,
  extensionTypeOf,
  findExtension,
  type ClientHelloExtension,
  type HelloRetryRequestExtension,
  type ServerHelloExtension,
} from '../extensions.js';
import { encodeError, TlsReader, type TlsSink } from './wire.js';

/** ClientHello (RFC 8446 §4.1.2). legacy_version is 0x0303 and legacy_compression_methods is `[0]`. */
export interface ClientHello {
  /** Discriminator. */
  readonly kind: 'client_hello';
  /** 32 random bytes. */
  readonly random: Uint8Array;
  /** legacy_session_id, 0–32 bytes (QUIC clients send it empty: RFC 9001 §8.4). */
  readonly legacySessionId: Uint8Array;
  /** CipherSuite code points in preference order; GREASE values are carried like any other. */
  readonly cipherSuites: readonly number[];
  /** The extensions, in wire order. */
  readonly extensions: readonly ClientHelloExtension[];
}

/** ServerHello (RFC 8446 §4.1.3) whose random is not the HelloRetryRequest value. */
export interface ServerHello {
  /** Discriminator. */
  readonly kind: 'server_hello';
  /** 32 random bytes. */
  readonly random: Uint8Array;
  /** legacy_session_id_echo, 0–32 bytes. */
  readonly legacySessionIdEcho: Uint8Array;
  /** The selected CipherSuite (never GREASE). */
  readonly cipherSuite: number;
  /** The extensions, in wire order. */
  readonly extensions: readonly ServerHelloExtension[];
}

/**
 * HelloRetryRequest (RFC 8446 §4.1.4): a ServerHello whose random is
 * {@link HELLO_RETRY_REQUEST_RANDOM}.
 */
export interface HelloRetryRequest {
  /** Discriminator. */
  readonly kind: 'hello_retry_request';
  /** legacy_session_id_echo, 0–32 bytes. */
  readonly legacySessionIdEcho: Uint8Array;
  /** The selected CipherSuite (never GREASE). */
  readonly cipherSuite: number;
  /** The extensions, in wire order. */
  readonly extensions: readonly HelloRetryRequestExtension[];
}

/** RFC 8446 §4.1.3: last 8 bytes of a TLS 1.2 (…01) or TLS 1.1-or-older (…00) server random from a TLS 1.3 server. */
const DOWNGRADE_PREFIX = [0x44, 0x4f, 0x57, 0x4e, 0x47, 0x52, 0x44];

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function missing(reason: string): never {
  throw new TlsAlertError(TlsAlert.missing_extension, reason);
}

/**
 * Decodes a ClientHello body. Beyond structure (decode_error) and the extension-block rules of
 * `extensions`, it refuses: legacy_version ≠ 0x0303 (protocol_version, RFC 9846 §4.1.2);
 * legacy_compression_methods ≠ `[0]` (illegal_parameter, RFC 8446 §4.1.2). When the ClientHello
 * offers TLS 1.3 (supported_versions contains 0x0304) it also applies RFC 8446 §9.2 →
 * missing_extension: without pre_shared_key, signature_algorithms and supported_groups are both
 * required; supported_groups and key_share come together; and RFC 8446 §4.2.9: pre_shared_key
 * requires psk_key_exchange_modes. A key share for a group not in supported_groups is refused
 * with illegal_parameter (RFC 8446 §4.2.8 allows servers to check). A ClientHello without an
 * extensions block (pre-TLS 1.2 form) decodes with no extensions.
 */
export function decodeClientHello(body: Uint8Array): ClientHello {
  const r = new TlsReader(body);
  const legacyVersion = r.u16('ClientHello.legacy_version');
  if (legacyVersion !== ProtocolVersion.TLS12) {
    throw new TlsAlertError(TlsAlert.protocol_version, `ClientHello.legacy_version is 0x${legacyVersion.toString(16)}, not 0x0303`);
  }
  const random = r.take(32, 'ClientHello.random');
  const legacySessionId = r.vector(1, 'legacy_session_id', 0, 32);
  // RFC 8446 §4.1.2: CipherSuite cipher_suites<2..2^16-2>.
  const suites = r.subVector(2, 'cipher_suites', 2, 0xfffe);
  if (suites.remaining % 2 !== 0) suites.fail(`cipher_suites has odd length ${suites.remaining}`);
  const cipherSuites: number[] = [];
  while (!suites.done) cipherSuites.push(suites.u16('CipherSuite'));
  // RFC 8446 §4.1.2: opaque legacy_compression_methods<1..2^8-1>, exactly one zero byte in TLS 1.3.
  const compression = r.vector(1, 'legacy_compression_methods', 1);
  if (compression.length !== 1 || compression[0] !== 0) {
    throw new TlsAlertError(TlsAlert.illegal_parameter, 'ClientHello.legacy_compression_methods is not the single null method');
  }
  const extensions = r.done ? [] : decodeExtensions(r, 'client_hello');
  r.finish('ClientHello');
  const ch: ClientHello = { kind: 'client_hello', random, legacySessionId, cipherSuites, extensions };
  checkClientHelloExtensions(ch.extensions, (reason) => missing(reason), (reason) => {
    throw new TlsAlertError(TlsAlert.illegal_parameter, reason);
  });
  return ch;
}

/** Applies the RFC 8446 §9.2 / §4.2.8 / §4.2.9 cross-extension rules; `missingFn`/`illegalFn` report. */
function checkClientHelloExtensions(
  extensions: readonly ClientHelloExtension[],
  missingFn: (reason: string) => never,
  illegalFn: (reason: string) => never,
): void {
  const versions = findExtension(extensions, 'supported_versions');
  if (versions === undefined || !versions.versions.includes(ProtocolVersion.TLS13)) return;
  const psk = findExtension(extensions, 'pre_shared_key');
  const groups = findExtension(extensions, 'supported_groups');
  const shares = findExtension(extensions, 'key_share');
  if (psk === undefined) {
    if (findExtension(extensions, 'signature_algorithms') === undefined) missingFn('TLS 1.3 ClientHello without pre_shared_key lacks signature_algorithms');
    if (groups === undefined) missingFn('TLS 1.3 ClientHello without pre_shared_key lacks supported_groups');
  } else if (findExtension(extensions, 'psk_key_exchange_modes') === undefined) {
    missingFn('ClientHello offers pre_shared_key without psk_key_exchange_modes');
  }
  if (groups !== undefined && shares === undefined) missingFn('ClientHello has supported_groups but no key_share');
  if (shares !== undefined && groups === undefined) missingFn('ClientHello has key_share but no supported_groups');
  if (groups !== undefined && shares !== undefined) {
    const offered = new Set(groups.groups);
    for (const share of shares.shares) {
      if (!offered.has(share.group)) illegalFn(`key share for group 0x${share.group.toString(16)} not listed in supported_groups`);
    }
  }
}

/** Appends a ClientHello body. Refuses (internal_error) what {@link decodeClientHello} would refuse. */
export function encodeClientHello(sink: TlsSink, ch: ClientHello): void {
  if (ch.random.length !== 32) encodeError(`ClientHello.random is ${ch.random.length} bytes`);
  checkClientHelloExtensions(ch.extensions, encodeError, encodeError);
  sink.u16(ProtocolVersion.TLS12);
  sink.bytes(ch.random);
  sink.vector(1, 'legacy_session_id', () => sink.bytes(ch.legacySessionId), 0, 32);
  sink.vector(2, 'cipher_suites', () => ch.cipherSuites.forEach((s) => sink.u16(s)), 2, 0xfffe);
  sink.vector(1, 'legacy_compression_methods', () => sink.u8(0));
  encodeExtensions(sink, 'client_hello', ch.extensions);
}

/**
 * Decodes a ServerHello body into a {@link ServerHello} or, when the random is the special value,
 * a {@link HelloRetryRequest} (RFC 8446 §4.1.3: "MUST first examine the Random value"). Refuses:
 * legacy_version ≠ 0x0303 (protocol_version); compression method ≠ 0 (illegal_parameter); a GREASE
 * cipher suite (illegal_parameter, RFC 8701 §3); a ServerHello without supported_versions, i.e.
 * negotiating TLS 1.2 or older (illegal_parameter when its random carries the downgrade sentinel,
 * RFC 8446 §4.1.3; protocol_version otherwise, RFC 9001 §4.2); a HelloRetryRequest without
 * supported_versions (missing_extension, RFC 8446 §4.1.4); and the extension-block rules of
 * `extensions` for the `server_hello` or `hello_retry_request` context.
 */
export function decodeServerHello(body: Uint8Array): ServerHello | HelloRetryRequest {
  const r = new TlsReader(body);
  const legacyVersion = r.u16('ServerHello.legacy_version');
  if (legacyVersion !== ProtocolVersion.TLS12) {
    throw new TlsAlertError(TlsAlert.protocol_version, `ServerHello.legacy_version is 0x${legacyVersion.toString(16)}, not 0x0303`);
  }
  const random = r.take(32, 'ServerHello.random');
  const legacySessionIdEcho = r.vector(1, 'legacy_session_id_echo', 0, 32);
  const cipherSuite = r.u16('ServerHello.cipher_suite');
  const compression = r.u8('legacy_compression_method');
  if (compression !== 0) throw new TlsAlertError(TlsAlert.illegal_parameter, `ServerHello.legacy_compression_method is ${compression}, not 0`);
  if (isGrease16(cipherSuite)) throw new TlsAlertError(TlsAlert.illegal_parameter, `server selected GREASE cipher suite 0x${cipherSuite.toString(16)}`);
  if (sameBytes(random, HELLO_RETRY_REQUEST_RANDOM)) {
    const extensions = r.done ? [] : decodeExtensions(r, 'hello_retry_request');
    r.finish('HelloRetryRequest');
    // RFC 8446 §4.1.4: "The server's extensions MUST contain supported_versions"; RFC 8446 §9.2.
    if (findExtension(extensions, 'supported_versions_selected') === undefined) missing('HelloRetryRequest lacks supported_versions');
    return { kind: 'hello_retry_request', legacySessionIdEcho, cipherSuite, extensions };
  }
  const extensions = r.done ? [] : decodeExtensions(r, 'server_hello');
  r.finish('ServerHello');
  if (findExtension(extensions, 'supported_versions_selected') === undefined) {
    // Without supported_versions the server negotiated TLS 1.2 or older (RFC 8446 §4.2.1). RFC 8446
    // §4.1.3: such a ServerHello must not carry the downgrade sentinel → illegal_parameter;
    // otherwise RFC 9001 §4.2: "An endpoint MUST terminate the connection if a version of TLS older
    // than 1.3 is negotiated" → protocol_version.
    const tail = random.subarray(24);
    if (DOWNGRADE_PREFIX.every((b, i) => tail[i] === b) && (tail[7] === 0 || tail[7] === 1)) {
      throw new TlsAlertError(TlsAlert.illegal_parameter, 'ServerHello.random carries the TLS 1.3 downgrade sentinel');
    }
    throw new TlsAlertError(TlsAlert.protocol_version, 'ServerHello negotiates TLS 1.2 or older (no supported_versions); QUIC requires TLS 1.3');
  }
  return { kind: 'server_hello', random, legacySessionIdEcho, cipherSuite, extensions };
}

function encodeServerHelloCommon(sink: TlsSink, random: Uint8Array, sessionIdEcho: Uint8Array, cipherSuite: number): void {
  if (random.length !== 32) encodeError(`ServerHello.random is ${random.length} bytes`);
  if (isGrease16(cipherSuite)) encodeError('GREASE cipher suite selected');
  sink.u16(ProtocolVersion.TLS12);
  sink.bytes(random);
  sink.vector(1, 'legacy_session_id_echo', () => sink.bytes(sessionIdEcho), 0, 32);
  sink.u16(cipherSuite);
  sink.u8(0);
}

/** Appends a ServerHello body (RFC 8446 §4.1.3); the random must not be the HelloRetryRequest value. */
export function encodeServerHello(sink: TlsSink, sh: ServerHello): void {
  if (sameBytes(sh.random, HELLO_RETRY_REQUEST_RANDOM)) encodeError('a ServerHello with the HelloRetryRequest random');
  if (findExtension(sh.extensions, 'supported_versions_selected') === undefined) encodeError('a ServerHello without supported_versions');
  encodeServerHelloCommon(sink, sh.random, sh.legacySessionIdEcho, sh.cipherSuite);
  encodeExtensions(sink, 'server_hello', sh.extensions);
}

/** Appends a HelloRetryRequest body: a ServerHello with {@link HELLO_RETRY_REQUEST_RANDOM} (RFC 8446 §4.1.4). */
export function encodeHelloRetryRequest(sink: TlsSink, hrr: HelloRetryRequest): void {
  if (findExtension(hrr.extensions, 'supported_versions_selected') === undefined) encodeError('a HelloRetryRequest without supported_versions');
  encodeServerHelloCommon(sink, HELLO_RETRY_REQUEST_RANDOM, hrr.legacySessionIdEcho, hrr.cipherSuite);
  encodeExtensions(sink, 'hello_retry_request', hrr.extensions);
}

/**
 * Length in bytes of the binders list (`PskBinderEntry binders<33..2^16-1>` including its 2-byte
 * length) that ends an encoded ClientHello offering pre_shared_key, or 0 when it offers none.
 */
export function clientHelloBindersLength(ch: ClientHello): number {
  const psk = findExtension(ch.extensions, 'pre_shared_key');
  if (psk === undefined) return 0;
  return 2 + psk.binders.reduce((n, b) => n + 1 + b.length, 0);
}

/** The extension types a ClientHello carries, for `checkSolicitedExtensions` on the server's replies. */
export function clientHelloExtensionTypes(ch: ClientHello): number[] {
  return ch.extensions.map(extensionTypeOf);
}
