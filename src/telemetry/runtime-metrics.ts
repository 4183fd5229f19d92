/**
 * The process's own health as metrics, for soak runs and dashboards: V8 heap in use, resident
 * memory, and the event loop's delay (a busy or blocked loop delays every Check). Names follow
 * the OpenTelemetry runtime conventions (Prometheus shows them with underscores). The loop delay
 * is measured by Node's own histogram (perf_hooks.monitorEventLoopDelay, 10 ms resolution) and
 * reported as its p50, p99 and max since the previous collection.
 */
import type { Meter } from '@opentelemetry/api';
import { monitorEventLoopDelay } from 'node:perf_hooks';

export function observeRuntime(meter: Meter): void {
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  let delay = { p50: 0, p99: 0, max: 0 };
  // One sample per collection, shared by the three delay gauges; the histogram starts afresh.
  const sample = (): void => {
    delay = { p50: loop.percentile(50) / 1e9, p99: loop.percentile(99) / 1e9, max: loop.max / 1e9 };
    loop.reset();
  };
  const heap = meter.createObservableGauge('v8js.memory.heap.used', { description: 'V8 heap in use', unit: 'By' });
  const rss = meter.createObservableGauge('process.memory.usage', { description: 'Resident set size', unit: 'By' });
  const lag = meter.createObservableGauge('nodejs.eventloop.delay', { description: 'Event-loop delay since the previous collection, by quantile (p50, p99, max)', unit: 's' });
  meter.addBatchObservableCallback(
    (r) => {
      const m = process.memoryUsage();
      r.observe(heap, m.heapUsed);
      r.observe(rss, m.rss);
      sample();
      r.observe(lag, delay.p50, { quantile: 'p50' });
      r.observe(lag, delay.p99, { quantile: 'p99' });
      r.observe(lag, delay.max, { quantile: 'max' });
    },
    [heap, rss, lag],
  );
}
