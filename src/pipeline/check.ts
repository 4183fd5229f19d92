/**
 * The Check pipeline, as labelled phases with a deny reason per phase:
 *   parse -> identify -> understand -> decide -> respond -> audit
 * It fails closed: an exception or a timeout anywhere is a deny, never an allow, and every
 * Check produces exactly one decision record.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Runtime } from '../config/runtime.ts';
import { auditRecord, envoyMetadata, type AuditInput, type AuditRecord } from '../audit/record.ts';
import { parseCheckRequest, type RequestContext } from '../envoy/request-context.ts';
import { allowResponse, denyResponse, type CheckResponse } from '../envoy/response.ts';
import type { Identity } from '../identity/types.ts';
import { apiOfPath, type LlmRequest } from '../llm/index.ts';
import type { Decision } from '../policy/types.ts';
import type { DenyReason } from './reasons.ts';

export interface CheckSinks {
  /** Called once per decision, with the redacted audit record. */
  onDecision(record: AuditRecord): void;
  /** Called for internal failures (already turned into a deny). */
  onError(reason: DenyReason, err: unknown, decisionId: string): void;
}

interface Phases {
  phase: AuditInput['phase'];
  ctx?: RequestContext;
  identity?: Identity;
  llm?: LlmRequest;
  decision?: Decision;
  denyReason?: DenyReason;
  detail?: string;
}

async function runPhases(raw: unknown, rt: Runtime): Promise<Phases> {
  const parsed = parseCheckRequest(raw);
  if (!parsed.ok) return { phase: 'request', denyReason: parsed.reason, detail: parsed.detail };
  const ctx = parsed.value;

  const who = await rt.identify(ctx);
  if (!who.ok) return { phase: 'identity', ctx, denyReason: who.reason, detail: who.detail };
  const identity = who.value;

  const what = rt.understand(ctx);
  if (!what.ok) return { phase: 'llm', ctx, identity, denyReason: what.reason, detail: what.detail };
  const llm = what.value;

  const decision = rt.decide({ ctx, identity, llm });
  return { phase: 'policy', ctx, identity, llm, decision };
}

function finish(decisionId: string, started: number, p: Phases, rt: Runtime, sinks: CheckSinks): CheckResponse {
  const d = p.decision;
  const effect = d?.effect === 'allow' && d.obligations !== undefined ? 'allow' : 'deny';
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
    provider: d?.obligations?.provider.name,
    shadow: d?.shadow,
    durationMs: performance.now() - started,
  });
  sinks.onDecision(record);
  const metadata = envoyMetadata(record);
  if (effect === 'allow' && d?.obligations) {
    return allowResponse({ decisionId, routingHeader: rt.routingHeader, obligations: d.obligations, metadata });
  }
  return denyResponse({
    decisionId,
    reason: reason === 'allowed' ? 'internal_error' : reason,
    detail: p.detail ?? d?.detail,
    api: p.llm?.api ?? (p.ctx ? apiOfPath(p.ctx.path) : undefined),
    metadata,
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
export function createCheck(getRuntime: () => Runtime, sinks: CheckSinks): Check {
  return async (raw, _meta) => {
    const started = performance.now();
    const decisionId = randomUUID();
    const rt = getRuntime();
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<Phases>((resolve) => {
        timer = setTimeout(() => resolve({ phase: 'internal', denyReason: 'timeout' }), rt.config.server.check_timeout_ms);
      });
      const phases = await Promise.race([runPhases(raw, rt), timeout]);
      return finish(decisionId, started, phases, rt, sinks);
    } catch (err) {
      sinks.onError('internal_error', err, decisionId);
      try {
        return finish(decisionId, started, { phase: 'internal', denyReason: 'internal_error' }, rt, sinks);
      } catch {
        // Even the deny could not be built: a minimal deny without metadata.
        return denyResponse({ decisionId, reason: 'internal_error', detail: undefined, api: undefined, metadata: {} });
      }
    } finally {
      clearTimeout(timer);
    }
  };
}
