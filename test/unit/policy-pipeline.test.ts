/**
 * CEL policies inside the Check pipeline: obligations reach the CheckResponse, evaluation
 * errors are a visible policy_error deny, shadow results reach the audit record.
 */
import { describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../src/audit/record.ts';
import { parseConfigText } from '../../src/config/load.ts';
import { buildRuntime } from '../../src/pipeline/runtime.ts';
import { checkRequest } from '../../devstack/grpc-client.ts';
import type { CheckResponse } from '../../src/envoy/response.ts';
import { hashApiKey } from '../../src/identity/api-key.ts';
import { createCheck } from '../../src/pipeline/check.ts';
import { policyDir } from '../helpers/policies.ts';
import { UNIT_KEY } from '../helpers/runtime.ts';

const enforced = policyDir();
const shadow = policyDir();
enforced.write({
  'rules.yaml': `rules:
  - id: batch
    effect: allow
    when: identity.workload == "wl-one" && llm.model == "gpt-4o-mini"
    obligations: {provider: openai-team, credential: batch-key, headers: {x-llm-team: jobs}}
  - id: tenant-check
    effect: deny
    when: llm.model == "gpt-4.1" && request.headers["x-tenant"] == "blocked"
  - id: any-gpt
    effect: allow
    when: llm.model.startsWith("gpt-")
`,
});
shadow.write({ 'rules.yaml': `rules:\n  - {id: only-mini, effect: allow, when: 'llm.model == "gpt-4o-mini"'}\n` });

process.env['LLM_AUTHZ_UNIT_BATCH_KEY'] = 'sk-unit-batch-credential';
process.env['LLM_AUTHZ_UNIT_TEAM_KEY'] = 'sk-unit-team-credential';
process.env['LLM_AUTHZ_UNIT_OPENAI_KEY'] = 'sk-unit-openai-credential';

function harness() {
  const cfg = parseConfigText(
    `credentials:
  batch-key: {env: LLM_AUTHZ_UNIT_BATCH_KEY}
  team-key: {env: LLM_AUTHZ_UNIT_TEAM_KEY}
  openai-key: {env: LLM_AUTHZ_UNIT_OPENAI_KEY}
providers:
  - {name: openai, api: openai, credential: openai-key}
  - {name: openai-team, api: openai, route: team, credential: team-key}
identity:
  api_keys:
    - {id: unit0001, hash: "${hashApiKey(UNIT_KEY)}", workload: wl-one, models: ["*"]}
policy:
  dir: ${JSON.stringify(enforced.dir)}
  shadow_dir: ${JSON.stringify(shadow.dir)}
  watch: false
`,
    'pipeline.yaml',
  );
  const rt = buildRuntime(cfg, { source: 'pipeline.yaml', version: 'cfg1', baseDir: '/' });
  const records: AuditRecord[] = [];
  const check = createCheck(() => rt, { onDecision: (r) => records.push(r), onError: () => undefined });
  return { rt, check, records };
}

const chat = (model: string, headers: Record<string, string> = {}) =>
  checkRequest({
    headers: { authorization: `Bearer ${UNIT_KEY}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
  });

function headerMap(res: CheckResponse): Record<string, string> {
  const list = res.ok_response?.headers ?? res.denied_response?.headers ?? [];
  return Object.fromEntries(list.map((h) => [h.header.key, h.header.value]));
}

describe('CEL policies in the Check pipeline', () => {
  it("an allow rule's obligations choose the route, the credential and the headers", async () => {
    const { rt, check, records } = harness();
    const res = await check(chat('gpt-4o-mini'));
    expect(res.status.code).toBe(0);
    expect(headerMap(res)).toEqual({ 'x-llm-authz-route': 'team', authorization: 'Bearer sk-unit-batch-credential', 'x-llm-team': 'jobs' });
    expect(records[0]).toMatchObject({
      'decision.effect': 'allow',
      'policy.rule': 'batch',
      'policy.matched_rules': ['batch', 'any-gpt'],
      'policy.version': rt.policy!.status().version,
      'gen_ai.provider.name': 'openai',
      'llm.provider': 'openai-team',
    });
    expect(JSON.stringify(records[0])).not.toContain('sk-unit');
    await rt.close();
  });

  it('an evaluation error is a deny with policy_error, visible in the audit record', async () => {
    const { rt, check, records } = harness();
    const res = await check(chat('gpt-4.1'));
    expect(res.denied_response?.status.code).toBe(500);
    expect(JSON.parse(res.denied_response?.body ?? '')).toMatchObject({ error: { code: 'policy_error' } });
    expect(records[0]).toMatchObject({ 'decision.effect': 'deny', 'decision.reason': 'policy_error', 'decision.phase': 'policy', 'policy.rule': 'tenant-check' });
    const ok = await check(chat('gpt-4.1', { 'x-tenant': 'fine' }));
    expect(ok.status.code).toBe(0);
    await rt.close();
  });

  it("the shadow set's decision and any disagreement are in the audit record, never in the answer", async () => {
    const { rt, check, records } = harness();
    const res = await check(chat('gpt-4.1', { 'x-tenant': 'fine' }));
    expect(res.status.code).toBe(0);
    expect(records[0]).toMatchObject({
      'decision.effect': 'allow',
      'policy.rule': 'any-gpt',
      'policy.shadow.effect': 'deny',
      'policy.shadow.reason': 'denied_by_default',
      'policy.shadow.version': rt.policy!.status().shadowVersion,
      'policy.shadow.disagrees': true,
    });
    await check(chat('gpt-4o-mini'));
    expect(records[1]).toMatchObject({ 'decision.effect': 'allow', 'policy.shadow.effect': 'allow', 'policy.shadow.rule': 'only-mini', 'policy.shadow.disagrees': false });
    await rt.close();
  });
});
