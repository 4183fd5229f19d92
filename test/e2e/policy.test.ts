/**
 * CEL policies through the real Envoy: an allow rule's obligations route to the right mock
 * provider with the right credential; a deny rule wins over an allow; the shadow set's
 * disagreements appear in the decision record; SIGHUP reloads, and a broken set keeps the
 * last good one.
 */
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify as stringifyYaml } from 'yaml';
import { ROOT } from '../../devstack/tools.ts';
import { createAuthzClient } from '../../devstack/grpc-client.ts';
import { POLICY_HEALTH_SERVICE } from '../../src/server/server.ts';
import { waitFor } from '../../devstack/ports.ts';
import { hashApiKey } from '../../src/identity/api-key.ts';
import { readPolicyDir, policyVersion } from '../../src/policy/policy-set.ts';
import { ANTHROPIC_PROVIDER_KEY, BATCH_KEY, CHAT_KEY } from '../helpers/demo-keys.ts';
import { newWorkDir, useStack } from '../helpers/stack.ts';

const EXAMPLES = path.join(ROOT, 'examples');
const RESEARCH_KEY = 'lla_research01_e2eResearchNotebookKey0001';
const BATCH_SECRET = readFileSync(path.join(EXAMPLES, 'policies/secrets/openai-batch-api-key'), 'utf8').trim();
const TEAM_SECRET = readFileSync(path.join(EXAMPLES, 'policies/secrets/openai-team-api-key'), 'utf8').trim();

/** A config dir: the example rules enforced, the same rules plus one stricter rule in shadow. */
function setup(): { dir: string; config: string; rules: string } {
  const dir = newWorkDir('policy-config');
  const rules = path.join(dir, 'rules');
  const shadow = path.join(dir, 'shadow');
  cpSync(path.join(EXAMPLES, 'policies/rules'), rules, { recursive: true });
  cpSync(path.join(EXAMPLES, 'policies/rules'), shadow, { recursive: true });
  writeFileSync(
    path.join(shadow, '90-candidate.yaml'),
    `rules:
  - id: candidate-chat-app-off-gpt-4o-mini
    effect: deny
    when: identity.workload.endsWith("/sa/chat-app") && llm.model == "gpt-4o-mini"
`,
  );
  mkdirSync(dir, { recursive: true });
  const file = (p: string) => ({ file: path.join(EXAMPLES, p) });
  const config = {
    credentials: {
      'openai-default': file('quickstart/secrets/openai-api-key'),
      'anthropic-default': file('quickstart/secrets/anthropic-api-key'),
      'openai-batch': file('policies/secrets/openai-batch-api-key'),
      'openai-team': file('policies/secrets/openai-team-api-key'),
    },
    providers: [
      { name: 'openai', api: 'openai', route: 'openai', credential: 'openai-default' },
      { name: 'anthropic', api: 'anthropic', route: 'anthropic', credential: 'anthropic-default' },
      { name: 'openai-team', api: 'openai', route: 'openai', credential: 'openai-team' },
    ],
    identity: {
      api_keys: [
        { id: 'chatapp01', hash: hashApiKey(CHAT_KEY), workload: 'spiffe://demo.example/ns/apps/sa/chat-app', models: ['gpt-4o-mini', 'claude-*'] },
        {
          id: 'batch001',
          hash: hashApiKey(BATCH_KEY),
          workload: 'spiffe://demo.example/ns/jobs/sa/batch-summarizer',
          agent: 'summarizer-agent',
          models: ['gpt-4o-mini'],
          providers: ['openai'],
        },
        { id: 'research01', hash: hashApiKey(RESEARCH_KEY), workload: 'spiffe://demo.example/ns/research/sa/notebook', models: ['*'] },
      ],
    },
    policy: { dir: 'rules', shadow_dir: 'shadow', watch: false },
    decision_log: { sink: 'stdout' },
  };
  const configFile = path.join(dir, 'llm-authz.yaml');
  writeFileSync(configFile, stringifyYaml(config));
  return { dir, config: configFile, rules };
}

async function post(url: string, p: string, body: unknown, headers: Record<string, string>) {
  const res = await fetch(`${url}${p}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, id: res.headers.get('x-llm-authz-decision-id') ?? '', text };
}

const chat = (model: string, extra: object = {}) => ({ model, messages: [{ role: 'user', content: 'say hello' }], ...extra });

describe('CEL policies through the real Envoy', () => {
  const { dir, config, rules } = setup();
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const stack = useStack('policy', { config });
  const record = async (id: string) => {
    const s = stack();
    return waitFor('the decision record', () => s.authz.decisions().find((d) => d['decision.id'] === id));
  };

  it("an allow rule's obligations pick the credential and the headers sent upstream", async () => {
    const s = stack();
    const before = s.openai.requests.length;
    const r = await post(s.url, '/v1/chat/completions', chat('gpt-4o-mini', { max_tokens: 512, tools: [{ type: 'function', function: { name: 'summarize' } }] }), {
      authorization: `Bearer ${BATCH_KEY}`,
    });
    expect(r.status).toBe(200);
    expect(s.openai.requests.length).toBe(before + 1);
    const seen = s.openai.requests.at(-1)!;
    expect(seen.headers['authorization']).toBe(`Bearer ${BATCH_SECRET}`);
    expect(seen.headers['x-llm-team']).toBe('jobs');
    expect(JSON.stringify(seen.headers)).not.toContain(BATCH_KEY);
    const rec = await record(r.id);
    expect(rec).toMatchObject({ 'decision.effect': 'allow', 'policy.rule': 'batch-summarizer', 'gen_ai.provider.name': 'openai' });
    expect(rec['policy.version']).toBe(policyVersion(readPolicyDir(rules)));
  });

  it("a provider obligation routes to that provider with the provider's own credential", async () => {
    const s = stack();
    const before = s.openai.requests.length;
    const r = await post(s.url, '/v1/chat/completions', chat('gpt-4.1'), { authorization: `Bearer ${RESEARCH_KEY}` });
    expect(r.status).toBe(200);
    expect(s.openai.requests.length).toBe(before + 1);
    expect(s.openai.requests.at(-1)!.headers['authorization']).toBe(`Bearer ${TEAM_SECRET}`);
    expect(await record(r.id)).toMatchObject({ 'policy.rule': 'research-team', 'gen_ai.provider.name': 'openai', 'llm.provider': 'openai-team' });
  });

  it('without a provider obligation the API decides: Anthropic requests reach the Anthropic mock with its key', async () => {
    const s = stack();
    const before = s.anthropic.requests.length;
    const r = await post(
      s.url,
      '/v1/messages',
      { model: 'claude-3-5-haiku-latest', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] },
      {
        'x-api-key': CHAT_KEY,
        'anthropic-version': '2023-06-01',
      },
    );
    expect(r.status).toBe(200);
    expect(s.anthropic.requests.length).toBe(before + 1);
    expect(s.anthropic.requests.at(-1)!.headers['x-api-key']).toBe(ANTHROPIC_PROVIDER_KEY);
    expect(await record(r.id)).toMatchObject({ 'policy.rule': 'chat-app-models', 'gen_ai.provider.name': 'anthropic' });
  });

  it('a matching deny rule wins over a matching allow rule', async () => {
    const s = stack();
    const before = s.openai.requests.length;
    const r = await post(s.url, '/v1/chat/completions', chat('gpt-4o-mini', { max_tokens: 100, tools: [{ type: 'function', function: { name: 'delete_records' } }] }), {
      authorization: `Bearer ${BATCH_KEY}`,
    });
    expect(r.status).toBe(403);
    expect(JSON.parse(r.text)).toMatchObject({ error: { code: 'denied_by_policy', type: 'permission_error' } });
    expect(s.openai.requests.length).toBe(before);
    const rec = await record(r.id);
    expect(rec).toMatchObject({ 'decision.effect': 'deny', 'decision.reason': 'denied_by_policy', 'policy.rule': 'agent-tool-allowlist' });
    expect(rec['policy.matched_rules']).toEqual(['batch-summarizer', 'agent-tool-allowlist']);
  });

  it("the shadow set's disagreement is in the decision record and does not change the answer", async () => {
    const s = stack();
    const r = await post(s.url, '/v1/chat/completions', chat('gpt-4o-mini'), { authorization: `Bearer ${CHAT_KEY}` });
    expect(r.status).toBe(200);
    const rec = await record(r.id);
    expect(rec).toMatchObject({
      'decision.effect': 'allow',
      'policy.rule': 'chat-app-models',
      'policy.shadow.effect': 'deny',
      'policy.shadow.rule': 'candidate-chat-app-off-gpt-4o-mini',
      'policy.shadow.disagrees': true,
    });
    expect(rec['policy.shadow.version']).not.toBe(rec['policy.version']);
    const agree = await post(
      s.url,
      '/v1/messages',
      { model: 'claude-3-5-haiku-latest', max_tokens: 64, messages: [] },
      { 'x-api-key': CHAT_KEY, 'anthropic-version': '2023-06-01' },
    );
    expect(await record(agree.id)).toMatchObject({ 'policy.shadow.effect': 'allow', 'policy.shadow.disagrees': false });
  });

  it('SIGHUP reloads a checked set; a broken set is rejected, logged, and the last good set keeps deciding', async () => {
    const s = stack();
    const oldVersion = policyVersion(readPolicyDir(rules));
    writeFileSync(path.join(rules, '30-freeze.yaml'), 'rules:\n  - {id: freeze-chat, effect: deny, when: \'identity.workload.endsWith("/sa/chat-app")\'}\n');
    const newVersion = policyVersion(readPolicyDir(rules));
    s.authz.child.proc.kill('SIGHUP');
    await waitFor('the reload log line', () => s.authz.logs().find((l) => l['msg'] === 'policy set reloaded' && l['policy_version'] === newVersion));
    const denied = await post(s.url, '/v1/chat/completions', chat('gpt-4o-mini'), { authorization: `Bearer ${CHAT_KEY}` });
    expect(denied.status).toBe(403);
    expect(await record(denied.id)).toMatchObject({ 'policy.rule': 'freeze-chat', 'policy.version': newVersion });
    expect(newVersion).not.toBe(oldVersion);

    writeFileSync(path.join(rules, '40-broken.yaml'), 'rules:\n  - {id: broken, effect: deny, when: \'identity.workloads == "x"\'}\n');
    s.authz.child.proc.kill('SIGHUP');
    const rejected = await waitFor('the rejection log line', () => s.authz.logs().find((l) => l['msg'] === 'policy set rejected; the last good set stays in force'));
    expect(rejected['policy_version']).toBe(newVersion);
    expect(JSON.stringify(rejected['problems'])).toContain("40-broken.yaml:2:47: rules[0].when: unknown field 'workloads' of identity");
    const still = await post(s.url, '/v1/chat/completions', chat('gpt-4o-mini'), { authorization: `Bearer ${CHAT_KEY}` });
    expect(still.status).toBe(403);
    expect(await record(still.id)).toMatchObject({ 'policy.rule': 'freeze-chat', 'policy.version': newVersion });

    // The rejection shows in health: the policy service is NOT_SERVING, the server still SERVING.
    const client = createAuthzClient(`127.0.0.1:${s.authz.port}`);
    try {
      expect(await client.health(POLICY_HEALTH_SERVICE)).toBe('NOT_SERVING');
      expect(await client.health('')).toBe('SERVING');
      expect(await client.health('envoy.service.auth.v3.Authorization')).toBe('SERVING');
      rmSync(path.join(rules, '40-broken.yaml'));
      s.authz.child.proc.kill('SIGHUP');
      await waitFor('the policy health to recover', async () => ((await client.health(POLICY_HEALTH_SERVICE)) === 'SERVING' ? true : undefined));
    } finally {
      client.close();
    }
  });
});
