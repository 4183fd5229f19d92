/** Plain-text cells shared by the report renderers (the same words in every format). */
import type { ReportRow } from './report.ts';

/** `2026-03-01T12:34:56.789Z` -> `2026-03-01 12:34Z`; '' stays ''. */
export function shortTime(iso: string): string {
  return iso === '' ? '' : `${iso.slice(0, 10)} ${iso.slice(11, 16)}Z`;
}

export function list(v: readonly string[]): string {
  return v.length === 0 ? '—' : v.join(', ');
}

/** Granted entries, or `any` when the entitlement does not restrict them. */
export function granted(v: readonly string[] | null): string {
  return v === null ? 'any' : list(v);
}

export function deniedBy(r: ReportRow): string {
  const parts = Object.entries(r.deniedBy).map(([reason, n]) => `${reason} ${n}`);
  return parts.length === 0 ? '' : parts.join(', ');
}

export function stateText(s: ReportRow['state']): string {
  return s === 'revoked_identity' ? 'revoked (identity)' : s === 'no_record' ? 'no record' : s;
}

export function kindText(k: ReportRow['kind']): string {
  return k === 'api_key' ? 'API key' : k === 'rule' ? 'rule' : 'caller';
}

/** The columns of the entitlement table, in every format: header and cell text. */
export const ROW_COLUMNS: readonly { readonly header: string; readonly numeric?: boolean; readonly cell: (r: ReportRow) => string | number }[] = [
  { header: 'identity', cell: (r) => r.label },
  { header: 'kind', cell: (r) => kindText(r.kind) },
  { header: 'method', cell: (r) => r.method },
  { header: 'workload', cell: (r) => r.workload },
  { header: 'agent', cell: (r) => r.agent },
  { header: 'owner', cell: (r) => r.owner },
  { header: 'approved by', cell: (r) => r.approvedBy },
  { header: 'approved at', cell: (r) => shortTime(r.approvedAt) },
  { header: 'review by', cell: (r) => shortTime(r.reviewBy) },
  { header: 'created', cell: (r) => shortTime(r.createdAt) },
  { header: 'expires', cell: (r) => shortTime(r.expiresAt) },
  { header: 'state', cell: (r) => stateText(r.state) },
  { header: 'last used', cell: (r) => shortTime(r.lastUsed) },
  { header: 'allowed', numeric: true, cell: (r) => r.allowed },
  { header: 'denied', numeric: true, cell: (r) => r.denied },
  { header: 'denied by reason', cell: (r) => deniedBy(r) },
  { header: 'models used', cell: (r) => list(r.modelsUsed) },
  { header: 'models granted', cell: (r) => granted(r.modelsGranted) },
  { header: 'providers used', cell: (r) => list(r.providersUsed) },
  { header: 'providers granted', cell: (r) => granted(r.providersGranted) },
  { header: 'input tokens', numeric: true, cell: (r) => r.inputTokens },
  { header: 'output tokens', numeric: true, cell: (r) => r.outputTokens },
  { header: 'tools offered', cell: (r) => list(r.toolsOffered) },
  { header: 'tools granted', cell: (r) => granted(r.toolsGranted) },
  { header: 'tools called', cell: (r) => list(r.toolsCalled) },
  { header: 'callers', cell: (r) => list(r.callers) },
  { header: 'findings', cell: (r) => r.findings.join(', ') },
];

export function durationText(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${Math.round(ms / 1000)}s`;
}
