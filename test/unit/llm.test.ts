import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/load.ts';
import { buildProviders } from '../../src/providers/runtime.ts';
import { apiOfRequest } from '../../src/apis/endpoints.ts';
import { createUnderstander, understand } from '../../src/llm/index.ts';
import { arrayElements, MAX_DEPTH, objectMembers, skipValue, wholeValue } from '../../src/apis/bodies/json-scan.ts';
import { globMatch } from '../../src/core/glob.ts';
import { ctxOf } from '../helpers/runtime.ts';

const json = { 'content-type': 'application/json' };

describe('JSON scanner', () => {
  it.each([
    ['{}', true],
    ['{"a":[1,2,{"b":"c\\"d"}],"e":null,"f":true,"g":-1.5e3}', true],
    ['  [ ]  ', true],
    ['"a\\\\"', true],
    ['{"a":1,}', false],
    ['[1,]', false],
    ['{"a" 1}', false],
    ['{"a":1', false],
    ['[1 2]', false],
    ['{"a":tru}', false],
    ['{"a":1}}', false],
    ['{"a":"unterminated}', false],
    ['{1:2}', false],
    ['-', false],
    ['.5', false],
    ['', false],
  ])('%s is valid: %s', (text, valid) => {
    expect(wholeValue(text).ok).toBe(valid);
  });

  it('returns members with decoded keys and reports the first duplicate', () => {
    const s = '{"a":1,"b":[1,2],"\\u0061":3}';
    const r = objectMembers(s, { start: 0, end: s.length });
    expect(r.ok && [...r.value.members.keys()]).toEqual(['a', 'b']);
    expect(r.ok && r.value.duplicate).toBe('a');
  });

  it('counts array elements without decoding them', () => {
    const s = '[{"x":"]"},"[",3,[[]]]';
    const r = arrayElements(s, { start: 0, end: s.length });
    expect(r.ok && r.value.length).toBe(4);
  });

  it('counts direct elements during the scan, empty containers included', () => {
    const s = '{"messages":[[],{},[1,[2]],"x",{"a":[]}],"e":[]}';
    const r = objectMembers(s, { start: 0, end: s.length });
    expect(r.ok && r.value.members.get('messages')?.count).toBe(5);
    expect(r.ok && r.value.members.get('e')?.count).toBe(0);
  });

  it('refuses nesting deeper than the limit, without recursion', () => {
    const deep = `${'['.repeat(MAX_DEPTH + 1)}${']'.repeat(MAX_DEPTH + 1)}`;
    expect(skipValue(deep, 0)).toMatchObject({ ok: false });
    const ok = `${'['.repeat(MAX_DEPTH)}${']'.repeat(MAX_DEPTH)}`;
    expect(skipValue(ok, 0)).toMatchObject({ ok: true, value: ok.length });
    const attack = '['.repeat(1_000_000);
    expect(understand(ctxOf({ headers: json, body: `{"model":"m","messages":${attack}` }))).toMatchObject({ ok: false, reason: 'malformed_body' });
  });
});

describe('LLM request phase', () => {
  it('treats an unknown path as operation unknown (for the policy to deny or allow by path)', () => {
    const r = understand(ctxOf({ path: '/v1/files', headers: json, body: '{}' }));
    expect(r).toMatchObject({ ok: true, value: { operation: 'unknown', schema: 'unknown', api: 'openai', model: undefined } });
    expect(understand(ctxOf({ path: '/v1/chat/completions/', headers: json, body: '{}' }))).toMatchObject({ ok: true, value: { operation: 'unknown' } });
    expect(understand(ctxOf({ path: '/v1/chat/%63ompletions', headers: json, body: '{}' }))).toMatchObject({ ok: true, value: { operation: 'unknown' } });
    expect(understand(ctxOf({ path: '/v1beta/models/m:predict', headers: json, body: '{}' }))).toMatchObject({ ok: true, value: { operation: 'unknown', api: 'gemini' } });
    expect(understand(ctxOf({ path: '/v1/batches', headers: { ...json, 'anthropic-version': '2023-06-01' }, body: '{}' }))).toMatchObject({
      ok: true,
      value: { api: 'anthropic' },
    });
  });

  it('denies a wrong method on a known path', () => {
    expect(understand(ctxOf({ method: 'GET', headers: json }))).toMatchObject({ ok: false, reason: 'method_not_allowed' });
    expect(understand(ctxOf({ method: 'POST', path: '/v1/models', headers: json, body: '{}' }))).toMatchObject({ ok: false, reason: 'method_not_allowed' });
  });

  it('reads model listings (OpenAI, Anthropic by its version header, Gemini) without a body', () => {
    expect(understand(ctxOf({ method: 'GET', path: '/v1/models', headers: {} }))).toMatchObject({
      ok: true,
      value: { api: 'openai', schema: 'openai.models', operation: 'models', model: undefined, bodyComplete: true },
    });
    expect(understand(ctxOf({ method: 'GET', path: '/v1/models', headers: { 'anthropic-version': '2023-06-01' } }))).toMatchObject({
      ok: true,
      value: { api: 'anthropic', schema: 'anthropic.models' },
    });
    expect(understand(ctxOf({ method: 'GET', path: '/v1/models/gpt-4o', headers: {} }))).toMatchObject({ ok: true, value: { operation: 'models', model: 'gpt-4o' } });
    expect(understand(ctxOf({ method: 'GET', path: '/v1beta/models', headers: {} }))).toMatchObject({ ok: true, value: { api: 'gemini' } });
  });

  it('requires one api-version on Azure deployment paths', () => {
    const body = '{"messages":[]}';
    expect(understand(ctxOf({ path: '/openai/deployments/d1/chat/completions', headers: json, body }))).toMatchObject({
      ok: false,
      reason: 'invalid_field',
      detail: expect.stringContaining('api-version'),
    });
    expect(understand(ctxOf({ path: '/openai/deployments/d1/chat/completions?api-version=1&api-version=2', headers: json, body }))).toMatchObject({
      ok: false,
      reason: 'invalid_field',
    });
    expect(understand(ctxOf({ path: '/openai/deployments/d1/chat/completions?api-version=1', headers: json, body }))).toMatchObject({ ok: true, value: { model: 'd1' } });
  });

  it('reads Azure OpenAI v1 paths with the model in the body', () => {
    expect(understand(ctxOf({ path: '/openai/v1/chat/completions', headers: json, body: '{"model":"gpt-4o","messages":[]}' }))).toMatchObject({
      ok: true,
      value: { api: 'azure-openai', model: 'gpt-4o' },
    });
  });

  it('denies both spellings of one Gemini field', () => {
    const body = JSON.stringify({ contents: [], generationConfig: { maxOutputTokens: 5 }, generation_config: { max_output_tokens: 50000 } });
    expect(understand(ctxOf({ path: '/v1beta/models/g:generateContent', headers: json, body }))).toMatchObject({ ok: false, reason: 'ambiguous_field' });
    const inner = JSON.stringify({ contents: [], generationConfig: { maxOutputTokens: 5, max_output_tokens: 50000 } });
    expect(understand(ctxOf({ path: '/v1beta/models/g:generateContent', headers: json, body: inner }))).toMatchObject({ ok: false, reason: 'ambiguous_field' });
  });

  it('denies a key given twice inside an object it reads (a tool name)', () => {
    const body = '{"model":"m","messages":[],"tools":[{"type":"function","function":{"name":"safe","name":"rm_rf"}}]}';
    expect(understand(ctxOf({ headers: json, body }))).toMatchObject({ ok: false, reason: 'ambiguous_field', detail: expect.stringContaining('tools[0].function.name') });
  });

  it('sees tools given outside tools: deprecated functions, Azure data_sources, web_search_options', () => {
    const body = JSON.stringify({
      model: 'm',
      messages: [],
      tools: [{ type: 'function', function: { name: 'a' } }],
      functions: [{ name: 'legacy_fn' }],
      function_call: { name: 'legacy_fn' },
      data_sources: [{ type: 'azure_search', parameters: {} }],
      web_search_options: {},
    });
    expect(understand(ctxOf({ headers: json, body }))).toMatchObject({
      ok: true,
      value: { tools: ['a', 'legacy_fn', 'data_source:azure_search', 'web_search'], toolChoice: 'tool:legacy_fn' },
    });
    const both = JSON.stringify({ model: 'm', messages: [], functions: [{ name: 'f' }], function_call: 'auto', tool_choice: 'none' });
    expect(understand(ctxOf({ headers: json, body: both }))).toMatchObject({ ok: false, reason: 'ambiguous_field' });
    expect(understand(ctxOf({ headers: json, body: '{"model":"m","messages":[],"functions":[{}]}' }))).toMatchObject({
      ok: false,
      reason: 'invalid_field',
      detail: expect.stringContaining('functions[0].name'),
    });
  });

  it('counts Anthropic MCP servers as tools', () => {
    const body = JSON.stringify({ model: 'c', max_tokens: 5, messages: [], mcp_servers: [{ type: 'url', url: 'https://mcp.example', name: 'crm' }] });
    expect(understand(ctxOf({ path: '/v1/messages', headers: json, body }))).toMatchObject({ ok: true, value: { tools: ['mcp:crm'] } });
  });

  it('takes the larger of max_tokens and max_completion_tokens', () => {
    const body = '{"model":"m","messages":[],"max_tokens":10,"max_completion_tokens":5000}';
    expect(understand(ctxOf({ headers: json, body }))).toMatchObject({ ok: true, value: { maxTokens: 5000 } });
  });

  it('refuses an integer limit written as a float or exponent', () => {
    for (const v of ['100.0', '1e3']) {
      expect(understand(ctxOf({ headers: json, body: `{"model":"m","messages":[],"max_tokens":${v}}` }))).toMatchObject({ ok: false, reason: 'invalid_field' });
    }
  });

  it('treats null optional fields as absent', () => {
    expect(understand(ctxOf({ headers: json, body: '{"model":"m","messages":[],"max_tokens":null,"tools":null,"stream":null}' }))).toMatchObject({
      ok: true,
      value: { maxTokens: undefined, tools: [], stream: false },
    });
  });

  it('never keeps prompt text', () => {
    const r = understand(ctxOf({ headers: json, body: '{"model":"m","messages":[{"role":"user","content":"the launch code is 7731"}]}' }));
    expect(JSON.stringify(r)).not.toContain('7731');
  });

  it('refuses a model with control characters or too long', () => {
    expect(understand(ctxOf({ headers: json, body: '{"model":"m\\u0000x","messages":[]}' }))).toMatchObject({ ok: false, reason: 'invalid_field' });
    expect(understand(ctxOf({ headers: json, body: `{"model":"${'m'.repeat(300)}","messages":[]}` }))).toMatchObject({ ok: false, reason: 'invalid_field' });
  });

  it('refuses path models that a server could resolve to another path', () => {
    for (const m of ['..', '%2e%2e', '.', 'a%5Cb', 'a%2Fb', '%E0%A4%A']) {
      expect(understand(ctxOf({ path: `/openai/deployments/${m}/chat/completions?api-version=1`, headers: json, body: '{"messages":[]}' }))).toMatchObject({
        ok: false,
        reason: 'invalid_field',
      });
      expect(understand(ctxOf({ path: `/v1beta/models/${m}:generateContent`, headers: json, body: '{"contents":[]}' }))).toMatchObject({ ok: false, reason: 'invalid_field' });
    }
  });

  it('refuses a compressed body (415): it cannot be read', () => {
    expect(understand(ctxOf({ headers: { ...json, 'content-encoding': 'gzip' }, body: '{"model":"m","messages":[]}' }))).toMatchObject({
      ok: false,
      reason: 'unsupported_media_type',
    });
    expect(understand(ctxOf({ headers: { ...json, 'content-encoding': 'identity' }, body: '{"model":"m","messages":[]}' }))).toMatchObject({ ok: true });
  });

  it('knows the API of a path before the body is read (error formats)', () => {
    expect(apiOfRequest('/v1/messages', new Map())).toBe('anthropic');
    expect(apiOfRequest('/v1beta/models/x:generateContent', new Map())).toBe('gemini');
    expect(apiOfRequest('/openai/deployments/x/embeddings', new Map())).toBe('azure-openai');
    expect(apiOfRequest('/v1/whatever', new Map())).toBe('openai');
    // Bedrock and Vertex AI paths llm-authz does not read still speak their API's error format.
    expect(apiOfRequest('/model/anthropic.claude-x/count-tokens', new Map())).toBe('bedrock');
    expect(apiOfRequest('/guardrail/g1/version/1/apply', new Map())).toBe('bedrock');
    expect(apiOfRequest('/async-invoke', new Map())).toBe('bedrock');
    expect(apiOfRequest('/modelx/y', new Map())).toBe('openai');
    expect(apiOfRequest('/v1beta1/publishers/google/models/gemini-2.5-flash:generateContent', new Map())).toBe('vertex-ai');
    expect(apiOfRequest('/v1/projects/p/locations/l/endpoints/e:predict', new Map())).toBe('vertex-ai');
    const h = (o: Record<string, string>) => new Map(Object.entries(o));
    expect(apiOfRequest('/v1/models', h({}))).toBe('openai');
    expect(apiOfRequest('/v1/models', h({ 'anthropic-version': '2023-06-01' }))).toBe('anthropic');
    expect(apiOfRequest('/v1/models', h({ 'x-api-key': 'k' }))).toBe('anthropic');
    expect(apiOfRequest('/v1/models/claude-x', h({ 'anthropic-version': '2023-06-01' }))).toBe('anthropic');
    expect(apiOfRequest('/v1/chat/completions', h({ 'x-api-key': 'k' }))).toBe('openai');
    expect(apiOfRequest('/v1beta/models/x:generateContent', h({ 'x-api-key': 'k' }))).toBe('gemini');
  });
});

describe('provider selection', () => {
  const cfg = parseConfigText(
    `providers:
  - {name: local-llama, api: openai-compatible, models: ["llama-*", "qwen*"]}
  - {name: openai, api: openai}
  - {name: azure, api: azure-openai, models: ["prod-*"]}
  - {name: gemini, api: gemini}
  - {name: claude, api: anthropic}
`,
    't.yaml',
  );
  const providers = buildProviders(cfg.providers, cfg.credentials, '/', 't.yaml');
  const u = createUnderstander(providers);
  const chat = (model: string) => u(ctxOf({ headers: json, body: JSON.stringify({ model, messages: [] }) }));

  it('picks the first provider of the API whose models match', () => {
    expect(chat('llama-3-8b')).toMatchObject({ ok: true, value: { provider: { name: 'local-llama' } } });
    expect(chat('gpt-4o')).toMatchObject({ ok: true, value: { provider: { name: 'openai' } } });
    expect(u(ctxOf({ path: '/v1beta/models/gemini-2.5-flash:generateContent', headers: json, body: '{"contents":[]}' }))).toMatchObject({
      ok: true,
      value: { provider: { name: 'gemini' } },
    });
    expect(u(ctxOf({ path: '/v1/messages', headers: json, body: '{"model":"claude-x","messages":[]}' }))).toMatchObject({ ok: true, value: { provider: { name: 'claude' } } });
  });

  it('leaves the provider undefined when none serves the model', () => {
    expect(u(ctxOf({ path: '/openai/deployments/test-1/embeddings?api-version=1', headers: json, body: '{"input":"x"}' }))).toMatchObject({
      ok: true,
      value: { provider: undefined },
    });
    expect(u(ctxOf({ path: '/openai/deployments/prod-1/embeddings?api-version=1', headers: json, body: '{"input":"x"}' }))).toMatchObject({
      ok: true,
      value: { provider: { name: 'azure' } },
    });
  });
});

describe('globMatch', () => {
  it.each([
    ['gpt-4o', 'gpt-4o', true],
    ['gpt-4o', 'gpt-4o-mini', false],
    ['gpt-4o*', 'gpt-4o-mini', true],
    ['*', 'anything', true],
    ['claude-*-latest', 'claude-3-5-haiku-latest', true],
    ['claude-*-latest', 'claude-3-5-haiku', false],
    ['a*b*c', 'abc', true],
    ['a*b*c', 'acb', false],
    ['*mini', 'gpt-4o-mini', true],
    ['ab*ab', 'ab', false],
  ])('%s matches %s: %s', (p, v, expected) => {
    expect(globMatch(p, v)).toBe(expected);
  });
});
