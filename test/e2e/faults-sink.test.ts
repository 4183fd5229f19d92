/**
 * Fault: the decision-log sink fails (a full disk: the sink is /dev/full, whose every write fails
 * with ENOSPC), under a steady load through the real Envoy. Checks keep being answered exactly as
 * before, every lost line is counted (`llm_authz_decision_log_dropped_total` equals the decisions
 * made plus the outcome records of the allowed requests' responses), and llm-authz keeps running.
 */
import { describe, expect, it } from 'vitest';
import { freePort, waitFor } from '../../devstack/ports.ts';
import { quickstartConfigWith } from '../helpers/demo-keys.ts';
import { byStatus, deniedNeverAllowed, startLoad } from '../helpers/load.ts';
import { sample, scrape } from '../helpers/metrics.ts';
import { newWorkDir, useStack } from '../helpers/stack.ts';

const RATE = 200;
const metricsPort = await freePort();
const config = quickstartConfigWith(newWorkDir('faults-sink-config'), (cfg) => {
  cfg['decision_log'] = { sink: '/dev/full' };
  cfg['telemetry'] = { metrics: { prometheus: { listen: `127.0.0.1:${metricsPort}` } } };
});

describe('the decision-log sink is a full disk', () => {
  const stack = useStack('faults-sink', { config });

  it('checks keep being answered as before, every lost line is counted', async () => {
    const s = stack();
    const providerBefore = s.openai.requests.length;
    const outcomes = await startLoad({ url: s.url, rate: RATE, durationMs: 3000 }).done();
    const summary = JSON.stringify({ byStatus: byStatus(outcomes) });
    process.stderr.write(`[faults] decision log on /dev/full: ${summary}\n`);

    expect(deniedNeverAllowed(outcomes), summary).toEqual([]);
    expect(
      outcomes.every((o) => o.status === 200 || (o.status === 403 && o.reason === 'model_not_allowed')),
      summary,
    ).toBe(true);
    expect(s.openai.requests.length - providerBefore).toBe(outcomes.filter((o) => o.status === 200).length);
    // every decision's line and every outcome record's line was lost, and counted
    const counted = await waitFor('the drop count to catch up with the decisions and outcome records', async () => {
      const m = await scrape(metricsPort);
      const decisions = sample(m, 'llm_authz_decisions_total');
      const records = sample(m, 'llm_authz_outcomes_total');
      const dropped = sample(m, 'llm_authz_decision_log_dropped_total');
      return decisions >= outcomes.length && dropped === decisions + records ? { decisions, records, dropped } : undefined;
    });
    expect(counted.dropped).toBeGreaterThanOrEqual(outcomes.length);
    // one outcome record per answered allowed request
    expect(counted.records).toBeGreaterThanOrEqual(outcomes.filter((o) => o.status === 200).length);
    expect(s.authz.decisions()).toEqual([]);
    expect(s.authz.outcomes()).toEqual([]);
    expect(s.authz.child.proc.exitCode).toBeNull();
  });
});
