/**
 * Fault: llm-authz killed (SIGKILL) and restarted on the same port, under a steady load through
 * the real Envoy. Every request in the gap is Envoy's own 503 (fail closed), none reaches a
 * provider, and traffic recovers by itself once the new process is up (Envoy's health check
 * sees SERVING again), without touching Envoy.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { startAuthz, type AuthzProcess } from '../../devstack/authz.ts';
import { waitFor } from '../../devstack/ports.ts';
import { QUICKSTART_CONFIG } from '../helpers/demo-keys.ts';
import { byStatus, deniedNeverAllowed, percentiles, startLoad } from '../helpers/load.ts';
import { useStack } from '../helpers/stack.ts';

const RATE = 200;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('llm-authz SIGKILLed and restarted under load', () => {
  const stack = useStack('faults-authz-kill', { config: QUICKSTART_CONFIG });
  let restarted: AuthzProcess | undefined;
  afterAll(async () => {
    await restarted?.stop();
  });

  it('the gap is 503s from Envoy that reach no provider; traffic recovers by itself', async () => {
    const s = stack();
    const providerBefore = s.openai.requests.length;
    const load = startLoad({ url: s.url, rate: RATE, durationMs: 9000 });
    await sleep(1500);
    const t0 = performance.now();
    await s.authz.stop('SIGKILL');
    const killedAt = performance.now() - t0 + 1500;
    await sleep(1000);
    const restartAt = performance.now() - t0 + 1500;
    restarted = await startAuthz({ config: QUICKSTART_CONFIG, workDir: s.workDir, listen: `127.0.0.1:${s.authz.port}`, name: 'llm-authz-restarted' });
    const upAt = performance.now() - t0 + 1500;
    await waitFor('Envoy to see the restarted llm-authz healthy', async () => ((await s.envoy.clusterHealth('llm_authz'))[0] === 'HEALTHY' ? true : undefined), 10_000);
    const outcomes = await load.done();
    const summary = JSON.stringify({ byStatus: byStatus(outcomes), killedAt, restartAt, upAt, latency: percentiles(outcomes) });
    process.stderr.write(`[faults] authz SIGKILL: ${summary}\n`);

    expect(outcomes.length, summary).toBe(Math.floor(RATE * 9));
    // never an allow that the good state denies, and every provider request is an answered 200
    expect(deniedNeverAllowed(outcomes), summary).toEqual([]);
    const ok = outcomes.filter((o) => o.status === 200).length;
    expect(s.openai.requests.length - providerBefore, summary).toBe(ok);
    // every answer is llm-authz's (200, or 403 with its reason) or Envoy's own 503 (the template's
    // local reply: reason authz_unavailable, no decision id)
    const odd = outcomes.filter((o) => !(o.status === 200 || (o.status === 403 && o.reason === 'model_not_allowed') || (o.status === 503 && o.reason === 'authz_unavailable')));
    expect(odd, summary).toEqual([]);
    // requests sent while no llm-authz ran are all Envoy's 503
    const gap = outcomes.filter((o) => o.at > killedAt + 100 && o.at + o.ms < restartAt);
    expect(gap.length, summary).toBeGreaterThan(RATE / 2);
    expect(
      gap.every((o) => o.status === 503 && o.reason === 'authz_unavailable'),
      summary,
    ).toBe(true);
    // recovered by itself: the last 2 seconds are decided by llm-authz again
    const tail = outcomes.filter((o) => o.at > 7000);
    expect(tail.length, summary).toBeGreaterThan(RATE);
    expect(
      tail.every((o) => o.status === 200 || o.status === 403),
      summary,
    ).toBe(true);
    expect(restarted.decisions().length).toBeGreaterThan(0);
  });
});
