#!/usr/bin/env node
// Runs every benchmark under bench/ (bench/<name>.ts), or those named on the command line:
//   npm run bench            all
//   npm run bench -- crypto  only bench/crypto.ts
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';

const root = new URL('..', import.meta.url).pathname;
const wanted = process.argv.slice(2);
const all = readdirSync(`${root}bench`).filter((f) => f.endsWith('.ts') && !f.startsWith('_')).map((f) => f.slice(0, -3)).sort();
const names = wanted.length ? all.filter((n) => wanted.includes(n)) : all;
if (names.length === 0) {
  console.log(`no benchmark matched; available: ${all.join(', ') || '(none)'}`);
  process.exit(wanted.length ? 1 : 0);
}
let failed = 0;
for (const name of names) {
  console.log(`\n=== bench/${name}`);
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', `bench/${name}.ts`], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
