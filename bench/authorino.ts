/**
 * Authorino (Kuadrant's ext_authz server, Go) as the benchmarks' second peer.
 *
 * Authorino reads its configuration from a Kubernetes API server: a throwaway control plane
 * (devstack/kube.ts: etcd + kube-apiserver, no kubelet) gets Authorino's AuthConfig CRD, the
 * benchmark's AuthConfig and an API-key Secret, and Authorino runs as a plain process watching
 * that namespace. JWT identity needs OIDC discovery (Authorino has no static JWKS option): a
 * loopback discovery + JWKS server in the harness serves the benchmark's public key; Authorino
 * fetches it once, when it reconciles the AuthConfig.
 *
 * The AuthConfig is the closest equivalent of bench/setup.ts's llm-authz config (see
 * AUTHORINO_GAPS for what it cannot express). Authorino's CEL sees the request body only as a
 * string: the request fields are parsed from it with GJSON's @fromstr (one parse per Check, as an
 * identity extension), and the 20 conditions are one CEL predicate over the extended identity.
 */
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { startKube, type KubeControlPlane } from '../devstack/kube.ts';
import { freePort, waitFor } from '../devstack/ports.ts';
import { startChild } from '../devstack/process.ts';
import { TOOLS_DIR } from '../devstack/tools.ts';
import { createAuthzClient } from '../devstack/grpc-client.ts';
import type { AuthzUnderTest } from './servers.ts';
import { AUDIENCE, BENCH_KEY, BENCH_WORKLOAD, ISSUER, PROVIDER_KEY, WORKLOADS } from './setup.ts';

export const AUTHORINO = 'Authorino';
const NAMESPACE = 'llm-bench';
const API_KEY_LABEL = 'llm-bench/api-key';

/** How Authorino is set up (written into BENCHMARKS.md's method). */
export const AUTHORINO_METHOD =
  'Authorino (Kuadrant, Go), a plain process reading its AuthConfig from a local kube-apiserver (etcd + kube-apiserver, no kubelet, started by the harness): API-key identity from a labelled Secret, JWT identity through a local OIDC discovery + JWKS server (signature and expiry verified by Authorino), the request fields parsed from the body with GJSON (`request.body.@fromstr.model`, ...), the same 20 conditions (10 guards, 10 per-workload allows) and the issuer/audience check as one CEL predicate (Authorino re-serializes and re-parses its whole authorization JSON for every CEL evaluation: as 12 rules a Check cost about 10 ms of CPU here), and the route and credential headers and dynamic metadata in the success response; its default log level (two lines per Check to a file). It gets the same CheckRequest with the body in `body` (a string) instead of `raw_body`';

/** What llm-authz's benchmark setup does that this AuthConfig does not (written into BENCHMARKS.md). */
export const AUTHORINO_GAPS: readonly string[] = [
  "the body must reach Authorino as a string (`body`, Envoy's `pack_as_bytes: false`): it cannot read `raw_body` (bytes), and a body that is not valid UTF-8 is no valid protobuf string",
  'client credential headers (`x-api-key`, `api-key`, `x-goog-api-key`) cannot be removed (an AuthConfig adds headers, never removes them)',
  'no verified-token cache: every Check verifies the JWT signature (llm-authz verifies a token once and serves it from its cache; OPA-Envoy verifies every time too)',
  'a deny names no reason code (Authorino answers any failed rule with `Unauthorized`; llm-authz names the rule and its reason)',
  "the JWT issuer and audience are checked by a CEL predicate (Authorino's JWT verification checks neither)",
  'model and tool globs are matched as anchored regular expressions (CEL has no glob); the provider is fixed to `openai` (nothing in Authorino knows the provider APIs), as in the OPA-Envoy policy',
  "no spans: Authorino v0.20.0's OTLP tracing does not start (`unable to set trace provider: conflicting Schema URL` with `--tracing-service-endpoint`), so it exports none (llm-authz exports one per Check); its log has two lines per Check (request and decision), its equivalent of a decision log",
  'the request fields are parsed from the body by a GJSON path (model, max_tokens, stream, tool names), not by an LLM API parser: no per-API profiles, no input-size accounting other than the body size',
];

/** A CheckRequest as Authorino reads it: the body as a string (`body`), not bytes (`raw_body`). */
export function withStringBody(request: Record<string, unknown>): Record<string, unknown> {
  const attributes = request['attributes'] as { request: { http: Record<string, unknown> } } & Record<string, unknown>;
  const { raw_body: raw, ...http } = attributes.request.http;
  return {
    ...request,
    attributes: { ...attributes, request: { ...attributes.request, http: raw === undefined ? http : { ...http, body: Buffer.from(raw as Buffer).toString('utf8') } } },
  };
}

/** `*` to `.*`, everything else literal, anchored (llm-authz's globs, src/core/glob.ts). */
function globRegex(glob: string): string {
  return `^${glob
    .split('*')
    .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*')}$`;
}

const q = (s: string): string => JSON.stringify(s);

/**
 * The request fields the conditions use, parsed from the body by GJSON (one @fromstr each: a GJSON
 * multipath `{model,...}` would parse once, but Authorino reads braces as a string template). A
 * field the body lacks is null.
 */
const LLM_FIELDS = {
  model: { selector: 'request.body.@fromstr.model' },
  max_tokens: { selector: 'request.body.@fromstr.max_tokens' },
  stream: { selector: 'request.body.@fromstr.stream' },
  tools: { selector: 'request.body.@fromstr.tools.#.function.name' },
};

/**
 * The issuer/audience check, the 10 guards and the 10 per-workload allows, as ONE CEL predicate.
 * Authorino serializes the whole authorization JSON (request, body twice, identity) and parses it
 * again for every CEL evaluation: as one rule per guard (and the allows as one `any`), a Check cost
 * about 10 ms of CPU here, against under 1 ms as one predicate. Its denies carry no reason code
 * either way, so nothing is lost.
 */
function authorization(): Record<string, unknown> {
  const id = 'auth.identity';
  const conditions = [
    // The JWT checks Authorino's JWT verification leaves out (an API key's identity is trusted as it is).
    `(${id}.source == "api-key" || (${id}.iss == ${q(ISSUER)} && (type(${id}.aud) == string ? ${id}.aud == ${q(AUDIENCE)} : ${q(AUDIENCE)} in ${id}.aud)))`,
    `(!has(${id}.scopes.models) || ${id}.scopes.models.exists(p, ${id}.model.matches(p)))`,
    `(!has(${id}.scopes.providers) || "openai" in ${id}.scopes.providers)`,
    `(!has(${id}.scopes.tools) || ${id}.tools == null || ${id}.tools.all(t, ${id}.scopes.tools.exists(p, t.matches(p))))`,
    `(!has(${id}.scopes.max_tokens) || (${id}.max_tokens != null && ${id}.max_tokens <= ${id}.scopes.max_tokens))`,
    `(${id}.max_tokens == null || ${id}.max_tokens <= 4096.0)`,
    `(${id}.tools == null || !("shell_exec" in ${id}.tools))`,
    `!(${id}.stream == true && ${id}.workload.startsWith("spiffe://bench.example/ns/jobs/"))`,
    `!(${id}.model.startsWith("o1") && (has(${id}.email) ? ${id}.email : "") == "")`,
    'size(request.body) <= 4000000',
    `${id}.workload.startsWith("spiffe://bench.example/")`,
    `(${WORKLOADS.map((w) => `(${id}.workload == ${q(w.workload)} && ${id}.model in ${JSON.stringify(w.models)})`).join(' || ')})`,
  ];
  return { 'llm-policy': { patternMatching: { patterns: [{ predicate: conditions.join(' && ') }] } } };
}

function authConfig(issuerUrl: string): Record<string, unknown> {
  const bearer = { authorizationHeader: { prefix: 'Bearer' } };
  return {
    apiVersion: 'authorino.kuadrant.io/v1beta3',
    kind: 'AuthConfig',
    metadata: { name: 'llm-bench', namespace: NAMESPACE },
    spec: {
      // llm.local: the direct gRPC Checks; 127.0.0.1: through Envoy (Authorino drops the port).
      hosts: ['llm.local', '127.0.0.1'],
      authentication: {
        // An API key (a Secret) when the bearer token has llm-authz's key prefix, a JWT otherwise.
        'api-key': {
          when: [{ selector: 'request.headers.authorization', operator: 'matches', value: '^Bearer lla_' }],
          apiKey: { selector: { matchLabels: { [API_KEY_LABEL]: 'true' } } },
          credentials: bearer,
          overrides: {
            source: { value: 'api-key' },
            workload: { selector: 'auth.identity.metadata.annotations.workload' },
            scopes: { selector: 'auth.identity.metadata.annotations.scopes.@fromstr' },
            ...LLM_FIELDS,
          },
        },
        jwt: {
          when: [{ selector: 'request.headers.authorization', operator: 'matches', value: '^Bearer eyJ' }],
          jwt: { issuerUrl },
          credentials: bearer,
          overrides: {
            workload: { selector: 'auth.identity.sub' },
            source: { value: 'jwt' },
            scopes: { value: {} },
            ...LLM_FIELDS,
          },
        },
      },
      authorization: authorization(),
      response: {
        success: {
          // GJSON literals (`!"..."`): v0.20.0 renders a static `plain.value` as Go's print of the
          // raw object ("{[34 111 ...] <nil>}"), which routes nowhere.
          headers: {
            'x-llm-authz-route': { plain: { selector: `!${q('openai')}` } },
            authorization: { plain: { selector: `!${q(`Bearer ${PROVIDER_KEY}`)}` } },
          },
          dynamicMetadata: {
            llm: { json: { properties: { workload: { selector: 'auth.identity.workload' }, model: { selector: 'auth.identity.model' } } } },
          },
        },
      },
    },
  };
}

function apiKeySecret(): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: 'bench001',
      namespace: NAMESPACE,
      labels: { 'authorino.kuadrant.io/managed-by': 'authorino', [API_KEY_LABEL]: 'true' },
      annotations: { workload: BENCH_WORKLOAD, scopes: JSON.stringify({ models: ['gpt-4o*', 'gpt-4.1-mini'].map(globRegex), providers: ['openai'] }) },
    },
    stringData: { api_key: BENCH_KEY },
    type: 'Opaque',
  };
}

/** OIDC discovery and the JWK Set on loopback: what Authorino's JWT verification fetches. */
async function startOidcServer(jwk: Record<string, unknown>): Promise<{ issuer: string; close(): Promise<void> }> {
  let issuer = '';
  const server: Server = createServer((req, res) => {
    const p = (req.url ?? '').split('?')[0];
    const body =
      p === '/.well-known/openid-configuration'
        ? { issuer, jwks_uri: `${issuer}/jwks`, id_token_signing_alg_values_supported: ['RS256'], response_types_supported: ['id_token'], subject_types_supported: ['public'] }
        : p === '/jwks'
          ? { keys: [jwk] }
          : undefined;
    res.writeHead(body ? 200 : 404, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body ?? { error: 'not found' }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const addr = server.address();
  issuer = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  return {
    issuer,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface AuthorinoUnderTest extends AuthzUnderTest {
  /** The API server Authorino reads its configuration from (stopped with Authorino). */
  readonly kube: KubeControlPlane;
}

/** The outcome of one Check: its gRPC status code (0 = allowed) and, on a deny, the HTTP status Envoy would send. */
export async function checkStatus(port: number, request: unknown): Promise<{ code: number; http?: number }> {
  const client = createAuthzClient(`127.0.0.1:${port}`);
  try {
    const res = await client.check(request, { deadlineMs: 5000 });
    const code = (res['status'] as { code?: number } | undefined)?.code ?? 0;
    const http = (res['denied_response'] as { status?: { code?: unknown } } | undefined)?.status?.code;
    return { code, ...(typeof http === 'number' ? { http } : {}) };
  } finally {
    client.close();
  }
}

/**
 * Starts the control plane, applies the CRD, the Secret and the AuthConfig, starts Authorino and
 * waits until it allows `readyRequest` (the AuthConfig is reconciled and the OIDC keys fetched).
 */
export async function startAuthorino(o: {
  workDir: string;
  jwk: Record<string, unknown>;
  readyRequest: Record<string, unknown>;
  log: (m: string) => void;
}): Promise<AuthorinoUnderTest> {
  const dir = path.join(o.workDir, 'authorino');
  const kube = await startKube({ workDir: path.join(dir, 'kube') });
  const oidc = await startOidcServer(o.jwk);
  try {
    await kube.kubectl(['apply', '--server-side', '-k', path.join(TOOLS_DIR, 'authorino-crd')]);
    // `kubectl wait` fails at once while the new CRD has no conditions yet: poll for Established.
    await waitFor(
      'the AuthConfig CRD to be established',
      async () =>
        (await kube.kubectl(['get', 'crd', 'authconfigs.authorino.kuadrant.io', '-o', 'jsonpath={.status.conditions[?(@.type=="Established")].status}'])).trim() === 'True'
          ? true
          : undefined,
      60_000,
      200,
    );
    await kube.kubectl(['create', 'namespace', NAMESPACE]);
    await kube.kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [apiKeySecret(), authConfig(oidc.issuer)] }) });
  } catch (err) {
    await oidc.close();
    await kube.stop();
    throw err;
  }
  const port = await freePort();
  const logFile = path.join(dir, 'authorino.log');
  // Authorino writes its log (two lines per Check at the default level: the request and the
  // decision, its decision log) straight to a file, as llm-authz writes its decision log.
  const child = startChild(
    '/bin/sh',
    [
      '-c',
      'exec "$0" "$@" >>"$AUTHORINO_LOG" 2>&1',
      path.join(TOOLS_DIR, 'bin', 'authorino'),
      'server',
      `--watch-namespace=${NAMESPACE}`,
      `--ext-auth-grpc-port=${port}`,
      '--ext-auth-http-port=0',
      '--oidc-http-port=0',
      `--metrics-addr=127.0.0.1:${await freePort()}`,
      `--health-probe-addr=127.0.0.1:${await freePort()}`,
    ],
    { logFile: path.join(dir, 'authorino-start.log'), env: { ...process.env, KUBECONFIG: kube.kubeconfig, AUTHORINO_LOG: logFile } },
  );
  const stop = async (): Promise<void> => {
    await child.stop('SIGTERM', 5000);
    await oidc.close();
    await kube.stop();
  };
  try {
    await waitFor(
      'Authorino to allow the benchmark request (its AuthConfig reconciled)',
      async () => {
        if (child.proc.exitCode !== null) throw new Error(`Authorino exited (${child.proc.exitCode}); log: ${logFile}`);
        const r = await checkStatus(port, o.readyRequest).catch(() => undefined);
        return r?.code === 0 ? true : undefined;
      },
      60_000,
      250,
    );
  } catch (err) {
    const status = await kube.run(['get', 'authconfig', '-n', NAMESPACE, '-o', 'jsonpath={.items[*].status}']);
    await stop();
    throw new Error(`${err instanceof Error ? err.message : String(err)}; AuthConfig status: ${status.stdout || status.stderr}; log: ${logFile}`);
  }
  o.log(`${AUTHORINO}: serving on 127.0.0.1:${port} (AuthConfig reconciled)`);
  return { name: AUTHORINO, port, pid: child.proc.pid ?? -1, kube, shape: withStringBody, stop };
}
