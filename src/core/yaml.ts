/**
 * The one YAML reader of the project's files (config, policies, policy test suites): parses with
 * positions, and turns a document path or an offset into `file:line:col`.
 */
import { isNode, LineCounter, parseDocument, type Document } from 'yaml';
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
