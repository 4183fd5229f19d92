/**
 * The one YAML reader of the project's files (config, policies, policy test suites): parses with
 * positions, and turns a document path or an offset into `file:line:col`.
 */
import { isMap, isNode, isScalar, LineCounter, parseDocument, Scalar, type Document } from 'yaml';
import { didYouMean } from './suggest.ts';
import type { z } from 'zod';

export interface YamlFile {
  readonly doc: Document;
  /** Syntax errors, `file:line:col: message` each; the document is unusable when any. */
  readonly errors: readonly string[];
  /** `file:line:col` of a character offset in the text. */
  at(offset: number): string;
  /** The offset of the node at `path`, or of its deepest existing parent (a missing key points at its parent). */
  offsetOf(path: readonly PropertyKey[]): number;
  /** `file:line:col` of the node at `path` (or its deepest existing parent); the file name alone when the document has no node. */
  where(path: readonly PropertyKey[]): string;
  /** `file:line:col` of a schema issue: the offending key itself for unknown keys, else the value's node. */
  whereIssue(issue: z.core.$ZodIssue): string;
}

export function readYaml(text: string, name: string): YamlFile {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: false });
  const at = (offset: number): string => {
    const { line, col } = lc.linePos(offset);
    return `${name}:${line}:${col}`;
  };
  const find = (path: readonly PropertyKey[]): number | undefined => {
    for (let n = path.length; n >= 0; n--) {
      const node = doc.getIn(path.slice(0, n) as unknown[], true);
      if (isNode(node) && node.range) return node.range[0];
    }
    return undefined;
  };
  /** The offset of the key `key` in the mapping at `path` (an unknown key points at itself, not its parent). */
  const keyOffset = (path: readonly PropertyKey[], key: string): number | undefined => {
    const map = doc.getIn(path as unknown[], true);
    if (!isMap(map)) return undefined;
    const pair = map.items.find((p) => isScalar(p.key) && p.key.value === key);
    return isScalar(pair?.key) ? pair.key.range?.[0] : undefined;
  };
  const where = (path: readonly PropertyKey[]): string => {
    const offset = find(path);
    return offset === undefined ? name : at(offset);
  };
  return {
    doc,
    errors: doc.errors.map((e) => `${at(e.pos[0])}: ${e.message.split('\n')[0] ?? e.code}`),
    at,
    offsetOf: (path) => find(path) ?? 0,
    where,
    whereIssue: (issue) => {
      const key = issue.code === 'unrecognized_keys' ? issue.keys[0] : undefined;
      const offset = key === undefined ? undefined : keyOffset(issue.path, key);
      return offset === undefined ? where(issue.path) : at(offset);
    },
  };
}

/** What was found, in a few words (values clipped; config and policy files hold no secrets, only paths and names). */
function found(input: unknown): string {
  if (input === undefined) return 'nothing';
  if (input === null) return 'null';
  if (Array.isArray(input)) return 'a list';
  if (typeof input === 'object') return 'a mapping';
  if (typeof input === 'string') return JSON.stringify(input.length > 40 ? `${input.slice(0, 40)}…` : input);
  return String(input);
}

const ARTICLE: Readonly<Record<string, string>> = { number: 'a number', string: 'a string', boolean: 'true or false', array: 'a list', object: 'a mapping', int: 'an integer' };

/** The keys a schema (zod 4) accepts at a path: for "did you mean". */
export function schemaKeysAt(schema: unknown, path: readonly PropertyKey[]): string[] {
  type Def = { type?: string; innerType?: unknown; in?: unknown; element?: unknown; valueType?: unknown; shape?: Record<string, unknown>; options?: unknown[] };
  const def = (s: unknown): Def | undefined => (s as { _zod?: { def?: Def } } | undefined)?._zod?.def;
  const unwrap = (s: unknown): unknown => {
    let cur = s;
    for (let d = def(cur); d !== undefined && (d.innerType !== undefined || d.in !== undefined); d = def(cur)) cur = d.innerType ?? d.in;
    return cur;
  };
  // A union (a name or a mapping) stands for each of its options at the same path.
  const expand = (xs: unknown[]): unknown[] => xs.flatMap((s) => (def(s)?.type === 'union' ? (def(s)?.options ?? []).map(unwrap) : [s]));
  let cur: unknown[] = [unwrap(schema)];
  for (const p of path) {
    cur = expand(cur).flatMap((s) => {
      const d = def(s);
      if (d?.type === 'array' && typeof p === 'number') return [unwrap(d.element)];
      if (d?.type === 'record') return [unwrap(d.valueType)];
      if (d?.type === 'object' && typeof p === 'string' && d.shape !== undefined) return Object.hasOwn(d.shape, p) ? [unwrap(d.shape[p])] : [];
      return [];
    });
  }
  return expand(cur).flatMap((s) => Object.keys(def(s)?.shape ?? {}));
}

/**
 * A schema issue in plain words: unknown keys named, with the closest known key; the expected
 * type with what was found (`expected a number, got "ten"`), without the library's wording.
 * Parse with `{ reportInput: true }` for the "got" part.
 */
export function issueMessage(issue: z.core.$ZodIssue, schema?: unknown): string {
  if (issue.code === 'unrecognized_keys') {
    const known = schema === undefined ? [] : schemaKeysAt(schema, issue.path);
    return issue.keys.map((k) => `unknown key '${k}'${didYouMean(k, known)}`).join(', ');
  }
  if (issue.code === 'invalid_type') {
    const want = ARTICLE[issue.expected] ?? issue.expected;
    return 'input' in issue ? (issue.input === undefined ? `missing: expected ${want}` : `expected ${want}, got ${found(issue.input)}`) : `expected ${issue.expected}`;
  }
  if (issue.code === 'invalid_value') {
    const one = issue.values.map((v) => (typeof v === 'string' ? `'${v}'` : String(v))).join(', ');
    const want = `expected ${issue.values.length === 1 ? one : `one of ${one}`}`;
    if (!('input' in issue)) return want;
    return issue.input === undefined ? `missing: ${want}` : `${want}, got ${found(issue.input)}`;
  }
  if (issue.code === 'invalid_union') {
    // A name or a mapping (providers[].credential): what is wrong in the branch whose type
    // matched, at its own key; else the types it could have been. Not the library's "Invalid input".
    const rootType = (errs: readonly z.core.$ZodIssue[]): z.core.$ZodIssue | undefined => errs.find((e) => e.code === 'invalid_type' && e.path.length === 0);
    const branch = issue.errors.find((errs) => errs.length > 0 && rootType(errs) === undefined);
    if (branch !== undefined) {
      return branch
        .map((e) => {
          const inner = issueMessage({ ...e, path: [...issue.path, ...e.path] }, schema);
          return e.path.length > 0 ? `${e.path.map(String).join('.')}: ${inner}` : inner;
        })
        .join('; ');
    }
    const types = issue.errors.map(rootType).flatMap((e) => (e?.code === 'invalid_type' ? [ARTICLE[e.expected] ?? e.expected] : []));
    if (types.length === issue.errors.length && types.length > 0) return `expected ${types.join(' or ')}${'input' in issue ? `, got ${found(issue.input)}` : ''}`;
  }
  return issue.message;
}

/**
 * Positions inside a scalar: maps an offset inside a YAML scalar's value (e.g. a CEL expression) back to the offset in the
 * file, for plain, single-quoted, double-quoted, literal (|) and folded (>) scalars. The value's
 * characters are aligned with the source text in order; folded line breaks and indentation are
 * skipped as whitespace. Escapes in double-quoted scalars fall back to the nearest match.
 */
export function scalarValueStart(source: string, node: Scalar): number {
  const start = node.range?.[0] ?? 0;
  const first = source[start];
  if (node.type === Scalar.QUOTE_DOUBLE || node.type === Scalar.QUOTE_SINGLE) return start + 1;
  if ((node.type === Scalar.BLOCK_LITERAL || node.type === Scalar.BLOCK_FOLDED) && (first === '|' || first === '>')) {
    const nl = source.indexOf('\n', start);
    return nl === -1 ? start : nl + 1;
  }
  return start;
}

const isSpace = (c: string | undefined): boolean => c === ' ' || c === '\t' || c === '\n' || c === '\r';

/** The file offset of character `offset` of the scalar's string value. */
export function sourceOffset(source: string, node: Scalar, value: string, offset: number): number {
  const end = node.range?.[1] ?? source.length;
  let src = scalarValueStart(source, node);
  for (let v = 0; v < value.length && src < end; v++) {
    const ch = value[v];
    let probe = src;
    while (probe < end && source[probe] !== ch && !(isSpace(ch) && isSpace(source[probe]))) probe++;
    if (probe >= end) return src; // an escape we cannot align: the nearest position so far
    if (v === offset) return probe;
    src = probe + 1;
    // A folded line break stands for the break and the next line's indentation.
    if (isSpace(ch)) while (src < end && isSpace(source[src]) && !isSpace(value[v + 1])) src++;
  }
  return Math.min(src, end);
}
