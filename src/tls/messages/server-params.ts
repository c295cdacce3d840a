/**
 * EncryptedExtensions and CertificateRequest (RFC 8446 §4.3).
 *
 * @module
 */
import { TlsAlert, TlsAlertError } from '../alerts.js';
import {
  decodeExtensions,
  encodeExtensions,
  findExtension,
  type CertificateRequestExtension,
  type EncryptedExtensionsExtension,
} from '../extensions.js';
import { encodeError, TlsReader, type TlsSink } from './wire.js';

/** EncryptedExtensions (RFC 8446 §4.3.1). */
export interface EncryptedExtensions {
  /** Discriminator. */
  readonly kind: 'encrypted_extensions';
  /** The extensions, in wire order. */
  readonly extensions: readonly EncryptedExtensionsExtension[];
}

/** CertificateRequest (RFC 8446 §4.3.2). */
export interface CertificateRequest {
  /** Discriminator. */
  readonly kind: 'certificate_request';
  /** certificate_request_context, 0–255 bytes; empty during the main handshake (RFC 8446 §4.3.2). */
  readonly context: Uint8Array;
  /** The extensions, in wire order; signature_algorithms is always present. */
  readonly extensions: readonly CertificateRequestExtension[];
}

/**
 * Decodes an EncryptedExtensions body: `Extension extensions<0..2^16-1>` under the
 * encrypted_extensions rules (forbidden extensions → illegal_parameter, RFC 8446 §4.3.1).
 */
export function decodeEncryptedExtensions(body: Uint8Array): EncryptedExtensions {
  const r = new TlsReader(body);
  const extensions = decodeExtensions(r, 'encrypted_extensions');
  r.finish('EncryptedExtensions');
  return { kind: 'encrypted_extensions', extensions };
}

/** Appends an EncryptedExtensions body. */
export function encodeEncryptedExtensions(sink: TlsSink, ee: EncryptedExtensions): void {
  encodeExtensions(sink, 'encrypted_extensions', ee.extensions);
}

/**
 * Decodes a CertificateRequest body. RFC 8446 §4.3.2: "The signature_algorithms extension MUST be
 * specified" — its absence is refused with missing_extension (RFC 8446 §9.2).
 */
export function decodeCertificateRequest(body: Uint8Array): CertificateRequest {
  const r = new TlsReader(body);
  const context = r.vector(1, 'certificate_request_context');
  const extensions = decodeExtensions(r, 'certificate_request');
  r.finish('CertificateRequest');
  if (findExtension(extensions, 'signature_algorithms') === undefined) {
    throw new TlsAlertError(TlsAlert.missing_extension, 'CertificateRequest lacks signature_algorithms');
  }
  return { kind: 'certificate_request', context, extensions };
}

/** Appends a CertificateRequest body; refuses one without signature_algorithms. */
export function encodeCertificateRequest(sink: TlsSink, cr: CertificateRequest): void {
  if (findExtension(cr.extensions, 'signature_algorithms') === undefined) encodeError('CertificateRequest without signature_algorithms');
  sink.vector(1, 'certificate_request_context', () => sink.bytes(cr.context));
  encodeExtensions(sink, 'certificate_request', cr.extensions);
}
