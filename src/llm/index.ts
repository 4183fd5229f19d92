/**
 * The LLM request phase: the path picks the API schema, the schema's parser reads the body
 * (src/apis/endpoints.ts), the model is reconciled between body, path and query (one model, one
 * answer), and the serving provider is selected.
 */
import type { RequestContext } from '../envoy/request-context.ts';
import type { Providers } from '../providers/runtime.ts';
import { fail, ok, type Outcome } from '../core/reasons.ts';
import { bySelectHeaders, matchEndpoint, type Endpoint } from '../apis/endpoints.ts';
import { wireOf } from '../apis/index.ts';
import { checkModel } from '../apis/bodies/fields.ts';
import { JsonView } from '../apis/bodies/json-view.ts';
import { NO_BODY_FIELDS, type BodyFields } from '../apis/bodies/types.ts';
import { createProviderSelector, type SelectProvider } from './provider-select.ts';
import type { LlmRequest, WireApi } from './types.ts';

export type Understand = (ctx: RequestContext) => Outcome<LlmRequest>;

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

const NONE: readonly string[] = Object.freeze([]);

export function isJsonContentType(ct: string | undefined): boolean {
  if (ct === undefined) return false;
  const media = ct.split(';', 1)[0]?.trim().toLowerCase() ?? '';
  return media === 'application/json' || (media.startsWith('application/') && media.endsWith('+json'));
}

/** The request has a body, or declares one (Content-Length above 0, Transfer-Encoding). */
function hasBody(ctx: RequestContext): boolean {
  return ctx.body.bytes.length > 0 || ctx.body.truncated || (ctx.body.declaredLength ?? 0) > 0 || ctx.headers.has('transfer-encoding');
}

/** A body the endpoint does not read: none, or only part of one that the endpoint decides without. */
const NO_BODY: Outcome<BodyFields> = Object.freeze({ ok: true, value: NO_BODY_FIELDS });

/** Reads the body's fields with the endpoint's parser; NO_BODY also when only part of it came and the endpoint decides without it. */
function readBody(ctx: RequestContext, ep: Endpoint, pathModel: string | undefined): Outcome<BodyFields> {
  if (ep.parse === undefined) {
    // A body on an endpoint that takes none would be forwarded unread (with a method override a
    // provider might act on it): refused.
    return hasBody(ctx) ? fail('unexpected_body') : NO_BODY;
  }
  if (!isJsonContentType(ctx.headers.get('content-type'))) return fail('unsupported_media_type');
  const encoding = ctx.headers.get('content-encoding');
  if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') {
    return fail('unsupported_media_type', 'a compressed request body cannot be read');
  }
  if (ctx.body.truncated) {
    if (ep.partialBody) return NO_BODY;
    return fail('body_too_large', 'only part of the body was received, and it decides this request');
  }
  if (ctx.body.bytes.length === 0) return fail('empty_body');
  let text: string;
  try {
    text = decoder.decode(ctx.body.bytes);
  } catch {
    return fail('malformed_body', 'the body is not valid UTF-8');
  }
  const view = JsonView.body(text);
  if (!view.ok) return view;
  return ep.parse(view.value, { model: pathModel });
}

/** The same model in the body (or query) as in the path, with the API's resource prefix (Gemini `models/`) allowed. */
function sameModel(body: string, path: string, api: WireApi): boolean {
  const prefix = wireOf(api).bodyModelPrefix;
  return body === path || (prefix !== undefined && body === `${prefix}${path}`);
}

function queryModels(query: string): readonly string[] {
  if (query === '' || !query.includes('model')) return NONE;
  return new URLSearchParams(query).getAll('model');
}

function understandWith(ctx: RequestContext, select: SelectProvider): Outcome<LlmRequest> {
  const m = matchEndpoint(ctx.method, ctx.path, bySelectHeaders(ctx.headers));
  if (m.kind === 'method') return fail('method_not_allowed');
  if (m.kind === 'bad_path_model') return fail('invalid_field', 'the model (or another name) in the path is not a valid name');
  const inputBytes = ctx.body.truncated ? Math.max(ctx.body.declaredLength ?? 0, ctx.body.bytes.length) : ctx.body.bytes.length;
  if (m.kind === 'unknown') {
    const qm = queryModels(ctx.query);
    const model = qm.length === 1 ? qm[0] : undefined;
    return ok({
      ...NO_BODY_FIELDS,
      api: m.api,
      schema: 'unknown',
      operation: 'unknown',
      provider: select(m.api, model),
      stream: false,
      inputBytes,
      bodyComplete: false,
      storedContext: NONE,
      pathParams: {},
    });
  }
  const ep = m.endpoint;
  if (ep.apiVersion === true) {
    const versions = new URLSearchParams(ctx.query).getAll('api-version');
    if (versions.length !== 1 || versions[0] === '') return fail('invalid_field', "the 'api-version' query parameter is required once");
  }
  const body = readBody(ctx, ep, m.pathModel);
  if (!body.ok) return body;
  const f = body.value;

  // One model, one answer: the path (Azure deployment, Gemini) or the body; all must agree.
  if (m.pathModel !== undefined) {
    const pm = checkModel(m.pathModel, 'path model');
    if (!pm.ok) return pm;
    if (f.model !== undefined && !sameModel(f.model, m.pathModel, ep.api)) {
      return fail('ambiguous_model', 'the model in the body differs from the model in the path');
    }
  }
  const model = m.pathModel ?? f.model;
  for (const q of queryModels(ctx.query)) {
    if (model === undefined || !sameModel(q, model, ep.api)) return fail('ambiguous_model', "the 'model' query parameter differs from the model the provider reads");
  }
  if (model === undefined && ep.needsModel) return fail('missing_model');

  return ok({
    api: ep.api,
    schema: ep.schema,
    operation: f.operation ?? ep.operation,
    provider: select(ep.api, model),
    model,
    stream: ep.stream ?? f.stream ?? false,
    maxTokens: f.maxTokens,
    temperature: f.temperature,
    tools: f.tools,
    toolChoice: f.toolChoice,
    endUser: f.endUser,
    messageCount: f.messageCount,
    inputBytes,
    // A part of a body is read only where the endpoint decides without it (readBody refuses it elsewhere).
    bodyComplete: !ctx.body.truncated,
    storedContext: f.storedContext ?? NONE,
    pathParams: m.pathParams,
  });
}

/** The LLM request phase for a set of providers (candidate lists built here, once). */
export function createUnderstander(providers: Pick<Providers, 'list'>): Understand {
  const select = createProviderSelector(providers);
  return (ctx) => understandWith(ctx, select);
}

/** The phase without configured providers (`provider` is always undefined). */
export const understand: Understand = createUnderstander({ list: [] });

export type { LlmRequest, Operation, WireApi } from './types.ts';
