import { test } from 'uvu';
import { BULK_BYTES, BULK_STREAMS, bulkTransfer } from './bulk.js';

test(`node:crypto: ${BULK_BYTES / 1e6} MB each way over ${BULK_STREAMS} concurrent streams arrive byte-exact (SHA-256) on both sides`, async () => {
  const { ms } = await bulkTransfer('node');
  console.log(`  node: ${(2 * BULK_BYTES / 1e6).toFixed(0)} MB in ${(ms / 1000).toFixed(1)} s`);
});

test.run();
