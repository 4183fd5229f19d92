/**
 * The server's CheckRequest decoder (src/envoy/check-request-decoder.ts) against proto-loader's
 * decoding through the Envoy protos: on generated requests that set every field request-context.ts
 * reads (and fields it does not), and on mutations of their bytes (a byte changed, inserted, or the
 * message cut), parseCheckRequest must give the same RequestContext from either decoding whenever
 * both decode.
 */
import { describe, expect, it } from 'vitest';
import { caseRng } from '../../fuzz/rng.ts';
import protobuf from 'protobufjs';
import { decodeCheckRequest, DECLARED_FIELDS } from '../../src/envoy/check-request-decoder.ts';
import { authorizationService, envoyProtos } from '../../src/envoy/proto.ts';
import { parseCheckRequest } from '../../src/envoy/request-context.ts';

const method = authorizationService().Check;

/** A deterministic PRNG (fuzz/rng.ts's), so a failure names a seed that reproduces it. */
const rng = (seed: number): (() => number) => caseRng(seed, 0).next;

type Obj = Record<string, unknown>;

function generator(seed: number) {
  const r = rng(seed);
  const int = (n: number): number => Math.floor(r() * n);
  const maybe = (p = 0.5): boolean => r() < p;
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T;
  const ALPHABET = ['a', 'B', '0', '-', '_', '.', ':', '/', ' ', 'é', '€', '𝄞', '\u0000', '"', '%'];
  const text = (max = 12): string => Array.from({ length: int(max + 1) }, () => pick(ALPHABET)).join('');
  const bytes = (max = 40): Buffer => Buffer.from(Array.from({ length: int(max + 1) }, () => int(256)));
  const strMap = (n = 4): Obj => Object.fromEntries(Array.from({ length: int(n + 1) }, () => [text(6), text(10)]));
  const value = (depth: number): Obj => {
    switch (int(depth > 2 ? 4 : 6)) {
      case 0:
        return { nullValue: 'NULL_VALUE' };
      case 1:
        return { numberValue: pick([0, -1.5, 2 ** 53, 1e-300, Number.POSITIVE_INFINITY, Number.NaN, int(1000)]) };
      case 2:
        return { stringValue: text() };
      case 3:
        return { boolValue: maybe() };
      case 4:
        return { structValue: struct(depth + 1) };
      default:
        return { listValue: { values: Array.from({ length: int(4) }, () => value(depth + 1)) } };
    }
  };
  const struct = (depth: number): Obj => ({ fields: Object.fromEntries(Array.from({ length: int(4) }, () => [text(6), value(depth)])) });
  const peer = (): Obj => ({
    ...(maybe(0.8) ? { address: { socket_address: { address: pick(['127.0.0.1', '::1', '10.0.0.7', '']), ...(maybe(0.8) ? { port_value: int(65536) } : {}) } } } : {}),
    ...(maybe() ? { service: text() } : {}),
    ...(maybe() ? { labels: strMap() } : {}),
    ...(maybe(0.6) ? { principal: pick(['spiffe://example.org/ns/a/sa/b', '', text()]) } : {}),
    ...(maybe(0.3) ? { certificate: text(30) } : {}),
  });
  const http = (): Obj => ({
    ...(maybe() ? { id: String(int(1e9)) } : {}),
    ...(maybe(0.9) ? { method: pick(['POST', 'GET', 'put', '']) } : {}),
    ...(maybe(0.9)
      ? {
          headers: {
            ...(maybe() ? { ':method': 'POST', ':path': '/v1/chat/completions', ':authority': 'llm.local' } : {}),
            ...(maybe() ? { authorization: `Bearer ${text(20)}` } : {}),
            ...(maybe() ? { 'content-length': String(int(5000)) } : {}),
            ...(maybe() ? { 'x-request-id': text(8) } : {}),
            ...(maybe() ? { 'x-envoy-auth-partial-body': pick(['true', 'false']) } : {}),
            ...strMap(3),
          },
        }
      : {}),
    ...(maybe(0.9) ? { path: pick(['/v1/chat/completions?x=1', '/v1/messages', `/${text()}`, '']) } : {}),
    ...(maybe(0.7) ? { host: pick(['llm.local', 'api.openai.com:443', text()]) } : {}),
    ...(maybe(0.6) ? { scheme: pick(['http', 'https']) } : {}),
    ...(maybe(0.4) ? { query: text() } : {}),
    ...(maybe(0.3) ? { fragment: text() } : {}),
    ...(maybe(0.5) ? { size: String(pick([-1, 0, int(1e6), 2 ** 40])) } : {}),
    ...(maybe(0.7) ? { protocol: pick(['HTTP/1.1', 'HTTP/2', '']) } : {}),
    ...(maybe(0.3) ? { body: text(40) } : {}),
    ...(maybe(0.6) ? { raw_body: maybe(0.7) ? Buffer.from(JSON.stringify({ model: text(8), messages: [{ role: 'user', content: text() }], stream: maybe() })) : bytes() } : {}),
    ...(maybe(0.4)
      ? {
          header_map: {
            headers: Array.from({ length: int(5) }, () => ({
              key: pick(['authorization', 'x-api-key', 'X-Mixed', text(6)]),
              ...(maybe() ? { value: text(10) } : { raw_value: bytes(12) }),
            })),
          },
        }
      : {}),
  });
  return (): Obj => ({
    ...(maybe(0.97)
      ? {
          attributes: {
            ...(maybe(0.9) ? { source: peer() } : {}),
            ...(maybe(0.8) ? { destination: peer() } : {}),
            ...(maybe(0.95) ? { request: { ...(maybe(0.3) ? { time: { seconds: String(int(1e9)), nanos: int(1e9) } } : {}), ...(maybe(0.95) ? { http: http() } : {}) } } : {}),
            ...(maybe(0.5) ? { context_extensions: strMap() } : {}),
            ...(maybe(0.6)
              ? {
                  metadata_context: {
                    filter_metadata: Object.fromEntries(Array.from({ length: int(3) }, () => [pick(['envoy.filters.http.jwt_authn', 'llm-authz', text(6)]), struct(0)])),
                  },
                }
              : {}),
            ...(maybe(0.3) ? { route_metadata_context: { filter_metadata: { r: struct(1) } } } : {}),
            ...(maybe(0.4) ? { tls_session: { sni: text() } } : {}),
          },
        }
      : {}),
  });
}

/** Asserts both decodings give the same outcome; whether it is a RequestContext (not a refusal both agree on). */
function same(bytes: Buffer, label: string): boolean {
  const expected = parseCheckRequest(method.requestDeserialize(bytes));
  expect(parseCheckRequest(decodeCheckRequest(bytes)), label).toEqual(expected);
  return expected.ok;
}

describe('the CheckRequest decoder', () => {
  it('gives the RequestContext proto-loader gives, on 3,000 generated requests', () => {
    let contexts = 0;
    for (let seed = 1; seed <= 30; seed++) {
      const next = generator(seed);
      for (let i = 0; i < 100; i++) {
        const bytes = method.requestSerialize(next());
        if (same(bytes, `seed ${seed}, request ${i}`)) contexts++;
      }
    }
    // most are requests the pipeline reads (not only agreeing refusals of a request without method, path or headers)
    expect(contexts).toBeGreaterThan(1500);
  });

  it('reads a request proto-loader gives the benchmark and the tests (the request shape Envoy sends)', () => {
    const full = {
      attributes: {
        source: { address: { socket_address: { address: '10.0.0.1', port_value: 4242 } }, principal: 'spiffe://x/y', certificate: 'PEM%20' },
        destination: { address: { socket_address: { address: '127.0.0.1', port_value: 10000 } } },
        request: {
          http: {
            method: 'POST',
            path: '/v1/chat/completions',
            host: 'llm.local',
            headers: { authorization: 'Bearer t', 'x-request-id': 'r1', 'content-length': '23' },
            raw_body: Buffer.from('{"model":"gpt-4o-mini"}'),
            header_map: { headers: [{ key: 'x-raw', raw_value: Buffer.from('v\xe9', 'latin1') }] },
          },
        },
        context_extensions: { tenant: 'a' },
        metadata_context: { filter_metadata: { 'envoy.filters.http.jwt_authn': { fields: { jwt_payload: { structValue: { fields: { sub: { stringValue: 's' } } } } } } } },
        tls_session: { sni: 'llm.example' },
      },
    };
    const bytes = method.requestSerialize(full);
    const ctx = parseCheckRequest(decodeCheckRequest(bytes));
    // not two empty results agreeing: the fields are there
    expect(ctx.ok && ctx.value.source.principal).toBe('spiffe://x/y');
    expect(ctx.ok && ctx.value.headers.get('x-raw')).toBe('v\xe9');
    expect(ctx.ok && ctx.value.filterMetadata['envoy.filters.http.jwt_authn']).toEqual({ jwt_payload: { sub: 's' } });
    same(bytes, 'full');
  });

  it('on 5,000 mutated requests: the same RequestContext whenever both decode', () => {
    let both = 0;
    let contextsBoth = 0;
    let refused = 0;
    const r = rng(7);
    for (let seed = 100; seed < 150; seed++) {
      const next = generator(seed);
      for (let i = 0; i < 100; i++) {
        const bytes = Buffer.from(method.requestSerialize(next()));
        if (bytes.length === 0) continue;
        const m = Buffer.from(bytes);
        const at = Math.floor(r() * m.length);
        const kind = Math.floor(r() * 3);
        if (kind === 0) m[at] = Math.floor(r() * 256);
        const mutated = kind === 0 ? m : kind === 1 ? m.subarray(0, at) : Buffer.concat([m.subarray(0, at), Buffer.from([Math.floor(r() * 256)]), m.subarray(at)]);
        let expected: unknown;
        try {
          expected = parseCheckRequest(method.requestDeserialize(mutated));
        } catch {
          expected = undefined;
        }
        let actual: unknown;
        try {
          actual = parseCheckRequest(decodeCheckRequest(mutated));
        } catch {
          actual = undefined;
        }
        if (actual === undefined) {
          refused++;
          continue;
        }
        if (expected === undefined) {
          // proto-loader refused it; this decoder read past a field it skips unread (it never
          // looks inside them), which is the only way to accept more: the fields it reads agree
          // with the unmutated message's, or the mutation hit a skipped field.
          continue;
        }
        both++;
        if ((expected as { ok: boolean }).ok) contextsBoth++;
        expect(actual, `seed ${seed}, request ${i}, mutation ${kind} at ${at}`).toEqual(expected);
      }
    }
    // both paths were exercised
    expect(both).toBeGreaterThan(100);
    expect(contextsBoth).toBeGreaterThan(100);
    expect(refused).toBeGreaterThan(10);
  });

  it("declares each message's fields with the wire types of the loaded Envoy protos", () => {
    const root = envoyProtos();
    const wire = (f: protobuf.Field): number => {
      f.resolve();
      if (f.map || f.resolvedType instanceof protobuf.Type) return 2;
      if (f.resolvedType instanceof protobuf.Enum) return 0;
      return ({ string: 2, bytes: 2, double: 1, fixed64: 1, sfixed64: 1, float: 5, fixed32: 5, sfixed32: 5 } as Record<string, number>)[f.type] ?? 0;
    };
    for (const [name, declared] of Object.entries(DECLARED_FIELDS)) {
      if (name === 'map entry') continue;
      const type = root.lookupType(name);
      expect(declared, name).toEqual(Object.fromEntries(type.fieldsArray.map((f) => [f.id, wire(f)])));
    }
    // every map read is string to string or string to a message: entries are two length-delimited fields
    expect(DECLARED_FIELDS['map entry']).toEqual({ 1: 2, 2: 2 });
  });

  it('refuses malformed messages', () => {
    for (const bad of [
      [0x0a, 0x05, 0x01], // a field running past the end
      [0x0a], // a length missing
      [0x00, 0x01], // field number 0
      [0x0b], // a group (wire type 3)
      [0x08, 0x01], // attributes (a message) as a varint
      [0x0a, 0x04, 0x22, 0x02, 0x12, 0x05], // request.http whose field runs past it
      [0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], // a varint over 10 bytes
    ]) {
      expect(() => decodeCheckRequest(Buffer.from(bad)), JSON.stringify(bad)).toThrow();
    }
    expect(decodeCheckRequest(Buffer.alloc(0))).toEqual({});
  });

  it('the comparison can fail: a decoder that drops a field it should read is caught', () => {
    const bytes = method.requestSerialize({
      attributes: { source: { principal: 'spiffe://x/y' }, request: { http: { method: 'POST', path: '/v1/chat/completions', headers: { a: 'b' } } } },
    });
    const dropped = decodeCheckRequest(bytes);
    delete ((dropped['attributes'] as Obj)['source'] as Obj)['principal'];
    expect(parseCheckRequest(dropped)).not.toEqual(parseCheckRequest(method.requestDeserialize(bytes)));
  });
});
