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
}

const MODEL = 'model-a';
const tools = [{ type: 'function', function: { name: 'send_email', parameters: {} } }];

const CASES: readonly SchemaCase[] = [
  {
    schema: 'openai.chat_completions',
    path: '/v1/chat/completions',
    modelIn: 'body',
    body: { model: MODEL, stream: true, max_completion_tokens: 50, temperature: 0.2, messages: [{ role: 'user', content: 'hi' }, { role: 'user', content: 'x' }], tools, tool_choice: { type: 'function', function: { name: 'send_email' } }, user: 'u-1' },
    expected: { api: 'openai', operation: 'chat', model: MODEL, stream: true, maxTokens: 50, temperature: 0.2, tools: ['send_email'], toolChoice: 'tool:send_email', endUser: 'u-1', messageCount: 2 },
    wrongTypes: [['stream', 'yes', 'stream'], ['max_tokens', 1.5, 'max_tokens'], ['max_completion_tokens', '5', 'max_completion_tokens'], ['messages', 'hi', 'messages'], ['temperature', 'hot', 'temperature'], ['tools', [{ type: 'function' }], 'tools[0].function'], ['tool_choice', 'sometimes', 'tool_choice'], ['model', 4, 'model']],
  },
  {
    schema: 'openai.responses',
    path: '/v1/responses',
    modelIn: 'body',
    body: { model: MODEL, input: [{ role: 'user', content: 'hi' }], max_output_tokens: 30, tools: [{ type: 'function', name: 'lookup' }, { type: 'web_search' }, { type: 'mcp', server_label: 'crm' }], tool_choice: 'required', safety_identifier: 'hash-1' },
    expected: { api: 'openai', operation: 'chat', model: MODEL, stream: false, maxTokens: 30, tools: ['lookup', 'web_search', 'mcp:crm'], toolChoice: 'required', endUser: 'hash-1', messageCount: 1 },
    wrongTypes: [['max_output_tokens', -3, 'max_output_tokens'], ['input', 5, 'input'], ['tools', [{ type: 'function' }], 'tools[0].name'], ['stream', 1, 'stream']],
  },
  {
    schema: 'openai.completions',
    path: '/v1/completions',
    modelIn: 'body',
    body: { model: MODEL, prompt: ['a', 'b', 'c'], max_tokens: 7, stream: false },
    expected: { operation: 'text_completion', model: MODEL, maxTokens: 7, messageCount: 3, tools: [] },
    wrongTypes: [['prompt', 3, 'prompt'], ['max_tokens', 0, 'max_tokens']],
  },
  {
    schema: 'openai.embeddings',
    path: '/v1/embeddings',
    modelIn: 'body',
    body: { model: MODEL, input: 'text to embed', user: 'u-2' },
    expected: { operation: 'embeddings', model: MODEL, messageCount: 1, endUser: 'u-2', stream: false },
    wrongTypes: [['input', { a: 1 }, 'input'], ['user', 5, 'user']],
  },
  {
    schema: 'azure_openai.chat_completions',
    path: '/openai/deployments/{model}/chat/completions',
    query: 'api-version=2024-10-21',
    modelIn: 'path',
    body: { messages: [{ role: 'user', content: 'hi' }], max_tokens: 9, tools, tool_choice: 'auto' },
    expected: { api: 'azure-openai', operation: 'chat', model: MODEL, maxTokens: 9, tools: ['send_email'], toolChoice: 'auto', messageCount: 1 },
    wrongTypes: [['messages', {}, 'messages'], ['max_tokens', 'many', 'max_tokens']],
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
    body: { model: MODEL, max_tokens: 64, stream: true, temperature: 1, messages: [{ role: 'user', content: 'hi' }], tools: [{ name: 'search', input_schema: {} }, { type: 'web_search_20250305', name: 'web_search' }], tool_choice: { type: 'any' }, metadata: { user_id: 'u-3' } },
    expected: { api: 'anthropic', operation: 'chat', model: MODEL, stream: true, maxTokens: 64, temperature: 1, tools: ['search', 'web_search'], toolChoice: 'required', endUser: 'u-3', messageCount: 1 },
    wrongTypes: [['max_tokens', '64', 'max_tokens'], ['tools', [{ input_schema: {} }], 'tools[0].name'], ['metadata', { user_id: 5 }, 'metadata.user_id'], ['tool_choice', { type: 'sometimes' }, 'tool_choice.type']],
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
    body: { contents: [{ role: 'user', parts: [{ text: 'hi' }] }], generationConfig: { maxOutputTokens: 100, temperature: 0.5 }, tools: [{ functionDeclarations: [{ name: 'get_weather' }] }, { google_search: {} }], toolConfig: { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['get_weather'] } } },
    expected: { api: 'gemini', operation: 'generate_content', model: MODEL, stream: false, maxTokens: 100, temperature: 0.5, tools: ['get_weather', 'googleSearch'], toolChoice: 'tool:get_weather', messageCount: 1 },
    wrongTypes: [['contents', 'hi', 'contents'], ['generationConfig', { maxOutputTokens: 'lots' }, 'generationConfig.maxOutputTokens'], ['toolConfig', { functionCallingConfig: { mode: 'SOMETIMES' } }, 'toolConfig.functionCallingConfig.mode']],
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
        const m = c.schema.startsWith("gemini") ? `models/${MODEL}` : MODEL;
        expect(run(c, withField(c.body, 'model', m))).toMatchObject({ ok: true, value: { model: MODEL } });
      });
      it('reads a percent-encoded model from the path and refuses one with a slash', () => {
        expect(run(c, text, { path: pathOf(c, 'model a') })).toMatchObject({ ok: true, value: { model: 'model a' } });
        expect(run(c, text, { path: pathOf(c).replace(MODEL, 'a%2Fb') })).toMatchObject({ ok: false, reason: 'invalid_field' });
      });
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
