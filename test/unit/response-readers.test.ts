/**
 * The response readers of the API profiles (src/apis/responses/): what each reads from JSON and
 * SSE bodies of its API, the same whatever the chunking, and malformed or cut bodies recorded as
 * such. The incremental JSON reader and the SSE framing are checked against JSON.parse on
 * arbitrary splits.
 */
import { describe, expect, it } from 'vitest';
import { responseProfile } from '../../src/apis/endpoints.ts';
import { WIRES } from '../../src/apis/index.ts';
import { fieldTree, JsonStream, MAX_CAPTURE, type Scalar } from '../../src/apis/responses/json-stream.ts';
import { startReading, type ReadResult } from '../../src/apis/responses/reading.ts';
import { SseStream } from '../../src/apis/responses/sse.ts';
import { EventStreamCodec } from '@smithy/eventstream-codec';

const SECRET_ARGS = '{"city":"the secret launch code is 7731"}';

function read(schema: string, contentType: string, body: string | Buffer, chunks: number[] = []): ReadResult {
  const profile = responseProfile(schema);
  if (profile === undefined) throw new Error(`no response profile for ${schema}`);
  const r = startReading(profile.reader, contentType);
  const b = Buffer.isBuffer(body) ? body : Buffer.from(body);
  let at = 0;
  for (const n of chunks) {
    r.write(b.subarray(at, Math.min(b.length, at + n)));
    at = Math.min(b.length, at + n);
  }
  r.write(b.subarray(at));
  return r.end();
}

/** Reads the body split at every position (two chunks), and byte by byte: all must agree with the whole read. */
function readEverySplit(schema: string, contentType: string, body: string): ReadResult {
  const whole = read(schema, contentType, body);
  const b = Buffer.from(body);
  for (let i = 1; i < b.length; i++) expect(read(schema, contentType, b, [i]), `split at ${i}`).toEqual(whole);
  expect(
    read(
      schema,
      contentType,
      b,
      Array.from({ length: b.length }, () => 1),
    ),
    'byte by byte',
  ).toEqual(whole);
  return whole;
}

const sse = (events: readonly (readonly [string | undefined, unknown])[], eol = '\n'): string =>
  events.map(([name, data]) => `${name ? `event: ${name}${eol}` : ''}data: ${typeof data === 'string' ? data : JSON.stringify(data)}${eol}${eol}`).join('');

const openAiChatJson = JSON.stringify({
  id: 'chatcmpl-1',
  object: 'chat.completion',
  model: 'gpt-4o-mini-2024-07-18',
  choices: [
    {
      index: 0,
      message: {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'call_1', type: 'function', function: { name: 'lookup_order', arguments: SECRET_ARGS } },
          { id: 'call_2', type: 'function', function: { name: 'send_email', arguments: '{}' } },
        ],
      },
      finish_reason: 'tool_calls',
    },
  ],
  usage: { prompt_tokens: 31, completion_tokens: 17, total_tokens: 48, prompt_tokens_details: { cached_tokens: 8 }, completion_tokens_details: { reasoning_tokens: 4 } },
});

const openAiChatSse = sse([
  [
    undefined,
    {
      id: 'chatcmpl-2',
      model: 'gpt-4o-mini',
      choices: [
        { index: 0, delta: { role: 'assistant', tool_calls: [{ index: 0, id: 'c1', type: 'function', function: { name: 'lookup_order', arguments: '' } }] }, finish_reason: null },
      ],
    },
  ],
  [
    undefined,
    { id: 'chatcmpl-2', model: 'gpt-4o-mini', choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: SECRET_ARGS } }] }, finish_reason: null }] },
  ],
  [undefined, { id: 'chatcmpl-2', model: 'gpt-4o-mini', choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }] }],
  [undefined, { id: 'chatcmpl-2', model: 'gpt-4o-mini', choices: [], usage: { prompt_tokens: 12, completion_tokens: 9, total_tokens: 21 } }],
  [undefined, '[DONE]'],
]);

describe('OpenAI chat completions', () => {
  it('JSON: usage (cached, reasoning), model, id, finish reason, tool names, never arguments', () => {
    const r = readEverySplit('openai.chat_completions', 'application/json', openAiChatJson);
    expect(r).toEqual({
      status: 'ok',
      facts: {
        responseId: 'chatcmpl-1',
        responseModel: 'gpt-4o-mini-2024-07-18',
        finishReasons: ['tool_calls'],
        toolCalls: ['lookup_order', 'send_email'],
        toolCallCount: 2,
        usage: { input: 31, output: 17, cacheRead: 8, reasoning: 4 },
        errorType: undefined,
        finished: true,
      },
    });
    expect(JSON.stringify(r)).not.toContain('7731');
  });

  it('SSE: the tool named once per call, usage from the last chunk, [DONE] ends it', () => {
    const r = readEverySplit('openai.chat_completions', 'text/event-stream; charset=utf-8', openAiChatSse);
    expect(r.status).toBe('ok');
    expect(r.facts).toMatchObject({
      responseId: 'chatcmpl-2',
      responseModel: 'gpt-4o-mini',
      finishReasons: ['tool_calls'],
      toolCalls: ['lookup_order'],
      toolCallCount: 1,
      usage: { input: 12, output: 9 },
      finished: true,
    });
  });

  it('SSE: calls known by their own index (each chunk has one), choices by theirs', () => {
    const chunk = (choice: number, delta: object, finish: string | null = null): readonly [undefined, unknown] => [
      undefined,
      { id: 'c', model: 'm', choices: [{ index: choice, delta, finish_reason: finish }] },
    ];
    const body = sse([
      chunk(0, { tool_calls: [{ index: 0, function: { name: 'lookup_order', arguments: '' } }] }),
      chunk(0, { tool_calls: [{ index: 0, function: { name: 'lookup_order', arguments: SECRET_ARGS } }] }),
      chunk(0, { tool_calls: [{ index: 1, function: { name: 'send_email', arguments: '' } }] }),
      chunk(1, { content: 'x' }),
      chunk(1, {}, 'length'),
      chunk(0, {}, 'tool_calls'),
      [undefined, '[DONE]'],
    ]);
    expect(readEverySplit('openai.chat_completions', 'text/event-stream', body).facts).toMatchObject({
      toolCalls: ['lookup_order', 'send_email'],
      toolCallCount: 2,
      finishReasons: ['tool_calls', 'length'],
    });
  });

  it('SSE without include_usage: no token counts, still ok', () => {
    const body = openAiChatSse.replace(/data: \{[^\n]*"usage"[^\n]*\n\n/, '');
    const r = read('openai.chat_completions', 'text/event-stream', body);
    expect(r.status).toBe('ok');
    expect(r.facts.usage).toEqual({});
  });

  it('SSE cut before [DONE] is truncated; cut inside an event is truncated', () => {
    const noDone = openAiChatSse.replace('data: [DONE]\n\n', '');
    expect(read('openai.chat_completions', 'text/event-stream', noDone).status).toBe('truncated');
    const mid = openAiChatSse.slice(0, openAiChatSse.indexOf('"finish_reason":"tool_calls"'));
    const r = read('openai.chat_completions', 'text/event-stream', mid);
    expect(r.status).toBe('truncated');
    expect(r.facts.toolCalls).toEqual(['lookup_order']);
  });

  it('malformed JSON body and malformed event data are malformed; a cut JSON body is truncated', () => {
    expect(read('openai.chat_completions', 'application/json', '{"id":"x",,}').status).toBe('malformed');
    expect(read('openai.chat_completions', 'application/json', '{"id":"x"} trailing').status).toBe('malformed');
    expect(read('openai.chat_completions', 'application/json', openAiChatJson.slice(0, 100)).status).toBe('truncated');
    expect(read('openai.chat_completions', 'application/json', '').status).toBe('truncated');
    const bad = sse([
      [undefined, '{"id":"x", nope}'],
      [undefined, '[DONE]'],
    ]);
    expect(read('openai.chat_completions', 'text/event-stream', bad).status).toBe('malformed');
  });

  it('an error body gives its type', () => {
    const r = read(
      'openai.chat_completions',
      'application/json',
      JSON.stringify({ error: { message: 'Rate limit reached', type: 'rate_limit_error', param: null, code: 'rate_limit_exceeded' } }),
    );
    expect(r).toMatchObject({ status: 'ok', facts: { errorType: 'rate_limit_error' } });
    const codeOnly = read('openai.chat_completions', 'application/json', JSON.stringify({ error: { message: 'x', type: null, code: 'model_not_found' } }));
    expect(codeOnly.facts.errorType).toBe('model_not_found');
  });

  it('Azure OpenAI and OpenAI-compatible servers use the same reader', () => {
    expect(responseProfile('azure_openai.chat_completions')?.reader).toBe(responseProfile('openai.chat_completions')?.reader);
    expect(responseProfile('azure_openai.chat_completions')?.requestIdHeaders).toContain('apim-request-id');
    expect(read('azure_openai.chat_completions', 'application/json', openAiChatJson).facts.toolCalls).toEqual(['lookup_order', 'send_email']);
  });

  it('a body that is neither JSON nor SSE, or an endpoint without a reader, is not read', () => {
    expect(read('openai.chat_completions', 'text/plain', 'upstream connect error').status).toBe('not_read');
    expect(read('openai.models', 'application/json', '{"data":[]}').status).toBe('not_read');
  });
});

describe('OpenAI Responses', () => {
  const json = JSON.stringify({
    id: 'resp_1',
    object: 'response',
    status: 'completed',
    model: 'gpt-4.1-2025-04-14',
    output: [
      { type: 'reasoning', id: 'rs_1', summary: [] },
      { type: 'web_search_call', id: 'ws_1', status: 'completed' },
      { type: 'function_call', id: 'fc_1', call_id: 'c1', name: 'lookup_order', arguments: SECRET_ARGS },
      { type: 'message', id: 'm1', role: 'assistant', content: [{ type: 'output_text', text: 'the answer' }] },
    ],
    usage: { input_tokens: 40, input_tokens_details: { cached_tokens: 10 }, output_tokens: 22, output_tokens_details: { reasoning_tokens: 6 }, total_tokens: 62 },
  });
  const response = { id: 'resp_2', object: 'response', model: 'gpt-4.1', status: 'in_progress', output: [], usage: null };
  const stream = sse([
    ['response.created', { type: 'response.created', sequence_number: 0, response }],
    [
      'response.output_item.added',
      { type: 'response.output_item.added', output_index: 0, item: { type: 'function_call', id: 'fc', call_id: 'c', name: 'lookup_order', arguments: '' } },
    ],
    ['response.function_call_arguments.delta', { type: 'response.function_call_arguments.delta', output_index: 0, delta: SECRET_ARGS }],
    [
      'response.output_item.done',
      { type: 'response.output_item.done', output_index: 0, item: { type: 'function_call', id: 'fc', call_id: 'c', name: 'lookup_order', arguments: SECRET_ARGS } },
    ],
    [
      'response.completed',
      {
        type: 'response.completed',
        response: {
          ...response,
          status: 'completed',
          output: [{ type: 'function_call', name: 'lookup_order', arguments: SECRET_ARGS }],
          usage: { input_tokens: 14, output_tokens: 5, input_tokens_details: { cached_tokens: 0 }, output_tokens_details: { reasoning_tokens: 0 } },
        },
      },
    ],
  ]);

  it('JSON: output items that call tools (built-in ones by type), status, usage', () => {
    const r = readEverySplit('openai.responses', 'application/json', json);
    expect(r.facts).toEqual({
      responseId: 'resp_1',
      responseModel: 'gpt-4.1-2025-04-14',
      finishReasons: ['completed'],
      toolCalls: ['web_search', 'lookup_order'],
      toolCallCount: 2,
      usage: { input: 40, output: 22, cacheRead: 10, reasoning: 6 },
      errorType: undefined,
      finished: true,
    });
  });

  it('SSE: each call counted once (output_item.added), usage from response.completed', () => {
    const r = readEverySplit('openai.responses', 'text/event-stream', stream);
    expect(r.status).toBe('ok');
    expect(r.facts).toMatchObject({
      responseId: 'resp_2',
      responseModel: 'gpt-4.1',
      finishReasons: ['completed'],
      toolCalls: ['lookup_order'],
      toolCallCount: 1,
      usage: { input: 14, output: 5, cacheRead: 0, reasoning: 0 },
    });
    expect(JSON.stringify(r)).not.toContain('7731');
  });

  it('an incomplete response gives its reason; a stream without its final event is truncated', () => {
    const incomplete = JSON.stringify({
      id: 'r',
      object: 'response',
      status: 'incomplete',
      incomplete_details: { reason: 'max_output_tokens' },
      output: [],
      usage: { input_tokens: 1, output_tokens: 2 },
    });
    expect(read('openai.responses', 'application/json', incomplete).facts.finishReasons).toEqual(['max_output_tokens']);
    const cut = stream.slice(0, stream.indexOf('event: response.completed'));
    expect(read('openai.responses', 'text/event-stream', cut).status).toBe('truncated');
  });
});

describe('Anthropic Messages', () => {
  const json = JSON.stringify({
    id: 'msg_1',
    type: 'message',
    role: 'assistant',
    model: 'claude-sonnet-4-20250514',
    content: [
      { type: 'text', text: 'Let me look.' },
      { type: 'tool_use', id: 'tu_1', name: 'lookup_order', input: { city: 'the secret launch code is 7731' } },
      { type: 'server_tool_use', id: 'st_1', name: 'web_search', input: { query: 'x' } },
    ],
    stop_reason: 'tool_use',
    stop_sequence: null,
    usage: { input_tokens: 50, output_tokens: 30, cache_read_input_tokens: 20, cache_creation_input_tokens: 5 },
  });
  const stream = sse([
    [
      'message_start',
      {
        type: 'message_start',
        message: {
          id: 'msg_2',
          type: 'message',
          role: 'assistant',
          model: 'claude-3-5-haiku-latest',
          content: [],
          stop_reason: null,
          usage: { input_tokens: 25, output_tokens: 1, cache_read_input_tokens: 0 },
        },
      },
    ],
    ['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }],
    ['ping', { type: 'ping' }],
    ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hello' } }],
    ['content_block_stop', { type: 'content_block_stop', index: 0 }],
    ['content_block_start', { type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'tu', name: 'lookup_order', input: {} } }],
    ['content_block_delta', { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: SECRET_ARGS } }],
    ['content_block_stop', { type: 'content_block_stop', index: 1 }],
    ['message_delta', { type: 'message_delta', delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: 15 } }],
    ['message_stop', { type: 'message_stop' }],
  ]);

  it('JSON: tool_use and server_tool_use names, stop reason, usage with cache reads and writes', () => {
    const r = readEverySplit('anthropic.messages', 'application/json', json);
    expect(r.facts).toEqual({
      responseId: 'msg_1',
      responseModel: 'claude-sonnet-4-20250514',
      finishReasons: ['tool_use'],
      toolCalls: ['lookup_order', 'web_search'],
      toolCallCount: 2,
      usage: { input: 50, output: 30, cacheRead: 20, cacheCreation: 5 },
      errorType: undefined,
      finished: true,
    });
    expect(JSON.stringify(r)).not.toContain('7731');
  });

  it('SSE: input from message_start, output from message_delta, message_stop ends it', () => {
    const r = readEverySplit('anthropic.messages', 'text/event-stream', stream);
    expect(r).toMatchObject({
      status: 'ok',
      facts: {
        responseId: 'msg_2',
        responseModel: 'claude-3-5-haiku-latest',
        finishReasons: ['tool_use'],
        toolCalls: ['lookup_order'],
        usage: { input: 25, output: 15, cacheRead: 0 },
        finished: true,
      },
    });
  });

  it('an error event mid-stream and an error body give the error type', () => {
    const withError = stream.slice(0, stream.indexOf('event: message_delta')) + sse([['error', { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }]]);
    expect(read('anthropic.messages', 'text/event-stream', withError)).toMatchObject({ status: 'ok', facts: { errorType: 'overloaded_error' } });
    expect(read('anthropic.messages', 'application/json', JSON.stringify({ type: 'error', error: { type: 'rate_limit_error', message: 'x' } })).facts.errorType).toBe(
      'rate_limit_error',
    );
  });
});

describe('Gemini', () => {
  const chunk = (parts: unknown[], finish: string | undefined, usage: Record<string, number>): Record<string, unknown> => ({
    candidates: [{ content: { role: 'model', parts }, index: 0, ...(finish ? { finishReason: finish } : {}) }],
    usageMetadata: usage,
    modelVersion: 'gemini-2.5-flash',
    responseId: 'gem-1',
  });
  const chunks = [
    chunk([{ text: 'Looking up' }], undefined, { promptTokenCount: 9, totalTokenCount: 9 }),
    chunk([{ functionCall: { name: 'lookup_order', args: { city: 'the secret launch code is 7731', nested: { a: [1, { b: 2 }] } } } }], 'STOP', {
      promptTokenCount: 9,
      candidatesTokenCount: 7,
      cachedContentTokenCount: 3,
      thoughtsTokenCount: 2,
      totalTokenCount: 18,
    }),
  ];
  const expected = {
    responseId: 'gem-1',
    responseModel: 'gemini-2.5-flash',
    finishReasons: ['STOP'],
    toolCalls: ['lookup_order'],
    toolCallCount: 1,
    usage: { input: 9, output: 7, cacheRead: 3, reasoning: 2 },
    errorType: undefined,
    finished: true,
  };

  it('JSON object (generateContent)', () => {
    expect(readEverySplit('gemini.generate_content', 'application/json; charset=UTF-8', JSON.stringify(chunks[1]))).toEqual({ status: 'ok', facts: expected });
  });

  it('JSON array of chunks (streamGenerateContent) and SSE with CRLF (alt=sse)', () => {
    expect(readEverySplit('gemini.stream_generate_content', 'application/json', JSON.stringify(chunks))).toEqual({ status: 'ok', facts: expected });
    const body = sse(
      chunks.map((c) => [undefined, c] as const),
      '\r\n',
    );
    expect(readEverySplit('gemini.stream_generate_content', 'text/event-stream', body)).toEqual({ status: 'ok', facts: expected });
    expect(read('gemini.stream_generate_content', 'text/event-stream', sse([[undefined, chunks[0]]])).status).toBe('truncated');
  });

  it('an error body gives its status', () => {
    expect(read('gemini.generate_content', 'application/json', JSON.stringify({ error: { code: 429, message: 'quota', status: 'RESOURCE_EXHAUSTED' } })).facts.errorType).toBe(
      'RESOURCE_EXHAUSTED',
    );
  });
});

/** An AWS event stream of `[event type, JSON payload]` events (and exception frames), encoded by the AWS SDK's codec. */
function eventStream(events: readonly (readonly [string, unknown] | { readonly exception: string; readonly message: string })[]): Buffer {
  const codec = new EventStreamCodec(
    (b) => Buffer.from(b).toString('utf8'),
    (t) => new Uint8Array(Buffer.from(t, 'utf8')),
  );
  const str = (value: string) => ({ type: 'string' as const, value });
  return Buffer.concat(
    events.map((e) =>
      'exception' in e
        ? codec.encode({
            headers: { ':message-type': str('exception'), ':exception-type': str(e.exception), ':content-type': str('application/json') },
            body: new Uint8Array(Buffer.from(JSON.stringify({ message: e.message }))),
          })
        : codec.encode({
            headers: { ':message-type': str('event'), ':event-type': str(e[0]), ':content-type': str('application/json') },
            body: new Uint8Array(Buffer.from(JSON.stringify(e[1]))),
          }),
    ),
  );
}
const EVENTS = 'application/vnd.amazon.eventstream';

/** Every split of a binary body gives what the whole body gives. */
function readEverySplitBinary(schema: string, contentType: string, body: Buffer): ReadResult {
  const whole = read(schema, contentType, body);
  for (let i = 1; i < body.length; i++) expect(read(schema, contentType, body, [i]), `split at ${i}`).toEqual(whole);
  return whole;
}

describe('Bedrock', () => {
  const converse = JSON.stringify({
    output: { message: { role: 'assistant', content: [{ text: 'checking' }, { toolUse: { toolUseId: 't1', name: 'get_weather', input: JSON.parse(SECRET_ARGS) } }] } },
    stopReason: 'tool_use',
    usage: { inputTokens: 12, outputTokens: 7, totalTokens: 19, cacheReadInputTokens: 3, cacheWriteInputTokens: 2 },
    metrics: { latencyMs: 100 },
  });

  it('Converse: tool calls by name, the stop reason, the usage; never the arguments', () => {
    const r = readEverySplit('bedrock.converse', 'application/json', converse);
    expect(r).toEqual({
      status: 'ok',
      facts: {
        responseId: undefined,
        responseModel: undefined,
        finishReasons: ['tool_use'],
        toolCalls: ['get_weather'],
        toolCallCount: 1,
        usage: { input: 12, output: 7, cacheRead: 3, cacheCreation: 2 },
        errorType: undefined,
        finished: true,
      },
    });
    expect(JSON.stringify(r)).not.toContain('7731');
  });

  const stream = eventStream([
    ['messageStart', { role: 'assistant' }],
    ['contentBlockDelta', { contentBlockIndex: 0, delta: { text: 'the secret launch code is 7731' } }],
    ['contentBlockStart', { contentBlockIndex: 1, start: { toolUse: { toolUseId: 't1', name: 'get_weather' } } }],
    ['contentBlockDelta', { contentBlockIndex: 1, delta: { toolUse: { input: SECRET_ARGS } } }],
    ['messageStop', { stopReason: 'tool_use' }],
    ['metadata', { usage: { inputTokens: 12, outputTokens: 9, totalTokens: 21 }, metrics: { latencyMs: 90 } }],
  ]);

  it('ConverseStream (an AWS event stream): the same facts, split anywhere', () => {
    const r = readEverySplitBinary('bedrock.converse_stream', EVENTS, stream);
    expect(r).toMatchObject({ status: 'ok', facts: { finishReasons: ['tool_use'], toolCalls: ['get_weather'], usage: { input: 12, output: 9 }, finished: true } });
    expect(JSON.stringify(r)).not.toContain('7731');
  });

  it('a stream cut before its metadata event is truncated; a frame with a bad checksum is malformed', () => {
    expect(read('bedrock.converse_stream', EVENTS, stream.subarray(0, stream.length - 10)).status).toBe('truncated');
    const frames = eventStream([['messageStart', { role: 'assistant' }]]);
    expect(read('bedrock.converse_stream', EVENTS, Buffer.concat([stream.subarray(0, 20)])).status).toBe('truncated');
    const bad = Buffer.from(frames);
    bad[bad.length - 1] = (bad[bad.length - 1] ?? 0) ^ 0xff;
    expect(read('bedrock.converse_stream', EVENTS, bad).status).toBe('malformed');
    const huge = Buffer.alloc(8);
    huge.writeUInt32BE(64 * 1024 * 1024, 0);
    expect(read('bedrock.converse_stream', EVENTS, huge).status).toBe('malformed');
  });

  it('an exception frame gives its type and ends the stream', () => {
    const r = read('bedrock.converse_stream', EVENTS, eventStream([['messageStart', { role: 'assistant' }], { exception: 'throttlingException', message: 'slow down' }]));
    expect(r).toMatchObject({ status: 'ok', facts: { errorType: 'throttlingException', finished: true } });
  });

  const anthropic = {
    id: 'msg_1',
    type: 'message',
    role: 'assistant',
    model: 'claude-3-5-haiku-20241022',
    content: [{ type: 'tool_use', id: 't', name: 'search', input: JSON.parse(SECRET_ARGS) }],
    stop_reason: 'tool_use',
    usage: { input_tokens: 5, output_tokens: 6 },
  };

  it('InvokeModel with Claude: the Anthropic message', () => {
    expect(readEverySplit('bedrock.invoke_model', 'application/json', JSON.stringify(anthropic))).toMatchObject({
      status: 'ok',
      facts: {
        responseId: 'msg_1',
        responseModel: 'claude-3-5-haiku-20241022',
        finishReasons: ['tool_use'],
        toolCalls: ['search'],
        usage: { input: 5, output: 6 },
        finished: true,
      },
    });
  });

  it('InvokeModelWithResponseStream with Claude: Anthropic events, base64 in each chunk', () => {
    const chunk = (e: object) => ['chunk', { bytes: Buffer.from(JSON.stringify(e)).toString('base64') }] as const;
    const body = eventStream([
      chunk({ type: 'message_start', message: { ...anthropic, content: [], stop_reason: null, usage: { input_tokens: 5, output_tokens: 1 } } }),
      chunk({ type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id: 't', name: 'search', input: {} } }),
      chunk({ type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: SECRET_ARGS } }),
      chunk({ type: 'message_delta', delta: { stop_reason: 'tool_use' }, usage: { output_tokens: 6 } }),
      chunk({ type: 'message_stop' }),
    ]);
    const r = readEverySplitBinary('bedrock.invoke_model_with_response_stream', EVENTS, body);
    expect(r).toMatchObject({ status: 'ok', facts: { responseId: 'msg_1', toolCalls: ['search'], finishReasons: ['tool_use'], usage: { input: 5, output: 6 }, finished: true } });
    expect(JSON.stringify(r)).not.toContain('7731');
    // A chunk whose payload is not a PayloadPart is malformed.
    expect(read('bedrock.invoke_model_with_response_stream', EVENTS, eventStream([['chunk', { nope: 1 }]])).status).toBe('malformed');
  });
});

describe('every profile', () => {
  it('names a response reader for each endpoint that generates (chat, generate_content, text_completion, embeddings), and its request-id headers', () => {
    const generating = new Set(['chat', 'generate_content', 'text_completion', 'embeddings']);
    const missing = WIRES.flatMap((w) => w.endpoints.filter((e) => generating.has(e.operation) && e.response === undefined).map((e) => `${w.name} ${e.schema}`));
    expect(missing).toEqual(['gemini gemini.embed_content']);
    for (const w of WIRES) for (const e of w.endpoints) expect(responseProfile(e.schema), e.schema).toBeDefined();
    // Google's APIs send no request-id header.
    expect(WIRES.filter((w) => w.name !== 'gemini' && w.name !== 'vertex-ai' && (w.requestIdHeaders ?? []).length === 0).map((w) => w.name)).toEqual([]);
  });
});

describe('the incremental JSON reader', () => {
  function capture(paths: string[], text: string, chunk = 0): { values: [string, Scalar, number[]][]; state: string } {
    const values: [string, Scalar, number[]][] = [];
    const s = new JsonStream(fieldTree(paths), {
      value: (f, v, at) => {
        values.push([paths[f]!, v, [...at]]);
      },
    });
    const b = Buffer.from(text);
    if (chunk === 0) s.write(b);
    else for (let i = 0; i < b.length; i += chunk) s.write(b.subarray(i, i + chunk));
    return { values, state: s.state() };
  }

  it('finds the same values as JSON.parse, with escapes, unicode and nesting, in any chunking', () => {
    const doc = { a: { 'k"ey': 1, b: [{ c: 'x\\"y\u00e9\u{1F600}' }, { c: 'tab\tz' }, { d: [[1], { c: 'no' }] }] }, n: -1.5e3, t: true, f: false, z: null, s: 'é' };
    const text = JSON.stringify(doc);
    const paths = ['a.b.*.c', 'n', 't', 'f', 'z', 's'];
    const whole = capture(paths, text);
    expect(whole.state).toBe('complete');
    expect(whole.values).toEqual([
      ['a.b.*.c', 'x\\"yé\u{1F600}', [0]],
      ['a.b.*.c', 'tab\tz', [1]],
      ['n', -1500, []],
      ['t', true, []],
      ['f', false, []],
      ['z', null, []],
      ['s', 'é', []],
    ]);
    for (const n of [1, 2, 3, 7]) expect(capture(paths, text, n)).toEqual(whole);
  });

  it('cuts a long captured string and skips huge values it does not capture', () => {
    const big = 'x'.repeat(5 * 1024 * 1024);
    const r = capture(['id', 'model'], JSON.stringify({ content: big, nested: [{ deep: big }], id: 'y'.repeat(MAX_CAPTURE + 10), model: 'm' }), 65536);
    expect(r.state).toBe('complete');
    expect(r.values[0]![1]).toBe(`${'y'.repeat(MAX_CAPTURE)}…`);
    expect(r.values[1]).toEqual(['model', 'm', []]);
  });

  it('says malformed for broken structure and incomplete for a cut document', () => {
    for (const bad of ['{"a":1,}', '{"a" 1}', '[1,]', '{"a":tru}', '{"a":1]', '{"a":01}'.replace('01', '0x1'), '}', '{"a":1}{']) {
      expect(capture(['a'], bad).state, bad).toBe('malformed');
    }
    expect(capture(['a'], '{"a":"unterminated').state).toBe('incomplete');
    expect(capture(['a'], '   ').state).toBe('empty');
    expect(capture(['a'], '[[[[').state).toBe('incomplete');
    expect(capture(['a'], '['.repeat(600)).state).toBe('malformed');
  });
});

describe('SSE framing', () => {
  function events(text: string, chunk: number): [string | undefined, boolean, string][] {
    const out: [string | undefined, boolean, string][] = [];
    let data = '';
    const s = new SseStream({
      data: (b, from, to) => {
        data += Buffer.from(b.subarray(from, to)).toString();
      },
      event: (name, done) => {
        out.push([name, done, data]);
        data = '';
      },
    });
    const b = Buffer.from(text);
    for (let i = 0; i < b.length; i += chunk) s.write(b.subarray(i, i + chunk));
    s.end();
    return out;
  }

  it('reads events with LF, CR and CRLF line ends, comments, multi-line data and [DONE], in any chunking', () => {
    const text = ': comment\nevent: a\ndata: {"x":1}\n\nevent:b\r\ndata:{"y":\r\ndata: 2}\r\n\r\nid: 7\rdata: [DONE]\r\rdata: [DONE]x\n\ndata: last';
    const want: [string | undefined, boolean, string][] = [
      ['a', false, '{"x":1}'],
      ['b', false, '{"y":\n2}'],
      [undefined, true, ''],
      [undefined, false, '[DONE]x'],
      [undefined, false, 'last'],
    ];
    for (const n of [1, 2, 3, 5, 1000]) expect(events(text, n), `chunk ${n}`).toEqual(want);
  });
});
