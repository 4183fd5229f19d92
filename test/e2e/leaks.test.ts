/**
 * The leaks of issue #13, through the real Envoy and the quickstart config: a client's
 * credential reaches no provider in any header, in the URL, or through llm-authz's own headers;
 * a listing with a body is refused; a repeated authorization is a conflict; Envoy's access log
 * shows the decision's route, not the client's routing header.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../devstack/tools.ts';
import type { MockProvider } from '../../devstack/mock-provider.ts';
import { accessLogLine, newWorkDir, useStack } from '../helpers/stack.ts';
import { BATCH_KEY, CHAT_KEY, QUICKSTART_CONFIG } from '../helpers/demo-keys.ts';
import { send, type RawReply } from '../helpers/http.ts';

const CHAT = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'say hello' }] });
const JSON_TYPE = ['content-type', 'application/json'] as const;
const BEARER = ['authorization', `Bearer ${CHAT_KEY}`] as const;

/** Everything the provider received for its last request: headers (names and values), path and body. */
function lastSeen(p: MockProvider): string {
  const r = p.requests.at(-1);
  if (r === undefined) throw new Error(`${p.kind} received nothing`);
  return JSON.stringify({ path: r.path, headers: r.headers, body: r.body });
}

async function chat(url: string, extra: readonly (readonly [string, string])[], p = '/v1/chat/completions'): Promise<RawReply> {
  return send(url, { path: p, headers: [JSON_TYPE, BEARER, ...extra], body: CHAT });
}

/** Envoy spans go nowhere here: Envoy's own span records the raw URL (see docs/identity.md). */
const NO_ENVOY_SPANS = { otlp: { address: '127.0.0.1', port: 9 } };

describe('leak 1: no client credential reaches the provider in another header', () => {
  const stack = useStack('leak-headers', { config: QUICKSTART_CONFIG });

  it.each<[string, [string, string][]]>([
    ['proxy-authorization', [['proxy-authorization', `Bearer ${CHAT_KEY}`]]],
    ['a cookie', [['cookie', `session=${CHAT_KEY}; theme=dark`]]],
    ['an x_api_key header (underscores)', [['x_api_key', CHAT_KEY]]],
    ['an X_Goog_Api_Key header', [['X_Goog_Api_Key', CHAT_KEY]]],
    ['the on-behalf-of header, not configured', [['x-llm-authz-on-behalf-of', CHAT_KEY]]],
    ['any other header holding the presented key', [['x-upstream-token', `k=${CHAT_KEY}`]]],
    ['any header holding another llm-authz key', [['x-backup', BATCH_KEY]]],
  ])('the key in %s is allowed and removed before forwarding', async (_what, extra) => {
    const s = stack();
    const before = s.openai.requests.length;
    const r = await chat(s.url, extra);
    expect(r.status).toBe(200);
    expect(s.openai.requests.length).toBe(before + 1);
    const seen = lastSeen(s.openai);
    expect(seen).not.toContain(CHAT_KEY);
    expect(seen).not.toContain(BATCH_KEY);
    expect(seen).not.toContain('lla_');
  });

  it('an unrelated header is still forwarded (the removal is not a blanket one)', async () => {
    const s = stack();
    const r = await chat(s.url, [['x-app-trace', 'keep-me']]);
    expect(r.status).toBe(200);
    expect(s.openai.requests.at(-1)?.headers['x-app-trace']).toBe('keep-me');
  });
});

describe('leak 2: a credential in the URL', () => {
  const stack = useStack('leak-query', { config: QUICKSTART_CONFIG, ...NO_ENVOY_SPANS });

  it.each([
    ['?KEY=', `?KEY=${CHAT_KEY}`],
    ['?key%5B%5D=', `?key%5B%5D=${CHAT_KEY}`],
    ['?Key[0]=', `?Key[0]=${CHAT_KEY}`],
    ['?api_key=', `?api_key=${CHAT_KEY}`],
    ['?%256Bey= (encoded twice)', `?%256Bey=${CHAT_KEY}`],
    ["the key as another parameter's value", `?x=1;state=${CHAT_KEY}`],
  ])('%s is refused by llm-authz (401) and reaches no provider', async (_what, query) => {
    const s = stack();
    const before = s.openai.requests.length;
    const r = await chat(s.url, [], `/v1/chat/completions${query}`);
    expect(r.status).toBe(401);
    expect(r.json).toMatchObject({ error: { code: 'malformed_credentials' } });
    expect(r.text).not.toContain(CHAT_KEY);
    expect(s.openai.requests.length).toBe(before);
  });

  it.each(['key', 'access_token'])("?%s= is removed by the template's header_mutation filter: allowed, and the provider sees no key", async (name) => {
    const s = stack();
    const r = await chat(s.url, [], `/v1/chat/completions?${name}=${CHAT_KEY}`);
    expect(r.status).toBe(200);
    expect(lastSeen(s.openai)).not.toContain(CHAT_KEY);
  });

  it('an ordinary query parameter still passes (Azure api-version)', async () => {
    const s = stack();
    const body = JSON.stringify({ messages: [{ role: 'user', content: 'say hello' }] });
    const r = await send(s.url, { path: '/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21', headers: [JSON_TYPE, ['api-key', CHAT_KEY]], body });
    expect(r.status).toBe(200);
    expect(s.azureOpenai.requests.at(-1)?.path).toBe('/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21');
  });
});

describe('leak 2, behind an Envoy without the header_mutation filter', () => {
  const template = (): string => {
    const text = readFileSync(path.join(ROOT, 'envoy/gateway.yaml'), 'utf8');
    const filter = / {10}- name: envoy\.filters\.http\.header_mutation\n(?: {12}.*\n)+/;
    if (!filter.test(text)) throw new Error('envoy/gateway.yaml no longer has the header_mutation filter block this test removes');
    const file = path.join(newWorkDir('no-header-mutation'), 'gateway.yaml');
    writeFileSync(file, text.replace(filter, ''));
    return file;
  };
  const stack = useStack('leak-query-bare', { config: QUICKSTART_CONFIG, envoyTemplate: template(), ...NO_ENVOY_SPANS });

  it.each([
    ['?key=', `?key=${CHAT_KEY}`],
    ['?k%65y=', `?k%65y=${CHAT_KEY}`],
    ['?%6Bey=', `?%6Bey=${CHAT_KEY}`],
    ['?KEY=', `?KEY=${CHAT_KEY}`],
  ])('%s is refused by llm-authz itself and reaches no provider', async (_what, query) => {
    const s = stack();
    expect(readFileSync(s.envoy.configFile, 'utf8')).not.toContain('header_mutation');
    const before = s.openai.requests.length;
    const r = await chat(s.url, [], `/v1/chat/completions${query}`);
    expect(r.status).toBe(401);
    expect(s.openai.requests.length).toBe(before);
  });

  it("without a key in the URL the same Envoy allows (the refusal is the query's doing)", async () => {
    const s = stack();
    const r = await chat(s.url, [], '/v1/chat/completions?trace=1');
    expect(r.status).toBe(200);
  });
});

describe('leaks 3-5', () => {
  const stack = useStack('leak-own', { config: QUICKSTART_CONFIG });

  it('leak 3: client-sent x-llm-authz-* headers never reach the provider', async () => {
    const s = stack();
    const r = await chat(s.url, [
      ['x-llm-authz-decision-id', '00000000-0000-0000-0000-000000000000'],
      ['x-llm-authz-reason', 'allowed'],
      ['x-llm-authz-anything', 'forged'],
    ]);
    expect(r.status).toBe(200);
    const seen = s.openai.requests.at(-1)!;
    expect(Object.keys(seen.headers).filter((h) => h.startsWith('x-llm-authz-'))).toEqual([]);
    // the client gets the real decision id
    expect(r.headers['x-llm-authz-decision-id']).not.toBe('00000000-0000-0000-0000-000000000000');
  });

  it('leak 4: GET /v1/models with a body and x-http-method-override: POST is a 400, forwarded nowhere', async () => {
    const s = stack();
    const before = s.openai.requests.length;
    const r = await send(s.url, { method: 'GET', path: '/v1/models', headers: [JSON_TYPE, BEARER, ['x-http-method-override', 'POST']], body: CHAT });
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ error: { code: 'unexpected_body' } });
    expect(s.openai.requests.length).toBe(before);
  });

  it('leak 4: a listing without a body is allowed, and a method override header is not forwarded', async () => {
    const s = stack();
    const r = await send(s.url, { method: 'GET', path: '/v1/models', headers: [BEARER, ['x-http-method-override', 'POST']] });
    expect(r.status).toBe(200);
    const seen = s.openai.requests.at(-1)!;
    expect(seen.method).toBe('GET');
    expect(seen.headers['x-http-method-override']).toBeUndefined();
  });

  it('leak 5: a repeated authorization header is conflicting_credentials, as the docs say', async () => {
    const s = stack();
    const r = await send(s.url, { path: '/v1/chat/completions', headers: [JSON_TYPE, BEARER, ['authorization', `Bearer ${BATCH_KEY}`]], body: CHAT });
    expect(r.status).toBe(401);
    expect(r.json).toMatchObject({ error: { code: 'conflicting_credentials' } });
    const same = await send(s.url, { path: '/v1/chat/completions', headers: [JSON_TYPE, BEARER, BEARER], body: CHAT });
    expect(same.json).toMatchObject({ error: { code: 'conflicting_credentials' } });
  });

  it("leak 5: a denied request with a client routing header is logged with the decision's route (none), not the client's", async () => {
    const s = stack();
    const requestId = `leak5-${Date.now()}`;
    const body = JSON.stringify({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'say hello' }] });
    const r = await send(s.url, { path: '/v1/chat/completions', headers: [JSON_TYPE, BEARER, ['x-llm-authz-route', 'openai'], ['x-request-id', requestId]], body });
    expect(r.status).toBe(403);
    const line = await accessLogLine(s.accessLog, requestId);
    expect(line['decision']).toBe('deny');
    expect(line['route'] ?? null).toBeNull();
    expect(line['upstream_host'] ?? null).toBeNull();
    expect(JSON.stringify(line)).not.toContain('"openai"');
    // and an allowed one names the route llm-authz chose
    const okId = `leak5-ok-${Date.now()}`;
    const ok = await send(s.url, { path: '/v1/chat/completions', headers: [JSON_TYPE, BEARER, ['x-llm-authz-route', 'anthropic'], ['x-request-id', okId]], body: CHAT });
    expect(ok.status).toBe(200);
    expect(await accessLogLine(s.accessLog, okId)).toMatchObject({ decision: 'allow', route: 'openai', upstream_host: `127.0.0.1:${s.openai.port}` });
  });
});
