/**
 * Measures the node:http2 prototype against grpc-js, variants interleaved in the same windows
 * (bench/proto-h2/variants.ts: grpc-js floor, llm-authz serve = the built `serve`, h2 floor,
 * h2 llm-authz with proto-loader's decoder, h2 llm-authz with the lean decoder), all with the
 * benchmark's config and request (bench/setup.ts: JWT, 2 KB body, spans over OTLP/gRPC to a local
 * sink, a decision-log line per Check to a file). Phases:
 *   alloc  V8 heap bytes per Check, bench/alloc.ts's method (alloc-probe windows, h2load 4x16,
 *          an idle window of the same length subtracted)
 *   tail   paced p50/p99 (vegeta, h2c) at each rate, with the event loop's delay and GC pauses
 *          in the server over the same window (loop-probe), bench/tail.ts's method
 *   cpu    CPU per 1k Checks, closed loop (h2load 4x16, bench/h2load.ts), and the highest RSS
 *          sampled during it
 *   idle   RSS after start, one Check and 2 s (bench/idle-rss.ts's method); also with spans over
 *          OTLP http/protobuf (no grpc-js in the process for the h2 variants)
 * Each phase runs `--rounds` times, variants rotating within a round; the load average is
 * printed with every figure (the machine is shared: compare ratios within a round). `--variants`
 * takes a subset of them; `--opa` adds OPA-Envoy with the benchmark's Rego policy (as `npm run
 * bench` runs it) to the cpu phase, so the CPU target's ratio can be read from the same rounds.
 *   node bench/proto-h2/compare.ts [--phases alloc,tail,cpu,idle] [--rounds 2] [--rates 250,500,1000]
 *                                  [--seconds 8] [--variants A,B] [--opa] [--json FILE] [--node-option=--flag ...]
 */
import { createServer } from 'node:http';
import { readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { checkRequestFrame, createAuthzClient } from '../../devstack/grpc-client.ts';
import { h2loadChecks, CHECK_GRPC_HEADERS, checkUrl } from '../h2load.ts';
import { cpuSeconds, rssMiB, statusMiB } from '../procstat.ts';
import { OPA_ENVOY, startOpa, startOtlpSink } from '../servers.ts';
import { BENCH_ENV, benchCheckRequest, prepareBenchFiles } from '../setup.ts';
import { vegeta } from '../vegeta.ts';
import type { AuthzUnderTest } from '../servers.ts';
import { buildPrototype, PROBES, startVariant, variantLog, VARIANTS, type Variant } from './variants.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const load = (): string => os.loadavg()[0]!.toFixed(1);
const out = (s: string): void => {
  process.stdout.write(`${s}\n`);
};

/** Sends SIGUSR2 and waits for the next `{"<key>": {...}}` line in the log. */
async function toggle(pid: number, logFile: string, key: string): Promise<unknown> {
  const count = (): string[] =>
    readFileSync(logFile, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith(`{"${key}"`));
  const seen = count().length;
  process.kill(pid, 'SIGUSR2');
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const lines = count();
    if (lines.length > seen) return (JSON.parse(lines[seen] as string) as Record<string, unknown>)[key];
    await sleep(50);
  }
  throw new Error(`no ${key} line in ${logFile}`);
}

interface Ctx {
  /** Extra Node options for every variant (e.g. --max-semi-space-size=2). */
  nodeArgs: readonly string[];
  workDir: string;
  config: string;
  frameFile: string;
  rounds: number;
  /** The variants measured (all of VARIANTS unless --variants). */
  variants: readonly Variant[];
  /** OPA-Envoy's policy and data, when it joins the cpu phase (--opa). */
  opa?: { readonly policy: string; readonly data: string };
}

/** Rotates the variant order per round, so none is always first after a quiet period. */
function order<T extends string = Variant>(round: number, vs: readonly T[]): T[] {
  return vs.map((_, i) => vs[(i + round) % vs.length] as T);
}

async function allocPhase(c: Ctx, results: Record<string, unknown[]>): Promise<void> {
  out('\n## Allocation per Check (h2load 4x16, 20k Checks after 5k warm-up; idle rate subtracted)');
  out('| round | variant | KiB/Check | promoted B/Check | scavenges/1k | GC ms/1k | max GC ms | load |\n|---|---|---|---|---|---|---|---|');
  for (let round = 0; round < c.rounds; round++) {
    for (const v of order(round, c.variants)) {
      const s = await startVariant(v, { workDir: c.workDir, config: c.config, env: BENCH_ENV, nodeArgs: [...c.nodeArgs, '--expose-gc', '--import', PROBES.alloc] });
      const log = variantLog(v, c.workDir);
      try {
        await h2loadChecks({ port: s.port, dataFile: c.frameFile, durationS: 3, workDir: c.workDir });
        await toggle(s.pid, log, 'allocProbe');
        const n = 20000;
        const t0 = performance.now();
        const r = await h2loadN(s.port, c, n);
        await sleep(1500);
        const busy = (await toggle(s.pid, log, 'allocProbe')) as Window;
        const busyMs = performance.now() - t0;
        await toggle(s.pid, log, 'allocProbe');
        await sleep(busyMs);
        const idle = (await toggle(s.pid, log, 'allocProbe')) as Window;
        const perCheck = (busy.allocatedBytes - (idle.allocatedBytes / idle.seconds) * busy.seconds) / n;
        const row = {
          variant: v,
          kibPerCheck: perCheck / 1024,
          promotedPerCheck: busy.promotedBytes / n,
          scavengesPer1k: (busy.scavenges * 1000) / n,
          gcMsPer1k: (busy.gcPauseMs * 1000) / n,
          maxGcMs: busy.maxGcPauseMs,
          errors: r,
          load: load(),
        };
        (results['alloc'] ??= []).push({ round, ...row });
        out(
          `| ${round} | ${v} | ${row.kibPerCheck.toFixed(1)} | ${row.promotedPerCheck.toFixed(0)} | ${row.scavengesPer1k.toFixed(2)} | ${row.gcMsPer1k.toFixed(1)} | ${row.maxGcMs.toFixed(1)} | ${row.load}${r > 0 ? ` (${r} failed)` : ''} |`,
        );
      } finally {
        await s.stop();
      }
    }
  }
}

interface Window {
  allocatedBytes: number;
  promotedBytes: number;
  scavenges: number;
  gcPauseMs: number;
  maxGcPauseMs: number;
  seconds: number;
}

/** `n` Checks with h2load (4 connections x 16 streams); the number that failed. */
async function h2loadN(port: number, c: Ctx, n: number): Promise<number> {
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  const { TOOLS_DIR } = await import('../../devstack/tools.ts');
  const { stdout } = await promisify(execFile)(
    path.join(TOOLS_DIR, 'bin', 'h2load'),
    ['-t', '1', '-c', '4', '-m', '16', '-n', String(n), '-d', c.frameFile, ...CHECK_GRPC_HEADERS.flatMap((h) => ['-H', h]), checkUrl(port)],
    { maxBuffer: 16 * 1024 * 1024 },
  );
  const m = /(\d+) succeeded/.exec(stdout);
  return n - Number(m?.[1] ?? 0);
}

async function tailPhase(c: Ctx, rates: readonly number[], seconds: number, results: Record<string, unknown[]>): Promise<void> {
  out(`\n## Paced latency (vegeta h2c, ${seconds} s per point) with the server's event-loop delay and GC pauses over the same window`);
  out('| round | rate/s | variant | p50 ms | p99 ms | max ms | errors | loop delay p99 | loop max | loop busy | scavenges | GC total ms | GC max ms | GC>5ms | load |');
  out('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  const servers = new Map<Variant, AuthzUnderTest>();
  try {
    for (const v of c.variants) servers.set(v, await startVariant(v, { workDir: c.workDir, config: c.config, env: BENCH_ENV, nodeArgs: [...c.nodeArgs, '--import', PROBES.loop] }));
    for (const v of c.variants) {
      const s = servers.get(v)!;
      await vegeta({ url: checkUrl(s.port), dataFile: c.frameFile, headers: CHECK_GRPC_HEADERS, rate: 500, durationS: 3, h2c: true, workDir: c.workDir });
    }
    for (let round = 0; round < c.rounds; round++) {
      for (const rate of rates) {
        for (const v of order(round + rate, c.variants)) {
          const s = servers.get(v)!;
          const log = variantLog(v, c.workDir);
          await toggle(s.pid, log, 'loopProbe');
          const r = await vegeta({ url: checkUrl(s.port), dataFile: c.frameFile, headers: CHECK_GRPC_HEADERS, rate, durationS: seconds, h2c: true, workDir: c.workDir });
          const p = (await toggle(s.pid, log, 'loopProbe')) as {
            delay: { p99: number; max: number };
            utilization: number;
            gc: { scavenges: number; totalMs: number; maxMs: number; over5ms: number };
          };
          const row = { round, rate, variant: v, p50: r.p50, p99: r.p99, max: r.max, errors: r.errors, server: p, load: load() };
          (results['tail'] ??= []).push(row);
          out(
            `| ${round} | ${rate} | ${v} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.max.toFixed(1)} | ${r.errors} | ${p.delay.p99} | ${p.delay.max} | ${p.utilization} | ${p.gc.scavenges} | ${p.gc.totalMs} | ${p.gc.maxMs} | ${p.gc.over5ms} | ${row.load} |`,
          );
        }
      }
    }
  } finally {
    for (const s of servers.values()) await s.stop();
  }
}

async function cpuPhase(c: Ctx, results: Record<string, unknown[]>): Promise<void> {
  out('\n## Closed loop (h2load 4 connections x 16 streams, 10 s): CPU per 1k Checks, req/s, highest RSS');
  out('| round | variant | CPU ms / 1k | req/s | p50 ms | p99 ms | RSS max MiB | load |\n|---|---|---|---|---|---|---|---|');
  const opa = c.opa;
  const servers: readonly (Variant | typeof OPA_ENVOY)[] = opa === undefined ? c.variants : [...c.variants, OPA_ENVOY];
  for (let round = 0; round < c.rounds; round++) {
    for (const v of order(round, servers)) {
      const s =
        v === OPA_ENVOY && opa !== undefined
          ? await startOpa(c.workDir, opa.policy, opa.data)
          : await startVariant(v as Variant, { workDir: c.workDir, config: c.config, env: BENCH_ENV, nodeArgs: c.nodeArgs });
      try {
        await h2loadChecks({ port: s.port, dataFile: c.frameFile, durationS: 3, workDir: c.workDir });
        let rssMax = 0;
        const sampler = setInterval(() => {
          rssMax = Math.max(rssMax, rssMiB(s.pid));
        }, 100);
        const cpu0 = cpuSeconds(s.pid);
        const r = await h2loadChecks({ port: s.port, dataFile: c.frameFile, durationS: 10, workDir: c.workDir });
        const cpu = cpuSeconds(s.pid) - cpu0;
        clearInterval(sampler);
        const row = { round, variant: v, cpuMsPer1k: (cpu * 1e6) / r.requests, rps: r.rps, p50: r.p50, p99: r.p99, rssMax, errors: r.errors, load: load() };
        (results['cpu'] ??= []).push(row);
        out(
          `| ${round} | ${v} | ${row.cpuMsPer1k.toFixed(0)} | ${r.rps.toFixed(0)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${rssMax.toFixed(0)} | ${row.load}${r.errors > 0 ? ` (${r.errors} failed)` : ''} |`,
        );
      } finally {
        await s.stop();
      }
    }
  }
}

/** A local OTLP/HTTP sink: answers every export with an empty 200. */
async function startHttpSink(): Promise<{ port: number; close(): void }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/x-protobuf' });
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  return { port: typeof a === 'object' && a !== null ? a.port : -1, close: () => server.close() };
}

async function idlePhase(c: Ctx, results: Record<string, unknown[]>): Promise<void> {
  const sink = await startHttpSink();
  const httpConfig = path.join(c.workDir, 'llm-authz-otlp-http.yaml');
  const text = readFileSync(c.config, 'utf8');
  const replaced = text.replace(/ {4}protocol: grpc\n {4}endpoint: .*\n/, `    protocol: http/protobuf\n    endpoint: http://127.0.0.1:${sink.port}\n`);
  if (replaced === text) throw new Error('the benchmark config no longer has its traces protocol and endpoint lines');
  writeFileSync(httpConfig, replaced);
  const request = benchCheckRequest(2048, readFileSync(path.join(c.workDir, 'jwt.txt'), 'utf8'));
  out('\n## Idle RSS after start + one Check + 2 s (MiB; anonymous / file-backed)');
  out('| round | variant | spans over | RSS | anon | file | V8 heap committed (MiB) | external | load |\n|---|---|---|---|---|---|---|---|---|');
  try {
    for (let round = 0; round < c.rounds; round++) {
      for (const v of order(round, c.variants)) {
        for (const [otlp, config] of [
          ['grpc', c.config],
          ['http', httpConfig],
        ] as const) {
          if (otlp === 'http' && !v.includes('llm-authz')) continue;
          const s = await startVariant(v, { workDir: c.workDir, config, env: BENCH_ENV, nodeArgs: [...c.nodeArgs, '--import', PROBES.mem] });
          try {
            const client = createAuthzClient(`127.0.0.1:${s.port}`);
            try {
              const res = await client.check(request);
              if (((res['status'] as { code?: number } | undefined)?.code ?? 0) !== 0) throw new Error(`${v} does not allow the benchmark request`);
            } finally {
              client.close();
            }
            await sleep(2000);
            const row = { round, variant: v, otlp, rss: statusMiB(s.pid, 'VmRSS'), anon: statusMiB(s.pid, 'RssAnon'), file: statusMiB(s.pid, 'RssFile'), load: load() };
            const mem = (await toggle(s.pid, variantLog(v, c.workDir), 'memProbe')) as { heapTotal: number; heapUsed: number; external: number; spaces: Record<string, number> };
            (results['idle'] ??= []).push({ ...row, mem });
            out(
              `| ${round} | ${v} | ${otlp} | ${row.rss.toFixed(1)} | ${row.anon.toFixed(1)} | ${row.file.toFixed(1)} | ${mem.heapTotal} (used ${mem.heapUsed}; new ${mem.spaces['new_space']}, old ${mem.spaces['old_space']}, code ${mem.spaces['code_space']}) | ${mem.external} | ${row.load} |`,
            );
          } finally {
            await s.stop();
          }
        }
      }
    }
  } finally {
    sink.close();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      phases: { type: 'string', default: 'alloc,tail,cpu,idle' },
      rounds: { type: 'string', default: '2' },
      rates: { type: 'string', default: '250,500,1000' },
      seconds: { type: 'string', default: '8' },
      json: { type: 'string' },
      variants: { type: 'string', default: VARIANTS.join(',') },
      opa: { type: 'boolean', default: false },
      'node-option': { type: 'string', multiple: true, default: [] },
    },
  });
  buildPrototype();
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'llm-authz-proto-h2-'));
  const sink = await startOtlpSink(workDir);
  const results: Record<string, unknown[]> = {};
  try {
    const files = await prepareBenchFiles(workDir, sink.port);
    writeFileSync(path.join(workDir, 'jwt.txt'), files.jwt);
    const frameFile = path.join(workDir, 'check.bin');
    writeFileSync(frameFile, checkRequestFrame(benchCheckRequest(2048, files.jwt)));
    const variants = (values.variants ?? '').split(',').map((v) => {
      if (!(VARIANTS as readonly string[]).includes(v)) throw new Error(`--variants takes ${VARIANTS.join(', ')}; got ${v}`);
      return v as Variant;
    });
    const c: Ctx = {
      nodeArgs: values['node-option'] ?? [],
      workDir,
      config: files.config,
      frameFile,
      rounds: Number(values.rounds),
      variants,
      ...(values.opa === true ? { opa: { policy: files.opaPolicy, data: files.opaData } } : {}),
    };
    out(`cores ${os.cpus().length}, load ${load()} at start`);
    for (const phase of (values.phases ?? '').split(',')) {
      if (phase === 'alloc') await allocPhase(c, results);
      else if (phase === 'tail') await tailPhase(c, (values.rates ?? '').split(',').map(Number), Number(values.seconds), results);
      else if (phase === 'cpu') await cpuPhase(c, results);
      else if (phase === 'idle') await idlePhase(c, results);
      else throw new Error(`unknown phase ${phase}`);
      if (values.json) writeFileSync(values.json, `${JSON.stringify(results, null, 2)}\n`);
    }
  } finally {
    await sink.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`compare failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
