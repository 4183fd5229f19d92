/**
 * llm-authz down, through the real Envoy (envoy/gateway.yaml): ext_authz fails closed with 503,
 * and the template's local_reply_config gives that answer a JSON body in the called API's error
 * format (reason `authz_unavailable`), so each official SDK raises its own error type. Nothing is
 * forwarded. While llm-authz runs, its own 503 denies keep their body and decision id: the mapping
 * touches only the answers llm-authz did not give.
 */
import Anthropic from '@anthropic-ai/sdk';
import { BedrockRuntimeClient, ConverseCommand, ServiceUnavailableException } from '@aws-sdk/client-bedrock-runtime';
import { ApiError, GoogleGenAI } from '@google/genai';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { testServiceAccount } from '../../devstack/mock-google-token.ts';
import { waitFor } from '../../devstack/ports.ts';
import { MOCK_BEDROCK_REGION } from '../../devstack/stack.ts';
import { CHAT_KEY, quickstartConfigWith } from '../helpers/demo-keys.ts';
import { useStack } from '../helpers/stack.ts';
import { rememberPrivateKeyPem } from '../helpers/suite-secrets.ts';

const REASON = 'authz_unavailable';
const MESSAGE = `llm-authz: the authorization service is unavailable; nothing was forwarded (reason: ${REASON})`;
const chatBody = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
const geminiBody = JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'hi' }] }] });

/** One request per API style: path, headers, body and the error body Envoy must answer with. */
const STYLES = [
  {
    api: 'openai',
    path: '/v1/chat/completions',
    headers: { authorization: `Bearer ${CHAT_KEY}` },
    body: chatBody,
    expected: { error: { message: MESSAGE, type: 'server_error', param: null, code: REASON } },
  },
  {
    api: 'azure-openai',
    path: '/openai/deployments/prod-4o/chat/completions?api-version=2024-10-21',
    headers: { 'api-key': CHAT_KEY },
    body: chatBody,
    expected: { error: { message: MESSAGE, type: 'server_error', param: null, code: REASON } },
  },
  {
    api: 'anthropic',
    path: '/v1/messages',
    headers: { 'x-api-key': CHAT_KEY, 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ model: 'claude-3-5-haiku-latest', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }),
    expected: { type: 'error', error: { type: 'api_error', message: MESSAGE } },
  },
  {
    api: 'gemini',
    path: '/v1beta/models/gemini-2.5-flash:generateContent',
    headers: { 'x-goog-api-key': CHAT_KEY },
    body: geminiBody,
    expected: {
      error: { code: 503, message: MESSAGE, status: 'UNAVAILABLE', details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: REASON, domain: 'llm-authz' }] },
    },
  },
  {
    api: 'vertex-ai',
    path: '/v1/projects/acme-prod/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent',
    headers: { authorization: `Bearer ${CHAT_KEY}` },
    body: geminiBody,
    expected: {
      error: { code: 503, message: MESSAGE, status: 'UNAVAILABLE', details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: REASON, domain: 'llm-authz' }] },
    },
  },
  {
    api: 'bedrock',
    path: `/model/${encodeURIComponent('anthropic.claude-3-5-haiku-20241022-v1:0')}/converse`,
    headers: { authorization: `Bearer ${CHAT_KEY}` },
    body: JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'hi' }] }] }),
    expected: { message: MESSAGE },
  },
] as const;

describe('llm-authz down: Envoy answers 503 with a body in the API’s error format', () => {
  const stack = useStack('authz-down', {
    config: (mocks) =>
      quickstartConfigWith(mocks.workDir, (cfg) => {
        // A Vertex AI provider whose service account the token endpoint does not know: llm-authz's own 503 deny.
        const tokenUri = (JSON.parse(readFileSync(mocks.vertexServiceAccountFile, 'utf8')) as { token_uri: string }).token_uri;
        const other = testServiceAccount('nobody@other-project.iam.gserviceaccount.com');
        const file = path.join(mocks.workDir, 'unknown-service-account.json');
        writeFileSync(file, other.keyJson(tokenUri));
        rememberPrivateKeyPem('authz-down unknown service account key', other.privateKeyPem);
        (cfg['providers'] as object[]).push({ name: 'vertex-unknown', api: 'vertex-ai', route: 'vertex-ai', credential: { service_account: { file } } });
        const chat = (cfg['identity']['api_keys'] as { id: string; models: string[] }[]).find((k) => k.id === 'chatapp01');
        chat?.models.push('gemini-*');
      }),
  });

  const send = (s: { url: string }, st: (typeof STYLES)[number]): Promise<Response> =>
    fetch(`${s.url}${st.path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...st.headers }, body: st.body });

  const forwarded = (): number => {
    const s = stack();
    return [s.openai, s.anthropic, s.gemini, s.azureOpenai, s.bedrock, s.vertexAi].reduce((n, m) => n + m.started(), 0);
  };

  it("while llm-authz runs, its own 503 deny keeps llm-authz's body and decision id", async () => {
    const s = stack();
    const vertex = STYLES.find((x) => x.api === 'vertex-ai')!;
    const res = await send(s, vertex);
    const body = (await res.json()) as { error: { message: string; details: { reason: string }[] } };
    expect(res.status).toBe(503);
    expect(res.headers.get('x-llm-authz-reason')).toBe('provider_unavailable');
    expect(res.headers.get('x-llm-authz-decision-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(body.error.details[0]!.reason).toBe('provider_unavailable');
    expect(body.error.message).not.toContain(REASON);
  });

  it('with llm-authz stopped: every API style gets its error body, content type and reason; nothing is forwarded', async () => {
    const s = stack();
    await s.authz.stop();
    const before = forwarded();
    // The first Check after the stop fails at once (connection refused): no waiting for health checks.
    await waitFor('a 503 from Envoy', async () => ((await send(s, STYLES[0])).status === 503 ? true : undefined), 10_000);
    for (const st of STYLES) {
      const res = await send(s, st);
      const text = await res.text();
      expect(res.status, `${st.api}: ${text}`).toBe(503);
      expect(res.headers.get('content-type'), st.api).toBe('application/json');
      expect(res.headers.get('x-llm-authz-reason'), st.api).toBe(REASON);
      expect(res.headers.get('x-llm-authz-decision-id'), st.api).toBeNull();
      expect(JSON.parse(text), st.api).toEqual(st.expected);
      expect(res.headers.get('x-amzn-errortype'), st.api).toBe(st.api === 'bedrock' ? 'ServiceUnavailableException' : null);
    }
    expect(forwarded()).toBe(before);
  });

  it('with llm-authz stopped: each official SDK raises its own error type naming the reason', async () => {
    const s = stack();
    await s.authz.stop();
    const openai = await new OpenAI({ apiKey: CHAT_KEY, baseURL: `${s.url}/v1`, maxRetries: 0 }).chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    expect(openai).toBeInstanceOf(OpenAI.InternalServerError);
    expect((openai as InstanceType<typeof OpenAI.InternalServerError>).code).toBe(REASON);

    const anthropic = await new Anthropic({ apiKey: CHAT_KEY, baseURL: s.url, maxRetries: 0 }).messages
      .create({ model: 'claude-3-5-haiku-latest', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    expect(anthropic).toBeInstanceOf(Anthropic.InternalServerError);
    expect((anthropic as Error).message).toContain(REASON);

    const gemini = await new GoogleGenAI({ apiKey: CHAT_KEY, httpOptions: { baseUrl: s.url } }).models
      .generateContent({ model: 'gemini-2.5-flash', contents: 'hi' })
      .catch((e: unknown) => e);
    expect(gemini).toBeInstanceOf(ApiError);
    expect((gemini as ApiError).status).toBe(503);
    expect((gemini as ApiError).message).toContain(REASON);

    const bedrock = await new BedrockRuntimeClient({
      region: MOCK_BEDROCK_REGION,
      endpoint: s.url,
      token: { token: CHAT_KEY },
      authSchemePreference: ['httpBearerAuth'],
      maxAttempts: 1,
    })
      .send(new ConverseCommand({ modelId: 'anthropic.claude-3-5-haiku-20241022-v1:0', messages: [{ role: 'user', content: [{ text: 'hi' }] }] }))
      .catch((e: unknown) => e);
    expect(bedrock).toBeInstanceOf(ServiceUnavailableException);
    expect((bedrock as Error).message).toContain(REASON);
  });
});
