/**
 * Idle memory of `serve` (not part of the suite; load-independent): the built CLI with the
 * representative setup of bench/setup.ts, after start and one Check, settled for two seconds.
 * Prints resident memory from /proc (VmRSS, and its anonymous and file-backed parts: the Node
 * binary's mapped code is file-backed), how long start took to health SERVING (the "llm-authz
 * serving" line) and to the first answer. `--no-warm-up` turns the start-up warm-up off
 * (`server.warm_up: false`); `--both` measures with and without it, alternately. `--settle S`
 * waits S seconds after the Check instead of 2 (V8's memory reducer starts after 8 s of idling).
 *   node bench/idle-rss.ts [--runs 3] [--no-warm-up | --both] [--settle 2] [--node-option=--flag ...]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createAuthzClient } from '../devstack/grpc-client.ts';
import { startLlmAuthz, startOtlpSink } from './servers.ts';
import { statusMiB } from './procstat.ts';
import { BENCH_ENV, benchCheckRequest, prepareBenchFiles, withoutWarmUp } from './setup.ts';

export interface IdleMemory {
  readonly rssMiB: number;
  readonly anonMiB: number;
  readonly fileMiB: number;
  /** From spawning the process to its first Check answer. */
  readonly startMs: number;
  /** From spawning the process to health SERVING. */
  readonly servingMs: number;
}

export async function measureIdle(o: {
  workDir: string;
  config: string;
  env: NodeJS.ProcessEnv;
  request: unknown;
  nodeArgs?: readonly string[];
  settleMs?: number;
}): Promise<IdleMemory> {
  const t0 = performance.now();
  const server = await startLlmAuthz(o.workDir, o.config, o.env, o.nodeArgs ?? []);
  try {
    const client = createAuthzClient(`127.0.0.1:${server.port}`);
    try {
      const res = await client.check(o.request);
      if (((res['status'] as { code?: number } | undefined)?.code ?? 0) !== 0) throw new Error('llm-authz does not allow the benchmark request');
    } finally {
      client.close();
    }
    const startMs = performance.now() - t0;
    await new Promise((r) => setTimeout(r, o.settleMs ?? 2000));
    return {
      rssMiB: statusMiB(server.pid, 'VmRSS'),
      anonMiB: statusMiB(server.pid, 'RssAnon'),
      fileMiB: statusMiB(server.pid, 'RssFile'),
      startMs,
      servingMs: server.servingMs ?? Number.NaN,
    };
  } finally {
    await server.stop();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '3' },
      'no-warm-up': { type: 'boolean', default: false },
      both: { type: 'boolean', default: false },
      settle: { type: 'string', default: '2' },
      'node-option': { type: 'string', multiple: true, default: [] },
    },
  });
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'llm-authz-idle-'));
  const sink = await startOtlpSink(workDir);
  try {
    const files = await prepareBenchFiles(workDir, sink.port);
    const request = benchCheckRequest(2048, files.jwt);
    const variants = values.both ? [true, false] : [!values['no-warm-up']];
    const noWarmUp = withoutWarmUp(files.config);
    for (let i = 0; i < Number(values.runs); i++) {
      for (const warm of variants) {
        const m = await measureIdle({
          workDir,
          config: warm ? files.config : noWarmUp,
          env: BENCH_ENV,
          request,
          nodeArgs: values['node-option'] ?? [],
          settleMs: Number(values.settle) * 1000,
        });
        process.stdout.write(
          `warm-up ${warm ? 'on ' : 'off'}: idle RSS ${m.rssMiB.toFixed(1)} MiB (anonymous ${m.anonMiB.toFixed(1)}, file-backed ${m.fileMiB.toFixed(1)}); start to SERVING ${m.servingMs.toFixed(0)} ms, to first answer ${m.startMs.toFixed(0)} ms\n`,
        );
      }
    }
  } finally {
    await sink.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  main().catch((err: unknown) => {
    process.stderr.write(`idle-rss failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
