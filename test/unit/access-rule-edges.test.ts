/**
 * Entitlement rules, the review date, the access controls around the identity phase, and the
 * revocation list's matching, decided case by case: what a rule matches (never an API key, each
 * match field on its own), which scopes it grants and when the credential's own stay, the review
 * date's boundary, a deny passed through untouched, and which identity a revocation entry names
 * (each kind, and only that identity). Cases no unit test decided.
 */
import { describe, expect, it } from 'vitest';
import { fail } from '../../src/core/reasons.ts';
import { withAccessControls, type IdentifyFn } from '../../src/identity/access.ts';
import { atDecision, compileEntitlementRules, entitlementRecord, matchRule, withRuleEntitlement, type RuleSubject } from '../../src/identity/entitlement.ts';
import { revokedSet, sameRevocation } from '../../src/identity/revocation-list.ts';
import { identitySchema, type RevocationEntry } from '../../src/identity/schema.ts';
import type { Identity, IdentityOutcome } from '../../src/identity/types.ts';
import { identityCtx } from '../helpers/identity.ts';

const NOW = Date.parse('2026-06-01T00:00:00Z');
const WORKLOAD = 'spiffe://good.test/ns/jobs/sa/nightly';

/** Rules as the config writes them (parsed by the identity schema). */
function rules(entitlements: unknown[]) {
  return compileEntitlementRules(identitySchema.parse({ entitlements }).entitlements);
}

const subject = (s: Partial<RuleSubject> = {}): RuleSubject => ({ method: 'spiffe', issuer: 'spiffe://good.test', workload: WORKLOAD, agent: undefined, ...s });

const identity = (id: Partial<Identity> = {}): Identity => ({
  method: 'spiffe',
  workload: WORKLOAD,
  agent: undefined,
  user: undefined,
  issuer: 'spiffe://good.test',
  credentialId: undefined,
  scopes: { models: undefined, providers: undefined },
  ...id,
});

describe('entitlement rules: what a rule matches', () => {
  const [byMethod, byIssuer, byWorkload, byAgent] = rules([
    { id: 'by-method', match: { method: 'jwt', workload: '*' } },
    { id: 'by-issuer', match: { issuer: 'https://idp.good.test' } },
    { id: 'by-workload', match: { workload: 'spiffe://good.test/ns/jobs/*' } },
    { id: 'by-agent', match: { agent: 'planner-*' } },
  ]);

  it('never matches an API key caller (keys carry their own entitlement), whatever the rule says', () => {
    for (const r of [byMethod, byIssuer, byWorkload, byAgent]) expect(r?.matches(subject({ method: 'api_key', issuer: 'https://idp.good.test', agent: 'planner-1' }))).toBe(false);
    expect(byWorkload?.matches(subject())).toBe(true);
  });

  it('matches on each field alone: method, issuer, workload glob, agent glob (a caller without an agent never matches an agent rule)', () => {
    expect([byMethod?.matches(subject({ method: 'jwt' })), byMethod?.matches(subject({ method: 'spiffe' }))]).toEqual([true, false]);
    expect([byIssuer?.matches(subject({ issuer: 'https://idp.good.test' })), byIssuer?.matches(subject())]).toEqual([true, false]);
    expect([byWorkload?.matches(subject()), byWorkload?.matches(subject({ workload: 'spiffe://good.test/ns/apps/sa/chat' }))]).toEqual([true, false]);
    expect([byAgent?.matches(subject({ agent: 'planner-7' })), byAgent?.matches(subject({ agent: 'coder-1' })), byAgent?.matches(subject())]).toEqual([true, false, false]);
    expect(
      matchRule(
        rules([
          { id: 'a', match: { agent: '*' } },
          { id: 'w', match: { workload: '*' } },
        ]),
        subject(),
      )?.config.id,
    ).toBe('w');
  });
});

describe('entitlement rules: the record and the scopes', () => {
  it('records the rule as the source; a rule with any one scope field grants scopes, one without grants none', () => {
    const compiled = rules([
      { id: 'models', match: { workload: '*' }, models: ['gpt-4o*'] },
      { id: 'providers', match: { workload: '*' }, providers: ['openai'] },
      { id: 'tools', match: { workload: '*' }, tools: ['search'] },
      { id: 'tokens', match: { workload: '*' }, max_tokens: 512 },
      { id: 'none', match: { workload: '*' }, owner: 'team-jobs' },
    ]);
    expect(compiled.map((r) => [r.record.source, r.record.id, r.scopes])).toEqual([
      ['rule', 'models', { models: ['gpt-4o*'], providers: undefined, tools: undefined, maxTokens: undefined }],
      ['rule', 'providers', { models: undefined, providers: ['openai'], tools: undefined, maxTokens: undefined }],
      ['rule', 'tools', { models: undefined, providers: undefined, tools: ['search'], maxTokens: undefined }],
      ['rule', 'tokens', { models: undefined, providers: undefined, tools: undefined, maxTokens: 512 }],
      ['rule', 'none', undefined],
    ]);
  });

  it("binds the rule's scopes only to a credential without scopes of its own (any one field counts)", () => {
    const compiled = rules([{ id: 'jobs', match: { workload: '*' }, models: ['gpt-4o-mini'], owner: 'team-jobs' }]);
    expect(withRuleEntitlement(identity(), compiled, NOW).scopes).toEqual({ models: ['gpt-4o-mini'], providers: undefined, tools: undefined, maxTokens: undefined });
    const own = [
      { models: ['claude-*'], providers: undefined },
      { models: undefined, providers: ['anthropic'] },
      { models: undefined, providers: undefined, tools: ['calc'] },
      { models: undefined, providers: undefined, maxTokens: 64 },
    ];
    for (const scopes of own) {
      const id = withRuleEntitlement(identity({ scopes }), compiled, NOW);
      expect(id.scopes).toBe(scopes);
      expect(id.entitlement?.id).toBe('jobs');
    }
  });

  it("keeps an entitlement the identity already has (an API key's, also when mTLS named the identity), and an identity no rule matches", () => {
    const compiled = rules([{ id: 'jobs', match: { workload: '*' }, models: ['gpt-4o-mini'], owner: 'team-jobs' }]);
    const keyEntitlement = atDecision(entitlementRecord('api_key', 'key1', { owner: 'team-keys' }), NOW);
    const viaMtls = identity({ methods: ['spiffe', 'api_key'], entitlement: keyEntitlement });
    expect(withRuleEntitlement(viaMtls, compiled, NOW)).toBe(viaMtls);
    const other = identity({ method: 'jwt' });
    expect(withRuleEntitlement(other, rules([{ id: 'agents', match: { agent: '*' } }]), NOW)).toBe(other);
    expect(withRuleEntitlement(identity(), compiled, NOW).entitlement).toEqual({
      source: 'rule',
      id: 'jobs',
      owner: 'team-jobs',
      approvedBy: undefined,
      approvedAtMs: undefined,
      reviewByMs: undefined,
      reviewOverdue: false,
    });
  });

  it('a review is overdue from the review date itself (to the millisecond), not before', () => {
    const record = entitlementRecord('rule', 'jobs', { review_by: '2026-06-01T00:00:00Z' });
    expect([atDecision(record, NOW - 1).reviewOverdue, atDecision(record, NOW).reviewOverdue, atDecision(record, NOW + 1).reviewOverdue]).toEqual([false, true, true]);
    expect(atDecision(entitlementRecord('rule', 'jobs', {}), NOW).reviewOverdue).toBe(false);
  });
});

describe('entitlement rules in the config', () => {
  it('a match must name an issuer, a workload or an agent (an agent alone is enough); rule ids are unique', () => {
    const problems = (entitlements: unknown[]) => {
      const r = identitySchema.safeParse({ entitlements });
      return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };
    expect(problems([{ id: 'empty', match: {} }])).toEqual(['entitlements.0.match: expected at least one of issuer, workload, agent']);
    expect(problems([{ id: 'method-only', match: { method: 'jwt' } }])).toEqual(['entitlements.0.match: expected at least one of issuer, workload, agent']);
    expect(problems([{ id: 'agent', match: { agent: 'planner' } }])).toEqual([]);
    expect(
      problems([
        { id: 'same', match: { agent: 'a' } },
        { id: 'same', match: { agent: 'b' } },
      ]),
    ).toEqual(['entitlements: entitlement ids must be unique']);
  });
});

describe('access controls around the identity phase', () => {
  const compiled = rules([{ id: 'jobs', match: { workload: '*' }, owner: 'team-jobs' }]);
  const controls = (outcome: IdentityOutcome) => withAccessControls((async () => outcome) as IdentifyFn, { rules: compiled, revocations: undefined, now: () => NOW });
  const ctx = identityCtx({});

  it('passes a deny without an identity through unchanged', async () => {
    const denied = fail('invalid_credentials', 'the signature does not match');
    expect(await controls(denied)(ctx)).toBe(denied);
  });

  it('keeps the reason and the named identity of a deny that names one (with its entitlement)', async () => {
    const holder = identity({ method: 'jwt' });
    const out = await controls({ ok: false, reason: 'revoked_credentials', detail: "key 'k' is revoked", identity: holder })(ctx);
    expect(out).toEqual({
      ok: false,
      reason: 'revoked_credentials',
      detail: "key 'k' is revoked",
      identity: { ...holder, entitlement: expect.objectContaining({ source: 'rule', id: 'jobs', owner: 'team-jobs' }) },
    });
  });
});

describe('the revocation list: which identity an entry names', () => {
  const at = '2026-01-01T00:00:00Z';
  const list = revokedSet({
    version: 1,
    revoked: [
      { workload: 'spiffe://good.test/ns/jobs/sa/old', revoked_at: at },
      { agent: 'rogue-agent', revoked_at: at },
      { spiffe_id: 'spiffe://good.test/ns/apps/sa/leaked', revoked_at: at },
      { issuer: 'https://idp.good.test', subject: 'user-17', revoked_at: at },
    ],
  });
  const match = (id: Partial<Identity>, peer = '') => list.match(identity(id), peer);

  it('names each kind with its detail', () => {
    expect(match({ workload: 'spiffe://good.test/ns/jobs/sa/old' })).toBe("workload 'spiffe://good.test/ns/jobs/sa/old' is revoked");
    expect(match({ agent: 'rogue-agent' })).toBe("agent 'rogue-agent' is revoked");
    expect(match({ workload: 'spiffe://good.test/ns/apps/sa/leaked' })).toBe("SPIFFE ID 'spiffe://good.test/ns/apps/sa/leaked' is revoked");
    expect(match({ workload: 'billing' }, 'spiffe://good.test/ns/apps/sa/leaked')).toBe("SPIFFE ID 'spiffe://good.test/ns/apps/sa/leaked' (the mTLS peer) is revoked");
    expect(match({ tokenSubjects: [{ issuer: 'https://idp.good.test', subject: 'user-17' }] })).toBe("subject 'user-17' of issuer 'https://idp.good.test' is revoked");
  });

  it('matches a token subject only with its issuer, and nothing it does not list', () => {
    expect(match({ tokenSubjects: [{ issuer: 'https://idp.good.test', subject: 'user-18' }] })).toBeUndefined();
    expect(match({ tokenSubjects: [{ issuer: 'https://other.test', subject: 'user-17' }] })).toBeUndefined();
    expect(match({ agent: 'good-agent' }, 'spiffe://good.test/ns/apps/sa/chat')).toBeUndefined();
    expect(list.size).toBe(4);
  });

  it('two entries are the same only when every field is', () => {
    const base: RevocationEntry = { workload: 'w', revoked_at: at };
    expect(sameRevocation(base, { workload: 'w', revoked_at: '2026-02-02T00:00:00Z', reason: 'other' })).toBe(true);
    const others: RevocationEntry[] = [
      { workload: 'v', revoked_at: at },
      { workload: 'w', agent: 'a', revoked_at: at },
      { workload: 'w', spiffe_id: 'spiffe://good.test/w', revoked_at: at },
      { workload: 'w', issuer: 'i', revoked_at: at },
      { workload: 'w', subject: 's', revoked_at: at },
    ];
    for (const o of others) expect([sameRevocation(base, o), sameRevocation(o, base)]).toEqual([false, false]);
  });
});
