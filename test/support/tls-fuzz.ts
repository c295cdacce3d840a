/**
 * A seeded PRNG and a byte mutator for fuzzing handshake flights: bit flips, boundary and random
 * byte overwrites, insertions, deletions, truncations, duplicated slices, and an optional repair of
 * each message's length header so that mutations reach the decoders instead of leaving the
 * reassembler waiting for bytes that never come.
 *
 * @module
 */

/** mulberry32: a small, fast, seedable PRNG. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  /** A uniform 32-bit integer. */
  u32(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** A uniform integer in [0, n). */
  int(n: number): number {
    return n <= 0 ? 0 : this.u32() % n;
  }
  /** `n` random bytes. */
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }
  /** One element of `list`. */
  pick<T>(list: readonly T[]): T {
    return list[this.int(list.length)];
  }
}

const BOUNDARY_BYTES = [0x00, 0x01, 0x02, 0x03, 0x04, 0x0a, 0x1a, 0x20, 0x2f, 0x30, 0x7f, 0x80, 0xfe, 0xff];

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

/** Applies 1–4 random mutations to a copy of `input`. */
export function mutate(rng: Rng, input: Uint8Array): Uint8Array {
  let b: Uint8Array = input.slice();
  const rounds = 1 + rng.int(4);
  for (let r = 0; r < rounds; r++) {
    const pos = rng.int(b.length + 1);
    switch (rng.int(7)) {
      case 0:
        if (b.length) b[rng.int(b.length)] ^= 1 << rng.int(8);
        break;
      case 1:
        if (b.length) b[rng.int(b.length)] = rng.pick(BOUNDARY_BYTES);
        break;
      case 2:
        if (b.length) b[rng.int(b.length)] = rng.u32() & 0xff;
        break;
      case 3:
        b = concat(b.subarray(0, pos), rng.bytes(1 + rng.int(8)), b.subarray(pos));
        break;
      case 4:
        b = concat(b.subarray(0, pos), b.subarray(Math.min(b.length, pos + 1 + rng.int(16))));
        break;
      case 5:
        b = b.subarray(0, rng.int(b.length + 1)).slice();
        break;
      default: {
        const len = 1 + rng.int(64);
        b = concat(b.subarray(0, pos), b.subarray(pos, pos + len), b.subarray(pos));
        break;
      }
    }
  }
  return b;
}

/**
 * Rewrites the 24-bit length of each handshake message in a flight so that the headers describe
 * the (mutated) bytes: the last message takes whatever is left.
 */
export function repairLengths(flight: Uint8Array, originalLengths: readonly number[]): Uint8Array {
  const b = flight.slice();
  let pos = 0;
  for (let i = 0; i < originalLengths.length && pos + 4 <= b.length; i++) {
    const last = i === originalLengths.length - 1;
    const len = last ? b.length - pos - 4 : Math.min(originalLengths[i], b.length - pos - 4);
    b[pos + 1] = (len >> 16) & 0xff;
    b[pos + 2] = (len >> 8) & 0xff;
    b[pos + 3] = len & 0xff;
    pos += 4 + len;
  }
  return b;
}
