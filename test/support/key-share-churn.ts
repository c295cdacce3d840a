/**
 * A child process for test/crypto/key-share-gc: makes `count` X25519 key shares with the node
 * provider (each exported and used once) while allocating garbage, so that collections run during
 * the exports. Prints `done <count>` when every share agreed with its peer.
 */
import { nodeCrypto } from '../../src/crypto/node.js';

const count = Number(process.argv[2] ?? 30_000);
const peer = nodeCrypto.keyShare('x25519');
let junk: number[][] = [];
for (let i = 0; i < count; i++) {
  const share = nodeCrypto.keyShare('x25519');
  const a = share.computeSecret(peer.publicKey);
  const b = peer.computeSecret(share.publicKey);
  if (Buffer.compare(a, b) !== 0) throw new Error(`share ${i}: the two sides disagree`);
  junk.push(new Array(20).fill(i));
  if (junk.length > 1000) junk = [];
}
console.log(`done ${count}`);
