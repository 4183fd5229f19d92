/**
 * The base-URL variables the injection webhook sets (src/inject/sdk-env.ts) are the ones the
 * official SDKs read: each SDK, given only its variable (the Envoy address swapped for a local
 * recorder), sends its call there on the API's own path (the AWS SDK's Bedrock Runtime client
 * speaks HTTP/2 without TLS, as Envoy's listener accepts it: its recorder does too). A variable an SDK does not read would
 * send the call to the provider instead, and the recorder would see nothing.
 */
import { AnthropicBedrock } from '@anthropic-ai/bedrock-sdk';
import Anthropic from '@anthropic-ai/sdk';
import { AnthropicVertex } from '@anthropic-ai/vertex-sdk';
import { BedrockRuntimeClient, ConverseCommand } from '@aws-sdk/client-bedrock-runtime';
import { GoogleGenAI } from '@google/genai';
import { OAuth2Client } from 'google-auth-library';
import { createServer, type Server } from 'node:http';
import { createServer as createH2cServer, type Http2Server } from 'node:http2';
import type { AddressInfo } from 'node:net';
import OpenAI, { AzureOpenAI } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SDK_BASE_URL_ENV } from '../../src/inject/sdk-env.ts';

const ENVOY = 'http://127.0.0.1:14080';
const KEY = 'lla_sdkenv01_0000000000000000000000000000';

describe('the SDK base-URL variables of injected pods are read by the official SDKs', () => {
  const seen: string[] = [];
  let server: Server;
  let h2c: Http2Server;
  let local = '';
  const saved = new Map<string, string | undefined>();

  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end('{"message":"recorded","error":{"message":"recorded","code":400}}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    local = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    h2c = createH2cServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end('{"message":"recorded"}');
    });
    await new Promise<void>((resolve) => h2c.listen(0, '127.0.0.1', resolve));
    const localH2c = `http://127.0.0.1:${(h2c.address() as AddressInfo).port}`;
    for (const e of SDK_BASE_URL_ENV) {
      saved.set(e.name, process.env[e.name]);
      expect(e.value.startsWith(ENVOY)).toBe(true);
      process.env[e.name] = e.value.replace(ENVOY, e.name === 'AWS_ENDPOINT_URL_BEDROCK_RUNTIME' ? localH2c : local);
    }
  });
  afterAll(async () => {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await new Promise((resolve) => server.close(resolve));
    await new Promise((resolve) => h2c.close(resolve));
  });

  /** The request line the recorder saw for one SDK call (the call itself fails on the recorder's 400). */
  async function callOf(call: () => Promise<unknown>): Promise<string | undefined> {
    const before = seen.length;
    await call().catch(() => undefined);
    return seen.slice(before).at(-1)?.split('?')[0];
  }

  const accessToken = <T>(): T => {
    const c = new OAuth2Client();
    c.setCredentials({ access_token: KEY, expiry_date: Date.now() + 3_600_000 });
    return c as unknown as T;
  };
  type GenAiAuth = NonNullable<NonNullable<NonNullable<ConstructorParameters<typeof GoogleGenAI>[0]>['googleAuthOptions']>['authClient']>;
  type VertexAuth = NonNullable<NonNullable<ConstructorParameters<typeof AnthropicVertex>[0]>['authClient']>;
  const messages = [{ role: 'user' as const, content: 'hi' }];

  const cases: { variable: string; path: string; call: () => Promise<unknown> }[] = [
    {
      variable: 'OPENAI_BASE_URL',
      path: 'POST /v1/chat/completions',
      call: () => new OpenAI({ apiKey: KEY, maxRetries: 0 }).chat.completions.create({ model: 'gpt-4o-mini', messages }),
    },
    {
      variable: 'ANTHROPIC_BASE_URL',
      path: 'POST /v1/messages',
      call: () => new Anthropic({ apiKey: KEY, maxRetries: 0 }).messages.create({ model: 'claude-x', max_tokens: 8, messages }),
    },
    {
      // The Node SDK's AzureOpenAI prefers OPENAI_BASE_URL (set too) to AZURE_OPENAI_ENDPOINT unless
      // given `baseURL: null` (README, "Kubernetes"); the Python SDK's reads the endpoint.
      variable: 'AZURE_OPENAI_ENDPOINT',
      path: 'POST /openai/deployments/prod-4o/chat/completions',
      call: () =>
        new AzureOpenAI({ baseURL: null, apiKey: KEY, apiVersion: '2024-10-21', deployment: 'prod-4o', maxRetries: 0 }).chat.completions.create({ model: 'prod-4o', messages }),
    },
    {
      variable: 'GOOGLE_GEMINI_BASE_URL',
      path: 'POST /v1/models/gemini-2.5-flash:generateContent',
      call: () => new GoogleGenAI({ apiKey: KEY }).models.generateContent({ model: 'gemini-2.5-flash', contents: 'hi' }),
    },
    {
      variable: 'AWS_ENDPOINT_URL_BEDROCK_RUNTIME',
      path: `POST /model/${encodeURIComponent('amazon.nova-lite-v1:0')}/converse`,
      call: () =>
        new BedrockRuntimeClient({ region: 'us-east-1', token: { token: KEY }, authSchemePreference: ['httpBearerAuth'], maxAttempts: 1 }).send(
          new ConverseCommand({ modelId: 'amazon.nova-lite-v1:0', messages: [{ role: 'user', content: [{ text: 'hi' }] }] }),
        ),
    },
    {
      variable: 'ANTHROPIC_BEDROCK_BASE_URL',
      path: 'POST /model/anthropic.claude-3-5-haiku-20241022-v1:0/invoke',
      call: () =>
        new AnthropicBedrock({ awsRegion: 'us-east-1', apiKey: KEY, maxRetries: 0 }).messages.create({
          model: 'anthropic.claude-3-5-haiku-20241022-v1:0',
          max_tokens: 8,
          messages,
        }),
    },
    {
      variable: 'GOOGLE_VERTEX_BASE_URL',
      path: 'POST /v1beta1/projects/acme-prod/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent',
      call: () =>
        new GoogleGenAI({ vertexai: true, project: 'acme-prod', location: 'us-central1', googleAuthOptions: { authClient: accessToken<GenAiAuth>() } }).models.generateContent({
          model: 'gemini-2.5-flash',
          contents: 'hi',
        }),
    },
    {
      variable: 'ANTHROPIC_VERTEX_BASE_URL',
      path: 'POST /v1/projects/acme-prod/locations/us-east5/publishers/anthropic/models/claude-sonnet-4:rawPredict',
      call: () =>
        new AnthropicVertex({ region: 'us-east5', projectId: 'acme-prod', authClient: accessToken<VertexAuth>(), maxRetries: 0 }).messages.create({
          model: 'claude-sonnet-4',
          max_tokens: 8,
          messages,
        }),
    },
  ];

  it('covers every variable the webhook sets', () => {
    expect(cases.map((c) => c.variable).sort()).toEqual(SDK_BASE_URL_ENV.map((e) => e.name).sort());
  });

  it.each(cases)('$variable: the SDK calls $path on the local Envoy', async (c) => {
    expect(await callOf(c.call)).toBe(c.path);
  });

  it("the Node SDK's AzureOpenAI without baseURL: null takes OPENAI_BASE_URL (/v1/deployments/..., which llm-authz does not know)", async () => {
    const path = await callOf(() =>
      new AzureOpenAI({ apiKey: KEY, apiVersion: '2024-10-21', deployment: 'prod-4o', maxRetries: 0 }).chat.completions.create({ model: 'prod-4o', messages }),
    );
    expect(path).toBe('POST /v1/deployments/prod-4o/chat/completions');
  });

  it('can fail: without its variable an SDK does not call the local address', async () => {
    const v = process.env['ANTHROPIC_VERTEX_BASE_URL'];
    delete process.env['ANTHROPIC_VERTEX_BASE_URL'];
    try {
      const client = new AnthropicVertex({ region: 'us-east5', projectId: 'acme-prod', authClient: accessToken<VertexAuth>(), maxRetries: 0 });
      expect(client.baseURL).not.toContain(local);
    } finally {
      process.env['ANTHROPIC_VERTEX_BASE_URL'] = v;
    }
  });
});
