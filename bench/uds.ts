/**
 * TCP loopback against a Unix domain socket, the same rows side by side: direct gRPC at fixed
 * rates to one llm-authz on `127.0.0.1:PORT` and one on `unix:PATH`, and through
 * the real Envoy (envoy/gateway.yaml against envoy/gateway-uds.yaml, Envoy's `pipe` address),
 * HTTP/1.1 at fixed rates (vegeta). Both llm-authz run the benchmark's config; llm-authz's CPU
 * per 1,000 Checks is read per run. vegeta's h2c client dials TCP whatever -unix-socket says, so
 * the direct rows use a paced grpc-js client in the harness (the same for both transports:
 * compare the two with each other, not with vegeta's direct rows).
 */
import * as grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { startAuthz } from '../devstack/authz.ts';
import { renderEnvoyConfig, startEnvoy, type EnvoyPorts, type EnvoyProcess } from '../devstack/envoy.ts';
import { startMockProvider } from '../devstack/mock-provider.ts';
import type { LoadResult } from './h2load.ts';
import { cpuSeconds } from './procstat.ts';
import { BENCH_PROVIDER_KEEP, benchRequestBody } from './setup.ts';
import { vegeta } from './vegeta.ts';

export type Transport = 'tcp' | 'uds';

const same = (b: Buffer): Buffer => b;

/** Checks at evenly spaced times (open loop) from a grpc-js client; latency from each send. */
async function pacedGrpc(target: string, message: Buffer, rate: number, durationS: number): Promise<LoadResult> {
  const client = new grpc.Client(target, grpc.credentials.createInsecure());
  const total = Math.round(rate * durationS);
  const lat: number[] = [];
  let errors = 0;
  let sent = 0;
  const start = performance.now();
  await new Promise<void>((resolve) => {
    let answered = 0;
    const done = (): void => {
      if (++answered === total) resolve();
    };
    const tick = (): void => {
      const due = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1000) + 1);
      for (; sent < due; sent++) {
        const t = performance.now();
        client.makeUnaryRequest('/envoy.service.auth.v3.Authorization/Check', same, same, message, { deadline: Date.now() + 10_000 }, (err) => {
          if (err) errors++;
          else lat.push(performance.now() - t);
          done();
        });
      }
      if (sent < total) setTimeout(tick, Math.max(0, start + (sent * 1000) / rate - performance.now()));
    };
    tick();
  });
  const seconds = (performance.now() - start) / 1000;
  client.close();
  lat.sort((a, b) => a - b);
  const pct = (p: number): number => lat[Math.min(lat.length - 1, Math.max(0, Math.ceil((p / 100) * lat.length) - 1))] ?? Number.NaN;
  return { requests: total, succeeded: lat.length, errors, seconds, rps: total / seconds, p50: pct(50), p90: pct(90), p99: pct(99), max: lat[lat.length - 1] ?? Number.NaN };
}

export interface UdsPoint {
  readonly path: 'direct' | 'envoy';
  readonly rate: number;
  readonly results: Record<Transport, LoadResult & { readonly authzCpuMsPer1k: number }>;
}

export async function benchUds(o: {
  workDir: string;
  config: string;
  env: NodeJS.ProcessEnv;
  jwt: string;
  frameFile: string;
  otlpPort: number;
  rates: readonly number[];
  durationS: number;
  log: (m: string) => void;
  /** Node's own flags for llm-authz (bench/run.ts: the image's). */
  nodeArgs?: readonly string[];
}): Promise<UdsPoint[]> {
  const socket = path.join(o.workDir, 'authz.sock');
  const openai = await startMockProvider('openai', '127.0.0.1', undefined, undefined, BENCH_PROVIDER_KEEP);
  const servers = {
    tcp: await startAuthz({ config: o.config, workDir: o.workDir, env: o.env, name: 'llm-authz-tcp', nodeArgs: o.nodeArgs ?? [] }),
    uds: await startAuthz({ config: o.config, workDir: o.workDir, env: o.env, name: 'llm-authz-uds', listen: `unix:${socket}`, nodeArgs: o.nodeArgs ?? [] }),
  };
  const envoys: EnvoyProcess[] = [];
  const body = benchRequestBody(2048);
  const bodyFile = path.join(o.workDir, 'uds-http-body-2k.json');
  writeFileSync(bodyFile, body);
  try {
    const envoyUrl = {} as Record<Transport, string>;
    for (const t of ['tcp', 'uds'] as const) {
      const render = (ports: EnvoyPorts): string => {
        const p: Record<string, string | number> = {
          LISTEN_ADDRESS: '127.0.0.1',
          LISTEN_PORT: ports.listen,
          ADMIN_ADDRESS: '127.0.0.1',
          ADMIN_PORT: ports.admin,
          ACCESS_LOG_PATH: path.join(o.workDir, `access-${t}.log`),
          MAX_REQUEST_BYTES: 1048576,
          OTLP_ADDRESS: '127.0.0.1',
          OTLP_PORT: o.otlpPort,
          ...(t === 'uds' ? { AUTHZ_SOCKET: socket } : { AUTHZ_ADDRESS: '127.0.0.1', AUTHZ_PORT: servers.tcp.port }),
        };
        for (const provider of ['OPENAI', 'ANTHROPIC', 'GEMINI', 'AZURE_OPENAI', 'BEDROCK', 'VERTEX_AI']) {
          p[`${provider}_ADDRESS`] = '127.0.0.1';
          p[`${provider}_PORT`] = openai.port;
        }
        return renderEnvoyConfig(t === 'uds' ? 'envoy/gateway-uds.yaml' : 'envoy/gateway.yaml', p);
      };
      const envoy = await startEnvoy({ render, workDir: o.workDir, name: `envoy-${t}` });
      envoys.push(envoy);
      envoyUrl[t] = `http://127.0.0.1:${envoy.ports.listen}/v1/chat/completions`;
    }
    // The CheckRequest message: the frame file less its 5-byte gRPC prefix.
    const message = readFileSync(o.frameFile).subarray(5);
    const direct = (t: Transport, rate: number, durationS: number): Promise<LoadResult> =>
      pacedGrpc(t === 'uds' ? `unix:${socket}` : `127.0.0.1:${servers.tcp.port}`, message, rate, durationS);
    const viaEnvoy = (t: Transport, rate: number, durationS: number): Promise<LoadResult> =>
      vegeta({
        url: envoyUrl[t],
        dataFile: bodyFile,
        headers: ['content-type: application/json', `authorization: Bearer ${o.jwt}`],
        rate,
        durationS,
        h2c: false,
        workDir: o.workDir,
      });
    const points: UdsPoint[] = [];
    for (const [name, run] of [
      ['direct', direct],
      ['envoy', viaEnvoy],
    ] as const) {
      for (const t of ['tcp', 'uds'] as const) {
        const warm = await run(t, 200, 2);
        if (warm.errors > 0)
          throw new Error(
            `${name} over ${t}: ${warm.errors} of ${warm.requests} warm-up requests failed (${Object.entries(warm.failures ?? {})
              .map(([k, n]) => `${k} × ${n}`)
              .join(', ')})`,
          );
      }
      for (const rate of o.rates) {
        o.log(`  ${name}, ${rate}/s: tcp, uds`);
        const results = {} as UdsPoint['results'];
        for (const t of ['tcp', 'uds'] as const) {
          const pid = servers[t].child.proc.pid ?? -1;
          const cpu0 = cpuSeconds(pid);
          const r = await run(t, rate, o.durationS);
          results[t] = { ...r, authzCpuMsPer1k: r.requests > 0 ? ((cpuSeconds(pid) - cpu0) * 1e6) / r.requests : Number.NaN };
        }
        points.push({ path: name, rate, results });
      }
    }
    return points;
  } finally {
    for (const e of envoys) await e.stop();
    await servers.tcp.stop();
    await servers.uds.stop();
    await openai.close();
  }
}

/** The Markdown rows of the report (bench/report.ts). */
export function udsSection(points: readonly UdsPoint[]): string[] {
  if (points.length === 0) return [];
  const f = (n: number): string => (Number.isFinite(n) ? n.toFixed(2) : 'n/a');
  const lines = [
    '### TCP loopback and a Unix domain socket',
    '',
    'The same llm-authz config on `127.0.0.1:PORT` and on `unix:PATH` (`--listen`); direct gRPC from a paced grpc-js client in the harness (vegeta cannot reach a Unix socket over h2c: compare these direct rows with each other only) and through the real Envoy with vegeta (`envoy/gateway.yaml` and `envoy/gateway-uds.yaml`, its `pipe` address). Latency in ms at the client.',
    '',
    '| path | rate/s | transport | p50 | p90 | p99 | max | errors | llm-authz CPU ms / 1k |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const p of points)
    for (const t of ['tcp', 'uds'] as const) {
      const r = p.results[t];
      lines.push(`| ${p.path} | ${p.rate} | ${t} | ${f(r.p50)} | ${f(r.p90)} | ${f(r.p99)} | ${f(r.max)} | ${r.errors} | ${r.authzCpuMsPer1k.toFixed(0)} |`);
    }
  lines.push('');
  return lines;
}
