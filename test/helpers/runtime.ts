/** In-memory runtimes and request contexts for unit tests. */
import { parseConfigText } from '../../src/config/load.ts';
import { buildRuntime, type Runtime } from '../../src/pipeline/runtime.ts';
import { Secret } from '../../src/core/secret.ts';
import { hashApiKey } from '../../src/identity/api-key.ts';
import { parseCheckRequest, type RequestContext } from '../../src/envoy/request-context.ts';
import { checkRequest } from '../../devstack/grpc-client.ts';

export const UNIT_KEY = 'lla_unit0001_abcdefghijklmnopqrstuvwx';
export const UNIT_KEY_2 = 'lla_unit0002_ABCDEFGHIJKLMNOPQRSTUVWX';
export const OPENAI_SECRET = 'sk-unit-openai-provider-secret';
export const ANTHROPIC_SECRET = 'sk-ant-unit-provider-secret';

export function unitRuntime(extra = ''): Runtime {
  const cfg = parseConfigText(
    `providers:
  - {name: openai, api: openai}
  - {name: anthropic, api: anthropic}
identity:
  api_keys:
    - {id: unit0001, hash: "${hashApiKey(UNIT_KEY)}", workload: wl-one, models: ["gpt-4o*", "claude-*"]}
    - {id: unit0002, hash: "${hashApiKey(UNIT_KEY_2)}", workload: wl-two, agent: agent-two, models: ["*"], providers: [openai]}
${extra}`,
    'unit.yaml',
  );
  const rt = buildRuntime(cfg, { source: 'unit.yaml', version: 'unitv1', baseDir: '/' });
  // Attach credentials without touching the environment.
  const openai = rt.providers.byName.get('openai');
  const anthropic = rt.providers.byName.get('anthropic');
  if (openai && anthropic) {
    (openai as { credential: Secret | undefined }).credential = new Secret(OPENAI_SECRET);
    (anthropic as { credential: Secret | undefined }).credential = new Secret(ANTHROPIC_SECRET);
  }
  return rt;
}

export function ctxOf(o: Parameters<typeof checkRequest>[0]): RequestContext {
  const r = parseCheckRequest(checkRequest(o));
  if (!r.ok) throw new Error(`bad test request: ${r.reason}`);
  return r.value;
}
