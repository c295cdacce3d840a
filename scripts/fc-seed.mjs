// Preloaded into every test process by scripts/test.mjs. Property tests draw their inputs from
// fast-check's global seed: fixed by default so that a CI run is reproducible, any number with
// FC_SEED=<n>, or fresh per run with FC_SEED=random (for hunting new counterexamples). A failing
// property prints its seed and shrunk counterexample either way.
import fc from 'fast-check';

const setting = process.env.FC_SEED ?? '20261121';
if (setting !== 'random') {
  const seed = Number(setting);
  if (!Number.isInteger(seed)) throw new Error(`FC_SEED must be an integer or "random", got ${setting}`);
  fc.configureGlobal({ seed });
}
