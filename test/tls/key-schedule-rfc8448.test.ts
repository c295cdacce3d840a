/**
 * RFC 8448 ("Example Handshake Traces for TLS 1.3") §3 Simple 1-RTT Handshake and the PSK parts of
 * §4 Resumed 0-RTT Handshake: the handshake messages decode and re-encode byte for byte, the
 * transcript over them gives the RFC's hashes, and every secret of the key schedule is reproduced
 * from the ECDHE shared secret, over every crypto provider.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { providers } from '../support/providers.js';
import { CipherSuite, cipherSuiteParams } from '../../src/tls/cipher-suites.js';
import { ExtensionType, NamedGroup, PskKeyExchangeMode, SignatureScheme } from '../../src/tls/constants.js';
import { alpnName, findExtension, findRawExtension } from '../../src/tls/extensions.js';
import {
  checkQuicNewSessionTicket,
  decodeHandshakeMessage,
  encodeHandshakeMessage,
  setClientHelloBinders,
  truncateClientHelloForBinders,
  type ClientHello,
  type HandshakeMessage,
} from '../../src/tls/messages.js';
import {
  deriveSecret,
  finishedKey,
  finishedVerifyData,
  KeySchedule,
  resumptionPsk,
  verifyFinished,
  verifyPskBinder,
} from '../../src/tls/key-schedule.js';
import { Transcript } from '../../src/tls/transcript.js';
import { isTlsAlertError, TlsAlert } from '../../src/tls/alerts.js';
import { isQuicError } from '../../src/wire/errors.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

// ---- RFC 8448 §3, messages as printed ("construct a … handshake message") ----
const CLIENT_HELLO = hex(`01 00 00 c0 03 03 cb 34 ec b1 e7 81 63
  ba 1c 38 c6 da cb 19 6a 6d ff a2 1a 8d 99 12 ec 18 a2 ef 62 83
  02 4d ec e7 00 00 06 13 01 13 03 13 02 01 00 00 91 00 00 00 0b
  00 09 00 00 06 73 65 72 76 65 72 ff 01 00 01 00 00 0a 00 14 00
  12 00 1d 00 17 00 18 00 19 01 00 01 01 01 02 01 03 01 04 00 23
  00 00 00 33 00 26 00 24 00 1d 00 20 99 38 1d e5 60 e4 bd 43 d2
  3d 8e 43 5a 7d ba fe b3 c0 6e 51 c1 3c ae 4d 54 13 69 1e 52 9a
  af 2c 00 2b 00 03 02 03 04 00 0d 00 20 00 1e 04 03 05 03 06 03
  02 03 08 04 08 05 08 06 04 01 05 01 06 01 02 01 04 02 05 02 06
  02 02 02 00 2d 00 02 01 01 00 1c 00 02 40 01`);
const SERVER_HELLO = hex(`02 00 00 56 03 03 a6 af 06 a4 12 18 60
  dc 5e 6e 60 24 9c d3 4c 95 93 0c 8a c5 cb 14 34 da c1 55 77 2e
  d3 e2 69 28 00 13 01 00 00 2e 00 33 00 24 00 1d 00 20 c9 82 88
  76 11 20 95 fe 66 76 2b db f7 c6 72 e1 56 d6 cc 25 3b 83 3d f1
  dd 69 b1 b0 4e 75 1f 0f 00 2b 00 02 03 04`);
const ENCRYPTED_EXTENSIONS = hex(`08 00 00 24 00 22 00 0a 00 14 00
  12 00 1d 00 17 00 18 00 19 01 00 01 01 01 02 01 03 01 04 00 1c
  00 02 40 01 00 00 00 00`);
const CERTIFICATE = hex(`0b 00 01 b9 00 00 01 b5 00 01 b0 30 82
  01 ac 30 82 01 15 a0 03 02 01 02 02 01 02 30 0d 06 09 2a 86 48
  86 f7 0d 01 01 0b 05 00 30 0e 31 0c 30 0a 06 03 55 04 03 13 03
  72 73 61 30 1e 17 0d 31 36 30 37 33 30 30 31 32 33 35 39 5a 17
  0d 32 36 30 37 33 30 30 31 32 33 35 39 5a 30 0e 31 0c 30 0a 06
  03 55 04 03 13 03 72 73 61 30 81 9f 30 0d 06 09 2a 86 48 86 f7
  0d 01 01 01 05 00 03 81 8d 00 30 81 89 02 81 81 00 b4 bb 49 8f
  82 79 30 3d 98 08 36 39 9b 36 c6 98 8c 0c 68 de 55 e1 bd b8 26
  d3 90 1a 24 61 ea fd 2d e4 9a 91 d0 15 ab bc 9a 95 13 7a ce 6c
  1a f1 9e aa 6a f9 8c 7c ed 43 12 09 98 e1 87 a8 0e e0 cc b0 52
  4b 1b 01 8c 3e 0b 63 26 4d 44 9a 6d 38 e2 2a 5f da 43 08 46 74
  80 30 53 0e f0 46 1c 8c a9 d9 ef bf ae 8e a6 d1 d0 3e 2b d1 93
  ef f0 ab 9a 80 02 c4 74 28 a6 d3 5a 8d 88 d7 9f 7f 1e 3f 02 03
  01 00 01 a3 1a 30 18 30 09 06 03 55 1d 13 04 02 30 00 30 0b 06
  03 55 1d 0f 04 04 03 02 05 a0 30 0d 06 09 2a 86 48 86 f7 0d 01
  01 0b 05 00 03 81 81 00 85 aa d2 a0 e5 b9 27 6b 90 8c 65 f7 3a
  72 67 17 06 18 a5 4c 5f 8a 7b 33 7d 2d f7 a5 94 36 54 17 f2 ea
  e8 f8 a5 8c 8f 81 72 f9 31 9c f3 6b 7f d6 c5 5b 80 f2 1a 03 01
  51 56 72 60 96 fd 33 5e 5e 67 f2 db f1 02 70 2e 60 8c ca e6 be
  c1 fc 63 a4 2a 99 be 5c 3e b7 10 7c 3c 54 e9 b9 eb 2b d5 20 3b
  1c 3b 84 e0 a8 b2 f7 59 40 9b a3 ea c9 d9 1d 40 2d cc 0c c8 f8
  96 12 29 ac 91 87 b4 2b 4d e1 00 00`);
const CERTIFICATE_VERIFY = hex(`0f 00 00 84 08 04 00 80 5a 74 7c
  5d 88 fa 9b d2 e5 5a b0 85 a6 10 15 b7 21 1f 82 4c d4 84 14 5a
  b3 ff 52 f1 fd a8 47 7b 0b 7a bc 90 db 78 e2 d3 3a 5c 14 1a 07
  86 53 fa 6b ef 78 0c 5e a2 48 ee aa a7 85 c4 f3 94 ca b6 d3 0b
  be 8d 48 59 ee 51 1f 60 29 57 b1 54 11 ac 02 76 71 45 9e 46 44
  5c 9e a5 8c 18 1e 81 8e 95 b8 c3 fb 0b f3 27 84 09 d3 be 15 2a
  3d a5 04 3e 06 3d da 65 cd f5 ae a2 0d 53 df ac d4 2f 74 f3`);
const SERVER_FINISHED = hex(`14 00 00 20 9b 9b 14 1d 90 63 37 fb d2 cb
  dc e7 1d f4 de da 4a b4 2c 30 95 72 cb 7f ff ee 54 54 b7 8f 07 18`);
const CLIENT_FINISHED = hex(`14 00 00 20 a8 ec 43 6d 67 76 34 ae 52 5a
  c1 fc eb e1 1a 03 9e c1 76 94 fa c6 e9 85 27 b6 42 f2 ed d5 ce 61`);
const NEW_SESSION_TICKET = hex(`04 00 00 c9 00 00 00 1e fa d6 aa
  c5 02 00 00 00 b2 2c 03 5d 82 93 59 ee 5f f7 af 4e c9 00 00 00
  00 26 2a 64 94 dc 48 6d 2c 8a 34 cb 33 fa 90 bf 1b 00 70 ad 3c
  49 88 83 c9 36 7c 09 a2 be 78 5a bc 55 cd 22 60 97 a3 a9 82 11
  72 83 f8 2a 03 a1 43 ef d3 ff 5d d3 6d 64 e8 61 be 7f d6 1d 28
  27 db 27 9c ce 14 50 77 d4 54 a3 66 4d 4e 6d a4 d2 9e e0 37 25
  a6 a4 da fc d0 fc 67 d2 ae a7 05 29 51 3e 3d a2 67 7f a5 90 6c
  5b 3f 7d 8f 92 f2 28 bd a4 0d da 72 14 70 f9 fb f2 97 b5 ae a6
  17 64 6f ac 5c 03 27 2e 97 07 27 c6 21 a7 91 41 ef 5f 7d e6 50
  5e 5b fb c3 88 e9 33 43 69 40 93 93 4a e4 d3 57 00 08 00 2a 00
  04 00 00 04 00`);

// ---- RFC 8448 §3 secrets ----
const ECDHE_SHARED_SECRET = '8bd4054fb55b9d63fdfbacf9f04b9f0d35e6d63f537563efd46272900f89492d';
const EARLY_SECRET = '33ad0a1c607ec03b09e6cd9893680ce210adf300aa1f2660e1b22e10f170f92a';
const DERIVED_FOR_HANDSHAKE = '6f2615a108c702c5678f54fc9dbab69716c076189c48250cebeac3576c3611ba';
const HANDSHAKE_SECRET = '1dc826e93606aa6fdc0aadc12f741b01046aa6b99f691ed221a9f0ca043fbeac';
const HASH_CH_SH = '860c06edc07858ee8e78f0e7428c58edd6b43f2ca3e6e95f02ed063cf0e1cad8';
const C_HS_TRAFFIC = 'b3eddb126e067f35a780b3abf45e2d8f3b1a950738f52e9600746a0e27a55a21';
const S_HS_TRAFFIC = 'b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38';
const DERIVED_FOR_MASTER = '43de77e0c77713859a944db9db2590b53190a65b3ee2e4f12dd7a0bb7ce254b4';
const MASTER_SECRET = '18df06843d13a08bf2a449844c5f8a478001bc4d4c627984d5a41da8d0402919';
const SERVER_FINISHED_KEY = '008d3b66f816ea559f96b537e885c31fc068bf492c652f01f288a1d8cdc19fc8';
const SERVER_VERIFY_DATA = '9b9b141d906337fbd2cbdce71df4deda4ab42c309572cb7fffee5454b78f0718';
const HASH_CH_SERVER_FINISHED = '9608102a0f1ccc6db6250b7b7e417b1a000eaada3daae4777a7686c9ff83df13';
const C_AP_TRAFFIC = '9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5';
const S_AP_TRAFFIC = 'a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643';
const EXPORTER_MASTER = 'fe22f881176eda18eb8f44529e6792c50c9a3f89452f68d8ae311b4309d3cf50';
const CLIENT_FINISHED_KEY = 'b80ad01015fb2f0bd65ff7d4da5d6bf83f84821d1f87fdc7d3c75b5a7b42d9c4';
const CLIENT_VERIFY_DATA = 'a8ec436d677634ae525ac1fcebe11a039ec17694fac6e98527b642f2edd5ce61';
const HASH_CH_CLIENT_FINISHED = '209145a96ee8e2a122ff810047cc952684658d6049e86429426db87c54ad143d';
const RESUMPTION_MASTER = '7df235f2031d2a051287d02b0241b0bfdaf86cc856231f2d5aba46c434ec196c';

// ---- RFC 8448 §4 (resumed handshake): the ticket's PSK and the ClientHello's binder ----
const RESUMPTION_PSK = '4ecd0eb6ec3b4d87f5d6028f922ca4c5851a277fd41311c9e62d2c9492e1c4f3';
const PSK_EARLY_SECRET = '9b2188e9b2fc6d64d71dc329900e20bb41915000f678aa839cbb797cb7d8332c';
const BINDER_HASH = '63224b2e4573f2d3454ca84b9d009a04f6be9e05711a8396473aefa01e924a14';
const RES_BINDER_KEY = '69fe131a3bbad5d63c64eebcc30e395b9d8107726a13d074e389dbc8a4e47256';
const BINDER_FINISHED_KEY = '5588673e72cb59c87d220caffe94f2dea9a3b1609f7d50e90a48227db9ed7eaa';
const BINDER = '3add4fb2d8fdf822a0ca3cf7678ef5e88dae990141c5924d57bb6fa31b9e5f9d';
// The "send handshake record" payload (512 octets): the ClientHello with its binders.
const PSK_CLIENT_HELLO = hex(`01 00 01 fc 03 03 1b c3 ce b6 bb e3 9c ff
  93 83 55 b5 a5 0a db 6d b2 1b 7a 6a f6 49 d7 b4 bc 41 9d 78 76
  48 7d 95 00 00 06 13 01 13 03 13 02 01 00 01 cd 00 00 00 0b 00
  09 00 00 06 73 65 72 76 65 72 ff 01 00 01 00 00 0a 00 14 00 12
  00 1d 00 17 00 18 00 19 01 00 01 01 01 02 01 03 01 04 00 33 00
  26 00 24 00 1d 00 20 e4 ff b6 8a c0 5f 8d 96 c9 9d a2 66 98 34
  6c 6b e1 64 82 ba dd da fe 05 1a 66 b4 f1 8d 66 8f 0b 00 2a 00
  00 00 2b 00 03 02 03 04 00 0d 00 20 00 1e 04 03 05 03 06 03 02
  03 08 04 08 05 08 06 04 01 05 01 06 01 02 01 04 02 05 02 06 02
  02 02 00 2d 00 02 01 01 00 1c 00 02 40 01 00 15 00 57 00 00 00
  00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
  00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
  00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
  00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
  00 29 00 dd 00 b8 00 b2 2c 03 5d 82 93 59 ee 5f f7 af 4e c9 00
  00 00 00 26 2a 64 94 dc 48 6d 2c 8a 34 cb 33 fa 90 bf 1b 00 70
  ad 3c 49 88 83 c9 36 7c 09 a2 be 78 5a bc 55 cd 22 60 97 a3 a9
  82 11 72 83 f8 2a 03 a1 43 ef d3 ff 5d d3 6d 64 e8 61 be 7f d6
  1d 28 27 db 27 9c ce 14 50 77 d4 54 a3 66 4d 4e 6d a4 d2 9e e0
  37 25 a6 a4 da fc d0 fc 67 d2 ae a7 05 29 51 3e 3d a2 67 7f a5
  90 6c 5b 3f 7d 8f 92 f2 28 bd a4 0d da 72 14 70 f9 fb f2 97 b5
  ae a6 17 64 6f ac 5c 03 27 2e 97 07 27 c6 21 a7 91 41 ef 5f 7d
  e6 50 5e 5b fb c3 88 e9 33 43 69 40 93 93 4a e4 d3 57 fa d6 aa
  cb 00 21 20 3a dd 4f b2 d8 fd f8 22 a0 ca 3c f7 67 8e f5 e8 8d
  ae 99 01 41 c5 92 4d 57 bb 6f a3 1b 9e 5f 9d`);

const sha256 = cipherSuiteParams(CipherSuite.TLS_AES_128_GCM_SHA256)!.hash;

function decodeAs<K extends HandshakeMessage['kind']>(raw: Uint8Array, kind: K, sender: 'client' | 'server'): Extract<HandshakeMessage, { kind: K }> {
  const m = decodeHandshakeMessage(raw, { sender, hashLength: 32 });
  assert.is(m.kind, kind);
  return m as Extract<HandshakeMessage, { kind: K }>;
}

const server = 'server' as const;
const client = 'client' as const;
const flight: Array<[string, Uint8Array, 'client' | 'server']> = [
  ['ClientHello', CLIENT_HELLO, client],
  ['ServerHello', SERVER_HELLO, server],
  ['EncryptedExtensions', ENCRYPTED_EXTENSIONS, server],
  ['Certificate', CERTIFICATE, server],
  ['CertificateVerify', CERTIFICATE_VERIFY, server],
  ['server Finished', SERVER_FINISHED, server],
  ['client Finished', CLIENT_FINISHED, client],
  ['NewSessionTicket', NEW_SESSION_TICKET, server],
  ['resumption ClientHello (§4)', PSK_CLIENT_HELLO, client],
];

test('every RFC 8448 handshake message decodes and re-encodes byte for byte', () => {
  for (const [name, raw, sender] of flight) {
    const decoded = decodeHandshakeMessage(raw, { sender, hashLength: 32 });
    assert.is(toHex(encodeHandshakeMessage(decoded)), toHex(raw), name);
  }
});

test('the RFC 8448 ClientHello decodes into the offered parameters', () => {
  const ch = decodeAs(CLIENT_HELLO, 'client_hello', client);
  assert.equal(ch.cipherSuites, [0x1301, 0x1303, 0x1302]);
  assert.is(ch.legacySessionId.length, 0);
  assert.is(findExtension(ch.extensions, 'server_name')?.hostName, 'server');
  assert.equal(findExtension(ch.extensions, 'supported_groups')?.groups, [0x1d, 0x17, 0x18, 0x19, 0x100, 0x101, 0x102, 0x103, 0x104]);
  const shares = findExtension(ch.extensions, 'key_share')!.shares;
  assert.is(shares.length, 1);
  assert.is(shares[0].group, NamedGroup.x25519);
  assert.is(toHex(shares[0].keyExchange), '99381de560e4bd43d23d8e435a7dbafeb3c06e51c13cae4d5413691e529aaf2c');
  assert.equal(findExtension(ch.extensions, 'supported_versions')?.versions, [0x0304]);
  assert.equal(findExtension(ch.extensions, 'signature_algorithms')?.schemes.slice(0, 3), [
    SignatureScheme.ecdsa_secp256r1_sha256,
    SignatureScheme.ecdsa_secp384r1_sha384,
    SignatureScheme.ecdsa_secp521r1_sha512,
  ]);
  assert.equal(findExtension(ch.extensions, 'psk_key_exchange_modes')?.modes, [PskKeyExchangeMode.psk_dhe_ke]);
  // renegotiation_info, session_ticket and record_size_limit are carried raw, in wire order.
  assert.equal(
    ch.extensions.filter((e) => e.kind === 'raw').map((e) => (e.kind === 'raw' ? e.type : -1)),
    [0xff01, 0x23, ExtensionType.record_size_limit],
  );
});

test('the RFC 8448 server flight decodes into its fields', () => {
  const sh = decodeAs(SERVER_HELLO, 'server_hello', server);
  assert.is(sh.cipherSuite, CipherSuite.TLS_AES_128_GCM_SHA256);
  assert.is(findExtension(sh.extensions, 'supported_versions_selected')?.version, 0x0304);
  assert.is(toHex(findExtension(sh.extensions, 'key_share_selected')!.share.keyExchange), 'c9828876112095fe66762bdbf7c672e156d6cc253b833df1dd69b1b04e751f0f');
  const ee = decodeAs(ENCRYPTED_EXTENSIONS, 'encrypted_extensions', server);
  assert.equal(ee.extensions.map((e) => e.kind), ['supported_groups', 'raw', 'server_name']);
  assert.is(findExtension(ee.extensions, 'server_name')?.hostName, undefined);
  assert.is(toHex(findRawExtension(ee.extensions, ExtensionType.record_size_limit)!.data), '4001');
  const cert = decodeAs(CERTIFICATE, 'certificate', server);
  assert.is(cert.context.length, 0);
  assert.is(cert.entries.length, 1);
  assert.is(cert.entries[0].data.length, 0x1b0);
  assert.is(cert.entries[0].data[0], 0x30);
  const cv = decodeAs(CERTIFICATE_VERIFY, 'certificate_verify', server);
  assert.is(cv.algorithm, SignatureScheme.rsa_pss_rsae_sha256);
  assert.is(cv.signature.length, 128);
  const nst = decodeAs(NEW_SESSION_TICKET, 'new_session_ticket', server);
  assert.is(nst.lifetime, 30);
  assert.is(nst.ageAdd, 0xfad6aac5);
  assert.is(toHex(nst.nonce), '0000');
  assert.is(nst.ticket.length, 0xb2);
  assert.is(findExtension(nst.extensions, 'early_data_ticket')?.maxEarlyDataSize, 1024);
});

test('the RFC 8448 ticket would be refused over QUIC: max_early_data_size is not 0xffffffff (RFC 9001 §4.6.1)', () => {
  const nst = decodeAs(NEW_SESSION_TICKET, 'new_session_ticket', server);
  try {
    checkQuicNewSessionTicket(nst);
    assert.unreachable('accepted');
  } catch (e) {
    assert.ok(isQuicError(e, 0x0a), String(e));
  }
});

for (const provider of providers) {
  test(`[${provider.name}] the transcript over the RFC 8448 messages gives the RFC's hashes`, () => {
    const t = new Transcript(provider);
    t.add(CLIENT_HELLO);
    t.selectHash(sha256); // the client learns the hash from the ServerHello
    t.add(SERVER_HELLO);
    assert.is(toHex(t.hash()), HASH_CH_SH);
    for (const m of [ENCRYPTED_EXTENSIONS, CERTIFICATE, CERTIFICATE_VERIFY, SERVER_FINISHED]) t.add(m);
    assert.is(toHex(t.hash()), HASH_CH_SERVER_FINISHED);
    t.add(CLIENT_FINISHED);
    assert.is(toHex(t.hash()), HASH_CH_CLIENT_FINISHED);
  });

  test(`[${provider.name}] the key schedule reproduces every RFC 8448 §3 secret`, () => {
    const ks = new KeySchedule(provider, 'sha256');
    assert.is(toHex(ks.deriveEarlySecret()), EARLY_SECRET);
    const emptyHash = provider.digest('sha256', new Uint8Array(0));
    assert.is(toHex(deriveSecret(provider, 'sha256', hex(EARLY_SECRET), 'derived', emptyHash)), DERIVED_FOR_HANDSHAKE);
    assert.is(toHex(ks.deriveHandshakeSecret(hex(ECDHE_SHARED_SECRET))), HANDSHAKE_SECRET);
    const hs = ks.handshakeTrafficSecrets(hex(HASH_CH_SH));
    assert.is(hs.level, 'handshake');
    assert.is(toHex(hs.client), C_HS_TRAFFIC);
    assert.is(toHex(hs.server), S_HS_TRAFFIC);
    assert.is(toHex(deriveSecret(provider, 'sha256', hex(HANDSHAKE_SECRET), 'derived', emptyHash)), DERIVED_FOR_MASTER);
    assert.is(toHex(ks.deriveMasterSecret()), MASTER_SECRET);
    const ap = ks.applicationTrafficSecrets(hex(HASH_CH_SERVER_FINISHED));
    assert.is(ap.level, 'oneRtt');
    assert.is(toHex(ap.client), C_AP_TRAFFIC);
    assert.is(toHex(ap.server), S_AP_TRAFFIC);
    assert.is(toHex(ks.exporterMasterSecret(hex(HASH_CH_SERVER_FINISHED))), EXPORTER_MASTER);
    assert.is(toHex(ks.resumptionMasterSecret(hex(HASH_CH_CLIENT_FINISHED))), RESUMPTION_MASTER);
    assert.is(toHex(finishedKey(provider, 'sha256', hs.server)), SERVER_FINISHED_KEY);
    assert.is(toHex(finishedKey(provider, 'sha256', hs.client)), CLIENT_FINISHED_KEY);
  });

  test(`[${provider.name}] both RFC 8448 Finished messages are computed and verified from the transcript`, () => {
    const t = new Transcript(provider, 'sha256');
    for (const m of [CLIENT_HELLO, SERVER_HELLO, ENCRYPTED_EXTENSIONS, CERTIFICATE, CERTIFICATE_VERIFY]) t.add(m);
    const serverBase = hex(S_HS_TRAFFIC);
    const serverVerify = finishedVerifyData(provider, 'sha256', serverBase, t.hash());
    assert.is(toHex(serverVerify), SERVER_VERIFY_DATA);
    const received = decodeAs(SERVER_FINISHED, 'finished', server);
    verifyFinished(provider, 'sha256', serverBase, t.hash(), received.verifyData);
    assert.is(toHex(encodeHandshakeMessage({ kind: 'finished', verifyData: serverVerify })), toHex(SERVER_FINISHED));
    t.add(SERVER_FINISHED);
    const clientVerify = finishedVerifyData(provider, 'sha256', hex(C_HS_TRAFFIC), t.hash());
    assert.is(toHex(clientVerify), CLIENT_VERIFY_DATA);
    assert.is(toHex(encodeHandshakeMessage({ kind: 'finished', verifyData: clientVerify })), toHex(CLIENT_FINISHED));
  });

  test(`[${provider.name}] a Finished that differs in one bit is refused with decrypt_error`, () => {
    const t = new Transcript(provider, 'sha256');
    for (const m of [CLIENT_HELLO, SERVER_HELLO, ENCRYPTED_EXTENSIONS, CERTIFICATE, CERTIFICATE_VERIFY]) t.add(m);
    for (const bit of [0, 7, 100, 255]) {
      const forged = hex(SERVER_VERIFY_DATA);
      forged[bit >> 3] ^= 1 << (bit & 7);
      try {
        verifyFinished(provider, 'sha256', hex(S_HS_TRAFFIC), t.hash(), forged);
        assert.unreachable('accepted');
      } catch (e) {
        assert.ok(isTlsAlertError(e, TlsAlert.decrypt_error), String(e));
      }
    }
  });

  test(`[${provider.name}] the RFC 8448 §4 PSK, early secret, binder key and binder are reproduced`, () => {
    const nst = decodeAs(NEW_SESSION_TICKET, 'new_session_ticket', server);
    const psk = resumptionPsk(provider, 'sha256', hex(RESUMPTION_MASTER), nst.nonce);
    assert.is(toHex(psk), RESUMPTION_PSK);
    const ks = new KeySchedule(provider, 'sha256');
    assert.is(toHex(ks.deriveEarlySecret(psk)), PSK_EARLY_SECRET);
    const binderKey = ks.binderKey('resumption');
    assert.is(toHex(binderKey), RES_BINDER_KEY);
    assert.is(toHex(finishedKey(provider, 'sha256', binderKey)), BINDER_FINISHED_KEY);

    const ch = decodeAs(PSK_CLIENT_HELLO, 'client_hello', client);
    const psks = findExtension(ch.extensions, 'pre_shared_key')!;
    assert.equal(toHex(psks.identities[0].identity), toHex(nst.ticket));
    const truncated = truncateClientHelloForBinders(PSK_CLIENT_HELLO, ch);
    assert.is(truncated.length, 477);
    const binderHash = new Transcript(provider).hashWith(truncated, 'sha256');
    assert.is(toHex(binderHash), BINDER_HASH);
    assert.is(toHex(finishedVerifyData(provider, 'sha256', binderKey, binderHash)), BINDER);
    verifyPskBinder(provider, 'sha256', binderKey, binderHash, psks.binders[0]);
  });
}

test('a client fills placeholder binders into its encoded ClientHello to obtain the RFC 8448 §4 bytes', () => {
  const ch = decodeAs(PSK_CLIENT_HELLO, 'client_hello', client) as ClientHello;
  const psks = findExtension(ch.extensions, 'pre_shared_key')!;
  const placeholder: ClientHello = {
    ...ch,
    extensions: ch.extensions.map((e) => (e.kind === 'pre_shared_key' ? { ...psks, binders: [new Uint8Array(32)] } : e)),
  };
  const raw = encodeHandshakeMessage(placeholder);
  assert.is(toHex(truncateClientHelloForBinders(raw, placeholder)), toHex(PSK_CLIENT_HELLO.subarray(0, 477)));
  setClientHelloBinders(raw, placeholder, [hex(BINDER)]);
  assert.is(toHex(raw), toHex(PSK_CLIENT_HELLO));
});

test('RFC 8448 §4 ClientHello carries early_data, padding and a PSK offer', () => {
  const ch = decodeAs(PSK_CLIENT_HELLO, 'client_hello', client);
  assert.ok(findExtension(ch.extensions, 'early_data'));
  assert.is(findRawExtension(ch.extensions, ExtensionType.padding)?.data.length, 0x57);
  const psks = findExtension(ch.extensions, 'pre_shared_key')!;
  assert.is(psks.identities.length, 1);
  assert.is(psks.identities[0].obfuscatedTicketAge, 0xfad6aacb);
  assert.is(ch.extensions[ch.extensions.length - 1].kind, 'pre_shared_key');
  assert.is(alpnName(new Uint8Array([0x68, 0x33])), 'h3');
});

test.run();
