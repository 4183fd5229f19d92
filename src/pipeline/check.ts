/**
 * The Check pipeline, as labelled phases with a deny reason per phase:
 *   parse -> identify -> understand -> quota -> decide -> credential -> respond -> audit
 * It fails closed: an exception or a timeout anywhere is a deny, never an allow, and every
 * Check produces exactly one decision record.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Runtime } from './runtime.ts';
import { auditRecord, envoyMetadata, type AuditInput, type AuditRecord } from '../audit/record.ts';
import { parseCheckRequest, type RequestContext } from '../envoy/request-context.ts';
import { allowResponse, denyResponse, type CheckResponse } from '../envoy/response.ts';
import { headersToStrip } from '../envoy/strip.ts';
import type { Identity } from '../identity/types.ts';
import { attachCredential, type AttachedCredential } from '../providers/attach.ts';
import { apiOfRequest } from '../apis/endpoints.ts';
import type { LlmRequest } from '../llm/index.ts';
import type { Decision } from '../policy/types.ts';
import type { DenyReason } from '../core/reasons.ts';
import type { JsonValue } from '../core/struct.ts';
import { noopCheckTracer, type CheckSpan, type CheckTracer, type TraceIds } from '../telemetry/check-span.ts';
import { countIdentity, countQuotaDenial, recordDecision } from '../telemetry/metrics.ts';
import { quotaDeny, remainingByName, type QuotaCheck } from '../quota/phase.ts';

export interface CheckSinks {
  /** Called once per decision, with the redacted audit record and the ids of the Check's span. */
  onDecision(record: AuditRecord, trace?: TraceIds): void;
  /** Called for internal failures (already turned into a deny). */
  onError(reason: DenyReason, err: unknown, decisionId: string): void;
}

/** The metrics a decision counts; the start-up warm-up (warm-up.ts) runs its Checks with none. */
export interface CheckMetrics {
  identity(method: string): void;
  quotaDenial(quota: string): void;
  decision(effect: string, reason: string, rule: string | undefined, seconds: number): void;
}

export const DECISION_METRICS: CheckMetrics = { identity: countIdentity, quotaDenial: countQuotaDenial, decision: recordDecision };

/** What the phases found out, up to the phase that decided (`phase`). */
export interface Phases {
  phase: AuditInput['phase'];
  ctx?: RequestContext;
  identity?: Identity;
  llm?: LlmRequest;
  decision?: Decision;
  denyReason?: DenyReason;
  detail?: string | undefined;
  /** The quota phase's result, when quotas are configured. */
  quota?: QuotaCheck;
  /** On allow: the provider credential's headers (the credential phase). */
  credential?: AttachedCredential;
  /** performance.now() around the identity and policy phases (span events). */
  identityAt?: readonly [number, number];
  policyAt?: readonly [number, number];
}

/** What the phases have learnt so far: a deny at the Check's timeout still records the request, and who and what it was. */
type Known = Pick<Phases, 'ctx' | 'identity' | 'llm'>;

/**
 * The phases of one Check, without the audit and the response: the server's Check and
 * `llm-authz check` both run this. `deadline` (performance.now()) stops policy evaluation.
 */
export async function runPhases(raw: unknown, rt: Runtime, deadline?: number, decisionId: string = randomUUID(), known?: Known): Promise<Phases> {
  const parsed = parseCheckRequest(raw);
  if (!parsed.ok) return { phase: 'request', denyReason: parsed.reason, detail: parsed.detail };
  const ctx = parsed.value;
  if (known) known.ctx = ctx;

  const identityStart = performance.now();
  const identified = rt.identify(ctx);
  const who = identified instanceof Promise ? await identified : identified;
  const identityAt = [identityStart, performance.now()] as const;
  // A deny may still name who was denied (a revoked identity, a revoked or expired key): audited.
  if (!who.ok) return { phase: 'identity', ctx, ...(who.identity ? { identity: who.identity } : {}), denyReason: who.reason, detail: who.detail, identityAt };
  const identity = who.value;
  if (known) known.identity = identity;

  const what = rt.understand(ctx);
  if (!what.ok) return { phase: 'llm', ctx, identity, denyReason: what.reason, detail: what.detail, identityAt };
  const llm = what.value;
  if (known) known.llm = llm;

  // Quotas: one store round trip; a request over a limit is denied before the policies run.
  let quota: QuotaCheck | undefined;
  if (rt.quotas !== undefined) {
    quota = await rt.quotas.check({ ctx, identity, llm }, decisionId);
    const denied = quotaDeny(quota);
    if (denied !== undefined) return { phase: 'quota', ctx, identity, llm, quota, identityAt, denyReason: denied.reason, detail: denied.detail };
  }

  const policyStart = performance.now();
  const decision = rt.decide({ ctx, identity, llm, deadline, quota: remainingByName(quota) });
  return { phase: 'policy', ctx, identity, llm, decision, ...(quota !== undefined && { quota }), identityAt, policyAt: [policyStart, performance.now()] };
}

/**
 * The credential phase of an allowed request: the provider credential in its API's form. It can
 * sign the body or wait for a token endpoint, so it runs in the Check (under its timeout), not in
 * `llm-authz check`; a credential that cannot be attached denies.
 */
function withCredential(p: Phases): Phases | Promise<Phases> {
  const o = p.decision?.effect === 'allow' ? p.decision.obligations : undefined;
  if (o === undefined || p.ctx === undefined) return p;
  const ctx = p.ctx;
  return attachCredential(o.provider, o.credential ?? o.provider.credential, ctx).then((c) => {
    // The phases' own object (made for this Check): completed in place, not copied.
    if (c.ok) p.credential = c.value;
    else {
      p.phase = 'credential';
      p.denyReason = c.reason;
      p.detail = c.detail;
    }
    return p;
  });
}

/** The audit part of a Check: span attributes, status and events, metrics, the decision record. */
function audit(record: AuditRecord, p: Phases, span: CheckSpan, sinks: CheckSinks, seconds: number, metrics: CheckMetrics): void {
  const reason = record['decision.reason'];
  if (p.identityAt) span.phase('identity', p.identityAt[0], p.identityAt[1], p.phase === 'identity' ? reason : 'ok');
  if (p.policyAt) span.phase('policy', p.policyAt[0], p.policyAt[1], p.decision?.reason ?? reason);
  // ERROR only for failures (5xx: internal errors, timeouts, policy errors), not for ordinary denies.
  // The record's fields are all attribute values (strings, numbers, booleans, string lists). The
  // span keeps the map it is given and adds the RPC attributes to it: it gets a copy of its own
  // (a copy of a fast object), so that the record the sinks get holds the audit fields alone.
  span.end({ ...record }, record['decision.status'] >= 500 ? reason : undefined);
  if (p.identity) metrics.identity(p.identity.method);
  if (p.quota?.kind === 'exceeded' && reason === 'quota_exceeded') metrics.quotaDenial(p.quota.quota);
  metrics.decision(record['decision.effect'], reason, p.decision?.rule, seconds);
  sinks.onDecision(record, span.ids);
}

function finish(decisionId: string, started: number, p: Phases, rt: Runtime, sinks: CheckSinks, span: CheckSpan, metrics: CheckMetrics): CheckResponse {
  const d = p.decision;
  const durationMs = performance.now() - started;
  const effect = d?.effect === 'allow' && d.obligations !== undefined && p.credential !== undefined ? 'allow' : 'deny';
  const reason = effect === 'allow' ? 'allowed' : (p.denyReason ?? (d && d.reason !== 'allowed' ? d.reason : 'internal_error'));
  const record = auditRecord({
    decisionId,
    effect,
    reason,
    phase: p.phase,
    ctx: p.ctx,
    identity: p.identity,
    llm: p.llm,
    policyVersion: d?.policyVersion ?? rt.version,
    rule: d?.rule,
    matchedRules: d?.matchedRules ?? [],
    provider: d?.obligations?.provider,
    shadow: d?.shadow,
    quota: p.quota,
    durationMs,
  });
  audit(record, p, span, sinks, durationMs / 1000, metrics);
  // The Check span's id goes with the decision, so the outcome span (same trace) can link to it.
  const metadata: Record<string, JsonValue> = envoyMetadata(record);
  if (span.ids.spanId !== '') metadata['span_id'] = span.ids.spanId;
  const q = p.quota;
  if (effect === 'allow' && d?.obligations && p.credential) {
    metadata['route'] = d.obligations.provider.route;
    // The quotas the outcome path charges tokens to and releases leases of, when the response ends.
    if (q?.kind === 'pass' && q.carry !== undefined) metadata['quota'] = q.carry;
    const credentialHeaders = p.ctx ? headersToStrip(p.ctx, rt.strip) : rt.strip.always;
    return allowResponse({
      decisionId,
      routingHeader: rt.routingHeader,
      obligations: d.obligations,
      credential: p.credential,
      credentialHeaders,
      metadata,
      traceId: span.ids.traceId,
    });
  }
  // Passed the quotas, denied later: the leases it took are given back (its request still counts).
  if (q?.kind === 'pass' && q.leases.length > 0) rt.quotas?.release(q.leases, decisionId);
  return denyResponse({
    decisionId,
    retryAfterS: q?.kind === 'exceeded' && reason === 'quota_exceeded' ? q.retryAfterS : undefined,
    reason: reason === 'allowed' ? 'internal_error' : reason,
    detail: p.detail ?? d?.detail,
    api: p.llm?.api ?? (p.ctx ? apiOfRequest(p.ctx.path, p.ctx.headers) : undefined),
    metadata,
    traceId: span.ids.traceId,
  });
}

/** What the gRPC call carries besides the CheckRequest (W3C trace context from Envoy's metadata). */
export interface CallMeta {
  readonly traceparent?: string | undefined;
  readonly tracestate?: string | undefined;
}

export type Check = (raw: unknown, meta?: CallMeta) => Promise<CheckResponse>;

/**
 * Builds the Check function over a runtime getter (read once per Check, so a reload swaps
 * atomically between Checks) and a timeout after which the answer is a deny.
 */
export function createCheck(getRuntime: () => Runtime, sinks: CheckSinks, tracer: CheckTracer = noopCheckTracer, metrics: CheckMetrics = DECISION_METRICS): Check {
  return async (raw, meta) => {
    const started = performance.now();
    const decisionId = randomUUID();
    // The span starts where the Check started, so decision.duration_ms is never longer than it.
    const span = tracer.start(meta, started);
    const rt = getRuntime();
    let timer: NodeJS.Timeout | undefined;
    try {
      const limit = rt.config.server.check_timeout_ms;
      const known: Known = {};
      let timedOut: Phases | undefined;
      let running: Promise<Phases> | undefined;
      // The phases, or a timeout deny when they take longer than the limit.
      let phases = await new Promise<Phases>((resolve, reject) => {
        timer = setTimeout(() => {
          const { ctx, identity, llm } = known;
          timedOut = { phase: 'internal', denyReason: 'timeout', ...(ctx && { ctx }), ...(identity && { identity }), ...(llm && { llm }) };
          resolve(timedOut);
        }, limit);
        running = runPhases(raw, rt, started + limit, decisionId, known).then(withCredential);
        running.then(resolve, reject);
      });
      if (phases === timedOut) {
        // The phases go on after the timeout's deny: leases they take are given back when they end.
        running?.then((late) => (late.quota?.kind === 'pass' ? rt.quotas?.release(late.quota.leases, decisionId) : undefined)).catch(() => undefined);
      }
      // Synchronous work (a slow policy) can finish after the deadline without the timer having
      // had a turn: an answer that late is a timeout deny, never an allow.
      if (performance.now() - started > limit && phases.denyReason !== 'timeout') {
        const { ctx, identity, llm, quota } = phases;
        phases = {
          phase: 'internal',
          denyReason: 'timeout',
          detail: 'the decision took longer than the check timeout',
          ...(ctx && { ctx }),
          ...(identity && { identity }),
          ...(llm && { llm }),
          // Kept so that the deny gives back the leases the quotas took.
          ...(quota && { quota }),
        };
      }
      return finish(decisionId, started, phases, rt, sinks, span, metrics);
    } catch (err) {
      sinks.onError('internal_error', err, decisionId);
      try {
        return finish(decisionId, started, { phase: 'internal', denyReason: 'internal_error' }, rt, sinks, span, metrics);
      } catch {
        // Even the deny could not be built: a minimal deny without metadata.
        return denyResponse({ decisionId, reason: 'internal_error', detail: undefined, api: undefined, metadata: {} });
      }
    } finally {
      clearTimeout(timer);
    }
  };
}
