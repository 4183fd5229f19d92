/**
 * The foundation, end to end through the real Envoy: routing, credential swap, denials with
 * JSON bodies, the routing header, health, decision records joined to Envoy's access log.
 */
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../devstack/ports.ts';
import { accessLogLine, useStack } from '../helpers/stack.ts';
import { ANTHROPIC_PROVIDER_KEY, BATCH_KEY, CHAT_KEY, OPENAI_PROVIDER_KEY, QUICKSTART_CONFIG } from '../helpers/demo-keys.ts';

interface Reply {
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
}

async function post(url: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  const res = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

const chat = (model: string, extra: object = {}): object => ({ model, messages: [{ role: 'user', content: 'say hello' }], ...extra });
const messages = (model: string): object => ({ model, max_tokens: 64, messages: [{ role: 'user', content: 'say hello' }] });

describe('through the real Envoy, with the quickstart config', () => {
  const stack = useStack('gateway', { config: QUICKSTART_CONFIG });

  it("routes an allowed OpenAI call to the OpenAI provider with the provider's key, not the client's", async () => {
    const s = stack();
    const before = s.openai.requests.length;
    const r = await post(s.url, '/v1/chat/completions', chat('gpt-4o-mini'), { authorization: `Bearer ${CHAT_KEY}` });
    expect(r.status).toBe(200);
    expect((r.json as { object: string }).object).toBe('chat.completion');
    expect(s.openai.requests.length).toBe(before + 1);
    const seen = s.openai.requests.at(-1)!;
    expect(seen.headers['authorization']).toBe(`Bearer ${OPENAI_PROVIDER_KEY}`);
    expect(JSON.stringify(seen.headers)).not.toContain(CHAT_KEY);
    expect(seen.headers['x-llm-authz-route']).toBeUndefined();
    expect(r.headers.get('x-llm-authz-decision-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("routes an allowed Anthropic call with x-api-key replaced by the provider's key", async () => {
    const s = stack();
    const before = s.anthropic.requests.length;
    const r = await post(s.url, '/v1/messages', messages('claude-3-5-haiku-latest'), { 'x-api-key': CHAT_KEY, 'anthropic-version': '2023-06-01' });
    expect(r.status).toBe(200);
    expect((r.json as { type: string }).type).toBe('message');
    expect(s.anthropic.requests.length).toBe(before + 1);
    const seen = s.anthropic.requests.at(-1)!;
    expect(seen.headers['x-api-key']).toBe(ANTHROPIC_PROVIDER_KEY);
    expect(seen.headers['authorization']).toBeUndefined();
    expect(JSON.stringify(seen.headers)).not.toContain(CHAT_KEY);
  });

  it('removes a client-sent bearer token that rides along with an Anthropic call', async () => {
    const s = stack();
    const r = await post(s.url, '/v1/messages', messages('claude-3-5-haiku-latest'), { 'x-api-key': CHAT_KEY, authorization: `Bearer ${CHAT_KEY}` });
    expect(r.status).toBe(200);
    const seen = s.anthropic.requests.at(-1)!;
    expect(seen.headers['authorization']).toBeUndefined();
    expect(seen.headers['x-api-key']).toBe(ANTHROPIC_PROVIDER_KEY);
  });

  it('answers a request without credentials with 401 and a JSON error body, and forwards nothing', async () => {
    const s = stack();
    const before = s.openai.requests.length + s.anthropic.requests.length;
    const r = await post(s.url, '/v1/chat/completions', chat('gpt-4o-mini'));
    expect(r.status).toBe(401);
    expect(r.headers.get('content-type')).toBe('application/json');
    expect(r.headers.get('www-authenticate')).toContain('Bearer');
    expect(r.json).toMatchObject({ error: { code: 'no_credentials', type: 'authentication_error' } });
    expect(s.openai.requests.length + s.anthropic.requests.length).toBe(before);
  });

  it('answers a wrong key with 401 invalid_credentials and never echoes the key', async () => {
    const s = stack();
    const wrong = `${CHAT_KEY.slice(0, -4)}AAAA`;
    const r = await post(s.url, '/v1/chat/completions', chat('gpt-4o-mini'), { authorization: `Bearer ${wrong}` });
    expect(r.status).toBe(401);
    expect(r.json).toMatchObject({ error: { code: 'invalid_credentials' } });
    expect(r.text).not.toContain(wrong);
  });

  it("answers a model outside the key's scope with 403 model_not_allowed", async () => {
    const s = stack();
    const before = s.openai.requests.length;
    const r = await post(s.url, '/v1/chat/completions', chat('gpt-4.1'), { authorization: `Bearer ${CHAT_KEY}` });
    expect(r.status).toBe(403);
    expect(r.json).toMatchObject({ error: { code: 'model_not_allowed', type: 'permission_error' } });
    expect(s.openai.requests.length).toBe(before);
  });

  it("answers a provider outside the key's scope with 403 in the Anthropic error format", async () => {
    const s = stack();
    const r = await post(s.url, '/v1/messages', messages('gpt-4o-mini'), { 'x-api-key': BATCH_KEY });
    expect(r.status).toBe(403);
    expect(r.json).toMatchObject({ type: 'error', error: { type: 'permission_error' } });
    expect((r.json as { error: { message: string } }).error.message).toContain('provider_not_allowed');
  });

  it('does not let a client-sent routing header pick the provider', async () => {
    const s = stack();
    const o = s.openai.requests.length;
    const a = s.anthropic.requests.length;
    const r = await post(s.url, '/v1/chat/completions', chat('gpt-4o-mini'), { authorization: `Bearer ${CHAT_KEY}`, 'x-llm-authz-route': 'anthropic' });
    expect(r.status).toBe(200);
    expect(s.openai.requests.length).toBe(o + 1);
    expect(s.anthropic.requests.length).toBe(a);
    // and a denied request with a routing header reaches no provider
    const d = await post(s.url, '/v1/chat/completions', chat('gpt-4.1'), { authorization: `Bearer ${CHAT_KEY}`, 'x-llm-authz-route': 'openai' });
    expect(d.status).toBe(403);
    expect(s.openai.requests.length).toBe(o + 1);
  });

  it.each([
    ['a body that is not JSON', '/v1/chat/completions', 'POST', '{"model": "gpt-4o-mini", ', 'application/json', 400, 'malformed_body'],
    ['an empty body', '/v1/chat/completions', 'POST', '', 'application/json', 400, 'empty_body'],
    ['a model of the wrong type', '/v1/chat/completions', 'POST', '{"model": 4, "messages": []}', 'application/json', 400, 'invalid_field'],
    ['no model', '/v1/chat/completions', 'POST', '{"messages": []}', 'application/json', 400, 'missing_model'],
    ['a non-JSON content type', '/v1/chat/completions', 'POST', 'model=gpt-4o-mini', 'application/x-www-form-urlencoded', 415, 'unsupported_media_type'],
    ['an unknown path', '/v1/secret-admin', 'POST', '{}', 'application/json', 404, 'unknown_api'],
    ['an unknown method', '/v1/chat/completions', 'DELETE', '', 'application/json', 405, 'method_not_allowed'],
  ])('denies %s with a specific status and reason', async (_what, path, method, body, type, status, reason) => {
    const s = stack();
    const before = s.openai.requests.length;
    const res = await fetch(`${s.url}${path}`, {
      method,
      headers: { 'content-type': type, authorization: `Bearer ${CHAT_KEY}` },
      ...(method === 'POST' || body !== '' ? { body } : {}),
    });
    expect(res.status).toBe(status);
    expect(res.headers.get('x-llm-authz-reason')).toBe(reason);
    expect((await res.json()) as unknown).toMatchObject({ error: { code: reason } });
    expect(s.openai.requests.length).toBe(before);
  });

  it('answers a body larger than Envoy forwards with 413, never as if complete', async () => {
    const s = stack();
    const big = JSON.stringify(chat('gpt-4o-mini', { padding: 'x'.repeat(1024 * 1024 + 10) }));
    const r = await post(s.url, '/v1/chat/completions', big, { authorization: `Bearer ${CHAT_KEY}` });
    expect(r.status).toBe(413);
    expect(r.json).toMatchObject({ error: { code: 'body_too_large' } });
  });

  it("sees SERVING through Envoy's own gRPC health check of the llm-authz cluster", async () => {
    const s = stack();
    const health = await waitFor('a healthy llm_authz host', async () => {
      const h = await s.envoy.clusterHealth('llm_authz');
      return h.length === 1 && h[0] === 'HEALTHY' ? h : undefined;
    });
    expect(health).toEqual(['HEALTHY']);
    const stats = await s.envoy.admin('/stats?filter=cluster.llm_authz.health_check');
    expect(stats).toMatch(/cluster\.llm_authz\.health_check\.success: [1-9]/);
  });

  it("writes one decision record per request, joined to Envoy's access log by decision id", async () => {
    const s = stack();
    const requestId = `req-${Date.now()}`;
    const r = await post(s.url, '/v1/chat/completions', chat('gpt-4o-mini'), { authorization: `Bearer ${CHAT_KEY}`, 'x-request-id': requestId });
    expect(r.status).toBe(200);
    const id = r.headers.get('x-llm-authz-decision-id');
    const record = await waitFor('the decision record', () => s.authz.decisions().find((d) => d['decision.id'] === id));
    expect(record).toMatchObject({
      'decision.effect': 'allow',
      'decision.reason': 'allowed',
      'identity.method': 'api_key',
      'identity.workload': 'spiffe://demo.example/ns/apps/sa/chat-app',
      'identity.credential_id': 'chatapp01',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'gpt-4o-mini',
      'http.request.id': requestId,
      'url.path': '/v1/chat/completions',
    });
    const access = await accessLogLine(s.accessLog, requestId);
    expect(access).toMatchObject({ decision_id: id, decision: 'allow', workload: 'spiffe://demo.example/ns/apps/sa/chat-app', provider: 'openai', route: 'openai', status: 200 });
  });

  it('never writes a credential or a prompt into the decision log or the service log', async () => {
    const s = stack();
    const prompt = 'the secret launch code is 7731';
    const before = (await s.authz.settledDecisions()).length;
    await post(s.url, '/v1/chat/completions', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: prompt }] }, { authorization: `Bearer ${CHAT_KEY}` });
    await post(s.url, '/v1/chat/completions', { model: 'gpt-4.1', messages: [{ role: 'user', content: prompt }] }, { authorization: `Bearer ${BATCH_KEY}` });
    await waitFor('the decision records', () => (s.authz.decisions().length >= before + 2 ? true : undefined));
    const out = [...s.authz.child.stdoutLines, ...s.authz.child.stderrLines].join('\n');
    for (const secret of [CHAT_KEY, BATCH_KEY, OPENAI_PROVIDER_KEY, ANTHROPIC_PROVIDER_KEY, prompt]) expect(out).not.toContain(secret);
  });
});

describe('with llm-authz stopped', () => {
  const stack = useStack('failclosed', { config: QUICKSTART_CONFIG });

  it('Envoy answers 503 and forwards nothing (fail closed)', async () => {
    const s = stack();
    const ok = await post(s.url, '/v1/chat/completions', chat('gpt-4o-mini'), { authorization: `Bearer ${CHAT_KEY}` });
    expect(ok.status).toBe(200);
    expect(await s.authz.stop('SIGKILL')).toBe('SIGKILL');
    const before = s.openai.requests.length;
    const r = await post(s.url, '/v1/chat/completions', chat('gpt-4o-mini'), { authorization: `Bearer ${CHAT_KEY}` });
    expect(r.status).toBe(503);
    expect(s.openai.requests.length).toBe(before);
  });
});

describe('with the built-in default config', () => {
  const stack = useStack('default');

  it('denies every request and says so in the log', async () => {
    const s = stack();
    const r = await post(s.url, '/v1/chat/completions', chat('gpt-4o-mini'), { authorization: `Bearer ${CHAT_KEY}` });
    expect(r.status).toBe(401);
    const r2 = await post(s.url, '/v1/chat/completions', chat('gpt-4o-mini'));
    expect(r2.status).toBe(401);
    expect(s.openai.requests.length).toBe(0);
    expect(s.authz.logs().some((l) => String(l['msg']).includes('denies every request'))).toBe(true);
  });
});
