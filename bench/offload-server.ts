/**
 * The offload prototype's server process (bench/offload.ts). grpc-js on the main thread, with the
 * Check declared by its path and pass-through (de)serializers: each request's bytes go, undecoded,
 * to a worker thread (bench/offload-worker.ts, or its bundle) and the encoded CheckResponse comes
 * back. A worker's young and old generations can be capped (`--worker-young-mb`,
 * `--worker-old-mb`: Worker resourceLimits). Prints `{"port":N}` when bound.
 *
 * Fixed (`--workers W`): W workers from the start, round robin; this thread loads no pipeline
 * code and no Envoy protos; a worker that exits ends the process.
 *
 * Adaptive (`--adaptive`): this thread loads the pipeline too (bench/offload-pipeline.ts) and runs
 * the Checks itself, as serve does, until a one-second window sees `--spawn-rate` Checks or more;
 * then it starts one worker and, once it is ready, sends it every Check (and runs one
 * memory-reducing GC of its own, as it now runs gRPC alone). After `--idle-ms` without
 * a Check the worker is retired (its Checks in flight finish first) and this thread takes the
 * Checks again. A worker that exits unexpectedly fails its Checks in flight (INTERNAL: Envoy
 * denies) and this thread takes the next ones.
 *   node bench/offload-server.ts --config C --listen HOST:PORT --worker FILE (--workers W | --adaptive [--spawn-rate 50] [--idle-ms 30000])
 *       [--worker-young-mb M] [--worker-old-mb M]
 */
import * as grpc from '@grpc/grpc-js';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { releaseStartUpMemory } from '../src/cli/start-up-memory.ts';
import { GRPC_SERVER_OPTIONS } from './grpc-options.ts';
import { raiseHttp2Windows } from './http2-window.ts';
import type { BytesCheck } from './offload-pipeline.ts';
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
    adaptive: { type: 'boolean', default: false },
    'spawn-rate': { type: 'string', default: '50' },
    'idle-ms': { type: 'string', default: '30000' },
    'worker-young-mb': { type: 'string' },
    'worker-old-mb': { type: 'string' },
  },
});
if (values.config === undefined || values.worker === undefined) throw new Error('--config and --worker are required');
const config = values.config;
const workerFile = values.worker;
const resourceLimits = {
  ...(values['worker-young-mb'] !== undefined ? { maxYoungGenerationSizeMb: Number(values['worker-young-mb']) } : {}),
  ...(values['worker-old-mb'] !== undefined ? { maxOldGenerationSizeMb: Number(values['worker-old-mb']) } : {}),
};

interface Pending {
  readonly cb: grpc.sendUnaryData<Buffer>;
  readonly worker: Worker;
}
const pending = new Map<number, Pending>();
let next = 0;

function answer(cb: grpc.sendUnaryData<Buffer>, bytes: Uint8Array | undefined): void {
  if (bytes === undefined) cb({ code: grpc.status.INTERNAL, details: 'internal_error' });
  else cb(null, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}

/** A worker, resolved once its pipeline is loaded. `onExit` runs when it exits for any reason. */
function startWorker(onExit: (w: Worker, code: number) => void): Promise<Worker> {
  return new Promise<Worker>((resolve, reject) => {
    const w = new Worker(workerFile, { workerData: { config }, resourceLimits });
    w.on('message', (m: OffloadAnswer | { ready: true }) => {
      if ('ready' in m) return resolve(w);
      const p = pending.get(m.id);
      pending.delete(m.id);
      if (p) answer(p.cb, m.bytes);
    });
    w.on('error', reject);
    w.on('exit', (code) => {
      for (const [id, p] of pending) {
        if (p.worker !== w) continue;
        pending.delete(id);
        answer(p.cb, undefined);
      }
      onExit(w, code);
    });
  });
}

function send(w: Worker, request: Buffer, traceparent: string | undefined, tracestate: string | undefined, cb: grpc.sendUnaryData<Buffer>): void {
  const id = next++;
  pending.set(id, { cb, worker: w });
  const bytes = new Uint8Array(request);
  w.postMessage({ id, bytes, traceparent, tracestate } satisfies OffloadJob, [bytes.buffer]);
}

type Route = (request: Buffer, traceparent: string | undefined, tracestate: string | undefined, cb: grpc.sendUnaryData<Buffer>) => void;

async function fixedPool(workers: number): Promise<Route> {
  const pool = await Promise.all(
    Array.from({ length: workers }, () =>
      startWorker((_, code) => {
        process.stderr.write(`${JSON.stringify({ worker_exit: code })}\n`);
        process.exit(1);
      }),
    ),
  );
  let turn = 0;
  return (request, traceparent, tracestate, cb) => send(pool[turn++ % workers] as Worker, request, traceparent, tracestate, cb);
}

async function adaptive(spawnRate: number, idleMs: number): Promise<Route> {
  const { startPipeline } = await import('./offload-pipeline.ts');
  const local: BytesCheck = await startPipeline(config);
  let worker: Worker | undefined;
  let starting = false;
  let retiring: Worker | undefined;
  let checks = 0;
  let lastCheckAt = 0;
  const log = (event: Record<string, unknown>): void => {
    process.stderr.write(`${JSON.stringify({ ...event, time: new Date().toISOString() })}\n`);
  };
  const onExit = (w: Worker, code: number): void => {
    if (w === worker) worker = undefined;
    if (w === retiring) retiring = undefined;
    log({ event: 'worker exited', code });
  };
  setInterval(() => {
    const rate = checks;
    checks = 0;
    if (rate >= spawnRate && worker === undefined && !starting) {
      starting = true;
      log({ event: 'worker starting', rate });
      startWorker(onExit).then(
        (w) => {
          starting = false;
          worker = w;
          // This thread now runs gRPC alone: give back the young generation the Checks grew.
          const released = releaseStartUpMemory();
          log({ event: 'worker ready', main_heap_mib: released === undefined ? undefined : [released.heapMiBBefore, released.heapMiBAfter] });
        },
        (err: unknown) => {
          starting = false;
          log({ event: 'worker failed to start', error: err instanceof Error ? err.message : String(err) });
        },
      );
    }
    if (worker !== undefined && retiring === undefined && performance.now() - lastCheckAt > idleMs) {
      retiring = worker;
      worker = undefined;
      log({ event: 'worker retiring' });
      const w = retiring;
      const drained = setInterval(() => {
        if ([...pending.values()].some((p) => p.worker === w)) return;
        clearInterval(drained);
        void w.terminate();
      }, 100);
    }
  }, 1000).unref();
  return (request, traceparent, tracestate, cb) => {
    checks++;
    lastCheckAt = performance.now();
    if (worker !== undefined) return send(worker, request, traceparent, tracestate, cb);
    void local(request, traceparent, tracestate).then((bytes) => answer(cb, bytes));
  };
}

raiseHttp2Windows();
const route = values.adaptive ? await adaptive(Number(values['spawn-rate']), Number(values['idle-ms'])) : await fixedPool(Number(values.workers));
const first = (v: grpc.MetadataValue[]): string | undefined => (typeof v[0] === 'string' ? v[0] : undefined);
const server = new grpc.Server(GRPC_SERVER_OPTIONS);
server.addService(AUTHORIZATION, {
  Check(call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) {
    route(call.request, first(call.metadata.get('traceparent')), first(call.metadata.get('tracestate')), cb);
  },
});
server.bindAsync(values.listen ?? '127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  releaseStartUpMemory();
  process.stdout.write(`${JSON.stringify({ port })}\n`);
});
process.on('SIGTERM', () => {
  server.forceShutdown();
  process.exit(0);
});
