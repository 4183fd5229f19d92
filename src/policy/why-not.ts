/**
 * For explanations only (`llm-authz check`, `llm-authz test`), never on the request path: which
 * part of a rule's `when` was false. The expression is split at its top-level `&&`s and each part
 * is compiled and evaluated on its own; the first part that is not true is the answer.
 */
import { isCelError, parse, plan } from '@bufbuild/cel';
import { policyEnv, RegexCache } from './functions.ts';
import type { Activation } from './vars.ts';

/** The parts of an expression joined by `&&` at its top level (outside brackets and strings). */
export function conjuncts(expr: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quote: string | undefined;
  let start = 0;
  for (let i = 0; i < expr.length; i++) {
    const c = expr[i];
    if (quote !== undefined) {
      if (c === '\\') i++;
      else if (c === quote) quote = undefined;
      continue;
    }
    if (c === '"' || c === "'") quote = c;
    else if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') depth--;
    else if (c === '&' && expr[i + 1] === '&' && depth === 0) {
      parts.push(expr.slice(start, i).trim());
      start = i + 2;
      i++;
    }
  }
  parts.push(expr.slice(start).trim());
  return parts.filter((p) => p !== '');
}

const env = policyEnv(new RegexCache());

/** The first top-level part of `when` that is not true for these variables (false, or an error); undefined when each is true or it cannot be split. */
export function firstFalsePart(when: string, vars: Activation): string | undefined {
  const parts = conjuncts(when);
  if (parts.length < 2) return undefined;
  for (const part of parts) {
    try {
      const v = plan(env, parse(part))(vars as unknown as Parameters<ReturnType<typeof plan>>[0]);
      if (v !== true) return isCelError(v) ? `${part} (error)` : part;
    } catch {
      return undefined;
    }
  }
  return undefined;
}
