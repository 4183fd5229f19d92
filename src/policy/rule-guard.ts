/**
 * Rule guards (rule indexing, as OPA indexes its rules): a rule's `when` whose top level is a
 * chain of `&&` parts often names one value of one field in one of them (`identity.workload ==
 * "spiffe://..."`, `llm.model in ["a", "b"]`). Such a part is read at load: the field's path and
 * the string literals it compares with. Per Check, when the field holds a string that none of the
 * literals equals, that part is false, and in CEL an `&&` with a false part is false whatever the
 * other parts give (errors included), so the rule does not match and its program is not run. Any
 * other value (absent, not a string) runs the program as without guards. A `has()` part on a
 * field that may be absent (`has(identity.scopes.models)`, `has(llm.max_tokens)`) is a guard too:
 * the field absent, the part is false.
 *
 * Only parts outside every comprehension are read, so a name in them is always a top-level
 * variable; only declared string fields reached through declared objects
 * (`identity.workload`, `llm.model`, `request.source.principal`; not map entries such as
 * `request.headers.x`) are guards, read through the same activation the program reads.
 */
import type { parse } from '@bufbuild/cel';
import type { FieldDecl, PolicyType } from './cel-types.ts';
import { qualifiedName } from './checker.ts';
import { fieldAt, VARIABLES, type Activation } from './vars.ts';

type Expr = ReturnType<typeof parse>['expr'];

/** One `&&` part: the field at `path` equals `value` (`==`), one of `values` (`in [...]`), or is present (`has()`). */
export interface RuleGuard {
  readonly path: readonly string[];
  readonly value?: string | undefined;
  readonly values?: ReadonlySet<string> | undefined;
  readonly present?: true | undefined;
}

/** The variables whose fields a guard can read (`now` and `quota` are not objects of fields). */
const OBJECT_VARIABLES: ReadonlySet<string> = new Set(['identity', 'request', 'llm']);

/** The declaration of the field at `path` (`['identity', 'workload']`) of `identity`, `request` or `llm`. */
function declaredAt(path: readonly string[]): FieldDecl | undefined {
  const [root, ...fields] = path;
  if (root === undefined || !OBJECT_VARIABLES.has(root)) return undefined;
  let f: FieldDecl | undefined = VARIABLES[root];
  for (const field of fields) {
    const t: PolicyType | undefined = f?.type;
    if (t?.kind !== 'object' || !Object.hasOwn(t.fields, field)) return undefined;
    f = t.fields[field];
  }
  return f;
}

/** The path of `e` when it names a declared string field (an absent one, read per Check, runs the program). */
function stringFieldPath(e: Expr | undefined): string[] | undefined {
  const name = e === undefined ? undefined : qualifiedName(e);
  if (name === undefined) return undefined;
  const path = name.split('.');
  const t = declaredAt(path)?.type;
  return t?.kind === 'scalar' && t.name === 'string' ? path : undefined;
}

function stringConstant(e: Expr | undefined): string | undefined {
  if (e?.exprKind.case !== 'constExpr') return undefined;
  const c = e.exprKind.value.constantKind;
  return c.case === 'stringValue' ? c.value : undefined;
}

/** The guard a part gives, if any. */
function guardOf(e: Expr): RuleGuard | undefined {
  if (e.exprKind.case === 'selectExpr' && e.exprKind.value.testOnly) {
    // has(a.b): only for a field that may be absent (an always-present one would never rule out)
    // and whose value CEL reads as it is: a timestamp is converted with the evaluation's context.
    const s = e.exprKind.value;
    const owner = s.operand === undefined ? undefined : qualifiedName(s.operand);
    if (owner === undefined) return undefined;
    const path = [...owner.split('.'), s.field];
    const f = declaredAt(path);
    if (f?.optional !== true || (f.type.kind === 'scalar' && (f.type.name === 'timestamp' || f.type.name === 'duration'))) return undefined;
    return { path, present: true };
  }
  if (e.exprKind.case !== 'callExpr') return undefined;
  const call = e.exprKind.value;
  if (call.target !== undefined || call.args.length !== 2) return undefined;
  const [a, b] = call.args;
  if (call.function === '_==_') {
    const left = stringFieldPath(a);
    const right = stringConstant(b);
    if (left !== undefined && right !== undefined) return { path: left, value: right };
    const path = stringFieldPath(b);
    const value = stringConstant(a);
    if (path !== undefined && value !== undefined) return { path, value };
    return undefined;
  }
  if (call.function === '@in' && b?.exprKind.case === 'listExpr') {
    const path = stringFieldPath(a);
    if (path === undefined || b.exprKind.value.optionalIndices.length > 0) return undefined;
    const values = new Set<string>();
    for (const item of b.exprKind.value.elements) {
      const s = stringConstant(item);
      if (s === undefined) return undefined;
      values.add(s);
    }
    return values.size === 1 ? { path, value: [...values][0] } : { path, values };
  }
  return undefined;
}

/** The parts joined by `&&` at the top of `e`. */
function conjunctsOf(e: Expr, out: Expr[]): void {
  if (e.exprKind.case === 'callExpr' && e.exprKind.value.function === '_&&_' && e.exprKind.value.target === undefined) {
    for (const arg of e.exprKind.value.args) conjunctsOf(arg, out);
    return;
  }
  out.push(e);
}

/** The guards of a checked expression (none: undefined). */
export function ruleGuards(parsed: ReturnType<typeof parse>): readonly RuleGuard[] | undefined {
  if (parsed.expr === undefined) return undefined;
  const parts: Expr[] = [];
  conjunctsOf(parsed.expr, parts);
  const guards: RuleGuard[] = [];
  for (const p of parts) {
    const g = guardOf(p);
    if (g !== undefined) guards.push(g);
  }
  return guards.length > 0 ? guards : undefined;
}

/**
 * Whether a guard rules the rule out: its field holds a string none of its literals equals, or a
 * field `has()` tests is absent. A field that cannot be read here runs the program, as without guards.
 */
export function guardedOut(guards: readonly RuleGuard[], vars: Activation): boolean {
  for (const g of guards) {
    let v: unknown;
    try {
      v = fieldAt(vars, g.path);
    } catch {
      return false;
    }
    if (g.present === true) {
      if (v === undefined) return true;
      continue;
    }
    if (typeof v !== 'string') continue;
    if (g.value !== undefined ? v !== g.value : g.values?.has(v) !== true) return true;
  }
  return false;
}
