/**
 * The offload prototype's server process (bench/offload.ts): grpc-js on the main thread and
 * nothing of the pipeline. The Check method is declared by its path with pass-through
 * (de)serializers, so this thread loads neither the Envoy protos nor a decoder: each request's
 * bytes go, undecoded, to one of W worker threads (bench/offload-worker.ts, or its bundle) and
 * the encoded CheckResponse comes back. A worker's young and old generations can be capped
 * (`--worker-young-mb`, `--worker-old-mb`: Worker resourceLimits). Prints `{"port":N}` when bound.
 *   node bench/offload-server.ts --config C --listen HOST:PORT --workers W --worker FILE [--worker-young-mb M] [--worker-old-mb M]
 */
import * as grpc from '@grpc/grpc-js';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { releaseStartUpMemory } from '../src/cli/start-up-memory.ts';
import { raiseHttp2Windows } from '../src/server/http2-window.ts';
import type { OffloadAnswer, OffloadJob } from './offload-worker.ts';

const pass = (b: Buffer): Buffer => b;
const AUTHORIZATION: grpc.ServiceDefinition = {
  Check: {
    path: '/envoy.service.auth.v3.Authorization/Check',
    requestStream: false,
    responseStream: false,
    requestSerialize: pass,
    requestDeserialize: pass,
    responseSerialize: pass,
    responseDeserialize: pass,
  },
};

const { values } = parseArgs({
  options: {
    config: { type: 'string' },
    listen: { type: 'string', default: '127.0.0.1:0' },
    workers: { type: 'string', default: '1' },
    worker: { type: 'string' },
    'worker-young-mb': { type: 'string' },
    'worker-old-mb': { type: 'string' },
  },
});
if (values.config === undefined || values.worker === undefined) throw new Error('--config and --worker are required');
const workers = Number(values.workers);
const resourceLimits = {
  ...(values['worker-young-mb'] !== undefined ? { maxYoungGenerationSizeMb: Number(values['worker-young-mb']) } : {}),
  ...(values['worker-old-mb'] !== undefined ? { maxOldGenerationSizeMb: Number(values['worker-old-mb']) } : {}),
};

raiseHttp2Windows();
const pending = new Map<number, grpc.sendUnaryData<Buffer>>();
let next = 0;
const pool = await Promise.all(
  Array.from(
    { length: workers },
    () =>
      new Promise<Worker>((resolve, reject) => {
        const w = new Worker(values.worker as string, { workerData: { config: values.config }, resourceLimits });
        w.on('message', (m: OffloadAnswer | { ready: true }) => {
          if ('ready' in m) return resolve(w);
          const cb = pending.get(m.id);
          pending.delete(m.id);
          if (!cb) return;
          if (m.bytes === undefined) cb({ code: grpc.status.INTERNAL, details: 'internal_error' });
          else cb(null, Buffer.from(m.bytes.buffer, m.bytes.byteOffset, m.bytes.byteLength));
        });
        w.on('error', reject);
        // A worker gone (its heap limit reached, a crash): its Checks fail, as serve's would.
        w.on('exit', (code) => {
          process.stderr.write(`${JSON.stringify({ worker_exit: code })}\n`);
          process.exit(1);
        });
      }),
  ),
);
const first = (v: grpc.MetadataValue[]): string | undefined => (typeof v[0] === 'string' ? v[0] : undefined);
const server = new grpc.Server({ 'grpc.max_receive_message_length': 16 * 1024 * 1024, 'grpc.keepalive_permit_without_calls': 1, 'grpc.enable_channelz': 0 });
server.addService(AUTHORIZATION, {
  Check(call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) {
    const id = next++;
    pending.set(id, cb);
    const bytes = new Uint8Array(call.request);
    (pool[id % workers] as Worker).postMessage(
      { id, bytes, traceparent: first(call.metadata.get('traceparent')), tracestate: first(call.metadata.get('tracestate')) } satisfies OffloadJob,
      [bytes.buffer],
    );
  },
});
server.bindAsync(values.listen ?? '127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  releaseStartUpMemory();
  process.stdout.write(`${JSON.stringify({ port })}\n`);
});
process.on('SIGTERM', () => {
  server.forceShutdown();
  for (const w of pool) void w.terminate();
  process.exit(0);
});
