/**
 * The types the load-time checker reasons about: CEL's scalar kinds, lists, maps, and the
 * declared objects (`identity`, `request`, `llm`) whose field sets are closed.
 */
import type { CelType } from '@bufbuild/cel';

export type Scalar = 'bool' | 'int' | 'uint' | 'double' | 'string' | 'bytes' | 'null' | 'dyn' | 'type' | 'timestamp' | 'duration';

export type PolicyType =
  | { readonly kind: 'scalar'; readonly name: Scalar }
  | { readonly kind: 'list'; readonly elem: PolicyType }
  | { readonly kind: 'map'; readonly key: PolicyType; readonly value: PolicyType }
  | { readonly kind: 'object'; readonly name: string; readonly fields: Readonly<Record<string, FieldDecl>> };

export interface FieldDecl {
  readonly type: PolicyType;
  /** One line of documentation (docs/policies.md is written from the same facts). */
  readonly doc: string;
  /** True when the field is left out of the activation if the request does not set it (test with has()). */
  readonly optional?: boolean;
}

const scalars = new Map<Scalar, PolicyType>();
export function scalar(name: Scalar): PolicyType {
  let t = scalars.get(name);
  if (t === undefined) {
    t = { kind: 'scalar', name };
    scalars.set(name, t);
  }
  return t;
}

export const T = {
  bool: scalar('bool'),
  int: scalar('int'),
  uint: scalar('uint'),
  double: scalar('double'),
  string: scalar('string'),
  bytes: scalar('bytes'),
  null: scalar('null'),
  dyn: scalar('dyn'),
  type: scalar('type'),
  timestamp: scalar('timestamp'),
  duration: scalar('duration'),
  list: (elem: PolicyType): PolicyType => ({ kind: 'list', elem }),
  map: (key: PolicyType, value: PolicyType): PolicyType => ({ kind: 'map', key, value }),
  object: (name: string, fields: Record<string, FieldDecl>): PolicyType => ({ kind: 'object', name, fields }),
} as const;

export function isDyn(t: PolicyType): boolean {
  return t.kind === 'scalar' && t.name === 'dyn';
}

export function typeName(t: PolicyType): string {
  switch (t.kind) {
    case 'scalar':
      return t.name === 'null' ? 'null_type' : t.name;
    case 'list':
      return `list(${typeName(t.elem)})`;
    case 'map':
      return `map(${typeName(t.key)}, ${typeName(t.value)})`;
    case 'object':
      return t.name;
  }
}

/** The library's CelType (function signatures) as a PolicyType. */
export function fromCelType(c: CelType): PolicyType {
  switch (c.kind) {
    case 'list':
      return T.list(fromCelType(c.element));
    case 'map':
      return T.map(fromCelType(c.key), fromCelType(c.value));
    case 'object':
      if (c.name === 'google.protobuf.Timestamp') return T.timestamp;
      if (c.name === 'google.protobuf.Duration') return T.duration;
      return T.dyn;
    case 'scalar':
      return c.scalar === 'null_type' ? T.null : scalar(c.scalar);
  }
}

/** Declared objects behave as map(string, dyn) at run time (they are passed as plain objects). */
function runtimeShape(t: PolicyType): PolicyType {
  return t.kind === 'object' ? T.map(T.string, T.dyn) : t;
}

/** Whether a value of type `actual` can be passed where `expected` is wanted (dyn on either side matches). */
export function assignable(expected: PolicyType, actual: PolicyType): boolean {
  const e = runtimeShape(expected);
  const a = runtimeShape(actual);
  if (isDyn(e) || isDyn(a)) return true;
  if (e.kind !== a.kind) return false;
  if (e.kind === 'scalar' && a.kind === 'scalar') return e.name === a.name;
  if (e.kind === 'list' && a.kind === 'list') return assignable(e.elem, a.elem);
  if (e.kind === 'map' && a.kind === 'map') return assignable(e.key, a.key) && assignable(e.value, a.value);
  return false;
}

/** The type two branches share, or dyn. */
export function join(a: PolicyType, b: PolicyType): PolicyType {
  return assignable(a, b) && assignable(b, a) ? a : T.dyn;
}

const NUMERIC: ReadonlySet<Scalar> = new Set(['int', 'uint', 'double']);
export function isNumeric(t: PolicyType): boolean {
  return t.kind === 'scalar' && NUMERIC.has(t.name);
}
