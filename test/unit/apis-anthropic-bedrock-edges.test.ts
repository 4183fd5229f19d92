/**
 * The Anthropic and Bedrock body parsers at their edges (src/apis/bodies/anthropic-messages.ts,
 * bedrock-converse.ts, bedrock-native.ts, bedrock-invoke.ts): the cases a mutation run of
 * `npm run mutate` showed no unit test deciding. Every tool_choice form, what count_tokens
 * leaves unread, Converse tool kinds and choices, the token limit under each native model
 * family's name, the prompt forms counted as one message, and the detail each refusal names.
 */
import { describe, expect, it } from 'vitest';
import { understand } from '../../src/llm/index.ts';
import { ctxOf } from '../helpers/runtime.ts';

const json = { 'content-type': 'application/json' };
const at = (path: string) => (body: Record<string, unknown>) => understand(ctxOf({ path, headers: json, body: JSON.stringify(body) }));
const messages = (extra: Record<string, unknown>) => at('/v1/messages')({ model: 'c', messages: [], ...extra });
const countTokens = (extra: Record<string, unknown>) => at('/v1/messages/count_tokens')({ model: 'c', messages: [], ...extra });
const converse = (extra: Record<string, unknown>) => at('/model/amazon.nova-lite-v1%3A0/converse')({ messages: [], ...extra });
const invoke = at('/model/meta.llama3-8b-instruct-v1%3A0/invoke');
const refused = (detail: string) => ({ ok: false, reason: 'invalid_field', detail });

describe('Anthropic messages', () => {
  it.each([
    [{ type: 'auto' }, 'auto'],
    [{ type: 'any' }, 'required'],
    [{ type: 'none' }, 'none'],
    [{ type: 'tool', name: 't' }, 'tool:t'],
    [null, undefined],
  ])('tool_choice %j is %s', (choice, expected) => {
    expect(messages({ tool_choice: choice })).toMatchObject({ ok: true, value: { toolChoice: expected } });
  });

  it('refuses a tool_choice it cannot read', () => {
    expect(messages({ tool_choice: {} })).toMatchObject(refused("'tool_choice.type' must be one of auto, any, none, tool"));
    expect(messages({ tool_choice: { type: 'tool' } })).toMatchObject(refused("'tool_choice.name' must be a non-empty string"));
    expect(messages({ tool_choice: 'auto' })).toMatchObject(refused("'tool_choice' must be an object"));
    expect(messages({ mcp_servers: [{ url: 'https://mcp.example' }] })).toMatchObject(refused("'mcp_servers[0].name' must be a non-empty string"));
  });

  it('reads the end user from metadata.user_id only', () => {
    expect(messages({ metadata: {} })).toMatchObject({ ok: true, value: { endUser: undefined } });
    expect(messages({ metadata: 'u' })).toMatchObject(refused("'metadata' must be an object"));
  });

  it('count_tokens reads no stream and no token limit, and refuses a stream field', () => {
    expect(countTokens({ max_tokens: 5 })).toMatchObject({ ok: true, value: { operation: 'count_tokens', maxTokens: undefined, stream: false } });
    expect(countTokens({ stream: false })).toMatchObject(refused("'stream' is not a field of count_tokens"));
    expect(messages({ stream: false, max_tokens: 5 })).toMatchObject({ ok: true, value: { stream: false, maxTokens: 5 } });
  });
});

describe('Bedrock Converse', () => {
  it('reads tool specs and system tools by name, skips cache points, and names unknown tool kinds', () => {
    const tools = [{ systemTool: { name: 'nova_grounding' } }, { cachePoint: { type: 'default' } }, { toolSpec: { name: 'a' } }, { futureTool: {} }];
    expect(converse({ toolConfig: { tools } })).toMatchObject({ ok: true, value: { tools: ['nova_grounding', 'a', 'futureTool'] } });
    expect(converse({ toolConfig: { tools: [{ toolSpec: null }] } })).toMatchObject(refused("'toolConfig.tools[0].toolSpec' must be an object"));
    expect(converse({ toolConfig: { tools: [{ systemTool: 'x' }] } })).toMatchObject(refused("'toolConfig.tools[0].systemTool' must be an object"));
    expect(converse({ toolConfig: { tools: [{}] } })).toMatchObject(refused("'toolConfig.tools[0]' must have exactly one of toolSpec, systemTool, cachePoint"));
  });

  it.each([
    [{ auto: {} }, 'auto'],
    [{ any: {} }, 'required'],
    [{ tool: { name: 't' } }, 'tool:t'],
  ])('toolChoice %j is %s', (choice, expected) => {
    expect(converse({ toolConfig: { toolChoice: choice } })).toMatchObject({ ok: true, value: { toolChoice: expected } });
  });

  it('refuses a toolChoice it cannot read', () => {
    expect(converse({ toolConfig: { toolChoice: {} } })).toMatchObject(refused("'toolConfig.toolChoice' must have exactly one of auto, any, tool"));
    expect(converse({ toolConfig: { toolChoice: { none: {} } } })).toMatchObject(refused("'toolConfig.toolChoice' must have exactly one of auto, any, tool"));
    expect(converse({ toolConfig: { toolChoice: { tool: null } } })).toMatchObject(refused("'toolConfig.toolChoice.tool' must be an object"));
    expect(converse({ toolConfig: { toolChoice: 'auto' } })).toMatchObject(refused("'toolConfig.toolChoice' must be an object"));
  });

  it('takes the larger of the two token limits, and reads the temperature', () => {
    const both = (a: number, b: number) => converse({ inferenceConfig: { maxTokens: a, temperature: 0.7 }, additionalModelRequestFields: { max_tokens: b } });
    expect(both(100, 300)).toMatchObject({ ok: true, value: { maxTokens: 300, temperature: 0.7 } });
    expect(both(300, 100)).toMatchObject({ ok: true, value: { maxTokens: 300 } });
    expect(converse({})).toMatchObject({ ok: true, value: { maxTokens: undefined, temperature: undefined, tools: [], toolChoice: undefined } });
    expect(converse({ inferenceConfig: { temperature: 'x' } })).toMatchObject(refused("'inferenceConfig.temperature' must be a number"));
  });
});

describe('Bedrock InvokeModel in a native format', () => {
  it.each([
    ['max_tokens', { max_tokens: 11 }],
    ['max_gen_len', { max_gen_len: 11 }],
    ['max_completion_tokens', { max_completion_tokens: 11 }],
    ['max_new_tokens', { inferenceConfig: { max_new_tokens: 11 } }],
    ['maxTokens', { inferenceConfig: { maxTokens: 11 } }],
    ['maxTokenCount', { textGenerationConfig: { maxTokenCount: 11 } }],
  ])('reads the token limit %s', (_name, fields) => {
    expect(invoke({ prompt: 'p', ...fields })).toMatchObject({ ok: true, value: { maxTokens: 11 } });
  });

  it('takes the largest limit given under any name, and the first temperature', () => {
    expect(invoke({ prompt: 'p', max_tokens: 5, max_gen_len: 50, inferenceConfig: { maxTokens: 7 }, temperature: 0.1, textGenerationConfig: { temperature: 0.9 } })).toMatchObject({
      ok: true,
      value: { maxTokens: 50, temperature: 0.1 },
    });
    expect(invoke({ prompt: 'p', textGenerationConfig: { temperature: 0.9 } })).toMatchObject({ ok: true, value: { temperature: 0.9, maxTokens: undefined } });
    expect(invoke({ prompt: 'p', textGenerationConfig: { maxTokenCount: 0 } })).toMatchObject(refused("'textGenerationConfig.maxTokenCount' must be a positive integer"));
    expect(invoke({ prompt: 'p', temperature: 'x' })).toMatchObject(refused("'temperature' must be a number"));
  });

  it.each(['prompt', 'inputText', 'message', 'input'])('counts %s as one message of a text generation', (k) => {
    expect(invoke({ [k]: 'hi' })).toMatchObject({ ok: true, value: { messageCount: 1, operation: 'generate_content' } });
  });

  it('counts messages as a chat, and an empty body as nothing', () => {
    expect(invoke({ messages: [{}, {}], max_completion_tokens: 3 })).toMatchObject({ ok: true, value: { messageCount: 2, operation: 'chat', maxTokens: 3 } });
    expect(invoke({})).toMatchObject({ ok: true, value: { messageCount: 0, operation: 'generate_content', tools: [], toolChoice: undefined } });
  });

  it('reads tools as {name}, {function: {name}}, {toolSpec: {name}}, also in toolConfig.tools', () => {
    const tools = [{ name: 'a' }, { type: 'function', function: { name: 'b' } }, { toolSpec: { name: 'c' } }];
    expect(invoke({ prompt: 'p', tools, toolConfig: { tools: [{ toolSpec: { name: 'd' } }] } })).toMatchObject({ ok: true, value: { tools: ['a', 'b', 'c', 'd'] } });
    expect(invoke({ prompt: 'p', tools: [{ function: 'f' }] })).toMatchObject(refused("'tools[0].function' must be an object"));
    expect(invoke({ prompt: 'p', tools: [{ function: null, toolSpec: { name: 'c' } }] })).toMatchObject({ ok: true, value: { tools: ['c'] } });
    expect(invoke({ prompt: 'p', tools: [{ name: '' }] })).toMatchObject(refused("'tools[0].name' must be a non-empty string"));
    expect(invoke({ prompt: 'p', tools: [{}] })).toMatchObject(refused("'tools[0]' names no tool (expected name, function.name or toolSpec.name)"));
    expect(invoke({ prompt: 'p', toolConfig: [] })).toMatchObject(refused("'toolConfig' must be an object"));
  });

  it('reads an Anthropic-format body (anthropic_version) as Anthropic messages, a chat', () => {
    expect(invoke({ anthropic_version: 'bedrock-2023-05-31', messages: [], max_tokens: 4, tool_choice: { type: 'none' } })).toMatchObject({
      ok: true,
      value: { operation: 'chat', maxTokens: 4, toolChoice: 'none' },
    });
    expect(invoke({ anthropic_version: null, prompt: 'p' })).toMatchObject({ ok: true, value: { operation: 'generate_content', messageCount: 1 } });
    expect(invoke({ anthropic_version: 'bedrock-2023-05-31' })).toMatchObject(refused("'messages' is required"));
  });
});
