/**
 * The table of known model API endpoints: path (and method) -> API schema, operation, body
 * parser, and where the model is read. Matching is exact: a path that differs in any way
 * (trailing slash, percent-encoding, case) is not a known endpoint, so it is denied
 * (`unknown_api`) unless a policy allows it by path.
 */
import type { Outcome } from '../core/reasons.ts';
import { parseAnthropicCountTokens, parseAnthropicMessages } from './anthropic-messages.ts';
import { parseGeminiCount, parseGeminiGenerate } from './gemini.ts';
import type { JsonView } from './json-view.ts';
import { parseOpenAiChat } from './openai-chat.ts';
import { parseOpenAiCompletions } from './openai-completions.ts';
import { parseOpenAiEmbeddings } from './openai-embeddings.ts';
import { parseOpenAiResponses } from './openai-responses.ts';
import type { BodyFields, Operation, WireApi } from './types.ts';

export type BodyParser = (body: JsonView) => Outcome<BodyFields>;

export interface Endpoint {
  readonly method: 'GET' | 'POST';
  readonly api: WireApi;
  readonly schema: string;
  readonly operation: Operation;
  /** The body parser; undefined = the endpoint has no body. */
  readonly parse: BodyParser | undefined;
  /** Streaming decided by the path (Gemini streamGenerateContent). */
  readonly stream?: boolean;
  /** The model is required (everything but model listings). */
  readonly needsModel: boolean;
  /**
   * A truncated body is acceptable: every field the decision needs comes from the path (the
   * model), and nothing in the body changes what the provider does with it (Gemini
   * countTokens and embedContent). Every other endpoint answers a truncated body with 413.
   */
  readonly partialBody: boolean;
  /** Azure deployments: the `api-version` query parameter is required. */
  readonly apiVersion?: boolean;
}

function post(api: WireApi, schema: string, operation: Operation, parse: BodyParser, extra: Partial<Endpoint> = {}): Endpoint {
  return { method: 'POST', api, schema, operation, parse, needsModel: true, partialBody: false, ...extra };
}

function list(api: WireApi, schema: string): Endpoint {
  return { method: 'GET', api, schema, operation: 'models', parse: undefined, needsModel: false, partialBody: false };
}

const OPENAI_CHAT = post('openai', 'openai.chat_completions', 'chat', parseOpenAiChat);
const OPENAI_RESPONSES = post('openai', 'openai.responses', 'chat', parseOpenAiResponses);
const OPENAI_COMPLETIONS = post('openai', 'openai.completions', 'text_completion', parseOpenAiCompletions);
const OPENAI_EMBEDDINGS = post('openai', 'openai.embeddings', 'embeddings', parseOpenAiEmbeddings);
const OPENAI_MODELS = list('openai', 'openai.models');
const ANTHROPIC_MODELS = list('anthropic', 'anthropic.models');

const EXACT: ReadonlyMap<string, Endpoint> = new Map([
  ['/v1/chat/completions', OPENAI_CHAT],
  ['/v1/responses', OPENAI_RESPONSES],
  ['/v1/completions', OPENAI_COMPLETIONS],
  ['/v1/embeddings', OPENAI_EMBEDDINGS],
  ['/v1/models', OPENAI_MODELS],
  ['/v1/messages', post('anthropic', 'anthropic.messages', 'chat', parseAnthropicMessages)],
  ['/v1/messages/count_tokens', post('anthropic', 'anthropic.count_tokens', 'count_tokens', parseAnthropicCountTokens)],
  ['/v1beta/models', list('gemini', 'gemini.models')],
  // Azure OpenAI's v1 API: the model is in the body, as with OpenAI.
  ['/openai/v1/chat/completions', { ...OPENAI_CHAT, api: 'azure-openai', schema: 'azure_openai.chat_completions' }],
  ['/openai/v1/responses', { ...OPENAI_RESPONSES, api: 'azure-openai', schema: 'azure_openai.responses' }],
  ['/openai/v1/embeddings', { ...OPENAI_EMBEDDINGS, api: 'azure-openai', schema: 'azure_openai.embeddings' }],
]);

const AZURE_DEPLOYMENT = /^\/openai\/deployments\/([^/]+)\/(chat\/completions|completions|embeddings)$/;
const AZURE_OPS: Readonly<Record<string, Endpoint>> = {
  'chat/completions': { ...OPENAI_CHAT, api: 'azure-openai', schema: 'azure_openai.chat_completions', apiVersion: true },
  completions: { ...OPENAI_COMPLETIONS, api: 'azure-openai', schema: 'azure_openai.completions', apiVersion: true },
  embeddings: { ...OPENAI_EMBEDDINGS, api: 'azure-openai', schema: 'azure_openai.embeddings', apiVersion: true },
};

const GEMINI_MODEL = /^\/(?:v1|v1beta)\/models\/([^/:]+):([A-Za-z]+)$/;
const GEMINI_OPS: Readonly<Record<string, Endpoint>> = {
  generateContent: post('gemini', 'gemini.generate_content', 'generate_content', parseGeminiGenerate, { stream: false }),
  streamGenerateContent: post('gemini', 'gemini.stream_generate_content', 'generate_content', parseGeminiGenerate, { stream: true }),
  countTokens: post('gemini', 'gemini.count_tokens', 'count_tokens', parseGeminiCount, { partialBody: true }),
  embedContent: post('gemini', 'gemini.embed_content', 'embeddings', parseGeminiCount, { partialBody: true }),
};

const MODEL_RETRIEVE = /^\/v1\/models\/([^/:]+)$/;

export type Match =
  | { readonly kind: 'endpoint'; readonly endpoint: Endpoint; readonly pathModel: string | undefined }
  | { readonly kind: 'bad_path_model'; readonly api: WireApi }
  | { readonly kind: 'method'; readonly api: WireApi }
  | { readonly kind: 'unknown'; readonly api: WireApi };

/** Percent-decodes a model taken from the path; undefined when it is not valid. */
function pathSegment(raw: string): string | undefined {
  try {
    const v = decodeURIComponent(raw);
    // A segment that a server or proxy could resolve to another path is not a model name.
    return v.includes('/') || v.includes('\\') || v === '.' || v === '..' ? undefined : v;
  } catch {
    return undefined;
  }
}

/** The API a path belongs to when it is not a known endpoint (for the error format and the provider). */
export function guessApi(path: string, anthropicHeader: boolean): WireApi {
  if (path.startsWith('/openai/')) return 'azure-openai';
  if (path.startsWith('/v1beta/') || /^\/v1\/models\/[^/]*:/.test(path)) return 'gemini';
  return anthropicHeader ? 'anthropic' : 'openai';
}

/**
 * Finds the endpoint. `anthropic` is true when the request carries `anthropic-version`
 * (GET /v1/models is both OpenAI's and Anthropic's).
 */
export function matchEndpoint(method: string, path: string, anthropic: boolean): Match {
  let endpoint: Endpoint | undefined = EXACT.get(path);
  let rawModel: string | undefined;
  if (endpoint === OPENAI_MODELS && anthropic) endpoint = ANTHROPIC_MODELS;
  if (endpoint === undefined) {
    const az = AZURE_DEPLOYMENT.exec(path);
    const gm = az === null ? GEMINI_MODEL.exec(path) : null;
    const mr = az === null && gm === null ? MODEL_RETRIEVE.exec(path) : null;
    if (az !== null) {
      endpoint = AZURE_OPS[az[2] ?? ''];
      rawModel = az[1];
    } else if (gm !== null) {
      endpoint = Object.hasOwn(GEMINI_OPS, gm[2] ?? '') ? GEMINI_OPS[gm[2] ?? ''] : undefined;
      rawModel = gm[1];
    } else if (mr !== null) {
      endpoint = anthropic ? ANTHROPIC_MODELS : OPENAI_MODELS;
      rawModel = mr[1];
    }
  }
  if (endpoint === undefined) return { kind: 'unknown', api: guessApi(path, anthropic) };
  if (method !== endpoint.method) return { kind: 'method', api: endpoint.api };
  if (rawModel === undefined) return { kind: 'endpoint', endpoint, pathModel: undefined };
  const model = pathSegment(rawModel);
  if (model === undefined) return { kind: 'bad_path_model', api: endpoint.api };
  return { kind: 'endpoint', endpoint, pathModel: model };
}
