/**
 * Self-signed certificates for a server that starts without one (development, tests, local
 * tools). Clients accept such a certificate by trusting it as its own anchor
 * (`verifyCertificateChain(chain, { trustAnchors: [certificatePem], ... })`) or by pinning its key
 * (`pinnedSpkiSha256: [spkiSha256Base64]`, also Chromium's `--ignore-certificate-errors-spki-list`).
 *
 * @module
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createHash, createPrivateKey, randomBytes, webcrypto, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { TlsAlert, TlsAlertError } from './alerts.js';

/**
 * Key type of a generated certificate:
 * - `ecdsa-p256` (default) / `ecdsa-p384`: signs CertificateVerify with ecdsa_secp256r1_sha256 /
 *   ecdsa_secp384r1_sha384; the certificate is signed ECDSA with SHA-256 / SHA-384.
 * - `ed25519`: ed25519 for both.
 * - `rsa-pss`: a 2048-bit RSA key with the rsaEncryption OID (so CertificateVerify uses
 *   rsa_pss_rsae_sha256, which every TLS 1.3 peer supports); the certificate itself is signed
 *   RSASSA-PSS with SHA-256.
 * - `rsa`: a 2048-bit RSA key; the certificate is signed sha256WithRSAEncryption (PKCS#1 v1.5)
 *   for the widest compatibility; CertificateVerify still uses rsa_pss_rsae_sha256 (TLS 1.3
 *   forbids PKCS#1 v1.5 there).
 */
export type SelfSignedKeyType = 'ecdsa-p256' | 'ecdsa-p384' | 'ed25519' | 'rsa-pss' | 'rsa';

/** Options of {@link generateSelfSignedCertificate}. */
export interface SelfSignedCertificateOptions {
  /** DNS names for subjectAltName; the first is also the subject CN. Default `['localhost']`. */
  hostnames?: string[];
  /** IP addresses for subjectAltName. Default `['127.0.0.1', '::1']`. */
  ipAddresses?: string[];
  /** Default `'ecdsa-p256'`. */
  keyType?: SelfSignedKeyType;
  /** Days from `notBefore` to notAfter. Default 30. */
  validityDays?: number;
  /** Start of validity. Default: one hour before now, to tolerate clock skew. */
  notBefore?: Date;
}

/** A generated certificate and its key, in the forms a server and its clients need. */
export interface SelfSignedCertificate {
  /** `[certificate DER]`: the Certificate message's chain. */
  readonly certificateChain: Uint8Array[];
  /** The certificate as PEM. */
  readonly certificatePem: string;
  /** The private key for CertificateVerify. */
  readonly privateKey: KeyObject;
  /** The private key as PKCS#8 PEM. */
  readonly privateKeyPem: string;
  /** Base64 SHA-256 of the SubjectPublicKeyInfo: a pin for clients (and Chromium's SPKI list). */
  readonly spkiSha256Base64: string;
}

const ALGORITHMS: Record<SelfSignedKeyType, { generate: RsaHashedKeyGenParams | EcKeyGenParams | Algorithm; sign: Algorithm | EcdsaParams | RsaPssParams }> = {
  'ecdsa-p256': { generate: { name: 'ECDSA', namedCurve: 'P-256' } as EcKeyGenParams, sign: { name: 'ECDSA', hash: 'SHA-256' } as EcdsaParams },
  'ecdsa-p384': { generate: { name: 'ECDSA', namedCurve: 'P-384' } as EcKeyGenParams, sign: { name: 'ECDSA', hash: 'SHA-384' } as EcdsaParams },
  ed25519: { generate: { name: 'Ed25519' }, sign: { name: 'Ed25519' } },
  'rsa-pss': {
    generate: { name: 'RSA-PSS', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' } as RsaHashedKeyGenParams,
    sign: { name: 'RSA-PSS', saltLength: 32 } as RsaPssParams,
  },
  rsa: {
    generate: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' } as RsaHashedKeyGenParams,
    sign: { name: 'RSASSA-PKCS1-v1_5' },
  },
};

const DNS_NAME = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i;

/**
 * The address in a form @peculiar/x509 encodes correctly: it reads IPv6 groups as hex, so an
 * embedded IPv4 tail (`::ffff:127.0.0.1`) is rewritten as two hex groups. Null when `ip` is not
 * an IP address or carries a zone index (meaningless in a certificate).
 */
function sanIpText(ip: string): string | null {
  const version = isIP(ip);
  if (version === 4) return ip;
  if (version !== 6 || ip.includes('%')) return null;
  const last = ip.lastIndexOf(':');
  const tail = ip.slice(last + 1);
  if (!tail.includes('.')) return ip;
  const b = tail.split('.').map(Number);
  return `${ip.slice(0, last + 1)}${((b[0] << 8) | b[1]).toString(16)}:${((b[2] << 8) | b[3]).toString(16)}`;
}

/** A random, positive, minimally encoded 128-bit serial number (RFC 5280 §4.1.2.2). */
function randomSerialNumber(): string {
  const b = randomBytes(16);
  b[0] = (b[0] & 0x7f) | 0x01; // high bit clear: positive; non-zero first byte: minimal DER
  return b.toString('hex');
}

/**
 * Generate a self-signed end-entity certificate (X.509 v3) for a development server: subject
 * CN = the first host name, subjectAltName with every host name and IP address, basicConstraints
 * cA false, keyUsage digitalSignature, extendedKeyUsage serverAuth and clientAuth, a random
 * positive 128-bit serial number and a subjectKeyIdentifier.
 *
 * @throws TlsAlertError(internal_error) for invalid options (no names, a malformed name or
 *   address, a bad validity period).
 */
export async function generateSelfSignedCertificate(options: SelfSignedCertificateOptions = {}): Promise<SelfSignedCertificate> {
  const hostnames = options.hostnames ?? ['localhost'];
  const ipAddresses = options.ipAddresses ?? ['127.0.0.1', '::1'];
  const keyType = options.keyType ?? 'ecdsa-p256';
  const validityDays = options.validityDays ?? 30;
  const algorithms = ALGORITHMS[keyType];
  const bad = (message: string): never => {
    throw new TlsAlertError(TlsAlert.internal_error, `generateSelfSignedCertificate: ${message}`);
  };
  if (algorithms === undefined) bad(`unknown keyType ${JSON.stringify(keyType)}`);
  if (hostnames.length === 0 && ipAddresses.length === 0) bad('at least one host name or IP address is needed');
  for (const h of hostnames) {
    if (!DNS_NAME.test(h) || isIP(h) !== 0 || h.length > 253) bad(`${JSON.stringify(h)} is not a DNS host name`);
  }
  const sanIps = ipAddresses.map((ip) => sanIpText(ip) ?? bad(`${JSON.stringify(ip)} is not an IP address`));
  if (!(Number.isFinite(validityDays) && validityDays > 0)) bad(`validityDays must be a positive number, got ${validityDays}`);
  const notBefore = options.notBefore ?? new Date(Date.now() - 3600_000);
  if (Number.isNaN(notBefore.getTime())) bad('notBefore is not a valid Date');
  const notAfter = new Date(notBefore.getTime() + validityDays * 86400_000);

  const crypto = webcrypto as unknown as Crypto;
  const keys = (await crypto.subtle.generateKey(algorithms.generate, true, ['sign', 'verify'])) as CryptoKeyPair;
  const commonName = hostnames[0] ?? ipAddresses[0];
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: randomSerialNumber(),
      name: [{ CN: [commonName] }],
      notBefore,
      notAfter,
      keys,
      signingAlgorithm: algorithms.sign,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth], false),
        new x509.SubjectAlternativeNameExtension(
          [...hostnames.map((value) => ({ type: 'dns' as const, value })), ...sanIps.map((value) => ({ type: 'ip' as const, value }))],
          false,
        ),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  const der = new Uint8Array(cert.rawData);
  const privateKey = createPrivateKey({ key: Buffer.from(await crypto.subtle.exportKey('pkcs8', keys.privateKey)), format: 'der', type: 'pkcs8' });
  const spki = new Uint8Array(cert.publicKey.rawData);
  return {
    certificateChain: [der],
    certificatePem: cert.toString('pem') + '\n',
    privateKey,
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    spkiSha256Base64: createHash('sha256').update(spki).digest('base64'),
  };
}
