/**
 * Amazon Bedrock and Google Vertex AI through the real Envoy with their official clients:
 * `@aws-sdk/client-bedrock-runtime` (Converse, ConverseStream, InvokeModel) and
 * `@anthropic-ai/bedrock-sdk`, sending their llm-authz key as a Bedrock API key (bearer);
 * `@google/genai` on Vertex AI and on AI Studio, and `@anthropic-ai/vertex-sdk`, sending it as
 * their access token (or API key). Allowed calls reach mocks that verify the provider credential
 * (the mock Bedrock recomputes the SigV4 signature with the provider's access key, the mock
 * Vertex AI accepts only tokens its token endpoint issued to the provider's service account) and
 * never see the client's; denied calls raise each SDK's own error type naming the reason.
 */
import Anthropic from '@anthropic-ai/sdk';
import { AnthropicBedrock } from '@anthropic-ai/bedrock-sdk';
import { AnthropicVertex } from '@anthropic-ai/vertex-sdk';
import {
  AccessDeniedException,
  BedrockRuntimeClient,
  BedrockRuntimeServiceException,
  ConverseCommand,
  ConverseStreamCommand,
  InvokeModelCommand,
  ValidationException,
} from '@aws-sdk/client-bedrock-runtime';
import { ApiError, GoogleGenAI } from '@google/genai';
import { OAuth2Client } from 'google-auth-library';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { testServiceAccount } from '../../devstack/mock-google-token.ts';
import { waitFor } from '../../devstack/ports.ts';
import { MOCK_BEDROCK_REGION, quickstartAwsKeys } from '../../devstack/stack.ts';
import { ROOT } from '../../devstack/tools.ts';
import { accessLogLine, useStack } from '../helpers/stack.ts';
import { BATCH_KEY, CHAT_KEY, quickstartConfigWith } from '../helpers/demo-keys.ts';
import { rememberPrivateKeyPem, rememberSecret } from '../helpers/suite-secrets.ts';
import type { MockProvider } from '../../devstack/mock-provider.ts';

const GEMINI_PROVIDER_KEY = readFileSync(path.join(ROOT, 'examples/quickstart/secrets/gemini-api-key'), 'utf8').trim();
const AWS = quickstartAwsKeys();
const CLAUDE = 'anthropic.claude-3-5-haiku-20241022-v1:0';
const PROFILE_ARN = 'arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0';
const hello = [{ role: 'user' as const, content: 'say hello' }];

describe('Amazon Bedrock and Google Vertex AI through the real Envoy, with their official SDKs', () => {
  const stack = useStack('cloud-sdk', {
    config: (mocks) =>
      quickstartConfigWith(mocks.workDir, (cfg) => {
        const chat = (cfg['identity']['api_keys'] as { id: string; models: string[] }[]).find((k) => k.id === 'chatapp01');
        chat?.models.push('anthropic.claude-*', 'arn:aws:bedrock:*:inference-profile/us.anthropic.*', 'gemini-*', 'amazon.nova-*');
        const providers = cfg['providers'] as object[];
        providers.push({ name: 'vertex', api: 'vertex-ai', route: 'vertex-ai', credential: { service_account: { file: mocks.vertexServiceAccountFile } } });
        // Providers whose credential the mocks do not know, chosen by model: proof that the mocks check.
        const wrongSecret = path.join(mocks.workDir, 'wrong-aws-secret');
        writeFileSync(wrongSecret, `${AWS.secretAccessKey.slice(0, -1)}X`);
        const quickstartBedrock = providers.find((p) => (p as { name: string }).name === 'bedrock') as { credential: { aws: object } };
        providers.unshift({
          name: 'bedrock-wrong-key',
          api: 'bedrock',
          route: 'bedrock',
          region: 'us-east-1',
          host: '127.0.0.1',
          models: ['amazon.nova-*'],
          credential: { aws: { ...quickstartBedrock.credential.aws, secret_access_key: { file: wrongSecret } } },
        });
        const tokenUri = (JSON.parse(readFileSync(mocks.vertexServiceAccountFile, 'utf8')) as { token_uri: string }).token_uri;
        const otherAccount = path.join(mocks.workDir, 'unknown-service-account.json');
        const other = testServiceAccount('someone-else@other-project.iam.gserviceaccount.com');
        writeFileSync(otherAccount, other.keyJson(tokenUri));
        rememberPrivateKeyPem('unknown service account key', other.privateKeyPem);
        providers.unshift({
          name: 'vertex-unknown-account',
          api: 'vertex-ai',
          route: 'vertex-ai',
          models: ['gemini-unknown-account'],
          credential: { service_account: { file: otherAccount } },
        });
        rememberPrivateKeyPem('vertex service account key', (JSON.parse(readFileSync(mocks.vertexServiceAccountFile, 'utf8')) as { private_key: string }).private_key);
      }),
  });
  rememberSecret('quickstart AWS secret access key', AWS.secretAccessKey);

  const bedrock = (key = CHAT_KEY): BedrockRuntimeClient =>
    new BedrockRuntimeClient({ region: MOCK_BEDROCK_REGION, endpoint: stack().url, token: { token: key }, authSchemePreference: ['httpBearerAuth'], maxAttempts: 1 });

  /** What the mock saw of the last request, and that it accepted the provider credential. */
  function lastAccepted(mock: MockProvider): { headers: Record<string, unknown>; path: string; body: string } {
    const seen = mock.requests.at(-1);
    if (seen === undefined) throw new Error(`${mock.kind} received nothing`);
    expect(mock.refused.filter((r) => r.path === seen.path)).toEqual([]);
    expect(JSON.stringify(seen.headers)).not.toContain(CHAT_KEY);
    return seen;
  }

  async function rejects<T>(p: Promise<unknown>, type: abstract new (...a: never[]) => T): Promise<T> {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(type);
    return err as T;
  }

  describe('Bedrock: @aws-sdk/client-bedrock-runtime', () => {
    it('Converse: the mock verified a SigV4 signature by the provider key; the client key never reached it', async () => {
      const s = stack();
      const r = await bedrock().send(new ConverseCommand({ modelId: CLAUDE, messages: [{ role: 'user', content: [{ text: 'say hello' }] }], inferenceConfig: { maxTokens: 64 } }));
      expect(r.output?.message?.content?.[0]?.text).toBe('Hello from the mock Bedrock provider.');
      const seen = lastAccepted(s.bedrock);
      expect(seen.path).toBe(`/model/${encodeURIComponent(CLAUDE)}/converse`);
      expect(String(seen.headers['authorization'])).toMatch(new RegExp(`^AWS4-HMAC-SHA256 Credential=${AWS.accessKeyId}/\\d{8}/us-east-1/bedrock/aws4_request, `));
    });

    it('ConverseStream: an AWS event stream back through Envoy', async () => {
      const r = await bedrock().send(new ConverseStreamCommand({ modelId: CLAUDE, messages: [{ role: 'user', content: [{ text: 'say hello' }] }] }));
      let text = '';
      for await (const ev of r.stream ?? []) text += ev.contentBlockDelta?.delta?.text ?? '';
      expect(text).toBe('Hello from the mock Bedrock provider.');
      expect(lastAccepted(stack().bedrock).path).toContain('/converse-stream');
    });

    it('ConverseStream and InvokeModel get outcome records: the AWS event stream and the JSON answer read for their usage', async () => {
      const s = stack();
      /** A client whose requests carry this x-request-id; the outcome line of that request. */
      const tagged = (requestId: string): BedrockRuntimeClient => {
        const client = bedrock();
        client.middlewareStack.add(
          (next) => async (args) => {
            (args.request as { headers: Record<string, string> }).headers['x-request-id'] = requestId;
            return next(args);
          },
          { step: 'build' },
        );
        return client;
      };
      const outcomeAfter = async (send: (client: BedrockRuntimeClient) => Promise<unknown>): Promise<Record<string, unknown>> => {
        const requestId = `bedrock-outcome-${Math.random().toString(36).slice(2)}`;
        await send(tagged(requestId));
        return waitFor('the outcome line', () => s.authz.outcomes().find((o) => o['http.request.id'] === requestId));
      };
      const streamed = await outcomeAfter(async (client) => {
        const r = await client.send(new ConverseStreamCommand({ modelId: CLAUDE, messages: [{ role: 'user', content: [{ text: 'say hello' }] }] }));
        for await (const _ of r.stream ?? []);
      });
      expect(streamed).toMatchObject({
        'gen_ai.provider.name': 'aws.bedrock',
        'llm.provider': 'bedrock',
        'llm.api': 'bedrock.converse_stream',
        'llm.response.format': 'eventstream',
        'llm.response.read': 'ok',
        'gen_ai.response.finish_reasons': ['end_turn'],
        'gen_ai.usage.input_tokens': 5,
        'gen_ai.usage.output_tokens': 7,
      });
      const invoked = await outcomeAfter((client) =>
        client.send(
          new InvokeModelCommand({
            modelId: CLAUDE,
            contentType: 'application/json',
            body: JSON.stringify({ anthropic_version: 'bedrock-2023-05-31', max_tokens: 64, messages: hello }),
          }),
        ),
      );
      expect(invoked).toMatchObject({
        'llm.response.format': 'json',
        'llm.response.read': 'ok',
        'gen_ai.response.id': 'msg_mock',
        'gen_ai.usage.input_tokens': expect.any(Number),
        'gen_ai.usage.output_tokens': expect.any(Number),
      });
    });

    it('InvokeModel with the Anthropic body format, on an inference-profile ARN (URL-encoded in the path)', async () => {
      const s = stack();
      const body = JSON.stringify({ anthropic_version: 'bedrock-2023-05-31', max_tokens: 64, messages: hello });
      const r = await bedrock().send(new InvokeModelCommand({ modelId: PROFILE_ARN, contentType: 'application/json', body }));
      expect(JSON.parse(Buffer.from(r.body).toString('utf8'))).toMatchObject({ content: [{ text: 'Hello from the mock Anthropic provider.' }] });
      const seen = lastAccepted(s.bedrock);
      expect(seen.path).toBe(`/model/${encodeURIComponent(PROFILE_ARN)}/invoke`);
      const decision = (await s.authz.settledDecisions()).at(-1);
      expect(decision).toMatchObject({
        'decision.effect': 'allow',
        'gen_ai.request.model': PROFILE_ARN,
        'gen_ai.provider.name': 'aws.bedrock',
        'llm.provider': 'bedrock',
        'gen_ai.operation.name': 'chat',
      });
    });

    it('a model out of scope raises AccessDeniedException naming the reason; nothing reaches Bedrock', async () => {
      const s = stack();
      const before = s.bedrock.started();
      const err = await rejects(
        bedrock().send(new ConverseCommand({ modelId: 'meta.llama3-70b-instruct-v1:0', messages: [{ role: 'user', content: [{ text: 'say hello' }] }] })),
        AccessDeniedException,
      );
      expect(err.$metadata.httpStatusCode).toBe(403);
      expect(err.message).toContain('model_not_allowed');
      expect(s.bedrock.started()).toBe(before);
    });

    it('an unknown client key raises AccessDeniedException (401) naming the reason', async () => {
      const err = await rejects(
        bedrock(`${CHAT_KEY.slice(0, -4)}AAAA`).send(new ConverseCommand({ modelId: CLAUDE, messages: [{ role: 'user', content: [{ text: 'say hello' }] }] })),
        AccessDeniedException,
      );
      expect(err.$metadata.httpStatusCode).toBe(401);
      expect(err.message).toContain('invalid_credentials');
    });

    it('a body model that differs from the path model raises ValidationException (ambiguous_model)', async () => {
      const s = stack();
      const before = s.bedrock.started();
      const body = JSON.stringify({ anthropic_version: 'bedrock-2023-05-31', model: 'anthropic.claude-3-opus-20240229-v1:0', max_tokens: 8, messages: hello });
      const err = await rejects(bedrock().send(new InvokeModelCommand({ modelId: CLAUDE, contentType: 'application/json', body })), ValidationException);
      expect(err.message).toContain('ambiguous_model');
      expect(s.bedrock.started()).toBe(before);
    });

    it('a body larger than Envoy hands llm-authz cannot be signed: ValidationException (413, body_too_large)', async () => {
      const s = stack();
      const before = s.bedrock.started();
      const big = 'x'.repeat(1024 * 1024 + 100);
      const err = await rejects(bedrock().send(new ConverseCommand({ modelId: CLAUDE, messages: [{ role: 'user', content: [{ text: big }] }] })), ValidationException);
      expect(err.$metadata.httpStatusCode).toBe(413);
      expect(err.message).toContain('body_too_large');
      expect(s.bedrock.started()).toBe(before);
    });

    it('a client that signs with its own AWS key is not let through: its signature is no llm-authz credential (401), and never reaches Bedrock', async () => {
      const s = stack();
      const before = s.bedrock.started();
      const client = new BedrockRuntimeClient({
        region: MOCK_BEDROCK_REGION,
        endpoint: s.url,
        credentials: { accessKeyId: 'AKIACLIENTOWNKEY0001', secretAccessKey: 'client-own-secret-key' },
        authSchemePreference: ['sigv4'],
        maxAttempts: 1,
      });
      const err = await rejects(client.send(new ConverseCommand({ modelId: CLAUDE, messages: [{ role: 'user', content: [{ text: 'say hello' }] }] })), AccessDeniedException);
      expect(err.$metadata.httpStatusCode).toBe(401);
      expect(err.message).toContain('malformed_credentials');
      expect(s.bedrock.started()).toBe(before);
    });

    it('the mock checks the signature: a provider signing with another secret key is refused by Bedrock itself', async () => {
      const s = stack();
      const refused = s.bedrock.refused.length;
      const err = await rejects(
        bedrock().send(new ConverseCommand({ modelId: 'amazon.nova-lite-v1:0', messages: [{ role: 'user', content: [{ text: 'say hello' }] }] })),
        BedrockRuntimeServiceException,
      );
      expect(err.name).toBe('InvalidSignatureException');
      expect(s.bedrock.refused.slice(refused)).toEqual([
        { path: `/model/${encodeURIComponent('amazon.nova-lite-v1:0')}/converse`, problem: expect.stringContaining('signature we calculated does not match') },
      ]);
    });

    it("shows the route and the configured provider in Envoy's access log", async () => {
      const s = stack();
      const requestId = `bedrock-${Date.now()}`;
      const client = bedrock();
      client.middlewareStack.add(
        (next) => async (args) => {
          (args.request as { headers: Record<string, string> }).headers['x-request-id'] = requestId;
          return next(args);
        },
        { step: 'build' },
      );
      await client.send(new ConverseCommand({ modelId: CLAUDE, messages: [{ role: 'user', content: [{ text: 'say hello' }] }] }));
      expect(await accessLogLine(s.accessLog, requestId)).toMatchObject({
        route: 'bedrock',
        upstream_host: `127.0.0.1:${s.bedrock.port}`,
        provider: 'bedrock',
        model: CLAUDE,
        decision: 'allow',
      });
    });
  });

  describe('Bedrock: @anthropic-ai/bedrock-sdk', () => {
    const claude = (key = CHAT_KEY): AnthropicBedrock => new AnthropicBedrock({ apiKey: key, awsRegion: MOCK_BEDROCK_REGION, baseURL: stack().url, maxRetries: 0 });

    it('messages.create: InvokeModel in the Anthropic format, signed for the provider', async () => {
      const s = stack();
      const r = await claude().messages.create({ model: CLAUDE, max_tokens: 64, messages: hello });
      expect(r.content[0]).toMatchObject({ type: 'text', text: 'Hello from the mock Anthropic provider.' });
      const seen = lastAccepted(s.bedrock);
      // This SDK leaves ':' as it is in the path (the AWS SDK encodes it): both are signed as sent.
      expect(seen.path).toBe(`/model/${CLAUDE}/invoke`);
      expect(JSON.parse(seen.body)).toMatchObject({ anthropic_version: expect.any(String), max_tokens: 64, messages: hello });
    });

    it('messages.stream: InvokeModelWithResponseStream', async () => {
      const text = await claude().messages.stream({ model: CLAUDE, max_tokens: 64, messages: hello }).finalText();
      expect(text).toBe('Hello from the mock Anthropic provider.');
      expect(lastAccepted(stack().bedrock).path).toContain('/invoke-with-response-stream');
    });

    it('a provider out of the key scope raises PermissionDeniedError naming the reason', async () => {
      const s = stack();
      const before = s.bedrock.started();
      const err = await rejects(claude(BATCH_KEY).messages.create({ model: CLAUDE, max_tokens: 64, messages: hello }), Anthropic.PermissionDeniedError);
      expect(err.status).toBe(403);
      expect(err.message).toContain('provider_not_allowed');
      expect(s.bedrock.started()).toBe(before);
    });
  });

  describe('Vertex AI: @google/genai and @anthropic-ai/vertex-sdk', () => {
    /**
     * The client's Google credential: its llm-authz key as the access token. Each SDK pins its own
     * copy of google-auth-library, whose classes TypeScript tells apart; they call only
     * getRequestHeaders() on it.
     */
    const clientAuth = <T>(key = CHAT_KEY): T => {
      const c = new OAuth2Client();
      c.setCredentials({ access_token: key, expiry_date: Date.now() + 3_600_000 });
      return c as unknown as T;
    };
    type GenAiAuthClient = NonNullable<NonNullable<NonNullable<ConstructorParameters<typeof GoogleGenAI>[0]>['googleAuthOptions']>['authClient']>;
    type VertexAuthClient = NonNullable<NonNullable<ConstructorParameters<typeof AnthropicVertex>[0]>['authClient']>;
    const genai = (key = CHAT_KEY): GoogleGenAI =>
      new GoogleGenAI({
        vertexai: true,
        project: 'acme-prod',
        location: 'us-central1',
        googleAuthOptions: { authClient: clientAuth<GenAiAuthClient>(key) },
        httpOptions: { baseUrl: stack().url },
      });

    let remembered = 0;
    /** The mock accepted the last request's token; every token issued so far joins the suite's secret scan. */
    function acceptedToken(mock: MockProvider): void {
      const seen = lastAccepted(mock);
      const tokens = stack().vertexTokens;
      expect(tokens.problem(String(seen.headers['authorization']))).toBeUndefined();
      for (; remembered < tokens.issued.length; remembered++) rememberSecret(`vertex access token #${remembered + 1}`, tokens.issued[remembered] ?? '');
    }

    it('generateContent: the mock accepted a token its endpoint issued to the provider service account', async () => {
      const s = stack();
      const r = await genai().models.generateContent({ model: 'gemini-2.5-flash', contents: 'say hello' });
      expect(r.text).toBe('Hello from the mock Gemini provider.');
      acceptedToken(s.vertexAi);
      expect(lastAccepted(s.vertexAi).path).toMatch(/^\/v1beta1\/projects\/acme-prod\/locations\/us-central1\/publishers\/google\/models\/gemini-2\.5-flash:generateContent/);
      const decision = (await s.authz.settledDecisions()).at(-1);
      expect(decision).toMatchObject({ 'decision.effect': 'allow', 'gen_ai.provider.name': 'gcp.vertex_ai', 'llm.provider': 'vertex', 'gen_ai.request.model': 'gemini-2.5-flash' });
    });

    it('generateContentStream', async () => {
      let text = '';
      for await (const chunk of await genai().models.generateContentStream({ model: 'gemini-2.5-flash', contents: 'say hello' })) text += chunk.text ?? '';
      expect(text).toBe('Hello from the mock Gemini provider.');
      acceptedToken(stack().vertexAi);
    });

    it('a model out of scope raises ApiError (403) naming the reason; nothing reaches Vertex AI', async () => {
      const s = stack();
      const before = s.vertexAi.started();
      const err = await rejects(genai().models.generateContent({ model: 'imagen-4.0-generate-001', contents: 'say hello' }), ApiError);
      expect(err.status).toBe(403);
      expect(err.message).toContain('model_not_allowed');
      expect(s.vertexAi.started()).toBe(before);
    });

    it('a service account the token endpoint does not know gets no token: denied with 503 provider_unavailable (ApiError); Vertex AI is not called', async () => {
      const s = stack();
      const before = s.vertexAi.requests.length;
      const err = await rejects(genai().models.generateContent({ model: 'gemini-unknown-account', contents: 'say hello' }), ApiError);
      expect(err.status).toBe(503);
      expect(err.message).toContain('provider_unavailable');
      expect(err.message).toContain('HTTP 400 (invalid_grant)');
      expect(s.vertexAi.requests.length).toBe(before);
    });

    const claude = (key = CHAT_KEY): AnthropicVertex =>
      new AnthropicVertex({ projectId: 'acme-prod', region: 'us-east5', baseURL: `${stack().url}/v1`, authClient: clientAuth<VertexAuthClient>(key), maxRetries: 0 });

    it('Claude on Vertex (rawPredict and streamRawPredict) with the minted token', async () => {
      const s = stack();
      const r = await claude().messages.create({ model: 'claude-3-5-haiku@20241022', max_tokens: 64, messages: hello });
      expect(r.content[0]).toMatchObject({ type: 'text', text: 'Hello from the mock Anthropic provider.' });
      acceptedToken(s.vertexAi);
      expect(lastAccepted(s.vertexAi).path).toBe('/v1/projects/acme-prod/locations/us-east5/publishers/anthropic/models/claude-3-5-haiku@20241022:rawPredict');
      const text = await claude().messages.stream({ model: 'claude-3-5-haiku@20241022', max_tokens: 64, messages: hello }).finalText();
      expect(text).toBe('Hello from the mock Anthropic provider.');
      expect(lastAccepted(s.vertexAi).path).toContain(':streamRawPredict');
    });

    it('Claude on Vertex denied raises PermissionDeniedError naming the reason', async () => {
      const s = stack();
      const before = s.vertexAi.started();
      const err = await rejects(claude(BATCH_KEY).messages.create({ model: 'claude-3-5-haiku@20241022', max_tokens: 64, messages: hello }), Anthropic.PermissionDeniedError);
      expect(err.message).toContain('reason: ');
      expect(s.vertexAi.started()).toBe(before);
    });
  });

  describe('Gemini API (AI Studio): @google/genai', () => {
    const studio = (key = CHAT_KEY): GoogleGenAI => new GoogleGenAI({ apiKey: key, httpOptions: { baseUrl: stack().url } });

    it('generateContent with the provider key in x-goog-api-key', async () => {
      const s = stack();
      const r = await studio().models.generateContent({ model: 'gemini-2.5-flash', contents: 'say hello' });
      expect(r.text).toBe('Hello from the mock Gemini provider.');
      const seen = s.gemini.requests.at(-1)!;
      expect(seen.headers['x-goog-api-key']).toBe(GEMINI_PROVIDER_KEY);
      expect(JSON.stringify(seen.headers)).not.toContain(CHAT_KEY);
    });

    it('denied raises ApiError naming the reason', async () => {
      const err = await rejects(studio(BATCH_KEY).models.generateContent({ model: 'gemini-2.5-flash', contents: 'say hello' }), ApiError);
      expect(err.status).toBe(403);
      expect(err.message).toMatch(/reason: (provider|model)_not_allowed/);
    });
  });
});
