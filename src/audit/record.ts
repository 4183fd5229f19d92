/**
 * The one function that turns a decision into audit fields. It reads typed values only and
 * copies an allowlist of fields; credentials, provider keys, prompt text and message contents
 * are not among its inputs, so they cannot leave through it. Span attributes and decision-log
 * lines are both built from its output.
 */
import { redactKeys } from '../core/key-shape.ts';
import type { RequestContext } from '../envoy/request-context.ts';
import type { Identity } from '../identity/types.ts';
import type { LlmRequest } from '../llm/types.ts';
import { statusOf, type ReasonCode } from '../core/reasons.ts';
import type { ShadowResult } from '../policy/types.ts';

export interface AuditInput {
  readonly decisionId: string;
  readonly effect: 'allow' | 'deny';
  readonly reason: ReasonCode;
  /** The phase that decided: request, identity, llm, policy, credential (attaching the provider credential failed), or internal. */
  readonly phase: 'request' | 'identity' | 'llm' | 'policy' | 'credential' | 'internal';
  readonly ctx: RequestContext | undefined;
  readonly identity: Identity | undefined;
  readonly llm: LlmRequest | undefined;
  readonly policyVersion: string | undefined;
  readonly rule: string | undefined;
  readonly matchedRules: readonly string[];
  /** The provider routed to: its configured name and its system (OpenTelemetry `gen_ai.provider.name`). */
  readonly provider: { readonly name: string; readonly profile: { readonly system: string } } | undefined;
  readonly shadow?: ShadowResult | undefined;
  readonly durationMs: number;
}

export type AuditPhase = AuditInput['phase'];

/**
 * The audit record: one typed field per audit attribute, named as the span attribute and the
 * decision-log key (README "Audit fields"). Optional fields appear when known.
 */
export interface AuditRecord {
  readonly 'decision.id': string;
  readonly 'decision.effect': 'allow' | 'deny';
  readonly 'decision.reason': ReasonCode;
  readonly 'decision.status': number;
  readonly 'decision.phase': AuditPhase;
  readonly 'decision.duration_ms': number;
  readonly 'http.request.method'?: string;
  readonly 'url.path'?: string;
  readonly 'http.request.id'?: string;
  readonly 'client.address'?: string;
  readonly 'source.principal'?: string;
  readonly 'identity.method'?: string;
  readonly 'identity.workload'?: string;
  readonly 'identity.agent'?: string;
  readonly 'identity.user'?: string;
  readonly 'identity.issuer'?: string;
  readonly 'identity.credential_id'?: string;
  readonly 'identity.owner'?: string;
  readonly 'identity.review_overdue'?: boolean;
  readonly 'policy.version'?: string;
  readonly 'policy.rule'?: string;
  readonly 'policy.matched_rules'?: string[];
  readonly 'policy.shadow.effect'?: 'allow' | 'deny';
  readonly 'policy.shadow.reason'?: ReasonCode;
  readonly 'policy.shadow.rule'?: string;
  readonly 'policy.shadow.version'?: string;
  readonly 'policy.shadow.disagrees'?: boolean;
  readonly 'gen_ai.provider.name'?: string;
  readonly 'llm.provider'?: string;
  readonly 'gen_ai.operation.name'?: string;
  readonly 'gen_ai.request.model'?: string;
  readonly 'llm.api'?: string;
  readonly 'llm.stream'?: boolean;
  readonly 'gen_ai.request.max_tokens'?: number;
  readonly 'gen_ai.request.temperature'?: number;
  readonly 'llm.tools'?: string[];
  readonly 'llm.tool_choice'?: string;
  readonly 'llm.end_user'?: string;
  readonly 'llm.message_count'?: number;
  readonly 'llm.input_bytes'?: number;
  readonly 'llm.body_complete'?: boolean;
  readonly 'llm.stored_context'?: string[];
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
/** The keys of the record's optional string fields. */
type StringField = { [K in keyof AuditRecord]-?: NonNullable<AuditRecord[K]> extends string ? K : never }[keyof AuditRecord];

const MAX_STRING = 512;
const MAX_LIST = 64;

/**
 * Every string of the record passes here: clipped, and any llm-authz key in it (a client can put
 * one in a path, a model name, a tool name) loses its secret part.
 */
function clip(s: string): string {
  const r = redactKeys(s);
  return r.length > MAX_STRING ? `${r.slice(0, MAX_STRING)}…` : r;
}

/** Builds the audit fields. Stable names; see README "Audit fields". */
export function auditRecord(a: AuditInput): AuditRecord {
  const r: Mutable<AuditRecord> = {
    'decision.id': a.decisionId,
    'decision.effect': a.effect,
    'decision.reason': a.reason,
    'decision.status': statusOf(a.reason),
    'decision.phase': a.phase,
    'decision.duration_ms': Math.round(a.durationMs * 1000) / 1000,
  };
  const put = (k: Exclude<StringField, 'decision.id'>, v: string | undefined): void => {
    if (v !== undefined && v !== '') (r as Record<StringField, string>)[k] = clip(v);
  };
  if (a.ctx) {
    put('http.request.method', a.ctx.method);
    put('url.path', a.ctx.path);
    put('http.request.id', a.ctx.requestId);
    put('client.address', a.ctx.source.address);
    put('source.principal', a.ctx.source.principal);
  }
  if (a.identity) {
    put('identity.method', a.identity.method);
    put('identity.workload', a.identity.workload);
    put('identity.agent', a.identity.agent);
    put('identity.user', a.identity.user);
    put('identity.issuer', a.identity.issuer);
    put('identity.credential_id', a.identity.credentialId);
    put('identity.owner', a.identity.entitlement?.owner);
    // Known only when the entitlement has a review date.
    if (a.identity.entitlement?.reviewByMs !== undefined) r['identity.review_overdue'] = a.identity.entitlement.reviewOverdue;
  }
  put('policy.version', a.policyVersion);
  put('policy.rule', a.rule);
  if (a.matchedRules.length > 0) r['policy.matched_rules'] = a.matchedRules.slice(0, MAX_LIST).map(clip);
  if (a.shadow) {
    r['policy.shadow.effect'] = a.shadow.effect;
    r['policy.shadow.reason'] = a.shadow.reason;
    put('policy.shadow.rule', a.shadow.rule);
    put('policy.shadow.version', a.shadow.policyVersion);
    r['policy.shadow.disagrees'] = a.shadow.disagrees;
  }
  put('gen_ai.provider.name', a.provider?.profile.system);
  put('llm.provider', a.provider?.name);
  if (a.llm) {
    put('gen_ai.operation.name', a.llm.operation);
    put('gen_ai.request.model', a.llm.model);
    put('llm.api', a.llm.schema);
    r['llm.stream'] = a.llm.stream;
    if (a.llm.maxTokens !== undefined) r['gen_ai.request.max_tokens'] = a.llm.maxTokens;
    if (a.llm.temperature !== undefined) r['gen_ai.request.temperature'] = a.llm.temperature;
    if (a.llm.tools.length > 0) r['llm.tools'] = a.llm.tools.slice(0, MAX_LIST).map(clip);
    put('llm.tool_choice', a.llm.toolChoice);
    put('llm.end_user', a.llm.endUser);
    r['llm.message_count'] = a.llm.messageCount;
    r['llm.input_bytes'] = a.llm.inputBytes;
    r['llm.body_complete'] = a.llm.bodyComplete;
    if (a.llm.storedContext.length > 0) r['llm.stored_context'] = [...a.llm.storedContext];
  }
  return r;
}

/**
 * The subset of the audit fields handed to Envoy as dynamic metadata: for its access log, and
 * for the outcome record, which Envoy's ext_proc filter receives it in (decisionFromMetadata in
 * src/audit/outcome.ts reads it back: the API schema picks the response reader).
 */
export function envoyMetadata(r: AuditRecord): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  const fields: readonly (readonly [string, StringField])[] = [
    ['decision_id', 'decision.id'],
    ['effect', 'decision.effect'],
    ['reason', 'decision.reason'],
    ['workload', 'identity.workload'],
    ['agent', 'identity.agent'],
    ['user', 'identity.user'],
    ['credential_id', 'identity.credential_id'],
    ['policy_version', 'policy.version'],
    ['rule', 'policy.rule'],
    ['provider', 'llm.provider'],
    ['provider_system', 'gen_ai.provider.name'],
    ['model', 'gen_ai.request.model'],
    ['api', 'llm.api'],
  ];
  for (const [k, src] of fields) {
    const v = r[src];
    if (v !== undefined) out[k] = v;
  }
  out['status'] = r['decision.status'];
  if (r['llm.stream'] !== undefined) out['stream'] = r['llm.stream'];
  return out;
}
