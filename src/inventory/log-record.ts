/**
 * One decision-log line -> a typed event, reading only the allowlisted fields the inventory
 * needs. Two kinds of line: decision records (no `kind`, or `kind: decision`; the audit record
 * of README "Audit fields") and outcome records (`kind: outcome`: what the model did, joined to
 * the decision by `decision.id`; gen_ai.usage.*, llm.response.tool_calls). Nothing else of a
 * line is kept: an unknown field is counted by name (names only when they look like attribute
 * names), never copied, so a stray prompt or credential in a log cannot reach a report.
 */

/** Fields of a decision record (src/audit/record.ts) and of the log line around it. */
export const DECISION_FIELDS: ReadonlySet<string> = new Set([
  'time',
  'kind',
  'trace_id',
  'span_id',
  'decision.id',
  'decision.effect',
  'decision.reason',
  'decision.status',
  'decision.phase',
  'decision.duration_ms',
  'http.request.method',
  'url.path',
  'http.request.id',
  'client.address',
  'source.principal',
  'identity.method',
  'identity.workload',
  'identity.agent',
  'identity.user',
  'identity.issuer',
  'identity.credential_id',
  'identity.owner',
  'identity.review_overdue',
  'policy.version',
  'policy.rule',
  'policy.matched_rules',
  'policy.shadow.effect',
  'policy.shadow.reason',
  'policy.shadow.rule',
  'policy.shadow.version',
  'policy.shadow.disagrees',
  'gen_ai.provider.name',
  'llm.provider',
  'gen_ai.operation.name',
  'gen_ai.request.model',
  'gen_ai.request.max_tokens',
  'gen_ai.request.temperature',
  'llm.api',
  'llm.stream',
  'llm.tools',
  'llm.tool_choice',
  'llm.end_user',
  'llm.message_count',
  'llm.input_bytes',
  'llm.body_complete',
  'llm.stored_context',
]);

/**
 * Fields of an outcome record (what the model did). Besides these, any `gen_ai.usage.*`,
 * `gen_ai.response.*`, `llm.response.*` and `http.response.*` field is known (an outcome record
 * may report more usage detail than the inventory reads).
 */
export const OUTCOME_FIELDS: ReadonlySet<string> = new Set([
  'gen_ai.usage.input_tokens',
  'gen_ai.usage.output_tokens',
  'gen_ai.response.model',
  'gen_ai.response.finish_reasons',
  'gen_ai.response.id',
  'llm.response.tool_calls',
  'http.response.status_code',
  'error.type',
]);
const OUTCOME_PREFIXES = ['gen_ai.usage.', 'gen_ai.response.', 'llm.response.', 'http.response.', 'outcome.'] as const;

export function knownField(name: string): boolean {
  return DECISION_FIELDS.has(name) || OUTCOME_FIELDS.has(name) || OUTCOME_PREFIXES.some((p) => name.startsWith(p));
}

/** Who a line names. */
export interface LoggedIdentity {
  readonly method: string;
  readonly workload: string;
  readonly agent: string | undefined;
  readonly issuer: string | undefined;
  readonly credentialId: string | undefined;
}

export interface DecisionEvent {
  readonly kind: 'decision';
  readonly timeMs: number;
  readonly decisionId: string;
  readonly effect: 'allow' | 'deny';
  readonly reason: string;
  readonly identity: LoggedIdentity | undefined;
  readonly provider: string | undefined;
  readonly model: string | undefined;
  readonly tools: readonly string[];
}

export interface OutcomeEvent {
  readonly kind: 'outcome';
  readonly timeMs: number;
  readonly decisionId: string;
  /** Outcome records may name the identity themselves; otherwise they are joined by decision id. */
  readonly identity: LoggedIdentity | undefined;
  readonly inputTokens: number | undefined;
  readonly outputTokens: number | undefined;
  readonly toolCalls: readonly string[];
}

export type LogEvent = DecisionEvent | OutcomeEvent;

export type ParseResult =
  | { readonly ok: true; readonly event: LogEvent; readonly unknown: readonly string[]; readonly invalid: number }
  | { readonly ok: false; readonly problem: 'not_json' | 'not_an_object' | 'unknown_kind' | 'missing_field' };

const MAX_STRING = 512;
const MAX_LIST = 64;

type Obj = Record<string, unknown>;

/** Reads optional fields; a field of the wrong type is dropped and counted. */
class Reader {
  invalid = 0;
  private readonly o: Obj;
  constructor(o: Obj) {
    this.o = o;
  }
  str(k: string): string | undefined {
    const v = this.o[k];
    if (v === undefined) return undefined;
    if (typeof v === 'string' && v !== '' && v.length <= MAX_STRING * 2) return v;
    this.invalid++;
    return undefined;
  }
  count(k: string): number | undefined {
    const v = this.o[k];
    if (v === undefined) return undefined;
    if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
    this.invalid++;
    return undefined;
  }
  list(k: string): readonly string[] {
    const v = this.o[k];
    if (v === undefined) return [];
    if (Array.isArray(v) && v.length <= MAX_LIST * 4 && v.every((x) => typeof x === 'string' && x.length <= MAX_STRING)) return v as string[];
    this.invalid++;
    return [];
  }
}

function identityOf(r: Reader): LoggedIdentity | undefined {
  const method = r.str('identity.method');
  const workload = r.str('identity.workload');
  if (method === undefined || workload === undefined) return undefined;
  return { method, workload, agent: r.str('identity.agent'), issuer: r.str('identity.issuer'), credentialId: r.str('identity.credential_id') };
}

export function parseLogLine(line: string): ParseResult {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return { ok: false, problem: 'not_json' };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { ok: false, problem: 'not_an_object' };
  const o = v as Obj;
  const kind = o['kind'] ?? 'decision';
  if (kind !== 'decision' && kind !== 'outcome') return { ok: false, problem: 'unknown_kind' };
  const time = o['time'];
  const timeMs = typeof time === 'string' ? Date.parse(time) : Number.NaN;
  const decisionId = o['decision.id'];
  if (Number.isNaN(timeMs) || typeof decisionId !== 'string' || decisionId === '' || decisionId.length > 128) return { ok: false, problem: 'missing_field' };
  const unknown: string[] = [];
  for (const k in o) if (!knownField(k)) unknown.push(k);
  const r = new Reader(o);
  if (kind === 'outcome') {
    const event: OutcomeEvent = {
      kind: 'outcome',
      timeMs,
      decisionId,
      identity: identityOf(r),
      inputTokens: r.count('gen_ai.usage.input_tokens'),
      outputTokens: r.count('gen_ai.usage.output_tokens'),
      toolCalls: r.list('llm.response.tool_calls'),
    };
    return { ok: true, event, unknown, invalid: r.invalid };
  }
  const effect = o['decision.effect'];
  const reason = o['decision.reason'];
  if ((effect !== 'allow' && effect !== 'deny') || typeof reason !== 'string' || !/^[a-z_]{1,64}$/.test(reason)) return { ok: false, problem: 'missing_field' };
  const event: DecisionEvent = {
    kind: 'decision',
    timeMs,
    decisionId,
    effect,
    reason,
    identity: identityOf(r),
    // The configured provider's name (what key scopes grant); lines written before `llm.provider`
    // existed carried it in gen_ai.provider.name, which now names the provider system.
    provider: r.str('llm.provider') ?? r.str('gen_ai.provider.name'),
    model: r.str('gen_ai.request.model'),
    tools: r.list('llm.tools'),
  };
  return { ok: true, event, unknown, invalid: r.invalid };
}
