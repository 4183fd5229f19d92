/**
 * The `quotas:` config section: where the counters live, what a store failure does, and the
 * quota rules (a subject, an optional match, and limits on requests, tokens and concurrent
 * requests per window). Quotas are operational settings, like providers and credentials: they
 * live in the config file; policies read the remaining budget as `quota.*`.
 */
import { z } from 'zod';
import { WIRE_APIS } from '../apis/index.ts';

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `500ms`, `30s`, `1m`, `1h`, `1d`: milliseconds, or undefined when the text is not a duration. */
export function parseWindow(text: string): number | undefined {
  const m = /^(\d{1,9})(ms|s|m|h|d)$/.exec(text);
  if (!m?.[1] || !m[2]) return undefined;
  const unit = UNITS[m[2]];
  return unit === undefined ? undefined : Number(m[1]) * unit;
}

/** Windows from one second to 31 days (a key lives as long as its window). */
const MIN_WINDOW_MS = 1000;
const MAX_WINDOW_MS = 31 * 86_400_000;

const duration = z.string().transform((v, ctx) => {
  const ms = parseWindow(v);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `'${v}' is not a duration (a whole number and a unit: ms, s, m, h or d, e.g. 1m)` });
    return z.NEVER;
  }
  if (ms < MIN_WINDOW_MS || ms > MAX_WINDOW_MS) {
    ctx.addIssue({ code: 'custom', message: `'${v}' is outside 1s..31d` });
    return z.NEVER;
  }
  return ms;
});

const limit = z.int().min(0, 'a limit cannot be negative').max(Number.MAX_SAFE_INTEGER);

/** The identity fields a quota can count by; `{cel: EXPR}` builds the key from the request. */
export const SUBJECT_FIELDS = ['workload', 'agent', 'user', 'credential_id'] as const;
export type SubjectField = (typeof SUBJECT_FIELDS)[number];

const quotaRuleSchema = z
  .strictObject({
    /** Names the quota in deny details, audit records, metrics and `quota['NAME']`. */
    name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'expected 1-64 letters, digits, `_`, `.` or `-`'),
    /** Whom the counters belong to: an identity field, or a CEL expression giving the key (a string). */
    subject: z.union([z.enum(SUBJECT_FIELDS), z.strictObject({ cel: z.string().min(1).max(4096) })]),
    /** Which requests count (all when absent): model and provider globs, wire APIs. */
    match: z
      .strictObject({
        models: z.array(z.string().min(1)).min(1).max(256).optional(),
        providers: z.array(z.string().min(1)).min(1).max(256).optional(),
        apis: z.array(z.enum(WIRE_APIS)).min(1).optional(),
      })
      .optional(),
    /** Requests per window, counted at Check time. */
    requests: z.strictObject({ limit, window: duration }).optional(),
    /** Tokens per window, charged from the outcome record when the response ends. */
    tokens: z
      .strictObject({
        limit,
        window: duration,
        /** Which reported tokens count: input, output, or both (`total`). */
        count: z.enum(['total', 'input', 'output']).default('total'),
      })
      .optional(),
    /** Requests in flight at once (from the allow to the response's end). */
    concurrent: z
      .strictObject({
        limit,
        /** A request whose end is never seen (its outcome record lost) stops counting after this long. */
        lease: duration.prefault('10m'),
      })
      .optional(),
  })
  .refine((r) => r.requests !== undefined || r.tokens !== undefined || r.concurrent !== undefined, {
    message: 'a quota needs at least one of requests, tokens, concurrent',
  });

export type QuotaRuleConfig = z.infer<typeof quotaRuleSchema>;

export const quotasSchema = z
  .strictObject({
    /** `memory` (one replica; the default) or `redis` (counters shared by every replica). */
    store: z
      .strictObject({
        type: z.enum(['memory', 'redis']).default('memory'),
        /** redis://[user:password@]host:port[/db] (rediss:// for TLS); never logged. */
        url: z
          .string()
          .regex(/^rediss?:\/\//, 'expected a redis:// or rediss:// URL')
          .optional(),
        /** Longest wait for the store in a Check; past it the store counts as failed. */
        timeout_ms: z.int().min(1).max(5000).default(50),
        /** Prefix of every key llm-authz writes. */
        key_prefix: z.string().max(128).default('llm-authz:quota:'),
      })
      .refine((s) => s.type !== 'redis' || s.url !== undefined, { message: 'a redis store needs a url', path: ['url'] })
      .prefault({}),
    /** The store failed or timed out: `deny` (fail closed, the default) or `allow` (the quotas are skipped). */
    on_store_error: z.enum(['deny', 'allow']).default('deny'),
    rules: z.array(quotaRuleSchema).max(256).default([]),
  })
  .optional();

export type QuotasConfig = NonNullable<z.infer<typeof quotasSchema>>;
