import { describe, expect, it } from 'vitest';
import { parseCheckRequest } from '../../src/envoy/request-context.ts';
import { fromProtoStruct, toProtoStruct } from '../../src/core/struct.ts';
import { checkRequest } from '../../devstack/grpc-client.ts';

describe('CheckRequest -> RequestContext', () => {
  it('reads method, path, query, headers, peer, request id and body', () => {
    const raw = checkRequest({
      path: '/v1/chat/completions?api-version=1&x=2',
      headers: { 'x-request-id': 'r-1', 'content-type': 'application/json' },
      body: '{"a":1}',
      principal: 'spiffe://td/ns/a',
    });
    const r = parseCheckRequest(raw);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.method).toBe('POST');
    expect(r.value.path).toBe('/v1/chat/completions');
    expect(r.value.query).toBe('api-version=1&x=2');
    expect(r.value.requestId).toBe('r-1');
    expect(r.value.source).toMatchObject({ address: '127.0.0.1', port: 40000, principal: 'spiffe://td/ns/a' });
    expect(Buffer.from(r.value.body.bytes).toString()).toBe('{"a":1}');
    expect(r.value.body.truncated).toBe(false);
  });

  it('marks a body as truncated by the partial-body header or a larger Content-Length', () => {
    const a = parseCheckRequest(checkRequest({ headers: { 'x-envoy-auth-partial-body': 'true' }, body: '{"a":' }));
    expect(a.ok && a.value.body.truncated).toBe(true);
    const b = parseCheckRequest(checkRequest({ headers: { 'content-length': '100' }, body: '{"a":1}' }));
    expect(b.ok && b.value.body.truncated).toBe(true);
    expect(b.ok && b.value.body.declaredLength).toBe(100);
  });

  it('reads the UTF-8 body field when raw_body is absent', () => {
    const raw = checkRequest({});
    const http = (raw as any).attributes.request.http;
    http.body = '{"model":"m"}';
    const r = parseCheckRequest(raw);
    expect(r.ok && Buffer.from(r.value.body.bytes).toString()).toBe('{"model":"m"}');
  });

  it('reads header_map (encode_raw_headers) as well as headers', () => {
    const raw = checkRequest({});
    const http = (raw as any).attributes.request.http;
    delete http.headers;
    http.header_map = {
      headers: [
        { key: 'X-A', raw_value: Buffer.from('1') },
        { key: 'x-a', raw_value: Buffer.from('2') },
      ],
    };
    const r = parseCheckRequest(raw);
    expect(r.ok && r.value.headers.get('x-a')).toBe('1,2');
  });

  it.each([
    [null],
    ['a string'],
    [{}],
    [{ attributes: { request: {} } }],
    [{ attributes: { request: { http: { method: 'GET', path: '/' } } } }],
    [{ attributes: { request: { http: { headers: {} } } } }],
  ])('rejects an incomplete CheckRequest %j as malformed_check_request', (raw) => {
    const r = parseCheckRequest(raw);
    expect(r).toMatchObject({ ok: false, reason: 'malformed_check_request' });
  });

  it('converts protobuf Structs both ways', () => {
    const v = { a: 'x', b: 2, c: true, d: null, e: [1, 'y'], f: { g: 'h' } };
    expect(fromProtoStruct(toProtoStruct(v))).toEqual(v);
  });
});
