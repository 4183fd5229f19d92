/**
 * The cost of quotas per Check: the same closed-loop load (h2load, 4 connections x 16 streams,
 * the benchmark's API-key request) against llm-authz without quotas, with two quotas in the
 * embedded in-memory store, and with the same two quotas in a local Redis (one EVALSHA round trip
 * per Check). The quotas (a request rate and a token budget per workload, limits far above what
 * the run sends) apply to every request and never deny. Reported: requests/s, latency at that
 * maximum throughput, and llm-authz's CPU per Check (from /proc). Runs take turns, `rounds`
 * times; the median round counts. Called by bench/run.ts; `node bench/quota.ts` runs it alone.
 */
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkRequestFrame, createAuthzClient } from '../devstack/grpc-client.ts';
import { parseCheckRequest } from '../src/envoy/request-context.ts';
import { loadRuntime } from '../src/pipeline/runtime.ts';
import { createMemoryStore } from '../src/quota/memory-store.ts';
import { buildQuotas, type Quotas } from '../src/quota/quotas.ts';
import { createRedisStore } from '../src/quota/redis-store.ts';
import { quotasSchema } from '../src/quota/schema.ts';
import { startRedis } from '../devstack/redis.ts';
import { ROOT } from '../devstack/tools.ts';
import { h2loadChecks, type LoadResult } from './h2load.ts';
import { cpuSeconds, rssMiB } from './procstat.ts';
import { startLlmAuthz, startOtlpSink, type AuthzUnderTest } from './servers.ts';
import { BENCH_ENV, BENCH_KEY, benchCheckRequest, prepareBenchFiles } from './setup.ts';

export type QuotaPoint = LoadResult & { name: string; cpuUsPerCheck: number; redisCpuUsPerCheck: number; rssMiB: number; rounds: number[] };

/** The quota check alone, in this process: CPU and wall time per check, sequential and 64 at a time. */
export interface InProcessPoint {
  readonly store: string;
  readonly checks: number;
  readonly cpuUsPerCheck: number;
  readonly wallUsPerCheck: number;
  readonly concurrency: number;
}

export interface QuotaCost {
  readonly points: QuotaPoint[];
  readonly inProcess: InProcessPoint[];
  /** `uptime`'s load average when the runs started and ended (the machine is shared). */
  readonly loadAverage: { start: number[]; end: number[] };
  readonly durationS: number;
}

const QUOTAS = `quotas:
  rules:
    - name: bench-requests
      subject: workload
      requests: { limit: 1000000000000, window: 1h }
    - name: bench-tokens
      subject: workload
      tokens: { limit: 1000000000000, window: 1h }
`;

/** The base config with the quotas, next to it (its relative paths, the policies, stay valid). */
function quotaConfig(baseConfig: string, n: number, store: string): string {
  const file = path.join(path.dirname(baseConfig), `llm-authz-quota-${n}.yaml`);
  writeFileSync(file, `${readFileSync(baseConfig, 'utf8')}${QUOTAS}${store}`);
  return file;
}

/** The Check is allowed and, with quotas, carries them (the metadata the outcome path charges from). */
async function verify(server: AuthzUnderTest, request: unknown, withQuotas: boolean): Promise<void> {
  const client = createAuthzClient(`127.0.0.1:${server.port}`);
  try {
    const res = await client.check(request);
    const code = (res['status'] as { code?: number } | undefined)?.code ?? 0;
    if (code !== 0) throw new Error(`the quota benchmark's request is not allowed (status ${code})`);
    const fields = (res['dynamic_metadata'] as { fields?: Record<string, unknown> } | undefined)?.fields ?? {};
    if (withQuotas !== 'quota' in fields) throw new Error(`the quota benchmark's Check ${withQuotas ? 'took no quota' : 'took a quota'}: the comparison would be meaningless`);
  } finally {
    client.close();
  }
}

export async function quotaCost(o: { workDir: string; baseConfig: string; durationS: number; rounds: number; log: (m: string) => void }): Promise<QuotaCost> {
  const request = benchCheckRequest(2 * 1024, BENCH_KEY);
  const frameFile = path.join(o.workDir, 'quota-check.bin');
  writeFileSync(frameFile, checkRequestFrame(request));
  const redisDir = path.join(o.workDir, 'quota-redis');
  mkdirSync(redisDir, { recursive: true });
  const redis = await startRedis({ workDir: redisDir });
  const servers: [string, AuthzUnderTest][] = [];
  const loadAverage = { start: os.loadavg().map((x) => Math.round(x * 100) / 100), end: [] as number[] };
  try {
    const variants: [string, string | undefined][] = [
      ['no quotas', undefined],
      ['quotas, in-memory store', ''],
      ['quotas, Redis store', `  store: { type: redis, url: "${redis.url}", timeout_ms: 200 }\n`],
    ];
    for (const [name, store] of variants) {
      const file = store === undefined ? o.baseConfig : quotaConfig(o.baseConfig, servers.length, store);
      const runDir = path.join(o.workDir, `quota-${servers.length}`);
      mkdirSync(runDir, { recursive: true });
      o.log(`quota cost: ${name}: start`);
      const server = await startLlmAuthz(runDir, file, BENCH_ENV);
      servers.push([name, server]);
      await verify(server, request, store !== undefined);
      await load(server, frameFile, o.workDir, Math.min(2, o.durationS));
    }
    const runs = new Map<string, (LoadResult & { cpuUs: number; redisCpuUs: number })[]>();
    const redisCpu = (): number => {
      const pid = redis.pid();
      return pid === undefined ? Number.NaN : cpuSeconds(pid);
    };
    for (let round = 1; round <= o.rounds; round++) {
      for (const [name, server] of servers) {
        o.log(`quota cost: ${name}: maximum throughput, round ${round} of ${o.rounds}`);
        const cpu0 = cpuSeconds(server.pid);
        const redis0 = redisCpu();
        const r = await load(server, frameFile, o.workDir, o.durationS);
        const perCheck = (s: number): number => (r.requests > 0 ? (s * 1e6) / r.requests : Number.NaN);
        runs.set(name, [...(runs.get(name) ?? []), { ...r, cpuUs: perCheck(cpuSeconds(server.pid) - cpu0), redisCpuUs: perCheck(redisCpu() - redis0) }]);
      }
    }
    const points: QuotaPoint[] = [];
    for (const [name, server] of servers) {
      const rs = [...(runs.get(name) ?? [])].sort((a, b) => a.rps - b.rps);
      const median = rs[Math.floor(rs.length / 2)];
      if (median === undefined) continue;
      points.push({ ...median, name, cpuUsPerCheck: median.cpuUs, redisCpuUsPerCheck: median.redisCpuUs, rssMiB: rssMiB(server.pid), rounds: rs.map((r) => Math.round(r.rps)) });
    }
    o.log('quota cost: the quota check alone, in process');
    const inProcess = await inProcessCost(o.baseConfig, redis.url, request);
    loadAverage.end = os.loadavg().map((x) => Math.round(x * 100) / 100);
    return { points, inProcess, loadAverage, durationS: o.durationS };
  } finally {
    for (const [, s] of servers) await s.stop();
    await redis.stop();
  }
}

/**
 * The quota phase's own cost, without gRPC and the other phases: the bench request's identity and
 * LLM request (from the real phases, once), then `quotas.check` N times, one at a time and 64 at a
 * time (the Redis client pipelines concurrent commands on its one connection).
 */
async function inProcessCost(baseConfig: string, redisUrl: string, request: unknown): Promise<InProcessPoint[]> {
  // The bench config's provider key comes from the environment, as for the servers.
  for (const [k, v] of Object.entries(BENCH_ENV)) if (v !== undefined) process.env[k] ??= v;
  const rt = loadRuntime(baseConfig, { watchPolicies: false });
  const parsed = parseCheckRequest(request);
  if (!parsed.ok) throw new Error('the bench request does not parse');
  const ctx = parsed.value;
  const who = await rt.identify(ctx);
  const what = rt.understand(ctx);
  await rt.close();
  if (!who.ok || !what.ok) throw new Error('the bench request is not identified or not understood');
  const input = { ctx, identity: who.value, llm: what.value };
  const cfg = quotasSchema.parse({
    rules: [
      { name: 'bench-requests', subject: 'workload', requests: { limit: 1e12, window: '1h' } },
      { name: 'bench-tokens', subject: 'workload', tokens: { limit: 1e12, window: '1h' } },
    ],
  });
  if (cfg === undefined) throw new Error('no quota config');
  const out: InProcessPoint[] = [];
  for (const [store, make, n] of [
    ['in-memory', () => createMemoryStore(), 200_000],
    ['Redis', () => createRedisStore({ url: redisUrl, timeoutMs: 1000 }), 20_000],
  ] as const) {
    const quotas: Quotas = buildQuotas(cfg, { store: make() });
    if (!(await quotas.warm())) throw new Error(`the ${store} quota store is not reachable`);
    for (const concurrency of [1, 64]) {
      let id = 0;
      const one = async (): Promise<void> => {
        const r = await quotas.check(input, `b${id++}`);
        if (r.kind !== 'pass') throw new Error(`the quota check did not pass: ${r.kind}`);
      };
      for (let i = 0; i < 1000; i++) await one(); // warm-up
      const cpu0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      for (let done = 0; done < n; done += concurrency) await Promise.all(Array.from({ length: concurrency }, one));
      const wallUs = Number(process.hrtime.bigint() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      const checks = Math.ceil(n / concurrency) * concurrency;
      out.push({ store, checks, concurrency, cpuUsPerCheck: (cpu.user + cpu.system) / checks, wallUsPerCheck: wallUs / checks });
    }
    await quotas.close();
  }
  return out;
}

function load(server: AuthzUnderTest, frameFile: string, workDir: string, durationS: number): Promise<LoadResult> {
  return h2loadChecks({ port: server.port, dataFile: frameFile, durationS, workDir });
}

/** The report's section (appended to BENCHMARKS.md by bench/run.ts after the main report). */
export function quotaSection(c: QuotaCost): string {
  const base = c.points.find((p) => p.name === 'no quotas');
  const f = (n: number, d = 1): string => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');
  const lines = [
    '',
    '## Quota cost per Check',
    '',
    `Closed loop (h2load, 4 connections x 16 streams, ${c.durationS} s per run, median of the rounds), the API-key request, two quotas (requests and tokens per workload, one store operation per Check) that never deny; Redis on loopback. Load average (1, 5, 15 min) at the start: ${c.loadAverage.start.join(', ')}; at the end: ${c.loadAverage.end.join(', ')}.`,
    '',
    '| llm-authz | req/s | rounds | p50 ms | p99 ms | llm-authz CPU µs per Check | vs no quotas | redis-server CPU µs per Check | RSS MiB |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const p of c.points) {
    const d = base !== undefined && p !== base ? p.cpuUsPerCheck - base.cpuUsPerCheck : Number.NaN;
    const extra = Number.isFinite(d) ? `${d >= 0 ? '+' : '−'}${f(Math.abs(d))} µs` : '—';
    lines.push(
      `| ${p.name} | ${Math.round(p.rps)} | ${p.rounds.join(', ')} | ${f(p.p50, 2)} | ${f(p.p99, 2)} | ${f(p.cpuUsPerCheck)} | ${extra} | ${f(p.redisCpuUsPerCheck)} | ${f(p.rssMiB)} |`,
    );
  }
  lines.push(
    '',
    'The quota check alone (`quotas.check`: two quotas, one store operation), in the benchmark process, without gRPC or the other phases; CPU of the whole process (for Redis: the client side only, not redis-server):',
    '',
    '| store | checks | at a time | CPU µs per check | wall µs per check |',
    '|---|---|---|---|---|',
  );
  for (const p of c.inProcess) lines.push(`| ${p.store} | ${p.checks} | ${p.concurrency} | ${f(p.cpuUsPerCheck, 2)} | ${f(p.wallUsPerCheck, 2)} |`);
  return `${lines.join('\n')}\n`;
}

export function writeQuotaReport(c: QuotaCost): void {
  const outDir = path.join(ROOT, 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(path.join(outDir, 'quota.json'), `${JSON.stringify(c, null, 2)}\n`);
  appendFileSync(path.join(ROOT, 'BENCHMARKS.md'), quotaSection(c));
}

if (import.meta.main) {
  const quick = process.env['BENCH_QUICK'] === '1';
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'llm-authz-bench-quota-'));
  const log = (m: string): void => void process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${m}\n`);
  const sink = await startOtlpSink(workDir);
  try {
    const files = await prepareBenchFiles(workDir, sink.port);
    const c = await quotaCost({
      workDir,
      baseConfig: files.config,
      durationS: Number(process.env['BENCH_QUOTA_SECONDS'] ?? (quick ? 2 : 8)),
      rounds: Number(process.env['BENCH_QUOTA_ROUNDS'] ?? (quick ? 1 : 3)),
      log,
    });
    process.stdout.write(quotaSection(c));
    writeFileSync(path.join(workDir, 'quota.json'), JSON.stringify(c));
  } finally {
    await sink.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
}
