/**
 * Local mock model providers speaking the OpenAI (/v1/chat/completions) and Anthropic
 * (/v1/messages) wire formats. Each records every request it receives, headers included,
 * so tests can assert exactly what reached the provider.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';

export type MockKind = 'openai' | 'anthropic';

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

export async function startMockProvider(kind: MockKind, host = '127.0.0.1'): Promise<MockProvider> {
  const requests: RecordedRequest[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body });
      const path = (req.url ?? '').split('?')[0];
      const expected = kind === 'openai' ? '/v1/chat/completions' : '/v1/messages';
      if (req.method !== 'POST' || path !== expected) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(kind === 'openai' ? json({ error: { message: 'not found', type: 'invalid_request_error', param: null, code: null } }) : json({ type: 'error', error: { type: 'not_found_error', message: 'not found' } }));
        return;
      }
      let model = 'unknown';
      let stream = false;
      try {
        const parsed = JSON.parse(body) as { model?: unknown; stream?: unknown };
        if (typeof parsed.model === 'string') model = parsed.model;
        stream = parsed.stream === true;
      } catch {
        // the mock answers anyway; tests assert on what it recorded
      }
      const reply = kind === 'openai' ? openAiReply(model, stream) : anthropicReply(model, stream);
      res.writeHead(200, { 'content-type': reply.type, 'x-mock-provider': kind });
      res.end(reply.body);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  return {
    kind,
    port,
    url: `http://${host}:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
