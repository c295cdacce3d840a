/**
 * The TLS 1.3 key schedule (RFC 8446 §7.1), the Finished and PSK binder MACs (§4.4.4, §4.2.11.2),
 * the resumption PSK (§4.6.1), exporters (§7.5), and which secrets key which QUIC encryption level
 * (RFC 9001 §4.1.4, §5.1).
 *
 * {@link KeySchedule} is driven one stage at a time by the handshake:
 *
 * ```text
 * deriveEarlySecret(psk?)            Early Secret = HKDF-Extract(0, PSK or 0)
 *   binderKey(), earlyTrafficSecret(), earlyExporterSecret()
 * deriveHandshakeSecret(ecdhe?)      Handshake Secret = HKDF-Extract(Derive-Secret(ES, "derived", ""), (EC)DHE or 0)
 *   handshakeTrafficSecrets(H(ClientHello…ServerHello))
 * deriveMasterSecret()               Main Secret = HKDF-Extract(Derive-Secret(HS, "derived", ""), 0)
 *   applicationTrafficSecrets(H(ClientHello…server Finished)), exporterMasterSecret(same)
 *   resumptionMasterSecret(H(ClientHello…client Finished))
 * ```
 *
 * Each input secret is erased (zero-filled) once the next stage is derived (RFC 8446 §7.1: "Once all
 * the values which are to be derived from a given secret have been computed, that secret SHOULD be
 * erased"); the Main Secret is erased after the resumption secret. Calling a stage out of order is
 * an internal_error.
 *
 * QUIC uses the traffic secrets with "quic key"/"quic iv"/"quic hp" (RFC 9001 §5.1) and updates
 * 1-RTT keys with "quic ku" (RFC 9001 §6), not with TLS KeyUpdate's "traffic upd", which is
 * therefore not provided here.
 *
 * @module
 */
import { hashLength, hkdfExpandLabel } from '../crypto/hkdf.js';
import type { CryptoProvider, HashAlgorithm } from '../crypto/provider.js';
import type { EncryptionLevel } from '../wire/levels.js';
import { TlsAlert, TlsAlertError } from './alerts.js';
import type { HandshakeRole } from './messages/authentication.js';

function misuse(reason: string): never {
  throw new TlsAlertError(TlsAlert.internal_error, `key schedule: ${reason}`);
}

/** Derive-Secret(Secret, Label, Messages) = HKDF-Expand-Label(Secret, Label, Transcript-Hash(Messages), Hash.length) (RFC 8446 §7.1). */
export function deriveSecret(
  provider: CryptoProvider,
  hash: HashAlgorithm,
  secret: Uint8Array,
  label: string,
  transcriptHash: Uint8Array,
): Uint8Array {
  const len = hashLength(hash);
  if (transcriptHash.length !== len) misuse(`transcript hash of ${transcriptHash.length} bytes for ${hash}`);
  return hkdfExpandLabel(provider, hash, secret, label, transcriptHash, len);
}

/** finished_key = HKDF-Expand-Label(BaseKey, "finished", "", Hash.length) (RFC 8446 §4.4.4). */
export function finishedKey(provider: CryptoProvider, hash: HashAlgorithm, baseKey: Uint8Array): Uint8Array {
  return hkdfExpandLabel(provider, hash, baseKey, 'finished', new Uint8Array(0), hashLength(hash));
}

/**
 * verify_data = HMAC(finished_key, Transcript-Hash(Handshake Context, Certificate*, CertificateVerify*))
 * (RFC 8446 §4.4.4). `baseKey` is the sender's handshake traffic secret; for a PSK binder it is the
 * binder key and the transcript ends with the truncated ClientHello (RFC 8446 §4.2.11.2).
 */
export function finishedVerifyData(provider: CryptoProvider, hash: HashAlgorithm, baseKey: Uint8Array, transcriptHash: Uint8Array): Uint8Array {
  if (transcriptHash.length !== hashLength(hash)) misuse(`transcript hash of ${transcriptHash.length} bytes for ${hash}`);
  return provider.hmac(hash, finishedKey(provider, hash, baseKey), transcriptHash);
}

function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/**
 * Checks a received Finished: "Recipients of Finished messages MUST verify that the contents are
 * correct and if incorrect MUST terminate the connection with a decrypt_error alert" (RFC 8446
 * §4.4.4). The comparison takes the same time whatever bytes differ.
 */
export function verifyFinished(
  provider: CryptoProvider,
  hash: HashAlgorithm,
  baseKey: Uint8Array,
  transcriptHash: Uint8Array,
  verifyData: Uint8Array,
): void {
  if (!constantTimeEqual(finishedVerifyData(provider, hash, baseKey, transcriptHash), verifyData)) {
    throw new TlsAlertError(TlsAlert.decrypt_error, 'Finished verify_data does not match the transcript');
  }
}

/**
 * Checks a PSK binder (RFC 8446 §4.2.11: "If this value is not present or does not validate, the
 * server MUST abort the handshake"; §6.2 names decrypt_error for a binder that fails to validate).
 */
export function verifyPskBinder(
  provider: CryptoProvider,
  hash: HashAlgorithm,
  binderKey: Uint8Array,
  truncatedTranscriptHash: Uint8Array,
  binder: Uint8Array,
): void {
  if (!constantTimeEqual(finishedVerifyData(provider, hash, binderKey, truncatedTranscriptHash), binder)) {
    throw new TlsAlertError(TlsAlert.decrypt_error, 'PSK binder does not validate');
  }
}

/** The PSK of a ticket: HKDF-Expand-Label(resumption_secret, "resumption", ticket_nonce, Hash.length) (RFC 8446 §4.6.1). */
export function resumptionPsk(provider: CryptoProvider, hash: HashAlgorithm, resumptionSecret: Uint8Array, ticketNonce: Uint8Array): Uint8Array {
  if (ticketNonce.length > 255) misuse(`ticket nonce of ${ticketNonce.length} bytes`);
  return hkdfExpandLabel(provider, hash, resumptionSecret, 'resumption', ticketNonce, hashLength(hash));
}

/**
 * TLS-Exporter(label, context_value, key_length) = HKDF-Expand-Label(Derive-Secret(Secret, label, ""),
 * "exporter", Hash(context_value), key_length) (RFC 8446 §7.5), with `exporterSecret` the
 * exporter_secret (or early_exporter_secret where an application asks for it explicitly).
 */
export function exportKeyingMaterial(
  provider: CryptoProvider,
  hash: HashAlgorithm,
  exporterSecret: Uint8Array,
  label: string,
  context: Uint8Array,
  length: number,
): Uint8Array {
  // HkdfLabel: label<7..255> holds "tls13 " + label; HKDF-Expand yields at most 255 × Hash.length bytes.
  if (new TextEncoder().encode(label).length > 249) misuse('exporter label longer than 249 bytes');
  if (!Number.isInteger(length) || length < 0 || length > Math.min(0xffff, 255 * hashLength(hash))) misuse(`exporter length ${length}`);
  const empty = provider.digest(hash, new Uint8Array(0));
  const secret = deriveSecret(provider, hash, exporterSecret, label, empty);
  return hkdfExpandLabel(provider, hash, secret, 'exporter', provider.digest(hash, context), length);
}

/** Which kind of PSK a binder key is for (RFC 8446 §7.1: different labels keep them apart). */
export type PskKind = 'resumption' | 'external';

/** The client and server traffic secrets that key one QUIC encryption level. */
export interface LevelSecrets {
  /** The encryption level they key (RFC 9001 §4.1.4): `handshake` or `oneRtt`. */
  readonly level: EncryptionLevel;
  /** [client]_..._traffic_secret: protects what the client sends. */
  readonly client: Uint8Array;
  /** [server]_..._traffic_secret: protects what the server sends. */
  readonly server: Uint8Array;
}

/** The secret of the 0-RTT level: only the client sends 0-RTT packets (RFC 9001 §4.6). */
export interface EarlyLevelSecret {
  /** Always `zeroRtt`. */
  readonly level: 'zeroRtt';
  /** client_early_traffic_secret. */
  readonly client: Uint8Array;
}

/** Traffic secrets seen from one endpoint: what it reads with and what it writes with. */
export interface DirectionalSecrets {
  /** The encryption level. */
  readonly level: EncryptionLevel;
  /** The secret protecting packets this endpoint receives (absent: none at this level). */
  readonly read: Uint8Array | undefined;
  /** The secret protecting packets this endpoint sends (absent: none at this level). */
  readonly write: Uint8Array | undefined;
}

/**
 * Orients level secrets for `role`: a client writes with the client secret and reads with the
 * server's; a server the reverse. For 0-RTT a client only writes and a server only reads.
 */
export function directionalSecrets(role: HandshakeRole, secrets: LevelSecrets | EarlyLevelSecret): DirectionalSecrets {
  const server = 'server' in secrets ? secrets.server : undefined;
  return role === 'client'
    ? { level: secrets.level, read: server, write: secrets.client }
    : { level: secrets.level, read: secrets.client, write: server };
}

type Stage = 'start' | 'early' | 'handshake' | 'master' | 'done';

/**
 * The key schedule of one connection for one hash (the cipher suite's; SHA-256 or SHA-384),
 * computed with one {@link CryptoProvider}. Returned secrets are fresh arrays owned by the caller.
 */
export class KeySchedule {
  /** The provider computing HKDF and hashes. */
  readonly provider: CryptoProvider;
  /** The cipher suite's hash. */
  readonly hash: HashAlgorithm;
  /** Hash.length in bytes. */
  readonly hashLength: 32 | 48;
  private stage: Stage = 'start';
  /** The current secret on the left side of the RFC 8446 §7.1 diagram (Early, Handshake or Main). */
  private secret: Uint8Array | null = null;
  private readonly emptyHash: Uint8Array;
  private readonly zeros: Uint8Array;

  constructor(provider: CryptoProvider, hash: HashAlgorithm) {
    this.provider = provider;
    this.hash = hash;
    this.hashLength = hashLength(hash);
    this.emptyHash = provider.digest(hash, new Uint8Array(0));
    this.zeros = new Uint8Array(this.hashLength);
  }

  private require(stage: Stage, what: string): Uint8Array {
    if (this.stage !== stage || this.secret === null) misuse(`${what} needs the ${stage} stage, schedule is at ${this.stage}`);
    return this.secret;
  }

  private advance(stage: Stage, next: Uint8Array | null): void {
    this.secret?.fill(0);
    this.secret = next;
    this.stage = stage;
  }

  private derive(label: string, transcriptHash: Uint8Array, stage: Stage): Uint8Array {
    return deriveSecret(this.provider, this.hash, this.require(stage, `"${label}"`), label, transcriptHash);
  }

  /**
   * Early Secret = HKDF-Extract(salt = 0, IKM = PSK), with a Hash.length string of zeros when no
   * PSK is used (RFC 8446 §7.1: "if PSK is not in use, Early Secret will still be HKDF-Extract(0, 0)").
   * Returns a copy of the Early Secret.
   */
  deriveEarlySecret(psk?: Uint8Array): Uint8Array {
    if (this.stage !== 'start') misuse(`early secret derived twice (schedule at ${this.stage})`);
    const early = this.provider.hkdfExtract(this.hash, this.zeros, psk ?? this.zeros);
    this.advance('early', early);
    return early.slice();
  }

  /** binder_key = Derive-Secret(Early Secret, "res binder" | "ext binder", "") (RFC 8446 §7.1). */
  binderKey(kind: PskKind): Uint8Array {
    return this.derive(kind === 'resumption' ? 'res binder' : 'ext binder', this.emptyHash, 'early');
  }

  /**
   * client_early_traffic_secret = Derive-Secret(Early Secret, "c e traffic", ClientHello): the
   * secret of QUIC's 0-RTT level (RFC 9001 §4.1.4, §5.1).
   */
  earlyTrafficSecret(clientHelloHash: Uint8Array): EarlyLevelSecret {
    return { level: 'zeroRtt', client: this.derive('c e traffic', clientHelloHash, 'early') };
  }

  /** early_exporter_secret = Derive-Secret(Early Secret, "e exp master", ClientHello) (RFC 8446 §7.1). */
  earlyExporterSecret(clientHelloHash: Uint8Array): Uint8Array {
    return this.derive('e exp master', clientHelloHash, 'early');
  }

  /**
   * Handshake Secret = HKDF-Extract(salt = Derive-Secret(Early Secret, "derived", ""), IKM = the
   * (EC)DHE shared secret, or zeros in psk_ke mode). Erases the Early Secret; returns a copy of the
   * Handshake Secret.
   */
  deriveHandshakeSecret(sharedSecret?: Uint8Array): Uint8Array {
    const salt = this.derive('derived', this.emptyHash, 'early');
    const hs = this.provider.hkdfExtract(this.hash, salt, sharedSecret ?? this.zeros);
    this.advance('handshake', hs);
    return hs.slice();
  }

  /**
   * client/server_handshake_traffic_secret = Derive-Secret(Handshake Secret, "c hs traffic" |
   * "s hs traffic", ClientHello…ServerHello): the secrets of QUIC's Handshake level (RFC 9001
   * §4.1.4). They are also the Finished base keys (RFC 8446 §4.4).
   */
  handshakeTrafficSecrets(transcriptHash: Uint8Array): LevelSecrets {
    return {
      level: 'handshake',
      client: this.derive('c hs traffic', transcriptHash, 'handshake'),
      server: this.derive('s hs traffic', transcriptHash, 'handshake'),
    };
  }

  /**
   * Main Secret = HKDF-Extract(salt = Derive-Secret(Handshake Secret, "derived", ""), IKM = 0)
   * (the labels still say "master", RFC 9846 §7.1). Erases the Handshake Secret; returns a copy.
   */
  deriveMasterSecret(): Uint8Array {
    const salt = this.derive('derived', this.emptyHash, 'handshake');
    const ms = this.provider.hkdfExtract(this.hash, salt, this.zeros);
    this.advance('master', ms);
    return ms.slice();
  }

  /**
   * client/server_application_traffic_secret_0 = Derive-Secret(Main Secret, "c ap traffic" |
   * "s ap traffic", ClientHello…server Finished): the secrets of QUIC's 1-RTT level (RFC 9001 §4.1.4).
   */
  applicationTrafficSecrets(transcriptHash: Uint8Array): LevelSecrets {
    return {
      level: 'oneRtt',
      client: this.derive('c ap traffic', transcriptHash, 'master'),
      server: this.derive('s ap traffic', transcriptHash, 'master'),
    };
  }

  /** exporter_secret = Derive-Secret(Main Secret, "exp master", ClientHello…server Finished) (RFC 8446 §7.1). */
  exporterMasterSecret(transcriptHash: Uint8Array): Uint8Array {
    return this.derive('exp master', transcriptHash, 'master');
  }

  /**
   * resumption_secret = Derive-Secret(Main Secret, "res master", ClientHello…client Finished)
   * (RFC 8446 §7.1). The last value derived from the Main Secret, which is then erased.
   */
  resumptionMasterSecret(transcriptHash: Uint8Array): Uint8Array {
    const rms = this.derive('res master', transcriptHash, 'master');
    this.advance('done', null);
    return rms;
  }

  /** Erases whatever secret the schedule still holds (e.g. when the connection fails, RFC 8446 §6.2). */
  erase(): void {
    this.advance('done', null);
  }
}
