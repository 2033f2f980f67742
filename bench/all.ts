/**
 * `npm run bench`: every benchmark, one after the other (they share the machine, so never at
 * once), each its own process writing its own section of RESULTS.md (or its own file). Exits 1
 * if one of them failed to run; a missed target is a figure in the results, not a failure here.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BENCHMARKS = [
  ['sync --once processes', 'sync-process.ts'],
  ['memory of a long-running process', 'memory-growth.ts'],
  ['sync path in-process (diagnosis)', 'run.ts'],
  ['reports', 'reports.ts'],
  ['shared rate budget', 'rate-budget.ts'],
  ['worker processes: shared budget, fleet, failure detection', 'worker.ts'],
  ['webhook delivery', 'webhooks.ts'],
  ['worker soak: a week of cycles, compressed', 'worker-soak.ts'],
] as const;

let failed = 0;
for (const [name, file] of BENCHMARKS) {
  process.stdout.write(`\n=== ${name} (bench/${file})\n`);
  const result = spawnSync(process.execPath, [fileURLToPath(new URL(`./${file}`, import.meta.url))], {
    stdio: 'inherit',
    env: process.env,
  });
  if (result.status !== 0) {
    failed++;
    process.stdout.write(`bench/${file} exited ${result.status ?? result.signal}\n`);
  }
}
process.exit(failed === 0 ? 0 : 1);
