/**
 * Quotas through the real Envoy with the mock providers:
 * - a request quota: past it, 429 with `retry-after` and the API's native rate-limit body, and
 *   the official `openai` and `@anthropic-ai/sdk` clients raise their RateLimitError with the
 *   reason in the message; nothing reaches the provider; the denial metric by quota name;
 * - a token budget spent by non-streamed and streamed responses (charged from the outcome
 *   records when each response ends), then refused;
 * - two llm-authz replicas behind one Envoy sharing one budget through a real Redis: exactly the
 *   limit allowed in total, decided by both;
 * - Redis stopped mid-run and started again, for each `on_store_error`: deny refuses with
 *   `quota_unavailable` and allow lets requests through, never a hang or a crash, and the
 *   counters work again once Redis is back;
 * - a bad quota config stops start-up with file:line:col.
 */
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MOCK_USAGE } from '../../devstack/mock-replies.ts';
import { freePort, waitFor } from '../../devstack/ports.ts';
import { startRedis, type RedisServer } from '../../devstack/redis.ts';
import type { AuthzProcess } from '../../devstack/authz.ts';
import { cliEntry } from '../../devstack/tools.ts';
import { BATCH_KEY, CHAT_KEY, quickstartConfigWith } from '../helpers/demo-keys.ts';
import { sample, scrape } from '../helpers/metrics.ts';
import { newWorkDir, useStack } from '../helpers/stack.ts';

const CHAT_WORKLOAD = 'spiffe://demo.example/ns/apps/sa/chat-app';
const metricsPort = await freePort();
const redisPorts = { deny: await freePort(), allow: await freePort() };

interface Reply {
  readonly status: number;
  readonly headers: Headers;
  readonly body: string;
}

/** One request through Envoy, bounded in time (a hang fails the test instead of stalling it). */
async function send(url: string, p: string, headers: Record<string, string>, body: unknown): Promise<Reply> {
  const res = await fetch(`${url}${p}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, headers: res.headers, body: await res.text() };
}

const openaiChat = (url: string, key: string, stream = false): Promise<Reply> =>
  send(
    url,
    '/v1/chat/completions',
    { authorization: `Bearer ${key}` },
    {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'hello' }],
      stream,
      ...(stream ? { stream_options: { include_usage: true } } : {}),
    },
  );

const anthropicMessage = (url: string, key: string): Promise<Reply> =>
  send(
    url,
    '/v1/messages',
    { 'x-api-key': key, 'anthropic-version': '2023-06-01' },
    { model: 'claude-3-5-haiku-latest', max_tokens: 32, messages: [{ role: 'user', content: 'hello' }] },
  );

/** The outcome records of all replicas, once `n` are written. */
function outcomes(replicas: readonly AuthzProcess[], n: number): Promise<Record<string, unknown>[]> {
  return waitFor(`${n} outcome records`, () => {
    const all = replicas.flatMap((r) => r.outcomes());
    return all.length >= n ? all : undefined;
  });
}

/**
 * The shared counter allowed exactly the limit: of the decisions it counted, `limit` allowed,
 * less what Checks whose store command timed out (`quota.store_error`) may have counted in Redis
 * without knowing (a slow, not a dead, Redis still runs the command: README "Quotas").
 */
function expectLimit(ds: readonly Record<string, unknown>[], limit: number): void {
  const counted = ds.filter((d) => d['quota.store_error'] === undefined);
  const allowed = counted.filter((d) => d['decision.effect'] === 'allow').length;
  expect(allowed).toBeLessThanOrEqual(limit);
  expect(allowed).toBeGreaterThanOrEqual(limit - (ds.length - counted.length));
  expect(counted.some((d) => d['decision.reason'] === 'quota_exceeded')).toBe(true);
}

const decisionsOf = async (replicas: readonly AuthzProcess[]): Promise<Record<string, unknown>[]> => (await Promise.all(replicas.map((r) => r.settledDecisions()))).flat();

describe('quotas with the in-memory store', () => {
  const config = quickstartConfigWith(newWorkDir('quotas-memory-config'), (cfg) => {
    cfg['telemetry'] = { metrics: { prometheus: { listen: `127.0.0.1:${metricsPort}` } } };
    cfg['quotas'] = {
      rules: [
        // The chat key only (a CEL key: empty for every other caller, so it does not apply to them).
        {
          name: 'chat-openai',
          subject: { cel: 'identity.credential_id == "chatapp01" ? identity.credential_id : ""' },
          match: { apis: ['openai'] },
          requests: { limit: 2, window: '1h' },
        },
        { name: 'chat-anthropic', subject: 'workload', match: { apis: ['anthropic'], models: ['claude-*'] }, requests: { limit: 2, window: '1h' } },
        // The batch key's agent: 40 tokens an hour.
        { name: 'agent-tokens', subject: 'agent', tokens: { limit: 40, window: '1h' } },
      ],
    };
  });
  const stack = useStack('quotas-memory', { config });

  it('past a request quota: 429, retry-after and the native body; nothing forwarded; counted by quota name', async () => {
    const s = stack();
    const forwarded = s.openai.requests.length;
    expect((await openaiChat(s.url, CHAT_KEY)).status).toBe(200);
    expect((await openaiChat(s.url, CHAT_KEY)).status).toBe(200);
    const denied = await openaiChat(s.url, CHAT_KEY);
    expect(denied.status).toBe(429);
    expect(denied.headers.get('x-llm-authz-reason')).toBe('quota_exceeded');
    const retryAfter = Number(denied.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(3600);
    const body = JSON.parse(denied.body) as { error: { type: string; code: string; message: string } };
    expect(body.error.type).toBe('rate_limit_error');
    expect(body.error.code).toBe('quota_exceeded');
    expect(body.error.message).toContain("quota 'chat-openai' (2 requests per 1h) is used up");
    expect(s.openai.requests.length).toBe(forwarded + 2);
    // The batch key is not under this quota.
    expect((await openaiChat(s.url, BATCH_KEY)).status).toBe(200);
    const d = (await s.authz.settledDecisions()).filter((r) => r['identity.credential_id'] === 'chatapp01');
    expect(d.map((r) => r['quota.remaining'])).toEqual([['chat-openai.requests=1'], ['chat-openai.requests=0'], ['chat-openai.requests=0']]);
    expect(d[2]).toMatchObject({
      'decision.reason': 'quota_exceeded',
      'decision.status': 429,
      'decision.phase': 'quota',
      'quota.exceeded': 'chat-openai',
      'quota.applied': ['chat-openai'],
    });
    const m = await scrape(metricsPort);
    expect(sample(m, 'llm_authz_quota_denials_total', 'quota="chat-openai"')).toBe(1);
    expect(sample(m, 'llm_authz_quota_denials_total', 'quota="chat-anthropic"')).toBe(0);
  });

  it('the official SDKs raise their rate-limit error, with the reason in the message', async () => {
    const s = stack();
    const openai = new OpenAI({ apiKey: CHAT_KEY, baseURL: `${s.url}/v1`, maxRetries: 0 });
    const err = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    const e = err as InstanceType<typeof OpenAI.RateLimitError>;
    expect(e.status).toBe(429);
    expect(e.code).toBe('quota_exceeded');
    expect(e.message).toContain('reason: quota_exceeded');
    expect(e.headers?.get('retry-after')).toMatch(/^\d+$/);

    const anthropic = new Anthropic({ apiKey: CHAT_KEY, baseURL: s.url, maxRetries: 0 });
    const ask = () => anthropic.messages.create({ model: 'claude-3-5-haiku-latest', max_tokens: 32, messages: [{ role: 'user', content: 'hello' }] });
    await ask();
    await ask();
    const aerr = await ask().catch((x: unknown) => x);
    expect(aerr).toBeInstanceOf(Anthropic.RateLimitError);
    expect((aerr as Error).message).toContain('reason: quota_exceeded');
    expect((aerr as Error).message).toContain("quota 'chat-anthropic'");
    // Same API, raw: the native Anthropic error body.
    const raw = await anthropicMessage(s.url, CHAT_KEY);
    expect(raw.status).toBe(429);
    expect(JSON.parse(raw.body)).toMatchObject({ type: 'error', error: { type: 'rate_limit_error' } });
  });

  it('a token budget is spent by non-streamed and streamed responses, then refuses', async () => {
    const s = stack();
    const perResponse = MOCK_USAGE.openai.input + MOCK_USAGE.openai.output;
    const before = s.authz.outcomes().length;
    const one = await openaiChat(s.url, BATCH_KEY, false);
    expect(one.status).toBe(200);
    await outcomes([s.authz], before + 1);
    const two = await openaiChat(s.url, BATCH_KEY, true);
    expect(two.status).toBe(200);
    expect(two.body).toContain('data: [DONE]');
    await outcomes([s.authz], before + 2);
    // The earlier test's batch request was charged too: 3 responses of 18 tokens > 40.
    const refused = await waitFor('the budget to refuse', async () => {
      const r = await openaiChat(s.url, BATCH_KEY, false);
      if (r.status === 200) await outcomes([s.authz], s.authz.outcomes().length);
      return r.status === 429 ? r : undefined;
    });
    expect(refused.headers.get('x-llm-authz-reason')).toBe('quota_exceeded');
    expect(JSON.parse(refused.body).error.message).toContain("quota 'agent-tokens' (40 tokens per 1h) is used up");
    const d = (await s.authz.settledDecisions()).filter((r) => r['identity.credential_id'] === 'batch001');
    const left = d.map((r) => (r['quota.remaining'] as string[] | undefined)?.[0]);
    // What was left before each request: 40, then less by what each response reported, then 0.
    expect(left[0]).toBe('agent-tokens.tokens=40');
    expect(left[1]).toBe(`agent-tokens.tokens=${40 - perResponse}`);
    expect(left[2]).toBe(`agent-tokens.tokens=${40 - 2 * perResponse}`);
    expect(left.at(-1)).toBe('agent-tokens.tokens=0');
    expect(d.at(-1)?.['quota.exceeded']).toBe('agent-tokens');
    // The streamed response's outcome record carried the tokens it was charged.
    const streamed = s.authz.outcomes().find((o) => o['identity.credential_id'] === 'batch001' && o['llm.stream'] === true);
    expect(streamed).toMatchObject({ 'gen_ai.usage.input_tokens': MOCK_USAGE.openai.input, 'gen_ai.usage.output_tokens': MOCK_USAGE.openai.output });
  });
});

describe.each(['deny', 'allow'] as const)('two replicas sharing a Redis budget, on_store_error: %s', (behaviour) => {
  const workDir = newWorkDir(`quotas-redis-${behaviour}`);
  const redisPort = redisPorts[behaviour];
  let redis: RedisServer | undefined;
  const LIMIT = 10;
  const config = quickstartConfigWith(workDir, (cfg) => {
    cfg['quotas'] = {
      store: { type: 'redis', url: `redis://127.0.0.1:${redisPort}`, timeout_ms: 250 },
      on_store_error: behaviour,
      rules: [{ name: 'shared', subject: 'workload', requests: { limit: LIMIT, window: '1h' } }],
    };
  });
  // Redis first (hooks run in order): the replicas connect to it at start.
  beforeAll(async () => {
    redis = await startRedis({ workDir, port: redisPort, name: 'redis' });
  });
  afterAll(async () => {
    await redis?.stop();
  });
  const stack = useStack(`quotas-redis-${behaviour}`, { config, replicas: 2 });

  it('allows exactly the limit in total, decided by both replicas; Redis stopped and started again', async () => {
    const s = stack();
    const statuses: number[] = [];
    for (let i = 0; i < LIMIT + 6; i++) statuses.push((await openaiChat(s.url, CHAT_KEY)).status);
    const decided = (await decisionsOf(s.authzReplicas)).filter((d) => d['identity.workload'] === CHAT_WORKLOAD);
    expect(decided.length).toBe(LIMIT + 6);
    expectLimit(decided, LIMIT);
    for (const r of s.authzReplicas) expect(r.decisions().some((d) => d['identity.workload'] === CHAT_WORKLOAD && d['decision.effect'] === 'allow')).toBe(true);
    expect(statuses.at(-1)).toBe(429);

    // Redis goes away mid-run.
    await redis?.stop();
    const during = [];
    for (let i = 0; i < 4; i++) during.push(await openaiChat(s.url, BATCH_KEY));
    const reasons = during.map((r) => r.headers.get('x-llm-authz-reason') ?? 'allowed');
    if (behaviour === 'deny') {
      expect(during.map((r) => r.status)).toEqual([503, 503, 503, 503]);
      expect(new Set(reasons)).toEqual(new Set(['quota_unavailable']));
    } else {
      expect(during.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    }
    const outage = (await decisionsOf(s.authzReplicas)).filter((d) => d['identity.credential_id'] === 'batch001');
    expect(outage.length).toBe(4);
    for (const d of outage) expect(d['quota.store_error']).toBe(behaviour);
    for (const r of s.authzReplicas) expect(r.child.proc.exitCode).toBeNull();

    // Redis is back (empty): the counters work again, on both replicas (each reconnects by itself).
    const beforeRestart = new Set((await decisionsOf(s.authzReplicas)).map((d) => d['decision.id']));
    await redis?.start();
    const counted = (d: Record<string, unknown>): boolean => d['identity.credential_id'] === 'batch001' && d['quota.store_error'] === undefined;
    await waitFor(
      'a decision counted by Redis again',
      async () => {
        await openaiChat(s.url, BATCH_KEY);
        return (await decisionsOf(s.authzReplicas)).some(counted) ? true : undefined;
      },
      15_000,
      100,
    );
    await waitFor('both replicas to reconnect', async () => {
      await openaiChat(s.url, BATCH_KEY);
      await openaiChat(s.url, BATCH_KEY);
      const last = s.authzReplicas.map((r) =>
        r
          .decisions()
          .filter((d) => d['identity.credential_id'] === 'batch001')
          .at(-1),
      );
      return last.every((d) => d !== undefined && d['quota.store_error'] === undefined) ? true : undefined;
    });
    const statusesAfter: number[] = [];
    for (let i = 0; i < LIMIT + 1; i++) statusesAfter.push((await openaiChat(s.url, BATCH_KEY)).status);
    expect(statusesAfter.at(-1)).toBe(429);
    const after = (await decisionsOf(s.authzReplicas)).filter((d) => d['identity.credential_id'] === 'batch001' && !beforeRestart.has(d['decision.id']));
    expectLimit(after, LIMIT);
  });
});

describe('a bad quota config', () => {
  it('stops start-up, naming each problem with file:line:col', () => {
    const dir = newWorkDir('quotas-bad-config');
    const file = path.join(dir, 'llm-authz.yaml');
    writeFileSync(
      file,
      `providers:
  - {name: openai, api: openai}
quotas:
  rules:
    - name: a
      subject: team
      requests: {limit: -1, window: 1m}
    - name: b
      subject: workload
      tokens: {limit: 10, window: soon}
`,
    );
    for (const args of [
      ['serve', '--config', file, '--listen', '127.0.0.1:0'],
      ['validate', '--config', file],
    ]) {
      const r = spawnSync(process.execPath, [cliEntry(), ...args], { encoding: 'utf8', timeout: 30_000 });
      expect(r.status).toBe(2);
      expect(r.stderr).toContain(`quotas.rules[0].subject: expected one of 'workload', 'agent', 'user', 'credential_id', got "team" (${file}:6:16)`);
      expect(r.stderr).toContain(`quotas.rules[0].requests.limit: a limit cannot be negative (${file}:7:25)`);
      expect(r.stderr).toContain(`quotas.rules[1].tokens.window: 'soon' is not a duration`);
      expect(r.stderr).toContain(`(${file}:10:35)`);
    }
  });
});
