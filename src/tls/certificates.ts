/**
 * X.509 certificate chain verification for the TLS 1.3 handshake (RFC 8446 §4.4.2, RFC 5280 §6,
 * RFC 6125 §6.4 / RFC 9525 §6.3), plus PEM loading and SPKI pins.
 *
 * {@link verifyCertificateChain} takes the certificates of a Certificate message (DER, end-entity
 * first) and decides whether the peer is who it claims to be:
 *
 * 1. Every entry is parsed; the end-entity key must be one a TLS 1.3 CertificateVerify can use.
 * 2. A certification path is built from the end-entity certificate through the other certificates
 *    (any order; extras, duplicates and loops are ignored; at most {@link MAX_PATH_LENGTH}
 *    certificates) to a trust anchor, verifying each signature on the way.
 * 3. The path is validated: validity windows of every certificate (anchor included), basicConstraints
 *    cA and pathLenConstraint, keyUsage keyCertSign of issuers, extendedKeyUsage of intermediates,
 *    name constraints (dNSName, iPAddress, directoryName, rfc822Name, URI), unknown critical
 *    extensions, accepted signature algorithms and key sizes.
 * 4. The end entity is checked: keyUsage digitalSignature, extendedKeyUsage serverAuth/clientAuth,
 *    and its subjectAltName against the expected host name or IP address.
 *
 * Alert choices (RFC 8446 §6.2):
 * - empty chain: decode_error for a server's chain, certificate_required for a client's
 *   (RFC 8446 §4.4.2.4);
 * - an entry that is not a DER X.509 certificate: bad_certificate ("a certificate was corrupt").
 *   decode_error is kept for the TLS syntax of the Certificate message itself, which the message
 *   codec checks; `cert_data` is opaque there;
 * - no path to a trust anchor: unknown_ca;
 * - a certificate outside its validity window (expired or not yet valid): certificate_expired;
 * - a signature that does not verify, a forbidden signature algorithm (MD5, SHA-1, ...), an
 *   intermediate that is not a CA, a pathLenConstraint, keyUsage, extendedKeyUsage or name
 *   constraint violation, and a host name / IP address mismatch: bad_certificate;
 * - an end-entity key of a type or size we cannot use, an issuer key we refuse (RSA < 2048 bits,
 *   unknown curves), an unrecognised critical extension or an uncheckable name constraint:
 *   unsupported_certificate;
 * - no SPKI pin matches: certificate_unknown;
 * - a caller's own mistake (bad options, unparsable CA list): internal_error.
 *
 * Host names follow RFC 9525 §6.3 (which replaces RFC 6125): only subjectAltName dNSName entries
 * are matched; the subject common name is never used, with or without SANs (browsers and RFC 9525
 * agree; the CA/Browser Forum requires SANs since 2012). IP addresses match only iPAddress SANs.
 *
 * @module
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createHash, createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import { rootCertificates } from 'node:tls';
import { domainToASCII } from 'node:url';
import { TlsAlert, TlsAlertError } from './alerts.js';
import { describeKey } from './signatures.js';

/** The longest certification path we build, end-entity and trust anchor included. */
export const MAX_PATH_LENGTH = 10;

/** The most certificates accepted in one Certificate message. */
export const MAX_CHAIN_CERTIFICATES = 32;

/** The most candidate-issuer signatures checked while building one path (a bound on work). */
const MAX_SIGNATURE_CHECKS = 64;

/** The most partial paths explored for one chain (a bound on work against crafted chains). */
const MAX_PATH_STEPS = 256;

// ---------------------------------------------------------------------------------------------
// Minimal strict DER reader. It only slices the certificate's outer structure and decodes
// GeneralNames: @peculiar/asn1-x509 turns iPAddress values into text (masks become prefix
// lengths), which loses what a name-constraint check needs. Extensions with simple shapes
// (basicConstraints, keyUsage, extendedKeyUsage) and Names are decoded by @peculiar/x509.

class DerError extends Error {}

interface Der {
  /** The identifier octet (class, constructed bit and tag number < 31). */
  readonly tag: number;
  /** The contents octets. */
  readonly content: Uint8Array;
  /** The whole TLV. */
  readonly raw: Uint8Array;
}

function derRead(buf: Uint8Array, pos: number): { node: Der; next: number } {
  if (pos + 2 > buf.length) throw new DerError('truncated DER header');
  const tag = buf[pos];
  if ((tag & 0x1f) === 0x1f) throw new DerError('high tag numbers are not used in X.509');
  let length = buf[pos + 1];
  let header = 2;
  if (length & 0x80) {
    const n = length & 0x7f;
    if (n === 0) throw new DerError('indefinite length is not DER');
    if (n > 4) throw new DerError('DER length too large');
    if (pos + 2 + n > buf.length) throw new DerError('truncated DER length');
    if (buf[pos + 2] === 0) throw new DerError('non-minimal DER length');
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + buf[pos + 2 + i];
    if (length < 0x80) throw new DerError('non-minimal DER length');
    header = 2 + n;
  }
  const end = pos + header + length;
  if (end > buf.length) throw new DerError('DER value runs past its container');
  return { node: { tag, content: buf.subarray(pos + header, end), raw: buf.subarray(pos, end) }, next: end };
}

function derOne(buf: Uint8Array, tag: number, what: string): Der {
  const { node, next } = derRead(buf, 0);
  if (next !== buf.length) throw new DerError(`trailing bytes after ${what}`);
  if (node.tag !== tag) throw new DerError(`${what}: expected tag 0x${tag.toString(16)}, got 0x${node.tag.toString(16)}`);
  return node;
}

function derChildren(content: Uint8Array): Der[] {
  const out: Der[] = [];
  for (let pos = 0; pos < content.length; ) {
    const { node, next } = derRead(content, pos);
    out.push(node);
    pos = next;
  }
  return out;
}

function derOid(node: Der): string {
  if (node.tag !== 0x06 || node.content.length === 0) throw new DerError('expected an OBJECT IDENTIFIER');
  const arcs: number[] = [];
  let value = 0;
  let fresh = true;
  for (const b of node.content) {
    if (fresh && b === 0x80) throw new DerError('non-minimal OBJECT IDENTIFIER arc');
    value = value * 128 + (b & 0x7f);
    fresh = false;
    if (!(b & 0x80)) {
      if (arcs.length === 0) arcs.push(value < 80 ? Math.floor(value / 40) : 2, value < 80 ? value % 40 : value - 80);
      else arcs.push(value);
      value = 0;
      fresh = true;
    }
    if (value > Number.MAX_SAFE_INTEGER / 128) throw new DerError('OBJECT IDENTIFIER arc too large');
  }
  if (!fresh) throw new DerError('truncated OBJECT IDENTIFIER');
  return arcs.join('.');
}

function derSmallInteger(node: Der): number {
  const c = node.content;
  if (c.length === 0 || c.length > 4 || c[0] & 0x80) throw new DerError('expected a small non-negative INTEGER');
  if (c.length > 1 && c[0] === 0 && !(c[1] & 0x80)) throw new DerError('non-minimal INTEGER');
  let v = 0;
  for (const b of c) v = v * 256 + b;
  return v;
}

function ia5(node: Der, what: string): string {
  for (const b of node.content) if (b > 0x7f) throw new DerError(`${what} is not an IA5String`);
  return Buffer.from(node.content).toString('latin1');
}

/** UTCTime / GeneralizedTime as RFC 5280 §4.1.2.5 restricts them: seconds present, `Z`. */
function derTime(node: Der): Date {
  const text = Buffer.from(node.content).toString('latin1');
  let m: RegExpExecArray | null;
  let year: number;
  if (node.tag === 0x17 && (m = /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(text))) {
    const yy = Number(m[1]);
    year = yy >= 50 ? 1900 + yy : 2000 + yy; // RFC 5280 §4.1.2.5.1
  } else if (node.tag === 0x18 && (m = /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(text))) {
    year = Number(m[1]);
  } else {
    throw new DerError(`malformed validity time ${JSON.stringify(text)}`);
  }
  const [month, day, hour, minute, second] = [m[2], m[3], m[4], m[5], m[6]].map(Number);
  const ms = Date.UTC(year, month - 1, day, hour, minute, second);
  const d = new Date(ms);
  if (
    Number.isNaN(ms) ||
    d.getUTCFullYear() !== year ||
    d.getUTCMonth() !== month - 1 ||
    d.getUTCDate() !== day ||
    d.getUTCHours() !== hour ||
    d.getUTCMinutes() !== minute ||
    d.getUTCSeconds() !== second
  ) {
    throw new DerError(`invalid validity time ${JSON.stringify(text)}`);
  }
  return d;
}

// ---------------------------------------------------------------------------------------------
// GeneralName (RFC 5280 §4.2.1.6)

type GeneralName =
  | { readonly kind: 'dns'; readonly value: string }
  | { readonly kind: 'email'; readonly value: string }
  | { readonly kind: 'uri'; readonly value: string }
  | { readonly kind: 'ip'; readonly bytes: Uint8Array }
  | { readonly kind: 'dn'; readonly der: Uint8Array }
  | { readonly kind: 'otherName' | 'x400Address' | 'ediPartyName' | 'registeredID' };

function decodeGeneralName(node: Der): GeneralName {
  switch (node.tag) {
    case 0x81:
      return { kind: 'email', value: ia5(node, 'rfc822Name') };
    case 0x82:
      return { kind: 'dns', value: ia5(node, 'dNSName') };
    case 0x86:
      return { kind: 'uri', value: ia5(node, 'uniformResourceIdentifier') };
    case 0x87:
      return { kind: 'ip', bytes: node.content };
    case 0xa4: {
      const kids = derChildren(node.content); // [4] is EXPLICIT: Name is a CHOICE
      if (kids.length !== 1 || kids[0].tag !== 0x30) throw new DerError('malformed directoryName');
      return { kind: 'dn', der: kids[0].raw };
    }
    case 0xa0:
      return { kind: 'otherName' };
    case 0xa3:
      return { kind: 'x400Address' };
    case 0xa5:
      return { kind: 'ediPartyName' };
    case 0x88:
      return { kind: 'registeredID' };
    default:
      throw new DerError(`unknown GeneralName tag 0x${node.tag.toString(16)}`);
  }
}

interface NameConstraints {
  readonly permitted: readonly GeneralName[];
  readonly excluded: readonly GeneralName[];
}

/** NameConstraints (RFC 5280 §4.2.1.10). */
function decodeNameConstraints(value: Uint8Array): NameConstraints {
  const seq = derOne(value, 0x30, 'NameConstraints');
  const permitted: GeneralName[] = [];
  const excluded: GeneralName[] = [];
  for (const part of derChildren(seq.content)) {
    if (part.tag !== 0xa0 && part.tag !== 0xa1) throw new DerError('malformed NameConstraints');
    const into = part.tag === 0xa0 ? permitted : excluded;
    const subtrees = derChildren(part.content);
    if (subtrees.length === 0) throw new DerError('empty GeneralSubtrees');
    for (const subtree of subtrees) {
      if (subtree.tag !== 0x30) throw new DerError('malformed GeneralSubtree');
      const [base, ...rest] = derChildren(subtree.content);
      if (base === undefined) throw new DerError('empty GeneralSubtree');
      for (const r of rest) {
        // RFC 5280 §4.2.1.10: minimum MUST be zero, maximum MUST be absent.
        if (r.tag === 0x80 && derSmallInteger(r) === 0) continue;
        throw new DerError('GeneralSubtree minimum/maximum other than the defaults');
      }
      into.push(decodeGeneralName(base));
    }
  }
  if (permitted.length === 0 && excluded.length === 0) throw new DerError('empty NameConstraints');
  return { permitted, excluded };
}

// ---------------------------------------------------------------------------------------------
// Parsed certificates

const OID = {
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  nameConstraints: '2.5.29.30',
  certificatePolicies: '2.5.29.32',
  anyExtendedKeyUsage: '2.5.29.37.0',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  emailAddress: '1.2.840.113549.1.9.1',
  rsassaPss: '1.2.840.113549.1.1.10',
  mgf1: '1.2.840.113549.1.1.8',
} as const;

/**
 * Critical extensions this verifier processes (RFC 5280 §4.2: a certificate with any other
 * critical extension MUST be rejected). certificatePolicies is "processed" with RFC 5280 §6.1's
 * defaults: any policy acceptable, no explicit policy required.
 */
const HANDLED_CRITICAL = new Set<string>([
  OID.basicConstraints,
  OID.keyUsage,
  OID.extKeyUsage,
  OID.subjectAltName,
  OID.nameConstraints,
  OID.certificatePolicies,
]);

/**
 * Certificate signature algorithms we verify (RFC 8446 §4.4.2.4: MD5 MUST and SHA-1 SHOULD be
 * refused, except on trust anchors, whose signatures are not checked). Mirrors
 * `supportedCertificateSignatureSchemes`.
 */
const ACCEPTED_SIGNATURE_ALGORITHMS = new Map<string, string>([
  ['1.2.840.113549.1.1.11', 'sha256WithRSAEncryption'],
  ['1.2.840.113549.1.1.12', 'sha384WithRSAEncryption'],
  ['1.2.840.113549.1.1.13', 'sha512WithRSAEncryption'],
  ['1.2.840.10045.4.3.2', 'ecdsa-with-SHA256'],
  ['1.2.840.10045.4.3.3', 'ecdsa-with-SHA384'],
  ['1.2.840.10045.4.3.4', 'ecdsa-with-SHA512'],
  ['1.3.101.112', 'Ed25519'],
]);

/** Names of refused algorithms, for messages. */
const REFUSED_SIGNATURE_ALGORITHMS = new Map<string, string>([
  ['1.2.840.113549.1.1.2', 'md2WithRSAEncryption'],
  ['1.2.840.113549.1.1.4', 'md5WithRSAEncryption'],
  ['1.2.840.113549.1.1.5', 'sha1WithRSAEncryption'],
  ['1.2.840.113549.1.1.14', 'sha224WithRSAEncryption'],
  ['1.2.840.10045.4.1', 'ecdsa-with-SHA1'],
  ['1.2.840.10045.4.3.1', 'ecdsa-with-SHA224'],
  ['1.2.840.10040.4.3', 'dsa-with-SHA1'],
  ['2.16.840.1.101.3.4.3.2', 'dsa-with-SHA256'],
  ['1.3.101.113', 'Ed448'],
]);

const SHA2_OIDS = new Map<string, string>([
  ['2.16.840.1.101.3.4.2.1', 'SHA-256'],
  ['2.16.840.1.101.3.4.2.2', 'SHA-384'],
  ['2.16.840.1.101.3.4.2.3', 'SHA-512'],
]);

interface ParsedCertificate {
  readonly der: Uint8Array;
  /** SHA-256 of the DER, hex: identity of this exact certificate. */
  readonly id: string;
  readonly node: X509Certificate;
  readonly subjectDer: Uint8Array;
  readonly subjectHex: string;
  readonly issuerHex: string;
  readonly spkiDer: Uint8Array;
  readonly spkiHex: string;
  readonly selfIssued: boolean;
  /** Why the signature algorithm is refused, or null when accepted. */
  readonly signatureAlgorithmProblem: string | null;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly unknownCritical: readonly string[];
  readonly basicConstraints: { readonly ca: boolean; readonly pathLength: number | undefined } | null;
  readonly keyUsage: number | null;
  readonly extKeyUsage: readonly string[] | null;
  readonly subjectAltNames: readonly GeneralName[] | null;
  readonly nameConstraints: NameConstraints | null;
  /** Short name for messages: the subject CN, else the whole subject. */
  readonly label: string;
  /** The public key, or why node:crypto could not load it. */
  readonly publicKey: KeyObject | string;
}

/** An ArrayBuffer-backed copy, as @peculiar/x509's BufferSource parameters want. */
const copy = (b: Uint8Array): Uint8Array<ArrayBuffer> => new Uint8Array(b);

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

function labelOf(node: X509Certificate): string {
  const lines = node.subject.split('\n').filter((l) => l.length > 0);
  const cn = lines.find((l) => l.startsWith('CN='));
  if (cn !== undefined) return JSON.stringify(cn.slice(3));
  return lines.length > 0 ? JSON.stringify(lines.join(', ')) : '(certificate with an empty subject)';
}

/** The OID of an AlgorithmIdentifier SEQUENCE. */
function algorithmOid(algorithm: Der): string {
  const first = derChildren(algorithm.content)[0];
  if (first === undefined) throw new DerError('empty AlgorithmIdentifier');
  return derOid(first);
}

/** Checks the signature AlgorithmIdentifier; returns a problem description or null. */
function signatureAlgorithmProblem(algorithm: Der): { name: string; problem: string | null } {
  const [oidNode, params] = derChildren(algorithm.content);
  if (oidNode === undefined) throw new DerError('empty AlgorithmIdentifier');
  const oid = derOid(oidNode);
  const accepted = ACCEPTED_SIGNATURE_ALGORITHMS.get(oid);
  if (accepted !== undefined) return { name: accepted, problem: null };
  if (oid === OID.rsassaPss) {
    // RSASSA-PSS-params (RFC 4055 §3.1): hashAlgorithm [0] and maskGenAlgorithm [1] default to
    // SHA-1; we require SHA-2 for both.
    if (params === undefined || params.tag !== 0x30) return { name: 'RSASSA-PSS', problem: 'RSASSA-PSS without parameters (SHA-1)' };
    let hash: string | undefined;
    let mgfHash: string | undefined;
    for (const field of derChildren(params.content)) {
      if (field.tag === 0xa0) {
        hash = SHA2_OIDS.get(algorithmOid(derOne(field.content, 0x30, 'PSS hashAlgorithm')));
      } else if (field.tag === 0xa1) {
        const mgf = derOne(field.content, 0x30, 'PSS maskGenAlgorithm');
        const [mgfOid, mgfParams] = derChildren(mgf.content);
        if (mgfOid !== undefined && derOid(mgfOid) === OID.mgf1 && mgfParams?.tag === 0x30) {
          mgfHash = SHA2_OIDS.get(algorithmOid(mgfParams));
        }
      }
    }
    const name = `RSASSA-PSS with ${hash ?? 'SHA-1 or an unknown hash'}`;
    if (hash === undefined || mgfHash === undefined) return { name, problem: `${name} and MGF1 with ${mgfHash ?? 'SHA-1 or an unknown hash'}` };
    return { name, problem: null };
  }
  const name = REFUSED_SIGNATURE_ALGORITHMS.get(oid) ?? `signature algorithm ${oid}`;
  return { name, problem: name };
}

/**
 * Parsed certificates, keyed on their exact DER bytes, so that a peer seen again (the same server
 * on every connection of an endpoint) is not parsed again: parsing (DER walk, @peculiar/x509
 * extensions, OpenSSL's X509Certificate and public key) was ≈ 1.3 ms of a loopback handshake's
 * CPU. Only parsing is cached — a pure function of the bytes; everything that depends on the
 * connection (path building, signatures, the validity window at `now`, names, key usage, pins)
 * is checked on every verification. A hit needs identical bytes (SHA-256 and then a byte-by-byte
 * comparison); failures are not cached. Bounded: the least recently used entry goes first, and
 * certificates longer than {@link CertificateCache.MAX_CERTIFICATE_BYTES} are not kept.
 */
export class CertificateCache {
  /** Longest certificate (DER bytes) kept. */
  static readonly MAX_CERTIFICATE_BYTES = 16 * 1024;
  /** At most this many certificates are kept. */
  readonly capacity: number;
  /** Lookups answered from the cache. */
  hits = 0;
  /** Lookups that parsed. */
  misses = 0;
  private readonly entries = new Map<string, ParsedCertificate>();

  /** @param capacity at most this many certificates are kept (default 64). */
  constructor(capacity = 64) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    this.capacity = capacity;
  }

  /** The number of certificates kept. */
  get size(): number {
    return this.entries.size;
  }

  /** @internal */
  parse(der: Uint8Array, what: string): ParsedCertificate {
    const id = createHash('sha256').update(der).digest('hex');
    const cached = this.entries.get(id);
    if (cached !== undefined && Buffer.from(cached.der).equals(Buffer.from(der.buffer, der.byteOffset, der.byteLength))) {
      this.entries.delete(id); // most recently used last
      this.entries.set(id, cached);
      this.hits++;
      return cached;
    }
    this.misses++;
    // Our own copy: the caller's buffer (a received message) may be reused.
    const parsed = parseCertificate(new Uint8Array(der), what);
    if (der.length <= CertificateCache.MAX_CERTIFICATE_BYTES) {
      this.entries.delete(id);
      this.entries.set(id, parsed);
      if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value as string);
    }
    return parsed;
  }
}

function parseCertificate(der: Uint8Array, what: string): ParsedCertificate {
  const fail = (reason: string, cause?: unknown): never => {
    throw new TlsAlertError(TlsAlert.bad_certificate, `${what} is not a valid DER X.509 certificate: ${reason}`, { cause });
  };
  try {
    // RFC 5280 §4.1: Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }
    // Walked before node:crypto sees the bytes, which would also accept PEM text.
    const top = derOne(der, 0x30, 'Certificate');
    const [tbs, sigAlg, sigValue, ...extra] = derChildren(top.content);
    if (tbs?.tag !== 0x30 || sigAlg?.tag !== 0x30 || sigValue?.tag !== 0x03 || extra.length > 0) throw new DerError('malformed Certificate');
    const fields = derChildren(tbs.content);
    let i = 0;
    if (fields[0]?.tag === 0xa0) i++; // version [0] EXPLICIT
    const [serial, tbsSigAlg, issuer, validity, subject, spki] = fields.slice(i, i + 6);
    if (serial?.tag !== 0x02 || tbsSigAlg?.tag !== 0x30 || issuer?.tag !== 0x30 || validity?.tag !== 0x30 || subject?.tag !== 0x30 || spki?.tag !== 0x30) {
      throw new DerError('malformed TBSCertificate');
    }
    // RFC 5280 §4.1.1.2: the two signature AlgorithmIdentifiers MUST be identical.
    if (!Buffer.from(sigAlg.raw).equals(Buffer.from(tbsSigAlg.raw))) throw new DerError('signatureAlgorithm differs from tbsCertificate.signature');
    const [notBeforeNode, notAfterNode, ...moreTimes] = derChildren(validity.content);
    if (notBeforeNode === undefined || notAfterNode === undefined || moreTimes.length > 0) throw new DerError('malformed Validity');

    let extensionsNode: Der | undefined;
    for (const f of fields.slice(i + 6)) {
      if (f.tag === 0xa3) extensionsNode = f;
      else if (f.tag !== 0x81 && f.tag !== 0x82) throw new DerError('unexpected field in TBSCertificate');
    }
    const unknownCritical: string[] = [];
    const seen = new Set<string>();
    let basicConstraints: ParsedCertificate['basicConstraints'] = null;
    let keyUsage: number | null = null;
    let extKeyUsage: string[] | null = null;
    let subjectAltNames: GeneralName[] | null = null;
    let nameConstraints: NameConstraints | null = null;
    if (extensionsNode !== undefined) {
      const list = derOne(extensionsNode.content, 0x30, 'Extensions');
      for (const ext of derChildren(list.content)) {
        if (ext.tag !== 0x30) throw new DerError('malformed Extension');
        const parts = derChildren(ext.content);
        const oid = derOid(parts[0] ?? fail('empty Extension'));
        const valueNode = parts[parts.length - 1];
        if (valueNode.tag !== 0x04 || parts.length > 3 || (parts.length === 3 && (parts[1].tag !== 0x01 || parts[1].content.length !== 1))) {
          throw new DerError(`malformed extension ${oid}`);
        }
        // Any non-zero BOOLEAN octet is TRUE (X.690 §8.2.2): never let a sloppy encoding hide criticality.
        const critical = parts.length === 3 && parts[1].content[0] !== 0;
        // RFC 5280 §4.2: "A certificate MUST NOT include more than one instance of a particular extension."
        if (seen.has(oid)) throw new DerError(`extension ${oid} appears twice`);
        seen.add(oid);
        const value = valueNode.content;
        switch (oid) {
          case OID.basicConstraints: {
            const e = new x509.BasicConstraintsExtension(copy(ext.raw));
            basicConstraints = { ca: e.ca, pathLength: e.pathLength };
            break;
          }
          case OID.keyUsage:
            keyUsage = new x509.KeyUsagesExtension(copy(ext.raw)).usages;
            break;
          case OID.extKeyUsage:
            extKeyUsage = new x509.ExtendedKeyUsageExtension(copy(ext.raw)).usages.map(String);
            break;
          case OID.subjectAltName: {
            const seq = derOne(value, 0x30, 'subjectAltName');
            subjectAltNames = derChildren(seq.content).map(decodeGeneralName);
            if (subjectAltNames.length === 0) throw new DerError('empty subjectAltName'); // RFC 5280 §4.2.1.6
            for (const n of subjectAltNames) {
              if (n.kind === 'ip' && n.bytes.length !== 4 && n.bytes.length !== 16) throw new DerError(`iPAddress SAN of ${n.bytes.length} bytes`);
            }
            break;
          }
          case OID.nameConstraints:
            nameConstraints = decodeNameConstraints(value);
            break;
          default:
            if (critical && !HANDLED_CRITICAL.has(oid)) unknownCritical.push(oid);
        }
      }
    }
    const sig = signatureAlgorithmProblem(sigAlg);
    let node: X509Certificate;
    try {
      node = new X509Certificate(der);
    } catch (cause) {
      return fail(`OpenSSL: ${(cause as Error).message}`, cause);
    }
    let publicKey: KeyObject | string;
    try {
      publicKey = node.publicKey;
    } catch (cause) {
      publicKey = (cause as Error).message;
    }
    const subjectHex = hex(subject.raw);
    const issuerHex = hex(issuer.raw);
    return {
      der,
      id: createHash('sha256').update(der).digest('hex'),
      node,
      subjectDer: subject.raw,
      subjectHex,
      issuerHex,
      spkiDer: spki.raw,
      spkiHex: hex(spki.raw),
      selfIssued: subjectHex === issuerHex,
      signatureAlgorithmProblem: sig.problem,
      notBefore: derTime(notBeforeNode),
      notAfter: derTime(notAfterNode),
      unknownCritical,
      basicConstraints,
      keyUsage,
      extKeyUsage,
      subjectAltNames,
      nameConstraints,
      label: labelOf(node),
      publicKey,
    };
  } catch (cause) {
    if (cause instanceof TlsAlertError) throw cause;
    return fail((cause as Error).message, cause);
  }
}

// ---------------------------------------------------------------------------------------------
// Trust anchors

/** A certificate a caller can give as a trust anchor: PEM text (one or more certificates), DER, or a parsed certificate. */
export type TrustAnchorInput = string | Uint8Array | X509Certificate;

interface AnchorEntry {
  readonly der: Uint8Array;
  readonly id: string;
  readonly subjectHex: string;
  readonly spkiHex: string;
  parsed: ParsedCertificate | null;
}

/** The subject and exact-certificate indexes of a {@link TrustStore}, private to this module. */
class AnchorIndex {
  readonly bySubject = new Map<string, AnchorEntry[]>();
  readonly byId = new Map<string, AnchorEntry>();

  add(input: Uint8Array): void {
    const der = new Uint8Array(input); // our own copy: the caller may reuse its buffer
    const top = derOne(der, 0x30, 'Certificate');
    const tbs = derChildren(top.content)[0];
    if (tbs === undefined || tbs.tag !== 0x30) throw new DerError('malformed Certificate');
    const fields = derChildren(tbs.content);
    const i = fields[0]?.tag === 0xa0 ? 1 : 0;
    const subject = fields[i + 4];
    const spki = fields[i + 5];
    if (subject?.tag !== 0x30 || spki?.tag !== 0x30) throw new DerError('malformed TBSCertificate');
    const id = createHash('sha256').update(der).digest('hex');
    if (this.byId.has(id)) return;
    new X509Certificate(der); // reject what OpenSSL cannot parse now rather than at first use
    const entry: AnchorEntry = { der, id, subjectHex: hex(subject.raw), spkiHex: hex(spki.raw), parsed: null };
    this.byId.set(id, entry);
    const list = this.bySubject.get(entry.subjectHex);
    if (list) list.push(entry);
    else this.bySubject.set(entry.subjectHex, [entry]);
  }
}

const anchorIndexes = new WeakMap<TrustStore, AnchorIndex>();

/**
 * A set of trust anchors, indexed by subject for path building. Build one once and reuse it: the
 * certificates are parsed when the store is created (subject and key) and fully on first use.
 * Any CA certificate can be an anchor (a root or an intermediate), and so can an end-entity
 * certificate, which then matches only itself.
 */
export class TrustStore {
  /**
   * @param anchors PEM strings (each may hold several certificates), DER bytes or
   *   `X509Certificate`s.
   * @param options `skipInvalid`: ignore anchors that do not parse instead of throwing (used for
   *   the system store).
   * @throws TlsAlertError(internal_error) when an anchor does not parse and `skipInvalid` is not set.
   */
  constructor(anchors: Iterable<TrustAnchorInput>, options: { skipInvalid?: boolean } = {}) {
    const index = new AnchorIndex();
    let n = 0;
    for (const input of anchors) {
      let ders: Uint8Array[];
      if (typeof input === 'string') {
        try {
          ders = loadCertificateChainPem(input);
        } catch (cause) {
          if (options.skipInvalid) continue;
          throw cause;
        }
      } else if (input instanceof X509Certificate) ders = [new Uint8Array(input.raw)];
      else if (input instanceof Uint8Array) ders = [input];
      else throw new TlsAlertError(TlsAlert.internal_error, `trust anchor ${n + 1} is not PEM text, DER bytes or an X509Certificate`);
      for (const der of ders) {
        n++;
        try {
          index.add(der);
        } catch (cause) {
          if (options.skipInvalid) continue;
          throw new TlsAlertError(TlsAlert.internal_error, `trust anchor ${n} is not a valid certificate: ${(cause as Error).message}`, { cause });
        }
      }
    }
    anchorIndexes.set(this, index);
  }

  /** The number of distinct trust anchors. */
  get size(): number {
    return indexOf(this).byId.size;
  }
}

function indexOf(store: TrustStore): AnchorIndex {
  const index = anchorIndexes.get(store);
  if (index === undefined) throw new TlsAlertError(TlsAlert.internal_error, 'not a TrustStore built by its constructor');
  return index;
}

let systemStore: TrustStore | undefined;

/**
 * The trust store of Node's bundled Mozilla root certificates (`tls.rootCertificates`), parsed
 * once on first use. It does not include the operating system's store nor NODE_EXTRA_CA_CERTS;
 * pass those as a {@link TrustStore} when needed.
 */
export function systemTrustStore(): TrustStore {
  systemStore ??= new TrustStore(rootCertificates, { skipInvalid: true });
  return systemStore;
}

function anchorParsed(entry: AnchorEntry): ParsedCertificate | null {
  if (entry.parsed === null) {
    try {
      entry.parsed = parseCertificate(entry.der, 'trust anchor');
    } catch {
      return null;
    }
  }
  return entry.parsed;
}

// ---------------------------------------------------------------------------------------------
// Options and result

/** Options of {@link verifyCertificateChain}. */
export interface VerifyCertificateChainOptions {
  /**
   * The trust anchors: `'system'` (Node's bundled Mozilla roots, see {@link systemTrustStore}), a
   * {@link TrustStore}, or a list of CA certificates (PEM, DER or `X509Certificate`). A list is
   * parsed on every call; build a `TrustStore` once to avoid that. Default `'system'`.
   */
  trustAnchors?: 'system' | TrustStore | readonly TrustAnchorInput[];
  /**
   * The role of the peer that sent the chain. `'server'` (default): the end entity must allow
   * serverAuth and an empty chain is a decode_error. `'client'`: clientAuth, and an empty chain is
   * certificate_required (RFC 8446 §4.4.2.4).
   */
  role?: 'server' | 'client';
  /**
   * The DNS host name the peer must prove (the SNI `server_name`), matched against dNSName SANs
   * with RFC 6125 §6.4 / RFC 9525 §6.3 rules. Unicode names are converted to A-labels. A value
   * that is an IP address literal is matched as {@link ipAddress} instead. Takes precedence over
   * `ipAddress`.
   */
  serverName?: string;
  /**
   * The IP address the peer must prove when there is no host name (the address we connected to),
   * matched against iPAddress SANs only. IPv4-mapped IPv6 addresses count as IPv4.
   */
  ipAddress?: string;
  /**
   * The time at which every certificate must be valid. Required: the caller owns the clock
   * (RFC 5280 §6.1.3(a)(2)).
   */
  now: Date;
  /**
   * SPKI pins: base64 SHA-256 digests of the end-entity certificate's SubjectPublicKeyInfo DER
   * (as Chromium's `--ignore-certificate-errors-spki-list`; see {@link spkiSha256Base64}). When
   * given, the end entity's key must match one of them; {@link pinMode} decides whether the
   * chain is verified too. Only the end entity's key is compared, never a CA's. An empty list is
   * refused (internal_error) rather than guessed at.
   */
  pinnedSpkiSha256?: readonly string[];
  /**
   * How pins combine with path validation:
   * - `'require-chain'` (default): the full verification (path to a trust anchor, validity,
   *   constraints, host name) must pass AND the key must match a pin.
   * - `'pin-only'`: a pin match alone is enough, as with Chromium's flag: no trust anchor, validity
   *   window or name is checked. For development with self-signed certificates: whoever holds the
   *   pinned key is accepted (possession is then proven by CertificateVerify).
   */
  pinMode?: 'require-chain' | 'pin-only';
  /**
   * INSECURE, for tests only: accept any chain whose end-entity certificate parses and holds a
   * usable key. Nothing else is checked; anyone can impersonate anyone.
   */
  insecureSkipVerify?: boolean;
  /**
   * Reuse the parsing of certificates seen before (exact bytes); verification itself is never
   * cached. Give each endpoint (or server) one.
   */
  certificateCache?: CertificateCache;
}

/** What {@link verifyCertificateChain} established. */
export interface VerifiedCertificateChain {
  /** The end entity's public key, for `verifyCertificateVerify`. */
  readonly leafPublicKey: KeyObject;
  /** The end-entity certificate. */
  readonly leaf: X509Certificate;
  /**
   * The verified certification path, end entity first, trust anchor last (the anchor is our copy
   * from the trust store). Only `[leaf]` when no path was built (pin-only or insecure).
   */
  readonly chain: readonly X509Certificate[];
  /**
   * How the chain was accepted: `'path'` (path validation), `'path+pin'` (both), `'pin'`
   * (pin-only mode) or `'insecure'` (insecureSkipVerify).
   */
  readonly trust: 'path' | 'path+pin' | 'pin' | 'insecure';
}

// ---------------------------------------------------------------------------------------------
// Keys

const USABLE_CURVES: Record<string, true> = { prime256v1: true, secp384r1: true, secp521r1: true };
const MIN_RSA_BITS = 2048; // RFC 8446 §C.3: keys weaker than 2048-bit RSA are not appropriate
const MAX_RSA_BITS = 16384;

/**
 * Why a key is not acceptable, or null. The same set serves end entities (it must sign a TLS 1.3
 * CertificateVerify) and issuers (their signatures must use an accepted algorithm): EC P-256,
 * P-384, P-521, Ed25519, RSA and RSA-PSS of 2048 to 16384 bits.
 */
function keyProblem(key: KeyObject): string | null {
  const d = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'ec':
      return d.namedCurve !== undefined && USABLE_CURVES[d.namedCurve] ? null : `${describeKey(key)} (only P-256, P-384 and P-521 are supported)`;
    case 'rsa':
    case 'rsa-pss': {
      const bits = d.modulusLength ?? 0;
      if (bits < MIN_RSA_BITS) return `${describeKey(key)} (at least ${MIN_RSA_BITS} bits are required)`;
      if (bits > MAX_RSA_BITS) return `${describeKey(key)} (at most ${MAX_RSA_BITS} bits are supported)`;
      return null;
    }
    case 'ed25519':
      return null;
    default:
      return `${describeKey(key)} (unsupported key type)`;
  }
}

function leafKey(leaf: ParsedCertificate): KeyObject {
  if (typeof leaf.publicKey === 'string') {
    throw new TlsAlertError(TlsAlert.unsupported_certificate, `the public key of certificate ${leaf.label} cannot be used: ${leaf.publicKey}`);
  }
  const problem = keyProblem(leaf.publicKey);
  if (problem !== null) {
    // RFC 8446 §4.4.2.2: the key MUST be compatible with some supported signature scheme.
    throw new TlsAlertError(TlsAlert.unsupported_certificate, `certificate ${leaf.label} has an unusable ${problem}`);
  }
  return leaf.publicKey;
}

// ---------------------------------------------------------------------------------------------
// IP addresses and host names

/** IPv4 (4 bytes) or IPv6 (16 bytes) from text; IPv4-mapped IPv6 becomes IPv4. Null if not an address. */
function parseIpAddress(text: string): Uint8Array | null {
  let t = text.trim();
  if (t.startsWith('[') && t.endsWith(']')) t = t.slice(1, -1);
  const zone = t.indexOf('%');
  if (zone >= 0) t = t.slice(0, zone);
  if (isIPv4(t)) return Uint8Array.from(t.split('.').map(Number));
  if (!isIPv6(t)) return null;
  const lastColon = t.lastIndexOf(':');
  const v4 = t.slice(lastColon + 1);
  if (v4.includes('.')) {
    // An embedded IPv4 address (RFC 4291 §2.2 form 3) stands for the last two groups.
    if (!isIPv4(v4)) return null;
    const b = v4.split('.').map(Number);
    t = `${t.slice(0, lastColon + 1)}${((b[0] << 8) | b[1]).toString(16)}:${((b[2] << 8) | b[3]).toString(16)}`;
  }
  const halves = t.split('::');
  if (halves.length > 2) return null;
  const groupsOf = (part: string) => (part.length === 0 ? [] : part.split(':').map((g) => (/^[0-9a-fA-F]{1,4}$/.test(g) ? parseInt(g, 16) : NaN)));
  const left = groupsOf(halves[0]);
  const right = halves.length === 2 ? groupsOf(halves[1]) : [];
  const fill = halves.length === 2 ? 8 - left.length - right.length : 0;
  if (fill < 0 || (halves.length === 2 && fill === 0)) return null;
  const groups = [...left, ...new Array<number>(fill).fill(0), ...right];
  if (groups.length !== 8 || groups.some((g) => Number.isNaN(g))) return null;
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return normalizeIp(out);
}

/** IPv4-mapped IPv6 (::ffff:a.b.c.d) as the 4-byte IPv4 address; others unchanged. */
function normalizeIp(bytes: Uint8Array): Uint8Array {
  if (bytes.length === 16 && bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) {
    return bytes.slice(12);
  }
  return bytes;
}

function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join('.');
  if (bytes.length !== 16) return `<${bytes.length}-byte address>`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  // RFC 5952 §4.2: compress the longest run (≥ 2) of zero groups.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((v, i) => v === b[i]);

/** Canonical DNS name for comparison: lower case, no trailing dot. */
function canonicalDns(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

const LDH_LABEL = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;

/**
 * Does the presented dNSName `san` match the reference host `host` (already an A-label name,
 * lower case, no trailing dot)? RFC 6125 §6.4.1–6.4.3 as narrowed by RFC 9525 §6.3: exact match,
 * or a wildcard that is the whole left-most label and stands for exactly one non-empty label.
 * Partial wildcards (`f*.example.com`), wildcards in other labels and wildcards directly above a
 * single label (`*.com`) never match.
 */
function dnsNameMatches(san: string, host: string): boolean {
  const presented = canonicalDns(san);
  if (presented.length === 0) return false;
  if (!presented.includes('*')) return presented === host;
  const labels = presented.split('.');
  if (labels[0] !== '*' || labels.slice(1).some((l) => l.includes('*') || l.length === 0)) return false;
  if (labels.length < 3) return false; // `*.com`: a wildcard over a public-suffix-like single label
  const hostLabels = host.split('.');
  if (hostLabels.length !== labels.length || hostLabels[0].length === 0) return false;
  return hostLabels.slice(1).join('.') === labels.slice(1).join('.');
}

function checkIdentity(leaf: ParsedCertificate, options: VerifyCertificateChainOptions): void {
  const sans = leaf.subjectAltNames ?? [];
  let ip: Uint8Array | null = null;
  let host: string | null = null;
  if (options.serverName !== undefined) {
    ip = parseIpAddress(options.serverName);
    if (ip === null) host = referenceHost(options.serverName);
  } else if (options.ipAddress !== undefined) {
    ip = parseIpAddress(options.ipAddress);
    if (ip === null) throw new TlsAlertError(TlsAlert.internal_error, `ipAddress ${JSON.stringify(options.ipAddress)} is not an IP address`);
  } else {
    return;
  }
  const presented = sans
    .map((n) => (n.kind === 'dns' ? n.value : n.kind === 'ip' ? formatIp(normalizeIp(n.bytes)) : null))
    .filter((n): n is string => n !== null);
  const forWhat = presented.length > 0 ? `certificate for ${presented.join(', ')}` : `certificate ${leaf.label} (no DNS or IP subjectAltName; the common name is not used)`;
  if (ip !== null) {
    // RFC 6125 §6.2.1 / RFC 9525 §6.2: an IP reference matches iPAddress SANs only, octet for octet.
    const ref = ip;
    if (!sans.some((n) => n.kind === 'ip' && sameBytes(normalizeIp(n.bytes), ref))) {
      throw new TlsAlertError(TlsAlert.bad_certificate, `${forWhat} does not match IP address ${formatIp(ref)}`);
    }
    return;
  }
  const h = host as string;
  if (!sans.some((n) => n.kind === 'dns' && dnsNameMatches(n.value, h))) {
    throw new TlsAlertError(TlsAlert.bad_certificate, `${forWhat} does not match host ${h}`);
  }
}

function referenceHost(serverName: string): string {
  const ascii = canonicalDns(domainToASCII(serverName.trim()));
  if (ascii.length === 0 || ascii.length > 253 || !ascii.split('.').every((l) => LDH_LABEL.test(l))) {
    throw new TlsAlertError(TlsAlert.internal_error, `serverName ${JSON.stringify(serverName)} is not a valid DNS host name`);
  }
  return ascii;
}

// ---------------------------------------------------------------------------------------------
// Name constraints (RFC 5280 §4.2.1.10, §6.1.3(b)-(c))

/** Is DNS name `name` within the subtree `constraint`? ("zero or more labels added on the left"; a leading dot means subdomains only.) */
function dnsWithin(name: string, constraint: string): boolean {
  const c = canonicalDns(constraint);
  if (c.length === 0) return true;
  if (c.startsWith('.')) return name.endsWith(c);
  return name === c || name.endsWith('.' + c);
}

/**
 * Could a dNSName (maybe a wildcard) name anything inside `constraint`'s subtree? Used for excluded
 * subtrees, where a wildcard `*.example.com` must be caught by an exclusion of `a.example.com`.
 */
function dnsMayOverlap(name: string, constraint: string): boolean {
  if (dnsWithin(name, constraint)) return true;
  if (!name.startsWith('*.')) return false;
  const rest = name.slice(2);
  const c = canonicalDns(constraint).replace(/^\./, '');
  // `*.rest` covers `<label>.rest`; that is inside c's subtree when c is exactly one label above rest.
  const dot = c.indexOf('.');
  return dot > 0 && c.slice(dot + 1) === rest;
}

function emailWithin(address: string, constraint: string): boolean {
  const at = address.lastIndexOf('@');
  if (at <= 0) return false;
  const host = address.slice(at + 1).toLowerCase();
  if (constraint.includes('@')) {
    const cat = constraint.lastIndexOf('@');
    return address.slice(0, at) === constraint.slice(0, cat) && host === constraint.slice(cat + 1).toLowerCase();
  }
  const c = constraint.toLowerCase();
  return c.startsWith('.') ? host.endsWith(c) : host === c;
}

function uriWithin(uri: string, constraint: string): boolean {
  let host: string;
  try {
    host = canonicalDns(new URL(uri).hostname);
  } catch {
    return false;
  }
  if (host.length === 0 || host.startsWith('[')) return false; // RFC 5280: the host must be a domain name
  const c = constraint.toLowerCase();
  return c.startsWith('.') ? host.endsWith(c) : host === c;
}

function ipWithin(address: Uint8Array, constraint: Uint8Array): boolean {
  const half = constraint.length / 2;
  if (address.length !== half) return false;
  for (let i = 0; i < half; i++) {
    if ((address[i] & constraint[half + i]) !== (constraint[i] & constraint[half + i])) return false;
  }
  return true;
}

function isContiguousMask(mask: Uint8Array): boolean {
  let seenZero = false;
  for (const byte of mask) {
    for (let bit = 7; bit >= 0; bit--) {
      const one = ((byte >> bit) & 1) === 1;
      if (one && seenZero) return false;
      if (!one) seenZero = true;
    }
  }
  return true;
}

type Rdn = Map<string, string[]>;

/** A Name as RDNs of normalised values (RFC 5280 §7.1, approximated: case-folded, whitespace collapsed). */
function rdnsOf(der: Uint8Array): Rdn[] {
  const json = new x509.Name(copy(der)).toJSON();
  return json.map((rdn) => {
    const m: Rdn = new Map();
    for (const [type, values] of Object.entries(rdn)) {
      m.set(type, values.map((v) => v.trim().replace(/\s+/g, ' ').toLowerCase()).sort());
    }
    return m;
  });
}

function dnWithin(name: Rdn[], constraint: Rdn[]): boolean {
  if (constraint.length > name.length) return false;
  return constraint.every((rdn, i) => {
    const other = name[i];
    if (other.size !== rdn.size) return false;
    for (const [type, values] of rdn) {
      const ov = other.get(type);
      if (ov === undefined || ov.length !== values.length || ov.some((v, j) => v !== values[j])) return false;
    }
    return true;
  });
}

/** The names of `cert` that name constraints apply to: SANs, the subject DN, and emailAddress attributes. */
function constrainedNames(cert: ParsedCertificate): GeneralName[] {
  const names: GeneralName[] = [...(cert.subjectAltNames ?? [])];
  const subjectEmpty = derChildren(derOne(cert.subjectDer, 0x30, 'Name').content).length === 0;
  if (!subjectEmpty) {
    names.push({ kind: 'dn', der: cert.subjectDer });
    // RFC 5280 §4.2.1.10: emailAddress attributes in the subject are checked as rfc822Name.
    for (const rdn of new x509.Name(copy(cert.subjectDer)).toJSON()) {
      for (const [type, values] of Object.entries(rdn)) {
        if (type === 'E' || type === OID.emailAddress) for (const v of values) names.push({ kind: 'email', value: v });
      }
    }
  }
  return names;
}

function describeName(n: GeneralName): string {
  switch (n.kind) {
    case 'dns':
    case 'email':
    case 'uri':
      return `${n.kind === 'dns' ? 'DNS' : n.kind === 'email' ? 'email' : 'URI'}:${n.value}`;
    case 'ip':
      return `IP:${formatIp(normalizeIp(n.bytes))}`;
    case 'dn':
      return `DN:${new x509.Name(copy(n.der)).toString()}`;
    default:
      return n.kind;
  }
}

/** Throws when `cert`'s names violate the name constraints of `issuer` (RFC 5280 §6.1.3(b), (c)). */
function checkNameConstraints(issuer: ParsedCertificate, cert: ParsedCertificate): void {
  const nc = issuer.nameConstraints;
  if (nc === null) return;
  for (const c of [...nc.permitted, ...nc.excluded]) {
    if (c.kind === 'ip' && ((c.bytes.length !== 8 && c.bytes.length !== 32) || !isContiguousMask(c.bytes.subarray(c.bytes.length / 2)))) {
      throw new TlsAlertError(TlsAlert.bad_certificate, `CA ${issuer.label} has a malformed iPAddress name constraint`);
    }
  }
  const dnCache = new Map<Uint8Array, Rdn[]>();
  const rdns = (der: Uint8Array): Rdn[] => {
    let r = dnCache.get(der);
    if (r === undefined) dnCache.set(der, (r = rdnsOf(der)));
    return r;
  };
  const within = (name: GeneralName, c: GeneralName, excluded: boolean): boolean => {
    switch (name.kind) {
      case 'dns':
        return c.kind === 'dns' && (excluded ? dnsMayOverlap(canonicalDns(name.value), c.value) : dnsWithin(canonicalDns(name.value), c.value));
      case 'email':
        return c.kind === 'email' && emailWithin(name.value, c.value);
      case 'uri':
        return c.kind === 'uri' && uriWithin(name.value, c.value);
      case 'ip':
        return c.kind === 'ip' && ipWithin(normalizeIp(name.bytes), c.bytes);
      case 'dn':
        return c.kind === 'dn' && dnWithin(rdns(name.der), rdns(c.der));
      default:
        return false;
    }
  };
  for (const name of constrainedNames(cert)) {
    const sameKind = (c: GeneralName) => c.kind === name.kind;
    if (!(name.kind === 'dns' || name.kind === 'email' || name.kind === 'uri' || name.kind === 'ip' || name.kind === 'dn')) {
      // RFC 5280 §4.2.1.10: a constrained name form we cannot process MUST lead to rejection.
      if (nc.permitted.some(sameKind) || nc.excluded.some(sameKind)) {
        throw new TlsAlertError(TlsAlert.unsupported_certificate, `CA ${issuer.label} constrains ${name.kind} names, which this verifier cannot check (in ${cert.label})`);
      }
      continue;
    }
    for (const c of nc.excluded) {
      if (within(name, c, true)) {
        throw new TlsAlertError(TlsAlert.bad_certificate, `certificate ${cert.label} names ${describeName(name)}, which CA ${issuer.label} excludes (${describeName(c)})`);
      }
    }
    const permitted = nc.permitted.filter(sameKind);
    if (permitted.length > 0 && !permitted.some((c) => within(name, c, false))) {
      throw new TlsAlertError(TlsAlert.bad_certificate, `certificate ${cert.label} names ${describeName(name)}, outside what CA ${issuer.label} permits (${permitted.map(describeName).join(', ')})`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Path building (RFC 4158 in spirit: depth-first, trust anchors first, bounded) and validation

interface Edge {
  readonly child: ParsedCertificate;
  readonly issuer: ParsedCertificate;
}

class PathBuilder {
  readonly #store: AnchorIndex;
  readonly #intermediates: readonly ParsedCertificate[];
  readonly #verified = new Map<string, boolean>();
  #checks = 0;
  #steps = 0;
  /** The most specific reason found for not reaching an anchor. */
  #badSignature: TlsAlertError | undefined;
  #anchorSignature: TlsAlertError | undefined;
  #refusedAlgorithm: TlsAlertError | undefined;
  #deepest: ParsedCertificate[] = [];
  #tooLong = false;
  #gaveUp = false;

  constructor(store: AnchorIndex, intermediates: readonly ParsedCertificate[]) {
    this.#store = store;
    this.#intermediates = intermediates;
  }

  /** Does `edge.issuer`'s key verify `edge.child`'s signature? `'budget'` once the work bound is spent. */
  #signature(edge: Edge): 'ok' | 'bad' | 'budget' {
    const key = `${edge.child.id}:${edge.issuer.id}`;
    let ok = this.#verified.get(key);
    if (ok === undefined) {
      if (this.#checks >= MAX_SIGNATURE_CHECKS) {
        this.#gaveUp = true;
        return 'budget';
      }
      this.#checks++;
      ok = false;
      if (typeof edge.issuer.publicKey !== 'string') {
        try {
          ok = edge.child.node.verify(edge.issuer.publicKey);
        } catch {
          ok = false;
        }
      }
      this.#verified.set(key, ok);
    }
    return ok ? 'ok' : 'bad';
  }

  /** Candidate paths, end entity first, trust anchor last; each has all its signatures verified. */
  *paths(leaf: ParsedCertificate): Generator<ParsedCertificate[]> {
    const exact = this.#store.byId.get(leaf.id);
    if (exact !== undefined) yield [leaf]; // the end-entity certificate itself is trusted
    yield* this.#extend([leaf]);
  }

  *#extend(path: ParsedCertificate[]): Generator<ParsedCertificate[]> {
    const cert = path[path.length - 1];
    if (++this.#steps > MAX_PATH_STEPS) {
      this.#gaveUp = true;
      return;
    }
    if (path.length > this.#deepest.length) this.#deepest = path.slice();
    if (path.length >= MAX_PATH_LENGTH) {
      this.#tooLong = true;
      return;
    }
    if (cert.signatureAlgorithmProblem !== null) {
      // RFC 8446 §4.4.2.4: MD5 MUST, SHA-1 SHOULD be refused where a signature must be verified.
      this.#refusedAlgorithm ??= new TlsAlertError(
        TlsAlert.bad_certificate,
        `certificate ${cert.label} is signed with ${cert.signatureAlgorithmProblem}, which is not accepted`,
      );
      return;
    }
    const onPath = (c: ParsedCertificate) => path.some((p) => p.id === c.id || (p.subjectHex === c.subjectHex && p.spkiHex === c.spkiHex));
    // Issuers named by `cert` whose key does not verify its signature. Such a candidate is only
    // an error when no candidate verifies: several CA certificates may share a name (key rollover).
    let verified = 0;
    let unchecked = false;
    let wrongKey: { issuer: ParsedCertificate; fromAnchor: boolean } | undefined;
    // Trust anchors first: a path that ends at an anchor as early as possible.
    for (const entry of this.#store.bySubject.get(cert.issuerHex) ?? []) {
      const anchor = anchorParsed(entry);
      if (anchor === null || onPath(anchor)) continue;
      const sig = this.#signature({ child: cert, issuer: anchor });
      if (sig === 'bad') wrongKey ??= { issuer: anchor, fromAnchor: true };
      if (sig === 'budget') unchecked = true;
      if (sig !== 'ok') continue;
      verified++;
      yield [...path, anchor];
    }
    for (const candidate of this.#intermediates) {
      if (candidate.subjectHex !== cert.issuerHex || onPath(candidate)) continue;
      // A sent certificate with the same subject and key as a trust anchor stands for that anchor
      // (re-issued or expired copies of roots are common): the loop above already ended the path
      // at our copy, with the same key.
      if ((this.#store.bySubject.get(candidate.subjectHex) ?? []).some((e) => e.spkiHex === candidate.spkiHex)) continue;
      const sig = this.#signature({ child: cert, issuer: candidate });
      if (sig === 'bad') wrongKey ??= { issuer: candidate, fromAnchor: false };
      if (sig === 'budget') unchecked = true;
      if (sig !== 'ok') continue;
      verified++;
      yield* this.#extend([...path, candidate]);
    }
    // A self-issued certificate (a root, or a CA re-keying under its own name) names itself: other
    // certificates with that name and another key are expected, not evidence of corruption.
    if (verified === 0 && !unchecked && wrongKey !== undefined && !cert.selfIssued) {
      const msg = `the signature on certificate ${cert.label} does not verify with the key of ${wrongKey.fromAnchor ? 'trusted CA' : 'its issuer'} ${wrongKey.issuer.label}`;
      // A sent issuer that did not sign: the chain is corrupt. Only a trust anchor's name without
      // its key: the chain leads to an unknown CA that uses a trusted name.
      if (wrongKey.fromAnchor) this.#anchorSignature ??= new TlsAlertError(TlsAlert.unknown_ca, `${msg}; the chain does not lead to a trusted CA`);
      else this.#badSignature ??= new TlsAlertError(TlsAlert.bad_certificate, msg);
    }
  }

  /** The error to report when no path was found. */
  failure(): TlsAlertError {
    if (this.#refusedAlgorithm) return this.#refusedAlgorithm;
    if (this.#badSignature) return this.#badSignature;
    if (this.#anchorSignature) return this.#anchorSignature;
    const last = this.#deepest[this.#deepest.length - 1];
    if (this.#gaveUp) return new TlsAlertError(TlsAlert.unknown_ca, `gave up building a certification path (more than ${MAX_SIGNATURE_CHECKS} signature checks or ${MAX_PATH_STEPS} partial paths)`);
    if (this.#tooLong) return new TlsAlertError(TlsAlert.unknown_ca, `no certification path of at most ${MAX_PATH_LENGTH} certificates leads to a trusted CA`);
    const issuer = last.node.issuer.split('\n').join(', ');
    return new TlsAlertError(
      TlsAlert.unknown_ca,
      `certificate ${last.label} was issued by ${JSON.stringify(issuer)}, which is not a trusted CA${last.selfIssued ? ' (self-signed)' : ' and is not in the chain'}`,
    );
  }
}

const KU_DIGITAL_SIGNATURE = 1; // x509.KeyUsageFlags.digitalSignature
const KU_KEY_CERT_SIGN = 32; // x509.KeyUsageFlags.keyCertSign

function checkValidity(cert: ParsedCertificate, now: Date, role: string): void {
  // RFC 5280 §6.1.3(a)(2): the certificate validity period includes the current time (inclusive).
  if (now.getTime() < cert.notBefore.getTime()) {
    throw new TlsAlertError(TlsAlert.certificate_expired, `${role} ${cert.label} is not valid before ${cert.notBefore.toISOString()} (now ${now.toISOString()})`);
  }
  if (now.getTime() > cert.notAfter.getTime()) {
    throw new TlsAlertError(TlsAlert.certificate_expired, `${role} ${cert.label} expired at ${cert.notAfter.toISOString()} (now ${now.toISOString()})`);
  }
}

function checkEku(cert: ParsedCertificate, purpose: string, purposeName: string, role: string): void {
  if (cert.extKeyUsage === null) return;
  if (cert.extKeyUsage.includes(purpose) || cert.extKeyUsage.includes(OID.anyExtendedKeyUsage)) return;
  // RFC 5280 §4.2.1.12: the certificate may only be used for the listed purposes.
  throw new TlsAlertError(TlsAlert.bad_certificate, `${role} ${cert.label} does not allow ${purposeName} (extendedKeyUsage ${cert.extKeyUsage.join(', ')})`);
}

/** The end-entity rules that hold whatever the path (RFC 8446 §4.4.2.2, RFC 5280 §4.2.1.3, §4.2.1.12). */
function checkEndEntity(leaf: ParsedCertificate, role: 'server' | 'client'): void {
  if (leaf.keyUsage !== null && (leaf.keyUsage & KU_DIGITAL_SIGNATURE) === 0) {
    throw new TlsAlertError(TlsAlert.bad_certificate, `certificate ${leaf.label} has keyUsage without digitalSignature, so it cannot sign CertificateVerify`);
  }
  checkEku(leaf, role === 'server' ? OID.serverAuth : OID.clientAuth, role === 'server' ? 'serverAuth' : 'clientAuth', 'certificate');
}

/** Validates one candidate path (RFC 5280 §6.1.3–6.1.4); throws the first problem found. */
function validatePath(path: readonly ParsedCertificate[], options: VerifyCertificateChainOptions, role: 'server' | 'client'): void {
  const last = path.length - 1;
  const roleOf = (i: number) => (i === 0 ? 'certificate' : i === last ? 'trusted CA' : 'intermediate CA');
  for (let i = 0; i <= last; i++) checkValidity(path[i], options.now, roleOf(i));
  for (let i = 0; i <= last; i++) {
    const cert = path[i];
    // Trust anchors are inputs, not part of the path (RFC 5280 §6.1.1(d)), unless the anchor is the end entity.
    if (i < last || i === 0) {
      if (cert.unknownCritical.length > 0) {
        throw new TlsAlertError(TlsAlert.unsupported_certificate, `${roleOf(i)} ${cert.label} has unrecognised critical extension ${cert.unknownCritical.join(', ')} (RFC 5280 §4.2)`);
      }
    }
    if (i === 0) continue;
    // `cert` is an issuer.
    if (typeof cert.publicKey !== 'string') {
      const problem = keyProblem(cert.publicKey);
      if (problem !== null) throw new TlsAlertError(TlsAlert.unsupported_certificate, `${roleOf(i)} ${cert.label} has an unacceptable ${problem}`);
    }
    const bc = cert.basicConstraints;
    if (i < last ? bc === null || !bc.ca : bc !== null && !bc.ca) {
      // RFC 5280 §6.1.4(k): an issuer must be a CA (v1 trust anchors without extensions are accepted).
      throw new TlsAlertError(TlsAlert.bad_certificate, `${roleOf(i)} ${cert.label} issued ${path[i - 1].label} but is not a CA (basicConstraints cA is not TRUE)`);
    }
    if (bc?.pathLength !== undefined) {
      // RFC 5280 §4.2.1.9, §6.1.4(l)-(m): non-self-issued intermediates below this CA.
      let below = 0;
      for (let j = 1; j < i; j++) if (!path[j].selfIssued) below++;
      if (below > bc.pathLength) {
        throw new TlsAlertError(TlsAlert.bad_certificate, `${roleOf(i)} ${cert.label} allows ${bc.pathLength} intermediate CA(s) below it (pathLenConstraint), the path has ${below}`);
      }
    }
    if (cert.keyUsage !== null && (cert.keyUsage & KU_KEY_CERT_SIGN) === 0) {
      // RFC 5280 §4.2.1.3, §6.1.4(n)
      throw new TlsAlertError(TlsAlert.bad_certificate, `${roleOf(i)} ${cert.label} has keyUsage without keyCertSign, so it cannot issue certificates`);
    }
    if (i < last) {
      // Intermediates restrict the purposes of what they issue (the CA/Browser Forum and browser practice).
      checkEku(cert, role === 'server' ? OID.serverAuth : OID.clientAuth, role === 'server' ? 'serverAuth' : 'clientAuth', roleOf(i));
    }
    // RFC 5280 §6.1.3(b)-(c): constraints apply to every later certificate; self-issued
    // intermediates are exempt, the end entity never is.
    for (let j = i - 1; j >= 0; j--) {
      if (j > 0 && path[j].selfIssued) continue;
      checkNameConstraints(cert, path[j]);
    }
  }
  checkEndEntity(path[0], role);
  checkIdentity(path[0], options);
}

// ---------------------------------------------------------------------------------------------
// Public API

function decodePin(pin: string, index: number): Buffer {
  if (!/^[A-Za-z0-9+/_-]{43}=?$/.test(pin)) {
    throw new TlsAlertError(TlsAlert.internal_error, `pinnedSpkiSha256[${index}] is not a base64 SHA-256 digest: ${JSON.stringify(pin)}`);
  }
  return Buffer.from(pin.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}

function trustStoreOf(anchors: VerifyCertificateChainOptions['trustAnchors']): TrustStore {
  if (anchors === undefined || anchors === 'system') return systemTrustStore();
  if (anchors instanceof TrustStore) return anchors;
  if (!Array.isArray(anchors as unknown)) {
    throw new TlsAlertError(TlsAlert.internal_error, `trustAnchors must be 'system', a TrustStore or a list of certificates`);
  }
  return new TrustStore(anchors);
}

/**
 * Verify the certificate chain of a Certificate message (RFC 8446 §4.4.2.4) and return the end
 * entity's public key. See the module documentation for the rules and the alert of each failure.
 *
 * @param chain the `cert_data` of each CertificateEntry: DER, end-entity first, then any
 *   certificates in any order.
 * @param options trust anchors, expected identity, time, pins.
 * @throws TlsAlertError with the alert RFC 8446 §6.2 calls for; the message says what failed.
 */
export function verifyCertificateChain(chain: readonly Uint8Array[], options: VerifyCertificateChainOptions): VerifiedCertificateChain {
  const role = options.role ?? 'server';
  if (role !== 'server' && role !== 'client') throw new TlsAlertError(TlsAlert.internal_error, `role must be 'server' or 'client'`);
  if (!(options.now instanceof Date) || Number.isNaN(options.now.getTime())) {
    throw new TlsAlertError(TlsAlert.internal_error, 'verifyCertificateChain needs options.now, a valid Date');
  }
  const pins = options.pinnedSpkiSha256?.map(decodePin);
  const pinMode = options.pinMode ?? 'require-chain';
  if (pinMode !== 'require-chain' && pinMode !== 'pin-only') throw new TlsAlertError(TlsAlert.internal_error, `unknown pinMode ${String(pinMode)}`);
  if (options.insecureSkipVerify && pins !== undefined) {
    throw new TlsAlertError(TlsAlert.internal_error, 'insecureSkipVerify and pinnedSpkiSha256 contradict each other: choose one');
  }
  if (pins !== undefined && pins.length === 0) {
    // An empty list is a configuration slip; neither "no pinning" nor "refuse everyone" is a safe guess.
    throw new TlsAlertError(TlsAlert.internal_error, 'pinnedSpkiSha256 is empty: leave it out or give at least one pin');
  }
  if (pinMode === 'pin-only' && pins === undefined) {
    throw new TlsAlertError(TlsAlert.internal_error, "pinMode 'pin-only' needs at least one pin in pinnedSpkiSha256");
  }

  if (chain.length === 0) {
    // RFC 8446 §4.4.2.4: an empty server Certificate → decode_error; a client may send an empty
    // one, and a server that requires a certificate aborts with certificate_required.
    throw role === 'server'
      ? new TlsAlertError(TlsAlert.decode_error, 'the server sent an empty certificate chain')
      : new TlsAlertError(TlsAlert.certificate_required, 'the client sent no certificate but one is required');
  }
  if (chain.length > MAX_CHAIN_CERTIFICATES) {
    throw new TlsAlertError(TlsAlert.bad_certificate, `the ${role} sent ${chain.length} certificates; at most ${MAX_CHAIN_CERTIFICATES} are accepted`);
  }
  const cache = options.certificateCache;
  const parsed = chain.map((der, i) => {
    const what = i === 0 ? `the ${role}'s end-entity certificate` : `certificate ${i} of the ${role}'s chain`;
    return cache === undefined ? parseCertificate(der, what) : cache.parse(der, what);
  });
  const leaf = parsed[0];
  const leafPublicKey = leafKey(leaf);

  if (options.insecureSkipVerify) return { leafPublicKey, leaf: leaf.node, chain: [leaf.node], trust: 'insecure' };

  let pinMatched = false;
  if (pins !== undefined) {
    const digest = createHash('sha256').update(leaf.spkiDer).digest();
    pinMatched = pins.some((p) => p.equals(digest));
    if (!pinMatched) {
      throw new TlsAlertError(
        TlsAlert.certificate_unknown,
        `the key of certificate ${leaf.label} (SPKI SHA-256 ${digest.toString('base64')}) matches none of the ${pins.length} pinned key(s)`,
      );
    }
    if (pinMode === 'pin-only') return { leafPublicKey, leaf: leaf.node, chain: [leaf.node], trust: 'pin' };
  }

  if (role === 'server' && options.serverName === undefined && options.ipAddress === undefined) {
    throw new TlsAlertError(TlsAlert.internal_error, 'verifying a server certificate needs serverName or ipAddress (or pins with pinMode pin-only)');
  }
  const store = trustStoreOf(options.trustAnchors);
  const seen = new Set<string>([leaf.id]);
  const intermediates = parsed.slice(1).filter((c) => !seen.has(c.id) && (seen.add(c.id), true));
  const builder = new PathBuilder(indexOf(store), intermediates);
  let firstError: TlsAlertError | undefined;
  for (const path of builder.paths(leaf)) {
    try {
      validatePath(path, options, role);
      return { leafPublicKey, leaf: leaf.node, chain: path.map((c) => c.node), trust: pinMatched ? 'path+pin' : 'path' };
    } catch (e) {
      firstError ??=
        e instanceof TlsAlertError
          ? e
          : new TlsAlertError(TlsAlert.bad_certificate, `the ${role}'s certificate chain could not be validated: ${(e as Error).message}`, { cause: e });
    }
  }
  throw firstError ?? builder.failure();
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]*?)-----END CERTIFICATE-----/g;

/**
 * The certificates of a PEM file, in file order, as DER (for a Certificate message or a trust
 * list). Text outside `CERTIFICATE` blocks is ignored.
 *
 * @throws TlsAlertError(internal_error) when there is no certificate or one does not parse.
 */
export function loadCertificateChainPem(pem: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const m of pem.matchAll(PEM_CERTIFICATE)) {
    const der = new Uint8Array(Buffer.from(m[1].replace(/\s+/g, ''), 'base64'));
    try {
      new X509Certificate(der);
    } catch (cause) {
      throw new TlsAlertError(TlsAlert.internal_error, `PEM certificate ${out.length + 1} does not parse: ${(cause as Error).message}`, { cause });
    }
    out.push(der);
  }
  if (out.length === 0) throw new TlsAlertError(TlsAlert.internal_error, 'no "-----BEGIN CERTIFICATE-----" block in the PEM text');
  return out;
}

/**
 * A private key from PEM (PKCS#8, SEC1 `EC PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`; encrypted
 * PKCS#8 with `passphrase`). The key must be usable for a TLS 1.3 CertificateVerify: EC P-256,
 * P-384 or P-521, Ed25519, or RSA / RSA-PSS of 2048 bits or more.
 *
 * @throws TlsAlertError(internal_error) when the text is not such a key.
 */
export function loadPrivateKeyPem(pem: string, passphrase?: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(passphrase === undefined ? { key: pem, format: 'pem' } : { key: pem, format: 'pem', passphrase });
  } catch (cause) {
    throw new TlsAlertError(TlsAlert.internal_error, `the PEM text is not a private key: ${(cause as Error).message}`, { cause });
  }
  const problem = keyProblem(key);
  if (problem !== null) throw new TlsAlertError(TlsAlert.internal_error, `the private key cannot sign TLS 1.3 CertificateVerify: ${problem}`);
  return key;
}

/**
 * Base64 SHA-256 of a SubjectPublicKeyInfo: the pin format of {@link VerifyCertificateChainOptions.pinnedSpkiSha256}
 * and of Chromium's `--ignore-certificate-errors-spki-list`. Given a certificate (DER or
 * `X509Certificate`), hashes its SPKI exactly as encoded in the certificate; given a key, hashes
 * its SPKI DER export.
 *
 * @throws TlsAlertError(bad_certificate) when `cert` is not a DER certificate.
 */
export function spkiSha256Base64(cert: Uint8Array | X509Certificate | KeyObject): string {
  let spki: Uint8Array;
  if (cert instanceof Uint8Array) spki = parseCertificate(cert, 'the certificate').spkiDer;
  else if (cert instanceof X509Certificate) spki = parseCertificate(new Uint8Array(cert.raw), 'the certificate').spkiDer;
  else spki = (cert.type === 'private' ? createPublicKey(cert) : cert).export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}
