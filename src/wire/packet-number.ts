/**
 * Packet number encoding and decoding (RFC 9000 §17.1 and Appendix A.2, A.3).
 *
 * Packet numbers are integers in 0 … 2^62−1; a sender encodes only the low 1–4 bytes and the
 * receiver recovers the full number from the largest packet number it has received. This
 * implementation holds packet numbers as `number`: our own never approach 2^53, and a peer's
 * that did would first have to be sent 2^53 times.
 *
 * @module
 */

/** Largest packet number: 2^62 − 1 (RFC 9000 §12.3). */
export const MAX_PACKET_NUMBER = 2 ** 62 - 1;

/**
 * Number of bytes (1–4) to encode `packetNumber` so that the receiver can decode it, given the
 * largest packet number the peer has acknowledged in this space (RFC 9000 §17.1, Appendix A.2):
 * the encoding must cover more than twice the range of unacknowledged packets.
 */
export function packetNumberLength(packetNumber: number, largestAcked: number | undefined): 1 | 2 | 3 | 4 {
  const numUnacked = largestAcked === undefined ? packetNumber + 1 : Math.max(1, packetNumber - largestAcked);
  // Appendix A.2: min_bits = log2(num_unacked) + 1; bytes = ceil(min_bits / 8), i.e. the
  // smallest b with 2 * num_unacked <= 2^(8b).
  const twice = 2 * numUnacked;
  if (twice <= 0x100) return 1;
  if (twice <= 0x1_0000) return 2;
  if (twice <= 0x100_0000) return 3;
  return 4;
}

/** Writes the low `length` bytes of `packetNumber` big-endian at `offset`; returns the offset after them. */
export function writePacketNumber(buf: Uint8Array, offset: number, packetNumber: number, length: 1 | 2 | 3 | 4): number {
  // `% 2^32` keeps the low 32 bits exact for any safe integer, unlike `>>> 0` on huge values.
  const low = packetNumber % 0x1_0000_0000;
  for (let i = length - 1; i >= 0; i--) {
    buf[offset + length - 1 - i] = Math.floor(low / 2 ** (8 * i)) & 0xff;
  }
  return offset + length;
}

/** Reads a `length`-byte truncated packet number at `offset` (big-endian). */
export function readTruncatedPacketNumber(buf: Uint8Array, offset: number, length: number): number {
  let v = 0;
  for (let i = 0; i < length; i++) v = v * 256 + buf[offset + i];
  return v;
}

/**
 * Recovers a full packet number from its truncated encoding (RFC 9000 Appendix A.3).
 *
 * @param largestPn largest packet number successfully processed in this space, or −1 if none.
 * @param truncatedPn the value of the packet number field.
 * @param pnBits the field's length in bits (8, 16, 24 or 32).
 */
export function decodePacketNumber(largestPn: number, truncatedPn: number, pnBits: number): number {
  const expectedPn = largestPn + 1;
  const pnWin = 2 ** pnBits;
  const pnHwin = pnWin / 2;
  // (expected_pn & ~pn_mask) | truncated_pn, in arithmetic that stays exact above 2^32.
  const candidatePn = expectedPn - (expectedPn % pnWin) + truncatedPn;
  if (candidatePn <= expectedPn - pnHwin && candidatePn < 2 ** 62 - pnWin) {
    return candidatePn + pnWin;
  }
  if (candidatePn > expectedPn + pnHwin && candidatePn >= pnWin) {
    return candidatePn - pnWin;
  }
  return candidatePn;
}
