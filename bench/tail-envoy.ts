import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startAuthz } from '../devstack/authz.ts';
import { renderEnvoyConfig, startEnvoy, type EnvoyPorts, type EnvoyProcess } from '../devstack/envoy.ts';
import { startMockProvider } from '../devstack/mock-provider.ts';
import { ROOT } from '../devstack/tools.ts';
import { OPA_ENVOY, startFloor, startOpa, startOtlpSink } from './servers.ts';
import { BENCH_ENV, BENCH_PROVIDER_KEEP, benchRequestBody, IMAGE_NODE_FLAGS, prepareBenchFiles } from './setup.ts';
import { gatewayParams, withoutAuthz, withoutAuthzHealthCheck, withoutOutcomes } from './through-envoy.ts';
import { perRequest, schedTimelines, wallMinusMonoMs, withSchedTrace } from './sched-trace.ts';
import { type RequestTiming, vegeta, vegetaRequests } from './vegeta.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** GC pause kinds as Node's PerformanceObserver reports them. */
export const GC_KIND: Readonly<Record<number, string>> = { 1: 'scavenge', 2: 'mark-compact', 4: 'incremental marking', 8: 'weak callbacks' };

/** The process role of every thread now on the machine, and the thread's name: `role:main` for a process's main thread. */
function threadGroups(roles: ReadonlyMap<number, string>): Map<number, string> {
  const groups = new Map<number, string>();
  const read = (file: string): string => {
    try {
      return readFileSync(file, 'utf8').trim();
    } catch {
      return '';
    }
  };
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    const pid = Number(p);
    const comm = read(`/proc/${p}/comm`);
    const kernel = read(`/proc/${p}/cmdline`) === '';
    const role = roles.get(pid) ?? (kernel ? 'kernel' : comm);
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      continue;
    }
    for (const t of tasks) {
      const tid = Number(t);
      groups.set(tid, kernel ? 'kernel threads' : tid === pid ? `${role}:main` : `${role}/${read(`/proc/${p}/task/${t}/comm`).replace(/\d+$/, '')}`);
    }
  }
  return groups;
}

interface Window {
  readonly p99: number;
  readonly slow: RequestTiming[];
  readonly median: RequestTiming[];
  /** Each group's ms per request on a CPU and waiting for one: the slowest 1%, the 40 around the median. */
  readonly slowBy: Map<string, { onCpu: number; waiting: number }>;
  readonly medianBy: Map<string, { onCpu: number; waiting: number }>;
  /** llm-authz's GC pauses in the window: [start ms, duration ms, kind]. */
  readonly pauses: readonly (readonly [number, number, number])[];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rate: { type: 'string', default: '500' },
      seconds: { type: 'string', default: '8' },
      rounds: { type: 'string', default: '2' },
      servers: { type: 'string', default: `off,floor,llm-authz,${OPA_ENVOY}` },
      'node-option': { type: 'string', multiple: true, default: [] },
    },
  });
  const rate = Number(values.rate);
  const seconds = Number(values.seconds);
  const rounds = Number(values.rounds);
  const servers = (values.servers ?? '').split(',');
  const known = ['off', 'floor', 'llm-authz', OPA_ENVOY];
  for (const s of servers) if (!known.includes(s)) throw new Error(`--servers: unknown ${s} (one of ${known.join(', ')})`);
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'llm-authz-tail-envoy-'));
  const sink = await startOtlpSink(workDir);
  const stops: (() => Promise<unknown>)[] = [() => sink.stop()];
  try {
    const files = await prepareBenchFiles(workDir, sink.port);
    const probeOut = path.join(workDir, 'gc-pauses.json');
    const provider = await startMockProvider('openai', '127.0.0.1', undefined, undefined, BENCH_PROVIDER_KEEP);
    stops.push(() => provider.close());
    const authz = await startAuthz({
      config: files.config,
      workDir,
      env: { ...BENCH_ENV, TAIL_PROBE_OUT: probeOut },
      name: 'llm-authz',
      nodeArgs: [...IMAGE_NODE_FLAGS, '--import', path.join(ROOT, 'bench', 'tail-requests-probe.ts'), ...(values['node-option'] ?? [])],
    });
    stops.push(() => authz.stop());
    const opaDir = path.join(workDir, 'opa');
    mkdirSync(opaDir);
    const opa = await startOpa(opaDir, files.opaPolicy, files.opaData);
    stops.push(() => opa.stop());
    const floor = await startFloor(workDir, 'openai');
    stops.push(() => floor.stop());
    const authzPid = authz.child.proc.pid ?? 0;
    const roles = new Map<number, string>([
      [authzPid, 'llm-authz'],
      [opa.pid, OPA_ENVOY],
      [floor.pid, 'floor'],
      [sink.pid, 'OTLP sink'],
      [process.pid, 'harness (mock provider)'],
    ]);
    const body = benchRequestBody(2048);
    const bodyFile = path.join(workDir, 'http-body-2k.json');
    writeFileSync(bodyFile, body);
    const gateway = (port: number, ports: EnvoyPorts): string =>
      withoutOutcomes(
        renderEnvoyConfig(
          'envoy/gateway.yaml',
          gatewayParams({ ports, authzPort: port, providerPort: provider.port, otlpPort: sink.port, accessLog: path.join(workDir, `access-${port}.log`) }),
        ),
      );
    const renders: Record<string, (ports: EnvoyPorts) => string> = {
      off: (ports) => withoutAuthz(gateway(authz.port, ports)),
      floor: (ports) => gateway(floor.port, ports),
      'llm-authz': (ports) => gateway(authz.port, ports),
      [OPA_ENVOY]: (ports) => withoutAuthzHealthCheck(gateway(opa.port, ports)),
    };
    const envoys = new Map<string, EnvoyProcess>();
    for (const name of known) {
      const envoy = await startEnvoy({ render: renders[name] as (ports: EnvoyPorts) => string, workDir, name: `envoy-${name.toLowerCase()}` });
      envoys.set(name, envoy);
      stops.push(() => envoy.stop());
      roles.set(envoy.child.proc.pid ?? 0, `Envoy (${name})`);
    }
    const url = (name: string): string => `http://127.0.0.1:${envoys.get(name)?.ports.listen}/v1/chat/completions`;
    const headers = ['content-type: application/json', `authorization: Bearer ${files.jwt}`, 'x-llm-authz-route: openai'];
    const attack = { dataFile: bodyFile, headers, h2c: false, workDir };
    for (const name of servers) {
      const probe = await vegeta({ ...attack, url: url(name), rate: 20, durationS: 1 });
      if (probe.errors > 0) throw new Error(`through Envoy with ext_authz ${name}: ${probe.errors} of ${probe.requests} requests failed`);
      await vegeta({ ...attack, url: url(name), rate: 500, durationS: 2 });
    }
    type Recorded = { name: string; requests: RequestTiming[]; traceFile: string; offset: number; groups: Map<number, string>; pauses: [number, number, number][] };
    const recorded: Recorded[] = [];
    for (let round = 0; round < rounds; round++) {
      for (const name of round % 2 === 0 ? servers : [...servers].reverse()) {
        rmSync(probeOut, { force: true });
        process.kill(authzPid, 'SIGUSR2');
        await sleep(200);
        const offset = wallMinusMonoMs();
        const traceFile = path.join(workDir, `sched-${recorded.length}.txt`);
        // The thread groups are read 2 s in, once every process has its threads.
        let groups = new Map<number, string>();
        const snapshot = setTimeout(() => {
          groups = threadGroups(roles);
        }, 2000);
        const result = await withSchedTrace({ traceFile, bufferKb: 65536, wakeups: true }, () => vegetaRequests({ ...attack, url: url(name), rate, durationS: seconds })).finally(
          () => clearTimeout(snapshot),
        );
        process.kill(authzPid, 'SIGUSR2');
        for (let i = 0; i < 50 && !existsSync(probeOut); i++) await sleep(100);
        const { pauses } = JSON.parse(readFileSync(probeOut, 'utf8')) as { pauses: [number, number, number][] };
        recorded.push({ name, requests: result, traceFile, offset, groups, pauses });
        process.stderr.write(`${name} round ${round + 1} recorded\n`);
      }
    }
    // Every window is over: now the traces can be read.
    const windows = new Map<string, Window[]>();
    for (const r of recorded) {
      const ok = r.requests.filter((q) => q.ok).sort((a, b) => b.latencyMs - a.latencyMs);
      if (ok.length < r.requests.length) process.stderr.write(`${r.name}: ${r.requests.length - ok.length} requests failed\n`);
      const n = Math.max(1, Math.ceil(ok.length / 100));
      const mid = Math.floor(ok.length / 2);
      const slow = ok.slice(0, n);
      const median = ok.slice(Math.max(0, mid - 20), mid + 20);
      const timelines = schedTimelines(readFileSync(r.traceFile, 'utf8'), r.offset, (tid) => r.groups.get(tid));
      const w: Window = {
        p99: (ok[n - 1] as RequestTiming).latencyMs,
        slow,
        median,
        slowBy: perRequest(slow, timelines),
        medianBy: perRequest(median, timelines),
        pauses: r.pauses,
      };
      let list = windows.get(r.name);
      if (list === undefined) windows.set(r.name, (list = []));
      list.push(w);
    }
    report(rate, seconds, windows);
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    rmSync(workDir, { recursive: true, force: true });
  }
}

function report(rate: number, seconds: number, windows: Map<string, Window[]>): void {
  const f = (x: number): string => x.toFixed(2);
  const out: string[] = [`Through Envoy at ${rate}/s paced, ${seconds} s windows\n`];
  for (const [name, ws] of windows) {
    out.push(`\n### ${name}: p99 per round ${ws.map((w) => f(w.p99)).join(' / ')} ms\n`);
    const slow = ws.flatMap((w) => w.slow);
    const met = new Map<string, number>();
    let metAny = 0;
    for (const w of ws) {
      for (const r of w.slow) {
        const hit = w.pauses.filter(([s, d]) => s < r.sentMs + r.latencyMs && s + d > r.sentMs);
        if (hit.length > 0) metAny++;
        for (const k of new Set(hit.map((h) => GC_KIND[h[2]] ?? `kind ${h[2]}`))) met.set(k, (met.get(k) ?? 0) + 1);
      }
    }
    const pauses = new Map<string, { n: number; ms: number; longest: number }>();
    for (const [, d, k] of ws.flatMap((w) => w.pauses)) {
      const p = pauses.get(GC_KIND[k] ?? `kind ${k}`) ?? { n: 0, ms: 0, longest: 0 };
      pauses.set(GC_KIND[k] ?? `kind ${k}`, { n: p.n + 1, ms: p.ms + d, longest: Math.max(p.longest, d) });
    }
    out.push(
      `\nThe slowest 1% (${slow.length} requests): ${metAny} met a GC pause of llm-authz (${[...met].map(([k, n]) => `${k} ${n}`).join(', ') || 'none'}). llm-authz's GC pauses in these windows: ${[...pauses].map(([k, p]) => `${k} ${p.n} (${f(p.ms)} ms, longest ${f(p.longest)})`).join(', ') || 'none'}.\n`,
    );
    const slowBy = mean(ws.map((w) => w.slowBy));
    const medBy = mean(ws.map((w) => w.medianBy));
    const rows = [...slowBy]
      .filter(([, v]) => v.onCpu + v.waiting >= 0.1)
      .sort((a, b) => b[1].onCpu + b[1].waiting - (a[1].onCpu + a[1].waiting))
      .slice(0, 14);
    out.push('\n| thread group | slowest 1%: on a CPU, ms per request | waiting for a CPU | 40 around the median: on a CPU | waiting |\n|---|---|---|---|---|\n');
    for (const [g, v] of rows) {
      const m = medBy.get(g) ?? { onCpu: 0, waiting: 0 };
      out.push(`| ${g} | ${f(v.onCpu)} | ${f(v.waiting)} | ${f(m.onCpu)} | ${f(m.waiting)} |\n`);
    }
    const total = (by: Map<string, { onCpu: number }>): number => [...by.values()].reduce((a, v) => a + v.onCpu, 0);
    const meanLatency = (rs: RequestTiming[]): number => rs.reduce((a, r) => a + r.latencyMs, 0) / Math.max(1, rs.length);
    out.push(
      `\nAll threads on a CPU per request: ${f(total(slowBy))} ms over a mean ${f(meanLatency(slow))} ms for the slowest 1% (${f((100 * total(slowBy)) / (2 * meanLatency(slow)))}% of two cores); ${f(total(medBy))} over ${f(meanLatency(ws.flatMap((w) => w.median)))} around the median.\n`,
    );
  }
  process.stdout.write(out.join(''));
}

/** The mean of per-window group figures (a group absent from a window counts as 0 there). */
function mean(maps: readonly Map<string, { onCpu: number; waiting: number }>[]): Map<string, { onCpu: number; waiting: number }> {
  const out = new Map<string, { onCpu: number; waiting: number }>();
  for (const m of maps) {
    for (const [g, v] of m) {
      const o = out.get(g) ?? { onCpu: 0, waiting: 0 };
      out.set(g, { onCpu: o.onCpu + v.onCpu / maps.length, waiting: o.waiting + v.waiting / maps.length });
    }
  }
  return out;
}

if (import.meta.main) {
  main().catch((err: unknown) => {
    process.stderr.write(`tail-envoy failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
