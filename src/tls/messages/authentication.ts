/**
 * The authentication messages: Certificate, CertificateVerify and Finished (RFC 8446 §4.4).
 *
 * This module only encodes and decodes them. Certificate chain validation and CertificateVerify
 * signatures live in `certificates.ts` and `signatures.ts`; Finished values are computed by
 * `key-schedule.ts`.
 *
 * @module
 */
import { TlsAlert, TlsAlertError } from '../alerts.js';
import { isGrease16 } from '../constants.js';
import { decodeExtensions, encodeExtensions, type CertificateEntryExtension } from '../extensions.js';
import { encodeError, TlsReader, type TlsSink } from './wire.js';

/** One CertificateEntry (RFC 8446 §4.4.2): an X.509 certificate (or a raw public key) and its extensions. */
export interface CertificateEntry {
  /** cert_data (DER X.509) or ASN1_subjectPublicKeyInfo (RFC 7250), 1 to 2^24−1 bytes. */
  readonly data: Uint8Array;
  /** Per-entry extensions (e.g. OCSP status, SCTs), carried raw. */
  readonly extensions: readonly CertificateEntryExtension[];
}

/** Certificate (RFC 8446 §4.4.2). */
export interface Certificate {
  /** Discriminator. */
  readonly kind: 'certificate';
  /** certificate_request_context: empty for the server's certificate; the CertificateRequest's for a client. */
  readonly context: Uint8Array;
  /** The chain, end-entity first. */
  readonly entries: readonly CertificateEntry[];
}

/** CertificateVerify (RFC 8446 §4.4.3). */
export interface CertificateVerify {
  /** Discriminator. */
  readonly kind: 'certificate_verify';
  /** The SignatureScheme code point used (never GREASE). */
  readonly algorithm: number;
  /** The signature, 0 to 2^16−1 bytes. */
  readonly signature: Uint8Array;
}

/** Finished (RFC 8446 §4.4.4). */
export interface Finished {
  /** Discriminator. */
  readonly kind: 'finished';
  /** verify_data, Hash.length bytes. */
  readonly verifyData: Uint8Array;
}

/** Who sent a message: the decoding rules of some messages depend on it. */
export type HandshakeRole = 'client' | 'server';

/**
 * Decodes a Certificate body. When `sender` is `server`, an empty certificate_list is refused with
 * decode_error (RFC 8446 §4.4.2.4); a client may send an empty list (RFC 8446 §4.4.2). Entry
 * extensions follow the `certificate` rules (GREASE refused, RFC 8701 §3).
 */
export function decodeCertificate(body: Uint8Array, sender: HandshakeRole): Certificate {
  const r = new TlsReader(body);
  const context = r.vector(1, 'certificate_request_context');
  const list = r.subVector(3, 'certificate_list');
  const entries: CertificateEntry[] = [];
  while (!list.done) {
    const data = list.vector(3, 'CertificateEntry.cert_data', 1);
    const extensions = decodeExtensions(list, 'certificate');
    entries.push({ data, extensions });
  }
  r.finish('Certificate');
  if (sender === 'server' && entries.length === 0) {
    throw new TlsAlertError(TlsAlert.decode_error, 'server sent an empty Certificate message');
  }
  return { kind: 'certificate', context, entries };
}

/** Appends a Certificate body. */
export function encodeCertificate(sink: TlsSink, cert: Certificate): void {
  sink.vector(1, 'certificate_request_context', () => sink.bytes(cert.context));
  sink.vector(3, 'certificate_list', () => {
    for (const entry of cert.entries) {
      sink.vector(3, 'CertificateEntry.cert_data', () => sink.bytes(entry.data), 1);
      encodeExtensions(sink, 'certificate', entry.extensions);
    }
  });
}

/**
 * Decodes a CertificateVerify body. A GREASE algorithm is refused with illegal_parameter
 * (RFC 8701 §3: never negotiated); whether the scheme was offered is for the handshake to check.
 */
export function decodeCertificateVerify(body: Uint8Array): CertificateVerify {
  const r = new TlsReader(body);
  const algorithm = r.u16('CertificateVerify.algorithm');
  const signature = r.vector(2, 'CertificateVerify.signature');
  r.finish('CertificateVerify');
  if (isGrease16(algorithm)) throw new TlsAlertError(TlsAlert.illegal_parameter, `CertificateVerify uses GREASE scheme 0x${algorithm.toString(16)}`);
  return { kind: 'certificate_verify', algorithm, signature };
}

/** Appends a CertificateVerify body. */
export function encodeCertificateVerify(sink: TlsSink, cv: CertificateVerify): void {
  if (isGrease16(cv.algorithm)) encodeError('CertificateVerify with a GREASE scheme');
  sink.u16(cv.algorithm);
  sink.vector(2, 'CertificateVerify.signature', () => sink.bytes(cv.signature));
}

/**
 * Decodes a Finished body: `opaque verify_data[Hash.length]`. With `hashLength` the length must
 * match it; without, it must be a length of a supported hash (32 or 48). Otherwise decode_error.
 * The value itself is checked with `verifyFinished` (decrypt_error on mismatch, RFC 8446 §4.4.4).
 */
export function decodeFinished(body: Uint8Array, hashLength?: number): Finished {
  const ok = hashLength === undefined ? body.length === 32 || body.length === 48 : body.length === hashLength;
  if (!ok) {
    throw new TlsAlertError(TlsAlert.decode_error, `Finished.verify_data is ${body.length} bytes, expected ${hashLength ?? '32 or 48'}`);
  }
  return { kind: 'finished', verifyData: body };
}

/** Appends a Finished body. */
export function encodeFinished(sink: TlsSink, fin: Finished): void {
  if (fin.verifyData.length !== 32 && fin.verifyData.length !== 48) encodeError(`Finished.verify_data of ${fin.verifyData.length} bytes`);
  sink.bytes(fin.verifyData);
}
