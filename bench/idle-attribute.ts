/**
 * Where serve's idle memory is (not part of the suite): the built CLI with bench/setup.ts's config,
 * one Check, S seconds idle, then /proc/PID/smaps summed by mapping (the Node binary, shared
 * libraries, V8's heap and other anonymous memory) and, through bench/heap-probe.ts, V8's heap by space.
 *   node bench/idle-attribute.ts [--settle 2] [--no-warm-up] [--hold S] [--node-option=--flag ...]
 * `--hold S` keeps the server S seconds more after printing its pid (to inspect it).
 * With HEAP_PROBE_LIVE=FILE / HEAP_PROBE_MODULES=FILE set, heap-probe writes those files too.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createAuthzClient } from '../devstack/grpc-client.ts';
import { ROOT } from '../devstack/tools.ts';
import { smapsByMapping } from './procstat.ts';
import { startLlmAuthz, startOtlpSink } from './servers.ts';
import { BENCH_ENV, benchCheckRequest, prepareBenchFiles, withoutWarmUp } from './setup.ts';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      settle: { type: 'string', default: '2' },
      'no-warm-up': { type: 'boolean', default: false },
      hold: { type: 'string', default: '0' },
      'node-option': { type: 'string', multiple: true, default: [] },
    },
  });
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'llm-authz-attr-'));
  const sink = await startOtlpSink(workDir);
  try {
    const files = await prepareBenchFiles(workDir, sink.port);
    const config = values['no-warm-up'] ? withoutWarmUp(files.config) : files.config;
    const nodeArgs = ['--import', path.join(ROOT, 'bench/heap-probe.ts'), ...(values['node-option'] ?? [])];
    const server = await startLlmAuthz(workDir, config, BENCH_ENV, nodeArgs);
    try {
      const client = createAuthzClient(`127.0.0.1:${server.port}`);
      await client.check(benchCheckRequest(2048, files.jwt));
      client.close();
      await new Promise((r) => setTimeout(r, Number(values.settle) * 1000));
      const rows = [...smapsByMapping(server.pid)].sort((a, b) => b[1].rss - a[1].rss);
      let total = 0;
      for (const [name, v] of rows) {
        total += v.rss;
        if (v.rss >= 256) process.stdout.write(`${(v.rss / 1024).toFixed(1).padStart(7)} MiB rss ${(v.anon / 1024).toFixed(1).padStart(6)} anon  x${v.count}  ${name}\n`);
      }
      process.stdout.write(`${(total / 1024).toFixed(1).padStart(7)} MiB total\n`);
      if (Number(values.hold) > 0) {
        process.stdout.write(`pid ${server.pid}: held for ${values.hold} s\n`);
        await new Promise((r) => setTimeout(r, Number(values.hold) * 1000));
      }
      process.kill(server.pid, 'SIGUSR2');
      await new Promise((r) => setTimeout(r, 1500));
      const log = readFileSync(path.join(workDir, 'llm-authz.log'), 'utf8');
      for (const l of log.split('\n')) if (l.includes('heapProbe')) process.stdout.write(`${l.slice(l.indexOf('{'))}\n`);
    } finally {
      await server.stop();
    }
  } finally {
    await sink.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  main().catch((err: unknown) => {
    process.stderr.write(`idle-attribute failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
