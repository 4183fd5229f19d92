/**
 * The quota runtime: built once from the `quotas:` section, used per Check (take) and per
 * response end (settle).
 *   check:   the rules that apply -> one store take (every limit checked, counted only if all
 *            pass) -> pass with what is left, exceeded (which quota, retry-after), or a store error
 *   settle:  the outcome path, when a response ends: tokens charged, leases released
 *   release: a request the quotas passed but a later phase denied gives back its leases (and so
 *            does a take that failed: a timed-out one may still have run on Redis)
 * The quotas a request took travel to the outcome path in the ext_authz metadata (`quota`), so
 * any replica can settle them.
 */
import { countQuotaStoreError } from '../telemetry/metrics.ts';
import type { QuotaRemaining } from '../policy/vars.ts';
import { createMemoryStore } from './memory-store.ts';
import { createRedisStore } from './redis-store.ts';
import { compileQuota, subjectKeyPart, type CompiledQuota, type CompileProblem, type QuotaInput } from './rules.ts';
import type { QuotasConfig } from './schema.ts';
import type { LimitOp, QuotaStore, TokenCharge } from './store.ts';
import { secondsLeft, windowAt } from './window.ts';

export type LimitKind = 'requests' | 'tokens' | 'concurrent';

export interface AppliedQuota {
  readonly name: string;
  /** What is left after this request; empty when the store failed. */
  readonly remaining: QuotaRemaining;
}

export type QuotaCheck =
  /** No quota applies, or all passed (and were counted). `carry`: the metadata the outcome path settles from. */
  | { readonly kind: 'pass'; readonly applied: readonly AppliedQuota[]; readonly carry: string | undefined; readonly leases: readonly string[] }
  | {
      readonly kind: 'exceeded';
      readonly applied: readonly AppliedQuota[];
      readonly quota: string;
      readonly limit: LimitKind;
      readonly retryAfterS: number;
      readonly detail: string;
    }
  /** A CEL subject key failed to evaluate: fail closed. */
  | { readonly kind: 'subject_error'; readonly applied: readonly AppliedQuota[]; readonly quota: string }
  /** The store failed or timed out; `behaviour` is `on_store_error`. */
  | { readonly kind: 'store_error'; readonly applied: readonly AppliedQuota[]; readonly behaviour: 'deny' | 'allow' };

export interface TokenUsage {
  readonly input: number | undefined;
  readonly output: number | undefined;
}

export interface Quotas {
  readonly rules: readonly CompiledQuota[];
  readonly onStoreError: 'deny' | 'allow';
  check(input: QuotaInput, member: string): Promise<QuotaCheck>;
  /** Charges a finished response's tokens and releases its leases (`carry` from the decision's metadata). */
  settle(carry: string, member: string, usage: TokenUsage): Promise<void>;
  /** Gives back the leases of a request that passed the quotas and was then denied. */
  release(leases: readonly string[], member: string): void;
  warm(): Promise<boolean>;
  close(): Promise<void>;
}

export interface QuotaOptions {
  /** The clock windows are computed from (ms since the epoch); unit tests inject one. */
  readonly now?: (() => number) | undefined;
  /** Replaces the configured store (tests, the benchmark). */
  readonly store?: QuotaStore | undefined;
  readonly onConnectionError?: ((err: Error) => void) | undefined;
}

/** Checks the rules (CEL subject keys) without building a store: for the config loader's positions. */
export function quotaProblems(cfg: QuotasConfig | undefined): CompileProblem[] {
  const problems: CompileProblem[] = [];
  const names = new Set<string>();
  cfg?.rules.forEach((r, i) => {
    if (names.has(r.name)) problems.push({ path: ['quotas', 'rules', i, 'name'], message: `duplicate quota '${r.name}'` });
    names.add(r.name);
    compileQuota(r, i, problems);
  });
  return problems;
}

const MAX_CARRY = 16_384;

function describeLimit(q: CompiledQuota, limit: LimitKind): string {
  const per = (ms: number): string => (ms % 3_600_000 === 0 ? `${ms / 3_600_000}h` : ms % 60_000 === 0 ? `${ms / 60_000}m` : `${ms / 1000}s`);
  if (limit === 'requests' && q.requests) return `${q.requests.limit} requests per ${per(q.requests.windowMs)}`;
  if (limit === 'tokens' && q.tokens) return `${q.tokens.limit} ${q.tokens.count === 'total' ? '' : `${q.tokens.count} `}tokens per ${per(q.tokens.windowMs)}`;
  if (q.concurrent) return `${q.concurrent.limit} concurrent requests`;
  return limit;
}

export function buildQuotas(cfg: QuotasConfig, opts: QuotaOptions = {}): Quotas {
  const problems: CompileProblem[] = [];
  const rules = cfg.rules.flatMap((r, i) => compileQuota(r, i, problems) ?? []);
  if (problems.length > 0) throw new Error(problems.map((p) => p.message).join('; '));
  const byName = new Map(rules.map((r) => [r.name, r]));
  const now = opts.now ?? Date.now;
  const prefix = cfg.store.key_prefix;
  const store =
    opts.store ??
    (cfg.store.type === 'redis' && cfg.store.url !== undefined
      ? createRedisStore({ url: cfg.store.url, timeoutMs: cfg.store.timeout_ms, onConnectionError: opts.onConnectionError })
      : createMemoryStore());
  const key = (q: CompiledQuota, subject: string, suffix: string): string => `${prefix}${q.name}:${subjectKeyPart(subject)}:${suffix}`;
  const tokenKey = (q: CompiledQuota, subject: string, start: number): string => key(q, subject, `t:${start}`);
  const leaseKey = (q: CompiledQuota, subject: string): string => key(q, subject, 'c');

  return {
    rules,
    onStoreError: cfg.on_store_error,
    async check(input, member) {
      const t = now();
      const ops: LimitOp[] = [];
      /** Per op: the rule and the limit it stands for. */
      const of: { q: CompiledQuota; limit: LimitKind; end: number }[] = [];
      const applying: { q: CompiledQuota; subject: string }[] = [];
      /** The concurrency leases the take adds for this request (released if it fails, carried if it passes). */
      const leases: string[] = [];
      for (const q of rules) {
        if (!q.applies(input.llm)) continue;
        const subject = q.subject(input, t);
        if (subject === undefined) return { kind: 'subject_error', applied: applying.map((a) => ({ name: a.q.name, remaining: {} })), quota: q.name };
        if (subject === '') continue;
        applying.push({ q, subject });
        if (q.requests) {
          const w = windowAt(t, q.requests.windowMs);
          ops.push({ kind: 'requests', key: key(q, subject, `r:${w.start}`), limit: q.requests.limit, expireAt: w.end });
          of.push({ q, limit: 'requests', end: w.end });
        }
        if (q.tokens) {
          const w = windowAt(t, q.tokens.windowMs);
          ops.push({ kind: 'tokens', key: tokenKey(q, subject, w.start), limit: q.tokens.limit });
          of.push({ q, limit: 'tokens', end: w.end });
        }
        if (q.concurrent) {
          const lease = leaseKey(q, subject);
          leases.push(lease);
          ops.push({ kind: 'concurrent', key: lease, limit: q.concurrent.limit, leaseMs: q.concurrent.leaseMs });
          of.push({ q, limit: 'concurrent', end: t + 1000 });
        }
      }
      if (ops.length === 0) return { kind: 'pass', applied: [], carry: undefined, leases: [] };
      let result: Awaited<ReturnType<QuotaStore['take']>>;
      try {
        result = await store.take(ops, member, t);
      } catch {
        countQuotaStoreError(cfg.on_store_error, 'take');
        // A take that timed out can still run on a Redis that was only slow. Its leases are this
        // request's alone (the member is the decision id), so giving them back is right either
        // way: nothing happens if it did not run; sent after it on the same connection, it runs
        // after it if it did. Its request count, if it ran, stays (as for any request that passed
        // the quotas and was then denied). Its failure is not counted again: with the store down,
        // both fail at once, and the take's failure is counted.
        if (leases.length > 0) store.settle([], leases, member, t).catch(() => undefined);
        return { kind: 'store_error', applied: applying.map((a) => ({ name: a.q.name, remaining: {} })), behaviour: cfg.on_store_error };
      }
      const remaining = new Map<string, { -readonly [K in keyof QuotaRemaining]: QuotaRemaining[K] }>();
      for (const a of applying) remaining.set(a.q.name, {});
      ops.forEach((op, i) => {
        const r = remaining.get(of[i]?.q.name ?? '');
        const used = result.used[i] ?? 0;
        if (r !== undefined) r[op.kind] = Math.max(0, op.limit - used);
      });
      const applied = applying.map((a) => ({ name: a.q.name, remaining: remaining.get(a.q.name) ?? {} }));
      if (result.failed >= 0) {
        const f = of[result.failed];
        if (f === undefined) throw new Error('the quota store named a limit that was not asked for');
        return {
          kind: 'exceeded',
          applied,
          quota: f.q.name,
          limit: f.limit,
          retryAfterS: secondsLeft(t, f.end),
          detail: `quota '${f.q.name}' (${describeLimit(f.q, f.limit)}) is used up`,
        };
      }
      const settled = applying.filter((a) => a.q.tokens !== undefined || a.q.concurrent !== undefined).map((a) => [a.q.name, a.subject]);
      const carry = settled.length === 0 ? undefined : JSON.stringify(settled);
      return { kind: 'pass', applied, carry: carry !== undefined && carry.length <= MAX_CARRY ? carry : undefined, leases };
    },
    async settle(carry, member, usage) {
      if (carry.length > MAX_CARRY) return;
      const parsed: unknown = JSON.parse(carry);
      if (!Array.isArray(parsed)) return;
      const t = now();
      const charges: TokenCharge[] = [];
      const leases: string[] = [];
      for (const e of parsed) {
        if (!Array.isArray(e) || typeof e[0] !== 'string' || typeof e[1] !== 'string') continue;
        // The quota as configured now (a rule removed since the allow is not charged).
        const q = byName.get(e[0]);
        if (q === undefined) continue;
        const subject = e[1];
        if (q.tokens) {
          const i = usage.input ?? 0;
          const o = usage.output ?? 0;
          const amount = q.tokens.count === 'input' ? i : q.tokens.count === 'output' ? o : i + o;
          const w = windowAt(t, q.tokens.windowMs);
          if (amount > 0) charges.push({ key: tokenKey(q, subject, w.start), amount, expireAt: w.end });
        }
        if (q.concurrent) leases.push(leaseKey(q, subject));
      }
      try {
        await store.settle(charges, leases, member, t);
      } catch (err) {
        countQuotaStoreError(cfg.on_store_error, 'settle');
        throw err;
      }
    },
    release(leases, member) {
      if (leases.length === 0) return;
      store.settle([], leases, member, now()).catch(() => countQuotaStoreError(cfg.on_store_error, 'settle'));
    },
    warm: () => store.warm(),
    close: () => store.close(),
  };
}
