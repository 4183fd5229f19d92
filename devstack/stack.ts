/**
 * The whole local stack on loopback: mock providers, llm-authz, and the real Envoy in front.
 * Used by the demo and by the end-to-end tests.
 */
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startAuthz, type AuthzProcess } from './authz.ts';
import { withAuthzReplicas } from './authz-replicas.ts';
import { renderEnvoyConfig, startEnvoy, type EnvoyPorts, type EnvoyProcess } from './envoy.ts';
import { testServiceAccount, tokenIssuer, type TokenIssuer } from './mock-google-token.ts';
import { startMockProvider, type MockAuth, type MockProvider } from './mock-provider.ts';
import { sigv4Problem, type AwsTestKeys } from './mock-sigv4.ts';
import { ROOT } from './tools.ts';

/** The region the mock Bedrock checks signatures for. */
export const MOCK_BEDROCK_REGION = 'us-east-1';

/** The quickstart's demo AWS access key (examples/quickstart/secrets), which the mock Bedrock checks signatures with. */
export function quickstartAwsKeys(): AwsTestKeys {
  const read = (name: string): string => readFileSync(path.join(ROOT, 'examples/quickstart/secrets', name), 'utf8').trim();
  return { accessKeyId: read('aws-access-key-id'), secretAccessKey: read('aws-secret-access-key') };
}

/** The mock Bedrock's check: a SigV4 signature with `keys`, or a Bedrock API key (bearer) when one is given. */
function bedrockAuth(keys: AwsTestKeys, apiKey: string | undefined): MockAuth {
  return {
    problem: (req) => {
      const auth = req.headers['authorization'];
      if (apiKey !== undefined && auth === `Bearer ${apiKey}`) return undefined;
      return sigv4Problem(req, keys, MOCK_BEDROCK_REGION, 'bedrock');
    },
  };
}

/** The mock Vertex AI's check: a bearer token its own token endpoint (`POST /token`) issued. */
function vertexAuth(issuer: TokenIssuer): MockAuth {
  return {
    own: { method: 'POST', path: '/token', answer: (body) => issuer.token(body) },
    problem: (req) => issuer.problem(typeof req.headers['authorization'] === 'string' ? req.headers['authorization'] : undefined),
  };
}

export interface Stack {
  readonly workDir: string;
  readonly openai: MockProvider;
  readonly anthropic: MockProvider;
  readonly gemini: MockProvider;
  readonly azureOpenai: MockProvider;
  /** Checks each request's SigV4 signature (or Bedrock API key). */
  readonly bedrock: MockProvider;
  /** Serves a token endpoint at `/token` and accepts only the tokens it issued. */
  readonly vertexAi: MockProvider;
  readonly vertexTokens: TokenIssuer;
  /** A service-account key file (in the work dir) whose token_uri is the mock Vertex AI's token endpoint. */
  readonly vertexServiceAccountFile: string;
  readonly authz: AuthzProcess;
  /** Every llm-authz replica behind Envoy (`authz` first). */
  readonly authzReplicas: readonly AuthzProcess[];
  readonly envoy: EnvoyProcess;
  /** Base URL applications use (Envoy's listener). */
  readonly url: string;
  readonly accessLog: string;
  /** Stops everything; removes the work dir unless keep is true. */
  stop(opts?: { keep?: boolean }): Promise<void>;
}

/** What a config written after the mocks started can point at. */
export interface StackMocks {
  readonly workDir: string;
  readonly vertexServiceAccountFile: string;
}

export interface StackOptions {
  /** llm-authz config file (or one written once the mocks run); absent = the built-in default config. */
  config?: string | ((mocks: StackMocks) => string);
  /** The AWS access key the mock Bedrock verifies signatures with (default: the quickstart's demo key). */
  bedrockKeys?: AwsTestKeys;
  /** A Bedrock API key the mock Bedrock also accepts (bearer). */
  bedrockApiKey?: string;
  env?: NodeJS.ProcessEnv;
  envoyTemplate?: string;
  /** llm-authz listens on a Unix domain socket in the work dir, and Envoy (envoy/gateway-uds.yaml) reaches it there. */
  unixSocket?: boolean;
  maxRequestBytes?: number;
  workDir?: string;
  /** Where Envoy sends its spans (OTLP/gRPC); default: a closed port (spans are dropped). */
  otlp?: { address: string; port: number };
  /**
   * The mock providers serve HTTPS with this certificate (for localhost), and Envoy reaches them
   * as `localhost`, trusting `ca` (for envoy/gateway-tls.yaml).
   */
  upstreamTls?: { cert: string; key: string; ca: string };
  /** llm-authz replicas behind Envoy, all with the same config (default 1). */
  replicas?: number;
  /** Node's own flags for llm-authz (default none). */
  authzNodeArgs?: readonly string[];
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const workDir = opts.workDir ?? mkdtempSync(path.join(os.tmpdir(), 'llm-authz-stack-'));
  mkdirSync(workDir, { recursive: true });
  const started: { stop: () => Promise<unknown> }[] = [];
  try {
    const openai = await startMockProvider('openai', '127.0.0.1', opts.upstreamTls);
    started.push({ stop: () => openai.close() });
    const anthropic = await startMockProvider('anthropic', '127.0.0.1', opts.upstreamTls);
    started.push({ stop: () => anthropic.close() });
    const gemini = await startMockProvider('gemini', '127.0.0.1', opts.upstreamTls);
    started.push({ stop: () => gemini.close() });
    const azureOpenai = await startMockProvider('azure-openai', '127.0.0.1', opts.upstreamTls);
    started.push({ stop: () => azureOpenai.close() });
    const bedrock = await startMockProvider('bedrock', '127.0.0.1', opts.upstreamTls, bedrockAuth(opts.bedrockKeys ?? quickstartAwsKeys(), opts.bedrockApiKey));
    started.push({ stop: () => bedrock.close() });
    const account = testServiceAccount();
    const vertexTokens = tokenIssuer(account);
    const vertexAi = await startMockProvider('vertex-ai', '127.0.0.1', opts.upstreamTls, vertexAuth(vertexTokens));
    started.push({ stop: () => vertexAi.close() });
    const vertexServiceAccountFile = path.join(workDir, 'vertex-service-account.json');
    writeFileSync(vertexServiceAccountFile, account.keyJson(`${vertexAi.url}/token`), { mode: 0o600 });
    const config = typeof opts.config === 'function' ? opts.config({ workDir, vertexServiceAccountFile }) : opts.config;
    const socket = opts.unixSocket ? path.join(workDir, 'authz.sock') : undefined;
    const authz = await startAuthz({
      ...(config !== undefined ? { config } : {}),
      ...(socket ? { listen: `unix:${socket}` } : {}),
      workDir,
      env: opts.env ?? {},
      nodeArgs: opts.authzNodeArgs ?? [],
    });
    started.push({ stop: () => authz.stop() });
    const authzReplicas = [authz];
    for (let i = 1; i < (opts.replicas ?? 1); i++) {
      const r = await startAuthz({ ...(config !== undefined ? { config } : {}), workDir, env: opts.env ?? {}, nodeArgs: opts.authzNodeArgs ?? [], name: `llm-authz-${i + 1}` });
      started.push({ stop: () => r.stop() });
      authzReplicas.push(r);
    }
    const accessLog = path.join(workDir, 'envoy-access.log');
    const providerAddress = opts.upstreamTls ? 'localhost' : '127.0.0.1';
    const configText = (ports: EnvoyPorts): string =>
      renderEnvoyConfig(opts.envoyTemplate ?? (socket ? 'envoy/gateway-uds.yaml' : 'envoy/gateway.yaml'), {
        ...(socket ? { AUTHZ_SOCKET: socket } : {}),
        ...(opts.upstreamTls ? { UPSTREAM_CA_PATH: opts.upstreamTls.ca } : {}),
        LISTEN_ADDRESS: '127.0.0.1',
        LISTEN_PORT: ports.listen,
        ADMIN_ADDRESS: '127.0.0.1',
        ADMIN_PORT: ports.admin,
        AUTHZ_ADDRESS: '127.0.0.1',
        AUTHZ_PORT: authz.port,
        OPENAI_ADDRESS: providerAddress,
        OPENAI_PORT: openai.port,
        ANTHROPIC_ADDRESS: providerAddress,
        ANTHROPIC_PORT: anthropic.port,
        GEMINI_ADDRESS: providerAddress,
        GEMINI_PORT: gemini.port,
        AZURE_OPENAI_ADDRESS: providerAddress,
        AZURE_OPENAI_PORT: azureOpenai.port,
        BEDROCK_ADDRESS: providerAddress,
        BEDROCK_PORT: bedrock.port,
        VERTEX_AI_ADDRESS: providerAddress,
        VERTEX_AI_PORT: vertexAi.port,
        MAX_REQUEST_BYTES: opts.maxRequestBytes ?? 1024 * 1024,
        ACCESS_LOG_PATH: accessLog,
        OTLP_ADDRESS: opts.otlp?.address ?? '127.0.0.1',
        OTLP_PORT: opts.otlp?.port ?? 9,
      });
    // The template batches Envoy's spans (every 256 spans or every second); a local stack sends
    // them at once, so a test finds them in Jaeger quickly.
    const flushNow = (text: string): string => {
      if (!opts.otlp) return text;
      const batched = ['tracing.opentelemetry.min_flush_spans: 256', 'tracing.opentelemetry.flush_interval_ms: 1000'];
      if (!batched.every((b) => text.includes(b))) throw new Error(`the Envoy template no longer sets ${batched.join(' and ')}`);
      return text.replace(batched[0]!, 'tracing.opentelemetry.min_flush_spans: 1').replace(batched[1]!, 'tracing.opentelemetry.flush_interval_ms: 200');
    };
    const replicated = (text: string): string =>
      withAuthzReplicas(
        text,
        '127.0.0.1',
        authzReplicas.map((r) => r.port),
      );
    const envoy = await startEnvoy({ render: (ports) => replicated(flushNow(configText(ports))), workDir });
    started.push({ stop: () => envoy.stop() });
    return {
      workDir,
      openai,
      anthropic,
      gemini,
      azureOpenai,
      bedrock,
      vertexAi,
      vertexTokens,
      vertexServiceAccountFile,
      authz,
      authzReplicas,
      envoy,
      url: `http://127.0.0.1:${envoy.ports.listen}`,
      accessLog,
      async stop(o = {}) {
        for (const s of started.reverse()) await s.stop().catch(() => undefined);
        if (!o.keep) rmSync(workDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    for (const s of started.reverse()) await s.stop().catch(() => undefined);
    throw new Error(`${err instanceof Error ? err.message : String(err)} (logs kept in ${workDir})`);
  }
}
