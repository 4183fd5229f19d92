/**
 * The Envoy boundary, for the cases a mutation run showed no other test deciding: every
 * missing part of a CheckRequest is malformed (fail closed), the fields policies read (host,
 * scheme, SNI, context extensions, destination) from wherever Envoy puts them, the headers an
 * allow removes when a non-`lla_` credential is echoed elsewhere, and what the responses carry.
 */
import { describe, expect, it } from 'vitest';
import { checkRequest } from '../../devstack/grpc-client.ts';
import { parseCheckRequest, type RequestContext } from '../../src/envoy/request-context.ts';
import { allowResponse } from '../../src/envoy/response.ts';
import { headersToStrip, stripRules } from '../../src/envoy/strip.ts';

type Raw = { attributes: Record<string, any> };
const raw = (o: Parameters<typeof checkRequest>[0] = {}): Raw => checkRequest(o) as Raw;
const http = (r: Raw): Record<string, any> => r.attributes['request'].http;
function ctx(r: unknown): RequestContext {
  const p = parseCheckRequest(r);
  if (!p.ok) throw new Error(`not parsed: ${p.reason}`);
  return p.value;
}

describe('CheckRequest parts', () => {
  it('is malformed without a method, or without a path, even when the other is there', () => {
    for (const drop of ['method', 'path'] as const) {
      const r = raw();
      delete http(r)[drop];
      delete http(r).headers[`:${drop}`];
      expect(parseCheckRequest(r), drop).toMatchObject({ ok: false, reason: 'malformed_check_request' });
    }
  });

  it('takes method and path from the pseudo-headers when the fields are empty', () => {
    const r = raw({ path: '/v1/models' });
    http(r).method = '';
    http(r).path = '';
    http(r).headers[':method'] = 'get';
    http(r).headers[':path'] = '/v1/models?x=1';
    expect(ctx(r)).toMatchObject({ method: 'GET', path: '/v1/models', query: 'x=1' });
  });

  it('reads host and scheme from the fields, else from :authority and :scheme', () => {
    const r = raw();
    http(r).host = 'api.example';
    http(r).scheme = 'https';
    http(r).protocol = 'HTTP/2';
    http(r).headers[':authority'] = 'other.example';
    http(r).headers[':scheme'] = 'http';
    expect(ctx(r)).toMatchObject({ host: 'api.example', scheme: 'https', protocol: 'HTTP/2' });
    http(r).host = '';
    http(r).scheme = '';
    expect(ctx(r)).toMatchObject({ host: 'other.example', scheme: 'http' });
    delete http(r).headers[':authority'];
    delete http(r).headers[':scheme'];
    expect(ctx(r)).toMatchObject({ host: '', scheme: '' });
  });

  it('reads SNI, the destination and the string context extensions (not other values)', () => {
    const r = raw();
    r.attributes['tls_session'] = { sni: 'llm.example' };
    r.attributes['destination'] = { address: { socket_address: { address: '10.0.0.2', port_value: 8443 } }, principal: 'spiffe://good.test/gw' };
    r.attributes['context_extensions'] = { route: 'chat', tier: 'gold', n: 7, o: { x: 'y' } };
    const c = ctx(r);
    expect(c.sni).toBe('llm.example');
    expect(c.destination).toMatchObject({ address: '10.0.0.2', port: 8443, principal: 'spiffe://good.test/gw' });
    expect([...c.contextExtensions]).toEqual([
      ['route', 'chat'],
      ['tier', 'gold'],
    ]);
  });

  it('keeps only string header values, and skips header_map entries without a key', () => {
    const r = raw({ headers: { 'x-a': 'ok' } });
    http(r).headers['x-n'] = 5;
    http(r).header_map = {
      headers: [
        { key: '', raw_value: Buffer.from('v') },
        { key: 'X-B', raw_value: Buffer.from('b') },
        { key: 'x-c', value: 'c' },
      ],
    };
    const h = ctx(r).headers;
    expect(h.get('x-a')).toBe('ok');
    expect(h.has('x-n')).toBe(false);
    expect(h.has('')).toBe(false);
    expect(h.get('x-b')).toBe('b');
    expect(h.get('x-c')).toBe('c');
  });

  it('reads the body field when raw_body is empty, and a Content-Length that is not all digits declares nothing', () => {
    const r = raw({ body: '' });
    http(r).raw_body = Buffer.alloc(0);
    http(r).body = '{"model":"m"}';
    expect(Buffer.from(ctx(r).body.bytes).toString()).toBe('{"model":"m"}');
    for (const cl of ['100x', 'x100', '-1', '1e3']) {
      const b = raw({ headers: { 'content-length': cl }, body: '{}' });
      expect(ctx(b).body, cl).toMatchObject({ declaredLength: undefined, truncated: false });
    }
  });
});

describe('headers an allow removes (strip.ts)', () => {
  const rules = stripRules({ removeHeaders: [], routingHeader: 'x-llm-authz-route', onBehalfOfHeaders: [] });
  const strip = (headers: Record<string, string>) => headersToStrip(ctx(raw({ headers })), rules);
  const JWT = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ3bCJ9.c2lnbmF0dXJl';

  it('removes a header that repeats the presented credential, also when it is not an llm-authz key', () => {
    expect(strip({ authorization: `Bearer ${JWT}`, 'x-forwarded-token': JWT })).toEqual(['x-forwarded-token']);
    expect(strip({ 'x-api-key': 'sk-client-0123456789abcdef', 'x-echo': 'key=sk-client-0123456789abcdef;' })).toEqual(['x-echo']);
    // The presented credential's own header is the allow's to swap, not strip's.
    expect(strip({ authorization: `Bearer ${JWT}` })).toEqual([]);
    // Every value of a repeated header (joined with ", "): the second one is searched for too.
    const second = 'sk-second-0123456789abcdef';
    expect(strip({ authorization: `Bearer ${JWT}, Bearer ${second}`, 'x-echo': second })).toEqual(['x-echo']);
  });

  it('searches other headers for credentials of 16 characters or more, not shorter ones', () => {
    expect(strip({ 'x-api-key': 'a'.repeat(16), 'x-echo': 'a'.repeat(16) })).toEqual(['x-echo']);
    expect(strip({ 'x-api-key': 'a'.repeat(15), 'x-echo': 'a'.repeat(15) })).toEqual([]);
  });

  it('never lists a pseudo-header or host, whatever they hold', () => {
    expect(strip({ 'x-api-key': 'sk-client-0123456789abcdef', ':path': '/v1?k=sk-client-0123456789abcdef', host: 'sk-client-0123456789abcdef.example' })).toEqual([]);
  });

  it('lists each configured header once and never the routing header', () => {
    const r = stripRules({
      removeHeaders: ['cookie', 'x-llm-authz-on-behalf-of'],
      routingHeader: 'x-llm-authz-route',
      onBehalfOfHeaders: ['x-llm-authz-on-behalf-of', 'x-llm-authz-route'],
    });
    expect(r.always).toEqual(['cookie', 'x-llm-authz-on-behalf-of']);
  });
});

describe('allow responses', () => {
  const allow = (traceId?: string) =>
    allowResponse({
      decisionId: 'd-1',
      routingHeader: 'x-llm-authz-route',
      obligations: { provider: { route: 'openai' }, headers: [['x-tenant', 't-1']] } as never,
      credential: { set: [['authorization', 'Bearer sk-provider']], remove: ['x-api-key', 'api-key'] },
      credentialHeaders: ['x-tenant', 'cookie'],
      metadata: {},
      traceId,
    });

  it('overwrites a header it sets instead of removing it, and removes the rest', () => {
    const ok = allow().ok_response;
    expect(ok?.headers.map((h) => h.header.key)).toEqual(['x-llm-authz-route', 'authorization', 'x-tenant']);
    expect(ok?.headers_to_remove).toEqual(['x-api-key', 'api-key', 'cookie']);
  });

  it('returns the trace id to the client only when it is 32 lowercase hex digits, not all zero', () => {
    const traceHeader = (id?: string) => allow(id).ok_response?.response_headers_to_add.find((h) => h.header.key === 'x-llm-authz-trace-id')?.header.value;
    expect(traceHeader('4bf92f3577b34da6a3ce929d0e0e4736')).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(traceHeader(`${'0'.repeat(31)}1`)).toBe(`${'0'.repeat(31)}1`);
    // Trailing zeros are not "all zero".
    expect(traceHeader('4bf92f3577b34da6a3ce929d0e0e4700')).toBe('4bf92f3577b34da6a3ce929d0e0e4700');
    for (const bad of [
      undefined,
      '0'.repeat(32),
      '4bf92f3577b34da6a3ce929d0e0e473',
      '4bf92f3577b34da6a3ce929d0e0e47360',
      'x4bf92f3577b34da6a3ce929d0e0e473',
      '4BF92F3577B34DA6A3CE929D0E0E4736',
    ]) {
      expect(traceHeader(bad), String(bad)).toBeUndefined();
    }
  });
});
