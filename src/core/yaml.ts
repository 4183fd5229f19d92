/**
 * The one YAML reader of the project's files (config, policies, policy test suites): parses with
 * positions, and turns a document path or an offset into `file:line:col`.
 */
import { isNode, LineCounter, parseDocument, Scalar, type Document } from 'yaml';
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
  return {
    doc,
    errors: doc.errors.map((e) => `${at(e.pos[0])}: ${e.message.split('\n')[0] ?? e.code}`),
    at,
    offsetOf: (path) => find(path) ?? 0,
    where: (path) => {
      const offset = find(path);
      return offset === undefined ? name : at(offset);
    },
  };
}

/** A schema issue in plain words (unknown keys named; the expected type without the library's wording). */
export function issueMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `'${k}'`).join(', ')}`;
  if (issue.code === 'invalid_type') return `expected ${issue.expected}`;
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
