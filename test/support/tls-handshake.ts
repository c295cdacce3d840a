/**
 * In-memory TLS handshakes for tests: a pump that carries each session's `handshake_data` to the
 * other at the same encryption level (as QUIC's CRYPTO streams would), records every event, and a
 * cache of test PKIs and session configurations.
 *
 * @module
 */
import { generateKeyPairSync } from 'node:crypto';
import type { QuicError } from '../../src/wire/errors.js';
import type { TlsHandshakeLevel } from '../../machines/tls-common.js';
import type { TlsHandshakeInfo, TlsSessionEvent } from '../../src/tls/session-events.js';
import type { TlsClientSession, TlsServerSession, TlsSession } from '../../src/tls/session.js';
import { createChain, type TestChain, type TestKeyType } from './pki.js';

/** Everything one side reported, by kind. */
export interface SideRecord {
  /** Every event in order. */
  readonly events: TlsSessionEvent[];
  /** Traffic secrets by `level:direction`. */
  readonly secrets: Map<string, Uint8Array>;
  /** Bytes sent per level. */
  readonly sent: Map<TlsHandshakeLevel, Uint8Array[]>;
  /** The peer's transport parameters, when reported. */
  transportParameters: Uint8Array | undefined;
  /** The handshake info, once complete. */
  info: TlsHandshakeInfo | undefined;
  /** The failure, if any. */
  error: QuicError | undefined;
}

function record(): SideRecord {
  return { events: [], secrets: new Map(), sent: new Map(), transportParameters: undefined, info: undefined, error: undefined };
}

/** Drains `from`'s events into `rec`, returning the handshake bytes it produced. */
export function collect(from: TlsSession, rec: SideRecord): Array<{ level: TlsHandshakeLevel; data: Uint8Array }> {
  const out: Array<{ level: TlsHandshakeLevel; data: Uint8Array }> = [];
  for (const e of from.drain()) {
    rec.events.push(e);
    switch (e.type) {
      case 'handshake_data': {
        out.push({ level: e.level, data: e.data });
        const list = rec.sent.get(e.level) ?? [];
        list.push(e.data);
        rec.sent.set(e.level, list);
        break;
      }
      case 'secret':
        rec.secrets.set(`${e.level}:${e.direction}`, e.secret);
        break;
      case 'transport_parameters':
        rec.transportParameters = e.data;
        break;
      case 'handshake_complete':
        rec.info = e.info;
        break;
      case 'failed':
        rec.error = e.error;
        break;
      default:
        break;
    }
  }
  return out;
}

/** The outcome of {@link runHandshake}. */
export interface HandshakeRun {
  readonly client: SideRecord;
  readonly server: SideRecord;
}

/** Options of {@link runHandshake}. */
export interface PumpOptions {
  /** Time given to both sides (ms); default `Date.now()` at the call. */
  readonly now?: number;
  /** Rewrites a flight in flight (for tampering tests); return the bytes to deliver. */
  readonly tamper?: (from: 'client' | 'server', level: TlsHandshakeLevel, data: Uint8Array, index: number) => Uint8Array;
  /** Deliver each flight in chunks of this many bytes (default: whole). */
  readonly chunk?: number;
}

/**
 * Starts `client` and carries bytes both ways until neither side produces more. Never loops
 * forever: each round must deliver bytes, and a failed side stops producing.
 */
export function runHandshake(client: TlsClientSession, server: TlsServerSession, options: PumpOptions = {}): HandshakeRun {
  const now = options.now ?? Date.now();
  const c = record();
  const s = record();
  let index = 0;
  const deliver = (to: TlsSession, from: 'client' | 'server', flights: Array<{ level: TlsHandshakeLevel; data: Uint8Array }>) => {
    for (const f of flights) {
      const data = options.tamper ? options.tamper(from, f.level, f.data, index++) : f.data;
      const step = options.chunk ?? data.length;
      for (let i = 0; i < data.length; i += Math.max(1, step)) to.receive(f.level, data.subarray(i, i + Math.max(1, step)), now);
    }
  };
  client.start(now);
  for (let round = 0; round < 20; round++) {
    const fromClient = collect(client, c);
    deliver(server, 'client', fromClient);
    const fromServer = collect(server, s);
    deliver(client, 'server', fromServer);
    if (fromClient.length === 0 && fromServer.length === 0) break;
  }
  collect(client, c);
  collect(server, s);
  return { client: c, server: s };
}

/** A server certificate chain with its key, cached per key type (RSA keys are slow to make). */
const chains = new Map<string, Promise<TestChain>>();

/** A root → intermediate → leaf chain for `localhost` / 127.0.0.1 / ::1 with a `keyType` leaf. */
export function serverChain(keyType: TestKeyType = 'ecdsa-p256'): Promise<TestChain> {
  let p = chains.get(keyType);
  if (p === undefined) chains.set(keyType, (p = createChain({ leaf: { keyType } })));
  return p;
}

/** Encoded transport parameters stand-ins: distinct bytes per side, so delivery is checkable byte for byte. */
export const CLIENT_TP = Uint8Array.from([0x01, 0x02, 0x40, 0x64, 0x04, 0x04, 0x80, 0x10, 0x00, 0x00]);
/** See {@link CLIENT_TP}. */
export const SERVER_TP = Uint8Array.from([0x00, 0x08, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x03, 0x02, 0x45, 0xc0]);

/** An Ed25519 key pair, quick to make, for tests that need a key that is not the certificate's. */
export function otherKey() {
  return generateKeyPairSync('ed25519');
}

// ---------------------------------------------------------------------------------------------
// Rewriting flights on the wire (tests that play a misbehaving peer)

/** Splits a flight (whole handshake messages back to back) into its messages, headers included. */
export function splitFlight(data: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let pos = 0; pos < data.length; ) {
    const len = (data[pos + 1] << 16) | (data[pos + 2] << 8) | data[pos + 3];
    out.push(data.slice(pos, pos + 4 + len));
    pos += 4 + len;
  }
  return out;
}

/** Joins messages into one flight. */
export function joinFlight(messages: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(messages.reduce((n, m) => n + m.length, 0));
  let pos = 0;
  for (const m of messages) {
    out.set(m, pos);
    pos += m.length;
  }
  return out;
}

/** One extension as raw `[type, data]`. */
export type RawExt = [number, Uint8Array];

function extensionsOffset(type: number, body: Uint8Array): number {
  const u8 = (p: number) => body[p];
  const u16 = (p: number) => (body[p] << 8) | body[p + 1];
  switch (type) {
    case 1: {
      let p = 2 + 32;
      p += 1 + u8(p);
      p += 2 + u16(p);
      p += 1 + u8(p);
      return p;
    }
    case 2: {
      let p = 2 + 32;
      p += 1 + u8(p);
      return p + 3;
    }
    case 8:
      return 0;
    case 13:
      return 1 + u8(0);
    case 4: {
      let p = 8;
      p += 1 + u8(p);
      p += 2 + u16(p);
      return p;
    }
    default:
      throw new Error(`no extension block in message type ${type}`);
  }
}

/**
 * Rewrites the extension block of a ClientHello, ServerHello/HelloRetryRequest,
 * EncryptedExtensions, CertificateRequest or NewSessionTicket (`raw` with its header): `fn` gets the
 * extensions as raw `[type, data]` pairs and returns the new list — duplicates, forbidden types and
 * bad bodies included, which the encoders would refuse to write.
 */
export function rewriteExtensions(raw: Uint8Array, fn: (exts: RawExt[]) => RawExt[]): Uint8Array {
  const type = raw[0];
  const body = raw.subarray(4);
  const off = extensionsOffset(type, body);
  const exts: RawExt[] = [];
  const end = off + 2 + ((body[off] << 8) | body[off + 1]);
  for (let p = off + 2; p < end; ) {
    const t = (body[p] << 8) | body[p + 1];
    const l = (body[p + 2] << 8) | body[p + 3];
    exts.push([t, body.slice(p + 4, p + 4 + l)]);
    p += 4 + l;
  }
  const next = fn(exts);
  const block = joinFlight(next.map(([t, d]) => Uint8Array.from([t >> 8, t & 0xff, d.length >> 8, d.length & 0xff, ...d])));
  const newBody = joinFlight([body.subarray(0, off), Uint8Array.of(block.length >> 8, block.length & 0xff), block, body.subarray(end)]);
  return joinFlight([Uint8Array.of(type, newBody.length >> 16, (newBody.length >> 8) & 0xff, newBody.length & 0xff), newBody]);
}

/** Applies `fn` to the message of type `type` in a flight (others unchanged). */
export function rewriteInFlight(data: Uint8Array, type: number, fn: (raw: Uint8Array) => Uint8Array | null): Uint8Array {
  return joinFlight(
    splitFlight(data)
      .map((m) => (m[0] === type ? fn(m) : m))
      .filter((m): m is Uint8Array => m !== null),
  );
}
