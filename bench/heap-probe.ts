/**
 * Preloaded into the llm-authz under measurement by bench/cgroup-load.ts (`--import
 * bench/heap-probe.ts`); not part of llm-authz. Prints one JSON line to stdout at start, with the
 * heap limit V8 chose (from the memory cgroup's limit and the flags) and the limit Node found, and
 * one on each SIGUSR2 with the heap by space and process.memoryUsage():
 *   {"heapProbe": {heapLimitMiB, constrainedMiB, usedMiB, committedMiB, spaces, rssMiB, externalMiB, ...}}
 * With HEAP_PROBE_LIVE=FILE, V8's sampling heap profiler runs from start (every 1 KiB allocated)
 * and the first SIGUSR2 writes its profile to FILE: the objects still alive then, by allocation
 * site (module and function), what holds the idle heap. With HEAP_PROBE_MODULES=FILE, the source
 * bytes of every module loaded (ESM and CommonJS, through module.registerHooks) by package go to
 * FILE at the first SIGUSR2: V8 keeps each module's source for lazy compilation.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { registerHooks } from 'node:module';
import v8 from 'node:v8';

const MiB = 1048576;
const round = (n: number): number => Math.round((n / MiB) * 10) / 10;

function report(when: string): void {
  const h = v8.getHeapStatistics();
  const m = process.memoryUsage();
  const spaces: Record<string, { committed: number; used: number }> = {};
  for (const s of v8.getHeapSpaceStatistics()) {
    if (s.space_size > 0) spaces[s.space_name] = { committed: round(s.physical_space_size), used: round(s.space_used_size) };
  }
  const line = {
    heapProbe: {
      when,
      heapLimitMiB: round(h.heap_size_limit),
      constrainedMiB: round(process.constrainedMemory()),
      usedMiB: round(h.used_heap_size),
      committedMiB: round(h.total_physical_size),
      mallocedMiB: round(h.malloced_memory),
      peakMallocedMiB: round(h.peak_malloced_memory),
      externalMiB: round(m.external),
      arrayBuffersMiB: round(m.arrayBuffers),
      rssMiB: round(m.rss),
      spaces,
    },
  };
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

const modulesFile = process.env['HEAP_PROBE_MODULES'];
const sourceBytes = new Map<string, number>();
if (modulesFile !== undefined) {
  registerHooks({
    load(url, context, nextLoad) {
      const r = nextLoad(url, context);
      const src = r.source;
      const pkg =
        /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1] ?? (url.startsWith('node:') ? 'node:' : url.replace(/^.*\/(dist|src|bench)\//, '$1/').replace(/\/[^/]*$/, ''));
      const n = src === undefined || src === null ? 0 : typeof src === 'string' ? Buffer.byteLength(src) : src.byteLength;
      sourceBytes.set(pkg, (sourceBytes.get(pkg) ?? 0) + n);
      return r;
    },
  });
}

const liveFile = process.env['HEAP_PROBE_LIVE'];
const session = liveFile === undefined ? undefined : new Session();
if (session !== undefined) {
  session.connect();
  session.post('HeapProfiler.startSampling', { samplingInterval: 1024 });
}

report('start');
process.on('SIGUSR2', () => {
  report('signal');
  if (modulesFile !== undefined) writeFileSync(modulesFile, JSON.stringify(Object.fromEntries([...sourceBytes].sort((a, b) => b[1] - a[1]))));
  if (session !== undefined && liveFile !== undefined) {
    session.post('HeapProfiler.getSamplingProfile', (err, r) => {
      if (err === null) writeFileSync(liveFile, JSON.stringify(r.profile));
    });
  }
});
