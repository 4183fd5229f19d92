/**
 * The credential scope guard: the scopes written on a credential (models, providers, tools,
 * max_tokens, and the stored context a tool scope cannot check) bind in every configuration.
 * It runs before the policies (with or without a `policy:` section) and again on the allow's
 * obligations (a rule cannot route outside the provider scope): policies can narrow what a
 * credential may do, never widen it. This is the only place scopes are enforced.
 */
import { globMatch } from '../core/glob.ts';
import type { Identity } from '../identity/types.ts';
import type { LlmRequest } from '../llm/types.ts';
import type { Decide, Decision, DecisionInput } from './types.ts';

/** The rule ids the guard decides with (reserved: a policy file may not use them). */
export const SCOPE_RULES = {
  providers: 'credential-provider-scope',
  models: 'credential-model-scope',
  tools: 'credential-tool-scope',
  maxTokens: 'credential-max-tokens-scope',
} as const;

export const SCOPE_RULE_IDS: ReadonlySet<string> = new Set(Object.values(SCOPE_RULES));

export interface ScopeViolation {
  readonly reason: 'provider_not_allowed' | 'model_not_allowed' | 'tool_not_allowed' | 'max_tokens_exceeded';
  readonly rule: (typeof SCOPE_RULES)[keyof typeof SCOPE_RULES];
  /** Safe for clients and records: names the model/provider/tool asked for, never a credential. */
  readonly detail: string;
}

function providerViolation(identity: Identity, provider: string | undefined): ScopeViolation | undefined {
  const scope = identity.scopes.providers;
  if (scope === undefined || provider === undefined || scope.includes(provider)) return undefined;
  return { reason: 'provider_not_allowed', rule: SCOPE_RULES.providers, detail: `provider '${provider}' is not in this credential's scope` };
}

/**
 * The first scope the request is outside of, or undefined when it is within all of them.
 * The provider is the one the LLM phase selected (none: a later phase denies it as unavailable).
 */
export function scopeViolation(identity: Identity, llm: LlmRequest): ScopeViolation | undefined {
  const { models, tools, maxTokens } = identity.scopes;
  const p = providerViolation(identity, llm.provider?.name);
  if (p !== undefined) return p;
  // A model listing names no model: the model scope does not apply to it.
  if (models !== undefined && llm.model !== undefined && llm.model !== '' && !models.some((m) => globMatch(m, llm.model ?? ''))) {
    return { reason: 'model_not_allowed', rule: SCOPE_RULES.models, detail: `model '${llm.model}' is not in this credential's scope` };
  }
  if (tools !== undefined) {
    const tool = llm.tools.find((t) => !tools.some((g) => globMatch(g, t)));
    if (tool !== undefined) return { reason: 'tool_not_allowed', rule: SCOPE_RULES.tools, detail: `tool '${tool}' is not in this credential's scope` };
    // Stored context (a saved prompt, cached content) can offer tools this request does not list.
    const stored = llm.storedContext[0];
    if (stored !== undefined) {
      return { reason: 'tool_not_allowed', rule: SCOPE_RULES.tools, detail: `'${stored}' brings in stored context whose tools this credential's scope cannot check` };
    }
  }
  if (maxTokens !== undefined && (llm.maxTokens === undefined || llm.maxTokens > maxTokens)) {
    return { reason: 'max_tokens_exceeded', rule: SCOPE_RULES.maxTokens, detail: `this credential allows at most ${maxTokens} output tokens; set max_tokens` };
  }
  return undefined;
}

/** The guard's deny for a violation (before the policies: no other rule has matched). */
export function scopeDenial(v: ScopeViolation, policyVersion: string, matchedRules: readonly string[] = []): Decision {
  return { effect: 'deny', reason: v.reason, detail: v.detail, policyVersion, rule: v.rule, matchedRules: [v.rule, ...matchedRules], obligations: undefined };
}

/** The policies' decision, unless it allows routing to a provider outside the provider scope. */
export function guardAfter(input: DecisionInput, decision: Decision): Decision {
  if (decision.effect !== 'allow' || decision.obligations === undefined) return decision;
  const v = providerViolation(input.identity, decision.obligations.provider.name);
  return v === undefined ? decision : { ...scopeDenial(v, decision.policyVersion, decision.matchedRules), shadow: decision.shadow };
}

/** A decider behind the guard (the built-in rule's; the engine applies the guard per set itself). */
export function withScopeGuard(decide: Decide, policyVersion: string): Decide {
  return (input) => {
    const v = scopeViolation(input.identity, input.llm);
    return v === undefined ? guardAfter(input, decide(input)) : scopeDenial(v, policyVersion);
  };
}

/** One line for `llm-authz check`: the scopes that bind and whether the request is within them. */
export function describeScopes(identity: Identity, violation: ScopeViolation | undefined): string {
  const s = identity.scopes;
  const parts: string[] = [];
  if (s.models !== undefined) parts.push(`models [${s.models.join(', ')}]`);
  if (s.providers !== undefined) parts.push(`providers [${s.providers.join(', ')}]`);
  if (s.tools !== undefined) parts.push(`tools [${s.tools.join(', ')}]`);
  if (s.maxTokens !== undefined) parts.push(`max_tokens ${s.maxTokens}`);
  const scopes = parts.length === 0 ? 'none on this credential' : parts.join(', ');
  if (violation === undefined) return `credential scopes: within (${scopes})`;
  return `credential scopes: DENY (${violation.reason}) by '${violation.rule}': ${violation.detail} (${scopes})`;
}
