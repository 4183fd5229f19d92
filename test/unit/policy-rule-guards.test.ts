/**
 * Rule guards (src/policy/rule-guard.ts): which `&&` parts become guards, that a guard that rules
 * a rule out skips its program, and that every rule's outcome and every decision are the same with
 * and without guards over generated rules and requests (errors in other parts, `||`, negations,
 * absent optional fields, map entries). A wrong guard is caught by the same comparison.
 */
import { parse } from '@bufbuild/cel';
import { describe, expect, it } from 'vitest';
import { decisionFixture, decisionInputOf } from '../../src/policy/fixture.ts';
import { compilePolicySet, type CompiledRule, type PolicySet } from '../../src/policy/policy-set.ts';
import { evaluatePolicySet } from '../../src/policy/evaluate.ts';
import { ruleGuards } from '../../src/policy/rule-guard.ts';
import type { DecisionInput } from '../../src/policy/types.ts';
import { unitProviders } from '../helpers/policies.ts';

const providers = unitProviders();
const NOW = Date.parse('2026-03-01T09:00:00Z');

const guardsOf = (when: string) => ruleGuards(parse(when));

function setOf(rules: readonly { id: string; effect: 'allow' | 'deny'; when: string }[]): PolicySet {
  const text = `rules:\n${rules.map((r) => `  - id: ${r.id}\n    effect: ${r.effect}\n    when: '${r.when}'\n`).join('')}`;
  return compilePolicySet('mem', [{ name: 'p.yaml', text }], { providers });
}

/** The same set with no guard: every rule's program runs. */
function unguarded(set: PolicySet): PolicySet {
  return { ...set, rules: set.rules.map((r): CompiledRule => ({ ...r, guards: undefined })) };
}

/** Counts the program runs of every rule of a set. */
function counted(set: PolicySet): { set: PolicySet; runs: () => number } {
  let n = 0;
  const rules = set.rules.map(
    (r): CompiledRule => ({
      ...r,
      evaluate: (vars) => {
        n++;
        return r.evaluate(vars);
      },
    }),
  );
  return { set: { ...set, rules }, runs: () => n };
}

/** Where two sets disagree on an input: a rule's outcome or the decision; undefined when they agree. */
function disagreement(a: PolicySet, b: PolicySet, input: DecisionInput): string | undefined {
  const x = evaluatePolicySet(a, input, NOW);
  const y = evaluatePolicySet(b, input, NOW);
  for (const [i, r] of x.results.entries()) {
    if (r.outcome !== y.results[i]?.outcome) return `rule ${r.id}: ${r.outcome} against ${y.results[i]?.outcome}`;
  }
  if (x.decision.effect !== y.decision.effect || x.decision.reason !== y.decision.reason || x.decision.rule !== y.decision.rule) {
    return `decision ${x.decision.effect}/${x.decision.reason}/${x.decision.rule} against ${y.decision.effect}/${y.decision.reason}/${y.decision.rule}`;
  }
  return undefined;
}

function inputOf(o: {
  workload: string;
  model: string;
  user?: string | undefined;
  models?: string[] | undefined;
  principal: string;
  headers: Record<string, string>;
  maxTokens?: number | undefined;
  stream: boolean;
}): DecisionInput {
  return decisionInputOf(
    decisionFixture.parse({
      identity: { workload: o.workload, ...(o.user === undefined ? {} : { user: o.user }), ...(o.models === undefined ? {} : { scopes: { models: o.models } }) },
      request: { headers: o.headers, source: { principal: o.principal } },
      llm: { model: o.model, stream: o.stream, ...(o.maxTokens === undefined ? {} : { max_tokens: o.maxTokens }) },
    }),
    providers,
  );
}

describe('which parts are guards', () => {
  it('a declared string field compared with string literals, at the top of an && chain', () => {
    expect(guardsOf('identity.workload == "w" && llm.model in ["a", "b"]')).toEqual([
      { path: ['identity', 'workload'], value: 'w' },
      { path: ['llm', 'model'], values: new Set(['a', 'b']) },
    ]);
    expect(guardsOf('"w" == identity.workload')).toEqual([{ path: ['identity', 'workload'], value: 'w' }]);
    expect(guardsOf('llm.model in ["a"]')).toEqual([{ path: ['llm', 'model'], value: 'a' }]);
    expect(guardsOf('llm.model in []')).toEqual([{ path: ['llm', 'model'], values: new Set() }]);
    expect(guardsOf('has(identity.scopes.models) && has(llm.max_tokens) && llm.max_tokens > 5')).toEqual([
      { path: ['identity', 'scopes', 'models'], present: true },
      { path: ['llm', 'max_tokens'], present: true },
    ]);
    expect(guardsOf('(llm.stream && request.source.principal == "p") && identity.user == ""')).toEqual([
      { path: ['request', 'source', 'principal'], value: 'p' },
      { path: ['identity', 'user'], value: '' },
    ]);
  });

  it('nothing else is a guard', () => {
    for (const when of [
      'identity.workload == "w" || llm.model == "m"', // either part may make it true
      '!(identity.workload == "w")',
      'identity.workload != "w"',
      'request.headers.x == "w"', // a map entry, which may be absent
      'request.headers["x"] == "w"',
      'identity.claims.sub == "w"',
      'llm.max_tokens == 5', // not a string
      'identity.scopes.models == ["a"]', // a list
      'llm.model in ["a", 1]', // not every element a string
      'llm.model in identity.scopes.models', // not a literal list
      'llm.model == llm.provider',
      'llm.model.startsWith("w")',
      '[1].exists(identity, identity == "w")', // inside a comprehension `identity` is the loop variable
      'now == "w"',
      'has(llm.model)', // always present
      'has(request.headers.x)', // a map entry
      'has(identity.claims.sub)',
      '!has(llm.max_tokens)',
      'has(identity.entitlement.review_by)', // a timestamp: read only inside an evaluation
    ]) {
      expect(guardsOf(when), when).toBeUndefined();
    }
  });

  it('a has() guard rules out a rule whose field is absent', () => {
    const { set, runs } = counted(setOf([{ id: 'a', effect: 'deny', when: 'has(identity.scopes.models) && !llm.model.globAny(identity.scopes.models)' }]));
    const base = { workload: 'w', model: 'm1', principal: '', headers: {}, stream: false };
    expect(evaluatePolicySet(set, inputOf(base), NOW).results[0]?.outcome).toBe('not_matched');
    expect(runs()).toBe(0);
    expect(evaluatePolicySet(set, inputOf({ ...base, models: ['m2'] }), NOW).results[0]?.outcome).toBe('matched');
    expect(runs()).toBe(1);
  });

  it('a guard whose field cannot be read runs the program', () => {
    const set = setOf([{ id: 'a', effect: 'allow', when: 'has(identity.entitlement.review_by) && identity.entitlement.review_by > now' }]);
    expect(set.rules[0]?.guards).toBeUndefined();
    // Forced onto the timestamp field, whose value is read only inside an evaluation.
    const forced: PolicySet = { ...set, rules: set.rules.map((x) => ({ ...x, guards: [{ path: ['identity', 'entitlement', 'review_by'], present: true as const }] })) };
    const input = inputOf({ workload: 'w', model: 'm1', principal: '', headers: {}, stream: false });
    const entitled: DecisionInput = {
      ...input,
      identity: {
        ...input.identity,
        entitlement: { source: 'api_key', id: 'k', owner: 't', approvedBy: undefined, approvedAtMs: undefined, reviewByMs: NOW + 86_400_000, reviewOverdue: false },
      },
    };
    expect(evaluatePolicySet(forced, entitled, NOW).results[0]?.outcome).toBe('matched');
    expect(evaluatePolicySet(set, entitled, NOW).results[0]?.outcome).toBe('matched');
    expect(evaluatePolicySet(forced, input, NOW).results[0]?.outcome).toBe('not_matched');
  });

  it('a rule the guard rules out does not run its program; one it lets through does', () => {
    const { set, runs } = counted(setOf([{ id: 'a', effect: 'allow', when: 'identity.workload == "w1" && llm.model in ["m1", "m2"]' }]));
    const base = { principal: '', headers: {}, stream: false };
    expect(evaluatePolicySet(set, inputOf({ ...base, workload: 'w2', model: 'm1' }), NOW).results[0]?.outcome).toBe('not_matched');
    expect(evaluatePolicySet(set, inputOf({ ...base, workload: 'w1', model: 'm3' }), NOW).results[0]?.outcome).toBe('not_matched');
    expect(runs()).toBe(0);
    expect(evaluatePolicySet(set, inputOf({ ...base, workload: 'w1', model: 'm2' }), NOW).decision.effect).toBe('allow');
    expect(runs()).toBe(1);
  });
});

describe('the same outcomes with and without guards', () => {
  /** A small seeded generator (the cases are the same on every run). */
  function rng(seed: number): () => number {
    let s = seed >>> 0;
    return () => {
      s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
      s ^= s + Math.imul(s ^ (s >>> 7), s | 61);
      return ((s ^ (s >>> 14)) >>> 0) / 4294967296;
    };
  }
  const WORKLOADS = ['w1', 'w2', 'w3'];
  const MODELS = ['m1', 'm2', 'm3'];
  const PARTS: readonly ((pick: <T>(l: readonly T[]) => T) => string)[] = [
    (p) => `identity.workload == "${p(WORKLOADS)}"`,
    (p) => `"${p(WORKLOADS)}" == identity.workload`,
    (p) => `llm.model in [${[p(MODELS), p(MODELS)].map((m) => `"${m}"`).join(', ')}]`,
    () => 'llm.model in []',
    (p) => `request.source.principal == "${p(['', 'p1'])}"`,
    () => 'identity.user == ""',
    () => 'request.headers["x-team"] == "a"', // an error without the header
    () => 'llm.max_tokens > 50', // an error without max_tokens
    () => 'has(llm.max_tokens)',
    (p) => `has(identity.scopes.models) && "${p(MODELS)}" in identity.scopes.models`,
    () => '!has(identity.scopes.models)',
    () => 'has(identity.entitlement.review_by) && identity.entitlement.review_by > now',
    (p) => `identity.entitlement.owner == "${p(['', 't'])}"`,
    () => 'llm.stream',
    () => '1 / 0 == 1', // always an error
    () => 'identity.workload.startsWith("w")',
    () => 'false',
    (p) => `(identity.workload == "${p(WORKLOADS)}" || llm.model == "${p(MODELS)}")`,
    (p) => `!(llm.model == "${p(MODELS)}")`,
  ];

  it('over 300 generated rules and 48 requests (with and without an entitlement record)', () => {
    const r = rng(16);
    const pick = <T>(l: readonly T[]): T => l[Math.floor(r() * l.length)] as T;
    const rules = Array.from({ length: 300 }, (_, i) => {
      const n = 1 + Math.floor(r() * 4);
      const when = Array.from({ length: n }, () => pick(PARTS)(pick)).join(' && ');
      return { id: `r${i}`, effect: r() < 0.3 ? ('deny' as const) : ('allow' as const), when };
    });
    const guarded = setOf(rules);
    const withGuards = guarded.rules.filter((x) => x.guards !== undefined).length;
    expect(withGuards).toBeGreaterThan(100); // the comparison is not vacuous
    const { set: counting, runs } = counted(guarded);
    const plain = unguarded(guarded);
    const inputs: DecisionInput[] = [];
    for (const workload of WORKLOADS)
      for (const model of MODELS.slice(0, 2))
        for (const principal of ['', 'p1'])
          for (const extra of [{}, { headers: { 'x-team': 'a' }, maxTokens: 100, user: 'u', models: ['m1'] }])
            for (const entitled of [false, true]) {
              const input = inputOf({ workload, model, principal, headers: {}, stream: entitled, ...extra });
              const entitlement = {
                source: 'api_key' as const,
                id: 'k',
                owner: 't',
                approvedBy: undefined,
                approvedAtMs: undefined,
                reviewByMs: NOW + 86_400_000,
                reviewOverdue: false,
              };
              inputs.push(entitled ? { ...input, identity: { ...input.identity, entitlement } } : input);
            }
    expect(inputs).toHaveLength(48);
    // Each rule alone, then the whole set (which rule decides).
    for (const input of inputs) {
      for (const [i, rule] of guarded.rules.entries()) {
        const one = { ...guarded, rules: [rule] };
        expect(disagreement(one, unguarded(one), input), `${rules[i]?.when}`).toBeUndefined();
      }
      expect(disagreement(counting, plain, input)).toBeUndefined();
    }
    expect(runs()).toBeLessThan(inputs.length * rules.length); // guards skipped programs
  });

  it('a wrong guard is caught: one read from an || part', () => {
    const set = setOf([{ id: 'a', effect: 'allow', when: 'identity.workload == "w1" || llm.model == "m1"' }]);
    expect(set.rules[0]?.guards).toBeUndefined();
    const wrong: PolicySet = { ...set, rules: set.rules.map((x) => ({ ...x, guards: [{ path: ['identity', 'workload'], value: 'w1' }] })) };
    const input = inputOf({ workload: 'w2', model: 'm1', principal: '', headers: {}, stream: false });
    expect(disagreement(wrong, set, input)).toBe('rule a: not_matched against matched');
  });
});
