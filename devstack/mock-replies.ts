/**
 * What the mock providers answer, per API schema, as the real APIs write it: JSON bodies and
 * SSE streams (as a list of parts, written one by one) with usage, tool calls for the tools a
 * request offers, and each API's native error bodies. Tests import the figures (MOCK_USAGE,
 * MOCK_TOOL_ARGUMENTS) to check what an outcome record says against what the mock sent.
 */
import type { WireApi } from '../src/apis/index.ts';

/** What the request asked for, as far as the reply depends on it. */
export interface ReplyInput {
  readonly model: string;
  readonly stream: boolean;
  /** Tool names the request offers: the reply calls them (at most two). */
  readonly tools: readonly string[];
  /** OpenAI `stream_options.include_usage`: only then does a chat stream end with a usage chunk. */
  readonly includeUsage: boolean;
  /** Gemini `alt=sse`. */
  readonly sse: boolean;
}

export interface Reply {
  readonly status: number;
  readonly type: string;
  /** The body, in the parts it is written in (one per SSE event; binary frames for AWS event streams). */
  readonly parts: readonly (string | Uint8Array)[];
}

/** Token counts each mock reports (distinct per API, so a mix-up shows). */
export const MOCK_USAGE = {
  openai: { input: 11, output: 7, cacheRead: 3, reasoning: 2 },
  anthropic: { input: 13, output: 9, cacheRead: 4, cacheCreation: 1 },
  gemini: { input: 17, output: 5, cacheRead: 6, reasoning: 2 },
} as const;

/** The arguments of every tool call the mocks make: a canary no log line or span may contain. */
export const MOCK_TOOL_ARGUMENTS = '{"order_id":"canary-tool-arguments-81d3"}';
/** The text of every mock completion starts so: a canary no log line or span may contain. */
export const MOCK_TEXT_PREFIX = 'Hello from the mock';

const json = (v: unknown): string => JSON.stringify(v);
const sse = (data: unknown, event?: string): string => `${event ? `event: ${event}\n` : ''}data: ${typeof data === 'string' ? data : json(data)}\n\n`;

function openAiUsage(): object {
  const u = MOCK_USAGE.openai;
  return {
    prompt_tokens: u.input,
    completion_tokens: u.output,
    total_tokens: u.input + u.output,
    prompt_tokens_details: { cached_tokens: u.cacheRead },
    completion_tokens_details: { reasoning_tokens: u.reasoning },
  };
}

export function openAiChatReply(i: ReplyInput): Reply {
  const id = 'chatcmpl-mock';
  const calls = i.tools.slice(0, 2);
  const text = `${MOCK_TEXT_PREFIX} OpenAI provider.`;
  if (!i.stream) {
    const message =
      calls.length > 0
        ? { role: 'assistant', content: null, tool_calls: calls.map((name, n) => ({ id: `call_${n}`, type: 'function', function: { name, arguments: MOCK_TOOL_ARGUMENTS } })) }
        : { role: 'assistant', content: text };
    return {
      status: 200,
      type: 'application/json',
      parts: [
        json({
          id,
          object: 'chat.completion',
          created: 1_700_000_000,
          model: i.model,
          choices: [{ index: 0, message, finish_reason: calls.length > 0 ? 'tool_calls' : 'stop' }],
          usage: openAiUsage(),
        }),
      ],
    };
  }
  const chunk = (delta: object, finish: string | null): string =>
    sse({ id, object: 'chat.completion.chunk', created: 1_700_000_000, model: i.model, choices: [{ index: 0, delta, finish_reason: finish }] });
  const parts: string[] = [];
  if (calls.length > 0) {
    calls.forEach((name, n) => {
      parts.push(
        chunk({ ...(n === 0 ? { role: 'assistant', content: null } : {}), tool_calls: [{ index: n, id: `call_${n}`, type: 'function', function: { name, arguments: '' } }] }, null),
      );
      parts.push(chunk({ tool_calls: [{ index: n, function: { arguments: MOCK_TOOL_ARGUMENTS } }] }, null));
    });
    parts.push(chunk({}, 'tool_calls'));
  } else {
    parts.push(chunk({ role: 'assistant', content: `${MOCK_TEXT_PREFIX} ` }, null), chunk({ content: 'OpenAI provider.' }, null), chunk({}, 'stop'));
  }
  if (i.includeUsage) parts.push(sse({ id, object: 'chat.completion.chunk', created: 1_700_000_000, model: i.model, choices: [], usage: openAiUsage() }));
  parts.push(sse('[DONE]'));
  return { status: 200, type: 'text/event-stream', parts };
}

export function openAiResponsesReply(i: ReplyInput): Reply {
  const u = MOCK_USAGE.openai;
  const calls = i.tools.slice(0, 2);
  const output =
    calls.length > 0
      ? calls.map((name, n) => ({ type: 'function_call', id: `fc_${n}`, call_id: `call_${n}`, name, arguments: MOCK_TOOL_ARGUMENTS, status: 'completed' }))
      : [
          {
            type: 'message',
            id: 'msg_0',
            status: 'completed',
            role: 'assistant',
            content: [{ type: 'output_text', text: `${MOCK_TEXT_PREFIX} OpenAI provider.`, annotations: [] }],
          },
        ];
  const usage = {
    input_tokens: u.input,
    input_tokens_details: { cached_tokens: u.cacheRead },
    output_tokens: u.output,
    output_tokens_details: { reasoning_tokens: u.reasoning },
    total_tokens: u.input + u.output,
  };
  const response = { id: 'resp_mock', object: 'response', created_at: 1_700_000_000, status: 'completed', model: i.model, output, usage };
  if (!i.stream) return { status: 200, type: 'application/json', parts: [json(response)] };
  const parts = [sse({ type: 'response.created', sequence_number: 0, response: { ...response, status: 'in_progress', output: [], usage: null } }, 'response.created')];
  output.forEach((item, n) => {
    const added = 'name' in item ? { ...item, arguments: '', status: 'in_progress' } : { ...item, content: [], status: 'in_progress' };
    parts.push(sse({ type: 'response.output_item.added', output_index: n, item: added }, 'response.output_item.added'));
    if ('name' in item)
      parts.push(sse({ type: 'response.function_call_arguments.delta', output_index: n, item_id: item.id, delta: MOCK_TOOL_ARGUMENTS }, 'response.function_call_arguments.delta'));
    else
      parts.push(
        sse(
          { type: 'response.output_text.delta', output_index: n, item_id: item.id, content_index: 0, delta: `${MOCK_TEXT_PREFIX} OpenAI provider.` },
          'response.output_text.delta',
        ),
      );
    parts.push(sse({ type: 'response.output_item.done', output_index: n, item }, 'response.output_item.done'));
  });
  parts.push(sse({ type: 'response.completed', sequence_number: parts.length, response }, 'response.completed'));
  return { status: 200, type: 'text/event-stream', parts };
}

export function anthropicReply(i: ReplyInput): Reply {
  const u = MOCK_USAGE.anthropic;
  const calls = i.tools.slice(0, 2);
  const text = `${MOCK_TEXT_PREFIX} Anthropic provider.`;
  const content = [{ type: 'text', text }, ...calls.map((name, n) => ({ type: 'tool_use', id: `toolu_${n}`, name, input: JSON.parse(MOCK_TOOL_ARGUMENTS) as object }))];
  const usage = { input_tokens: u.input, output_tokens: u.output, cache_read_input_tokens: u.cacheRead, cache_creation_input_tokens: u.cacheCreation };
  const message = {
    id: 'msg_mock',
    type: 'message',
    role: 'assistant',
    model: i.model,
    content,
    stop_reason: calls.length > 0 ? 'tool_use' : 'end_turn',
    stop_sequence: null,
    usage,
  };
  if (!i.stream) return { status: 200, type: 'application/json', parts: [json(message)] };
  const ev = (event: string, data: object): string => sse({ type: event, ...data }, event);
  const parts = [ev('message_start', { message: { ...message, content: [], stop_reason: null, usage: { ...usage, output_tokens: 1 } } })];
  content.forEach((block, n) => {
    if (block.type === 'text') {
      parts.push(ev('content_block_start', { index: n, content_block: { type: 'text', text: '' } }));
      parts.push(ev('content_block_delta', { index: n, delta: { type: 'text_delta', text } }));
    } else {
      parts.push(ev('content_block_start', { index: n, content_block: { ...block, input: {} } }));
      parts.push(ev('content_block_delta', { index: n, delta: { type: 'input_json_delta', partial_json: MOCK_TOOL_ARGUMENTS } }));
    }
    parts.push(ev('content_block_stop', { index: n }));
  });
  parts.push(ev('message_delta', { delta: { stop_reason: message.stop_reason, stop_sequence: null }, usage: { output_tokens: u.output } }), ev('message_stop', {}));
  return { status: 200, type: 'text/event-stream', parts };
}

export function geminiReply(i: ReplyInput): Reply {
  const u = MOCK_USAGE.gemini;
  const calls = i.tools.slice(0, 2);
  const chunk = (parts: object[], finish: string | undefined, last: boolean): object => ({
    candidates: [{ content: { role: 'model', parts }, index: 0, ...(finish ? { finishReason: finish } : {}) }],
    usageMetadata: last
      ? {
          promptTokenCount: u.input,
          candidatesTokenCount: u.output,
          cachedContentTokenCount: u.cacheRead,
          thoughtsTokenCount: u.reasoning,
          totalTokenCount: u.input + u.output + u.reasoning,
        }
      : { promptTokenCount: u.input, totalTokenCount: u.input },
    modelVersion: i.model,
    responseId: 'gemini-mock',
  });
  const callParts = calls.map((name) => ({ functionCall: { name, args: JSON.parse(MOCK_TOOL_ARGUMENTS) as object } }));
  if (!i.stream) return { status: 200, type: 'application/json', parts: [json(chunk([{ text: `${MOCK_TEXT_PREFIX} Gemini provider.` }, ...callParts], 'STOP', true))] };
  const chunks = [chunk([{ text: `${MOCK_TEXT_PREFIX} ` }], undefined, false), chunk([{ text: 'Gemini provider.' }, ...callParts], 'STOP', true)];
  if (i.sse) return { status: 200, type: 'text/event-stream', parts: chunks.map((c) => `data: ${json(c)}\r\n\r\n`) };
  // Without alt=sse, streamGenerateContent answers one JSON array, written as it is produced.
  return { status: 200, type: 'application/json', parts: [`[${json(chunks[0])}`, `,\r\n${json(chunks[1])}]`] };
}

/** The API's own error body for a status (what the real API sends on a 4xx/5xx). */
export function errorReply(api: WireApi, status: number): Reply {
  const openAiType = status === 429 ? 'rate_limit_error' : status >= 500 ? 'server_error' : 'invalid_request_error';
  const anthropicType = status === 429 ? 'rate_limit_error' : status === 529 ? 'overloaded_error' : status >= 500 ? 'api_error' : 'invalid_request_error';
  const googleStatus = status === 429 ? 'RESOURCE_EXHAUSTED' : status >= 500 ? 'INTERNAL' : 'INVALID_ARGUMENT';
  const body =
    api === 'anthropic'
      ? { type: 'error', error: { type: anthropicType, message: `mock error ${status}` } }
      : api === 'gemini'
        ? { error: { code: status, message: `mock error ${status}`, status: googleStatus } }
        : { error: { message: `mock error ${status}`, type: openAiType, param: null, code: status === 429 ? 'rate_limit_exceeded' : null } };
  return { status, type: 'application/json', parts: [json(body)] };
}

/** A reply whose body is not the API's JSON: cut inside an object and closed with junk. */
export function malformedReply(r: Reply): Reply {
  const first = r.parts[0] ?? '{}';
  const broken = r.type === 'text/event-stream' ? `data: {"id":"broken",,"choices":[}\n\n${r.parts.slice(1).join('')}` : String(first).replace('{', '{"broken":,');
  return { ...r, parts: [broken] };
}

/**
 * An OpenAI chat stream of about `bytes` bytes (events of 1 KB of text), ending with finish,
 * usage and [DONE]; generated part by part so the mock never holds it whole.
 */
export function* bigOpenAiStream(model: string, bytes: number): Generator<string> {
  const filler = 'lorem ipsum dolor sit amet '.repeat(40).slice(0, 1000);
  const event = sse({
    id: 'chatcmpl-big',
    object: 'chat.completion.chunk',
    created: 1_700_000_000,
    model,
    choices: [{ index: 0, delta: { content: filler }, finish_reason: null }],
  });
  for (let sent = 0; sent < bytes; sent += event.length) yield event;
  yield sse({ id: 'chatcmpl-big', object: 'chat.completion.chunk', created: 1_700_000_000, model, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] });
  yield sse({ id: 'chatcmpl-big', object: 'chat.completion.chunk', created: 1_700_000_000, model, choices: [], usage: openAiUsage() });
  yield sse('[DONE]');
}
