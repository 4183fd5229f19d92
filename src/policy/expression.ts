/**
 * One CEL expression outside a policy file (a quota's subject key): parsed, type-checked against
 * the policy variables and planned once, at load; evaluated per request on the same activation
 * policies see.
 */
import { isCelError, parse, plan } from '@bufbuild/cel';
import type { LlmRequest } from '../llm/types.ts';
import type { Identity } from '../identity/types.ts';
import type { RequestContext } from '../envoy/request-context.ts';
import { assignable, typeName, type PolicyType } from './cel-types.ts';
import { checkExpr } from './checker.ts';
import { policyEnv, RegexCache } from './functions.ts';
import { MAX_EXPRESSION_DEPTH } from './schema.ts';
import { activation, qualifiedFor, VARIABLES, variableType, type Activation } from './vars.ts';

export interface ExpressionProblem {
  /** Offset in the expression's text. */
  readonly offset: number;
  readonly message: string;
}

const article = (t: string): string => `${/^(?!u)[aeiou]/.test(t) ? 'an' : 'a'} ${t}`;

export type CompiledExpression =
  | { readonly ok: true; evaluate(input: { ctx: RequestContext; identity: Identity; llm: LlmRequest }, nowMs: number): unknown }
  | { readonly ok: false; readonly problems: readonly ExpressionProblem[] };

/** Compiles `text`, which must give a value of type `result`; `quota` is not readable (it is being computed). */
export function compileExpression(text: string, result: PolicyType): CompiledExpression {
  let ast: ReturnType<typeof parse>;
  try {
    ast = parse(text);
  } catch (err) {
    const message = err instanceof Error ? (err.message.replace(/^<input>:\d+:\d+: /, '').split('\n')[0] ?? 'syntax error') : 'syntax error';
    return { ok: false, problems: [{ offset: 0, message: `syntax error: ${message}` }] };
  }
  const regex = new RegexCache();
  const env = policyEnv(regex);
  const variables = new Set<string>();
  const names = Object.keys(VARIABLES).filter((n) => n !== 'quota');
  const checked = checkExpr(ast, {
    env,
    variable: (name) => {
      if (name === 'quota') return undefined;
      const t = variableType(name);
      if (t !== undefined) variables.add(name);
      return t;
    },
    variableNames: names,
    regex,
    maxDepth: MAX_EXPRESSION_DEPTH,
  });
  if (checked.problems.length > 0) return { ok: false, problems: checked.problems };
  if (!assignable(result, checked.type))
    return { ok: false, problems: [{ offset: 0, message: `the expression is ${article(typeName(checked.type))}, not ${article(typeName(result))}` }] };
  const program = plan(env, ast);
  const qualified = qualifiedFor(checked.bound);
  return {
    ok: true,
    evaluate(input, nowMs) {
      const vars: Activation = activation(input, nowMs, variables, qualified);
      const v = program(vars as unknown as Parameters<typeof program>[0]);
      return isCelError(v) ? undefined : v;
    },
  };
}
