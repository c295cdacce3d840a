/**
 * TLS 1.3 signature schemes and the CertificateVerify signature (RFC 8446 §4.2.3, §4.4.3).
 *
 * - {@link certificateVerifyInput} builds the exact bytes that are signed: 64 × 0x20, the context
 *   string, a 0x00 separator and the transcript hash.
 * - {@link signCertificateVerify} / {@link verifyCertificateVerify} sign and check that input with
 *   a `node:crypto` key, enforcing the TLS 1.3 binding between scheme and key: ECDSA schemes name
 *   the curve, `rsa_pss_rsae_*` needs an rsaEncryption key, `rsa_pss_pss_*` an RSASSA-PSS key, and
 *   RSASSA-PKCS1-v1_5 and SHA-1 schemes are never valid in CertificateVerify.
 * - {@link selectSignatureScheme} picks the scheme to sign with from what the peer offered.
 * - {@link supportedSignatureSchemes} / {@link supportedCertificateSignatureSchemes} are what we
 *   advertise in `signature_algorithms` / `signature_algorithms_cert`.
 *
 * Section numbers cite RFC 8446; RFC 9846 (8446bis) keeps the same rules.
 *
 * @module
 */
import { sign as nodeSign, verify as nodeVerify, constants, type KeyObject } from 'node:crypto';
import { TlsAlert, TlsAlertError } from './alerts.js';
import { SignatureScheme } from './constants.js';

/** Which endpoint signs a CertificateVerify; selects the context string (RFC 8446 §4.4.3). */
export type CertificateVerifySide = 'server' | 'client';

type NodeHash = 'sha256' | 'sha384' | 'sha512';
type NodeCurve = 'prime256v1' | 'secp384r1' | 'secp521r1';

interface SchemeInfo {
  readonly name: string;
  /** ecdsa, rsae (PSS, rsaEncryption key), pss (PSS, RSASSA-PSS key), ed25519, or a scheme that is never valid in CertificateVerify. */
  readonly kind: 'ecdsa' | 'rsae' | 'pss' | 'ed25519' | 'ed448' | 'pkcs1' | 'sha1';
  readonly hash: NodeHash | null;
  readonly curve: NodeCurve | null;
}

const HASH_LENGTH: Record<NodeHash, number> = { sha256: 32, sha384: 48, sha512: 64 };

const CURVE_NAME: Record<NodeCurve, string> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };

const SCHEMES = new Map<number, SchemeInfo>([
  [SignatureScheme.ecdsa_secp256r1_sha256, { name: 'ecdsa_secp256r1_sha256', kind: 'ecdsa', hash: 'sha256', curve: 'prime256v1' }],
  [SignatureScheme.ecdsa_secp384r1_sha384, { name: 'ecdsa_secp384r1_sha384', kind: 'ecdsa', hash: 'sha384', curve: 'secp384r1' }],
  [SignatureScheme.ecdsa_secp521r1_sha512, { name: 'ecdsa_secp521r1_sha512', kind: 'ecdsa', hash: 'sha512', curve: 'secp521r1' }],
  [SignatureScheme.rsa_pss_rsae_sha256, { name: 'rsa_pss_rsae_sha256', kind: 'rsae', hash: 'sha256', curve: null }],
  [SignatureScheme.rsa_pss_rsae_sha384, { name: 'rsa_pss_rsae_sha384', kind: 'rsae', hash: 'sha384', curve: null }],
  [SignatureScheme.rsa_pss_rsae_sha512, { name: 'rsa_pss_rsae_sha512', kind: 'rsae', hash: 'sha512', curve: null }],
  [SignatureScheme.ed25519, { name: 'ed25519', kind: 'ed25519', hash: null, curve: null }],
  [SignatureScheme.ed448, { name: 'ed448', kind: 'ed448', hash: null, curve: null }],
  [SignatureScheme.rsa_pss_pss_sha256, { name: 'rsa_pss_pss_sha256', kind: 'pss', hash: 'sha256', curve: null }],
  [SignatureScheme.rsa_pss_pss_sha384, { name: 'rsa_pss_pss_sha384', kind: 'pss', hash: 'sha384', curve: null }],
  [SignatureScheme.rsa_pss_pss_sha512, { name: 'rsa_pss_pss_sha512', kind: 'pss', hash: 'sha512', curve: null }],
  [SignatureScheme.rsa_pkcs1_sha256, { name: 'rsa_pkcs1_sha256', kind: 'pkcs1', hash: 'sha256', curve: null }],
  [SignatureScheme.rsa_pkcs1_sha384, { name: 'rsa_pkcs1_sha384', kind: 'pkcs1', hash: 'sha384', curve: null }],
  [SignatureScheme.rsa_pkcs1_sha512, { name: 'rsa_pkcs1_sha512', kind: 'pkcs1', hash: 'sha512', curve: null }],
  [SignatureScheme.rsa_pkcs1_sha1, { name: 'rsa_pkcs1_sha1', kind: 'sha1', hash: null, curve: null }],
  [SignatureScheme.ecdsa_sha1, { name: 'ecdsa_sha1', kind: 'sha1', hash: null, curve: null }],
]);

/**
 * The schemes this implementation signs and verifies in CertificateVerify, in our order of
 * preference; this is the `signature_algorithms` list for a ClientHello or CertificateRequest
 * (RFC 8446 §4.2.3). ed448 and the RSASSA-PKCS1-v1_5 / SHA-1 schemes are not in it.
 */
export const supportedSignatureSchemes: readonly number[] = Object.freeze([
  SignatureScheme.ecdsa_secp256r1_sha256,
  SignatureScheme.ed25519,
  SignatureScheme.rsa_pss_rsae_sha256,
  SignatureScheme.ecdsa_secp384r1_sha384,
  SignatureScheme.rsa_pss_rsae_sha384,
  SignatureScheme.rsa_pss_rsae_sha512,
  SignatureScheme.ecdsa_secp521r1_sha512,
  SignatureScheme.rsa_pss_pss_sha256,
  SignatureScheme.rsa_pss_pss_sha384,
  SignatureScheme.rsa_pss_pss_sha512,
]);

/**
 * The certificate signature algorithms `verifyCertificateChain` accepts, as the
 * `signature_algorithms_cert` list (RFC 8446 §4.2.3): everything in
 * {@link supportedSignatureSchemes} plus RSASSA-PKCS1-v1_5 with SHA-256/384/512, which most CAs
 * still use. SHA-1 is not offered: certificates signed with SHA-1 are refused
 * (RFC 8446 §4.4.2.4 recommends it). If a ClientHello carries only `signature_algorithms`, that
 * list also governs certificates; send this list as `signature_algorithms_cert` too.
 */
export const supportedCertificateSignatureSchemes: readonly number[] = Object.freeze([
  ...supportedSignatureSchemes,
  SignatureScheme.rsa_pkcs1_sha256,
  SignatureScheme.rsa_pkcs1_sha384,
  SignatureScheme.rsa_pkcs1_sha512,
]);

/** The RFC 8446 name of a signature scheme, e.g. `ecdsa_secp256r1_sha256`, or `0x1234` when unknown. */
export function signatureSchemeName(scheme: number): string {
  return SCHEMES.get(scheme)?.name ?? `0x${scheme.toString(16).padStart(4, '0')}`;
}

/**
 * True when `scheme` may be used in a CertificateVerify and this implementation supports it.
 * RSASSA-PKCS1-v1_5 and SHA-1 schemes are for certificates only (RFC 8446 §4.2.3, §4.4.3).
 */
export function isCertificateVerifyScheme(scheme: number): boolean {
  const info = SCHEMES.get(scheme);
  return info !== undefined && (info.kind === 'ecdsa' || info.kind === 'rsae' || info.kind === 'pss' || info.kind === 'ed25519');
}

/** A short description of a key for error messages, e.g. `EC P-384 key` or `RSA 2048-bit key`. */
export function describeKey(key: KeyObject): string {
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'ec': {
      const curve = details.namedCurve;
      return `EC ${curve !== undefined && curve in CURVE_NAME ? CURVE_NAME[curve as NodeCurve] : (curve ?? 'unknown-curve')} key`;
    }
    case 'rsa':
      return `RSA ${details.modulusLength ?? '?'}-bit key`;
    case 'rsa-pss':
      return `RSA-PSS ${details.modulusLength ?? '?'}-bit key`;
    case 'ed25519':
      return 'Ed25519 key';
    case 'ed448':
      return 'Ed448 key';
    default:
      return `${key.asymmetricKeyType ?? key.type} key`;
  }
}

/**
 * Why `key` cannot be used with `scheme`, or `null` when it can. In TLS 1.3 an ECDSA scheme binds
 * the curve (RFC 8446 §4.2.3: "ECDSA algorithms ... the corresponding curve"); rsa_pss_rsae needs
 * an rsaEncryption key and rsa_pss_pss an RSASSA-PSS key whose parameters, when present, allow the
 * scheme's hash and a salt as long as the hash.
 */
function keyMismatch(info: SchemeInfo, key: KeyObject): string | null {
  const details = key.asymmetricKeyDetails ?? {};
  switch (info.kind) {
    case 'ecdsa':
      if (key.asymmetricKeyType !== 'ec') return `${info.name} needs an EC key, got an ${describeKey(key)}`;
      if (details.namedCurve !== info.curve) {
        return `${info.name} needs a ${CURVE_NAME[info.curve as NodeCurve]} key, got an ${describeKey(key)}`;
      }
      return null;
    case 'rsae':
      if (key.asymmetricKeyType !== 'rsa') {
        return `${info.name} needs an RSA key with the rsaEncryption OID, got an ${describeKey(key)}`;
      }
      return null;
    case 'pss': {
      if (key.asymmetricKeyType !== 'rsa-pss') {
        return `${info.name} needs an RSA key with the RSASSA-PSS OID, got an ${describeKey(key)}`;
      }
      const hash = info.hash as NodeHash;
      if (details.hashAlgorithm !== undefined && details.hashAlgorithm !== hash) {
        return `${info.name} needs ${hash}, but the RSASSA-PSS key is restricted to ${details.hashAlgorithm}`;
      }
      if (details.mgf1HashAlgorithm !== undefined && details.mgf1HashAlgorithm !== hash) {
        return `${info.name} needs MGF1 with ${hash}, but the RSASSA-PSS key is restricted to MGF1 with ${details.mgf1HashAlgorithm}`;
      }
      if (details.saltLength !== undefined && details.saltLength > HASH_LENGTH[hash]) {
        return `${info.name} uses a ${HASH_LENGTH[hash]}-byte salt, but the RSASSA-PSS key requires at least ${details.saltLength}`;
      }
      return null;
    }
    case 'ed25519':
      if (key.asymmetricKeyType !== 'ed25519') return `${info.name} needs an Ed25519 key, got an ${describeKey(key)}`;
      return null;
    default:
      return `${info.name} is not supported in CertificateVerify`;
  }
}

/**
 * True when `key` (public or private) can sign or verify CertificateVerify with `scheme`
 * (see {@link selectSignatureScheme} for the rules).
 */
export function signatureSchemeMatchesKey(scheme: number, key: KeyObject): boolean {
  const info = SCHEMES.get(scheme);
  return info !== undefined && isCertificateVerifyScheme(scheme) && keyMismatch(info, key) === null;
}

const PAD = new Uint8Array(64).fill(0x20);
const CONTEXT = {
  server: new TextEncoder().encode('TLS 1.3, server CertificateVerify'),
  client: new TextEncoder().encode('TLS 1.3, client CertificateVerify'),
} as const;

/**
 * The content covered by a CertificateVerify signature (RFC 8446 §4.4.3): 64 bytes of 0x20, the
 * context string `TLS 1.3, server CertificateVerify` (or `client`), one 0x00 byte, then
 * `transcriptHash` = Transcript-Hash(Handshake Context, Certificate).
 */
export function certificateVerifyInput(side: CertificateVerifySide, transcriptHash: Uint8Array): Uint8Array {
  const context = CONTEXT[side];
  if (context === undefined) throw new TlsAlertError(TlsAlert.internal_error, `side must be 'server' or 'client', got ${String(side)}`);
  const out = new Uint8Array(PAD.length + context.length + 1 + transcriptHash.length);
  out.set(PAD, 0);
  out.set(context, PAD.length);
  out[PAD.length + context.length] = 0x00;
  out.set(transcriptHash, PAD.length + context.length + 1);
  return out;
}

/** The node:crypto algorithm and key options for a scheme (RFC 8446 §4.2.3). */
function nodeParams(info: SchemeInfo, key: KeyObject): { algorithm: NodeHash | null; key: Parameters<typeof nodeVerify>[2] } {
  switch (info.kind) {
    case 'ecdsa':
      // RFC 8446 §4.2.3: a DER-encoded ECDSA-Sig-Value.
      return { algorithm: info.hash, key: { key, dsaEncoding: 'der' } };
    case 'rsae':
    case 'pss':
      // RFC 8446 §4.2.3: MGF1 with the same hash (OpenSSL's default for PSS), salt = hash length.
      return {
        algorithm: info.hash,
        key: { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: HASH_LENGTH[info.hash as NodeHash] },
      };
    default:
      // PureEdDSA signs the message itself (RFC 8032), no pre-hash.
      return { algorithm: null, key };
  }
}

function checkTranscriptHash(transcriptHash: Uint8Array): void {
  // The transcript hash is the cipher suite's hash: SHA-256 or SHA-384 (RFC 8446 §4.4.1, B.4).
  if (!(transcriptHash instanceof Uint8Array) || transcriptHash.length < 32 || transcriptHash.length > 64) {
    throw new TlsAlertError(TlsAlert.internal_error, `transcript hash must be 32 to 64 bytes, got ${transcriptHash?.length}`);
  }
}

/**
 * Sign a CertificateVerify (RFC 8446 §4.4.3) with our private key.
 *
 * @param scheme the negotiated scheme (see {@link selectSignatureScheme}).
 * @param privateKey the private key of our end-entity certificate.
 * @param transcriptHash Transcript-Hash(Handshake Context, Certificate).
 * @param side `'server'` or `'client'`: who is signing.
 * @returns the `signature` field of CertificateVerify.
 * @throws TlsAlertError(internal_error) when the scheme is not valid in CertificateVerify, does not
 *   fit the key, or signing fails: these are local configuration errors, not the peer's.
 */
export function signCertificateVerify(
  scheme: number,
  privateKey: KeyObject,
  transcriptHash: Uint8Array,
  side: CertificateVerifySide,
): Uint8Array {
  const info = SCHEMES.get(scheme);
  if (info === undefined || !isCertificateVerifyScheme(scheme)) {
    throw new TlsAlertError(TlsAlert.internal_error, `cannot sign CertificateVerify with ${signatureSchemeName(scheme)}`);
  }
  if (privateKey.type !== 'private') {
    throw new TlsAlertError(TlsAlert.internal_error, `signing CertificateVerify needs a private key, got a ${privateKey.type} key`);
  }
  const mismatch = keyMismatch(info, privateKey);
  if (mismatch !== null) throw new TlsAlertError(TlsAlert.internal_error, `cannot sign CertificateVerify: ${mismatch}`);
  checkTranscriptHash(transcriptHash);
  const params = nodeParams(info, privateKey);
  try {
    return new Uint8Array(nodeSign(params.algorithm, certificateVerifyInput(side, transcriptHash), params.key as Parameters<typeof nodeSign>[2]));
  } catch (cause) {
    throw new TlsAlertError(TlsAlert.internal_error, `signing CertificateVerify with ${info.name} failed: ${(cause as Error).message}`, { cause });
  }
}

/** Options of {@link verifyCertificateVerify}. */
export interface VerifyCertificateVerifyOptions {
  /**
   * The schemes we offered in our `signature_algorithms` (ClientHello or CertificateRequest). When
   * given, a signature with any other scheme is refused with illegal_parameter (RFC 8446 §4.4.3).
   */
  offeredSchemes?: readonly number[];
}

/**
 * Check the peer's CertificateVerify (RFC 8446 §4.4.3).
 *
 * @param scheme the `algorithm` field of CertificateVerify.
 * @param publicKey the public key of the peer's end-entity certificate (from
 *   `verifyCertificateChain(...).leafPublicKey`).
 * @param transcriptHash Transcript-Hash(Handshake Context, Certificate).
 * @param side who signed: `'server'` when we are the client, `'client'` when we are the server.
 * @param signature the `signature` field.
 * @throws TlsAlertError(illegal_parameter) when the scheme is not valid in CertificateVerify
 *   (RSASSA-PKCS1-v1_5, SHA-1, unknown, unsupported), was not offered, or does not fit the key
 *   (e.g. an RSA key with an ECDSA scheme, a P-384 key with ecdsa_secp256r1_sha256).
 * @throws TlsAlertError(decrypt_error) when the signature does not verify (RFC 8446 §4.4.3).
 */
export function verifyCertificateVerify(
  scheme: number,
  publicKey: KeyObject,
  transcriptHash: Uint8Array,
  side: CertificateVerifySide,
  signature: Uint8Array,
  options: VerifyCertificateVerifyOptions = {},
): void {
  const info = SCHEMES.get(scheme);
  if (info === undefined) {
    throw new TlsAlertError(TlsAlert.illegal_parameter, `CertificateVerify uses unknown signature scheme ${signatureSchemeName(scheme)}`);
  }
  if (info.kind === 'pkcs1' || info.kind === 'sha1') {
    // RFC 8446 §4.2.3: RSASSA-PKCS1-v1_5 and SHA-1 are "not defined for use in signed TLS handshake messages".
    throw new TlsAlertError(TlsAlert.illegal_parameter, `${info.name} is not allowed in a TLS 1.3 CertificateVerify (certificates only)`);
  }
  if (!isCertificateVerifyScheme(scheme)) {
    throw new TlsAlertError(TlsAlert.illegal_parameter, `CertificateVerify uses ${info.name}, which this implementation does not support`);
  }
  if (options.offeredSchemes !== undefined && !options.offeredSchemes.includes(scheme)) {
    // RFC 8446 §4.4.3: the algorithm MUST be one offered in signature_algorithms.
    throw new TlsAlertError(TlsAlert.illegal_parameter, `CertificateVerify uses ${info.name}, which was not offered`);
  }
  const mismatch = keyMismatch(info, publicKey);
  if (mismatch !== null) {
    throw new TlsAlertError(TlsAlert.illegal_parameter, `CertificateVerify scheme does not match the certificate key: ${mismatch}`);
  }
  checkTranscriptHash(transcriptHash);
  const params = nodeParams(info, publicKey);
  let ok = false;
  if (signature.length > 0) {
    try {
      ok = nodeVerify(params.algorithm, certificateVerifyInput(side, transcriptHash), params.key, signature);
    } catch {
      ok = false; // a malformed signature (wrong length, bad DER) is a failed verification
    }
  }
  if (!ok) {
    // RFC 8446 §4.4.3: "If the verification fails, the receiver MUST terminate the handshake with a decrypt_error alert."
    throw new TlsAlertError(TlsAlert.decrypt_error, `the ${side}'s CertificateVerify signature (${info.name}) does not verify with its certificate key`);
  }
}

/**
 * Choose the scheme to sign our CertificateVerify with (RFC 8446 §4.4.3): the first scheme in
 * `ourPreference` that the peer offered in `signature_algorithms`, that is valid in
 * CertificateVerify and that fits `privateKey`.
 *
 * @param privateKey the key of the certificate we will send.
 * @param peerOfferedSchemes the peer's `signature_algorithms` (ClientHello or CertificateRequest).
 * @param ourPreference our order of preference; defaults to {@link supportedSignatureSchemes}.
 * @throws TlsAlertError(handshake_failure) when no scheme fits both the key and the peer.
 */
export function selectSignatureScheme(
  privateKey: KeyObject,
  peerOfferedSchemes: readonly number[],
  ourPreference: readonly number[] = supportedSignatureSchemes,
): number {
  const offered = new Set(peerOfferedSchemes);
  for (const scheme of ourPreference) {
    if (offered.has(scheme) && signatureSchemeMatchesKey(scheme, privateKey)) return scheme;
  }
  const usable = supportedSignatureSchemes.filter((s) => signatureSchemeMatchesKey(s, privateKey)).map(signatureSchemeName);
  throw new TlsAlertError(
    TlsAlert.handshake_failure,
    `no common signature scheme for our ${describeKey(privateKey)}: it can sign with ${usable.join(', ') || 'nothing we support'}; ` +
      `the peer offered ${peerOfferedSchemes.map(signatureSchemeName).join(', ') || 'nothing'}`,
  );
}
