/**
 * Prototype (bench only): llm-authz's Check served on serve's node:http2 transport
 * (src/server/grpc-h2.ts) without the rest of serve's server (ext_proc, health per service, drain). The Check is the one `serve` builds (src/cli/serve.ts): the same
 * runtime from the config, decision log, telemetry and createCheck; responses are encoded by
 * src/envoy/response-encoder.ts as in serve. Only the transport differs, and the request decoder:
 *   --decoder protobufjs  proto-loader's deserializer over the Envoy protos (what grpc-js calls)
 *   --decoder lean        decode-check-request.ts: no Envoy protos loaded
 * With the protobufjs decoder the start-up warm-up runs the pipeline as serve's does
 * (src/pipeline/warm-up.ts; it loads the Envoy protos, so the lean variant skips it), without
 * serve's gRPC health call to itself. Health/Check answers SERVING, whatever the service name (a
 * stand-in for Envoy's cluster health check). No ext_proc, health Watch, TLS, keepalive or drain:
 * see src/server/server.ts.
 *   node bench/proto-h2/out/bench/proto-h2/serve-h2.js --config FILE [--listen 127.0.0.1:0] [--decoder protobufjs|lean]
 * Prints {"port": N} on stdout once listening; SIGTERM stops it.
 */
import { parseArgs } from 'node:util';
import { createDecisionLog } from '../../src/audit/decision-log.ts';
import { authorizationService, checkResponseEncoder } from '../../src/envoy/proto.ts';
import { encodeCheckResponse } from '../../src/envoy/response-encoder.ts';
import { denyResponse } from '../../src/envoy/response.ts';
import { createCheck } from '../../src/pipeline/check.ts';
import { loadRuntime } from '../../src/pipeline/runtime.ts';
import { warmUpCheck } from '../../src/pipeline/warm-up.ts';
import { createLogger, safeError } from '../../src/telemetry/log.ts';
import { startTelemetry } from '../../src/telemetry/otel.ts';
import { SERVICE_VERSION } from '../../src/telemetry/version.ts';
import { randomUUID } from 'node:crypto';
import { decodeCheckRequest } from '../../src/envoy/check-request-decoder.ts';
import { parseListen } from '../../src/core/listen.ts';
import { type CallHeaders, CONNECTION_WINDOW_BYTES, createGrpcServer, GrpcError, MAX_MESSAGE_BYTES, Status, STREAM_WINDOW_BYTES } from '../../src/server/grpc-h2.ts';

const CHECK_PATH = '/envoy.service.auth.v3.Authorization/Check';

const { values } = parseArgs({ options: { config: { type: 'string' }, listen: { type: 'string', default: '127.0.0.1:0' }, decoder: { type: 'string', default: 'protobufjs' } } });
const lean = values.decoder === 'lean';
if (!lean && values.decoder !== 'protobufjs') throw new Error(`--decoder: protobufjs or lean, not ${values.decoder}`);

const log = createLogger('info');
const runtime = loadRuntime(values.config);
const decisionLog = createDecisionLog(runtime.decisionLogSink, { flushMs: runtime.config.decision_log.flush_ms });
const telemetry = await startTelemetry(runtime.config.telemetry, { version: SERVICE_VERSION });
const check = createCheck(
  () => runtime,
  {
    onDecision: (record, trace) => decisionLog.write(record, trace),
    onError: (reason, err, decisionId) => log.error({ reason, decision_id: decisionId, ...safeError(err) }, 'check failed; denied'),
  },
  telemetry.tracer,
);

const decode: (b: Buffer) => unknown = lean ? decodeCheckRequest : authorizationService().Check.requestDeserialize;
// serve checks the encoder's field numbers against the loaded protos; the lean variant loads none.
const encode = lean ? encodeCheckResponse : checkResponseEncoder();
const first = (v: string | string[] | undefined): string | undefined => (typeof v === 'string' ? v : undefined);

async function handle(message: Buffer, headers: CallHeaders): Promise<Buffer> {
  let request: unknown;
  try {
    request = decode(message);
  } catch {
    throw new GrpcError(Status.INTERNAL, 'Error deserializing request');
  }
  try {
    return encode(await check(request, { traceparent: first(headers['traceparent']), tracestate: first(headers['tracestate']) }));
  } catch (err) {
    // createCheck already fails closed; this is the last line of defence (as in src/server/server.ts).
    log.error({ reason: 'internal_error', ...safeError(err) }, 'check failed');
    return encode(denyResponse({ decisionId: randomUUID(), reason: 'internal_error', detail: undefined, api: undefined, metadata: {} }));
  }
}

if (!lean && runtime.config.server.warm_up) await warmUpCheck(runtime);

// A stand-in for grpc.health.v1.Health/Check (Envoy's cluster health check): SERVING (field 1 =
// 1) for any service name. serve's health service reports per service and NOT_SERVING while draining.
const SERVING = Buffer.from([0x08, 0x01]);
const server = createGrpcServer(
  { [CHECK_PATH]: { kind: 'unary', handle }, '/grpc.health.v1.Health/Check': { kind: 'unary', handle: () => SERVING } },
  { maxMessageBytes: MAX_MESSAGE_BYTES, streamWindowBytes: STREAM_WINDOW_BYTES, connectionWindowBytes: CONNECTION_WINDOW_BYTES },
);
const listen = parseListen(values.listen ?? '127.0.0.1:0');
if (!listen.ok) throw new Error(listen.problem);
const port = await server.listen(listen.value);
log.info({ port, decoder: values.decoder, transport: 'node:http2' }, 'llm-authz serving');
process.stdout.write(`${JSON.stringify({ port })}\n`);

process.on('SIGTERM', () => {
  void (async () => {
    await server.close(1000);
    await decisionLog.close();
    await runtime.close();
    await telemetry.shutdown();
    process.exit(0);
  })();
});
