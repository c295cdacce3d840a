/**
 * The steps of the TLS 1.3 server handshake for QUIC (RFC 8446 §4, RFC 9001): checking the
 * ClientHello, selecting parameters, the HelloRetryRequest, the server's flight, client
 * authentication, the key schedule and session tickets. The order of the steps is not decided
 * here: `machines/tls-server.ts` calls them.
 *
 * Tolerance of what real clients send: unknown extensions (ec_point_formats, renegotiation_info,
 * session_ticket, record_size_limit, status_request, application_settings, …), GREASE values
 * anywhere the client may put them (RFC 8701), and key shares for groups this server does not
 * implement (e.g. X25519MLKEM768, 0x11ec) are ignored; the server selects among the shares of its
 * own groups, or asks for one with a HelloRetryRequest.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import type { CryptoProvider, KeyExchangeGroup } from '../crypto/provider.js';
import type { TlsFailureInfo, TlsStepResult } from '../../machines/tls-common.js';
import type { TlsParameterSelection, TlsServerMachineHandlers } from '../../machines/tls-server.js';
import { TlsAlert, TlsAlertError } from './alerts.js';
import { selectCipherSuite } from './cipher-suites.js';
import { verifyCertificateChain, type VerifiedCertificateChain } from './certificates.js';
import { toAlpnBytes, type ResolvedServerConfig } from './config.js';
import { isGreaseAlpn, namedGroupOf, ProtocolVersion, PskKeyExchangeMode } from './constants.js';
import {
  alpnName,
  checkSolicitedExtensions,
  extensionTypeOf,
  findExtension,
  type EncryptedExtensionsExtension,
  type HelloRetryRequestExtension,
  type KeyShareEntry,
} from './extensions.js';
import { HandshakeCore, sameBytes, unexpectedMessageFailure } from './handshake-core.js';
import { finishedVerifyData, KeySchedule, resumptionPsk, verifyFinished, type LevelSecrets } from './key-schedule.js';
import { checkQuicClientHello, type Certificate, type CertificateVerify, type ClientHello, type Finished } from './messages.js';
import type { TlsHandshakeInfo, TlsPeerCertificateTrust } from './session-events.js';
import {
  selectSignatureScheme,
  signCertificateVerify,
  supportedCertificateSignatureSchemes,
  supportedSignatureSchemes,
  verifyCertificateVerify,
} from './signatures.js';
import { sealSessionTicket } from './tickets.js';

/** The parameters selected for a ClientHello (RFC 8446 §4.1.1). */
interface Selection {
  readonly suite: NonNullable<ReturnType<typeof selectCipherSuite>>;
  readonly scheme: number;
  readonly alpn: Uint8Array;
  readonly group: KeyExchangeGroup;
  /** The client's share in `group`, absent when a HelloRetryRequest must ask for one. */
  readonly clientShare: KeyShareEntry | undefined;
}

function illegal(reason: string): never {
  throw new TlsAlertError(TlsAlert.illegal_parameter, reason);
}

function sameList<T>(a: readonly T[] | undefined, b: readonly T[] | undefined, eq: (x: T, y: T) => boolean = (x, y) => x === y): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.length === b.length && a.every((x, i) => eq(x, b[i]));
}

/** The server side of the handshake: the handlers `machines/tls-server.ts` drives. */
export class ServerHandshake extends HandshakeCore implements TlsServerMachineHandlers {
  private readonly config: ResolvedServerConfig;
  private clientHello: ClientHello | undefined;
  private clientTransportParameters: Uint8Array | undefined;
  private selection: Selection | undefined;
  private retry: { readonly group: KeyExchangeGroup; readonly cookie: Uint8Array | undefined } | undefined;
  private handshakeSecrets: LevelSecrets | undefined;
  private applicationSecrets: LevelSecrets | undefined;
  private resumptionSecret: Uint8Array | undefined;
  private exporterSecret: Uint8Array | undefined;
  private requestedSchemes: readonly number[] | undefined;
  private requestedTypes: readonly number[] = [];
  private peerChain: VerifiedCertificateChain | undefined;
  private peerCertificates: readonly Uint8Array[] = [];
  private peerScheme: number | undefined;
  private peerTrust: TlsPeerCertificateTrust = 'none';
  private ticketsIssued = 0;

  constructor(config: ResolvedServerConfig, provider: CryptoProvider) {
    super(provider);
    this.config = config;
  }

  /** The exporter_secret once the server's Finished is sent (RFC 8446 §7.5). */
  get exporterMasterSecret(): Uint8Array | undefined {
    return this.exporterSecret;
  }

  /** START → RECVD_CH: the QUIC checks of a ClientHello (RFC 9001 §4.2, §8.2, §8.4), and of ClientHello2 against ClientHello1. */
  receiveClientHello(ch: ClientHello, raw: Uint8Array): TlsStepResult {
    return this.run(() => {
      const { transportParameters } = checkQuicClientHello(ch);
      if (this.retry !== undefined) this.checkSecondClientHello(this.clientHello as ClientHello, ch);
      this.clientHello = ch;
      this.clientTransportParameters = transportParameters.slice();
      this.transcript.add(raw);
    });
  }

  /**
   * RFC 8446 §4.1.2: ClientHello2 is ClientHello1 except for key_share (a single share for the
   * group the HelloRetryRequest selected, §4.2.8), cookie (echoed, §4.2.2), early_data (removed,
   * §4.2.10), pre_shared_key and padding. Changes this server can see → illegal_parameter.
   */
  private checkSecondClientHello(first: ClientHello, second: ClientHello): void {
    const retry = this.retry!;
    const ext1 = first.extensions;
    const ext2 = second.extensions;
    const shares = findExtension(ext2, 'key_share')?.shares ?? [];
    if (shares.length !== 1 || shares[0].group !== namedGroupOf(retry.group)) {
      illegal(`ClientHello2 must carry exactly one key share, for ${retry.group}, the group the HelloRetryRequest selected`);
    }
    const cookie = findExtension(ext2, 'cookie')?.cookie;
    if (retry.cookie !== undefined && (cookie === undefined || !sameBytes(cookie, retry.cookie))) illegal('ClientHello2 does not echo the HelloRetryRequest cookie');
    if (retry.cookie === undefined && cookie !== undefined) illegal('ClientHello2 carries a cookie the server did not send');
    if (findExtension(ext2, 'early_data') !== undefined) illegal('ClientHello2 offers early_data (RFC 8446 §4.2.10)');
    const same = (what: string, ok: boolean) => {
      if (!ok) illegal(`ClientHello2 changed ${what}`);
    };
    same('cipher_suites', sameList(first.cipherSuites, second.cipherSuites));
    same('server_name', findExtension(ext1, 'server_name')?.hostName === findExtension(ext2, 'server_name')?.hostName);
    same('supported_versions', sameList(findExtension(ext1, 'supported_versions')?.versions, findExtension(ext2, 'supported_versions')?.versions));
    same('supported_groups', sameList(findExtension(ext1, 'supported_groups')?.groups, findExtension(ext2, 'supported_groups')?.groups));
    same('signature_algorithms', sameList(findExtension(ext1, 'signature_algorithms')?.schemes, findExtension(ext2, 'signature_algorithms')?.schemes));
    same('application_layer_protocol_negotiation', sameList(findExtension(ext1, 'alpn')?.protocols, findExtension(ext2, 'alpn')?.protocols, sameBytes));
    const tp1 = findExtension(ext1, 'quic_transport_parameters')?.data;
    const tp2 = findExtension(ext2, 'quic_transport_parameters')?.data;
    same('quic_transport_parameters', tp1 !== undefined && tp2 !== undefined && sameBytes(tp1, tp2));
  }

  /**
   * START → RECVD_CH: selects the cipher suite (server order, RFC 8446 §4.1.1), the signature
   * scheme for the certificate key (§4.2.3), the application protocol (RFC 9001 §8.1) and the
   * group: the first of the server's groups the client sent a share for, or else the first it
   * supports, which needs a HelloRetryRequest (§4.1.4). Unknown groups, their shares and GREASE are ignored.
   */
  selectParameters(): TlsParameterSelection {
    let helloRetryNeeded = false;
    const failure = this.run(() => {
      const ch = this.clientHello!;
      const ext = ch.extensions;
      // RFC 8446 §4.1.1: no common cipher suite → handshake_failure.
      const suite = this.retry !== undefined ? this.suite! : selectCipherSuite(ch.cipherSuites, this.config.cipherSuites);
      if (suite === undefined) throw new TlsAlertError(TlsAlert.handshake_failure, 'no cipher suite in common with the client');
      // RFC 8446 §4.2.3, §9.2: certificate authentication needs signature_algorithms.
      const sigAlgs = findExtension(ext, 'signature_algorithms');
      if (sigAlgs === undefined) throw new TlsAlertError(TlsAlert.missing_extension, 'ClientHello lacks signature_algorithms, which certificate authentication requires');
      const scheme = selectSignatureScheme(this.config.privateKey, sigAlgs.schemes);
      const alpn = this.selectAlpn(ch);
      const groups = findExtension(ext, 'supported_groups');
      const shares = findExtension(ext, 'key_share');
      // RFC 8446 §9.2: a ClientHello without PSK has both (the codec enforces it); with a PSK
      // offered and neither, it asks for psk_ke, which this server does not do.
      if (groups === undefined || shares === undefined) throw new TlsAlertError(TlsAlert.missing_extension, 'ClientHello lacks supported_groups and key_share; this server needs (EC)DHE');
      let group: KeyExchangeGroup | undefined;
      let clientShare: KeyShareEntry | undefined;
      for (const g of this.config.groups) {
        clientShare = shares.shares.find((s) => s.group === namedGroupOf(g));
        if (clientShare !== undefined) {
          group = g;
          break;
        }
      }
      if (group === undefined) {
        if (this.retry !== undefined) illegal('ClientHello2 has no key share for the group the HelloRetryRequest selected');
        group = this.config.groups.find((g) => groups.groups.includes(namedGroupOf(g)));
        // RFC 8446 §4.1.1: no common group → handshake_failure.
        if (group === undefined) throw new TlsAlertError(TlsAlert.handshake_failure, 'no key exchange group in common with the client');
        helloRetryNeeded = true;
      }
      this.suite = suite;
      this.selection = { suite, scheme, alpn, group, clientShare };
    });
    return { failure, helloRetryNeeded: failure === undefined && helloRetryNeeded };
  }

  private selectAlpn(ch: ClientHello): Uint8Array {
    const ext = findExtension(ch.extensions, 'alpn');
    // RFC 9001 §8.1: without ALPN agreement the server closes with no_application_protocol.
    if (ext === undefined) throw new TlsAlertError(TlsAlert.no_application_protocol, 'ClientHello offers no application protocol (ALPN is required by QUIC)');
    const offered = ext.protocols.filter((p) => !isGreaseAlpn(p));
    const sni = findExtension(ch.extensions, 'server_name')?.hostName;
    let chosen: Uint8Array | undefined;
    if (this.config.selectAlpn !== undefined) {
      const pick = this.config.selectAlpn(offered, sni);
      if (pick !== undefined) {
        chosen = toAlpnBytes(pick, 'selectAlpn result');
        const c = chosen;
        if (!offered.some((p) => sameBytes(p, c))) throw new TlsAlertError(TlsAlert.internal_error, `selectAlpn chose ${alpnName(c)}, which the client did not offer`);
      }
    } else {
      chosen = this.config.alpn!.find((mine) => offered.some((p) => sameBytes(p, mine)));
    }
    if (chosen === undefined) {
      throw new TlsAlertError(
        TlsAlert.no_application_protocol,
        `no application protocol in common: the client offered ${offered.map(alpnName).join(', ') || 'nothing'}`,
      );
    }
    return chosen;
  }

  /** RECVD_CH → START: sends the HelloRetryRequest (RFC 8446 §4.1.4) and replaces ClientHello1 in the transcript (§4.4.1). */
  sendHelloRetryRequest(): TlsStepResult {
    return this.run(() => {
      const sel = this.selection!;
      const cookie = this.config.helloRetryRequestCookie ? this.provider.randomBytes(32) : undefined;
      const extensions: HelloRetryRequestExtension[] = [
        { kind: 'supported_versions_selected', version: ProtocolVersion.TLS13 },
        { kind: 'key_share_retry', selectedGroup: namedGroupOf(sel.group) },
      ];
      if (cookie !== undefined) extensions.push({ kind: 'cookie', cookie });
      this.transcript.selectHash(sel.suite.hash);
      this.transcript.replaceClientHelloWithMessageHash();
      this.send('initial', { kind: 'hello_retry_request', legacySessionIdEcho: this.clientHello!.legacySessionId, cipherSuite: sel.suite.code, extensions });
      this.retry = { group: sel.group, cookie };
    });
  }

  /** NEGOTIATED: sends ServerHello (RFC 8446 §4.1.3) and derives the handshake secrets (§7.1). */
  sendServerHello(): TlsStepResult {
    return this.run(() => {
      const sel = this.selection!;
      const share = this.provider.keyShare(sel.group);
      // RFC 8446 §4.2.8.2: an invalid client share → illegal_parameter (KeyExchangeError).
      const shared = share.computeSecret((sel.clientShare as KeyShareEntry).keyExchange);
      // The client's parameters, now that they will be used (authenticated at completion, RFC 9001 §4.1.3).
      this.emit({ type: 'transport_parameters', data: (this.clientTransportParameters as Uint8Array).slice() });
      this.transcript.selectHash(sel.suite.hash);
      this.send('initial', {
        kind: 'server_hello',
        random: this.provider.randomBytes(32),
        legacySessionIdEcho: this.clientHello!.legacySessionId,
        cipherSuite: sel.suite.code,
        extensions: [
          { kind: 'supported_versions_selected', version: ProtocolVersion.TLS13 },
          { kind: 'key_share_selected', share: { group: namedGroupOf(sel.group), keyExchange: share.publicKey } },
        ],
      });
      this.keySchedule = new KeySchedule(this.provider, sel.suite.hash);
      this.keySchedule.deriveEarlySecret();
      this.keySchedule.deriveHandshakeSecret(shared);
      shared.fill(0);
      const hs = this.keySchedule.handshakeTrafficSecrets(this.transcript.hash());
      this.handshakeSecrets = { level: hs.level, client: this.keep(hs.client), server: this.keep(hs.server) };
      this.emitSecret('handshake', 'write', hs.server);
      this.emitSecret('handshake', 'read', hs.client);
    });
  }

  /**
   * NEGOTIATED: sends EncryptedExtensions with the selected ALPN protocol and the transport
   * parameters. No early_data: this server accepts no 0-RTT (RFC 8446 §4.2.10, RFC 9001 §4.6.2).
   */
  sendEncryptedExtensions(): TlsStepResult {
    return this.run(() => {
      const extensions: EncryptedExtensionsExtension[] = [
        { kind: 'alpn', protocols: [this.selection!.alpn] },
        { kind: 'quic_transport_parameters', data: this.config.transportParameters },
      ];
      this.send('handshake', { kind: 'encrypted_extensions', extensions });
    });
  }

  /** NEGOTIATED: sends CertificateRequest (RFC 8446 §4.3.2) with an empty context. */
  sendCertificateRequest(): TlsStepResult {
    return this.run(() => {
      this.requestedSchemes = supportedSignatureSchemes;
      const cr = {
        kind: 'certificate_request' as const,
        context: new Uint8Array(0),
        extensions: [
          { kind: 'signature_algorithms' as const, schemes: supportedSignatureSchemes },
          { kind: 'signature_algorithms_cert' as const, schemes: supportedCertificateSignatureSchemes },
        ],
      };
      this.requestedTypes = cr.extensions.map(extensionTypeOf);
      this.send('handshake', cr);
    });
  }

  /** NEGOTIATED: sends Certificate (RFC 8446 §4.4.2) and CertificateVerify (§4.4.3). */
  sendCertificateAndVerify(): TlsStepResult {
    return this.run(() => {
      const sel = this.selection!;
      this.send('handshake', { kind: 'certificate', context: new Uint8Array(0), entries: this.config.certificateChain.map((data) => ({ data, extensions: [] })) });
      const signature = signCertificateVerify(sel.scheme, this.config.privateKey, this.transcript.hash(), 'server');
      this.send('handshake', { kind: 'certificate_verify', algorithm: sel.scheme, signature });
    });
  }

  /** NEGOTIATED → WAIT_FLIGHT2: sends Finished (RFC 8446 §4.4.4) and installs the 1-RTT write secret (RFC 9001 §4.1.4). */
  sendFinished(): TlsStepResult {
    return this.run(() => {
      const ks = this.keySchedule!;
      const hs = this.handshakeSecrets!;
      this.send('handshake', { kind: 'finished', verifyData: finishedVerifyData(this.provider, ks.hash, hs.server, this.transcript.hash()) });
      ks.deriveMasterSecret();
      const serverFinishedHash = this.transcript.hash();
      const app = ks.applicationTrafficSecrets(serverFinishedHash);
      this.applicationSecrets = { level: app.level, client: this.keep(app.client), server: this.keep(app.server) };
      this.exporterSecret = this.keep(ks.exporterMasterSecret(serverFinishedHash));
      this.emitSecret('oneRtt', 'write', app.server);
    });
  }

  private checkClientCertificateMessage(cert: Certificate): void {
    // RFC 8446 §4.4.2: the context is the CertificateRequest's (empty here).
    if (cert.context.length !== 0) illegal('client Certificate does not echo the empty certificate_request_context');
    for (const entry of cert.entries) checkSolicitedExtensions(entry.extensions, this.requestedTypes, 'certificate');
  }

  /** WAIT_CERT → WAIT_FINISHED: an empty client Certificate; certificate_required when one is required (RFC 8446 §4.4.2.4). */
  receiveEmptyCertificate(cert: Certificate, raw: Uint8Array): TlsStepResult {
    return this.run(() => {
      this.checkClientCertificateMessage(cert);
      if (this.config.clientAuthentication?.required === true) {
        throw new TlsAlertError(TlsAlert.certificate_required, 'the client sent no certificate, and this server requires one');
      }
      this.transcript.add(raw);
    });
  }

  /** WAIT_CERT → WAIT_CV: verifies the client's chain when client trust is configured, else only parses it. */
  receiveCertificate(cert: Certificate, raw: Uint8Array): TlsStepResult {
    return this.run(() => {
      this.checkClientCertificateMessage(cert);
      const chain = cert.entries.map((e) => e.data);
      const trust = this.config.clientAuthentication?.trust;
      this.peerChain = verifyCertificateChain(chain, {
        role: 'client',
        now: new Date(this.now),
        ...(trust === undefined
          ? { insecureSkipVerify: true }
          : { trustAnchors: trust.trustAnchors, pinnedSpkiSha256: trust.pinnedSpkiSha256, pinMode: trust.pinMode, certificateCache: trust.certificateCache }),
      });
      this.peerTrust = trust === undefined ? 'unverified' : this.peerChain.trust;
      this.peerCertificates = chain.map((c) => c.slice());
      this.transcript.add(raw);
    });
  }

  /** WAIT_CV → WAIT_FINISHED: verifies the client's CertificateVerify (RFC 8446 §4.4.3). */
  receiveCertificateVerify(cv: CertificateVerify, raw: Uint8Array): TlsStepResult {
    return this.run(() => {
      verifyCertificateVerify(cv.algorithm, this.peerChain!.leafPublicKey, this.transcript.hash(), 'client', cv.signature, { offeredSchemes: this.requestedSchemes });
      this.peerScheme = cv.algorithm;
      this.transcript.add(raw);
    });
  }

  /** WAIT_FINISHED → CONNECTED: verifies the client's Finished, installs the 1-RTT read secret, reports completion. */
  receiveFinished(fin: Finished, raw: Uint8Array): TlsStepResult {
    return this.run(() => {
      const ks = this.keySchedule!;
      const hs = this.handshakeSecrets!;
      verifyFinished(this.provider, ks.hash, hs.client, this.transcript.hash(), fin.verifyData);
      this.transcript.add(raw);
      this.resumptionSecret = this.keep(ks.resumptionMasterSecret(this.transcript.hash()));
      hs.client.fill(0);
      hs.server.fill(0);
      // RFC 9001 §5.7: 1-RTT packets are processed only once the handshake is complete.
      this.emitSecret('oneRtt', 'read', this.applicationSecrets!.client);
      this.complete = true;
      this.emit({ type: 'handshake_complete', info: this.info() });
    });
  }

  private info(): TlsHandshakeInfo {
    const sel = this.selection!;
    return {
      role: 'server',
      alpn: alpnName(sel.alpn),
      alpnProtocol: sel.alpn.slice(),
      cipherSuite: sel.suite,
      group: sel.group,
      serverName: findExtension(this.clientHello!.extensions, 'server_name')?.hostName,
      peerSignatureScheme: this.peerScheme,
      peerCertificates: this.peerCertificates,
      peerCertificateTrust: this.peerTrust,
      certificateRequested: this.requestedSchemes !== undefined,
      peerTransportParameters: (this.clientTransportParameters as Uint8Array).slice(),
      helloRetryRequest: this.retry !== undefined,
    };
  }

  /**
   * CONNECTED: issues the configured NewSessionTickets at the 1-RTT level (RFC 9001 §4), when the
   * client listed psk_dhe_ke (RFC 8446 §4.2.9: tickets only for modes the client offered). The
   * tickets carry no early_data extension: this server does not accept 0-RTT.
   */
  sendNewSessionTickets(): TlsStepResult {
    const result = this.run(() => {
      const config = this.config.sessionTickets;
      const modes = findExtension(this.clientHello!.extensions, 'psk_key_exchange_modes')?.modes ?? [];
      if (config === undefined || !modes.includes(PskKeyExchangeMode.psk_dhe_ke)) return;
      const sel = this.selection!;
      const clientCertificateSha256 = this.peerCertificates.length > 0 ? new Uint8Array(createHash('sha256').update(this.peerCertificates[0]).digest()) : undefined;
      for (let i = 0; i < config.count; i++) {
        // RFC 8446 §4.6.1: the nonce is unique among the tickets of this connection.
        const nonce = new Uint8Array(8);
        new DataView(nonce.buffer).setUint32(4, this.ticketsIssued++);
        const ageAddBytes = this.provider.randomBytes(4);
        const ageAdd = new DataView(ageAddBytes.buffer, ageAddBytes.byteOffset, 4).getUint32(0);
        const psk = resumptionPsk(this.provider, sel.suite.hash, this.resumptionSecret!, nonce);
        const ticket = sealSessionTicket(this.provider, config.key, {
          cipherSuite: sel.suite.code,
          issuedAt: Math.max(0, Math.floor(this.now)),
          lifetime: config.lifetime,
          ageAdd,
          psk,
          alpn: sel.alpn,
          serverName: findExtension(this.clientHello!.extensions, 'server_name')?.hostName,
          clientCertificateSha256,
        });
        psk.fill(0);
        this.send('oneRtt', { kind: 'new_session_ticket', lifetime: config.lifetime, ageAdd, nonce, ticket, extensions: [] }, { transcript: false });
        this.emit({ type: 'session_ticket_issued', ticket, lifetime: config.lifetime });
      }
    });
    // The last step of the handshake (nothing is received after the client's Finished, RFC 9001
    // §4.1.1): what only the handshake needed is let go (an idle connection kept the ClientHello).
    this.clientHello = undefined;
    this.peerChain = undefined;
    return result;
  }

  /** Records unexpected_message for a message the machine's state does not accept. */
  unexpectedMessage(eventType: string, state: string): TlsFailureInfo {
    return unexpectedMessageFailure(this, eventType, state);
  }
}
