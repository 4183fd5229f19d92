/**
 * `serve`'s start-up warm-up (config `server.warm_up`, src/server/warm-up.ts) in the real
 * process: it runs before health reports SERVING (its own health call to the listener saw
 * NOT_SERVING, and its log line comes before "llm-authz serving"), and it leaves no decision-log
 * line, no exported span, no decision metric and no quota charge behind; the first real Check
 * after it is written, exported, counted and finds its quota unused. With `warm_up: false` the
 * server serves without it. (A warm-up that fails and still serves: test/unit/warm-up.test.ts,
 * with the real gRPC server.)
 */
import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair } from 'jose';
import { describe, expect, it } from 'vitest';
import { startAuthz } from '../../devstack/authz.ts';
import { checkRequest, createAuthzClient } from '../../devstack/grpc-client.ts';
import { freePort, waitFor } from '../../devstack/ports.ts';
import { CHAT_KEY, quickstartConfigWith } from '../helpers/demo-keys.ts';
import { sample, scrape } from '../helpers/metrics.ts';
import { newWorkDir } from '../helpers/stack.ts';

/** An OTLP/HTTP collector that counts trace exports and answers each with an empty success. */
async function startCollector(): Promise<{ port: number; exports: () => number; close(): Promise<void> }> {
  let exports = 0;
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url === '/v1/traces') exports++;
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    exports: () => exports,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

async function configWith(dir: string, metricsPort: number, collectorPort: number, warmUp: boolean, keepWarmMs?: number): Promise<string> {
  const { publicKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'warm-up-e2e', alg: 'ES256' };
  return quickstartConfigWith(dir, (c) => {
    c['server'] = { ...c['server'], warm_up: warmUp, ...(keepWarmMs !== undefined && { keep_warm_ms: keepWarmMs }) };
    if (keepWarmMs !== undefined) c['log'] = { level: 'debug' };
    c['identity'] = {
      ...c['identity'],
      jwt: { issuers: [{ issuer: 'https://issuer.warm-up.test', audiences: ['llm-authz'], algorithms: ['ES256', 'RS256'], jwks: { keys: [jwk] } }] },
    };
    // One request an hour for everyone together: a request the warm-up charged would leave none.
    c['quotas'] = { rules: [{ name: 'everyone', subject: { cel: '"everyone"' }, requests: { limit: 1, window: '1h' } }] };
    c['telemetry'] = {
      traces: { protocol: 'http/protobuf', endpoint: `http://127.0.0.1:${collectorPort}`, scheduled_delay_ms: 50 },
      metrics: { exporter: 'none', prometheus: { listen: `127.0.0.1:${metricsPort}` } },
    };
  });
}

const chat = (): Record<string, unknown> =>
  checkRequest({
    headers: { authorization: `Bearer ${CHAT_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'warm-up e2e' }] }),
  });

const code = (res: Record<string, unknown>): number => (res['status'] as { code?: number } | undefined)?.code ?? 0;

describe('the start-up warm-up of serve', () => {
  it('runs before SERVING and leaves no decision line, span, decision metric or quota charge; the first real Check has all of them', async () => {
    const dir = newWorkDir('warm-up');
    const metricsPort = await freePort();
    const collector = await startCollector();
    const authz = await startAuthz({ config: await configWith(dir, metricsPort, collector.port, true), workDir: dir, env: {} });
    const client = createAuthzClient(`127.0.0.1:${authz.port}`);
    try {
      const logs = authz.logs();
      const warm = logs.findIndex((l) => l['msg'] === 'start-up warm-up done');
      const serving = logs.findIndex((l) => l['msg'] === 'llm-authz serving');
      expect(warm).toBeGreaterThanOrEqual(0);
      expect(warm).toBeLessThan(serving);
      // Its health call reached the listener before the server reported SERVING.
      expect(logs[warm]).toMatchObject({ call: 'NOT_SERVING' });
      // Five APIs' endpoints with its own key and JWT, and the configured methods' denies.
      expect(Number(logs[warm]?.['requests'])).toBeGreaterThan(25);
      expect(logs.some((l) => l['msg'] === 'start-up warm-up failed in part; serving anyway (the first requests may be slower)')).toBe(false);

      // Past the span batch delay (50 ms) and the decision log's flush (50 ms): nothing of it anywhere.
      await new Promise((r) => setTimeout(r, 500));
      expect(authz.decisions()).toEqual([]);
      expect(collector.exports()).toBe(0);
      const idle = await scrape(metricsPort);
      expect(idle).toContain('llm_authz_decision_log_dropped_total'); // the scrape is real
      expect(sample(idle, 'llm_authz_decisions_total')).toBe(0);
      expect(sample(idle, 'llm_authz_check_duration_count')).toBe(0);
      expect(sample(idle, 'llm_authz_identity_methods_total')).toBe(0);
      expect(sample(idle, 'llm_authz_warm_up_failures_total')).toBe(0);
      expect(await client.health()).toBe('SERVING');

      // The probes can fail: the first real Check is written, exported and counted, and it finds
      // the quota unused (one request an hour for everyone): the second is over it.
      expect(code(await client.check(chat()))).toBe(0);
      expect(code(await client.check(chat()))).not.toBe(0);
      const lines = await waitFor('two decision lines', async () => (authz.decisions().length >= 2 ? authz.decisions() : undefined));
      expect(lines.map((l) => l['decision.reason'])).toEqual(['allowed', 'quota_exceeded']);
      await waitFor('a trace export', async () => (collector.exports() > 0 ? true : undefined));
      const after = await scrape(metricsPort);
      expect(sample(after, 'llm_authz_decisions_total')).toBe(2);
      expect(sample(after, 'llm_authz_check_duration_count')).toBe(2);
      expect(sample(after, 'llm_authz_identity_methods_total')).toBe(2);
    } finally {
      client.close();
      await authz.stop();
      await collector.close();
    }
  });

  it('with server.warm_up: false, serves without it', async () => {
    const dir = newWorkDir('warm-up-off');
    const collector = await startCollector();
    const authz = await startAuthz({ config: await configWith(dir, await freePort(), collector.port, false), workDir: dir, env: {} });
    const client = createAuthzClient(`127.0.0.1:${authz.port}`);
    try {
      expect(authz.logs().some((l) => String(l['msg']).startsWith('start-up warm-up'))).toBe(false);
      expect(await client.health()).toBe('SERVING');
      expect(code(await client.check(chat()))).toBe(0);
    } finally {
      client.close();
      await authz.stop();
      await collector.close();
    }
  });

  it('with server.keep_warm_ms, runs again in each period without a Check (nothing written, exported or counted) and not while Checks come', async () => {
    const dir = newWorkDir('keep-warm');
    const metricsPort = await freePort();
    const collector = await startCollector();
    const authz = await startAuthz({ config: await configWith(dir, metricsPort, collector.port, true, 1000), workDir: dir, env: {} });
    const client = createAuthzClient(`127.0.0.1:${authz.port}`);
    const idleRuns = (): Record<string, unknown>[] => authz.logs().filter((l) => l['msg'] === 'idle warm-up done');
    try {
      const runs = await waitFor('two idle warm-ups', async () => (idleRuns().length >= 2 ? idleRuns() : undefined));
      for (const r of runs) expect(r).toMatchObject({ failed: [] });
      expect(Number(runs[0]?.['requests'])).toBeGreaterThan(25);
      await new Promise((r) => setTimeout(r, 300));
      expect(authz.decisions()).toEqual([]);
      expect(collector.exports()).toBe(0);
      const idle = await scrape(metricsPort);
      expect(sample(idle, 'llm_authz_decisions_total')).toBe(0);
      expect(sample(idle, 'llm_authz_warm_up_failures_total')).toBe(0);

      // A Check every 200 ms for 3 s: no period is idle (one already running may finish).
      expect(code(await client.check(chat()))).toBe(0);
      await new Promise((r) => setTimeout(r, 1100));
      const before = idleRuns().length;
      for (let i = 0; i < 15; i++) {
        await client.check(chat());
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(idleRuns().length).toBe(before);
      // Quiet again: it resumes.
      await waitFor('an idle warm-up after the traffic', async () => (idleRuns().length > before ? true : undefined));
      const lines = await waitFor('the real decision lines', async () => (authz.decisions().length >= 16 ? authz.decisions() : undefined));
      expect(lines).toHaveLength(16);
      expect(sample(await scrape(metricsPort), 'llm_authz_decisions_total')).toBe(16);
    } finally {
      client.close();
      await authz.stop();
      await collector.close();
    }
  });

  it('with server.keep_warm_ms: 0, there is no idle warm-up', async () => {
    const dir = newWorkDir('keep-warm-off');
    const collector = await startCollector();
    const authz = await startAuthz({ config: await configWith(dir, await freePort(), collector.port, true, 0), workDir: dir, env: {} });
    try {
      await new Promise((r) => setTimeout(r, 2500));
      expect(authz.logs().some((l) => l['msg'] === 'start-up warm-up done')).toBe(true);
      // The same config as above but for keep_warm_ms (its debug lines would be written): none.
      expect(authz.logs().some((l) => l['msg'] === 'idle warm-up done')).toBe(false);
    } finally {
      await authz.stop();
      await collector.close();
    }
  });
});
