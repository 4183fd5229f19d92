/**
 * proto/envoy-api.json is what the pinned Envoy .proto files give, and the service definitions
 * serve builds from it read and write exactly what @grpc/proto-loader's (loaded from the .proto
 * files, as before) read and write.
 */
import { readFileSync } from 'node:fs';
import * as protoLoader from '@grpc/proto-loader';
import type { MethodDefinition } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { ENVOY_PROTO_ROOTS, envoyProtoIncludeDirs, envoyProtoJson } from '../../scripts/render-protos.ts';
import { checkRequest } from '../../src/envoy/check-request.ts';
import { authorizationService, ENVOY_PROTO_FILE, externalProcessorService, PROTO_LOADER_OPTIONS, readEnvoyProtos } from '../../src/envoy/proto.ts';

type Method = MethodDefinition<unknown, unknown>;

const loaded = protoLoader.loadSync(ENVOY_PROTO_ROOTS, { ...PROTO_LOADER_OPTIONS, includeDirs: envoyProtoIncludeDirs() });
const reference = (service: string, method: string): Method => (loaded[service] as unknown as Record<string, Method>)[method]!;

const check = authorizationService().Check;
const checkRef = reference('envoy.service.auth.v3.Authorization', 'Check');
const processRef = reference('envoy.service.ext_proc.v3.ExternalProcessor', 'Process');
const process_ = (externalProcessorService() as unknown as Record<string, Method>)['Process']!;

const requests: Record<string, unknown>[] = [
  checkRequest({}),
  checkRequest({ headers: { authorization: 'Bearer x.y.z', 'x-request-id': 'r-1' }, body: JSON.stringify({ model: 'gpt-4o-mini', messages: [] }), principal: 'spiffe://a/b' }),
  {
    attributes: {
      source: { address: { pipe: { path: '/run/envoy.sock', mode: 420 } }, certificate: 'PEM', labels: { app: 'x' } },
      request: {
        time: { seconds: '1700000000', nanos: 5 },
        http: { method: 'GET', path: '/v1/models', header_map: { headers: [{ key: 'a', raw_value: Buffer.from([0, 1, 255]) }] }, size: '-1' },
      },
      context_extensions: { route: 'openai' },
      metadata_context: {
        filter_metadata: {
          'envoy.filters.http.jwt_authn': { fields: { sub: { string_value: 's' }, n: { number_value: 1.5 }, l: { list_value: { values: [{ bool_value: true }] } } } },
        },
      },
      tls_session: { sni: 'llm.local' },
    },
  },
];

const responses: Record<string, unknown>[] = [
  { status: { code: 0 }, ok_response: { headers: [{ header: { key: 'x-a', value: 'b' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }], headers_to_remove: ['x-api-key'] } },
  {
    status: { code: 7, message: 'no' },
    denied_response: { status: { code: 'Forbidden' }, body: '{"error":{}}', headers: [{ header: { key: 'content-type', value: 'application/json' } }] },
  },
  { status: { code: 0 }, dynamic_metadata: { fields: { decision_id: { string_value: 'd-1' }, ok: { bool_value: true } } } },
];

describe(ENVOY_PROTO_FILE, () => {
  it('is current (node scripts/render-protos.ts)', () => {
    expect(readFileSync(ENVOY_PROTO_FILE, 'utf8')).toBe(envoyProtoJson());
  });

  it('gives the services as proto-loader does: paths, streaming, names', () => {
    for (const [ours, ref] of [
      [check, checkRef],
      [process_, processRef],
    ] as const) {
      expect({ path: ours.path, requestStream: ours.requestStream, responseStream: ours.responseStream, originalName: ours.originalName }).toEqual({
        path: ref.path,
        requestStream: ref.requestStream,
        responseStream: ref.responseStream,
        originalName: ref.originalName,
      });
    }
    expect(check.path).toBe('/envoy.service.auth.v3.Authorization/Check');
    expect(process_.requestStream && process_.responseStream).toBe(true);
  });

  it.each(requests.map((r, i) => [i, r] as const))('CheckRequest %i: the same bytes, read back to the same object', (_i, req) => {
    const bytes = check.requestSerialize(req);
    expect(bytes.toString('hex')).toBe(checkRef.requestSerialize(req).toString('hex'));
    expect(check.requestDeserialize(bytes)).toEqual(checkRef.requestDeserialize(bytes));
  });

  it.each(responses.map((r, i) => [i, r] as const))('CheckResponse %i: the same bytes, read back to the same object', (_i, res) => {
    const bytes = check.responseSerialize(res);
    expect(bytes.toString('hex')).toBe(checkRef.responseSerialize(res).toString('hex'));
    expect(check.responseDeserialize(bytes)).toEqual(checkRef.responseDeserialize(bytes));
  });

  it('ext_proc: a ProcessingRequest and a ProcessingResponse, the same bytes both ways', () => {
    const req = { request_headers: { headers: { headers: [{ key: ':path', raw_value: Buffer.from('/v1/chat/completions') }] }, end_of_stream: false } };
    const res = { response_body: { response: { status: 'CONTINUE' } } };
    expect(process_.requestSerialize(req).toString('hex')).toBe(processRef.requestSerialize(req).toString('hex'));
    expect(process_.responseSerialize(res).toString('hex')).toBe(processRef.responseSerialize(res).toString('hex'));
    const bytes = processRef.requestSerialize(req);
    expect(process_.requestDeserialize(bytes)).toEqual(processRef.requestDeserialize(bytes));
  });

  it('would see a type that differs from the .proto files (the comparison can fail)', () => {
    const root = readEnvoyProtos();
    const changed = root.lookupType('envoy.service.auth.v3.AttributeContext.HttpRequest');
    changed.fields['path']!.id = 99;
    const req = requests[1]!;
    const bytes = Buffer.from(root.lookupType('envoy.service.auth.v3.CheckRequest').encode(root.lookupType('envoy.service.auth.v3.CheckRequest').fromObject(req)).finish());
    expect(bytes.toString('hex')).not.toBe(checkRef.requestSerialize(req).toString('hex'));
    const json = JSON.parse(envoyProtoJson()) as { nested: Record<string, unknown> };
    expect(Object.keys(json.nested).sort()).toEqual(['envoy', 'google', 'udpa', 'validate', 'xds']);
  });
});
