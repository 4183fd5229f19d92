/**
 * The first Check after start and after an idle spell, against warm ones, through the real Envoy
 * (not part of the suite): the dev stack (envoy/gateway.yaml, mock providers) with the benchmark's
 * llm-authz config (bench/setup.ts: spans to a local OTLP sink, decision lines to a file). Each
 * request's time is split by the records of the hops it crossed:
 *   client     at the client (node:http, keep-alive), through Envoy
 *   envoy      Envoy's access log: %DURATION% (its listener's first byte to its last)
 *   ext_authz  Envoy's access log: the ext_authz filter's latency_us (the Check call as Envoy sees
 *              it: connection, HTTP/2 and gRPC framing, llm-authz's decode, Check and encode)
 *   check      llm-authz's own decision.duration_ms
 * so that "ext_authz - check" is the transport and grpc-js, "envoy - ext_authz" Envoy's routing
 * and the provider, "client - envoy" the client and its connection to Envoy. Before the first
 * request the client's own HTTP code is run once against a throwaway local server (a real
 * application's client is warm; the figure it cost is printed), and Envoy's connection counters to
 * llm-authz are read around the first request. `node bench/cold-envoy.ts` measures the first
 * request with llm-authz out of the path (ext_authz off, the no-op floor).
 * `--no-warm-up` runs llm-authz with its start-up warm-up off (`server.warm_up: false`),
 * `--keep-warm` with its idle warm-up on (`server.keep_warm_ms: 15000`; off by default); `--keep`
 * keeps the work folder (the processes' logs) and prints where it is.
 *   node bench/cold.ts [--idle-seconds 120] [--no-warm-up] [--keep-warm] [--keep] [--node-option=--flag ...]
 */
import http from 'node:http';
import { closeSync, fstatSync, mkdtempSync, openSync, readFileSync, readSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startStack } from '../devstack/stack.ts';
import type { EnvoyProcess } from '../devstack/envoy.ts';
import { startOtlpSink } from './servers.ts';
import { BENCH_ENV, benchRequestBody, IMAGE_NODE_FLAGS, prepareBenchFiles, withKeepWarm, withoutWarmUp } from './setup.ts';

export interface Timed {
  /** At the client, through Envoy. */
  readonly clientMs: number;
  /** Envoy's %DURATION% for it. */
  readonly envoyMs: number;
  /** Envoy's ext_authz latency for it (NaN with ext_authz off). */
  readonly extAuthzMs: number;
  /** llm-authz's decision.duration_ms for it (NaN without llm-authz). */
  readonly checkMs: number;
}

export interface ColdResult {
  readonly first: Timed;
  /** Medians of the warm requests. */
  readonly warm: Timed;
  readonly afterIdle: Timed;
  readonly idleSeconds: number;
  /** The client's own first request (to a throwaway local server) and its warm median. */
  readonly client: { readonly firstMs: number; readonly warmMs: number };
  /** Connections Envoy opened to llm-authz's Check cluster before the first request and with it. */
  readonly authzConnections: { readonly before: number; readonly first: number };
}

export interface Sent {
  readonly ms: number;
  readonly requestId: string;
  readonly decisionId: string;
}

let sent = 0;

export function post(agent: http.Agent, url: string, body: Buffer, headers: Record<string, string>, status = 200): Promise<Sent> {
  const requestId = `cold-${process.pid}-${++sent}`;
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const req = http.request(
      url,
      { method: 'POST', agent, headers: { 'content-type': 'application/json', ...headers, 'x-request-id': requestId, 'content-length': body.length } },
      (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode !== status) reject(new Error(`HTTP ${res.statusCode} through Envoy, expected ${status}`));
          else resolve({ ms: performance.now() - t, requestId, decisionId: String(res.headers['x-llm-authz-decision-id']) });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * One request through Envoy that ext_authz denies (no credential: 401), on a connection of its own
 * (closed after it), so that Envoy opens its connection to the ext_authz server and runs its
 * ext_authz code before the first request that counts; nothing reaches a provider.
 */
export async function sendDenied(url: string, body: Buffer): Promise<void> {
  const own = new http.Agent({ keepAlive: false });
  try {
    await post(own, url, body, {}, 401);
  } finally {
    own.destroy();
  }
}

/**
 * Runs the client's HTTP code against a throwaway local server, so that the first measured
 * request does not carry the client's own lazy compilation: its first request and warm median.
 */
export async function warmClient(body: Buffer): Promise<{ firstMs: number; warmMs: number }> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end('{}'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const agent = new http.Agent({ keepAlive: true });
  try {
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
    const times: number[] = [];
    for (let i = 0; i < 100; i++) times.push((await post(agent, url, body, {})).ms);
    return { firstMs: times[0] ?? Number.NaN, warmMs: median(times.slice(50)) };
  } finally {
    agent.destroy();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

/** Requests straight to the mock provider (in this process): its code is warm, as a remote provider's is. */
export async function warmProvider(url: string, body: Buffer): Promise<void> {
  const agent = new http.Agent({ keepAlive: true });
  try {
    for (let i = 0; i < 20; i++) await post(agent, `${url}/v1/chat/completions`, body, {});
  } finally {
    agent.destroy();
  }
}

export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

/** Envoy's access-log lines (envoy/gateway.yaml's JSON format) by request id. */
export function accessLogByRequest(file: string): Map<string, { envoyMs: number; extAuthzMs: number }> {
  const out = new Map<string, { envoyMs: number; extAuthzMs: number }>();
  for (const l of readFileSync(file, 'utf8').split('\n')) {
    if (!l.startsWith('{')) continue;
    const e = JSON.parse(l) as Record<string, unknown>;
    const us = Number(e['authz_latency_us']);
    out.set(String(e['request_id']), { envoyMs: Number(e['duration_ms']), extAuthzMs: e['authz_latency_us'] === '-' || e['authz_latency_us'] === null ? Number.NaN : us / 1000 });
  }
  return out;
}

/**
 * llm-authz's decision.duration_ms by decision id, from its decision-log file, from byte `from` on
 * (a decision log shared with earlier runs can be larger than a string may be).
 */
export function checkMsByDecision(file: string, from = 0): Map<string, number> {
  const fd = openSync(file, 'r');
  let text: string;
  try {
    const size = fstatSync(fd).size - from;
    const buf = Buffer.alloc(Math.max(0, size));
    let got = 0;
    while (got < buf.length) {
      const n = readSync(fd, buf, got, buf.length - got, from + got);
      if (n === 0) break;
      got += n;
    }
    text = buf.subarray(0, got).toString('utf8');
  } finally {
    closeSync(fd);
  }
  return new Map(
    text
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((d) => d['kind'] === 'decision')
      .map((d) => [String(d['decision.id']), Number(d['decision.duration_ms'])] as const),
  );
}

/** A counter of Envoy's admin /stats. */
export async function envoyCounter(envoy: EnvoyProcess, name: string): Promise<number> {
  const text = await envoy.admin(`/stats?filter=^${name.replaceAll('.', '\\.')}$`);
  return Number(new RegExp(`${name.replaceAll('.', '\\.')}: (\\d+)`).exec(text)?.[1] ?? Number.NaN);
}

/** Each request's split from the access log and the decision log; the warm ones as medians. */
export function splitter(accessLog: string, decisionsFile: string | undefined, decisionsFrom = 0): { timed(x: Sent): Timed; medianOf(xs: readonly Sent[]): Timed } {
  const access = accessLogByRequest(accessLog);
  const checks = decisionsFile === undefined ? new Map<string, number>() : checkMsByDecision(decisionsFile, decisionsFrom);
  const timed = (x: Sent): Timed => {
    const a = access.get(x.requestId);
    return { clientMs: x.ms, envoyMs: a?.envoyMs ?? Number.NaN, extAuthzMs: a?.extAuthzMs ?? Number.NaN, checkMs: checks.get(x.decisionId) ?? Number.NaN };
  };
  return {
    timed,
    medianOf(xs) {
      const t = xs.map(timed);
      return {
        clientMs: median(t.map((x) => x.clientMs)),
        envoyMs: median(t.map((x) => x.envoyMs)),
        extAuthzMs: median(t.map((x) => x.extAuthzMs)),
        checkMs: median(t.map((x) => x.checkMs)),
      };
    },
  };
}

/** One row: the times and what lies between them. */
export function row(name: string, t: Timed): string {
  const f = (x: number): string => (Number.isNaN(x) ? '-' : x.toFixed(2)).padStart(9);
  return `${name.padEnd(20)}${f(t.clientMs)}${f(t.envoyMs)}${f(t.extAuthzMs)}${f(t.checkMs)}${f(t.clientMs - t.envoyMs)}${f(t.envoyMs - (Number.isNaN(t.extAuthzMs) ? 0 : t.extAuthzMs))}${f(t.extAuthzMs - t.checkMs)}\n`;
}

export const HEADER = `${'ms'.padEnd(20)}${['client', 'envoy', 'ext_authz', 'check', 'cl-envoy', 'envoy-az', 'az-check'].map((h) => h.padStart(9)).join('')}\n`;

export async function measureCold(o: {
  workDir: string;
  idleSeconds: number;
  nodeOptions?: string;
  /** Node's own flags for llm-authz, on its command line (bench/run.ts: the image's). */
  nodeArgs?: readonly string[];
  otlpPort: number;
  warmUp?: boolean;
  keepWarm?: boolean;
}): Promise<ColdResult> {
  const files = await prepareBenchFiles(o.workDir, o.otlpPort);
  const warmUpConfig = o.warmUp === false ? withoutWarmUp(files.config) : files.config;
  const config = o.keepWarm === true ? withKeepWarm(warmUpConfig) : warmUpConfig;
  const decisionsFile = path.join(o.workDir, 'decisions.log');
  const env = { ...BENCH_ENV, ...(o.nodeOptions ? { NODE_OPTIONS: o.nodeOptions } : {}) };
  const body = benchRequestBody(2048);
  const client = await warmClient(body);
  const stack = await startStack({ config, env, workDir: path.join(o.workDir, 'stack'), authzNodeArgs: o.nodeArgs ?? [] });
  const agent = new http.Agent({ keepAlive: true, keepAliveMsecs: 1000 });
  try {
    const url = `${stack.url}/v1/chat/completions`;
    const send = () => post(agent, url, body, { authorization: `Bearer ${files.jwt}` });
    const cx = () => envoyCounter(stack.envoy, 'cluster.llm_authz.upstream_cx_total');
    await warmProvider(stack.openai.url, body);
    const before = await cx();
    const first = await send();
    const afterFirst = await cx();
    const warm: Sent[] = [];
    for (let i = 0; i < 200; i++) warm.push(await send());
    await new Promise((r) => setTimeout(r, o.idleSeconds * 1000));
    const afterIdle = await send();
    // Envoy flushes its access log every 100 ms (devstack/envoy.ts), llm-authz its decision log every 50 ms.
    await new Promise((r) => setTimeout(r, 500));
    const s = splitter(stack.accessLog, decisionsFile);
    return {
      first: s.timed(first),
      warm: s.medianOf(warm.slice(50)),
      afterIdle: s.timed(afterIdle),
      idleSeconds: o.idleSeconds,
      client,
      authzConnections: { before, first: afterFirst - before },
    };
  } finally {
    agent.destroy();
    await stack.stop({ keep: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'idle-seconds': { type: 'string', default: '120' },
      'no-warm-up': { type: 'boolean', default: false },
      'keep-warm': { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      'node-option': { type: 'string', multiple: true, default: [] },
    },
  });
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'llm-authz-cold-'));
  const sink = await startOtlpSink(workDir);
  try {
    const r = await measureCold({
      workDir,
      idleSeconds: Number(values['idle-seconds']),
      nodeOptions: (values['node-option'] ?? []).join(' '),
      nodeArgs: IMAGE_NODE_FLAGS,
      otlpPort: sink.port,
      warmUp: values['no-warm-up'] !== true,
      keepWarm: values['keep-warm'] === true,
    });
    process.stdout.write(
      [
        `llm-authz's start-up warm-up ${values['no-warm-up'] === true ? 'off' : 'on'}, idle warm-up ${values['keep-warm'] === true ? 'on' : 'off'}\n`,
        HEADER,
        row('first after start', r.first),
        row('warm (median)', r.warm),
        row(`after ${r.idleSeconds} s idle`, r.afterIdle),
        `first / warm at the client: ${(r.first.clientMs / r.warm.clientMs).toFixed(2)}x; after idle / warm: ${(r.afterIdle.clientMs / r.warm.clientMs).toFixed(2)}x\n`,
        `the client's own first request (throwaway local server): ${r.client.firstMs.toFixed(2)} ms, warm ${r.client.warmMs.toFixed(2)} ms (run before the stack starts)\n`,
        `Envoy's connections to llm-authz's Check cluster: ${r.authzConnections.before} before the first request, ${r.authzConnections.first} opened by it\n`,
      ].join(''),
    );
  } finally {
    await sink.stop();
    if (values.keep === true) process.stdout.write(`logs kept in ${workDir}\n`);
    else rmSync(workDir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  main().catch((err: unknown) => {
    process.stderr.write(`cold failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
