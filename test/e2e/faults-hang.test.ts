/**
 * Fault: a Check that hangs, under a steady load through the real Envoy.
 *  - a JWKS URL that accepts the connection and never answers: the JWT callers are denied by
 *    llm-authz at check_timeout_ms (503 `timeout`, its own deny: Envoy's 1 s timeout is never
 *    reached), API-key callers are decided as before, the hanging fetch is not repeated per
 *    request (one fetch at a time), and memory stays flat;
 *  - a slow policy (rules whose cost grows with the number of tools a request offers): the
 *    hostile requests are denied at check_timeout_ms (evaluation stops between rules), never
 *    allowed, never left to Envoy's timeout.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHAT_KEY, quickstartConfigWith } from '../helpers/demo-keys.ts';
import { signingKey, signToken } from '../helpers/identity.ts';
import { byStatus, deniedNeverAllowed, percentiles, quickstartShot, startLoad, type Shot } from '../helpers/load.ts';
import { newWorkDir, useStack } from '../helpers/stack.ts';
import { rememberSecret } from '../helpers/suite-secrets.ts';
import { rssMiB } from '../helpers/metrics.ts';

const RATE = 200;
const CHECK_TIMEOUT_MS = 250;

/** A TCP server that accepts connections and never answers; counts them. */
async function blackhole(): Promise<{ port: number; accepted(): number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server: Server = createServer((s) => {
    accepted++;
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr !== null ? addr.port : 0,
    accepted: () => accepted,
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
    const outcomes = await startLoad({ url: s.url, rate: RATE, durationMs: 8000, shot }).done();
    const rssEnd = rssMiB(pid);
    const jwt = outcomes.filter((o) => o.i % 4 === 3);
    const others = outcomes.filter((o) => o.i % 4 !== 3);
    const summary = JSON.stringify({
      jwt: byStatus(jwt),
      others: byStatus(others),
      jwtLatency: percentiles(jwt),
      othersLatency: percentiles(others),
      rssStart,
      rssEnd,
      jwksConnections: hole.accepted() - acceptedStart,
    });
    process.stderr.write(`[faults] hanging JWKS: ${summary}\n`);

    expect(deniedNeverAllowed(outcomes), summary).toEqual([]);
    // denied, by llm-authz's own timeout deny (its reason header), or unknown_key for those
    // waiting when a fetch gives up at its own 5 s timeout. Envoy's own 503 (its 1 s timeout; the
    // template's local reply, reason authz_unavailable) only when this shared machine starves both
    // processes of CPU: a minority.
    expect(
      jwt.every((o) => o.status === 503 || (o.status === 401 && o.reason === 'unknown_key')),
      summary,
    ).toBe(true);
    expect(jwt.filter((o) => o.reason === 'timeout').length, summary).toBeGreaterThan(jwt.length / 2);
    expect(jwt.filter((o) => o.reason === 'authz_unavailable' || o.reason === undefined).length, summary).toBeLessThan(jwt.length / 10);
    expect(
      others.every((o) => o.status === 200 || (o.status === 403 && o.reason === 'model_not_allowed')),
      summary,
    ).toBe(true);
    // one fetch at a time, each ending at its 5 s timeout: not one per request
    expect(hole.accepted() - acceptedStart, summary).toBeLessThanOrEqual(4);
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
    const outcomes = await startLoad({ url: s.url, rate: RATE, durationMs: 5000, shot }).done();
    const rssEnd = rssMiB(s.authz.child.proc.pid);
    const hostile = outcomes.filter((o) => o.i % RATE === 100);
    const others = outcomes.filter((o) => o.i % RATE !== 100);
    const summary = JSON.stringify({
      hostile: byStatus(hostile),
      normal: byStatus(others),
      hostileLatency: percentiles(hostile),
      normalLatency: percentiles(others),
      rssStart,
      rssEnd,
    });
    process.stderr.write(`[faults] slow policy: ${summary}\n`);

    expect(deniedNeverAllowed(outcomes), summary).toEqual([]);
    // llm-authz decided every hostile request as a timeout, at its deadline, not after the whole
    // evaluation (seconds); its answer reached the client before Envoy's own 1 s timeout
    const records = (await s.authz.settledDecisions()).filter((d) => Array.isArray(d['llm.tools']) && (d['llm.tools'] as unknown[]).length >= 64);
    expect(records.length, summary).toBe(hostile.length);
    expect(
      records.every((d) => d['decision.reason'] === 'timeout'),
      summary,
    ).toBe(true);
    expect(
      hostile.every((o) => o.status === 503),
      summary,
    ).toBe(true);
    expect(hostile.filter((o) => o.reason === 'timeout').length, summary).toBeGreaterThan(hostile.length / 2);
    // the others: allowed, or denied (a 503: llm-authz's timeout, or Envoy's own when the machine
    // is too busy to answer within its 1 s), and a provider request only for a 200
    expect(
      others.every((o) => o.status === 200 || o.status === 503),
      summary,
    ).toBe(true);
    expect(others.filter((o) => o.status === 200).length, summary).toBeGreaterThan(others.length / 2);
    expect(s.openai.requests.length - providerBefore, summary).toBe(outcomes.filter((o) => o.status === 200).length);
  });
});
