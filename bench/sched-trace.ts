/**
 * The kernel's scheduling of threads, from tracefs `sched_switch` and `sched_wakeup` events: their
 * recording in a tracefs instance of its own, and their reading as intervals on the wall clock by
 * thread group (bench/tail-requests.ts, bench/tail-envoy.ts).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { RequestTiming } from './vegeta.ts';

const TRACEFS = '/sys/kernel/tracing';

/**
 * Records `sched_switch` (only the events `switchFilter` keeps, when given) and, with `wakeups`,
 * `sched_wakeup` in a tracefs instance of its own while `body` runs, on the monotonic clock, and
 * copies the trace to `traceFile` (by `cat`: the caller decides when to read it, a machine-wide
 * trace being tens of MB). Throws when the buffer of `bufferKb` per CPU overflowed. Needs root.
 */
export async function withSchedTrace<T>(o: { traceFile: string; bufferKb: number; wakeups: boolean; switchFilter?: string }, body: () => Promise<T>): Promise<T> {
  if (!existsSync(path.join(TRACEFS, 'instances'))) throw new Error(`tracefs is not mounted at ${TRACEFS} (as root: mount -t tracefs nodev ${TRACEFS})`);
  const dir = path.join(TRACEFS, 'instances', `llm-authz-sched-${process.pid}`);
  mkdirSync(dir);
  try {
    const set = (file: string, value: string): void => writeFileSync(path.join(dir, file), value);
    const events = o.wakeups ? ['sched_switch', 'sched_wakeup'] : ['sched_switch'];
    set('trace_clock', 'mono');
    set('buffer_size_kb', String(o.bufferKb));
    if (o.switchFilter !== undefined) set('events/sched/sched_switch/filter', o.switchFilter);
    for (const e of events) set(`events/sched/${e}/enable`, '1');
    set('tracing_on', '1');
    const result = await body();
    set('tracing_on', '0');
    execFileSync('sh', ['-c', 'cat "$0" > "$1"', path.join(dir, 'trace'), o.traceFile]);
    const lost = /entries-in-buffer\/entries-written: (\d+)\/(\d+)/.exec(execFileSync('head', ['-c', '2000', o.traceFile], { encoding: 'utf8' }));
    if (lost && lost[1] !== lost[2]) throw new Error(`the trace buffer overflowed (${lost[1]} of ${lost[2]} events kept): shorten --seconds`);
    for (const e of events) set(`events/sched/${e}/enable`, '0');
    return result;
  } finally {
    rmdirSync(dir);
  }
}

/** Wall clock minus the monotonic clock (CLOCK_MONOTONIC: tracefs `mono`, V8's CPU profile), ms. */
export const wallMinusMonoMs = (): number => performance.timeOrigin + performance.now() - Number(process.hrtime.bigint()) / 1e6;

export type Interval = readonly [number, number];

/** Every thread's time on a CPU and runnable waiting for one, by thread group (ms on the wall clock). */
export interface Timelines {
  readonly onCpu: Map<string, Interval[]>;
  readonly waiting: Map<string, Interval[]>;
}

/**
 * tracefs `sched_switch` and `sched_wakeup` lines (monotonic seconds) as wall-clock intervals per
 * group. A thread waits from its wakeup, or from being switched out still runnable (`R`,
 * preempted), until it is switched in; it runs from being switched in until it is switched out.
 * `groupOf` names a thread's group (undefined: its comm without trailing digits).
 */
export function schedTimelines(trace: string, wallMinusMonoMs: number, groupOf: (tid: number) => string | undefined): Timelines {
  const onCpu = new Map<string, Interval[]>();
  const waiting = new Map<string, Interval[]>();
  const runningSince = new Map<number, number>();
  const waitingSince = new Map<number, number>();
  const add = (into: Map<string, Interval[]>, tid: number, comm: string, iv: Interval): void => {
    const g = groupOf(tid) ?? comm.replace(/\d+$/, '');
    let list = into.get(g);
    if (list === undefined) into.set(g, (list = []));
    list.push(iv);
  };
  const sw = /\s(\d+\.\d+): sched_switch: prev_comm=(.*) prev_pid=(\d+) prev_prio=\d+ prev_state=(\S+) ==> next_comm=(.*) next_pid=(\d+) /;
  const wk = /\s(\d+\.\d+): sched_wakeup: comm=(.*) pid=(\d+) /;
  for (const line of trace.split('\n')) {
    const s = sw.exec(line);
    if (s) {
      const t = Number(s[1]) * 1000 + wallMinusMonoMs;
      const prev = Number(s[3]);
      const next = Number(s[6]);
      if (prev !== 0) {
        const since = runningSince.get(prev);
        if (since !== undefined) add(onCpu, prev, s[2] ?? '', [since, t]);
        runningSince.delete(prev);
        if (s[4]?.startsWith('R')) waitingSince.set(prev, t);
      }
      if (next !== 0) {
        runningSince.set(next, t);
        const since = waitingSince.get(next);
        if (since !== undefined) add(waiting, next, s[5] ?? '', [since, t]);
        waitingSince.delete(next);
      }
      continue;
    }
    const w = wk.exec(line);
    if (w) {
      const tid = Number(w[3]);
      if (!runningSince.has(tid) && !waitingSince.has(tid)) waitingSince.set(tid, Number(w[1]) * 1000 + wallMinusMonoMs);
    }
  }
  return { onCpu, waiting };
}

export function overlapMs(a0: number, a1: number, intervals: readonly Interval[]): number {
  let sum = 0;
  for (const [b0, b1] of intervals) if (b1 > a0 && b0 < a1) sum += Math.min(a1, b1) - Math.max(a0, b0);
  return sum;
}

/** Per group: the mean ms per request on a CPU and waiting for one while each of `requests` was out. */
export function perRequest(requests: readonly RequestTiming[], t: Timelines): Map<string, { onCpu: number; waiting: number }> {
  const out = new Map<string, { onCpu: number; waiting: number }>();
  for (const g of new Set([...t.onCpu.keys(), ...t.waiting.keys()])) {
    let on = 0;
    let wait = 0;
    for (const r of requests) {
      on += overlapMs(r.sentMs, r.sentMs + r.latencyMs, t.onCpu.get(g) ?? []);
      wait += overlapMs(r.sentMs, r.sentMs + r.latencyMs, t.waiting.get(g) ?? []);
    }
    out.set(g, { onCpu: on / Math.max(1, requests.length), waiting: wait / Math.max(1, requests.length) });
  }
  return out;
}
