/**
 * Edges of the credential scope guard and of the built-in rule (no `policy:` section) that no unit
 * test decided: a request with no provider or no model against a scope, the rule ids a guard deny
 * records, the exact detail of each scope deny, the `llm-authz check` scope line, and the
 * built-in rule's denies (unknown API path, no provider) behind the guard.
 */
import { describe, expect, it } from 'vitest';
import { createPolicyEngine } from '../../src/policy/engine.ts';
import { decisionFixture, decisionInputOf } from '../../src/policy/fixture.ts';
import { describeScopes, scopeViolation, withScopeGuard } from '../../src/policy/scope-guard.ts';
import { createScopedRule, SCOPED_RULE_ID } from '../../src/policy/scoped-rule.ts';
import type { DecisionInput } from '../../src/policy/types.ts';
import { policyDir, unitProviders } from '../helpers/policies.ts';

const providers = unitProviders();
const NOW = Date.parse('2026-03-01T09:00:00Z');

function input(scopes: Record<string, unknown> = {}, llm: Record<string, unknown> = {}): DecisionInput {
  return decisionInputOf(decisionFixture.parse({ identity: { workload: 'wl-a', scopes }, request: {}, llm: { model: 'gpt-4o-mini', ...llm } }), providers);
}

function withLlm(i: DecisionInput, llm: Partial<DecisionInput['llm']>): DecisionInput {
  return { ...i, llm: { ...i.llm, ...llm } };
}

/** How the runtime decides without a `policy:` section. */
const builtIn = withScopeGuard(createScopedRule('builtin'), 'builtin');

describe('requests the scopes do not apply to', () => {
  it('no provider selected under a provider scope is provider_unavailable, not a scope deny', () => {
    const none = withLlm(input({ providers: ['openai'] }), { provider: undefined });
    expect(scopeViolation(none.identity, none.llm)).toBeUndefined();
    expect(builtIn(none)).toEqual({
      effect: 'deny',
      reason: 'provider_unavailable',
      detail: 'no provider serves the openai API',
      policyVersion: 'builtin',
      rule: SCOPED_RULE_ID,
      matchedRules: [],
      obligations: undefined,
    });
  });

  it('a request naming no model (a model listing) passes a model scope; any named model is checked', () => {
    const scoped = input({ models: ['claude-*'] });
    for (const model of [undefined, '']) {
      const i = withLlm(scoped, { model });
      expect(scopeViolation(i.identity, i.llm)).toBeUndefined();
      expect(builtIn(i)).toMatchObject({ effect: 'allow', rule: SCOPED_RULE_ID });
    }
    expect(builtIn(scoped)).toMatchObject({ effect: 'deny', reason: 'model_not_allowed' });
  });
});

describe('what a scope deny records', () => {
  const cases: [string, Record<string, unknown>, Record<string, unknown>, string, string][] = [
    ['provider', { providers: ['anthropic'] }, {}, 'credential-provider-scope', "provider 'openai' is not in this credential's scope"],
    ['model', { models: ['claude-*'] }, {}, 'credential-model-scope', "model 'gpt-4o-mini' is not in this credential's scope"],
    ['tool', { tools: ['search_*'] }, { tools: ['search_web', 'run_shell'] }, 'credential-tool-scope', "tool 'run_shell' is not in this credential's scope"],
    [
      'stored context',
      { tools: ['search_*'] },
      { stored_context: ['prompt'] },
      'credential-tool-scope',
      "'prompt' brings in stored context whose tools this credential's scope cannot check",
    ],
    ['max_tokens', { max_tokens: 100 }, { max_tokens: 101 }, 'credential-max-tokens-scope', 'this credential allows at most 100 output tokens; set max_tokens'],
  ];
  for (const [name, scopes, llm, rule, detail] of cases) {
    it(`${name}: the guard's rule alone, with its detail`, () => {
      const d = builtIn(input(scopes, llm));
      expect(d).toMatchObject({ effect: 'deny', rule, detail, policyVersion: 'builtin', obligations: undefined });
      expect(d.matchedRules).toEqual([rule]);
    });
  }

  it('a policy allow routing outside the provider scope: the guard rule first, then the rules that matched', () => {
    const dir = policyDir();
    dir.write({
      'a.yaml': 'rules:\n  - {id: to-team, effect: allow, when: "true", obligations: {provider: openai-team}}\n  - {id: also, effect: allow, when: "true"}\n',
    });
    const engine = createPolicyEngine({ dir: dir.dir, providers, watch: false, now: () => NOW });
    try {
      const d = engine.decide(input({ providers: ['openai'] }));
      expect(d).toMatchObject({
        effect: 'deny',
        reason: 'provider_not_allowed',
        rule: 'credential-provider-scope',
        detail: "provider 'openai-team' is not in this credential's scope",
      });
      expect(d.matchedRules).toEqual(['credential-provider-scope', 'to-team', 'also']);
      expect(engine.decide(input({ providers: ['openai', 'openai-team'] }))).toMatchObject({ effect: 'allow', rule: 'to-team' });
    } finally {
      engine.close();
    }
  });
});

describe('the scope line of llm-authz check', () => {
  it('names every scope that binds, or none', () => {
    const all = input({ models: ['gpt-*', 'o3'], providers: ['openai', 'openai-team'], tools: ['a', 'b'], max_tokens: 64 });
    expect(describeScopes(all.identity, undefined)).toBe('credential scopes: within (models [gpt-*, o3], providers [openai, openai-team], tools [a, b], max_tokens 64)');
    expect(describeScopes(input().identity, undefined)).toBe('credential scopes: within (none on this credential)');
    const tools = input({ tools: ['a'] }, { tools: ['b'] });
    expect(describeScopes(tools.identity, scopeViolation(tools.identity, tools.llm))).toBe(
      "credential scopes: DENY (tool_not_allowed) by 'credential-tool-scope': tool 'b' is not in this credential's scope (tools [a])",
    );
    const maxOnly = input({ max_tokens: 0 });
    expect(describeScopes(maxOnly.identity, undefined)).toBe('credential scopes: within (max_tokens 0)');
  });
});

describe('the built-in rule', () => {
  it('denies an unknown API path as unknown_api, without matching', () => {
    const i = withLlm(input(), { operation: 'unknown', schema: 'unknown' });
    expect(builtIn(i)).toEqual({
      effect: 'deny',
      reason: 'unknown_api',
      detail: undefined,
      policyVersion: 'builtin',
      rule: SCOPED_RULE_ID,
      matchedRules: [],
      obligations: undefined,
    });
  });

  it('allows a known request within the scopes, routed to the selected provider', () => {
    const i = input();
    const d = builtIn(i);
    expect(d).toMatchObject({ effect: 'allow', reason: 'allowed', rule: SCOPED_RULE_ID, policyVersion: 'builtin', detail: undefined });
    expect(d.matchedRules).toEqual([SCOPED_RULE_ID]);
    expect(d.obligations?.provider).toBe(i.llm.provider);
  });
});
