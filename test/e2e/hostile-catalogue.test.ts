/**
 * The hostile-request catalogue, as a regression test through the real Envoy and the quickstart
 * config: paths, encodings, duplicate keys, content types, chunked and oversized bodies, request
 * smuggling shapes and keys of one API on another. For each: the answer (status and, where
 * llm-authz answers, its reason), whether anything reached a provider, and that nothing that
 * reached one carries a client's key.
 */
import { describe, expect, it } from 'vitest';
import type { MockProvider } from '../../devstack/mock-provider.ts';
import { BATCH_KEY, CHAT_KEY, QUICKSTART_CONFIG } from '../helpers/demo-keys.ts';
import { send, type RawRequest } from '../helpers/http.ts';
import { rawExchange } from '../helpers/raw-http.ts';
import { useStack } from '../helpers/stack.ts';

const J: [string, string] = ['content-type', 'application/json'];
const CHAT: [string, string] = ['authorization', `Bearer ${CHAT_KEY}`];
const chat = (model: string, extra = ''): string => `{"model":"${model}","messages":[{"role":"user","content":"say hello"}]${extra}}`;
const OK_BODY = chat('gpt-4o-mini');

interface Entry {
  readonly name: string;
  readonly req: RawRequest;
  /** The status (or any of these). */
  readonly status: number | readonly number[];
  /** llm-authz's reason, when it answered. */
  readonly reason?: string;
  /** Requests that reach a provider. */
  readonly forwarded: 0 | 1;
}

const CATALOGUE: readonly Entry[] = [
  // paths
  { name: 'path in upper case', req: { path: '/V1/CHAT/COMPLETIONS', headers: [J, CHAT], body: OK_BODY }, status: 404, reason: 'unknown_api', forwarded: 0 },
  { name: 'trailing slash', req: { path: '/v1/chat/completions/', headers: [J, CHAT], body: OK_BODY }, status: 404, reason: 'unknown_api', forwarded: 0 },
  { name: 'double slash', req: { path: '//v1/chat/completions', headers: [J, CHAT], body: OK_BODY }, status: 404, reason: 'unknown_api', forwarded: 0 },
  { name: 'dot segment', req: { path: '/v1/./chat/completions', headers: [J, CHAT], body: OK_BODY }, status: [400, 404], forwarded: 0 },
  { name: 'encoded slash', req: { path: '/v1/chat%2Fcompletions', headers: [J, CHAT], body: OK_BODY }, status: 404, reason: 'unknown_api', forwarded: 0 },
  { name: 'encoded letter', req: { path: '/v1/chat/%63ompletions', headers: [J, CHAT], body: OK_BODY }, status: 404, reason: 'unknown_api', forwarded: 0 },
  { name: 'path parameter', req: { path: '/v1/chat/completions;x=1', headers: [J, CHAT], body: OK_BODY }, status: 404, reason: 'unknown_api', forwarded: 0 },
  {
    name: 'traversal in an Azure deployment',
    req: { path: '/openai/deployments/gpt-4o-mini%2F..%2Fgpt-4.1/chat/completions?api-version=2024-10-21', headers: [J, ['api-key', CHAT_KEY]], body: '{"messages":[]}' },
    status: 400,
    reason: 'invalid_field',
    forwarded: 0,
  },
  {
    name: 'Gemini model outside the scope behind an allowed-looking prefix',
    req: { path: '/v1beta/models/gpt-4o-mini%3AgenerateContent%2F..%2Fgemini-2.5-pro:generateContent', headers: [J, ['x-goog-api-key', CHAT_KEY]], body: '{"contents":[]}' },
    status: [400, 403],
    forwarded: 0,
  },
  {
    name: 'model from the query disagreeing with the body',
    req: { path: '/v1/chat/completions?model=gpt-4.1', headers: [J, CHAT], body: OK_BODY },
    status: 400,
    reason: 'ambiguous_model',
    forwarded: 0,
  },
  // encodings and duplicate keys
  {
    name: 'duplicate model keys',
    req: { path: '/v1/chat/completions', headers: [J, CHAT], body: '{"model":"gpt-4o-mini","model":"gpt-4.1","messages":[]}' },
    status: 400,
    reason: 'ambiguous_model',
    forwarded: 0,
  },
  {
    name: 'escaped duplicate model key',
    req: { path: '/v1/chat/completions', headers: [J, CHAT], body: '{"mod\\u0065l":"gpt-4.1","model":"gpt-4o-mini","messages":[]}' },
    status: 400,
    reason: 'ambiguous_model',
    forwarded: 0,
  },
  {
    name: 'duplicate max_tokens',
    req: { path: '/v1/messages', headers: [J, ['x-api-key', CHAT_KEY]], body: '{"model":"claude-3-5-haiku-latest","max_tokens":1,"max_tokens":99999,"messages":[]}' },
    status: 400,
    reason: 'ambiguous_field',
    forwarded: 0,
  },
  { name: 'model name with a NUL', req: { path: '/v1/chat/completions', headers: [J, CHAT], body: chat('gpt-4o-mini\\u0000') }, status: [400, 403], forwarded: 0 },
  { name: 'model in another case', req: { path: '/v1/chat/completions', headers: [J, CHAT], body: chat('GPT-4O-MINI') }, status: 403, reason: 'model_not_allowed', forwarded: 0 },
  {
    name: 'two JSON documents',
    req: { path: '/v1/chat/completions', headers: [J, CHAT], body: `${OK_BODY}${chat('gpt-4.1')}` },
    status: 400,
    reason: 'malformed_body',
    forwarded: 0,
  },
  {
    name: 'invalid UTF-8',
    req: {
      path: '/v1/chat/completions',
      headers: [J, CHAT],
      body: Buffer.concat([Buffer.from('{"model":"gpt-4o-mini","messages":[],"x":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]),
    },
    status: 400,
    reason: 'malformed_body',
    forwarded: 0,
  },
  {
    name: 'gzip-encoded body',
    req: { path: '/v1/chat/completions', headers: [J, CHAT, ['content-encoding', 'gzip']], body: OK_BODY },
    status: 415,
    reason: 'unsupported_media_type',
    forwarded: 0,
  },
  {
    name: 'nesting 5,000 deep',
    req: { path: '/v1/chat/completions', headers: [J, CHAT], body: `{"model":"gpt-4o-mini","messages":[],"x":${'['.repeat(5000)}${']'.repeat(5000)}}` },
    status: 400,
    forwarded: 0,
  },
  // content types
  {
    name: 'text/plain',
    req: { path: '/v1/chat/completions', headers: [['content-type', 'text/plain'], CHAT], body: OK_BODY },
    status: 415,
    reason: 'unsupported_media_type',
    forwarded: 0,
  },
  {
    name: 'form-encoded',
    req: { path: '/v1/chat/completions', headers: [['content-type', 'application/x-www-form-urlencoded'], CHAT], body: 'model=gpt-4.1' },
    status: 415,
    reason: 'unsupported_media_type',
    forwarded: 0,
  },
  { name: 'no content type', req: { path: '/v1/chat/completions', headers: [CHAT], body: OK_BODY }, status: 415, reason: 'unsupported_media_type', forwarded: 0 },
  {
    name: 'a +json media type is JSON',
    req: { path: '/v1/chat/completions', headers: [['content-type', 'application/vnd.x+json'], CHAT], body: OK_BODY },
    status: 200,
    forwarded: 1,
  },
  // chunked and oversized bodies
  // (Node writes the body in chunks when the request says Transfer-Encoding: chunked)
  { name: 'chunked body', req: { path: '/v1/chat/completions', headers: [J, CHAT, ['transfer-encoding', 'chunked']], body: OK_BODY }, status: 200, forwarded: 1 },
  {
    name: 'body over max_request_bytes',
    req: { path: '/v1/chat/completions', headers: [J, CHAT], body: chat('gpt-4o-mini', `,"pad":"${'x'.repeat(1024 * 1024 + 16)}"`) },
    status: 413,
    reason: 'body_too_large',
    forwarded: 0,
  },
  { name: 'a listing with a body', req: { method: 'GET', path: '/v1/models', headers: [J, CHAT], body: chat('gpt-4.1') }, status: 400, reason: 'unexpected_body', forwarded: 0 },
  // keys of one API on another
  {
    name: 'OpenAI bearer key on the Anthropic API',
    req: { path: '/v1/messages', headers: [J, CHAT, ['anthropic-version', '2023-06-01']], body: '{"model":"claude-3-5-haiku-latest","max_tokens":8,"messages":[]}' },
    status: 200,
    forwarded: 1,
  },
  { name: 'Gemini key header on the OpenAI API', req: { path: '/v1/chat/completions', headers: [J, ['x-goog-api-key', CHAT_KEY]], body: OK_BODY }, status: 200, forwarded: 1 },
  {
    name: 'a key scoped to OpenAI on the Anthropic API',
    req: { path: '/v1/messages', headers: [J, ['x-api-key', BATCH_KEY]], body: '{"model":"gpt-4o-mini","max_tokens":8,"messages":[]}' },
    status: 403,
    reason: 'provider_not_allowed',
    forwarded: 0,
  },
  {
    name: 'two different keys in two API headers',
    req: { path: '/v1/chat/completions', headers: [J, CHAT, ['x-api-key', BATCH_KEY]], body: OK_BODY },
    status: 401,
    reason: 'conflicting_credentials',
    forwarded: 0,
  },
  {
    name: 'a key only in the Gemini ?key= parameter',
    req: { path: `/v1beta/models/gemini-2.5-flash:generateContent?key=${CHAT_KEY}`, headers: [J], body: '{"contents":[]}' },
    status: 401,
    reason: 'no_credentials',
    forwarded: 0,
  },
];

/** Raw-socket shapes: the answers Envoy gives, and nothing forwarded that llm-authz did not decide. */
const SMUGGLING: readonly { name: string; bytes: (host: string) => string; statuses: readonly number[]; forwarded: 0 | 1 }[] = [
  {
    name: 'Content-Length and Transfer-Encoding together',
    bytes: (h) =>
      `POST /v1/chat/completions HTTP/1.1\r\nHost: ${h}\r\nContent-Type: application/json\r\nAuthorization: Bearer ${CHAT_KEY}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n${OK_BODY.length.toString(16)}\r\n${OK_BODY}\r\n0\r\n\r\n`,
    statuses: [400],
    forwarded: 0,
  },
  {
    name: 'two Content-Length values',
    bytes: (h) =>
      `POST /v1/chat/completions HTTP/1.1\r\nHost: ${h}\r\nContent-Type: application/json\r\nAuthorization: Bearer ${CHAT_KEY}\r\nContent-Length: ${OK_BODY.length}\r\nContent-Length: 5\r\n\r\n${OK_BODY}`,
    statuses: [400],
    forwarded: 0,
  },
  {
    // Envoy unfolds it: llm-authz decides on the one header it sees, and that is what is forwarded
    name: 'an obsolete folded header is decided as the unfolded header',
    bytes: (h) =>
      `POST /v1/chat/completions HTTP/1.1\r\nHost: ${h}\r\nContent-Type: application/json\r\nAuthorization: Bearer\r\n ${CHAT_KEY}\r\nContent-Length: ${OK_BODY.length}\r\n\r\n${OK_BODY}`,
    statuses: [200],
    forwarded: 1,
  },
  {
    name: 'a space before the colon of Transfer-Encoding',
    bytes: (h) =>
      `POST /v1/chat/completions HTTP/1.1\r\nHost: ${h}\r\nContent-Type: application/json\r\nAuthorization: Bearer ${CHAT_KEY}\r\nTransfer-Encoding : chunked\r\nContent-Length: ${OK_BODY.length}\r\n\r\n${OK_BODY}`,
    statuses: [400],
    forwarded: 0,
  },
  {
    name: 'a second request hidden after a short Content-Length is decided on its own (denied)',
    bytes: (h) => {
      const hidden = `POST /v1/chat/completions HTTP/1.1\r\nHost: ${h}\r\nContent-Type: application/json\r\nAuthorization: Bearer ${CHAT_KEY}\r\nContent-Length: ${chat('gpt-4.1').length}\r\n\r\n${chat('gpt-4.1')}`;
      return `POST /v1/chat/completions HTTP/1.1\r\nHost: ${h}\r\nContent-Type: application/json\r\nAuthorization: Bearer ${CHAT_KEY}\r\nContent-Length: ${OK_BODY.length}\r\n\r\n${OK_BODY}${hidden}`;
    },
    statuses: [200, 403],
    forwarded: 1,
  },
  {
    name: 'absolute-form request target for another host',
    bytes: (h) =>
      `POST http://evil.example/v1/chat/completions HTTP/1.1\r\nHost: ${h}\r\nContent-Type: application/json\r\nAuthorization: Bearer ${CHAT_KEY}\r\nContent-Length: ${chat('gpt-4.1').length}\r\n\r\n${chat('gpt-4.1')}`,
    statuses: [403],
    forwarded: 0,
  },
];

function forwardedCount(ps: readonly MockProvider[]): number {
  return ps.reduce((n, p) => n + p.requests.length, 0);
}

describe('the hostile-request catalogue through the real Envoy', () => {
  const stack = useStack('hostile-catalogue', { config: QUICKSTART_CONFIG });
  const providers = (): MockProvider[] => {
    const s = stack();
    return [s.openai, s.anthropic, s.gemini, s.azureOpenai];
  };
  const noClientKeyForwarded = (ps: readonly MockProvider[], from: number[]): void => {
    ps.forEach((p, i) => {
      for (const r of p.requests.slice(from[i])) {
        const seen = JSON.stringify({ path: r.path, headers: r.headers });
        expect(seen).not.toContain(CHAT_KEY);
        expect(seen).not.toContain(BATCH_KEY);
      }
    });
  };

  it.each(CATALOGUE.map((e) => [e.name, e] as const))('%s', async (_name, e) => {
    const s = stack();
    const ps = providers();
    const before = ps.map((p) => p.requests.length);
    const r = await send(s.url, e.req);
    const statuses = typeof e.status === 'number' ? [e.status] : e.status;
    expect(statuses, r.text.slice(0, 300)).toContain(r.status);
    if (e.reason !== undefined) expect(r.headers['x-llm-authz-reason']).toBe(e.reason);
    expect(forwardedCount(ps) - before.reduce((a, b) => a + b, 0)).toBe(e.forwarded);
    noClientKeyForwarded(ps, before);
  });

  it.each(SMUGGLING.map((e) => [e.name, e] as const))('%s', async (_name, e) => {
    const s = stack();
    const ps = providers();
    const before = ps.map((p) => p.requests.length);
    const x = await rawExchange(s.envoy.ports.listen, e.bytes(`127.0.0.1:${s.envoy.ports.listen}`));
    expect(x.statuses.length, x.text.slice(0, 300)).toBeGreaterThan(0);
    for (const st of x.statuses) expect(e.statuses, x.text.slice(0, 300)).toContain(st);
    expect(forwardedCount(ps) - before.reduce((a, b) => a + b, 0)).toBe(e.forwarded);
    noClientKeyForwarded(ps, before);
    // what reached a provider is the request llm-authz allowed, byte for byte
    for (const [i, p] of ps.entries()) for (const r of p.requests.slice(before[i])) expect(r.body).toBe(OK_BODY);
  });
});
