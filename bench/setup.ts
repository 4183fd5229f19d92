/**
 * The benchmark's inputs: one representative request, the llm-authz config for it, and an
 * equivalent OPA-Envoy policy. Written into the run's work folder.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { checkRequest } from '../src/devstack/grpc-client.ts';
import { hashApiKey } from '../src/identity/api-key.ts';

export const BENCH_KEY = 'lla_bench001_benchbenchbenchbenchbenchbench01';
const PROVIDER_KEY = 'sk-bench-provider-key';
export const BENCH_CONFIG = 'llm-authz.yaml';
export const OPA_POLICY = 'policy.rego';
export const OPA_DATA = 'data.json';
export const BENCH_ENV: NodeJS.ProcessEnv = { BENCH_OPENAI_KEY: PROVIDER_KEY };

/** A chat completion request whose body is about `bytes` long. */
export function benchCheckRequest(bytes: number): Record<string, unknown> {
  const base = { model: 'gpt-4o-mini', max_tokens: 256, stream: false, messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: '' }] };
  const pad = Math.max(0, bytes - JSON.stringify(base).length);
  const body = JSON.stringify({ ...base, messages: [base.messages[0], { role: 'user', content: 'lorem ipsum '.repeat(Math.ceil(pad / 12)).slice(0, pad) }] });
  return checkRequest({
    headers: { authorization: `Bearer ${BENCH_KEY}`, 'content-type': 'application/json', 'x-request-id': 'bench-request' },
    body,
  });
}

const LLM_AUTHZ_YAML = `server:
  check_timeout_ms: 2000
providers:
  - name: openai
    api: openai
    credential: { env: BENCH_OPENAI_KEY }
identity:
  api_keys:
    - id: bench001
      hash: ${hashApiKey(BENCH_KEY)}
      workload: spiffe://bench.example/ns/apps/sa/chat
      models: ["gpt-4o*", "o3-mini"]
      providers: [openai]
decision_log:
  sink: DECISION_LOG
`;

/** The same decision in Rego: a known key (by id, SHA-256 compared), a model in its list, then route and credential. */
const POLICY_REGO = `package llmauthz

import rego.v1

default allow := {"allowed": false, "http_status": 403, "body": "{\\"error\\":{\\"code\\":\\"denied\\"}}"}

token := t if {
\tv := input.attributes.request.http.headers.authorization
\tstartswith(v, "Bearer ")
\tt := substring(v, 7, -1)
}

key := data.keys[split(token, "_")[1]]

valid_key if crypto.sha256(token) == key.hash

allowed_model if {
\tsome m in key.models
\tglob.match(m, [], input.parsed_body.model)
}

allow := {
\t"allowed": true,
\t"headers": {"x-llm-authz-route": "openai", "authorization": concat(" ", ["Bearer", data.provider_key])},
\t"request_headers_to_remove": ["x-api-key", "api-key", "x-goog-api-key"],
\t"dynamic_metadata": {"workload": key.workload, "model": input.parsed_body.model},
} if {
\tvalid_key
\tallowed_model
}
`;

export interface BenchFiles {
  readonly config: string;
  readonly opaPolicy: string;
  readonly opaData: string;
}

export function prepareBenchFiles(dir: string): BenchFiles {
  const write = (name: string, text: string): string => {
    const file = path.join(dir, name);
    writeFileSync(file, text);
    return file;
  };
  return {
    config: write(BENCH_CONFIG, LLM_AUTHZ_YAML.replace('DECISION_LOG', path.join(dir, 'decisions.log'))),
    opaPolicy: write(OPA_POLICY, POLICY_REGO),
    opaData: write(
      OPA_DATA,
    JSON.stringify({
      keys: { bench001: { hash: hashApiKey(BENCH_KEY).slice('sha256:'.length), workload: 'spiffe://bench.example/ns/apps/sa/chat', models: ['gpt-4o*', 'o3-mini'] } },
      provider_key: PROVIDER_KEY,
    }),
    ),
  };
}
