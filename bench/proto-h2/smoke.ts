/**
 * Checks the node:http2 prototype's behaviour (not timing) with grpc-js's client and raw HTTP/2:
 * allow and deny through the llm-authz variants, the same answers as llm-authz serve; a
 * compressed message refused (12), an undecodable one (13), an unknown method (12), grpc-timeout
 * passing before the request is complete (4), a cancelled call leaving the server serving; and the
 * lean decoder giving the same RequestContext as proto-loader's on a request with every field
 * llm-authz reads. Exits 1 on the first mismatch.
 *   node bench/proto-h2/smoke.ts
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { checkRequest, checkRequestFrame, createAuthzClient } from '../../devstack/grpc-client.ts';
import { rawGrpcCall, type RawAnswer } from '../../devstack/grpc-raw.ts';
import { authorizationService } from '../../src/envoy/proto.ts';
import { parseCheckRequest } from '../../src/envoy/request-context.ts';
import { startOtlpSink } from '../servers.ts';
import { BENCH_ENV, BENCH_KEY, benchCheckRequest, prepareBenchFiles } from '../setup.ts';
import { decodeCheckRequest } from '../../src/envoy/check-request-decoder.ts';
import { buildPrototype, startVariant, type Variant } from './variants.ts';

const CHECK = '/envoy.service.auth.v3.Authorization/Check';

/** One raw HTTP/2 call to Check. */
function raw(port: number, headers: Record<string, string>, body: Buffer, o: { hold?: number; cancelAfter?: number } = {}): Promise<RawAnswer> {
  return rawGrpcCall(`http://127.0.0.1:${port}`, headers[':path'] ?? CHECK, headers, body, o);
}

function statusCode(res: Record<string, unknown>): number {
  return (res['status'] as { code?: number } | undefined)?.code ?? 0;
}

async function main(): Promise<void> {
  buildPrototype();
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'llm-authz-proto-h2-smoke-'));
  const sink = await startOtlpSink(workDir);
  try {
    const files = await prepareBenchFiles(workDir, sink.port);
    const allowed = benchCheckRequest(2048, files.jwt);
    const byKey = benchCheckRequest(512, BENCH_KEY);
    const noCredential = checkRequest({ body: JSON.stringify({ model: 'gpt-4o-mini', messages: [] }) });
    const wrongModel = benchCheckRequest(256, files.jwt);
    (wrongModel['attributes'] as any).request.http.raw_body = Buffer.from(JSON.stringify({ model: 'model-0-a', messages: [{ role: 'user', content: 'x' }] }));
    (wrongModel['attributes'] as any).request.http.headers['content-length'] = String((wrongModel['attributes'] as any).request.http.raw_body.length);

    // The lean decoder against proto-loader's, on a request with every field request-context reads.
    const full = checkRequest({ body: '{"model":"gpt-4o-mini"}', principal: 'spiffe://x/y', headers: { authorization: 'Bearer t', 'x-request-id': 'r1' } });
    const attrs = full['attributes'] as any;
    attrs.source.certificate = 'PEM%20';
    attrs.tls_session = { sni: 'llm.example' };
    attrs.context_extensions = { tenant: 'a', 'route-kind': 'chat' };
    attrs.request.http.query = 'q';
    attrs.request.http.header_map = {
      headers: [
        { key: 'x-raw', raw_value: Buffer.from('v\xe9', 'latin1') },
        { key: 'x-plain', value: 'p' },
      ],
    };
    attrs.metadata_context = {
      filter_metadata: {
        'envoy.filters.http.jwt_authn': {
          fields: {
            jwt_payload: {
              structValue: {
                fields: {
                  sub: { stringValue: 's' },
                  n: { numberValue: 1.5 },
                  b: { boolValue: true },
                  z: { nullValue: 'NULL_VALUE' },
                  l: { listValue: { values: [{ stringValue: 'a' }, { numberValue: 2 }] } },
                },
              },
            },
          },
        },
      },
    };
    const method = authorizationService().Check;
    for (const req of [full, allowed, byKey, noCredential]) {
      const bytes = method.requestSerialize(req);
      assert.deepEqual(parseCheckRequest(decodeCheckRequest(bytes)), parseCheckRequest(method.requestDeserialize(bytes)));
    }
    assert.throws(() => decodeCheckRequest(Buffer.from([0x0a, 0x05, 0x01])));
    process.stdout.write('lean decoder: the same RequestContext as proto-loader on 4 requests; a truncated message throws\n');

    const expected: Record<string, number[]> = {};
    const variants: Variant[] = ['llm-authz serve', 'h2 llm-authz', 'h2 llm-authz lean', 'h2 floor'];
    for (const v of variants) {
      const server = await startVariant(v, { workDir, config: files.config, env: BENCH_ENV });
      try {
        const client = createAuthzClient(`127.0.0.1:${server.port}`);
        const meta = new grpc.Metadata();
        meta.set('traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
        const codes = [
          statusCode(await client.check(allowed, { metadata: meta })),
          statusCode(await client.check(byKey)),
          statusCode(await client.check(noCredential)),
          statusCode(await client.check(wrongModel)),
        ];
        if (v !== 'h2 floor') {
          expected[v] = codes;
          assert.deepEqual(codes, expected['llm-authz serve'], `${v}: Check answers ${codes} differ from llm-authz serve's`);
          assert.equal(codes[0], 0);
          assert.notEqual(codes[2], 0);
          assert.notEqual(codes[3], 0);
        }
        // Undecodable message: INTERNAL (grpc-js answers the same).
        await assert.rejects(client.checkRaw(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f])), (e: any) => e.code === 13);
        client.close();
        if (v !== 'grpc-js floor') {
          const frame = checkRequestFrame(allowed);
          const ok = await raw(server.port, {}, frame);
          assert.equal(ok.grpcStatus, '0');
          assert.equal(ok.body.readUInt32BE(1), ok.body.length - 5);
          const compressed = Buffer.from(frame);
          compressed[0] = 1;
          const c = await raw(server.port, { 'grpc-encoding': 'gzip' }, compressed);
          assert.equal(c.grpcStatus, '12');
          const two = await raw(server.port, {}, Buffer.concat([frame, frame]));
          assert.equal(two.grpcStatus, '13');
          const unknown = await raw(server.port, { ':path': '/x.Y/Z' }, frame);
          assert.equal(unknown.grpcStatus, '12');
          const late = await raw(server.port, { 'grpc-timeout': '20m' }, frame, { hold: 200 });
          assert.equal(late.grpcStatus, '4');
          const cancelled = await raw(server.port, {}, frame.subarray(0, 10), { cancelAfter: 20 });
          assert.equal(cancelled.grpcStatus, undefined);
          const notGrpc = await raw(server.port, { 'content-type': 'application/json' }, frame);
          assert.equal(notGrpc.status, 415);
          const after = await raw(server.port, { 'grpc-timeout': '5S' }, frame);
          assert.equal(after.grpcStatus, '0');
        }
        process.stdout.write(`${v}: Check answers ${codes.join(',')} (allow JWT, allow key, deny no credential, deny model); raw HTTP/2 cases pass\n`);
      } finally {
        await server.stop();
      }
    }
  } finally {
    await sink.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`smoke failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
