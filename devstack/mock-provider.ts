/**
 * Local mock model providers speaking each wire API of the profiles in src/apis/ (the endpoint
 * table decides which schema a request is; REPLIES says what is answered for it): OpenAI chat
 * completions, embeddings and models, Anthropic messages, Gemini generateContent,
 * streamGenerateContent and countTokens, Azure OpenAI chat completions, Bedrock Converse,
 * ConverseStream, InvokeModel and InvokeModelWithResponseStream (AWS event streams), Vertex AI
 * Gemini and Claude. Each records every request it receives, headers included, so tests can
 * assert exactly what reached the provider; with a `MockAuth` it also checks the credential as
 * the provider would (a SigV4 signature, a token it issued) and refuses a wrong one.
 */
import { readFileSync } from 'node:fs';
import { EventStreamCodec } from '@smithy/eventstream-codec';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { matchEndpoint } from '../src/apis/endpoints.ts';
import type { WireApi } from '../src/apis/index.ts';

/** A mock speaks one wire API. */
export type MockKind = WireApi;

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

export interface MockProvider {
  readonly kind: MockKind;
  readonly port: number;
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** Requests whose credential the mock refused, and why (a MockAuth's problem). */
  readonly refused: { readonly path: string; readonly problem: string }[];
  /** Requests whose first bytes arrived (counted before the body is read). */
  readonly started: () => number;
  close(): Promise<void>;
}

function json(v: unknown): string {
  return JSON.stringify(v);
}

function openAiReply(model: string, stream: boolean): { type: string; body: string } {
  const id = 'chatcmpl-mock';
  if (!stream) {
    return {
      type: 'application/json',
      body: json({
        id,
        object: 'chat.completion',
        created: 1_700_000_000,
        model,
        choices: [{ index: 0, message: { role: 'assistant', content: 'Hello from the mock OpenAI provider.' }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 },
      }),
    };
  }
  const chunk = (delta: object, finish: string | null): string =>
    `data: ${json({ id, object: 'chat.completion.chunk', created: 1_700_000_000, model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
  return {
    type: 'text/event-stream',
    body: chunk({ role: 'assistant', content: 'Hello from the mock ' }, null) + chunk({ content: 'OpenAI provider.' }, null) + chunk({}, 'stop') + 'data: [DONE]\n\n',
  };
}

function anthropicReply(model: string, stream: boolean): { type: string; body: string } {
  const message = {
    id: 'msg_mock',
    type: 'message',
    role: 'assistant',
    model,
    content: [{ type: 'text', text: 'Hello from the mock Anthropic provider.' }],
    stop_reason: 'end_turn',
    stop_sequence: null,
    usage: { input_tokens: 5, output_tokens: 7 },
  };
  if (!stream) return { type: 'application/json', body: json(message) };
  const ev = (event: string, data: object): string => `event: ${event}\ndata: ${json(data)}\n\n`;
  return {
    type: 'text/event-stream',
    body:
      ev('message_start', { type: 'message_start', message: { ...message, content: [], stop_reason: null, usage: { input_tokens: 5, output_tokens: 0 } } }) +
      ev('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }) +
      ev('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hello from the mock Anthropic provider.' } }) +
      ev('content_block_stop', { type: 'content_block_stop', index: 0 }) +
      ev('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 7 } }) +
      ev('message_stop', { type: 'message_stop' }),
  };
}

function geminiReply(model: string, stream: boolean, sse: boolean): { type: string; body: string } {
  const chunk = (text: string, finish: string | undefined): object => ({
    candidates: [{ content: { role: 'model', parts: [{ text }] }, index: 0, ...(finish ? { finishReason: finish } : {}) }],
    usageMetadata: { promptTokenCount: 5, candidatesTokenCount: 7, totalTokenCount: 12 },
    modelVersion: model,
  });
  if (!stream) return { type: 'application/json', body: json(chunk('Hello from the mock Gemini provider.', 'STOP')) };
  const parts = [chunk('Hello from the mock ', undefined), chunk('Gemini provider.', 'STOP')];
  if (sse) return { type: 'text/event-stream', body: parts.map((p) => `data: ${json(p)}\r\n\r\n`).join('') };
  return { type: 'application/json', body: json(parts) };
}

function notFound(kind: MockKind): string {
  if (kind === 'anthropic') return json({ type: 'error', error: { type: 'not_found_error', message: 'not found' } });
  if (kind === 'gemini' || kind === 'vertex-ai') return json({ error: { code: 404, message: 'not found', status: 'NOT_FOUND' } });
  if (kind === 'bedrock') return json({ message: 'not found' });
  return json({ error: { message: 'not found', type: 'invalid_request_error', param: null, code: null } });
}

type Reply = { type: string; body: string | Uint8Array };

const EVENTS = new EventStreamCodec(
  (b) => Buffer.from(b).toString('utf8'),
  (s) => new Uint8Array(Buffer.from(s, 'utf8')),
);

/** An AWS event stream (application/vnd.amazon.eventstream) of `[event type, JSON payload]` events. */
function eventStream(events: readonly (readonly [string, object])[]): Reply {
  const frames = events.map(([type, payload]) =>
    EVENTS.encode({
      headers: {
        ':event-type': { type: 'string', value: type },
        ':content-type': { type: 'string', value: 'application/json' },
        ':message-type': { type: 'string', value: 'event' },
      },
      body: new Uint8Array(Buffer.from(json(payload))),
    }),
  );
  return { type: 'application/vnd.amazon.eventstream', body: Buffer.concat(frames) };
}

const BEDROCK_TEXT = 'Hello from the mock Bedrock provider.';

function converseReply(stream: boolean): Reply {
  const usage = { inputTokens: 5, outputTokens: 7, totalTokens: 12 };
  if (!stream) {
    return { type: 'application/json', body: json({ output: { message: { role: 'assistant', content: [{ text: BEDROCK_TEXT }] } }, stopReason: 'end_turn', usage, metrics: { latencyMs: 1 } }) };
  }
  return eventStream([
    ['messageStart', { role: 'assistant' }],
    ['contentBlockDelta', { contentBlockIndex: 0, delta: { text: 'Hello from the mock ' } }],
    ['contentBlockDelta', { contentBlockIndex: 0, delta: { text: 'Bedrock provider.' } }],
    ['contentBlockStop', { contentBlockIndex: 0 }],
    ['messageStop', { stopReason: 'end_turn' }],
    ['metadata', { usage, metrics: { latencyMs: 1 } }],
  ]);
}

/** InvokeModel: the Anthropic format (Claude) answered as Anthropic messages; other bodies with a plain generation. */
function invokeReply(model: string, stream: boolean, body: string): Reply {
  const anthropicFormat = body.includes('"anthropic_version"');
  if (!stream) return anthropicFormat ? anthropicReply(model, false) : { type: 'application/json', body: json({ generation: BEDROCK_TEXT, stop_reason: 'stop' }) };
  const sse = anthropicReply(model, true).body.toString();
  const chunks = sse
    .split('\n\n')
    .filter((e) => e.includes('data: '))
    .map((e) => ['chunk', { bytes: Buffer.from(e.slice(e.indexOf('data: ') + 6)).toString('base64') }] as const);
  return eventStream(chunks);
}

/** What the mock answers per API schema; the schema of a request comes from the API profiles' endpoint table. */
const REPLIES: Readonly<Record<string, (model: string, stream: boolean, query: URLSearchParams, body: string) => Reply | undefined>> = {
  'openai.models': () => ({ type: 'application/json', body: json({ object: 'list', data: [{ id: 'gpt-4o-mini', object: 'model', created: 1_700_000_000, owned_by: 'mock' }] }) }),
  'openai.embeddings': (model) => ({
    type: 'application/json',
    body: json({ object: 'list', model, data: [{ object: 'embedding', index: 0, embedding: [0.1, 0.2, 0.3] }], usage: { prompt_tokens: 3, total_tokens: 3 } }),
  }),
  'openai.chat_completions': openAiReply,
  'anthropic.messages': anthropicReply,
  'azure_openai.chat_completions': (model, stream, query) => (query.has('api-version') ? openAiReply(model, stream) : undefined),
  'gemini.generate_content': (model, _stream, query) => geminiReply(model, false, query.get('alt') === 'sse'),
  'gemini.stream_generate_content': (model, _stream, query) => geminiReply(model, true, query.get('alt') === 'sse'),
  'gemini.count_tokens': () => ({ type: 'application/json', body: json({ totalTokens: 5 }) }),
  'bedrock.converse': () => converseReply(false),
  'bedrock.converse_stream': () => converseReply(true),
  'bedrock.invoke_model': (model, _stream, _query, body) => invokeReply(model, false, body),
  'bedrock.invoke_model_with_response_stream': (model, _stream, _query, body) => invokeReply(model, true, body),
  'vertex_ai.generate_content': (model, _stream, query) => geminiReply(model, false, query.get('alt') === 'sse'),
  'vertex_ai.stream_generate_content': (model, _stream, query) => geminiReply(model, true, query.get('alt') === 'sse'),
  'vertex_ai.count_tokens': () => ({ type: 'application/json', body: json({ totalTokens: 5 }) }),
  'vertex_ai.anthropic_raw_predict': anthropicReply,
  'vertex_ai.anthropic_stream_raw_predict': (model) => anthropicReply(model, true),
  'vertex_ai.anthropic_count_tokens': () => ({ type: 'application/json', body: json({ input_tokens: 5 }) }),
};

/** The reply for a request, or undefined when the mock does not serve that path. */
function reply(kind: MockKind, method: string, url: string, body: string): Reply | undefined {
  const [path = '', query = ''] = url.split('?', 2);
  const m = matchEndpoint(method, path, (w) => w.name === kind);
  if (m.kind !== 'endpoint' || m.endpoint.api !== kind) return undefined;
  let model = m.pathModel ?? 'unknown';
  let stream = false;
  try {
    const parsed = JSON.parse(body) as { model?: unknown; stream?: unknown };
    if (m.pathModel === undefined && typeof parsed.model === 'string') model = parsed.model;
    stream = parsed.stream === true;
  } catch {
    // the mock answers anyway; tests assert on what it recorded
  }
  return REPLIES[m.endpoint.schema]?.(model, stream, new URLSearchParams(query), body);
}

/** How a mock checks the provider credential of each request (and answers requests of its own, such as a token endpoint). */
export interface MockAuth {
  /** A request that is not a model call (a token endpoint; not counted, not recorded) and its answer: [status, JSON body]. */
  own?: { readonly method: string; readonly path: string; answer(body: string): Promise<[number, string]> };
  /** Why the provider refuses the request's credential; undefined when it accepts it. */
  problem(req: { method: string; url: string; headers: IncomingHttpHeaders; body: Buffer }): Promise<string | undefined> | string | undefined;
}

/** The provider's own answer to a refused credential: status, headers, body. */
function refusal(kind: MockKind, problem: string): [number, Record<string, string>, string] {
  if (kind === 'bedrock') {
    const type = problem.split(':', 1)[0] ?? 'AccessDeniedException';
    return [403, { 'content-type': 'application/json', 'x-amzn-errortype': type }, json({ message: problem })];
  }
  if (kind === 'gemini' || kind === 'vertex-ai') return [401, { 'content-type': 'application/json' }, json({ error: { code: 401, message: problem, status: 'UNAUTHENTICATED' } })];
  if (kind === 'anthropic') return [401, { 'content-type': 'application/json' }, json({ type: 'error', error: { type: 'authentication_error', message: problem } })];
  return [401, { 'content-type': 'application/json' }, json({ error: { message: problem, type: 'invalid_request_error', param: null, code: 'invalid_api_key' } })];
}

/** A certificate and key (PEM files) to serve HTTPS with. */
export interface MockTls {
  readonly cert: string;
  readonly key: string;
}

export async function startMockProvider(kind: MockKind, host = '127.0.0.1', tls?: MockTls, auth?: MockAuth): Promise<MockProvider> {
  const requests: RecordedRequest[] = [];
  const refused: { path: string; problem: string }[] = [];
  let started = 0;
  const answer = async (req: IncomingMessage, res: ServerResponse, raw: Buffer): Promise<void> => {
    const body = raw.toString('utf8');
    const method = req.method ?? '';
    const url = req.url ?? '';
    if (auth?.own !== undefined && method === auth.own.method && url === auth.own.path) {
      const [status, text] = await auth.own.answer(body);
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(text);
      return;
    }
    requests.push({ method, path: url, headers: req.headers, body });
    const problem = await auth?.problem({ method, url, headers: req.headers, body: raw });
    if (problem !== undefined) {
      refused.push({ path: url, problem });
      const [status, headers, text] = refusal(kind, problem);
      res.writeHead(status, headers);
      res.end(text);
      return;
    }
    const r = reply(kind, method, url, body);
    if (r === undefined) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(notFound(kind));
      return;
    }
    res.writeHead(200, { 'content-type': r.type, 'x-mock-provider': kind });
    res.end(r.body);
  };
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    if (auth?.own === undefined || req.method !== auth.own.method || req.url !== auth.own.path) started++;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      answer(req, res, Buffer.concat(chunks)).catch(() => {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(json({ message: 'mock failure' }));
      });
    });
  };
  const server: Server = tls ? createTlsServer({ cert: readFileSync(tls.cert), key: readFileSync(tls.key) }, handle) : createServer(handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  return {
    kind,
    port,
    url: `${tls ? 'https' : 'http'}://${host}:${port}`,
    requests,
    refused,
    started: () => started,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
