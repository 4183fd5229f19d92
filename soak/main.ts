/**
 * `npm run soak -- --minutes N [--rate R]`: a steady load through the real Envoy for N minutes
 * (R requests a second, default 150): API-key callers (gateway Envoy), JWT callers (gateway
 * Envoy) and SPIFFE callers (mTLS Envoy), each also sending requests the policies or scopes deny,
 * while the policy set reloads, the API key rotates and the JWT signing key rotates (churn.ts).
 * Per minute: requests, answers, client p50/p99, llm-authz's RSS, V8 heap and event-loop delay.
 *
 * Fails (exit 1) when: a request the configuration denies is allowed; more than 0.1% of
 * llm-authz's answers are not the expected ones (e.g. a rotated key refused); RSS grows by more
 * than 64 MiB or the heap by more than 32 MiB from the end of the first third of the run to the
 * last minute. The first third is warm-up: V8 sizes its young generation and the allocator its
 * arenas to the load, and RSS rises by tens of MiB while the heap stays flat (measured: about
 * 100 MiB over the first 9 minutes of a 30-minute run, then flat); a leak keeps growing after.
 * Memory is sampled every 5 s and each minute is represented by its lowest sample: the heap and
 * RSS saw-tooth between collections, and the low points follow what is live. Requests Envoy answered itself because no decision came within its 1 s timeout
 * (503 without llm-authz's reason header: a machine too busy for the rate) are counted and
 * reported per minute, not failed on: latency belongs to the benchmarks. Report: soak-report.json
 * in the work folder (printed at the end).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { Agent } from 'node:http';
import { send, type RawRequest } from '../test/helpers/http.ts';
import { sample, scrape } from '../test/helpers/metrics.ts';
import { startChurn } from './churn.ts';
import { setupSoak, type SoakWorld } from './setup.ts';

const RSS_BOUND_MIB = 64;
const HEAP_BOUND_MIB = 32;
const WRONG_BOUND = 0.001;

interface Shot {
  readonly caller: 'api_key' | 'jwt' | 'spiffe';
  readonly request: RawRequest;
  readonly url: string;
  /** The expected answer: status and reason. */
  readonly expect: string;
}

interface Minute {
  minute: number;
  requests: number;
  answers: Record<string, number>;
  /** llm-authz answered, but not what the configuration decides. */
  wrong: number;
  /** No decision in time: Envoy's own 503 (no reason header), or no answer at all. */
  undecided: number;
  allowedButDenied: number;
  latencies: number[];
  rssMiB: number[];
  heapMiB: number[];
  /** Event-loop delay p99 of each 5 s sample. */
  loopDelayP99Ms: number[];
}

const chat = (model: string): string => JSON.stringify({ model, messages: [{ role: 'user', content: 'say hello' }] });

function shot(w: SoakWorld, i: number, gateway: string, mtls: string, agent: Agent): Shot {
  // every caller sends one request in 10 that the configuration denies
  const deny = Math.floor(i / 5) % 10 === 9;
  const json: [string, string] = ['content-type', 'application/json'];
  switch (i % 5) {
    case 0:
    case 1:
    case 2:
      return i % 5 === 2
        ? {
            caller: 'jwt',
            url: gateway,
            request: { path: '/v1/chat/completions', headers: [json, ['authorization', `Bearer ${w.token}`]], body: chat(deny ? 'gpt-4.1' : 'gpt-4o-mini'), agent },
            expect: deny ? '403 model_not_allowed' : '200',
          }
        : {
            caller: 'api_key',
            url: gateway,
            request: { path: '/v1/chat/completions', headers: [json, ['authorization', `Bearer ${w.apiKey.key}`]], body: chat(deny ? 'gpt-4.1' : 'gpt-4o-mini'), agent },
            expect: deny ? '403 model_not_allowed' : '200',
          };
    default:
      return {
        caller: 'spiffe',
        url: mtls,
        request: { path: '/v1/chat/completions', headers: [json], body: chat('gpt-4o-mini'), agent: deny ? w.spiffeAgents.denied : w.spiffeAgents.allowed },
        expect: deny ? '403 denied_by_policy' : '200',
      };
  }
}

function pct(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round((s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN) * 10) / 10;
}

/** The lowest / highest sample, to one decimal (NaN when there is none). */
function low(xs: number[]): number {
  return xs.length === 0 ? NaN : Math.round(Math.min(...xs) * 10) / 10;
}
function high(xs: number[]): number {
  return xs.length === 0 ? NaN : Math.round(Math.max(...xs) * 10) / 10;
}

function rssMiB(pid: number | undefined): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? NaN) / 1024;
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { minutes: { type: 'string', default: '5' }, rate: { type: 'string', default: '150' } }, strict: true });
  const minutes = Number(values.minutes);
  const rate = Number(values.rate);
  if (!(minutes >= 1 && minutes <= 24 * 60) || !(rate >= 1 && rate <= 2000)) {
    process.stderr.write('usage: npm run soak -- --minutes N [--rate R]   (1-1440 minutes, 1-2000 requests a second)\n');
    return 2;
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'llm-authz-soak-'));
  const w = await setupSoak(dir);
  const churn = startChurn(w);
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const gateway = w.stack.url;
  const mtls = `https://127.0.0.1:${w.mtls.ports.listen}`;
  const pid = w.stack.authz.child.proc.pid;
  const buckets: Minute[] = Array.from({ length: minutes }, (_, m) => ({
    minute: m + 1,
    requests: 0,
    answers: {},
    wrong: 0,
    undecided: 0,
    allowedButDenied: 0,
    latencies: [],
    rssMiB: [],
    heapMiB: [],
    loopDelayP99Ms: [],
  }));
  const start = performance.now();
  const total = Math.floor(rate * 60 * minutes);
  let next = 0;
  const inflight = new Set<Promise<void>>();
  const fire = (i: number): void => {
    const s = shot(w, i, gateway, mtls, agent);
    const t0 = performance.now();
    const bucket = buckets[Math.min(minutes - 1, Math.floor((t0 - start) / 60_000))]!;
    bucket.requests++;
    const p = send(s.url, { ...s.request, timeoutMs: 10_000 })
      .then(
        (r) => {
          const reason = r.headers['x-llm-authz-reason'];
          return `${r.status}${typeof reason === 'string' ? ` ${reason}` : ''}`;
        },
        () => 'no answer',
      )
      .then((got) => {
        bucket.latencies.push(performance.now() - t0);
        const key = `${s.caller}: ${got}`;
        bucket.answers[key] = (bucket.answers[key] ?? 0) + 1;
        if (got === '503' || got === 'no answer') bucket.undecided++;
        else if (got !== s.expect) bucket.wrong++;
        if (s.expect !== '200' && got === '200') bucket.allowedButDenied++;
      })
      .finally(() => inflight.delete(p));
    inflight.add(p);
  };
  const bucketNow = (): Minute => buckets[Math.min(minutes - 1, Math.floor((performance.now() - start) / 60_000))]!;
  const sampleNow = async (): Promise<void> => {
    const b = bucketNow();
    b.rssMiB.push(rssMiB(pid));
    const text = await scrape(w.metricsPort);
    b.heapMiB.push(sample(text, 'v8js_memory_heap_used') / 1048576);
    b.loopDelayP99Ms.push(sample(text, 'nodejs_eventloop_delay', 'quantile="p99"') * 1000);
  };
  const sampler = setInterval(() => void sampleNow().catch(() => undefined), 5000);
  let reported = 0;
  const reporter = setInterval(() => {
    const b = buckets[reported];
    if (b === undefined || performance.now() - start < (reported + 1) * 60_000) return;
    reported++;
    process.stderr.write(
      `[soak] minute ${b.minute}: ${b.requests} requests, ${b.wrong} wrong, ${b.undecided} undecided, p50 ${pct(b.latencies, 0.5)} ms, p99 ${pct(b.latencies, 0.99)} ms, RSS min ${low(b.rssMiB)} MiB, heap min ${low(b.heapMiB)} MiB, loop p99 max ${high(b.loopDelayP99Ms)} ms\n`,
    );
  }, 1000);
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const due = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1000));
      while (next < due) fire(next++);
      if (next >= total) resolve();
      else setTimeout(tick, 5).unref();
    };
    tick();
  });
  while (inflight.size > 0) await Promise.all([...inflight]);
  await sampleNow();
  const text = await scrape(w.metricsPort);
  clearInterval(sampler);
  clearInterval(reporter);
  churn.stop();
  const reloads = { ok: sample(text, 'llm_authz_policy_reloads_total', 'outcome="ok"'), failed: sample(text, 'llm_authz_policy_reloads_total', 'outcome="failed"') };
  agent.destroy();
  await w.stop();

  const rows = buckets.map((b) => ({
    minute: b.minute,
    requests: b.requests,
    wrong: b.wrong,
    undecided: b.undecided,
    allowedButDenied: b.allowedButDenied,
    p50Ms: pct(b.latencies, 0.5),
    p99Ms: pct(b.latencies, 0.99),
    rssMiB: low(b.rssMiB),
    heapMiB: low(b.heapMiB),
    loopDelayP99Ms: high(b.loopDelayP99Ms),
    answers: b.answers,
  }));
  // the baseline: the last minute of the first third (warm-up)
  const first = rows[Math.max(0, Math.ceil(rows.length / 3) - 1)]!;
  const end = rows.at(-1)!;
  const requests = rows.reduce((n, r) => n + r.requests, 0);
  const wrong = rows.reduce((n, r) => n + r.wrong, 0);
  const undecided = rows.reduce((n, r) => n + r.undecided, 0);
  const allowedButDenied = rows.reduce((n, r) => n + r.allowedButDenied, 0);
  const failures: string[] = [];
  if (allowedButDenied > 0) failures.push(`${allowedButDenied} requests the configuration denies were allowed`);
  if (wrong > (requests - undecided) * WRONG_BOUND) failures.push(`${wrong} of ${requests - undecided} answers were not the expected ones (bound ${WRONG_BOUND * 100}%)`);
  if (end.rssMiB - first.rssMiB > RSS_BOUND_MIB)
    failures.push(`RSS grew ${Math.round(end.rssMiB - first.rssMiB)} MiB from minute ${first.minute} to minute ${end.minute} (bound ${RSS_BOUND_MIB} MiB)`);
  if (end.heapMiB - first.heapMiB > HEAP_BOUND_MIB)
    failures.push(`the heap grew ${Math.round(end.heapMiB - first.heapMiB)} MiB from minute ${first.minute} to minute ${end.minute} (bound ${HEAP_BOUND_MIB} MiB)`);
  const report = {
    minutes,
    rate,
    requests,
    wrong,
    undecided,
    allowedButDenied,
    churn: churn.counts,
    policyReloads: reloads,
    bounds: { rssMiB: RSS_BOUND_MIB, heapMiB: HEAP_BOUND_MIB, wrong: WRONG_BOUND },
    failures,
    perMinute: rows,
    workDir: dir,
  };
  writeFileSync(path.join(dir, 'soak-report.json'), `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`minute  requests  wrong  undecided  p50 ms  p99 ms  RSS MiB  heap MiB  loop p99 ms\n`);
  for (const r of rows)
    process.stdout.write(
      `${String(r.minute).padStart(6)}  ${String(r.requests).padStart(8)}  ${String(r.wrong).padStart(5)}  ${String(r.undecided).padStart(9)}  ${String(r.p50Ms).padStart(6)}  ${String(r.p99Ms).padStart(6)}  ${String(r.rssMiB).padStart(7)}  ${String(r.heapMiB).padStart(8)}  ${String(r.loopDelayP99Ms).padStart(11)}\n`,
    );
  process.stdout.write(
    `${JSON.stringify({ requests, wrong, undecided, allowedButDenied, churn: churn.counts, policyReloads: reloads, failures, report: path.join(dir, 'soak-report.json') })}\n`,
  );
  return failures.length > 0 ? 1 : 0;
}

process.exitCode = await main();
