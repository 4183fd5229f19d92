/**
 * Fault: llm-authz killed (SIGKILL) and restarted on the same port, under a steady load through
 * the real Envoy. Every request in the gap is Envoy's own 503 (fail closed), none reaches a
 * provider, and traffic recovers by itself once the new process is up (Envoy's health check
 * sees SERVING again), without touching Envoy.
 *
 * Judged by events and llm-authz's own records, not by timing: the gap is the requests sent
 * after the kill and answered before the restart began; recovery is the restarted llm-authz
 * deciding every request sent after Envoy saw it healthy (its decision records).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { startAuthz, type AuthzProcess } from '../../devstack/authz.ts';
import { waitFor } from '../../devstack/ports.ts';
import { QUICKSTART_CONFIG } from '../helpers/demo-keys.ts';
import { judge, quickstartGood } from '../helpers/fault-judge.ts';
import { byStatus, deniedNeverAllowed, percentiles, startLoad, type Outcome } from '../helpers/load.ts';
import { useStack } from '../helpers/stack.ts';

const RATE = 200;
/** Envoy's own answers wanted in the gap, and requests wanted after recovery. */
const GAP = 50;
const AFTER = 400;
// Envoy's own 503: the templates' local reply (reason authz_unavailable), no decision id.
const envoyOwn = (o: Outcome): boolean => o.status === 503 && o.decisionId === undefined && o.reason === 'authz_unavailable';

describe('llm-authz SIGKILLed and restarted under load', () => {
  const stack = useStack('faults-authz-kill', { config: QUICKSTART_CONFIG });
  let restarted: AuthzProcess | undefined;
  afterAll(async () => {
    await restarted?.stop();
  });

  it('the gap is 503s from Envoy that reach no provider; traffic recovers by itself', async () => {
    const s = stack();
    const providerBefore = s.openai.requests.length;
    // Bounded: at most RATE x 60 s; stopped once AFTER requests were sent after the recovery.
    const load = startLoad({ url: s.url, rate: RATE, durationMs: 60_000 });
    try {
      await waitFor('llm-authz to answer 100 requests', () => (load.outcomes.filter((o) => o.decisionId !== undefined).length >= 100 ? true : undefined), 30_000);
      await s.authz.stop('SIGKILL');
      const sentAtKill = load.sent();
      await waitFor(`Envoy to answer ${GAP} requests itself`, () => (load.outcomes.filter((o) => o.i >= sentAtKill && envoyOwn(o)).length >= GAP ? true : undefined), 30_000);
      // The gap: requests sent after the kill and answered before any new llm-authz existed.
      const gap = load.outcomes.filter((o) => o.i >= sentAtKill);
      restarted = await startAuthz({ config: QUICKSTART_CONFIG, workDir: s.workDir, listen: `127.0.0.1:${s.authz.port}`, name: 'llm-authz-restarted' });
      const proc = restarted;
      await waitFor('Envoy to see the restarted llm-authz healthy', async () => ((await s.envoy.clusterHealth('llm_authz'))[0] === 'HEALTHY' ? true : undefined), 30_000);
      const sentAtHealthy = load.sent();
      await waitFor(`${AFTER} requests sent after the recovery`, () => (load.sent() >= sentAtHealthy + AFTER ? true : undefined), 30_000);
      load.stop();
      const outcomes = await load.done();
      const records = await proc.settledDecisions();
      const after = outcomes.filter((o) => o.i >= sentAtHealthy);
      const judged = judge(outcomes, quickstartGood, { provider: s.openai.requests.slice(providerBefore) });
      const summary = JSON.stringify({
        byStatus: byStatus(outcomes),
        ...judged.summary,
        sentAtKill,
        gap: { n: gap.length, byStatus: byStatus(gap) },
        sentAtHealthy,
        after: { n: after.length, byStatus: byStatus(after) },
        restartedRecords: records.length,
        latency: percentiles(outcomes),
      });
      process.stderr.write(`[faults] authz SIGKILL: ${summary}\n`);

      // never an allow that the good state denies; every answer is llm-authz's (as the good state
      // decides, or its deadline deny) or Envoy's own 503; a provider request only for a 200
      expect(deniedNeverAllowed(outcomes), summary).toEqual([]);
      expect(judged.problems, summary).toEqual([]);
      // the gap: all Envoy's own 503s, none reached a provider
      expect(gap.length, summary).toBeGreaterThanOrEqual(GAP);
      expect(
        gap.filter((o) => !envoyOwn(o)),
        summary,
      ).toEqual([]);
      const gapIds = new Set(gap.map((o) => o.requestId));
      expect(
        s.openai.requests.slice(providerBefore).filter((r) => gapIds.has(String(r.headers['x-request-id']))),
        summary,
      ).toEqual([]);
      // recovered by itself: every request sent after Envoy saw the restarted llm-authz healthy
      // was answered by it (a record each, as the good state decides, or its deadline deny) or,
      // on a machine too busy to pass the check on in time, by Envoy's own 503; and it allowed some
      const afterIds = new Set(after.map((o) => o.requestId));
      const afterRecords = records.filter((r) => afterIds.has(String(r['http.request.id'])));
      expect(judge(after, quickstartGood, { records: afterRecords }).problems, summary).toEqual([]);
      const recorded = new Set(afterRecords.map((r) => r['http.request.id']));
      expect(
        after.filter((o) => o.status === 200 && recorded.has(o.requestId)),
        summary,
      ).not.toEqual([]);
    } finally {
      load.stop();
      await load.done();
    }
  });
});
