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
    const first = await startLoad({ url: s.url, rate: RATE, durationMs: 2000 }).done();
    const logsBefore = s.authz.logs().length;
    const decisionsBefore = (await s.authz.settledDecisions()).length;

    // Kill Envoy in the middle of a load, so streams to llm-authz are cut while open.
    const cut = startLoad({ url: s.url, rate: RATE, durationMs: 1500 });
    await new Promise((r) => setTimeout(r, 700));
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
    const summary = JSON.stringify({ before: byStatus(first), after: byStatus(after), latencyAfter: percentiles(after) });
    process.stderr.write(`[faults] envoy restart: ${summary}\n`);

    // the same llm-authz process, deciding for the new Envoy exactly as for the old one
    expect(s.authz.child.proc.pid).toBe(pid);
    expect(s.authz.child.proc.exitCode).toBeNull();
    for (const outcomes of [first, after]) {
      expect(deniedNeverAllowed(outcomes), summary).toEqual([]);
      expect(
        outcomes.every((o) => o.status === 200 || (o.status === 403 && o.reason === 'model_not_allowed')),
        summary,
      ).toBe(true);
    }
    expect(s.openai.requests.length - providerBefore).toBe(after.filter((o) => o.status === 200).length);
    // every decision made through the new Envoy was recorded
    const decisions = await s.authz.settledDecisions();
    expect(decisions.length - decisionsBefore).toBeGreaterThanOrEqual(after.length);
    // nothing at warn level or above in llm-authz's log since the cut
    const problems = s.authz
      .logs()
      .slice(logsBefore)
      .filter((l) => typeof l['level'] === 'number' && (l['level'] as number) >= 40);
    expect(problems).toEqual([]);
  });
});
