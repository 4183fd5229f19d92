/** `llm-authz test DIR`: runs the policy test suites in DIR/tests against the policy set. */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError } from '../core/errors.ts';
import { loadRuntime, policyOnlyRuntime } from '../pipeline/runtime.ts';
import { PolicyLoadError } from '../policy/policy-set.ts';
import { openTestTarget, runSuite, SuiteError, type CaseResult, type TestTarget } from '../policy/test-runner.ts';
import { outputFormat, type OutputFormat } from './check.ts';
import { UsageError, type Command } from './command.ts';

export interface TestOptions {
  readonly format?: OutputFormat;
  /** Write a JUnit XML report here (for CI systems). */
  readonly junit?: string | undefined;
}

function ruleTable(r: CaseResult): string[] {
  const w = Math.max(4, ...r.results.map((x) => x.id.length));
  return r.results.map(
    (x) =>
      `       ${x.effect.padEnd(5)} ${x.id.padEnd(w)}  ${x.outcome === 'matched' ? 'MATCHED' : x.outcome === 'error' ? `ERROR: ${x.error ?? ''}` : `not matched${x.falseAt !== undefined ? `: false at ${x.falseAt}` : ''}`}`,
  );
}

const xml = (s: string): string => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

function junitReport(results: readonly CaseResult[], broken: readonly string[]): string {
  const bySuite = new Map<string, CaseResult[]>();
  for (const r of results) bySuite.set(r.suite, [...(bySuite.get(r.suite) ?? []), r]);
  const suites = [...bySuite].map(([name, rs]) => {
    const cases = rs.map((r) => {
      const body = r.failures.length === 0 ? '' : `<failure message="${xml(r.failures[0] ?? '')}">${xml([...r.failures, ...ruleTable(r)].join('\n'))}</failure>`;
      return `    <testcase classname="${xml(name)}" name="${xml(r.name)}" file="${xml(r.where)}">${body}</testcase>`;
    });
    return `  <testsuite name="${xml(name)}" tests="${rs.length}" failures="${rs.filter((r) => r.failures.length > 0).length}">\n${cases.join('\n')}\n  </testsuite>`;
  });
  const errors = broken.map(
    (b) =>
      `  <testsuite name="invalid suite file" tests="1" errors="1"><testcase name="load"><error message="${xml(b.split('\n')[0] ?? '')}">${xml(b)}</error></testcase></testsuite>`,
  );
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n${[...suites, ...errors].join('\n')}\n</testsuites>\n`;
}

export async function runTests(dir: string, config: string | undefined, out: NodeJS.WritableStream, err: NodeJS.WritableStream, o: TestOptions = {}): Promise<number> {
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
  const all: CaseResult[] = [];
  const broken: string[] = [];
  const json = o.format === 'json';
  if (!json) out.write(`policy set ${target.engine.status().version} (${target.engine.status().rules} rules)\n`);
  for (const file of target.suites) {
    let results: CaseResult[];
    try {
      results = runSuite(file, target);
    } catch (e) {
      if (!(e instanceof SuiteError)) throw e;
      broken.push(e.message);
      err.write(`${e.message}\n`);
      continue;
    }
    all.push(...results);
    if (json) continue;
    for (const r of results) {
      const d = r.decision;
      const summary = `${d.effect} by ${d.rule ?? '(default)'}, ${d.reason}`;
      if (r.failures.length === 0) {
        out.write(`PASS ${r.suite} / ${r.name} (${summary})\n`);
      } else {
        out.write(`FAIL ${r.suite} / ${r.name} (${r.where})\n`);
        for (const f of r.failures) out.write(`     ${f}\n`);
        out.write(`     decision: ${d.effect.toUpperCase()} (${d.reason})${d.rule !== undefined ? ` by rule '${d.rule}'` : ''}${d.detail !== undefined ? `: ${d.detail}` : ''}\n`);
        out.write('     rules:\n');
        for (const line of ruleTable(r)) out.write(`${line}\n`);
      }
    }
  }
  await target.close();
  const passed = all.filter((r) => r.failures.length === 0).length;
  const failed = all.length - passed;
  if (json) {
    const cases = all.map((r) => ({
      suite: r.suite,
      name: r.name,
      where: r.where,
      passed: r.failures.length === 0,
      failures: r.failures,
      decision: { effect: r.decision.effect, reason: r.decision.reason, rule: r.decision.rule, detail: r.decision.detail },
      rules: r.results,
    }));
    out.write(`${JSON.stringify({ policy_version: target.engine.status().version, passed, failed, invalid_suites: broken, cases }, null, 2)}\n`);
  } else {
    out.write(`${passed} passed, ${failed} failed${broken.length > 0 ? `, ${broken.length} suite file(s) invalid` : ''}\n`);
  }
  if (o.junit !== undefined) writeFileSync(o.junit, junitReport(all, broken));
  if (broken.length > 0) return 2;
  return failed > 0 ? 1 : 0;
}

export const testCommand: Command = {
  name: 'test',
  usage: 'test DIR [--config FILE] [--format text|json] [--junit FILE]',
  summary: 'run the policy test suites in DIR/tests against the policy set',
  help: `DIR holds tests/*.yaml (and llm-authz.yaml, used as the config when --config is not given;
without a config, DIR itself is the policy folder). See docs/policies.md.

options:
  -c, --config FILE     the config whose providers, credentials and policy folder the cases use
      --format text|json one line per case (default), or one JSON document
      --junit FILE      also write a JUnit XML report (for CI)

A failing case prints what it expected, the decision, and every rule's result (matched, not
matched, or the evaluation error).
Exit codes: 0 every case passed, 1 a case failed, 2 a usage error or an invalid suite, config or policy.`,
  async run(args: string[]): Promise<number> {
    const { values, positionals } = parseArgs({
      args,
      options: { config: { type: 'string', short: 'c' }, format: { type: 'string' }, junit: { type: 'string' } },
      allowPositionals: true,
      strict: true,
    });
    const dir = positionals[0];
    if (dir === undefined || positionals.length > 1) throw new UsageError('expected one DIR');
    return runTests(dir, values.config, process.stdout, process.stderr, { format: outputFormat(values.format), junit: values.junit });
  },
};
