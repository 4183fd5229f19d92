/**
 * The offload prototype's Check over bytes (bench/offload.ts): serve's pipeline for the config
 * (runtime, telemetry, decision log, src/pipeline/check.ts) behind a function that takes a
 * CheckRequest's undecoded bytes and its trace context and gives the encoded CheckResponse, or
 * undefined when the Check threw. Loaded by each worker thread (bench/offload-worker.ts) and, in
 * the adaptive variant, by the server's main thread too.
 */
import { createDecisionLog } from '../src/audit/decision-log.ts';
import { authorizationService, checkResponseEncoder } from '../src/envoy/proto.ts';
import { createCheck } from '../src/pipeline/check.ts';
import { loadRuntime } from '../src/pipeline/runtime.ts';
import { startTelemetry } from '../src/telemetry/otel.ts';

export type BytesCheck = (bytes: Uint8Array, traceparent: string | undefined, tracestate: string | undefined) => Promise<Uint8Array<ArrayBuffer> | undefined>;

export async function startPipeline(config: string): Promise<BytesCheck> {
  const rt = loadRuntime(config);
  const telemetry = await startTelemetry(rt.config.telemetry, { version: 'offload-prototype' });
  const log = createDecisionLog(rt.decisionLogSink, { flushMs: rt.config.decision_log.flush_ms });
  const decode = authorizationService().Check.requestDeserialize;
  const encode = checkResponseEncoder();
  const check = createCheck(() => rt, { onDecision: (record, trace) => log.write(record, trace), onError: () => undefined }, telemetry.tracer);
  return (bytes, traceparent, tracestate) =>
    check(decode(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)), { traceparent, tracestate }).then(
      (res) => new Uint8Array(encode(res as Parameters<typeof encode>[0])),
      () => undefined,
    );
}
