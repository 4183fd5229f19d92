/**
 * Fault: slow clients and idle connections, beside a steady load through the real Envoy.
 *  - 20 clients trickle their request body byte by byte over seconds: Envoy buffers each body
 *    before it asks llm-authz, so each is decided once complete (and allowed), and the other
 *    clients are answered as before;
 *  - 500 HTTP/2 connections to llm-authz that never send a call: the load through Envoy is
 *    answered as before, and llm-authz closes them once server.max_connection_idle_ms passes.
 * Latency with and without these clients is reported (test-results), not asserted; answers are
 * judged from llm-authz's decision records and headers (a fail-closed 503 under load is no change
 * of decision; any other answer is).
 */
import { connect, type ClientHttp2Session } from 'node:http2';
import { request } from 'node:http';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../devstack/ports.ts';
import { CHAT_KEY, quickstartConfigWith } from '../helpers/demo-keys.ts';
import { judge, quickstartGood } from '../helpers/fault-judge.ts';
import { byStatus, deniedNeverAllowed, percentiles, startLoad } from '../helpers/load.ts';
import { rssMiB } from '../helpers/metrics.ts';
import { newWorkDir, useStack } from '../helpers/stack.ts';

const RATE = 150;
const IDLE_MS = 3000;
const config = quickstartConfigWith(newWorkDir('faults-slow-config'), (cfg) => {
  cfg['server'] = { ...cfg['server'], max_connection_idle_ms: IDLE_MS };
});

/** A POST whose body is written one byte every `everyMs`; resolves with the status. */
function trickle(url: string, body: string, everyMs: number, requestId: string): Promise<number> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        method: 'POST',
        path: '/v1/chat/completions',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${CHAT_KEY}`, 'content-length': Buffer.byteLength(body), 'x-request-id': requestId },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.flushHeaders();
    let i = 0;
    const next = (): void => {
      if (i >= body.length) {
        req.end();
        return;
      }
      req.write(body[i++]!);
      setTimeout(next, everyMs);
    };
    next();
  });
}

describe('slow clients and idle HTTP/2 connections', () => {
  const stack = useStack('faults-slow-clients', { config });

  it('do not change what other clients get; idle connections are closed after max_connection_idle_ms', async () => {
    const s = stack();
    const providerBefore = s.openai.requests.length;
    const baseline = await startLoad({ url: s.url, rate: RATE, durationMs: 2000 }).done();
    const rssBefore = rssMiB(s.authz.child.proc.pid);

    // 500 HTTP/2 connections straight to llm-authz, each past its handshake, then silent
    const sessions: ClientHttp2Session[] = [];
    let closed = 0;
    for (let i = 0; i < 500; i++) {
      const session = connect(`http://127.0.0.1:${s.authz.port}`);
      session.on('error', () => undefined);
      session.on('close', () => closed++);
      sessions.push(session);
    }
    await Promise.all(sessions.map((x) => new Promise<void>((r) => (x.connecting ? x.once('connect', () => r()) : r()))));
    const openedAt = Date.now();

    // 20 slow clients: a ~80-byte body at one byte per 40 ms (about 3 s each)
    const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'say hello' }] });
    const slowIds = Array.from({ length: 20 }, (_, i) => `slow-client-${i}`);
    const slow = Promise.all(slowIds.map((id) => trickle(s.url, body, 40, id)));
    const during = await startLoad({ url: s.url, rate: RATE, durationMs: 3000 }).done();
    const slowStatuses = await slow;
    const rssDuring = rssMiB(s.authz.child.proc.pid);

    // llm-authz closes the silent connections by itself
    await waitFor('llm-authz to close the idle connections', () => (closed === sessions.length ? true : undefined), IDLE_MS + 30_000);
    const closedAfterMs = Date.now() - openedAt;
    for (const x of sessions) x.destroy();

    const report = {
      baseline: { byStatus: byStatus(baseline), latency: percentiles(baseline) },
      withSlowClientsAndIdleConnections: { byStatus: byStatus(during), latency: percentiles(during) },
      slowClients: slowStatuses,
      idleConnections: { count: sessions.length, closedAfterMs, rssBeforeMiB: rssBefore, rssWithThemMiB: rssDuring },
    };
    writeFileSync(path.join(s.workDir, 'slow-clients-report.json'), `${JSON.stringify(report, null, 2)}\n`);
    process.stderr.write(`[faults] slow clients and idle connections: ${JSON.stringify(report)}\n`);

    // Every answer is llm-authz's, as before, or a fail-closed 503 (its deadline, or Envoy's own
    // under load); llm-authz decided every request (a record each); the provider got the 200s.
    const records = await s.authz.settledDecisions();
    const loads = [...baseline, ...during];
    const judged = judge(loads, quickstartGood, { provider: s.openai.requests.slice(providerBefore).filter((r) => !slowIds.includes(String(r.headers['x-request-id']))) });
    const summary = JSON.stringify({ ...report, ...judged.summary });
    expect(deniedNeverAllowed(loads), summary).toEqual([]);
    expect(judged.problems, summary).toEqual([]);
    expect(records.length, summary).toBeLessThanOrEqual(loads.length + slowIds.length);
    for (const outcomes of [baseline, during]) {
      const ids = new Set(outcomes.map((o) => o.requestId));
      const mine = records.filter((r) => ids.has(String(r['http.request.id'])));
      expect(
        mine.some((r) => r['decision.effect'] === 'allow'),
        summary,
      ).toBe(true);
      expect(
        mine.some((r) => r['decision.reason'] === 'model_not_allowed'),
        summary,
      ).toBe(true);
    }
    // each trickled request was decided at most once, whole (its record names the model), and
    // allowed; every 200 a slow client got has that record; a slow client got 200, or Envoy's own
    // 503 if the machine was too busy to pass the check on in time
    const slowRecords = records.filter((r) => slowIds.includes(String(r['http.request.id'])));
    expect(new Set(slowRecords.map((r) => r['http.request.id'])).size, summary).toBe(slowRecords.length);
    expect(
      slowRecords.every((r) => r['decision.effect'] === 'allow' && r['gen_ai.request.model'] === 'gpt-4o-mini'),
      summary,
    ).toBe(true);
    expect(
      slowStatuses.every((x) => x === 200 || x === 503),
      summary,
    ).toBe(true);
    expect(slowRecords.length, summary).toBeGreaterThanOrEqual(slowStatuses.filter((x) => x === 200).length);
    expect(slowRecords.length, summary).toBeGreaterThan(0);
    // closed by llm-authz's idle timeout, not before it
    expect(closedAfterMs).toBeGreaterThanOrEqual(IDLE_MS - 500);
  }, 120_000);
});
