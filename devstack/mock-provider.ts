/**
 * Local mock model providers speaking each wire API of the profiles in src/apis/ (the endpoint
 * table decides which schema a request is; REPLIES says what is answered for it, mock-replies.ts
 * how): OpenAI chat completions, Responses, embeddings and models, Anthropic messages, Gemini
 * generateContent, streamGenerateContent and countTokens, Azure OpenAI chat completions and
 * Responses; JSON and SSE, with usage, and tool calls for the tools a request offers. Each records
 * every request it receives, headers included, and every response it sent (body or hash), so tests
 * can assert exactly what reached the provider and what the client should have got.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { matchEndpoint } from '../src/apis/endpoints.ts';
import type { WireApi } from '../src/apis/index.ts';
import { anthropicReply, bigOpenAiStream, errorReply, geminiReply, malformedReply, openAiChatReply, openAiResponsesReply, type Reply, type ReplyInput } from './mock-replies.ts';

/** A mock speaks one wire API. */
export type MockKind = WireApi;

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

export interface RecordedResponse {
  readonly request: RecordedRequest;
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  /** The body as sent (absent beyond MAX_KEPT_BODY: then only its size and hash). */
  readonly body: string | undefined;
  readonly bytes: number;
  readonly sha256: string;
  /** Every part was written and the response ended normally. */
  readonly completed: boolean;
}

/** Bodies up to this size are kept whole in `responses`. */
export const MAX_KEPT_BODY = 1024 * 1024;

export interface MockProvider {
  readonly kind: MockKind;
  readonly port: number;
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** What was sent back, in the order the responses ended. */
  readonly responses: RecordedResponse[];
  /** Requests whose first bytes arrived (counted before the body is read). */
  readonly started: () => number;
  close(): Promise<void>;
}

function json(v: unknown): string {
  return JSON.stringify(v);
}

function notFound(kind: MockKind): string {
  if (kind === 'anthropic') return json({ type: 'error', error: { type: 'not_found_error', message: 'not found' } });
  if (kind === 'gemini') return json({ error: { code: 404, message: 'not found', status: 'NOT_FOUND' } });
  return json({ error: { message: 'not found', type: 'invalid_request_error', param: null, code: null } });
}

/** What the mock answers per API schema; the schema of a request comes from the API profiles' endpoint table. */
const REPLIES: Readonly<Record<string, (i: ReplyInput, query: URLSearchParams) => Reply | undefined>> = {
  'openai.models': () => ({ status: 200, type: 'application/json', parts: [json({ object: 'list', data: [{ id: 'gpt-4o-mini', object: 'model', created: 1_700_000_000, owned_by: 'mock' }] })] }),
  'openai.embeddings': (i) => ({
    status: 200,
    type: 'application/json',
    parts: [json({ object: 'list', model: i.model, data: [{ object: 'embedding', index: 0, embedding: [0.1, 0.2, 0.3] }], usage: { prompt_tokens: 3, total_tokens: 3 } })],
  }),
  'openai.chat_completions': (i) => openAiChatReply(i),
  'openai.responses': (i) => openAiResponsesReply(i),
  'anthropic.messages': (i) => anthropicReply(i),
  'azure_openai.chat_completions': (i, query) => (query.has('api-version') ? openAiChatReply(i) : undefined),
  'azure_openai.responses': (i) => openAiResponsesReply(i),
  'gemini.generate_content': (i) => geminiReply({ ...i, stream: false }),
  'gemini.stream_generate_content': (i) => geminiReply({ ...i, stream: true }),
  'gemini.count_tokens': () => ({ status: 200, type: 'application/json', parts: [json({ totalTokens: 5 })] }),
};

/** Tool names a request body offers, in any API's shape (function names; Gemini's functionDeclarations). */
function offeredTools(body: Record<string, unknown>): string[] {
  const out: string[] = [];
  const tools = Array.isArray(body['tools']) ? (body['tools'] as Record<string, unknown>[]) : [];
  for (const t of tools) {
    const fn = t['function'] as { name?: unknown } | undefined;
    if (typeof fn?.name === 'string') out.push(fn.name);
    else if (typeof t['name'] === 'string') out.push(t['name']);
    for (const d of Array.isArray(t['functionDeclarations']) ? (t['functionDeclarations'] as { name?: unknown }[]) : []) if (typeof d.name === 'string') out.push(d.name);
  }
  return out;
}

/**
 * Test scenarios, picked by the request header `x-mock-scenario`: `malformed` (a body that is not
 * the API's JSON), `cutoff` (a stream whose last events never come, the HTTP response itself
 * complete), `reset` (the connection dropped mid-stream), `error-NNN` (status NNN with the API's
 * error body), `slow` or `slow-N` (one event every 50 ms, 200 or N events), `big-N` (an OpenAI chat stream
 * of N MB).
 */
export const SCENARIO_HEADER = 'x-mock-scenario';

interface Plan {
  readonly reply: Reply;
  /** Parts written (the rest never is), or all. */
  readonly cutAfter?: number;
  readonly reset?: boolean;
  readonly delayMs?: number;
  readonly big?: number;
}

/** The reply for a request, or undefined when the mock does not serve that path. */
function plan(kind: MockKind, method: string, url: string, body: string, scenario: string | undefined): Plan | undefined {
  const [path = '', query = ''] = url.split('?', 2);
  const m = matchEndpoint(method, path, (w) => w.name === kind);
  if (m.kind !== 'endpoint' || m.endpoint.api !== kind) return undefined;
  let parsed: Record<string, unknown> = {};
  try {
    const v: unknown = JSON.parse(body);
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) parsed = v as Record<string, unknown>;
  } catch {
    // the mock answers anyway; tests assert on what it recorded
  }
  const q = new URLSearchParams(query);
  const input: ReplyInput = {
    model: m.pathModel ?? (typeof parsed['model'] === 'string' ? parsed['model'] : 'unknown'),
    stream: parsed['stream'] === true,
    tools: offeredTools(parsed),
    includeUsage: (parsed['stream_options'] as { include_usage?: unknown } | undefined)?.include_usage === true,
    sse: q.get('alt') === 'sse',
  };
  const reply = REPLIES[m.endpoint.schema]?.(input, q);
  if (reply === undefined) return undefined;
  const error = /^error-(\d{3})$/.exec(scenario ?? '');
  if (error) return { reply: errorReply(kind, Number(error[1])) };
  const big = /^big-(\d+)$/.exec(scenario ?? '');
  const slow = /^slow(?:-(\d+))?$/.exec(scenario ?? '');
  if (slow) return { reply: { ...reply, parts: [...Array.from({ length: Number(slow[1] ?? 200) }, () => reply.parts[0] ?? ''), ...reply.parts.slice(1)] }, delayMs: 50 };
  if (big) return { reply: { status: 200, type: 'text/event-stream', parts: [] }, big: Number(big[1]) * 1024 * 1024 };
  switch (scenario) {
    case 'malformed':
      return { reply: malformedReply(reply) };
    case 'cutoff':
      return { reply, cutAfter: Math.max(1, Math.floor(reply.parts.length / 2)) };
    case 'reset':
      return { reply, cutAfter: Math.max(1, Math.floor(reply.parts.length / 2)), reset: true };
    default:
      return { reply };
  }
}

/** Response headers carrying the provider's request id, as each API sends it. */
function requestIdHeader(kind: MockKind, n: number): Record<string, string> {
  const id = `req_mock_${kind}_${n}`;
  if (kind === 'anthropic') return { 'request-id': id };
  if (kind === 'azure-openai') return { 'apim-request-id': id, 'x-request-id': id };
  if (kind === 'gemini') return {};
  return { 'x-request-id': id };
}

/** Writes the parts with backpressure; stops early when the client is gone. */
async function writeParts(res: ServerResponse, parts: Iterable<string>, o: { cutAfter?: number; delayMs?: number }, sent: (part: string) => void): Promise<boolean> {
  let n = 0;
  for (const part of parts) {
    if (o.cutAfter !== undefined && n >= o.cutAfter) break;
    if (res.destroyed) return false;
    if (o.delayMs !== undefined && n > 0) await new Promise((r) => setTimeout(r, o.delayMs));
    if (res.destroyed) return false;
    sent(part);
    n++;
    if (!res.write(part)) await new Promise<void>((r) => {
      const done = (): void => {
        res.off('drain', done);
        res.off('close', done);
        r();
      };
      res.on('drain', done);
      res.on('close', done);
    });
  }
  return true;
}

/** A certificate and key (PEM files) to serve HTTPS with. */
export interface MockTls {
  readonly cert: string;
  readonly key: string;
}

export async function startMockProvider(kind: MockKind, host = '127.0.0.1', tls?: MockTls): Promise<MockProvider> {
  const requests: RecordedRequest[] = [];
  const responses: RecordedResponse[] = [];
  let started = 0;
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    started++;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const recorded = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body };
      requests.push(recorded);
      const scenario = req.headers[SCENARIO_HEADER];
      const p = plan(kind, req.method ?? '', req.url ?? '', body, typeof scenario === 'string' ? scenario : undefined);
      if (p === undefined) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(notFound(kind));
        return;
      }
      const headers = { 'content-type': p.reply.type, 'x-mock-provider': kind, ...requestIdHeader(kind, requests.length) };
      res.writeHead(p.reply.status, headers);
      const hash = createHash('sha256');
      const kept: string[] = [];
      let bytes = 0;
      const sent = (part: string): void => {
        hash.update(part);
        bytes += Buffer.byteLength(part);
        if (bytes <= MAX_KEPT_BODY) kept.push(part);
      };
      const parts = p.big !== undefined ? bigOpenAiStream(kind === 'azure-openai' || kind === 'openai' ? 'gpt-4o-mini' : 'unknown', p.big) : p.reply.parts;
      void writeParts(res, parts, p, sent).then((whole) => {
        const completed = whole && p.reset !== true && p.cutAfter === undefined;
        responses.push({ request: recorded, status: p.reply.status, headers, body: bytes <= MAX_KEPT_BODY ? kept.join('') : undefined, bytes, sha256: hash.digest('hex'), completed });
        if (p.reset === true) res.socket?.destroy();
        else res.end();
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
    responses,
    started: () => started,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
