/**
 * Request time: evaluates a compiled PolicySet. Default deny; any matching deny wins over the
 * allows; the first matching rule of the winning effect (file order, then rule order) decides;
 * with no matching rule, an unknown API path is denied as `unknown_api`, anything else as
 * `denied_by_default`;
 * an evaluation error in any rule is a deny with reason `policy_error` (fail closed); past the
 * input's deadline, evaluation stops between rules with a `timeout` deny.
 */
import { performance } from 'node:perf_hooks';
import { isCelError } from '@bufbuild/cel';
import { speaks } from '../apis/index.ts';
import type { CompiledRule, PolicySet } from './policy-set.ts';
import type { Decision, DecisionInput } from './types.ts';
import { activation, type Activation } from './vars.ts';
import { firstFalsePart } from './why-not.ts';

export type RuleOutcome = 'matched' | 'not_matched' | 'error';

export interface RuleResult {
  readonly id: string;
  readonly effect: 'allow' | 'deny';
  readonly outcome: RuleOutcome;
  /** The evaluation error, for explanations and internal logs (never sent to clients). */
  readonly error?: string;
  /** For explanations of a rule that did not match: the first top-level `&&` part that was false. */
  readonly falseAt?: string;
}

export interface Evaluation {
  readonly decision: Decision;
  readonly results: readonly RuleResult[];
}

/** A rule's matched and not-matched results are the same in every Check: made once per rule. */
const settled = new WeakMap<CompiledRule, { readonly matched: RuleResult; readonly not_matched: RuleResult }>();

function settledResult(rule: CompiledRule, outcome: 'matched' | 'not_matched'): RuleResult {
  let s = settled.get(rule);
  if (s === undefined) {
    s = { matched: { id: rule.id, effect: rule.effect, outcome: 'matched' }, not_matched: { id: rule.id, effect: rule.effect, outcome: 'not_matched' } };
    settled.set(rule, s);
  }
  return s[outcome];
}

function evalRule(rule: CompiledRule, vars: Activation): RuleResult {
  let v: unknown;
  try {
    v = rule.evaluate(vars);
  } catch (err) {
    return { id: rule.id, effect: rule.effect, outcome: 'error', error: err instanceof Error ? err.message : String(err) };
  }
  if (isCelError(v)) return { id: rule.id, effect: rule.effect, outcome: 'error', error: v.message };
  if (v === true) return settledResult(rule, 'matched');
  if (v === false) return settledResult(rule, 'not_matched');
  return { id: rule.id, effect: rule.effect, outcome: 'error', error: 'the expression did not evaluate to a bool' };
}

export function evaluatePolicySet(set: PolicySet, input: DecisionInput, nowMs: number, opts: { whyNot?: boolean } = {}): Evaluation {
  const version = set.version;
  const deny = (reason: Decision['reason'], rule: string | undefined, matched: readonly string[], detail: string | undefined): Decision => ({
    effect: 'deny',
    reason,
    detail,
    policyVersion: version,
    rule,
    matchedRules: matched,
    obligations: undefined,
  });
  // The provider the LLM phase selected for this API and model, unless a rule names another.
  const byDefault = input.llm.provider;
  let vars: Activation;
  try {
    vars = activation(input, nowMs, set.variables, set.qualified === true);
  } catch {
    return { decision: deny('policy_error', undefined, [], 'the request could not be presented to the policies'), results: [] };
  }

  const results: RuleResult[] = [];
  for (const r of set.rules) {
    if (input.deadline !== undefined && performance.now() > input.deadline) {
      return { decision: deny('timeout', undefined, [], `the policies took longer than the check timeout (stopped before rule '${r.id}')`), results };
    }
    results.push(evalRule(r, vars));
  }
  if (opts.whyNot === true) {
    // Explanations only (llm-authz check / test): never on the request path.
    for (const [i, r] of results.entries()) {
      const rule = set.rules[i];
      if (r.outcome !== 'not_matched' || rule === undefined) continue;
      const at = firstFalsePart(rule.when, activation(input, nowMs));
      if (at !== undefined) results[i] = { ...r, falseAt: at };
    }
  }
  const matched = results.filter((r) => r.outcome === 'matched').map((r) => r.id);
  const failed = results.find((r) => r.outcome === 'error');
  if (failed !== undefined) {
    return { decision: deny('policy_error', failed.id, matched, `rule '${failed.id}' failed to evaluate`), results };
  }
  const denyIdx = results.findIndex((r) => r.outcome === 'matched' && r.effect === 'deny');
  const denyRule = set.rules[denyIdx];
  if (denyRule !== undefined) {
    const reason = denyRule.reason === 'allowed' ? 'denied_by_policy' : denyRule.reason;
    return { decision: deny(reason, denyRule.id, matched, `denied by rule '${denyRule.id}'`), results };
  }
  const allowIdx = results.findIndex((r) => r.outcome === 'matched' && r.effect === 'allow');
  const allowRule = set.rules[allowIdx];
  if (allowRule === undefined) {
    // A path llm-authz does not know on a provider API: say so (404), as without policies.
    if (input.llm.operation === 'unknown') return { decision: deny('unknown_api', undefined, matched, 'no policy rule allows this unknown API path'), results };
    // The reason's own message says it ("no policy allows this request"); a detail would repeat it.
    return { decision: deny('denied_by_default', undefined, matched, undefined), results };
  }
  const o = allowRule.obligations;
  const provider = o?.provider ?? byDefault;
  if (provider === undefined) {
    return { decision: deny('provider_unavailable', allowRule.id, matched, `no provider serves the ${input.llm.api} API`), results };
  }
  if (!speaks(provider.api, input.llm.api)) {
    return {
      decision: deny('provider_unavailable', allowRule.id, matched, `provider '${provider.name}' does not speak the ${input.llm.api} API`),
      results,
    };
  }
  const cap = o?.maxTokens;
  if (cap !== undefined && (input.llm.maxTokens === undefined || input.llm.maxTokens > cap)) {
    return { decision: deny('max_tokens_exceeded', allowRule.id, matched, `max_tokens must be set and at most ${cap}`), results };
  }
  return {
    decision: {
      effect: 'allow',
      reason: 'allowed',
      detail: undefined,
      policyVersion: version,
      rule: allowRule.id,
      matchedRules: matched,
      obligations: {
        provider,
        credential: o?.credential,
        headers: o !== undefined && o.headers.length > 0 ? o.headers : undefined,
      },
    },
    results,
  };
}
