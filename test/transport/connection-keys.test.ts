// The connection's packet protection keys: levels and discarding (RFC 9001 §4.9) and the 1-RTT key
// phases of key updates (RFC 9001 §6), as unit tests of KeyManager / OneRttKeys.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { derivePacketKeys, nextGenerationKeys, type PacketKeys } from '../../src/crypto/keys.js';
import { nodeCrypto } from '../../src/crypto/node.js';
import { cipherSuiteParams } from '../../src/tls/cipher-suites.js';
import { KeyManager, OneRttKeys } from '../../src/transport/key-manager.js';
import { isQuicError, TransportErrorCode } from '../../src/wire/errors.js';
import { QUIC_V1 } from '../../src/wire/version.js';

const SUITE = cipherSuiteParams(0x1301)!;
const secretA = new Uint8Array(32).fill(0xa1);
const secretB = new Uint8Array(32).fill(0xb2);
const keys = (secret: Uint8Array): PacketKeys => derivePacketKeys(nodeCrypto, QUIC_V1, SUITE.aead, SUITE.hash, secret);

/** Our 1-RTT state: we write with A's secret and read with B's. */
function ours(): OneRttKeys {
  const k = new OneRttKeys(nodeCrypto);
  k.setWrite(keys(secretA), 0);
  k.setRead(keys(secretB));
  return k;
}

function sameKeys(a: PacketKeys | undefined, b: PacketKeys): boolean {
  return a !== undefined && Buffer.from(a.key).equals(Buffer.from(b.key)) && Buffer.from(a.iv).equals(Buffer.from(b.iv));
}

const keyUpdateError = (e: unknown): boolean => isQuicError(e, TransportErrorCode.KEY_UPDATE_ERROR);

test('the Key Phase bit selects current keys, and the next generation for the other phase', () => {
  const k = ours();
  const cur = k.select(0, 10)!;
  assert.is(cur.slot, 'current');
  assert.ok(sameKeys(cur.keys, keys(secretB)));
  const next = k.select(1, 11)!;
  assert.is(next.slot, 'next');
  assert.ok(sameKeys(next.keys, nextGenerationKeys(nodeCrypto, keys(secretB))), 'next = HKDF-Expand-Label(secret, "quic ku")');
});

test('a packet opening with the next keys is a peer-initiated update: read keys rotate and the write keys follow (RFC 9001 §6.2)', () => {
  const k = ours();
  k.onOpened('current', 5, 0, 100, 20);
  assert.is(k.writePhase, 0);
  k.onOpened('next', 9, 1000, 100, 20);
  assert.is(k.readGeneration, 1);
  assert.is(k.writeGeneration, 1, 'answered');
  assert.is(k.writePhase, 1);
  assert.is(k.keyUpdates, 1);
  assert.ok(sameKeys(k.write, nextGenerationKeys(nodeCrypto, keys(secretA))));
  // Packets of the old phase below the first of the new phase use the previous keys (RFC 9001 §6.5).
  const old = k.select(0, 7)!;
  assert.is(old.slot, 'previous');
  assert.ok(sameKeys(old.keys, keys(secretB)));
  assert.is(k.select(0, 12)!.slot, 'next', 'higher packet numbers of the other phase are the next generation');
  assert.is(k.previousKeysDiscardAt, 1300, 'kept for three PTOs');
  k.onTimeout(1299);
  assert.is(k.select(0, 7)!.slot, 'previous');
  k.onTimeout(1300);
  assert.is(k.select(0, 7)!.slot, 'next', 'discarded after three PTOs');
});

test('a second peer update before we sent an ACK with the new keys is a KEY_UPDATE_ERROR; after one it is accepted', () => {
  const k = ours();
  k.onOpened('next', 9, 0, 100, 20); // the peer goes to generation 1; we answer from packet 20
  assert.throws(() => k.onOpened('next', 30, 0, 100, 21), keyUpdateError);
  const k2 = ours();
  k2.onOpened('next', 9, 0, 100, 20);
  k2.onAckSent(19); // an ACK in a packet of the old generation does not count
  assert.throws(() => k2.onOpened('next', 30, 0, 100, 21), keyUpdateError);
  const k3 = ours();
  k3.onOpened('next', 9, 0, 100, 20);
  k3.onAckSent(20); // packet 20 is the first of generation 1
  k3.onOpened('next', 30, 0, 100, 40);
  assert.is(k3.readGeneration, 2);
  assert.is(k3.writeGeneration, 2);
});

test('the peer answering our own update is never mistaken for a second update', () => {
  const k = ours();
  k.onOpened('next', 9, 0, 100, 20); // the peer starts generation 1; we answer, no ACK sent yet
  k.onAckReceived(20, 1, 10, 100); // it acknowledges our generation-1 packet
  k.initiate(50); // we start generation 2 ourselves, allowed (RFC 9001 §6.1) after three PTOs …
  k.onOpened('next', 40, 400, 100, 60); // … and the peer's answer opens with the next keys
  assert.is(k.readGeneration, 2);
  assert.is(k.writeGeneration, 2);
});

test('initiating needs an acknowledgement of a packet of the current phase, then three PTOs after a confirmed update (RFC 9001 §6.1, §6.5)', () => {
  const k = ours();
  assert.not.ok(k.canInitiate(0), 'nothing of generation 0 acknowledged yet');
  k.onAckReceived(3, 0, 0, 100);
  assert.ok(k.canInitiate(0));
  k.initiate(10);
  assert.is(k.writeGeneration, 1);
  assert.not.ok(k.canInitiate(0), 'the peer has not answered');
  k.onOpened('next', 50, 100, 100, 12); // the peer answers
  assert.not.ok(k.canInitiate(100), 'packet 10 (generation 1) not acknowledged yet');
  k.onAckReceived(10, 1, 200, 100);
  assert.not.ok(k.canInitiate(499), 'within three PTOs of the confirming ACK');
  assert.ok(k.canInitiate(500));
});

test('an ACK carried with old keys that acknowledges a packet sent with newer keys is a KEY_UPDATE_ERROR', () => {
  const k = ours();
  k.onAckReceived(3, 0, 0, 100);
  k.initiate(10);
  assert.throws(() => k.onAckReceived(12, 0, 5, 100), keyUpdateError, 'the peer saw generation 1 but answered with generation 0');
  k.onAckReceived(9, 0, 5, 100); // acknowledging older packets with old keys is fine
});

test('KeyManager: Initial keys from the connection ID; discarded levels stay discarded', () => {
  const km = new KeyManager(nodeCrypto, QUIC_V1);
  km.setInitial(QUIC_V1, new Uint8Array(8).fill(1), 'client');
  assert.ok(km.sendKeys('initial') !== undefined && km.readKeys('initial') !== undefined);
  km.install('handshake', 'write', SUITE, secretA, 0);
  km.install('handshake', 'read', SUITE, secretB, 0);
  assert.ok(sameKeys(km.sendKeys('handshake'), keys(secretA)));
  km.discard('handshake');
  assert.ok(km.isDiscarded('handshake'));
  km.install('handshake', 'write', SUITE, secretA, 0);
  assert.is(km.sendKeys('handshake'), undefined, 'never installed again');
  assert.is(km.sendKeys('zeroRtt'), undefined, '0-RTT is not implemented');
});

test.run();
