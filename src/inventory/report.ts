/**
 * The report model: one row per entitlement and per caller without one, the findings (each
 * naming its row), the requests-over-time series, and what was read (files, lines, malformed
 * lines, unknown fields). Every renderer (Markdown, JSON, CSV, HTML) writes this model only;
 * it holds names, dates and counts, never a credential, a prompt or a tool argument.
 */
import type { Aggregator, Usage } from './aggregate.ts';
import type { EntitlementEntry, Entitlements } from './entitlements.ts';
import { findingsOf, findingTitle, type FindingCode, type Thresholds } from './findings.ts';
import type { FileStats } from './log-reader.ts';

export interface FileReport extends FileStats {
  decisions: number;
  outcomes: number;
  malformed: number;
  beforeWindow: number;
  afterUntil: number;
  /** Line numbers of the first malformed lines. */
  malformedAt: number[];
}

export interface ReadTotals {
  readonly files: readonly FileReport[];
  /** Inputs that could not be listed (missing path ...). */
  readonly missing: readonly { readonly path: string; readonly error: string }[];
  readonly lines: number;
  readonly decisions: number;
  readonly outcomes: number;
  readonly malformed: Readonly<Record<string, number>>;
  readonly oversized: number;
  readonly beforeWindow: number;
  readonly afterUntil: number;
  /** Fields of a known name with a value of the wrong type (dropped). */
  readonly invalidFields: number;
  readonly unknownFields: Readonly<Record<string, number>>;
  /** Unknown fields whose names are not shown (not attribute-like, or beyond the list). */
  readonly otherUnknownFields: number;
  readonly truncatedFiles: number;
  readonly unreadableFiles: number;
  readonly elapsedMs: number;
}

export type RowState = 'active' | 'expired' | 'revoked' | 'revoked_identity' | 'no_record';

export interface ReportRow {
  readonly key: string;
  readonly kind: 'api_key' | 'rule' | 'caller';
  /** The key id, the rule id, or '' for a caller without a record. */
  readonly id: string;
  /** A short name for tables and the chart. */
  readonly label: string;
  readonly recorded: boolean;
  readonly method: string;
  readonly workload: string;
  readonly agent: string;
  readonly issuer: string;
  readonly owner: string;
  readonly approvedBy: string;
  readonly approvedAt: string;
  readonly reviewBy: string;
  readonly createdAt: string;
  readonly expiresAt: string;
  readonly state: RowState;
  readonly lastUsed: string;
  readonly lastSeen: string;
  readonly allowed: number;
  readonly denied: number;
  readonly deniedBy: Readonly<Record<string, number>>;
  /** Granted lists; null: not restricted by the entitlement ("any"). */
  readonly modelsGranted: readonly string[] | null;
  readonly modelsUsed: readonly string[];
  readonly providersGranted: readonly string[] | null;
  readonly providersUsed: readonly string[];
  readonly toolsGranted: readonly string[] | null;
  readonly toolsOffered: readonly string[];
  readonly toolsCalled: readonly string[];
  readonly maxTokens: number | null;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly outcomes: number;
  readonly callers: readonly string[];
  readonly findings: readonly FindingCode[];
}

export interface ReportFinding {
  readonly code: FindingCode;
  readonly title: string;
  readonly row: string;
  readonly label: string;
  readonly owner: string;
  readonly detail: string;
}

export interface Series {
  readonly startMs: number;
  readonly bucketMs: number;
  readonly rows: readonly { readonly key: string; readonly label: string; readonly counts: readonly number[] }[];
}

export interface Report {
  readonly generatedAt: string;
  readonly window: { readonly since: string; readonly until: string };
  readonly config: string;
  readonly thresholds: { readonly unusedForMs: number; readonly expiringWithinMs: number };
  readonly findings: readonly ReportFinding[];
  readonly rows: readonly ReportRow[];
  readonly series: Series;
  readonly input: ReadTotals;
  readonly unattributed: {
    readonly byReason: Readonly<Record<string, number>>;
    readonly unjoinedOutcomes: number;
    readonly overflowCallerDecisions: number;
  };
}

const iso = (ms: number | undefined): string => (ms === undefined ? '' : new Date(ms).toISOString());
const ms = (s: string | undefined): number | undefined => (s === undefined ? undefined : Date.parse(s));

function stateOf(e: EntitlementEntry, ents: Entitlements, nowMs: number): RowState {
  if (e.revoked) return 'revoked';
  const exp = ms(e.expiresAt);
  if (exp !== undefined && exp <= nowMs) return 'expired';
  if (e.kind === 'api_key' && e.workload !== undefined) {
    const who = {
      method: 'api_key' as const,
      workload: e.workload,
      agent: e.agent,
      user: undefined,
      issuer: undefined,
      credentialId: e.id,
      scopes: { models: undefined, providers: undefined },
    };
    if (ents.revoked.match(who, '') !== undefined) return 'revoked_identity';
  }
  return 'active';
}

function counts(c: { counts: ReadonlyMap<string, number> }): Record<string, number> {
  return Object.fromEntries([...c.counts.entries()].sort(([a], [b]) => a.localeCompare(b)));
}

function labelOf(kind: ReportRow['kind'], id: string, workload: string, agent: string, method: string, issuer: string): string {
  if (kind === 'api_key') return `key ${id} (${workload}${agent ? `, agent ${agent}` : ''})`;
  if (kind === 'rule') return `rule ${id}`;
  const extra = [agent ? `agent ${agent}` : '', issuer && method !== 'spiffe' ? `issuer ${issuer}` : ''].filter((x) => x !== '');
  return `${method} ${workload}${extra.length > 0 ? ` (${extra.join(', ')})` : ''}`;
}

function presented(u: Usage | undefined): string[] {
  if (u === undefined) return [];
  return [...u.presentedAfterEnd.counts.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([who, n]) => `${who} (${n}×)`);
}

/** The counted buckets merged into at most CHART_BUCKETS, over the part of the window with requests. */
const CHART_BUCKETS = 60;
function chartSeries(startMs: number, bucketMs: number, rows: readonly { key: string; label: string; counts: Uint32Array }[]): Series {
  let first = Number.POSITIVE_INFINITY;
  let last = -1;
  for (const r of rows) {
    const f = r.counts.findIndex((n) => n > 0);
    const l = r.counts.findLastIndex((n) => n > 0);
    if (f !== -1 && f < first) first = f;
    if (l > last) last = l;
  }
  if (last === -1) return { startMs, bucketMs, rows: [] };
  const factor = Math.ceil((last - first + 1) / CHART_BUCKETS);
  const n = Math.ceil((last - first + 1) / factor);
  return {
    startMs: startMs + first * bucketMs,
    bucketMs: bucketMs * factor,
    rows: rows.map((r) => {
      const counts = new Array<number>(n).fill(0);
      for (let i = first; i <= last; i++) {
        const j = Math.floor((i - first) / factor);
        counts[j] = (counts[j] ?? 0) + (r.counts[i] ?? 0);
      }
      return { key: r.key, label: r.label, counts };
    }),
  };
}

export function buildReport(ents: Entitlements, agg: Aggregator, input: ReadTotals, nowMs: number, t: Thresholds): Report {
  const rows: ReportRow[] = [];
  const findings: ReportFinding[] = [];
  const add = (base: Omit<ReportRow, 'findings' | 'label'>, f: ReturnType<typeof findingsOf>): void => {
    const label = labelOf(base.kind, base.id, base.workload, base.agent, base.method, base.issuer);
    rows.push({ ...base, label, findings: f.map((x) => x.code) });
    for (const x of f) findings.push({ code: x.code, title: findingTitle(x.code, t), row: base.key, label, owner: base.owner, detail: x.detail });
  };
  const usageRow = (u: Usage | undefined) => ({
    lastUsed: iso(u?.lastAllowedMs),
    lastSeen: iso(u?.lastSeenMs),
    allowed: u?.allowed ?? 0,
    denied: u?.denied ?? 0,
    deniedBy: u ? counts(u.deniedBy) : {},
    modelsUsed: u?.models.keys() ?? [],
    providersUsed: u?.providers.keys() ?? [],
    toolsOffered: u?.toolsOffered.keys() ?? [],
    toolsCalled: u?.toolsCalled.keys() ?? [],
    inputTokens: u?.inputTokens ?? 0,
    outputTokens: u?.outputTokens ?? 0,
    outcomes: u?.outcomes ?? 0,
    callers: u?.callers.keys() ?? [],
  });

  for (const e of ents.entries) {
    const u = agg.usage.get(e.key);
    const state = stateOf(e, ents, nowMs);
    const used = usageRow(u);
    const base = {
      key: e.key,
      kind: e.kind,
      id: e.id,
      recorded: true,
      method: e.method ?? '',
      workload: e.workload ?? '',
      agent: e.agent ?? '',
      issuer: e.issuer ?? '',
      owner: e.owner ?? '',
      approvedBy: e.approvedBy ?? '',
      approvedAt: e.approvedAt ?? '',
      reviewBy: e.reviewBy ?? '',
      createdAt: e.createdAt ?? '',
      expiresAt: e.expiresAt ?? '',
      state,
      ...used,
      modelsGranted: e.grants.models ?? null,
      providersGranted: e.grants.providers ?? null,
      toolsGranted: e.grants.tools ?? null,
      maxTokens: e.grants.maxTokens ?? null,
    };
    const f = findingsOf(
      {
        recorded: true,
        kind: e.kind,
        active: state === 'active',
        owner: e.owner,
        reviewByMs: ms(e.reviewBy),
        expiresAtMs: ms(e.expiresAt),
        allowed: used.allowed,
        seen: used.allowed + used.denied,
        lastAllowedMs: u?.lastAllowedMs,
        presentedAfterEnd: presented(u),
        granted: e.grants,
        used: { models: used.modelsUsed, providers: used.providersUsed, tools: used.toolsOffered },
      },
      nowMs,
      t,
    );
    add(base, f);
  }

  const unrecorded = (
    key: string,
    kind: 'api_key' | 'caller',
    id: string,
    who: { method: string; workload: string; agent: string | undefined; issuer: string | undefined },
  ): void => {
    const u = agg.usage.get(key);
    const used = usageRow(u);
    const base = {
      key,
      kind,
      id,
      recorded: false,
      method: who.method,
      workload: who.workload,
      agent: who.agent ?? '',
      issuer: who.issuer ?? '',
      owner: '',
      approvedBy: '',
      approvedAt: '',
      reviewBy: '',
      createdAt: '',
      expiresAt: '',
      state: 'no_record' as const,
      ...used,
      modelsGranted: null,
      providersGranted: null,
      toolsGranted: null,
      maxTokens: null,
    };
    const f = findingsOf(
      {
        recorded: false,
        kind,
        active: true,
        owner: undefined,
        reviewByMs: undefined,
        expiresAtMs: undefined,
        allowed: used.allowed,
        seen: used.allowed + used.denied,
        lastAllowedMs: u?.lastAllowedMs,
        presentedAfterEnd: presented(u),
        granted: {},
        used: { models: used.modelsUsed, providers: used.providersUsed, tools: used.toolsOffered },
      },
      nowMs,
      t,
    );
    add(base, f);
  };
  for (const [key, id] of agg.unknownKeys) unrecorded(key, 'api_key', id.credentialId ?? '', id);
  for (const c of agg.callers.values()) unrecorded(c.key, 'caller', '', c.identity);

  const order = new Map(
    ['never_used', 'unused', 'review_overdue', 'expiring_soon', 'presented_after_end', 'no_owner', 'scope_broader_than_use', 'no_entitlement_record'].map((c, i) => [c, i]),
  );
  findings.sort((a, b) => (order.get(a.code) ?? 0) - (order.get(b.code) ?? 0) || a.label.localeCompare(b.label));

  const w = agg.window;
  const series = chartSeries(
    w.startMs,
    w.bucketMs,
    rows.flatMap((r) => {
      const c = agg.usage.get(r.key)?.series;
      return c?.some((n) => n > 0) ? [{ key: r.key, label: r.label, counts: c }] : [];
    }),
  );
  return {
    generatedAt: iso(nowMs),
    window: { since: iso(w.startMs), until: iso(w.endMs) },
    config: ents.configFile,
    thresholds: { unusedForMs: t.unusedForMs, expiringWithinMs: t.expiringWithinMs },
    findings,
    rows,
    series,
    input,
    unattributed: {
      byReason: counts(agg.unattributed.byReason),
      unjoinedOutcomes: agg.unattributed.unjoinedOutcomes,
      overflowCallerDecisions: agg.unattributed.overflowCallerDecisions,
    },
  };
}
