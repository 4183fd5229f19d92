/**
 * The variables policies see, declared once: their types drive the load-time checker, and
 * `activation()` builds their values per request. JSON numbers become CEL int or double by the
 * declared type of the field, never by their look. New LlmRequest fields are one line in
 * LLM_FIELDS plus one line in llmActivation().
 */
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { celList, celMap, type CelInput } from '@bufbuild/cel';
import type { RequestContext } from '../envoy/request-context.ts';
import type { Entitlement, Identity } from '../identity/types.ts';
import type { JsonValue } from '../core/struct.ts';
import type { LlmRequest } from '../llm/types.ts';
import { T, type FieldDecl, type PolicyType } from './cel-types.ts';
import { CREDENTIAL_HEADERS as IDENTITY_CREDENTIAL_HEADERS } from '../identity/credentials.ts';
import { ON_BEHALF_OF_HEADER } from '../identity/schema.ts';

/** Bounds applied to request-controlled values before evaluation. */
export const LIMITS = {
  /** Longest string handed to CEL (longer ones are cut). */
  maxString: 8192,
  /** Most list entries handed to CEL. */
  maxList: 256,
  /** Most map entries (headers, context extensions) handed to CEL. */
  maxMapEntries: 256,
} as const;

const IDENTITY_FIELDS: Record<string, FieldDecl> = {
  workload: { type: T.string, doc: 'the workload the credential belongs to (e.g. a SPIFFE ID)' },
  agent: { type: T.string, doc: "the agent acting, '' when none" },
  user: { type: T.string, doc: "the human on whose behalf the call is made, '' when unknown" },
  method: { type: T.string, doc: 'how the caller was identified (`api_key`, ...)' },
  issuer: { type: T.string, doc: "who issued the credential, '' when not applicable" },
  credential_id: { type: T.string, doc: "the public id of the credential (an API key id), '' when none" },
  scopes: {
    type: T.object('identity.scopes', {
      models: { type: T.list(T.string), doc: 'model names or globs the credential is scoped to', optional: true },
      providers: { type: T.list(T.string), doc: 'provider names the credential is scoped to', optional: true },
      tools: { type: T.list(T.string), doc: 'tool names (or globs) the model may be offered', optional: true },
      max_tokens: { type: T.int, doc: 'the largest max_tokens the credential allows', optional: true },
    }),
    doc: 'the credential scopes; a scope is absent (has() is false) when the credential does not restrict it',
  },
  methods: { type: T.list(T.string), doc: 'every method that authenticated the request, in precedence order' },
  entitlement: {
    type: T.object('identity.entitlement', {
      recorded: { type: T.bool, doc: 'an entitlement record names this caller (its API key, or an `identity.entitlements` rule)' },
      source: { type: T.string, doc: "`api_key` or `rule`; '' without a record" },
      id: { type: T.string, doc: "the key id or the rule id; '' without a record" },
      owner: { type: T.string, doc: "the team or person accountable; '' when none is recorded" },
      approved_by: { type: T.string, doc: "who approved the entitlement; '' when none is recorded" },
      approved_at: { type: T.timestamp, doc: 'when it was approved; absent when not recorded', optional: true },
      review_by: { type: T.timestamp, doc: 'its recertification due date; absent when not recorded', optional: true },
      review_overdue: { type: T.bool, doc: 'the review date has passed (`now` is past `review_by`)' },
    }),
    doc: 'who owns and approved the entitlement, and whether its review is overdue (README "Access review")',
  },
  claims: { type: T.map(T.string, T.dyn), doc: 'claims of the credential reduced to the configured allowlist (empty for API keys)' },
};

const REQUEST_FIELDS: Record<string, FieldDecl> = {
  method: { type: T.string, doc: 'HTTP method, upper case' },
  path: { type: T.string, doc: 'path without the query string' },
  host: { type: T.string, doc: 'the :authority' },
  headers: { type: T.map(T.string, T.string), doc: 'request headers, lower-case names (credential headers are removed)' },
  source: {
    type: T.object('request.source', {
      address: { type: T.string, doc: 'the peer address' },
      port: { type: T.int, doc: 'the peer port' },
      principal: { type: T.string, doc: "the peer certificate's URI SAN (SPIFFE ID) under mTLS, else ''" },
    }),
    doc: 'the downstream peer',
  },
  sni: { type: T.string, doc: "the TLS SNI, '' without TLS" },
  context_extensions: { type: T.map(T.string, T.string), doc: "the Envoy route's ext_authz context_extensions" },
};

/** The `llm` fields. A new LlmRequest field is one line here and one line in llmActivation(). */
const LLM_FIELDS: Record<string, FieldDecl> = {
  provider: { type: T.string, doc: "the provider selected for the request's API and model ('' when none is configured); a rule's provider obligation overrides it" },
  api: { type: T.string, doc: 'the wire format: `openai`, `azure-openai`, `anthropic`, `gemini`, `bedrock` or `vertex-ai`' },
  schema: { type: T.string, doc: 'the API schema, e.g. `openai.chat_completions`; `unknown` for a path llm-authz does not know' },
  operation: { type: T.string, doc: 'the GenAI operation: `chat`, `text_completion`, `embeddings`, `generate_content`, `count_tokens`, `models` or `unknown`' },
  model: { type: T.string, doc: "the one model the provider will use ('' for model listings)" },
  temperature: { type: T.double, doc: 'the sampling temperature asked for; absent when the request sets none', optional: true },
  tool_choice: { type: T.string, doc: "`auto`, `none`, `required` or `tool:NAME`, normalised across APIs; '' when unset" },
  end_user: { type: T.string, doc: "the API's end-user field (OpenAI `user`, Anthropic `metadata.user_id`); '' when unset" },
  body_complete: { type: T.bool, doc: 'false when only part of the body reached llm-authz and the endpoint decides without it' },
  stream: { type: T.bool, doc: 'whether a streamed response is asked for' },
  max_tokens: { type: T.int, doc: 'the output token limit asked for; absent when the request sets none', optional: true },
  tools: { type: T.list(T.string), doc: 'names of the tools the model may call' },
  message_count: { type: T.int, doc: 'number of messages in the request' },
  input_bytes: { type: T.int, doc: 'size of the request body in bytes' },
  stored_context: {
    type: T.list(T.string),
    doc: 'body fields that bring in context stored at the provider (`prompt` of OpenAI Responses, `cachedContent` of Gemini; `prompt` also for a Bedrock prompt ARN as the model), which can offer tools `tools` does not list; empty when none',
  },
  path_params: {
    type: T.map(T.string, T.string),
    doc: 'named parameters of the path besides the model: `project` and `location` on Vertex AI; empty for the other APIs',
  },
};

/** What is left of one quota that applies to the request (README "Quotas"), each after this request. */
const QUOTA_FIELDS: Record<string, FieldDecl> = {
  requests: { type: T.int, doc: 'requests left in the window, this one counted; absent when the quota sets no request limit', optional: true },
  tokens: { type: T.int, doc: 'tokens left in the window (charged when responses end); absent when the quota sets no token limit', optional: true },
  concurrent: { type: T.int, doc: 'requests that may still start while this one is in flight; absent when the quota sets no concurrency limit', optional: true },
};

/** The remaining budget of one quota, by limit (src/quota/ builds it). */
export interface QuotaRemaining {
  readonly requests?: number | undefined;
  readonly tokens?: number | undefined;
  readonly concurrent?: number | undefined;
}

export const VARIABLES: Readonly<Record<string, FieldDecl>> = {
  identity: { type: T.object('identity', IDENTITY_FIELDS), doc: 'who is calling' },
  request: { type: T.object('request', REQUEST_FIELDS), doc: 'the HTTP request' },
  llm: { type: T.object('llm', LLM_FIELDS), doc: 'what is asked of the model' },
  quota: {
    type: T.map(T.string, T.object('quota', QUOTA_FIELDS)),
    doc: "the quotas (config `quotas.rules`) that apply to the request, by name, with what is left of each: `quota['chat-tokens'].tokens`; empty when none applies or the quota store failed and `on_store_error` is `allow`",
  },
  now: { type: T.timestamp, doc: 'the time of the decision' },
};

export function variableType(name: string): PolicyType | undefined {
  return Object.hasOwn(VARIABLES, name) ? VARIABLES[name]?.type : undefined;
}

function clip(s: string): string {
  return s.length > LIMITS.maxString ? s.slice(0, LIMITS.maxString) : s;
}
function clipList(l: readonly string[]): string[] {
  return l.slice(0, LIMITS.maxList).map(clip);
}
function clipMap(m: ReadonlyMap<string, string>, drop?: ReadonlySet<string>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of m) {
    if (out.size >= LIMITS.maxMapEntries) break;
    if (drop?.has(k)) continue;
    out.set(clip(k), clip(v));
  }
  return out;
}

/** Headers that carry the caller's credential: never handed to policies. */
const CREDENTIAL_HEADERS: ReadonlySet<string> = new Set([...IDENTITY_CREDENTIAL_HEADERS, ON_BEHALF_OF_HEADER, 'proxy-authorization', 'cookie']);

export type CelObject = Record<string, CelInput>;

/** Allowlisted claims -> a CEL map; JSON numbers become doubles (the map is dyn), depth and size bounded. */
function jsonToCel(v: JsonValue, depth: number): CelInput {
  if (v === null || depth > 8) return null;
  if (typeof v === 'string') return clip(v);
  if (typeof v === 'number' || typeof v === 'boolean') return v;
  if (Array.isArray(v)) return v.slice(0, LIMITS.maxList).map((x) => jsonToCel(x, depth + 1));
  const m = new Map<string, CelInput>();
  for (const [k, x] of Object.entries(v)) {
    if (m.size >= LIMITS.maxMapEntries) break;
    m.set(clip(k), jsonToCel(x, depth + 1));
  }
  return m;
}

function claimsToCel(claims: Readonly<Record<string, JsonValue>> | undefined): Map<string, CelInput> {
  const m = new Map<string, CelInput>();
  if (claims !== undefined) for (const [k, v] of Object.entries(claims)) if (m.size < LIMITS.maxMapEntries) m.set(clip(k), jsonToCel(v, 0));
  return m;
}

export function identityActivation(id: Identity): CelObject {
  const scopes: CelObject = {};
  if (id.scopes.models !== undefined) scopes['models'] = clipList(id.scopes.models);
  if (id.scopes.providers !== undefined) scopes['providers'] = clipList(id.scopes.providers);
  if (id.scopes.tools !== undefined) scopes['tools'] = clipList(id.scopes.tools);
  if (id.scopes.maxTokens !== undefined) scopes['max_tokens'] = BigInt(id.scopes.maxTokens);
  return {
    workload: clip(id.workload),
    agent: clip(id.agent ?? ''),
    user: clip(id.user ?? ''),
    method: id.method,
    issuer: clip(id.issuer ?? ''),
    credential_id: clip(id.credentialId ?? ''),
    scopes,
    methods: clipList(id.methods ?? [id.method]),
    claims: claimsToCel(id.claims),
    entitlement: entitlementActivation(id.entitlement),
  };
}

function entitlementActivation(e: Entitlement | undefined): CelObject {
  const o: CelObject = {
    recorded: e !== undefined,
    source: e?.source ?? '',
    id: clip(e?.id ?? ''),
    owner: clip(e?.owner ?? ''),
    approved_by: clip(e?.approvedBy ?? ''),
    review_overdue: e?.reviewOverdue ?? false,
  };
  if (e?.approvedAtMs !== undefined) o['approved_at'] = timestampFromMs(e.approvedAtMs);
  if (e?.reviewByMs !== undefined) o['review_by'] = timestampFromMs(e.reviewByMs);
  return o;
}

export function requestActivation(ctx: RequestContext): CelObject {
  return {
    method: clip(ctx.method),
    path: clip(ctx.path),
    host: clip(ctx.host),
    headers: clipMap(ctx.headers, CREDENTIAL_HEADERS),
    source: { address: clip(ctx.source.address), port: BigInt(ctx.source.port), principal: clip(ctx.source.principal) },
    sni: clip(ctx.sni),
    context_extensions: clipMap(ctx.contextExtensions),
  };
}

const NO_PATH_PARAMS: ReadonlyMap<string, string> = new Map();

function pathParams(p: Readonly<Record<string, string>>): ReadonlyMap<string, string> {
  const entries = Object.entries(p);
  return entries.length === 0 ? NO_PATH_PARAMS : clipMap(new Map(entries));
}

/** LlmRequest -> the `llm` variable: the one mapping; ints are bigint (CEL int). */
export function llmActivation(llm: LlmRequest): CelObject {
  const o: CelObject = {
    provider: llm.provider?.name ?? '',
    api: llm.api,
    schema: llm.schema,
    operation: llm.operation,
    model: clip(llm.model ?? ''),
    tool_choice: clip(llm.toolChoice ?? ''),
    end_user: clip(llm.endUser ?? ''),
    body_complete: llm.bodyComplete,
    stream: llm.stream,
    tools: clipList(llm.tools),
    message_count: BigInt(llm.messageCount),
    input_bytes: BigInt(llm.inputBytes),
    stored_context: clipList(llm.storedContext),
    path_params: pathParams(llm.pathParams),
  };
  if (llm.maxTokens !== undefined) o['max_tokens'] = BigInt(llm.maxTokens);
  if (llm.temperature !== undefined) o['temperature'] = llm.temperature;
  return o;
}

export interface Activation {
  readonly identity: CelInput;
  readonly request: CelInput;
  readonly llm: CelInput;
  readonly quota: CelInput;
  readonly now: CelInput;
}

const NO_QUOTA: ReadonlyMap<string, QuotaRemaining> = new Map();

function quotaActivation(q: ReadonlyMap<string, QuotaRemaining>): Map<string, CelInput> {
  const m = new Map<string, CelInput>();
  for (const [name, r] of q) {
    const o: CelObject = {};
    if (r.requests !== undefined) o['requests'] = BigInt(r.requests);
    if (r.tokens !== undefined) o['tokens'] = BigInt(r.tokens);
    if (r.concurrent !== undefined) o['concurrent'] = BigInt(r.concurrent);
    m.set(name, o);
  }
  return m;
}

/**
 * Plain objects and arrays as CEL maps and lists, converted once per Check: the evaluator
 * otherwise converts a plain object again on every access, in every rule.
 */
function toCelValue(v: CelInput): CelInput {
  if (Array.isArray(v)) return celList(v.map((x: CelInput) => toCelValue(x)));
  if (v instanceof Map) {
    const m = new Map<string, CelInput>();
    for (const [k, x] of v as Map<string, CelInput>) m.set(k, toCelValue(x));
    return celMap(m);
  }
  // Protobuf messages (timestamps) are plain objects too, marked by $typeName: CEL reads them as they are.
  if (typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype && !('$typeName' in v)) {
    const m = new Map<string, CelInput>();
    for (const [k, x] of Object.entries(v as CelObject)) m.set(k, toCelValue(x));
    return celMap(m);
  }
  return v;
}

/** Stands in for a variable no rule reads (it is never looked at). */
const UNREAD: CelInput = celMap(new Map<string, CelInput>());

/** The activation of a decision; with `variables`, only those the rules read are built. */
export function activation(
  input: { ctx: RequestContext; identity: Identity; llm: LlmRequest; quota?: ReadonlyMap<string, QuotaRemaining> | undefined },
  nowMs: number,
  variables?: ReadonlySet<string>,
): Activation {
  const reads = (name: keyof Activation): boolean => variables === undefined || variables.has(name);
  return {
    identity: reads('identity') ? toCelValue(identityActivation(input.identity)) : UNREAD,
    request: reads('request') ? toCelValue(requestActivation(input.ctx)) : UNREAD,
    llm: reads('llm') ? toCelValue(llmActivation(input.llm)) : UNREAD,
    quota: reads('quota') ? toCelValue(quotaActivation(input.quota ?? NO_QUOTA)) : UNREAD,
    now: reads('now') ? timestampFromMs(nowMs) : UNREAD,
  };
}
