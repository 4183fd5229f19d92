/**
 * Maps an offset inside a YAML scalar's value (e.g. a CEL expression) back to the offset in the
 * file, for plain, single-quoted, double-quoted, literal (|) and folded (>) scalars. The value's
 * characters are aligned with the source text in order; folded line breaks and indentation are
 * skipped as whitespace. Escapes in double-quoted scalars fall back to the nearest match.
 */
import { Scalar } from 'yaml';

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
