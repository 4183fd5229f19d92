/**
 * The benchmark harness (not part of the pass/fail suite):
 *   npm run bench            full run (about 22 minutes), rewrites BENCHMARKS.md and bench/plots/
 *   BENCH_QUICK=1 npm run bench   a short smoke run of every scenario (numbers meaningless)
 * All comparisons run in one process, one after another, so ratios hold on a noisy machine.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkRequestFrame, createAuthzClient } from '../devstack/grpc-client.ts';
import { ROOT } from '../devstack/tools.ts';
import { CHECK_GRPC_HEADERS, checkUrl, h2loadChecks, medianRound } from './h2load.ts';
import { vegeta } from './vegeta.ts';
import { cpuSeconds, noiseWindow, rssMiB } from './procstat.ts';
import { OPA_ENVOY, startFloor, startLlmAuthz, startOpa, verifyAllows, type AuthzUnderTest } from './servers.ts';
import { benchEnvoyScenario, withoutAuthzHealthCheck } from './through-envoy.ts';
import { NO_NODE_FLAGS, writeReport, type BenchResults, type Measured } from './report.ts';
import { COLD_IDLE_SECONDS, MANIFEST_MEMORY_LIMIT_MIB, memoryLimited, TAIL_RATES, TARGET_MEMORY_LIMIT_MIB } from './targets.ts';
import { AUTHZ_NODE_FLAGS } from '../src/inject/sidecars.ts';
import { BENCH_ENV, BENCH_KEY, benchCheckRequest, IMAGE_NODE_FLAGS, prepareBenchFiles } from './setup.ts';
import { startOtlpSink } from './servers.ts';
import { identityScaling, rulesScaling } from './scaling.ts';
import { benchUds } from './uds.ts';
import { quotaCost, writeQuotaReport } from './quota.ts';
import { AUTHORINO, startAuthorino, withStringBody } from './authorino.ts';
import { decisionCases, type DecisionCase } from './decision-cases.ts';
import { measureAllocation } from './alloc.ts';
import { measureCold } from './cold.ts';
import { freshOptions, measureFreshEnvoy } from './cold-envoy.ts';
import { CURVE_VARIANTS, GAPS_MS, measureGapCurve, measureProber, PROBE_EVERY_MS, type QuietSpells } from './gap-curve.ts';

const QUICK = process.env['BENCH_QUICK'] === '1';
const DURATION = QUICK ? 2 : 8;
const ROUNDS = QUICK ? 1 : 3;
/**
 * Rounds at the tail target's rates through Envoy: three processes and vegeta share the two cores
 * there, and one round's p99 moves more than the differences compared (ext_authz off alone, the
 * same Envoy without a Check: 4.79 / 9.67 / 4.86 ms at 500/s in three rounds of one run), so the
 * median of five rounds.
 */
const ENVOY_ROUNDS = QUICK ? 1 : 5;
const RATES = [250, 500, 1000, 2000, 4000];
/** Through Envoy: the targets' rates, and one beyond, to see where a server saturates. */
const ENVOY_RATES = QUICK ? [250, 1000] : [250, 500, 1000, 2000];
const BODY_SIZES = [1024, 10 * 1024, 100 * 1024, 1024 * 1024];

function mkdirp(dir: string): string {
  mkdirSync(dir, { recursive: true });
  return dir;
}

function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

/** The servers that are also measured with an API key instead of a JWT. */
const WITH_API_KEY: ReadonlySet<string> = new Set(['llm-authz', OPA_ENVOY, AUTHORINO]);

/** Every case decided as llm-authz decides it (bench/decision-cases.ts), or the comparison would be meaningless. */
async function verifyDecisions(server: AuthzUnderTest, cases: readonly DecisionCase[]): Promise<void> {
  const client = createAuthzClient(`127.0.0.1:${server.port}`);
  try {
    for (const c of cases) {
      const res = await client.check(server.shape ? server.shape(c.request) : c.request);
      const code = (res['status'] as { code?: number } | undefined)?.code ?? 0;
      if ((code === 0) !== c.allow) throw new Error(`${server.name} ${code === 0 ? 'allows' : `denies (status ${code})`} ${c.name}: the comparison would be meaningless`);
      // An allow must name the route as llm-authz does, or Envoy would answer no_route.
      const headers = (res['ok_response'] as { headers?: { header?: { key?: string; value?: string } }[] } | undefined)?.headers ?? [];
      const route = headers.find((h) => h.header?.key === 'x-llm-authz-route')?.header?.value;
      if (c.allow && route !== 'openai') throw new Error(`${server.name} allows ${c.name} with the routing header ${JSON.stringify(route)} instead of "openai"`);
    }
  } finally {
    client.close();
  }
}

/** Closed-loop load by h2load (as fast as the server answers), or a fixed rate paced by vegeta. */
async function checkLoad(
  server: AuthzUnderTest,
  frameFile: string,
  workDir: string,
  o: { rate?: number; clients?: number; streams?: number; durationS?: number },
): Promise<Measured> {
  const cpu0 = cpuSeconds(server.pid);
  const noise = noiseWindow(() => os.loadavg()[0] ?? Number.NaN);
  const durationS = o.durationS ?? DURATION;
  const r =
    o.rate !== undefined
      ? await vegeta({ url: checkUrl(server.port), dataFile: frameFile, headers: CHECK_GRPC_HEADERS, rate: o.rate, durationS, h2c: true, workDir })
      : await h2loadChecks({
          port: server.port,
          dataFile: frameFile,
          durationS,
          workDir,
          ...(o.clients !== undefined && { clients: o.clients }),
          ...(o.streams !== undefined && { streams: o.streams }),
        });
  const cpu = cpuSeconds(server.pid) - cpu0;
  return { ...r, cpuMsPer1k: r.requests > 0 ? (cpu * 1000 * 1000) / r.requests : Number.NaN, rssMiB: rssMiB(server.pid), ...noise() };
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
  // A server that needs the request shaped otherwise (Authorino: the body as a string) gets frames of its own.
  const shapedFrames = new Map<string, { jwt: string; key: string }>();
  const framesOf = (server: AuthzUnderTest): { jwt: string; key: string } => {
    if (!server.shape) return { jwt: frameFile, key: keyFrameFile };
    let frames = shapedFrames.get(server.name);
    if (frames === undefined) {
      frames = { jwt: path.join(workDir, `check-2k-${server.name}.bin`), key: path.join(workDir, `check-2k-key-${server.name}.bin`) };
      writeFileSync(frames.jwt, checkRequestFrame(server.shape(request)));
      writeFileSync(frames.key, checkRequestFrame(server.shape(keyRequest)));
      shapedFrames.set(server.name, frames);
    }
    return frames;
  };
  const cases = decisionCases(files.jwt);
  const results: BenchResults = { machine: {}, check: {}, idleRssMiB: {}, notMeasured: {}, rates: {}, envoy: [], bodySizes: [], rules: [], identities: [], quick: QUICK };

  // All servers run side by side (an idle one costs nothing); the maximum-throughput runs
  // take turns, ROUNDS times, and the median round is reported, so a slow spell of the machine
  // does not land on one server only.
  // llm-authz runs with the image's Node flags (bench/servers.ts), as the container runs it. More
  // llm-authz: NO_NODE_FLAGS with Node's defaults (maximum throughput and the tail target's
  // rates), and two in a memory cgroup with the injected sidecar's flags, as the Kubernetes
  // manifests run it: the footprint target's 128 MiB, and the manifests' 256 MiB (maximum
  // throughput only).
  const limited = new Map([TARGET_MEMORY_LIMIT_MIB, MANIFEST_MEMORY_LIMIT_MIB].map((mib) => [memoryLimited(mib), mib]));
  const servers: [string, AuthzUnderTest][] = [];
  try {
    for (const [name, start] of [
      ['floor', () => startFloor(workDir)],
      ['llm-authz', () => startLlmAuthz(workDir, files.config, BENCH_ENV)],
      [OPA_ENVOY, () => startOpa(workDir, files.opaPolicy, files.opaData)],
      [AUTHORINO, () => startAuthorino({ workDir, jwk: files.jwk, readyRequest: withStringBody(request), log })],
      [NO_NODE_FLAGS, () => startLlmAuthz(mkdirp(path.join(workDir, 'no-node-flags')), files.config, BENCH_ENV, [], { nodeFlags: [] })],
      ...[...limited].map(
        ([limitedName, mib]) =>
          [
            limitedName,
            () => startLlmAuthz(mkdirp(path.join(workDir, `memory-limited-${mib}`)), files.config, BENCH_ENV, [], { memoryLimitMiB: mib, nodeFlags: AUTHZ_NODE_FLAGS }),
          ] as const,
      ),
    ] as const) {
      log(`${name}: start`);
      let server: AuthzUnderTest;
      try {
        server = await start();
      } catch (err) {
        if (!limited.has(name)) throw err;
        results.notMeasured[name] = err instanceof Error ? err.message : String(err);
        log(`${name}: not measured: ${results.notMeasured[name]}`);
        continue;
      }
      servers.push([name, server]);
      await verifyAllows(server, server.shape ? server.shape(request) : request);
      if (name !== 'floor') await verifyAllows(server, server.shape ? server.shape(keyRequest) : keyRequest);
      if (name !== 'floor') await verifyDecisions(server, cases);
      results.idleRssMiB[name] = rssMiB(server.pid);
      log(`${name}: warm-up`);
      await checkLoad(server, framesOf(server).jwt, workDir, { durationS: QUICK ? 1 : 3 });
    }
    const runs: Record<string, Measured[]> = {};
    for (let round = 1; round <= ROUNDS; round++) {
      for (const [name, server] of servers) {
        if (results.notMeasured[name] !== undefined) continue;
        log(`${name}: maximum throughput (4 connections x 16 streams), round ${round} of ${ROUNDS}`);
        if (server.memory) {
          // A memory-limited server may be OOM-killed: the kills are the figure, not a failed run.
          try {
            (runs[name] ??= []).push(await checkLoad(server, framesOf(server).jwt, workDir, {}));
          } catch (err) {
            // The first failure says why (an OOM kill); later rounds only find the process gone.
            if (results.notMeasured[name] !== undefined) continue;
            results.notMeasured[name] = `the load failed in round ${round} (${server.memory.oomKills()} OOM kills): ${err instanceof Error ? err.message : String(err)}`;
            log(`${name}: ${results.notMeasured[name]}`);
          }
          continue;
        }
        (runs[name] ??= []).push(await checkLoad(server, framesOf(server).jwt, workDir, {}));
        if (WITH_API_KEY.has(name)) {
          log(`${name}: maximum throughput, API key instead of JWT, round ${round} of ${ROUNDS}`);
          (runs[`${name} (API key)`] ??= []).push(await checkLoad(server, framesOf(server).key, workDir, {}));
        }
      }
    }
    for (const [name, rs] of Object.entries(runs)) {
      // A memory-limited server killed in every round has no row: notMeasured says why.
      if (rs.length === 0) continue;
      results.check[name] = { ...medianRound(rs, (r) => r.rps), rounds: rs.map((r) => Math.round(r.rps)) };
    }
    // The tail target's rates: ROUNDS rounds, the servers taking turns (the order reversed every
    // other round), and each server's median round by p99, with every round's p99; one 8 s window
    // holds 2,000-8,000 requests, and a slow spell of the machine moves its p99 a lot.
    for (const rate of RATES) {
      const tailRate = (TAIL_RATES as readonly number[]).includes(rate);
      const paced = servers.filter(([name]) => !limited.has(name) && (name !== NO_NODE_FLAGS || tailRate));
      const windows: Record<string, Measured[]> = {};
      const rounds = tailRate ? ROUNDS : 1;
      for (let round = 1; round <= rounds; round++) {
        for (const [name, server] of round % 2 === 1 ? paced : [...paced].reverse()) {
          log(`${name}: fixed rate ${rate}/s${rounds > 1 ? `, round ${round} of ${rounds}` : ''}`);
          (windows[name] ??= []).push(await checkLoad(server, framesOf(server).jwt, workDir, { rate }));
        }
      }
      for (const [name, ws] of Object.entries(windows)) {
        (results.rates[name] ??= []).push({ rate, ...medianRound(ws, (w) => w.p99), ...(ws.length > 1 ? { p99Rounds: ws.map((w) => w.p99) } : {}) });
      }
    }
  } finally {
    for (const [name, server] of servers) {
      const memory = server.memory;
      const limitMiB = limited.get(name);
      if (memory && limitMiB !== undefined) (results.memoryLimits ??= {})[name] = { limitMiB, peakMiB: memory.peakMiB(), oomKills: memory.oomKills() };
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
    load: (port, f) => h2loadChecks({ port, dataFile: f, durationS: DURATION, workDir }),
    log,
  });
  log('llm-authz: distinct identities');
  results.identities = await identityScaling({ workDir, counts: QUICK ? [1, 100, 1000] : [1, 100, 10_000, 100_000], durationS: DURATION, log });

  const quota = await quotaCost({ workDir, baseConfig: files.config, durationS: DURATION, rounds: ROUNDS, log });
  log('through Envoy: ext_authz off vs on');
  // OPA-Envoy and Authorino again (stopped with the others after the direct runs), each behind an
  // Envoy of its own: OPA-Envoy's without the gRPC health check (it has no health service),
  // Authorino's sending the body as a string (pack_as_bytes: false): it cannot read raw_body.
  let authorino: AuthzUnderTest | undefined;
  let opa: AuthzUnderTest | undefined;
  try {
    opa = await startOpa(mkdirp(path.join(workDir, 'envoy-opa')), files.opaPolicy, files.opaData);
    await verifyDecisions(opa, cases);
    authorino = await startAuthorino({ workDir: mkdirp(path.join(workDir, 'envoy-authorino')), jwk: files.jwk, readyRequest: withStringBody(request), log });
    const peer = authorino;
    results.envoy = await benchEnvoyScenario({
      workDir,
      config: files.config,
      env: BENCH_ENV,
      jwt: files.jwt,
      otlpPort: sink.port,
      nodeArgs: IMAGE_NODE_FLAGS,
      roundsAt: (rate) => ((TAIL_RATES as readonly number[]).includes(rate) ? ENVOY_ROUNDS : 1),
      rates: ENVOY_RATES,
      durationS: DURATION,
      log,
      peers: [
        { name: OPA_ENVOY, port: opa.port, pid: opa.pid, envoyConfig: withoutAuthzHealthCheck },
        {
          name: AUTHORINO,
          port: peer.port,
          pid: peer.pid,
          envoyConfig: (config) => {
            if (!config.includes('pack_as_bytes: true')) throw new Error('the Envoy template changed: cannot find pack_as_bytes to send Authorino the body as a string');
            return config.replace('pack_as_bytes: true', 'pack_as_bytes: false');
          },
        },
      ],
    });
    log('TCP loopback and a Unix domain socket: direct and through Envoy');
    results.uds = await benchUds({
      workDir,
      config: files.config,
      env: BENCH_ENV,
      jwt: files.jwt,
      frameFile,
      otlpPort: sink.port,
      nodeArgs: IMAGE_NODE_FLAGS,
      rates: QUICK ? [500] : [250, 500, 1000],
      durationS: DURATION,
      log,
    });
  } finally {
    await authorino?.stop();
    await opa?.stop();
  }

  try {
    log('llm-authz: bytes allocated per Check');
    const allocFrame = path.join(workDir, 'alloc-check-2k.bin');
    writeFileSync(allocFrame, checkRequestFrame(request));
    results.alloc = await measureAllocation({
      workDir: mkdirp(path.join(workDir, 'alloc')),
      config: files.config,
      env: BENCH_ENV,
      frameFile: allocFrame,
      checks: QUICK ? 2000 : 20_000,
      warmup: QUICK ? 500 : 5000,
    });
    const idleSeconds = QUICK ? 5 : COLD_IDLE_SECONDS;
    log(`through Envoy: the first request after start and after ${idleSeconds} s idle`);
    results.cold = await measureCold({ workDir: mkdirp(path.join(workDir, 'cold')), idleSeconds, otlpPort: sink.port, nodeArgs: IMAGE_NODE_FLAGS });
    // For scale: the first request through a freshly started Envoy with ext_authz off, to the no-op
    // floor and to OPA-Envoy, and one after the same idle spell (bench/cold-envoy.ts): what any
    // ext_authz server starts from, and the peer's own figure.
    log(`through a fresh Envoy: the first request with ext_authz off, to the no-op floor and to OPA-Envoy, and after ${idleSeconds} s idle`);
    const fresh = freshOptions(files, BENCH_ENV);
    results.coldBaselines = {
      off: await measureFreshEnvoy('off', mkdirp(path.join(workDir, 'cold-off')), { ...fresh, idleSeconds }),
      floor: await measureFreshEnvoy('floor', mkdirp(path.join(workDir, 'cold-floor')), { ...fresh, idleSeconds }),
      opa: await measureFreshEnvoy('opa-envoy', mkdirp(path.join(workDir, 'cold-opa')), { ...fresh, idleSeconds }),
    };
    // Target 7's attribution: the same request after quiet spells from 1 ms to 5 s through a fresh
    // Envoy with each ext_authz (bench/gap-curve.ts), and the prototype of keeping the path busy.
    log('through a fresh Envoy: one request after quiet spells of 1 ms to 5 s, with ext_authz off, to llm-authz, to the floor and to OPA-Envoy');
    const curves: { -readonly [V in keyof QuietSpells['curves']]: QuietSpells['curves'][V] } = {};
    for (const v of CURVE_VARIANTS)
      curves[v] = await measureGapCurve(v, mkdirp(path.join(workDir, `gap-${v}`)), { ...fresh, gaps: QUICK ? [1, 50] : GAPS_MS, rounds: QUICK ? 2 : 5 });
    log(`through a fresh Envoy: llm-authz with a prober every ${PROBE_EVERY_MS} ms, the application quiet for ${idleSeconds} s`);
    results.quietSpells = {
      curves,
      prober: await measureProber('llm-authz', mkdirp(path.join(workDir, 'prober')), { ...fresh, everyMs: PROBE_EVERY_MS, idleSeconds, rounds: QUICK ? 2 : 5 }),
    };
  } finally {
    await sink.stop();
  }

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
  writeQuotaReport(quota);
  rmSync(workDir, { recursive: true, force: true });
  log(`done in ${results.machine['minutes']} min: BENCHMARKS.md and bench/plots/ rewritten`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
