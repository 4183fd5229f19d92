/**
 * The footprint and tail targets, each checked against one run's results (bench/run.ts) and
 * written as a table into BENCHMARKS.md by bench/report.ts: target, measured value, met.
 */
import type { AllocResult } from './alloc.ts';
import type { ColdResult, Timed } from './cold.ts';
import type { VariantResult } from './cold-envoy.ts';
import type { QuietSpells } from './gap-curve.ts';
import type { LoadResult } from './h2load.ts';
import { OPA_ENVOY } from './servers.ts';
import type { EnvoyPoint } from './through-envoy.ts';
import type { UdsPoint } from './uds.ts';

/** The footprint target's memory cgroup: llm-authz under maximum load inside 128 MiB. */
export const TARGET_MEMORY_LIMIT_MIB = 128;
/** The memory limit of deploy/kubernetes/deployment/deployment.yaml and of the injected sidecar (src/inject/sidecars.ts). */
export const MANIFEST_MEMORY_LIMIT_MIB = 256;
/** The name of an llm-authz run in a memory cgroup, in the results and the report. */
export const memoryLimited = (mib: number): string => `llm-authz (${mib} MiB memory limit)`;
/** The idle spell before the cold target's second request. */
export const COLD_IDLE_SECONDS = 120;
/** The paced rates of the tail target (direct gRPC). */
export const TAIL_RATES = [250, 500, 1000] as const;
/** Bytes allocated per Check before the footprint work (109–113 KiB); the target halves the lower end. */
export const ALLOC_BASELINE_KIB = 109;

type Measured = LoadResult & { readonly cpuMsPer1k: number; readonly rssMiB: number };

/** What the targets read from a run's results (bench/report.ts's BenchResults). */
export interface TargetInputs {
  readonly check: Readonly<Record<string, Measured>>;
  readonly idleRssMiB: Readonly<Record<string, number>>;
  readonly notMeasured: Readonly<Record<string, string>>;
  readonly memoryLimits?: Readonly<Record<string, { readonly limitMiB: number; readonly peakMiB: number; readonly oomKills: number }>>;
  readonly rates: Readonly<Record<string, readonly (Measured & { readonly rate: number })[]>>;
  readonly envoy: readonly EnvoyPoint[];
  readonly uds?: readonly UdsPoint[];
  readonly alloc?: AllocResult;
  readonly cold?: ColdResult;
  readonly coldBaselines?: ColdBaselines;
  readonly quietSpells?: QuietSpells;
}

/** bench/cold-envoy.ts's first and warm requests through a fresh Envoy with ext_authz off, to the no-op floor and to OPA-Envoy. */
export interface ColdBaselines {
  readonly off: VariantResult;
  readonly floor: VariantResult;
  /** OPA-Envoy (absent from runs before it was measured). */
  readonly opa?: VariantResult;
}

export interface TargetRow {
  readonly target: string;
  readonly measured: string;
  /** Undefined when this run has no figure for it. */
  readonly met: boolean | undefined;
}

const f = (n: number | undefined, d = 2): string => (n !== undefined && Number.isFinite(n) ? n.toFixed(d) : 'n/a');
const times = (a: number, b: number): string => (b > 0 && Number.isFinite(a) ? `${(a / b).toFixed(2)}×` : 'n/a');
const finite = (...xs: (number | undefined)[]): boolean => xs.every((x) => x !== undefined && Number.isFinite(x));

/**
 * Why a fixed-rate run shows that the server did not keep up, or undefined: more than 1% of the
 * requests failed (through Envoy, a Check slower than ext_authz's 1 s timeout is a 503), the
 * successful answers came back at less than 95% of the rate (vegeta's throughput, which counts the
 * wait for the last answers: a queue that grew over the run), or the load generator itself sent
 * at less than 95% of it.
 */
export function saturation(x: LoadResult, rate: number): string | undefined {
  if (x.errors > 0.01 * x.requests) return `${((100 * x.errors) / x.requests).toFixed(1)}% failed`;
  if (x.throughput !== undefined && x.throughput < 0.95 * rate) return `answered ${f(x.throughput, 0)}/s`;
  if (x.rps < 0.95 * rate) return `sent at ${f(x.rps, 0)}/s`;
  return undefined;
}

function tail(r: TargetInputs): TargetRow[] {
  return TAIL_RATES.map((rate) => {
    const at = (name: string) => r.rates[name]?.find((p) => p.rate === rate);
    const [ours, opa, floor] = [at('llm-authz'), at(OPA_ENVOY), at('floor')];
    const target = `1. Tail: p99 at paced ${rate} req/s, direct gRPC, ≤ ${OPA_ENVOY}'s p99 at the same rate, and ≤ 3× the floor's`;
    if (!ours || !opa || !floor) return { target, measured: 'not measured', met: undefined };
    const errors = ours.errors > 0 ? ` (llm-authz: ${ours.errors} of ${ours.requests} failed)` : '';
    return {
      target,
      measured: `llm-authz ${f(ours.p99)} ms; ${OPA_ENVOY} ${f(opa.p99)} ms (${times(ours.p99, opa.p99)}); floor ${f(floor.p99)} ms (${times(ours.p99, floor.p99)})${errors}`,
      met: finite(ours.p99, opa.p99, floor.p99) ? ours.p99 <= opa.p99 && ours.p99 <= 3 * floor.p99 : undefined,
    };
  });
}

function throughEnvoy(r: TargetInputs): TargetRow[] {
  const rows: TargetRow[] = [];
  const compared: { rate: number; met: boolean | undefined }[] = [];
  let stoppedAt = '';
  for (const p of [...r.envoy].sort((a, b) => a.rate - b.rate)) {
    const ours = p.results['llm-authz'];
    const opa = p.peers?.[OPA_ENVOY];
    if (opa === undefined) continue;
    const full = (
      [
        ['llm-authz', saturation(ours, p.rate)],
        [OPA_ENVOY, saturation(opa, p.rate)],
      ] as const
    ).flatMap(([name, why]) => (why === undefined ? [] : [`${name} (${why})`]));
    if (full.length > 0) {
      stoppedAt = `${p.rate}/s, where ${full.join(' and ')} saturated`;
      break;
    }
    const off = p.results.off;
    const [a50, a99, o50, o99] = [ours.p50 - off.p50, ours.p99 - off.p99, opa.p50 - off.p50, opa.p99 - off.p99];
    const met = finite(a50, a99, o50, o99) ? a50 <= o50 && a99 <= o99 : undefined;
    compared.push({ rate: p.rate, met });
    // The target names llm-authz and OPA-Envoy only; an Envoy without ext_authz that cannot keep
    // the rate either (a loaded machine) makes "added" meaningless, which the row says.
    const offFull = saturation(off, p.rate);
    rows.push({
      target: `2. Through Envoy at ${p.rate} req/s: llm-authz's added p50 and p99 ≤ ${OPA_ENVOY}'s`,
      measured: `added p50 ${f(a50)} vs ${f(o50)} ms; added p99 ${f(a99)} vs ${f(o99)} ms${offFull === undefined ? '' : ` (ext_authz off saturated too: ${offFull})`}`,
      met,
    });
  }
  rows.push({
    target: `2. Through Envoy: llm-authz's added p50 and p99 ≤ ${OPA_ENVOY}'s at every rate up to the first rate where either saturates`,
    measured:
      compared.length === 0
        ? `no rate compared${stoppedAt ? ` (stopped at ${stoppedAt})` : ''}`
        : `compared at ${compared.map((c) => c.rate).join(', ')}/s; ${stoppedAt ? `not compared from ${stoppedAt}` : `neither saturated up to ${Math.max(...r.envoy.map((p) => p.rate))}/s`}`,
    met: compared.some((c) => c.met === false) ? false : compared.length === 0 || compared.some((c) => c.met === undefined) ? undefined : true,
  });
  return rows;
}

function cpu(r: TargetInputs): TargetRow {
  const [ours, opa] = [r.check['llm-authz'], r.check[OPA_ENVOY]];
  return {
    target: `3. CPU per 1k Checks back to back ≤ 0.4× ${OPA_ENVOY}'s`,
    measured:
      ours && opa ? `${f(ours.cpuMsPer1k, 0)} vs ${f(opa.cpuMsPer1k, 0)} CPU ms per 1k Checks (${times(ours.cpuMsPer1k, opa.cpuMsPer1k)}), maximum throughput` : 'not measured',
    met: ours && opa && finite(ours.cpuMsPer1k, opa.cpuMsPer1k) ? ours.cpuMsPer1k <= 0.4 * opa.cpuMsPer1k : undefined,
  };
}

function memory(r: TargetInputs): TargetRow[] {
  const idle = r.idleRssMiB['llm-authz'];
  const name = memoryLimited(TARGET_MEMORY_LIMIT_MIB);
  const cg = r.memoryLimits?.[name];
  const [limited, unlimited] = [r.check[name], r.check['llm-authz']];
  const share = limited && unlimited ? limited.rps / unlimited.rps : Number.NaN;
  const failed = r.notMeasured[name];
  let measured = failed === undefined ? 'not measured' : `not measured: ${failed}`;
  if (cg) {
    measured = `${cg.oomKills} OOM kills (peak ${f(cg.peakMiB, 0)} of ${cg.limitMiB} MiB); ${limited ? `${f(limited.rps, 0)} req/s` : 'no completed run'} = ${Number.isFinite(share) ? `${(100 * share).toFixed(0)}%` : 'n/a'} of ${f(unlimited?.rps, 0)} req/s without a limit${failed === undefined ? '' : ` (${failed})`}`;
  }
  return [
    {
      target: '4. Memory: idle RSS ≤ 80 MiB',
      measured: `${f(idle, 0)} MiB after start and the pre-load Checks`,
      met: finite(idle) ? (idle as number) <= 80 : undefined,
    },
    {
      target: `4. Memory: under the maximum-throughput load inside a ${TARGET_MEMORY_LIMIT_MIB} MiB memory cgroup, 0 OOM kills and ≥ 90% of the unlimited run's throughput`,
      measured,
      met: cg === undefined ? undefined : cg.oomKills > 0 ? false : Number.isFinite(share) ? share >= 0.9 : failed === undefined ? undefined : false,
    },
  ];
}

function allocation(r: TargetInputs): TargetRow {
  const a = r.alloc;
  const limit = ALLOC_BASELINE_KIB / 2;
  return {
    target: `5. Allocation: bytes allocated per Check measured and reported, at least halved from 109–113 KiB (≤ ${limit} KiB)`,
    measured: a
      ? `${f(a.bytesPerCheck / 1024, 1)} KiB per Check (V8 heap, ${a.checks} Checks${a.errors > 0 ? `, ${a.errors} failed` : ''}; ${f(a.promotedPerCheck, 0)} B promoted, ${f(a.scavengesPer1k)} scavenges per 1k)`
      : 'not measured',
    met: a && finite(a.bytesPerCheck) ? a.bytesPerCheck / 1024 <= limit : undefined,
  };
}

function uds(r: TargetInputs): TargetRow {
  const pts = r.uds ?? [];
  const byPath = (p: UdsPoint['path']) => pts.filter((x) => x.path === p);
  const rates = (p: UdsPoint['path']) => byPath(p).map((x) => x.rate);
  const top = byPath('envoy').at(-1);
  const errors = pts.reduce((n, x) => n + x.results.tcp.errors + x.results.uds.errors, 0);
  return {
    target: '6. Unix domain socket rows',
    measured:
      pts.length === 0
        ? 'not measured'
        : `TCP and UDS, direct at ${rates('direct').join(', ')}/s and through Envoy at ${rates('envoy').join(', ')}/s${top ? `; through Envoy at ${top.rate}/s p99 ${f(top.results.tcp.p99)} ms over TCP, ${f(top.results.uds.p99)} ms over UDS` : ''}; ${errors} failed requests`,
    met: pts.length === 0 ? undefined : byPath('direct').length > 0 && byPath('envoy').length > 0,
  };
}

/** A first (or after-idle) figure against the warm one: "4.69 ms against 0.92 (5.10×)". */
const against = (x: number, warm: number): string => `${f(x)} ms against ${f(warm)} (${times(x, warm)})`;

/**
 * For scale: what a freshly started Envoy's first request costs with ext_authz off, to the no-op
 * floor and to OPA-Envoy, and after the same idle spell; for the last two also their Check hop as
 * Envoy times it.
 */
function coldScale(b: ColdBaselines | undefined): string {
  if (b === undefined) return '';
  const afterIdle = (x: VariantResult, ms: (t: Timed) => number): string =>
    x.afterIdle === undefined ? '' : `, after the same idle spell ${f(ms(x.afterIdle))} ms (${times(ms(x.afterIdle), ms(x.warm))})`;
  const client = (t: Timed): number => t.clientMs;
  const hop = (t: Timed): number => t.extAuthzMs;
  const ext = (name: string, x: VariantResult): string =>
    `to ${name} ${against(x.first.clientMs, x.warm.clientMs)}${afterIdle(x, client)}, its Check as Envoy times it ${against(x.first.extAuthzMs, x.warm.extAuthzMs)}${afterIdle(x, hop)}`;
  return (
    `; for scale, through a freshly started Envoy (bench/cold-envoy.ts), the first request with ext_authz off ${against(b.off.first.clientMs, b.off.warm.clientMs)}${afterIdle(b.off, client)}; ` +
    ext('the no-op grpc-js floor', b.floor) +
    (b.opa === undefined ? '' : `; ${ext('OPA-Envoy', b.opa)}`)
  );
}

/** The quiet-spell curve at its first pause past 2× for llm-authz, Envoy alone there, and the prober's prototype. */
function quietSpells(q: QuietSpells | undefined): string {
  const ours = q?.curves['llm-authz'];
  const off = q?.curves.off;
  if (q === undefined || ours === undefined) return '';
  const i = ours.points.findIndex((p) => p.median.clientMs > 2 * ours.warm.clientMs);
  const past = ours.points[i];
  const before = i > 0 ? ours.points[i - 1] : undefined;
  const offPast = off?.points.find((p) => p.gapMs === past?.gapMs);
  const curve =
    past === undefined
      ? `; after every pause of section 4, up to ${ours.points.at(-1)?.gapMs ?? 'n/a'} ms, under 2× at the client`
      : `; section 4: after a pause of ${past.gapMs} ms a request already costs ${times(past.median.clientMs, ours.warm.clientMs)} at the client${offPast && off ? ` (with ext_authz off ${times(offPast.median.clientMs, off.warm.clientMs)})` : ''}${before ? `, after ${before.gapMs} ms ${times(before.median.clientMs, ours.warm.clientMs)}` : ''}`;
  const p = q.prober;
  return (
    curve +
    (p === undefined
      ? ''
      : `; prototype, a prober through Envoy every ${p.everyMs} ms: first after start ${times(p.first.clientMs, p.warm.clientMs)}, after ${p.idleSeconds} s idle ${times(p.afterIdle.clientMs, p.warm.clientMs)}, for ${(p.cpuMsPerSecond.withProber.envoy + p.cpuMsPerSecond.withProber.authz).toFixed(0)} CPU ms per second of Envoy and llm-authz while idle (${(p.cpuMsPerSecond.without.envoy + p.cpuMsPerSecond.without.authz).toFixed(0)} without)`)
  );
}

function cold(r: TargetInputs): TargetRow {
  const c = r.cold;
  const target = '7. First Check after start and after two minutes idle ≤ 2× a warm one at the client, through Envoy';
  if (!c) return { target, measured: 'not measured', met: undefined };
  const [first, idle] = [c.first.clientMs / c.warm.clientMs, c.afterIdle.clientMs / c.warm.clientMs];
  return {
    target,
    measured:
      `first after start ${f(c.first.clientMs)} ms (${f(first)}×), after ${c.idleSeconds} s idle ${f(c.afterIdle.clientMs)} ms (${f(idle)}×), warm ${f(c.warm.clientMs)} ms (median); ` +
      `the Check as Envoy times it (ext_authz) first ${against(c.first.extAuthzMs, c.warm.extAuthzMs)}, after the idle spell ${f(c.afterIdle.extAuthzMs)} ms (${times(c.afterIdle.extAuthzMs, c.warm.extAuthzMs)})` +
      coldScale(r.coldBaselines) +
      quietSpells(r.quietSpells),
    // An idle spell shorter than the target's two minutes proves nothing about it.
    met: c.idleSeconds < COLD_IDLE_SECONDS || !finite(first, idle) ? undefined : first <= 2 && idle <= 2,
  };
}

/** Every footprint and tail target, as worded in the target list, with this run's figure. */
export function footprintTargets(r: TargetInputs): TargetRow[] {
  return [...tail(r), ...throughEnvoy(r), cpu(r), ...memory(r), allocation(r), uds(r), cold(r)];
}
