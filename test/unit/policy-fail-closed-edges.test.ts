/**
 * Fail-closed edges of policy evaluation and reload that no unit test decided: a rule that throws
 * or yields a non-bool at run time, an evaluation error's own message, a check already past its
 * deadline, the detail of each deny, a request the policies cannot be shown, a broken shadow set
 * (at start and on reload), the rule results `explain` keeps when the scope guard already denied,
 * and what `status()` and a reload report after a failure is repaired.
 */
import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { createPolicyEngine } from '../../src/policy/engine.ts';
import { evaluatePolicySet } from '../../src/policy/evaluate.ts';
import { decisionFixture, decisionInputOf } from '../../src/policy/fixture.ts';
import { compilePolicySet, PolicyLoadError, type PolicySet } from '../../src/policy/policy-set.ts';
import { policyDir, unitProviders } from '../helpers/policies.ts';

const providers = unitProviders();
const NOW = Date.parse('2026-03-01T09:00:00Z');

function setOf(rules: string): PolicySet {
  return compilePolicySet('mem', [{ name: 'p.yaml', text: `rules:\n${rules}` }], { providers });
}

function input(scopes: Record<string, unknown> = {}) {
  return decisionInputOf(decisionFixture.parse({ identity: { workload: 'wl-a', scopes }, request: {}, llm: { model: 'gpt-4o-mini' } }), providers);
}

const ALLOW_ALL = '  - {id: allow-all, effect: allow, when: "true"}\n';

describe('an evaluation that goes wrong is a policy_error deny', () => {
  it('a deny rule whose value is not a bool at run time denies (the allow beside it does not win)', () => {
    for (const when of ['[true, "x"][1]', 'dyn("x")']) {
      const { decision, results } = evaluatePolicySet(setOf(`  - {id: odd, effect: deny, when: '${when}'}\n${ALLOW_ALL}`), input(), NOW);
      expect(decision).toMatchObject({ effect: 'deny', reason: 'policy_error', rule: 'odd', matchedRules: ['allow-all'], detail: "rule 'odd' failed to evaluate" });
      expect(results[0]).toEqual({ id: 'odd', effect: 'deny', outcome: 'error', error: 'the expression did not evaluate to a bool' });
    }
  });

  it('an allow rule whose value is not a bool does not allow', () => {
    const { decision } = evaluatePolicySet(setOf(`  - {id: odd, effect: allow, when: 'dyn("yes")'}\n`), input(), NOW);
    expect(decision).toMatchObject({ effect: 'deny', reason: 'policy_error', rule: 'odd', matchedRules: [] });
  });

  it('a rule whose evaluation throws denies, and the thrown message is kept for explanations', () => {
    const set = setOf(ALLOW_ALL);
    const [rule] = set.rules;
    if (rule === undefined) throw new Error('no rule compiled');
    const throwing: PolicySet = {
      ...set,
      rules: [
        {
          ...rule,
          id: 'throws',
          evaluate: () => {
            throw new Error('boom');
          },
        },
        rule,
      ],
    };
    const { decision, results } = evaluatePolicySet(throwing, input(), NOW);
    expect(decision).toMatchObject({ effect: 'deny', reason: 'policy_error', rule: 'throws', matchedRules: ['allow-all'] });
    expect(results[0]).toEqual({ id: 'throws', effect: 'allow', outcome: 'error', error: 'boom' });
  });

  it('a request the policies cannot be shown (a clock outside CEL time) denies before any rule runs', () => {
    const set = setOf('  - {id: after-2020, effect: allow, when: "now > timestamp(\\"2020-01-01T00:00:00Z\\")"}\n');
    expect(evaluatePolicySet(set, input(), NOW).decision).toMatchObject({ effect: 'allow' });
    const ev = evaluatePolicySet(set, input(), Number.NaN);
    expect(ev.decision).toEqual({
      effect: 'deny',
      reason: 'policy_error',
      detail: 'the request could not be presented to the policies',
      policyVersion: set.version,
      rule: undefined,
      matchedRules: [],
      obligations: undefined,
    });
    expect(ev.results).toEqual([]);
  });
});

describe('errors, deadlines and details', () => {
  it("a rule that fails in CEL keeps CEL's message (not the non-bool one)", () => {
    const { decision, results } = evaluatePolicySet(setOf(`  - {id: oob, effect: deny, when: '[1][5] == 1'}\n${ALLOW_ALL}`), input(), NOW);
    expect(decision).toMatchObject({ effect: 'deny', reason: 'policy_error', rule: 'oob' });
    expect(results[0]?.outcome).toBe('error');
    expect(results[0]?.error).toMatch(/index/i);
    expect(results[0]?.error).not.toBe('the expression did not evaluate to a bool');
  });

  it('a check already past its deadline is a timeout deny before the first rule', () => {
    const set = setOf(ALLOW_ALL);
    const late = { ...input(), deadline: performance.now() - 1 };
    expect(evaluatePolicySet(set, late, NOW)).toEqual({
      decision: {
        effect: 'deny',
        reason: 'timeout',
        detail: "the policies took longer than the check timeout (stopped before rule 'allow-all')",
        policyVersion: set.version,
        rule: undefined,
        matchedRules: [],
        obligations: undefined,
      },
      results: [],
    });
    expect(evaluatePolicySet(set, { ...input(), deadline: performance.now() + 60_000 }, NOW).decision.effect).toBe('allow');
  });

  it('each deny says which rule or what is missing', () => {
    const detail = (rules: string, i = input()) => evaluatePolicySet(setOf(rules), i, NOW).decision;
    expect(detail(`  - {id: d, effect: deny, when: "true"}\n${ALLOW_ALL}`)).toMatchObject({ reason: 'denied_by_policy', detail: "denied by rule 'd'" });
    const base = input();
    const unknown = { ...base, llm: { ...base.llm, operation: 'unknown' as const } };
    expect(detail('  - {id: none, effect: allow, when: "false"}\n', unknown)).toMatchObject({ reason: 'unknown_api', detail: 'no policy rule allows this unknown API path' });
    const noProvider = { ...base, llm: { ...base.llm, provider: undefined } };
    expect(detail(ALLOW_ALL, noProvider)).toMatchObject({ reason: 'provider_unavailable', rule: 'allow-all', detail: 'no provider serves the openai API' });
    expect(detail('  - {id: to-anthropic, effect: allow, when: "true", obligations: {provider: anthropic}}\n')).toMatchObject({
      reason: 'provider_unavailable',
      rule: 'to-anthropic',
      detail: "provider 'anthropic' does not speak the openai API",
    });
    expect(detail('  - {id: capped, effect: allow, when: "true", obligations: {max_tokens: 50}}\n')).toMatchObject({
      reason: 'max_tokens_exceeded',
      rule: 'capped',
      detail: 'max_tokens must be set and at most 50',
    });
  });
});

describe('the shadow set', () => {
  const BROKEN = 'rules:\n  - {id: x, effect: allow, when: "1 +"}\n';

  it('a broken shadow set stops the start, its problems marked as the shadow set', () => {
    const main = policyDir();
    const shadow = policyDir();
    main.write({ 'a.yaml': `rules:\n${ALLOW_ALL}` });
    shadow.write({ 's.yaml': BROKEN });
    let err: unknown;
    try {
      createPolicyEngine({ dir: main.dir, shadowDir: shadow.dir, providers, watch: false });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PolicyLoadError);
    const problems = (err as PolicyLoadError).problems;
    expect(problems.length).toBeGreaterThan(0);
    for (const p of problems) expect(p).toMatch(/^shadow: .*s\.yaml:\d+:\d+: rules\[0\]\.when: /);
  });

  it('a reload whose shadow set is broken is rejected whole: both sets in force stay', () => {
    const main = policyDir();
    const shadow = policyDir();
    main.write({ 'a.yaml': `rules:\n${ALLOW_ALL}` });
    shadow.write({ 's.yaml': 'rules:\n  - {id: shadow-deny, effect: deny, when: "true"}\n' });
    const engine = createPolicyEngine({ dir: main.dir, shadowDir: shadow.dir, providers, watch: false, now: () => NOW });
    try {
      const before = engine.status();
      expect(engine.decide(input()).shadow).toMatchObject({ effect: 'deny', rule: 'shadow-deny', disagrees: true });

      main.write({ 'a.yaml': 'rules:\n  - {id: main-deny, effect: deny, when: "true"}\n' });
      shadow.write({ 's.yaml': BROKEN });
      const outcome = engine.reload();
      expect(outcome.ok).toBe(false);
      expect(outcome.version).toBe(before.version);
      expect(outcome.shadowVersion).toBe(before.shadowVersion);
      expect(outcome.problems.length).toBeGreaterThan(0);
      for (const p of outcome.problems) expect(p.startsWith('shadow: ')).toBe(true);
      const d = engine.decide(input());
      expect(d).toMatchObject({ effect: 'allow', rule: 'allow-all' });
      expect(d.shadow).toMatchObject({ effect: 'deny', rule: 'shadow-deny' });
      expect(engine.status()).toMatchObject({ version: before.version, shadowVersion: before.shadowVersion, lastReloadFailed: true, reloadFailures: 1 });
    } finally {
      engine.close();
    }
  });
});

describe('explain when the scope guard denies', () => {
  it('still reports every rule result (decide stops at the guard, explain does not)', () => {
    const main = policyDir();
    main.write({ 'a.yaml': `rules:\n${ALLOW_ALL}  - {id: never, effect: deny, when: "false"}\n` });
    const engine = createPolicyEngine({ dir: main.dir, providers, watch: false, now: () => NOW });
    try {
      const outside = input({ models: ['claude-*'] });
      expect(engine.decide(outside)).toMatchObject({ effect: 'deny', reason: 'model_not_allowed', rule: 'credential-model-scope' });
      const ex = engine.explain(outside);
      expect(ex.decision).toMatchObject({ effect: 'deny', reason: 'model_not_allowed', rule: 'credential-model-scope' });
      expect(ex.scopeViolation?.reason).toBe('model_not_allowed');
      expect(ex.results.map((r) => [r.id, r.outcome])).toEqual([
        ['allow-all', 'matched'],
        ['never', 'not_matched'],
      ]);
    } finally {
      engine.close();
    }
  });
});

describe('reload reporting', () => {
  it('a fresh engine reports no failure; a repaired reload clears the problems', () => {
    const main = policyDir();
    main.write({ 'a.yaml': `rules:\n${ALLOW_ALL}` });
    const engine = createPolicyEngine({ dir: main.dir, providers, watch: false });
    try {
      expect(engine.status()).toMatchObject({ reloads: 0, reloadFailures: 0, lastReloadFailed: false, lastProblems: [] });
      main.write({ 'a.yaml': 'rules:\n  - {id: x, effect: allow, when: "1 +"}\n' });
      expect(engine.reload().ok).toBe(false);
      expect(engine.status().lastProblems.length).toBeGreaterThan(0);
      main.write({ 'a.yaml': `rules:\n${ALLOW_ALL}  - {id: two, effect: allow, when: "false"}\n` });
      const ok = engine.reload();
      expect(ok).toMatchObject({ ok: true, problems: [] });
      expect(ok.problems).toEqual([]);
      expect(engine.status()).toMatchObject({ reloads: 2, reloadFailures: 1, lastReloadFailed: false, rules: 2 });
      expect(engine.status().lastProblems).toEqual([]);
    } finally {
      engine.close();
    }
  });

  it('a folder that started empty may stay empty (only losing every file is refused)', () => {
    const main = policyDir();
    const engine = createPolicyEngine({ dir: main.dir, providers, watch: false });
    try {
      expect(engine.status().rules).toBe(0);
      expect(engine.reload()).toMatchObject({ ok: true, problems: [] });
      main.write({ 'a.yaml': `rules:\n${ALLOW_ALL}` });
      expect(engine.reload().ok).toBe(true);
      main.write({ 'a.yaml': '' });
      expect(engine.reload()).toMatchObject({ ok: false, problems: [`${main.dir}: the folder holds no policy files`] });
      expect(engine.status().rules).toBe(1);
    } finally {
      engine.close();
    }
  });
});
