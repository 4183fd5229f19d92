/**
 * A prototype of the design change the tail target points at (not part of the suite, not the
 * shipped server): the Check pipeline off the gRPC thread. The server process
 * (bench/offload-server.ts) runs grpc-js on its main thread with the Check declared by path and
 * pass-through (de)serializers, so that thread loads no pipeline code and no Envoy protos; each
 * CheckRequest's bytes go, undecoded, to one of W worker threads (bench/offload-worker.ts), which
 * load the config's runtime, telemetry and decision log, decode the request, run the same Check
 * as serve (src/pipeline/check.ts) and send back the encoded CheckResponse. Both are bundled as
 * the CLI is (scripts/bundle.ts) into dist/bench-offload/, and both run one memory-reducing GC
 * after loading, as serve does. What it lacks against serve: health service, TLS, outcome
 * records, quotas, hot reload, the start-up warm-up and metrics; a worker that exits ends the
 * process. The driver runs serve and the prototype variants with the benchmark's config
 * (bench/setup.ts), interleaved round after round: paced rates (vegeta, h2c) and maximum
 * throughput (h2load), with the server's CPU per 1k Checks and its RSS (idle: after start, one Check
 * and 2 s, with its anonymous and file-backed parts).
 *   node bench/offload.ts [--rounds 2] [--rates 250,500,1000] [--seconds 8] [--max-seconds 10] [--variants 1,2,a,1:8:64]
 *       [--limit-mib 128] [--adaptive-idle-ms 10000] [--after-idle-seconds S] [--peers floor,opa]
 * A variant is W workers, or `a` (adaptive: the main thread runs the Checks until load starts a
 * worker, which is retired after --adaptive-idle-ms without a Check), optionally with the
 * worker's young and old generation capped in MB (`1:8:64`, `1::96`). --after-idle-seconds reads
 * the RSS again that long after the last load. --peers floor,opa adds the no-op grpc-js floor
 * (bench/floor.ts) and OPA-Envoy with the benchmark's Rego policy (as `npm run bench` runs them) to
 * the same interleaved rounds, so the tail and CPU targets' ratios can be read from one run.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { freePort } from '../devstack/ports.ts';
import { startChild } from '../devstack/process.ts';
import { ROOT } from '../devstack/tools.ts';
import { bundleEntries } from '../scripts/bundle.ts';
import { CHECK_GRPC_HEADERS, checkUrl, h2loadChecks, type LoadResult } from './h2load.ts';
import { procStat, statusMiB } from './procstat.ts';
import { type AuthzUnderTest, commandIn, inBenchWorkspace, OPA_ENVOY, ready, startFloor, startLlmAuthz, startOpa, verifyAllows, withCgroup, wrap } from './servers.ts';
import { AUTHZ_NODE_FLAGS } from '../src/inject/sidecars.ts';
import { createMemoryCgroup } from './cgroup.ts';
import { BENCH_ENV, benchCheckRequest, IMAGE_NODE_FLAGS } from './setup.ts';
import { vegeta } from './vegeta.ts';

/** The prototype's server and worker bundled as the CLI is (scripts/bundle.ts), so both sides load what serve's bundle would. */
const BUNDLE = path.join(ROOT, 'dist', 'bench-offload');

async function bundlePrototype(): Promise<void> {
  const here = path.dirname(import.meta.filename);
  await bundleEntries({ 'offload-server': path.join(here, 'offload-server.ts'), 'offload-worker': path.join(here, 'offload-worker.ts') }, BUNDLE);
}

/** A prototype variant: W workers, and optional resource limits (MB) on each worker's young and old generations. */
interface Variant {
  /** Adaptive: the main thread runs the Checks until load starts one worker (bench/offload-server.ts --adaptive). */
  readonly adaptive?: boolean;
  readonly workers: number;
  readonly youngMb?: number;
  readonly oldMb?: number;
}

function variantName(v: Variant): string {
  const limits = [v.youngMb !== undefined ? `young ${v.youngMb}` : '', v.oldMb !== undefined ? `old ${v.oldMb}` : ''].filter((x) => x !== '').join(', ');
  return `offload ${v.adaptive === true ? 'adaptive' : v.workers}${limits === '' ? '' : ` (${limits})`}`;
}

/** `1`, `2`, `1:8:64` (workers:young MB:old MB, either limit may be empty); `a`, `a:8:64` adaptive. */
function parseVariant(spec: string): Variant {
  const [w, young, old] = spec.split(':');
  return { ...(w === 'a' ? { adaptive: true, workers: 1 } : { workers: Number(w) }), ...(young ? { youngMb: Number(young) } : {}), ...(old ? { oldMb: Number(old) } : {}) };
}

async function startPrototype(workDir: string, config: string, v: Variant, limitMiB: number | undefined, adaptiveIdleMs: number): Promise<AuthzUnderTest> {
  const port = await freePort();
  const limits = [...(v.youngMb !== undefined ? ['--worker-young-mb', String(v.youngMb)] : []), ...(v.oldMb !== undefined ? ['--worker-old-mb', String(v.oldMb)] : [])];
  const args = [
    ...IMAGE_NODE_FLAGS,
    path.join(BUNDLE, 'offload-server.js'),
    ...[
      '--config',
      config,
      '--listen',
      `127.0.0.1:${port}`,
      ...(v.adaptive === true ? ['--adaptive', '--idle-ms', String(adaptiveIdleMs)] : ['--workers', String(v.workers)]),
      '--worker',
      path.join(BUNDLE, 'offload-worker.js'),
      ...limits,
    ],
  ];
  const memory = limitMiB === undefined ? undefined : createMemoryCgroup(`llm-authz-offload-${process.pid}-${port}`, limitMiB * 1048576);
  const [cmd, argv] = commandIn(memory, process.execPath, args);
  const child = startChild(cmd, argv, { logFile: path.join(workDir, `offload-${v.adaptive === true ? 'adaptive' : v.workers}.log`), env: { ...process.env, ...BENCH_ENV } });
  try {
    await ready(port);
  } catch (err) {
    await child.stop('SIGKILL');
    memory?.remove();
    throw err;
  }
  return withCgroup(wrap(variantName(v), child, port), memory);
}

async function driver(v: {
  rounds: number;
  rates: number[];
  seconds: number;
  maxSeconds: number;
  variants: Variant[];
  limitMiB: number | undefined;
  adaptiveIdleMs: number;
  afterIdleS: number;
  peers: readonly string[];
}): Promise<void> {
  const rows: string[] = [];
  await bundlePrototype();
  await inBenchWorkspace('llm-authz-offload-', async ({ workDir, files, frameFile }) => {
    const starts: [string, () => Promise<AuthzUnderTest>][] = [
      // In a memory cgroup, serve runs with the sidecar's flags, as the manifests run it.
      [
        'serve',
        () =>
          startLlmAuthz(
            workDir,
            files.config,
            BENCH_ENV,
            [],
            v.limitMiB === undefined ? {} : { memoryLimitMiB: v.limitMiB, nodeFlags: [...IMAGE_NODE_FLAGS, ...AUTHZ_NODE_FLAGS] },
          ),
      ],
      ...v.variants.map((p): [string, () => Promise<AuthzUnderTest>] => [variantName(p), () => startPrototype(workDir, files.config, p, v.limitMiB, v.adaptiveIdleMs)]),
      // The peers run without a memory limit: their rows are for the tail and CPU comparisons.
      ...v.peers.map((peer): [string, () => Promise<AuthzUnderTest>] => {
        if (peer === 'floor') return ['floor', () => startFloor(workDir)];
        if (peer === 'opa') return [OPA_ENVOY, () => startOpa(workDir, files.opaPolicy, files.opaData)];
        throw new Error(`--peers takes floor and opa, got ${peer}`);
      }),
    ];
    for (let round = 1; round <= v.rounds; round++) {
      for (const [name, start] of round % 2 === 1 ? starts : [...starts].reverse()) {
        const s = await start();
        const push = (label: string, cells: string): void => {
          const m = s.memory;
          const line = `| ${name} | ${round} | ${label} | ${cells} |${m === undefined ? '' : ` ${m.peakMiB().toFixed(0)} | ${m.oomKills()} |`}`;
          rows.push(line);
          process.stdout.write(`${line}\n`);
        };
        try {
          await verifyAllows(s, benchCheckRequest(2048, files.jwt));
          await new Promise((r) => setTimeout(r, 2000));
          const mib = (key: string): string => statusMiB(s.pid, key).toFixed(0);
          push('idle', `| | | | | ${mib('VmRSS')} (anon ${mib('RssAnon')}, file ${mib('RssFile')})`);
          // Warm-up, then the measured windows.
          await h2loadChecks({ port: s.port, dataFile: frameFile, durationS: 3, workDir });
          const measure = async (label: string, run: () => Promise<LoadResult>): Promise<void> => {
            const p0 = procStat(s.pid);
            const r = await run();
            const p1 = procStat(s.pid);
            const cpu = p1.utime + p1.stime - p0.utime - p0.stime;
            push(
              label,
              `${r.rps.toFixed(0)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.errors} | ${((cpu * 1e6) / Math.max(1, r.succeeded)).toFixed(0)} | ${statusMiB(s.pid, 'VmRSS').toFixed(0)}`,
            );
          };
          for (const rate of v.rates) {
            await measure(`${rate}/s`, () => vegeta({ url: checkUrl(s.port), dataFile: frameFile, headers: CHECK_GRPC_HEADERS, rate, durationS: v.seconds, h2c: true, workDir }));
          }
          await measure('max', () => h2loadChecks({ port: s.port, dataFile: frameFile, durationS: v.maxSeconds, workDir }));
          if (v.afterIdleS > 0) {
            await new Promise((r) => setTimeout(r, v.afterIdleS * 1000));
            push(`${v.afterIdleS} s idle`, `| | | | | ${mib('VmRSS')} (anon ${mib('RssAnon')}, file ${mib('RssFile')})`);
          }
        } catch (err) {
          // In a memory cgroup, the kernel may kill it: that is a result, the next server runs.
          if (s.memory === undefined || s.memory.oomKills() === 0) throw err;
          push('OOM-killed', '| | | | |');
        } finally {
          await s.stop();
        }
      }
    }
  });
  const cgroup = v.limitMiB === undefined ? ['', ''] : [` cgroup peak MiB (limit ${v.limitMiB}) | OOM kills |`, '---|---|'];
  process.stdout.write(
    `\n| server | round | load | req/s | p50 ms | p99 ms | errors | CPU ms / 1k | RSS MiB |${cgroup[0]}\n|---|---|---|---|---|---|---|---|---|${cgroup[1]}\n${rows.join('\n')}\n`,
  );
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '2' },
      rates: { type: 'string', default: '250,500,1000' },
      seconds: { type: 'string', default: '8' },
      'max-seconds': { type: 'string', default: '10' },
      variants: { type: 'string', default: '1,2' },
      'limit-mib': { type: 'string' },
      'adaptive-idle-ms': { type: 'string', default: '10000' },
      'after-idle-seconds': { type: 'string', default: '0' },
      peers: { type: 'string', default: '' },
    },
  });
  await driver({
    rounds: Number(values.rounds),
    rates: (values.rates ?? '')
      .split(',')
      .filter((r) => r !== '')
      .map(Number),
    seconds: Number(values.seconds),
    maxSeconds: Number(values['max-seconds']),
    variants: (values.variants ?? '').split(',').map(parseVariant),
    limitMiB: values['limit-mib'] === undefined ? undefined : Number(values['limit-mib']),
    adaptiveIdleMs: Number(values['adaptive-idle-ms']),
    afterIdleS: Number(values['after-idle-seconds']),
    peers: (values.peers ?? '').split(',').filter((p) => p !== ''),
  });
}
