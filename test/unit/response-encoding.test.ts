/**
 * The CheckResponse encoder (protobufjs encode without proto-loader's fromObject pass) writes
 * exactly the bytes proto-loader's serializer writes, for allows and denies.
 */
import { profileOf } from '../../src/apis/index.ts';
import { describe, expect, it } from 'vitest';
import { Secret } from '../../src/core/secret.ts';
import { authorizationService, checkResponseEncoder, encoderMismatches, envoyProtos, readEnvoyProtos } from '../../src/envoy/proto.ts';
import { JsonStruct, toProtoStruct, type JsonValue } from '../../src/core/struct.ts';
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

  it('metadata: an undefined value is no field, and the others keep their order and values', () => {
    const s = toProtoStruct({ a: 'x', gone: undefined, n: 2, nested: { k: null } });
    expect(Object.keys(s.fields ?? {})).toEqual(['a', 'n', 'nested']);
    expect(s.fields).toEqual({ a: { stringValue: 'x' }, n: { numberValue: 2 }, nested: { structValue: { fields: { k: { nullValue: 0 } } } } });
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

describe('CheckResponse encoding: the same bytes as proto-loader for any shape', () => {
  // Strings long enough for two- and three-byte length varints, non-ASCII text, every Value kind.
  const long = 'x'.repeat(300);
  const wide = 'é€😀'.repeat(3000);
  const values: JsonValue[] = ['', 'a', long, wide, 0, -1, 1.5, -2.25e300, 2 ** 40, true, false, null, [], ['a', 1, null, [true]], {}, { k: { n: [1, { deep: 'v' }] } }];
  const shapes: CheckResponse[] = [
    { status: { code: 0 }, dynamic_metadata: {} },
    { status: { code: 0 }, dynamic_metadata: toProtoStruct({}) },
    { status: { code: 7, message: wide }, dynamic_metadata: toProtoStruct({ v: long }) },
    { status: { code: -3 }, dynamic_metadata: toProtoStruct({ n: -1 }) },
    ...values.map((v, i) => ({ status: { code: 0 }, dynamic_metadata: toProtoStruct({ [`k${i}`]: v, '7': v, [wide]: v }) })),
    {
      status: { code: 16, message: 'no_credentials' },
      denied_response: { status: { code: 401 }, headers: [{ header: { key: 'k', value: long }, append_action: 2 }], body: wide },
      dynamic_metadata: toProtoStruct({ all: values }),
    },
    {
      status: { code: 0 },
      ok_response: {
        headers: [{ header: { key: wide, value: '' }, append_action: 2 }],
        headers_to_remove: ['', long, wide],
        response_headers_to_add: [],
        query_parameters_to_remove: [long],
      },
      dynamic_metadata: toProtoStruct({ nested: { all: values } }),
    },
    { status: { code: 0 }, ok_response: { headers: [], headers_to_remove: [], response_headers_to_add: [] }, dynamic_metadata: toProtoStruct({ a: 1 }) },
  ];
  it.each(shapes.map((s, i) => [i, s] as const))('shape %i', (_i, res) => {
    const bytes = encode(res);
    expect(bytes.toString('hex')).toBe(reference(res).toString('hex'));
  });

  // The metadata kept as JSON (what allow and deny responses carry): the same bytes as its
  // proto-loader shape, an undefined value left out at any depth.
  const jsons: Record<string, JsonValue | undefined>[] = [
    {},
    { v: long, gone: undefined },
    { n: -1 },
    ...values.map((v, i) => ({ [`k${i}`]: v, '7': v, [wide]: v })),
    { all: values },
    { nested: { all: values, gone: undefined } as unknown as JsonValue },
  ];
  it.each(jsons.map((j, i) => [i, j] as const))('metadata kept as JSON %i', (_i, json) => {
    const res: CheckResponse = { status: { code: 0 }, dynamic_metadata: new JsonStruct(json) };
    const bytes = encode(res);
    expect(bytes.toString('hex')).toBe(encode({ status: { code: 0 }, dynamic_metadata: toProtoStruct(json) }).toString('hex'));
    expect(bytes.toString('hex')).toBe(reference(res).toString('hex'));
  });

  it('metadata kept as JSON, encoded again and again: the same bytes once its entries are kept, and past what it keeps', () => {
    for (let i = 0; i < 700; i++) {
      const json: Record<string, JsonValue> = {
        effect: i % 2 ? 'allow' : 'deny',
        [`key-${i % 90}`]: `value-${i % 300}`,
        'é"': 'ü"\\\n模型',
        at: 'x'.repeat(127 + (i % 3)),
        decision_id: `d-${i}`,
        nested: { effect: i % 3 ? 'allow' : 'deny', n: i },
      };
      const res: CheckResponse = { status: { code: 0 }, dynamic_metadata: new JsonStruct(json) };
      const expected = reference(res).toString('hex');
      expect(encode(res).toString('hex'), `response ${i}`).toBe(expected);
      expect(encode(res).toString('hex'), `response ${i}, again`).toBe(expected);
    }
  });

  it('refuses to start when the protos number a field differently (the check can fail)', () => {
    expect(encoderMismatches(envoyProtos())).toEqual([]);
    const changed = readEnvoyProtos();
    changed.lookupType('envoy.service.auth.v3.OkHttpResponse').fields['headers_to_remove']!.id = 9;
    expect(encoderMismatches(changed)).toEqual(['envoy.service.auth.v3.OkHttpResponse.headers_to_remove is 9 in the protos, not 5']);
    const noMap = readEnvoyProtos();
    noMap.lookupType('google.protobuf.Struct').remove(noMap.lookupType('google.protobuf.Struct').fields['fields']!);
    expect(encoderMismatches(noMap)).toEqual([
      'google.protobuf.Struct.fields is undefined in the protos, not 1',
      'google.protobuf.Struct.FieldsEntry.key is undefined in the protos, not 1',
      'google.protobuf.Struct.FieldsEntry.value is undefined in the protos, not 2',
    ]);
    const action = readEnvoyProtos();
    action.lookupEnum('envoy.config.core.v3.HeaderValueOption.HeaderAppendAction').values['OVERWRITE_IF_EXISTS_OR_ADD'] = 7;
    expect(encoderMismatches(action)).toEqual(['HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD is 7 in the protos, not 2']);
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
