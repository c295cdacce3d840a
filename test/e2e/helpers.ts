/**
 * End-to-end helpers: our server and client over loopback UDP through the public API.
 */
import { createHash } from 'node:crypto';
import { connect, createServer, type QuicClientOptions, type QuicConnection, type QuicConnectOptions, type QuicServer, type QuicServerOptions } from '../../src/index.js';

export { until } from '../endpoint/helpers.js';

/** A server on `host` (default 127.0.0.1) with a generated certificate. */
export function server(options: Partial<QuicServerOptions> = {}): Promise<QuicServer> {
  return createServer({ host: '127.0.0.1', port: 0, alpn: ['test'], ...options });
}

/** A client connected to `s`, pinning its certificate. */
export function client(s: QuicServer, options: Partial<QuicClientOptions> & Pick<QuicConnectOptions, 'endpoint' | 'localHost' | 'localPort'> = {}): Promise<QuicConnection> {
  const host = s.address.family === 'IPv6' ? '::1' : '127.0.0.1';
  return connect({ host, port: s.address.port, alpn: ['test'], pinnedSpkiSha256: [s.certificateSpkiSha256], ...options });
}

/** The next connection the server delivers. */
export async function accepted(s: QuicServer): Promise<QuicConnection> {
  const reader = s.incomingConnections.getReader();
  try {
    const { value, done } = await reader.read();
    if (done) throw new Error('the server ended before a connection arrived');
    return value;
  } finally {
    reader.releaseLock();
  }
}

/** Reads a stream to its end. */
export async function readAll(readable: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let length = 0;
  const reader = readable.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    chunks.push(value);
    length += value.length;
  }
  const out = new Uint8Array(length);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/** Writes `data` in `chunk`-byte writes honouring backpressure, then closes (FIN). */
export async function writeAll(writable: WritableStream<Uint8Array>, data: Uint8Array, chunk = 64 * 1024): Promise<void> {
  const writer = writable.getWriter();
  for (let off = 0; off < data.length; off += chunk) {
    await writer.ready;
    writer.write(data.subarray(off, off + chunk)).catch(() => undefined);
  }
  await writer.close();
}

/** Reads a stream to its end, returning its SHA-256 (hex) and length without keeping the bytes. */
export async function digestAll(readable: ReadableStream<Uint8Array>): Promise<{ sha256: string; length: number }> {
  const hash = createHash('sha256');
  let length = 0;
  const reader = readable.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    hash.update(value);
    length += value.length;
  }
  return { sha256: hash.digest('hex'), length };
}

/** SHA-256 (hex). */
export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Text ↔ bytes. */
/** What `promise` rejects with, or undefined when it fulfils (for asserting on an expected failure). */
export function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (e: unknown) => e,
  );
}

export const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
export const text = (b: Uint8Array): string => new TextDecoder().decode(b);
