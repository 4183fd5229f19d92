/**
 * llm-authz over gRPC without Envoy in between: CheckRequests Envoy would never send
 * (incomplete, garbage) must still be answered with a deny, and never crash the process.
 */
import * as grpc from '@grpc/grpc-js';
import http2 from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthz, type AuthzProcess } from '../../devstack/authz.ts';
import { checkRequest, checkRequestFrame, createAuthzClient, type AuthzClient } from '../../devstack/grpc-client.ts';
import { newWorkDir } from '../helpers/stack.ts';
import { CHAT_KEY, QUICKSTART_CONFIG } from '../helpers/demo-keys.ts';
import { CONNECTION_WINDOW_BYTES, STREAM_WINDOW_BYTES } from '../../src/server/grpc-h2.ts';

let authz: AuthzProcess;
let client: AuthzClient;

beforeAll(async () => {
  authz = await startAuthz({ config: QUICKSTART_CONFIG, workDir: newWorkDir('grpc') });
  client = createAuthzClient(`127.0.0.1:${authz.port}`);
});
afterAll(async () => {
  client.close();
  await authz.stop();
});

interface Denied {
  status: { code: number };
  denied_response?: { status: { code: string }; body: string; headers: { header: { key: string; value: string } }[] };
  ok_response?: unknown;
}

function deniedWith(res: Record<string, unknown>, httpStatus: string, reason: string): void {
  const r = res as unknown as Denied;
  expect(r.status.code).not.toBe(0);
  expect(r.ok_response).toBeUndefined();
  expect(r.denied_response?.status.code).toBe(httpStatus);
  const headers = Object.fromEntries((r.denied_response?.headers ?? []).map((h) => [h.header.key, h.header.value]));
  expect(headers['content-type']).toBe('application/json');
  expect(headers['x-llm-authz-reason']).toBe(reason);
  expect(JSON.parse(r.denied_response?.body ?? '{}')).toMatchObject({ error: { code: reason } });
}

describe('Check over gRPC', () => {
  it('answers health SERVING for the server and for the Authorization service', async () => {
    expect(await client.health('')).toBe('SERVING');
    expect(await client.health('envoy.service.auth.v3.Authorization')).toBe('SERVING');
  });

  it('allows a well-formed request and sets headers with the overwrite action', async () => {
    const res = await client.check(
      checkRequest({ headers: { authorization: `Bearer ${CHAT_KEY}`, 'content-type': 'application/json' }, body: '{"model":"gpt-4o-mini","messages":[]}' }),
    );
    expect((res['status'] as { code?: number }).code ?? 0).toBe(0);
    const ok = res['ok_response'] as { headers: { header: { key: string }; append_action: string }[]; headers_to_remove: string[] };
    expect(ok.headers.map((h) => h.header.key)).toEqual(['x-llm-authz-route', 'authorization']);
    for (const h of ok.headers) expect(h.append_action).toBe('OVERWRITE_IF_EXISTS_OR_ADD');
    expect(ok.headers_to_remove).toEqual(expect.arrayContaining(['x-api-key', 'api-key', 'x-goog-api-key']));
  });

  it.each([
    ['an empty CheckRequest', {}],
    ['no request attributes', { attributes: {} }],
    ['no http attributes', { attributes: { request: {} } }],
    ['no headers', { attributes: { request: { http: { method: 'POST', path: '/v1/chat/completions' } } } }],
    ['no method or path', { attributes: { request: { http: { headers: { 'x-a': 'b' } } } } }],
  ])('denies %s with 400 malformed_check_request', async (_what, req) => {
    deniedWith(await client.check(req), 'BadRequest', 'malformed_check_request');
  });

  it('denies a request without credentials with 401 and www-authenticate', async () => {
    const res = await client.check(checkRequest({ headers: { 'content-type': 'application/json' }, body: '{"model":"gpt-4o-mini","messages":[]}' }));
    deniedWith(res, 'Unauthorized', 'no_credentials');
    const headers = (res as unknown as Denied).denied_response?.headers.map((h) => h.header.key);
    expect(headers).toContain('www-authenticate');
  });

  it('denies a body that is not UTF-8 JSON with 400', async () => {
    const res = await client.check(
      checkRequest({ headers: { authorization: `Bearer ${CHAT_KEY}`, 'content-type': 'application/json' }, body: Buffer.from([0xff, 0xfe, 0x7b, 0x00]) }),
    );
    deniedWith(res, 'BadRequest', 'malformed_body');
  });

  it('survives bytes that are not a CheckRequest, then keeps answering', async () => {
    const err = await client.checkRaw(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01])).then(
      () => undefined,
      (e: grpc.ServiceError) => e,
    );
    // A failed RPC, which Envoy treats as an error: status_on_error (503), never an allow.
    expect(err?.code).toBeDefined();
    expect(err?.code).not.toBe(grpc.status.OK);
    const res = await client.check(checkRequest({ headers: { 'content-type': 'application/json' }, body: '{}' }));
    deniedWith(res, 'Unauthorized', 'no_credentials');
    expect(await client.health('')).toBe('SERVING');
  });

  it('records one decision per Check, denies included', async () => {
    const before = (await authz.settledDecisions()).length;
    await client.check({});
    await client.check(checkRequest({ headers: { 'content-type': 'application/json' }, body: '{}' }));
    const after = (await authz.settledDecisions()).slice(before);
    expect(after.map((d) => d['decision.reason'])).toEqual(['malformed_check_request', 'no_credentials']);
  });

  it('raises its HTTP/2 receive windows, so a 1 MiB body is not sent 64 KiB at a time', async () => {
    const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'lorem ipsum '.repeat(90_000) }] });
    const frame = checkRequestFrame(checkRequest({ headers: { authorization: `Bearer ${CHAT_KEY}`, 'content-type': 'application/json' }, body }));
    const before = (await authz.settledDecisions()).length;
    const session = http2.connect(`http://127.0.0.1:${authz.port}`);
    try {
      const status = await new Promise<string | undefined>((resolve, reject) => {
        const req = session.request({ ':method': 'POST', ':path': '/envoy.service.auth.v3.Authorization/Check', 'content-type': 'application/grpc', te: 'trailers' });
        req.on('trailers', (t) => resolve(t['grpc-status'] as string | undefined));
        req.on('error', reject);
        req.resume();
        req.end(frame);
      });
      expect(status).toBe('0');
      // The server's SETTINGS and WINDOW_UPDATE went out when the stream arrived, before the answer.
      expect(session.remoteSettings.initialWindowSize).toBe(STREAM_WINDOW_BYTES);
      expect(session.state.remoteWindowSize).toBeGreaterThan(CONNECTION_WINDOW_BYTES - 2 * (frame.length - 5));
    } finally {
      session.close();
    }
    const after = (await authz.settledDecisions()).slice(before);
    expect(after.map((d) => [d['decision.reason'], d['llm.input_bytes']])).toEqual([['allowed', Buffer.byteLength(body)]]);
  });
});
