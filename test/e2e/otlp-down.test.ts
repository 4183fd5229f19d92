/**
 * With the OTLP endpoint down, Checks are still answered, the span queue stays bounded (its
 * length, llm_authz.telemetry.span_queue.size, sampled every 500 checks, never exceeds
 * max_queue_size) and the drop metric rises. Latency and RSS figures go into
 * test-results/otlp-down-report-*.json; they are reported, not asserted (the heap that queued
 * spans hold is asserted in test/unit/span-queue.test.ts, where the collector never answers).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
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
/** The span queue length is read from the Prometheus endpoint every SAMPLE checks. */
const SAMPLE = 500;
const MAX_QUEUE = 256;

function rssKb(pid: number | undefined): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0);
}

/** A collector that accepts TCP connections and never answers (nor closes them). */
async function startHangingCollector(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((sock) => {
    sockets.add(sock);
    sock.on('error', () => undefined);
    sock.on('close', () => sockets.delete(sock));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const a = server.address();
  return {
    port: typeof a === 'object' && a ? a.port : 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const sock of sockets) sock.destroy();
        server.close(() => resolve());
      }),
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

describe('OTLP endpoint down', () => {
  // `none` (no exporter) is the baseline the report compares against. A closed port fails each
  // export at once (the queue drains by failing); a collector that accepts and never answers
  // holds each export for export_timeout_ms, so the queue fills and only its bound holds it.
  it.each([
    ['none', 'none'],
    ['http/protobuf', 'closed'],
    ['grpc', 'closed'],
    ['http/protobuf', 'hanging'],
    ['grpc', 'hanging'],
  ] as const)('%s, collector %s: every check is answered, the span queue is bounded, the drop metric rises', async (protocol, collector) => {
    const name = `${protocol.replace('/', '-')}${collector === 'none' ? '' : `-${collector}`}`;
    const dir = newWorkDir(`otlp-down-${name}`);
    const metricsPort = await freePort();
    const hanging = collector === 'hanging' ? await startHangingCollector() : undefined;
    const port = hanging?.port ?? (await freePort()); // closed: nothing listens there
    const config = quickstartConfigWith(dir, (c) => {
      c['decision_log'] = { sink: path.join(dir, 'decisions.jsonl') };
      c['telemetry'] = {
        traces:
          protocol === 'none'
            ? { exporter: 'none' }
            : {
                protocol,
                endpoint: `http://127.0.0.1:${port}`,
                max_queue_size: MAX_QUEUE,
                max_export_batch_size: 64,
                scheduled_delay_ms: 50,
                export_timeout_ms: collector === 'hanging' ? 30_000 : 500,
              },
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
      const queueSizes: number[] = [];
      const latencies: number[] = [];
      let answered = 0;
      let allowed = 0;
      for (let i = 0; i < CHECKS; i += CONCURRENCY) {
        if (i > 0 && i % ROUND === 0) rss.push(rssKb(authz.child.proc.pid));
        if (protocol !== 'none' && i % SAMPLE === 0) queueSizes.push(sample(await metrics(), 'llm_authz_telemetry_span_queue_size'));
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
      if (protocol !== 'none') queueSizes.push(sample(await metrics(), 'llm_authz_telemetry_span_queue_size'));
      expect(answered).toBe(CHECKS);
      if (protocol !== 'none') {
        // The queue is real (the gauge is there and was read at every sample) and never exceeds its bound.
        expect(queueSizes).toHaveLength(CHECKS / SAMPLE + 1);
        expect(Math.max(...queueSizes)).toBeLessThanOrEqual(MAX_QUEUE);
        // A collector that never answers lets nothing out: the queue fills up to its bound, and stays there.
        if (collector === 'hanging') expect(queueSizes.at(-1)).toBe(MAX_QUEUE);
        expect((await metrics()).includes('llm_authz_telemetry_span_queue_size')).toBe(true);
      }
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
        collector,
        checks: CHECKS,
        concurrency: CONCURRENCY,
        latency_ms: { p50: percentile(latencies, 50), p90: percentile(latencies, 90), p99: percentile(latencies, 99), max: latencies.at(-1) },
        rss_kb_per_round: rss,
        span_queue_sizes: queueSizes,
        spans_dropped: dropped,
        exit_after_sigterm_ms: Math.round(exitMs),
        max_queue_size: MAX_QUEUE,
      };
      writeFileSync(path.join(ROOT, 'test-results', `otlp-down-report-${name}.json`), `${JSON.stringify(report, null, 2)}\n`);
      process.stderr.write(`[e2e] OTLP down (${protocol}, collector ${collector}): ${JSON.stringify(report)}\n`);
    } finally {
      client.close();
      await authz.stop();
      await hanging?.close();
    }
  });
});
