/**
 * The official `openai` and `@anthropic-ai/sdk` clients (and plain HTTP for Gemini, with the key in
 * x-goog-api-key as the Gemini SDK sends it) pointed at
 * the real Envoy: allowed calls reach the mock provider with the provider's credential, denied
 * calls raise the SDK's own typed errors naming the reason, streams are decided before any byte
 * is forwarded, and the bypasses (model disagreement, duplicate keys, client routing header,
 * client provider keys) are denied or neutralised.
 */
import Anthropic from '@anthropic-ai/sdk';
import OpenAI, { AzureOpenAI } from 'openai';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { MockProvider } from '../../devstack/mock-provider.ts';
import { waitFor } from '../../devstack/ports.ts';
import { ROOT } from '../../devstack/tools.ts';
import { accessLogLine, newWorkDir, useStack } from '../helpers/stack.ts';
import { ANTHROPIC_PROVIDER_KEY, BATCH_KEY, CHAT_KEY, OPENAI_PROVIDER_KEY, quickstartConfigWith } from '../helpers/demo-keys.ts';
import { rememberSecret } from '../helpers/suite-secrets.ts';

const GEMINI_PROVIDER_KEY = readFileSync(path.join(ROOT, 'examples/quickstart/secrets/gemini-api-key'), 'utf8').trim();
const AZURE_PROVIDER_KEY = readFileSync(path.join(ROOT, 'examples/quickstart/secrets/azure-openai-api-key'), 'utf8').trim();
const ATTACKER_KEY = 'sk-client-held-provider-key-0000';
rememberSecret('llm-sdk client-held provider key', ATTACKER_KEY);

const config = quickstartConfigWith(newWorkDir('llm-sdk-config'), (cfg) => {
  const chat = (cfg['identity']['api_keys'] as { id: string; models: string[] }[]).find((k) => k.id === 'chatapp01');
  chat?.models.push('gemini-*', 'chat-deploy');
});

async function expectRejects<T extends Error>(p: Promise<unknown>, type: new (...a: never[]) => T): Promise<T> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(type);
  return err as T;
}

function allSeen(...mocks: Pick<MockProvider, 'requests'>[]): string {
  return JSON.stringify(mocks.map((m) => m.requests));
}

describe('official SDKs through the real Envoy', () => {
  const stack = useStack('llm-sdk', { config });
  const openai = (key = CHAT_KEY): OpenAI => new OpenAI({ apiKey: key, baseURL: `${stack().url}/v1`, maxRetries: 0 });
  const anthropic = (key = CHAT_KEY): Anthropic => new Anthropic({ apiKey: key, baseURL: stack().url, maxRetries: 0 });
  const hello = [{ role: 'user' as const, content: 'say hello' }];

  describe('openai', () => {
    it("returns the mock's answer; the provider saw its own key, not the client's", async () => {
      const s = stack();
      const r = await openai().chat.completions.create({ model: 'gpt-4o-mini', messages: hello });
      expect(r.choices[0]?.message.content).toBe('Hello from the mock OpenAI provider.');
      const seen = s.openai.requests.at(-1)!;
      expect(seen.headers['authorization']).toBe(`Bearer ${OPENAI_PROVIDER_KEY}`);
      expect(JSON.stringify(seen.headers)).not.toContain(CHAT_KEY);
    });

    it('raises PermissionDeniedError (403) naming the reason for a model out of scope', async () => {
      const s = stack();
      const before = s.openai.started();
      const err = await expectRejects(openai().chat.completions.create({ model: 'gpt-4.1', messages: hello }), OpenAI.PermissionDeniedError);
      expect(err.status).toBe(403);
      expect(err.message).toContain('model_not_allowed');
      expect(s.openai.started()).toBe(before);
    });

    it('raises AuthenticationError (401) naming the reason for an unknown key', async () => {
      const err = await expectRejects(openai(`${CHAT_KEY.slice(0, -4)}AAAA`).chat.completions.create({ model: 'gpt-4o-mini', messages: hello }), OpenAI.AuthenticationError);
      expect(err.status).toBe(401);
      expect(err.message).toContain('invalid_credentials');
    });

    it('streams an allowed request, whose whole body reached the provider', async () => {
      const s = stack();
      const stream = await openai().chat.completions.create({ model: 'gpt-4o-mini', messages: hello, stream: true });
      let text = '';
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
      expect(text).toBe('Hello from the mock OpenAI provider.');
      expect(JSON.parse(s.openai.requests.at(-1)!.body)).toMatchObject({ model: 'gpt-4o-mini', stream: true });
    });

    it('decides a streaming request before any byte is forwarded: a denied stream never reaches the provider', async () => {
      const s = stack();
      const before = s.openai.started();
      const err = await expectRejects(openai(BATCH_KEY).chat.completions.create({ model: 'gpt-4.1', messages: hello, stream: true }), OpenAI.PermissionDeniedError);
      expect(err.message).toContain('model_not_allowed');
      expect(s.openai.started()).toBe(before);
    });

    it('lists models (GET /v1/models) through the same decision', async () => {
      const page = await openai().models.list();
      expect(page.data.map((m) => m.id)).toEqual(['gpt-4o-mini']);
    });

    it('raises NotFoundError (404, unknown_api) for a path llm-authz does not know', async () => {
      const s = stack();
      const before = s.openai.started();
      const err = await expectRejects(openai().files.list(), OpenAI.NotFoundError);
      expect(err.message).toContain('unknown_api');
      expect(s.openai.started()).toBe(before);
    });
  });

  describe('Azure OpenAI (openai AzureOpenAI client)', () => {
    it('routes a deployment call to the Azure provider with its api-key', async () => {
      const s = stack();
      // The SDK's default key placement: the llm-authz key in the api-key header.
      const client = new AzureOpenAI({ baseURL: `${s.url}/openai`, apiVersion: '2024-10-21', deployment: 'chat-deploy', apiKey: CHAT_KEY, maxRetries: 0 });
      const r = await client.chat.completions.create({ model: 'chat-deploy', messages: hello });
      expect(r.choices[0]?.message.content).toBe('Hello from the mock OpenAI provider.');
      const seen = s.azureOpenai.requests.at(-1)!;
      expect(seen.path).toBe('/openai/deployments/chat-deploy/chat/completions?api-version=2024-10-21');
      expect(seen.headers['api-key']).toBe(AZURE_PROVIDER_KEY);
      expect(seen.headers['authorization']).toBeUndefined();
      expect(allSeen(s.azureOpenai)).not.toContain(CHAT_KEY);
    });

    it('denies a body model that differs from the deployment in the path (ambiguous_model)', async () => {
      const s = stack();
      const before = s.azureOpenai.started();
      const client = new AzureOpenAI({ baseURL: `${s.url}/openai`, apiVersion: '2024-10-21', deployment: 'chat-deploy', apiKey: CHAT_KEY, maxRetries: 0 });
      const err = await expectRejects(client.chat.completions.create({ model: 'gpt-4.1', messages: hello }), OpenAI.BadRequestError);
      expect(err.message).toContain('ambiguous_model');
      expect(s.azureOpenai.started()).toBe(before);
    });
  });

  describe('anthropic', () => {
    it("returns the mock's answer; the provider saw x-api-key with its own key and no authorization", async () => {
      const s = stack();
      const r = await anthropic().messages.create({ model: 'claude-3-5-haiku-latest', max_tokens: 64, messages: hello });
      expect(r.content[0]).toMatchObject({ type: 'text', text: 'Hello from the mock Anthropic provider.' });
      const seen = s.anthropic.requests.at(-1)!;
      expect(seen.headers['x-api-key']).toBe(ANTHROPIC_PROVIDER_KEY);
      expect(seen.headers['authorization']).toBeUndefined();
      expect(JSON.stringify(seen.headers)).not.toContain(CHAT_KEY);
    });

    it('raises PermissionDeniedError (403) naming the reason', async () => {
      const err = await expectRejects(anthropic(BATCH_KEY).messages.create({ model: 'claude-3-5-haiku-latest', max_tokens: 64, messages: hello }), Anthropic.PermissionDeniedError);
      expect(err.status).toBe(403);
      expect(err.message).toContain('provider_not_allowed');
    });

    it('raises AuthenticationError (401) naming the reason', async () => {
      const err = await expectRejects(
        anthropic(`${CHAT_KEY.slice(0, -4)}AAAA`).messages.create({ model: 'claude-3-5-haiku-latest', max_tokens: 64, messages: hello }),
        Anthropic.AuthenticationError,
      );
      expect(err.message).toContain('invalid_credentials');
    });

    it('streams an allowed request; a denied stream raises before any byte reaches the provider', async () => {
      const s = stack();
      const text = await anthropic().messages.stream({ model: 'claude-3-5-haiku-latest', max_tokens: 64, messages: hello }).finalText();
      expect(text).toBe('Hello from the mock Anthropic provider.');
      const before = s.anthropic.started();
      const denied = anthropic(BATCH_KEY).messages.stream({ model: 'claude-3-5-haiku-latest', max_tokens: 64, messages: hello });
      const err = await expectRejects(denied.finalText(), Anthropic.PermissionDeniedError);
      expect(err.message).toContain('provider_not_allowed');
      expect(s.anthropic.started()).toBe(before);
    });

    it('answers a duplicate model key with 400 ambiguous_model (BadRequestError)', async () => {
      const s = stack();
      const before = s.anthropic.started();
      const res = await fetch(`${s.url}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': CHAT_KEY },
        body: '{"model":"claude-3-5-haiku-latest","max_tokens":5,"messages":[],"model":"claude-opus-4"}',
      });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error', message: expect.stringContaining('ambiguous_model') } });
      expect(s.anthropic.started()).toBe(before);
    });
  });

  describe('gemini (plain HTTP)', () => {
    // The llm-authz key where the Gemini SDK puts an API key (x-goog-api-key), unless a test sends another credential.
    const gemini = (p: string, body: unknown, headers: Record<string, string> = {}) =>
      fetch(`${stack().url}${p}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...('authorization' in headers ? {} : { 'x-goog-api-key': CHAT_KEY }), ...headers },
        body: JSON.stringify(body),
      });
    const contents = [{ role: 'user', parts: [{ text: 'say hello' }] }];

    it('routes generateContent with x-goog-api-key set to the provider key; the client ?key= and key header are removed', async () => {
      const s = stack();
      const ok = await gemini(`/v1beta/models/gemini-2.5-flash:generateContent?key=${ATTACKER_KEY}`, { contents });
      expect(ok.status).toBe(200);
      expect(((await ok.json()) as { candidates: { content: { parts: { text: string }[] } }[] }).candidates[0]?.content.parts[0]?.text).toBe(
        'Hello from the mock Gemini provider.',
      );
      const seen = s.gemini.requests.at(-1)!;
      expect(seen.path).toBe('/v1beta/models/gemini-2.5-flash:generateContent');
      expect(seen.headers['x-goog-api-key']).toBe(GEMINI_PROVIDER_KEY);
      expect(seen.headers['authorization']).toBeUndefined();
      expect(allSeen(s.gemini)).not.toContain(ATTACKER_KEY);
      expect(allSeen(s.gemini)).not.toContain(CHAT_KEY);
    });

    it("shows the route and the identity in Envoy's access log", async () => {
      const s = stack();
      const requestId = `gemini-${Date.now()}`;
      const res = await gemini('/v1beta/models/gemini-2.5-flash:generateContent', { contents }, { 'x-request-id': requestId });
      expect(res.status).toBe(200);
      const line = await accessLogLine(s.accessLog, requestId);
      expect(line).toMatchObject({
        route: 'gemini',
        upstream_host: `127.0.0.1:${s.gemini.port}`,
        provider: 'gemini',
        model: 'gemini-2.5-flash',
        workload: 'spiffe://demo.example/ns/apps/sa/chat-app',
        decision: 'allow',
      });
    });

    it("keeps a client ?key= of a denied request out of Envoy's access log (the path is logged without its query)", async () => {
      const s = stack();
      const requestId = `gemini-denied-${Date.now()}`;
      const res = await gemini(
        `/v1beta/models/gemini-2.5-flash:generateContent?key=${ATTACKER_KEY}`,
        { contents },
        { 'x-request-id': requestId, 'x-goog-api-key': 'lla_unknown_notakey' },
      );
      expect(res.status).toBe(401);
      const line = await accessLogLine(s.accessLog, requestId);
      expect(line).toMatchObject({ path: '/v1beta/models/gemini-2.5-flash:generateContent', decision: 'deny', status: 401 });
      expect(readFileSync(s.accessLog, 'utf8')).not.toContain(ATTACKER_KEY);
    });

    it('streams (streamGenerateContent?alt=sse)', async () => {
      const res = await gemini('/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse', { contents });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/event-stream');
      expect(await res.text()).toContain('Gemini provider.');
    });

    it('denies in the Gemini error format', async () => {
      const s = stack();
      const before = s.gemini.started();
      const res = await gemini('/v1beta/models/gemini-2.5-pro-secret:generateContent', { contents }, { authorization: `Bearer ${BATCH_KEY}` });
      expect(res.status).toBe(403);
      expect(await res.json()).toMatchObject({ error: { code: 403, status: 'PERMISSION_DENIED', message: expect.stringContaining('reason: ') } });
      expect(s.gemini.started()).toBe(before);
    });

    it('denies a body model that differs from the path model (ambiguous_model)', async () => {
      const s = stack();
      const before = s.gemini.started();
      const res = await gemini('/v1beta/models/gemini-2.5-flash:generateContent', { model: 'models/gemini-2.5-pro', contents });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ error: { status: 'INVALID_ARGUMENT', details: [{ reason: 'ambiguous_model' }] } });
      expect(s.gemini.started()).toBe(before);
    });

    it('decides countTokens on a body longer than Envoy forwards from the path alone (documented partial-body case)', async () => {
      const s = stack();
      const big = { contents: [{ parts: [{ text: 'x'.repeat(1024 * 1024 + 100) }] }] };
      const res = await gemini('/v1beta/models/gemini-2.5-flash:countTokens', big);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ totalTokens: 5 });
      expect(s.gemini.requests.at(-1)!.body.length).toBeGreaterThan(1024 * 1024);
      // generateContent with the same body is refused: its limits and tools could be in the unseen part.
      const gen = await gemini('/v1beta/models/gemini-2.5-flash:generateContent', big);
      expect(gen.status).toBe(413);
    });
  });

  describe('bypass attempts', () => {
    const post = (p: string, body: string, headers: Record<string, string> = {}) =>
      fetch(`${stack().url}${p}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${CHAT_KEY}`, ...headers }, body });

    it('denies a model query parameter that differs from the body model', async () => {
      const s = stack();
      const before = s.openai.started();
      const res = await post('/v1/chat/completions?model=gpt-4.1', JSON.stringify({ model: 'gpt-4o-mini', messages: [] }));
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ error: { code: 'ambiguous_model' } });
      expect(s.openai.started()).toBe(before);
    });

    it('denies a model given twice in the body, also with an escaped key', async () => {
      const s = stack();
      const before = s.openai.started();
      for (const body of ['{"model":"gpt-4o-mini","messages":[],"model":"gpt-4.1"}', '{"model":"gpt-4o-mini","messages":[],"mod\\u0065l":"gpt-4.1"}']) {
        const res = await post('/v1/chat/completions', body);
        expect(res.status).toBe(400);
        expect(await res.json()).toMatchObject({ error: { code: 'ambiguous_model' } });
      }
      expect(s.openai.started()).toBe(before);
    });

    it('ignores a client-sent routing header: the decision picks the route', async () => {
      const s = stack();
      const counts = () => [s.openai, s.anthropic, s.gemini, s.azureOpenai].map((m) => m.started());
      const before = counts();
      const res = await post('/v1beta/models/gemini-2.5-flash:generateContent', JSON.stringify({ contents: [] }), { 'x-llm-authz-route': 'openai' });
      expect(res.status).toBe(200);
      const after = counts();
      expect(after).toEqual([before[0], before[1], (before[2] ?? 0) + 1, before[3]]);
      expect(s.gemini.requests.at(-1)!.headers['x-llm-authz-route']).toBeUndefined();
    });

    it('removes client-sent key headers and overwrites the provider credential', async () => {
      const s = stack();
      const res = await post('/v1/chat/completions', JSON.stringify({ model: 'gpt-4o-mini', messages: [] }), {
        'api-key': CHAT_KEY,
        'x-goog-api-key': CHAT_KEY,
        'x-api-key': CHAT_KEY,
      });
      expect(res.status).toBe(200);
      const seen = s.openai.requests.at(-1)!;
      expect(seen.headers['authorization']).toBe(`Bearer ${OPENAI_PROVIDER_KEY}`);
      expect(seen.headers['api-key']).toBeUndefined();
      expect(seen.headers['x-goog-api-key']).toBeUndefined();
      expect(seen.headers['x-api-key']).toBeUndefined();
      expect(allSeen(s.openai, s.anthropic, s.gemini, s.azureOpenai)).not.toContain(CHAT_KEY);
    });

    it('denies a provider key sent next to the llm-authz key (conflicting_credentials); nothing reaches a provider', async () => {
      const s = stack();
      const counts = () => [s.openai, s.anthropic, s.gemini, s.azureOpenai].map((m) => m.started());
      const before = counts();
      const res = await post('/v1/chat/completions', JSON.stringify({ model: 'gpt-4o-mini', messages: [] }), { 'api-key': ATTACKER_KEY });
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ error: { code: 'conflicting_credentials' } });
      expect(counts()).toEqual(before);
      expect(allSeen(s.openai, s.anthropic, s.gemini, s.azureOpenai)).not.toContain(ATTACKER_KEY);
    });
  });
});

describe('a provider credential file changed while serving', () => {
  const dir = newWorkDir('llm-cred-reload');
  const keyFile = path.join(dir, 'openai-key');
  writeFileSync(keyFile, 'sk-before-rotation\n');
  const cfg = quickstartConfigWith(dir, (c) => {
    (c['providers'] as { name: string; credential: { file: string } }[])[0]!.credential = { file: keyFile };
  });
  const stack = useStack('llm-cred-reload', { config: cfg });

  it('attaches the new key to the next calls, without a restart', async () => {
    const s = stack();
    const client = new OpenAI({ apiKey: CHAT_KEY, baseURL: `${s.url}/v1`, maxRetries: 0 });
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    expect(s.openai.requests.at(-1)!.headers['authorization']).toBe('Bearer sk-before-rotation');
    writeFileSync(`${keyFile}.tmp`, 'sk-after-rotation\n');
    renameSync(`${keyFile}.tmp`, keyFile);
    await waitFor('the rotated key upstream', async () => {
      await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
      return s.openai.requests.at(-1)!.headers['authorization'] === 'Bearer sk-after-rotation' ? true : undefined;
    });
    expect(s.authz.logs().some((l) => l['msg'] === 'provider credential reloaded')).toBe(true);
    expect(JSON.stringify(s.authz.logs())).not.toContain('sk-after-rotation');
  });
});
