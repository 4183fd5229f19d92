/**
 * How the time of a request through Envoy grows with the quiet spell before it (target 7's
 * attribution; in `npm run bench`, and on its own): through a freshly started Envoy
 * (bench/cold-envoy.ts) with ext_authz off, to llm-authz, to the no-op grpc-js floor and to
 * OPA-Envoy, 200 warm requests back to back, then rounds in which each gap in turn is slept
 * before one request (ten back to back before each, so each gap starts from the same state); per
 * gap, the median of the rounds against the back-to-back median, at the client and for the Check
 * hop as Envoy times it (ext_authz). Target 7's "after two minutes idle" is the far end of this
 * curve; the curve says from how short a pause the penalty starts and whether it is llm-authz's or
 * any request's on this machine.
 * `--probe-ms P` adds, for llm-authz, the prototype of keeping the whole path busy (measureProber).
 *   node bench/gap-curve.ts [--gaps 1,5,10,20,50,100,1000,5000] [--rounds 5]
 *                           [--variants off,llm-authz,floor,opa-envoy] [--probe-ms 10] [--idle-seconds 120]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpuSeconds } from './procstat.ts';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { warmClient, type Sent, type Timed } from './cold.ts';
import { freshOptions, startFreshEnvoy, VARIANTS, type FreshOptions, type Variant } from './cold-envoy.ts';
import { startOtlpSink } from './servers.ts';
import { BENCH_ENV, prepareBenchFiles } from './setup.ts';

export const GAPS_MS = [1, 5, 10, 20, 50, 100, 1000, 5000] as const;
/** The prober's period in `npm run bench`: from the curve, the longest pause after which a request still costs under 2× at the client. */
export const PROBE_EVERY_MS = 10;
export const CURVE_VARIANTS = ['off', 'llm-authz', 'floor', 'opa-envoy'] as const satisfies readonly Variant[];

export interface GapPoint {
  readonly gapMs: number;
  /** Medians over the rounds. */
  readonly median: Timed;
  /** The slowest of the rounds at the client. */
  readonly worstClientMs: number;
}

export interface GapCurve {
  /** The back-to-back medians. */
  readonly warm: Timed;
  readonly rounds: number;
  readonly points: readonly GapPoint[];
}

export interface ProberResult {
  readonly everyMs: number;
  readonly probes: number;
  /** The application's back-to-back median while the prober runs. */
  readonly warm: Timed;
  /** The application's first request, 1 s after Envoy's start (the prober started with it). */
  readonly first: Timed;
  readonly idleSeconds: number;
  /** The application's first request after `idleSeconds` without one. */
  readonly afterIdle: Timed;
  /** Its requests after 5 s without one: the medians, the slowest at the client, how many. */
  readonly after5s: Timed;
  readonly after5sWorstClientMs: number;
  readonly after5sCount: number;
  /** CPU ms per second of Envoy and of llm-authz while the application is quiet, with the prober and without it. */
  readonly cpuMsPerSecond: { readonly withProber: { readonly envoy: number; readonly authz: number }; readonly without: { readonly envoy: number; readonly authz: number } };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** CPU ms per second of Envoy and of llm-authz over `seconds` of sleep. */
async function stackCpuMsPerSecond(pids: { envoy: number; authz?: number }, seconds: number): Promise<{ envoy: number; authz: number }> {
  const read = () => ({ envoy: cpuSeconds(pids.envoy), authz: pids.authz === undefined ? Number.NaN : cpuSeconds(pids.authz) });
  const t0 = performance.now();
  const c0 = read();
  await sleep(seconds * 1000);
  const c1 = read();
  const s = (performance.now() - t0) / 1000;
  return { envoy: ((c1.envoy - c0.envoy) * 1000) / s, authz: ((c1.authz - c0.authz) * 1000) / s };
}

export async function measureGapCurve(v: Variant, dir: string, o: FreshOptions & { gaps?: readonly number[]; rounds?: number }): Promise<GapCurve> {
  const gaps = o.gaps ?? GAPS_MS;
  const rounds = o.rounds ?? 5;
  const fresh = await startFreshEnvoy(v, dir, o);
  try {
    const warm: Sent[] = [];
    for (let i = 0; i < 200; i++) warm.push(await fresh.send());
    const byGap = gaps.map(() => [] as Sent[]);
    for (let r = 0; r < rounds; r++) {
      for (const [i, g] of gaps.entries()) {
        for (let k = 0; k < 10; k++) warm.push(await fresh.send());
        await sleep(g);
        byGap[i]?.push(await fresh.send());
      }
    }
    // Envoy flushes its access log every 100 ms (devstack/envoy.ts), llm-authz its decision log every 50 ms.
    await sleep(500);
    const s = fresh.split();
    return {
      warm: s.medianOf(warm.slice(50)),
      rounds,
      points: gaps.map((gapMs, i) => {
        const xs = byGap[i] ?? [];
        return { gapMs, median: s.medianOf(xs), worstClientMs: Math.max(...xs.map((x) => s.timed(x).clientMs)) };
      }),
    };
  } finally {
    await fresh.stop();
  }
}

/**
 * The prototype of keeping the whole path busy: a prober sends the application's request through
 * Envoy every `everyMs` on a connection of its own, from Envoy's start on (each probe a real
 * Check, logged and exported like any). The application's first request comes 1 s after the
 * start, then 200 back to back (the warm median, the prober still running), then `idleSeconds`
 * without any (Envoy's and llm-authz's CPU read over it), one request, and `rounds - 1` more,
 * each after 5 s without any; then the prober stops and the same CPU is read over up to 30 s
 * without it. The prober is bounded in time.
 */
export async function measureProber(v: Variant, dir: string, o: FreshOptions & { everyMs: number; idleSeconds: number; rounds?: number }): Promise<ProberResult> {
  const rounds = o.rounds ?? 5;
  const app = await startFreshEnvoy(v, dir, o);
  try {
    const probe = app.sender();
    let stopped = false;
    let probes = 0;
    const end = performance.now() + (o.idleSeconds + rounds * 5 + 120) * 1000;
    const prober = (async () => {
      while (!stopped && performance.now() < end) {
        await probe();
        probes++;
        await sleep(o.everyMs);
      }
    })();
    let withProber: { envoy: number; authz: number };
    const after: Sent[] = [];
    let first: Sent;
    const warm: Sent[] = [];
    try {
      await sleep(1000);
      first = await app.send();
      for (let i = 0; i < 200; i++) warm.push(await app.send());
      withProber = await stackCpuMsPerSecond(app.pids, o.idleSeconds);
      after.push(await app.send());
      for (let r = 1; r < rounds; r++) {
        await sleep(5000);
        after.push(await app.send());
      }
    } finally {
      stopped = true;
      await prober;
    }
    const without = await stackCpuMsPerSecond(app.pids, Math.min(30, o.idleSeconds));
    const s = app.split();
    const later = after.slice(1);
    return {
      everyMs: o.everyMs,
      probes,
      warm: s.medianOf(warm.slice(50)),
      first: s.timed(first),
      idleSeconds: o.idleSeconds,
      afterIdle: s.timed(after[0] as Sent),
      after5s: s.medianOf(later),
      after5sWorstClientMs: Math.max(...later.map((x) => s.timed(x).clientMs)),
      after5sCount: later.length,
      cpuMsPerSecond: { withProber, without },
    };
  } finally {
    await app.stop();
  }
}

/** The curves of bench/run.ts, by variant, with the prober's prototype (absent from runs before they were measured). */
export interface QuietSpells {
  readonly curves: Readonly<Partial<Record<(typeof CURVE_VARIANTS)[number], GapCurve>>>;
  readonly prober?: ProberResult;
}

const f2 = (n: number): string => (Number.isFinite(n) ? n.toFixed(2) : 'n/a');
/** `a` against `b`: "2.13×". */
const x = (a: number, b: number): string => (b > 0 && Number.isFinite(a) ? `${(a / b).toFixed(2)}×` : 'n/a');

const CURVE_NAMES: Record<(typeof CURVE_VARIANTS)[number], string> = { off: 'ext_authz off', 'llm-authz': 'llm-authz', floor: 'no-op floor', 'opa-envoy': 'OPA-Envoy' };

/** BENCHMARKS.md's section on the quiet-spell curve and the prober's prototype. */
export function quietSpellSection(q: QuietSpells | undefined): string[] {
  if (q === undefined) return [];
  const shown = CURVE_VARIANTS.filter((v) => q.curves[v] !== undefined);
  const first = q.curves[shown[0] ?? 'off'];
  if (first === undefined) return [];
  const out: string[] = [
    '## 4. A request after a quiet spell',
    '',
    `\`bench/gap-curve.ts\`: through a freshly started Envoy (envoy/gateway.yaml, a mock provider) with each ext_authz in turn, 200 requests back to back, then ${first.rounds} rounds in which each pause in turn is slept before one request (ten back to back before each). Each cell: the median over the rounds against the back-to-back median, at the client; for the ext_authz servers, then the Check hop as Envoy times it (ext_authz latency). Target 7 is the far end of this curve.`,
    '',
    `| pause ms | ${shown.map((v) => CURVE_NAMES[v]).join(' | ')} |`,
    `|---|${shown.map(() => '---').join('|')}|`,
    `| back to back, ms | ${shown
      .map((v) => {
        const c = q.curves[v] as GapCurve;
        return `${f2(c.warm.clientMs)}${!Number.isFinite(c.warm.extAuthzMs) ? '' : ` / ${f2(c.warm.extAuthzMs)}`}`;
      })
      .join(' | ')} |`,
  ];
  for (const [i, p] of first.points.entries()) {
    out.push(
      `| ${p.gapMs} | ${shown
        .map((v) => {
          const c = q.curves[v] as GapCurve;
          const m = c.points[i]?.median;
          if (m === undefined) return 'n/a';
          return `${x(m.clientMs, c.warm.clientMs)}${!Number.isFinite(c.warm.extAuthzMs) ? '' : ` / ${x(m.extAuthzMs, c.warm.extAuthzMs)}`}`;
        })
        .join(' | ')} |`,
    );
  }
  out.push('');
  const p = q.prober;
  if (p !== undefined) {
    out.push(
      `Prototype of keeping the whole path busy (\`measureProber\`): a prober sends the same request through Envoy to llm-authz every ${p.everyMs} ms on a connection of its own, from Envoy's start (${p.probes} probes). Against the application's back-to-back median with the prober running (${f2(p.warm.clientMs)} ms at the client, ${f2(p.warm.extAuthzMs)} ms the Check hop): its first request 1 s after start ${f2(p.first.clientMs)} ms (${x(p.first.clientMs, p.warm.clientMs)}; the Check hop ${x(p.first.extAuthzMs, p.warm.extAuthzMs)}), after ${p.idleSeconds} s without a request of its own ${f2(p.afterIdle.clientMs)} ms (${x(p.afterIdle.clientMs, p.warm.clientMs)}; ${x(p.afterIdle.extAuthzMs, p.warm.extAuthzMs)}), after 5 s the median of ${p.after5sCount} ${f2(p.after5s.clientMs)} ms (${x(p.after5s.clientMs, p.warm.clientMs)}; ${x(p.after5s.extAuthzMs, p.warm.extAuthzMs)}; slowest ${x(p.after5sWorstClientMs, p.warm.clientMs)}). Its price, while the application was quiet: Envoy used ${p.cpuMsPerSecond.withProber.envoy.toFixed(0)} CPU ms per second and llm-authz ${p.cpuMsPerSecond.withProber.authz.toFixed(0)}, against ${p.cpuMsPerSecond.without.envoy.toFixed(0)} and ${p.cpuMsPerSecond.without.authz.toFixed(0)} without the prober.`,
      '',
    );
  }
  return out;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      gaps: { type: 'string', default: GAPS_MS.join(',') },
      rounds: { type: 'string', default: '5' },
      variants: { type: 'string', default: CURVE_VARIANTS.join(',') },
      'probe-ms': { type: 'string' },
      'idle-seconds': { type: 'string', default: '120' },
    },
  });
  const gaps = values.gaps.split(',').map(Number);
  const rounds = Number(values.rounds);
  const variants = values.variants.split(',').filter(Boolean) as Variant[];
  if (gaps.some((g) => !Number.isFinite(g) || g < 0 || g > 60_000)) throw new Error('--gaps: comma-separated milliseconds, each 0-60000');
  if (!Number.isInteger(rounds) || rounds < 2 || rounds > 50) throw new Error('--rounds: 2-50');
  for (const v of variants) if (!(VARIANTS as readonly string[]).includes(v)) throw new Error(`--variants: unknown ${v}`);
  const probeMs = values['probe-ms'] === undefined ? undefined : Number(values['probe-ms']);
  if (probeMs !== undefined && (!Number.isInteger(probeMs) || probeMs < 1 || probeMs > 10_000)) throw new Error('--probe-ms: 1-10000');
  const idleSeconds = Number(values['idle-seconds']);
  if (!Number.isFinite(idleSeconds) || idleSeconds < 1 || idleSeconds > 600) throw new Error('--idle-seconds: 1-600');

  const workDir = mkdtempSync(path.join(os.tmpdir(), 'llm-authz-gap-curve-'));
  const sink = await startOtlpSink(workDir);
  try {
    const files = await prepareBenchFiles(workDir, sink.port);
    const fresh = freshOptions(files, BENCH_ENV);
    await warmClient(fresh.body);
    process.stdout.write(`${rounds} rounds; per gap the median request against the back-to-back median, at the client and of the Check hop as Envoy times it\n`);
    for (const v of variants) {
      const c = await measureGapCurve(v, path.join(workDir, v), { ...fresh, gaps, rounds });
      process.stdout.write(`\n${v}: back to back client ${f2(c.warm.clientMs)} ms, ext_authz ${f2(c.warm.extAuthzMs)} ms\n`);
      process.stdout.write(`${'gap ms'.padStart(8)}${'client ms'.padStart(11)}${'ratio'.padStart(8)}${'ext_authz'.padStart(11)}${'ratio'.padStart(8)}${'worst'.padStart(8)}\n`);
      for (const p of c.points)
        process.stdout.write(
          `${String(p.gapMs).padStart(8)}${f2(p.median.clientMs).padStart(11)}${x(p.median.clientMs, c.warm.clientMs).padStart(8)}${f2(p.median.extAuthzMs).padStart(11)}${x(p.median.extAuthzMs, c.warm.extAuthzMs).padStart(8)}${x(p.worstClientMs, c.warm.clientMs).padStart(8)}\n`,
        );
    }
    if (probeMs !== undefined) {
      const p = await measureProber('llm-authz', path.join(workDir, 'prober'), { ...fresh, everyMs: probeMs, idleSeconds, rounds });
      process.stdout.write(
        [
          `\nllm-authz with a prober every ${p.everyMs} ms through Envoy (${p.probes} probes): back to back client ${f2(p.warm.clientMs)} ms, ext_authz ${f2(p.warm.extAuthzMs)} ms`,
          `  first after start     client ${f2(p.first.clientMs)} ms (${x(p.first.clientMs, p.warm.clientMs)}), ext_authz ${x(p.first.extAuthzMs, p.warm.extAuthzMs)}`,
          `  after ${p.idleSeconds} s quiet    client ${f2(p.afterIdle.clientMs)} ms (${x(p.afterIdle.clientMs, p.warm.clientMs)}), ext_authz ${x(p.afterIdle.extAuthzMs, p.warm.extAuthzMs)}`,
          `  after 5 s quiet       client ${f2(p.after5s.clientMs)} ms (${x(p.after5s.clientMs, p.warm.clientMs)}, median of ${p.after5sCount}, worst ${x(p.after5sWorstClientMs, p.warm.clientMs)}), ext_authz ${x(p.after5s.extAuthzMs, p.warm.extAuthzMs)}`,
          `  CPU ms per second while the application is quiet, Envoy / llm-authz: ${p.cpuMsPerSecond.withProber.envoy.toFixed(0)} / ${p.cpuMsPerSecond.withProber.authz.toFixed(0)} with the prober, ${p.cpuMsPerSecond.without.envoy.toFixed(0)} / ${p.cpuMsPerSecond.without.authz.toFixed(0)} without`,
          '',
        ].join('\n'),
      );
    }
  } finally {
    await sink.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  main().catch((err: unknown) => {
    process.stderr.write(`gap-curve failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
