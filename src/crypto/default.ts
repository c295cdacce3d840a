/**
 * The crypto provider used when none is chosen, and both providers by name.
 *
 * Chosen by `bench/crypto.ts` (Node 20.20, 2-core shared machine; each provider × AEAD in its own
 * process, CPU time per packet): node:crypto protects whole 1200-byte 1-RTT packets about 8–11×
 * faster than noble with AES-128-GCM (≈ 6 µs vs ≈ 50–65 µs per packet), about 7.5–8× faster
 * with AES-256-GCM (≈ 8.5 µs vs ≈ 65 µs) and about 2.2–2.5× faster with ChaCha20-Poly1305
 * (≈ 8–11 µs vs ≈ 20–24 µs); removing protection shows similar ratios (ChaCha20: 1.6–2.6×).
 * The noble provider stays selectable, and passes every crypto test, for runtimes without
 * OpenSSL.
 *
 * @module
 */
import { nobleCrypto } from './noble.js';
import { nodeCrypto } from './node.js';
import type { CryptoProvider } from './provider.js';

/** The names of the built-in providers. */
export type CryptoProviderName = 'node' | 'noble';

/** Both built-in providers, by name. */
export const cryptoProviders: Readonly<Record<CryptoProviderName, CryptoProvider>> = Object.freeze({
  node: nodeCrypto,
  noble: nobleCrypto,
});

/** The provider used by default on Node.js: node:crypto (OpenSSL), the faster one on every suite. */
export const defaultCryptoProvider: CryptoProvider = nodeCrypto;
