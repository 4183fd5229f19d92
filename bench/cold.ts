/**
 * The first Check after start and after an idle spell, against warm ones, through the real Envoy
 * (not part of the suite): the dev stack (envoy/gateway.yaml, mock providers) with the benchmark's
 * llm-authz config (bench/setup.ts: spans to a local OTLP sink, decision lines to a file). Each
 * request's time at the client is set against llm-authz's own `decision.duration_ms`, which
 * splits a gap into the Check itself (lazy initialisation, code V8 dropped) and what happens
 * before it starts (connection, gRPC and HTTP/2 handling, event loop).
 *   node bench/cold.ts [--idle-seconds 120] [--node-option=--flag ...]
 */
import http from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startStack } from '../devstack/stack.ts';
import { startOtlpSink } from './servers.ts';
import { BENCH_ENV, benchCheckRequest, prepareBenchFiles } from './setup.ts';

export interface Timed {
  /** At the client, through Envoy. */
  readonly clientMs: number;
  /** llm-authz's decision.duration_ms for it. */
  readonly checkMs: number;
}

export interface ColdResult {
  readonly first: Timed;
  /** Medians of the warm requests. */
  readonly warm: Timed;
  readonly afterIdle: Timed;
  readonly idleSeconds: number;
}

function post(agent: http.Agent, url: string, body: Buffer, jwt: string): Promise<{ ms: number; decisionId: string }> {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const req = http.request(
      url,
      { method: 'POST', agent, headers: { 'content-type': 'application/json', authorization: `Bearer ${jwt}`, 'content-length': body.length } },
      (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode !== 200) reject(new Error(`HTTP ${res.statusCode} through Envoy`));
          else resolve({ ms: performance.now() - t, decisionId: String(res.headers['x-llm-authz-decision-id']) });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

export async function measureCold(o: { workDir: string; idleSeconds: number; nodeOptions?: string; otlpPort: number }): Promise<ColdResult> {
  const files = await prepareBenchFiles(o.workDir, o.otlpPort);
  const decisionsFile = path.join(o.workDir, 'decisions.log');
  const env = { ...BENCH_ENV, ...(o.nodeOptions ? { NODE_OPTIONS: o.nodeOptions } : {}) };
  const stack = await startStack({ config: files.config, env, workDir: path.join(o.workDir, 'stack') });
  const agent = new http.Agent({ keepAlive: true, keepAliveMsecs: 1000 });
  try {
    const body = (benchCheckRequest(2048, files.jwt)['attributes'] as { request: { http: { raw_body: Buffer } } }).request.http.raw_body;
    const url = `${stack.url}/v1/chat/completions`;
    const send = () => post(agent, url, body, files.jwt);
    const first = await send();
    const warm: { ms: number; decisionId: string }[] = [];
    for (let i = 0; i < 200; i++) warm.push(await send());
    await new Promise((r) => setTimeout(r, o.idleSeconds * 1000));
    const afterIdle = await send();
    await new Promise((r) => setTimeout(r, 500));
    const checkMs = new Map(
      readFileSync(decisionsFile, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((d) => d['kind'] === 'decision')
        .map((d) => [String(d['decision.id']), Number(d['decision.duration_ms'])] as const),
    );
    const timed = (x: { ms: number; decisionId: string }): Timed => ({ clientMs: x.ms, checkMs: checkMs.get(x.decisionId) ?? Number.NaN });
    const w = warm.slice(50).map(timed);
    return {
      first: timed(first),
      warm: { clientMs: median(w.map((x) => x.clientMs)), checkMs: median(w.map((x) => x.checkMs)) },
      afterIdle: timed(afterIdle),
      idleSeconds: o.idleSeconds,
    };
  } finally {
    agent.destroy();
    await stack.stop({ keep: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'idle-seconds': { type: 'string', default: '120' }, 'node-option': { type: 'string', multiple: true, default: [] } } });
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'llm-authz-cold-'));
  const sink = await startOtlpSink(workDir);
  try {
    const r = await measureCold({ workDir, idleSeconds: Number(values['idle-seconds']), nodeOptions: (values['node-option'] ?? []).join(' '), otlpPort: sink.port });
    const f = (t: Timed): string => `${t.clientMs.toFixed(2)} ms at the client, ${t.checkMs.toFixed(2)} ms in the Check`;
    process.stdout.write(`first after start   ${f(r.first)}\nwarm (median)       ${f(r.warm)}\nafter ${r.idleSeconds} s idle    ${f(r.afterIdle)}\n`);
  } finally {
    await sink.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  main().catch((err: unknown) => {
    process.stderr.write(`cold failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
