/**
 * Preloaded into the llm-authz under measurement by bench/tail-requests.ts (`--import`); not part
 * of llm-authz. SIGUSR2 starts a window, the next SIGUSR2 ends it: every GC pause in between, with
 * its wall-clock start (ms since the epoch, sub-millisecond), its length and its kind, is written
 * as one JSON line to the file in TAIL_PROBE_OUT: {"pauses": [[startMs, durationMs, kind], ...]}.
 * Not bench/loop-probe.ts: its event-loop delay histogram runs a 1 ms timer on the loop being
 * measured, which would add a wakeup every millisecond to the scheduling this tool records.
 */
import { writeFileSync } from 'node:fs';
import { PerformanceObserver, performance } from 'node:perf_hooks';

const out = process.env.TAIL_PROBE_OUT;
let recording = false;
let pauses: [number, number, number][] = [];
const observer = new PerformanceObserver((list) => {
  if (!recording) return;
  for (const e of list.getEntries()) pauses.push([performance.timeOrigin + e.startTime, e.duration, (e as { detail?: { kind?: number } }).detail?.kind ?? 0]);
});

process.on('SIGUSR2', () => {
  if (!recording) {
    recording = true;
    pauses = [];
    observer.observe({ entryTypes: ['gc'] });
    return;
  }
  recording = false;
  observer.disconnect();
  if (out) writeFileSync(out, `${JSON.stringify({ pauses })}\n`);
});
