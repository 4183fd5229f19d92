/**
 * Fault: the decision-log sink fails (a full disk: the sink is /dev/full, whose every write fails
 * with ENOSPC), under a steady load through the real Envoy. Checks keep being answered as before,
 * judged from llm-authz's decision ids and its decision counter, not from timing (a 503 at a
 * deadline is a fail-closed answer the machine's load may cause, never an allow); every lost line
 * is counted (`llm_authz_decision_log_dropped_total` equals the decisions made plus the outcome
 * records of the allowed requests' responses), and llm-authz keeps running.
 */
import { describe, expect, it } from 'vitest';
import { freePort, waitFor } from '../../devstack/ports.ts';
import { quickstartConfigWith } from '../helpers/demo-keys.ts';
import { judge, quickstartGood } from '../helpers/fault-judge.ts';
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
    const judged = judge(outcomes, quickstartGood, { provider: s.openai.requests.slice(providerBefore) });
    // llm-authz's own count of every check, by effect and reason: one decision per request
    const m = await waitFor('a decision counted for every request', async () => {
      const text = await scrape(metricsPort);
      return sample(text, 'llm_authz_decisions_total') >= outcomes.length ? text : undefined;
    });
    const decided = {
      all: sample(m, 'llm_authz_decisions_total'),
      allowed: sample(m, 'llm_authz_decisions_total', 'effect="allow"'),
      modelNotAllowed: sample(m, 'llm_authz_decisions_total', 'reason="model_not_allowed"'),
      timeout: sample(m, 'llm_authz_decisions_total', 'reason="timeout"'),
    };
    const summary = JSON.stringify({ byStatus: byStatus(outcomes), ...judged.summary, decided });
    process.stderr.write(`[faults] decision log on /dev/full: ${summary}\n`);

    expect(deniedNeverAllowed(outcomes), summary).toEqual([]);
    // every answer is llm-authz's decision as before, or a fail-closed 503 (its own deadline, or
    // Envoy's when the machine is too busy to answer within its timeout); the provider got the 200s
    expect(judged.problems, summary).toEqual([]);
    expect(outcomes.filter((o) => o.expect === 'allow' && o.status === 200).length, summary).toBeGreaterThan(0);
    expect(outcomes.filter((o) => o.expect === 'deny' && o.status === 403).length, summary).toBeGreaterThan(0);
    // llm-authz decided every request (a failing sink stops no check), each as the good state or
    // at its deadline: no other reason (an internal error would be one)
    expect(decided.all, summary).toBe(outcomes.length);
    expect(decided.allowed + decided.modelNotAllowed + decided.timeout, summary).toBe(decided.all);
    expect(decided.allowed, summary).toBeLessThanOrEqual(outcomes.filter((o) => o.expect === 'allow').length);
    expect(decided.modelNotAllowed, summary).toBeLessThanOrEqual(outcomes.filter((o) => o.expect === 'deny').length);
    // every decision's line and every outcome record's line was lost, and counted
    const counted = await waitFor('the drop count to catch up with the decisions and outcome records', async () => {
      const text = await scrape(metricsPort);
      const decisions = sample(text, 'llm_authz_decisions_total');
      const records = sample(text, 'llm_authz_outcomes_total');
      const dropped = sample(text, 'llm_authz_decision_log_dropped_total');
      return dropped === decisions + records ? { decisions, records, dropped } : undefined;
    });
    expect(counted.dropped).toBeGreaterThanOrEqual(outcomes.length);
    // one outcome record per answered allowed request
    expect(counted.records).toBeGreaterThanOrEqual(outcomes.filter((o) => o.status === 200).length);
    expect(s.authz.decisions()).toEqual([]);
    expect(s.authz.outcomes()).toEqual([]);
    expect(s.authz.child.proc.exitCode).toBeNull();
  });
});
