/**
 * The client's memory of NEW_TOKEN tokens (RFC 9000 §8.1.3): tokens a server gave on earlier
 * connections, kept per server and each used for one later connection to that same server, so
 * that it starts with its address validated (no Retry round trip, no anti-amplification limit).
 *
 * §8.1.3: a client MUST NOT use a token for another server (tokens are kept per server name and
 * port, or address and port without a name) and MUST NOT reuse a token for different connection
 * attempts (a token is removed when taken). Memory is bounded: a few tokens per server, the newest
 * kept, and a bounded number of servers, the least recently used forgotten first.
 *
 * @module
 */

/** Tokens kept per server at most (the newest). */
export const TOKENS_PER_SERVER = 4;
/** Servers remembered at most (least recently used forgotten first). */
export const TOKEN_MEMORY_SERVERS = 256;

/**
 * Where a client keeps NEW_TOKEN tokens between connections (`connect({ tokenStore })`), e.g. to
 * keep them across restarts. `server` identifies the server: its name, or address without one, and
 * port. A store must hand each token out at most once (RFC 9000 §8.1.3).
 */
export interface TokenStore {
  /** Keeps a token `server` gave. */
  remember(server: string, token: Uint8Array): void;
  /** Removes and returns a token of `server` for a new connection, if there is one. */
  take(server: string): Uint8Array | undefined;
}

/** A bounded in-memory {@link TokenStore}: a few tokens per server, newest first, least recently used servers forgotten first. */
export class TokenMemory implements TokenStore {
  private readonly servers = new Map<string, Uint8Array[]>();

  /** Remembers a token `server` gave (a copy). */
  remember(server: string, token: Uint8Array): void {
    let tokens = this.servers.get(server);
    if (tokens === undefined) {
      if (this.servers.size >= TOKEN_MEMORY_SERVERS) this.servers.delete(this.servers.keys().next().value as string);
      tokens = [];
    } else this.servers.delete(server); // re-inserted below: most recently used last
    tokens.push(token.slice());
    if (tokens.length > TOKENS_PER_SERVER) tokens.shift();
    this.servers.set(server, tokens);
  }

  /** Removes and returns the newest token of `server`, if any (each token serves one connection attempt). */
  take(server: string): Uint8Array | undefined {
    const tokens = this.servers.get(server);
    if (tokens === undefined) return undefined;
    const token = tokens.pop();
    if (tokens.length === 0) this.servers.delete(server);
    return token;
  }

  /** Tokens remembered for `server`. */
  count(server: string): number {
    return this.servers.get(server)?.length ?? 0;
  }
}

/** The key of a server in a {@link TokenMemory}: its name (or address without one) and port. */
export function tokenServerKey(serverName: string | undefined, address: string, port: number): string {
  return serverName !== undefined ? `name:${serverName.toLowerCase()}:${port}` : `addr:${address}:${port}`;
}

/** The process-wide memory `connect()` uses by default. */
export const defaultTokenMemory = new TokenMemory();
