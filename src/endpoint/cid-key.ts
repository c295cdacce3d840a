/**
 * String keys for connection IDs: the endpoint's routing table is a `Map` keyed by them, and one
 * key is made per received datagram, so this is a small table lookup per byte.
 *
 * @module
 */

const HEX: readonly string[] = Array.from({ length: 256 }, (_, i) => (i < 16 ? '0' : '') + i.toString(16));

/** Lowercase hex of `bytes[start, end)` (a connection ID, 0–255 bytes; default all of `bytes`): equal IDs give equal keys. */
export function cidKey(bytes: Uint8Array, start = 0, end = bytes.length): string {
  let s = '';
  for (let i = start; i < end; i++) s += HEX[bytes[i]];
  return s;
}
