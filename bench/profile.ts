/**
 * A CPU profile of llm-authz under the benchmark's maximum-throughput load (not part of the
 * suite): the representative setup of bench/setup.ts, h2load at 4 connections x 16 streams.
 *   node bench/profile.ts [--seconds 10] [--rate N] [--traces off] [--decision-log off] [--trace-batch SIZE,DELAY_MS] [--node-option=--flag ...]
 * (--rate: a fixed rate paced by vegeta instead of h2load's maximum throughput)
 * Prints req/s, CPU ms per 1k checks and the self time by component and by function, and
 * leaves the .cpuprofile (for Chrome DevTools) in the printed folder.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { checkRequestFrame } from '../devstack/grpc-client.ts';
import { CHECK_GRPC_HEADERS, checkUrl, h2loadChecks } from './h2load.ts';
import { cpuSeconds, rssMiB } from './procstat.ts';
import { startLlmAuthz, startOtlpSink } from './servers.ts';
import { vegeta } from './vegeta.ts';
import { BENCH_ENV, benchCheckRequest, prepareBenchFiles, setTraceBatch } from './setup.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    traces: { type: 'string', default: 'on' },
    'body-bytes': { type: 'string', default: '2048' },
    'node-option': { type: 'string', multiple: true, default: [] },
    'no-profile': { type: 'boolean', default: false },
    rate: { type: 'string' },
    'decision-log': { type: 'string', default: 'on' },
    'trace-batch': { type: 'string' },
  },
});

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

/** The component a function belongs to, from its script URL. */
function component(url: string, fn: string): string {
  if (url === '') return fn === '(garbage collector)' ? 'gc' : fn === '(idle)' || fn === '(program)' ? fn : 'native';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1] ?? 'node_modules';
  const src = /\/src\/([^/]+)\//.exec(url);
  if (src) return `src/${src[1]}`;
  if (url.startsWith('node:'))
    return url
      .replace(/^node:(internal\/)?/, 'node:')
      .split('/')
      .slice(0, 2)
      .join('/');
  return url;
}

function summarize(file: string): void {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; samples: number[] };
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const comp = new Map<string, number>();
  const fns = new Map<string, number>();
  let busy = 0;
  for (const id of prof.samples) {
    const n = byId.get(id);
    if (!n) continue;
    const c = component(n.callFrame.url, n.callFrame.functionName);
    if (c === '(idle)') continue;
    busy++;
    comp.set(c, (comp.get(c) ?? 0) + 1);
    const key = `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/src\//, 'src/')}:${n.callFrame.lineNumber + 1}`;
    fns.set(key, (fns.get(key) ?? 0) + 1);
  }
  const top = (m: Map<string, number>, n: number): string =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, v]) => `  ${((100 * v) / busy).toFixed(1).padStart(5)}%  ${k}`)
      .join('\n');
  process.stdout.write(`\nself time by component (of non-idle samples):\n${top(comp, 25)}\n\ntop functions:\n${top(fns, 40)}\n`);
}

async function main(): Promise<void> {
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'llm-authz-profile-'));
  const profDir = path.join(workDir, 'prof');
  const sink = await startOtlpSink(workDir);
  const files = await prepareBenchFiles(workDir, sink.port);
  if (values.traces === 'off') {
    const text = readFileSync(files.config, 'utf8').replace(/telemetry:\n(?: {2}.*\n)+/, '');
    writeFileSync(files.config, text);
  }
  if (values['decision-log'] === 'off') writeFileSync(files.config, readFileSync(files.config, 'utf8').replace(/decision_log:\n {2}sink: .*\n/, 'decision_log:\n  sink: off\n'));
  if (values['trace-batch']) setTraceBatch(files.config, values['trace-batch']);
  const frameFile = path.join(workDir, 'check.bin');
  writeFileSync(frameFile, checkRequestFrame(benchCheckRequest(Number(values['body-bytes']), files.jwt)));
  const nodeArgs = [...(values['no-profile'] ? [] : ['--cpu-prof', `--cpu-prof-dir=${profDir}`]), ...(values['node-option'] ?? [])];
  const server = await startLlmAuthz(workDir, files.config, BENCH_ENV, nodeArgs);
  const rate = values.rate === undefined ? undefined : Number(values.rate);
  const load = (durationS: number) =>
    rate !== undefined
      ? vegeta({
          url: checkUrl(server.port),
          dataFile: frameFile,
          headers: CHECK_GRPC_HEADERS,
          rate,
          durationS,
          h2c: true,
          workDir,
        })
      : h2loadChecks({ port: server.port, dataFile: frameFile, durationS, workDir });
  await load(3);
  const cpu0 = cpuSeconds(server.pid);
  const r = await load(Number(values.seconds));
  const cpu = cpuSeconds(server.pid) - cpu0;
  const rss = rssMiB(server.pid);
  await server.stop();
  await sink.stop();
  process.stdout.write(
    `req/s ${r.rps.toFixed(0)}  p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms  errors ${r.errors}  CPU ${((cpu * 1e6) / r.requests).toFixed(0)} ms/1k checks  RSS ${rss.toFixed(0)} MiB\n`,
  );
  if (!values['no-profile']) {
    const prof = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
    if (!prof) throw new Error(`no .cpuprofile written in ${profDir}`);
    summarize(path.join(profDir, prof));
    process.stdout.write(`\nprofile: ${path.join(profDir, prof)}\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`profile failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
