/**
 * Local mock model providers speaking each wire API of the profiles in src/apis/ (the endpoint
 * table decides which schema a request is; REPLIES says what is answered for it): OpenAI chat
 * completions, embeddings and models, Anthropic messages, Gemini generateContent,
 * streamGenerateContent and countTokens, Azure OpenAI chat completions. Each records every request it receives, headers included, so tests can assert
 * exactly what reached the provider.
 */
import { readFileSync } from 'node:fs';
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
  if (kind === 'gemini') return json({ error: { code: 404, message: 'not found', status: 'NOT_FOUND' } });
  return json({ error: { message: 'not found', type: 'invalid_request_error', param: null, code: null } });
}

type Reply = { type: string; body: string };

/** What the mock answers per API schema; the schema of a request comes from the API profiles' endpoint table. */
const REPLIES: Readonly<Record<string, (model: string, stream: boolean, query: URLSearchParams) => Reply | undefined>> = {
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
  return REPLIES[m.endpoint.schema]?.(model, stream, new URLSearchParams(query));
}

/** A certificate and key (PEM files) to serve HTTPS with. */
export interface MockTls {
  readonly cert: string;
  readonly key: string;
}

export async function startMockProvider(kind: MockKind, host = '127.0.0.1', tls?: MockTls): Promise<MockProvider> {
  const requests: RecordedRequest[] = [];
  let started = 0;
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    started++;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body });
      const r = reply(kind, req.method ?? '', req.url ?? '', body);
      if (r === undefined) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(notFound(kind));
        return;
      }
      res.writeHead(200, { 'content-type': r.type, 'x-mock-provider': kind });
      res.end(r.body);
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
    started: () => started,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
