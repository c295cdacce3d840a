/**
 * TLS alerts (RFC 8446 §6) and the typed error every TLS failure becomes.
 *
 * QUIC carries no TLS alerts on the wire: a TLS failure closes the connection with
 * CRYPTO_ERROR = 0x0100 + alert description (RFC 9001 §4.8). A {@link TlsAlertError} is therefore
 * a {@link QuicError} whose code is already that CRYPTO_ERROR.
 *
 * @module
 */
import { CRYPTO_ERROR_BASE, QuicError } from '../wire/errors.js';

/** TLS AlertDescription values (RFC 8446 §6; no_application_protocol from RFC 7301). */
export const TlsAlert = {
  close_notify: 0,
  unexpected_message: 10,
  bad_record_mac: 20,
  record_overflow: 22,
  handshake_failure: 40,
  bad_certificate: 42,
  unsupported_certificate: 43,
  certificate_revoked: 44,
  certificate_expired: 45,
  certificate_unknown: 46,
  illegal_parameter: 47,
  unknown_ca: 48,
  access_denied: 49,
  decode_error: 50,
  decrypt_error: 51,
  protocol_version: 70,
  insufficient_security: 71,
  internal_error: 80,
  inappropriate_fallback: 86,
  user_canceled: 90,
  missing_extension: 109,
  unsupported_extension: 110,
  unrecognized_name: 112,
  bad_certificate_status_response: 113,
  unknown_psk_identity: 115,
  certificate_required: 116,
  no_application_protocol: 120,
} as const;

/** A TLS alert description value. */
export type TlsAlertValue = (typeof TlsAlert)[keyof typeof TlsAlert];

const alertNames = new Map<number, string>(Object.entries(TlsAlert).map(([name, value]) => [value, name]));

/** The RFC name of an alert description, e.g. `bad_certificate`. */
export function tlsAlertName(alert: number): string {
  return alertNames.get(alert) ?? `alert_${alert}`;
}

/**
 * A TLS handshake failure: the alert to report (as CRYPTO_ERROR 0x0100 + alert) and a clear
 * message for the user.
 */
export class TlsAlertError extends QuicError {
  /** The TLS alert description. */
  readonly alert: number;

  constructor(alert: number, message: string, options: { cause?: unknown } = {}) {
    super(CRYPTO_ERROR_BASE + alert, `TLS ${tlsAlertName(alert)}: ${message}`, options);
    this.name = 'TlsAlertError';
    this.alert = alert;
  }
}

/** True when `e` is a {@link TlsAlertError} (optionally with the given alert). */
export function isTlsAlertError(e: unknown, alert?: number): e is TlsAlertError {
  return e instanceof TlsAlertError && (alert === undefined || e.alert === alert);
}
