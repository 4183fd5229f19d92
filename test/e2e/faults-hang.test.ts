/**
 * Fault: a Check that hangs, under a steady load through the real Envoy.
 *  - a JWKS URL that accepts the connection and never answers: the JWT callers are denied by
 *    llm-authz at check_timeout_ms (its records say `timeout`; Envoy's 1 s timeout is not what
 *    decides), API-key callers are decided as before, the hanging fetch is not repeated per
 *    request (one connection at a time), and memory stays flat;
 *  - a slow policy (rules whose cost grows with the number of tools a request offers): the
 *    hostile requests are denied at check_timeout_ms (evaluation stops between rules), never
 *    allowed, never left to Envoy's timeout.
 * Judged from llm-authz's decision records and headers, not from timing: under load a request
 * may get a fail-closed 503 (llm-authz's deadline, or Envoy's own), never another answer.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHAT_KEY, quickstartConfigWith } from '../helpers/demo-keys.ts';
import { signingKey, signToken } from '../helpers/identity.ts';
import { judge, quickstartGood } from '../helpers/fault-judge.ts';
import { byStatus, deniedNeverAllowed, percentiles, quickstartShot, startLoad, type Outcome, type Shot } from '../helpers/load.ts';
import { newWorkDir, useStack } from '../helpers/stack.ts';
import { rememberSecret } from '../helpers/suite-secrets.ts';
import { rssMiB } from '../helpers/metrics.ts';

const RATE = 200;
const CHECK_TIMEOUT_MS = 250;

/** A TCP server that accepts connections and never answers; counts them, and the most open at once. */
async function blackhole(): Promise<{ port: number; accepted(): number; maxOpen(): number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  let maxOpen = 0;
  const server: Server = createServer((s) => {
    accepted++;
    sockets.add(s);
    maxOpen = Math.max(maxOpen, sockets.size);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr !== null ? addr.port : 0,
    accepted: () => accepted,
    maxOpen: () => maxOpen,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

describe('a JWKS URL that accepts and never answers', () => {
  let hole: Awaited<ReturnType<typeof blackhole>>;
  let config = '';
  beforeAll(async () => {
    hole = await blackhole();
    config = quickstartConfigWith(newWorkDir('faults-hang-jwks-config'), (cfg) => {
      cfg['server'] = { ...cfg['server'], check_timeout_ms: CHECK_TIMEOUT_MS };
      cfg['identity']['jwt'] = {
        issuers: [{ issuer: 'https://hang.example', audiences: ['llm-authz'], jwks: { url: `http://127.0.0.1:${hole.port}/jwks.json`, timeout_ms: 5000, cooldown_s: 1 } }],
      };
      cfg['identity']['claims'] = ['iss', 'sub', 'aud'];
    });
  });
  afterAll(async () => {
    await hole?.close();
  });
  const stack = useStack('faults-hang-jwks', {
    get config() {
      return config;
    },
  });

  it('denies the JWT callers at check_timeout_ms, decides the others as before, fetches once at a time, memory flat', async () => {
    const s = stack();
    const key = await signingKey('hang1');
    const token = await signToken(key, { iss: 'https://hang.example', aud: 'llm-authz', sub: 'spiffe://demo.example/ns/apps/sa/jwt-app' });
    rememberSecret('faults-hang JWT', token);
    const chat = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'say hello' }] });
    // 1 in 4 requests carries the JWT whose key set never arrives
    const shot = (i: number): Shot =>
      i % 4 === 3
        ? {
            request: {
              path: '/v1/chat/completions',
              headers: [
                ['content-type', 'application/json'],
                ['authorization', `Bearer ${token}`],
              ],
              body: chat,
            },
            expect: 'deny',
          }
        : quickstartShot(i);
    // warm up, then measure memory across a longer run
    await startLoad({ url: s.url, rate: RATE, durationMs: 1500, shot }).done();
    const pid = s.authz.child.proc.pid;
    const rssStart = rssMiB(pid);
    const acceptedStart = hole.accepted();
    const recordsBefore = (await s.authz.settledDecisions()).length;
    const providerBefore = s.openai.requests.length;
    const outcomes = await startLoad({ url: s.url, rate: RATE, durationMs: 8000, shot }).done();
    const rssEnd = rssMiB(pid);
    const records = (await s.authz.settledDecisions()).slice(recordsBefore);
    const isJwt = (o: Outcome): boolean => o.i % 4 === 3;
    const jwt = outcomes.filter(isJwt);
    const jwtIds = new Set(jwt.map((o) => o.requestId));
    const jwtRecords = records.filter((r) => jwtIds.has(String(r['http.request.id'])));
    // The JWT callers: llm-authz's deadline deny, or unknown_key for a check that was waiting
    // when a fetch gave up at its own 5 s timeout.
    const judged = judge(outcomes, (o) => (isJwt(o) ? ['503 timeout', '401 unknown_key'] : quickstartGood(o)), {
      records,
      provider: s.openai.requests.slice(providerBefore),
    });
    const reasons = (rs: readonly Record<string, unknown>[]): Record<string, number> => {
      const out: Record<string, number> = {};
      for (const r of rs) out[String(r['decision.reason'])] = (out[String(r['decision.reason'])] ?? 0) + 1;
      return out;
    };
    const summary = JSON.stringify({
      jwt: byStatus(jwt),
      others: byStatus(outcomes.filter((o) => !isJwt(o))),
      ...judged.summary,
      jwtRecords: reasons(jwtRecords),
      unattributedRecords: reasons(records.filter((r) => r['http.request.id'] === undefined)),
      jwtLatency: percentiles(jwt),
      rssStart,
      rssEnd,
      jwksConnections: hole.accepted() - acceptedStart,
      jwksMaxOpen: hole.maxOpen(),
    });
    process.stderr.write(`[faults] hanging JWKS: ${summary}\n`);

    expect(deniedNeverAllowed(outcomes), summary).toEqual([]);
    // Every answer is llm-authz's (as above, or as before for the API-key callers) or a fail-closed
    // 503 (Envoy's own when the machine is too busy even to pass the check on within its 1 s);
    // every answer llm-authz gave has its record, and no record differs from the good state.
    expect(judged.problems, summary).toEqual([]);
    expect(records.length, summary).toBeLessThanOrEqual(outcomes.length);
    expect(
      jwt.every((o) => o.status === 503 || o.status === 401),
      summary,
    ).toBe(true);
    // Denied at llm-authz's own deadline, not left waiting on the fetch: unknown_key (a check still
    // waiting when a fetch gave up after 5 s) is a minority of the JWT callers' records; without
    // the deadline, every JWT check waits for the fetch and ends as unknown_key.
    // Every record names its request, the timeout denies too (they carry what the phases knew).
    expect(
      records.filter((r) => r['http.request.id'] === undefined),
      summary,
    ).toEqual([]);
    const unknownKey = jwtRecords.filter((r) => r['decision.reason'] === 'unknown_key').length;
    const timedOut = jwtRecords.filter((r) => r['decision.reason'] === 'timeout').length;
    expect(timedOut, summary).toBeGreaterThan(unknownKey);
    // Before Envoy's own timeout (1 s, envoy/gateway.yaml), by llm-authz's own clock: the median
    // decision.duration_ms of these denies. The one duration this test asserts, with a margin of 4
    // times the deadline: measured 250-550 ms at load average 15; without the deadline the checks
    // wait on the fetch and the median was 2,149 ms.
    const durations = jwtRecords.map((r) => Number(r['decision.duration_ms'])).sort((a, b) => a - b);
    expect(durations[Math.floor(durations.length / 2)], summary).toBeLessThan(1000);
    // the API-key callers are decided as before: llm-authz's records hold both of their answers
    expect(
      records.some((r) => r['decision.effect'] === 'allow'),
      summary,
    ).toBe(true);
    expect(
      records.some((r) => r['decision.reason'] === 'model_not_allowed'),
      summary,
    ).toBe(true);
    // the hanging fetch is not repeated per request: connections to the JWKS URL are counted
    expect(hole.accepted() - acceptedStart, summary).toBeLessThan(jwt.length / 10);
    // pending work is bounded by the fetch's own timeout (jwks.timeout_ms): a coarse leak check.
    // V8 sizes its young generation up with the allocation rate, and the outcome records' ext_proc
    // streams allocate per response: measured 118 MiB of growth in this window at 200 requests/s;
    // at a steady 600 requests/s, RSS stops at about 345 MiB with the ext_proc filter on and 312
    // MiB with it off (8,000 requests), growing 1-2 MiB per 2,000 requests after that.
    expect(rssEnd - rssStart, summary).toBeLessThan(160);
  });
});

describe('a slow policy', () => {
  const dir = newWorkDir('faults-hang-policy');
  const policies = path.join(dir, 'policies');
  mkdirSync(policies, { recursive: true });
  // 150 rules, each comparing every pair of the request's tools: about a millisecond in all for a
  // request with 3 tools; for one with 150, 22,500 pairs per rule: 5-25 ms per rule, seconds in
  // all, far past the check timeout on any machine.
  const slow = Array.from({ length: 150 }, (_, i) => `  - {id: pairs-${i}, effect: deny, when: 'llm.tools.exists(a, llm.tools.exists(b, a + b == "never-${i}"))'}`).join('\n');
  writeFileSync(path.join(policies, 'rules.yaml'), `rules:\n  - {id: identified, effect: allow, when: 'identity.workload != ""'}\n${slow}\n`);
  const config = quickstartConfigWith(dir, (cfg) => {
    cfg['server'] = { ...cfg['server'], check_timeout_ms: CHECK_TIMEOUT_MS };
    cfg['policy'] = { dir: policies, watch: false };
  });
  const stack = useStack('faults-hang-policy-stack', { config });

  it('denies the hostile requests at check_timeout_ms (503 timeout from llm-authz), never left to Envoy', async () => {
    const s = stack();
    const tools = (n: number): object[] => Array.from({ length: n }, (_, i) => ({ type: 'function', function: { name: `tool_${i}`, parameters: { type: 'object' } } }));
    const body = (n: number): string => JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'say hello' }], tools: tools(n) });
    const headers: [string, string][] = [
      ['content-type', 'application/json'],
      ['authorization', `Bearer ${CHAT_KEY}`],
    ];
    // one hostile request (150 tools) a second, the rest with 3 tools: each hostile request costs
    // up to check_timeout_ms of CPU (more would saturate the CPU, whatever the policy engine)
    const normal: Shot = { request: { path: '/v1/chat/completions', headers, body: body(3) }, expect: 'allow' };
    const shot = (i: number): Shot => (i % RATE === 100 ? { request: { path: '/v1/chat/completions', headers, body: body(150) }, expect: 'deny' } : normal);
    await startLoad({ url: s.url, rate: RATE, durationMs: 1500, shot: () => normal }).done(); // warm-up, no hostile request
    const rssStart = rssMiB(s.authz.child.proc.pid);
    const providerBefore = s.openai.requests.length;
    const recordsBefore = (await s.authz.settledDecisions()).length;
    const outcomes = await startLoad({ url: s.url, rate: RATE, durationMs: 5000, shot }).done();
    const rssEnd = rssMiB(s.authz.child.proc.pid);
    const records = (await s.authz.settledDecisions()).slice(recordsBefore);
    const isHostile = (o: Outcome): boolean => o.i % RATE === 100;
    const hostile = outcomes.filter(isHostile);
    const others = outcomes.filter((o) => !isHostile(o));
    const judged = judge(outcomes, (o) => (isHostile(o) ? '503 timeout' : '200'), { records, provider: s.openai.requests.slice(providerBefore) });
    const hostileDurations = records.filter((d) => Array.isArray(d['llm.tools']) && (d['llm.tools'] as unknown[]).length >= 64).map((d) => d['decision.duration_ms']);
    const summary = JSON.stringify({
      hostile: byStatus(hostile),
      hostileDurations,
      normal: byStatus(others),
      ...judged.summary,
      hostileLatency: percentiles(hostile),
      normalLatency: percentiles(others),
      rssStart,
      rssEnd,
    });
    process.stderr.write(`[faults] slow policy: ${summary}\n`);

    expect(deniedNeverAllowed(outcomes), summary).toEqual([]);
    // llm-authz decided every hostile request as a timeout, at its deadline, not after the whole
    // evaluation (seconds): its records say so, whatever the client saw (its 503, or Envoy's own
    // 503 when the machine is too busy to pass it on within Envoy's 1 s)
    // (Envoy's own 503 without asking is possible only when the machine is too busy to pass the
    // check on within Envoy's 1 s: then there is no record; at least one hostile check must arrive.)
    const hostileRecords = records.filter((d) => Array.isArray(d['llm.tools']) && (d['llm.tools'] as unknown[]).length >= 64);
    expect(hostileRecords.length, summary).toBeGreaterThan(0);
    expect(hostileRecords.length, summary).toBeLessThanOrEqual(hostile.length);
    expect(
      hostileRecords.every((d) => d['decision.reason'] === 'timeout'),
      summary,
    ).toBe(true);
    // at the deadline, by llm-authz's own clock (median decision.duration_ms under Envoy's 1 s):
    // an evaluation run to its end takes seconds, and would be a timeout deny all the same
    const durations = hostileRecords.map((r) => Number(r['decision.duration_ms'])).sort((a, b) => a - b);
    expect(durations[Math.floor(durations.length / 2)], summary).toBeLessThan(1000);
    expect(
      hostile.every((o) => o.status === 503),
      summary,
    ).toBe(true);
    // every answer llm-authz gave has its record; the others allowed, or a fail-closed 503; a
    // provider request only for a 200; llm-authz's records hold allows for the normal requests
    expect(records.length, summary).toBeLessThanOrEqual(outcomes.length);
    expect(judged.problems, summary).toEqual([]);
    expect(
      records.some((r) => r['decision.effect'] === 'allow'),
      summary,
    ).toBe(true);
  });
});
