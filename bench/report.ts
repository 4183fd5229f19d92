/** Writes BENCHMARKS.md and renders the plots (matplotlib, via bench/plot.py) from one run's results. */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { ROOT, TOOLS_DIR } from '../devstack/tools.ts';
import type { LoadResult } from './h2load.ts';
import { ENVOY_VARIANTS, OUTCOMES_VARIANT, type EnvoyPoint, type EnvoyVariant } from './through-envoy.ts';
import type { ScalePoint } from './scaling.ts';
import { udsSection, type UdsPoint } from './uds.ts';
import { AUTHORINO, AUTHORINO_GAPS, AUTHORINO_METHOD } from './authorino.ts';
import type { AllocResult } from './alloc.ts';
import type { ColdResult } from './cold.ts';
import type { ColdBaselines } from './targets.ts';
import { quietSpellSection, type QuietSpells } from './gap-curve.ts';
import { OPA_ENVOY } from './servers.ts';
import { AUTHZ_NODE_FLAGS } from '../src/inject/sidecars.ts';
import { IMAGE_NODE_FLAGS } from './setup.ts';
import { footprintTargets, MANIFEST_MEMORY_LIMIT_MIB, memoryLimited, TARGET_MEMORY_LIMIT_MIB } from './targets.ts';

/** A measured window, with what else the machine did meanwhile (older results lack load1 and stealPct). */
export type Measured = LoadResult & { cpuMsPer1k: number; rssMiB: number; load1?: number; stealPct?: number; p99Rounds?: number[] };

/** llm-authz with Node's defaults instead of the sidecar's flags (bench/run.ts runs it). */
export const NO_NODE_FLAGS = 'llm-authz (no Node flags)';
const flags = (xs: readonly string[]): string => xs.map((x) => `\`${x}\``).join(' ');
const MANIFEST_LIMITED = memoryLimited(MANIFEST_MEMORY_LIMIT_MIB);
const TARGET_LIMITED = memoryLimited(TARGET_MEMORY_LIMIT_MIB);

export interface BenchResults {
  machine: Record<string, string>;
  /** The median of the rounds, with every round's req/s. */
  check: Record<string, Measured & { rounds?: number[] }>;
  /** RSS of each server after start and one Check, before any load. */
  idleRssMiB: Record<string, number>;
  /** Servers that could not be run here, with the reason. */
  notMeasured: Record<string, string>;
  /** The memory cgroup of each memory-limited llm-authz (by name): its peak usage and OOM kills over the run. */
  memoryLimits?: Record<string, { limitMiB: number; peakMiB: number; oomKills: number }>;
  rates: Record<string, (Measured & { rate: number })[]>;
  envoy: EnvoyPoint[];
  /** TCP loopback next to a Unix domain socket (older results lack it). */
  uds?: UdsPoint[];
  bodySizes: (Measured & { size: number })[];
  rules: ScalePoint[];
  identities: ScalePoint[];
  /** Bytes allocated per Check (bench/alloc.ts), the benchmark request with a JWT. */
  alloc?: AllocResult;
  /** The first request through Envoy after start and after an idle spell (bench/cold.ts). */
  cold?: ColdResult;
  /** The first request through a freshly started Envoy with ext_authz off and to the no-op floor (bench/cold-envoy.ts). */
  coldBaselines?: ColdBaselines;
  /** A request after quiet spells of 1 ms to 5 s, and the prober's prototype (bench/gap-curve.ts). */
  quietSpells?: QuietSpells;
  quick: boolean;
}

const f = (n: number, d = 2): string => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');
const ratio = (a: number, b: number): string => (b > 0 && Number.isFinite(a) ? `${(a / b).toFixed(2)}×` : 'n/a');
/** MiB (what /proc reports, in KiB) to MB (the unit of the target). */
const mb = (mib: number): number => (mib * 1048576) / 1e6;

function versions(): Record<string, string> {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const env = readFileSync(path.join(ROOT, 'scripts/versions.env'), 'utf8');
  const get = (k: string): string => new RegExp(`^${k}=(\\S+)`, 'm').exec(env)?.[1] ?? '?';
  return {
    'llm-authz': pkg.version,
    Envoy: get('ENVOY_VERSION'),
    'OPA-Envoy': get('OPA_ENVOY_VERSION'),
    [AUTHORINO]: get('AUTHORINO_VERSION'),
    h2load: `nghttp2-client ${get('NGHTTP2_CLIENT_DEB')}`,
    vegeta: get('VEGETA_VERSION'),
  };
}

export async function writeReport(r: BenchResults): Promise<void> {
  const plots = path.join(ROOT, 'bench', 'plots');
  mkdirSync(plots, { recursive: true });
  execFileSync(path.join(TOOLS_DIR, 'plot-venv', 'bin', 'python'), [path.join(ROOT, 'bench', 'plot.py'), path.join(ROOT, 'bench', 'results', 'latest.json'), plots], {
    stdio: 'inherit',
  });

  const floor = r.check['floor'];
  const ours = r.check['llm-authz'];
  const opa = r.check[OPA_ENVOY];
  const authorino = r.check[AUTHORINO];
  const at1k = r.envoy.find((p) => p.rate === 1000);
  const oneMb = r.bodySizes.find((b) => b.size === 1024 * 1024);
  const rss = ours?.rssMiB ?? Number.NaN;
  const noFlags = r.check[NO_NODE_FLAGS];
  const limited = r.check[MANIFEST_LIMITED];
  const limitedCgroup = r.memoryLimits?.[MANIFEST_LIMITED];
  const addedP50 = at1k ? at1k.results['llm-authz'].p50 - at1k.results.off.p50 : Number.NaN;
  const addedP99 = at1k ? at1k.results['llm-authz'].p99 - at1k.results.off.p99 : Number.NaN;
  const v = versions();
  const lines: string[] = [];
  const w = (s = ''): void => {
    lines.push(s);
  };
  w('# Benchmarks');
  w();
  w('Generated by `npm run bench` (bench/run.ts); do not edit by hand. Raw figures: `bench/results/latest.json`.');
  if (r.quick) w('\n**This is a BENCH_QUICK smoke run: durations are too short for the figures to mean anything.**');
  w();
  w('## Machine and versions');
  w();
  w(
    `${r.machine['cpus']}, ${r.machine['memory']}, ${r.machine['os']}, Node ${r.machine['node']}. ${Object.entries(v)
      .map(([k, x]) => `${k} ${x}`)
      .join(', ')}. Run took ${r.machine['minutes']} min.`,
  );
  w();
  w('## Method');
  w();
  w(
    '- All ext_authz servers get the same pre-encoded `CheckRequest` (a 2 KB OpenAI chat-completion body, a JWT bearer token in `authorization`; the "(API key)" rows use an llm-authz API key instead), sent as a raw gRPC frame. Maximum throughput: h2load, closed loop (one thread, 4 connections × 16 streams). Fixed rates: vegeta over HTTP/2 (h2c), open loop, requests evenly spaced (h2load\'s `--rps` fires a timer at most every 10 ms and sends the requests due in a burst, which inflates latency at a rate). Each server is checked to *allow* that request before it is measured.',
  );
  w('- **floor**: a no-op grpc-js server on the same protos (`bench/floor.ts`) that allows everything: the cost of grpc-js + proto decoding alone.');
  w(
    "- **llm-authz**: the built CLI, `serve` with the representative config of `bench/setup.ts`: JWT (RS256, inline JWKS; verified once, then served from the verified-token cache) and API-key identities, a 20-rule CEL policy set (10 deny guards, 10 per-workload allows; every rule is evaluated), request parsing, credential injection, one span per Check exported over OTLP/gRPC to a local sink (`bench/otlp-sink.ts`), a decision-log line per Check to a file. Node runs with the image's flags (`deploy/Dockerfile`'s ENTRYPOINT) in every llm-authz row of this page unless the row says otherwise: " +
      `${flags(IMAGE_NODE_FLAGS)}.`,
  );
  w(
    `- **${NO_NODE_FLAGS}**: the same llm-authz with Node's defaults (as \`npx llm-authz serve\` runs); maximum throughput and the tail target's rates. By default V8 grows the young generation up to 2 × 64 MiB on this 24 GiB machine.`,
  );
  w(
    `- **${TARGET_LIMITED}** and **${MANIFEST_LIMITED}**: the same llm-authz in a memory cgroup, as in a pod, with the footprint target's limit and with the limit \`deploy/kubernetes/deployment/deployment.yaml\` and the injected sidecar (\`src/inject/sidecars.ts\`) set, with the flags the injected sidecar and the manifests run Node with for that limit (${flags(AUTHZ_NODE_FLAGS)}, \`src/inject/sidecars.ts\`). Maximum throughput only; the cgroup's OOM kills are counted.`,
  );
  w(
    '- **OPA-Envoy**: the same identity checks (`io.jwt.decode_verify`, API key by id and `crypto.sha256`) and the same 20 conditions in Rego (`bench/setup.ts`), with route and credential headers; decision logs off.',
  );
  w(`- **${AUTHORINO}**: ${AUTHORINO_METHOD}. What it cannot express: ${AUTHORINO_GAPS.join('; ')}.`);
  w(
    `- Through Envoy: the same HTTP/1.1 request (vegeta, evenly spaced) to Envoys (concurrency 1, tracing on) that differ only in ext_authz: disabled on the virtual host (**off**), pointed at the floor answering with the routing header (**floor**), pointed at llm-authz, pointed at ${OPA_ENVOY} (the policy above; its Envoy has no gRPC health check on the ext_authz cluster: ${OPA_ENVOY} has no health service), and pointed at ${AUTHORINO} (its Envoy sends the body as a string, \`pack_as_bytes: false\`). "floor − off" is what any gRPC ext_authz hop costs on this machine; "llm-authz − off" is what llm-authz adds (the target). Before the runs, each Envoy whose server decides is checked to be decided by it: a request without the client's routing header reaches the provider with the provider credential in place of the client's token, and a request with a forged JWT is denied by ext_authz and reaches no provider.`,
  );
  w(
    '- 2 cores are shared by the load generator, the server under test (and Envoy, the OTLP sink and the mock provider in the Envoy runs). CPU per 1k checks and RSS are read from /proc. Requests that arrive one at a time cost more CPU each than the back-to-back requests of the maximum-throughput run (no batching of reads, writes and event-loop turns): compare CPU per 1k checks within a table.',
  );
  w();
  w('## 1. Check throughput and latency (direct gRPC)');
  w();
  w('The servers take turns, round after round; each row is the median round (by req/s), and "rounds" lists the req/s of every round.');
  w();
  w('| server | req/s (max) | rounds | p50 ms | p90 ms | p99 ms | max ms | errors | CPU ms / 1k checks | RSS MiB | RSS idle MiB |');
  w('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const [name, m] of Object.entries(r.check)) {
    const idle = r.idleRssMiB[name.replace(/ \(API key\)$/, '')] ?? Number.NaN;
    w(
      `| ${name} | ${f(m.rps, 0)} | ${(m.rounds ?? []).join(', ')} | ${f(m.p50)} | ${f(m.p90)} | ${f(m.p99)} | ${f(m.max)} | ${m.errors} | ${f(m.cpuMsPer1k, 0)} | ${f(m.rssMiB, 0)} | ${f(idle, 0)} |`,
    );
  }
  w();
  w(
    '"RSS MiB" is read at the end of the median round, under load; "RSS idle" after start and one Check. The Node binary\'s mapped code alone is about 58 MiB of any Node server\'s RSS.',
  );
  // A memory-limited row keeps the rounds that ran before an OOM kill stopped its load.
  for (const [name, why] of Object.entries(r.notMeasured ?? {}))
    w(r.check[name] ? `\n${name}: ${why}; its row holds the rounds before that.` : `\n${name}: not measured on this machine (${why}).`);
  w();
  if (floor && ours && opa)
    w(
      `llm-authz reaches **${ratio(ours.rps, floor.rps)}** of the floor's throughput, **${ratio(ours.rps, opa.rps)}** OPA-Envoy's${authorino ? ` and **${ratio(ours.rps, authorino.rps)}** ${AUTHORINO}'s` : ''}.`,
    );
  w();
  w(
    "Fixed rates (achieved rate, latency in ms). At the tail target's rates the servers take turns for several rounds (the order reversed every other round); the row is each server's median round by p99, and \"p99 of the rounds\" lists every round's. \"load / steal\" is the machine's 1-minute load average at the end of the row's window and the share of CPU time the hypervisor took from this VM during it.",
  );
  w();
  w('| server | target/s | achieved/s | p50 | p90 | p99 | p99 of the rounds | max | errors | CPU ms / 1k checks | load / steal |');
  w('|---|---|---|---|---|---|---|---|---|---|---|');
  const noise = (m: { load1?: number; stealPct?: number }): string => (m.load1 === undefined ? '' : `${f(m.load1)} / ${f(m.stealPct ?? Number.NaN, 1)}%`);
  for (const [name, pts] of Object.entries(r.rates))
    for (const p of pts)
      w(
        `| ${name} | ${p.rate} | ${f(p.rps, 0)} | ${f(p.p50)} | ${f(p.p90)} | ${f(p.p99)} | ${(p.p99Rounds ?? []).map((x) => f(x)).join(', ')} | ${f(p.max)} | ${p.errors} | ${f(p.cpuMsPer1k, 0)} | ${noise(p)} |`,
      );
  w();
  w('![latency vs rate](bench/plots/latency-vs-rate.png)');
  w();
  w('## 2. Through the real Envoy');
  w();
  // Runs before the outcome records had their row render as they did then.
  const withOutcomes = r.envoy.some((p) => p.results[OUTCOMES_VARIANT] !== undefined);
  const variants: readonly EnvoyVariant[] = withOutcomes ? ENVOY_VARIANTS : ENVOY_VARIANTS.filter((v) => v !== OUTCOMES_VARIANT);
  w('Latency in ms at the client (vegeta); "added" = minus the ext_authz-off latency at the same rate.');
  if (withOutcomes)
    w(
      `The ${OUTCOMES_VARIANT} row is llm-authz with Envoy's ext_proc filter on (outcome records: every response streamed to llm-authz, observability mode); the other rows have it off. "llm-authz CPU" is llm-authz's CPU time per 1,000 requests during that run.`,
    );
  w();
  w(
    withOutcomes
      ? '| rate/s | ext_authz | p50 | p90 | p99 | max | added p50 | added p99 | errors | ext_authz server CPU ms / 1k requests |'
      : '| rate/s | ext_authz | p50 | p90 | p99 | max | added p50 | added p99 | errors |',
  );
  w(withOutcomes ? '|---|---|---|---|---|---|---|---|---|---|' : '|---|---|---|---|---|---|---|---|---|');
  for (const p of r.envoy) {
    const off = p.results.off;
    for (const v of variants) {
      const x = p.results[v];
      if (x === undefined) continue;
      const added = (a: number, b: number): string => (v === 'off' ? '' : v === 'llm-authz' ? `**${f(a - b)}**` : f(a - b));
      const cpu = withOutcomes ? ` ${p.authzCpuMsPer1k?.[v] !== undefined ? f(p.authzCpuMsPer1k[v] ?? Number.NaN, 0) : ''} |` : '';
      w(`| ${p.rate} | ${v} | ${f(x.p50)} | ${f(x.p90)} | ${f(x.p99)} | ${f(x.max)} | ${added(x.p50, off.p50)} | ${added(x.p99, off.p99)} | ${x.errors} |${cpu}`);
    }
    for (const [name, x] of Object.entries(p.peers ?? {})) {
      const cpu = withOutcomes ? ` ${f(p.peerCpuMsPer1k?.[name] ?? Number.NaN, 0)} |` : '';
      w(`| ${p.rate} | ${name} | ${f(x.p50)} | ${f(x.p90)} | ${f(x.p99)} | ${f(x.max)} | ${f(x.p50 - off.p50)} | ${f(x.p99 - off.p99)} | ${x.errors} |${cpu}`);
    }
  }
  w();
  const roundRows = r.envoy.flatMap((p) =>
    p.p99Rounds === undefined
      ? []
      : [
          `at ${p.rate}/s ${Object.entries(p.p99Rounds)
            .map(([name, xs]) => `${name} ${xs.map((x) => f(x)).join(' / ')}`)
            .join(
              ', ',
            )}${p.noise && p.noise.length > 0 ? ` (load ${f(Math.min(...p.noise.map((n) => n.load1)))}–${f(Math.max(...p.noise.map((n) => n.load1)))}, steal ${f(Math.min(...p.noise.map((n) => n.stealPct)), 1)}–${f(Math.max(...p.noise.map((n) => n.stealPct)), 1)}%)` : ''}`,
        ],
  );
  if (roundRows.length > 0) {
    w(
      `Each row above is the median round by p99 of the rounds in which the Envoys took turns (the order reversed every other round). p99 at the client in every round: ${roundRows.join('; ')}.`,
    );
    w();
  }
  if (withOutcomes) {
    const rows = r.envoy.flatMap((p) => {
      const on = p.results[OUTCOMES_VARIANT];
      const cpuOn = p.authzCpuMsPer1k?.[OUTCOMES_VARIANT];
      const cpuOff = p.authzCpuMsPer1k?.['llm-authz'];
      if (on === undefined) return [];
      const streams = p.outcomeStreams
        ? ` (ext_proc streams: ${p.outcomeStreams.started} for ${on.requests} requests, ${p.outcomeStreams.failed} failed, ${p.outcomeStreams.overflow} skipped by the circuit breaker)`
        : '';
      return [
        `at ${p.rate}/s ${f(on.p50 - p.results['llm-authz'].p50)} ms p50 and ${f(on.p99 - p.results['llm-authz'].p99)} ms p99 at the client, ${f(cpuOn ?? Number.NaN, 0)} instead of ${f(cpuOff ?? Number.NaN, 0)} CPU ms per 1k requests in llm-authz${streams}`,
      ];
    });
    w(`Outcome records (ext_proc on minus off): ${rows.join('; ')}.`);
    w();
  }
  const failed = r.envoy.flatMap((p) =>
    variants
      .filter((v) => p.results[v]?.failures !== undefined)
      .map(
        (v) =>
          `${p.rate}/s ${v}: ${Object.entries(p.results[v]?.failures ?? {})
            .map(([k, n]) => `${k} × ${n}`)
            .join(', ')}`,
      ),
  );
  if (failed.length > 0) {
    w(`Errors (what vegeta got instead of 200): ${failed.join('; ')}.`);
    w();
  }
  for (const l of udsSection(r.uds ?? [])) w(l);
  w('## 3. Scaling');
  w();
  w('Body size (one connection, one request at a time):');
  w();
  w('| body | req/s | p50 ms | p99 ms | CPU ms / 1k checks |');
  w('|---|---|---|---|---|');
  for (const b of r.bodySizes)
    w(`| ${b.size >= 1048576 ? `${b.size / 1048576} MB` : `${b.size / 1024} KB`} | ${f(b.rps, 0)} | ${f(b.p50)} | ${f(b.p99)} | ${f(b.cpuMsPer1k, 0)} |`);
  w();
  w('![cost vs body size](bench/plots/cost-vs-body-size.png)');
  w();
  w('Number of policy rules (N-1 deny guards that do not match and one allow; every rule is evaluated; 4 connections × 16 streams):');
  w();
  w('| rules | req/s | p50 ms | p99 ms | CPU ms / 1k checks |');
  w('|---|---|---|---|---|');
  for (const p of r.rules) w(`| ${p.n} | ${f(p.rps, 0)} | ${f(p.p50)} | ${f(p.p99)} | ${f(p.cpuMsPer1k, 0)} |`);
  w();
  w('![cost vs rules](bench/plots/cost-vs-rules.png)');
  w();
  w(
    'Distinct identities (N ES256 JWTs for N workloads, cycled by a grpc-js load loop in the harness process, 32 in flight; the verified-token cache holds 10,000 tokens, so beyond that every Check verifies a signature). This load generator shares the machine with the server: compare these points with each other, not with the h2load tables.',
  );
  w();
  w('| identities | req/s | p50 ms | p99 ms | CPU ms / 1k checks | RSS MiB |');
  w('|---|---|---|---|---|---|');
  for (const p of r.identities) w(`| ${p.n} | ${f(p.rps, 0)} | ${f(p.p50)} | ${f(p.p99)} | ${f(p.cpuMsPer1k, 0)} | ${f(p.rssMiB, 0)} |`);
  w();
  for (const l of quietSpellSection(r.quietSpells)) w(l);
  w('## Targets and where llm-authz stands');
  w();
  w('| target | measured | met |');
  w('|---|---|---|');
  const row = (t: string, m: string, ok: boolean | undefined): void => w(`| ${t} | ${m} | ${ok === undefined ? 'n/a' : ok ? 'yes' : '**no**'} |`);
  row("full pipeline ≥ 75% of the floor's throughput", floor && ours ? ratio(ours.rps, floor.rps) : 'n/a', floor && ours ? ours.rps >= 0.75 * floor.rps : undefined);
  row("≥ 1.5× OPA-Envoy's throughput", opa && ours ? ratio(ours.rps, opa.rps) : 'n/a', opa && ours ? ours.rps >= 1.5 * opa.rps : undefined);
  row(`≥ 1.5× ${AUTHORINO}'s throughput`, authorino && ours ? ratio(ours.rps, authorino.rps) : 'n/a', authorino && ours ? ours.rps >= 1.5 * authorino.rps : undefined);
  row('through Envoy, authz-added p50 ≤ 0.3 ms at 1k rps', `${f(addedP50)} ms`, Number.isFinite(addedP50) ? addedP50 <= 0.3 : undefined);
  row('through Envoy, authz-added p99 ≤ 1.5 ms at 1k rps', `${f(addedP99)} ms`, Number.isFinite(addedP99) ? addedP99 <= 1.5 : undefined);
  row('1 MB body ≤ 3 ms p50', oneMb ? `${f(oneMb.p50)} ms` : 'n/a', oneMb ? oneMb.p50 <= 3 : undefined);
  row(
    'RSS ≤ 150 MB under load',
    `${f(mb(rss), 0)} MB (${f(rss, 0)} MiB) without a memory limit${limited ? `; ${f(mb(limited.rssMiB), 0)} MB (${f(limited.rssMiB, 0)} MiB) under the Kubernetes manifest's ${MANIFEST_MEMORY_LIMIT_MIB} MiB limit` : ''}`,
    Number.isFinite(rss) ? mb(rss) <= 150 && (limited === undefined || mb(limited.rssMiB) <= 150) : undefined,
  );
  w();
  if (at1k) {
    w(
      `For scale, on this machine: the no-op floor behind the same Envoy adds ${f(at1k.results.floor.p50 - at1k.results.off.p50)} ms p50 and ${f(at1k.results.floor.p99 - at1k.results.off.p99)} ms p99 at 1k rps; the floor's own RSS under load is ${f(floor?.rssMiB ?? Number.NaN, 0)} MiB.${at1k.peers?.[OPA_ENVOY] ? ` ${OPA_ENVOY} behind the same Envoy adds ${f(at1k.peers[OPA_ENVOY].p50 - at1k.results.off.p50)} ms p50 and ${f(at1k.peers[OPA_ENVOY].p99 - at1k.results.off.p99)} ms p99 at 1k rps.` : ''}${at1k.peers?.[AUTHORINO] ? ` ${AUTHORINO} behind the same Envoy adds ${f(at1k.peers[AUTHORINO].p50 - at1k.results.off.p50)} ms p50 and ${f(at1k.peers[AUTHORINO].p99 - at1k.results.off.p99)} ms p99 at 1k rps.` : ''}`,
    );
    w();
  }
  if (noFlags) {
    w(
      `RSS: llm-authz starts at ${f(r.idleRssMiB['llm-authz'] ?? Number.NaN, 0)} MiB idle (the floor at ${f(r.idleRssMiB['floor'] ?? Number.NaN, 0)} MiB) and stays at ${f(rss, 0)} MiB under maximum load, at ${f(ours?.cpuMsPer1k ?? Number.NaN, 0)} CPU ms per 1k checks; with Node's defaults (no flags) it starts at ${f(r.idleRssMiB[NO_NODE_FLAGS] ?? Number.NaN, 0)} MiB and reaches ${f(noFlags.rssMiB, 0)} MiB, at ${f(noFlags.cpuMsPer1k, 0)} CPU ms per 1k checks.${limited ? ` Under the manifest's ${MANIFEST_MEMORY_LIMIT_MIB} MiB memory limit: ${f(limited.rssMiB, 0)} MiB at ${f(limited.cpuMsPer1k, 0)} CPU ms per 1k checks and ${f(limited.rps, 0)} req/s${limitedCgroup ? `; the cgroup's peak charge was ${f(limitedCgroup.peakMiB, 0)} MiB of ${limitedCgroup.limitMiB}, with ${limitedCgroup.oomKills} OOM kills` : ''}.` : ''}`,
    );
    w();
  }
  w('## Footprint and tail targets');
  w();
  w(
    `Each computed from this run's results (\`bench/targets.ts\`). Tail rates: direct gRPC, paced by vegeta (section 1). Through Envoy: "added" is minus the ext_authz-off latency at the same rate (section 2); a server saturates at a rate when more than 1% of its requests fail (a Check slower than ext_authz's 1 s timeout is a 503), when its successful answers come back at less than 95% of the rate (vegeta's throughput, counting the wait for the last answers: its queue grew), or when vegeta sends at less than 95% of it. CPU: the maximum-throughput runs of section 1. Idle RSS: after start and the pre-load Checks. Memory cgroup: the **${TARGET_LIMITED}** row of section 1. Allocation: \`bench/alloc.ts\` (V8 heap bytes between GCs, an idle window's rate subtracted), ${r.alloc?.checks ?? 'n/a'} Checks by h2load after ${r.quick ? 'a short' : 'a'} warm-up. Cold: \`bench/cold.ts\` (the dev stack: Envoy with tracing and ext_authz to llm-authz with this config, a keep-alive client), the first request after start and one after ${r.cold?.idleSeconds ?? 'n/a'} s without any, against the median of warm ones.`,
  );
  w();
  w('| target | measured | met |');
  w('|---|---|---|');
  for (const t of footprintTargets(r)) row(t.target, t.measured, t.met);
  w();
  writeFileSync(path.join(ROOT, 'BENCHMARKS.md'), `${lines.join('\n')}\n`);
}
