/**
 * Bytes allocated per Check (not part of the suite; load-independent, unlike latency): the built
 * CLI's `serve` with the representative setup of bench/setup.ts (spans over OTLP/gRPC to a local
 * sink, a decision-log line per Check to a file), a fixed number of Checks sent by h2load
 * (4 connections x 16 streams), and bench/alloc-probe.ts preloaded into the server to read V8's
 * heap around them. An idle window of the same length is measured too and subtracted (timers,
 * metric collection), so what remains is the Checks' own allocation, including the span export
 * and decision-log flush they cause.
 *   node bench/alloc.ts [--checks 20000] [--warmup 5000] [--request jwt|key] [--trace-batch SIZE,DELAY_MS]
 *                       [--memory-limit MIB] [--node-option=--flag ...] [--json FILE]
 * Prints one line per figure and, with --json, writes them to FILE. With --memory-limit, the server
 * runs in a memory cgroup of that size (bench/cgroup.ts), and the cgroup's peak and OOM kills are
 * printed too; req/s (timing: load-dependent) is the measured Checks over their wall time.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { ROOT, TOOLS_DIR } from '../devstack/tools.ts';
import { CHECK_GRPC_HEADERS, checkUrl } from './h2load.ts';
import { rssMiB } from './procstat.ts';
import { startLlmAuthz, startOtlpSink } from './servers.ts';
import { BENCH_ENV, BENCH_KEY, prepareBenchFiles, setTraceBatch, writeBenchFrame } from './setup.ts';

const run = promisify(execFile);

export interface AllocWindow {
  readonly allocatedBytes: number;
  readonly promotedBytes: number;
  readonly scavenges: number;
  readonly markCompacts: number;
  readonly gcPauseMs: number;
  readonly maxGcPauseMs: number;
  readonly liveBytesBefore: number;
  readonly liveBytesAfter: number;
  readonly seconds: number;
}

export interface AllocResult {
  readonly checks: number;
  /** V8 heap bytes allocated per Check, the idle window's rate subtracted. */
  readonly bytesPerCheck: number;
  /** Bytes per Check that survived a scavenge into the old generation. */
  readonly promotedPerCheck: number;
  readonly scavengesPer1k: number;
  readonly gcPauseMsPer1k: number;
  readonly maxGcPauseMs: number;
  readonly idleBytesPerSecond: number;
  readonly rssMiB: number;
  readonly errors: number;
  /** The measured Checks over their wall time (load-dependent). */
  readonly rps: number;
  readonly memoryLimit?: { readonly limitMiB: number; readonly peakMiB: number; readonly oomKills: number };
}

/** Sends `n` Checks (the frame in `dataFile`) with h2load, 4 connections x 16 streams; returns the failed count. */
async function sendChecks(port: number, dataFile: string, n: number): Promise<number> {
  const { stdout } = await run(
    path.join(TOOLS_DIR, 'bin', 'h2load'),
    ['-t', '1', '-c', '4', '-m', '16', '-n', String(n), '-d', dataFile, ...CHECK_GRPC_HEADERS.flatMap((h) => ['-H', h]), checkUrl(port)],
    { maxBuffer: 16 * 1024 * 1024 },
  );
  const m = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(stdout);
  if (!m) throw new Error(`h2load printed no request summary:\n${stdout}`);
  return n - Number(m[4]);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Toggles the probe's window and waits for its line in the server's log. */
async function probe(pid: number, logFile: string, seen: number): Promise<{ line: unknown; count: number }> {
  process.kill(pid, 'SIGUSR2');
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const lines = readFileSync(logFile, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{"allocProbe"'));
    if (lines.length > seen) return { line: (JSON.parse(lines[seen] as string) as { allocProbe: unknown }).allocProbe, count: seen + 1 };
    await sleep(50);
  }
  throw new Error(`the allocation probe did not answer; log: ${logFile}`);
}

export async function measureAllocation(o: {
  workDir: string;
  config: string;
  env: NodeJS.ProcessEnv;
  frameFile: string;
  checks: number;
  warmup: number;
  nodeArgs?: readonly string[];
  memoryLimitMiB?: number;
}): Promise<AllocResult> {
  const probeFile = path.join(ROOT, 'bench', 'alloc-probe.ts');
  const server = await startLlmAuthz(
    o.workDir,
    o.config,
    o.env,
    ['--expose-gc', '--import', probeFile, ...(o.nodeArgs ?? [])],
    o.memoryLimitMiB === undefined ? {} : { memoryLimitMiB: o.memoryLimitMiB },
  );
  const logFile = path.join(o.workDir, 'llm-authz.log');
  let seen = readFileSync(logFile, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{"allocProbe"')).length;
  const window = async (work: () => Promise<void>): Promise<AllocWindow> => {
    seen = (await probe(server.pid, logFile, seen)).count;
    await work();
    // Spans leave in batches (scheduled_delay_ms 1000) and decision lines every 50 ms: wait for
    // both, so what the Checks cause is inside the window.
    await sleep(1500);
    const r = await probe(server.pid, logFile, seen);
    seen = r.count;
    return r.line as AllocWindow;
  };
  try {
    await sendChecks(server.port, o.frameFile, o.warmup);
    let errors = 0;
    let sendSeconds = 0;
    const started = performance.now();
    const busy = await window(async () => {
      errors = await sendChecks(server.port, o.frameFile, o.checks);
      sendSeconds = (performance.now() - started) / 1000;
    });
    const busySeconds = (performance.now() - started) / 1000;
    const idle = await window(() => sleep(Math.max(0, busySeconds * 1000 - 1500)));
    const idleRate = idle.allocatedBytes / idle.seconds;
    return {
      checks: o.checks,
      bytesPerCheck: (busy.allocatedBytes - idleRate * busy.seconds) / o.checks,
      promotedPerCheck: busy.promotedBytes / o.checks,
      scavengesPer1k: (busy.scavenges * 1000) / o.checks,
      gcPauseMsPer1k: (busy.gcPauseMs * 1000) / o.checks,
      maxGcPauseMs: busy.maxGcPauseMs,
      idleBytesPerSecond: idleRate,
      rssMiB: rssMiB(server.pid),
      errors,
      rps: o.checks / sendSeconds,
      ...(server.memory && o.memoryLimitMiB !== undefined
        ? { memoryLimit: { limitMiB: o.memoryLimitMiB, peakMiB: server.memory.peakMiB(), oomKills: server.memory.oomKills() } }
        : {}),
    };
  } catch (err) {
    const kills = server.memory?.oomKills() ?? 0;
    if (kills > 0)
      throw new Error(
        `llm-authz was OOM-killed in the ${o.memoryLimitMiB} MiB memory cgroup (${kills} kill${kills > 1 ? 's' : ''}; peak ${server.memory?.peakMiB().toFixed(0)} MiB)`,
      );
    throw err;
  } finally {
    await server.stop();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      checks: { type: 'string', default: '20000' },
      warmup: { type: 'string', default: '5000' },
      request: { type: 'string', default: 'jwt' },
      'node-option': { type: 'string', multiple: true, default: [] },
      json: { type: 'string' },
      'trace-batch': { type: 'string' },
      'memory-limit': { type: 'string' },
    },
  });
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'llm-authz-alloc-'));
  const sink = await startOtlpSink(workDir);
  try {
    const files = await prepareBenchFiles(workDir, sink.port);
    if (values['trace-batch']) setTraceBatch(files.config, values['trace-batch']);
    const frameFile = writeBenchFrame(workDir, values.request === 'key' ? BENCH_KEY : files.jwt);
    const r = await measureAllocation({
      workDir,
      config: files.config,
      env: BENCH_ENV,
      frameFile,
      checks: Number(values.checks),
      warmup: Number(values.warmup),
      nodeArgs: values['node-option'] ?? [],
      ...(values['memory-limit'] ? { memoryLimitMiB: Number(values['memory-limit']) } : {}),
    });
    process.stdout.write(
      [
        `checks ${r.checks} (${values.request}), errors ${r.errors}`,
        `allocated per Check      ${(r.bytesPerCheck / 1024).toFixed(1)} KiB`,
        `promoted per Check       ${r.promotedPerCheck.toFixed(0)} B`,
        `scavenges per 1k Checks  ${r.scavengesPer1k.toFixed(2)}`,
        `GC pause per 1k Checks   ${r.gcPauseMsPer1k.toFixed(1)} ms (longest ${r.maxGcPauseMs.toFixed(1)} ms)`,
        `idle allocation          ${(r.idleBytesPerSecond / 1024).toFixed(1)} KiB/s`,
        `RSS after                ${r.rssMiB.toFixed(0)} MiB`,
        `req/s (timing)           ${r.rps.toFixed(0)}`,
        ...(r.memoryLimit ? [`memory cgroup            peak ${r.memoryLimit.peakMiB.toFixed(0)} of ${r.memoryLimit.limitMiB} MiB, ${r.memoryLimit.oomKills} OOM kills`] : []),
        '',
      ].join('\n'),
    );
    if (values.json) writeFileSync(values.json, `${JSON.stringify(r, null, 2)}\n`);
  } finally {
    await sink.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  main().catch((err: unknown) => {
    process.stderr.write(`alloc failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
