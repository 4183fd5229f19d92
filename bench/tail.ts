/**
 * Tail attribution for the paced rows (not part of the suite): llm-authz with the benchmark's
 * config (bench/setup.ts) at fixed rates (vegeta, h2c, evenly spaced), and inside it, over the same
 * window, the event loop's delay and every GC pause (bench/loop-probe.ts), and how the kernel
 * scheduled its main thread, the event loop (time on a CPU, time runnable but waiting for one, how
 * often it was preempted: procstat.ts's threadSched). A client p99 close to a GC or loop-delay
 * figure says which blocks produced it; a long runqueue wait with short loop delays says other
 * work kept the thread off the CPU.
 * `--trace-batch SIZE,DELAY_MS` sets the span export's batch size and delay (default: the config's).
 * `--idle-seconds S` leaves the server idle for S seconds before each rate's window, as the full
 * benchmark's servers idle while the others take their turn (default 0: windows back to back).
 *   node bench/tail.ts [--rates 250,500,1000] [--seconds 8] [--idle-seconds 0] [--trace-batch 512,1000] [--node-option=--flag ...]
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT } from '../devstack/tools.ts';
import { CHECK_GRPC_HEADERS, checkUrl, type LoadResult } from './h2load.ts';
import { threadSchedWindow, type ThreadSched } from './procstat.ts';
import { inBenchWorkspace, startLlmAuthz } from './servers.ts';
import { BENCH_ENV, setTraceBatch } from './setup.ts';
import { vegeta } from './vegeta.ts';

export interface LoopWindow {
  readonly delay: { readonly p50: number; readonly p99: number; readonly max: number };
  readonly utilization: number;
  readonly gc: { readonly scavenges: number; readonly markCompacts: number; readonly totalMs: number; readonly maxMs: number; readonly over5ms: number; readonly over10ms: number };
}

export interface TailPoint {
  readonly rate: number;
  readonly client: LoadResult;
  readonly server: LoopWindow;
  /** The server's main thread over the window. */
  readonly mainThread: ThreadSched;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function toggle(pid: number, logFile: string, seen: number): Promise<{ line: unknown; count: number }> {
  process.kill(pid, 'SIGUSR2');
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const lines = readFileSync(logFile, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{"loopProbe"'));
    if (lines.length > seen) return { line: (JSON.parse(lines[seen] as string) as { loopProbe: unknown }).loopProbe, count: seen + 1 };
    await sleep(50);
  }
  throw new Error(`the loop probe did not answer; log: ${logFile}`);
}

export async function measureTail(o: {
  workDir: string;
  config: string;
  env: NodeJS.ProcessEnv;
  frameFile: string;
  rates: readonly number[];
  durationS: number;
  /** Idle before each rate's window. */
  idleSeconds?: number;
  nodeArgs?: readonly string[];
}): Promise<TailPoint[]> {
  const server = await startLlmAuthz(o.workDir, o.config, o.env, ['--import', path.join(ROOT, 'bench', 'loop-probe.ts'), ...(o.nodeArgs ?? [])]);
  const logFile = path.join(o.workDir, 'llm-authz.log');
  const url = checkUrl(server.port);
  const headers = CHECK_GRPC_HEADERS;
  let seen = 0;
  try {
    await vegeta({ url, dataFile: o.frameFile, headers, rate: 500, durationS: 3, h2c: true, workDir: o.workDir });
    const points: TailPoint[] = [];
    for (const rate of o.rates) {
      if ((o.idleSeconds ?? 0) > 0) await sleep((o.idleSeconds ?? 0) * 1000);
      seen = (await toggle(server.pid, logFile, seen)).count;
      const sched = threadSchedWindow(server.pid);
      const client = await vegeta({ url, dataFile: o.frameFile, headers, rate, durationS: o.durationS, h2c: true, workDir: o.workDir });
      const mainThread = sched();
      const r = await toggle(server.pid, logFile, seen);
      seen = r.count;
      points.push({ rate, client, server: r.line as LoopWindow, mainThread });
    }
    return points;
  } finally {
    await server.stop();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rates: { type: 'string', default: '250,500,1000' },
      seconds: { type: 'string', default: '8' },
      'idle-seconds': { type: 'string', default: '0' },
      'trace-batch': { type: 'string' },
      'node-option': { type: 'string', multiple: true, default: [] },
    },
  });
  await inBenchWorkspace('llm-authz-tail-', async ({ workDir, files, frameFile }) => {
    if (values['trace-batch']) setTraceBatch(files.config, values['trace-batch']);
    const points = await measureTail({
      workDir,
      config: files.config,
      env: BENCH_ENV,
      frameFile,
      rates: (values.rates ?? '').split(',').map(Number),
      durationS: Number(values.seconds),
      idleSeconds: Number(values['idle-seconds']),
      nodeArgs: values['node-option'] ?? [],
    });
    process.stdout.write(
      '| rate/s | client p50 | p99 | max | loop delay p99 | max | loop busy | scavenges | mark-compacts | GC total ms | GC max ms | GC > 5 ms | GC > 10 ms | main thread on CPU ms | runqueue wait ms | preempted |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n',
    );
    for (const p of points) {
      const c = p.client;
      const s = p.server;
      const m = p.mainThread;
      process.stdout.write(
        `| ${p.rate} | ${c.p50.toFixed(2)} | ${c.p99.toFixed(2)} | ${c.max.toFixed(2)} | ${s.delay.p99} | ${s.delay.max} | ${s.utilization} | ${s.gc.scavenges} | ${s.gc.markCompacts} | ${s.gc.totalMs} | ${s.gc.maxMs} | ${s.gc.over5ms} | ${s.gc.over10ms} | ${m.onCpuMs.toFixed(0)} | ${m.runqueueWaitMs.toFixed(0)} | ${m.involuntary} |\n`,
      );
    }
  });
}

if (import.meta.main) {
  main().catch((err: unknown) => {
    process.stderr.write(`tail failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
