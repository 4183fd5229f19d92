/**
 * The benchmark's inputs: a representative llm-authz setup and an equivalent OPA-Envoy policy.
 *
 * llm-authz: JWT (RS256, inline JWKS, verified once then cached) and API-key identities, a
 * 20-rule CEL policy set, spans exported over OTLP/gRPC to a local sink, a decision-log line per
 * Check to a file. OPA-Envoy: the same identity checks and the same 20 conditions in Rego.
 * The request: an OpenAI chat completion with a 2 KB body, a JWT bearer token (or an API key).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { checkRequest, checkRequestFrame } from '../devstack/grpc-client.ts';
import { hashApiKey } from '../src/identity/api-key.ts';

export const BENCH_KEY = 'lla_bench001_benchbenchbenchbenchbenchbench01';
export const PROVIDER_KEY = 'sk-bench-provider-key';
export const ISSUER = 'https://issuer.bench.example';
export const AUDIENCE = 'llm-authz';
export const BENCH_WORKLOAD = 'spiffe://bench.example/ns/apps/sa/chat';
/** The final stage of deploy/Dockerfile: the image the benchmark's llm-authz runs as. */
function imageStage(dockerfile = readFileSync(path.join(import.meta.dirname, '..', 'deploy', 'Dockerfile'), 'utf8')): string {
  return dockerfile.split(/^FROM /m).at(-1) ?? '';
}

/**
 * The container image's environment (the `ENV` lines of deploy/Dockerfile's final stage, e.g.
 * MALLOC_ARENA_MAX), so that the built CLI runs here as it runs in the image.
 */
export function imageEnv(dockerfile?: string): Record<string, string> {
  return Object.fromEntries([...imageStage(dockerfile).matchAll(/^ENV\s+([A-Za-z_][A-Za-z0-9_]*)=(\S+)\s*$/gm)].map((m) => [m[1] ?? '', m[2] ?? '']));
}

/** Node's own flags in the image's ENTRYPOINT (`["node", FLAGS..., "bin/llm-authz.js"]`). */
export function imageNodeFlags(dockerfile?: string): string[] {
  const m = /^ENTRYPOINT (\[.*\])\s*$/m.exec(imageStage(dockerfile));
  const argv = m ? (JSON.parse(m[1] ?? '[]') as string[]) : [];
  const bin = argv.indexOf('bin/llm-authz.js');
  if (argv[0] !== 'node' || bin < 0) throw new Error('deploy/Dockerfile: the ENTRYPOINT is not ["node", ..., "bin/llm-authz.js"]');
  return argv.slice(1, bin);
}

/**
 * Requests the benchmarks' mock providers keep (they run inside the harness process): the last 100,
 * not the dev stack's 20,000, whose 2 KiB bodies kept by the thousand gave the harness's own garbage
 * collector work on both cores in the middle of the through-Envoy windows (bench/tail-envoy.ts).
 */
export const BENCH_PROVIDER_KEEP = { keep: 100 } as const;

export const BENCH_ENV: NodeJS.ProcessEnv = { ...imageEnv(), BENCH_OPENAI_KEY: PROVIDER_KEY };
/** How the benchmark runs llm-authz: with the image's Node flags. */
export const IMAGE_NODE_FLAGS: readonly string[] = imageNodeFlags();

export interface BenchFiles {
  readonly config: string;
  readonly opaPolicy: string;
  readonly opaData: string;
  /** A signed JWT for the bench workload (valid for two hours). */
  readonly jwt: string;
  /** The public key that verifies it, as a JWK (Authorino fetches it from a local OIDC discovery server). */
  readonly jwk: Record<string, unknown>;
}

/** The benchmark's CheckRequest (a 2 KB body, `bearer` in `authorization`) as one gRPC frame, written to `dir`/check.bin for h2load and vegeta; returns the file. */
export function writeBenchFrame(dir: string, bearer: string): string {
  const file = path.join(dir, 'check.bin');
  writeFileSync(file, checkRequestFrame(benchCheckRequest(2048, bearer)));
  return file;
}

/** A chat completion request whose body is about `bytes` long, with the given bearer credential. */
export function benchCheckRequest(bytes: number, bearer: string): Record<string, unknown> {
  const base = {
    model: 'gpt-4o-mini',
    max_tokens: 256,
    stream: false,
    messages: [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: '' },
    ],
  };
  const pad = Math.max(0, bytes - JSON.stringify(base).length);
  const body = JSON.stringify({ ...base, messages: [base.messages[0], { role: 'user', content: 'lorem ipsum '.repeat(Math.ceil(pad / 12)).slice(0, pad) }] });
  return checkRequest({
    headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json', 'x-request-id': 'bench-request' },
    body,
  });
}

/** The HTTP body (an OpenAI chat completion of about `bytes`) that benchCheckRequest carries: what a client sends through Envoy. */
export function benchRequestBody(bytes: number): Buffer {
  return (benchCheckRequest(bytes, '')['attributes'] as { request: { http: { raw_body: Buffer } } }).request.http.raw_body;
}

/** Ten workloads with their own model lists; the benchmark's workload is the last one matched. */
export const WORKLOADS = Array.from({ length: 10 }, (_, i) => ({
  workload: i === 9 ? BENCH_WORKLOAD : `spiffe://bench.example/ns/team${i}/sa/app`,
  models: i === 9 ? ['gpt-4o-mini', 'gpt-4.1-mini'] : [`model-${i}-a`, `model-${i}-b`],
}));

/** 20 CEL rules: 10 guards (deny) and 10 per-workload allows; every rule is evaluated per Check. */
function celRules(): string {
  const guards = [
    ['deny-model-scope', 'model_not_allowed', 'has(identity.scopes.models) && !llm.model.globAny(identity.scopes.models)'],
    ['deny-provider-scope', 'provider_not_allowed', 'has(identity.scopes.providers) && !(llm.provider in identity.scopes.providers)'],
    ['deny-tool-scope', 'tool_not_allowed', 'has(identity.scopes.tools) && llm.tools.exists(t, !t.globAny(identity.scopes.tools))'],
    ['deny-token-scope', 'max_tokens_exceeded', 'has(identity.scopes.max_tokens) && (!has(llm.max_tokens) || llm.max_tokens > identity.scopes.max_tokens)'],
    ['deny-big-output', 'max_tokens_exceeded', 'has(llm.max_tokens) && llm.max_tokens > 4096'],
    ['deny-shell-tool', 'denied_by_policy', '"shell_exec" in llm.tools'],
    ['deny-batch-stream', 'denied_by_policy', 'llm.stream && identity.workload.startsWith("spiffe://bench.example/ns/jobs/")'],
    ['deny-reasoning-without-user', 'denied_by_policy', 'llm.model.glob("o1*") && identity.user == ""'],
    ['deny-huge-input', 'denied_by_policy', 'llm.input_bytes > 4000000'],
    ['deny-foreign-domain', 'denied_by_policy', '!identity.workload.startsWith("spiffe://bench.example/")'],
  ];
  const lines = ['rules:'];
  for (const [id, reason, when] of guards) lines.push(`  - id: ${id}`, '    effect: deny', `    reason: ${reason}`, `    when: '${when}'`);
  WORKLOADS.forEach((w, i) => {
    lines.push(`  - id: allow-workload-${i}`, '    effect: allow', `    when: 'identity.workload == "${w.workload}" && llm.model in ${JSON.stringify(w.models)}'`);
  });
  return `${lines.join('\n')}\n`;
}

/** The same 20 conditions in Rego, over the same request (OPA-Envoy parses the JSON body). */
function regoPolicy(): string {
  return `package llmauthz

import rego.v1

default allow := {"allowed": false, "http_status": 403, "body": "{\\"error\\":{\\"code\\":\\"denied\\"}}"}

token := t if {
\tv := input.attributes.request.http.headers.authorization
\tstartswith(v, "Bearer ")
\tt := substring(v, 7, -1)
}

# Identity: an API key (by id, SHA-256 compared) or a JWT (RS256, issuer, audience, expiry).
api_key := k if {
\tstartswith(token, "lla_")
\tk := data.keys[split(token, "_")[1]]
\tcrypto.sha256(token) == k.hash
}

identity := {"workload": api_key.workload, "user": "", "scopes": api_key} if api_key

identity := {"workload": claims.sub, "user": object.get(claims, "email", ""), "scopes": {}} if {
\tnot startswith(token, "lla_")
\t[valid, _, claims] := io.jwt.decode_verify(token, {"cert": data.jwks, "iss": "${ISSUER}", "aud": "${AUDIENCE}", "time": time.now_ns()})
\tvalid
}

body := input.parsed_body
tools := [t.function.name | some t in object.get(body, "tools", [])]
max_tokens := object.get(body, "max_tokens", 0)

deny contains "model_not_allowed" if {
\tidentity.scopes.models
\tnot any_glob(identity.scopes.models, body.model)
}
deny contains "provider_not_allowed" if {
\tidentity.scopes.providers
\tnot "openai" in identity.scopes.providers
}
deny contains "tool_not_allowed" if {
\tidentity.scopes.tools
\tsome t in tools
\tnot any_glob(identity.scopes.tools, t)
}
deny contains "max_tokens_exceeded" if {
\tidentity.scopes.max_tokens
\tmax_tokens > identity.scopes.max_tokens
}
deny contains "max_tokens_exceeded" if max_tokens > 4096
deny contains "denied_by_policy" if "shell_exec" in tools
deny contains "denied_by_policy" if {
\tobject.get(body, "stream", false)
\tstartswith(identity.workload, "spiffe://bench.example/ns/jobs/")
}
deny contains "denied_by_policy" if {
\tglob.match("o1*", [], body.model)
\tnot identity.user
}
deny contains "denied_by_policy" if count(input.attributes.request.http.raw_body) > 4000000
deny contains "denied_by_policy" if not startswith(identity.workload, "spiffe://bench.example/")

any_glob(patterns, value) if {
\tsome p in patterns
\tglob.match(p, [], value)
}

allowed_workload if {
\tsome w in data.workloads
\tidentity.workload == w.workload
\tbody.model in w.models
}

allow := {
\t"allowed": true,
\t"headers": {"x-llm-authz-route": "openai", "authorization": concat(" ", ["Bearer", data.provider_key])},
\t"request_headers_to_remove": ["x-api-key", "api-key", "x-goog-api-key"],
\t"dynamic_metadata": {"workload": identity.workload, "model": body.model},
} if {
\tcount(deny) == 0
\tallowed_workload
}
`;
}

/** A copy of a benchmark config (next to it, `llm-authz-NAME.yaml`) with more keys in its server section. */
export function withServerKeys(config: string, name: string, keys: Readonly<Record<string, string | number | boolean>>): string {
  const text = readFileSync(config, 'utf8');
  if (!text.startsWith('server:\n')) throw new Error('the benchmark config no longer starts with its server section');
  const file = path.join(path.dirname(config), `llm-authz-${name}.yaml`);
  writeFileSync(
    file,
    text.replace(
      'server:\n',
      `server:\n${Object.entries(keys)
        .map(([k, v]) => `  ${k}: ${String(v)}\n`)
        .join('')}`,
    ),
  );
  return file;
}

/** A copy of a benchmark config with the start-up warm-up off (`server.warm_up: false`). */
export function withoutWarmUp(config: string): string {
  return withServerKeys(config, 'no-warm-up', { warm_up: false });
}

/** A copy of a benchmark config with the idle warm-up on (`server.keep_warm_ms`; off by default). */
export function withKeepWarm(config: string, ms = 15_000): string {
  return withServerKeys(config, 'keep-warm', { keep_warm_ms: ms });
}

/** Sets the span export's batch size and delay in a benchmark config, in place: `spec` is `SIZE,DELAY_MS`. */
export function setTraceBatch(config: string, spec: string): void {
  const [size, delay] = spec.split(',').map(Number);
  if (!Number.isInteger(size) || !Number.isInteger(delay)) throw new Error(`--trace-batch wants SIZE,DELAY_MS, got ${spec}`);
  const text = readFileSync(config, 'utf8');
  if (!text.includes('    protocol: grpc\n')) throw new Error('the benchmark config no longer has its traces section');
  writeFileSync(config, text.replace('    protocol: grpc\n', `    protocol: grpc\n    max_export_batch_size: ${size}\n    scheduled_delay_ms: ${delay}\n`));
}

export async function prepareBenchFiles(dir: string, otlpPort: number): Promise<BenchFiles> {
  const write = (name: string, text: string): string => {
    const file = path.join(dir, name);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, text);
    return file;
  };
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'bench-1', alg: 'RS256', use: 'sig' };
  const jwt = await new SignJWT({})
    .setProtectedHeader({ alg: 'RS256', kid: 'bench-1' })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject(BENCH_WORKLOAD)
    .setIssuedAt()
    .setExpirationTime('2h')
    .sign(privateKey);
  write('policies/rules.yaml', celRules());
  const config = write(
    'llm-authz.yaml',
    `server:
  check_timeout_ms: 2000
credentials:
  openai: { env: BENCH_OPENAI_KEY }
providers:
  - { name: openai, api: openai, credential: openai }
identity:
  api_keys:
    - id: bench001
      hash: ${hashApiKey(BENCH_KEY)}
      workload: ${BENCH_WORKLOAD}
      models: ["gpt-4o*", "gpt-4.1-mini"]
      providers: [openai]
  jwt:
    issuers:
      - issuer: ${ISSUER}
        audiences: [${AUDIENCE}]
        algorithms: [RS256]
        jwks:
          keys: [${JSON.stringify(jwk)}]
policy:
  dir: policies
telemetry:
  traces:
    protocol: grpc
    endpoint: http://127.0.0.1:${otlpPort}
decision_log:
  sink: ${path.join(dir, 'decisions.log')}
`,
  );
  return {
    config,
    jwt,
    jwk,
    opaPolicy: write('policy.rego', regoPolicy()),
    opaData: write(
      'data.json',
      JSON.stringify({
        keys: { bench001: { hash: hashApiKey(BENCH_KEY).slice('sha256:'.length), workload: BENCH_WORKLOAD, models: ['gpt-4o*', 'gpt-4.1-mini'], providers: ['openai'] } },
        jwks: JSON.stringify({ keys: [jwk] }),
        workloads: WORKLOADS,
        provider_key: PROVIDER_KEY,
      }),
    ),
  };
}
