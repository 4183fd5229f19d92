/**
 * The offload prototype's worker thread (bench/offload.ts): the Check pipeline of serve and
 * nothing else (bench/offload-pipeline.ts). Each CheckRequest comes as undecoded bytes from
 * bench/offload-server.ts; the encoded CheckResponse goes back, or `undefined` bytes when the
 * Check threw, which the server answers as an INTERNAL error (Envoy denies). Like serve, one
 * memory-reducing GC once it is loaded (src/cli/start-up-memory.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { releaseStartUpMemory } from '../src/cli/start-up-memory.ts';
import { startPipeline } from './offload-pipeline.ts';

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
const check = await startPipeline((workerData as { config: string }).config);
port.on('message', (job: OffloadJob) => {
  void check(job.bytes, job.traceparent, job.tracestate).then((bytes) =>
    port.postMessage({ id: job.id, bytes } satisfies OffloadAnswer, bytes === undefined ? [] : [bytes.buffer]),
  );
});
releaseStartUpMemory();
port.postMessage({ ready: true });
