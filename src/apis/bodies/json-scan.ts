/**
 * A JSON scanner that finds where values are without building them. It checks the structure
 * of the whole text (brackets, commas, colons, number and literal tokens, no trailing data),
 * skips string contents with `indexOf` (prompt text costs almost nothing), and reports the
 * members of an object with their spans, so a repeated key is seen (JSON.parse keeps only the
 * last one). Only the small values that a parser reads are decoded, with JSON.parse.
 *
 * String contents in parts that are skipped (prompt text) are not checked for escapes or raw
 * control characters: they decide nothing here, and the provider checks them.
 */

export interface Span {
  readonly start: number;
  readonly end: number;
  /** For arrays and objects found by objectMembers: the number of direct elements (members). */
  readonly count?: number;
}

export interface Member {
  readonly key: string;
  readonly value: Span;
}

export type ScanResult<T> = { ok: true; value: T } | { ok: false; error: string };

/** Nesting deeper than this is refused (no request field needs it; it bounds the work). */
export const MAX_DEPTH = 128;

const NUMBER_OR_LITERAL = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|true|false|null/y;

const SPACE = 0x20;
const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;

function err<T>(error: string): ScanResult<T> {
  return { ok: false, error };
}

export function skipSpace(s: string, i: number): number {
  for (;;) {
    const c = s.charCodeAt(i);
    if (c > SPACE || (c !== SPACE && c !== LF && c !== CR && c !== TAB)) return i;
    i++;
  }
}

/** The open containers of the value being skipped; one buffer, reused (scans are synchronous). */
const STACK = new Uint8Array(MAX_DEPTH);

/** End (exclusive) of the string starting at i (s[i] is a quote), or -1. */
export function skipString(s: string, i: number): number {
  let j = i;
  for (;;) {
    j = s.indexOf('"', j + 1);
    if (j === -1) return -1;
    let k = j - 1;
    while (s.charCodeAt(k) === BACKSLASH) k--;
    if ((j - 1 - k) % 2 === 0) return j + 1;
  }
}

/** End (exclusive) of the JSON value starting at i (after any space), checking its structure. */
export function skipValue(s: string, i: number): ScanResult<number> {
  const end = skip(s, i);
  return end < 0 ? err(skipped.error) : { ok: true, value: end };
}

/** skipValue, also counting the direct elements of the value when it is an array or object. */
export function skipValueCounting(s: string, i: number): ScanResult<{ end: number; count: number }> {
  const end = skip(s, i);
  return end < 0 ? err(skipped.error) : { ok: true, value: { end, count: skipped.count } };
}

/**
 * What the last skip() found besides its end: the direct elements of an array or object, or why
 * it failed. One record, reused (scans are synchronous): a member's scan makes no result objects.
 */
const skipped = { count: 0, error: '' };

function failed(error: string): number {
  skipped.error = error;
  return -1;
}

/** End (exclusive) of the value starting at i (after any space), its element count in `skipped`; -1 with `skipped.error` when malformed. */
function skip(s: string, i: number): number {
  let depth = 0;
  let count = 0;
  i = skipSpace(s, i);
  for (;;) {
    // A value is expected at i.
    const c = s.charCodeAt(i);
    if (c === LBRACE || c === LBRACKET) {
      if (depth >= MAX_DEPTH) return failed(`nesting deeper than ${MAX_DEPTH}`);
      i = skipSpace(s, i + 1);
      const close = c === LBRACE ? RBRACE : RBRACKET;
      if (s.charCodeAt(i) === close) {
        i++;
      } else {
        STACK[depth++] = c;
        if (c === LBRACE) {
          const k = member(s, i);
          if (k < 0) return failed('expected a string key and a colon');
          i = k;
        }
        continue;
      }
    } else if (c === QUOTE) {
      i = skipString(s, i);
      if (i < 0) return failed('unterminated string');
    } else {
      NUMBER_OR_LITERAL.lastIndex = i;
      if (!NUMBER_OR_LITERAL.test(s)) return failed(Number.isNaN(c) ? 'unexpected end of data' : `unexpected character at offset ${i}`);
      i = NUMBER_OR_LITERAL.lastIndex;
    }
    // After a value: close containers or move to the next element.
    if (depth === 1) count++;
    for (;;) {
      if (depth === 0) {
        skipped.count = count;
        return i;
      }
      const top = STACK[depth - 1];
      i = skipSpace(s, i);
      const d = s.charCodeAt(i);
      if (d === COMMA) {
        i = skipSpace(s, i + 1);
        if (top === LBRACE) {
          const k = member(s, i);
          if (k < 0) return failed('expected a string key and a colon');
          i = k;
        }
        break;
      }
      if ((top === LBRACE && d === RBRACE) || (top === LBRACKET && d === RBRACKET)) {
        depth--;
        i++;
        if (depth === 1) count++;
        continue;
      }
      return failed(Number.isNaN(d) ? 'unexpected end of data' : `unexpected character at offset ${i}`);
    }
  }
}

/** Skips `"key" :` at i; returns the index of the value (after space), or -1. */
function member(s: string, i: number): number {
  if (s.charCodeAt(i) !== QUOTE) return -1;
  const k = skipString(s, i);
  if (k < 0) return -1;
  const j = skipSpace(s, k);
  if (s.charCodeAt(j) !== COLON) return -1;
  return skipSpace(s, j + 1);
}

function decodeKey(s: string, start: number, end: number): string | undefined {
  const raw = s.slice(start + 1, end - 1);
  if (!raw.includes('\\')) return raw;
  try {
    return JSON.parse(s.slice(start, end)) as string;
  } catch {
    return undefined;
  }
}

/**
 * The members of the object at span (or, with the whole text, the top-level object), in order.
 * Keys are decoded (`"mod\u0065l"` is `model`); a key given twice is reported as `duplicate`.
 */
export function objectMembers(s: string, span: Span): ScanResult<{ members: Map<string, Span>; duplicate: string | undefined; end: number }> {
  let i = skipSpace(s, span.start);
  if (s.charCodeAt(i) !== LBRACE) return err('expected an object');
  const members = new Map<string, Span>();
  let duplicate: string | undefined;
  i = skipSpace(s, i + 1);
  if (s.charCodeAt(i) === RBRACE) return { ok: true, value: { members, duplicate, end: i + 1 } };
  for (;;) {
    if (s.charCodeAt(i) !== QUOTE) return err('expected a string key');
    const keyEnd = skipString(s, i);
    if (keyEnd < 0) return err('unterminated string');
    const key = decodeKey(s, i, keyEnd);
    if (key === undefined) return err('invalid string escape in a key');
    i = skipSpace(s, keyEnd);
    if (s.charCodeAt(i) !== COLON) return err('expected a colon');
    const start = skipSpace(s, i + 1);
    const end = skip(s, start);
    if (end < 0) return err(skipped.error);
    if (members.has(key)) duplicate ??= key;
    else members.set(key, { start, end, count: skipped.count });
    i = skipSpace(s, end);
    const d = s.charCodeAt(i);
    if (d === RBRACE) return { ok: true, value: { members, duplicate, end: i + 1 } };
    if (d !== COMMA) return err(Number.isNaN(d) ? 'unexpected end of data' : `unexpected character at offset ${i}`);
    i = skipSpace(s, i + 1);
  }
}

/** The spans of the elements of the array at span. */
export function arrayElements(s: string, span: Span): ScanResult<Span[]> {
  let i = skipSpace(s, span.start);
  if (s.charCodeAt(i) !== LBRACKET) return err('expected an array');
  const out: Span[] = [];
  i = skipSpace(s, i + 1);
  if (s.charCodeAt(i) === RBRACKET) return { ok: true, value: out };
  for (;;) {
    const end = skip(s, i);
    if (end < 0) return err(skipped.error);
    out.push({ start: i, end });
    i = skipSpace(s, end);
    const d = s.charCodeAt(i);
    if (d === RBRACKET) return { ok: true, value: out };
    if (d !== COMMA) return err(Number.isNaN(d) ? 'unexpected end of data' : `unexpected character at offset ${i}`);
    i = skipSpace(s, i + 1);
  }
}

/** Checks that the whole text is one JSON value with nothing after it; returns its span. */
export function wholeValue(s: string): ScanResult<Span> {
  const start = skipSpace(s, 0);
  const end = skipValue(s, start);
  if (!end.ok) return end;
  if (skipSpace(s, end.value) !== s.length) return err(`unexpected data after the JSON value at offset ${end.value}`);
  return { ok: true, value: { start, end: end.value } };
}

/** The first character of the value at span: `{`, `[`, `"`, a digit or `-`, `t`, `f` or `n`. */
export function kindOf(s: string, span: Span): 'object' | 'array' | 'string' | 'number' | 'boolean' | 'null' {
  const c = s.charCodeAt(span.start);
  if (c === LBRACE) return 'object';
  if (c === LBRACKET) return 'array';
  if (c === QUOTE) return 'string';
  if (c === 0x74 || c === 0x66) return 'boolean';
  if (c === 0x6e) return 'null';
  return 'number';
}

/** Decodes a (small) value. The span was checked by the scanner; strings are checked here. */
export function decode(s: string, span: Span): ScanResult<unknown> {
  try {
    return { ok: true, value: JSON.parse(s.slice(span.start, span.end)) as unknown };
  } catch {
    return err('invalid string');
  }
}
