/**
 * The offload prototype's worker thread (bench/offload.ts): the Check pipeline of serve and
 * nothing else. It loads the config's runtime, telemetry and decision log, decodes each
 * CheckRequest it is sent (undecoded bytes from bench/offload-server.ts), runs the same Check as
 * serve (src/pipeline/check.ts) and sends back the encoded CheckResponse. Like serve, one
 * memory-reducing GC once it is loaded (src/cli/start-up-memory.ts). Error path: `undefined`
 * bytes back, which the server answers as an INTERNAL error (Envoy denies).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createDecisionLog } from '../src/audit/decision-log.ts';
import { releaseStartUpMemory } from '../src/cli/start-up-memory.ts';
import { authorizationService, checkResponseEncoder } from '../src/envoy/proto.ts';
import { createCheck } from '../src/pipeline/check.ts';
import { loadRuntime } from '../src/pipeline/runtime.ts';
import { startTelemetry } from '../src/telemetry/otel.ts';

/** One Check to run: the request's bytes and the trace context from its gRPC metadata. */
export interface OffloadJob {
  readonly id: number;
  readonly bytes: Uint8Array;
  readonly traceparent: string | undefined;
  readonly tracestate: string | undefined;
}

/** The answer: the encoded CheckResponse, or undefined when the Check threw. */
export interface OffloadAnswer {
  readonly id: number;
  readonly bytes: Uint8Array | undefined;
}

const port = parentPort;
if (port === null) throw new Error('bench/offload-worker.ts runs as a worker thread');
const { config } = workerData as { config: string };
const rt = loadRuntime(config);
const telemetry = await startTelemetry(rt.config.telemetry, { version: 'offload-prototype' });
const log = createDecisionLog(rt.decisionLogSink, { flushMs: rt.config.decision_log.flush_ms });
const decode = authorizationService().Check.requestDeserialize;
const encode = checkResponseEncoder();
const check = createCheck(() => rt, { onDecision: (record, trace) => log.write(record, trace), onError: () => undefined }, telemetry.tracer);

port.on('message', (job: OffloadJob) => {
  check(decode(Buffer.from(job.bytes.buffer, job.bytes.byteOffset, job.bytes.byteLength)), { traceparent: job.traceparent, tracestate: job.tracestate }).then(
    (res) => {
      const out = encode(res as Parameters<typeof encode>[0]);
      const bytes = new Uint8Array(out);
      port.postMessage({ id: job.id, bytes } satisfies OffloadAnswer, [bytes.buffer]);
    },
    () => port.postMessage({ id: job.id, bytes: undefined } satisfies OffloadAnswer),
  );
});
releaseStartUpMemory();
port.postMessage({ ready: true });
