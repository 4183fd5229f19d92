/**
 * The load-time type checker over @bufbuild/cel's parsed AST (the library has no public
 * checker). It finds unknown variables, unknown fields of the declared objects, calls with no
 * matching overload (wrong operand types, where the types are knowable), and bounds nesting.
 * Every problem is collected with the offset of the sub-expression in the CEL text.
 */
import { didYouMean } from '../core/suggest.ts';
import type { parse, CelEnv } from '@bufbuild/cel';
import { assignable, fromCelType, isDyn, isNumeric, join, T, typeName, type PolicyType } from './cel-types.ts';

/** `a string`, `an int`, `a uint` (the one type name whose leading vowel is sounded "you"). */
function an(t: PolicyType): string {
  const n = typeName(t);
  return `${/^(?!u)[aeiou]/.test(n) ? 'an' : 'a'} ${n}`;
}
import type { RegexCache } from './functions.ts';

type ParsedExpr = ReturnType<typeof parse>;
type Expr = ParsedExpr['expr'];

export interface CheckProblem {
  /** Offset of the offending sub-expression in the expression text. */
  readonly offset: number;
  readonly message: string;
}

export interface CheckResult {
  readonly type: PolicyType;
  readonly problems: readonly CheckProblem[];
  /** The names the expression's comprehensions bind (loop and accumulator variables). */
  readonly bound: ReadonlySet<string>;
}

export interface CheckOptions {
  readonly env: CelEnv;
  readonly variable: (name: string) => PolicyType | undefined;
  /** The declared variable names, for "did you mean". */
  readonly variableNames?: readonly string[] | undefined;
  /** Constant `matches` patterns are compiled here at load (an invalid pattern is a problem). */
  readonly regex: RegexCache;
  readonly maxDepth: number;
}

/** The names of the environment's functions (methods when `methods`), operators left out: for "did you mean". */
function functionNames(env: CelEnv, methods: boolean): Set<string> {
  const out = new Set<string>();
  for (const f of env.funcs) if (/^[A-Za-z]/.test(f.name) && (f.target !== undefined) === methods) out.add(f.name);
  return out;
}

/** Calls the checker types itself (the library resolves them in its planner, not as functions). */
const LOGICAL = new Set(['_&&_', '_||_', '@not_strictly_false']);

export function checkExpr(parsed: ParsedExpr, opts: CheckOptions): CheckResult {
  const problems: CheckProblem[] = [];
  const positions = parsed.sourceInfo?.positions ?? {};
  const offsetOf = (e: Expr): number => positions[String(e.id)] ?? 0;
  const report = (e: Expr, message: string): PolicyType => {
    problems.push({ offset: offsetOf(e), message });
    return T.dyn;
  };
  let depthReported = false;
  const bound = new Set<string>();

  function visit(e: Expr | undefined, scope: ReadonlyMap<string, PolicyType>, depth: number): PolicyType {
    if (e === undefined) return T.dyn;
    if (depth > opts.maxDepth) {
      if (!depthReported) {
        depthReported = true;
        report(e, `the expression is nested more than ${opts.maxDepth} levels deep`);
      }
      return T.dyn;
    }
    const k = e.exprKind;
    switch (k.case) {
      case 'constExpr': {
        switch (k.value.constantKind.case) {
          case 'boolValue':
            return T.bool;
          case 'int64Value':
            return T.int;
          case 'uint64Value':
            return T.uint;
          case 'doubleValue':
            return T.double;
          case 'stringValue':
            return T.string;
          case 'bytesValue':
            return T.bytes;
          case 'nullValue':
            return T.null;
          case 'durationValue':
            return T.duration;
          case 'timestampValue':
            return T.timestamp;
          default:
            return T.dyn;
        }
      }
      case 'identExpr': {
        const name = k.value.name;
        const local = scope.get(name);
        if (local !== undefined) return local;
        const declared = opts.variable(name);
        if (declared !== undefined) return declared;
        if (isTypeName(name)) return T.type;
        return report(e, `unknown variable '${name}'${didYouMean(name, [...(opts.variableNames ?? []), ...scope.keys()])}`);
      }
      case 'selectExpr': {
        const qualified = qualifiedName(e);
        if (qualified !== undefined && QUALIFIED_TYPES.has(qualified) && !scope.has(qualified.split('.')[0] ?? '')) return T.type;
        const operand = visit(k.value.operand, scope, depth + 1);
        const field = k.value.field;
        let t: PolicyType = T.dyn;
        if (operand.kind === 'object') {
          const f = Object.hasOwn(operand.fields, field) ? operand.fields[field] : undefined;
          if (f === undefined) {
            t = report(e, `unknown field '${field}' of ${operand.name}${didYouMean(field, Object.keys(operand.fields))} (known: ${Object.keys(operand.fields).join(', ')})`);
          } else {
            t = f.type;
          }
        } else if (operand.kind === 'map') {
          if (!assignable(operand.key, T.string)) t = report(e, `cannot select '${field}' of ${typeName(operand)}`);
          else t = operand.value;
        } else if (!isDyn(operand)) {
          t = report(e, `cannot select field '${field}' of ${an(operand)}`);
        }
        return k.value.testOnly ? T.bool : t;
      }
      case 'listExpr': {
        let elem: PolicyType | undefined;
        for (const item of k.value.elements) {
          const t = visit(item, scope, depth + 1);
          elem = elem === undefined ? t : join(elem, t);
        }
        return T.list(elem ?? T.dyn);
      }
      case 'structExpr': {
        if (k.value.messageName !== '') return report(e, `message construction (${k.value.messageName}) is not supported in policies`);
        let key: PolicyType | undefined;
        let value: PolicyType | undefined;
        for (const entry of k.value.entries) {
          const kt = entry.keyKind.case === 'mapKey' ? visit(entry.keyKind.value, scope, depth + 1) : T.string;
          const vt = visit(entry.value, scope, depth + 1);
          key = key === undefined ? kt : join(key, kt);
          value = value === undefined ? vt : join(value, vt);
        }
        return T.map(key ?? T.dyn, value ?? T.dyn);
      }
      case 'comprehensionExpr': {
        const c = k.value;
        const range = visit(c.iterRange, scope, depth + 1);
        let iter: PolicyType = T.dyn;
        let iter2: PolicyType = T.dyn;
        if (range.kind === 'list') {
          iter = range.elem;
          iter2 = range.elem;
          if (c.iterVar2 !== '') iter = T.int;
        } else if (range.kind === 'map') {
          iter = range.key;
          iter2 = range.value;
        } else if (range.kind === 'object') {
          iter = T.string;
        } else if (!isDyn(range)) {
          report(c.iterRange ?? e, `cannot iterate over ${an(range)}`);
        }
        const accu = visit(c.accuInit, scope, depth + 1);
        const inner = new Map(scope);
        for (const v of [c.accuVar, c.iterVar, c.iterVar2]) if (v !== '') bound.add(v);
        inner.set(c.accuVar, accu);
        inner.set(c.iterVar, iter);
        if (c.iterVar2 !== '') inner.set(c.iterVar2, iter2);
        const cond = visit(c.loopCondition, inner, depth + 1);
        if (!assignable(T.bool, cond)) report(c.loopCondition ?? e, `the loop condition is ${an(cond)}, not a bool`);
        const step = visit(c.loopStep, inner, depth + 1);
        inner.set(c.accuVar, accu.kind === 'list' && step.kind === 'list' ? step : join(accu, step));
        const resultScope = new Map(scope);
        resultScope.set(c.accuVar, inner.get(c.accuVar) ?? T.dyn);
        return visit(c.result, resultScope, depth + 1);
      }
      case 'callExpr':
        return visitCall(e, k.value, scope, depth);
      default:
        return T.dyn;
    }
  }

  function visitCall(e: Expr, call: { function: string; target?: Expr | undefined; args: Expr[] }, scope: ReadonlyMap<string, PolicyType>, depth: number): PolicyType {
    // A namespaced function (`strings.quote(s)`) parses as a method call on an identifier.
    const ns = call.target === undefined ? undefined : qualifiedName(call.target);
    if (
      ns !== undefined &&
      !scope.has(ns.split('.')[0] ?? '') &&
      opts.variable(ns.split('.')[0] ?? '') === undefined &&
      opts.env.funcs.find(`${ns}.${call.function}`) !== undefined
    ) {
      return visitCall(e, { function: `${ns}.${call.function}`, args: call.args }, scope, depth);
    }
    const name = call.function;
    const target = call.target === undefined ? undefined : visit(call.target, scope, depth + 1);
    const args = call.args.map((a) => visit(a, scope, depth + 1));

    if (LOGICAL.has(name) || name === '!_') {
      args.forEach((t, i) => {
        const arg = call.args[i];
        if (arg !== undefined && !assignable(T.bool, t)) report(arg, `operand of ${operatorName(name)} is ${an(t)}, not a bool`);
      });
      return T.bool;
    }
    if (name === '_?_:_') {
      const [c, a, b] = args;
      if (c !== undefined && call.args[0] !== undefined && !assignable(T.bool, c)) report(call.args[0], `the condition is ${an(c)}, not a bool`);
      return join(a ?? T.dyn, b ?? T.dyn);
    }
    if (name === '_==_' || name === '_!=_') {
      const [a, b] = args;
      if (a !== undefined && b !== undefined && !comparable(a, b)) {
        report(e, `cannot compare ${an(a)} with ${an(b)}`);
      }
      return T.bool;
    }
    if (name === '_[_]') {
      const [c, i] = args;
      if (c === undefined || i === undefined) return T.dyn;
      if (c.kind === 'list') {
        if (!assignable(T.int, i) && !isNumeric(i)) report(e, `a list index must be an int, not ${an(i)}`);
        return c.elem;
      }
      if (c.kind === 'map') {
        if (!assignable(c.key, i)) report(e, `a key of ${typeName(c)} cannot be ${an(i)}`);
        return c.value;
      }
      if (c.kind === 'object') {
        if (!assignable(T.string, i)) report(e, `a field name must be a string, not ${an(i)}`);
        return T.dyn;
      }
      if (!isDyn(c)) report(e, `cannot index ${an(c)}`);
      return T.dyn;
    }
    if (name === '@in') {
      const [v, c] = args;
      if (v !== undefined && c !== undefined) {
        if (c.kind === 'list' && !comparable(c.elem, v)) report(e, `${an(v)} is never in ${an(c)}`);
        else if (c.kind === 'map' && !comparable(c.key, v)) report(e, `${an(v)} is never a key of ${typeName(c)}`);
        else if (c.kind === 'scalar' && !isDyn(c)) report(e, `'in' needs a list or a map, not ${an(c)}`);
      }
      return T.bool;
    }
    if (name === 'matches' && target !== undefined) {
      const p = call.args[0];
      if (p?.exprKind.case === 'constExpr' && p.exprKind.value.constantKind.case === 'stringValue') {
        try {
          opts.regex.compile(p.exprKind.value.constantKind.value);
        } catch (err) {
          report(p, `invalid regular expression: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
    }
    return resolveOverload(e, name, target, args);
  }

  function resolveOverload(e: Expr, name: string, target: PolicyType | undefined, args: PolicyType[]): PolicyType {
    const group = opts.env.funcs.find(name);
    const shown = `${target === undefined ? '' : `${typeName(target)}.`}${operatorName(name)}(${args.map(typeName).join(', ')})`;
    if (group === undefined) return report(e, `unknown function '${operatorName(name)}'${didYouMean(name, functionNames(opts.env, target !== undefined))}`);
    const candidates = [...group].filter((f) => (f.target !== undefined) === (target !== undefined) && f.arguments.length === args.length);
    if (candidates.length === 0) {
      return report(
        e,
        `'${operatorName(name)}' ${target === undefined ? 'is not called as a function' : 'is not a method'} with ${args.length} argument${args.length === 1 ? '' : 's'}`,
      );
    }
    let result: PolicyType | undefined;
    for (const f of candidates) {
      if (f.target !== undefined && target !== undefined && !assignable(fromCelType(f.target), target)) continue;
      if (!f.arguments.every((p, i) => assignable(fromCelType(p), args[i] ?? T.dyn))) continue;
      const r = fromCelType(f.result);
      result = result === undefined ? r : join(result, r);
    }
    if (result === undefined) return report(e, `no overload of '${operatorName(name)}' takes ${shown}`);
    return result;
  }

  const type = visit(parsed.expr, new Map(), 0);
  return { type, problems, bound };
}

function comparable(a: PolicyType, b: PolicyType): boolean {
  if (isDyn(a) || isDyn(b)) return true;
  if (isNumeric(a) && isNumeric(b)) return true;
  if ((a.kind === 'scalar' && a.name === 'null') || (b.kind === 'scalar' && b.name === 'null')) return true;
  return assignable(a, b);
}

/** Type names written with their package (`type(now) == google.protobuf.Timestamp`). */
const QUALIFIED_TYPES: ReadonlySet<string> = new Set(['google.protobuf.Timestamp', 'google.protobuf.Duration']);

/** `a.b.c` for a chain of identifiers and field selections, else undefined. */
export function qualifiedName(e: Expr): string | undefined {
  const k = e.exprKind;
  if (k.case === 'identExpr') return k.value.name;
  if (k.case === 'selectExpr' && !k.value.testOnly && k.value.operand !== undefined) {
    const left = qualifiedName(k.value.operand);
    return left === undefined ? undefined : `${left}.${k.value.field}`;
  }
  return undefined;
}

const TYPE_NAMES = new Set(['int', 'uint', 'double', 'bool', 'string', 'bytes', 'list', 'map', 'null_type', 'type']);
function isTypeName(name: string): boolean {
  return TYPE_NAMES.has(name);
}

const OPERATOR_NAMES: Readonly<Record<string, string>> = {
  '_&&_': '&&',
  '_||_': '||',
  '!_': '!',
  '-_': 'unary -',
  '_+_': '+',
  '_-_': '-',
  '_*_': '*',
  '_/_': '/',
  '_%_': '%',
  '_<_': '<',
  '_<=_': '<=',
  '_>_': '>',
  '_>=_': '>=',
  '_==_': '==',
  '_!=_': '!=',
  '@in': 'in',
  '@not_strictly_false': 'a loop condition',
};
function operatorName(name: string): string {
  return OPERATOR_NAMES[name] ?? name;
}
