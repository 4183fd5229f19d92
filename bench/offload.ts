/**
 * A prototype of the design change the tail target points at (not part of the suite, not the
 * shipped server): the Check pipeline off the gRPC thread. The main thread runs grpc-js and
 * passes each CheckRequest's bytes, undecoded, to one of W worker threads; each worker loads the
 * runtime, the telemetry and the decision log of the config, decodes the request, runs the same
 * Check as serve (src/pipeline/check.ts) and sends back the encoded CheckResponse. What it lacks
 * against serve: health service, TLS, outcome records, quotas, hot reload, the start-up warm-up,
 * metrics and a deny when a worker dies; the worker's own error path answers `internal_error`.
 * The driver runs serve and the prototype (1 and 2 workers) with the benchmark's config
 * (bench/setup.ts), interleaved round after round: paced rates (vegeta, h2c) and maximum
 * throughput (h2load), with the server's CPU per 1k Checks and its RSS (idle: after start and one Check).
 *   node bench/offload.ts [--rounds 2] [--rates 250,500,1000] [--seconds 8] [--max-seconds 10]
 *   node bench/offload.ts --serve CONFIG --listen HOST:PORT --workers W   (the prototype server)
 */
import * as grpc from '@grpc/grpc-js';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { freePort } from '../devstack/ports.ts';
import { startChild } from '../devstack/process.ts';
import { authorizationService } from '../src/envoy/proto.ts';
import { raiseHttp2Windows } from '../src/server/http2-window.ts';
import { CHECK_GRPC_HEADERS, checkUrl, h2loadChecks, type LoadResult } from './h2load.ts';
import { procStat, statusMiB } from './procstat.ts';
import { type AuthzUnderTest, inBenchWorkspace, ready, startLlmAuthz, verifyAllows, wrap } from './servers.ts';
import { BENCH_ENV, benchCheckRequest, IMAGE_NODE_FLAGS } from './setup.ts';
import { vegeta } from './vegeta.ts';

interface Job {
  readonly id: number;
  readonly bytes: Uint8Array;
  readonly traceparent: string | undefined;
  readonly tracestate: string | undefined;
}

/** In a worker: the Check pipeline of serve over the config. */
async function worker(config: string): Promise<void> {
  const { loadRuntime } = await import('../src/pipeline/runtime.ts');
  const { createCheck } = await import('../src/pipeline/check.ts');
  const { createDecisionLog } = await import('../src/audit/decision-log.ts');
  const { startTelemetry } = await import('../src/telemetry/otel.ts');
  const { checkResponseEncoder } = await import('../src/envoy/proto.ts');
  const rt = loadRuntime(config);
  const telemetry = await startTelemetry(rt.config.telemetry, { version: 'offload-prototype' });
  const log = createDecisionLog(rt.decisionLogSink, { flushMs: rt.config.decision_log.flush_ms });
  const decode = authorizationService().Check.requestDeserialize;
  const encode = checkResponseEncoder();
  const check = createCheck(() => rt, { onDecision: (record, trace) => log.write(record, trace), onError: () => undefined }, telemetry.tracer);
  const port = parentPort;
  if (!port) throw new Error('no parent port');
  port.on('message', (job: Job) => {
    check(decode(Buffer.from(job.bytes.buffer, job.bytes.byteOffset, job.bytes.byteLength)), { traceparent: job.traceparent, tracestate: job.tracestate }).then(
      (res) => {
        const out = encode(res as Parameters<typeof encode>[0]);
        const copy = new Uint8Array(out);
        port.postMessage({ id: job.id, bytes: copy }, [copy.buffer]);
      },
      () => port.postMessage({ id: job.id, bytes: undefined }),
    );
  });
  port.postMessage({ ready: true });
}

/** The prototype server: grpc-js on this thread, the Checks in `workers` worker threads. */
async function serve(config: string, listen: string, workers: number): Promise<void> {
  raiseHttp2Windows();
  const pending = new Map<number, grpc.sendUnaryData<Buffer>>();
  let next = 0;
  const pool = await Promise.all(
    Array.from(
      { length: workers },
      () =>
        new Promise<Worker>((resolve, reject) => {
          const w = new Worker(new URL(import.meta.url), { workerData: { config } });
          w.on('message', (m: { ready?: true; id?: number; bytes?: Uint8Array }) => {
            if (m.ready) return resolve(w);
            const cb = pending.get(m.id as number);
            pending.delete(m.id as number);
            if (!cb) return;
            if (m.bytes === undefined) cb({ code: grpc.status.INTERNAL, details: 'internal_error' });
            else cb(null, Buffer.from(m.bytes.buffer, m.bytes.byteOffset, m.bytes.byteLength));
          });
          w.on('error', reject);
        }),
    ),
  );
  const first = (v: grpc.MetadataValue[]): string | undefined => (typeof v[0] === 'string' ? v[0] : undefined);
  const service = authorizationService();
  const server = new grpc.Server();
  server.addService(
    {
      ...service,
      Check: { ...service.Check, requestDeserialize: (b: Buffer) => b, responseSerialize: (b: Buffer) => b },
    },
    {
      Check(call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) {
        const id = next++;
        pending.set(id, cb);
        const bytes = new Uint8Array(call.request);
        (pool[id % workers] as Worker).postMessage({
          id,
          bytes,
          traceparent: first(call.metadata.get('traceparent')),
          tracestate: first(call.metadata.get('tracestate')),
        } satisfies Job);
      },
    },
  );
  server.bindAsync(listen, grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) throw err;
    process.stdout.write(`${JSON.stringify({ port })}\n`);
  });
  process.on('SIGTERM', () => {
    server.forceShutdown();
    for (const w of pool) void w.terminate();
  });
}

async function startPrototype(workDir: string, config: string, workers: number): Promise<AuthzUnderTest> {
  const port = await freePort();
  const child = startChild(process.execPath, [...IMAGE_NODE_FLAGS, import.meta.filename, '--serve', config, '--listen', `127.0.0.1:${port}`, '--workers', String(workers)], {
    logFile: path.join(workDir, `offload-${workers}.log`),
    env: { ...process.env, ...BENCH_ENV },
  });
  await ready(port);
  return wrap(`offload ${workers}`, child, port);
}

async function driver(v: { rounds: number; rates: number[]; seconds: number; maxSeconds: number }): Promise<void> {
  const rows: string[] = [];
  await inBenchWorkspace('llm-authz-offload-', async ({ workDir, files, frameFile }) => {
    const starts: [string, () => Promise<AuthzUnderTest>][] = [
      ['serve', () => startLlmAuthz(workDir, files.config, BENCH_ENV)],
      ['offload 1', () => startPrototype(workDir, files.config, 1)],
      ['offload 2', () => startPrototype(workDir, files.config, 2)],
    ];
    for (let round = 1; round <= v.rounds; round++) {
      for (const [name, start] of round % 2 === 1 ? starts : [...starts].reverse()) {
        const s = await start();
        try {
          await verifyAllows(s, benchCheckRequest(2048, files.jwt));
          await new Promise((r) => setTimeout(r, 2000));
          const idle = `| ${name} | ${round} | idle | | | | | | ${statusMiB(s.pid, 'VmRSS').toFixed(0)} |`;
          rows.push(idle);
          process.stdout.write(`${idle}\n`);
          // Warm-up, then the measured windows.
          await h2loadChecks({ port: s.port, dataFile: frameFile, durationS: 3, workDir });
          const measure = async (label: string, run: () => Promise<LoadResult>): Promise<void> => {
            const p0 = procStat(s.pid);
            const r = await run();
            const p1 = procStat(s.pid);
            const cpu = p1.utime + p1.stime - p0.utime - p0.stime;
            const line = `| ${name} | ${round} | ${label} | ${r.rps.toFixed(0)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.errors} | ${((cpu * 1e6) / Math.max(1, r.succeeded)).toFixed(0)} | ${statusMiB(s.pid, 'VmRSS').toFixed(0)} |`;
            rows.push(line);
            process.stdout.write(`${line}\n`);
          };
          for (const rate of v.rates) {
            await measure(`${rate}/s`, () => vegeta({ url: checkUrl(s.port), dataFile: frameFile, headers: CHECK_GRPC_HEADERS, rate, durationS: v.seconds, h2c: true, workDir }));
          }
          await measure('max', () => h2loadChecks({ port: s.port, dataFile: frameFile, durationS: v.maxSeconds, workDir }));
        } finally {
          await s.stop();
        }
      }
    }
  });
  process.stdout.write(`\n| server | round | load | req/s | p50 ms | p99 ms | errors | CPU ms / 1k | RSS MiB |\n|---|---|---|---|---|---|---|---|---|\n${rows.join('\n')}\n`);
}

if (!isMainThread) {
  await worker((workerData as { config: string }).config);
} else if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      serve: { type: 'string' },
      listen: { type: 'string', default: '127.0.0.1:0' },
      workers: { type: 'string', default: '1' },
      rounds: { type: 'string', default: '2' },
      rates: { type: 'string', default: '250,500,1000' },
      seconds: { type: 'string', default: '8' },
      'max-seconds': { type: 'string', default: '10' },
    },
  });
  if (values.serve) await serve(values.serve, values.listen ?? '127.0.0.1:0', Number(values.workers));
  else
    await driver({ rounds: Number(values.rounds), rates: (values.rates ?? '').split(',').map(Number), seconds: Number(values.seconds), maxSeconds: Number(values['max-seconds']) });
}
