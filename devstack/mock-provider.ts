/**
 * Local mock model providers speaking each wire API of the profiles in src/apis/ (the endpoint
 * table decides which schema a request is; REPLIES says what is answered for it, mock-replies.ts
 * how): OpenAI chat completions, Responses, embeddings and models, Anthropic messages, Gemini
 * generateContent, streamGenerateContent and countTokens, Azure OpenAI chat completions and
 * Responses; JSON and SSE, with usage, and tool calls for the tools a request offers. Each records
 * every request it receives, headers included, and every response it sent (body or hash), so tests
 * can assert exactly what reached the provider and what the client should have got: all counted,
 * the last `keep` kept (record-log.ts). Bedrock
 * (Converse, ConverseStream, InvokeModel, InvokeModelWithResponseStream as AWS event streams) and
 * Vertex AI (Gemini and Claude) too; with a `MockAuth` a mock also checks the credential as the
 * provider would (a SigV4 signature, a token it issued) and refuses a wrong one.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { EventStreamCodec } from '@smithy/eventstream-codec';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { matchEndpoint } from '../src/apis/endpoints.ts';
import type { WireApi } from '../src/apis/index.ts';
import { RecordLog } from './record-log.ts';
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
  readonly requests: RecordLog<RecordedRequest>;
  /** What was sent back, in the order the responses ended. */
  readonly responses: RecordLog<RecordedResponse>;
  /** Requests whose credential the mock refused, and why (a MockAuth's problem). */
  readonly refused: RecordLog<{ readonly path: string; readonly problem: string }>;
  /** Requests whose first bytes arrived (counted before the body is read). */
  readonly started: () => number;
  close(): Promise<void>;
}

function json(v: unknown): string {
  return JSON.stringify(v);
}

function notFound(kind: MockKind): string {
  if (kind === 'anthropic') return json({ type: 'error', error: { type: 'not_found_error', message: 'not found' } });
  if (kind === 'gemini' || kind === 'vertex-ai') return json({ error: { code: 404, message: 'not found', status: 'NOT_FOUND' } });
  if (kind === 'bedrock') return json({ message: 'not found' });
  return json({ error: { message: 'not found', type: 'invalid_request_error', param: null, code: null } });
}

const EVENTS = new EventStreamCodec(
  (b) => Buffer.from(b).toString('utf8'),
  (s) => new Uint8Array(Buffer.from(s, 'utf8')),
);

/** An AWS event stream (application/vnd.amazon.eventstream) of `[event type, JSON payload]` events, one part each. */
function eventStream(events: readonly (readonly [string, object])[]): Reply {
  const frames = events.map(([type, payload]) =>
    Buffer.from(
      EVENTS.encode({
        headers: {
          ':event-type': { type: 'string', value: type },
          ':content-type': { type: 'string', value: 'application/json' },
          ':message-type': { type: 'string', value: 'event' },
        },
        body: new Uint8Array(Buffer.from(json(payload))),
      }),
    ),
  );
  return { status: 200, type: 'application/vnd.amazon.eventstream', parts: frames };
}

const BEDROCK_TEXT = 'Hello from the mock Bedrock provider.';

function converseReply(stream: boolean): Reply {
  const usage = { inputTokens: 5, outputTokens: 7, totalTokens: 12 };
  if (!stream) {
    return {
      status: 200,
      type: 'application/json',
      parts: [json({ output: { message: { role: 'assistant', content: [{ text: BEDROCK_TEXT }] } }, stopReason: 'end_turn', usage, metrics: { latencyMs: 1 } })],
    };
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
function invokeReply(i: ReplyInput, stream: boolean, body: string): Reply {
  const anthropicFormat = body.includes('"anthropic_version"');
  if (!stream)
    return anthropicFormat ? anthropicReply({ ...i, stream: false }) : { status: 200, type: 'application/json', parts: [json({ generation: BEDROCK_TEXT, stop_reason: 'stop' })] };
  const events = anthropicReply({ ...i, stream: true })
    .parts.map(String)
    .join('')
    .split('\n\n');
  return eventStream(events.filter((e) => e.includes('data: ')).map((e) => ['chunk', { bytes: Buffer.from(e.slice(e.indexOf('data: ') + 6)).toString('base64') }] as const));
}

/** What the mock answers per API schema; the schema of a request comes from the API profiles' endpoint table. */
const REPLIES: Readonly<Record<string, (i: ReplyInput, query: URLSearchParams, body: string) => Reply | undefined>> = {
  'openai.models': () => ({
    status: 200,
    type: 'application/json',
    parts: [json({ object: 'list', data: [{ id: 'gpt-4o-mini', object: 'model', created: 1_700_000_000, owned_by: 'mock' }] })],
  }),
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
  'bedrock.converse': () => converseReply(false),
  'bedrock.converse_stream': () => converseReply(true),
  'bedrock.invoke_model': (i, _q, body) => invokeReply(i, false, body),
  'bedrock.invoke_model_with_response_stream': (i, _q, body) => invokeReply(i, true, body),
  'vertex_ai.generate_content': (i) => geminiReply({ ...i, stream: false }),
  'vertex_ai.stream_generate_content': (i) => geminiReply({ ...i, stream: true }),
  'vertex_ai.count_tokens': () => ({ status: 200, type: 'application/json', parts: [json({ totalTokens: 5 })] }),
  'vertex_ai.anthropic_raw_predict': (i) => anthropicReply({ ...i, stream: false }),
  'vertex_ai.anthropic_stream_raw_predict': (i) => anthropicReply({ ...i, stream: true }),
  'vertex_ai.anthropic_count_tokens': () => ({ status: 200, type: 'application/json', parts: [json({ input_tokens: 5 })] }),
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
  const reply = REPLIES[m.endpoint.schema]?.(input, q, body);
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

/**
 * Drops the connection once what was written has left for the kernel: a socket destroyed at once
 * would discard the bytes still buffered (the response headers among them), and Envoy would see
 * a connection that failed before the response instead of one that broke in the middle of it.
 */
function dropAfterFlush(res: ServerResponse): void {
  setImmediate(() => {
    const sock = res.socket;
    if (sock === null) return;
    if (sock.writableLength === 0) sock.destroy();
    else sock.once('drain', () => sock.destroy());
  });
}

/** Writes the parts with backpressure; stops early when the client is gone. */
async function writeParts(
  res: ServerResponse,
  parts: Iterable<string | Uint8Array>,
  o: { cutAfter?: number; delayMs?: number },
  sent: (part: string | Uint8Array) => void,
): Promise<boolean> {
  let n = 0;
  for (const part of parts) {
    if (o.cutAfter !== undefined && n >= o.cutAfter) break;
    if (res.destroyed) return false;
    if (o.delayMs !== undefined && n > 0) await new Promise((r) => setTimeout(r, o.delayMs));
    if (res.destroyed) return false;
    sent(part);
    n++;
    if (!res.write(part))
      await new Promise<void>((r) => {
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

/** `keep`: how many of each record (requests, responses, refusals) stay readable; all are counted. */
export async function startMockProvider(kind: MockKind, host = '127.0.0.1', tls?: MockTls, auth?: MockAuth, o: { keep?: number } = {}): Promise<MockProvider> {
  const requests = new RecordLog<RecordedRequest>(o.keep);
  const responses = new RecordLog<RecordedResponse>(o.keep);
  const refused = new RecordLog<{ path: string; problem: string }>(o.keep);
  let started = 0;
  const own = (req: IncomingMessage): boolean => auth?.own !== undefined && req.method === auth.own.method && req.url === auth.own.path;
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    if (!own(req)) started++;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void answer(req, res, Buffer.concat(chunks)).catch(() => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        res.end(json({ message: 'mock failure' }));
      });
    });
  };
  const answer = async (req: IncomingMessage, res: ServerResponse, raw: Buffer): Promise<void> => {
    {
      const body = raw.toString('utf8');
      if (auth?.own !== undefined && own(req)) {
        const [status, text] = await auth.own.answer(body);
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(text);
        return;
      }
      const recorded = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body };
      requests.push(recorded);
      const problem = auth === undefined ? undefined : await auth.problem({ method: recorded.method, url: recorded.path, headers: req.headers, body: raw });
      if (problem !== undefined) {
        refused.push({ path: recorded.path, problem });
        const [status, headers, text] = refusal(kind, problem);
        res.writeHead(status, headers);
        res.end(text);
        return;
      }
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
      const sent = (part: string | Uint8Array): void => {
        hash.update(part);
        bytes += typeof part === 'string' ? Buffer.byteLength(part) : part.byteLength;
        if (bytes <= MAX_KEPT_BODY) kept.push(typeof part === 'string' ? part : Buffer.from(part).toString('latin1'));
      };
      const parts = p.big !== undefined ? bigOpenAiStream(kind === 'azure-openai' || kind === 'openai' ? 'gpt-4o-mini' : 'unknown', p.big) : p.reply.parts;
      void writeParts(res, parts, p, sent).then((whole) => {
        const completed = whole && p.reset !== true && p.cutAfter === undefined;
        responses.push({
          request: recorded,
          status: p.reply.status,
          headers,
          body: bytes <= MAX_KEPT_BODY ? kept.join('') : undefined,
          bytes,
          sha256: hash.digest('hex'),
          completed,
        });
        if (p.reset === true) dropAfterFlush(res);
        else res.end();
      });
    }
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
    refused,
    started: () => started,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
