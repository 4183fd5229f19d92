/**
 * The policy variables are computed field by field when a rule reads them (src/policy/lazy-fields.ts):
 * reading, has(), absent optional fields, iteration (size, exists, all) and equality behave as
 * with fully built maps.
 */
import { describe, expect, it } from 'vitest';
import { decisionFixture, decisionInputOf } from '../../src/policy/fixture.ts';
import { compilePolicySet } from '../../src/policy/policy-set.ts';
import { evaluatePolicySet } from '../../src/policy/evaluate.ts';
import { activation } from '../../src/policy/vars.ts';
import { unitProviders } from '../helpers/policies.ts';

const providers = unitProviders();
const NOW = Date.parse('2026-03-01T09:00:00Z');

function input(identity: Record<string, unknown> = {}) {
  return decisionInputOf(
    decisionFixture.parse({
      identity: { workload: 'spiffe://demo.example/ns/apps/sa/chat-app', ...identity },
      request: { headers: { 'x-team': 'a' } },
      llm: { model: 'gpt-4o-mini', max_tokens: 100 },
    }),
    providers,
  );
}

function matches(when: string, identity: Record<string, unknown> = {}): boolean {
  const set = compilePolicySet('mem', [{ name: 'p.yaml', text: `rules:\n  - {id: r, effect: allow, when: '${when}'}\n` }], { providers });
  const { decision, results } = evaluatePolicySet(set, input(identity), NOW);
  expect(results[0]?.outcome, results[0]?.error).not.toBe('error');
  return decision.effect === 'allow';
}

describe('lazily computed policy variables', () => {
  it('reads fields, nested fields and lists', () => {
    expect(matches('identity.workload == "spiffe://demo.example/ns/apps/sa/chat-app"')).toBe(true);
    expect(matches('identity.workload == "other"')).toBe(false);
    expect(matches('request.headers["x-team"] == "a" && llm.max_tokens == 100')).toBe(true);
    expect(matches('identity.scopes.models.exists(m, m == "gpt-*")', { scopes: { models: ['gpt-*'] } })).toBe(true);
    expect(matches('identity.entitlement.recorded == false && identity.entitlement.owner == ""')).toBe(true);
  });

  it('an absent optional field is not there: has() is false and iteration does not list it', () => {
    expect(matches('has(identity.scopes.models)')).toBe(false);
    expect(matches('has(identity.scopes.models)', { scopes: { models: ['a'] } })).toBe(true);
    expect(matches('size(identity.scopes) == 0')).toBe(true);
    expect(matches('size(identity.scopes) == 2', { scopes: { models: ['a'], max_tokens: 5 } })).toBe(true);
    expect(matches('identity.scopes.all(k, k in ["models", "max_tokens"])', { scopes: { models: ['a'], max_tokens: 5 } })).toBe(true);
    expect(matches('identity.scopes.exists(k, k == "tools")', { scopes: { models: ['a'] } })).toBe(false);
    expect(matches('has(llm.temperature)')).toBe(false);
  });

  it('compares as a map; a field is computed once and then kept', () => {
    expect(matches('request.source == {"address": request.source.address, "port": request.source.port, "principal": request.source.principal}')).toBe(true);
    const vars = activation(input({ scopes: { models: ['a'] } }), NOW) as unknown as Record<string, ReadonlyMap<string, unknown>>;
    const identity = vars['identity'];
    expect(identity?.get('scopes')).toBe(identity?.get('scopes'));
    expect([...(identity?.keys() ?? [])]).toContain('claims');
    expect(identity?.get('no_such_field')).toBeUndefined();
  });

  it('qualified field names answer as the field reads do: present, absent (has(), its error) and nested', () => {
    expect(matches('llm.model == "gpt-4o-mini" && identity.scopes.max_tokens == 5 && request.source.port >= 0', { scopes: { max_tokens: 5 } })).toBe(true);
    expect(matches('has(identity.scopes.max_tokens) || !has(llm.temperature)')).toBe(true);
    const set = compilePolicySet('mem', [{ name: 'p.yaml', text: "rules:\n  - {id: r, effect: allow, when: 'identity.scopes.models.size() == 0'}\n" }], { providers });
    expect(set.qualified).toBe(true);
    const { results } = evaluatePolicySet(set, input(), NOW);
    expect(results[0]?.outcome).toBe('error');
    expect(results[0]?.error).toMatch(/models/);
  });

  it("inside a comprehension whose variable is named like a top-level one, a field read is that variable's", () => {
    const when = '[{"model": "other"}].exists(llm, llm.model == "other")';
    const set = compilePolicySet('mem', [{ name: 'p.yaml', text: `rules:\n  - {id: r, effect: allow, when: '${when}'}\n` }], { providers });
    expect(set.qualified).toBe(false);
    expect(matches(when)).toBe(true);
  });
});
