/**
 * TLS 1.3 handshake messages for QUIC (RFC 8446 §4, RFC 9001): the message types, one decoder that
 * dispatches on msg_type, one encoder, and the reassembler for CRYPTO stream bytes.
 *
 * Receiving: feed CRYPTO bytes of one level to a {@link HandshakeReader}; add each returned
 * message's `raw` bytes to the transcript and decode it with {@link decodeHandshakeMessage}, telling
 * it who sent it. Every failure is a {@link TlsAlertError} (a QUIC CRYPTO_ERROR), never a
 * `RangeError`.
 *
 * Sending: build a {@link HandshakeMessage} and encode it with {@link encodeHandshakeMessage} (or
 * {@link handshakeMessageSize} + {@link writeHandshakeMessage} into a buffer of your own).
 *
 * Messages QUIC forbids are refused on receipt: KeyUpdate (RFC 9001 §6) and EndOfEarlyData
 * (RFC 9001 §8.3) have no representation here.
 *
 * @module
 */
import { TlsAlert, TlsAlertError } from './alerts.js';
import { HandshakeType, handshakeTypeName, type HandshakeTypeValue } from './constants.js';
import { findExtension } from './extensions.js';
import {
  decodeCertificate,
  decodeCertificateVerify,
  decodeFinished,
  encodeCertificate,
  encodeCertificateVerify,
  encodeFinished,
  type Certificate,
  type CertificateVerify,
  type Finished,
  type HandshakeRole,
} from './messages/authentication.js';
import {
  clientHelloBindersLength,
  decodeClientHello,
  decodeServerHello,
  encodeClientHello,
  encodeHelloRetryRequest,
  encodeServerHello,
  type ClientHello,
  type HelloRetryRequest,
  type ServerHello,
} from './messages/hello.js';
import { splitHandshakeMessage, type HandshakeMessageBytes } from './messages/reader.js';
import {
  decodeCertificateRequest,
  decodeEncryptedExtensions,
  encodeCertificateRequest,
  encodeEncryptedExtensions,
  type CertificateRequest,
  type EncryptedExtensions,
} from './messages/server-params.js';
import { decodeNewSessionTicket, encodeNewSessionTicket, type NewSessionTicket } from './messages/ticket.js';
import { encodeError, encodeToBytes, measure, writeInto, type TlsSink } from './messages/wire.js';

export * from './messages/authentication.js';
export * from './messages/wire.js';
export * from './messages/hello.js';
export * from './messages/quic.js';
export * from './messages/reader.js';
export * from './messages/server-params.js';
export * from './messages/ticket.js';

/** Every handshake message QUIC's TLS 1.3 sends or receives. */
export type HandshakeMessage =
  | ClientHello
  | ServerHello
  | HelloRetryRequest
  | EncryptedExtensions
  | CertificateRequest
  | Certificate
  | CertificateVerify
  | Finished
  | NewSessionTicket;

/** What a decoder needs to know besides the bytes. */
export interface DecodeOptions {
  /** Who sent the message: a client never sends a ServerHello, a server's Certificate is never empty, … */
  readonly sender: HandshakeRole;
  /** Hash.length of the negotiated cipher suite, to check the length of Finished (32 or 48 when absent). */
  readonly hashLength?: number;
}

/** The msg_type of `message` (a HelloRetryRequest is a server_hello, RFC 8446 §4.1.4). */
export function handshakeTypeOf(message: HandshakeMessage): HandshakeTypeValue {
  switch (message.kind) {
    case 'client_hello':
      return HandshakeType.client_hello;
    case 'server_hello':
    case 'hello_retry_request':
      return HandshakeType.server_hello;
    case 'encrypted_extensions':
      return HandshakeType.encrypted_extensions;
    case 'certificate_request':
      return HandshakeType.certificate_request;
    case 'certificate':
      return HandshakeType.certificate;
    case 'certificate_verify':
      return HandshakeType.certificate_verify;
    case 'finished':
      return HandshakeType.finished;
    case 'new_session_ticket':
      return HandshakeType.new_session_ticket;
  }
}

/** Message types each role sends in TLS 1.3 over QUIC (RFC 8446 §2, §4; RFC 9001 §6, §8.3). */
const SENT_BY: Readonly<Record<HandshakeRole, ReadonlySet<number>>> = {
  client: new Set([HandshakeType.client_hello, HandshakeType.certificate, HandshakeType.certificate_verify, HandshakeType.finished]),
  server: new Set([
    HandshakeType.server_hello,
    HandshakeType.encrypted_extensions,
    HandshakeType.certificate_request,
    HandshakeType.certificate,
    HandshakeType.certificate_verify,
    HandshakeType.finished,
    HandshakeType.new_session_ticket,
  ]),
};

function unexpected(reason: string): never {
  throw new TlsAlertError(TlsAlert.unexpected_message, reason);
}

/**
 * Decodes one complete handshake message: either a {@link HandshakeMessageBytes} from a
 * {@link HandshakeReader} or the bytes of one whole message (header included; a length mismatch is
 * a decode_error). Returned fields are views into the message bytes.
 *
 * Refused with unexpected_message before the body is parsed: KeyUpdate (RFC 9001 §6: "a connection
 * error of type 0x010a, equivalent to a fatal TLS alert of unexpected_message"); EndOfEarlyData
 * (RFC 9001 §8.3: not used in QUIC, clients MUST NOT send it; RFC 8446 §4.5: servers never send it);
 * message_hash (synthetic, never on the wire); unknown types; and a type `options.sender` never
 * sends (RFC 8446 §4: a message out of order → unexpected_message).
 */
export function decodeHandshakeMessage(message: HandshakeMessageBytes | Uint8Array, options: DecodeOptions): HandshakeMessage {
  const { type, body } = message instanceof Uint8Array ? splitHandshakeMessage(message) : message;
  if (type === HandshakeType.key_update) unexpected('KeyUpdate is forbidden in QUIC (RFC 9001 §6)');
  if (type === HandshakeType.end_of_early_data) unexpected('EndOfEarlyData is not used in QUIC (RFC 9001 §8.3)');
  if (!SENT_BY.client.has(type) && !SENT_BY.server.has(type)) unexpected(`${handshakeTypeName(type)} is not a TLS 1.3 handshake message`);
  if (!SENT_BY[options.sender].has(type)) unexpected(`a ${options.sender} does not send ${handshakeTypeName(type)}`);
  switch (type) {
    case HandshakeType.client_hello:
      return decodeClientHello(body);
    case HandshakeType.server_hello:
      return decodeServerHello(body);
    case HandshakeType.encrypted_extensions:
      return decodeEncryptedExtensions(body);
    case HandshakeType.certificate_request:
      return decodeCertificateRequest(body);
    case HandshakeType.certificate:
      return decodeCertificate(body, options.sender);
    case HandshakeType.certificate_verify:
      return decodeCertificateVerify(body);
    case HandshakeType.finished:
      return decodeFinished(body, options.hashLength);
    default:
      return decodeNewSessionTicket(body);
  }
}

function encodeBody(sink: TlsSink, message: HandshakeMessage): void {
  switch (message.kind) {
    case 'client_hello':
      return encodeClientHello(sink, message);
    case 'server_hello':
      return encodeServerHello(sink, message);
    case 'hello_retry_request':
      return encodeHelloRetryRequest(sink, message);
    case 'encrypted_extensions':
      return encodeEncryptedExtensions(sink, message);
    case 'certificate_request':
      return encodeCertificateRequest(sink, message);
    case 'certificate':
      return encodeCertificate(sink, message);
    case 'certificate_verify':
      return encodeCertificateVerify(sink, message);
    case 'finished':
      return encodeFinished(sink, message);
    case 'new_session_ticket':
      return encodeNewSessionTicket(sink, message);
  }
}

function encodeMessage(sink: TlsSink, message: HandshakeMessage): void {
  sink.u8(handshakeTypeOf(message));
  sink.vector(3, `${message.kind} body`, () => encodeBody(sink, message));
}

/** Exact encoded size of `message`, 4-byte header included. */
export function handshakeMessageSize(message: HandshakeMessage): number {
  return measure((sink) => encodeMessage(sink, message));
}

/**
 * Writes `message` (header included) into `buf` at `offset`; returns the offset past it. Refuses
 * with an internal_error {@link TlsAlertError} a message the decoder would refuse, or a buffer
 * too small.
 */
export function writeHandshakeMessage(buf: Uint8Array, offset: number, message: HandshakeMessage): number {
  return writeInto(buf, offset, (sink) => encodeMessage(sink, message));
}

/** Encodes `message` (header included) into a new array. */
export function encodeHandshakeMessage(message: HandshakeMessage): Uint8Array {
  return encodeToBytes((sink) => encodeMessage(sink, message));
}

/**
 * Truncate(ClientHello) of RFC 8446 §4.2.11.2: the encoded ClientHello `raw` (header included)
 * without its binders list — the input of the PSK binders' transcript hash. `clientHello` is the
 * decoded (or to-be-sent) form of `raw`; it must offer pre_shared_key.
 */
export function truncateClientHelloForBinders(raw: Uint8Array, clientHello: ClientHello): Uint8Array {
  const bindersLength = clientHelloBindersLength(clientHello);
  if (bindersLength === 0) encodeError('ClientHello offers no pre_shared_key');
  if (bindersLength > raw.length) encodeError('binders longer than the ClientHello');
  return raw.subarray(0, raw.length - bindersLength);
}

/**
 * Writes `binders` into the binders list that ends the encoded ClientHello `raw` (built with
 * placeholder binders of the same lengths), in place: the client computes the binders over
 * {@link truncateClientHelloForBinders} and then fills them in (RFC 8446 §4.2.11.2).
 */
export function setClientHelloBinders(raw: Uint8Array, clientHello: ClientHello, binders: readonly Uint8Array[]): void {
  const psk = findExtension(clientHello.extensions, 'pre_shared_key');
  if (psk === undefined) encodeError('ClientHello offers no pre_shared_key');
  if (binders.length !== psk.binders.length || binders.some((b, i) => b.length !== psk.binders[i].length)) {
    encodeError('binders differ in number or length from the ClientHello placeholders');
  }
  const start = raw.length - clientHelloBindersLength(clientHello) + 2;
  let pos = start;
  for (const binder of binders) {
    if (raw[pos] !== binder.length) encodeError('encoded ClientHello does not end with the expected binders list');
    pos += 1 + binder.length;
  }
  pos = start;
  for (const binder of binders) {
    raw.set(binder, pos + 1);
    pos += 1 + binder.length;
  }
}
