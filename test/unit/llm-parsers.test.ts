/**
 * One suite, instantiated per API schema parser: valid, malformed, truncated and ambiguous
 * fixtures, each through the whole LLM request phase (path -> schema -> body -> model).
 */
import { describe, expect, it } from 'vitest';
import { understand, type LlmRequest } from '../../src/llm/index.ts';
import { ctxOf } from '../helpers/runtime.ts';

const JSON_CT = { 'content-type': 'application/json' };

interface SchemaCase {
  readonly schema: string;
  /** Request path; `{model}` in it is the model when the API reads the model from the path. */
  readonly path: string;
  readonly query?: string;
  readonly headers?: Record<string, string>;
  readonly modelIn: 'body' | 'path';
  /** A valid body (the model included when it is read from the body). */
  readonly body: Record<string, unknown>;
  readonly expected: Partial<LlmRequest>;
  /** [field as JSON key path, wrong value, the field name the detail must carry]. */
  readonly wrongTypes: readonly (readonly [string, unknown, string])[];
  /** A truncated body is decided from the path alone. */
  readonly partialBody?: boolean;
  /** The model in the path may hold a percent-encoded `/` (Bedrock ARNs). */
  readonly slashInModel?: boolean;
}

const MODEL = 'model-a';
const tools = [{ type: 'function', function: { name: 'send_email', parameters: {} } }];

const CASES: readonly SchemaCase[] = [
  {
    schema: 'openai.chat_completions',
    path: '/v1/chat/completions',
    modelIn: 'body',
    body: {
      model: MODEL,
      stream: true,
      max_completion_tokens: 50,
      temperature: 0.2,
      messages: [
        { role: 'user', content: 'hi' },
        { role: 'user', content: 'x' },
      ],
      tools,
      tool_choice: { type: 'function', function: { name: 'send_email' } },
      user: 'u-1',
    },
    expected: {
      api: 'openai',
      operation: 'chat',
      model: MODEL,
      stream: true,
      maxTokens: 50,
      temperature: 0.2,
      tools: ['send_email'],
      toolChoice: 'tool:send_email',
      endUser: 'u-1',
      messageCount: 2,
    },
    wrongTypes: [
      ['stream', 'yes', 'stream'],
      ['max_tokens', 1.5, 'max_tokens'],
      ['max_completion_tokens', '5', 'max_completion_tokens'],
      ['messages', 'hi', 'messages'],
      ['temperature', 'hot', 'temperature'],
      ['tools', [{ type: 'function' }], 'tools[0].function'],
      ['tool_choice', 'sometimes', 'tool_choice'],
      ['model', 4, 'model'],
    ],
  },
  {
    schema: 'openai.responses',
    path: '/v1/responses',
    modelIn: 'body',
    body: {
      model: MODEL,
      input: [{ role: 'user', content: 'hi' }],
      max_output_tokens: 30,
      tools: [{ type: 'function', name: 'lookup' }, { type: 'web_search' }, { type: 'mcp', server_label: 'crm' }],
      tool_choice: 'required',
      safety_identifier: 'hash-1',
    },
    expected: {
      api: 'openai',
      operation: 'chat',
      model: MODEL,
      stream: false,
      maxTokens: 30,
      tools: ['lookup', 'web_search', 'mcp:crm'],
      toolChoice: 'required',
      endUser: 'hash-1',
      messageCount: 1,
    },
    wrongTypes: [
      ['max_output_tokens', -3, 'max_output_tokens'],
      ['input', 5, 'input'],
      ['tools', [{ type: 'function' }], 'tools[0].name'],
      ['stream', 1, 'stream'],
    ],
  },
  {
    schema: 'openai.completions',
    path: '/v1/completions',
    modelIn: 'body',
    body: { model: MODEL, prompt: ['a', 'b', 'c'], max_tokens: 7, stream: false },
    expected: { operation: 'text_completion', model: MODEL, maxTokens: 7, messageCount: 3, tools: [] },
    wrongTypes: [
      ['prompt', 3, 'prompt'],
      ['max_tokens', 0, 'max_tokens'],
    ],
  },
  {
    schema: 'openai.embeddings',
    path: '/v1/embeddings',
    modelIn: 'body',
    body: { model: MODEL, input: 'text to embed', user: 'u-2' },
    expected: { operation: 'embeddings', model: MODEL, messageCount: 1, endUser: 'u-2', stream: false },
    wrongTypes: [
      ['input', { a: 1 }, 'input'],
      ['user', 5, 'user'],
    ],
  },
  {
    schema: 'azure_openai.chat_completions',
    path: '/openai/deployments/{model}/chat/completions',
    query: 'api-version=2024-10-21',
    modelIn: 'path',
    body: { messages: [{ role: 'user', content: 'hi' }], max_tokens: 9, tools, tool_choice: 'auto' },
    expected: { api: 'azure-openai', operation: 'chat', model: MODEL, maxTokens: 9, tools: ['send_email'], toolChoice: 'auto', messageCount: 1 },
    wrongTypes: [
      ['messages', {}, 'messages'],
      ['max_tokens', 'many', 'max_tokens'],
    ],
  },
  {
    schema: 'azure_openai.embeddings',
    path: '/openai/deployments/{model}/embeddings',
    query: 'api-version=2024-10-21',
    modelIn: 'path',
    body: { input: ['a', 'b'] },
    expected: { api: 'azure-openai', operation: 'embeddings', model: MODEL, messageCount: 2 },
    wrongTypes: [['input', true, 'input']],
  },
  {
    schema: 'anthropic.messages',
    path: '/v1/messages',
    modelIn: 'body',
    body: {
      model: MODEL,
      max_tokens: 64,
      stream: true,
      temperature: 1,
      messages: [{ role: 'user', content: 'hi' }],
      tools: [
        { name: 'search', input_schema: {} },
        { type: 'web_search_20250305', name: 'web_search' },
      ],
      tool_choice: { type: 'any' },
      metadata: { user_id: 'u-3' },
    },
    expected: {
      api: 'anthropic',
      operation: 'chat',
      model: MODEL,
      stream: true,
      maxTokens: 64,
      temperature: 1,
      tools: ['search', 'web_search'],
      toolChoice: 'required',
      endUser: 'u-3',
      messageCount: 1,
    },
    wrongTypes: [
      ['max_tokens', '64', 'max_tokens'],
      ['tools', [{ input_schema: {} }], 'tools[0].name'],
      ['metadata', { user_id: 5 }, 'metadata.user_id'],
      ['tool_choice', { type: 'sometimes' }, 'tool_choice.type'],
    ],
  },
  {
    schema: 'anthropic.count_tokens',
    path: '/v1/messages/count_tokens',
    modelIn: 'body',
    body: { model: MODEL, messages: [{ role: 'user', content: 'hi' }], tool_choice: { type: 'tool', name: 'search' }, tools: [{ name: 'search', input_schema: {} }] },
    expected: { api: 'anthropic', operation: 'count_tokens', model: MODEL, toolChoice: 'tool:search', tools: ['search'], messageCount: 1 },
    wrongTypes: [['messages', null, 'messages']],
  },
  {
    schema: 'gemini.generate_content',
    path: '/v1beta/models/{model}:generateContent',
    modelIn: 'path',
    body: {
      contents: [{ role: 'user', parts: [{ text: 'hi' }] }],
      generationConfig: { maxOutputTokens: 100, temperature: 0.5 },
      tools: [{ functionDeclarations: [{ name: 'get_weather' }] }, { google_search: {} }],
      toolConfig: { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['get_weather'] } },
    },
    expected: {
      api: 'gemini',
      operation: 'generate_content',
      model: MODEL,
      stream: false,
      maxTokens: 100,
      temperature: 0.5,
      tools: ['get_weather', 'googleSearch'],
      toolChoice: 'tool:get_weather',
      messageCount: 1,
    },
    wrongTypes: [
      ['contents', 'hi', 'contents'],
      ['generationConfig', { maxOutputTokens: 'lots' }, 'generationConfig.maxOutputTokens'],
      ['toolConfig', { functionCallingConfig: { mode: 'SOMETIMES' } }, 'toolConfig.functionCallingConfig.mode'],
    ],
  },
  {
    schema: 'gemini.stream_generate_content',
    path: '/v1beta/models/{model}:streamGenerateContent',
    query: 'alt=sse',
    modelIn: 'path',
    body: { contents: [{ role: 'user', parts: [{ text: 'hi' }] }], generation_config: { max_output_tokens: 10 } },
    expected: { api: 'gemini', operation: 'generate_content', model: MODEL, stream: true, maxTokens: 10, messageCount: 1 },
    wrongTypes: [['generation_config', { max_output_tokens: 2.5 }, 'generation_config.max_output_tokens']],
  },
  {
    schema: 'gemini.count_tokens',
    path: '/v1/models/{model}:countTokens',
    modelIn: 'path',
    body: { contents: [{ parts: [{ text: 'a' }] }, { parts: [{ text: 'b' }] }] },
    expected: { api: 'gemini', operation: 'count_tokens', model: MODEL, messageCount: 2 },
    wrongTypes: [['contents', 7, 'contents']],
    partialBody: true,
  },
  {
    schema: 'bedrock.converse',
    path: '/model/{model}/converse',
    modelIn: 'path',
    slashInModel: true,
    body: {
      messages: [
        { role: 'user', content: [{ text: 'hi' }] },
        { role: 'assistant', content: [{ text: 'x' }] },
      ],
      inferenceConfig: { maxTokens: 100, temperature: 0.3 },
      toolConfig: { tools: [{ toolSpec: { name: 'get_weather', inputSchema: { json: {} } } }, { cachePoint: { type: 'default' } }], toolChoice: { tool: { name: 'get_weather' } } },
      additionalModelRequestFields: { top_k: 5 },
    },
    expected: {
      api: 'bedrock',
      operation: 'chat',
      model: MODEL,
      stream: false,
      maxTokens: 100,
      temperature: 0.3,
      tools: ['get_weather'],
      toolChoice: 'tool:get_weather',
      messageCount: 2,
      storedContext: [],
    },
    wrongTypes: [
      ['inferenceConfig', { maxTokens: '5' }, 'inferenceConfig.maxTokens'],
      ['toolConfig', { tools: [{ toolSpec: {} }] }, 'toolConfig.tools[0].toolSpec.name'],
      ['toolConfig', { toolChoice: { any: {}, auto: {} } }, 'toolConfig.toolChoice'],
      ['toolConfig', { tools: [{ toolSpec: { name: 'a' }, cachePoint: {} }] }, 'toolConfig.tools[0]'],
      ['messages', 'hi', 'messages'],
      ['additionalModelRequestFields', { tools: [{ description: 'no name' }] }, 'additionalModelRequestFields.tools[0]'],
    ],
  },
  {
    schema: 'bedrock.converse_stream',
    path: '/model/{model}/converse-stream',
    modelIn: 'path',
    slashInModel: true,
    body: {
      messages: [{ role: 'user', content: [{ text: 'hi' }] }],
      toolConfig: { tools: [{ toolSpec: { name: 'search' } }], toolChoice: { any: {} } },
      additionalModelRequestFields: { max_tokens: 300, tools: [{ type: 'web_search_20250305', name: 'web_search' }] },
    },
    expected: { api: 'bedrock', operation: 'chat', model: MODEL, stream: true, maxTokens: 300, tools: ['search', 'web_search'], toolChoice: 'required', messageCount: 1 },
    wrongTypes: [
      ['toolConfig', { toolChoice: { tool: {} } }, 'toolConfig.toolChoice.tool.name'],
      ['additionalModelRequestFields', { max_tokens: 0 }, 'additionalModelRequestFields.max_tokens'],
    ],
  },
  {
    schema: 'bedrock.invoke_model',
    path: '/model/{model}/invoke',
    modelIn: 'path',
    slashInModel: true,
    body: {
      anthropic_version: 'bedrock-2023-05-31',
      max_tokens: 64,
      messages: [{ role: 'user', content: 'hi' }],
      tools: [{ name: 'search', input_schema: {} }],
      tool_choice: { type: 'auto' },
      metadata: { user_id: 'u-9' },
    },
    expected: { api: 'bedrock', operation: 'chat', model: MODEL, stream: false, maxTokens: 64, tools: ['search'], toolChoice: 'auto', endUser: 'u-9', messageCount: 1 },
    wrongTypes: [
      ['anthropic_version', 2023, 'anthropic_version'],
      ['max_tokens', '64', 'max_tokens'],
      ['tools', [{ input_schema: {} }], 'tools[0].name'],
    ],
  },
  {
    schema: 'bedrock.invoke_model_with_response_stream',
    path: '/model/{model}/invoke-with-response-stream',
    modelIn: 'path',
    slashInModel: true,
    body: { anthropic_version: 'bedrock-2023-05-31', max_tokens: 32, messages: [{ role: 'user', content: 'hi' }] },
    expected: { api: 'bedrock', operation: 'chat', model: MODEL, stream: true, maxTokens: 32, tools: [], messageCount: 1 },
    wrongTypes: [['messages', {}, 'messages']],
  },
  {
    schema: 'bedrock.invoke_model',
    path: '/model/{model}/invoke',
    modelIn: 'path',
    slashInModel: true,
    // Amazon Nova's native format.
    body: {
      schemaVersion: 'messages-v1',
      messages: [{ role: 'user', content: [{ text: 'hi' }] }],
      inferenceConfig: { max_new_tokens: 50, temperature: 0.1 },
      toolConfig: { tools: [{ toolSpec: { name: 'lookup' } }] },
    },
    expected: { api: 'bedrock', operation: 'chat', model: MODEL, maxTokens: 50, temperature: 0.1, tools: ['lookup'], messageCount: 1 },
    wrongTypes: [
      ['toolConfig', { tools: [{ toolSpec: {} }] }, 'toolConfig.tools[0].toolSpec.name'],
      ['inferenceConfig', { max_new_tokens: -1 }, 'inferenceConfig.max_new_tokens'],
    ],
  },
  {
    schema: 'bedrock.invoke_model',
    path: '/model/{model}/invoke',
    modelIn: 'path',
    slashInModel: true,
    // Meta Llama's native format: a prompt, the limit in max_gen_len.
    body: { prompt: '<|begin_of_text|>hi', max_gen_len: 100, temperature: 0.5 },
    expected: { api: 'bedrock', operation: 'generate_content', model: MODEL, maxTokens: 100, temperature: 0.5, tools: [], messageCount: 1 },
    wrongTypes: [
      ['max_gen_len', 'lots', 'max_gen_len'],
      ['tools', [{ type: 'function' }], 'tools[0]'],
    ],
  },
  {
    schema: 'vertex_ai.generate_content',
    path: '/v1/projects/acme-prod/locations/us-central1/publishers/google/models/{model}:generateContent',
    modelIn: 'path',
    body: { contents: [{ role: 'user', parts: [{ text: 'hi' }] }], generationConfig: { maxOutputTokens: 100 }, tools: [{ functionDeclarations: [{ name: 'get_weather' }] }] },
    expected: {
      api: 'vertex-ai',
      operation: 'generate_content',
      model: MODEL,
      stream: false,
      maxTokens: 100,
      tools: ['get_weather'],
      messageCount: 1,
      pathParams: { project: 'acme-prod', location: 'us-central1' },
    },
    wrongTypes: [
      ['contents', 'hi', 'contents'],
      ['generationConfig', { maxOutputTokens: 'lots' }, 'generationConfig.maxOutputTokens'],
    ],
  },
  {
    schema: 'vertex_ai.stream_generate_content',
    path: '/v1beta1/projects/acme-prod/locations/global/publishers/google/models/{model}:streamGenerateContent',
    query: 'alt=sse',
    modelIn: 'path',
    body: { contents: [{ role: 'user', parts: [{ text: 'hi' }] }] },
    expected: { api: 'vertex-ai', operation: 'generate_content', model: MODEL, stream: true, messageCount: 1, pathParams: { project: 'acme-prod', location: 'global' } },
    wrongTypes: [['contents', {}, 'contents']],
  },
  {
    schema: 'vertex_ai.count_tokens',
    path: '/v1/projects/acme-prod/locations/us-central1/publishers/google/models/{model}:countTokens',
    modelIn: 'path',
    body: { contents: [{ parts: [{ text: 'a' }] }, { parts: [{ text: 'b' }] }] },
    expected: { api: 'vertex-ai', operation: 'count_tokens', model: MODEL, messageCount: 2 },
    wrongTypes: [['contents', 7, 'contents']],
    partialBody: true,
  },
  {
    schema: 'vertex_ai.anthropic_raw_predict',
    path: '/v1/projects/acme-prod/locations/us-east5/publishers/anthropic/models/{model}:rawPredict',
    modelIn: 'path',
    body: { anthropic_version: 'vertex-2023-10-16', max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'hi' }], tools: [{ name: 'search', input_schema: {} }] },
    expected: {
      api: 'vertex-ai',
      operation: 'chat',
      model: MODEL,
      stream: true,
      maxTokens: 64,
      tools: ['search'],
      messageCount: 1,
      pathParams: { project: 'acme-prod', location: 'us-east5' },
    },
    wrongTypes: [
      ['max_tokens', '64', 'max_tokens'],
      ['stream', 'yes', 'stream'],
    ],
  },
  {
    schema: 'vertex_ai.anthropic_stream_raw_predict',
    path: '/v1/projects/acme-prod/locations/us-east5/publishers/anthropic/models/{model}:streamRawPredict',
    modelIn: 'path',
    body: { anthropic_version: 'vertex-2023-10-16', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] },
    expected: { api: 'vertex-ai', operation: 'chat', model: MODEL, stream: true, maxTokens: 64, messageCount: 1 },
    wrongTypes: [['messages', 'hi', 'messages']],
  },
  {
    schema: 'vertex_ai.anthropic_count_tokens',
    path: '/v1/projects/acme-prod/locations/us-east5/publishers/anthropic/models/count-tokens:rawPredict',
    modelIn: 'body',
    body: { model: MODEL, messages: [{ role: 'user', content: 'hi' }] },
    expected: { api: 'vertex-ai', operation: 'count_tokens', model: MODEL, messageCount: 1, pathParams: { project: 'acme-prod', location: 'us-east5' } },
    wrongTypes: [['messages', 3, 'messages']],
  },
];

function pathOf(c: SchemaCase, model = MODEL): string {
  return `${c.path.replace('{model}', encodeURIComponent(model))}${c.query ? `?${c.query}` : ''}`;
}

function run(c: SchemaCase, body: string | Buffer | undefined, o: { headers?: Record<string, string>; path?: string } = {}) {
  return understand(ctxOf({ path: o.path ?? pathOf(c), headers: { ...JSON_CT, ...c.headers, ...o.headers }, ...(body === undefined ? {} : { body }) }));
}

/** Sets a top-level field in a body's JSON text by appending it (keeps the rest as it is). */
function withField(body: Record<string, unknown>, key: string, value: unknown): string {
  const { [key]: _drop, ...rest } = body;
  return JSON.stringify({ ...rest, [key]: value });
}

describe.each(CASES)('API schema $schema', (c) => {
  const text = JSON.stringify(c.body);

  describe('valid', () => {
    it('reads every field, typed', () => {
      const r = run(c, text);
      expect(r).toMatchObject({ ok: true, value: { schema: c.schema, ...c.expected, inputBytes: Buffer.byteLength(text), bodyComplete: true } });
      if (r.ok && r.value.maxTokens !== undefined) expect(Number.isInteger(r.value.maxTokens)).toBe(true);
      expect(Number.isInteger(r.ok ? r.value.messageCount : NaN)).toBe(true);
    });

    it('accepts whitespace, escapes and a charset in the content type', () => {
      const spaced = JSON.stringify(c.body, null, 2).replace(/"/, ' \n"');
      expect(run(c, spaced, { headers: { 'content-type': 'application/json; charset=utf-8' } })).toMatchObject({ ok: true, value: c.expected });
    });
  });

  describe('malformed', () => {
    it.each([
      ['cut short', text.slice(0, Math.floor(text.length / 2)), 'malformed_body'],
      ['with trailing data', `${text} {}`, 'malformed_body'],
      ['a bare string', '"hello"', 'invalid_field'],
      ['an array', `[${text}]`, 'invalid_field'],
      ['a comment', `/* x */ ${text}`, 'malformed_body'],
      ['a single-quoted key', text.replace(/^\{"(\w+)"/, "{'$1'"), 'malformed_body'],
      ['a missing comma', text.replace(',', ' '), 'malformed_body'],
      ['a leading zero number', text.replace(/^\{/, '{"n":01,'), 'malformed_body'],
      ['NaN', text.replace(/^\{/, '{"n":NaN,'), 'malformed_body'],
    ])('denies a body %s', (_w, body, reason) => {
      expect(run(c, body)).toMatchObject({ ok: false, reason });
    });

    it('denies a body that is not UTF-8', () => {
      expect(run(c, Buffer.concat([Buffer.from(text.slice(0, -1)), Buffer.from([0xff, 0x7d])]))).toMatchObject({ ok: false, reason: 'malformed_body' });
    });

    it('denies an empty body', () => {
      expect(run(c, undefined)).toMatchObject({ ok: false, reason: 'empty_body' });
    });

    it.each(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', ''])('answers content type %j with 415', (ct) => {
      expect(run(c, text, { headers: { 'content-type': ct } })).toMatchObject({ ok: false, reason: 'unsupported_media_type' });
    });

    it.each(c.wrongTypes)('names the field when %s has the wrong type', (key, value, field) => {
      const r = run(c, withField(c.body, key, value));
      expect(r).toMatchObject({ ok: false, reason: 'invalid_field' });
      expect(r.ok ? '' : r.detail).toContain(`'${field}`);
    });
  });

  describe('truncated', () => {
    const partial = text.slice(0, text.length - 5);
    if (c.partialBody) {
      it('decides from the path, marking the body incomplete (x-envoy-auth-partial-body)', () => {
        const r = run(c, partial, { headers: { 'x-envoy-auth-partial-body': 'true' } });
        expect(r).toMatchObject({ ok: true, value: { model: MODEL, bodyComplete: false, messageCount: 0 } });
      });
      it('reports the declared size as the input size', () => {
        const r = understand(ctxOf({ path: pathOf(c), headers: { ...JSON_CT, 'content-length': '5000000' }, body: partial }));
        expect(r).toMatchObject({ ok: true, value: { inputBytes: 5_000_000, bodyComplete: false } });
      });
    } else {
      it('answers a body flagged partial with 413, even when the part received parses', () => {
        expect(run(c, text, { headers: { 'x-envoy-auth-partial-body': 'true' } })).toMatchObject({ ok: false, reason: 'body_too_large' });
        expect(run(c, partial, { headers: { 'x-envoy-auth-partial-body': 'true' } })).toMatchObject({ ok: false, reason: 'body_too_large' });
      });
      it('answers a Content-Length larger than the bytes received with 413', () => {
        const r = understand(ctxOf({ path: pathOf(c), headers: { ...JSON_CT, 'content-length': String(text.length + 100) }, body: text }));
        expect(r).toMatchObject({ ok: false, reason: 'body_too_large' });
      });
    }
  });

  describe('ambiguous', () => {
    if (c.modelIn === 'body') {
      it('denies a model given twice (JSON.parse would keep the last)', () => {
        const dup = text.replace(/^\{/, '{"model":"model-b",');
        expect(run(c, dup)).toMatchObject({ ok: false, reason: 'ambiguous_model' });
        const same = text.replace(/^\{/, `{"model":"${MODEL}",`);
        expect(run(c, same)).toMatchObject({ ok: false, reason: 'ambiguous_model' });
      });
      it('sees a model key written with escapes as the same key', () => {
        const dup = text.replace(/^\{/, '{"mod\\u0065l":"model-b",');
        expect(run(c, dup)).toMatchObject({ ok: false, reason: 'ambiguous_model' });
      });
      it('denies a missing model', () => {
        expect(run(c, withField(c.body, 'model', null))).toMatchObject({ ok: false, reason: 'missing_model' });
      });
    } else {
      it('denies a body model that differs from the path', () => {
        expect(run(c, withField(c.body, 'model', 'model-b'))).toMatchObject({ ok: false, reason: 'ambiguous_model' });
      });
      it('accepts a body model equal to the path', () => {
        const m = c.schema.startsWith('gemini') ? `models/${MODEL}` : MODEL;
        expect(run(c, withField(c.body, 'model', m))).toMatchObject({ ok: true, value: { model: MODEL } });
      });
      if (c.slashInModel) {
        it('reads a percent-encoded ARN from the path as the model; refuses empty, `.` and `..` parts', () => {
          const arn = 'arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0';
          expect(run(c, text, { path: pathOf(c, arn) })).toMatchObject({ ok: true, value: { model: arn } });
          expect(pathOf(c, arn)).toContain('arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.anthropic');
          expect(run(c, text, { path: pathOf(c, 'anthropic.claude-3-haiku-20240307-v1:0').replace('%3A', ':') })).toMatchObject({
            ok: true,
            value: { model: 'anthropic.claude-3-haiku-20240307-v1:0' },
          });
          for (const bad of ['a%2F..%2Fb', '..', '%2E%2E', 'a%2F%2Fb', 'a%2F', 'a%5Cb']) {
            expect(run(c, text, { path: pathOf(c).replace(MODEL, bad) }), bad).toMatchObject({ ok: false, reason: 'invalid_field' });
          }
        });
      } else {
        it('reads a percent-encoded model from the path and refuses one with a slash', () => {
          expect(run(c, text, { path: pathOf(c, 'model a') })).toMatchObject({ ok: true, value: { model: 'model a' } });
          expect(run(c, text, { path: pathOf(c).replace(MODEL, 'a%2Fb') })).toMatchObject({ ok: false, reason: 'invalid_field' });
        });
      }
    }
    it('denies a model query parameter that differs', () => {
      const p = pathOf(c);
      const sep = p.includes('?') ? '&' : '?';
      expect(run(c, text, { path: `${p}${sep}model=model-b` })).toMatchObject({ ok: false, reason: 'ambiguous_model' });
      expect(run(c, text, { path: `${p}${sep}model=${MODEL}` })).toMatchObject({ ok: true });
    });
    it('denies any other top-level key given twice', () => {
      const key = Object.keys(c.body).find((k) => k !== 'model') ?? 'x';
      const dup = text.replace(/^\{/, `{${JSON.stringify(key)}:${JSON.stringify(c.body[key])},`);
      expect(run(c, dup)).toMatchObject({ ok: false, reason: 'ambiguous_field' });
    });
  });
});

describe('stored context (tools the body does not show)', () => {
  const chat = { model: MODEL, messages: [{ role: 'user', content: 'hi' }] };
  const responses = { model: MODEL, input: 'hi' };
  const gemini = { contents: [{ role: 'user', parts: [{ text: 'hi' }] }] };
  const geminiPath = `/v1beta/models/${MODEL}:generateContent`;
  const stored = (path: string, body: unknown) => {
    const r = understand(ctxOf({ path, headers: JSON_CT, body: JSON.stringify(body) }));
    return r.ok ? r.value.storedContext : r.reason;
  };

  it.each([
    ['an OpenAI responses saved prompt', '/v1/responses', { ...responses, prompt: { id: 'pmpt_1', version: '3' } }, ['prompt']],
    ['a responses request with prompt: null', '/v1/responses', { ...responses, prompt: null }, []],
    ['a responses request without a prompt', '/v1/responses', responses, []],
    ['Gemini cachedContent', geminiPath, { ...gemini, cachedContent: 'cachedContents/abc' }, ['cachedContent']],
    ['Gemini cached_content', geminiPath, { ...gemini, cached_content: 'cachedContents/abc' }, ['cachedContent']],
    ['Gemini without cached content', geminiPath, gemini, []],
    ['a chat completion (no stored context in that API)', '/v1/chat/completions', chat, []],
  ] as const)('%s', (_name, path, body, expected) => {
    expect(stored(path, body)).toEqual(expected);
  });

  it('refuses both spellings of Gemini cached content', () => {
    expect(stored(geminiPath, { ...gemini, cachedContent: 'cachedContents/a', cached_content: 'cachedContents/b' })).toBe('ambiguous_field');
  });
});

describe('Bedrock: a prompt ARN as the model brings in a stored prompt', () => {
  const prompt = 'arn:aws:bedrock:us-east-1:123456789012:prompt/PROMPT12345:2';
  const converse = (model: string, body: unknown) => understand(ctxOf({ path: `/model/${encodeURIComponent(model)}/converse`, headers: JSON_CT, body: JSON.stringify(body) }));

  it('is reported as stored context, and needs no messages', () => {
    expect(converse(prompt, { promptVariables: { topic: { text: 'x' } } })).toMatchObject({ ok: true, value: { model: prompt, storedContext: ['prompt'], messageCount: 0 } });
  });
  it('a model id or inference profile is not', () => {
    expect(converse('us.anthropic.claude-3-5-haiku-20241022-v1:0', { messages: [] })).toMatchObject({ ok: true, value: { storedContext: [] } });
    expect(converse('arn:aws:bedrock:us-east-1:123456789012:inference-profile/x', { messages: [] })).toMatchObject({ ok: true, value: { storedContext: [] } });
  });
  it('a model id without a prompt needs messages', () => {
    expect(converse('amazon.nova-lite-v1:0', {})).toMatchObject({ ok: false, reason: 'invalid_field', detail: "'messages' is required" });
  });
});

describe('Bedrock Converse: tools only where Converse takes them', () => {
  const converse = (body: unknown) => understand(ctxOf({ path: '/model/amazon.nova-lite-v1%3A0/converse', headers: JSON_CT, body: JSON.stringify(body) }));
  const messages = [{ role: 'user', content: [{ text: 'x' }] }];

  it("refuses another API's top-level tools or functions (they would reach the model unscoped); found by npm run fuzz -- 1000000 20261202", () => {
    for (const k of ['tools', 'functions']) {
      expect(converse({ messages, [k]: [{ type: 'function', function: { name: 'delete_all' } }] })).toMatchObject({
        ok: false,
        reason: 'invalid_field',
        detail: `'${k}' is not a Converse field: tools go in toolConfig.tools`,
      });
    }
  });
  it('reads toolConfig.tools', () => {
    expect(converse({ messages, toolConfig: { tools: [{ toolSpec: { name: 'lookup', inputSchema: { json: {} } } }] } })).toMatchObject({ ok: true, value: { tools: ['lookup'] } });
  });
});

describe('Vertex AI: project and location from the path', () => {
  const gen = (project: string, location: string) =>
    understand(
      ctxOf({ path: `/v1/projects/${project}/locations/${location}/publishers/google/models/gemini-2.5-flash:generateContent`, headers: JSON_CT, body: '{"contents":[]}' }),
    );

  it('are percent-decoded path parameters', () => {
    expect(gen('acme%2Dprod', 'europe-west4')).toMatchObject({ ok: true, value: { pathParams: { project: 'acme-prod', location: 'europe-west4' }, model: 'gemini-2.5-flash' } });
  });
  it('refuses a parameter that is not one name', () => {
    expect(gen('a%2Fb', 'us-central1')).toMatchObject({ ok: false, reason: 'invalid_field' });
    expect(gen('..', 'us-central1')).toMatchObject({ ok: false, reason: 'invalid_field' });
  });
  it('other APIs have none', () => {
    expect(understand(ctxOf({ path: '/v1/chat/completions', headers: JSON_CT, body: '{"model":"m","messages":[]}' }))).toMatchObject({ ok: true, value: { pathParams: {} } });
  });
  it('Claude count-tokens reads the model from the body and needs it', () => {
    const p = '/v1/projects/p/locations/us-east5/publishers/anthropic/models/count-tokens:rawPredict';
    expect(understand(ctxOf({ path: p, headers: JSON_CT, body: '{"messages":[]}' }))).toMatchObject({ ok: false, reason: 'missing_model' });
  });
  it('an unknown Vertex AI path is denied in the Vertex AI (Google API) error format', () => {
    const r = understand(ctxOf({ path: '/v1/projects/p/locations/l/endpoints/123:predict', headers: JSON_CT, body: '{}' }));
    expect(r).toMatchObject({ ok: true, value: { api: 'vertex-ai', schema: 'unknown', operation: 'unknown' } });
  });
});
