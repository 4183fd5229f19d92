/**
 * A credential's scopes (models, providers, tools, max_tokens, stored context) bind in every
 * configuration, before the policies and whatever they say: policies can only narrow.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../src/audit/record.ts';
import { checkOne } from '../../src/cli/check.ts';
import { keys } from '../../src/cli/keys.ts';
import { runTests } from '../../src/cli/test.ts';
import { loadConfigFile } from '../../src/config/load.ts';
import { buildRuntime, type Runtime } from '../../src/pipeline/runtime.ts';
import { checkRequest } from '../../devstack/grpc-client.ts';
import { createCheck } from '../../src/pipeline/check.ts';
import { createPolicyEngine } from '../../src/policy/engine.ts';
import { decisionInputOf, type DecisionFixture } from '../../src/policy/fixture.ts';
import { PolicyLoadError } from '../../src/policy/policy-set.ts';
import { unitProviders } from '../helpers/policies.ts';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'llm-authz-scope-guard-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** `llm-authz keys create` into a store; returns the printed key. */
async function createKey(store: string, ...args: string[]): Promise<string> {
  const out = new PassThrough();
  const chunks: string[] = [];
  out.on('data', (c: Buffer) => chunks.push(c.toString()));
  const stderr = process.stderr.write;
  process.stderr.write = () => true;
  try {
    expect(await keys(['create', '--store', store, ...args], out)).toBe(0);
  } finally {
    process.stderr.write = stderr;
  }
  const key = /^key: (\S+)$/m.exec(chunks.join(''))?.[1];
  if (key === undefined) throw new Error('keys create printed no key');
  return key;
}

/** A folder with a key store, a config and a policy folder whose only rule allows workload wl-a. */
async function setup(
  name: string,
  keyArgs: string[],
  rules = 'rules:\n  - {id: wl-a-any, effect: allow, when: identity.workload == "wl-a"}\n',
): Promise<{ dir: string; config: string; key: string }> {
  const dir = path.join(tmp, name);
  const policies = path.join(dir, 'policies');
  mkdirSync(policies, { recursive: true });
  const key = await createKey(path.join(dir, 'keys.yaml'), '--workload', 'wl-a', ...keyArgs);
  writeFileSync(path.join(policies, 'allow.yaml'), rules);
  const config = path.join(dir, 'llm-authz.yaml');
  writeFileSync(
    config,
    `providers:
  - {name: openai, api: openai}
  - {name: anthropic, api: anthropic}
  - {name: openai-b, api: openai, models: ["b-*"]}
identity:
  key_store: {file: keys.yaml}
policy: {dir: policies}
`,
  );
  return { dir, config, key };
}

function request(dir: string, key: string, body: object, p = '/v1/chat/completions', header = 'authorization'): string {
  const file = path.join(dir, `request-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify({ method: 'POST', path: p, headers: { [header]: header === 'authorization' ? `Bearer ${key}` : key }, body }));
  return file;
}

async function explain(config: string, requestFile: string): Promise<{ code: number; text: string }> {
  const lines: string[] = [];
  const code = await checkOne(config, requestFile, undefined, (s) => lines.push(s));
  return { code, text: lines.join('\n') };
}

const chat = (model: string, extra: object = {}): object => ({ model, messages: [{ role: 'user', content: 'hi' }], ...extra });

describe('the reproduction of issue #13, hole 0', () => {
  it('a key scoped to gpt-4o-mini is denied gpt-4.1 although the only policy rule allows its workload', async () => {
    const s = await setup('repro', ['--models', 'gpt-4o-mini']);
    const denied = await explain(s.config, request(s.dir, s.key, chat('gpt-4.1')));
    expect(denied.text).toContain('decision: DENY (model_not_allowed)');
    expect(denied.code).toBe(1);
    // the same key, inside its scope, is allowed by the rule
    const allowed = await explain(s.config, request(s.dir, s.key, chat('gpt-4o-mini')));
    expect(allowed.text).toContain("decision: ALLOW (allowed) by rule 'wl-a-any'");
    expect(allowed.code).toBe(0);
  });
});

describe('every scope binds whatever the policies say', () => {
  const cases: [string, string[], object, string, string, string][] = [
    ['models', ['--models', 'gpt-4o-mini'], chat('gpt-4.1'), '/v1/chat/completions', 'model_not_allowed', 'credential-model-scope'],
    [
      'providers',
      ['--models', '*', '--providers', 'openai'],
      { model: 'claude-x', max_tokens: 5, messages: [] },
      '/v1/messages',
      'provider_not_allowed',
      'credential-provider-scope',
    ],
    [
      'tools',
      ['--models', '*', '--tools', 'search_*'],
      chat('gpt-4o', { tools: [{ type: 'function', function: { name: 'delete_all' } }] }),
      '/v1/chat/completions',
      'tool_not_allowed',
      'credential-tool-scope',
    ],
    [
      'stored context with a tool scope',
      ['--models', '*', '--tools', 'search_*'],
      { model: 'gpt-4o', prompt: { id: 'pmpt_1' }, input: 'hi' },
      '/v1/responses',
      'tool_not_allowed',
      'credential-tool-scope',
    ],
    [
      'max_tokens over the limit',
      ['--models', '*', '--max-tokens', '100'],
      chat('gpt-4o', { max_tokens: 101 }),
      '/v1/chat/completions',
      'max_tokens_exceeded',
      'credential-max-tokens-scope',
    ],
    ['max_tokens unset', ['--models', '*', '--max-tokens', '100'], chat('gpt-4o'), '/v1/chat/completions', 'max_tokens_exceeded', 'credential-max-tokens-scope'],
  ];

  it.each(cases)('%s: denied with the scope reason, named in the explain output', async (name, keyArgs, body, p, reason, rule) => {
    const s = await setup(`each-${name.replace(/\W+/g, '-')}`, keyArgs);
    const header = p === '/v1/messages' ? 'x-api-key' : 'authorization';
    const r = await explain(s.config, request(s.dir, s.key, body, p, header));
    expect(r.text).toContain(`decision: DENY (${reason}) by rule '${rule}'`);
    expect(r.text).toMatch(/credential scopes: .*DENY/);
    expect(r.code).toBe(1);
  });

  it('the same requests within the scope are allowed by the policy rule (the guard is not a blanket deny)', async () => {
    const s = await setup('within', ['--models', 'gpt-4o*', '--providers', 'openai', '--tools', 'search_*', '--max-tokens', '100']);
    const body = chat('gpt-4o', { max_tokens: 100, tools: [{ type: 'function', function: { name: 'search_docs' } }] });
    const r = await explain(s.config, request(s.dir, s.key, body));
    expect(r.text).toContain('credential scopes: within');
    expect(r.text).toContain("decision: ALLOW (allowed) by rule 'wl-a-any'");
    expect(r.code).toBe(0);
  });

  it('a policy obligation cannot route outside the provider scope', async () => {
    const rules = `rules:
  - {id: to-b, effect: allow, when: 'identity.workload == "wl-a"', obligations: {provider: openai-b}}
`;
    const s = await setup('obligation', ['--models', '*', '--providers', 'openai'], rules);
    const r = await explain(s.config, request(s.dir, s.key, chat('gpt-4o')));
    expect(r.text).toContain("decision: DENY (provider_not_allowed) by rule 'credential-provider-scope'");
    expect(r.code).toBe(1);
  });

  it('a policy rule may narrow further than the scope', async () => {
    const rules = `rules:
  - {id: wl-a-any, effect: allow, when: identity.workload == "wl-a"}
  - {id: no-mini, effect: deny, reason: model_not_allowed, when: llm.model == "gpt-4o-mini"}
`;
    const s = await setup('narrow', ['--models', 'gpt-4o*'], rules);
    const r = await explain(s.config, request(s.dir, s.key, chat('gpt-4o-mini')));
    expect(r.text).toContain("decision: DENY (model_not_allowed) by rule 'no-mini'");
  });
});

describe('in the Check pipeline (the server path)', () => {
  it('denies out of scope with a policy folder, recording the scope rule in the audit record', async () => {
    const s = await setup('pipeline', ['--models', 'gpt-4o-mini']);
    const rt: Runtime = buildRuntime(loadConfigFile(s.config), { source: s.config, version: 'v1', baseDir: s.dir }, { watchPolicies: false });
    const records: AuditRecord[] = [];
    const check = createCheck(() => rt, { onDecision: (r) => records.push(r), onError: () => undefined });
    const body = JSON.stringify(chat('gpt-4.1'));
    const res = await check(checkRequest({ headers: { authorization: `Bearer ${s.key}`, 'content-type': 'application/json' }, body }));
    await rt.close();
    expect(res.denied_response?.status.code).toBe(403);
    expect(records[0]).toMatchObject({ 'decision.effect': 'deny', 'decision.reason': 'model_not_allowed', 'policy.rule': 'credential-model-scope', 'decision.phase': 'policy' });
    expect(res.dynamic_metadata).toMatchObject({ fields: { rule: { stringValue: 'credential-model-scope' } } });
  });
});

describe('in the policy engine (llm-authz test, shadow sets)', () => {
  const fixture = (scopes: DecisionFixture['identity']['scopes'], llm: Partial<DecisionFixture['llm']>): DecisionFixture => ({
    identity: { workload: 'wl-a', method: 'api_key', scopes },
    request: { method: 'POST', host: 'llm.local', headers: {}, source: { address: '127.0.0.1', port: 1, principal: '' }, sni: '', context_extensions: {} },
    llm: { api: 'openai', model: 'gpt-4o', stream: false, tools: [], message_count: 1, input_bytes: 0, stored_context: [], path_params: {}, ...llm },
  });

  it('the engine applies the guard first, to the enforced and the shadow set', () => {
    const dir = path.join(tmp, 'engine');
    const shadow = path.join(tmp, 'engine-shadow');
    for (const d of [dir, shadow]) {
      rmSync(d, { recursive: true, force: true });
      mkdirSync(d, { recursive: true });
      writeFileSync(path.join(d, 'a.yaml'), 'rules:\n  - {id: all, effect: allow, when: "true"}\n');
    }
    const engine = createPolicyEngine({ dir, shadowDir: shadow, providers: unitProviders(), watch: false });
    const input = decisionInputOf(fixture({ max_tokens: 10 }, { max_tokens: 11 }), unitProviders());
    const d = engine.decide(input);
    expect(d).toMatchObject({ effect: 'deny', reason: 'max_tokens_exceeded', rule: 'credential-max-tokens-scope' });
    expect(d.shadow).toMatchObject({ effect: 'deny', reason: 'max_tokens_exceeded', disagrees: false });
    expect(engine.decide(decisionInputOf(fixture({ max_tokens: 10 }, { max_tokens: 10 }), unitProviders()))).toMatchObject({ effect: 'allow', rule: 'all' });
    engine.close();
  });

  it('a policy may not define a rule with a guard rule id', () => {
    const dir = path.join(tmp, 'reserved');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'a.yaml'), 'rules:\n  - {id: credential-model-scope, effect: allow, when: "true"}\n');
    let err: unknown;
    try {
      createPolicyEngine({ dir, providers: unitProviders(), watch: false });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PolicyLoadError);
    expect((err as PolicyLoadError).problems.join('\n')).toMatch(/a\.yaml:2:\d+: .*'credential-model-scope' is the built-in credential scope check/);
  });

  it('llm-authz test reports the guard as the deciding rule', async () => {
    const dir = path.join(tmp, 'suite');
    mkdirSync(path.join(dir, 'tests'), { recursive: true });
    writeFileSync(path.join(dir, 'allow.yaml'), 'rules:\n  - {id: all, effect: allow, when: "true"}\n');
    writeFileSync(
      path.join(dir, 'tests', 'scopes.yaml'),
      `suite: scopes
cases:
  - name: out of the model scope
    identity: {workload: wl-a, scopes: {models: [gpt-4o-mini]}}
    llm: {model: gpt-4.1}
    expect: {effect: deny, rule: credential-model-scope, reason: model_not_allowed}
  - name: over the max_tokens scope
    identity: {workload: wl-a, scopes: {max_tokens: 10}}
    llm: {model: gpt-4.1, max_tokens: 11}
    expect: {effect: deny, rule: credential-max-tokens-scope, reason: max_tokens_exceeded}
`,
    );
    const out = new PassThrough();
    const chunks: string[] = [];
    out.on('data', (c: Buffer) => chunks.push(c.toString()));
    const code = await runTests(dir, undefined, out, new PassThrough());
    expect(chunks.join('')).toContain('PASS scopes / out of the model scope (deny by credential-model-scope, model_not_allowed)');
    expect(chunks.join('')).toContain('2 passed, 0 failed');
    expect(code).toBe(0);
  });
});

describe('keys create', () => {
  it('says in its help that the scopes always bind', async () => {
    const { keysCommand } = await import('../../src/cli/keys.ts');
    const { helpText } = await import('../../src/cli/command.ts');
    expect(helpText(keysCommand)).toContain('The scopes (--models, --providers, --tools, --max-tokens) always bind');
  });
});
