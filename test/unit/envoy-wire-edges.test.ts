/**
 * The Envoy wire at its edges, for the cases a mutation run of `npm run mutate` showed no unit
 * test deciding: the CheckResponse encoder at every varint length boundary and with its optional
 * parts absent (compared byte for byte with proto-loader's serializer), and CheckRequest parts of
 * the wrong type (read as absent, never a crash) with the detail each refusal gives.
 */
import { describe, expect, it } from 'vitest';
import { checkRequest } from '../../devstack/grpc-client.ts';
import { authorizationService, checkResponseEncoder } from '../../src/envoy/proto.ts';
import { parseCheckRequest } from '../../src/envoy/request-context.ts';
import type { CheckResponse } from '../../src/envoy/response.ts';

const check = authorizationService()['Check']!;
const encode = checkResponseEncoder();
const reference = (r: CheckResponse): string => (check.responseSerialize(r) as Buffer).toString('hex');
/** A response with parts the type requires left out, as the wire allows. */
const partial = (r: object): CheckResponse => r as CheckResponse;

describe('CheckResponse encoder: the bytes proto-loader writes', () => {
  // One and two bytes either side of each varint length boundary (2^7, 2^14, 2^21).
  const lengths = [126, 127, 128, 129, 16382, 16383, 16384, 16385, 2097150, 2097151, 2097152];

  it.each(lengths)('a string of %i bytes in every string field, and nested messages around it', (n) => {
    const s = 'a'.repeat(n);
    const res: CheckResponse = {
      status: { code: 0, message: s },
      ok_response: {
        headers: [{ header: { key: 'k', value: s }, append_action: 2 }],
        headers_to_remove: [s],
        response_headers_to_add: [{ header: { key: s, value: 'v' }, append_action: 2 }],
        query_parameters_to_remove: [s],
      },
      dynamic_metadata: { fields: { [s]: { stringValue: s } } },
    };
    expect(encode(res).toString('hex')).toBe(reference(res));
  });

  it('a nested message whose own length sits on a boundary (a header of exactly 128 bytes)', () => {
    // HeaderValue = 3 (key field "k") + 1 + 1 + n (value field): 127, 128 and 129 bytes.
    for (const n of [122, 123, 124]) {
      const res = partial({
        status: { code: 0 },
        ok_response: { headers: [{ header: { key: 'k', value: 'v'.repeat(n) }, append_action: 2 }], headers_to_remove: [], response_headers_to_add: [] },
      });
      expect([n, encode(res).toString('hex')]).toEqual([n, reference(res)]);
    }
  });

  it('optional parts absent: a status without code or message, a deny without body, no metadata', () => {
    const shapes = [
      { status: { message: 'm' } },
      { status: {} },
      { status: { code: 7 }, denied_response: { status: { code: 403 }, headers: [] } },
      { status: { code: 0 }, ok_response: { headers: [], headers_to_remove: ['x'], response_headers_to_add: [] } },
    ].map(partial);
    for (const res of shapes) expect(encode(res).toString('hex')).toBe(reference(res));
  });

  it('a null Value given as the enum number, and a Struct without fields', () => {
    const res = partial({ status: { code: 0 }, dynamic_metadata: { fields: { a: { nullValue: 0 }, b: { structValue: {} }, c: { listValue: {} } } } });
    expect(encode(res).toString('hex')).toBe(reference(res));
  });
});

describe('CheckRequest parts of the wrong type', () => {
  type Raw = { attributes: Record<string, any> };
  const raw = (): Raw => checkRequest({}) as Raw;

  it('an attributes list, a request or http that is not an object: malformed, saying what is missing', () => {
    const a = raw();
    (a as { attributes: unknown }).attributes = [a.attributes];
    const b = raw();
    b.attributes['request'] = 'http';
    const c = raw();
    c.attributes['request'].http = null;
    for (const r of [a, b, c, {}, null, 'x']) {
      expect(parseCheckRequest(r)).toEqual({ ok: false, reason: 'malformed_check_request', detail: 'the CheckRequest has no HTTP request attributes' });
    }
  });

  it('no headers of either kind, or headers that are a list: malformed', () => {
    const a = raw();
    delete a.attributes['request'].http.headers;
    const b = raw();
    b.attributes['request'].http.headers = [['x-a', 'b']];
    for (const r of [a, b]) expect(parseCheckRequest(r)).toEqual({ ok: false, reason: 'malformed_check_request', detail: 'the CheckRequest has no headers' });
  });

  it('no method or path anywhere: malformed', () => {
    const a = raw();
    const h = a.attributes['request'].http;
    h.method = '';
    delete h.headers[':method'];
    expect(parseCheckRequest(a)).toEqual({ ok: false, reason: 'malformed_check_request', detail: 'the CheckRequest has no method or path' });
  });

  it('header_map entries that are not objects are skipped; a port that is not a number is 0', () => {
    const a = raw();
    const h = a.attributes['request'].http;
    h.header_map = { headers: [null, 'x', 7, { key: 'x-ok', raw_value: Buffer.from('1') }] };
    a.attributes['source'].address.socket_address.port_value = '40000';
    const r = parseCheckRequest(a);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.headers.get('x-ok')).toBe('1');
    expect(r.value.source.port).toBe(0);
    expect(r.value.source.address).toBe('127.0.0.1');
  });
});
