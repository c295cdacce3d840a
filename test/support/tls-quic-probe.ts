/**
 * Running the TLS sessions against real QUIC peers (ngtcp2's GnuTLS examples) before the QUIC
 * connection exists:
 *
 * - {@link captureClientHello}: receives a client's first datagrams on a loopback UDP socket,
 *   removes Initial packet protection with the project's own QUIC crypto (RFC 9001 §5.2) and
 *   returns the ClientHello from the Initial CRYPTO stream;
 * - {@link QuicTlsEndpoint}: a minimal test-only packet harness carrying one TLS session's CRYPTO
 *   data in Initial and Handshake packets (and reading 1-RTT CRYPTO), with ACKs but no recovery;
 * - {@link clientAgainstGtlsServer} / {@link gtlsClientAgainstServer}: full handshakes with
 *   `gtlsserver` / `gtlsclient`.
 *
 * Only loopback is ever used; every peer process is started here and always killed here.
 *
 * @module
 */
import { spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { derivePacketKeys, initialKeys, type PacketKeys } from '../../src/crypto/keys.js';
import { nodeCrypto } from '../../src/crypto/node.js';
import { openPacket, protectPacket, removeHeaderProtection } from '../../src/crypto/packet-protection.js';
import type { TlsClientConfig, TlsServerConfig } from '../../src/tls/config.js';
import { createClientSession, createServerSession, type TlsClientSession, type TlsServerSession, type TlsSession } from '../../src/tls/session.js';
import { decodeFrame } from '../../src/wire/frames/decode.js';
import { encodeFrame, frameSize } from '../../src/wire/frames/encode.js';
import type { Frame } from '../../src/wire/frames/types.js';
import { setLongHeaderLength, writeLongHeader } from '../../src/wire/header-write.js';
import { iteratePackets } from '../../src/wire/header.js';
import { Reader } from '../../src/wire/reader.js';
import { defaultTransportParameters, encodeTransportParameters } from '../../src/wire/transport-parameters.js';

/** True when `command` is on the PATH. */
export { hasCommand } from './peers.js';

/**
 * The Initial-level CRYPTO stream (from offset 0, as far as contiguous) carried by a client's
 * datagrams. The first Initial packet's Destination Connection ID keys them all (RFC 9001 §5.2).
 */
export function clientInitialCrypto(datagrams: readonly Uint8Array[]): Uint8Array {
  let keys: ReturnType<typeof initialKeys> | undefined;
  const chunks: Array<{ offset: number; data: Uint8Array }> = [];
  for (const d of datagrams) {
    const buf = d.slice();
    for (const result of iteratePackets(buf, { shortHeaderDcidLength: 0 })) {
      if (!('packet' in result)) continue;
      const p = result.packet;
      if (p.form !== 'long' || p.type !== 'initial') continue;
      keys ??= initialKeys(nodeCrypto, p.version, p.dcid.slice(), 'server');
      const h = removeHeaderProtection(keys.receive.hp, buf, p.packetStart, p.pnOffset, p.packetEnd, -1);
      const end = openPacket(keys.receive, buf, p.packetStart, p.pnOffset, h.pnLength, h.packetNumber, p.packetEnd);
      const r = new Reader(buf, p.pnOffset + h.pnLength, end);
      while (r.remaining > 0) {
        const f = decodeFrame(r);
        if (f.kind === 'crypto') chunks.push({ offset: f.offset, data: f.data.slice() });
      }
    }
  }
  chunks.sort((a, b) => a.offset - b.offset);
  const out: number[] = [];
  for (const c of chunks) {
    if (c.offset > out.length) break;
    for (let i = out.length - c.offset; i < c.data.length; i++) out.push(c.data[i]);
  }
  return Uint8Array.from(out);
}

/** True when `stream` begins with one whole handshake message. */
function hasWholeMessage(stream: Uint8Array): boolean {
  return stream.length >= 4 && stream.length >= 4 + ((stream[1] << 16) | (stream[2] << 8) | stream[3]);
}

/**
 * Runs `command args… 127.0.0.1 <port>` (the port of a probe socket appended as `{port}` in
 * `args`), collects its datagrams until they carry a whole ClientHello (or `timeoutMs` passes),
 * kills it and returns the ClientHello with its header, or `undefined`.
 */
export async function captureClientHello(command: string, args: readonly string[], timeoutMs = 5000): Promise<Uint8Array | undefined> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const port = socket.address().port;
  const datagrams: Uint8Array[] = [];
  const child = spawn(command, args.map((a) => a.replace('{port}', String(port))), { stdio: 'ignore' });
  try {
    return await new Promise<Uint8Array | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), timeoutMs);
      socket.on('message', (msg) => {
        datagrams.push(new Uint8Array(msg));
        try {
          const stream = clientInitialCrypto(datagrams);
          if (hasWholeMessage(stream)) {
            clearTimeout(timer);
            resolve(stream.slice(0, 4 + ((stream[1] << 16) | (stream[2] << 8) | stream[3])));
          }
        } catch {
          // not decryptable (yet): wait for more
        }
      });
      child.on('error', () => {
        clearTimeout(timer);
        resolve(undefined);
      });
    });
  } finally {
    if (child.exitCode === null && child.pid !== undefined) child.kill('SIGKILL');
    socket.close();
  }
}

// ---------------------------------------------------------------------------------------------
// A minimal QUIC packet harness: just enough to carry a TLS session's CRYPTO data to a real peer
// over loopback in Initial, Handshake and (received only) 1-RTT packets. Test-only: no loss
// recovery beyond resending the first Initial, no congestion control, no streams.

type Level = 'initial' | 'handshake' | 'oneRtt';

/** Seals one Initial or Handshake packet carrying `frames`, padded so the datagram is at least `padTo` bytes. */
export function sealLongPacket(type: 'initial' | 'handshake', keys: PacketKeys, dcid: Uint8Array, scid: Uint8Array, pn: number, frames: Frame[], padTo = 0): Uint8Array {
  const buf = new Uint8Array(Math.max(padTo, 1500) + 64);
  const layout = writeLongHeader(buf, 0, { type, version: 1, dcid, scid, packetNumber: pn, pnLength: 2, lengthFieldSize: 2 });
  let end = layout.payloadOffset;
  const payloadSize = frames.reduce((n, f) => n + frameSize(f), 0);
  const padding = Math.max(0, padTo - (layout.payloadOffset + payloadSize + 16), 4 - payloadSize);
  for (const f of padding > 0 ? [...frames, { kind: 'padding', length: padding } as Frame] : frames) end = encodeFrame(buf, end, f);
  setLongHeaderLength(buf, layout.lengthOffset, 2, end - layout.pnOffset + 16);
  const packetEnd = protectPacket(keys, buf, 0, layout.pnOffset, 2, pn, end);
  return buf.slice(0, packetEnd);
}

/** ACK ranges (newest first) for a set of received packet numbers. */
function ackFrame(received: Set<number>): Frame | undefined {
  if (received.size === 0) return undefined;
  const pns = [...received].sort((a, b) => b - a);
  const ranges: Array<{ smallest: number; largest: number }> = [];
  for (const pn of pns) {
    const last = ranges[ranges.length - 1];
    if (last !== undefined && last.smallest === pn + 1) last.smallest = pn;
    else ranges.push({ smallest: pn, largest: pn });
  }
  return { kind: 'ack', largest: pns[0], ackDelay: 0, ranges } as Frame;
}

/** Reassembles one level's CRYPTO stream and hands new in-order bytes to a callback. */
class CryptoIn {
  private readonly chunks = new Map<number, Uint8Array>();
  private delivered = 0;
  push(offset: number, data: Uint8Array): Uint8Array {
    this.chunks.set(offset, data.slice());
    const out: number[] = [];
    let progress = true;
    while (progress) {
      progress = false;
      for (const [off, d] of this.chunks) {
        if (off <= this.delivered && off + d.length > this.delivered) {
          for (let i = this.delivered - off; i < d.length; i++) out.push(d[i]);
          this.delivered = off + d.length;
          progress = true;
        }
        if (off + d.length <= this.delivered) this.chunks.delete(off);
      }
    }
    return Uint8Array.from(out);
  }
}

/** One endpoint of the harness: a TLS session, its packet keys and its CRYPTO streams. */
export class QuicTlsEndpoint {
  readonly session: TlsSession;
  /** Our connection ID (the peer's packets carry it as Destination Connection ID). */
  readonly scid: Uint8Array;
  /** The peer's connection ID, once known (for a client: first the random original DCID). */
  dcid: Uint8Array;
  private readonly keys: Partial<Record<Level, { send?: PacketKeys; receive?: PacketKeys }>> = {};
  private readonly pn = { initial: 0, handshake: 0 };
  private readonly received = { initial: new Set<number>(), handshake: new Set<number>() };
  private readonly cryptoIn = { initial: new CryptoIn(), handshake: new CryptoIn(), oneRtt: new CryptoIn() };
  private readonly cryptoOut = { initial: 0, handshake: 0 };
  private readonly pending: Uint8Array[] = [];
  /** Every event the session reported. */
  readonly events: ReturnType<TlsSession['drain']> = [];
  /** Frame kinds received per level (for the report). */
  readonly framesSeen: Array<[Level, string]> = [];
  private readonly isClient: boolean;

  constructor(session: TlsSession, scid: Uint8Array, dcid: Uint8Array, initial: ReturnType<typeof initialKeys>) {
    this.session = session;
    this.scid = scid;
    this.dcid = dcid;
    this.keys.initial = initial;
    this.isClient = session.role === 'client';
  }

  /** Processes one received datagram; returns the datagrams to send in reply. */
  receive(datagram: Uint8Array, now: number): Uint8Array[] {
    this.pending.push(datagram.slice());
    const again = this.pending.splice(0);
    for (const d of again) this.openDatagram(d, now);
    return this.flush(now);
  }

  private openDatagram(d: Uint8Array, now: number): void {
    for (const result of iteratePackets(d, { shortHeaderDcidLength: this.scid.length })) {
      if (!('packet' in result)) continue;
      const p = result.packet;
      if (p.form !== 'long' && p.form !== 'short') continue;
      const level: Level | undefined = p.form === 'short' ? 'oneRtt' : p.type === 'initial' ? 'initial' : p.type === 'handshake' ? 'handshake' : undefined;
      if (level === undefined) continue;
      const keys = this.keys[level]?.receive;
      if (keys === undefined) {
        // Keys not there yet (RFC 9001 §4.1.4: buffer it): keep the packet for later.
        this.pending.push(d.slice(p.packetStart, p.packetEnd));
        continue;
      }
      if (this.isClient && p.form === 'long' && level !== 'oneRtt') this.dcid = p.scid.slice();
      const h = removeHeaderProtection(keys.hp, d, p.packetStart, p.pnOffset, p.packetEnd, -1);
      const end = openPacket(keys, d, p.packetStart, p.pnOffset, h.pnLength, h.packetNumber, p.packetEnd);
      if (level !== 'oneRtt') this.received[level].add(h.packetNumber);
      const r = new Reader(d, p.pnOffset + h.pnLength, end);
      while (r.remaining > 0) {
        let f: Frame;
        try {
          f = decodeFrame(r);
        } catch {
          break;
        }
        this.framesSeen.push([level, f.kind]);
        if (f.kind === 'crypto') {
          const bytes = this.cryptoIn[level].push(f.offset, f.data);
          if (bytes.length > 0) this.session.receive(level, bytes, now);
          this.installKeys();
        }
      }
    }
  }

  private installKeys(): void {
    for (const e of this.session.drain()) {
      this.events.push(e);
      if (e.type === 'secret') {
        const k = derivePacketKeys(nodeCrypto, 1, e.cipherSuite.aead, e.cipherSuite.hash, e.secret);
        const slot = (this.keys[e.level] ??= {});
        if (e.direction === 'read') slot.receive = k;
        else slot.send = k;
      }
    }
  }

  /** Packs the session's pending handshake bytes (and ACKs) into datagrams. */
  flush(_now: number): Uint8Array[] {
    this.installKeys();
    const out: Uint8Array[] = [];
    for (const level of ['initial', 'handshake'] as const) {
      const data = this.events.filter((e) => e.type === 'handshake_data' && e.level === level).map((e) => (e as { data: Uint8Array }).data);
      const all = new Uint8Array(data.reduce((n, b) => n + b.length, 0));
      let pos = 0;
      for (const b of data) {
        all.set(b, pos);
        pos += b.length;
      }
      const fresh = all.subarray(this.cryptoOut[level]);
      const keys = this.keys[level]?.send;
      if (keys === undefined) continue;
      const ack = ackFrame(this.received[level]);
      for (let off = 0; off < fresh.length || (off === 0 && ack !== undefined && this.received[level].size > 0 && fresh.length === 0); ) {
        const piece = fresh.subarray(off, off + 1000);
        const frames: Frame[] = [];
        if (ack !== undefined) frames.push(ack);
        if (piece.length > 0) frames.push({ kind: 'crypto', offset: this.cryptoOut[level] + off, data: piece } as Frame);
        out.push(sealLongPacket(level, keys, this.dcid, this.scid, this.pn[level]++, frames, level === 'initial' ? 1200 : 0));
        off += Math.max(piece.length, 1);
      }
      this.cryptoOut[level] = all.length;
      this.received[level].clear();
    }
    return out;
  }
}

/** A free UDP port on 127.0.0.1 (bound and released; the caller starts its peer on it at once). */
export async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  const port = s.address().port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

// ---------------------------------------------------------------------------------------------
// Live runs against ngtcp2's GnuTLS examples (gtlsserver / gtlsclient), loopback only.

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function transportParameters(role: 'client' | 'server', scid: Uint8Array, odcid?: Uint8Array): Uint8Array {
  return encodeTransportParameters(
    defaultTransportParameters({
      initialSourceConnectionId: scid,
      ...(role === 'server' ? { originalDestinationConnectionId: odcid, statelessResetToken: nodeCrypto.randomBytes(16) } : {}),
      initialMaxData: 1 << 20,
      initialMaxStreamDataBidiLocal: 1 << 16,
      initialMaxStreamDataBidiRemote: 1 << 16,
      initialMaxStreamDataUni: 1 << 16,
      initialMaxStreamsBidi: 10,
      initialMaxStreamsUni: 10,
      maxIdleTimeout: 5000,
    }),
    { role },
  );
}

/** The outcome of a live run. */
export interface LiveRun<S> {
  readonly session: S;
  readonly endpoint: QuicTlsEndpoint;
  /** `level:frame kind` of every frame received. */
  readonly frames: ReadonlySet<string>;
  /** The peer's output (stdout + stderr). */
  readonly log: string;
}

/**
 * Our TLS client against `gtlsserver` serving `certificatePem`/`privateKeyPem`: sends the
 * ClientHello in an Initial, answers with the client's second flight in Handshake packets, and
 * reads 1-RTT CRYPTO (NewSessionTicket). Ends when the handshake is complete and `until` holds,
 * on failure, or after `timeoutMs`; the server process is always killed.
 */
export async function clientAgainstGtlsServer(
  server: { certificatePem: string; privateKeyPem: string; args?: readonly string[] },
  config: Omit<TlsClientConfig, 'transportParameters'>,
  until: (session: TlsClientSession) => boolean = () => true,
  timeoutMs = 5000,
): Promise<LiveRun<TlsClientSession>> {
  const dir = mkdtempSync(join(tmpdir(), 'quic-actors-gtls-'));
  writeFileSync(join(dir, 'key.pem'), server.privateKeyPem);
  writeFileSync(join(dir, 'cert.pem'), server.certificatePem);
  const port = await freeUdpPort();
  const child = spawn('gtlsserver', [...(server.args ?? []), '127.0.0.1', String(port), join(dir, 'key.pem'), join(dir, 'cert.pem')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout?.on('data', (d) => (log += d));
  child.stderr?.on('data', (d) => (log += d));
  const sock = createSocket('udp4');
  try {
    await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
    const scid = nodeCrypto.randomBytes(8);
    const odcid = nodeCrypto.randomBytes(8);
    const session = createClientSession({ ...config, transportParameters: transportParameters('client', scid) } as TlsClientConfig);
    const endpoint = new QuicTlsEndpoint(session, scid, odcid, initialKeys(nodeCrypto, 1, odcid, 'client'));
    const send = (ds: Uint8Array[]) => ds.forEach((d) => sock.send(d, port, '127.0.0.1'));
    let answered = false;
    sock.on('message', (m) => {
      answered = true;
      send(endpoint.receive(new Uint8Array(m), Date.now()));
    });
    session.start(Date.now());
    const first = endpoint.flush(Date.now());
    const start = Date.now();
    while (!answered && Date.now() - start < timeoutMs) {
      send(first); // the server may not be listening yet: resend the first flight until it answers
      await sleep(150);
    }
    while (Date.now() - start < timeoutMs && !session.terminated && !(session.handshakeComplete && until(session))) await sleep(20);
    return { session, endpoint, frames: new Set(endpoint.framesSeen.map(([l, k]) => `${l}:${k}`)), log };
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    sock.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * `gtlsclient args… 127.0.0.1 <port> https://localhost:<port>/` against our TLS server: the
 * server session is created when the first Initial arrives (its transport parameters carry that
 * packet's Destination Connection ID, RFC 9000 §7.3). Ends when our handshake is complete (then
 * waits `settleMs` for the client to confirm it), on failure, or after `timeoutMs`; the client
 * process is always killed.
 */
export async function gtlsClientAgainstServer(
  config: Omit<TlsServerConfig, 'transportParameters'>,
  args: readonly string[] = [],
  timeoutMs = 5000,
  settleMs = 300,
): Promise<LiveRun<TlsServerSession | undefined>> {
  const sock = createSocket('udp4');
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
  const port = sock.address().port;
  let endpoint: QuicTlsEndpoint | undefined;
  let failure: unknown;
  sock.on('message', (m, rinfo) => {
    const d = new Uint8Array(m);
    try {
      if (endpoint === undefined) {
        const first = iteratePackets(d, { shortHeaderDcidLength: 0 }).next().value;
        if (first === undefined || !('packet' in first) || first.packet.form !== 'long' || first.packet.type !== 'initial') return;
        const p = first.packet;
        const scid = nodeCrypto.randomBytes(8);
        const session = createServerSession({ ...config, transportParameters: transportParameters('server', scid, p.dcid.slice()) } as TlsServerConfig);
        endpoint = new QuicTlsEndpoint(session, scid, p.scid.slice(), initialKeys(nodeCrypto, 1, p.dcid.slice(), 'server'));
      }
      for (const out of endpoint.receive(d, Date.now())) sock.send(out, rinfo.port, rinfo.address);
    } catch (e) {
      failure ??= e;
    }
  });
  const child = spawn('gtlsclient', [...args, '--timeout=3s', '127.0.0.1', String(port), `https://localhost:${port}/`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout?.on('data', (d) => (log += d));
  child.stderr?.on('data', (d) => (log += d));
  try {
    const start = Date.now();
    while (Date.now() - start < timeoutMs && failure === undefined && !endpoint?.session.terminated && !endpoint?.session.handshakeComplete) await sleep(20);
    await sleep(settleMs);
    if (failure !== undefined) throw failure;
    const session = endpoint?.session as TlsServerSession | undefined;
    return { session, endpoint: endpoint as QuicTlsEndpoint, frames: new Set(endpoint?.framesSeen.map(([l, k]) => `${l}:${k}`) ?? []), log };
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    sock.close();
  }
}
