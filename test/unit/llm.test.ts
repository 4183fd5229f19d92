import { describe, expect, it } from 'vitest';
import { understand } from '../../src/llm/index.ts';
import { globMatch } from '../../src/policy/scoped-rule.ts';
import { ctxOf } from '../helpers/runtime.ts';

const json = { 'content-type': 'application/json' };

describe('LLM request phase', () => {
  it('reads an OpenAI chat completion', () => {
    const body = JSON.stringify({ model: 'gpt-4o', stream: true, max_completion_tokens: 50, messages: [{ role: 'user', content: 'hi' }, { role: 'user', content: 'again' }], tools: [{ type: 'function', function: { name: 'send_email' } }] });
    const r = understand(ctxOf({ headers: json, body }));
    expect(r).toEqual({ ok: true, value: { api: 'openai', schema: 'openai.chat_completions', operation: 'chat', model: 'gpt-4o', stream: true, maxTokens: 50, tools: ['send_email'], messageCount: 2, inputBytes: body.length } });
  });

  it('reads an Anthropic message', () => {
    const body = JSON.stringify({ model: 'claude-x', max_tokens: 10, messages: [], tools: [{ name: 'search', input_schema: {} }] });
    const r = understand(ctxOf({ path: '/v1/messages', headers: json, body }));
    expect(r.ok && r.value).toMatchObject({ api: 'anthropic', model: 'claude-x', maxTokens: 10, tools: ['search'], stream: false });
  });

  it.each([
    ['not JSON', '{"model":', 'malformed_body'],
    ['a JSON array', '[1]', 'invalid_field'],
    ['no model', '{"messages":[]}', 'missing_model'],
    ['a numeric model', '{"model":1,"messages":[]}', 'invalid_field'],
    ['a string stream flag', '{"model":"m","stream":"yes","messages":[]}', 'invalid_field'],
    ['a fractional max_tokens', '{"model":"m","max_tokens":1.5,"messages":[]}', 'invalid_field'],
    ['messages not an array', '{"model":"m","messages":"hi"}', 'invalid_field'],
    ['a tool without a name', '{"model":"m","messages":[],"tools":[{"type":"function"}]}', 'invalid_field'],
  ])('denies a body with %s', (_w, body, reason) => {
    expect(understand(ctxOf({ headers: json, body }))).toMatchObject({ ok: false, reason });
  });

  it('names the bad field in the detail', () => {
    expect(understand(ctxOf({ headers: json, body: '{"model":"m","max_tokens":-1,"messages":[]}' }))).toMatchObject({ detail: "'max_tokens' must be a positive integer" });
  });

  it('denies empty, truncated and non-JSON bodies by their own reasons', () => {
    expect(understand(ctxOf({ headers: json }))).toMatchObject({ reason: 'empty_body' });
    expect(understand(ctxOf({ headers: { ...json, 'x-envoy-auth-partial-body': 'true' }, body: '{"model":"m"' }))).toMatchObject({ reason: 'body_too_large' });
    expect(understand(ctxOf({ headers: { 'content-type': 'text/plain' }, body: '{}' }))).toMatchObject({ reason: 'unsupported_media_type' });
  });

  it('denies unknown paths and methods', () => {
    expect(understand(ctxOf({ path: '/v1/files', headers: json, body: '{}' }))).toMatchObject({ reason: 'unknown_api' });
    expect(understand(ctxOf({ method: 'GET', headers: json }))).toMatchObject({ reason: 'method_not_allowed' });
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
