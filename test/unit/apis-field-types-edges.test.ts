/**
 * Every field a body parser reads, given with the wrong type, refuses the request and names the
 * field (src/apis/bodies/*.ts). A mutation run of `npm run mutate` showed reads whose failure no
 * unit test saw: with the check gone, the field was silently read as absent (a tools list that
 * is not a list offered no tools to the policy, a model that is not a string named no model).
 */
import { describe, expect, it } from 'vitest';
import { understand } from '../../src/llm/index.ts';
import { ctxOf } from '../helpers/runtime.ts';

const json = { 'content-type': 'application/json' };

interface Case {
  readonly path: string;
  /** A valid body; each row adds or replaces top-level fields of it. */
  readonly base: Record<string, unknown>;
  readonly rows: readonly (readonly [Record<string, unknown>, string])[];
}

const CASES: Readonly<Record<string, Case>> = {
  'OpenAI chat completions': {
    path: '/v1/chat/completions',
    base: { model: 'm', messages: [] },
    rows: [
      [{ model: 5 }, "'model' must be a string"],
      [{ tools: 5 }, "'tools' must be an array"],
      [{ tools: [{ type: 'function', function: 5 }] }, "'tools[0].function' must be an object"],
      [{ tools: [{ type: 'function', function: { name: 5 } }] }, "'tools[0].function.name' must be a string"],
      [{ tool_choice: { type: 'function', function: 5 } }, "'tool_choice.function' must be an object"],
      [{ tool_choice: { type: 'allowed_tools', allowed_tools: 5 } }, "'tool_choice.allowed_tools' must be an object"],
      [{ tool_choice: { type: 'allowed_tools', allowed_tools: { mode: 5 } } }, "'tool_choice.allowed_tools.mode' must be a string"],
      [{ data_sources: 5 }, "'data_sources' must be an array"],
      [{ functions: [{ name: 5 }] }, "'functions[0].name' must be a string"],
      [{ user: 5 }, "'user' must be a string"],
      [{ stream: 'yes' }, "'stream' must be a boolean"],
    ],
  },
  'OpenAI responses': {
    path: '/v1/responses',
    base: { model: 'm' },
    rows: [
      [{ model: 5 }, "'model' must be a string"],
      [{ temperature: 'x' }, "'temperature' must be a number"],
      [{ tool_choice: 5 }, "'tool_choice' must be an object"],
      [{ user: 5 }, "'user' must be a string"],
      [{ tools: [{ type: 'function', name: 5 }] }, "'tools[0].name' must be a string"],
    ],
  },
  'OpenAI completions': {
    path: '/v1/completions',
    base: { model: 'm', prompt: 'p' },
    rows: [
      [{ model: 5 }, "'model' must be a string"],
      [{ stream: 'yes' }, "'stream' must be a boolean"],
      [{ temperature: 'x' }, "'temperature' must be a number"],
      [{ user: 5 }, "'user' must be a string"],
      [{ max_tokens: 1.5 }, "'max_tokens' must be a positive integer"],
    ],
  },
  'OpenAI embeddings': {
    path: '/v1/embeddings',
    base: { model: 'm', input: 'x' },
    rows: [
      [{ model: 5 }, "'model' must be a string"],
      [{ model: '' }, "'model' must be a non-empty model name of at most 256 characters"],
    ],
  },
  'Anthropic messages': {
    path: '/v1/messages',
    base: { model: 'c', messages: [] },
    rows: [
      [{ model: 5 }, "'model' must be a string"],
      [{ temperature: 'x' }, "'temperature' must be a number"],
      [{ tools: 5 }, "'tools' must be an array"],
      [{ mcp_servers: 5 }, "'mcp_servers' must be an array"],
      [{ tool_choice: { type: 5 } }, "'tool_choice.type' must be a string"],
      [{ metadata: { user_id: 5 } }, "'metadata.user_id' must be a string"],
    ],
  },
  Gemini: {
    path: '/v1beta/models/g:generateContent',
    base: { contents: [] },
    rows: [
      [{ model: 5 }, "'model' must be a string"],
      [{ tools: 5 }, "'tools' must be an array"],
      [{ toolConfig: { functionCallingConfig: 5 } }, "'toolConfig.functionCallingConfig' must be an object"],
      [{ generationConfig: 5 }, "'generationConfig' must be an object"],
    ],
  },
  'Gemini countTokens': {
    path: '/v1beta/models/g:countTokens',
    base: {},
    rows: [[{ model: 5 }, "'model' must be a string"]],
  },
  'Bedrock Converse': {
    path: '/model/m/converse',
    base: { messages: [] },
    rows: [
      [{ model: 5 }, "'model' must be a string"],
      [{ inferenceConfig: 5 }, "'inferenceConfig' must be an object"],
      [{ toolConfig: 5 }, "'toolConfig' must be an object"],
      [{ toolConfig: { tools: 5 } }, "'toolConfig.tools' must be an array"],
      [{ toolConfig: { toolChoice: { tool: 5 } } }, "'toolConfig.toolChoice.tool' must be an object"],
      [{ additionalModelRequestFields: 5 }, "'additionalModelRequestFields' must be an object"],
      [{ messages: 5 }, "'messages' must be an array"],
    ],
  },
  'Bedrock InvokeModel, native': {
    path: '/model/m/invoke',
    base: { prompt: 'p' },
    rows: [
      [{ model: 5 }, "'model' must be a string"],
      [{ tools: 5 }, "'tools' must be an array"],
      [{ toolConfig: { tools: 5 } }, "'toolConfig.tools' must be an array"],
      [{ inferenceConfig: 5 }, "'inferenceConfig' must be an object"],
      [{ textGenerationConfig: 5 }, "'textGenerationConfig' must be an object"],
      [{ messages: 5 }, "'messages' must be an array"],
      [{ tools: [{ toolSpec: 5 }] }, "'tools[0].toolSpec' must be an object"],
    ],
  },
};

describe.each(Object.entries(CASES))('%s', (_name, c) => {
  it.each(c.rows.map(([patch, detail]) => [JSON.stringify(patch), patch, detail] as const))('%s is refused', (_label, patch, detail) => {
    const r = understand(ctxOf({ path: c.path, headers: json, body: JSON.stringify({ ...c.base, ...patch }) }));
    expect(r).toMatchObject({ ok: false, reason: 'invalid_field', detail });
  });

  it('the base body is read', () => {
    expect(understand(ctxOf({ path: c.path, headers: json, body: JSON.stringify(c.base) }))).toMatchObject({ ok: true });
  });
});
