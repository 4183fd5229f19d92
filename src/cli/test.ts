/** `llm-authz test DIR`: runs the policy test suites in DIR/tests against the policy set. */
import { parseArgs } from 'node:util';
import { ConfigError } from '../core/errors.ts';
import { loadRuntime, policyOnlyRuntime } from '../pipeline/runtime.ts';
import { PolicyLoadError } from '../policy/policy-set.ts';
import { openTestTarget, runSuite, SuiteError, type CaseResult, type TestTarget } from '../policy/test-runner.ts';

export async function runTests(dir: string, config: string | undefined, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  let target: TestTarget;
  try {
    target = openTestTarget(dir, config, (cfgFile, policyDir) =>
      cfgFile === undefined ? policyOnlyRuntime(policyDir, { watchPolicies: false }) : loadRuntime(cfgFile, { watchPolicies: false }),
    );
  } catch (e) {
    if (e instanceof ConfigError || e instanceof PolicyLoadError || e instanceof SuiteError) {
      err.write(`${e.message}\n`);
      return 2;
    }
    throw e;
  }
  let failed = 0;
  let passed = 0;
  let broken = 0;
  out.write(`policy set ${target.engine.status().version} (${target.engine.status().rules} rules)\n`);
  for (const file of target.suites) {
    let results: CaseResult[];
    try {
      results = runSuite(file, target);
    } catch (e) {
      if (!(e instanceof SuiteError)) throw e;
      broken++;
      err.write(`${e.message}\n`);
      continue;
    }
    for (const r of results) {
      const d = r.decision;
      const summary = `${d.effect} by ${d.rule ?? '(default)'}, ${d.reason}`;
      if (r.failures.length === 0) {
        passed++;
        out.write(`PASS ${r.suite} / ${r.name} (${summary})\n`);
      } else {
        failed++;
        out.write(`FAIL ${r.suite} / ${r.name} (${r.where})\n`);
        for (const f of r.failures) out.write(`     ${f}\n`);
      }
    }
  }
  await target.close();
  out.write(`${passed} passed, ${failed} failed${broken > 0 ? `, ${broken} suite file(s) invalid` : ''}\n`);
  if (broken > 0) return 2;
  return failed > 0 ? 1 : 0;
}

export const testCommand = {
  usage: 'test DIR [--config FILE]',
  summary: 'run the policy test suites in DIR/tests (exit 1 on a failed case)',
  async run(args: string[]): Promise<number> {
    const { values, positionals } = parseArgs({ args, options: { config: { type: 'string', short: 'c' } }, allowPositionals: true, strict: true });
    const dir = positionals[0];
    if (dir === undefined || positionals.length > 1) {
      process.stderr.write(`usage: llm-authz ${testCommand.usage}\n`);
      return 2;
    }
    return runTests(dir, values.config, process.stdout, process.stderr);
  },
};
