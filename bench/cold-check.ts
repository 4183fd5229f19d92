/**
 * The first Check in a fresh process, by phase, against warm ones (not part of the suite): what
 * `serve` runs per call (decode the CheckRequest, the Check, encode the response), in process,
 * without gRPC or Envoy, with the benchmark's config (bench/setup.ts: a JWT verified then cached,
 * 20 CEL rules, a span exported to a local OTLP sink, a decision-log line to a file). Each run is a
 * new Node process; the phases are read from the Check's own hooks (its span's phase events, its
 * decision sink) with performance.now():
 *   decode     the CheckRequest's protobuf decode (proto-loader), before the Check
 *   parse      the Check's start to the identity phase (span start, the request context)
 *   identity   the identity phase (JWT: a signature verification first, the verified-token cache after)
 *   llm        between identity and policy (the LLM request's parse)
 *   policy     the CEL policy set's evaluation
 *   record     after the policy to the decision sink (credential, audit record, span end, metrics)
 *   response   the sink to the Check's answer (the CheckResponse object)
 *   encode     the response's protobuf encode, after the Check
 * `--warm-up` runs serve's start-up warm-up of the pipeline (src/pipeline/warm-up.ts) first and
 * times it too.
 * `--idle-seconds N` adds one Check after N seconds without one. `--release after` runs serve's
 * memory-reducing garbage collection (src/cli/start-up-memory.ts) after the warm-up, as serve does
 * before SERVING; `--release before` runs it before the warm-up.
 *   node bench/cold-check.ts [--runs 3] [--warm-up] [--release before|after] [--idle-seconds N] [--node-option=--cpu-prof ...]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { authorizationService } from '../src/envoy/proto.ts';
import { startOtlpSink } from './servers.ts';
import { BENCH_ENV, benchCheckRequest, prepareBenchFiles } from './setup.ts';

const PHASES = ['decode', 'parse', 'identity', 'llm', 'policy', 'record', 'response', 'encode'] as const;
type Phase = (typeof PHASES)[number];
/**
 * Wall-clock ms per phase, their total, the process's CPU time (user + system, all threads) over
 * the total and its system part, and its page faults over it: minor (a page mapped without I/O,
 * e.g. fresh heap pages) and major (read back from the disk: code or files the kernel had dropped).
 */
type Times = Record<Phase | 'total' | 'cpu' | 'sys' | 'minflt' | 'majflt', number>;
const COLUMNS = [...PHASES, 'total', 'cpu', 'sys', 'minflt', 'majflt'] as const;

interface ChildResult {
  readonly warmUpMs?: number | undefined;
  readonly first: Times;
  readonly second: Times;
  readonly warm: Times;
  /** With --idle-seconds: one Check after that long without one. */
  readonly afterIdle?: Times | undefined;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

/** In the child: one fresh process, the modules serve loads, then the Checks. */
async function child(dir: string, warmUp: boolean, idleSeconds: number, release: string | undefined): Promise<void> {
  const { loadRuntime } = await import('../src/pipeline/runtime.ts');
  const { createCheck } = await import('../src/pipeline/check.ts');
  const { createDecisionLog } = await import('../src/audit/decision-log.ts');
  const { startTelemetry } = await import('../src/telemetry/otel.ts');
  const { checkResponseEncoder } = await import('../src/envoy/proto.ts');
  const rt = loadRuntime(path.join(dir, 'llm-authz.yaml'));
  const telemetry = await startTelemetry(rt.config.telemetry, { version: 'bench' });
  const log = createDecisionLog(rt.decisionLogSink, { flushMs: rt.config.decision_log.flush_ms });
  const service = authorizationService();
  const encode = checkResponseEncoder();
  const bytes = readFileSync(path.join(dir, 'check-request.bin'));
  let marks: Partial<Record<'start' | 'identity0' | 'identity1' | 'policy0' | 'policy1' | 'decided', number>> = {};
  const tracer = {
    start(carrier: Parameters<typeof telemetry.tracer.start>[0], startTime?: number) {
      marks.start = startTime ?? performance.now();
      const span = telemetry.tracer.start(carrier, startTime);
      return {
        ids: span.ids,
        phase(name: 'identity' | 'policy', s: number, e: number, result: string) {
          if (name === 'identity') [marks.identity0, marks.identity1] = [s, e];
          else [marks.policy0, marks.policy1] = [s, e];
          span.phase(name, s, e, result);
        },
        end: span.end.bind(span),
      };
    },
  };
  const check = createCheck(
    () => rt,
    {
      onDecision: (record, trace) => {
        marks.decided = performance.now();
        log.write(record, trace);
      },
      onError: () => undefined,
    },
    tracer,
  );
  let warmUpMs: number | undefined;
  const { releaseStartUpMemory } = await import('../src/cli/start-up-memory.ts');
  if (release === 'before') releaseStartUpMemory();
  if (warmUp) {
    const { warmUpCheck } = await import('../src/pipeline/warm-up.ts');
    const t = performance.now();
    const r = await warmUpCheck(rt);
    warmUpMs = performance.now() - t;
    for (const f of r.failures) process.stderr.write(`warm-up step ${f.step} failed: ${f.error instanceof Error ? f.error.message : String(f.error)}\n`);
  }
  if (release === 'after') releaseStartUpMemory();
  const one = async (): Promise<Times> => {
    marks = {};
    const usage0 = process.resourceUsage();
    const cpu0 = process.cpuUsage();
    const a = performance.now();
    const raw = service.Check.requestDeserialize(bytes);
    const b = performance.now();
    const res = await check(raw);
    const c = performance.now();
    encode(res as Parameters<typeof encode>[0]);
    const d = performance.now();
    const cpu = process.cpuUsage(cpu0);
    const usage1 = process.resourceUsage();
    const m = marks as Required<typeof marks>;
    if ((res as { status?: { code?: number } }).status?.code !== 0) throw new Error('the benchmark request was not allowed');
    return {
      decode: b - a,
      parse: m.identity0 - m.start,
      identity: m.identity1 - m.identity0,
      llm: m.policy0 - m.identity1,
      policy: m.policy1 - m.policy0,
      record: m.decided - m.policy1,
      response: c - m.decided,
      encode: d - c,
      total: d - a,
      cpu: (cpu.user + cpu.system) / 1000,
      sys: cpu.system / 1000,
      minflt: usage1.minorPageFault - usage0.minorPageFault,
      majflt: usage1.majorPageFault - usage0.majorPageFault,
    };
  };
  // As a server is idle between its start and its first request: what start-up left on the event
  // loop (the decision-log file's open, the exporters' set-up) is done before the first Check.
  await new Promise((r) => setTimeout(r, 300));
  // A mark in V8's log (--log-function-events: "first-execution" of each function), before and after the first Check.
  (function markFirstCheckStart(): void {})();
  const first = await one();
  (function markFirstCheckEnd(): void {})();
  const second = await one();
  const rest: Times[] = [];
  for (let i = 0; i < 300; i++) rest.push(await one());
  const w = rest.slice(100);
  const warm = Object.fromEntries(COLUMNS.map((k) => [k, median(w.map((t) => t[k]))])) as Times;
  let afterIdle: Times | undefined;
  if (idleSeconds > 0) {
    await new Promise((r) => setTimeout(r, idleSeconds * 1000));
    afterIdle = await one();
  }
  await log.close();
  await telemetry.shutdown();
  await rt.close();
  process.stdout.write(`${JSON.stringify({ warmUpMs, first, second, warm, afterIdle } satisfies ChildResult)}\n`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      child: { type: 'string' },
      'warm-up': { type: 'boolean', default: false },
      runs: { type: 'string', default: '3' },
      'idle-seconds': { type: 'string', default: '0' },
      release: { type: 'string' },
      'node-option': { type: 'string', multiple: true, default: [] },
    },
  });
  if (values.release !== undefined && values.release !== 'before' && values.release !== 'after') throw new Error(`--release takes before or after, got ${values.release}`);
  if (values.child !== undefined) return child(values.child, values['warm-up'] === true, Number(values['idle-seconds']), values.release);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'llm-authz-cold-check-'));
  const sink = await startOtlpSink(dir);
  try {
    const files = await prepareBenchFiles(dir, sink.port);
    writeFileSync(path.join(dir, 'check-request.bin'), authorizationService().Check.requestSerialize(benchCheckRequest(2048, files.jwt)));
    const f = (x: number): string => x.toFixed(2).padStart(9);
    process.stdout.write(`${'ms'.padEnd(16)}${COLUMNS.map((p) => p.padStart(9)).join('')}\n`);
    const firsts: Times[] = [];
    for (let i = 0; i < Number(values.runs); i++) {
      const out = execFileSync(
        process.execPath,
        [
          ...(values['node-option'] ?? []),
          import.meta.filename,
          '--child',
          dir,
          '--idle-seconds',
          String(values['idle-seconds']),
          ...(values['warm-up'] === true ? ['--warm-up'] : []),
          ...(values.release !== undefined ? ['--release', values.release] : []),
        ],
        {
          env: { ...process.env, ...BENCH_ENV },
          cwd: dir,
          encoding: 'utf8',
        },
      );
      const r = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as ChildResult;
      for (const [name, t] of [['first', r.first], ['second', r.second], ['warm (median)', r.warm], ...(r.afterIdle ? ([['after idle', r.afterIdle]] as const) : [])] as const) {
        process.stdout.write(`${`${name}`.padEnd(16)}${COLUMNS.map((p) => f(t[p])).join('')}\n`);
      }
      firsts.push(r.first);
      if (r.warmUpMs !== undefined) process.stdout.write(`warm-up         ${r.warmUpMs.toFixed(1)} ms\n`);
    }
    process.stdout.write(`${'first (median)'.padEnd(16)}${COLUMNS.map((p) => f(median(firsts.map((t) => t[p])))).join('')}\n`);
  } finally {
    await sink.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  main().catch((err: unknown) => {
    process.stderr.write(`cold-check failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
