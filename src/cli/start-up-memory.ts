/**
 * Start-up leaves V8's young generation grown: loading the modules, the config, the Envoy protos
 * and the policies, and the warm-up, allocate fast enough that V8 grows its semi-spaces to 16 MiB
 * each, and nothing shrinks them while the process idles (V8's own memory reducer did not within
 * 12 s). One garbage collection that reduces memory, once before SERVING, gives that back: with
 * the benchmark's config, idle RSS 131 -> 99 MiB (young generation 31 -> 0.3 MiB committed, old
 * generation compacted 28 -> 24 MiB) for about 60 ms more before SERVING (bench/idle-rss.ts).
 * Under load V8 grows the young generation again as it sees fit.
 */
import v8 from 'node:v8';
import vm from 'node:vm';

const FROZEN = /(^|\s)--freeze-flags-after-init(\s|=|$)/;

type GcFunction = (options?: { type?: 'major' | 'minor'; execution?: 'sync' | 'async'; flavor?: 'regular' | 'last-resort' }) => void;

/**
 * V8's `gc` function without starting Node with --expose-gc: the flag is on only while a new
 * context is made (the function is a property of a context's global), then back as it was, so
 * the process's flags (and the code caches checked against them) are unchanged.
 */
function gcFunction(): GcFunction | undefined {
  const own = (globalThis as { gc?: unknown }).gc;
  if (typeof own === 'function') return own as GcFunction;
  // With V8's flags frozen, setting one is a fatal error (Node leaves them unfrozen unless told).
  if (FROZEN.test([...process.execArgv, process.env['NODE_OPTIONS'] ?? ''].join(' ').replaceAll('_', '-'))) return undefined;
  v8.setFlagsFromString('--expose-gc');
  try {
    const gc: unknown = vm.runInNewContext('gc');
    return typeof gc === 'function' ? (gc as GcFunction) : undefined;
  } finally {
    v8.setFlagsFromString('--no-expose-gc');
  }
}

export interface MemoryRelease {
  readonly durationMs: number;
  /** V8's heap committed before and after, in MiB. */
  readonly heapMiBBefore: number;
  readonly heapMiBAfter: number;
}

const MiB = 1048576;

/**
 * A full, memory-reducing garbage collection ("last resort": the whole heap, compacted, the
 * young generation shrunk); synchronous. Undefined when V8 offers no gc function (its flags
 * frozen by --freeze-flags-after-init).
 */
export function releaseStartUpMemory(): MemoryRelease | undefined {
  const gc = gcFunction();
  if (gc === undefined) return undefined;
  const before = v8.getHeapStatistics().total_physical_size;
  const t0 = performance.now();
  gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  return {
    durationMs: performance.now() - t0,
    heapMiBBefore: Math.round((before / MiB) * 10) / 10,
    heapMiBAfter: Math.round((v8.getHeapStatistics().total_physical_size / MiB) * 10) / 10,
  };
}
