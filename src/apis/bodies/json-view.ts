/**
 * Typed, lazy reads of one JSON object's members. Each read decodes only the member it reads
 * and names the field (its dotted path) when the type is wrong. A member given twice is
 * refused when the object is opened, so every field has exactly one value.
 */
import { fail, ok, type Outcome } from '../../core/reasons.ts';
import { arrayElements, decode, kindOf, objectMembers, skipSpace, wholeValue, type Span } from './json-scan.ts';

/** Longest string value read from a request field (model names, tool names, user ids). */
export const MAX_FIELD_STRING = 512;

export class JsonView {
  readonly text: string;
  /** Dotted path of this object in the body, '' for the body itself. */
  readonly path: string;
  readonly members: ReadonlyMap<string, Span>;

  private constructor(text: string, path: string, members: ReadonlyMap<string, Span>) {
    this.text = text;
    this.path = path;
    this.members = members;
  }

  /**
   * Opens a whole request body: one JSON object and nothing after it. The structure of the
   * whole text is checked in the same pass that finds the top-level members.
   */
  static body(text: string): Outcome<JsonView> {
    const start = skipSpace(text, 0);
    const c = text.charCodeAt(start);
    if (c !== 0x7b) {
      const whole = wholeValue(text);
      return whole.ok ? fail('invalid_field', 'the body must be a JSON object') : fail('malformed_body', whole.error);
    }
    const scanned = objectMembers(text, { start, end: text.length });
    if (!scanned.ok) return fail('malformed_body', scanned.error);
    if (skipSpace(text, scanned.value.end) !== text.length) return fail('malformed_body', `unexpected data after the JSON value at offset ${scanned.value.end}`);
    return JsonView.checked(text, '', scanned.value);
  }

  /**
   * Opens the object at span, a member of the body (`path`: its name, never empty); a repeated key
   * is `ambiguous_model` for `model`, else `ambiguous_field`. A key the body's scan skipped but
   * cannot be decoded (an invalid escape) is refused here.
   */
  static open(text: string, span: Span, path: string): Outcome<JsonView> {
    const scanned = objectMembers(text, span);
    if (!scanned.ok) return fail('invalid_field', `'${path}' must be an object`);
    return JsonView.checked(text, path, scanned.value);
  }

  private static checked(text: string, path: string, scanned: { members: Map<string, Span>; duplicate: string | undefined }): Outcome<JsonView> {
    const dup = scanned.duplicate;
    if (dup !== undefined) {
      const name = fieldName(path, dup);
      return fail(path === '' && dup === 'model' ? 'ambiguous_model' : 'ambiguous_field', `'${name}' appears more than once`);
    }
    return ok(new JsonView(text, path, scanned.members));
  }

  name(key: string): string {
    return fieldName(this.path, key);
  }

  has(key: string): boolean {
    const span = this.members.get(key);
    return span !== undefined && kindOf(this.text, span) !== 'null';
  }

  /** The span of a present, non-null member. */
  span(key: string): Span | undefined {
    const span = this.members.get(key);
    return span === undefined || kindOf(this.text, span) === 'null' ? undefined : span;
  }

  string(key: string): Outcome<string | undefined> {
    const span = this.span(key);
    if (span === undefined) return ok(undefined);
    return stringAt(this.text, span, this.name(key));
  }

  bool(key: string): Outcome<boolean | undefined> {
    const span = this.span(key);
    if (span === undefined) return ok(undefined);
    if (kindOf(this.text, span) !== 'boolean') return fail('invalid_field', `'${this.name(key)}' must be a boolean`);
    return ok(this.text.charCodeAt(span.start) === 0x74);
  }

  /** A positive integer (token limits). `100.0` is not an integer here; JSON has one 100. */
  positiveInt(key: string): Outcome<number | undefined> {
    const span = this.span(key);
    if (span === undefined) return ok(undefined);
    const v = this.number(key);
    if (!v.ok) return v;
    if (v.value === undefined || !Number.isSafeInteger(v.value) || v.value < 1 || /[.eE]/.test(this.text.slice(span.start, span.end))) {
      return fail('invalid_field', `'${this.name(key)}' must be a positive integer`);
    }
    return v;
  }

  number(key: string): Outcome<number | undefined> {
    const span = this.span(key);
    if (span === undefined) return ok(undefined);
    if (kindOf(this.text, span) !== 'number') return fail('invalid_field', `'${this.name(key)}' must be a number`);
    const v = Number(this.text.slice(span.start, span.end));
    if (!Number.isFinite(v)) return fail('invalid_field', `'${this.name(key)}' must be a finite number`);
    return ok(v);
  }

  object(key: string): Outcome<JsonView | undefined> {
    const span = this.span(key);
    if (span === undefined) return ok(undefined);
    if (kindOf(this.text, span) !== 'object') return fail('invalid_field', `'${this.name(key)}' must be an object`);
    return JsonView.open(this.text, span, this.name(key));
  }

  /** The number of elements of an array member, counted during the scan (no second pass). */
  length(key: string): Outcome<number | undefined> {
    const span = this.span(key);
    if (span === undefined) return ok(undefined);
    if (kindOf(this.text, span) !== 'array') return fail('invalid_field', `'${this.name(key)}' must be an array`);
    if (span.count !== undefined) return ok(span.count);
    const els = this.array(key);
    return els.ok ? ok(els.value?.length) : els;
  }

  /** The elements of an array member (spans only; nothing decoded). */
  array(key: string): Outcome<Span[] | undefined> {
    const span = this.span(key);
    if (span === undefined) return ok(undefined);
    if (kindOf(this.text, span) !== 'array') return fail('invalid_field', `'${this.name(key)}' must be an array`);
    const els = arrayElements(this.text, span);
    if (!els.ok) return fail('invalid_field', `'${this.name(key)}' must be an array`);
    return ok(els.value);
  }

  /** The objects of an array member, each opened (tools lists). */
  objects(key: string): Outcome<JsonView[] | undefined> {
    const els = this.array(key);
    if (!els.ok) return els;
    if (els.value === undefined) return ok(undefined);
    const out: JsonView[] = [];
    for (const [i, el] of els.value.entries()) {
      const name = `${this.name(key)}[${i}]`;
      if (kindOf(this.text, el) !== 'object') return fail('invalid_field', `'${name}' must be an object`);
      const v = JsonView.open(this.text, el, name);
      if (!v.ok) return v;
      out.push(v.value);
    }
    return ok(out);
  }

  /** Reads one of two spellings of a field (e.g. Gemini accepts camelCase and snake_case); both at once is ambiguous. */
  either(a: string, b: string): Outcome<string | undefined> {
    const hasA = this.members.has(a);
    const hasB = this.members.has(b);
    if (hasA && hasB) return fail('ambiguous_field', `'${this.name(a)}' and '${this.name(b)}' are the same field`);
    return ok(hasA ? a : hasB ? b : undefined);
  }
}

export function fieldName(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

export function stringAt(text: string, span: Span, name: string): Outcome<string> {
  if (kindOf(text, span) !== 'string') return fail('invalid_field', `'${name}' must be a string`);
  const v = decode(text, span);
  if (!v.ok || typeof v.value !== 'string') return fail('invalid_field', `'${name}' must be a valid string`);
  if (v.value.length > MAX_FIELD_STRING) return fail('invalid_field', `'${name}' is longer than ${MAX_FIELD_STRING} characters`);
  return ok(v.value);
}
