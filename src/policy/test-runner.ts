/**
 * `llm-authz test`: policy test suites as YAML. Each case gives the CEL inputs, an optional
 * fixed clock, and the expected effect, deciding rule, reason, provider or credential.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { formatPath } from '../core/errors.ts';
import { readYaml } from '../core/yaml.ts';
import type { Providers } from '../providers/runtime.ts';
import type { PolicyEngine } from './engine.ts';
import { decisionFixture, decisionInputOf, FixtureError } from './fixture.ts';
import type { RuleResult } from './evaluate.ts';
import type { Decision, DecisionInput } from './types.ts';

/** The clock of a case that sets none (and of a suite that sets none). */
export const DEFAULT_TEST_NOW = '2026-01-01T00:00:00Z';

const isoTime = z.iso.datetime({ offset: true });

const caseSchema = decisionFixture.extend({
  name: z.string().min(1),
  now: isoTime.optional(),
  expect: z.strictObject({
    effect: z.enum(['allow', 'deny']),
    rule: z.string().nullable().optional(),
    reason: z.string().optional(),
    provider: z.string().optional(),
    credential: z.string().optional(),
    matched: z.array(z.string()).optional(),
  }),
});

const suiteSchema = z.strictObject({
  suite: z.string().min(1),
  now: isoTime.optional(),
  cases: z.array(caseSchema).min(1),
});

export interface CaseResult {
  readonly suite: string;
  readonly name: string;
  /** file:line:col of the case. */
  readonly where: string;
  readonly failures: readonly string[];
  readonly decision: Decision;
  /** Every rule's result for the case (matched, not matched, or the evaluation error). */
  readonly results: readonly RuleResult[];
}

export class SuiteError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(problems.join('\n'));
    this.name = 'SuiteError';
    this.problems = problems;
  }
}

export interface TestTarget {
  readonly engine: PolicyEngine;
  readonly providers: Providers;
  readonly suites: readonly string[];
  close(): Promise<void>;
}

/** Builds the runtime a test target decides with (src/pipeline/runtime.ts, passed in by the CLI). */
export type TargetRuntime = (
  configFile: string | undefined,
  policyDir: string,
) => { readonly policy: PolicyEngine | undefined; readonly providers: Providers; close(): Promise<void> };

/**
 * The policy set and suites of DIR: the config is `--config` or DIR/llm-authz.yaml when present
 * (its providers and credentials resolve obligations, and its `policy.dir` is the set), else the
 * set is DIR itself with no providers. Suites are DIR/tests/*.yaml.
 */
export function openTestTarget(dir: string, configFile: string | undefined, build: TargetRuntime): TestTarget {
  const cfgFile = configFile ?? (existsSync(path.join(dir, 'llm-authz.yaml')) ? path.join(dir, 'llm-authz.yaml') : undefined);
  const testsDir = path.join(dir, 'tests');
  const suites = existsSync(testsDir)
    ? readdirSync(testsDir)
        .filter((n) => /\.ya?ml$/.test(n))
        .sort()
        .map((n) => path.join(testsDir, n))
    : [];
  if (suites.length === 0) throw new SuiteError([`${testsDir}: no test suites (*.yaml) found`]);
  const rt = build(cfgFile, dir);
  if (rt.policy === undefined) {
    void rt.close();
    throw new SuiteError([`${cfgFile ?? dir}: the config has no policy: section, so there is no policy set to test`]);
  }
  return { engine: rt.policy, providers: rt.providers, suites, close: () => rt.close() };
}

function credentialName(providers: Providers, d: Decision): string | undefined {
  const c = d.obligations?.credential ?? d.obligations?.provider.credential;
  if (c === undefined) return undefined;
  for (const [name, secret] of providers.credentials) if (secret === c) return name;
  return undefined;
}

export function runSuite(file: string, target: TestTarget): CaseResult[] {
  const y = readYaml(readFileSync(file, 'utf8'), file);
  if (y.errors.length > 0) throw new SuiteError(y.errors);
  const parsed = suiteSchema.safeParse(y.doc.toJS() ?? {});
  if (!parsed.success) {
    throw new SuiteError(parsed.error.issues.map((i) => `${y.at(y.offsetOf(i.path))}: ${formatPath(i.path)}: ${i.message}`));
  }
  const suite = parsed.data;
  return suite.cases.map((c, i) => {
    const nowMs = Date.parse(c.now ?? suite.now ?? DEFAULT_TEST_NOW);
    const where = y.at(y.offsetOf(['cases', i]));
    let input: DecisionInput;
    try {
      input = decisionInputOf(c, target.providers);
    } catch (err) {
      if (!(err instanceof FixtureError)) throw err;
      throw new SuiteError([`${where}: ${err.message}`]);
    }
    const { decision, results } = target.engine.explain(input, nowMs, { whyNot: true });
    const failures: string[] = [];
    const e = c.expect;
    const got = (what: string, want: unknown, have: unknown): void => {
      if (want !== undefined && want !== have) failures.push(`expected ${what} ${JSON.stringify(want)}, got ${JSON.stringify(have ?? null)}`);
    };
    got('effect', e.effect, decision.effect);
    if (e.rule !== undefined) got('rule', e.rule, decision.rule ?? null);
    got('reason', e.reason, decision.reason);
    got('provider', e.provider, decision.obligations?.provider.name);
    got('credential', e.credential, credentialName(target.providers, decision));
    if (e.matched !== undefined && JSON.stringify([...e.matched].sort()) !== JSON.stringify([...decision.matchedRules].sort())) {
      failures.push(`expected matched rules ${JSON.stringify(e.matched)}, got ${JSON.stringify(decision.matchedRules)}`);
    }
    return { suite: suite.suite, name: c.name, where, failures, decision, results };
  });
}
