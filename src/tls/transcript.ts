/**
 * The handshake transcript hash (RFC 8446 §4.4.1).
 *
 * A client sends its ClientHello before it knows which hash the server will pick, so the
 * transcript keeps the messages it is given until {@link Transcript.selectHash} names the hash;
 * from then on it hashes incrementally. After a HelloRetryRequest, ClientHello1 is replaced by the
 * synthetic `message_hash` message ({@link Transcript.replaceClientHelloWithMessageHash}).
 *
 * @module
 */
import { hashLength } from '../crypto/hkdf.js';
import type { CryptoProvider, HashAlgorithm, IncrementalHash } from '../crypto/provider.js';
import { TlsAlert, TlsAlertError } from './alerts.js';
import { HandshakeType } from './constants.js';

function misuse(reason: string): never {
  throw new TlsAlertError(TlsAlert.internal_error, `transcript: ${reason}`);
}

/**
 * The synthetic handshake message that stands for ClientHello1 after a HelloRetryRequest
 * (RFC 8446 §4.4.1): `message_hash (254) || 00 00 Hash.length || Hash(ClientHello1)`.
 */
export function messageHashMessage(clientHello1Hash: Uint8Array): Uint8Array {
  if (clientHello1Hash.length !== 32 && clientHello1Hash.length !== 48) misuse(`a ${clientHello1Hash.length}-byte ClientHello1 hash`);
  const out = new Uint8Array(4 + clientHello1Hash.length);
  out[0] = HandshakeType.message_hash;
  out[3] = clientHello1Hash.length;
  out.set(clientHello1Hash, 4);
  return out;
}

/** A running Transcript-Hash(M1, M2, … Mn) over whole handshake messages, headers included. */
export class Transcript {
  private readonly provider: CryptoProvider;
  private algorithm: HashAlgorithm | undefined;
  private running: IncrementalHash | undefined;
  /** Messages added before the hash was selected (copies). */
  private pending: Uint8Array[] = [];
  private count = 0;

  /**
   * A transcript hashed with `provider`. Pass `algorithm` when the hash is already known;
   * otherwise messages are kept until {@link selectHash}.
   */
  constructor(provider: CryptoProvider, algorithm?: HashAlgorithm) {
    this.provider = provider;
    if (algorithm !== undefined) this.selectHash(algorithm);
  }

  /**
   * The transcript of a server that answered ClientHello1 with a HelloRetryRequest without keeping
   * state (RFC 8446 §4.4.1, §4.2.2): it starts with the message_hash of `clientHello1Hash`
   * (recovered from the cookie); the HelloRetryRequest and ClientHello2 are added next.
   */
  static afterHelloRetryRequest(provider: CryptoProvider, algorithm: HashAlgorithm, clientHello1Hash: Uint8Array): Transcript {
    if (clientHello1Hash.length !== hashLength(algorithm)) misuse(`ClientHello1 hash of ${clientHello1Hash.length} bytes for ${algorithm}`);
    const t = new Transcript(provider, algorithm);
    t.add(messageHashMessage(clientHello1Hash));
    return t;
  }

  /** The hash algorithm, once selected. */
  get hashAlgorithm(): HashAlgorithm | undefined {
    return this.algorithm;
  }

  /** How many messages the transcript covers (the message_hash counts as one). */
  get messageCount(): number {
    return this.count;
  }

  /**
   * Fixes the hash (the cipher suite's, known from the ServerHello or HelloRetryRequest) and hashes
   * the messages kept so far. Selecting a different hash later is an internal_error.
   */
  selectHash(algorithm: HashAlgorithm): void {
    if (this.algorithm !== undefined) {
      if (this.algorithm !== algorithm) misuse(`hash already selected as ${this.algorithm}, not ${algorithm}`);
      return;
    }
    this.algorithm = algorithm;
    this.running = this.provider.hash(algorithm);
    for (const m of this.pending) this.running.update(m);
    this.pending = [];
  }

  /** Appends one whole handshake message (header included), as sent or received. */
  add(message: Uint8Array): void {
    if (message.length < 4) misuse(`a ${message.length}-byte handshake message`);
    if (this.running !== undefined) this.running.update(message);
    else this.pending.push(message.slice());
    this.count++;
  }

  /**
   * RFC 8446 §4.4.1: when the server answers ClientHello1 with a HelloRetryRequest, ClientHello1 is
   * replaced by message_hash(Hash(ClientHello1)). Call after {@link selectHash} and before adding the
   * HelloRetryRequest, when the transcript holds exactly ClientHello1.
   */
  replaceClientHelloWithMessageHash(): void {
    if (this.algorithm === undefined || this.running === undefined) misuse('select the hash before replacing ClientHello1');
    if (this.count !== 1) misuse(`ClientHello1 replacement with ${this.count} messages in the transcript`);
    const clientHello1Hash = this.running.digest();
    this.running = this.provider.hash(this.algorithm);
    this.running.update(messageHashMessage(clientHello1Hash));
  }

  /** Transcript-Hash of every message added so far. */
  hash(): Uint8Array {
    if (this.running === undefined) misuse('hash not selected yet');
    return this.running.digest();
  }

  /**
   * Transcript-Hash of the messages so far followed by `partial` (not added), e.g. a ClientHello
   * truncated before its PSK binders (RFC 8446 §4.2.11.2). Before {@link selectHash}, `algorithm`
   * (the PSK's hash) says which hash to use; after it, it must be the selected one.
   */
  hashWith(partial: Uint8Array, algorithm?: HashAlgorithm): Uint8Array {
    if (this.running !== undefined) {
      if (algorithm !== undefined && algorithm !== this.algorithm) misuse(`hash is ${this.algorithm}, not ${algorithm}`);
      return this.running.clone().update(partial).digest();
    }
    if (algorithm === undefined) misuse('hash not selected yet');
    const h = this.provider.hash(algorithm);
    for (const m of this.pending) h.update(m);
    return h.update(partial).digest();
  }

  /** An independent copy (e.g. to hash a client's second flight ahead of time). */
  clone(): Transcript {
    const t = new Transcript(this.provider);
    t.algorithm = this.algorithm;
    t.running = this.running?.clone();
    t.pending = this.pending.slice();
    t.count = this.count;
    return t;
  }
}
