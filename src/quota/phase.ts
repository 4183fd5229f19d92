/**
 * The quota phase's result as the Check pipeline uses it: a deny (which reason, a safe detail)
 * or the remaining budget policies read as `quota`.
 */
import type { DenyReason } from '../core/reasons.ts';
import type { QuotaRemaining } from '../policy/vars.ts';
import type { QuotaCheck } from './quotas.ts';

export type { QuotaCheck } from './quotas.ts';

/** The deny a quota result asks for, or undefined (passed, or the store failed with `on_store_error: allow`). */
export function quotaDeny(q: QuotaCheck): { reason: DenyReason; detail: string } | undefined {
  switch (q.kind) {
    case 'exceeded':
      return { reason: 'quota_exceeded', detail: `${q.detail}; retry in ${q.retryAfterS} s` };
    case 'subject_error':
      return { reason: 'internal_error', detail: `quota '${q.quota}': the subject key did not evaluate to a string` };
    case 'store_error':
      return q.behaviour === 'deny' ? { reason: 'quota_unavailable', detail: 'the quota store failed or timed out (on_store_error: deny)' } : undefined;
    default:
      return undefined;
  }
}

const NONE: ReadonlyMap<string, QuotaRemaining> = new Map();

/** `quota` for the policies: by name, what is left (empty unless the quotas passed). */
export function remainingByName(q: QuotaCheck | undefined): ReadonlyMap<string, QuotaRemaining> {
  if (q === undefined || q.kind !== 'pass' || q.applied.length === 0) return NONE;
  return new Map(q.applied.map((a) => [a.name, a.remaining]));
}
