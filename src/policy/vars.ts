/**
 * The variables policies see, declared once: their types drive the load-time checker, and
 * `activation()` presents their values per request, each field computed when a rule first reads it
 * (lazy-fields.ts). JSON numbers become CEL int or double by the declared type of the field, never
 * by their look. New LlmRequest fields are one line in LLM_FIELDS plus one line in LLM_VALUES.
 */
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { celList, celMap, isCelMap, type CelInput } from '@bufbuild/cel';
import type { RequestContext } from '../envoy/request-context.ts';
import type { Entitlement, Identity } from '../identity/types.ts';
import type { JsonValue } from '../core/struct.ts';
import type { LlmRequest } from '../llm/types.ts';
import { T, type FieldDecl, type PolicyType } from './cel-types.ts';
import { FieldGetters, lazyCelMap } from './lazy-fields.ts';
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

/** The `llm` fields. A new LlmRequest field is one line here and one line in LLM_VALUES. */
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

const NO_STRINGS: CelInput = celList([]);

/** Whether a list is within the bounds as it is (nothing to cut). */
function withinBounds(l: readonly string[]): boolean {
  if (l.length > LIMITS.maxList) return false;
  for (const s of l) if (s.length > LIMITS.maxString) return false;
  return true;
}

/** A string list as a CEL list, clipped; a list within the bounds is not copied (request lists are never changed). */
function celStrings(l: readonly string[]): CelInput {
  if (l.length === 0) return NO_STRINGS;
  return celList(withinBounds(l) ? l : clipList(l));
}

/** The CEL value of a field given as a getter table (static: no closure per Check). */
function fields<S>(table: Record<string, (source: S) => CelInput | undefined>): FieldGetters<S> {
  return new FieldGetters(table);
}

const SCOPE_VALUES = fields<Identity['scopes']>({
  models: (s) => (s.models === undefined ? undefined : celStrings(s.models)),
  providers: (s) => (s.providers === undefined ? undefined : celStrings(s.providers)),
  tools: (s) => (s.tools === undefined ? undefined : celStrings(s.tools)),
  max_tokens: (s) => (s.maxTokens === undefined ? undefined : BigInt(s.maxTokens)),
});

const ENTITLEMENT_VALUES = fields<Entitlement | undefined>({
  recorded: (e) => e !== undefined,
  source: (e) => e?.source ?? '',
  id: (e) => clip(e?.id ?? ''),
  owner: (e) => clip(e?.owner ?? ''),
  approved_by: (e) => clip(e?.approvedBy ?? ''),
  approved_at: (e) => (e?.approvedAtMs === undefined ? undefined : timestampFromMs(e.approvedAtMs)),
  review_by: (e) => (e?.reviewByMs === undefined ? undefined : timestampFromMs(e.reviewByMs)),
  review_overdue: (e) => e?.reviewOverdue ?? false,
});

/** Identity -> the `identity` variable. */
const IDENTITY_VALUES = fields<Identity>({
  workload: (id) => clip(id.workload),
  agent: (id) => clip(id.agent ?? ''),
  user: (id) => clip(id.user ?? ''),
  method: (id) => id.method,
  issuer: (id) => clip(id.issuer ?? ''),
  credential_id: (id) => clip(id.credentialId ?? ''),
  scopes: (id) => lazyCelMap(id.scopes, SCOPE_VALUES),
  methods: (id) => celStrings(id.methods ?? [id.method]),
  claims: (id) => toCelValue(claimsToCel(id.claims)),
  entitlement: (id) => lazyCelMap(id.entitlement, ENTITLEMENT_VALUES),
});

const SOURCE_VALUES = fields<RequestContext['source']>({
  address: (s) => clip(s.address),
  port: (s) => BigInt(s.port),
  principal: (s) => clip(s.principal),
});

/** RequestContext -> the `request` variable. */
const REQUEST_VALUES = fields<RequestContext>({
  method: (ctx) => clip(ctx.method),
  path: (ctx) => clip(ctx.path),
  host: (ctx) => clip(ctx.host),
  headers: (ctx) => celMap(clipMap(ctx.headers, CREDENTIAL_HEADERS)),
  source: (ctx) => lazyCelMap(ctx.source, SOURCE_VALUES),
  sni: (ctx) => clip(ctx.sni),
  context_extensions: (ctx) => celMap(clipMap(ctx.contextExtensions)),
});

const NO_PATH_PARAMS: CelInput = celMap(new Map<string, string>());

function pathParams(p: Readonly<Record<string, string>>): CelInput {
  const entries = Object.entries(p);
  return entries.length === 0 ? NO_PATH_PARAMS : celMap(clipMap(new Map(entries)));
}

/** LlmRequest -> the `llm` variable: the one mapping; ints are bigint (CEL int). */
const LLM_VALUES = fields<LlmRequest>({
  provider: (llm) => llm.provider?.name ?? '',
  api: (llm) => llm.api,
  schema: (llm) => llm.schema,
  operation: (llm) => llm.operation,
  model: (llm) => clip(llm.model ?? ''),
  tool_choice: (llm) => clip(llm.toolChoice ?? ''),
  end_user: (llm) => clip(llm.endUser ?? ''),
  body_complete: (llm) => llm.bodyComplete,
  stream: (llm) => llm.stream,
  tools: (llm) => celStrings(llm.tools),
  message_count: (llm) => BigInt(llm.messageCount),
  input_bytes: (llm) => BigInt(llm.inputBytes),
  stored_context: (llm) => celStrings(llm.storedContext),
  path_params: (llm) => pathParams(llm.pathParams),
  max_tokens: (llm) => (llm.maxTokens === undefined ? undefined : BigInt(llm.maxTokens)),
  temperature: (llm) => llm.temperature,
});

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
    const o = new Map<string, CelInput>();
    if (r.requests !== undefined) o.set('requests', BigInt(r.requests));
    if (r.tokens !== undefined) o.set('tokens', BigInt(r.tokens));
    if (r.concurrent !== undefined) o.set('concurrent', BigInt(r.concurrent));
    m.set(name, o);
  }
  return m;
}

/**
 * Claims (plain arrays and maps) as CEL lists and maps, converted once per Check when a rule
 * reads them: the evaluator otherwise converts a plain value again on every access.
 */
function toCelValue(v: CelInput): CelInput {
  if (Array.isArray(v)) return celList(v.map((x: CelInput) => toCelValue(x)));
  if (v instanceof Map) {
    const m = new Map<string, CelInput>();
    for (const [k, x] of v as Map<string, CelInput>) m.set(k, toCelValue(x));
    return celMap(m);
  }
  return v;
}

/** Stands in for a variable no rule reads (it is never looked at). */
const UNREAD: CelInput = celMap(new Map<string, CelInput>());

type ActivationInput = { ctx: RequestContext; identity: Identity; llm: LlmRequest; quota?: ReadonlyMap<string, QuotaRemaining> | undefined };

/**
 * The variables of one decision. `identity`, `request` and `llm` are built when a rule first
 * reads them (then kept); `quota` and `now` when the rules read them, at once (a value CEL
 * cannot hold, such as a clock outside CEL time, fails before any rule runs).
 */
class Variables implements Activation {
  readonly #input: ActivationInput;
  #identity: CelInput | undefined;
  #request: CelInput | undefined;
  #llm: CelInput | undefined;
  readonly quota: CelInput;
  readonly now: CelInput;

  constructor(input: ActivationInput, nowMs: number, variables: ReadonlySet<string> | undefined) {
    this.#input = input;
    this.quota = variables === undefined || variables.has('quota') ? toCelValue(quotaActivation(input.quota ?? NO_QUOTA)) : UNREAD;
    this.now = variables === undefined || variables.has('now') ? timestampFromMs(nowMs) : UNREAD;
  }

  get identity(): CelInput {
    if (this.#identity === undefined) this.#identity = lazyCelMap(this.#input.identity, IDENTITY_VALUES);
    return this.#identity;
  }

  get request(): CelInput {
    if (this.#request === undefined) this.#request = lazyCelMap(this.#input.ctx, REQUEST_VALUES);
    return this.#request;
  }

  get llm(): CelInput {
    if (this.#llm === undefined) this.#llm = lazyCelMap(this.#input.llm, LLM_VALUES);
    return this.#llm;
  }
}

/**
 * The same variables, also under the qualified names of their declared fields (`llm.model`,
 * `identity.scopes.models`). CEL resolves `a.b.c` by trying the longest qualified name as an
 * identifier first, so these answer a field read at once: @bufbuild/cel otherwise looks each
 * longer name up as a type and an enum (cutting the name into new strings) before it reads the
 * field through the maps, for every read of every rule. A name's value is read through the same
 * maps (same values, computed once); an absent field answers undefined, and the evaluator then
 * reads it the long way (its error or has() are unchanged). Not for rules that name a
 * comprehension variable like a top-level variable: inside it, `llm.model` is that variable's field.
 */
class QualifiedVariables extends Variables {}

function qualifiedNames(prefix: string, t: PolicyType, out: string[]): void {
  if (t.kind !== 'object') return;
  for (const [name, f] of Object.entries(t.fields)) {
    const q = `${prefix}.${name}`;
    out.push(q);
    qualifiedNames(q, f.type, out);
  }
}

function readPath(vars: Variables, path: readonly string[]): CelInput | undefined {
  let v: unknown = vars[path[0] as 'identity' | 'request' | 'llm'];
  for (let i = 1; i < path.length; i++) {
    if (!isCelMap(v)) return undefined;
    v = v.get(path[i] as string);
    if (v === undefined) return undefined;
  }
  return v as CelInput;
}

/** The value at a declared field path (`['identity', 'workload']`), read through the same maps the rules read; undefined when absent. */
export function fieldAt(vars: Activation, path: readonly string[]): CelInput | undefined {
  return readPath(vars as Variables, path);
}

for (const variable of ['identity', 'request', 'llm'] as const) {
  const names: string[] = [];
  qualifiedNames(variable, VARIABLES[variable]?.type ?? T.dyn, names);
  for (const name of names) {
    const path = name.split('.');
    Object.defineProperty(QualifiedVariables.prototype, name, {
      get(this: Variables) {
        return readPath(this, path);
      },
    });
  }
}

/** Whether an expression whose comprehensions bind `bound` may read qualified names (none is a top-level variable's name). */
export function qualifiedFor(bound: ReadonlySet<string>): boolean {
  for (const name of bound) if (Object.hasOwn(VARIABLES, name)) return false;
  return true;
}

/**
 * The activation of a decision; with `variables`, `quota` and `now` are built only when named
 * there. `qualified`: also answer qualified field names (see QualifiedVariables).
 */
export function activation(input: ActivationInput, nowMs: number, variables?: ReadonlySet<string>, qualified = false): Activation {
  return qualified ? new QualifiedVariables(input, nowMs, variables) : new Variables(input, nowMs, variables);
}
