/**
 * The packet protection keys of one connection (RFC 9001 §4.9, §5, §6): read and write keys per
 * encryption level, their discarding, and the 1-RTT key phases of key updates.
 *
 * Initial keys come from the client's Destination Connection ID (RFC 9001 §5.2); Handshake and
 * 1-RTT keys from the TLS traffic secrets (RFC 9001 §5.1), derived with the negotiated suite's
 * AEAD and hash and the version's labels (RFC 9369 §3.3.2). A discarded level never gets keys
 * again.
 *
 * 1-RTT key phases ({@link OneRttKeys}, RFC 9001 §6): the write keys of the current generation,
 * and three read slots — current, next (derived in advance, so that trying it reveals nothing
 * through timing, §6.3) and previous (kept for three PTOs after the peer's first packet with new
 * keys, for reordered packets, §6.5). The slot for a packet is chosen by its Key Phase bit and,
 * between previous and next (which share a phase bit), by its packet number (§6.5).
 *
 * @module
 */
import { derivePacketKeys, initialKeys, nextGenerationKeys, type PacketKeys } from '../crypto/keys.js';
import type { CryptoProvider } from '../crypto/provider.js';
import type { CipherSuiteParams } from '../tls/cipher-suites.js';
import { QuicError, TransportErrorCode } from '../wire/errors.js';
import type { EncryptionLevel } from '../wire/levels.js';
import type { QuicVersion } from '../wire/version.js';

/** Which 1-RTT read keys a packet is tried with (RFC 9001 §6.3, §6.5). */
export type ReadKeySlot = 'current' | 'next' | 'previous';

/** A key generation and the first packet number sent with it. */
interface WriteStart {
  readonly generation: number;
  readonly packetNumber: number;
}

/**
 * The 1-RTT keys and key update state (RFC 9001 §6).
 *
 * Generations count key updates: the write keys are of generation {@link writeGeneration}, the
 * current read keys of {@link readGeneration}. We initiate an update by moving the write keys one
 * generation ahead ({@link initiate}); the peer answers with packets of that generation, which open
 * with the next read keys and bring the read side level ({@link onOpened}). When the peer
 * initiates, a packet opening with the next read keys moves the read side ahead and the write
 * keys follow at once (RFC 9001 §6.2: "Sending keys MUST be updated before sending an
 * acknowledgment for the packet that was received with updated keys").
 */
export class OneRttKeys {
  private readonly provider: CryptoProvider;
  private writeKeys: PacketKeys | undefined;
  private readCurrent: PacketKeys | undefined;
  private readNext: PacketKeys | undefined;
  private readPrevious: PacketKeys | undefined;
  private previousDiscardAt: number | undefined;
  private readGen = 0;
  private writeGen = 0;
  /** Lowest packet number opened with the current read keys. */
  private firstCurrentPn: number | undefined;
  /** First packet number sent with each recent write generation, ascending. */
  private readonly writeStarts: WriteStart[] = [];
  /** Highest write generation a packet of which the peer acknowledged. */
  private ackedGen = -1;
  /** A new key update may not start before this time (RFC 9001 §6.5: three PTOs after the ACK confirming the previous one). */
  private notBefore = Number.NEGATIVE_INFINITY;
  /** The peer initiated an update we answered; no 1-RTT ACK has left with the new keys yet (RFC 9001 §6.2). */
  private awaitingAckSent = false;
  /** The write generation of that answer. */
  private answeredGen = 0;
  private updates = 0;

  /** Creates the 1-RTT key state; keys arrive with {@link setWrite} and {@link setRead}. */
  constructor(provider: CryptoProvider) {
    this.provider = provider;
  }

  /** The handshake's 1-RTT write keys (generation 0); `firstPacketNumber` is the next application packet number. */
  setWrite(keys: PacketKeys, firstPacketNumber: number): void {
    this.writeKeys = keys;
    this.writeStarts.push({ generation: 0, packetNumber: firstPacketNumber });
  }

  /** The handshake's 1-RTT read keys (generation 0); the next generation is derived at once (RFC 9001 §6.3). */
  setRead(keys: PacketKeys): void {
    this.readCurrent = keys;
    this.readNext = nextGenerationKeys(this.provider, keys);
  }

  /** The current write keys, undefined before TLS provided them. */
  get write(): PacketKeys | undefined {
    return this.writeKeys;
  }

  /** Keys whose header-protection key removes 1-RTT header protection: the same in every key phase (RFC 9001 §6.1). */
  get headerProtectionKeys(): PacketKeys | undefined {
    return this.readCurrent;
  }

  /** True once the read keys are installed. */
  get canRead(): boolean {
    return this.readCurrent !== undefined;
  }

  /** The Key Phase bit of the write keys. */
  get writePhase(): 0 | 1 {
    return (this.writeGen & 1) as 0 | 1;
  }

  /** The Key Phase bit of the current read keys. */
  get readPhase(): 0 | 1 {
    return (this.readGen & 1) as 0 | 1;
  }

  /** Generation of the write keys (0 for the handshake's keys). */
  get writeGeneration(): number {
    return this.writeGen;
  }

  /** Generation of the current read keys. */
  get readGeneration(): number {
    return this.readGen;
  }

  /** Key updates done, initiated or answered. */
  get keyUpdates(): number {
    return this.updates;
  }

  /** When the previous read keys are to be discarded, if they are held. */
  get previousKeysDiscardAt(): number | undefined {
    return this.previousDiscardAt;
  }

  /**
   * The read keys to try for a packet with Key Phase `phase` and packet number `pn` (RFC 9001
   * §6.5): the current keys for the current phase; for the other phase the previous keys when `pn`
   * is below every packet number of the current phase and they are still held, else the next keys.
   */
  select(phase: 0 | 1, pn: number): { readonly keys: PacketKeys; readonly slot: ReadKeySlot } | undefined {
    const slot = this.selectSlot(phase, pn);
    return slot === undefined ? undefined : { keys: this.keysIn(slot), slot };
  }

  /** {@link select} without a result object (the receive path): the slot, undefined before the read keys are installed. */
  selectSlot(phase: 0 | 1, pn: number): ReadKeySlot | undefined {
    if (this.readCurrent === undefined) return undefined;
    if (phase === this.readPhase) return 'current';
    if (this.readPrevious !== undefined && this.firstCurrentPn !== undefined && pn < this.firstCurrentPn) return 'previous';
    return 'next';
  }

  /** The read keys held in `slot` (after {@link selectSlot} chose it). */
  keysIn(slot: ReadKeySlot): PacketKeys {
    return (slot === 'current' ? this.readCurrent : slot === 'previous' ? this.readPrevious : this.readNext) as PacketKeys;
  }

  /** The generation of the keys in `slot` (before {@link onOpened} moves them). */
  generationOf(slot: ReadKeySlot): number {
    return slot === 'current' ? this.readGen : slot === 'next' ? this.readGen + 1 : this.readGen - 1;
  }

  /**
   * A packet numbered `pn` opened with the keys of `slot`. With the next keys, the read keys move
   * a generation ahead (previous ← current ← next, and a new next), the previous keys are kept
   * until `now + 3 × pto` (RFC 9001 §6.5), and, when the peer initiated the update, the write keys
   * follow (RFC 9001 §6.2); `nextPacketNumber` is the next application packet number.
   *
   * @throws QuicError(KEY_UPDATE_ERROR) when the peer updates again before we sent an ACK with the
   *   keys of its previous update (RFC 9001 §6.2).
   */
  onOpened(slot: ReadKeySlot, pn: number, now: number, pto: number, nextPacketNumber: number): void {
    if (slot === 'current') {
      if (this.firstCurrentPn === undefined || pn < this.firstCurrentPn) this.firstCurrentPn = pn;
      return;
    }
    if (slot === 'previous') return;
    // Only an update the peer initiates (not its answer to ours: our write keys are then ahead) can
    // be a second one before our acknowledgement.
    if (this.awaitingAckSent && this.writeGen === this.readGen) {
      throw new QuicError(TransportErrorCode.KEY_UPDATE_ERROR, `key update to generation ${this.readGen + 1} before we acknowledged the update to generation ${this.readGen}`);
    }
    this.readPrevious = this.readCurrent;
    this.previousDiscardAt = now + 3 * pto;
    this.readCurrent = this.readNext as PacketKeys;
    this.readNext = nextGenerationKeys(this.provider, this.readCurrent);
    this.readGen += 1;
    this.firstCurrentPn = pn;
    if (this.writeGen < this.readGen) {
      // The peer initiated: answer (RFC 9001 §6.2).
      this.advanceWrite(nextPacketNumber);
      this.awaitingAckSent = true;
      this.answeredGen = this.writeGen;
    } else {
      // The peer answered our update.
      this.awaitingAckSent = false;
    }
  }

  /**
   * True when a key update may start at `now` (RFC 9001 §6.1, §6.5): the peer has answered the
   * previous update (read and write generations agree), acknowledged a packet sent with the
   * current write keys, and three PTOs passed since that acknowledgement confirmed a previous update.
   * The caller also requires the handshake to be confirmed.
   */
  canInitiate(now: number): boolean {
    return this.writeKeys !== undefined && this.readCurrent !== undefined && this.readGen === this.writeGen && this.ackedGen >= this.writeGen && now >= this.notBefore;
  }

  /** Starts a key update (RFC 9001 §6.1): the write keys move a generation ahead; `nextPacketNumber` is the first packet number they protect. */
  initiate(nextPacketNumber: number): void {
    this.advanceWrite(nextPacketNumber);
  }

  private advanceWrite(nextPacketNumber: number): void {
    this.writeKeys = nextGenerationKeys(this.provider, this.writeKeys as PacketKeys);
    this.writeGen += 1;
    this.updates += 1;
    this.writeStarts.push({ generation: this.writeGen, packetNumber: nextPacketNumber });
    // Only the generations an ACK can still concern are kept.
    if (this.writeStarts.length > 4) this.writeStarts.shift();
  }

  /** The write generation that protected application packet `pn`. */
  private generationOfSent(pn: number): number {
    let gen = 0;
    for (const s of this.writeStarts) if (pn >= s.packetNumber) gen = s.generation;
    return gen;
  }

  /**
   * An ACK frame, carried by a packet opened with keys of generation `carrierGeneration`,
   * acknowledged application packets up to `largestAcked` at `now`.
   *
   * @throws QuicError(KEY_UPDATE_ERROR) when it acknowledges a packet sent with newer keys than
   *   those protecting the ACK: the peer received the update but did not follow it (RFC 9001 §6.2).
   */
  onAckReceived(largestAcked: number, carrierGeneration: number, now: number, pto: number): void {
    const gen = this.generationOfSent(largestAcked);
    if (gen > carrierGeneration) {
      throw new QuicError(
        TransportErrorCode.KEY_UPDATE_ERROR,
        `ACK in a packet of key generation ${carrierGeneration} acknowledges packet ${largestAcked}, sent with generation ${gen}: the peer did not update its keys`,
        { frameType: 0x02 },
      );
    }
    if (gen > this.ackedGen) {
      this.ackedGen = gen;
      // RFC 9001 §6.5: wait three PTOs after the ACK confirming an update before the next one.
      if (gen >= 1) this.notBefore = now + 3 * pto;
    }
  }

  /**
   * 1-RTT packet `pn`, carrying an ACK frame, was sent: once it is protected with the keys of (or
   * after) an update the peer started, that update is complete (RFC 9001 §6.2). Packets are
   * reported after their datagram is built, possibly after a later update: the generation is read
   * from the packet number, not from the current key phase.
   */
  onAckSent(pn: number): void {
    if (this.awaitingAckSent && this.generationOfSent(pn) >= this.answeredGen) this.awaitingAckSent = false;
  }

  /** Discards the previous read keys once their time is up (RFC 9001 §6.5). */
  onTimeout(now: number): void {
    if (this.previousDiscardAt !== undefined && now >= this.previousDiscardAt) {
      this.readPrevious = undefined;
      this.previousDiscardAt = undefined;
    }
  }

  /** Forgets every key (the connection is closed). */
  clear(): void {
    this.writeKeys = this.readCurrent = this.readNext = this.readPrevious = undefined;
    this.previousDiscardAt = undefined;
  }
}

/** The levels whose keys come in read/write pairs from the connection ID (Initial) or TLS (Handshake), and are discarded during the handshake. */
export type PairLevel = 'initial' | 'handshake';

/**
 * Every packet protection key of a connection: Initial, Handshake and 1-RTT (0-RTT is not
 * implemented: a client never offers early data and a server drops 0-RTT packets).
 */
export class KeyManager {
  private readonly provider: CryptoProvider;
  private versionValue: QuicVersion;
  private readonly read: Record<PairLevel, PacketKeys | undefined> = { initial: undefined, handshake: undefined };
  private readonly writeKeys: Record<PairLevel, PacketKeys | undefined> = { initial: undefined, handshake: undefined };
  private readonly discarded: Record<PairLevel, boolean> = { initial: false, handshake: false };
  /** The 1-RTT keys and key phases. */
  readonly oneRtt: OneRttKeys;

  /** Creates an empty key set for `version`. */
  constructor(provider: CryptoProvider, version: QuicVersion) {
    this.provider = provider;
    this.versionValue = version;
    this.oneRtt = new OneRttKeys(provider);
  }

  /** The version whose labels derive the keys (RFC 9369 §3.3.2). */
  get version(): QuicVersion {
    return this.versionValue;
  }

  /**
   * Installs the Initial keys for `version` from the client's Destination Connection ID
   * (RFC 9001 §5.2), replacing earlier ones (after a Retry or a Version Negotiation).
   */
  setInitial(version: QuicVersion, clientDcid: Uint8Array, role: 'client' | 'server'): void {
    this.versionValue = version;
    const k = initialKeys(this.provider, version, clientDcid, role);
    this.read.initial = k.receive;
    this.writeKeys.initial = k.send;
  }

  /**
   * Installs the keys of a TLS traffic secret (RFC 9001 §5.1). `nextPacketNumber` is the next
   * application packet number (the first protected by the 1-RTT write keys). Ignored for a level
   * already discarded.
   */
  install(level: 'handshake' | 'oneRtt', direction: 'read' | 'write', suite: CipherSuiteParams, secret: Uint8Array, nextPacketNumber: number): void {
    const keys = derivePacketKeys(this.provider, this.versionValue, suite.aead, suite.hash, secret);
    if (level === 'oneRtt') {
      if (direction === 'read') this.oneRtt.setRead(keys);
      else this.oneRtt.setWrite(keys, nextPacketNumber);
      return;
    }
    if (this.discarded.handshake) return;
    if (direction === 'read') this.read.handshake = keys;
    else this.writeKeys.handshake = keys;
  }

  /** The write keys of `level` (for 1-RTT, the current generation), undefined when absent or discarded. */
  sendKeys(level: EncryptionLevel): PacketKeys | undefined {
    if (level === 'oneRtt') return this.oneRtt.write;
    if (level === 'zeroRtt') return undefined;
    return this.writeKeys[level];
  }

  /** The read keys of an Initial or Handshake packet, undefined when absent or discarded. */
  readKeys(level: PairLevel): PacketKeys | undefined {
    return this.read[level];
  }

  /** True once `level`'s keys were discarded (RFC 9001 §4.9): its packets are dropped for good. */
  isDiscarded(level: EncryptionLevel): boolean {
    return level === 'initial' || level === 'handshake' ? this.discarded[level] : false;
  }

  /** Discards the keys of `level` (RFC 9001 §4.9.1, §4.9.2). */
  discard(level: PairLevel): void {
    this.discarded[level] = true;
    this.read[level] = undefined;
    this.writeKeys[level] = undefined;
  }

  /** Forgets every key (the connection is closed). */
  clear(): void {
    this.discard('initial');
    this.discard('handshake');
    this.oneRtt.clear();
  }
}
