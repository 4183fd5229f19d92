/**
 * The built-in rule used when the config has no `policy:` section: every identified caller is
 * allowed what its credential's scopes allow (the scope guard, scope-guard.ts, runs before this
 * rule in every configuration), routed to the provider the LLM phase selected. Default deny:
 * an unknown API path, or an API no provider serves, is denied.
 */
import type { Decide, Decision, DecisionInput } from './types.ts';

export const SCOPED_RULE_ID = 'credential-scopes';

export function createScopedRule(version: string): Decide {
  return (input) => decide(input, version);
}

function decide({ llm }: DecisionInput, version: string): Decision {
  const base = { policyVersion: version, rule: SCOPED_RULE_ID, detail: undefined };
  if (llm.operation === 'unknown') {
    return { ...base, effect: 'deny', reason: 'unknown_api', matchedRules: [], obligations: undefined, detail: undefined };
  }
  const provider = llm.provider;
  if (provider === undefined) {
    return { ...base, effect: 'deny', reason: 'provider_unavailable', matchedRules: [], obligations: undefined, detail: `no provider serves the ${llm.api} API` };
  }
  return { ...base, effect: 'allow', reason: 'allowed', matchedRules: [SCOPED_RULE_ID], obligations: { provider } };
}
