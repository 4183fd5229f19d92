/**
 * The OpenAI body parsers at their edges (src/apis/bodies/openai-chat.ts, openai-responses.ts,
 * openai-completions.ts, openai-embeddings.ts): the cases a mutation run of `npm run mutate`
 * showed no unit test deciding. Every tool form a policy scopes (function, custom, MCP, built-in,
 * the deprecated functions, data sources), every tool_choice and function_call form, the end
 * user, the token limit, and the detail each refusal names.
 */
import { describe, expect, it } from 'vitest';
import { understand } from '../../src/llm/index.ts';
import { ctxOf } from '../helpers/runtime.ts';

const json = { 'content-type': 'application/json' };
const at = (path: string) => (body: Record<string, unknown>) => understand(ctxOf({ path, headers: json, body: JSON.stringify(body) }));
const chat = (extra: Record<string, unknown>) => at('/v1/chat/completions')({ model: 'm', messages: [], ...extra });
const responses = (extra: Record<string, unknown>) => at('/v1/responses')({ model: 'm', ...extra });
const refused = (detail: string) => ({ ok: false, reason: 'invalid_field', detail });

describe('chat completions: tools', () => {
  it('reads function and custom tools by name (a tool without a type is a function), MCP by server label, others by type', () => {
    const tools = [
      { type: 'function', function: { name: 'a' } },
      { function: { name: 'b' } },
      { type: 'custom', custom: { name: 'c' } },
      { type: 'mcp', server_label: 'crm' },
      { type: 'mcp' },
      { type: 'web_search' },
    ];
    expect(chat({ tools })).toMatchObject({ ok: true, value: { tools: ['a', 'b', 'c', 'mcp:crm', 'mcp', 'web_search'] } });
  });

  it('refuses a tool whose name or type cannot be read', () => {
    expect(chat({ tools: [{ type: 'custom', custom: null }] })).toMatchObject(refused("'tools[0].custom' is required"));
    expect(chat({ tools: [{ type: 'custom', name: 'c' }] })).toMatchObject(refused("'tools[0].custom' is required"));
    expect(chat({ tools: [{ type: 'function', function: 'f' }] })).toMatchObject(refused("'tools[0].function' must be an object"));
    expect(chat({ tools: [{ type: 'function', function: { name: '' } }] })).toMatchObject(refused("'tools[0].function.name' must be a non-empty string"));
    expect(chat({ tools: [{ type: 7 }] })).toMatchObject(refused("'tools[0].type' must be a string"));
    expect(chat({ tools: [{ type: 'mcp', server_label: 7 }] })).toMatchObject(refused("'tools[0].server_label' must be a string"));
    expect(chat({ tools: ['f'] })).toMatchObject(refused("'tools[0]' must be an object"));
  });

  it('reads the deprecated functions and Azure data sources, and web_search_options only when given', () => {
    expect(chat({ functions: [{ name: 'f' }], data_sources: [{ type: 'azure_search' }] })).toMatchObject({ ok: true, value: { tools: ['f', 'data_source:azure_search'] } });
    expect(chat({ web_search_options: null })).toMatchObject({ ok: true, value: { tools: [] } });
    expect(chat({ data_sources: [{ type: '' }] })).toMatchObject(refused("'data_sources[0].type' must be a non-empty string"));
    expect(chat({ data_sources: [{}] })).toMatchObject(refused("'data_sources[0].type' must be a non-empty string"));
    expect(chat({ functions: {} })).toMatchObject(refused("'functions' must be an array"));
  });
});

describe('chat completions: tool_choice and function_call', () => {
  it.each([
    ['none', 'none'],
    ['auto', 'auto'],
    ['required', 'required'],
    [{ type: 'function', function: { name: 'a' } }, 'tool:a'],
    [{ type: 'custom', custom: { name: 'c' } }, 'tool:c'],
    [{ type: 'allowed_tools', allowed_tools: { mode: 'required', tools: [] } }, 'required'],
    [{ type: 'allowed_tools', allowed_tools: { mode: 'auto', tools: [] } }, 'auto'],
    [{ type: 'web_search_preview' }, 'tool:web_search_preview'],
    [null, undefined],
  ])('%j is %s', (choice, expected) => {
    expect(chat({ tool_choice: choice })).toMatchObject({ ok: true, value: { toolChoice: expected } });
  });

  it.each([
    ['sometimes', "'tool_choice' must be one of none, auto, required"],
    [7, "'tool_choice' must be an object"],
    [{ type: 'function' }, "'tool_choice.function' is required"],
    [{ type: 'custom', name: 'c' }, "'tool_choice.custom' is required"],
    [{ type: 'function', function: { name: '' } }, "'tool_choice.function.name' must be a non-empty string"],
    [{ type: 'allowed_tools', mode: 'auto' }, "'tool_choice.allowed_tools' is required"],
    [{ type: 'allowed_tools', allowed_tools: { mode: 'none' } }, "'tool_choice.allowed_tools.mode' must be one of auto, required"],
    [{ type: '' }, "'tool_choice.type' must be a non-empty string"],
    [{}, "'tool_choice.type' must be a non-empty string"],
    [{ type: 7 }, "'tool_choice.type' must be a string"],
  ])('%j is refused: %s', (choice, detail) => {
    expect(chat({ tool_choice: choice })).toMatchObject(refused(detail));
  });

  it('reads the deprecated function_call: none, auto or one function', () => {
    expect(chat({ function_call: 'none' })).toMatchObject({ ok: true, value: { toolChoice: 'none' } });
    expect(chat({ function_call: 'auto' })).toMatchObject({ ok: true, value: { toolChoice: 'auto' } });
    expect(chat({ function_call: { name: 'f' } })).toMatchObject({ ok: true, value: { toolChoice: 'tool:f' } });
    expect(chat({ function_call: null })).toMatchObject({ ok: true, value: { toolChoice: undefined } });
    expect(chat({ function_call: 'required' })).toMatchObject(refused("'function_call' must be one of none, auto"));
    expect(chat({ function_call: {} })).toMatchObject(refused("'function_call.name' must be a non-empty string"));
    expect(chat({ function_call: 7 })).toMatchObject(refused("'function_call' must be an object"));
  });

  it('refuses tool_choice and function_call together, whichever forms they take', () => {
    expect(chat({ tool_choice: { type: 'function', function: { name: 'a' } }, function_call: { name: 'b' } })).toMatchObject({
      ok: false,
      reason: 'ambiguous_field',
      detail: "'tool_choice' and 'function_call' are both given",
    });
  });
});

describe('chat completions: token limit and end user', () => {
  it('takes whichever limit is given, and the larger of both', () => {
    expect(chat({ max_tokens: 9 })).toMatchObject({ ok: true, value: { maxTokens: 9 } });
    expect(chat({ max_completion_tokens: 9 })).toMatchObject({ ok: true, value: { maxTokens: 9 } });
    expect(chat({ max_tokens: 5000, max_completion_tokens: 10 })).toMatchObject({ ok: true, value: { maxTokens: 5000 } });
    expect(chat({})).toMatchObject({ ok: true, value: { maxTokens: undefined } });
  });

  it('takes safety_identifier over user, and user alone', () => {
    expect(chat({ safety_identifier: 's-1', user: 'u-1' })).toMatchObject({ ok: true, value: { endUser: 's-1' } });
    expect(chat({ safety_identifier: '', user: 'u-1' })).toMatchObject({ ok: true, value: { endUser: '' } });
    expect(chat({ user: 'u-1' })).toMatchObject({ ok: true, value: { endUser: 'u-1' } });
    expect(chat({ safety_identifier: 5 })).toMatchObject(refused("'safety_identifier' must be a string"));
  });

  it('needs messages', () => {
    expect(at('/v1/chat/completions')({ model: 'm' })).toMatchObject(refused("'messages' is required"));
  });
});

describe('responses', () => {
  it('reads flat function and custom tools and tool choices', () => {
    expect(responses({ tools: [{ type: 'custom', name: 'c' }, { name: 'f' }] })).toMatchObject({ ok: true, value: { tools: ['c', 'f'] } });
    expect(responses({ tool_choice: { type: 'function', name: 'f' } })).toMatchObject({ ok: true, value: { toolChoice: 'tool:f' } });
    expect(responses({ tool_choice: { type: 'custom', name: 'c' } })).toMatchObject({ ok: true, value: { toolChoice: 'tool:c' } });
    expect(responses({ tool_choice: { type: 'allowed_tools', mode: 'required', tools: [] } })).toMatchObject({ ok: true, value: { toolChoice: 'required' } });
    expect(responses({ tool_choice: { type: 'allowed_tools', mode: 'any' } })).toMatchObject(refused("'tool_choice.mode' must be one of auto, required"));
    expect(responses({ tools: [{ type: 'function', function: { name: 'f' } }] })).toMatchObject(refused("'tools[0].name' must be a non-empty string"));
  });

  it('counts input as one string, a list, or none; reads stream and max_output_tokens', () => {
    expect(responses({ input: 'hi' })).toMatchObject({ ok: true, value: { messageCount: 1 } });
    expect(responses({ input: ['a', 'b'] })).toMatchObject({ ok: true, value: { messageCount: 2 } });
    expect(responses({})).toMatchObject({ ok: true, value: { messageCount: 0, stream: false, maxTokens: undefined, storedContext: [] } });
    expect(responses({ stream: true, max_output_tokens: 1 })).toMatchObject({ ok: true, value: { stream: true, maxTokens: 1 } });
    expect(responses({ input: 5 })).toMatchObject(refused("'input' must be a string or an array"));
  });
});

describe('completions and embeddings', () => {
  it('need their prompt or input, one string or a list', () => {
    expect(at('/v1/completions')({ model: 'm' })).toMatchObject(refused("'prompt' is required"));
    expect(at('/v1/completions')({ model: 'm', prompt: 'p', max_tokens: 3, stream: true, user: 'u' })).toMatchObject({
      ok: true,
      value: { messageCount: 1, maxTokens: 3, stream: true, endUser: 'u', tools: [], toolChoice: undefined },
    });
    expect(at('/v1/embeddings')({ model: 'm' })).toMatchObject(refused("'input' is required"));
    expect(at('/v1/embeddings')({ model: 'm', input: [] })).toMatchObject({ ok: true, value: { messageCount: 0, tools: [], maxTokens: undefined } });
    expect(at('/v1/embeddings')({ model: 'm', input: 'x', safety_identifier: 's' })).toMatchObject({ ok: true, value: { endUser: 's' } });
  });
});
