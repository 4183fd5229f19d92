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
import { guardedOut } from './rule-guard.ts';
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

/** Made once per rule (a rule's results are the same in every Check): its settled results and its id alone as matchedRules. */
interface PerRule {
  readonly matched: RuleResult;
  readonly not_matched: RuleResult;
  readonly alone: readonly string[];
}
const perRule = new WeakMap<CompiledRule, PerRule>();

function made(rule: CompiledRule): PerRule {
  let s = perRule.get(rule);
  if (s === undefined) {
    s = {
      matched: { id: rule.id, effect: rule.effect, outcome: 'matched' },
      not_matched: { id: rule.id, effect: rule.effect, outcome: 'not_matched' },
      alone: Object.freeze([rule.id]),
    };
    perRule.set(rule, s);
  }
  return s;
}

const NONE: readonly string[] = Object.freeze([]);

function evalRule(rule: CompiledRule, vars: Activation): RuleResult {
  let v: unknown;
  try {
    // A guard that rules the rule out gives the program's own answer (false) without running it.
    if (rule.guards !== undefined && guardedOut(rule.guards, vars)) return made(rule).not_matched;
    v = rule.evaluate(vars);
  } catch (err) {
    return { id: rule.id, effect: rule.effect, outcome: 'error', error: err instanceof Error ? err.message : String(err) };
  }
  if (isCelError(v)) return { id: rule.id, effect: rule.effect, outcome: 'error', error: v.message };
  if (v === true) return made(rule).matched;
  if (v === false) return made(rule).not_matched;
  return { id: rule.id, effect: rule.effect, outcome: 'error', error: 'the expression did not evaluate to a bool' };
}

function deny(version: string, reason: Decision['reason'], rule: string | undefined, matched: readonly string[], detail: string | undefined): Decision {
  return { effect: 'deny', reason, detail, policyVersion: version, rule, matchedRules: matched, obligations: undefined };
}

/** The evaluation with every rule's result (explanations: `llm-authz check`, `llm-authz test`). */
export function evaluatePolicySet(set: PolicySet, input: DecisionInput, nowMs: number, opts: { whyNot?: boolean } = {}): Evaluation {
  const results: RuleResult[] = [];
  const decision = evaluate(set, input, nowMs, results);
  if (opts.whyNot === true) {
    // Explanations only (llm-authz check / test): never on the request path.
    for (const [i, r] of results.entries()) {
      const rule = set.rules[i];
      if (r.outcome !== 'not_matched' || rule === undefined) continue;
      const at = firstFalsePart(rule.when, activation(input, nowMs));
      if (at !== undefined) results[i] = { ...r, falseAt: at };
    }
  }
  return { decision, results };
}

/** The decision alone (the request path): the same evaluation, without a result per rule. */
export function decidePolicySet(set: PolicySet, input: DecisionInput, nowMs: number): Decision {
  return evaluate(set, input, nowMs, undefined);
}

/** Evaluates every rule in order (each result into `results`, when given) and decides. */
function evaluate(set: PolicySet, input: DecisionInput, nowMs: number, results: RuleResult[] | undefined): Decision {
  const version = set.version;
  // The provider the LLM phase selected for this API and model, unless a rule names another.
  const byDefault = input.llm.provider;
  let vars: Activation;
  try {
    vars = activation(input, nowMs, set.variables, set.qualified === true);
  } catch {
    return deny(version, 'policy_error', undefined, [], 'the request could not be presented to the policies');
  }

  // The ids of the matched rules in rule order: a rule's own one-id list while one has matched.
  let matched = NONE;
  let more: string[] | undefined;
  let failed: CompiledRule | undefined;
  let denyRule: CompiledRule | undefined;
  let allowRule: CompiledRule | undefined;
  for (const rule of set.rules) {
    if (input.deadline !== undefined && performance.now() > input.deadline) {
      return deny(version, 'timeout', undefined, [], `the policies took longer than the check timeout (stopped before rule '${rule.id}')`);
    }
    const r = evalRule(rule, vars);
    results?.push(r);
    if (r.outcome === 'matched') {
      if (more !== undefined) more.push(rule.id);
      else if (matched.length === 0) matched = made(rule).alone;
      else matched = more = [...matched, rule.id];
      if (rule.effect === 'deny') denyRule ??= rule;
      else allowRule ??= rule;
    } else if (r.outcome === 'error') failed ??= rule;
  }
  if (failed !== undefined) return deny(version, 'policy_error', failed.id, matched, `rule '${failed.id}' failed to evaluate`);
  if (denyRule !== undefined) {
    const reason = denyRule.reason === 'allowed' ? 'denied_by_policy' : denyRule.reason;
    return deny(version, reason, denyRule.id, matched, `denied by rule '${denyRule.id}'`);
  }
  if (allowRule === undefined) {
    // A path llm-authz does not know on a provider API: say so (404), as without policies.
    if (input.llm.operation === 'unknown') return deny(version, 'unknown_api', undefined, matched, 'no policy rule allows this unknown API path');
    // The reason's own message says it ("no policy allows this request"); a detail would repeat it.
    return deny(version, 'denied_by_default', undefined, matched, undefined);
  }
  const o = allowRule.obligations;
  const provider = o?.provider ?? byDefault;
  if (provider === undefined) {
    return deny(version, 'provider_unavailable', allowRule.id, matched, `no provider serves the ${input.llm.api} API`);
  }
  if (!speaks(provider.api, input.llm.api)) {
    return deny(version, 'provider_unavailable', allowRule.id, matched, `provider '${provider.name}' does not speak the ${input.llm.api} API`);
  }
  const cap = o?.maxTokens;
  if (cap !== undefined && (input.llm.maxTokens === undefined || input.llm.maxTokens > cap)) {
    return deny(version, 'max_tokens_exceeded', allowRule.id, matched, `max_tokens must be set and at most ${cap}`);
  }
  return {
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
  };
}
