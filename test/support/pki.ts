/**
 * A test PKI built at run time: root CAs, intermediates and end-entity certificates with chosen
 * key types, validity windows, SANs, basic constraints, key usages, name constraints and
 * signature hashes. Nothing here is ever written to disk or committed.
 *
 *     const pki = await createChain({ intermediates: 1, leaf: { dnsNames: ['example.com'] } });
 *     verifyCertificateChain(pki.chain, { trustAnchors: pki.anchors, serverName: 'example.com', now: new Date() });
 *
 * EC and Ed25519 keys are generated in about a millisecond; RSA keys take ~100–300 ms each, so
 * RSA is only used where a test asks for it.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createHash, generateKeyPairSync, randomBytes, webcrypto, X509Certificate, type KeyObject } from 'node:crypto';

const crypto = webcrypto as unknown as Crypto;

/** Key types the test PKI can make. `rsa-pss` is an RSASSA-PSS-OID key (end entities only); `rsa-1024`, `ed448` and `ecdsa-secp256k1` exist to test refusals. */
export type TestKeyType =
  | 'ecdsa-p256'
  | 'ecdsa-p384'
  | 'ecdsa-p521'
  | 'ecdsa-secp256k1'
  | 'ed25519'
  | 'ed448'
  | 'rsa'
  | 'rsa-pss'
  | 'rsa-1024';

/** A generated key pair as node:crypto keys, with the DER SubjectPublicKeyInfo and PKCS#8. */
export interface TestKeyPair {
  readonly type: TestKeyType;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly spki: Uint8Array<ArrayBuffer>;
  readonly pkcs8: Uint8Array<ArrayBuffer>;
}

/** Generate a fresh key pair of the given type with node:crypto. */
export function generateTestKeyPair(type: TestKeyType = 'ecdsa-p256'): TestKeyPair {
  let pair: { privateKey: KeyObject; publicKey: KeyObject };
  switch (type) {
    case 'ecdsa-p256':
      pair = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
      break;
    case 'ecdsa-p384':
      pair = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
      break;
    case 'ecdsa-p521':
      pair = generateKeyPairSync('ec', { namedCurve: 'secp521r1' });
      break;
    case 'ecdsa-secp256k1':
      pair = generateKeyPairSync('ec', { namedCurve: 'secp256k1' });
      break;
    case 'ed25519':
      pair = generateKeyPairSync('ed25519');
      break;
    case 'ed448':
      pair = generateKeyPairSync('ed448');
      break;
    case 'rsa':
      pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
      break;
    case 'rsa-1024':
      pair = generateKeyPairSync('rsa', { modulusLength: 1024 });
      break;
    case 'rsa-pss':
      pair = generateKeyPairSync('rsa-pss', { modulusLength: 2048, hashAlgorithm: 'sha256', mgf1HashAlgorithm: 'sha256' });
      break;
    default:
      throw new Error(`unknown test key type ${String(type)}`);
  }
  return {
    type,
    ...pair,
    spki: new Uint8Array(pair.publicKey.export({ type: 'spki', format: 'der' })),
    pkcs8: new Uint8Array(pair.privateKey.export({ type: 'pkcs8', format: 'der' })),
  };
}

/** Hash of the issuer's signature on a certificate. SHA-1 exists to test refusals. */
export type TestSignatureHash = 'SHA-1' | 'SHA-256' | 'SHA-384' | 'SHA-512';

/** A name inside a name constraint. `ipRaw` is address‖mask bytes, to write malformed masks. */
export type TestConstraintName =
  | { dns: string }
  | { ip: string }
  | { ipRaw: Uint8Array }
  | { email: string }
  | { uri: string }
  | { dn: string };

/** A NameConstraints extension (RFC 5280 §4.2.1.10). */
export interface TestNameConstraints {
  permitted?: TestConstraintName[];
  excluded?: TestConstraintName[];
  /** Default true, as RFC 5280 requires. */
  critical?: boolean;
}

/** RFC 5280 key usage names. */
export type TestKeyUsage = keyof typeof x509.KeyUsageFlags;

/** What goes into a test certificate. Every field has a default suited to the certificate's role. */
export interface TestCertificateOptions {
  /** A DN (`CN=a, O=b`) or just a common name. Default: a unique name per certificate. */
  subject?: string;
  /** Key type (default `ecdsa-p256`), or {@link keys} to reuse a key. */
  keyType?: TestKeyType;
  /** A key pair to certify instead of generating one. */
  keys?: TestKeyPair;
  /** Default: one hour ago. */
  notBefore?: Date;
  /** Default: 30 days from now. */
  notAfter?: Date;
  /** dNSName SANs. End entities default to `['localhost']` (with the default IPs) when no SAN option is given. */
  dnsNames?: string[];
  /** iPAddress SANs. End entities default to `['127.0.0.1', '::1']` when no SAN option is given. */
  ipAddresses?: string[];
  /** rfc822Name SANs. */
  emails?: string[];
  /** uniformResourceIdentifier SANs. */
  uris?: string[];
  /** Leave out subjectAltName entirely. */
  omitSubjectAltName?: boolean;
  /** basicConstraints cA (default: true for CAs, false for end entities). */
  ca?: boolean;
  /** basicConstraints pathLenConstraint. */
  pathLength?: number;
  /** Leave out basicConstraints. */
  omitBasicConstraints?: boolean;
  /** keyUsage bits; `null` leaves the extension out. Default: keyCertSign+cRLSign for CAs, digitalSignature for end entities. */
  keyUsage?: TestKeyUsage[] | null;
  /** extendedKeyUsage purposes (`serverAuth`, `clientAuth`, `codeSigning`, `any` or OIDs); `null` leaves it out. Default: none for CAs, serverAuth+clientAuth for end entities. */
  extendedKeyUsage?: string[] | null;
  /** A NameConstraints extension. */
  nameConstraints?: TestNameConstraints;
  /** More extensions, verbatim. */
  extensions?: x509.Extension[];
  /** The hash of the issuer's signature (default: SHA-256, or the curve's hash for ECDSA issuers). */
  signatureHash?: TestSignatureHash;
  /** For RSA issuers: RSASSA-PKCS1-v1_5 (default) or RSASSA-PSS. */
  rsaSignature?: 'pkcs1' | 'pss';
  /** Serial number as hex (default: 16 random bytes, positive). */
  serialNumber?: string;
}

let counter = 0;
const runTag = randomBytes(3).toString('hex');

const EKU: Record<string, string> = {
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  codeSigning: '1.3.6.1.5.5.7.3.3',
  any: '2.5.29.37.0',
};

/** @peculiar/x509 reads IPv6 groups as hex: rewrite a dotted IPv4 tail (`::ffff:1.2.3.4`) as two hex groups. */
function hexTail(ip: string): string {
  const last = ip.lastIndexOf(':');
  if (last < 0 || !ip.slice(last + 1).includes('.')) return ip;
  const b = ip.slice(last + 1).split('.').map(Number);
  return `${ip.slice(0, last + 1)}${((b[0] << 8) | b[1]).toString(16)}:${((b[2] << 8) | b[3]).toString(16)}`;
}

function randomSerial(): string {
  const b = randomBytes(16);
  b[0] = (b[0] & 0x7f) | 0x01; // positive and minimally encoded
  return b.toString('hex');
}

function der(tag: number, content: Uint8Array): Uint8Array<ArrayBuffer> {
  const len = content.length;
  const header = len < 0x80 ? [tag, len] : len < 0x100 ? [tag, 0x81, len] : [tag, 0x82, len >> 8, len & 0xff];
  const out = new Uint8Array(header.length + len);
  out.set(header, 0);
  out.set(content, header.length);
  return out;
}

const concat = (parts: Uint8Array[]): Uint8Array<ArrayBuffer> => new Uint8Array(Buffer.concat(parts));

function generalName(n: TestConstraintName): Uint8Array {
  if ('dns' in n) return new Uint8Array(new x509.GeneralName('dns', n.dns).rawData);
  if ('ip' in n) return new Uint8Array(new x509.GeneralName('ip', n.ip).rawData);
  if ('ipRaw' in n) return der(0x87, n.ipRaw);
  if ('email' in n) return new Uint8Array(new x509.GeneralName('email', n.email).rawData);
  if ('uri' in n) return new Uint8Array(new x509.GeneralName('url', n.uri).rawData);
  return new Uint8Array(new x509.GeneralName('dn', n.dn).rawData);
}

/** DER of a NameConstraints extension value (RFC 5280 §4.2.1.10). */
function nameConstraintsExtension(nc: TestNameConstraints): x509.Extension {
  const subtrees = (tag: number, names: TestConstraintName[] | undefined): Uint8Array[] =>
    names === undefined || names.length === 0 ? [] : [der(tag, concat(names.map((n) => der(0x30, generalName(n)))))];
  const value = der(0x30, concat([...subtrees(0xa0, nc.permitted), ...subtrees(0xa1, nc.excluded)]));
  return new x509.Extension('2.5.29.30', nc.critical ?? true, value);
}

/** The WebCrypto import and signature algorithms for an issuer key. */
function signingParams(keys: TestKeyPair, hash: TestSignatureHash | undefined, rsa: 'pkcs1' | 'pss' | undefined) {
  switch (keys.type) {
    case 'ecdsa-p256':
    case 'ecdsa-p384':
    case 'ecdsa-p521': {
      const curve = { 'ecdsa-p256': 'P-256', 'ecdsa-p384': 'P-384', 'ecdsa-p521': 'P-521' }[keys.type];
      const h = hash ?? { 'ecdsa-p256': 'SHA-256', 'ecdsa-p384': 'SHA-384', 'ecdsa-p521': 'SHA-512' }[keys.type];
      return { importAlg: { name: 'ECDSA', namedCurve: curve }, signAlg: { name: 'ECDSA', hash: h } };
    }
    case 'ed25519':
      return { importAlg: { name: 'Ed25519' }, signAlg: { name: 'Ed25519' } };
    case 'rsa':
    case 'rsa-1024': {
      const h = hash ?? 'SHA-256';
      if (rsa === 'pss') {
        const saltLength = { 'SHA-1': 20, 'SHA-256': 32, 'SHA-384': 48, 'SHA-512': 64 }[h];
        return { importAlg: { name: 'RSA-PSS', hash: h }, signAlg: { name: 'RSA-PSS', hash: h, saltLength } };
      }
      return { importAlg: { name: 'RSASSA-PKCS1-v1_5', hash: h }, signAlg: { name: 'RSASSA-PKCS1-v1_5', hash: h } };
    }
    default:
      throw new Error(`the test PKI cannot sign certificates with ${keys.type} keys (WebCrypto cannot import them)`);
  }
}

function subjectOf(options: TestCertificateOptions, fallback: string): string {
  const s = options.subject ?? `${fallback} ${++counter} ${runTag}`;
  return s.includes('=') ? s : `CN=${s}`;
}

/** A certificate of the test PKI with its key; it can issue further certificates. */
export class TestCertificate {
  /** DER. */
  readonly der: Uint8Array<ArrayBuffer>;
  /** node:crypto view. */
  readonly x509: X509Certificate;
  /** @peculiar/x509 view. */
  readonly peculiar: x509.X509Certificate;
  /** The certified key pair. */
  readonly keys: TestKeyPair;

  constructor(cert: x509.X509Certificate, keys: TestKeyPair) {
    this.peculiar = cert;
    this.der = new Uint8Array(cert.rawData);
    this.x509 = new X509Certificate(this.der);
    this.keys = keys;
  }

  /** PEM text of the certificate. */
  get pem(): string {
    return this.peculiar.toString('pem');
  }

  /** PKCS#8 PEM text of the private key. */
  get privateKeyPem(): string {
    return this.keys.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  }

  /** The private key. */
  get privateKey(): KeyObject {
    return this.keys.privateKey;
  }

  /** Base64 SHA-256 of the SubjectPublicKeyInfo (a pin). */
  get spkiSha256(): string {
    return createHash('sha256').update(this.keys.spki).digest('base64');
  }

  /** The subject DN. */
  get subject(): string {
    return this.peculiar.subject;
  }

  /** Issue a certificate signed by this one. CA-ness follows `options.ca` (default: end entity). */
  issue(options: TestCertificateOptions = {}): Promise<TestCertificate> {
    return makeCertificate(options, options.ca === true ? 'Test Intermediate CA' : 'Test Leaf', this);
  }

  /** Issue an intermediate CA certificate (cA true unless overridden). */
  issueIntermediate(options: TestCertificateOptions = {}): Promise<TestCertificate> {
    return makeCertificate({ ca: true, ...options }, 'Test Intermediate CA', this);
  }

  /** Issue an end-entity certificate (cA false unless overridden). */
  issueLeaf(options: TestCertificateOptions = {}): Promise<TestCertificate> {
    return makeCertificate({ ca: false, ...options }, 'Test Leaf', this);
  }
}

async function makeCertificate(options: TestCertificateOptions, fallbackName: string, issuer: TestCertificate | null): Promise<TestCertificate> {
  const keys = options.keys ?? generateTestKeyPair(options.keyType);
  const ca = options.ca ?? false;
  const subject = subjectOf(options, fallbackName);
  const signer = issuer?.keys ?? keys;
  const { importAlg, signAlg } = signingParams(signer, options.signatureHash, options.rsaSignature);
  const signingKey = await crypto.subtle.importKey('pkcs8', signer.pkcs8, importAlg, false, ['sign']);

  const extensions: x509.Extension[] = [];
  if (!options.omitBasicConstraints) extensions.push(new x509.BasicConstraintsExtension(ca, options.pathLength, true));
  const usages = options.keyUsage === undefined ? (ca ? (['keyCertSign', 'cRLSign'] as const) : (['digitalSignature'] as const)) : options.keyUsage;
  if (usages !== null) {
    extensions.push(new x509.KeyUsagesExtension(usages.reduce((a, u) => a | x509.KeyUsageFlags[u], 0), true));
  }
  const eku = options.extendedKeyUsage === undefined ? (ca ? null : ['serverAuth', 'clientAuth']) : options.extendedKeyUsage;
  if (eku !== null) extensions.push(new x509.ExtendedKeyUsageExtension(eku.map((u) => EKU[u] ?? u), false));
  const anySan = options.dnsNames !== undefined || options.ipAddresses !== undefined || options.emails !== undefined || options.uris !== undefined;
  if (!options.omitSubjectAltName && (anySan || !ca)) {
    const dns = options.dnsNames ?? (anySan ? [] : ['localhost']);
    const ips = options.ipAddresses ?? (anySan ? [] : ['127.0.0.1', '::1']);
    const names: x509.JsonGeneralNames = [
      ...dns.map((value) => ({ type: 'dns' as const, value })),
      ...ips.map((value) => ({ type: 'ip' as const, value: hexTail(value) })),
      ...(options.emails ?? []).map((value) => ({ type: 'email' as const, value })),
      ...(options.uris ?? []).map((value) => ({ type: 'url' as const, value })),
    ];
    if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names, false));
  }
  if (options.nameConstraints !== undefined) extensions.push(nameConstraintsExtension(options.nameConstraints));
  extensions.push(await x509.SubjectKeyIdentifierExtension.create(keys.spki, false, crypto));
  if (issuer !== null) extensions.push(await x509.AuthorityKeyIdentifierExtension.create(issuer.keys.spki, false, crypto));
  extensions.push(...(options.extensions ?? []));

  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: options.serialNumber ?? randomSerial(),
      subject,
      issuer: issuer === null ? subject : issuer.peculiar.subjectName,
      notBefore: options.notBefore ?? new Date(now - 3600_000),
      notAfter: options.notAfter ?? new Date(now + 30 * 86400_000),
      publicKey: keys.spki,
      signingKey,
      signingAlgorithm: signAlg,
      extensions,
    },
    crypto,
  );
  return new TestCertificate(cert, keys);
}

/** A self-signed root CA (cA true, keyCertSign). */
export function createRootCa(options: TestCertificateOptions = {}): Promise<TestCertificate> {
  return makeCertificate({ ca: true, ...options }, 'Test Root CA', null);
}

/** A self-signed end-entity certificate (cA false, SANs localhost / 127.0.0.1 / ::1 by default). */
export function createSelfSignedLeaf(options: TestCertificateOptions = {}): Promise<TestCertificate> {
  return makeCertificate({ ca: false, ...options }, 'Test Self-Signed', null);
}

/** Options of {@link createChain}. */
export interface TestChainOptions {
  /** Key type of every certificate unless overridden per certificate. */
  keyType?: TestKeyType;
  /** Root CA options, or an existing root to issue under. */
  root?: TestCertificateOptions | TestCertificate;
  /** Number of intermediates (default 1), or options for each, root side first. */
  intermediates?: number | TestCertificateOptions[];
  /** End-entity options. */
  leaf?: TestCertificateOptions;
}

/** A root → intermediates → leaf PKI and the Certificate message a peer would send. */
export interface TestChain {
  readonly root: TestCertificate;
  /** Root side first: `intermediates[0]` is issued by the root. */
  readonly intermediates: readonly TestCertificate[];
  readonly leaf: TestCertificate;
  /** DER as a peer sends it: leaf, then its issuer, up to the last intermediate (no root). */
  readonly chain: Uint8Array[];
  /** `[root.der]`, for `trustAnchors`. */
  readonly anchors: Uint8Array[];
}

/** Build root → intermediates → leaf. */
export async function createChain(options: TestChainOptions = {}): Promise<TestChain> {
  const withKey = (o: TestCertificateOptions = {}): TestCertificateOptions => ({ keyType: options.keyType, ...o });
  const root = options.root instanceof TestCertificate ? options.root : await createRootCa(withKey(options.root));
  const specs = typeof options.intermediates === 'number' || options.intermediates === undefined
    ? Array.from({ length: options.intermediates ?? 1 }, () => ({}))
    : options.intermediates;
  const intermediates: TestCertificate[] = [];
  let issuer = root;
  for (const spec of specs) {
    issuer = await issuer.issueIntermediate(withKey(spec));
    intermediates.push(issuer);
  }
  const leaf = await issuer.issueLeaf(withKey(options.leaf));
  return {
    root,
    intermediates,
    leaf,
    chain: [leaf.der, ...[...intermediates].reverse().map((c) => c.der)],
    anchors: [root.der],
  };
}
