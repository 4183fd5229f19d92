/**
 * Maximum-throughput Checks with and without a memory limit, and why they differ (not part of the
 * suite). The built CLI's `serve` with the representative setup of bench/setup.ts runs in a memory
 * cgroup (bench/cgroup.ts; the "unlimited" variant in one without a limit, so the same figures can
 * be read), takes h2load's closed-loop Checks (4 connections x 16 streams) for a warm-up and then a
 * measured window, and the variants run interleaved, round after round. Per run it reads:
 *   - throughput (timing: load-dependent) and the server's CPU per Check (user and system; steadier
 *     on a shared machine), h2load's own CPU;
 *   - the cgroup: peak charge, limit hits, OOM kills, and over the measured window the process's
 *     major faults and the cgroup's workingset_refault_file / pgmajfault (file pages, such as the
 *     Node binary's code, evicted and read back), its anon / file / mapped_file at the end;
 *   - V8: the heap limit it chose (bench/heap-probe.ts), the heap by space after the window, and
 *     --trace-gc over the window: scavenges and mark-compacts, their pauses.
 *   node bench/cgroup-load.ts [--seconds 20] [--warmup 5] [--rounds 3] [--fresh-binary NAME ...] [--json FILE] [--keep-logs DIR]
 *       --variant 'NAME|LIMIT_MIB or -|NODE FLAGS|CONFIG PATCH|CLIENTSxSTREAMS|ENV' ...
 * e.g. --variant 'unlimited|-|--max-semi-space-size=8' --variant '128|128|--max-semi-space-size=8'.
 * CONFIG PATCH (optional) is YAML merged into the benchmark's config, `;` for new lines; the load
 * shape is 4x16 unless given (fewer streams: fewer Checks in flight). ENV (optional) changes the
 * image's environment (deploy/Dockerfile's ENV lines, which every variant gets): `NAME=VALUE`, or
 * `NAME=` to unset it, separated by spaces.
 * --fresh-binary NAME runs that variant's server from a copy of the Node binary that has no page in the page cache,
 * so its code is charged to the server's cgroup as it is faulted in (as in a container whose image
 * no other container on the node has started): otherwise pages that other processes on the machine
 * already faulted stay charged elsewhere and the limit never reclaims them.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parse, stringify } from 'yaml';
import { ROOT } from '../devstack/tools.ts';
import { h2loadChecks } from './h2load.ts';
import { childrenCpuSeconds, procStat, statusMiB } from './procstat.ts';
import { inBenchWorkspace, startLlmAuthz } from './servers.ts';
import { BENCH_ENV } from './setup.ts';

const median = (xs: number[]): number => {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : ((s[(s.length - 1) >> 1] as number) + (s[s.length >> 1] as number)) / 2;
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Variant {
  readonly name: string;
  readonly limitMiB: number;
  readonly nodeArgs: readonly string[];
  readonly configPatch?: Record<string, unknown>;
  /** h2load's connections and streams per connection (closed loop: the Checks in flight). */
  readonly clients: number;
  readonly streams: number;
  /** Environment changes over the image's (BENCH_ENV): a value, or undefined to unset the variable. */
  readonly env: Readonly<Record<string, string | undefined>>;
}

export interface RunResult {
  readonly variant: string;
  readonly round: number;
  readonly oomKilled: boolean;
  readonly rps: number;
  readonly errors: number;
  readonly p50: number;
  readonly p99: number;
  /** Server CPU per Check, ms (user + system) and its split. */
  readonly cpuMsPerCheck: number;
  readonly userMsPerCheck: number;
  readonly sysMsPerCheck: number;
  /** The server's CPU over the window, in cores. */
  readonly serverCores: number;
  /** h2load's CPU over the window, in cores. */
  readonly h2loadCores: number;
  readonly majorFaults: number;
  readonly minorFaults: number;
  readonly refaultFile: number;
  readonly peakMiB: number;
  readonly limitHits: number;
  readonly oomKills: number;
  readonly endMiB: { anon: number; file: number; mappedFile: number; activeFile: number; inactiveFile: number };
  readonly rssAnonMiB: number;
  readonly rssFileMiB: number;
  /** Over the window; the heap (MB, as --trace-gc prints it) before and after mark-compacts: their medians. */
  readonly gc: {
    scavenges: number;
    scavengeMs: number;
    markCompacts: number;
    markCompactMs: number;
    maxPauseMs: number;
    heapBeforeMcMB: number;
    heapAfterMcMB: number;
  };
  readonly heapLimitMiB: number;
  readonly heapAfter: unknown;
  readonly loadAvg: number;
}

const GC_LINE =
  /: (Scavenge|Mark-Compact(?: \(reduce\))?|Minor Mark-Sweep|Mark-Sweep) ([\d.]+) \([\d.]+\) -> ([\d.]+) \([\d.]+\) MB, (?:pooled: [\d.]+ MB, )?([\d.]+) \/ [\d.]+ ms/;

function gcSummary(lines: readonly string[]): RunResult['gc'] {
  const g = { scavenges: 0, scavengeMs: 0, markCompacts: 0, markCompactMs: 0, maxPauseMs: 0 };
  const before: number[] = [];
  const after: number[] = [];
  for (const l of lines) {
    const m = GC_LINE.exec(l);
    if (!m) continue;
    const ms = Number(m[4]);
    if (m[1] === 'Scavenge' || m[1] === 'Minor Mark-Sweep') {
      g.scavenges++;
      g.scavengeMs += ms;
    } else {
      g.markCompacts++;
      g.markCompactMs += ms;
      before.push(Number(m[2]));
      after.push(Number(m[3]));
    }
    g.maxPauseMs = Math.max(g.maxPauseMs, ms);
  }
  return { ...g, heapBeforeMcMB: median(before), heapAfterMcMB: median(after) };
}

function logLines(file: string): string[] {
  return readFileSync(file, 'utf8').split('\n');
}

function probeLines(lines: readonly string[]): { when: string; heapLimitMiB: number }[] {
  return lines.filter((l) => l.startsWith('{"heapProbe"')).map((l) => (JSON.parse(l) as { heapProbe: { when: string; heapLimitMiB: number } }).heapProbe);
}

function mergeDeep(into: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  for (const [k, v] of Object.entries(patch)) {
    const cur = into[k];
    into[k] =
      v !== null && typeof v === 'object' && !Array.isArray(v) && cur !== null && typeof cur === 'object' && !Array.isArray(cur)
        ? mergeDeep(cur as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return into;
}

async function runOnce(o: {
  workDir: string;
  config: string;
  frameFile: string;
  variant: Variant;
  round: number;
  warmupS: number;
  seconds: number;
  node?: string;
}): Promise<RunResult> {
  const v = o.variant;
  const logFile = path.join(o.workDir, 'llm-authz.log');
  rmSync(logFile, { force: true });
  const server = await startLlmAuthz(o.workDir, o.config, { ...BENCH_ENV, ...v.env }, ['--trace-gc', '--import', path.join(ROOT, 'bench', 'heap-probe.ts'), ...v.nodeArgs], {
    memoryLimitMiB: v.limitMiB,
    // Each variant names all of its Node flags.
    nodeFlags: [],
    ...(o.node ? { node: o.node } : {}),
  });
  const memory = server.memory;
  if (!memory) throw new Error('no cgroup');
  const base = {
    variant: v.name,
    round: o.round,
    heapLimitMiB: probeLines(logLines(logFile))[0]?.heapLimitMiB ?? Number.NaN,
  };
  try {
    const shape = { clients: v.clients, streams: v.streams };
    await h2loadChecks({ port: server.port, dataFile: o.frameFile, durationS: o.warmupS, workDir: o.workDir, ...shape });
    const gcFrom = logLines(logFile).length;
    const s0 = procStat(server.pid);
    const c0 = memory.stat();
    const h0 = childrenCpuSeconds();
    const t0 = performance.now();
    const load = await h2loadChecks({ port: server.port, dataFile: o.frameFile, durationS: o.seconds, workDir: o.workDir, ...shape });
    const wall = (performance.now() - t0) / 1000;
    const s1 = procStat(server.pid);
    const c1 = memory.stat();
    const h1 = childrenCpuSeconds();
    process.kill(server.pid, 'SIGUSR2');
    await sleep(300);
    const lines = logLines(logFile);
    const probes = probeLines(lines);
    const checks = load.requests;
    const cpu = s1.utime + s1.stime - s0.utime - s0.stime;
    const v1 = memory.version === 1;
    const mib = (k: string): number => (c1[k] ?? Number.NaN) / 1048576;
    return {
      ...base,
      oomKilled: false,
      rps: load.rps,
      errors: load.errors,
      p50: load.p50,
      p99: load.p99,
      cpuMsPerCheck: (cpu * 1000) / checks,
      userMsPerCheck: ((s1.utime - s0.utime) * 1000) / checks,
      sysMsPerCheck: ((s1.stime - s0.stime) * 1000) / checks,
      serverCores: cpu / wall,
      h2loadCores: (h1 - h0) / wall,
      majorFaults: s1.majflt - s0.majflt,
      minorFaults: s1.minflt - s0.minflt,
      refaultFile: (c1['workingset_refault_file'] ?? 0) - (c0['workingset_refault_file'] ?? 0),
      peakMiB: memory.peakMiB(),
      limitHits: memory.limitHits(),
      oomKills: memory.oomKills(),
      endMiB: {
        anon: mib(v1 ? 'rss' : 'anon'),
        file: mib(v1 ? 'cache' : 'file'),
        mappedFile: mib(v1 ? 'mapped_file' : 'file_mapped'),
        activeFile: mib('active_file'),
        inactiveFile: mib('inactive_file'),
      },
      rssAnonMiB: statusMiB(server.pid, 'RssAnon'),
      rssFileMiB: statusMiB(server.pid, 'RssFile'),
      gc: gcSummary(lines.slice(gcFrom)),
      heapAfter: probes.at(-1),
      loadAvg: os.loadavg()[0] ?? Number.NaN,
    };
  } catch (err) {
    if (memory.oomKills() > 0) {
      return {
        ...base,
        oomKilled: true,
        rps: 0,
        errors: Number.NaN,
        p50: Number.NaN,
        p99: Number.NaN,
        cpuMsPerCheck: Number.NaN,
        userMsPerCheck: Number.NaN,
        sysMsPerCheck: Number.NaN,
        serverCores: Number.NaN,
        h2loadCores: Number.NaN,
        majorFaults: Number.NaN,
        minorFaults: Number.NaN,
        refaultFile: Number.NaN,
        peakMiB: memory.peakMiB(),
        limitHits: memory.limitHits(),
        oomKills: memory.oomKills(),
        endMiB: { anon: Number.NaN, file: Number.NaN, mappedFile: Number.NaN, activeFile: Number.NaN, inactiveFile: Number.NaN },
        rssAnonMiB: Number.NaN,
        rssFileMiB: Number.NaN,
        gc: gcSummary([]),
        heapAfter: undefined,
        loadAvg: os.loadavg()[0] ?? Number.NaN,
      };
    }
    throw err;
  } finally {
    await server.stop();
  }
}

function parseVariant(spec: string): Variant {
  const [name, limit, flags, patch, load, env] = spec.split('|');
  if (!name || !limit) throw new Error(`--variant takes 'NAME|LIMIT_MIB or -|NODE FLAGS|CONFIG PATCH|CLIENTSxSTREAMS|ENV', got ${spec}`);
  const [clients, streams] = (load || '4x16').split('x').map(Number);
  return {
    name,
    clients: clients ?? 4,
    streams: streams ?? 16,
    limitMiB: limit === '-' ? Number.POSITIVE_INFINITY : Number(limit),
    nodeArgs: (flags ?? '').split(/\s+/).filter(Boolean),
    env: Object.fromEntries(
      (env ?? '')
        .split(/\s+/)
        .filter(Boolean)
        .map((kv) => {
          const eq = kv.indexOf('=');
          if (eq <= 0) throw new Error(`--variant ENV takes NAME=VALUE or NAME= (unset) separated by spaces, got ${kv}`);
          const value = kv.slice(eq + 1);
          return [kv.slice(0, eq), value === '' ? undefined : value];
        }),
    ),
    ...(patch ? { configPatch: parse(patch.replaceAll(';', '\n')) as Record<string, unknown> } : {}),
  };
}

function line(r: RunResult): string {
  if (r.oomKilled) return `${r.variant.padEnd(14)} r${r.round}: OOM-killed (${r.oomKills}), peak ${r.peakMiB.toFixed(0)} MiB, heap limit ${r.heapLimitMiB} MiB`;
  return (
    `${r.variant.padEnd(14)} r${r.round}: ${r.rps.toFixed(0).padStart(5)} req/s, ${r.cpuMsPerCheck.toFixed(3)} ms CPU/Check ` +
    `(usr ${r.userMsPerCheck.toFixed(3)} sys ${r.sysMsPerCheck.toFixed(3)}), server ${r.serverCores.toFixed(2)} cores, h2load ${r.h2loadCores.toFixed(2)}; ` +
    `p50 ${r.p50.toFixed(1)} p99 ${r.p99.toFixed(1)} ms, err ${r.errors}; majflt ${r.majorFaults}, refault_file ${r.refaultFile}; ` +
    `peak ${r.peakMiB.toFixed(0)} MiB, hits ${r.limitHits}, oom ${r.oomKills}; end anon ${r.endMiB.anon.toFixed(0)} file ${r.endMiB.file.toFixed(0)} ` +
    `(mapped ${r.endMiB.mappedFile.toFixed(0)}), RSS anon ${r.rssAnonMiB.toFixed(0)} file ${r.rssFileMiB.toFixed(0)}; ` +
    `GC scav ${r.gc.scavenges} ${r.gc.scavengeMs.toFixed(0)} ms, MC ${r.gc.markCompacts} ${r.gc.markCompactMs.toFixed(0)} ms ` +
    `(heap ${r.gc.heapBeforeMcMB.toFixed(0)}->${r.gc.heapAfterMcMB.toFixed(0)} MB), max ${r.gc.maxPauseMs.toFixed(1)}; ` +
    `heap limit ${r.heapLimitMiB}; load ${r.loadAvg.toFixed(1)}`
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '20' },
      warmup: { type: 'string', default: '5' },
      rounds: { type: 'string', default: '3' },
      variant: { type: 'string', multiple: true, default: [] },
      'fresh-binary': { type: 'string', multiple: true, default: [] },
      'keep-logs': { type: 'string' },
      json: { type: 'string' },
    },
  });
  const variants = (values.variant ?? []).map(parseVariant);
  if (variants.length === 0) throw new Error('give at least one --variant');
  const results: RunResult[] = [];
  await inBenchWorkspace('llm-authz-cgroup-', async ({ workDir, files, frameFile }) => {
    const configs = variants.map((v, i) => {
      if (!v.configPatch) return files.config;
      const file = path.join(workDir, `config-${i}.yaml`);
      writeFileSync(file, stringify(mergeDeep(parse(readFileSync(files.config, 'utf8')) as Record<string, unknown>, v.configPatch)));
      return file;
    });
    for (let round = 1; round <= Number(values.rounds); round++) {
      for (const [i, variant] of variants.entries()) {
        let node: string | undefined;
        if (values['fresh-binary']?.includes(variant.name)) {
          // Written with O_DIRECT: the copy has no page in the page cache until the server faults it in.
          node = path.join(workDir, 'node');
          rmSync(node, { force: true });
          execFileSync('dd', [`if=${process.execPath}`, `of=${node}`, 'bs=4M', 'oflag=direct', 'status=none']);
          execFileSync('chmod', ['+x', node]);
        }
        let r: RunResult;
        try {
          r = await runOnce({
            workDir,
            config: configs[i] as string,
            frameFile,
            variant,
            round,
            warmupS: Number(values.warmup),
            seconds: Number(values.seconds),
            ...(node ? { node } : {}),
          });
        } catch (err) {
          // A start that failed (the cgroup is gone with it): reported, and the rounds go on.
          process.stdout.write(`${variant.name.padEnd(14)} r${round}: failed: ${err instanceof Error ? err.message : String(err)}\n`);
          continue;
        }
        results.push(r);
        if (values.json) writeFileSync(values.json, `${JSON.stringify(results, null, 2)}\n`);
        process.stdout.write(`${line(r)}\n`);
        if (values['keep-logs']) copyFileSync(path.join(workDir, 'llm-authz.log'), path.join(values['keep-logs'], `${variant.name}-r${round}.log`));
      }
    }
    const base = median(results.filter((r) => r.variant === variants[0]?.name).map((r) => r.rps));
    const baseCpu = median(results.filter((r) => r.variant === variants[0]?.name).map((r) => r.cpuMsPerCheck));
    process.stdout.write(`\nmedians (ratio to ${variants[0]?.name}):\n`);
    // Each round's ratio to the first variant's run of the same round: the machine's load drifts
    // between rounds more than within one.
    const paired = (v: Variant, f: (r: RunResult) => number): number =>
      median(
        results
          .filter((r) => r.variant === v.name)
          .map((r) => {
            const b = results.find((x) => x.variant === variants[0]?.name && x.round === r.round);
            return b === undefined ? Number.NaN : f(r) / f(b);
          }),
      );
    for (const v of variants) {
      const rs = results.filter((r) => r.variant === v.name);
      const rps = median(rs.map((r) => r.rps));
      const cpu = median(rs.map((r) => r.cpuMsPerCheck));
      const ok = rs.filter((r) => !r.oomKilled);
      process.stdout.write(
        `${v.name.padEnd(14)} ${rps.toFixed(0).padStart(5)} req/s (${((100 * rps) / base).toFixed(0)}%, range ${Math.min(...ok.map((r) => r.rps)).toFixed(0)}-${Math.max(...ok.map((r) => r.rps)).toFixed(0)}), ` +
          `${cpu.toFixed(3)} ms CPU/Check (${((100 * cpu) / baseCpu).toFixed(0)}%), OOM-killed ${rs.length - ok.length}/${rs.length}, ` +
          `peak max ${Math.max(...rs.map((r) => r.peakMiB)).toFixed(0)} MiB, majflt median ${median(ok.map((r) => r.majorFaults)).toFixed(0)}; ` +
          `per-round ratios: req/s ${(100 * paired(v, (r) => r.rps)).toFixed(0)}%, CPU/Check ${(100 * paired(v, (r) => r.cpuMsPerCheck)).toFixed(0)}%\n`,
      );
    }
    if (values.json) writeFileSync(values.json, `${JSON.stringify(results, null, 2)}\n`);
  });
}

if (import.meta.main) {
  main().catch((err: unknown) => {
    process.stderr.write(`cgroup-load failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
