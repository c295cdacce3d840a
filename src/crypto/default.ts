/**
 * The crypto provider used when none is chosen, and both providers by name.
 *
 * Chosen by `bench/crypto.ts` (Node 20.20, 2-core shared machine, CPU time per packet, best of
 * interleaved slices): node:crypto protects full 1200-byte 1-RTT packets about 10–15× faster than
 * noble with AES-128-GCM and AES-256-GCM (≈ 7 µs vs ≈ 85–100 µs per packet) and about 2–4.5×
 * faster with ChaCha20-Poly1305 (≈ 10 µs vs ≈ 25–45 µs); removing protection shows the same
 * ratios. The noble provider stays selectable (and passes every crypto test) for runtimes without
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
