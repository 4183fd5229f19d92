/**
 * The first request through a fresh Envoy with and without llm-authz in the path (not part of the
 * suite), to tell Envoy's own first-request cost from llm-authz's: envoy/gateway.yaml without the
 * ext_proc filter, in front of a fresh mock OpenAI provider, with
 *   off        ext_authz disabled (Envoy, its first connection to the provider, the provider)
 *   floor      ext_authz to the no-op grpc-js floor (bench/floor.ts): any Node gRPC ext_authz hop
 *   llm-authz  ext_authz to llm-authz with the benchmark's config (bench/setup.ts), with its
 *              start-up warm-up off (`no warm-up`) and on, and on with one request that ext_authz
 *              denies (no credential) sent through Envoy before the first (`denied first`: a
 *              prototype of opening Envoy's connection to llm-authz before the application's first request)
 *   opa-envoy  ext_authz to OPA-Envoy (Go) with the benchmark's Rego policy (bench/setup.ts), the
 *              peer of the benchmarks, its cluster without the gRPC health check (it has none)
 * For llm-authz, `server.max_connection_idle_ms` is 1 s: after the warm requests and 1.5 s idle, llm-authz
 * has closed Envoy's connection, and one more request (`reconnect`) takes a new connection to a
 * warm process (what a new connection costs alone).
 * each started afresh per round, split as bench/cold.ts splits a request (the client's HTTP code
 * is warmed once, against a throwaway server, before the first round; the mock provider, in this
 * process, gets a few requests straight to it before each first request, as bench/cold.ts does).
 *   node bench/cold-envoy.ts [--rounds 3] [--node-option=--flag ...]   (the options go to llm-authz)
 */
import http from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startAuthz } from '../devstack/authz.ts';
import { renderEnvoyConfig, startEnvoy, type EnvoyPorts } from '../devstack/envoy.ts';
import { startMockProvider } from '../devstack/mock-provider.ts';
import { envoyCounter, HEADER, post, row, sendDenied, splitter, warmClient, warmProvider, type Sent, type Timed } from './cold.ts';
import { startFloor, startOpa, startOtlpSink } from './servers.ts';
import { BENCH_ENV, BENCH_PROVIDER_KEEP, benchRequestBody, prepareBenchFiles, withServerKeys, type BenchFiles } from './setup.ts';
import { withoutAuthz, withoutAuthzHealthCheck, withoutOutcomes } from './through-envoy.ts';

export const VARIANTS = ['off', 'floor', 'llm-authz no warm-up', 'llm-authz', 'llm-authz denied first', 'opa-envoy'] as const;
export type Variant = (typeof VARIANTS)[number];

export interface VariantResult {
  readonly first: Timed;
  readonly warm: Timed;
  /** llm-authz: a request on a new connection after its idle connection was closed. */
  readonly reconnect?: Timed;
  readonly reconnections?: number | undefined;
  /** Connections Envoy opened to the ext_authz cluster with the first request. */
  readonly connections: number;
  /** With `idleSeconds` (ext_authz off and the floor only): one request after that long without any. */
  readonly afterIdle?: Timed;
}

/** What a fresh Envoy and its ext_authz server are started with: the benchmark's files, its request and llm-authz's environment. */
export interface FreshOptions {
  readonly config: string;
  readonly jwt: string;
  readonly body: Buffer;
  readonly env: NodeJS.ProcessEnv;
  readonly opa: { readonly policy: string; readonly data: string };
}

/** A fresh Envoy's options from the benchmark's files (bench/setup.ts): the 2 KB benchmark request. */
export function freshOptions(files: BenchFiles, env: NodeJS.ProcessEnv): FreshOptions {
  return { config: files.config, jwt: files.jwt, body: benchRequestBody(2048), env, opa: { policy: files.opaPolicy, data: files.opaData } };
}

export interface FreshEnvoy {
  /** One request through Envoy, as the application sends it. */
  send(): Promise<Sent>;
  /** Another client's send: the same request on a connection of its own. */
  sender(): () => Promise<Sent>;
  /** Envoy's process id and llm-authz's (absent for the other variants). */
  readonly pids: { readonly envoy: number; readonly authz?: number };
  /** Connections Envoy has opened so far to the ext_authz cluster. */
  connections(): Promise<number>;
  /** Each request's split (after Envoy's and llm-authz's logs are flushed: wait 500 ms). */
  split(): ReturnType<typeof splitter>;
  stop(): Promise<void>;
}

/**
 * A freshly started Envoy with `v` as its ext_authz, in front of a fresh mock provider that got a
 * few requests straight to it; nothing has gone through Envoy yet. `serverKeys` are llm-authz's
 * `server` keys (its warm-up follows the variant).
 */
export async function startFreshEnvoy(v: Variant, dir: string, o: FreshOptions & { serverKeys?: Readonly<Record<string, string | number | boolean>> }): Promise<FreshEnvoy> {
  mkdirSync(dir, { recursive: true });
  const stops: (() => Promise<unknown>)[] = [];
  const stop = async (): Promise<void> => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  };
  try {
    const openai = await startMockProvider('openai', '127.0.0.1', undefined, undefined, BENCH_PROVIDER_KEEP);
    stops.push(() => openai.close());
    let authzPort = 9; // ext_authz off: never called
    let authzPid: number | undefined;
    if (v === 'floor') {
      const floor = await startFloor(dir, 'openai');
      stops.push(() => floor.stop());
      authzPort = floor.port;
    } else if (v === 'opa-envoy') {
      const opa = await startOpa(dir, o.opa.policy, o.opa.data);
      stops.push(() => opa.stop());
      authzPort = opa.port;
    } else if (v !== 'off') {
      const warmUp = v !== 'llm-authz no warm-up';
      const config = withServerKeys(o.config, `${path.basename(dir)}-${warmUp ? 'warm-up' : 'no-warm-up'}`, { ...o.serverKeys, warm_up: warmUp });
      const authz = await startAuthz({ config, workDir: dir, env: o.env });
      stops.push(() => authz.stop());
      authzPort = authz.port;
      authzPid = authz.child.proc.pid;
    }
    const accessLog = path.join(dir, 'access.log');
    // The benchmark's decision log is shared with every earlier llm-authz run: only this one's lines are read.
    const decisions = v.startsWith('llm-authz') ? path.join(path.dirname(o.config), 'decisions.log') : undefined;
    const decisionsFrom = decisions !== undefined && existsSync(decisions) ? statSync(decisions).size : 0;
    const render = (ports: EnvoyPorts): string => {
      const params: Record<string, string | number> = {
        LISTEN_ADDRESS: '127.0.0.1',
        LISTEN_PORT: ports.listen,
        ADMIN_ADDRESS: '127.0.0.1',
        ADMIN_PORT: ports.admin,
        AUTHZ_ADDRESS: '127.0.0.1',
        AUTHZ_PORT: authzPort,
        MAX_REQUEST_BYTES: 1048576,
        ACCESS_LOG_PATH: accessLog,
        OTLP_ADDRESS: '127.0.0.1',
        OTLP_PORT: 9,
      };
      for (const p of ['OPENAI', 'ANTHROPIC', 'GEMINI', 'AZURE_OPENAI', 'BEDROCK', 'VERTEX_AI'])
        Object.assign(params, { [`${p}_ADDRESS`]: '127.0.0.1', [`${p}_PORT`]: openai.port });
      const text = withoutOutcomes(renderEnvoyConfig('envoy/gateway.yaml', params));
      return v === 'off' ? withoutAuthz(text) : v === 'opa-envoy' ? withoutAuthzHealthCheck(text) : text;
    };
    const envoy = await startEnvoy({ render, workDir: dir, name: `envoy-${v}` });
    stops.push(() => envoy.stop());
    const agent = new http.Agent({ keepAlive: true });
    stops.push(async () => agent.destroy());
    const url = `http://127.0.0.1:${envoy.ports.listen}/v1/chat/completions`;
    await warmProvider(openai.url, o.body);
    if (v === 'llm-authz denied first') await sendDenied(url, o.body);
    // With ext_authz off, Envoy routes on the client's routing header (as bench/through-envoy.ts does).
    const headers = { authorization: `Bearer ${o.jwt}`, ...(v === 'off' ? { 'x-llm-authz-route': 'openai' } : {}) };
    return {
      pids: { envoy: envoy.child.proc.pid ?? Number.NaN, ...(authzPid !== undefined && { authz: authzPid }) },
      send: () => post(agent, url, o.body, headers),
      sender() {
        const own = new http.Agent({ keepAlive: true });
        stops.push(async () => own.destroy());
        return () => post(own, url, o.body, headers);
      },
      connections: () => envoyCounter(envoy, 'cluster.llm_authz.upstream_cx_total'),
      split: () => splitter(accessLog, decisions, decisionsFrom),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The first request through a freshly started Envoy with `v` as its ext_authz, and its warm median. */
export async function measureFreshEnvoy(v: Variant, dir: string, o: FreshOptions & { idleSeconds?: number }): Promise<VariantResult> {
  if (o.idleSeconds !== undefined && v.startsWith('llm-authz'))
    throw new Error('an idle spell is measured with ext_authz off, the floor or OPA-Envoy only (llm-authz here closes idle connections after 1 s)');
  const fresh = await startFreshEnvoy(v, dir, { ...o, serverKeys: { max_connection_idle_ms: 1000 } });
  try {
    const before = await fresh.connections();
    const first = await fresh.send();
    const connections = (await fresh.connections()) - before;
    const warm: Sent[] = [];
    for (let i = 0; i < 200; i++) warm.push(await fresh.send());
    let afterIdle: Sent | undefined;
    const idleSeconds = o.idleSeconds;
    if (idleSeconds !== undefined) {
      await new Promise((r) => setTimeout(r, idleSeconds * 1000));
      afterIdle = await fresh.send();
    }
    let reconnect: Sent | undefined;
    let reconnections: number | undefined;
    if (v.startsWith('llm-authz')) {
      await new Promise((r) => setTimeout(r, 1500));
      const c0 = await fresh.connections();
      reconnect = await fresh.send();
      reconnections = (await fresh.connections()) - c0;
    }
    await new Promise((r) => setTimeout(r, 500));
    const s = fresh.split();
    return {
      first: s.timed(first),
      warm: s.medianOf(warm.slice(50)),
      connections,
      ...(reconnect && { reconnect: s.timed(reconnect), reconnections }),
      ...(afterIdle && { afterIdle: s.timed(afterIdle) }),
    };
  } finally {
    await fresh.stop();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' }, 'node-option': { type: 'string', multiple: true, default: [] } } });
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'llm-authz-cold-envoy-'));
  const sink = await startOtlpSink(workDir);
  try {
    const files = await prepareBenchFiles(workDir, sink.port);
    const nodeOptions = (values['node-option'] ?? []).join(' ');
    const env = { ...BENCH_ENV, ...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}) };
    const fresh = freshOptions(files, env);
    const client = await warmClient(fresh.body);
    process.stdout.write(`the client's own first request (throwaway local server): ${client.firstMs.toFixed(2)} ms, warm ${client.warmMs.toFixed(2)} ms\n${HEADER}`);
    for (let round = 1; round <= Number(values.rounds); round++) {
      for (const v of VARIANTS) {
        const r = await measureFreshEnvoy(v, path.join(workDir, `${v}-${round}`), fresh);
        const name = v.replace('llm-authz no warm-up', 'no warm-up');
        process.stdout.write(row(`${name} first`, r.first) + row(`${name} warm`, r.warm) + (r.reconnect ? row(`${name} reconnect`, r.reconnect) : ''));
        process.stdout.write(
          `  ${v} round ${round}: first / warm at the client ${(r.first.clientMs / r.warm.clientMs).toFixed(2)}x, ext_authz connections opened by the first: ${r.connections}${r.reconnections === undefined ? '' : `, by the reconnect: ${r.reconnections}`}\n`,
        );
      }
    }
  } finally {
    await sink.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  main().catch((err: unknown) => {
    process.stderr.write(`cold-envoy failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
