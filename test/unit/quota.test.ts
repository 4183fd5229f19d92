/**
 * Quotas: the store contract (the in-memory store and the real Redis, the same cases), windows
 * rolling over on an injected clock, token budgets charged at the response's end, concurrency
 * leases, several quotas that must all pass (and none counted when one fails), matches and
 * subjects, config errors with positions, and the Check pipeline's 429 with the native body.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRequest } from '../../devstack/grpc-client.ts';
import { startRedis, type RedisServer } from '../../devstack/redis.ts';
import type { AuditRecord } from '../../src/audit/record.ts';
import { ConfigError } from '../../src/core/errors.ts';
import { parseConfigText } from '../../src/config/load.ts';
import { createCheck } from '../../src/pipeline/check.ts';
import type { Runtime } from '../../src/pipeline/runtime.ts';
import { createMemoryStore } from '../../src/quota/memory-store.ts';
import { buildQuotas, type QuotaCheck, type Quotas } from '../../src/quota/quotas.ts';
import { createRedisStore } from '../../src/quota/redis-store.ts';
import { quotasSchema } from '../../src/quota/schema.ts';
import { QuotaStoreError, type QuotaStore } from '../../src/quota/store.ts';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { installMeter } from '../../src/telemetry/metrics.ts';
import { metric, TestReader } from '../helpers/otel-metrics.ts';
import { windowAt } from '../../src/quota/window.ts';
import { UNIT_KEY, UNIT_KEY_2, unitRuntime } from '../helpers/runtime.ts';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ctxOf } from '../helpers/runtime.ts';
import type { Identity } from '../../src/identity/types.ts';

const MINUTE = 60_000;

/** A clock the test moves; starts at the next minute boundary after now (Redis expires keys on its own clock, so never in the past). */
function testClock(): { now: () => number; advance: (ms: number) => void; start: number } {
  const start = windowAt(Date.now(), MINUTE).end;
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms), start };
}

function quotas(yaml: object, store: QuotaStore, now: () => number): Quotas {
  const cfg = quotasSchema.parse(yaml);
  if (cfg === undefined) throw new Error('no quotas');
  return buildQuotas(cfg, { store, now });
}

const identity = (over: Partial<Identity> = {}): Identity => ({
  method: 'api_key',
  workload: 'wl-one',
  agent: undefined,
  user: undefined,
  issuer: undefined,
  credentialId: 'unit0001',
  scopes: { models: undefined, providers: undefined, tools: undefined, maxTokens: undefined },
  ...over,
});

const llm = (model = 'gpt-4o-mini', api: 'openai' | 'anthropic' = 'openai') =>
  ({
    api,
    schema: `${api}.chat`,
    operation: 'chat',
    provider: undefined,
    model,
    stream: false,
    maxTokens: undefined,
    temperature: undefined,
    tools: [],
    toolChoice: undefined,
    endUser: undefined,
    messageCount: 1,
    inputBytes: 10,
    bodyComplete: true,
    storedContext: [],
    pathParams: {},
  }) as const;

const CTX = ctxOf({ headers: { 'content-type': 'application/json' }, body: '{}' });
const input = (over: { id?: Partial<Identity>; model?: string; api?: 'openai' | 'anthropic' } = {}) => ({ ctx: CTX, identity: identity(over.id), llm: llm(over.model, over.api) });

let n = 0;
const member = (): string => `req-${++n}`;

function kind(c: QuotaCheck): string {
  return c.kind === 'exceeded' ? `exceeded:${c.quota}:${c.limit}` : c.kind;
}

let redis: RedisServer | undefined;
const stores: Record<string, () => QuotaStore> = {
  memory: () => createMemoryStore(),
  redis: () => {
    if (!redis) throw new Error('redis not started');
    return createRedisStore({ url: redis.url, timeoutMs: 500 });
  },
};

beforeAll(async () => {
  // Not under test-results/: the e2e project clears that folder when it starts.
  redis = await startRedis({ workDir: mkdtempSync(path.join(os.tmpdir(), 'llm-authz-quota-redis-')) });
});
afterAll(async () => {
  await redis?.stop();
});

describe.each(Object.keys(stores))('the %s quota store', (storeName) => {
  const opened: QuotaStore[] = [];
  let prefix = 0;
  /** A store, warmed, under a key prefix of its own (the Redis server is shared by the cases). */
  async function setup(rules: object[]): Promise<{ q: Quotas; clock: ReturnType<typeof testClock> }> {
    const store = stores[storeName]?.();
    if (!store) throw new Error('no store');
    opened.push(store);
    expect(await store.warm()).toBe(true);
    const clock = testClock();
    const q = quotas({ rules, store: { key_prefix: `t${process.pid}-${++prefix}-${Date.now()}:` } }, store, clock.now);
    return { q, clock };
  }
  afterAll(async () => {
    for (const s of opened) await s.close();
  });

  it('counts requests per window, denies past the limit with the seconds left, and rolls over', async () => {
    const { q, clock } = await setup([{ name: 'rpm', subject: 'credential_id', requests: { limit: 3, window: '1m' } }]);
    const got = [];
    for (let i = 0; i < 3; i++) got.push(await q.check(input(), member()));
    expect(got.map(kind)).toEqual(['pass', 'pass', 'pass']);
    expect(got.map((c) => c.applied[0]?.remaining.requests)).toEqual([2, 1, 0]);
    clock.advance(20_000);
    const over = await q.check(input(), member());
    expect(kind(over)).toBe('exceeded:rpm:requests');
    expect(over.kind === 'exceeded' && over.retryAfterS).toBe(40);
    // Another subject has its own counter.
    expect(kind(await q.check(input({ id: { credentialId: 'unit0002' } }), member()))).toBe('pass');
    // The next window starts empty.
    clock.advance(40_000);
    const next = await q.check(input(), member());
    expect(kind(next)).toBe('pass');
    expect(next.applied[0]?.remaining.requests).toBe(2);
  });

  it('charges tokens when responses end (total, input or output) and refuses once the budget is spent', async () => {
    const { q, clock } = await setup([
      { name: 'total', subject: 'workload', tokens: { limit: 100, window: '1h' } },
      { name: 'out', subject: 'workload', tokens: { limit: 1000, window: '1h', count: 'output' } },
    ]);
    const a = await q.check(input(), 'a');
    expect(kind(a)).toBe('pass');
    expect(a.applied.map((x) => x.remaining.tokens)).toEqual([100, 1000]);
    if (a.kind !== 'pass' || a.carry === undefined) throw new Error('no carry');
    await q.settle(a.carry, 'a', { input: 30, output: 30 });
    const b = await q.check(input(), 'b');
    expect(b.applied.map((x) => x.remaining.tokens)).toEqual([40, 970]);
    if (b.kind !== 'pass' || b.carry === undefined) throw new Error('no carry');
    // Admitted while under the budget, it may overshoot it (documented): charged in full.
    await q.settle(b.carry, 'b', { input: 10, output: 50 });
    const c = await q.check(input(), 'c');
    expect(kind(c)).toBe('exceeded:total:tokens');
    expect(c.applied.map((x) => x.remaining.tokens)).toEqual([0, 920]);
    // A response that reported no usage charges nothing.
    clock.advance(3_600_000);
    const d = await q.check(input(), 'd');
    expect(kind(d)).toBe('pass');
    expect(d.applied[0]?.remaining.tokens).toBe(100);
  });

  it('holds a lease per request in flight, released at the response end or after the lease', async () => {
    const { q, clock } = await setup([{ name: 'conc', subject: 'workload', concurrent: { limit: 2, lease: '30s' } }]);
    const a = await q.check(input(), 'a');
    const b = await q.check(input(), 'b');
    expect([a, b].map((c) => c.applied[0]?.remaining.concurrent)).toEqual([1, 0]);
    expect(kind(await q.check(input(), 'c'))).toBe('exceeded:conc:concurrent');
    if (a.kind !== 'pass' || a.carry === undefined) throw new Error('no carry');
    await q.settle(a.carry, 'a', { input: undefined, output: undefined });
    expect(kind(await q.check(input(), 'd'))).toBe('pass');
    expect(kind(await q.check(input(), 'e'))).toBe('exceeded:conc:concurrent');
    // b and d never end (their outcome records lost): their leases run out.
    clock.advance(30_001);
    expect(kind(await q.check(input(), 'f'))).toBe('pass');
    // release() (a later phase denied f) gives f's lease back.
    const g = await q.check(input(), 'g');
    expect(kind(g)).toBe('pass');
    expect(kind(await q.check(input(), 'h'))).toBe('exceeded:conc:concurrent');
    if (g.kind !== 'pass') throw new Error('g');
    q.release(g.leases, 'g');
    await new Promise((r) => setTimeout(r, 50));
    expect(kind(await q.check(input(), 'i'))).toBe('pass');
  });

  it('counts nothing when one of several quotas fails: all must pass', async () => {
    const { q } = await setup([
      { name: 'wide', subject: 'workload', requests: { limit: 10, window: '1m' } },
      { name: 'narrow', subject: 'credential_id', requests: { limit: 1, window: '1m' } },
    ]);
    expect(kind(await q.check(input(), member()))).toBe('pass');
    for (let i = 0; i < 3; i++) expect(kind(await q.check(input(), member()))).toBe('exceeded:narrow:requests');
    // Another credential of the same workload: `wide` has counted only the one request that passed.
    const other = await q.check(input({ id: { credentialId: 'unit0002' } }), member());
    expect(other.applied.map((a) => [a.name, a.remaining.requests])).toEqual([
      ['wide', 8],
      ['narrow', 0],
    ]);
  });

  it('applies a quota by its match (model globs, APIs) and its subject (a field the request has, a CEL key)', async () => {
    const { q } = await setup([
      { name: 'gpt', subject: 'workload', match: { models: ['gpt-4o*'] }, requests: { limit: 1, window: '1m' } },
      { name: 'anthropic', subject: 'workload', match: { apis: ['anthropic'] }, requests: { limit: 5, window: '1m' } },
      { name: 'per-user', subject: 'user', requests: { limit: 1, window: '1m' } },
      { name: 'per-model', subject: { cel: 'identity.workload + "/" + llm.model' }, requests: { limit: 2, window: '1m' } },
    ]);
    const a = await q.check(input({ model: 'gpt-4o-mini' }), member());
    expect(a.applied.map((x) => x.name)).toEqual(['gpt', 'per-model']);
    expect(kind(await q.check(input({ model: 'gpt-4o' }), member()))).toBe('exceeded:gpt:requests');
    const c = await q.check(input({ model: 'claude-x', api: 'anthropic', id: { user: 'alice' } }), member());
    expect(c.applied.map((x) => x.name)).toEqual(['anthropic', 'per-user', 'per-model']);
    expect(kind(await q.check(input({ model: 'claude-x', api: 'anthropic', id: { user: 'alice' } }), member()))).toBe('exceeded:per-user:requests');
    // Denied by per-user, the second request counted nowhere: bob's is per-model's second.
    expect(kind(await q.check(input({ model: 'claude-x', api: 'anthropic', id: { user: 'bob' } }), member()))).toBe('pass');
    expect(kind(await q.check(input({ model: 'claude-x', api: 'anthropic', id: { user: 'carol' } }), member()))).toBe('exceeded:per-model:requests');
  });
});

describe('the Redis store when Redis stops answering', () => {
  it('a paused Redis (SIGSTOP): each check fails within the timeout, never hangs; counting resumes after SIGCONT', async () => {
    const pid = redis?.pid();
    if (redis === undefined || pid === undefined) throw new Error('redis not started');
    const store = createRedisStore({ url: redis.url, timeoutMs: 150 });
    const clock = testClock();
    const q = quotas({ rules: [{ name: 'r', subject: 'workload', requests: { limit: 100, window: '1m' } }], store: { key_prefix: `pause-${Date.now()}:` } }, store, clock.now);
    try {
      expect(await store.warm()).toBe(true);
      expect(kind(await q.check(input(), member()))).toBe('pass');
      process.kill(pid, 'SIGSTOP');
      try {
        // Without the command timeout these would wait for SIGCONT, which comes after them: the test would hang.
        const during = await Promise.all([q.check(input(), member()), q.check(input(), member())]);
        expect(during.map((c) => (c.kind === 'store_error' ? c.behaviour : c.kind))).toEqual(['deny', 'deny']);
      } finally {
        process.kill(pid, 'SIGCONT');
      }
      const back = await q.check(input(), member());
      expect(kind(back)).toBe('pass');
      // The timed-out commands ran once Redis woke up (Redis had them already): they counted.
      expect(back.applied[0]?.remaining.requests).toBeLessThanOrEqual(98);
      expect(back.applied[0]?.remaining.requests).toBeGreaterThanOrEqual(96);
    } finally {
      await store.close();
    }
  });
});

describe('a take that failed', () => {
  it("gives back the request's leases (its own member only) and is counted once, as a take error", async () => {
    const reader = new TestReader();
    installMeter(new MeterProvider({ readers: [reader] }).getMeter('t'));
    const released: { leases: readonly string[]; member: string }[] = [];
    const failing: QuotaStore = {
      take: () => Promise.reject(new QuotaStoreError('the quota store failed: Command timed out')),
      settle: (_charges, leases, m) => {
        released.push({ leases, member: m });
        return Promise.reject(new QuotaStoreError('the quota store failed: Command timed out'));
      },
      warm: () => Promise.resolve(true),
      close: () => Promise.resolve(),
    };
    const q = quotas(
      {
        rules: [
          { name: 'rpm', subject: 'workload', requests: { limit: 5, window: '1m' } },
          { name: 'one', subject: 'workload', concurrent: { limit: 1, lease: '10m' } },
        ],
        store: { key_prefix: 'p:' },
      },
      failing,
      testClock().now,
    );
    expect(kind(await q.check(input(), 'dec-1'))).toBe('store_error');
    await new Promise((r) => setImmediate(r));
    expect(released).toEqual([{ leases: ['p:one:wl-one:c'], member: 'dec-1' }]);
    const { resourceMetrics } = await reader.collect();
    expect(metric(resourceMetrics, 'llm_authz.quota.store.errors', { op: 'take' })).toBe(1);
    expect(metric(resourceMetrics, 'llm_authz.quota.store.errors', { op: 'settle' }) ?? 0).toBe(0);
  });
});

describe('the Redis store when a take times out', () => {
  it('a take that timed out but ran once Redis woke up holds no concurrency slot: its lease is given back', async () => {
    const pid = redis?.pid();
    if (redis === undefined || pid === undefined) throw new Error('redis not started');
    const store = createRedisStore({ url: redis.url, timeoutMs: 150 });
    const clock = testClock();
    const q = quotas({ rules: [{ name: 'one', subject: 'workload', concurrent: { limit: 1, lease: '10m' } }], store: { key_prefix: `lease-${Date.now()}:` } }, store, clock.now);
    try {
      expect(await store.warm()).toBe(true);
      process.kill(pid, 'SIGSTOP');
      let during: QuotaCheck;
      try {
        during = await q.check(input(), member());
      } finally {
        process.kill(pid, 'SIGCONT');
      }
      expect(kind(during)).toBe('store_error');
      // The timed-out take ran when Redis woke up (the next take finds its counter): without its
      // lease given back, the one slot would stay taken for the lease's 10 minutes.
      const next = await q.check(input(), member());
      expect(kind(next)).toBe('pass');
      expect(next.applied[0]?.remaining.concurrent).toBe(0);
      // The check can fail: a slot held by a request in flight refuses the next one.
      expect(kind(await q.check(input(), member()))).toBe('exceeded:one:concurrent');
    } finally {
      await store.close();
    }
  });
});

describe('quota config', () => {
  const base = `providers:
  - {name: openai, api: openai}
quotas:
  rules:
`;
  function problems(rules: string): readonly string[] {
    try {
      parseConfigText(base + rules, 'q.yaml');
    } catch (err) {
      if (err instanceof ConfigError) return err.problems;
      throw err;
    }
    return [];
  }

  it('names an unknown subject field, a negative limit and a window that is not a duration with file:line:col', () => {
    expect(problems('    - {name: a, subject: team, requests: {limit: 1, window: 1m}}\n')).toEqual([
      "quotas.rules[0].subject: expected one of 'workload', 'agent', 'user', 'credential_id', got \"team\" (q.yaml:5:26)",
    ]);
    expect(problems('    - name: a\n      subject: workload\n      tokens: {limit: -5, window: 1h}\n')).toEqual([
      'quotas.rules[0].tokens.limit: a limit cannot be negative (q.yaml:7:23)',
    ]);
    expect(problems('    - name: a\n      subject: workload\n      requests: {limit: 5, window: soon}\n')).toEqual([
      "quotas.rules[0].requests.window: 'soon' is not a duration (a whole number and a unit: ms, s, m, h or d, e.g. 1m) (q.yaml:7:36)",
    ]);
  });

  it('refuses a CEL key that is not a string, a duplicate name, a quota without limits, a redis store without url', () => {
    const p = problems(
      `    - {name: a, subject: {cel: "llm.max_tokens"}, requests: {limit: 1, window: 1m}}
    - {name: a, subject: workload, requests: {limit: 1, window: 1m}}
    - {name: b, subject: workload}
  store: {type: redis}
`,
    );
    expect(p).toEqual(['quotas.store.url: a redis store needs a url (q.yaml:8:10)', 'quotas.rules[2]: a quota needs at least one of requests, tokens, concurrent (q.yaml:7:7)']);
    expect(
      problems('    - {name: a, subject: {cel: "llm.max_tokens"}, requests: {limit: 1, window: 1m}}\n    - {name: a, subject: workload, requests: {limit: 1, window: 1m}}\n'),
    ).toEqual(['quotas.rules[0].subject.cel: the expression is an int, not a string (q.yaml:5:32)', "quotas.rules[1].name: duplicate quota 'a' (q.yaml:6:14)"]);
  });
});

describe('quotas in the Check pipeline', () => {
  function harness(extra: string, now?: () => number): { rt: Runtime; check: ReturnType<typeof createCheck>; records: AuditRecord[] } {
    const rt = unitRuntime(extra);
    if (now !== undefined && rt.quotas !== undefined) {
      const cfg = parseConfigText(`quotas:\n${extra.split('\n').slice(1).join('\n')}`, 'q.yaml').quotas;
      if (cfg !== undefined) (rt as { quotas: Quotas }).quotas = buildQuotas(cfg, { now });
    }
    const records: AuditRecord[] = [];
    const check = createCheck(() => rt, { onDecision: (r) => records.push(r), onError: () => undefined });
    return { rt, check, records };
  }
  const chat = (key = UNIT_KEY, model = 'gpt-4o-mini') =>
    checkRequest({ headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }) });
  const anthropic = () =>
    checkRequest({
      path: '/v1/messages',
      headers: { 'x-api-key': UNIT_KEY, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'claude-3-5-haiku-latest', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }),
    });

  it('denies past the limit with 429, quota_exceeded, retry-after and the API native rate-limit body; audited and carried to the outcome', async () => {
    const { check, records } = harness(`quotas:
  rules:
    - {name: two-per-minute, subject: credential_id, requests: {limit: 2, window: 1m}, tokens: {limit: 1000, window: 1h}}
`);
    const ok = await check(chat());
    expect(ok.status.code).toBe(0);
    const carried = ok.dynamic_metadata.fields?.['quota'];
    expect(carried).toEqual({ stringValue: JSON.stringify([['two-per-minute', 'unit0001']]) });
    expect(records[0]).toMatchObject({ 'quota.applied': ['two-per-minute'], 'quota.remaining': ['two-per-minute.requests=1', 'two-per-minute.tokens=1000'] });
    expect((await check(chat())).status.code).toBe(0);
    const denied = await check(chat());
    expect(denied.denied_response?.status.code).toBe(429);
    expect(denied.status.code).toBe(8);
    const headers = Object.fromEntries((denied.denied_response?.headers ?? []).map((h) => [h.header.key, h.header.value]));
    expect(headers['x-llm-authz-reason']).toBe('quota_exceeded');
    expect(Number(headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(headers['retry-after'])).toBeLessThanOrEqual(60);
    const body = JSON.parse(denied.denied_response?.body ?? '{}') as { error: { type: string; code: string; message: string } };
    expect(body.error.type).toBe('rate_limit_error');
    expect(body.error.code).toBe('quota_exceeded');
    expect(body.error.message).toContain("quota 'two-per-minute' (2 requests per 1m) is used up");
    expect(records[2]).toMatchObject({ 'decision.reason': 'quota_exceeded', 'decision.status': 429, 'decision.phase': 'quota', 'quota.exceeded': 'two-per-minute' });
    // Anthropic's own error body for the same quota.
    const a = await check(anthropic());
    expect(JSON.parse(a.denied_response?.body ?? '{}')).toMatchObject({ type: 'error', error: { type: 'rate_limit_error' } });
    // Another key is not limited by this one's quota.
    expect((await check(chat(UNIT_KEY_2))).status.code).toBe(0);
  });

  it('lets policies read what is left (quota.*); a request a policy denies gives back its lease; the outcome path releases one', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'quota-policy-'));
    writeFileSync(
      path.join(dir, 'p.yaml'),
      `rules:
  - id: allow-mini-while-budget
    effect: allow
    when: '"budget" in quota && quota["budget"].requests >= 1 && !has(quota["budget"].tokens) && llm.model == "gpt-4o-mini"'
`,
    );
    const { rt, check, records } = harness(`policy: {dir: ${dir}}
quotas:
  rules:
    - {name: budget, subject: workload, requests: {limit: 3, window: 1h}}
    - {name: conc, subject: workload, concurrent: {limit: 1}}
`);
    const field = (res: Awaited<ReturnType<typeof check>>, k: string): string | undefined => res.dynamic_metadata.fields?.[k]?.stringValue;
    // 1: the policy denies gpt-4o; its lease is given back (its request counts).
    const r1 = await check(chat(UNIT_KEY, 'gpt-4o'));
    expect(r1.denied_response?.status.code).toBe(403);
    expect(records[0]).toMatchObject({ 'decision.reason': 'denied_by_default', 'quota.remaining': ['budget.requests=2', 'conc.concurrent=0'] });
    await new Promise((r) => setTimeout(r, 20));
    // 2: allowed (1 request left), holds the lease.
    const r2 = await check(chat());
    expect(r2.status.code).toBe(0);
    // 3: the lease is held: 429 on `conc`.
    const r3 = await check(chat());
    expect(r3.denied_response?.status.code).toBe(429);
    expect(records[2]?.['quota.exceeded']).toBe('conc');
    // The response of 2 ends (what the outcome path does): the lease is released.
    const carry = field(r2, 'quota');
    const id = field(r2, 'decision_id');
    if (carry === undefined || id === undefined || rt.quotas === undefined) throw new Error('no carry');
    await rt.quotas.settle(carry, id, { input: 5, output: 5 });
    // 4: passes the quotas with 0 requests left: the policy reads that and denies.
    const r4 = await check(chat());
    expect(r4.denied_response?.status.code).toBe(403);
    expect(records[3]).toMatchObject({ 'decision.reason': 'denied_by_default', 'quota.remaining': ['budget.requests=0', 'conc.concurrent=0'] });
  });

  it('on_store_error: deny refuses with quota_unavailable (503), allow lets the request through; both audited', async () => {
    for (const behaviour of ['deny', 'allow'] as const) {
      const { check, records } = harness(`quotas:
  store: {type: redis, url: "redis://127.0.0.1:1", timeout_ms: 100}
  on_store_error: ${behaviour}
  rules:
    - {name: r, subject: workload, requests: {limit: 100, window: 1m}}
`);
      const res = await check(chat());
      if (behaviour === 'deny') {
        expect(res.denied_response?.status.code).toBe(503);
        expect(records[0]).toMatchObject({ 'decision.reason': 'quota_unavailable', 'quota.store_error': 'deny', 'quota.applied': ['r'] });
      } else {
        expect(res.status.code).toBe(0);
        expect(records[0]).toMatchObject({ 'decision.reason': 'allowed', 'quota.store_error': 'allow', 'quota.applied': ['r'] });
      }
    }
  });

  it('rolls a window over on the injected clock', async () => {
    let t = windowAt(Date.now(), MINUTE).end;
    const { check } = harness(
      `quotas:
  rules:
    - {name: one, subject: workload, requests: {limit: 1, window: 1m}}
`,
      () => t,
    );
    expect((await check(chat())).status.code).toBe(0);
    expect((await check(chat())).denied_response?.status.code).toBe(429);
    t += MINUTE;
    expect((await check(chat())).status.code).toBe(0);
  });
});
