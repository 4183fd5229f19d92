/**
 * Fault: Envoy killed (SIGKILL, its HTTP/2 connections to llm-authz cut mid-stream) and started
 * again while llm-authz keeps running, under a steady load. llm-authz logs no error and keeps its
 * process; the new Envoy's connections are accepted and decided as before.
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { startEnvoy, type EnvoyProcess } from '../../devstack/envoy.ts';
import { waitFor } from '../../devstack/ports.ts';
import { QUICKSTART_CONFIG } from '../helpers/demo-keys.ts';
import { judge, quickstartGood } from '../helpers/fault-judge.ts';
import { byStatus, deniedNeverAllowed, percentiles, startLoad } from '../helpers/load.ts';
import { useStack } from '../helpers/stack.ts';

const RATE = 200;

describe('Envoy killed and restarted while llm-authz keeps running', () => {
  const stack = useStack('faults-envoy-restart', { config: QUICKSTART_CONFIG });
  let second: EnvoyProcess | undefined;
  afterAll(async () => {
    await second?.stop();
  });

  it('no error in llm-authz, connections re-established, decisions as before', async () => {
    const s = stack();
    const pid = s.authz.child.proc.pid;
    const providerFirst = s.openai.requests.length;
    const first = await startLoad({ url: s.url, rate: RATE, durationMs: 2000 }).done();
    const providerCut = s.openai.requests.length;
    const logsBefore = s.authz.logs().length;
    const decisionsBefore = (await s.authz.settledDecisions()).length;

    // Kill Envoy in the middle of a load, so streams to llm-authz are cut while open.
    const cut = startLoad({ url: s.url, rate: RATE, durationMs: 1500 });
    await waitFor('llm-authz to answer requests of the load that is cut', () => (cut.outcomes.filter((o) => o.decisionId !== undefined).length >= 20 ? true : undefined), 20_000);
    expect(await s.envoy.child.stop('SIGKILL')).toBe('SIGKILL');
    await cut.done();

    const text = readFileSync(s.envoy.configFile, 'utf8');
    const old = s.envoy.ports;
    second = await startEnvoy({
      workDir: s.workDir,
      name: 'envoy-restarted',
      render: (ports) => text.replace(`port_value: ${old.listen}`, `port_value: ${ports.listen}`).replace(`port_value: ${old.admin}`, `port_value: ${ports.admin}`),
    });
    const envoy = second;
    await waitFor('the new Envoy to see llm-authz healthy', async () => ((await envoy.clusterHealth('llm_authz'))[0] === 'HEALTHY' ? true : undefined), 10_000);
    const url = `http://127.0.0.1:${envoy.ports.listen}`;
    const providerBefore = s.openai.requests.length;
    const after = await startLoad({ url, rate: RATE, durationMs: 3000 }).done();
    const judgedFirst = judge(first, quickstartGood, { provider: s.openai.requests.slice(providerFirst, providerCut) });
    const judgedAfter = judge(after, quickstartGood, { provider: s.openai.requests.slice(providerBefore) });
    const summary = JSON.stringify({
      before: { byStatus: byStatus(first), ...judgedFirst.summary },
      after: { byStatus: byStatus(after), ...judgedAfter.summary },
      latencyAfter: percentiles(after),
    });
    process.stderr.write(`[faults] envoy restart: ${summary}\n`);

    // the same llm-authz process, deciding for the new Envoy exactly as for the old one
    expect(s.authz.child.proc.pid).toBe(pid);
    expect(s.authz.child.proc.exitCode).toBeNull();
    // every answer is llm-authz's decision as the good state decides, or a fail-closed 503 (its
    // deadline, or Envoy's own under load); a provider request only for a 200
    for (const [outcomes, judged] of [
      [first, judgedFirst],
      [after, judgedAfter],
    ] as const) {
      expect(deniedNeverAllowed(outcomes), summary).toEqual([]);
      expect(judged.problems, summary).toEqual([]);
    }
    // every decision made through the new Envoy was recorded
    const decisions = await s.authz.settledDecisions();
    const afterIds = new Set(after.map((o) => o.requestId));
    const recordedAfter = decisions.slice(decisionsBefore).filter((d) => afterIds.has(String(d['http.request.id'])));
    // every answer llm-authz gave through the new Envoy has its record, as the good state decides;
    // both answers are among them, whatever the load
    expect(judge(after, quickstartGood, { records: recordedAfter }).problems, summary).toEqual([]);
    expect(
      recordedAfter.some((d) => d['decision.effect'] === 'allow'),
      summary,
    ).toBe(true);
    expect(
      recordedAfter.some((d) => d['decision.reason'] === 'model_not_allowed'),
      summary,
    ).toBe(true);
    // nothing at warn level or above in llm-authz's log since the cut
    const problems = s.authz
      .logs()
      .slice(logsBefore)
      .filter((l) => typeof l['level'] === 'number' && (l['level'] as number) >= 40);
    expect(problems).toEqual([]);
  });
});
