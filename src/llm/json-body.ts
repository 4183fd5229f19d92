import type { RequestContext } from '../envoy/request-context.ts';
import { fail, ok, type Outcome } from '../pipeline/reasons.ts';

export type JsonObject = Record<string, unknown>;

const decoder = new TextDecoder('utf-8', { fatal: true });

function isJsonContentType(ct: string | undefined): boolean {
  if (ct === undefined) return false;
  const media = ct.split(';', 1)[0]?.trim().toLowerCase() ?? '';
  return media === 'application/json' || (media.startsWith('application/') && media.endsWith('+json'));
}

/** The request body as a JSON object; a partial, empty, non-JSON or non-object body is its own outcome. */
export function readJsonObject(ctx: RequestContext): Outcome<JsonObject> {
  if (ctx.body.truncated) return fail('body_too_large');
  if (ctx.body.bytes.length === 0) return fail('empty_body');
  if (!isJsonContentType(ctx.headers.get('content-type'))) return fail('unsupported_media_type');
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(ctx.body.bytes));
  } catch {
    return fail('malformed_body');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return fail('invalid_field', 'the body must be a JSON object');
  }
  return ok(value as JsonObject);
}

export function readModel(body: JsonObject): Outcome<string> {
  const model = body['model'];
  if (model === undefined) return fail('missing_model');
  if (typeof model !== 'string' || model === '' || model.length > 256) {
    return fail('invalid_field', "'model' must be a non-empty string");
  }
  return ok(model);
}

export function readOptionalBool(body: JsonObject, field: string): Outcome<boolean | undefined> {
  const v = body[field];
  if (v === undefined || v === null) return ok(undefined);
  if (typeof v !== 'boolean') return fail('invalid_field', `'${field}' must be a boolean`);
  return ok(v);
}

export function readOptionalPositiveInt(body: JsonObject, field: string): Outcome<number | undefined> {
  const v = body[field];
  if (v === undefined || v === null) return ok(undefined);
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) {
    return fail('invalid_field', `'${field}' must be a positive integer`);
  }
  return ok(v);
}

export function readArrayLength(body: JsonObject, field: string, required: boolean): Outcome<number> {
  const v = body[field];
  if (v === undefined && !required) return ok(0);
  if (!Array.isArray(v)) return fail('invalid_field', `'${field}' must be an array`);
  return ok(v.length);
}
