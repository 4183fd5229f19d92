/**
 * Entitlement records: who owns an entitlement, who approved it and when, when it is due for
 * recertification. API keys carry their own (config or key store); callers without an API key
 * (JWT, Envoy-verified JWT, SPIFFE) take the first matching `identity.entitlements` rule, whose
 * scopes then bind like a key's. Dates are parsed once, at load; per request only the review
 * date is compared with the clock.
 */
import { globMatch } from '../core/glob.ts';
import type { EntitlementRuleConfig } from './schema.ts';
import type { Entitlement, Identity, Scopes } from './types.ts';

/** The entitlement fields as the config and the key store write them. */
export interface EntitlementFields {
  readonly owner?: string | undefined;
  readonly approved_by?: string | undefined;
  readonly approved_at?: string | undefined;
  readonly review_by?: string | undefined;
}

/** An entitlement without the per-decision review flag. */
export type EntitlementRecord = Omit<Entitlement, 'reviewOverdue'>;

const ms = (s: string | undefined): number | undefined => (s === undefined ? undefined : Date.parse(s));

export function entitlementRecord(source: Entitlement['source'], id: string, f: EntitlementFields): EntitlementRecord {
  return { source, id, owner: f.owner, approvedBy: f.approved_by, approvedAtMs: ms(f.approved_at), reviewByMs: ms(f.review_by) };
}

/** The record at a decision time: overdue once `review_by` has passed. */
export function atDecision(r: EntitlementRecord, nowMs: number): Entitlement {
  return { ...r, reviewOverdue: r.reviewByMs !== undefined && r.reviewByMs <= nowMs };
}

/** What a rule matches on: the fields of an identity (or of a decision-log line, for the inventory). */
export interface RuleSubject {
  readonly method: string;
  readonly issuer: string | undefined;
  readonly workload: string;
  readonly agent: string | undefined;
}

export interface EntitlementRule {
  readonly config: EntitlementRuleConfig;
  readonly record: EntitlementRecord;
  /** The rule's scopes, or undefined when it grants no scope of its own (policies decide). */
  readonly scopes: Scopes | undefined;
  matches(s: RuleSubject): boolean;
}

export function compileEntitlementRules(rules: readonly EntitlementRuleConfig[]): readonly EntitlementRule[] {
  return rules.map((c) => {
    const m = c.match;
    const hasScopes = c.models !== undefined || c.providers !== undefined || c.tools !== undefined || c.max_tokens !== undefined;
    return {
      config: c,
      record: entitlementRecord('rule', c.id, c),
      scopes: hasScopes ? { models: c.models, providers: c.providers, tools: c.tools, maxTokens: c.max_tokens } : undefined,
      matches: (s) =>
        s.method !== 'api_key' &&
        (m.method === undefined || m.method === s.method) &&
        (m.issuer === undefined || m.issuer === s.issuer) &&
        (m.workload === undefined || globMatch(m.workload, s.workload)) &&
        (m.agent === undefined || (s.agent !== undefined && globMatch(m.agent, s.agent))),
    };
  });
}

/** The first rule that matches, for identities that no API key entitlement names. */
export function matchRule(rules: readonly EntitlementRule[], s: RuleSubject): EntitlementRule | undefined {
  for (const r of rules) if (r.matches(s)) return r;
  return undefined;
}

const unrestricted = (s: Scopes): boolean => s.models === undefined && s.providers === undefined && s.tools === undefined && s.maxTokens === undefined;

/**
 * The identity with its entitlement: an API key's own record stays; otherwise the first
 * matching rule's record, and its scopes when the credential has none.
 */
export function withRuleEntitlement(id: Identity, rules: readonly EntitlementRule[], nowMs: number): Identity {
  if (id.entitlement !== undefined || rules.length === 0) return id;
  const rule = matchRule(rules, id);
  if (rule === undefined) return id;
  const scopes = rule.scopes !== undefined && unrestricted(id.scopes) ? rule.scopes : id.scopes;
  return { ...id, scopes, entitlement: atDecision(rule.record, nowMs) };
}
