/**
 * The Gemini body parser at its edges (src/apis/bodies/gemini.ts, also Vertex AI's Gemini
 * endpoints): the cases a mutation run of `npm run mutate` showed no unit test deciding. Tools
 * and the tool config in both spellings, every function-calling mode, the token limit, the
 * counted contents of countTokens and embedContent, and the detail each refusal names.
 */
import { describe, expect, it } from 'vitest';
import { understand } from '../../src/llm/index.ts';
import { ctxOf } from '../helpers/runtime.ts';

const json = { 'content-type': 'application/json' };
const call = (method: string) => (body: Record<string, unknown>) =>
  understand(ctxOf({ path: `/v1beta/models/gemini-2.5-flash:${method}`, headers: json, body: JSON.stringify(body) }));
const generate = (extra: Record<string, unknown>) => call('generateContent')({ contents: [], ...extra });
const refused = (detail: string) => ({ ok: false, reason: 'invalid_field', detail });

describe('tools', () => {
  it('reads function declarations in either spelling, and built-in tools by their camelCase name', () => {
    const tools = [{ function_declarations: [{ name: 'a' }] }, { functionDeclarations: [{ name: 'b' }], code_execution: {} }, { url_context: {} }, { googleSearchRetrieval: {} }];
    expect(generate({ tools })).toMatchObject({ ok: true, value: { tools: ['a', 'b', 'codeExecution', 'urlContext', 'googleSearchRetrieval'] } });
  });

  it('refuses both spellings in one tool, and a declaration without a name', () => {
    expect(generate({ tools: [{ functionDeclarations: [{ name: 'a' }], function_declarations: [{ name: 'b' }] }] })).toMatchObject({
      ok: false,
      reason: 'ambiguous_field',
      detail: "'tools[0].functionDeclarations' and 'tools[0].function_declarations' are the same field",
    });
    expect(generate({ tools: [{ functionDeclarations: [{}] }] })).toMatchObject(refused("'tools[0].functionDeclarations[0].name' must be a non-empty string"));
    expect(generate({ tools: [{ functionDeclarations: null, codeExecution: {} }] })).toMatchObject({ ok: true, value: { tools: ['codeExecution'] } });
    expect(generate({ tools: [{ functionDeclarations: {} }] })).toMatchObject(refused("'tools[0].functionDeclarations' must be an array"));
  });
});

describe('tool config', () => {
  const mode = (fcc: Record<string, unknown>, snake = false) =>
    generate(snake ? { tool_config: { function_calling_config: fcc } } : { toolConfig: { functionCallingConfig: fcc } });

  it.each([
    [{}, 'auto'],
    [{ mode: 'MODE_UNSPECIFIED' }, 'auto'],
    [{ mode: 'AUTO' }, 'auto'],
    [{ mode: 'VALIDATED' }, 'auto'],
    [{ mode: 'NONE' }, 'none'],
    [{ mode: 'ANY' }, 'required'],
    [{ mode: 'ANY', allowedFunctionNames: ['a', 'b'] }, 'required'],
    [{ mode: 'ANY', allowedFunctionNames: [] }, 'required'],
    [{ mode: 'ANY', allowedFunctionNames: ['a'] }, 'tool:a'],
    [{ mode: 'AUTO', allowedFunctionNames: ['a'] }, 'auto'],
  ])('%j is %s', (fcc, expected) => {
    expect(mode(fcc)).toMatchObject({ ok: true, value: { toolChoice: expected } });
  });

  it('reads the snake_case spelling at every level', () => {
    expect(mode({ mode: 'ANY', allowed_function_names: ['a'] }, true)).toMatchObject({ ok: true, value: { toolChoice: 'tool:a' } });
    expect(mode({ mode: 'NONE' }, true)).toMatchObject({ ok: true, value: { toolChoice: 'none' } });
  });

  it('is absent without a function-calling config', () => {
    expect(generate({ toolConfig: {} })).toMatchObject({ ok: true, value: { toolChoice: undefined } });
    expect(generate({})).toMatchObject({ ok: true, value: { toolChoice: undefined } });
  });

  it('refuses what it cannot read, naming the field', () => {
    expect(mode({ mode: 'SOMETIMES' })).toMatchObject(refused("'toolConfig.functionCallingConfig.mode' must be one of AUTO, ANY, NONE, VALIDATED"));
    expect(mode({ mode: 7 })).toMatchObject(refused("'toolConfig.functionCallingConfig.mode' must be a string"));
    expect(mode({ mode: 'ANY', allowedFunctionNames: [7] })).toMatchObject(refused("'toolConfig.functionCallingConfig.allowedFunctionNames[0]' must be a string"));
    expect(mode({ mode: 'ANY', allowed_function_names: [7] }, true)).toMatchObject(refused("'tool_config.function_calling_config.allowed_function_names[0]' must be a string"));
    expect(mode({ mode: 'AUTO', allowedFunctionNames: 'a' })).toMatchObject(refused("'toolConfig.functionCallingConfig.allowedFunctionNames' must be an array"));
    expect(mode({ allowedFunctionNames: ['a'], allowed_function_names: ['b'] })).toMatchObject({ ok: false, reason: 'ambiguous_field' });
    expect(generate({ toolConfig: { functionCallingConfig: {}, function_calling_config: {} } })).toMatchObject({ ok: false, reason: 'ambiguous_field' });
    expect(generate({ toolConfig: 'x' })).toMatchObject(refused("'toolConfig' must be an object"));
  });
});

describe('generation config', () => {
  it('reads the limit and the temperature, each alone', () => {
    expect(generate({ generationConfig: { temperature: 0.4 } })).toMatchObject({ ok: true, value: { maxTokens: undefined, temperature: 0.4 } });
    expect(generate({ generationConfig: { maxOutputTokens: 1 } })).toMatchObject({ ok: true, value: { maxTokens: 1, temperature: undefined } });
    expect(generate({ generationConfig: { temperature: 'x' } })).toMatchObject(refused("'generationConfig.temperature' must be a number"));
    expect(generate({ generationConfig: { maxOutputTokens: 5, max_output_tokens: 5000 } })).toMatchObject({ ok: false, reason: 'ambiguous_field' });
  });
});

describe('contents', () => {
  it('are required by generateContent, counted by countTokens and embedContent', () => {
    expect(call('generateContent')({})).toMatchObject(refused("'contents' is required"));
    expect(call('streamGenerateContent')({ contents: [{}, {}] })).toMatchObject({ ok: true, value: { messageCount: 2, stream: true } });
    expect(call('countTokens')({})).toMatchObject({ ok: true, value: { messageCount: 0, operation: 'count_tokens' } });
    expect(call('countTokens')({ contents: [{}, {}, {}] })).toMatchObject({ ok: true, value: { messageCount: 3 } });
    expect(call('embedContent')({ content: { parts: [] } })).toMatchObject({ ok: true, value: { messageCount: 1, operation: 'embeddings', tools: [] } });
    expect(call('embedContent')({ content: null })).toMatchObject({ ok: true, value: { messageCount: 0 } });
    expect(call('countTokens')({ contents: 'x' })).toMatchObject(refused("'contents' must be an array"));
  });

  it('cached content given as null is none', () => {
    expect(generate({ cachedContent: null })).toMatchObject({ ok: true, value: { storedContext: [] } });
  });
});
