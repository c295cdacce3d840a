/**
 * Real peers for interop tests (ngtcp2's gtlsclient/gtlsserver, Chromium).
 *
 * CI installs them (`.ci/run`), so a missing peer is a failure, not a silent pass: a test that
 * cannot run must not count as passing. Developers without the Debian packages can opt out
 * explicitly with `QUIC_ACTORS_SKIP_INTEROP=1`, which skips the live parts with a note.
 */
import { spawnSync } from 'node:child_process';

/** True when `command` is on the PATH. */
export function hasCommand(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/**
 * Returns true when the live test needing `command` should run. Throws (failing the test) when the
 * peer is missing, unless QUIC_ACTORS_SKIP_INTEROP=1 asks to skip, in which case it logs and
 * returns false.
 */
export function requirePeer(command: string): boolean {
  if (hasCommand(command)) return true;
  if (process.env.QUIC_ACTORS_SKIP_INTEROP === '1') {
    console.log(`  (${command} not installed; skipped because QUIC_ACTORS_SKIP_INTEROP=1)`);
    return false;
  }
  throw new Error(`${command} is not installed: install Debian's ngtcp2-client/ngtcp2-server (see .ci/run) or set QUIC_ACTORS_SKIP_INTEROP=1 to skip live interop tests`);
}
