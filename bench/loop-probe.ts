/**
 * Preloaded into the llm-authz under measurement by bench/tail.ts (`--import bench/loop-probe.ts`);
 * not part of llm-authz. SIGUSR2 toggles a window over which it records the event loop's delay
 * (perf_hooks.monitorEventLoopDelay, 1 ms resolution) and every GC pause (a PerformanceObserver
 * on `gc` entries, by kind). At the end of a window one JSON line goes to stdout:
 *   {"loopProbe": {delay: {p50, p99, max} ms, gc: {scavenges, markCompacts, totalMs, maxMs, over5ms, over10ms}}}
 */
import { constants, monitorEventLoopDelay, PerformanceObserver, type EventLoopUtilization, performance } from 'node:perf_hooks';

let histogram: ReturnType<typeof monitorEventLoopDelay> | undefined;
let elu: EventLoopUtilization | undefined;
let pauses: { kind: number; ms: number }[] = [];
const observer = new PerformanceObserver((list) => {
  if (histogram === undefined) return;
  for (const e of list.getEntries()) pauses.push({ kind: (e as { detail?: { kind?: number } }).detail?.kind ?? 0, ms: e.duration });
});

process.on('SIGUSR2', () => {
  if (histogram === undefined) {
    pauses = [];
    histogram = monitorEventLoopDelay({ resolution: 1 });
    histogram.enable();
    elu = performance.eventLoopUtilization();
    observer.observe({ entryTypes: ['gc'] });
    process.stdout.write(`${JSON.stringify({ loopProbe: 'started' })}\n`);
    return;
  }
  histogram.disable();
  observer.disconnect();
  const ms = (ns: number): number => Math.round(ns / 1e4) / 100;
  const minor = pauses.filter((p) => p.kind === constants.NODE_PERFORMANCE_GC_MINOR);
  const major = pauses.filter((p) => p.kind === constants.NODE_PERFORMANCE_GC_MAJOR);
  const line = {
    loopProbe: {
      delay: { p50: ms(histogram.percentile(50)), p99: ms(histogram.percentile(99)), max: ms(histogram.max) },
      utilization: Math.round(performance.eventLoopUtilization(elu).utilization * 1000) / 1000,
      gc: {
        scavenges: minor.length,
        markCompacts: major.length,
        totalMs: Math.round(pauses.reduce((a, p) => a + p.ms, 0) * 100) / 100,
        maxMs: Math.round(Math.max(0, ...pauses.map((p) => p.ms)) * 100) / 100,
        over5ms: pauses.filter((p) => p.ms > 5).length,
        over10ms: pauses.filter((p) => p.ms > 10).length,
      },
    },
  };
  histogram = undefined;
  process.stdout.write(`${JSON.stringify(line)}\n`);
});
