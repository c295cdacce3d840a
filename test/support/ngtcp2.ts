/**
 * Running ngtcp2 0.12's GnuTLS examples — `gtlsserver` and `gtlsclient`, an HTTP/3 server and
 * client (Debian's ngtcp2-server / ngtcp2-client) — against the real stack over loopback UDP, and
 * reading what they print.
 *
 * - {@link makeOpensslCertificate}: a key and a self-signed certificate made by `openssl` in a
 *   temporary directory (never committed), for `gtlsserver` or for our server.
 * - {@link startGtlsServer} / {@link startGtlsClient}: the tools as {@link PeerProcess}es on
 *   127.0.0.1 (or ::1), always with debug output (`-q` silences everything a test checks) but
 *   without the QUIC/HTTP payload hex dumps. Each has a hard time limit after which it is killed;
 *   {@link PeerProcess.stop} kills it at once, and every peer still running when the test process
 *   exits is killed too.
 * - Parsers for the tools' debug output ({@link Ngtcp2Log}): handshake completion and
 *   confirmation, the negotiated version, cipher suite and ALPN, the transport parameters the tool
 *   received from us, the CONNECTION_CLOSE frames it received or sent, simulated losses and key
 *   phases.
 * - The minimum of HTTP/3 (RFC 9114) needed to make the tools send data — a GET request and a
 *   bodiless 200 response encoded with QPACK static-table references only (RFC 9204), and a frame
 *   splitter for what comes back. Test-only: HTTP/3 proper comes later, in `src/h3`.
 * - Our side: {@link ownTlsFactory} (cipher suites and groups the public API does not expose,
 *   through its `connectionFactory` test hook, and a tap on received datagrams),
 *   {@link reachState}, {@link uniStreamHeads}, {@link readAll}, {@link within}.
 *
 * What the tools print (ngtcp2 0.12.1, nghttp3 0.8, GnuTLS 3.7.9 on Debian 12, all to stderr), as
 * found by running them by hand:
 *
 * - `QUIC handshake has completed`, `Negotiated cipher suite is AES-128-GCM`,
 *   `Negotiated ALPN is h3`, later `QUIC handshake has been confirmed` (the client, on
 *   HANDSHAKE_DONE); `I… con the negotiated version is 0x00000001`;
 * - `I… cry remote transport_parameters initial_max_data=1048576` for each parameter received;
 * - `I… frm rx 3 1RTT CONNECTION_CLOSE(0x1d) error_code=(unknown)(0x100) frame_type=0 reason_len=3 reason=[bye]`
 *   for a received close (then `ngtcp2_conn_read_pkt: ERR_DRAINING`), `frm tx …` for a sent one;
 * - `** Simulated incoming packet loss **` / `** Simulated outgoing packet loss **` with `-r`/`-t`;
 * - `I… pkt rx pkn=11 dcid=0x… type=1RTT k=1`, `I… cry key update confirmed` around a key update;
 * - `-s` adds secrets, `-q` suppresses all of the above (only error lines remain).
 *
 * @module
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConnectionFactory } from '../../src/api/core-factory.js';
import type { QuicConnection } from '../../src/api/index.js';
import type { KeyExchangeGroup } from '../../src/crypto/provider.js';
import type { ConnectionFactory } from '../../src/endpoint/endpoint.js';
import type { ConnectionState, QuicConnectionCore, SocketAddress } from '../../src/transport/connection-types.js';

// ---------------------------------------------------------------------------------------------
// Cipher suites and groups as GnuTLS priority strings

/** The TLS 1.3 cipher suites QUIC uses (RFC 9001 §5.3), by their RFC names. */
export type Ngtcp2CipherSuite = 'TLS_AES_128_GCM_SHA256' | 'TLS_AES_256_GCM_SHA384' | 'TLS_CHACHA20_POLY1305_SHA256';

/** The key exchange groups both stacks share. */
export type Ngtcp2Group = 'x25519' | 'secp256r1';

/** Every cipher suite of {@link Ngtcp2CipherSuite}. */
export const CIPHER_SUITES: readonly Ngtcp2CipherSuite[] = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'];

/** Every group of {@link Ngtcp2Group}. */
export const GROUPS: readonly Ngtcp2Group[] = ['x25519', 'secp256r1'];

const GNUTLS_CIPHER: Record<Ngtcp2CipherSuite, string> = {
  TLS_AES_128_GCM_SHA256: 'AES-128-GCM',
  TLS_AES_256_GCM_SHA384: 'AES-256-GCM',
  TLS_CHACHA20_POLY1305_SHA256: 'CHACHA20-POLY1305',
};

const GNUTLS_GROUP: Record<Ngtcp2Group, string> = { x25519: 'GROUP-X25519', secp256r1: 'GROUP-SECP256R1' };

/** The tools' `--ciphers` argument enabling TLS 1.3 with `suite` only (a GnuTLS priority string). */
export function ciphersArgument(suite: Ngtcp2CipherSuite): string {
  return `--ciphers=NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+${GNUTLS_CIPHER[suite]}`;
}

/** The tools' `--groups` argument enabling `group` only. */
export function groupsArgument(group: Ngtcp2Group): string {
  return `--groups=-GROUP-ALL:+${GNUTLS_GROUP[group]}`;
}

/** How the tools name `suite` in `Negotiated cipher suite is …` (GnuTLS's cipher name). */
export function gnutlsCipherName(suite: Ngtcp2CipherSuite): string {
  return GNUTLS_CIPHER[suite];
}

// ---------------------------------------------------------------------------------------------
// Certificates made by openssl

/** A key and self-signed certificate written by `openssl` into a temporary directory. */
export interface OpensslCertificate {
  /** The directory holding `key.pem` and `cert.pem` (remove it with {@link OpensslCertificate.remove}). */
  readonly dir: string;
  /** Path of the PKCS#8 private key, PEM. */
  readonly keyPath: string;
  /** Path of the certificate, PEM. */
  readonly certPath: string;
  /** The private key as PEM text. */
  readonly keyPem: string;
  /** The certificate as PEM text. */
  readonly certificatePem: string;
  /** Base64 SHA-256 of the certificate's SubjectPublicKeyInfo (the form `pinnedSpkiSha256` takes). */
  readonly spkiSha256: string;
  /** Deletes the directory. */
  remove(): void;
}

/**
 * Makes an ECDSA P-256 (or RSA 2048) key and a self-signed certificate valid for a day, with
 * subjectAltName `DNS:localhost, IP:127.0.0.1, IP:::1` (plus `hostnames`), using the `openssl`
 * command in a fresh temporary directory. Throws with openssl's output when it fails.
 */
export function makeOpensslCertificate(options: { readonly keyType?: 'ecdsa-p256' | 'rsa'; readonly hostnames?: readonly string[] } = {}): OpensslCertificate {
  const dir = mkdtempSync(join(tmpdir(), 'quic-actors-ngtcp2-'));
  const keyPath = join(dir, 'key.pem');
  const certPath = join(dir, 'cert.pem');
  const keyArgs = options.keyType === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  const san = ['DNS:localhost', ...(options.hostnames ?? []).map((h) => `DNS:${h}`), 'IP:127.0.0.1', 'IP:::1'].join(',');
  const r = spawnSync('openssl', ['req', '-x509', ...keyArgs, '-nodes', '-keyout', keyPath, '-out', certPath, '-days', '1', '-subj', '/CN=localhost', '-addext', `subjectAltName=${san}`], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (r.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`openssl req failed (${r.status ?? r.signal ?? r.error?.message}): ${r.stderr}`);
  }
  const certificatePem = readFileSync(certPath, 'utf8');
  const spki = new X509Certificate(certificatePem).publicKey.export({ type: 'spki', format: 'der' });
  return {
    dir,
    keyPath,
    certPath,
    keyPem: readFileSync(keyPath, 'utf8'),
    certificatePem,
    spkiSha256: createHash('sha256').update(spki).digest('base64'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

// ---------------------------------------------------------------------------------------------
// Peer processes

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function killOnExit(child: ChildProcess): void {
  running.add(child);
  child.once('exit', () => running.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // A test process that dies (uncaught error, runner timeout) leaves no peer behind.
    process.once('exit', () => {
      for (const c of running) c.kill('SIGKILL');
    });
  }
}

/** How a peer process ended. */
export interface PeerExit {
  /** Exit code, or null when killed by a signal. */
  readonly code: number | null;
  /** The signal that killed it, if any. */
  readonly signal: NodeJS.Signals | null;
  /** True when it was killed because its time limit ran out (not by {@link PeerProcess.stop}). */
  readonly timedOut: boolean;
}

/**
 * A spawned ngtcp2 tool: its output as it arrives, its exit, and a hard time limit. Call
 * {@link stop} in a `finally` block; it is idempotent.
 */
export class PeerProcess {
  /** The command line, for messages. */
  readonly commandLine: string;
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<PeerExit>;
  private readonly child: ChildProcess;
  private out = '';
  private err = '';
  private timedOut = false;
  private readonly timer: NodeJS.Timeout;
  private readonly waiters = new Set<() => void>();
  private exit: PeerExit | undefined;

  /** Spawns `command args…`; it is killed after `timeLimitMs` if still running. */
  constructor(command: string, args: readonly string[], timeLimitMs: number) {
    this.commandLine = [command, ...args].join(' ');
    this.child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    killOnExit(this.child);
    this.child.stdout?.setEncoding('utf8').on('data', (d: string) => this.onData('out', d));
    this.child.stderr?.setEncoding('utf8').on('data', (d: string) => this.onData('err', d));
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.child.kill('SIGKILL');
    }, timeLimitMs);
    this.exited = new Promise<PeerExit>((resolve) => {
      const done = (code: number | null, signal: NodeJS.Signals | null) => {
        clearTimeout(this.timer);
        this.exit ??= { code, signal, timedOut: this.timedOut };
        this.notify();
        resolve(this.exit);
      };
      this.child.once('exit', done);
      this.child.once('error', (e) => {
        this.err += `\n[spawn error: ${e.message}]`;
        done(null, null);
      });
    });
  }

  /** Everything printed so far: stderr (where ngtcp2 writes its debug output, in order), then stdout. */
  get output(): string {
    return this.out === '' ? this.err : `${this.err}\n${this.out}`;
  }

  /** The parsed output so far. */
  get log(): Ngtcp2Log {
    return new Ngtcp2Log(this.output);
  }

  /** True while the process runs. */
  get running(): boolean {
    return this.exit === undefined;
  }

  /**
   * Resolves with the parsed output once `condition` holds for it; rejects when the process
   * exits first or `timeoutMs` passes (the error carries the output's tail).
   */
  waitFor(condition: (log: Ngtcp2Log) => boolean, what: string, timeoutMs = 10_000): Promise<Ngtcp2Log> {
    return new Promise<Ngtcp2Log>((resolve, reject) => {
      const check = (): boolean => {
        const log = this.log;
        if (condition(log)) {
          finish();
          resolve(log);
          return true;
        }
        if (this.exit !== undefined) {
          finish();
          reject(new Error(`${this.commandLine} exited (${JSON.stringify(this.exit)}) before ${what}:\n${tail(this.output)}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} from ${this.commandLine}:\n${tail(this.output)}`));
      }, timeoutMs);
      const waiter = (): void => {
        check();
      };
      const finish = (): void => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
      };
      if (!check()) this.waiters.add(waiter);
    });
  }

  /** Waits for the exit, at most `timeoutMs` (then kills); resolves with how it ended. */
  async waitForExit(timeoutMs = 10_000): Promise<PeerExit> {
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    await Promise.race([this.exited, limit]);
    clearTimeout(timer);
    if (this.exit === undefined) this.child.kill('SIGKILL');
    return this.exited;
  }

  /** Kills the process (SIGKILL) if it still runs and waits for its exit. */
  async stop(): Promise<PeerExit> {
    if (this.exit === undefined) this.child.kill('SIGKILL');
    return this.exited;
  }

  private onData(stream: 'out' | 'err', data: string): void {
    if (stream === 'out') this.out += data;
    else this.err += data;
    this.notify();
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }
}

function tail(text: string, lines = 40): string {
  return text.split('\n').slice(-lines).join('\n');
}

/** A UDP port on `host` that was free a moment ago (bound and released). */
export async function freeUdpPort(host = '127.0.0.1'): Promise<number> {
  const s = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.bind(0, host, () => resolve());
  });
  const port = s.address().port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** True when some process has a UDP socket bound to `port` (Linux `/proc/net/udp*`); undefined where that cannot be read. */
function udpPortBound(port: number): boolean | undefined {
  const files = ['/proc/net/udp', '/proc/net/udp6'].filter((f) => existsSync(f));
  if (files.length === 0) return undefined;
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')} `;
  return files.some((f) => readFileSync(f, 'utf8').split('\n').some((line) => line.trim().split(/\s+/)[1]?.endsWith(hex.trim())));
}

/** Options of {@link startGtlsServer}. */
export interface GtlsServerOptions {
  /** The key and certificate it serves. */
  readonly certificate: Pick<OpensslCertificate, 'keyPath' | 'certPath' | 'dir'>;
  /** Extra arguments (before the address). */
  readonly args?: readonly string[];
  /** Listen address; default 127.0.0.1. Only loopback addresses are allowed. */
  readonly host?: '127.0.0.1' | '::1';
  /** Hard limit on the process's life, ms (default 30 s). */
  readonly timeLimitMs?: number;
}

/** A running `gtlsserver`. */
export interface GtlsServer {
  /** The process. */
  readonly process: PeerProcess;
  /** Its address. */
  readonly host: string;
  /** Its UDP port. */
  readonly port: number;
}

/**
 * Starts `gtlsserver --no-quic-dump --no-http-dump [args…] <host> <port> key cert` on a free
 * loopback port (document root: the certificate's directory) and waits until its socket is bound
 * (read from /proc/net/udp; elsewhere a short fixed wait — clients retransmit their first Initial
 * anyway). A server that exits at start (its port taken between our probe and its bind) is started
 * again on another port, up to three times; then this rejects with its output.
 */
export async function startGtlsServer(options: GtlsServerOptions): Promise<GtlsServer> {
  const host = options.host ?? '127.0.0.1';
  for (let attempt = 1; ; attempt++) {
    const port = await freeUdpPort(host);
    const args = ['--no-quic-dump', '--no-http-dump', `--htdocs=${options.certificate.dir}`, ...(options.args ?? []), host, String(port), options.certificate.keyPath, options.certificate.certPath];
    const peer = new PeerProcess('gtlsserver', args, options.timeLimitMs ?? 30_000);
    const started = Date.now();
    for (;;) {
      if (!peer.running) break;
      const bound = udpPortBound(port);
      if (bound === true || (bound === undefined && Date.now() - started >= 200)) return { process: peer, host, port };
      if (Date.now() - started > 5000) {
        await peer.stop();
        throw new Error(`gtlsserver did not bind ${host}:${port} within 5 s:\n${peer.output}`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    if (attempt === 3) throw new Error(`gtlsserver exited at start (${JSON.stringify(await peer.exited)}):\n${peer.output}`);
  }
}

/**
 * Starts `gtlsclient --no-quic-dump --no-http-dump [args…] <host> <port> https://localhost:<port>/`
 * (its idle timeout is whatever `args` set; pass `--timeout=`). Only loopback addresses are allowed.
 */
export function startGtlsClient(host: '127.0.0.1' | '::1', port: number, args: readonly string[] = [], timeLimitMs = 30_000, path = '/'): PeerProcess {
  return new PeerProcess('gtlsclient', ['--no-quic-dump', '--no-http-dump', ...args, host, String(port), `https://localhost:${port}${path}`], timeLimitMs);
}

// ---------------------------------------------------------------------------------------------
// What the tools print

/** A CONNECTION_CLOSE frame an ngtcp2 tool logged as received (`frm rx`) or sent (`frm tx`). */
export interface Ngtcp2ConnectionClose {
  /** `rx` or `tx`. */
  readonly direction: 'rx' | 'tx';
  /** The packet it came in: `Initial`, `Handshake` or `1RTT`. */
  readonly level: string;
  /** 0x1c (transport) or 0x1d (application). */
  readonly frameType: number;
  /** The error code. */
  readonly errorCode: bigint;
  /** The reason phrase. */
  readonly reason: string;
}

const CLOSE_LINE = /frm (rx|tx) \d+ (Initial|Handshake|1RTT|0RTT) CONNECTION_CLOSE\((0x1[cd])\) error_code=(?:\(unknown\)|[A-Z_0-9]+)\((0x[0-9a-f]+)\) frame_type=\w+ reason_len=(\d+) reason=\[(.*)\]$/;
const TP_LINE = /cry remote transport_parameters ([\w.[\]]+)=(\S*)$/;

/** A tool's debug output, parsed. */
export class Ngtcp2Log {
  /** The raw text. */
  readonly text: string;
  /** Its lines. */
  readonly lines: readonly string[];

  /** Parses `text`. */
  constructor(text: string) {
    this.text = text;
    this.lines = text.split('\n');
  }

  /** True when the line `QUIC handshake has completed` was printed. */
  get handshakeCompleted(): boolean {
    return this.lines.includes('QUIC handshake has completed');
  }

  /** True when the client printed `QUIC handshake has been confirmed` (it received HANDSHAKE_DONE). */
  get handshakeConfirmed(): boolean {
    return this.lines.includes('QUIC handshake has been confirmed');
  }

  /** GnuTLS's name of the negotiated cipher suite (`Negotiated cipher suite is …`), if printed. */
  get negotiatedCipher(): string | undefined {
    return this.after('Negotiated cipher suite is ');
  }

  /** The negotiated ALPN protocol (`Negotiated ALPN is …`), if printed. */
  get negotiatedAlpn(): string | undefined {
    return this.after('Negotiated ALPN is ');
  }

  /** Every version of `con the negotiated version is 0x…`, as numbers, in order. */
  get negotiatedVersions(): number[] {
    return this.lines.flatMap((l) => {
      const m = /con the negotiated version is (0x[0-9a-f]+)$/.exec(l);
      return m === null ? [] : [Number(m[1])];
    });
  }

  /** The transport parameters the tool received (`cry remote transport_parameters name=value`), by ngtcp2's names; the last value wins. */
  get remoteTransportParameters(): ReadonlyMap<string, string> {
    const out = new Map<string, string>();
    for (const l of this.lines) {
      const m = TP_LINE.exec(l);
      if (m !== null) out.set(m[1], m[2]);
    }
    return out;
  }

  /** Every CONNECTION_CLOSE frame the tool logged, in order. */
  get connectionCloses(): Ngtcp2ConnectionClose[] {
    return this.lines.flatMap((l) => {
      const m = CLOSE_LINE.exec(l);
      if (m === null) return [];
      return [{ direction: m[1] as 'rx' | 'tx', level: m[2], frameType: Number(m[3]), errorCode: BigInt(m[4]), reason: m[6] }];
    });
  }

  /** The CONNECTION_CLOSE frames the tool received. */
  get receivedCloses(): Ngtcp2ConnectionClose[] {
    return this.connectionCloses.filter((c) => c.direction === 'rx');
  }

  /** How many `** Simulated … packet loss **` lines were printed before `line` (default: in all). */
  simulatedLosses(beforeLine?: string): number {
    const end = beforeLine === undefined ? this.lines.length : this.lines.indexOf(beforeLine);
    let n = 0;
    for (let i = 0; i < (end < 0 ? this.lines.length : end); i++) if (/^\*\* Simulated (incoming|outgoing) packet loss \*\*$/.test(this.lines[i])) n++;
    return n;
  }

  /** The key phase bits (`k=0`/`k=1`) of the 1-RTT packets logged in `direction`, in order. */
  keyPhases(direction: 'rx' | 'tx'): number[] {
    const re = new RegExp(`pkt ${direction} pkn=\\d+ dcid=0x[0-9a-f]* type=1RTT k=([01])$`);
    return this.lines.flatMap((l) => {
      const m = re.exec(l);
      return m === null ? [] : [Number(m[1])];
    });
  }

  /** The distinct destination connection IDs (hex) of the 1-RTT packets logged in `direction`, in order of first use. */
  oneRttDestinationCids(direction: 'rx' | 'tx'): string[] {
    const re = new RegExp(`pkt ${direction} pkn=\\d+ dcid=0x([0-9a-f]*) type=1RTT k=[01]$`);
    const seen: string[] = [];
    for (const l of this.lines) {
      const m = re.exec(l);
      if (m !== null && !seen.includes(m[1])) seen.push(m[1]);
    }
    return seen;
  }

  /** True when some line contains `fragment`. */
  has(fragment: string): boolean {
    return this.lines.some((l) => l.includes(fragment));
  }

  private after(prefix: string): string | undefined {
    const line = this.lines.find((l) => l.startsWith(prefix));
    return line === undefined ? undefined : line.slice(prefix.length);
  }
}

// ---------------------------------------------------------------------------------------------
// Just enough HTTP/3 to make gtlsserver send data (test-only)

/** HTTP/3 frame types used here (RFC 9114 §7.2). */
export const H3_FRAME = { DATA: 0x00, HEADERS: 0x01, SETTINGS: 0x04 } as const;
/** HTTP/3 unidirectional stream types (RFC 9114 §6.2; RFC 9204 §4.2). */
export const H3_STREAM = { CONTROL: 0x00, QPACK_ENCODER: 0x02, QPACK_DECODER: 0x03 } as const;
/** H3_NO_ERROR (RFC 9114 §8.1). */
export const H3_NO_ERROR = 0x100n;
/** H3_REQUEST_REJECTED (RFC 9114 §8.1). */
export const H3_REQUEST_REJECTED = 0x10bn;

function varint(v: number): number[] {
  if (v < 0x40) return [v];
  if (v < 0x4000) return [0x40 | (v >> 8), v & 0xff];
  if (v < 0x4000_0000) return [0x80 | (v >>> 24), (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
  throw new RangeError('varint too large for this helper');
}

/**
 * An HTTP/3 GET request for `https://<authority><path>`: one HEADERS frame (RFC 9114 §4.3.1)
 * whose field section uses the QPACK static table only — no dynamic table, so Required Insert
 * Count and Base are 0 (RFC 9204 §4.5.1): `:method GET` (index 17), `:scheme https` (23) as
 * indexed field lines, `:path` (name index 1) and `:authority` (name index 0) as literals with a
 * name reference, not Huffman-coded. Send it on a bidirectional stream and end the stream.
 */
export function http3GetRequest(path: string, authority: string): Uint8Array {
  const utf8 = new TextEncoder();
  const literal = (nameIndex: number, value: string): number[] => {
    const bytes = utf8.encode(value);
    if (bytes.length >= 0x7f) throw new RangeError('value too long for this helper');
    return [0x50 | nameIndex, bytes.length, ...bytes];
  };
  const fields = [0x00, 0x00, 0xc0 | 17, 0xc0 | 23, ...literal(1, path), ...literal(0, authority)];
  return Uint8Array.from([...varint(H3_FRAME.HEADERS), ...varint(fields.length), ...fields]);
}

/**
 * An HTTP/3 response with status 200 and no body: one HEADERS frame whose field section is the
 * QPACK static entry `:status 200` (index 25, RFC 9204 Appendix A). Send it and end the stream.
 */
export function http3Response200(): Uint8Array {
  const fields = [0x00, 0x00, 0xc0 | 25];
  return Uint8Array.from([H3_FRAME.HEADERS, fields.length, ...fields]);
}

/** One HTTP/3 frame's type and payload length. */
export interface Http3FrameInfo {
  /** Frame type. */
  readonly type: number;
  /** Payload length. */
  readonly length: number;
}

/** Splits a complete request or response stream into its HTTP/3 frames (type, length); throws on a truncated frame. */
export function http3Frames(stream: Uint8Array): Http3FrameInfo[] {
  const out: Http3FrameInfo[] = [];
  let off = 0;
  const read = (): number => {
    if (off >= stream.length) throw new RangeError('truncated HTTP/3 frame');
    const first = stream[off];
    const len = 1 << (first >> 6);
    if (off + len > stream.length) throw new RangeError('truncated HTTP/3 frame');
    let v = first & 0x3f;
    for (let i = 1; i < len; i++) v = v * 256 + stream[off + i];
    off += len;
    return v;
  };
  while (off < stream.length) {
    const type = read();
    const length = read();
    if (off + length > stream.length) throw new RangeError('truncated HTTP/3 frame payload');
    out.push({ type, length });
    off += length;
  }
  return out;
}

/** Reads a WHATWG readable byte stream to its end and concatenates the chunks. */
export async function readAll(readable: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let n = 0;
  for await (const c of readable) {
    chunks.push(c);
    n += c.length;
  }
  const out = new Uint8Array(n);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/** `promise`, or a rejection naming `what` after `timeoutMs` (a bound on waits, never a timing assertion). */
export async function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------
// Our side

/** TLS choices the public API does not expose: the cipher suites and groups our side offers or accepts. */
export interface OwnTlsChoices {
  /** Cipher suite codes (`CipherSuite.*`), in preference order. */
  readonly cipherSuites?: readonly number[];
  /** Key exchange groups, in preference order. */
  readonly groups?: readonly KeyExchangeGroup[];
}

/**
 * A connection factory (the API's `connectionFactory` test hook) making the real sans-IO
 * connection with `choices` added to its TLS configuration, and handing every datagram it
 * receives to `onDatagram` first (a copy) when given.
 */
export function ownTlsFactory(choices: OwnTlsChoices, onDatagram?: (datagram: Uint8Array, from: SocketAddress) => void): ConnectionFactory {
  return (options) => {
    const core: QuicConnectionCore =
      options.role === 'client'
        ? defaultConnectionFactory({ ...options, tls: { ...options.tls, ...choices } })
        : defaultConnectionFactory({ ...options, tls: { ...options.tls, ...choices } });
    if (onDatagram !== undefined) {
      const receive = core.receive.bind(core);
      core.receive = (datagram, from, now) => {
        onDatagram(datagram.slice(), from);
        receive(datagram, from, now);
      };
    }
    return core;
  };
}

/** Resolves once `connection` reaches `state` (e.g. `confirmed`: RFC 9001 §4.1.2); rejects if it closes first. */
export function reachState(connection: QuicConnection, state: ConnectionState): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let done = false;
    const sub = connection.state$.subscribe({
      next: (s) => {
        if (done) return;
        if (s === state) {
          done = true;
          resolve();
        } else if (s === 'closed') {
          done = true;
          reject(new Error(`closed before reaching ${state}: ${JSON.stringify(connection.closeReason, (_, v) => (typeof v === 'bigint' ? v.toString() : v))}`));
        }
      },
      complete: () => {
        if (!done) reject(new Error(`closed before reaching ${state}`));
      },
    });
    if (done) sub.unsubscribe();
  });
}

/** A peer-opened unidirectional stream's ID and its first bytes. */
export interface StreamHead {
  /** Stream ID. */
  readonly id: number;
  /** The first bytes read. */
  readonly head: Uint8Array;
}

/**
 * Takes the first `count` unidirectional streams the peer opens and reads each until `enough`
 * holds for the bytes read (default: one byte), then stops reading and leaves the stream open —
 * an HTTP/3 peer must not see its critical streams stopped.
 */
export async function uniStreamHeads(connection: QuicConnection, count: number, enough: (head: Uint8Array) => boolean = (head) => head.length > 0): Promise<StreamHead[]> {
  const streams = connection.incomingUnidirectionalStreams.getReader();
  const out: StreamHead[] = [];
  try {
    while (out.length < count) {
      const next = await streams.read();
      if (next.done) throw new Error(`the connection ended after ${out.length} unidirectional streams`);
      const reader = next.value.readable.getReader();
      let head = new Uint8Array(0);
      try {
        while (!enough(head)) {
          const r = await reader.read();
          if (r.done) break;
          const joined = new Uint8Array(head.length + r.value.length);
          joined.set(head);
          joined.set(r.value, head.length);
          head = joined;
        }
      } finally {
        reader.releaseLock();
      }
      out.push({ id: next.value.id, head });
    }
  } finally {
    streams.releaseLock();
  }
  return out;
}
