/**
 * Preloaded into a server by bench/proto-h2/compare.ts's idle phase (`--import`); not part of
 * llm-authz. On SIGUSR2 it prints where the process's memory is, in MiB, without a GC first:
 *   {"memProbe": {rss, heapTotal, heapUsed, external, arrayBuffers, spaces: {new_space, old_space, code_space, ...}}}
 * (spaces: V8's committed size per heap space).
 */
import v8 from 'node:v8';

const mib = (n: number): number => Math.round((n / 1048576) * 10) / 10;
process.on('SIGUSR2', () => {
  const m = process.memoryUsage();
  const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, mib(s.physical_space_size)]));
  const line = { memProbe: { rss: mib(m.rss), heapTotal: mib(m.heapTotal), heapUsed: mib(m.heapUsed), external: mib(m.external), arrayBuffers: mib(m.arrayBuffers), spaces } };
  process.stdout.write(`${JSON.stringify(line)}\n`);
});
