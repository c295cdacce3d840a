/**
 * Endpoint test helpers: raw UDP peers on loopback, crafted packets, and waits that end when a
 * condition holds (bounded only to turn a hang into a failure — never a timing assertion).
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { nodeCrypto } from '../../src/crypto/node.js';
import { setLongHeaderLength, writeLongHeader } from '../../src/wire/header-write.js';
import { QUIC_V1, type QuicVersion } from '../../src/wire/version.js';

/** Waits until `condition()` holds, checking once per event-loop turn; throws after `limitMs` (a hang guard). */
export async function until(condition: () => boolean, what: string, limitMs = 10_000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > limitMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** A raw UDP socket that records what it receives. */
export interface RawPeer {
  readonly socket: Socket;
  readonly port: number;
  readonly address: string;
  readonly inbox: { data: Uint8Array; from: RemoteInfo }[];
  send(data: Uint8Array, port: number, host?: string): Promise<void>;
  /** The next datagram not yet taken (waits for it). */
  next(what?: string): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** Opens a raw UDP peer on the loopback address of `type`. */
export async function rawPeer(type: 'udp4' | 'udp6' = 'udp4'): Promise<RawPeer> {
  const socket = createSocket(type);
  const host = type === 'udp6' ? '::1' : '127.0.0.1';
  await new Promise<void>((resolve) => socket.bind(0, host, resolve));
  const inbox: { data: Uint8Array; from: RemoteInfo }[] = [];
  let taken = 0;
  socket.on('message', (msg, from) => inbox.push({ data: new Uint8Array(msg), from }));
  return {
    socket,
    port: socket.address().port,
    address: host,
    inbox,
    send: (data, port, to = host) => new Promise<void>((resolve, reject) => socket.send(data, port, to, (e) => (e ? reject(e) : resolve()))),
    next: async (what = 'a datagram') => {
      await until(() => inbox.length > taken, what);
      return inbox[taken++].data;
    },
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

/** Random bytes. */
export function random(n: number): Uint8Array {
  return nodeCrypto.randomBytes(n);
}

/** A datagram of `size` bytes holding one Initial (or `type`) packet (payload random, so undecryptable). */
export function initialDatagram(options: { dcid: Uint8Array; scid: Uint8Array; size?: number; version?: QuicVersion; token?: Uint8Array; type?: 'initial' | 'handshake' | 'zeroRtt' }): Uint8Array {
  const size = options.size ?? 1200;
  const buf = new Uint8Array(size);
  buf.set(random(size));
  const layout = writeLongHeader(buf, 0, {
    type: options.type ?? 'initial',
    version: options.version ?? QUIC_V1,
    dcid: options.dcid,
    scid: options.scid,
    token: options.token,
    packetNumber: 0,
    pnLength: 1,
    lengthFieldSize: 2,
  });
  setLongHeaderLength(buf, layout.lengthOffset, 2, size - layout.pnOffset);
  return buf;
}

/** A long header datagram with an arbitrary (unsupported) version. */
export function unknownVersionDatagram(version: number, dcid: Uint8Array, scid: Uint8Array, size = 1200): Uint8Array {
  const buf = random(size);
  buf[0] = 0xc0;
  new DataView(buf.buffer).setUint32(1, version);
  buf[5] = dcid.length;
  buf.set(dcid, 6);
  buf[6 + dcid.length] = scid.length;
  buf.set(scid, 7 + dcid.length);
  return buf;
}

/** A short header datagram for `dcid`, `size` bytes. */
export function shortDatagram(dcid: Uint8Array, size = 100): Uint8Array {
  const buf = random(size);
  buf[0] = 0x40 | (buf[0] & 0x3f);
  buf.set(dcid, 1);
  return buf;
}

/** Text of bytes. */
export function text(b: Uint8Array): string {
  return new TextDecoder().decode(b);
}

/** Bytes of text. */
export function bytes(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}
