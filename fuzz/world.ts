/**
 * The world the fuzzer checks llm-authz in: six providers (Bedrock signed with an AWS key, Vertex
 * AI with tokens minted at a local token endpoint), two scoped API keys (one narrow, one
 * broad), a revoked and an expired key in a key store, Envoy-verified JWT claims of one trusted
 * issuer, one SPIFFE trust domain; two runtimes built from it, one with CEL policies (one of which
 * tries to widen a scope by routing) and one with the built-in rule.
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseConfigText } from '../src/config/load.ts';
import { hashApiKey } from '../src/identity/api-key.ts';
import { buildRuntime, type Runtime } from '../src/pipeline/runtime.ts';
import { testServiceAccount, tokenIssuer } from '../devstack/mock-google-token.ts';

/** What a key may do, as the fuzzer's own oracle reads it (independent of src/policy). */
export interface KeyScope {
  readonly id: string;
  readonly key: string;
  readonly models: readonly string[];
  readonly providers?: readonly string[];
  readonly tools?: readonly string[];
  readonly maxTokens?: number;
}

export const NARROW: KeyScope = {
  id: 'fuzzA0001',
  key: 'lla_fuzzA0001_nArrOwScopedKeyForTheFuzzer00001',
  models: ['gpt-4o-mini', 'claude-3-5-*', 'gemini-2.5-flash', 'anthropic.claude-3-5-*', 'arn:aws:bedrock:*:inference-profile/us.anthropic.claude-3-5-*'],
  providers: ['openai', 'anthropic', 'gemini', 'bedrock', 'vertex-ai'],
  tools: ['search_*', 'calc'],
  maxTokens: 500,
};

export const BROAD: KeyScope = {
  id: 'fuzzB0001',
  key: 'lla_fuzzB0001_bRoAdScopedKeyForTheFuzzer000001',
  models: ['*'],
  providers: ['openai', 'azure-openai'],
};

export const REVOKED_KEY = 'lla_fuzzR0001_rEvOkEdKeyForTheFuzzer000000001';
export const EXPIRED_KEY = 'lla_fuzzE0001_eXpIrEdKeyForTheFuzzer000000001';
/** A well-formed key of a known id with the wrong secret. */
export const WRONG_SECRET_KEY = 'lla_fuzzA0001_wrongSecretForTheNarrowKey000001';

export const PROVIDER_KEYS = {
  openai: 'sk-fuzz-openai-provider-key-0001',
  anthropic: 'sk-ant-fuzz-anthropic-provider-key-0001',
  gemini: 'fuzz-gemini-provider-key-0001',
  azure: 'fuzz-azure-provider-key-0001',
  awsSecret: 'fuzzAwsSecretAccessKey0000000000000000001',
} as const;

export const ENVOY_ISSUER = 'https://envoy-verified.fuzz.test';
export const TRUST_DOMAIN = 'fuzz.test';
export const ROUTING_HEADER = 'x-llm-authz-route';

export interface World {
  readonly withPolicies: Runtime;
  readonly builtIn: Runtime;
  close(): Promise<void>;
}

function config(dir: string, policies: boolean, serviceAccountFile: string): string {
  return `providers:
  - {name: openai, api: openai, credential: {env: FUZZ_OPENAI_KEY}}
  - {name: anthropic, api: anthropic, credential: {env: FUZZ_ANTHROPIC_KEY}}
  - {name: gemini, api: gemini, credential: {env: FUZZ_GEMINI_KEY}}
  - {name: azure-openai, api: azure-openai, credential: {env: FUZZ_AZURE_KEY}}
  - {name: openai-other, api: openai, models: ["o-other-*"], credential: {env: FUZZ_OPENAI_KEY}}
  - {name: bedrock, api: bedrock, region: us-east-1, credential: {aws: {access_key_id: {env: FUZZ_AWS_KEY_ID}, secret_access_key: {env: FUZZ_AWS_SECRET}}}}
  - {name: vertex-ai, api: vertex-ai, credential: {service_account: {file: ${serviceAccountFile}}}}
identity:
  api_keys:
    - {id: ${NARROW.id}, hash: "${hashApiKey(NARROW.key)}", workload: wl-narrow, models: ${JSON.stringify(NARROW.models)}, providers: ${JSON.stringify(NARROW.providers)}, tools: ${JSON.stringify(NARROW.tools)}, max_tokens: ${NARROW.maxTokens}}
    - {id: ${BROAD.id}, hash: "${hashApiKey(BROAD.key)}", workload: wl-broad, models: ${JSON.stringify(BROAD.models)}, providers: ${JSON.stringify(BROAD.providers)}}
  key_store: {file: ${path.join(dir, 'keys.json')}, reload_interval_ms: 600000}
  envoy_jwt:
    issuers: [{issuer: "${ENVOY_ISSUER}"}]
  spiffe: {trust_domains: [${TRUST_DOMAIN}]}
${policies ? `policy: {dir: ${path.join(dir, 'policies')}, watch: false}\n` : ''}decision_log: {sink: "off"}
server: {check_timeout_ms: 10000}
`;
}

/** Builds the world in a temporary folder (removed by close()), with a local token endpoint for Vertex AI. */
export async function createWorld(): Promise<World> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'llm-authz-fuzz-'));
  const account = testServiceAccount('fuzz@fuzz-project.iam.gserviceaccount.com');
  const issuer = tokenIssuer(account);
  const tokens = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void issuer.token(Buffer.concat(chunks).toString('utf8')).then(([status, body]) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(body);
      });
    });
  });
  await new Promise<void>((resolve) => tokens.listen(0, '127.0.0.1', resolve));
  const serviceAccountFile = path.join(dir, 'service-account.json');
  writeFileSync(serviceAccountFile, account.keyJson(`http://127.0.0.1:${(tokens.address() as AddressInfo).port}/token`), { mode: 0o600 });
  process.env['FUZZ_AWS_KEY_ID'] = 'AKIAFUZZ000000000001';
  process.env['FUZZ_AWS_SECRET'] = PROVIDER_KEYS.awsSecret;
  process.env['FUZZ_OPENAI_KEY'] = PROVIDER_KEYS.openai;
  process.env['FUZZ_ANTHROPIC_KEY'] = PROVIDER_KEYS.anthropic;
  process.env['FUZZ_GEMINI_KEY'] = PROVIDER_KEYS.gemini;
  process.env['FUZZ_AZURE_KEY'] = PROVIDER_KEYS.azure;
  const now = new Date().toISOString();
  writeFileSync(
    path.join(dir, 'keys.json'),
    JSON.stringify({
      version: 1,
      keys: [
        { id: 'fuzzR0001', hash: hashApiKey(REVOKED_KEY), workload: 'wl-revoked', models: ['*'], created_at: now, revoked: true },
        { id: 'fuzzE0001', hash: hashApiKey(EXPIRED_KEY), workload: 'wl-expired', models: ['*'], created_at: now, expires_at: '2020-01-01T00:00:00Z' },
      ],
    }),
  );
  mkdirSync(path.join(dir, 'policies'));
  writeFileSync(
    path.join(dir, 'policies', 'rules.yaml'),
    `rules:
  - id: route-everything-elsewhere
    description: tries to widen the narrow key by routing it to a provider outside its scope
    effect: allow
    when: identity.workload == "wl-narrow" && "x-fuzz-route" in request.headers && request.headers["x-fuzz-route"] == "other"
    obligations: {provider: openai-other}
  - id: identified
    effect: allow
    when: identity.workload != "" && llm.operation != "unknown"
  - id: unknown-paths-for-the-broad-key
    effect: allow
    when: identity.workload == "wl-broad" && llm.operation == "unknown"
  - id: no-streaming-for-the-broad-key
    effect: deny
    when: identity.workload == "wl-broad" && llm.stream
`,
  );
  const build = (policies: boolean): Runtime => {
    const file = path.join(dir, policies ? 'with-policies.yaml' : 'built-in.yaml');
    const text = config(dir, policies, serviceAccountFile);
    writeFileSync(file, text);
    return buildRuntime(parseConfigText(text, file), { source: file, version: policies ? 'fuzz-policies' : 'fuzz-built-in', baseDir: dir }, { watchPolicies: false });
  };
  const withPolicies = build(true);
  const builtIn = build(false);
  return {
    withPolicies,
    builtIn,
    async close() {
      await withPolicies.close();
      await builtIn.close();
      await new Promise((resolve) => tokens.close(resolve));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
