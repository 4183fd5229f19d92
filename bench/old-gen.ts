/**
 * What a paced Check leaves to llm-authz's old generation (not part of the suite): the garbage only
 * a full collection reclaims, which sets how often full collections come (bench/tail-envoy.ts: they
 * make the through-Envoy p99). llm-authz with the benchmark's config and the image's Node flags,
 * plus `--trace-gc-nvp` and bench/old-gen-probe.ts, warmed (3 s at 500/s), then one paced window
 * through the real Envoy (envoy/gateway.yaml as `npm run bench` renders it, ext_proc off) or
 * direct gRPC (h2c). It gives, over the window: bytes promoted by scavenges per Check, the full
 * collections, what each left and what each one's final pause was spent on (V8's phases); and,
 * from V8's sampling heap profiler keeping only what reached the old generation (allocated there,
 * or promoted), bytes per Check by allocation site (bundle frames mapped to source files).
 * `--server floor-h2` measures the same for the no-op floor on serve's own transport
 * (bench/proto-h2/floor-h2.ts: src/server/grpc-h2.ts, no Check), so what the
 * transport leaves can be told from what the Check leaves. `--no-probe` leaves the sampling
 * profiler out: it keeps a weak handle per sample, which the final pauses then clear.
 *   node bench/old-gen.ts [--via envoy|direct] [--server llm-authz|floor-h2] [--rate 500] [--seconds 16] [--no-probe] [--node-option=--flag ...]
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startAuthz } from '../devstack/authz.ts';
import { startChild } from '../devstack/process.ts';
import { renderEnvoyConfig, startEnvoy } from '../devstack/envoy.ts';
import { startMockProvider } from '../devstack/mock-provider.ts';
import { ROOT } from '../devstack/tools.ts';
import { CHECK_GRPC_HEADERS, checkUrl } from './h2load.ts';
import { startOtlpSink } from './servers.ts';
import { BENCH_ENV, BENCH_PROVIDER_KEEP, benchRequestBody, IMAGE_NODE_FLAGS, prepareBenchFiles, writeBenchFrame } from './setup.ts';
import { gatewayParams, withoutAuthzHealthCheck, withoutOutcomes } from './through-envoy.ts';
import { vegeta } from './vegeta.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One `--trace-gc-nvp` line's kind (`s` scavenge, `mc` mark-compact, ...) and numeric fields. */
export function nvpLine(line: string): { gc: string; fields: Record<string, number> } | undefined {
  const gc = / gc=(\S+)/.exec(line)?.[1];
  if (gc === undefined) return undefined;
  const fields: Record<string, number> = {};
  for (const m of line.matchAll(/ ([a-z_.]+)=(-?\d+(?:\.\d+)?)%?(?= |$)/g)) fields[m[1] as string] = Number(m[2]);
  return { gc, fields };
}

/** The phases of a full collection's final pause worth naming, as `--trace-gc-nvp` reports them (ms). */
export const PAUSE_PHASES: readonly (readonly [string, string])[] = [
  ['clear.external_string_table', 'external strings'],
  ['clear.weak_references_trivial', 'weak references'],
  ['clear.weak_references_filter_non_trivial', 'weak references (filter)'],
  ['clear.weak_global_handles', 'weak global handles'],
  ['heap.external.weak_global_handles', 'weak callbacks'],
  ['evacuate', 'evacuation'],
  ['mark', 'marking'],
  ['sweep', 'sweeping'],
];

/** One full collection as a line: its final pause and what it was spent on, the longest incremental step, the background marking. */
export function fullCollectionLine(f: Readonly<Record<string, number>>): string {
  const parts = PAUSE_PHASES.filter(([k]) => (f[k] ?? 0) > 0).map(([k, name]) => `${name} ${(f[k] ?? 0).toFixed(1)}`);
  const clear = f['clear'] ?? 0;
  return `pause ${(f['pause'] ?? 0).toFixed(1)} ms (clearing ${clear.toFixed(1)}${parts.length > 0 ? `: ${parts.join(', ')}` : ''}); longest incremental step ${(f['incremental_longest_step'] ?? 0).toFixed(1)} ms; background marking ${(f['background.mark'] ?? 0).toFixed(1)} ms of CPU`;
}

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  selfSize: number;
  children?: ProfileNode[];
}

/** Sampled bytes by allocation site (function and source file:line, bundle frames mapped through their source maps). */
export function bySite(head: ProfileNode): Map<string, number> {
  const maps = new Map<string, SourceMap | undefined>();
  const label = (cf: ProfileNode['callFrame']): string => {
    const name = cf.functionName || '(anonymous)';
    if (cf.url.startsWith('file://') && cf.url.includes('/dist/bundle/')) {
      if (!maps.has(cf.url)) {
        const mapFile = `${new URL(cf.url).pathname}.map`;
        maps.set(cf.url, existsSync(mapFile) ? new SourceMap(JSON.parse(readFileSync(mapFile, 'utf8'))) : undefined);
      }
      const e = maps.get(cf.url)?.findEntry(cf.lineNumber, cf.columnNumber);
      if (e && 'originalSource' in e && e.originalSource) return `${name} ${e.originalSource.replace(/^.*?(node_modules\/(@[^/]+\/)?[^/]+|src\/.*)$/, '$1')}:${e.originalLine + 1}`;
    }
    return cf.url ? `${name} ${cf.url.replace(/^.*\//, '')}:${cf.lineNumber + 1}` : `${name} (native)`;
  };
  const out = new Map<string, number>();
  const walk = (n: ProfileNode): void => {
    if (n.selfSize > 0) {
      const l = label(n.callFrame);
      out.set(l, (out.get(l) ?? 0) + n.selfSize);
    }
    for (const c of n.children ?? []) walk(c);
  };
  walk(head);
  return out;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      via: { type: 'string', default: 'envoy' },
      rate: { type: 'string', default: '500' },
      seconds: { type: 'string', default: '16' },
      server: { type: 'string', default: 'llm-authz' },
      'no-probe': { type: 'boolean', default: false },
      'node-option': { type: 'string', multiple: true, default: [] },
    },
  });
  const via = values.via;
  const server = values.server;
  if (server !== 'llm-authz' && server !== 'floor-h2') throw new Error(`--server: llm-authz or floor-h2, not ${server}`);
  const probe = !values['no-probe'];
  if (via !== 'envoy' && via !== 'direct') throw new Error(`--via: envoy or direct, not ${via}`);
  const rate = Number(values.rate);
  const seconds = Number(values.seconds);
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'llm-authz-old-gen-'));
  const stops: (() => Promise<unknown>)[] = [];
  try {
    const sink = await startOtlpSink(workDir);
    stops.push(() => sink.stop());
    const files = await prepareBenchFiles(workDir, sink.port);
    const profileFile = path.join(workDir, 'old-gen.json');
    const nodeArgs = [...IMAGE_NODE_FLAGS, '--trace-gc-nvp', ...(probe ? ['--import', path.join(ROOT, 'bench', 'old-gen-probe.ts')] : []), ...(values['node-option'] ?? [])];
    const log = path.join(workDir, 'server.log');
    let target: { port: number; pid: number };
    if (server === 'llm-authz') {
      const authz = await startAuthz({ config: files.config, workDir, env: { ...BENCH_ENV, OLD_GEN_PROBE_OUT: profileFile }, name: 'server', nodeArgs });
      stops.push(() => authz.stop());
      target = { port: authz.port, pid: authz.child.proc.pid ?? 0 };
    } else {
      const child = startChild(process.execPath, [...nodeArgs, path.join(ROOT, 'bench', 'proto-h2', 'floor-h2.ts'), '--listen', '127.0.0.1:0', '--route', 'openai'], {
        logFile: log,
        env: { ...process.env, OLD_GEN_PROBE_OUT: profileFile },
      });
      stops.push(() => child.stop());
      const line = await child.waitForLine('stdout', (l) => l.startsWith('{"port"'));
      target = { port: (JSON.parse(line) as { port: number }).port, pid: child.proc.pid ?? 0 };
    }
    let attack: { url: string; dataFile: string; headers: string[]; h2c: boolean; workDir: string };
    if (via === 'envoy') {
      const provider = await startMockProvider('openai', '127.0.0.1', undefined, undefined, BENCH_PROVIDER_KEEP);
      stops.push(() => provider.close());
      const envoy = await startEnvoy({
        render: (ports) =>
          (server === 'floor-h2' ? withoutAuthzHealthCheck : (t: string) => t)(
            withoutOutcomes(
              renderEnvoyConfig(
                'envoy/gateway.yaml',
                gatewayParams({ ports, authzPort: target.port, providerPort: provider.port, otlpPort: sink.port, accessLog: path.join(workDir, 'access.log') }),
              ),
            ),
          ),
        workDir,
        name: 'envoy',
      });
      stops.push(() => envoy.stop());
      const bodyFile = path.join(workDir, 'http-body-2k.json');
      writeFileSync(bodyFile, benchRequestBody(2048));
      attack = {
        url: `http://127.0.0.1:${envoy.ports.listen}/v1/chat/completions`,
        dataFile: bodyFile,
        headers: ['content-type: application/json', `authorization: Bearer ${files.jwt}`, 'x-llm-authz-route: openai'],
        h2c: false,
        workDir,
      };
    } else {
      attack = { url: checkUrl(target.port), dataFile: writeBenchFrame(workDir, files.jwt), headers: [...CHECK_GRPC_HEADERS], h2c: true, workDir };
    }
    const warm = await vegeta({ ...attack, rate: 500, durationS: 3 });
    if (warm.errors > 0) throw new Error(`${warm.errors} of ${warm.requests} warm-up requests failed`);
    const pid = target.pid;
    await sleep(500);
    const from = statSync(log).size;
    if (probe) process.kill(pid, 'SIGUSR2');
    await sleep(200);
    const r = await vegeta({ ...attack, rate, durationS: seconds });
    await sleep(500);
    const to = statSync(log).size;
    if (probe) {
      process.kill(pid, 'SIGUSR2');
      for (let i = 0; i < 100 && !existsSync(profileFile); i++) await sleep(100);
      if (!existsSync(profileFile)) throw new Error('the probe wrote no profile');
      await sleep(300);
    }
    const lines = readFileSync(log).subarray(from, to).toString('utf8').split('\n');
    const gcs = lines.map(nvpLine).filter((x) => x !== undefined);
    const scavenges = gcs.filter((g) => g.gc === 's');
    const full = gcs.filter((g) => g.gc === 'mc');
    const promoted = scavenges.reduce((a, g) => a + (g.fields.promoted ?? 0), 0);
    const f0 = (n: number): string => n.toFixed(0);
    const out: string[] = [
      `${server === 'llm-authz' ? 'llm-authz' : 'the no-op floor on the transport (floor-h2)'} ${via === 'envoy' ? 'through Envoy' : 'direct gRPC'} at ${rate}/s paced, ${seconds} s: ${r.requests} requests (${r.errors} failed), p99 ${r.p99.toFixed(2)} ms\n`,
      `- scavenges ${scavenges.length}, promoted ${f0(promoted / Math.max(1, r.requests))} B per Check\n`,
      `- full collections ${full.length}${full.length > 0 ? `, the old generation after each ${full.map((g) => ((g.fields.end_object_size ?? 0) / 1048576).toFixed(1)).join(' / ')} MB (before: ${full.map((g) => ((g.fields.start_object_size ?? 0) / 1048576).toFixed(1)).join(' / ')})` : ''}\n`,
    ];
    for (const g of full) out.push(`  - ${fullCollectionLine(g.fields)}\n`);
    if (probe) {
      const profile = JSON.parse(readFileSync(profileFile, 'utf8')) as { head: ProfileNode };
      const sites = bySite(profile.head);
      const total = [...sites.values()].reduce((a, b) => a + b, 0);
      out.push(
        `- sampled allocations that reached the old generation: ${f0(total / Math.max(1, r.requests))} B per Check, by site (the profiler's weak handles lengthen the pauses above; --no-probe for those):\n`,
      );
      for (const [site, bytes] of [...sites].sort((a, b) => b[1] - a[1]).slice(0, 20)) out.push(`  - ${f0(bytes / Math.max(1, r.requests))} B ${site}\n`);
    }
    process.stdout.write(out.join(''));
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    rmSync(workDir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  main().catch((err: unknown) => {
    process.stderr.write(`old-gen failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
