/**
 * The built-in rule used when the config has no `policy:` section: the credential's scopes must
 * cover the model and the provider. Default deny: anything not covered is denied.
 * (examples/policies/rules/00-credential-scopes.yaml is the same rule in CEL.)
 */
import { globMatch } from '../core/glob.ts';
import type { Decide, Decision, DecisionInput } from './types.ts';

export const SCOPED_RULE_ID = 'credential-scopes';

export function createScopedRule(version: string): Decide {
  return (input) => decide(input, version);
}

function decide({ identity, llm }: DecisionInput, version: string): Decision {
  const base = { policyVersion: version, rule: SCOPED_RULE_ID, detail: undefined };
  if (llm.operation === 'unknown') {
    return { ...base, effect: 'deny', reason: 'unknown_api', matchedRules: [], obligations: undefined, detail: undefined };
  }
  const provider = llm.provider;
  if (provider === undefined) {
    return { ...base, effect: 'deny', reason: 'provider_unavailable', matchedRules: [], obligations: undefined, detail: `no provider serves the ${llm.api} API` };
  }
  const { models, providers, tools, maxTokens } = identity.scopes;
  if (providers !== undefined && !providers.includes(provider.name)) {
    return { ...base, effect: 'deny', reason: 'provider_not_allowed', matchedRules: [], obligations: undefined, detail: `provider '${provider.name}' is not in this credential's scope` };
  }
  if (models !== undefined && llm.model !== undefined && !models.some((m) => globMatch(m, llm.model ?? ''))) {
    return { ...base, effect: 'deny', reason: 'model_not_allowed', matchedRules: [], obligations: undefined, detail: `model '${llm.model}' is not in this credential's scope` };
  }
  const tool = tools === undefined ? undefined : llm.tools.find((t) => !tools.some((p) => globMatch(p, t)));
  if (tool !== undefined) {
    return { ...base, effect: 'deny', reason: 'tool_not_allowed', matchedRules: [], obligations: undefined, detail: `tool '${tool}' is not in this credential's scope` };
  }
  // Stored context can offer tools this request does not list: a tool scope cannot be checked.
  const stored = tools === undefined ? undefined : llm.storedContext[0];
  if (stored !== undefined) {
    return { ...base, effect: 'deny', reason: 'tool_not_allowed', matchedRules: [], obligations: undefined, detail: `'${stored}' brings in stored context whose tools this credential's scope cannot check` };
  }
  if (maxTokens !== undefined && (llm.maxTokens === undefined || llm.maxTokens > maxTokens)) {
    return { ...base, effect: 'deny', reason: 'max_tokens_exceeded', matchedRules: [], obligations: undefined, detail: `this credential allows at most ${maxTokens} output tokens; set max_tokens` };
  }
  return { ...base, effect: 'allow', reason: 'allowed', matchedRules: [SCOPED_RULE_ID], obligations: { provider } };
}
