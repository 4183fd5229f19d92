/**
 * The CheckResponse encoder (protobufjs encode without proto-loader's fromObject pass) writes
 * exactly the bytes proto-loader's serializer writes, for allows and denies.
 */
import { profileOf } from '../../src/apis/index.ts';
import { describe, expect, it } from 'vitest';
import { Secret } from '../../src/core/secret.ts';
import { authorizationService, checkResponseEncoder } from '../../src/envoy/proto.ts';
import { allowResponse, denyResponse, type CheckResponse } from '../../src/envoy/response.ts';

const check = authorizationService()['Check']!;
const encode = checkResponseEncoder();
const reference = (r: CheckResponse): Buffer => check.responseSerialize(r) as Buffer;
const decode = (b: Buffer): Record<string, any> => check.responseDeserialize(b) as Record<string, any>;

const metadata = { decision_id: 'd-1', effect: 'allow', status: 200, none: null, flag: true, list: ['a', 'b'], nested: { k: 'v', n: 1.5 } };

describe('CheckResponse encoding', () => {
  it('an allow: the same bytes as proto-loader, decoding to the headers, removals and metadata', () => {
    const provider = { name: 'openai', api: 'openai' as const, profile: profileOf('openai'), route: 'openai', credential: new Secret('sk-test'), serves: () => true };
    const credential = { set: [['authorization', `Bearer ${provider.credential.reveal()}`]] as const, remove: ['x-api-key', 'api-key', 'x-goog-api-key'] };
    const res = allowResponse({
      decisionId: 'd-1',
      routingHeader: 'x-llm-authz-route',
      obligations: { provider, headers: [['x-team', 'a']] },
      credential,
      credentialHeaders: ['x-user-token'],
      metadata,
    });
    const bytes = encode(res);
    expect(Buffer.isBuffer(bytes)).toBe(true);
    expect(bytes.equals(reference(res))).toBe(true);
    const back = decode(bytes);
    expect(back['ok_response'].headers.map((h: any) => [h.header.key, h.header.value, h.append_action])).toEqual([
      ['x-llm-authz-route', 'openai', 'OVERWRITE_IF_EXISTS_OR_ADD'],
      ['authorization', 'Bearer sk-test', 'OVERWRITE_IF_EXISTS_OR_ADD'],
      ['x-team', 'a', 'OVERWRITE_IF_EXISTS_OR_ADD'],
    ]);
    expect(back['ok_response'].headers_to_remove).toEqual(['x-api-key', 'api-key', 'x-goog-api-key', 'x-user-token']);
    expect(back['ok_response'].query_parameters_to_remove).toEqual(['key', 'access_token']);
    const fields = back['dynamic_metadata'].fields;
    expect(fields.decision_id.stringValue).toBe('d-1');
    expect(fields.status.numberValue).toBe(200);
    expect(fields.none.kind).toBe('nullValue');
    expect(fields.flag.boolValue).toBe(true);
    expect(fields.list.listValue.values.map((v: any) => v.stringValue)).toEqual(['a', 'b']);
    expect(fields.nested.structValue.fields.n.numberValue).toBe(1.5);
  });

  it('a deny: the same bytes as proto-loader, with the HTTP status, headers and body', () => {
    const res = denyResponse({ decisionId: 'd-2', reason: 'no_credentials', detail: undefined, api: 'openai', metadata: { decision_id: 'd-2', status: 401 } });
    const bytes = encode(res);
    expect(bytes.equals(reference(res))).toBe(true);
    const back = decode(bytes);
    expect(back['status'].code).toBe(16);
    expect(back['denied_response'].status.code).toBe('Unauthorized');
    expect(back['denied_response'].headers.map((h: any) => h.header.key)).toContain('www-authenticate');
    expect(JSON.parse(back['denied_response'].body).error.code).toBe('no_credentials');
  });
});

describe('the trace id returned to the client', () => {
  it('allow and deny carry x-llm-authz-trace-id next to the decision id when there is a trace', async () => {
    const { allowResponse, denyResponse } = await import('../../src/envoy/response.ts');
    const { Secret } = await import('../../src/core/secret.ts');
    const trace = '4bf92f3577b34da6a3ce929d0e0e4736';
    const provider = { name: 'openai', api: 'openai' as const, profile: profileOf('openai'), route: 'openai', credential: new Secret('sk-test'), serves: () => true };
    const credential = { set: [['authorization', 'Bearer sk-test']] as const, remove: [] };
    const allow = allowResponse({
      decisionId: 'd-1',
      routingHeader: 'x-llm-authz-route',
      obligations: { provider },
      credential,
      credentialHeaders: [],
      metadata: {},
      traceId: trace,
    });
    expect(allow.ok_response?.response_headers_to_add.map((h) => [h.header.key, h.header.value])).toEqual([
      ['x-llm-authz-decision-id', 'd-1'],
      ['x-llm-authz-trace-id', trace],
    ]);
    const deny = denyResponse({ decisionId: 'd-2', reason: 'no_credentials', detail: undefined, api: 'openai', metadata: {}, traceId: trace });
    expect(deny.denied_response?.headers.find((h) => h.header.key === 'x-llm-authz-trace-id')?.header.value).toBe(trace);
    // No trace (tracing off, or an all-zero id): no header.
    for (const traceId of [undefined, '', '0'.repeat(32)]) {
      const d = denyResponse({ decisionId: 'd-3', reason: 'no_credentials', detail: undefined, api: 'openai', metadata: {}, traceId });
      expect(d.denied_response?.headers.map((h) => h.header.key)).not.toContain('x-llm-authz-trace-id');
    }
  });
});
