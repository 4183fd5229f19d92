/** Field readers shared by the API schema parsers. */
import { fail, ok, type Outcome } from '../../core/reasons.ts';
import { kindOf } from './json-scan.ts';
import { stringAt, type JsonView } from './json-view.ts';

/** Longest model name accepted. */
export const MAX_MODEL_LENGTH = 256;

/** A model name: non-empty, bounded, printable. */
export function checkModel(model: string, where: string): Outcome<string> {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this refuses in a model name.
  if (model === '' || model.length > MAX_MODEL_LENGTH || /[\x00-\x1f\x7f]/.test(model)) {
    return fail('invalid_field', `'${where}' must be a non-empty model name of at most ${MAX_MODEL_LENGTH} characters`);
  }
  return ok(model);
}

export function bodyModel(body: JsonView): Outcome<string | undefined> {
  const m = body.string('model');
  if (!m.ok || m.value === undefined) return m;
  return checkModel(m.value, 'model');
}

/** Length of an array member, or 1 for a single string (prompt/input given as one string). */
export function countOf(body: JsonView, key: string, required: boolean): Outcome<number> {
  const span = body.span(key);
  if (span === undefined) return required ? fail('invalid_field', `'${key}' is required`) : ok(0);
  if (kindOf(body.text, span) === 'string') return ok(1);
  const n = body.length(key);
  if (!n.ok) return fail('invalid_field', `'${key}' must be a string or an array`);
  return ok(n.value ?? 0);
}

export function arrayLength(body: JsonView, key: string, required: boolean): Outcome<number> {
  const n = body.length(key);
  if (!n.ok) return n;
  if (n.value === undefined) return required ? fail('invalid_field', `'${body.name(key)}' is required`) : ok(0);
  return ok(n.value);
}

/** A string member that must be non-empty. */
export function name(view: JsonView, key: string): Outcome<string> {
  const span = view.span(key);
  if (span === undefined) return fail('invalid_field', `'${view.name(key)}' must be a non-empty string`);
  const v = stringAt(view.text, span, view.name(key));
  if (!v.ok) return v;
  if (v.value === '') return fail('invalid_field', `'${view.name(key)}' must be a non-empty string`);
  return v;
}

/** Reads a tool_choice given as one of the allowed strings, mapped to the normalised form. */
export function choiceString(view: JsonView, key: string, map: Readonly<Record<string, string>>): Outcome<string> {
  const v = view.string(key);
  if (!v.ok) return v;
  const mapped = v.value === undefined ? undefined : map[v.value];
  if (mapped === undefined) return fail('invalid_field', `'${view.name(key)}' must be one of ${Object.keys(map).join(', ')}`);
  return ok(mapped);
}

/** Numbers that are limits must be integers; temperature is any finite number. */
export function temperature(view: JsonView, key = 'temperature'): Outcome<number | undefined> {
  return view.number(key);
}

/** The larger of two optional limits (the provider uses one of them; a cap must hold for both). */
export function maxOf(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.max(a, b);
}
