/**
 * The values policies read at evaluation, cases no unit test decided: token claims as CEL values
 * (numbers, nesting, null, the depth, length and size bounds), the entitlement record with and
 * without one, quota remainders, the identity's methods and scopes, the optional and defaulted
 * `llm` fields, and the bound on request headers. Each is read through a compiled policy set, the
 * way a Check reads it.
 */
import { describe, expect, it } from 'vitest';
import type { JsonValue } from '../../src/core/struct.ts';
import type { Entitlement, Identity } from '../../src/identity/types.ts';
import { evaluatePolicySet } from '../../src/policy/evaluate.ts';
import { decisionFixture, decisionInputOf } from '../../src/policy/fixture.ts';
import { compilePolicySet } from '../../src/policy/policy-set.ts';
import type { DecisionInput } from '../../src/policy/types.ts';
import { LIMITS, type QuotaRemaining } from '../../src/policy/vars.ts';
import { unitProviders } from '../helpers/policies.ts';

const providers = unitProviders();
const NOW = Date.parse('2026-03-01T09:00:00Z');

function baseInput(llm: Record<string, unknown> = {}, withProviders = true): DecisionInput {
  const f = decisionFixture.parse({ identity: { workload: 'spiffe://demo.example/ns/apps/sa/chat-app' }, request: {}, llm: { model: 'gpt-4o-mini', ...llm } });
  return decisionInputOf(f, withProviders ? providers : undefined);
}

function withIdentity(extra: Partial<Identity>, input = baseInput()): DecisionInput {
  return { ...input, identity: { ...input.identity, ...extra } };
}

/** How a one-rule policy set whose `when` is `expr` ends for `input`: matched, not_matched or error. */
function outcome(expr: string, input: DecisionInput): string {
  const set = compilePolicySet('mem', [{ name: 'p.yaml', text: `rules:\n  - {id: r, effect: allow, when: ${JSON.stringify(expr)}}\n` }], { providers });
  const { results } = evaluatePolicySet(set, input, NOW);
  const r = results[0];
  return r === undefined ? 'none' : r.outcome === 'error' ? `error: ${r.error}` : r.outcome;
}

const claims = (c: Record<string, JsonValue>): DecisionInput => withIdentity({ claims: c });

describe('identity.claims', () => {
  it('strings, numbers (as doubles), booleans, null, lists and maps', () => {
    const input = claims({ sub: 'u-1', n: 3, f: 1.5, admin: true, none: null, groups: ['a', 'b'], org: { team: 'x', ids: [1, 2] } });
    expect(outcome(`identity.claims.sub == 'u-1'`, input)).toBe('matched');
    expect(outcome(`identity.claims.n == 3.0 && type(identity.claims.n) == double`, input)).toBe('matched');
    expect(outcome(`identity.claims.f == 1.5`, input)).toBe('matched');
    expect(outcome(`identity.claims.admin == true`, input)).toBe('matched');
    expect(outcome(`identity.claims.none == null`, input)).toBe('matched');
    expect(outcome(`identity.claims.groups == ['a', 'b'] && 'b' in identity.claims.groups`, input)).toBe('matched');
    expect(outcome(`identity.claims.org.team == 'x' && identity.claims.org.ids[1] == 2.0`, input)).toBe('matched');
    expect(outcome(`identity.claims.org.exists(k, k == 'team') && identity.claims.groups.all(g, g in ['a', 'b'])`, input)).toBe('matched');
  });

  it('an identity without claims has an empty map', () => {
    expect(outcome(`size(identity.claims) == 0 && !has(identity.claims.sub)`, baseInput())).toBe('matched');
  });

  it('nesting is cut to null below 8 levels, in maps and in lists', () => {
    let m: JsonValue = 'leaf';
    let l: JsonValue = 'leaf';
    for (let i = 0; i < 10; i++) {
      m = { a: m };
      l = [l];
    }
    const input = claims({ m, l });
    // identity.claims.m is at depth 0; each step goes one deeper.
    const a = (n: number): string => '.a'.repeat(n);
    const i = (n: number): string => '[0]'.repeat(n);
    expect(outcome(`type(identity.claims.m${a(8)}) == map && identity.claims.m${a(9)} == null`, input)).toBe('matched');
    expect(outcome(`type(identity.claims.l${i(8)}) == list && identity.claims.l${i(9)} == null`, input)).toBe('matched');
  });

  it('strings, lists and maps are bounded', () => {
    const long = 'x'.repeat(LIMITS.maxString + 100);
    const many = Array.from({ length: LIMITS.maxList + 10 }, (_, i) => `g${i}`);
    const wide = Object.fromEntries(Array.from({ length: LIMITS.maxMapEntries + 10 }, (_, i) => [`k${i}`, i]));
    const input = claims({ long, many, wide, [`k${long}`]: 'v', nested: { [`k${long}`]: 'v' } });
    expect(outcome(`size(identity.claims.long) == ${LIMITS.maxString}`, input)).toBe('matched');
    expect(outcome(`size(identity.claims.many) == ${LIMITS.maxList}`, input)).toBe('matched');
    expect(outcome(`size(identity.claims.wide) == ${LIMITS.maxMapEntries}`, input)).toBe('matched');
    expect(outcome(`identity.claims.exists(k, size(k) == ${LIMITS.maxString})`, input)).toBe('matched');
    expect(outcome(`identity.claims.nested.exists(k, size(k) == ${LIMITS.maxString})`, input)).toBe('matched');
    expect(outcome('size(identity.claims) == 5', input)).toBe('matched');
  });

  it('at most as many claims as a map may hold', () => {
    const input = claims(Object.fromEntries(Array.from({ length: LIMITS.maxMapEntries + 10 }, (_, i) => [`c${i}`, i])));
    expect(outcome(`size(identity.claims) == ${LIMITS.maxMapEntries}`, input)).toBe('matched');
  });
});

describe('identity.entitlement', () => {
  it('without a record: not recorded, empty strings, no dates, not overdue', () => {
    const expr = [
      '!identity.entitlement.recorded',
      `identity.entitlement.source == ''`,
      `identity.entitlement.id == ''`,
      `identity.entitlement.owner == ''`,
      `identity.entitlement.approved_by == ''`,
      '!has(identity.entitlement.approved_at)',
      '!has(identity.entitlement.review_by)',
      '!identity.entitlement.review_overdue',
    ].join(' && ');
    expect(outcome(expr, baseInput())).toBe('matched');
  });

  it('with a full record: every field as recorded', () => {
    const e: Entitlement = {
      source: 'api_key',
      id: 'key-1',
      owner: 'team-a',
      approvedBy: 'alice',
      approvedAtMs: Date.parse('2026-01-01T00:00:00Z'),
      reviewByMs: Date.parse('2026-02-01T00:00:00Z'),
      reviewOverdue: true,
    };
    const expr = [
      'identity.entitlement.recorded',
      `identity.entitlement.source == 'api_key'`,
      `identity.entitlement.id == 'key-1'`,
      `identity.entitlement.owner == 'team-a'`,
      `identity.entitlement.approved_by == 'alice'`,
      `identity.entitlement.approved_at == timestamp('2026-01-01T00:00:00Z')`,
      `identity.entitlement.review_by == timestamp('2026-02-01T00:00:00Z')`,
      'identity.entitlement.review_overdue',
      'now > identity.entitlement.review_by',
    ].join(' && ');
    expect(outcome(expr, withIdentity({ entitlement: e }))).toBe('matched');
  });

  it('with a bare record: recorded, the unrecorded parts empty or absent', () => {
    const e: Entitlement = { source: 'rule', id: 'r-1', owner: undefined, approvedBy: undefined, approvedAtMs: undefined, reviewByMs: undefined, reviewOverdue: false };
    const expr = [
      'identity.entitlement.recorded',
      `identity.entitlement.source == 'rule'`,
      `identity.entitlement.owner == ''`,
      `identity.entitlement.approved_by == ''`,
      '!has(identity.entitlement.approved_at)',
      '!has(identity.entitlement.review_by)',
      '!identity.entitlement.review_overdue',
    ].join(' && ');
    expect(outcome(expr, withIdentity({ entitlement: e }))).toBe('matched');
  });
});

describe('identity.methods and identity.scopes', () => {
  it("credential_id is '' without a credential id, else the id", () => {
    expect(outcome(`identity.credential_id == ''`, baseInput())).toBe('matched');
    expect(outcome(`identity.credential_id == 'key-7'`, withIdentity({ credentialId: 'key-7' }))).toBe('matched');
  });

  it('methods is the one method when the identity names no list, else the list', () => {
    expect(outcome(`identity.methods == ['api_key']`, baseInput())).toBe('matched');
    expect(outcome(`identity.methods == ['jwt', 'api_key']`, withIdentity({ methods: ['jwt', 'api_key'] }))).toBe('matched');
  });

  it('an unrestricted scope is absent, a restricted one lists its names', () => {
    const open = withIdentity({ scopes: { models: undefined, providers: undefined } });
    expect(outcome('!has(identity.scopes.models) && !has(identity.scopes.providers) && !has(identity.scopes.tools) && !has(identity.scopes.max_tokens)', open)).toBe('matched');
    expect(outcome(`!('models' in identity.scopes) && !('tools' in identity.scopes)`, open)).toBe('matched');
    const scoped = withIdentity({ scopes: { models: ['gpt-*'], providers: ['openai'], tools: ['search'], maxTokens: 100 } });
    expect(
      outcome(`identity.scopes.models == ['gpt-*'] && identity.scopes.providers == ['openai'] && identity.scopes.tools == ['search'] && identity.scopes.max_tokens == 100`, scoped),
    ).toBe('matched');
  });
});

describe('llm fields with defaults', () => {
  it("provider, tool_choice and end_user are '' when unset", () => {
    expect(outcome(`llm.provider == '' && llm.tool_choice == '' && llm.end_user == ''`, baseInput({}, false))).toBe('matched');
  });

  it('and their values when set', () => {
    const input = baseInput({ tool_choice: 'tool:search', end_user: 'u-42' });
    expect(outcome(`llm.provider == 'openai' && llm.tool_choice == 'tool:search' && llm.end_user == 'u-42'`, input)).toBe('matched');
  });
});

describe('request.headers', () => {
  it('holds at most as many headers as a map may', () => {
    const input = baseInput();
    const headers = new Map(Array.from({ length: LIMITS.maxMapEntries + 10 }, (_, i) => [`x-h${i}`, 'v'] as const));
    const many = { ...input, ctx: { ...input.ctx, headers } };
    expect(outcome(`size(request.headers) == ${LIMITS.maxMapEntries}`, many)).toBe('matched');
  });
});

describe('quota', () => {
  const q = (m: Record<string, QuotaRemaining>): DecisionInput => ({ ...baseInput(), quota: new Map(Object.entries(m)) });

  it('each applying quota by name, with the limits it sets', () => {
    const input = q({ chat: { requests: 2, tokens: 500 }, burst: { concurrent: 1 } });
    expect(outcome(`quota['chat'].requests == 2 && quota['chat'].tokens == 500 && !has(quota['chat'].concurrent)`, input)).toBe('matched');
    expect(outcome(`quota['burst'].concurrent == 1 && !has(quota['burst'].requests) && !has(quota['burst'].tokens)`, input)).toBe('matched');
    expect(outcome(`size(quota) == 2 && 'chat' in quota`, input)).toBe('matched');
  });

  it('is empty when no quota applies', () => {
    expect(outcome('size(quota) == 0', baseInput())).toBe('matched');
  });
});
