import { describe, expect, it } from 'vitest';
import { overlapMs, perRequest, schedTimelines } from '../../bench/sched-trace.ts';

// tracefs lines as the kernel prints them (trace_clock mono: seconds).
const sw = (t: string, prev: [string, number, string], next: [string, number]): string =>
  `          <idle>-0       [001] d..2. ${t}: sched_switch: prev_comm=${prev[0]} prev_pid=${prev[1]} prev_prio=120 prev_state=${prev[2]} ==> next_comm=${next[0]} next_pid=${next[1]} next_prio=120`;
/** Intervals rounded to the microsecond (the seconds-to-ms product is not exact in binary). */
const us = (xs: readonly (readonly [number, number])[] | undefined): number[][] | undefined => xs?.map(([a, b]) => [Math.round(a * 1000) / 1000, Math.round(b * 1000) / 1000]);
const wake = (t: string, comm: string, pid: number): string => `          vegeta-900     [000] d..3. ${t}: sched_wakeup: comm=${comm} pid=${pid} prio=120 target_cpu=001`;

describe('schedTimelines', () => {
  const groups = new Map([
    [10, 'llm-authz:main'],
    [11, 'llm-authz/V8Worker'],
  ]);
  const groupOf = (tid: number): string | undefined => groups.get(tid);

  it('counts a woken thread as waiting until it is switched in, then on a CPU until it is switched out', () => {
    const trace = [wake('100.000100', 'node', 10), sw('100.000400', ['swapper/1', 0, 'R'], ['node', 10]), sw('100.001400', ['node', 10, 'S'], ['swapper/1', 0])].join('\n');
    const t = schedTimelines(trace, 0, groupOf);
    const [w] = t.waiting.get('llm-authz:main') ?? [];
    const [c] = t.onCpu.get('llm-authz:main') ?? [];
    expect(w?.[0]).toBeCloseTo(100_000.1, 6);
    expect(w?.[1]).toBeCloseTo(100_000.4, 6);
    expect(c?.[0]).toBeCloseTo(100_000.4, 6);
    expect(c?.[1]).toBeCloseTo(100_001.4, 6);
  });

  it('counts a preempted thread (prev_state R) as waiting, and a sleeping one (S) as not', () => {
    const trace = [
      sw('1.000', ['swapper/0', 0, 'R'], ['node', 10]),
      sw('1.002', ['node', 10, 'R+'], ['V8Worker', 11]),
      sw('1.005', ['V8Worker', 11, 'S'], ['node', 10]),
      sw('1.006', ['node', 10, 'S'], ['swapper/0', 0]),
    ].join('\n');
    const t = schedTimelines(trace, 0, groupOf);
    expect(us(t.waiting.get('llm-authz:main'))).toEqual([[1002, 1005]]);
    expect(t.waiting.get('llm-authz/V8Worker')).toBeUndefined();
    expect(us(t.onCpu.get('llm-authz/V8Worker'))).toEqual([[1002, 1005]]);
    expect(us(t.onCpu.get('llm-authz:main'))).toEqual([
      [1000, 1002],
      [1005, 1006],
    ]);
  });

  it('names an unknown thread by its comm without trailing digits, shifts by the clock offset, and ignores the idle task', () => {
    const trace = [sw('2.000', ['swapper/0', 0, 'R'], ['kworker/0:1', 42]), sw('2.001', ['kworker/0:1', 42, 'I'], ['swapper/0', 0])].join('\n');
    const t = schedTimelines(trace, 500, groupOf);
    expect([...t.onCpu.keys()]).toEqual(['kworker/0:']);
    expect(us(t.onCpu.get('kworker/0:'))).toEqual([[2500, 2501]]);
    expect(t.waiting.size).toBe(0);
  });

  it('splits requests by what each group did while they were out', () => {
    const trace = [sw('10.000', ['swapper/0', 0, 'R'], ['node', 10]), sw('10.004', ['node', 10, 'S'], ['swapper/0', 0])].join('\n');
    const t = schedTimelines(trace, 0, groupOf);
    const by = perRequest(
      [
        { sentMs: 10_002, latencyMs: 4, ok: true },
        { sentMs: 10_010, latencyMs: 1, ok: true },
      ],
      t,
    );
    // 2 ms of the first request, none of the second: 1 ms per request.
    const m = by.get('llm-authz:main');
    expect(m?.onCpu).toBeCloseTo(1, 9);
    expect(m?.waiting).toBe(0);
  });
});

describe('overlapMs', () => {
  it('adds the parts of the intervals inside the window and nothing outside it', () => {
    expect(
      overlapMs(10, 20, [
        [0, 5],
        [8, 12],
        [15, 16],
        [19, 30],
      ]),
    ).toBe(4);
    expect(overlapMs(10, 20, [[20, 30]])).toBe(0);
  });
});
