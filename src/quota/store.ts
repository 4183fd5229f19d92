/**
 * The counter store's contract, kept by the embedded in-memory store (one replica) and by the
 * Redis store (counters shared by every replica). One `take` per Check: every limit that applies
 * is checked and, only when all pass, counted, atomically.
 */

/** One limit of one quota for one subject, as the store sees it. */
export type LimitOp =
  /** Requests in the window: passes when used + 1 <= limit; counted on pass. `expireAt`: the window's end. */
  | { readonly kind: 'requests'; readonly key: string; readonly limit: number; readonly expireAt: number }
  /** Tokens in the window: passes while used < limit (tokens are charged later, when the response ends). */
  | { readonly kind: 'tokens'; readonly key: string; readonly limit: number }
  /** Requests in flight: passes when in-flight + 1 <= limit; on pass the request holds a lease of `leaseMs`. */
  | { readonly kind: 'concurrent'; readonly key: string; readonly limit: number; readonly leaseMs: number };

export interface TakeResult {
  /** Index of the first limit that did not pass; -1 when all passed (and were counted). */
  readonly failed: number;
  /** Per limit: what is used, this request counted when all passed. */
  readonly used: readonly number[];
}

/** Tokens to add to a window's counter. */
export interface TokenCharge {
  readonly key: string;
  readonly amount: number;
  readonly expireAt: number;
}

export interface QuotaStore {
  /** `member` names this request's lease in concurrency counters (the decision id). */
  take(ops: readonly LimitOp[], member: string, nowMs: number): Promise<TakeResult>;
  /** When a response ends: tokens charged, the request's leases released. */
  settle(charges: readonly TokenCharge[], leases: readonly string[], member: string, nowMs: number): Promise<void>;
  /** Connects ahead of the first Check (Redis); resolves false when it could not within its timeout. */
  warm(): Promise<boolean>;
  close(): Promise<void>;
}

/** A store failure (unreachable, timed out, a bad answer): the Check applies `on_store_error`. */
export class QuotaStoreError extends Error {}
