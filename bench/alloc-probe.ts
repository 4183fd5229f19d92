/**
 * Preloaded into the llm-authz under measurement by bench/alloc.ts (`--expose-gc --import
 * bench/alloc-probe.ts`); not part of llm-authz. SIGUSR2 toggles a measuring window: at each edge
 * a full GC runs, so the window starts and ends on a heap that holds live objects only, and
 * v8.GCProfiler records every GC in between with the heap before and after it. At the end of a
 * window one JSON line goes to stdout:
 *   {"allocProbe": {allocatedBytes, promotedBytes, scavenges, markCompacts, gcPauseMs, ...}}
 * Bytes allocated = the V8 heap's growth between GCs, summed (what --trace-gc's `allocated=`
 * counts); promoted = the old generation's growth across scavenges (what survived the young one).
 * Buffers' backing stores live outside the V8 heap and are not counted (their JS objects are).
 * With ALLOC_PROBE_PROFILE=FILE, V8's sampling heap profiler runs over the window too, counting
 * objects that died young, and its profile (allocation sites with bytes) is written to FILE.N
 * (N = 0 for the first window). With ALLOC_PROBE_SURVIVORS=1 as well, it counts only objects that
 * survived the young generation (promoted, or alive at the end): what the old generation pays for.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import v8 from 'node:v8';

type HeapSide = { heapStatistics: { usedHeapSize: number }; heapSpaceStatistics: { spaceName: string; spaceUsedSize: number }[] };
interface GcEntry {
  gcType: string;
  cost: number;
  beforeGC: HeapSide;
  afterGC: HeapSide;
}

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('alloc-probe needs --expose-gc');

const oldGen = (s: HeapSide): number =>
  s.heapSpaceStatistics.filter((x) => x.spaceName === 'old_space' || x.spaceName === 'large_object_space').reduce((a, x) => a + x.spaceUsedSize, 0);

let profiler: v8.GCProfiler | undefined;
let usedAtStart = 0;
let startedAt = 0;
let windows = 0;
const profileFile = process.env['ALLOC_PROBE_PROFILE'];
const session = profileFile === undefined ? undefined : new Session();
const survivorsOnly = process.env['ALLOC_PROBE_SURVIVORS'] === '1';
session?.connect();

process.on('SIGUSR2', () => {
  if (profiler === undefined) {
    gc();
    usedAtStart = v8.getHeapStatistics().used_heap_size;
    startedAt = performance.now();
    profiler = new v8.GCProfiler();
    profiler.start();
    session?.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: !survivorsOnly });
    process.stdout.write(`${JSON.stringify({ allocProbe: 'started' })}\n`);
    return;
  }
  if (session !== undefined && profileFile !== undefined) {
    session.post('HeapProfiler.stopSampling', (err, r) => {
      if (err === null) writeFileSync(`${profileFile}.${windows}`, JSON.stringify(r.profile));
    });
  }
  gc();
  const result = profiler.stop() as unknown as { statistics: GcEntry[] } | undefined;
  profiler = undefined;
  windows++;
  const entries = result?.statistics ?? [];
  let allocated = 0;
  let promoted = 0;
  let previous = usedAtStart;
  let scavenges = 0;
  let markCompacts = 0;
  let pauseUs = 0;
  let maxPauseUs = 0;
  // The last entry is the window's closing full GC: its allocation counts, its pause does not.
  entries.forEach((e, i) => {
    allocated += e.beforeGC.heapStatistics.usedHeapSize - previous;
    previous = e.afterGC.heapStatistics.usedHeapSize;
    if (i === entries.length - 1) return;
    if (e.gcType === 'Scavenge' || e.gcType === 'MinorMarkSweep') {
      scavenges++;
      promoted += Math.max(0, oldGen(e.afterGC) - oldGen(e.beforeGC));
    } else markCompacts++;
    pauseUs += e.cost;
    maxPauseUs = Math.max(maxPauseUs, e.cost);
  });
  process.stdout.write(
    `${JSON.stringify({
      allocProbe: {
        allocatedBytes: allocated,
        promotedBytes: promoted,
        scavenges,
        markCompacts,
        gcPauseMs: pauseUs / 1000,
        maxGcPauseMs: maxPauseUs / 1000,
        liveBytesAfter: previous,
        liveBytesBefore: usedAtStart,
        seconds: (performance.now() - startedAt) / 1000,
      },
    })}\n`,
  );
});
