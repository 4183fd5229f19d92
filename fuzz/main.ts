/**
 * `npm run fuzz -- N SEED`: N structure-aware CheckRequest cases from SEED through the Check
 * pipeline, every answer checked against the invariants (fuzz/invariants.ts). Prints a summary
 * (JSON) and the first violations with their case index (rerun one with the same seed); exits 1
 * when any invariant failed.
 */
import { runFuzz } from './run.ts';

const n = Number(process.argv[2] ?? '10000');
const seed = Number(process.argv[3] ?? '1');
if (!Number.isInteger(n) || n < 1 || !Number.isInteger(seed)) {
  process.stderr.write('usage: npm run fuzz -- N SEED   (N cases, integer SEED)\n');
  process.exit(2);
}
const summary = await runFuzz(n, seed, (done) => process.stderr.write(`[fuzz] ${done} cases\n`));
process.stdout.write(`${JSON.stringify({ ...summary, violations: summary.violations.length, firstViolations: summary.violations.slice(0, 20) }, null, 2)}\n`);
process.exit(summary.violations.length > 0 ? 1 : 0);
