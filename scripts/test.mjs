#!/usr/bin/env node
// Runs every test file (test/**/*.test.ts) with uvu, each in its own Node process so that one
// file's crash or hang cannot take the others down, two files at a time. uvu's own summary is
// parsed per file; the last line printed is `N passed, N failed`, which CI reads.
//
//   npm test                 all files
//   npm test -- wire crypto  only files whose path contains one of the words
//   FC_SEED=random npm test  property tests with fresh random inputs (default: a fixed seed)
//
// A file that exits without a uvu summary (crash, import error, timeout) counts as one failure.
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const filters = process.argv.slice(2);
// The slowest file takes ≈ 20 s; a hung file (a deadlock hung one for the whole 15 min a CI run
// once allowed) should cost minutes, not most of the run.
const FILE_TIMEOUT_MS = Number(process.env.TEST_FILE_TIMEOUT_MS ?? 5 * 60_000);
const SUMMARY_GRACE_MS = 20_000;
const jobs = Number(process.env.TEST_JOBS ?? Math.max(1, Math.min(2, availableParallelism())));

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const files = walk(join(root, 'test'))
  .map((f) => relative(root, f))
  .filter((f) => filters.length === 0 || filters.some((w) => f.includes(w)));

const strip = (s) => s.replace(/\x1b\[[0-9;]*m/g, '');

function runFile(file) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['--import', 'tsx', '--import', './scripts/fc-seed.mjs', file], {
      cwd: root,
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    // A file whose tests have all run (uvu printed its summary) but whose process stays alive — a
    // failed test that left a socket open — is stopped after a grace period and counted as failing,
    // rather than held until the file timeout.
    let lingered = false;
    let graceTimer;
    const onData = (d) => {
      output += d;
      if (graceTimer === undefined && /Duration:\s/.test(strip(output))) {
        graceTimer = setTimeout(() => {
          lingered = true;
          child.kill('SIGKILL');
        }, SUMMARY_GRACE_MS);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, FILE_TIMEOUT_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(graceTimer);
      if (lingered) output += `\n(the process was still running ${SUMMARY_GRACE_MS / 1000} s after its summary: something left a handle open; stopped)\n`;
      const text = strip(output);
      const total = /Total:\s+(\d+)/.exec(text);
      const passed = /Passed:\s+(\d+)/.exec(text);
      let p = 0;
      let f = 0;
      if (total && passed) {
        p = Number(passed[1]);
        f = Number(total[1]) - p;
      }
      const clean = code === 0 && !timedOut && !lingered && total !== null;
      if (!clean && f === 0) f = 1; // crashed, timed out or printed no summary
      resolve({ file, passed: p, failed: f, code, signal, timedOut, lingered, text, ms: Date.now() - started });
    });
  });
}

const results = [];
let next = 0;
async function worker() {
  while (next < files.length) {
    const file = files[next++];
    const r = await runFile(file);
    results.push(r);
    const status = r.failed === 0 ? 'ok  ' : 'FAIL';
    console.log(`${status} ${r.file}  (${r.passed} passed, ${r.failed} failed, ${(r.ms / 1000).toFixed(1)} s)`);
    if (r.failed > 0) {
      const why = r.timedOut ? `timed out after ${FILE_TIMEOUT_MS} ms` : r.lingered ? `still running ${SUMMARY_GRACE_MS / 1000} s after its summary` : `exit code ${r.code}${r.signal ? ` signal ${r.signal}` : ''}`;
      console.log(`---- ${r.file}: ${why}\n${r.text.trimEnd()}\n---- end of ${r.file}`);
    }
  }
}
await Promise.all(Array.from({ length: jobs }, worker));

const passed = results.reduce((a, r) => a + r.passed, 0);
let failed = results.reduce((a, r) => a + r.failed, 0);
if (files.length === 0) {
  console.log('no test files matched');
  failed += 1;
}
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed === 0 ? 0 : 1;
