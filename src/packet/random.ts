/**
 * Random integers for the packet builder: packet number skips (RFC 9000 §21.4) and Fixed Bit
 * greasing (RFC 9287 §3). Injectable so tests are deterministic; the default draws from the crypto
 * provider, because an attacker who could predict the skipped packet numbers could acknowledge
 * around them.
 *
 * @module
 */
import type { CryptoProvider } from '../crypto/provider.js';

/** A source of uniformly distributed integers. */
export interface RandomSource {
  /** A uniformly distributed integer in `[0, bound)`, for an integer `bound` in 1 … 2^32. */
  nextInt(bound: number): number;
}

const TWO_POW_32 = 0x1_0000_0000;
const POOL_BYTES = 256;

/**
 * A {@link RandomSource} over `provider.randomBytes`, drawn 256 bytes at a time. Uniform by
 * rejection sampling (no modulo bias).
 */
export function cryptoRandomSource(provider: CryptoProvider): RandomSource {
  let pool: Uint8Array = new Uint8Array(0);
  let pos = 0;
  const u32 = (): number => {
    if (pos + 4 > pool.length) {
      pool = provider.randomBytes(POOL_BYTES);
      pos = 0;
    }
    const v = pool[pos] * 0x100_0000 + ((pool[pos + 1] << 16) | (pool[pos + 2] << 8) | pool[pos + 3]);
    pos += 4;
    return v;
  };
  return {
    nextInt(bound: number): number {
      if (!Number.isInteger(bound) || bound < 1 || bound > TWO_POW_32) throw new RangeError(`random bound ${bound} is not an integer in 1..2^32`);
      // Reject the top TWO_POW_32 % bound values so every residue is equally likely.
      const limit = TWO_POW_32 - (TWO_POW_32 % bound);
      for (;;) {
        const v = u32();
        if (v < limit) return v % bound;
      }
    },
  };
}
