/**
 * The latency authorization adds through the real Envoy: the same HTTP request at fixed rates
 * (paced by vegeta) to four Envoys that differ only in their ext_authz and ext_proc filters:
 * ext_authz disabled on the virtual host, pointed at the floor (a no-op server answering with the
 * routing header), pointed at llm-authz; and llm-authz with the ext_proc filter on (outcome
 * records: Envoy streams each response to llm-authz). "floor - off" is what any gRPC ext_authz
 * hop costs on this machine; "llm-authz - off" is what llm-authz adds; "llm-authz + outcomes -
 * llm-authz" what the outcome records add at the client. llm-authz's CPU is read per run.
 * Peers (OPA-Envoy, Authorino) get an Envoy each from the same template, ext_proc off.
 * Before the timed runs, every Envoy whose ext_authz server decides (llm-authz, the peers) is
 * checked to be decided by it, not passed through on the client's own routing header: a request
 * without that header reaches the provider with the provider credential in place of the client's
 * token, and a request with a forged token is denied by ext_authz (Envoy's `ext_authz.denied`
 * counter) and reaches no provider.
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startAuthz } from '../devstack/authz.ts';
import { renderEnvoyConfig, startEnvoy, type EnvoyPorts, type EnvoyProcess } from '../devstack/envoy.ts';
import { startMockProvider, type MockProvider } from '../devstack/mock-provider.ts';
import { medianRound, type LoadResult } from './h2load.ts';
import { cpuSeconds, noiseWindow, type MachineNoise } from './procstat.ts';
import { startFloor } from './servers.ts';
import { BENCH_PROVIDER_KEEP, benchRequestBody, PROVIDER_KEY } from './setup.ts';
import { vegeta } from './vegeta.ts';

export const OUTCOMES_VARIANT = 'llm-authz + outcomes';
export const ENVOY_VARIANTS = ['off', 'floor', 'llm-authz', OUTCOMES_VARIANT] as const;
export type EnvoyVariant = (typeof ENVOY_VARIANTS)[number];

export interface EnvoyPoint {
  readonly rate: number;
  /** Results of an older run may lack the outcomes variant. */
  readonly results: Record<Exclude<EnvoyVariant, typeof OUTCOMES_VARIANT>, LoadResult> & Partial<Record<typeof OUTCOMES_VARIANT, LoadResult>>;
  /** llm-authz's CPU (user + system) per 1,000 requests of the llm-authz variants. */
  readonly authzCpuMsPer1k?: Partial<Record<EnvoyVariant, number>>;
  /** The outcomes variant's ext_proc streams as Envoy counts them (one per request, none skipped or failed). */
  readonly outcomeStreams?: { readonly started: number; readonly failed: number; readonly overflow: number };
  /** The peers (other ext_authz servers) behind their own Envoy, and their CPU per 1,000 requests. */
  readonly peers?: Readonly<Record<string, LoadResult>>;
  readonly peerCpuMsPer1k?: Readonly<Record<string, number>>;
  /** With several rounds at this rate: each variant's and peer's p99 in every round (the results are each one's median round by p99). */
  readonly p99Rounds?: Readonly<Record<string, readonly number[]>>;
  /** The machine over each window at this rate: load average and hypervisor steal. */
  readonly noise?: readonly MachineNoise[];
}

/** Another ext_authz server behind an Envoy of its own, rendered from the same template (ext_proc off). */
export interface EnvoyPeer {
  readonly name: string;
  readonly port: number;
  readonly pid: number;
  /** What this server needs changed in the rendered config (Authorino: the body sent as a string). */
  readonly envoyConfig?: (config: string) => string;
}

/**
 * Removes the gRPC health check of the ext_authz cluster, for a server without the gRPC health
 * service (OPA-Envoy answers UNIMPLEMENTED: Envoy would mark its only host failed and route to it
 * in panic mode anyway).
 */
export function withoutAuthzHealthCheck(config: string): string {
  const block = /\n {4}health_checks:\n[\s\S]*?\n(?= {4}load_assignment:\n {6}cluster_name: llm_authz\n)/;
  if (!block.test(config)) throw new Error('the Envoy template changed: cannot find the health check of the llm_authz cluster');
  return config.replace(block, '\n');
}

/**
 * The parameters of envoy/gateway.yaml for one Envoy whose ext_authz server is on `authzPort` and
 * whose every provider cluster is the one mock provider on `providerPort` (bench/tail-envoy.ts,
 * bench/old-gen.ts).
 */
export function gatewayParams(o: { ports: EnvoyPorts; authzPort: number; providerPort: number; otlpPort: number; accessLog: string }): Record<string, string | number> {
  const p: Record<string, string | number> = { LISTEN_ADDRESS: '127.0.0.1', LISTEN_PORT: o.ports.listen, ADMIN_ADDRESS: '127.0.0.1', ADMIN_PORT: o.ports.admin };
  p.AUTHZ_ADDRESS = '127.0.0.1';
  p.AUTHZ_PORT = o.authzPort;
  for (const api of ['OPENAI', 'ANTHROPIC', 'GEMINI', 'AZURE_OPENAI', 'BEDROCK', 'VERTEX_AI']) {
    p[`${api}_ADDRESS`] = '127.0.0.1';
    p[`${api}_PORT`] = o.providerPort;
  }
  return { ...p, OTLP_ADDRESS: '127.0.0.1', OTLP_PORT: o.otlpPort, MAX_REQUEST_BYTES: 1048576, ACCESS_LOG_PATH: o.accessLog };
}

/** Envoy's count of requests its ext_authz filter denied. */
async function extAuthzDenied(envoy: EnvoyProcess): Promise<number> {
  const text = await envoy.admin('/stats?filter=^http\\.llm_ingress\\.ext_authz\\.denied$');
  return Number(/ext_authz\.denied: (\d+)/.exec(text)?.[1] ?? Number.NaN);
}

/** One request through an Envoy, with its status. */
async function postOnce(url: string, body: Buffer, headers: Record<string, string>): Promise<number> {
  const res = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
  await res.arrayBuffer();
  return res.status;
}

/**
 * Proves that the ext_authz server behind `envoy` decides (see the header comment): throws with
 * what went wrong otherwise.
 */
export async function verifyDecidedByAuthz(name: string, envoy: EnvoyProcess, url: string, body: Buffer, jwt: string, provider: MockProvider): Promise<void> {
  const n0 = provider.requests.length;
  const allowed = await postOnce(url, body, { authorization: `Bearer ${jwt}` });
  const reached = provider.requests.slice(n0);
  const credential = reached[0]?.headers['authorization'];
  if (allowed !== 200 || reached.length !== 1 || credential !== `Bearer ${PROVIDER_KEY}`)
    throw new Error(
      `Envoy with ext_authz ${name}: the benchmark request without a routing header got HTTP ${allowed}, reached the provider ${reached.length} times${reached.length > 0 ? (credential === `Bearer ${PROVIDER_KEY}` ? ' with the provider credential' : ' without the provider credential in place of the client token') : ''}; ${name} must route it and replace the credential`,
    );
  const d0 = await extAuthzDenied(envoy);
  const n1 = provider.requests.length;
  const forged = `${jwt.slice(0, jwt.lastIndexOf('.') + 1)}${Buffer.from('not the signature').toString('base64url')}`;
  const denied = await postOnce(url, body, { authorization: `Bearer ${forged}`, 'x-llm-authz-route': 'openai' });
  const deniedByAuthz = (await extAuthzDenied(envoy)) - d0;
  if (denied === 200 || deniedByAuthz !== 1 || provider.requests.length !== n1)
    throw new Error(
      `Envoy with ext_authz ${name}: a request with a forged JWT got HTTP ${denied} (${deniedByAuthz} denied by ext_authz, ${provider.requests.length - n1} reached the provider); ${name} must deny it`,
    );
}

/** Envoy's counters of the ext_proc filter and the outcomes cluster that say whether every response was streamed. */
async function extProcCounters(envoy: EnvoyProcess): Promise<{ started: number; failed: number; overflow: number }> {
  const text = await envoy.admin('/stats?filter=ext_proc\\.streams_|llm_authz_outcomes\\.upstream_rq_active_overflow');
  const get = (suffix: string): number => Number(new RegExp(`${suffix.replaceAll('.', '\\.')}: (\\d+)`).exec(text)?.[1] ?? Number.NaN);
  return { started: get('ext_proc.streams_started'), failed: get('ext_proc.streams_failed'), overflow: get('llm_authz_outcomes.upstream_rq_active_overflow') };
}

/** Disables ext_authz for the whole virtual host: Envoy then routes on the client's header. */
export function withoutAuthz(config: string): string {
  const marker = '              request_headers_to_remove: ["x-llm-authz-route"]';
  if (!config.includes(marker)) throw new Error('the Envoy template changed: cannot find the virtual host to disable ext_authz on');
  return config.replace(
    marker,
    `              typed_per_filter_config:
                envoy.filters.http.ext_authz:
                  "@type": type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute
                  disabled: true
${marker}`,
  );
}

/** Turns the ext_proc filter (outcome records) off for the whole virtual host. */
export function withoutOutcomes(config: string): string {
  const marker = '              request_headers_to_remove: ["x-llm-authz-route"]';
  if (!config.includes(marker) || !config.includes('envoy.filters.http.ext_proc'))
    throw new Error('the Envoy template changed: cannot find the ext_proc filter or the virtual host to disable it on');
  return config.replace(
    marker,
    `              typed_per_filter_config:
                envoy.filters.http.ext_proc:
                  "@type": type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExtProcPerRoute
                  disabled: true
${marker}`,
  );
}

export async function benchEnvoyScenario(o: {
  workDir: string;
  config: string;
  env: NodeJS.ProcessEnv;
  jwt: string;
  otlpPort: number;
  rates: readonly number[];
  durationS: number;
  log: (m: string) => void;
  peers?: readonly EnvoyPeer[];
  /** Node's own flags for llm-authz (bench/run.ts: the image's). */
  nodeArgs?: readonly string[];
  /** How many rounds at a rate (default 1): the variants and peers take turns, the order reversed every other round. */
  roundsAt?: (rate: number) => number;
}): Promise<EnvoyPoint[]> {
  const peers = o.peers ?? [];
  const openai = await startMockProvider('openai', '127.0.0.1', undefined, undefined, BENCH_PROVIDER_KEEP);
  const anthropic = await startMockProvider('anthropic', '127.0.0.1', undefined, undefined, BENCH_PROVIDER_KEEP);
  const authz = await startAuthz({ config: o.config, workDir: o.workDir, env: o.env, name: 'llm-authz-envoy', nodeArgs: o.nodeArgs ?? [] });
  const floor = await startFloor(o.workDir, 'openai');
  const body = benchRequestBody(2048);
  const bodyFile = path.join(o.workDir, 'http-body-2k.json');
  writeFileSync(bodyFile, body);
  const params = (authzPort: number, ports: EnvoyPorts): Record<string, string | number> => ({
    LISTEN_ADDRESS: '127.0.0.1',
    LISTEN_PORT: ports.listen,
    ADMIN_ADDRESS: '127.0.0.1',
    ADMIN_PORT: ports.admin,
    AUTHZ_ADDRESS: '127.0.0.1',
    AUTHZ_PORT: authzPort,
    OPENAI_ADDRESS: '127.0.0.1',
    OPENAI_PORT: openai.port,
    ANTHROPIC_ADDRESS: '127.0.0.1',
    ANTHROPIC_PORT: anthropic.port,
    GEMINI_ADDRESS: '127.0.0.1',
    GEMINI_PORT: anthropic.port,
    AZURE_OPENAI_ADDRESS: '127.0.0.1',
    AZURE_OPENAI_PORT: openai.port,
    BEDROCK_ADDRESS: '127.0.0.1',
    BEDROCK_PORT: openai.port,
    VERTEX_AI_ADDRESS: '127.0.0.1',
    VERTEX_AI_PORT: openai.port,
    OTLP_ADDRESS: '127.0.0.1',
    OTLP_PORT: o.otlpPort,
    MAX_REQUEST_BYTES: 1048576,
    ACCESS_LOG_PATH: path.join(o.workDir, 'access.log'),
  });
  const points: EnvoyPoint[] = [];
  const envoys: EnvoyProcess[] = [];
  try {
    // Every Envoy by the name of its ext_authz variant or peer; a request's URL is its listener's.
    const byName = new Map<string, EnvoyProcess>();
    for (const v of ENVOY_VARIANTS) {
      const render = (ports: EnvoyPorts): string => {
        const text = renderEnvoyConfig('envoy/gateway.yaml', params(v === 'floor' ? floor.port : authz.port, ports));
        const authzOnly = v === OUTCOMES_VARIANT ? text : withoutOutcomes(text);
        return v === 'off' ? withoutAuthz(authzOnly) : authzOnly;
      };
      const envoy = await startEnvoy({ render, workDir: o.workDir, name: `envoy-${v}` });
      byName.set(v, envoy);
      envoys.push(envoy);
    }
    for (const peer of peers) {
      const render = (ports: EnvoyPorts): string => (peer.envoyConfig ?? ((t: string) => t))(withoutOutcomes(renderEnvoyConfig('envoy/gateway.yaml', params(peer.port, ports))));
      const envoy = await startEnvoy({ render, workDir: o.workDir, name: `envoy-${peer.name.toLowerCase()}` });
      byName.set(peer.name, envoy);
      envoys.push(envoy);
    }
    const envoyOf = (name: string): EnvoyProcess => {
      const envoy = byName.get(name);
      if (envoy === undefined) throw new Error(`no Envoy for ${name}`);
      return envoy;
    };
    const urlOf = (name: string): string => `http://127.0.0.1:${envoyOf(name).ports.listen}/v1/chat/completions`;
    for (const name of ['llm-authz', OUTCOMES_VARIANT, ...peers.map((p) => p.name)]) {
      await verifyDecidedByAuthz(name, envoyOf(name), urlOf(name), body, o.jwt, openai);
    }
    const run = (v: string, rate: number, durationS: number): Promise<LoadResult> =>
      vegeta({
        url: urlOf(v),
        dataFile: bodyFile,
        headers: ['content-type: application/json', `authorization: Bearer ${o.jwt}`, 'x-llm-authz-route: openai'],
        rate,
        durationS,
        h2c: false,
        workDir: o.workDir,
      });
    const failures = (r: LoadResult): string =>
      Object.entries(r.failures ?? {})
        .map(([k, n]) => `${k} × ${n}`)
        .join(', ');
    for (const v of [...ENVOY_VARIANTS, ...peers.map((p) => p.name)]) {
      // The configuration check: 20 requests 50 ms apart must all get the provider's 200 (a
      // wrong route or a deny fails every one). The warm-up at 500/s then only warms: on a
      // loaded machine some of its requests time out at ext_authz (503), which the tables count.
      const probe = await run(v, 20, 1);
      if (probe.errors > 0) throw new Error(`Envoy with ext_authz ${v}: ${probe.errors} of ${probe.requests} requests 50 ms apart failed (${failures(probe)})`);
      const warm = await run(v, 500, 2);
      if (warm.errors > 0) o.log(`  warm-up of ext_authz ${v}: ${warm.errors} of ${warm.requests} requests failed (${failures(warm)})`);
    }
    type Window = { result: LoadResult; cpu?: number; streams?: EnvoyPoint['outcomeStreams']; noise: MachineNoise };
    const measure = async (name: string, rate: number): Promise<Window> => {
      const peer = peers.find((p) => p.name === name);
      const pid = peer ? peer.pid : name === 'llm-authz' || name === OUTCOMES_VARIANT ? authz.child.proc.pid! : undefined;
      const cpu0 = pid === undefined ? 0 : cpuSeconds(pid);
      const streams0 = name === OUTCOMES_VARIANT ? await extProcCounters(envoyOf(name)) : undefined;
      const noise = noiseWindow(() => os.loadavg()[0] ?? Number.NaN);
      const result = await run(name, rate, o.durationS);
      const w: Window = { result, noise: noise() };
      if (streams0 !== undefined) {
        const after = await extProcCounters(envoyOf(name));
        w.streams = { started: after.started - streams0.started, failed: after.failed - streams0.failed, overflow: after.overflow - streams0.overflow };
      }
      if (pid !== undefined) w.cpu = result.requests > 0 ? ((cpuSeconds(pid) - cpu0) * 1e6) / result.requests : Number.NaN;
      if (result.errors > 0) o.log(`  errors with ext_authz ${name}: ${result.errors}`);
      return w;
    };
    const names = [...ENVOY_VARIANTS, ...peers.map((p) => p.name)];
    for (const rate of o.rates) {
      const rounds = o.roundsAt?.(rate) ?? 1;
      o.log(`  ${rate}/s: ${names.join(', ')}${rounds > 1 ? `, ${rounds} rounds` : ''}`);
      const windows: Record<string, Window[]> = {};
      for (let round = 1; round <= rounds; round++) {
        for (const name of round % 2 === 1 ? names : [...names].reverse()) (windows[name] ??= []).push(await measure(name, rate));
      }
      const median = (name: string): Window => medianRound(windows[name] ?? [], (w) => w.result.p99);
      const results = {} as Record<EnvoyVariant, LoadResult>;
      const cpu: Partial<Record<EnvoyVariant, number>> = {};
      for (const v of ENVOY_VARIANTS) {
        const m = median(v);
        results[v] = m.result;
        if (m.cpu !== undefined) cpu[v] = m.cpu;
      }
      const outcomeStreams = median(OUTCOMES_VARIANT).streams;
      const peerResults: Record<string, LoadResult> = {};
      const peerCpu: Record<string, number> = {};
      for (const peer of peers) {
        const m = median(peer.name);
        peerResults[peer.name] = m.result;
        peerCpu[peer.name] = m.cpu ?? Number.NaN;
      }
      points.push({
        rate,
        results,
        authzCpuMsPer1k: cpu,
        ...(outcomeStreams ? { outcomeStreams } : {}),
        ...(peers.length > 0 ? { peers: peerResults, peerCpuMsPer1k: peerCpu } : {}),
        ...(rounds > 1 ? { p99Rounds: Object.fromEntries(names.map((n) => [n, (windows[n] ?? []).map((w) => w.result.p99)])) } : {}),
        noise: Object.values(windows).flatMap((ws) => ws.map((w) => w.noise)),
      });
    }
  } finally {
    for (const e of envoys) await e.stop();
    await floor.stop();
    await authz.stop();
    await openai.close();
    await anthropic.close();
  }
  return points;
}
