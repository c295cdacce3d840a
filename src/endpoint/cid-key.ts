/**
 * String keys for connection IDs: the endpoint's routing table is a `Map` keyed by them, and one
 * key is made per received datagram, so this is a small table lookup per byte.
 *
 * @module
 */

const HEX: readonly string[] = Array.from({ length: 256 }, (_, i) => (i < 16 ? '0' : '') + i.toString(16));

/** Lowercase hex of `cid` (0–255 bytes): equal IDs give equal keys. */
export function cidKey(cid: Uint8Array): string {
  let s = '';
  for (let i = 0; i < cid.length; i++) s += HEX[cid[i]];
  return s;
}
