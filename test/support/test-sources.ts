/**
 * Test support for the packet builder: simple {@link FrameSource}s, a controllable fake
 * {@link BuilderContext} with real keys (and the peer's independently derived keys), and a
 * peer-side decoder that unprotects and parses what the builder produced.
 *
 * @module
 */
import { derivePacketKeys, initialKeys, nextGenerationKeys, type PacketKeys } from '../../src/crypto/keys.js';
import { nodeCrypto } from '../../src/crypto/node.js';
import { openPacket, removeHeaderProtection } from '../../src/crypto/packet-protection.js';
import type { AeadAlgorithm, CryptoProvider, HashAlgorithm } from '../../src/crypto/provider.js';
import type { BuilderContext, KeyUpdateBudget } from '../../src/packet/context.js';
import { PacketNumberState, type PacketNumberSkipPolicy } from '../../src/packet/packet-numbers.js';
import type { RandomSource } from '../../src/packet/random.js';
import type { FrameSource, PacketWriter, SendLimits, SentFrame, SentPacket } from '../../src/packet/types.js';
import { TransportErrorCode } from '../../src/wire/errors.js';
import {
  decodeFrames,
  encodeFrame,
  fitCryptoFrame,
  fitStreamFrame,
  frameSize,
  isAckEliciting,
  writeAckFrame,
  writeCryptoFrame,
  writeStreamFrame,
  type AckRange,
  type Frame,
} from '../../src/wire/frames/index.js';
import { iteratePackets } from '../../src/wire/header.js';
import { spaceOf, type EncryptionLevel, type PacketNumberSpace } from '../../src/wire/levels.js';
import { QUIC_V1, type QuicVersion } from '../../src/wire/version.js';

// ------------------------------------------------------------------------------------------------
// Randomness
// ------------------------------------------------------------------------------------------------

/** A deterministic {@link RandomSource} (mulberry32). */
export function seededRandom(seed: number): RandomSource {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000;
  };
  return { nextInt: (bound: number) => Math.floor(next() * bound) };
}

/** A {@link RandomSource} that returns the given values in turn (each taken modulo the bound), then 0. */
export function scriptedRandom(values: readonly number[]): RandomSource {
  let i = 0;
  return { nextInt: (bound: number) => (i < values.length ? values[i++] % bound : 0) };
}

// ------------------------------------------------------------------------------------------------
// Keys
// ------------------------------------------------------------------------------------------------

/** Keys of one level: ours to send with, and the peer's to receive with (derived independently). */
export interface LevelKeys {
  /** Our write keys. */
  readonly send: PacketKeys;
  /** The peer's read keys for the same direction. */
  readonly peer: PacketKeys;
}

/** Suites for the non-Initial levels. */
export const SUITES: ReadonlyArray<{ readonly algorithm: AeadAlgorithm; readonly hash: HashAlgorithm }> = [
  { algorithm: 'aes-128-gcm', hash: 'sha256' },
  { algorithm: 'aes-256-gcm', hash: 'sha384' },
  { algorithm: 'chacha20-poly1305', hash: 'sha256' },
];

/** Initial keys of `role` for a client DCID, and the peer's receive side. */
export function initialLevelKeys(provider: CryptoProvider, version: number, clientDcid: Uint8Array, role: 'client' | 'server'): LevelKeys {
  const ours = initialKeys(provider, version, clientDcid, role);
  const theirs = initialKeys(provider, version, clientDcid, role === 'client' ? 'server' : 'client');
  return { send: ours.send, peer: theirs.receive };
}

/** Keys from a fresh random secret of the suite's hash length. */
export function randomLevelKeys(provider: CryptoProvider, version: number, algorithm: AeadAlgorithm = 'aes-128-gcm', hash: HashAlgorithm = 'sha256', seed = 1): LevelKeys {
  const secret = new Uint8Array(hash === 'sha384' ? 48 : 32);
  for (let i = 0; i < secret.length; i++) secret[i] = (seed * 31 + i * 7) & 0xff;
  return {
    send: derivePacketKeys(provider, version, algorithm, hash, secret),
    peer: derivePacketKeys(provider, version, algorithm, hash, secret.slice()),
  };
}

// ------------------------------------------------------------------------------------------------
// Limits and context
// ------------------------------------------------------------------------------------------------

/** Controllable {@link SendLimits}: plain mutable numbers. */
export class FakeLimits implements SendLimits {
  /** min(path MTU, peer max_udp_payload_size). */
  mds = 1200;
  /** Anti-amplification budget left. */
  amplification = Number.POSITIVE_INFINITY;
  /** Congestion window left. */
  congestion = Number.POSITIVE_INFINITY;
  /** Pacer allowance. */
  pacing = Number.POSITIVE_INFINITY;
  /** Times pacingAllowance was asked, with its `now`. */
  readonly pacingAsked: number[] = [];
  maxDatagramSize(): number {
    return this.mds;
  }
  amplificationBudget(): number {
    return this.amplification;
  }
  congestionAllowance(): number {
    return this.congestion;
  }
  pacingAllowance(now: number): number {
    this.pacingAsked.push(now);
    return this.pacing;
  }
}

/** Options of {@link FakeContext}. */
export interface FakeContextOptions {
  /** Endpoint role; default client. */
  role?: 'client' | 'server';
  /** QUIC version; default v1. */
  version?: QuicVersion;
  /** Destination CID; default 8 bytes. */
  dcid?: Uint8Array;
  /** Source CID; default 8 bytes. */
  scid?: Uint8Array;
  /** Initial token (client); default empty. */
  token?: Uint8Array;
  /** Crypto provider; default node. */
  provider?: CryptoProvider;
  /** Levels to install keys for at construction; default all the role may use. */
  levels?: readonly EncryptionLevel[];
  /** Suite for the non-Initial levels. */
  algorithm?: AeadAlgorithm;
  /** Hash of that suite. */
  hash?: HashAlgorithm;
  /** Frame cap. */
  maxFramesPerPacket?: number;
  /** Key update budget. */
  keyUpdateBudget?: KeyUpdateBudget;
  /** Packet number skip policy per space (default: none anywhere, so tests are predictable). */
  skip?: Partial<Record<PacketNumberSpace, PacketNumberSkipPolicy | false>>;
  /** Random source; default seeded. */
  random?: RandomSource;
  /** Fixed bit greasing allowed (RFC 9287). */
  greaseFixedBit?: boolean;
}

/**
 * A {@link BuilderContext} for tests: real keys (ours and the peer's), controllable limits and key
 * availability, and everything the builder emits recorded.
 */
export class FakeContext implements BuilderContext {
  readonly role: 'client' | 'server';
  readonly limits = new FakeLimits();
  readonly random: RandomSource;
  maxFramesPerPacket: number | undefined;
  keyUpdateBudget: KeyUpdateBudget | undefined;
  readonly provider: CryptoProvider;
  versionValue: QuicVersion;
  dcid: Uint8Array;
  scid: Uint8Array | undefined;
  token: Uint8Array;
  /** Keys per level (undefined: not installed). */
  readonly keys: Partial<Record<EncryptionLevel, LevelKeys>> = {};
  /** Every 1-RTT key generation so far, ours and the peer's (index = generation). */
  readonly oneRttGenerations: LevelKeys[] = [];
  /** Key updates allowed now. */
  updatesAllowed = true;
  /** Key updates started by the builder. */
  keyUpdatesStarted = 0;
  greaseFixedBit: boolean;
  spin: 0 | 1 = 0;
  readonly pns: Record<PacketNumberSpace, PacketNumberState>;
  /** Packets reported, in order. */
  readonly sent: SentPacket[] = [];
  /** Datagrams handed over, in order. */
  readonly datagrams: Uint8Array[] = [];
  /** Fatal errors reported. */
  readonly errors: Error[] = [];
  /** Order of sink calls: 'p' for onPacketSent, 'd' for onDatagram. */
  readonly sinkLog: string[] = [];

  constructor(o: FakeContextOptions = {}) {
    this.role = o.role ?? 'client';
    this.versionValue = o.version ?? QUIC_V1;
    this.dcid = o.dcid ?? Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
    this.scid = o.scid ?? Uint8Array.from([9, 10, 11, 12, 13, 14, 15, 16]);
    this.token = o.token ?? new Uint8Array(0);
    this.provider = o.provider ?? nodeCrypto;
    this.random = o.random ?? seededRandom(7);
    this.maxFramesPerPacket = o.maxFramesPerPacket;
    this.keyUpdateBudget = o.keyUpdateBudget;
    this.greaseFixedBit = o.greaseFixedBit ?? false;
    const skip = o.skip ?? {};
    this.pns = {
      initial: new PacketNumberState('initial', { random: this.random, skip: skip.initial ?? false }),
      handshake: new PacketNumberState('handshake', { random: this.random, skip: skip.handshake ?? false }),
      application: new PacketNumberState('application', { random: this.random, skip: skip.application ?? false }),
    };
    const levels = o.levels ?? (this.role === 'client' ? ['initial', 'handshake', 'oneRtt'] : ['initial', 'handshake', 'oneRtt']);
    for (const level of levels) this.installKeys(level, o.algorithm ?? 'aes-128-gcm', o.hash ?? 'sha256');
  }

  /** Installs keys for `level` (Initial keys from the DCID the client chose; others from a fixed secret). */
  installKeys(level: EncryptionLevel, algorithm: AeadAlgorithm = 'aes-128-gcm', hash: HashAlgorithm = 'sha256'): void {
    if (level === 'initial') {
      const clientDcid = this.role === 'client' ? this.dcid : (this.scid ?? new Uint8Array(0));
      this.keys.initial = initialLevelKeys(this.provider, this.versionValue, clientDcid, this.role);
      return;
    }
    const k = randomLevelKeys(this.provider, this.versionValue, algorithm, hash, level.length * 13 + (level === 'oneRtt' ? 5 : 0));
    this.keys[level] = k;
    if (level === 'oneRtt') {
      this.oneRttGenerations.length = 0;
      this.oneRttGenerations.push(k);
    }
  }

  /** Removes the keys of `level`. */
  dropKeys(level: EncryptionLevel): void {
    delete this.keys[level];
  }

  version(): QuicVersion {
    return this.versionValue;
  }
  destinationCid(): Uint8Array {
    return this.dcid;
  }
  sourceCid(): Uint8Array | undefined {
    return this.scid;
  }
  initialToken(): Uint8Array {
    return this.token;
  }
  sendKeys(level: EncryptionLevel): PacketKeys | undefined {
    return this.keys[level]?.send;
  }
  keyPhase(): 0 | 1 {
    return ((this.oneRttGenerations.length - 1) & 1) as 0 | 1;
  }
  canUpdateKeys(): boolean {
    return this.updatesAllowed;
  }
  updateKeys(): void {
    const cur = this.keys.oneRtt;
    if (cur === undefined) throw new Error('no 1-RTT keys to update');
    const next: LevelKeys = { send: nextGenerationKeys(this.provider, cur.send), peer: nextGenerationKeys(this.provider, cur.peer) };
    this.keys.oneRtt = next;
    this.oneRttGenerations.push(next);
    this.keyUpdatesStarted += 1;
  }
  packetNumbers(space: PacketNumberSpace): PacketNumberState {
    return this.pns[space];
  }
  fixedBitGreasing(level: EncryptionLevel): boolean {
    return this.greaseFixedBit && level !== 'initial';
  }
  spinBit(): 0 | 1 {
    return this.spin;
  }
  onPacketSent(packet: SentPacket): void {
    this.sent.push(packet);
    this.sinkLog.push('p');
  }
  onDatagram(datagram: Uint8Array): void {
    this.datagrams.push(datagram);
    this.sinkLog.push('d');
  }
  onFatalError(error: Error): void {
    this.errors.push(error);
  }

  /** The peer's read keys, by level (1-RTT: every generation). */
  peerKeys(): PeerKeys {
    const k: PeerKeys = { oneRtt: this.oneRttGenerations.map((g) => g.peer) };
    if (this.keys.initial) k.initial = this.keys.initial.peer;
    if (this.keys.handshake) k.handshake = this.keys.handshake.peer;
    if (this.keys.zeroRtt) k.zeroRtt = this.keys.zeroRtt.peer;
    return k;
  }
}

// ------------------------------------------------------------------------------------------------
// Peer-side decoding
// ------------------------------------------------------------------------------------------------

/** The peer's read keys. */
export interface PeerKeys {
  initial?: PacketKeys;
  zeroRtt?: PacketKeys;
  handshake?: PacketKeys;
  /** Every 1-RTT generation; the Key Phase bit picks among those of its parity, newest first. */
  oneRtt: PacketKeys[];
}

/** A packet as the peer sees it. */
export interface DecodedPacket {
  /** Index of its datagram. */
  readonly datagram: number;
  /** Encryption level (from the header). */
  readonly level: EncryptionLevel;
  /** Full packet number. */
  readonly packetNumber: number;
  /** Encoded packet number length. */
  readonly pnLength: number;
  /** Bytes of the packet on the wire. */
  readonly size: number;
  /** Key Phase bit (short header), else 0. */
  readonly keyPhase: 0 | 1;
  /** 1-RTT key generation that opened it. */
  readonly generation: number;
  /** The unprotected first byte. */
  readonly firstByte: number;
  /** The frames. */
  readonly frames: Frame[];
}

/** Tracks the largest packet number per space, for decoding truncated packet numbers. */
export class PeerDecoder {
  private readonly largest: Record<PacketNumberSpace, number> = { initial: -1, handshake: -1, application: -1 };
  /** `largest`: the largest packet number already received per space (default none). */
  constructor(
    private readonly keys: PeerKeys,
    private readonly dcidLength: number,
    private readonly allowFixedBitZero = false,
    largest: Partial<Record<PacketNumberSpace, number>> = {},
  ) {
    Object.assign(this.largest, largest);
  }

  /**
   * Unprotects and decodes every packet of `datagram` (a copy is taken; the original is not
   * modified). Throws on any packet that does not parse, unprotect or decode.
   */
  decode(datagram: Uint8Array, index = 0): DecodedPacket[] {
    const buf = datagram.slice();
    const out: DecodedPacket[] = [];
    for (const r of iteratePackets(buf, { shortHeaderDcidLength: this.dcidLength, allowFixedBitZero: this.allowFixedBitZero })) {
      if (!r.ok) throw r.error;
      const p = r.packet;
      if (p.form !== 'long' && p.form !== 'short') throw new Error(`unexpected ${p.form} packet`);
      const level: EncryptionLevel = p.form === 'short' ? 'oneRtt' : p.type;
      const space = spaceOf(level);
      const candidates: PacketKeys[] =
        level === 'oneRtt' ? this.keys.oneRtt : [this.keys[level as 'initial' | 'zeroRtt' | 'handshake']].filter((k): k is PacketKeys => k !== undefined);
      if (candidates.length === 0) throw new Error(`no ${level} keys`);
      const hdr = removeHeaderProtection(candidates[0].hp, buf, p.packetStart, p.pnOffset, p.packetEnd, this.largest[space]);
      const keyPhase = level === 'oneRtt' ? (((hdr.firstByte >>> 2) & 1) as 0 | 1) : 0;
      let opened = -1;
      let payloadEnd = 0;
      const order = level === 'oneRtt' ? candidates.map((_, i) => i).filter((i) => (i & 1) === keyPhase).reverse() : [0];
      for (const g of order) {
        try {
          payloadEnd = openPacket(candidates[g], buf, p.packetStart, p.pnOffset, hdr.pnLength, hdr.packetNumber, p.packetEnd);
          opened = g;
          break;
        } catch {
          // try the next generation
        }
      }
      if (opened < 0) throw new Error(`${level} packet ${hdr.packetNumber} does not authenticate`);
      if (hdr.packetNumber > this.largest[space]) this.largest[space] = hdr.packetNumber;
      const frames = decodeFrames(buf.subarray(p.pnOffset + hdr.pnLength, payloadEnd), level);
      out.push({
        datagram: index,
        level,
        packetNumber: hdr.packetNumber,
        pnLength: hdr.pnLength,
        size: p.packetEnd - p.packetStart,
        keyPhase,
        generation: level === 'oneRtt' ? opened : 0,
        firstByte: hdr.firstByte,
        frames,
      });
    }
    return out;
  }
}

// ------------------------------------------------------------------------------------------------
// Sources
// ------------------------------------------------------------------------------------------------

/** The {@link SentFrame} a frame is recorded as (null for PADDING). */
export function sentFrameOf(f: Frame): SentFrame | null {
  switch (f.kind) {
    case 'padding':
      return null;
    case 'ping':
      return { kind: 'ping' };
    case 'ack':
      return { kind: 'ack', largestAcknowledged: f.largest };
    case 'resetStream':
      return { kind: 'resetStream', streamId: f.streamId };
    case 'stopSending':
      return { kind: 'stopSending', streamId: f.streamId };
    case 'crypto':
      return { kind: 'crypto', offset: f.offset, length: f.data.length };
    case 'newToken':
      return { kind: 'newToken', token: f.token };
    case 'stream':
      return { kind: 'stream', streamId: f.streamId, offset: f.offset, length: f.data.length, fin: f.fin };
    case 'maxData':
      return { kind: 'maxData' };
    case 'maxStreamData':
      return { kind: 'maxStreamData', streamId: f.streamId };
    case 'maxStreams':
      return { kind: 'maxStreams', bidirectional: f.bidirectional };
    case 'dataBlocked':
      return { kind: 'dataBlocked', limit: f.limit };
    case 'streamDataBlocked':
      return { kind: 'streamDataBlocked', streamId: f.streamId, limit: f.limit };
    case 'streamsBlocked':
      return { kind: 'streamsBlocked', bidirectional: f.bidirectional, limit: f.limit };
    case 'newConnectionId':
      return { kind: 'newConnectionId', sequenceNumber: f.sequenceNumber };
    case 'retireConnectionId':
      return { kind: 'retireConnectionId', sequenceNumber: f.sequenceNumber };
    case 'pathChallenge':
      return { kind: 'pathChallenge', data: f.data };
    case 'pathResponse':
      return { kind: 'pathResponse' };
    case 'connectionClose':
      return { kind: 'connectionClose' };
    case 'handshakeDone':
      return { kind: 'handshakeDone' };
    case 'datagram':
      return { kind: 'datagram', id: 0 };
  }
}

/**
 * A source that writes queued {@link Frame}s per level, whole (a frame that does not fit waits).
 * Every committed frame is remembered with the {@link SentFrame} recorded for it; lost frames go
 * back to the front of their queue in the order reported.
 */
export class QueueSource implements FrameSource {
  readonly queues: Partial<Record<EncryptionLevel, Frame[]>> = {};
  /** The frame behind each SentFrame this source committed. */
  readonly frameOf = new Map<SentFrame, Frame>();
  /** Frames reported lost, in order. */
  readonly lost: Frame[] = [];
  /** Frames reported acknowledged, in order. */
  readonly acked: Frame[] = [];
  /** Frames committed, in order. */
  readonly committed: Frame[] = [];
  private readonly placeholders = new Map<Frame, SentFrame>();
  constructor(readonly name: string) {}

  /** Queues `frames` at `level`. */
  push(level: EncryptionLevel, ...frames: Frame[]): this {
    (this.queues[level] ??= []).push(...frames);
    return this;
  }
  hasPending(level: EncryptionLevel): boolean {
    return (this.queues[level]?.length ?? 0) > 0;
  }
  write(w: PacketWriter): number {
    const q = this.queues[w.level];
    let n = 0;
    while (q !== undefined && q.length > 0 && !w.full) {
      const f = q[0];
      const size = frameSize(f);
      if (size > w.room) break;
      const end = encodeFrame(w.buffer, w.offset, f);
      if (end - w.offset !== size) throw new Error('frameSize disagrees with encodeFrame');
      // A frame with nothing to track is still identified, through a placeholder, for the tests.
      const sent = sentFrameOf(f) ?? this.placeholder(f);
      q.shift();
      this.frameOf.set(sent, f);
      this.committed.push(f);
      n++;
      w.commitFrame(size, sent, isAckEliciting(f));
    }
    return n;
  }
  onAcked(frame: SentFrame): void {
    const f = this.frameOf.get(frame);
    if (f !== undefined) this.acked.push(f);
  }
  onLost(frame: SentFrame, packet: SentPacket): void {
    const f = this.frameOf.get(frame);
    if (f === undefined) return;
    this.lost.push(f);
    // Re-queue in order: after the frames of this packet already returned.
    const q = (this.queues[packet.level] ??= []);
    const already = this.requeued.get(packet) ?? 0;
    q.splice(already, 0, f);
    this.requeued.set(packet, already + 1);
  }
  private readonly requeued = new Map<SentPacket, number>();
  private placeholder(f: Frame): SentFrame {
    let s = this.placeholders.get(f);
    if (s === undefined) {
      s = { kind: 'ping' };
      this.placeholders.set(f, s);
    }
    return s;
  }
}

/**
 * A stream source: streams with data to send, written as STREAM frames sized to the room
 * (fitStreamFrame), round robin; lost ranges are re-sent first.
 */
export class StreamSource implements FrameSource {
  readonly name = 'stream';
  private readonly streams: { id: number; data: Uint8Array; sent: number; fin: boolean; finSent: boolean }[] = [];
  private readonly retransmit: { streamId: number; offset: number; length: number; fin: boolean }[] = [];
  private next = 0;
  /** Frames written (as recorded). */
  readonly written: SentFrame[] = [];
  /** Frames reported lost. */
  readonly lost: SentFrame[] = [];
  /** Whether frames may be written without a Length field when they fill the room. */
  constructor(private readonly allowImplicitLength = true) {}

  /** Adds a stream with `data` to send, ending it with FIN when `fin`. */
  addStream(id: number, data: Uint8Array, fin = true): this {
    this.streams.push({ id, data, sent: 0, fin, finSent: false });
    return this;
  }
  /** Data of stream `id`. */
  dataOf(id: number): Uint8Array {
    const s = this.streams.find((x) => x.id === id);
    if (s === undefined) throw new Error(`no stream ${id}`);
    return s.data;
  }
  /** Rewinds every stream to send its data again (for benchmarks). */
  rewind(): void {
    for (const s of this.streams) {
      s.sent = 0;
      s.finSent = false;
    }
  }
  hasPending(level: EncryptionLevel): boolean {
    if (level !== 'oneRtt' && level !== 'zeroRtt') return false;
    if (this.retransmit.length > 0) return true;
    for (const s of this.streams) if (s.sent < s.data.length || (s.fin && !s.finSent)) return true;
    return false;
  }
  write(w: PacketWriter): number {
    if (w.level !== 'oneRtt' && w.level !== 'zeroRtt') return 0;
    let n = 0;
    while (!w.full && this.retransmit.length > 0) {
      const r = this.retransmit[0];
      const s = this.streams.find((x) => x.id === r.streamId);
      if (s === undefined) break;
      const fit = fitStreamFrame(this.allowImplicitLength ? w.room : w.room - 1, r.streamId, r.offset, r.length, r.fin);
      if (fit === null) return n;
      const fin = r.fin && fit.dataLength === r.length;
      const end = writeStreamFrame(w.buffer, w.offset, r.streamId, r.offset, s.data.subarray(r.offset, r.offset + fit.dataLength), fin, fit.explicitLength);
      const sent: SentFrame = { kind: 'stream', streamId: r.streamId, offset: r.offset, length: fit.dataLength, fin };
      if (fit.dataLength === r.length) this.retransmit.shift();
      else this.retransmit[0] = { streamId: r.streamId, offset: r.offset + fit.dataLength, length: r.length - fit.dataLength, fin: r.fin };
      this.written.push(sent);
      n++;
      w.commitFrame(end - w.offset, sent, true);
    }
    let tried = 0;
    while (!w.full && tried < this.streams.length) {
      const s = this.streams[this.next % this.streams.length];
      const available = s.data.length - s.sent;
      if (available === 0 && !(s.fin && !s.finSent)) {
        this.next++;
        tried++;
        continue;
      }
      const fit = fitStreamFrame(this.allowImplicitLength ? w.room : w.room - 1, s.id, s.sent, available, s.fin);
      if (fit === null) break;
      const fin = s.fin && fit.dataLength === available;
      const end = writeStreamFrame(w.buffer, w.offset, s.id, s.sent, s.data.subarray(s.sent, s.sent + fit.dataLength), fin, fit.explicitLength);
      const sent: SentFrame = { kind: 'stream', streamId: s.id, offset: s.sent, length: fit.dataLength, fin };
      s.sent += fit.dataLength;
      if (fin) s.finSent = true;
      this.next++;
      tried = 0;
      this.written.push(sent);
      n++;
      w.commitFrame(end - w.offset, sent, true);
    }
    return n;
  }
  onLost(frame: SentFrame): void {
    if (frame.kind !== 'stream') return;
    this.lost.push(frame);
    this.retransmit.push({ streamId: frame.streamId, offset: frame.offset, length: frame.length, fin: frame.fin });
  }
}

/** A CRYPTO source: handshake bytes per level, written as CRYPTO frames sized to the room. */
export class CryptoSource implements FrameSource {
  readonly name = 'crypto';
  private readonly data: Partial<Record<EncryptionLevel, { bytes: Uint8Array; sent: number }>> = {};
  private readonly retransmit: Partial<Record<EncryptionLevel, { offset: number; length: number }[]>> = {};
  /** Frames reported lost, with their level. */
  readonly lost: { level: EncryptionLevel; offset: number; length: number }[] = [];

  /** Queues `bytes` of handshake data at `level`. */
  add(level: EncryptionLevel, bytes: Uint8Array): this {
    this.data[level] = { bytes, sent: 0 };
    return this;
  }
  hasPending(level: EncryptionLevel): boolean {
    const d = this.data[level];
    return (this.retransmit[level]?.length ?? 0) > 0 || (d !== undefined && d.sent < d.bytes.length);
  }
  write(w: PacketWriter): number {
    const d = this.data[w.level];
    if (d === undefined) return 0;
    let n = 0;
    const rq = this.retransmit[w.level] ?? [];
    while (!w.full) {
      let offset: number;
      let available: number;
      if (rq.length > 0) {
        offset = rq[0].offset;
        available = rq[0].length;
      } else {
        offset = d.sent;
        available = d.bytes.length - d.sent;
      }
      if (available === 0) break;
      const len = fitCryptoFrame(w.room, offset, available);
      if (len === 0) break;
      const end = writeCryptoFrame(w.buffer, w.offset, offset, d.bytes.subarray(offset, offset + len));
      if (rq.length > 0) {
        if (len === rq[0].length) rq.shift();
        else rq[0] = { offset: offset + len, length: rq[0].length - len };
      } else {
        d.sent += len;
      }
      n++;
      w.commitFrame(end - w.offset, { kind: 'crypto', offset, length: len }, true);
    }
    return n;
  }
  onLost(frame: SentFrame, packet: SentPacket): void {
    if (frame.kind !== 'crypto') return;
    this.lost.push({ level: packet.level, offset: frame.offset, length: frame.length });
    (this.retransmit[packet.level] ??= []).push({ offset: frame.offset, length: frame.length });
  }
}

/** An ACK source: one ACK frame per level where ranges are set, until sent. */
export class AckSource implements FrameSource {
  readonly name = 'ack';
  private readonly ranges: Partial<Record<EncryptionLevel, AckRange[]>> = {};
  /** Sets the ranges to acknowledge at `level`. */
  set(level: EncryptionLevel, ranges: AckRange[]): this {
    this.ranges[level] = ranges;
    return this;
  }
  hasPending(level: EncryptionLevel): boolean {
    return this.ranges[level] !== undefined;
  }
  write(w: PacketWriter): number {
    const r = this.ranges[w.level];
    if (r === undefined) return 0;
    const count = Math.min(r.length, 16);
    const end = writeAckFrame(w.buffer, w.offset, 0, r, count);
    if (end - w.offset > w.room) return 0;
    delete this.ranges[w.level];
    w.commitFrame(end - w.offset, { kind: 'ack', largestAcknowledged: r[0].largest }, false);
    return 1;
  }
}

/**
 * A CONNECTION_CLOSE source: a close at every level in `levels` until sent there. An application
 * close in an Initial or Handshake packet becomes a transport close with APPLICATION_ERROR and no
 * reason (RFC 9000 §10.2.3).
 */
export class CloseSource implements FrameSource {
  readonly name = 'close';
  private readonly todo: Set<EncryptionLevel>;
  /** Frames written, by level. */
  readonly written: { level: EncryptionLevel; frame: Frame }[] = [];
  constructor(
    levels: Iterable<EncryptionLevel>,
    private readonly application: boolean,
    private readonly errorCode: bigint,
    private readonly reason: Uint8Array = new Uint8Array(0),
  ) {
    this.todo = new Set(levels);
  }
  hasPending(level: EncryptionLevel): boolean {
    return this.todo.has(level);
  }
  write(w: PacketWriter): number {
    if (!this.todo.has(w.level)) return 0;
    const handshakeLevel = w.level === 'initial' || w.level === 'handshake';
    const frame: Frame =
      this.application && handshakeLevel
        ? { kind: 'connectionClose', application: false, errorCode: BigInt(TransportErrorCode.APPLICATION_ERROR), frameType: 0, reason: new Uint8Array(0) }
        : this.application
          ? { kind: 'connectionClose', application: true, errorCode: this.errorCode, reason: this.reason }
          : { kind: 'connectionClose', application: false, errorCode: this.errorCode, frameType: 0, reason: this.reason };
    const size = frameSize(frame);
    if (size > w.room) return 0;
    encodeFrame(w.buffer, w.offset, frame);
    this.todo.delete(w.level);
    this.written.push({ level: w.level, frame });
    w.commitFrame(size, { kind: 'connectionClose' }, false);
    return 1;
  }
}

/**
 * `keys` with an AEAD that throws on the seals whose 0-based index is in `failOn`, and seals
 * normally otherwise. Keys given the same `counter` count their seals together.
 */
export function failingSeals(keys: PacketKeys, failOn: ReadonlySet<number>, counter: { n: number } = { n: 0 }): PacketKeys {
  const aead = keys.aead;
  return {
    ...keys,
    aead: {
      algorithm: aead.algorithm,
      seal(nonce, aad, buf, offset, length) {
        if (failOn.has(counter.n++)) throw new Error('injected AEAD failure');
        aead.seal(nonce, aad, buf, offset, length);
      },
      open: (nonce, aad, buf, offset, length) => aead.open(nonce, aad, buf, offset, length),
    },
  };
}

/** Bytes `0, 1, 2, …` (mod 251) of length `n`, so data positions are recognisable. */
export function patternBytes(n: number, seed = 0): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i + seed) % 251;
  return b;
}
