/**
 * What produces a server's paced p99: a CPU profile of the server's main thread (profile-probe.ts,
 * 200 µs sampling) over a vegeta window, joined with vegeta's per-request times. The profile's
 * samples become a timeline; consecutive busy samples form blocks (a task, or tasks back to back),
 * each labelled by what its samples ran: GC, span export (the batch: OTLP serialization and its
 * gRPC call), span (per Check: the SDK making, filling, ending and queueing it), the decision-log flush, the transport (grpc-js or node:http2),
 * the Check pipeline (llm-authz's own code), other; a gap without samples longer than 1 ms is
 * time the thread was not running (the machine's load: descheduled). Every request slower than the
 * window's p99 is then charged to what the server did while it was in flight (the label with the
 * most time in its interval).
 *   node bench/proto-h2/attribute.ts [--variants 'llm-authz serve,h2 llm-authz lean'] [--rates 500,1000] [--seconds 8]
 *                                    [--trace-batch SIZE,DELAY_MS]
 * --trace-batch sets the span exporter's max_export_batch_size and scheduled_delay_ms (as bench/alloc.ts does).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { checkRequestFrame } from '../../devstack/grpc-client.ts';
import { TOOLS_DIR } from '../../devstack/tools.ts';
import { CHECK_GRPC_HEADERS, checkUrl } from '../h2load.ts';
import { startOtlpSink } from '../servers.ts';
import { BENCH_ENV, benchCheckRequest, prepareBenchFiles } from '../setup.ts';
import { vegeta } from '../vegeta.ts';
import { buildPrototype, OUT, startVariant, variantLog, type Variant } from './variants.ts';

const run = promisify(execFile);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const LABELS = ['gc', 'span export', 'span (per Check)', 'decision log', 'transport', 'check pipeline', 'other', 'descheduled'] as const;
type Label = (typeof LABELS)[number];

/** The label of a stack (leaf first), by the first rule any frame matches, in this order. */
function labelOf(stack: readonly ProfileNode['callFrame'][]): Label {
  const has = (test: (f: ProfileNode['callFrame']) => boolean): boolean => stack.some(test);
  if (stack[0]?.functionName === '(garbage collector)') return 'gc';
  // The batch's export: OTLP serialization and its gRPC call, from the batch processor's timer or a full batch.
  if (has((f) => /@opentelemetry\/(otlp-|exporter-)/.test(f.url) || /^_flushOneBatch$|^_exportCompletedSpans$/.test(f.functionName))) return 'span export';
  // The Check's own span: made, given attributes, ended and queued by the SDK.
  if (has((f) => f.url.includes('@opentelemetry/sdk-trace') || f.url.includes('@opentelemetry/core'))) return 'span (per Check)';
  if (has((f) => f.url.includes('/audit/decision-log'))) return 'decision log';
  if (has((f) => f.url.includes('/dist/') || f.url.includes('/out/src/'))) return 'check pipeline';
  if (
    has(
      (f) =>
        f.url.includes('@grpc/grpc-js') || f.url.includes('internal/http2') || f.url.includes('grpc-h2') || f.url.includes('@grpc/proto-loader') || f.url.includes('protobufjs'),
    )
  )
    return 'transport';
  return 'other';
}

interface Slice {
  start: number;
  end: number;
  label: Label;
}

/** The profile as slices of wall time (ms), idle dropped, gaps over 1 ms as `descheduled`. */
function timeline(p: Profile, wallMs: number, monoUs: number): Slice[] {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const labelCache = new Map<number, Label | 'idle'>();
  const labelFor = (id: number): Label | 'idle' => {
    let l = labelCache.get(id);
    if (l !== undefined) return l;
    const leaf = byId.get(id)!.callFrame.functionName;
    if (leaf === '(idle)' || leaf === '(program)' || leaf === '(root)') l = 'idle';
    else {
      const stack: ProfileNode['callFrame'][] = [];
      for (let x: number | undefined = id; x !== undefined; x = parent.get(x)) stack.push(byId.get(x)!.callFrame);
      l = labelOf(stack);
    }
    labelCache.set(id, l);
    return l;
  };
  const slices: Slice[] = [];
  let t = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i] ?? 0;
    const prev = t;
    t += dt;
    const toWall = (us: number): number => wallMs + (us - monoUs) / 1000;
    if (dt > 1000) slices.push({ start: toWall(prev), end: toWall(t - 200), label: 'descheduled' });
    const l = labelFor(p.samples[i]!);
    if (l === 'idle') continue;
    // A sample stands for the interval up to it (at most one sampling interval).
    slices.push({ start: toWall(t - Math.min(dt, 200)), end: toWall(t), label: l });
  }
  return slices;
}

interface Block {
  start: number;
  end: number;
  ms: Record<Label, number>;
}

/** Busy slices closer than 0.3 ms joined into blocks (what a request waiting behind them waits for). */
function blocks(slices: readonly Slice[]): Block[] {
  const out: Block[] = [];
  let cur: Block | undefined;
  for (const s of slices) {
    if (cur === undefined || s.start - cur.end > 0.3) {
      cur = { start: s.start, end: s.end, ms: Object.fromEntries(LABELS.map((l) => [l, 0])) as Record<Label, number> };
      out.push(cur);
    }
    cur.end = Math.max(cur.end, s.end);
    cur.ms[s.label] += s.end - s.start;
  }
  return out;
}

const top = (ms: Record<Label, number>): Label => LABELS.reduce((a, l) => (ms[l] > ms[a] ? l : a), LABELS[0]);

interface Request {
  start: number;
  latency: number;
  ok: boolean;
}

async function paced(url: string, frameFile: string, rate: number, seconds: number, workDir: string): Promise<Request[]> {
  const targets = path.join(workDir, 'attr.targets');
  const bin = path.join(workDir, 'attr.bin');
  writeFileSync(targets, [`POST ${url}`, ...CHECK_GRPC_HEADERS, `@${frameFile}`, ''].join('\n'));
  const vegetaBin = path.join(TOOLS_DIR, 'bin', 'vegeta');
  await run(vegetaBin, ['attack', `-targets=${targets}`, `-rate=${rate}/1s`, `-duration=${seconds}s`, '-timeout=10s', `-output=${bin}`, '-h2c']);
  const { stdout } = await run(vegetaBin, ['encode', '--to', 'csv', bin], { maxBuffer: 256 * 1024 * 1024 });
  rmSync(bin, { force: true });
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [ts, code, lat] = l.split(',');
      return { start: Number(ts) / 1e6, latency: Number(lat) / 1e6, ok: code === '200' };
    });
}

async function toggle(pid: number, logFile: string): Promise<unknown> {
  const lines = (): string[] =>
    readFileSync(logFile, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{"profileProbe"'));
  const seen = lines().length;
  process.kill(pid, 'SIGUSR2');
  for (let i = 0; i < 600; i++) {
    const l = lines();
    if (l.length > seen) return (JSON.parse(l[seen]!) as { profileProbe: unknown }).profileProbe;
    await sleep(50);
  }
  throw new Error(`the profile probe did not answer; log ${logFile}`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      variants: { type: 'string', default: 'llm-authz serve,h2 llm-authz lean' },
      rates: { type: 'string', default: '500,1000' },
      seconds: { type: 'string', default: '8' },
      'trace-batch': { type: 'string' },
    },
  });
  buildPrototype();
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'llm-authz-attr-'));
  const sink = await startOtlpSink(workDir);
  try {
    const files = await prepareBenchFiles(workDir, sink.port);
    if (values['trace-batch']) {
      const [size, delay] = values['trace-batch'].split(',');
      const text = readFileSync(files.config, 'utf8');
      writeFileSync(files.config, text.replace('    protocol: grpc\n', `    protocol: grpc\n    max_export_batch_size: ${size}\n    scheduled_delay_ms: ${delay}\n`));
    }
    const frameFile = path.join(workDir, 'check.bin');
    writeFileSync(frameFile, checkRequestFrame(benchCheckRequest(2048, files.jwt)));
    for (const v of (values.variants ?? '').split(',') as Variant[]) {
      const s = await startVariant(v, {
        workDir,
        config: files.config,
        env: { ...BENCH_ENV, PROFILE_PROBE_FILE: path.join(workDir, `${v.replaceAll(' ', '-')}.cpuprofile`) },
        nodeArgs: ['--import', path.join(OUT, 'bench', 'proto-h2', 'profile-probe.js')],
      });
      try {
        await vegeta({ url: checkUrl(s.port), dataFile: frameFile, headers: CHECK_GRPC_HEADERS, rate: 500, durationS: 3, h2c: true, workDir });
        for (const rate of (values.rates ?? '').split(',').map(Number)) {
          await toggle(s.pid, variantLog(v, workDir));
          const reqs = await paced(checkUrl(s.port), frameFile, rate, Number(values.seconds), workDir);
          const probe = (await toggle(s.pid, variantLog(v, workDir))) as { file: string; wallMs: number; monoUs: number };
          const profile = JSON.parse(readFileSync(probe.file, 'utf8')) as Profile;
          const slices = timeline(profile, probe.wallMs, probe.monoUs);
          const bs = blocks(slices);
          const lat = reqs.map((r) => r.latency).sort((a, b) => a - b);
          const p99 = lat[Math.ceil(lat.length * 0.99) - 1] ?? Number.NaN;
          const p50 = lat[Math.ceil(lat.length * 0.5) - 1] ?? Number.NaN;
          const slow = reqs.filter((r) => r.latency >= p99);
          // Charge each slow request to the label with the most server time inside its interval.
          const charged = Object.fromEntries(LABELS.map((l) => [l, 0])) as Record<Label, number>;
          const inFlight = Object.fromEntries(LABELS.map((l) => [l, 0])) as Record<Label, number>;
          for (const r of slow) {
            const ms = Object.fromEntries(LABELS.map((l) => [l, 0])) as Record<Label, number>;
            for (const sl of slices) {
              const o = Math.min(sl.end, r.start + r.latency) - Math.max(sl.start, r.start);
              if (o > 0) ms[sl.label] += o;
            }
            for (const l of LABELS) inFlight[l] += ms[l] / slow.length;
            charged[top(ms)]++;
          }
          const totals = Object.fromEntries(LABELS.map((l) => [l, 0])) as Record<Label, number>;
          for (const sl of slices) totals[sl.label] += sl.end - sl.start;
          const long = bs.filter((b) => b.end - b.start > 2);
          const longBy = Object.fromEntries(LABELS.map((l) => [l, 0])) as Record<Label, number>;
          for (const b of long) longBy[top(b.ms)]++;
          // Per label: the time it took inside each block where it ran (its stretches), median and longest.
          const stretches = (l: Label): string => {
            const xs = bs
              .map((b) => b.ms[l])
              .filter((x) => x > 0.3)
              .sort((a, b) => a - b);
            return xs.length === 0
              ? ''
              : `${l} ${xs.length}× median ${xs[Math.floor(xs.length / 2)]!.toFixed(1)}, longest ${xs
                  .slice(-5)
                  .reverse()
                  .map((x) => x.toFixed(1))
                  .join('/')}`;
          };
          const fmt = (r: Record<Label, number>, d = 0): string =>
            LABELS.filter((l) => r[l] > 0)
              .map((l) => `${l} ${r[l].toFixed(d)}`)
              .join(', ');
          process.stdout.write(
            [
              `### ${v} at ${rate}/s (load ${os.loadavg()[0]!.toFixed(1)}): p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms, ${reqs.length} requests, ${reqs.filter((r) => !r.ok).length} failed`,
              `- thread time in the window (ms): ${fmt(totals)}; per 1k requests: ${fmt(Object.fromEntries(LABELS.map((l) => [l, (totals[l] * 1000) / reqs.length])) as Record<Label, number>, 1)}`,
              `- blocks longer than 2 ms: ${long.length} (by their largest part: ${fmt(longBy)}); longest ${Math.max(0, ...bs.map((b) => b.end - b.start)).toFixed(1)} ms`,
              `- per label, its time within one block (blocks where it ran over 0.3 ms; ms): ${LABELS.filter((l) => l !== 'descheduled')
                .map(stretches)
                .filter(Boolean)
                .join('; ')}`,
              `- the ${slow.length} requests at or over p99, charged to the largest part of their time in flight: ${fmt(charged)}`,
              `- their mean time in flight by label (ms): ${fmt(inFlight, 2)}`,
              '',
            ].join('\n'),
          );
        }
      } finally {
        await s.stop();
      }
    }
  } finally {
    await sink.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`attribute failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
