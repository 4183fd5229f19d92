/**
 * The outcome record: what happened to an allowed request's response, joined to its decision.
 * Built by one function, `outcomeRecord()`, from typed values only: the decision fields that
 * llm-authz itself gave Envoy as ext_authz dynamic metadata (and Envoy hands back to the
 * ext_proc stream), the response status and headers it reads, and the facts of the API's
 * response reader (token counts, model, finish reasons, tool-call NAMES). Response text, tool
 * arguments and headers other than the provider's request id are not among its inputs.
 * Span attributes and the decision log's `outcome` lines are both built from its output.
 */
import type { ResponseFacts } from '../apis/responses/facts.ts';
import type { BodyFormat, ReadStatus } from '../apis/responses/reading.ts';
import type { JsonValue } from '../core/struct.ts';

/** The decision an outcome belongs to, as read back from the ext_authz metadata Envoy forwards. */
export interface DecisionRef {
  readonly decisionId: string;
  readonly effect: string | undefined;
  readonly workload: string | undefined;
  readonly agent: string | undefined;
  readonly user: string | undefined;
  readonly credentialId: string | undefined;
  /** The configured provider (`llm.provider`) and its system (`gen_ai.provider.name`). */
  readonly provider: string | undefined;
  readonly providerSystem: string | undefined;
  readonly model: string | undefined;
  /** The API schema (`llm.api`) whose reader reads the response. */
  readonly api: string | undefined;
  readonly stream: boolean | undefined;
  /** The Check span's id (same trace): the outcome span links to it. */
  readonly checkSpanId: string | undefined;
}

const MAX_STRING = 512;

function str(v: JsonValue | undefined): string | undefined {
  if (typeof v !== 'string' || v === '') return undefined;
  return v.length > MAX_STRING ? `${v.slice(0, MAX_STRING)}…` : v;
}

/** Reads the decision from the ext_authz metadata; undefined when there is no decision id (not a decided request). */
export function decisionFromMetadata(m: Readonly<Record<string, JsonValue>>): DecisionRef | undefined {
  const decisionId = str(m['decision_id']);
  if (decisionId === undefined) return undefined;
  const stream = m['stream'];
  const span = str(m['span_id']);
  return {
    decisionId,
    effect: str(m['effect']),
    workload: str(m['workload']),
    agent: str(m['agent']),
    user: str(m['user']),
    credentialId: str(m['credential_id']),
    provider: str(m['provider']),
    providerSystem: str(m['provider_system']),
    model: str(m['model']),
    api: str(m['api']),
    stream: typeof stream === 'boolean' ? stream : undefined,
    checkSpanId: span !== undefined && /^[0-9a-f]{16}$/.test(span) ? span : undefined,
  };
}

export interface OutcomeInput {
  readonly decision: DecisionRef;
  /** The request's x-request-id (Envoy's `request.id` attribute). */
  readonly requestId: string | undefined;
  readonly status: number | undefined;
  readonly format: BodyFormat;
  readonly read: ReadStatus;
  readonly facts: ResponseFacts;
  /** The response reached its end (false: client gone, upstream reset, stream closed first). */
  readonly complete: boolean;
  readonly bytes: number;
  readonly providerRequestId: string | undefined;
  readonly ttfbMs: number | undefined;
  readonly durationMs: number;
}

/** One typed field per outcome attribute (README "Audit fields", outcome records). */
export interface OutcomeRecord {
  readonly 'decision.id': string;
  readonly 'http.request.id'?: string;
  readonly 'identity.workload'?: string;
  readonly 'identity.agent'?: string;
  readonly 'identity.user'?: string;
  readonly 'identity.credential_id'?: string;
  readonly 'gen_ai.provider.name'?: string;
  readonly 'llm.provider'?: string;
  readonly 'gen_ai.request.model'?: string;
  readonly 'llm.api'?: string;
  readonly 'llm.stream'?: boolean;
  readonly 'http.response.status_code'?: number;
  readonly 'gen_ai.response.id'?: string;
  readonly 'gen_ai.response.model'?: string;
  readonly 'gen_ai.response.finish_reasons'?: string[];
  readonly 'gen_ai.usage.input_tokens'?: number;
  readonly 'gen_ai.usage.output_tokens'?: number;
  readonly 'gen_ai.usage.cache_read.input_tokens'?: number;
  readonly 'gen_ai.usage.cache_creation.input_tokens'?: number;
  readonly 'gen_ai.usage.reasoning.output_tokens'?: number;
  readonly 'llm.response.usage_reported': boolean;
  readonly 'llm.response.tool_calls'?: string[];
  readonly 'llm.response.tool_call_count': number;
  readonly 'llm.response.provider_request_id'?: string;
  readonly 'error.type'?: string;
  readonly 'llm.response.format': BodyFormat;
  readonly 'llm.response.read': ReadStatus;
  readonly 'llm.response.complete': boolean;
  readonly 'llm.response.bytes': number;
  readonly 'llm.response.time_to_first_byte_ms'?: number;
  readonly 'llm.response.duration_ms': number;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
const ms = (x: number): number => Math.round(x * 1000) / 1000;

export function outcomeRecord(o: OutcomeInput): OutcomeRecord {
  const d = o.decision;
  const f = o.facts;
  const u = f.usage;
  const r: Mutable<OutcomeRecord> = {
    'decision.id': d.decisionId,
    'llm.response.usage_reported': u.input !== undefined || u.output !== undefined,
    'llm.response.tool_call_count': f.toolCallCount,
    'llm.response.format': o.format,
    'llm.response.read': o.read,
    'llm.response.complete': o.complete,
    'llm.response.bytes': o.bytes,
    'llm.response.duration_ms': ms(o.durationMs),
  };
  const put = <K extends keyof OutcomeRecord>(k: K, v: OutcomeRecord[K] | undefined): void => {
    if (v !== undefined) r[k] = v;
  };
  put('http.request.id', str(o.requestId));
  put('identity.workload', d.workload);
  put('identity.agent', d.agent);
  put('identity.user', d.user);
  put('identity.credential_id', d.credentialId);
  put('gen_ai.provider.name', d.providerSystem);
  put('llm.provider', d.provider);
  put('gen_ai.request.model', d.model);
  put('llm.api', d.api);
  put('llm.stream', d.stream);
  put('http.response.status_code', o.status);
  put('gen_ai.response.id', f.responseId);
  put('gen_ai.response.model', f.responseModel);
  if (f.finishReasons.length > 0) r['gen_ai.response.finish_reasons'] = [...f.finishReasons];
  put('gen_ai.usage.input_tokens', u.input);
  put('gen_ai.usage.output_tokens', u.output);
  put('gen_ai.usage.cache_read.input_tokens', u.cacheRead);
  put('gen_ai.usage.cache_creation.input_tokens', u.cacheCreation);
  put('gen_ai.usage.reasoning.output_tokens', u.reasoning);
  if (f.toolCalls.length > 0) r['llm.response.tool_calls'] = [...f.toolCalls];
  put('llm.response.provider_request_id', str(o.providerRequestId));
  put('error.type', f.errorType ?? (o.status !== undefined && o.status >= 400 ? String(o.status) : undefined));
  if (o.ttfbMs !== undefined && Number.isFinite(o.ttfbMs) && o.ttfbMs >= 0) r['llm.response.time_to_first_byte_ms'] = ms(o.ttfbMs);
  return r;
}
