/**
 * The paced tail request by request (not part of the suite): llm-authz with the benchmark's config
 * (bench/setup.ts), warmed as the full benchmark warms it (maximum throughput, then the rate), then
 * paced by vegeta (h2c, evenly spaced). For each of the slowest 1% of requests, the ones that set
 * the p99, it says what its server was doing while the request was out, from three records of the
 * same window on one clock:
 * - every GC pause inside llm-authz (bench/tail-requests-probe.ts, a PerformanceObserver);
 * - how the kernel scheduled llm-authz's main thread, the event loop (tracefs `sched_switch`
 *   events for its pid: on a CPU, runnable but waiting for one, asleep);
 * - with `--profile`, what ran on the main thread (a V8 CPU profile, 100 µs samples, mapped to
 *   source files through the bundle's source maps).
 * A request's time is split into GC pause, waiting for a CPU, main thread running (other than GC)
 * and main thread asleep (the request not yet read, or the answer already written: the client, the
 * kernel, the other process); its cause is the largest part. bench/tail.ts gives the same window's
 * totals; this says which of them the slow requests met. Needs root (tracefs) and vegeta/h2load
 * (`bash scripts/tools.sh loadgen`).
 *   node bench/tail-requests.ts [--rate 250] [--seconds 8] [--rounds 1] [--no-spans] [--profile] [--node-option=--flag ...]
 * `--no-spans` drops the config's span export (to see its share; the benchmark always exports).
 */
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT } from '../devstack/tools.ts';
import { CHECK_GRPC_HEADERS, checkUrl, h2loadChecks } from './h2load.ts';
import { inBenchWorkspace, startLlmAuthz } from './servers.ts';
import { BENCH_ENV } from './setup.ts';
import { type Interval, overlapMs, schedTimelines, wallMinusMonoMs, withSchedTrace } from './sched-trace.ts';
import { type RequestTiming, vegeta, vegetaRequests } from './vegeta.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The main thread's scheduling over a window, as wall-clock intervals (ms since the epoch). */
export interface MainThreadTimeline {
  readonly onCpu: Interval[];
  readonly runnableWait: Interval[];
}

/** tracefs sched_switch lines for `pid` (timestamps on the monotonic clock, seconds) as wall-clock intervals. */
export function mainThreadTimeline(trace: string, pid: number, wallMinusMonoMs: number): MainThreadTimeline {
  const t = schedTimelines(trace, wallMinusMonoMs, (tid) => (tid === pid ? 'main' : undefined));
  return { onCpu: t.onCpu.get('main') ?? [], runnableWait: t.waiting.get('main') ?? [] };
}

export type Cause = 'gc pause' | 'waiting for a CPU' | 'main thread running' | 'main thread asleep';

export interface SlowRequest extends RequestTiming {
  readonly parts: Readonly<Record<Cause, number>>;
  readonly cause: Cause;
}

/** The slowest 1% of the answered requests (at least one), each split by what its server's main thread did meanwhile. */
export function slowest(requests: readonly RequestTiming[], gcPauses: readonly Interval[], main: MainThreadTimeline): { p50: number; p99: number; slow: SlowRequest[] } {
  const ok = requests.filter((r) => r.ok).sort((a, b) => b.latencyMs - a.latencyMs);
  if (ok.length === 0) throw new Error('no request was answered');
  const n = Math.max(1, Math.ceil(ok.length / 100));
  const p50 = (ok[Math.floor(ok.length / 2)] as RequestTiming).latencyMs;
  const p99 = (ok[n - 1] as RequestTiming).latencyMs;
  const slow = ok.slice(0, n).map((r): SlowRequest => {
    const end = r.sentMs + r.latencyMs;
    const gc = overlapMs(r.sentMs, end, gcPauses);
    const wait = overlapMs(r.sentMs, end, main.runnableWait);
    const running = Math.max(0, overlapMs(r.sentMs, end, main.onCpu) - gc);
    const parts: Record<Cause, number> = {
      'gc pause': gc,
      'waiting for a CPU': wait,
      'main thread running': running,
      'main thread asleep': Math.max(0, r.latencyMs - gc - wait - running),
    };
    const cause = (Object.entries(parts) as [Cause, number][]).reduce((a, b) => (b[1] > a[1] ? b : a))[0];
    return { ...r, parts, cause };
  });
  return { p50, p99, slow };
}

/** The CPU profile's busy samples inside `windows` (wall-clock ms), by source file (inclusive: a file counts once per sample). */
export function profileByFile(profileFile: string, windows: readonly Interval[], wallMinusMonoMs: number): Map<string, number> {
  interface Node {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
    children?: number[];
  }
  const prof = JSON.parse(readFileSync(profileFile, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[]; startTime: number };
  const nodes = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const maps = new Map<string, SourceMap | undefined>();
  const label = (n: Node): string => {
    const url = n.callFrame.url;
    if (url.startsWith('file://') && url.includes('/dist/bundle/')) {
      if (!maps.has(url)) {
        const mapFile = `${new URL(url).pathname}.map`;
        maps.set(url, existsSync(mapFile) ? new SourceMap(JSON.parse(readFileSync(mapFile, 'utf8'))) : undefined);
      }
      const e = maps.get(url)?.findEntry(n.callFrame.lineNumber, n.callFrame.columnNumber);
      if (e && 'originalSource' in e && e.originalSource) return e.originalSource.replace(/^.*?(node_modules\/(@[^/]+\/)?[^/]+|src\/.*)$/, '$1');
    }
    return url ? url.split('/').slice(0, 3).join('/') : n.callFrame.functionName;
  };
  const labels = new Map<number, Set<string>>();
  const stack = (id: number): Set<string> => {
    let s = labels.get(id);
    if (s) return s;
    s = new Set();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = nodes.get(cur);
      if (n && n.callFrame.functionName !== '(root)') s.add(label(n));
    }
    labels.set(id, s);
    return s;
  };
  const counts = new Map<string, number>();
  let t = prof.startTime;
  let total = 0;
  for (let i = 0; i < prof.samples.length; i++) {
    t += prof.timeDeltas[i] ?? 0;
    const wall = t / 1000 + wallMinusMonoMs;
    if (!windows.some(([a, b]) => wall >= a && wall <= b)) continue;
    const id = prof.samples[i] as number;
    if (nodes.get(id)?.callFrame.functionName === '(idle)') continue;
    total++;
    for (const l of stack(id)) counts.set(l, (counts.get(l) ?? 0) + 1);
  }
  counts.set('(all busy samples)', total);
  return counts;
}

interface Round {
  readonly requests: number;
  readonly p50: number;
  readonly p99: number;
  readonly slow: SlowRequest[];
  readonly gc: { readonly count: number; readonly totalMs: number };
  readonly main: { readonly onCpuMs: number; readonly waitMs: number; readonly slicesOver1Ms: number };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rate: { type: 'string', default: '250' },
      seconds: { type: 'string', default: '8' },
      rounds: { type: 'string', default: '1' },
      'no-spans': { type: 'boolean', default: false },
      profile: { type: 'boolean', default: false },
      'node-option': { type: 'string', multiple: true, default: [] },
    },
  });
  const rate = Number(values.rate);
  const seconds = Number(values.seconds);
  const rounds = Number(values.rounds);
  await inBenchWorkspace('llm-authz-tail-requests-', async ({ workDir, files, frameFile }) => {
    if (values['no-spans']) {
      const text = readFileSync(files.config, 'utf8');
      const without = text.replace(/telemetry:\n {2}traces:\n(?: {4}\S.*\n)+/, '');
      if (without === text) throw new Error('the benchmark config no longer has its traces section');
      writeFileSync(files.config, without);
    }
    const probeOut = path.join(workDir, 'gc-pauses.json');
    const profDir = path.join(workDir, 'profile');
    const server = await startLlmAuthz(workDir, files.config, { ...BENCH_ENV, TAIL_PROBE_OUT: probeOut }, [
      '--import',
      path.join(ROOT, 'bench', 'tail-requests-probe.ts'),
      ...(values.profile ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`, '--cpu-prof-interval=100'] : []),
      ...(values['node-option'] ?? []),
    ]);
    const url = checkUrl(server.port);
    const results: Round[] = [];
    const offset = wallMinusMonoMs();
    try {
      // As in the full benchmark, the paced rows come after maximum-throughput load.
      await h2loadChecks({ port: server.port, dataFile: frameFile, durationS: 5, workDir });
      await vegeta({ url, dataFile: frameFile, headers: CHECK_GRPC_HEADERS, rate, durationS: 3, h2c: true, workDir });
      for (let round = 0; round < rounds; round++) {
        rmSync(probeOut, { force: true });
        const traceFile = path.join(workDir, 'sched.txt');
        const requests = await withSchedTrace({ traceFile, bufferKb: 8192, wakeups: false, switchFilter: `prev_pid == ${server.pid} || next_pid == ${server.pid}` }, async () => {
          process.kill(server.pid, 'SIGUSR2');
          await sleep(200);
          const r = await vegetaRequests({ url, dataFile: frameFile, headers: CHECK_GRPC_HEADERS, rate, durationS: seconds, h2c: true, workDir });
          await sleep(200);
          process.kill(server.pid, 'SIGUSR2');
          return r;
        });
        for (let i = 0; i < 50 && !existsSync(probeOut); i++) await sleep(100);
        const { pauses } = JSON.parse(readFileSync(probeOut, 'utf8')) as { pauses: [number, number, number][] };
        const gcPauses: Interval[] = pauses.map(([start, ms]) => [start, start + ms]);
        const main = mainThreadTimeline(readFileSync(traceFile, 'utf8'), server.pid, offset);
        const { p50, p99, slow } = slowest(requests, gcPauses, main);
        const slices = main.onCpu.map(([a, b]) => b - a);
        results.push({
          requests: requests.length,
          p50,
          p99,
          slow,
          gc: { count: pauses.length, totalMs: pauses.reduce((a, p) => a + p[1], 0) },
          main: { onCpuMs: slices.reduce((a, b) => a + b, 0), waitMs: main.runnableWait.reduce((a, [x, y]) => a + y - x, 0), slicesOver1Ms: slices.filter((s) => s > 1).length },
        });
      }
    } finally {
      await server.stop();
    }
    const f = (n: number): string => n.toFixed(2);
    process.stdout.write(`llm-authz at ${rate}/s paced, ${seconds} s per round${values['no-spans'] ? ', span export off' : ''}\n\n`);
    process.stdout.write(
      '| round | requests | p50 ms | p99 ms | GC pauses | GC ms | main thread on CPU ms | waiting for a CPU ms | on-CPU slices > 1 ms |\n|---|---|---|---|---|---|---|---|---|\n',
    );
    results.forEach((r, i) => {
      process.stdout.write(
        `| ${i + 1} | ${r.requests} | ${f(r.p50)} | ${f(r.p99)} | ${r.gc.count} | ${f(r.gc.totalMs)} | ${r.main.onCpuMs.toFixed(0)} | ${r.main.waitMs.toFixed(0)} | ${r.main.slicesOver1Ms} |\n`,
      );
    });
    const slow = results.flatMap((r) => r.slow);
    const causes: Cause[] = ['gc pause', 'waiting for a CPU', 'main thread running', 'main thread asleep'];
    process.stdout.write(
      `\nThe slowest 1% (${slow.length} requests over ${results.length} round(s)), by the largest part of their time:\n\n| cause | requests | their median latency ms | mean ms of it per request |\n|---|---|---|---|\n`,
    );
    for (const c of causes) {
      const these = slow.filter((s) => s.cause === c);
      if (these.length === 0) continue;
      const lat = these.map((s) => s.latencyMs).sort((a, b) => a - b);
      process.stdout.write(`| ${c} | ${these.length} | ${f(lat[Math.floor(lat.length / 2)] as number)} | ${f(these.reduce((a, s) => a + s.parts[c], 0) / these.length)} |\n`);
    }
    process.stdout.write(`\nMean split of a slow request (ms): ${causes.map((c) => `${c} ${f(slow.reduce((a, s) => a + s.parts[c], 0) / slow.length)}`).join(', ')}\n`);
    if (values.profile) {
      const file = readdirSync(profDir).find((n) => n.endsWith('.cpuprofile'));
      if (!file) throw new Error(`no CPU profile in ${profDir}`);
      const counts = profileByFile(
        path.join(profDir, file),
        slow.map((s) => [s.sentMs, s.sentMs + s.latencyMs] as const),
        offset,
      );
      const total = counts.get('(all busy samples)') ?? 0;
      counts.delete('(all busy samples)');
      process.stdout.write(`\nWhat ran on the main thread while the slowest 1% were out (${total} busy samples of 100 µs, a file counted once per sample):\n\n`);
      for (const [file, n] of [...counts].sort((a, b) => b[1] - a[1]).slice(0, 20)) process.stdout.write(`- ${((100 * n) / Math.max(1, total)).toFixed(0)}% ${file}\n`);
    }
  });
}

if (import.meta.main) {
  main().catch((err: unknown) => {
    process.stderr.write(`tail-requests failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
