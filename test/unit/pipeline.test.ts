import { describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../src/audit/record.ts';
import type { Runtime } from '../../src/pipeline/runtime.ts';
import { checkRequest } from '../../devstack/grpc-client.ts';
import { OVERWRITE_IF_EXISTS_OR_ADD, type CheckResponse } from '../../src/envoy/response.ts';
import { createCheck } from '../../src/pipeline/check.ts';
import { ANTHROPIC_SECRET, OPENAI_SECRET, UNIT_KEY, UNIT_KEY_2, unitRuntime } from '../helpers/runtime.ts';

function harness(rt: Runtime = unitRuntime()) {
  const records: AuditRecord[] = [];
  const errors: string[] = [];
  const check = createCheck(() => rt, { onDecision: (r) => records.push(r), onError: (reason) => errors.push(reason) });
  return { check, records, errors };
}

const PROMPT = 'please summarise the merger memo';
const chat = (model: string, key = UNIT_KEY) =>
  checkRequest({ headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ model, messages: [{ role: 'user', content: PROMPT }] }) });

function headerMap(res: CheckResponse): Record<string, string> {
  const list = res.ok_response?.headers ?? res.denied_response?.headers ?? [];
  return Object.fromEntries(list.map((h) => [h.header.key, h.header.value]));
}

describe('the Check pipeline', () => {
  it('allows within scope: routes, swaps the credential with OVERWRITE, removes the others', async () => {
    const { check, records } = harness();
    const res = await check(chat('gpt-4o-mini'));
    expect(res.status.code).toBe(0);
    expect(headerMap(res)).toEqual({ 'x-llm-authz-route': 'openai', authorization: `Bearer ${OPENAI_SECRET}` });
    expect(res.ok_response?.headers.every((h) => h.append_action === OVERWRITE_IF_EXISTS_OR_ADD)).toBe(true);
    expect(res.ok_response?.headers_to_remove).toEqual([
      'x-api-key',
      'api-key',
      'x-goog-api-key',
      'x-amz-date',
      'x-amz-content-sha256',
      'x-amz-security-token',
      'proxy-authorization',
      'cookie',
      'x-llm-authz-on-behalf-of',
    ]);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ 'decision.effect': 'allow', 'identity.workload': 'wl-one', 'gen_ai.request.model': 'gpt-4o-mini', 'policy.version': 'unitv1' });
  });

  it('attaches the Anthropic credential as x-api-key and removes authorization', async () => {
    const { check } = harness();
    const res = await check(
      checkRequest({ path: '/v1/messages', headers: { 'x-api-key': UNIT_KEY, 'content-type': 'application/json' }, body: '{"model":"claude-x","max_tokens":5,"messages":[]}' }),
    );
    expect(headerMap(res)).toEqual({ 'x-llm-authz-route': 'anthropic', 'x-api-key': ANTHROPIC_SECRET });
    expect(res.ok_response?.headers_to_remove).toContain('authorization');
  });

  it('denies out of scope with an explicit status and a JSON body', async () => {
    const { check, records } = harness();
    const res = await check(chat('o3'));
    expect(res.status.code).toBe(7);
    expect(res.denied_response?.status.code).toBe(403);
    expect(headerMap(res)['content-type']).toBe('application/json');
    expect(JSON.parse(res.denied_response?.body ?? '')).toMatchObject({ error: { code: 'model_not_allowed', type: 'permission_error' } });
    expect(records[0]).toMatchObject({ 'decision.effect': 'deny', 'decision.reason': 'model_not_allowed', 'decision.phase': 'policy' });
  });

  it('denies a provider outside the key scope', async () => {
    const { check } = harness();
    const res = await check(
      checkRequest({ path: '/v1/messages', headers: { 'x-api-key': UNIT_KEY_2, 'content-type': 'application/json' }, body: '{"model":"claude-x","messages":[]}' }),
    );
    expect(JSON.parse(res.denied_response?.body ?? '')).toMatchObject({ type: 'error', error: { type: 'permission_error' } });
  });

  it('answers identity denies before the body is read in the format of the API: Anthropic for its paths and SDK headers', async () => {
    const { check } = harness();
    const body = async (o: Parameters<typeof checkRequest>[0]) => {
      const res = await check(checkRequest(o));
      expect(res.denied_response?.status.code).toBe(401);
      return JSON.parse(res.denied_response?.body ?? '') as Record<string, any>;
    };
    const anthropicStyle = { type: 'error', error: { type: 'authentication_error' } };
    // Anthropic's GET /v1/models: anthropic-version (every Anthropic SDK sends it) or an x-api-key
    expect(await body({ method: 'GET', path: '/v1/models', headers: { 'anthropic-version': '2023-06-01' } })).toMatchObject(anthropicStyle);
    expect(await body({ method: 'GET', path: '/v1/models', headers: { 'x-api-key': 'lla_zzzz9999_abcdefghijklmnopqrstuvwx' } })).toMatchObject(anthropicStyle);
    expect(await body({ method: 'GET', path: '/v1/models/claude-x', headers: { 'anthropic-version': '2023-06-01' } })).toMatchObject(anthropicStyle);
    expect(await body({ path: '/v1/messages', headers: { 'content-type': 'application/json' }, body: '{}' })).toMatchObject(anthropicStyle);
    // OpenAI's GET /v1/models without them stays OpenAI-style
    expect(await body({ method: 'GET', path: '/v1/models', headers: {} })).toMatchObject({ error: { type: 'authentication_error', code: 'no_credentials' } });
  });

  it('fails closed when a phase throws: deny internal_error, one record, the error reported', async () => {
    const rt = unitRuntime();
    const broken: Runtime = { ...rt, identify: () => Promise.reject(new Error(`boom ${UNIT_KEY}`)) };
    const { check, records, errors } = harness(broken);
    const res = await check(chat('gpt-4o-mini'));
    expect(res.status.code).not.toBe(0);
    expect(res.ok_response).toBeUndefined();
    expect(res.denied_response?.status.code).toBe(500);
    expect(records.map((r) => r['decision.reason'])).toEqual(['internal_error']);
    expect(errors).toEqual(['internal_error']);
    expect(res.denied_response?.body).not.toContain(UNIT_KEY);
  });

  it('fails closed when a phase hangs: deny timeout within check_timeout_ms', async () => {
    const rt = unitRuntime('server:\n  check_timeout_ms: 30\n');
    const hung: Runtime = { ...rt, identify: () => new Promise(() => {}) };
    const { check, records } = harness(hung);
    const res = await check(chat('gpt-4o-mini'));
    expect(res.denied_response?.status.code).toBe(503);
    expect(records.map((r) => r['decision.reason'])).toEqual(['timeout']);
  });

  it('a deny at check_timeout_ms still records the request and what the phases learnt before it', async () => {
    const rt = unitRuntime('server:\n  check_timeout_ms: 30\n');
    const request = (id: string) =>
      checkRequest({
        headers: { authorization: `Bearer ${UNIT_KEY}`, 'content-type': 'application/json', 'x-request-id': id },
        body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: PROMPT }] }),
      });
    // Identity hangs: the request is known, not who sent it.
    const hungIdentity = harness({ ...rt, identify: () => new Promise(() => {}) });
    await hungIdentity.check(request('req-identity-hangs'));
    expect(hungIdentity.records[0]).toMatchObject({ 'decision.reason': 'timeout', 'http.request.id': 'req-identity-hangs', 'url.path': '/v1/chat/completions' });
    expect(hungIdentity.records[0]?.['identity.workload']).toBeUndefined();
    // The quota store hangs: the request, the identity and the model are known.
    const hungQuota = harness({ ...rt, quotas: { ...({} as NonNullable<Runtime['quotas']>), check: () => new Promise(() => {}) } });
    await hungQuota.check(request('req-quota-hangs'));
    expect(hungQuota.records[0]).toMatchObject({
      'decision.reason': 'timeout',
      'http.request.id': 'req-quota-hangs',
      'identity.workload': expect.any(String),
      'gen_ai.request.model': 'gpt-4o-mini',
    });
  });

  it('a decision that returns after check_timeout_ms (synchronous work the timer could not interrupt) is a timeout deny, never an allow', async () => {
    const rt = unitRuntime('server:\n  check_timeout_ms: 20\n');
    const slow: Runtime = {
      ...rt,
      decide: (input) => {
        const until = performance.now() + 40;
        while (performance.now() < until) {
          // a policy busy past the deadline
        }
        return rt.decide(input);
      },
    };
    const { check, records } = harness(slow);
    const res = await check(chat('gpt-4o-mini'));
    expect(res.status.code).not.toBe(0);
    expect(records.map((r) => r['decision.reason'])).toEqual(['timeout']);
    // the same runtime without the busy decide allows: the deny is the timing's doing
    expect((await harness(rt).check(chat('gpt-4o-mini'))).status.code).toBe(0);
  });

  it('puts no credential, provider key or prompt into the audit record or the metadata', async () => {
    const { check, records } = harness();
    const responses = [await check(chat('gpt-4o-mini')), await check(chat('o3')), await check(chat('gpt-4o', 'lla_unit0001_wrongwrongwrongwrongwrong'))];
    const audit = JSON.stringify(records) + JSON.stringify(responses.map((r) => r.dynamic_metadata)) + JSON.stringify(responses.map((r) => r.denied_response?.body ?? ''));
    for (const secret of [UNIT_KEY, UNIT_KEY_2, 'lla_unit0001_wrongwrongwrongwrongwrong', OPENAI_SECRET, ANTHROPIC_SECRET, PROMPT]) expect(audit).not.toContain(secret);
    expect(records).toHaveLength(3);
  });

  it('gives every decision its own id, in the response and the record', async () => {
    const { check, records } = harness();
    const a = await check(chat('gpt-4o-mini'));
    const b = await check(chat('o3'));
    const idA = a.ok_response?.response_headers_to_add[0]?.header.value;
    const idB = headerMap(b)['x-llm-authz-decision-id'];
    expect(idA).not.toBe(idB);
    expect(records.map((r) => r['decision.id'])).toEqual([idA, idB]);
  });
});

describe('credential scopes without a policy section', () => {
  const scoped = (scopes: Partial<{ tools: string[]; maxTokens: number }>) => {
    const rt = unitRuntime();
    const identify: Runtime['identify'] = async (ctx) => {
      const r = await rt.identify(ctx);
      return r.ok ? { ok: true, value: { ...r.value, scopes: { ...r.value.scopes, ...scopes } } } : r;
    };
    return harness({ ...rt, identify });
  };
  const withTools = (tools: string[], maxTokens?: number) =>
    checkRequest({
      headers: { authorization: `Bearer ${UNIT_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'gpt-4o',
        messages: [],
        ...(maxTokens ? { max_tokens: maxTokens } : {}),
        tools: tools.map((name) => ({ type: 'function', function: { name } })),
      }),
    });

  it('denies a tool outside the tool scope, allows the ones inside (globs)', async () => {
    const { check, records } = scoped({ tools: ['search_*', 'calculator'] });
    expect((await check(withTools(['search_web', 'calculator']))).status.code).toBe(0);
    const res = await check(withTools(['search_web', 'send_email']));
    expect(res.denied_response?.status.code).toBe(403);
    expect(records.at(-1)).toMatchObject({ 'decision.reason': 'tool_not_allowed' });
  });

  it('denies a tool-scoped credential a saved prompt, whose tools it cannot see; allows it without a tool scope', async () => {
    const responses = (extra: Record<string, unknown>) =>
      checkRequest({
        path: '/v1/responses',
        headers: { authorization: `Bearer ${UNIT_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o', input: 'hi', tools: [{ type: 'function', name: 'search_web' }], ...extra }),
      });
    const { check, records } = scoped({ tools: ['search_*'] });
    expect((await check(responses({}))).status.code).toBe(0);
    const res = await check(responses({ prompt: { id: 'pmpt_123', version: '2' } }));
    expect(res.denied_response?.status.code).toBe(403);
    expect(records.at(-1)).toMatchObject({ 'decision.reason': 'tool_not_allowed', 'llm.stored_context': ['prompt'] });
    const open = scoped({});
    expect((await open.check(responses({ prompt: { id: 'pmpt_123' } }))).status.code).toBe(0);
    expect(open.records.at(-1)).toMatchObject({ 'decision.reason': 'allowed', 'llm.stored_context': ['prompt'] });
  });

  it('requires max_tokens at most the credential limit', async () => {
    const { check, records } = scoped({ maxTokens: 100 });
    expect((await check(withTools([], 100))).status.code).toBe(0);
    await check(withTools([], 101));
    await check(withTools([]));
    expect(records.slice(-2).map((r) => r['decision.reason'])).toEqual(['max_tokens_exceeded', 'max_tokens_exceeded']);
  });
});

describe('caller credentials beyond the API-key headers', () => {
  it('a configured on-behalf-of header (a user token) is removed on allow, never forwarded', async () => {
    const { exportJWK, generateKeyPair } = await import('jose');
    const { publicKey } = await generateKeyPair('ES256');
    const jwk = JSON.stringify({ ...(await exportJWK(publicKey)), kid: 'k', alg: 'ES256' });
    const rt = unitRuntime(`  jwt:\n    issuers:\n      - {issuer: "https://i.example", audiences: [a], jwks: {keys: [${jwk}]}}\n  on_behalf_of: {header: x-user-token}\n`);
    const { check } = harness(rt);
    const res = await check(chat('gpt-4o-mini'));
    expect(res.status.code).toBe(0);
    expect(res.ok_response?.headers_to_remove).toContain('x-user-token');
    expect(res.ok_response?.headers_to_remove).toContain('x-llm-authz-on-behalf-of');
    const plain = await harness().check(chat('gpt-4o-mini'));
    expect(plain.ok_response?.headers_to_remove).not.toContain('x-user-token');
  });
});
