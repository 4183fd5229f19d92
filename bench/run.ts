/**
 * The benchmark harness (not part of the pass/fail suite):
 *   npm run bench            full run (about 15 minutes), rewrites BENCHMARKS.md and bench/plots/
 *   BENCH_QUICK=1 npm run bench   a short smoke run of every scenario (numbers meaningless)
 * All comparisons run in one process, one after another, so ratios hold on a noisy machine.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createAuthzClient } from '../src/devstack/grpc-client.ts';
import { ROOT } from '../src/devstack/tools.ts';
import { checkRequestFrame } from './grpc-frame.ts';
import { h2load, type LoadResult } from './h2load.ts';
import { cpuSeconds, rssMiB } from './procstat.ts';
import { startFloor, startLlmAuthz, startOpa, type AuthzUnderTest } from './servers.ts';
import { benchEnvoyScenario } from './through-envoy.ts';
import { writeReport, type BenchResults } from './report.ts';
import { BENCH_ENV, BENCH_KEY, benchCheckRequest, prepareBenchFiles } from './setup.ts';
import { startOtlpSink } from './servers.ts';
import { identityScaling, rulesScaling } from './scaling.ts';

const QUICK = process.env['BENCH_QUICK'] === '1';
const DURATION = QUICK ? 2 : 8;
const RATES = [500, 1000, 2000, 4000];
const BODY_SIZES = [1024, 10 * 1024, 100 * 1024, 1024 * 1024];

function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

async function verifyAllows(server: AuthzUnderTest, request: unknown): Promise<void> {
  const client = createAuthzClient(`127.0.0.1:${server.port}`);
  try {
    const res = await client.check(request);
    const code = (res['status'] as { code?: number } | undefined)?.code ?? 0;
    if (code !== 0) throw new Error(`${server.name} does not allow the benchmark request (status ${code}): the comparison would be meaningless`);
  } finally {
    client.close();
  }
}

async function checkLoad(server: AuthzUnderTest, frameFile: string, workDir: string, o: { rate?: number; clients?: number; streams?: number; durationS?: number }): Promise<LoadResult & { cpuMsPer1k: number; rssMiB: number }> {
  const cpu0 = cpuSeconds(server.pid);
  const r = await h2load({
    url: `http://127.0.0.1:${server.port}/envoy.service.auth.v3.Authorization/Check`,
    dataFile: frameFile,
    headers: ['content-type: application/grpc', 'te: trailers'],
    clients: o.clients ?? 4,
    streams: o.streams ?? 16,
    ...(o.rate !== undefined ? { rate: o.rate } : {}),
    durationS: o.durationS ?? DURATION,
    workDir,
  });
  const cpu = cpuSeconds(server.pid) - cpu0;
  return { ...r, cpuMsPer1k: r.requests > 0 ? (cpu * 1000 * 1000) / r.requests : Number.NaN, rssMiB: rssMiB(server.pid) };
}

async function main(): Promise<void> {
  const started = Date.now();
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'llm-authz-bench-'));
  const sink = await startOtlpSink(workDir);
  const files = await prepareBenchFiles(workDir, sink.port);
  const request = benchCheckRequest(2 * 1024, files.jwt);
  const frameFile = path.join(workDir, 'check-2k.bin');
  writeFileSync(frameFile, checkRequestFrame(request));
  const keyRequest = benchCheckRequest(2 * 1024, BENCH_KEY);
  const keyFrameFile = path.join(workDir, 'check-2k-key.bin');
  writeFileSync(keyFrameFile, checkRequestFrame(keyRequest));
  const results: BenchResults = { machine: {}, check: {}, rates: {}, envoy: [], bodySizes: [], rules: [], identities: [], quick: QUICK };

  const servers: [string, () => Promise<AuthzUnderTest>][] = [
    ['floor', () => startFloor(workDir)],
    ['llm-authz', () => startLlmAuthz(workDir, files.config, BENCH_ENV)],
    ['OPA-Envoy', () => startOpa(workDir, files.opaPolicy, files.opaData)],
  ];
  for (const [name, start] of servers) {
    log(`${name}: start`);
    const server = await start();
    try {
      await verifyAllows(server, request);
      log(`${name}: warm-up`);
      await checkLoad(server, frameFile, workDir, { durationS: QUICK ? 1 : 3 });
      log(`${name}: maximum throughput (4 connections x 16 streams)`);
      results.check[name] = await checkLoad(server, frameFile, workDir, {});
      if (name !== 'floor') {
        await verifyAllows(server, keyRequest);
        log(`${name}: maximum throughput, API key instead of JWT`);
        results.check[`${name} (API key)`] = await checkLoad(server, keyFrameFile, workDir, {});
      }
      results.rates[name] = [];
      for (const rate of RATES) {
        log(`${name}: fixed rate ${rate}/s`);
        results.rates[name].push({ rate, ...(await checkLoad(server, frameFile, workDir, { rate, clients: 4, streams: 64 })) });
      }
    } finally {
      await server.stop();
    }
  }

  log('llm-authz: body size scaling');
  {
    const server = await startLlmAuthz(workDir, files.config, BENCH_ENV);
    try {
      for (const size of BODY_SIZES) {
        const req = benchCheckRequest(size, files.jwt);
        await verifyAllows(server, req);
        const f = path.join(workDir, `check-${size}.bin`);
        writeFileSync(f, checkRequestFrame(req));
        log(`  ${size} bytes`);
        results.bodySizes.push({ size, ...(await checkLoad(server, f, workDir, { clients: 1, streams: 1 })) });
      }
    } finally {
      await server.stop();
    }
  }

  log('llm-authz: number of rules');
  results.rules = await rulesScaling({
    workDir,
    baseConfig: files.config,
    frame: checkRequestFrame(request),
    request,
    counts: QUICK ? [1, 50] : [1, 10, 50, 100, 200],
    durationS: DURATION,
    load: async (port, f) => {
      const r = await h2load({ url: `http://127.0.0.1:${port}/envoy.service.auth.v3.Authorization/Check`, dataFile: f, headers: ['content-type: application/grpc', 'te: trailers'], clients: 4, streams: 16, durationS: DURATION, workDir });
      return r;
    },
    log,
  });
  log('llm-authz: distinct identities');
  results.identities = await identityScaling({ workDir, counts: QUICK ? [1, 100, 1000] : [1, 100, 10_000, 100_000], durationS: DURATION, log });

  log('through Envoy: ext_authz off vs on');
  results.envoy = await benchEnvoyScenario({ workDir, config: files.config, env: BENCH_ENV, jwt: files.jwt, otlpPort: sink.port, rates: [500, 1000], durationS: DURATION, log });
  await sink.stop();

  results.machine = {
    cpus: `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'unknown'}`,
    memory: `${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    node: process.version,
    os: `${os.type()} ${os.release()}`,
    minutes: ((Date.now() - started) / 60000).toFixed(1),
  };
  const outDir = path.join(ROOT, 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(path.join(outDir, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
  await writeReport(results);
  rmSync(workDir, { recursive: true, force: true });
  log(`done in ${results.machine['minutes']} min: BENCHMARKS.md and bench/plots/ rewritten`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
