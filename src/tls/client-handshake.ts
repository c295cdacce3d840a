/**
 * The steps of the TLS 1.3 client handshake for QUIC (RFC 8446 §4, RFC 9001): building the
 * ClientHello, checking each server message, the key schedule, certificate and signature
 * verification, the client's second flight and session tickets. The order of the steps is not
 * decided here: `machines/tls-client.ts` calls them (each step assumes the machine only calls it
 * in the state the RFC allows).
 *
 * @module
 */
import type { KeyObject } from 'node:crypto';
import type { CryptoProvider, KeyExchangeGroup, KeyShare } from '../crypto/provider.js';
import type { TlsClientMachineHandlers } from '../../machines/tls-client.js';
import type { TlsFailureInfo, TlsStepResult } from '../../machines/tls-common.js';
import { TlsAlert, TlsAlertError } from './alerts.js';
import { requireOfferedCipherSuite } from './cipher-suites.js';
import { verifyCertificateChain, type VerifiedCertificateChain } from './certificates.js';
import type { ResolvedClientConfig } from './config.js';
import {
  GREASE_PSK_KEY_EXCHANGE_MODES,
  GREASE_VALUES,
  keyExchangeGroupOf,
  namedGroupOf,
  ProtocolVersion,
  PskKeyExchangeMode,
} from './constants.js';
import {
  alpnName,
  checkSolicitedExtensions,
  extensionTypeOf,
  findExtension,
  requireExtension,
  type ClientHelloExtension,
  type KeyShareEntry,
} from './extensions.js';
import { HandshakeCore, unexpectedMessageFailure } from './handshake-core.js';
import { finishedVerifyData, KeySchedule, resumptionPsk, verifyFinished, type LevelSecrets } from './key-schedule.js';
import {
  checkQuicEncryptedExtensions,
  checkQuicNewSessionTicket,
  MAX_TICKET_LIFETIME,
  type Certificate,
  type CertificateRequest,
  type CertificateVerify,
  type ClientHello,
  type EncryptedExtensions,
  type Finished,
  type HelloRetryRequest,
  type NewSessionTicket,
  type ServerHello,
} from './messages.js';
import type { TlsHandshakeInfo } from './session-events.js';
import {
  selectSignatureScheme,
  signCertificateVerify,
  supportedCertificateSignatureSchemes,
  supportedSignatureSchemes,
  verifyCertificateVerify,
} from './signatures.js';
import type { SessionTicket } from './tickets.js';

/** GREASE values chosen once per connection (RFC 8701 §3: the same values in both ClientHellos). */
interface Grease {
  readonly suite: number;
  readonly extension1: number;
  readonly extension2: number;
  readonly group: number;
  readonly version: number;
  readonly scheme: number;
  readonly pskMode: number;
}

function pickGrease(provider: CryptoProvider): Grease {
  const r = provider.randomBytes(7);
  const g = (i: number) => GREASE_VALUES[r[i] & 0x0f];
  let extension2 = g(2);
  if (extension2 === g(1)) extension2 = GREASE_VALUES[(r[2] + 1) & 0x0f]; // two extensions of one type are illegal
  return { suite: g(0), extension1: g(1), extension2, group: g(3), version: g(4), scheme: g(5), pskMode: GREASE_PSK_KEY_EXCHANGE_MODES[r[6] & 0x07] };
}

/** The client side of the handshake: the handlers `machines/tls-client.ts` drives. */
export class ClientHandshake extends HandshakeCore implements TlsClientMachineHandlers {
  private readonly config: ResolvedClientConfig;
  private readonly grease: Grease | undefined;
  private readonly random: Uint8Array;
  /** Key shares of the ClientHello being answered, by NamedGroup. */
  private shares = new Map<number, KeyShare>();
  private clientHello: ClientHello | undefined;
  private retry: { readonly suite: number; readonly group: number | undefined; readonly cookie: Uint8Array | undefined } | undefined;
  private group: KeyExchangeGroup | undefined;
  private handshakeSecrets: LevelSecrets | undefined;
  private applicationSecrets: LevelSecrets | undefined;
  private resumptionSecret: Uint8Array | undefined;
  private exporterSecret: Uint8Array | undefined;
  private peerTransportParameters: Uint8Array | undefined;
  private alpn: Uint8Array | undefined;
  private peerChain: VerifiedCertificateChain | undefined;
  private peerCertificates: readonly Uint8Array[] = [];
  private peerScheme: number | undefined;
  private certificateRequest: CertificateRequest | undefined;

  constructor(config: ResolvedClientConfig, provider: CryptoProvider) {
    super(provider);
    this.config = config;
    this.grease = config.grease ? pickGrease(provider) : undefined;
    this.random = provider.randomBytes(32);
  }

  /** The exporter_secret once the server's Finished is verified (RFC 8446 §7.5). */
  get exporterMasterSecret(): Uint8Array | undefined {
    return this.exporterSecret;
  }

  private buildClientHello(): ClientHello {
    const c = this.config;
    const grease = this.grease;
    const groups = c.groups.map(namedGroupOf);
    const shares: KeyShareEntry[] = [];
    if (this.retry === undefined) {
      // RFC 8701 §3.1: a GREASE key share (1 byte) beside the real ones; its group is listed too.
      if (grease !== undefined) shares.push({ group: grease.group, keyExchange: Uint8Array.of(0) });
      for (const g of c.groups.slice(0, c.keyShareCount)) {
        const share = this.provider.keyShare(g);
        this.shares.set(namedGroupOf(g), share);
        shares.push({ group: namedGroupOf(g), keyExchange: share.publicKey });
      }
    } else if (this.retry.group !== undefined) {
      // RFC 8446 §4.1.2: ClientHello2 replaces key_share by a single share for the selected group.
      const share = this.provider.keyShare(keyExchangeGroupOf(this.retry.group) as KeyExchangeGroup);
      this.shares = new Map([[this.retry.group, share]]);
      shares.push({ group: this.retry.group, keyExchange: share.publicKey });
    } else {
      // A HelloRetryRequest with only a cookie: key_share stays as it was.
      shares.push(...(findExtension(this.clientHello?.extensions ?? [], 'key_share')?.shares ?? []));
    }
    const extensions: ClientHelloExtension[] = [];
    if (grease !== undefined) extensions.push({ kind: 'raw', type: grease.extension1, data: new Uint8Array(0) });
    if (c.sniHostName !== undefined) extensions.push({ kind: 'server_name', hostName: c.sniHostName });
    extensions.push({ kind: 'supported_groups', groups: grease !== undefined ? [grease.group, ...groups] : groups });
    extensions.push({ kind: 'signature_algorithms', schemes: grease !== undefined ? [grease.scheme, ...supportedSignatureSchemes] : supportedSignatureSchemes });
    extensions.push({ kind: 'signature_algorithms_cert', schemes: supportedCertificateSignatureSchemes });
    extensions.push({ kind: 'alpn', protocols: c.alpn });
    extensions.push({ kind: 'quic_transport_parameters', data: c.transportParameters });
    // RFC 9001 §4.2: clients MUST NOT offer TLS versions older than 1.3.
    extensions.push({ kind: 'supported_versions', versions: grease !== undefined ? [grease.version, ProtocolVersion.TLS13] : [ProtocolVersion.TLS13] });
    extensions.push({ kind: 'key_share', shares });
    if (this.retry?.cookie !== undefined) extensions.push({ kind: 'cookie', cookie: this.retry.cookie });
    if (c.ticketStore !== undefined) {
      // RFC 8446 §4.2.9: servers issue tickets for the modes the client lists; only psk_dhe_ke is used.
      const modes = [PskKeyExchangeMode.psk_dhe_ke];
      extensions.push({ kind: 'psk_key_exchange_modes', modes: grease !== undefined ? [grease.pskMode, ...modes] : modes });
    }
    if (grease !== undefined) extensions.push({ kind: 'raw', type: grease.extension2, data: Uint8Array.of(0) });
    return {
      kind: 'client_hello',
      random: this.random,
      // RFC 9001 §8.4: no middlebox compatibility mode, so legacy_session_id is empty.
      legacySessionId: new Uint8Array(0),
      cipherSuites: grease !== undefined ? [grease.suite, ...c.cipherSuites] : c.cipherSuites,
      extensions,
    };
  }

  /** START → WAIT_SH: sends ClientHello (or ClientHello2 after a HelloRetryRequest). */
  sendClientHello(): TlsStepResult {
    return this.run(() => {
      this.clientHello = this.buildClientHello();
      this.send('initial', this.clientHello);
    });
  }

  private offeredTypes(): number[] {
    return (this.clientHello?.extensions ?? []).map(extensionTypeOf);
  }

  private checkSessionIdEcho(echo: Uint8Array, what: string): void {
    // RFC 8446 §4.1.3: a legacy_session_id_echo that differs from what the client sent → illegal_parameter.
    if (echo.length !== 0) throw new TlsAlertError(TlsAlert.illegal_parameter, `${what} echoes a legacy_session_id the client did not send`);
  }

  private checkVersion(version: number, what: string): void {
    // RFC 8446 §4.2.1: a version the client did not offer → illegal_parameter.
    if (version !== ProtocolVersion.TLS13) throw new TlsAlertError(TlsAlert.illegal_parameter, `${what} selects version 0x${version.toString(16)}, which was not offered`);
  }

  /** WAIT_SH → START: checks a HelloRetryRequest (RFC 8446 §4.1.4) and prepares ClientHello2. */
  receiveHelloRetryRequest(hrr: HelloRetryRequest, raw: Uint8Array): TlsStepResult {
    return this.run(() => {
      this.checkSessionIdEcho(hrr.legacySessionIdEcho, 'HelloRetryRequest');
      const suite = requireOfferedCipherSuite(hrr.cipherSuite, this.config.cipherSuites);
      this.checkVersion(requireExtension(hrr.extensions, 'supported_versions_selected', 'HelloRetryRequest').version, 'HelloRetryRequest');
      checkSolicitedExtensions(hrr.extensions, this.offeredTypes(), 'hello_retry_request');
      const selected = findExtension(hrr.extensions, 'key_share_retry')?.selectedGroup;
      const cookie = findExtension(hrr.extensions, 'cookie')?.cookie;
      if (selected !== undefined) {
        const group = keyExchangeGroupOf(selected);
        // RFC 8446 §4.2.8: the selected group MUST be in supported_groups and MUST NOT already have a share.
        if (group === undefined || !this.config.groups.includes(group)) {
          throw new TlsAlertError(TlsAlert.illegal_parameter, `HelloRetryRequest selects group 0x${selected.toString(16)}, which was not offered`);
        }
        if (this.shares.has(selected)) {
          throw new TlsAlertError(TlsAlert.illegal_parameter, `HelloRetryRequest selects ${group}, for which the ClientHello already carries a key share`);
        }
      }
      // RFC 8446 §4.1.4: a HelloRetryRequest that would not change the ClientHello → illegal_parameter.
      if (selected === undefined && cookie === undefined) {
        throw new TlsAlertError(TlsAlert.illegal_parameter, 'HelloRetryRequest asks for no change (neither key_share nor cookie)');
      }
      this.retry = { suite: suite.code, group: selected, cookie: cookie?.slice() };
      // RFC 8446 §4.4.1: ClientHello1 is replaced by message_hash in the transcript.
      this.transcript.selectHash(suite.hash);
      this.transcript.replaceClientHelloWithMessageHash();
      this.transcript.add(raw);
    });
  }

  /** WAIT_SH → WAIT_EE: checks the ServerHello (RFC 8446 §4.1.3), derives the handshake secrets (§7.1). */
  receiveServerHello(sh: ServerHello, raw: Uint8Array): TlsStepResult {
    return this.run(() => {
      this.checkSessionIdEcho(sh.legacySessionIdEcho, 'ServerHello');
      const suite = requireOfferedCipherSuite(sh.cipherSuite, this.config.cipherSuites);
      // RFC 8446 §4.1.4: the ServerHello's cipher suite must be the HelloRetryRequest's.
      if (this.retry !== undefined && this.retry.suite !== suite.code) {
        throw new TlsAlertError(TlsAlert.illegal_parameter, `ServerHello selects ${suite.name}, not the HelloRetryRequest's cipher suite`);
      }
      this.checkVersion(requireExtension(sh.extensions, 'supported_versions_selected', 'ServerHello').version, 'ServerHello');
      checkSolicitedExtensions(sh.extensions, this.offeredTypes(), 'server_hello');
      // No PSK was offered, so (EC)DHE is the only key exchange: key_share is mandatory (RFC 8446 §9.2).
      const share = requireExtension(sh.extensions, 'key_share_selected', 'ServerHello').share;
      const mine = this.shares.get(share.group);
      // RFC 8446 §4.2.8: the server's share MUST be in the group of one of the client's shares.
      if (mine === undefined) {
        throw new TlsAlertError(TlsAlert.illegal_parameter, `ServerHello key share is for group 0x${share.group.toString(16)}, for which the client sent no share`);
      }
      const shared = mine.computeSecret(share.keyExchange);
      this.suite = suite;
      this.group = mine.group;
      this.transcript.selectHash(suite.hash);
      this.transcript.add(raw);
      this.keySchedule = new KeySchedule(this.provider, suite.hash);
      this.keySchedule.deriveEarlySecret();
      this.keySchedule.deriveHandshakeSecret(shared);
      shared.fill(0);
      const hs = this.keySchedule.handshakeTrafficSecrets(this.transcript.hash());
      this.handshakeSecrets = { level: hs.level, client: this.keep(hs.client), server: this.keep(hs.server) };
      this.shares.clear();
      // RFC 9001 §4.1.4: both handshake secrets now (QUIC acknowledges Handshake packets before sending CRYPTO there).
      this.emitSecret('handshake', 'read', hs.server);
      this.emitSecret('handshake', 'write', hs.client);
    });
  }

  /** WAIT_EE → WAIT_CERT_CR: checks EncryptedExtensions (RFC 8446 §4.3.1, RFC 9001 §8.1, §8.2). */
  receiveEncryptedExtensions(ee: EncryptedExtensions, raw: Uint8Array): TlsStepResult {
    return this.run(() => {
      // RFC 8446 §4.2: a response to an extension the client did not send → unsupported_extension.
      // This also refuses early_data (none was offered: the server cannot accept 0-RTT).
      checkSolicitedExtensions(ee.extensions, this.offeredTypes(), 'encrypted_extensions');
      const { transportParameters, alpn } = checkQuicEncryptedExtensions(ee, { requireAlpn: true, offeredAlpn: this.config.alpn });
      this.alpn = (alpn as Uint8Array).slice();
      this.peerTransportParameters = transportParameters.slice();
      this.transcript.add(raw);
      this.emit({ type: 'transport_parameters', data: this.peerTransportParameters.slice() });
    });
  }

  /** WAIT_CERT_CR → WAIT_CERT: records the CertificateRequest (RFC 8446 §4.3.2). */
  receiveCertificateRequest(cr: CertificateRequest, raw: Uint8Array): TlsStepResult {
    return this.run(() => {
      // RFC 8446 §4.3.2: the context "SHALL be zero length unless used for post-handshake authentication".
      if (cr.context.length !== 0) throw new TlsAlertError(TlsAlert.illegal_parameter, 'CertificateRequest in the handshake has a non-empty certificate_request_context');
      this.certificateRequest = cr;
      this.transcript.add(raw);
    });
  }

  /** → WAIT_CV: verifies the server's certificate chain (RFC 8446 §4.4.2). */
  receiveCertificate(cert: Certificate, raw: Uint8Array): TlsStepResult {
    return this.run(() => {
      // RFC 8446 §4.4.2: for server authentication the context "SHALL be zero length".
      if (cert.context.length !== 0) throw new TlsAlertError(TlsAlert.illegal_parameter, "server Certificate has a non-empty certificate_request_context");
      // RFC 8446 §4.4.2: entry extensions must answer extensions of the ClientHello.
      for (const entry of cert.entries) checkSolicitedExtensions(entry.extensions, this.offeredTypes(), 'certificate');
      const chain = cert.entries.map((e) => e.data);
      const trust = this.config.trust;
      this.peerChain = verifyCertificateChain(chain, {
        role: 'server',
        now: new Date(this.now),
        trustAnchors: trust.trustAnchors,
        pinnedSpkiSha256: trust.pinnedSpkiSha256,
        pinMode: trust.pinMode,
        insecureSkipVerify: trust.insecureSkipVerify,
        certificateCache: trust.certificateCache,
        ...this.config.verifyName,
      });
      this.peerCertificates = chain.map((c) => c.slice());
      this.transcript.add(raw);
    });
  }

  /** WAIT_CV → WAIT_FINISHED: verifies the server's CertificateVerify (RFC 8446 §4.4.3). */
  receiveCertificateVerify(cv: CertificateVerify, raw: Uint8Array): TlsStepResult {
    return this.run(() => {
      const chain = this.peerChain;
      if (chain === undefined) throw new TlsAlertError(TlsAlert.internal_error, 'CertificateVerify before the server certificate');
      const offered = findExtension(this.clientHello?.extensions ?? [], 'signature_algorithms')?.schemes ?? [];
      verifyCertificateVerify(cv.algorithm, chain.leafPublicKey, this.transcript.hash(), 'server', cv.signature, { offeredSchemes: offered });
      this.peerScheme = cv.algorithm;
      this.transcript.add(raw);
    });
  }

  /** WAIT_FINISHED → CONNECTED: verifies the server's Finished (RFC 8446 §4.4.4) and derives the application secrets. */
  receiveFinished(fin: Finished, raw: Uint8Array): TlsStepResult {
    return this.run(() => {
      const ks = this.requireSchedule();
      const hs = this.handshakeSecrets as LevelSecrets;
      verifyFinished(this.provider, ks.hash, hs.server, this.transcript.hash(), fin.verifyData);
      this.transcript.add(raw);
      ks.deriveMasterSecret();
      const serverFinishedHash = this.transcript.hash();
      const app = ks.applicationTrafficSecrets(serverFinishedHash);
      this.applicationSecrets = { level: app.level, client: this.keep(app.client), server: this.keep(app.server) };
      this.exporterSecret = this.keep(ks.exporterMasterSecret(serverFinishedHash));
    });
  }

  /**
   * After a CertificateRequest: sends Certificate with the configured chain when its key can sign
   * one of the requested schemes, otherwise an empty Certificate (RFC 8446 §4.4.2.3), then
   * CertificateVerify for a non-empty one (RFC 8446 §4.4.3).
   */
  sendClientAuthentication(): TlsStepResult {
    return this.run(() => {
      const cr = this.certificateRequest;
      if (cr === undefined) throw new TlsAlertError(TlsAlert.internal_error, 'client authentication without a CertificateRequest');
      const requested = requireExtension(cr.extensions, 'signature_algorithms', 'CertificateRequest').schemes;
      const own = this.config.certificate;
      let scheme: number | undefined;
      let key: KeyObject | undefined;
      if (own !== undefined) {
        try {
          scheme = selectSignatureScheme(own.privateKey, requested);
          key = own.privateKey;
        } catch (e) {
          if (!(e instanceof TlsAlertError && e.alert === TlsAlert.handshake_failure)) throw e;
        }
      }
      const chain = scheme !== undefined && own !== undefined ? own.certificateChain : [];
      this.send('handshake', { kind: 'certificate', context: cr.context, entries: chain.map((data) => ({ data, extensions: [] })) });
      if (scheme !== undefined && key !== undefined) {
        const signature = signCertificateVerify(scheme, key, this.transcript.hash(), 'client');
        this.send('handshake', { kind: 'certificate_verify', algorithm: scheme, signature });
      }
    });
  }

  /** Sends Finished (RFC 8446 §4.4.4), installs the 1-RTT secrets and reports the handshake complete (RFC 9001 §4.1.1). */
  sendFinished(): TlsStepResult {
    return this.run(() => {
      const ks = this.requireSchedule();
      const hs = this.handshakeSecrets as LevelSecrets;
      const app = this.applicationSecrets as LevelSecrets;
      this.send('handshake', { kind: 'finished', verifyData: finishedVerifyData(this.provider, ks.hash, hs.client, this.transcript.hash()) });
      this.resumptionSecret = this.keep(ks.resumptionMasterSecret(this.transcript.hash()));
      hs.client.fill(0);
      hs.server.fill(0);
      this.emitSecret('oneRtt', 'write', app.client);
      this.emitSecret('oneRtt', 'read', app.server);
      this.complete = true;
      this.emit({ type: 'handshake_complete', info: this.info() });
      // Only NewSessionTickets come after this (RFC 9001 §4.1.1): what the handshake alone needed
      // is let go (an idle connection kept its ClientHello, ~2.8 KiB, and the server's chain).
      this.clientHello = undefined;
      this.peerChain = undefined;
      this.certificateRequest = undefined;
    });
  }

  private info(): TlsHandshakeInfo {
    const alpn = this.alpn as Uint8Array;
    return {
      role: 'client',
      alpn: alpnName(alpn),
      alpnProtocol: alpn.slice(),
      cipherSuite: this.suite!,
      group: this.group!,
      serverName: this.config.sniHostName,
      peerSignatureScheme: this.peerScheme,
      peerCertificates: this.peerCertificates,
      peerCertificateTrust: this.peerChain?.trust ?? 'none',
      certificateRequested: this.certificateRequest !== undefined,
      peerTransportParameters: (this.peerTransportParameters as Uint8Array).slice(),
      helloRetryRequest: this.retry !== undefined,
    };
  }

  /** CONNECTED: checks a NewSessionTicket (RFC 9001 §4.6.1), derives its PSK (RFC 8446 §4.6.1) and stores it. */
  receiveNewSessionTicket(nst: NewSessionTicket, _raw: Uint8Array): TlsStepResult {
    return this.run(() => {
      const allows0Rtt = checkQuicNewSessionTicket(nst);
      const ks = this.requireSchedule();
      const ticket: SessionTicket = {
        serverName: this.config.ticketName,
        alpn: alpnName(this.alpn as Uint8Array),
        cipherSuite: this.suite!.code,
        ticket: nst.ticket.slice(),
        psk: resumptionPsk(this.provider, ks.hash, this.resumptionSecret as Uint8Array, nst.nonce),
        ageAdd: nst.ageAdd,
        // RFC 8446 §4.6.1: clients MUST NOT cache tickets for longer than 7 days.
        lifetime: Math.min(nst.lifetime, MAX_TICKET_LIFETIME),
        receivedAt: this.now,
        maxEarlyDataSize: allows0Rtt ? 0xffffffff : 0,
        peerTransportParameters: (this.peerTransportParameters as Uint8Array).slice(),
      };
      // RFC 8446 §4.6.1: a lifetime of zero means the ticket is to be discarded.
      if (ticket.lifetime > 0) this.config.ticketStore?.add(ticket);
      this.emit({ type: 'session_ticket', ticket });
    });
  }

  /** Records unexpected_message for a message the machine's state does not accept. */
  unexpectedMessage(eventType: string, state: string): TlsFailureInfo {
    return unexpectedMessageFailure(this, eventType, state);
  }

  /** A final state: drop the ephemeral key shares, report a failure, erase the secrets. */
  override terminated(state: 'closed' | 'failed'): void {
    this.shares.clear();
    super.terminated(state);
  }

  private requireSchedule(): KeySchedule {
    if (this.keySchedule === undefined) throw new TlsAlertError(TlsAlert.internal_error, 'key schedule not started');
    return this.keySchedule;
  }
}
