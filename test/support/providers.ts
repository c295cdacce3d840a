/**
 * The crypto providers every crypto test runs against: both must pass every test
 * (CONTRIBUTING.md, "Crypto goes through CryptoProvider").
 *
 * @module
 */
import { nodeCrypto } from '../../src/crypto/node.js';
import { nobleCrypto } from '../../src/crypto/noble.js';
import type { CryptoProvider } from '../../src/crypto/provider.js';

/** Both providers: `node` (OpenSSL) and `noble` (pure JavaScript). */
export const providers: readonly CryptoProvider[] = [nodeCrypto, nobleCrypto];

/** Every ordered pair of distinct providers, for "sealed by one, opened by the other" tests. */
export const providerPairs: ReadonlyArray<readonly [CryptoProvider, CryptoProvider]> = providers.flatMap((a) =>
  providers.filter((b) => b !== a).map((b) => [a, b] as const),
);
