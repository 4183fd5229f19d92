/**
 * The findings of an access review, each with the rows behind it. A finding is about an
 * entitlement (an API key or an `identity.entitlements` rule) or a caller without one:
 *
 * | code | fires for |
 * |---|---|
 * | `never_used` | an active entitlement without an allowed request in the window |
 * | `unused` | an active entitlement whose last allowed request is older than `unusedForMs` |
 * | `review_overdue` | an active entitlement whose `review_by` has passed |
 * | `expiring_soon` | an active key whose `expires_at` is within `expiringWithinMs` |
 * | `presented_after_end` | a row with denies for an expired or revoked key, or a revoked identity, in the window |
 * | `no_owner` | an active entitlement without an owner |
 * | `scope_broader_than_use` | an active entitlement used in the window, with a granted model, provider or tool that no allowed request used |
 * | `no_entitlement_record` | a caller identified in the window that no entitlement names (a JWT subject allowed by a broad policy, an API key id no longer configured) |
 *
 * "Active": not revoked, not expired, its identity not on the revocation list (an inactive
 * entitlement cannot be used, so it is not reported unused or unowned).
 */
import { globMatch } from '../core/glob.ts';

export const FINDING_CODES = [
  'never_used',
  'unused',
  'review_overdue',
  'expiring_soon',
  'presented_after_end',
  'no_owner',
  'scope_broader_than_use',
  'no_entitlement_record',
] as const;
export type FindingCode = (typeof FINDING_CODES)[number];

export interface Thresholds {
  readonly unusedForMs: number;
  readonly expiringWithinMs: number;
}

export function findingTitle(code: FindingCode, t: Thresholds): string {
  const days = (ms: number): string => (ms % 86_400_000 === 0 ? `${ms / 86_400_000} days` : `${Math.round(ms / 1000)} s`);
  switch (code) {
    case 'never_used':
      return 'Never used';
    case 'unused':
      return `Unused for ${days(t.unusedForMs)}`;
    case 'review_overdue':
      return 'Review overdue';
    case 'expiring_soon':
      return `Expiring within ${days(t.expiringWithinMs)}`;
    case 'presented_after_end':
      return 'Expired or revoked but still presented';
    case 'no_owner':
      return 'No owner';
    case 'scope_broader_than_use':
      return 'Scope broader than use';
    case 'no_entitlement_record':
      return 'No entitlement record';
  }
}

/** What the findings read of a row. */
export interface FindingInput {
  readonly recorded: boolean;
  readonly kind: 'api_key' | 'rule' | 'caller';
  readonly active: boolean;
  readonly owner: string | undefined;
  readonly reviewByMs: number | undefined;
  readonly expiresAtMs: number | undefined;
  readonly allowed: number;
  readonly seen: number;
  readonly lastAllowedMs: number | undefined;
  readonly presentedAfterEnd: readonly string[];
  readonly granted: { readonly models?: readonly string[] | undefined; readonly providers?: readonly string[] | undefined; readonly tools?: readonly string[] | undefined };
  readonly used: { readonly models: readonly string[]; readonly providers: readonly string[]; readonly tools: readonly string[] };
}

export interface RowFinding {
  readonly code: FindingCode;
  /** A plain sentence about this row (names, dates, counts; never a credential). */
  readonly detail: string;
}

/** `2026-03-01 12:34Z`. */
const iso = (ms: number): string => `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')}Z`;

/** Granted patterns that no used value matches. */
export function unusedGrants(granted: readonly string[] | undefined, used: readonly string[]): string[] {
  if (granted === undefined) return [];
  return granted.filter((g) => !used.some((u) => globMatch(g, u)));
}

export function findingsOf(r: FindingInput, nowMs: number, t: Thresholds): RowFinding[] {
  const out: RowFinding[] = [];
  if (!r.recorded) {
    if (r.seen > 0) out.push({ code: 'no_entitlement_record', detail: `${r.seen} decision(s) in the window; no API key or entitlement rule names this caller` });
  } else if (r.active) {
    if (r.allowed === 0) out.push({ code: 'never_used', detail: 'no allowed request in the window' });
    else if (r.lastAllowedMs !== undefined && r.lastAllowedMs < nowMs - t.unusedForMs) out.push({ code: 'unused', detail: `last used ${iso(r.lastAllowedMs)}` });
    if (r.reviewByMs !== undefined && r.reviewByMs <= nowMs) out.push({ code: 'review_overdue', detail: `review was due ${iso(r.reviewByMs)}` });
    if (r.expiresAtMs !== undefined && r.expiresAtMs > nowMs && r.expiresAtMs <= nowMs + t.expiringWithinMs)
      out.push({ code: 'expiring_soon', detail: `expires ${iso(r.expiresAtMs)}` });
    if (r.owner === undefined) out.push({ code: 'no_owner', detail: 'no owner recorded' });
    if (r.allowed > 0) {
      const parts: string[] = [];
      const models = unusedGrants(r.granted.models, r.used.models);
      const providers = unusedGrants(r.granted.providers, r.used.providers);
      const tools = unusedGrants(r.granted.tools, r.used.tools);
      if (models.length > 0) parts.push(`models never used: ${models.join(', ')}`);
      if (providers.length > 0) parts.push(`providers never used: ${providers.join(', ')}`);
      if (tools.length > 0) parts.push(`tools never offered: ${tools.join(', ')}`);
      if (parts.length > 0) out.push({ code: 'scope_broader_than_use', detail: parts.join('; ') });
    }
  }
  if (r.presentedAfterEnd.length > 0) out.push({ code: 'presented_after_end', detail: `presented after its end by ${r.presentedAfterEnd.join(', ')}` });
  return out;
}
