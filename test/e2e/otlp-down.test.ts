/**
 * With the OTLP endpoint down, Checks are still answered, the span queue stays bounded (spans
 * are dropped, not piled up) and the drop metric rises. Latency and memory figures go into
 * test-results/otlp-down-report.json; they are reported, not asserted.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { startAuthz } from '../../devstack/authz.ts';
import { checkRequest, createAuthzClient } from '../../devstack/grpc-client.ts';
import { freePort, waitFor } from '../../devstack/ports.ts';
import { ROOT } from '../../devstack/tools.ts';
import { CHAT_KEY, quickstartConfigWith } from '../helpers/demo-keys.ts';
import { newWorkDir } from '../helpers/stack.ts';
import { SUITE_PROMPTS } from '../helpers/suite-secrets.ts';
import { sample } from '../helpers/metrics.ts';

const CHECKS = 6000;
/** RSS is sampled every ROUND checks: a bounded queue shows as a plateau, not a climb. */
const ROUND = 2000;
const CONCURRENCY = 50;

function rssKb(pid: number | undefined): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

describe('OTLP endpoint down', () => {
  // `none` (no exporter) is the baseline the report compares against.
  it.each(['none', 'http/protobuf', 'grpc'] as const)('%s: every check is answered, the span queue is bounded, the drop metric rises', async (protocol) => {
    const dir = newWorkDir(`otlp-down-${protocol.replace('/', '-')}`);
    const metricsPort = await freePort();
    const deadPort = await freePort(); // nothing listens here
    const config = quickstartConfigWith(dir, (c) => {
      c['decision_log'] = { sink: path.join(dir, 'decisions.jsonl') };
      c['telemetry'] = {
        traces:
          protocol === 'none'
            ? { exporter: 'none' }
            : { protocol, endpoint: `http://127.0.0.1:${deadPort}`, max_queue_size: 256, max_export_batch_size: 64, scheduled_delay_ms: 50, export_timeout_ms: 500 },
        metrics: { prometheus: { listen: `127.0.0.1:${metricsPort}` } },
      };
    });
    const authz = await startAuthz({ config, workDir: dir });
    const client = createAuthzClient(`127.0.0.1:${authz.port}`);
    const metrics = async (): Promise<string> => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    try {
      const req = (i: number) =>
        checkRequest({
          headers: { authorization: `Bearer ${CHAT_KEY}`, 'content-type': 'application/json', 'x-request-id': `down-${i}` },
          body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: SUITE_PROMPTS[2] }] }),
        });
      // Warm-up, then the measured run.
      for (let i = 0; i < 50; i++) await client.check(req(i));
      const rss = [rssKb(authz.child.proc.pid)];
      const latencies: number[] = [];
      let answered = 0;
      let allowed = 0;
      for (let i = 0; i < CHECKS; i += CONCURRENCY) {
        if (i > 0 && i % ROUND === 0) rss.push(rssKb(authz.child.proc.pid));
        await Promise.all(
          Array.from({ length: Math.min(CONCURRENCY, CHECKS - i) }, async (_, j) => {
            const t = performance.now();
            const res = await client.check(req(i + j));
            latencies.push(performance.now() - t);
            answered++;
            if (((res['status'] as { code?: number } | undefined)?.code ?? 0) === 0) allowed++;
          }),
        );
      }
      rss.push(rssKb(authz.child.proc.pid));
      expect(answered).toBe(CHECKS);
      expect(allowed).toBe(CHECKS);

      let dropped = 0;
      if (protocol !== 'none') {
        dropped = await waitFor('the exporter drop counter to rise', async () => {
          const v = sample(await metrics(), 'llm_authz_telemetry_exporter_dropped_total', 'signal="traces"');
          return v > 0 ? v : undefined;
        });
        expect(dropped).toBeGreaterThan(0);
      }
      // The decision metrics count the same checks.
      expect(sample(await metrics(), 'llm_authz_decisions_total', 'effect="allow"')).toBe(CHECKS + 50);

      // SIGTERM still ends the process cleanly: exporters retrying towards the dead endpoint do not hold it.
      client.close();
      const stopAt = performance.now();
      expect(await authz.stop('SIGTERM')).toBe(0);
      const exitMs = performance.now() - stopAt;

      latencies.sort((a, b) => a - b);
      const report = {
        protocol,
        checks: CHECKS,
        concurrency: CONCURRENCY,
        latency_ms: { p50: percentile(latencies, 50), p90: percentile(latencies, 90), p99: percentile(latencies, 99), max: latencies.at(-1) },
        rss_kb_per_round: rss,
        spans_dropped: dropped,
        exit_after_sigterm_ms: Math.round(exitMs),
        max_queue_size: 256,
      };
      writeFileSync(path.join(ROOT, 'test-results', `otlp-down-report-${protocol.replace('/', '-')}.json`), `${JSON.stringify(report, null, 2)}\n`);
      process.stderr.write(`[e2e] OTLP down (${protocol}): ${JSON.stringify(report)}\n`);
    } finally {
      client.close();
      await authz.stop();
    }
  });
});
