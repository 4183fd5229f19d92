/**
 * The idle warm-up (src/server/keep-warm.ts, config `server.keep_warm_ms`): the warm-up's steps run
 * again in each period without a Check, never in a period with one, never two at a time, and not
 * after stop; a failing step is counted every time and logged when it starts failing. The real
 * process (nothing written to the decision log, exported or counted as a decision):
 * test/e2e/warm-up.test.ts.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { keepWarmWhileIdle } from '../../src/server/keep-warm.ts';
import type { WarmUpSteps } from '../../src/server/warm-up.ts';
import { startTelemetry, type Telemetry } from '../../src/telemetry/otel.ts';
import { telemetrySchema } from '../../src/telemetry/schema.ts';
import { metric, TestReader } from '../helpers/otel-metrics.ts';
import { capturingLogger } from '../helpers/log.ts';

const reader = new TestReader();
let tel: Telemetry;

beforeAll(async () => {
  tel = await startTelemetry(telemetrySchema.parse({}), { version: 't', env: {}, metricReader: reader });
});
afterAll(async () => {
  await tel.shutdown();
});

/** Steps that count their runs; `check` may be made to fail or to hang until released. */
function countingSteps(): { steps: WarmUpSteps; checks: () => number; calls: () => number; fail: (f: boolean) => void; hold: () => () => void } {
  let checks = 0;
  let calls = 0;
  let failing = false;
  let held: Promise<void> | undefined;
  return {
    steps: {
      check: async () => {
        checks++;
        if (held !== undefined) await held;
        return { requests: 3, failures: failing ? [{ step: 'check_pipeline', error: new Error('broken pipeline') }] : [] };
      },
      call: async () => {
        calls++;
        if (failing) throw new Error('no listener');
        return 'SERVING';
      },
    },
    checks: () => checks,
    calls: () => calls,
    fail: (f) => {
      failing = f;
    },
    hold: () => {
      let release: () => void = () => undefined;
      held = new Promise((r) => {
        release = r;
      });
      return () => {
        held = undefined;
        release();
      };
    },
  };
}

describe('keep warm while idle', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('runs both steps once per idle period, not before the first period ends, and not after stop', async () => {
    const s = countingSteps();
    const { log, lines } = capturingLogger('debug');
    const kw = keepWarmWhileIdle({ intervalMs: 1000, served: () => 0, steps: s.steps, log });
    await vi.advanceTimersByTimeAsync(999);
    expect(s.checks()).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect([s.checks(), s.calls(), kw.runs]).toEqual([1, 1, 1]);
    await vi.advanceTimersByTimeAsync(3000);
    expect([s.checks(), s.calls(), kw.runs]).toEqual([4, 4, 4]);
    const done = lines().filter((l) => l['msg'] === 'idle warm-up done');
    expect(done).toHaveLength(4);
    expect(done[0]).toMatchObject({ requests: 3, failed: [] });
    kw.stop();
    await vi.advanceTimersByTimeAsync(5000);
    expect(s.checks()).toBe(4);
  });

  it('skips every period in which the server took a Check', async () => {
    const s = countingSteps();
    let served = 0;
    const kw = keepWarmWhileIdle({ intervalMs: 1000, served: () => served, steps: s.steps, log: capturingLogger('debug').log });
    // Traffic in each of three periods: no run.
    for (let i = 0; i < 3; i++) {
      served += 5;
      await vi.advanceTimersByTimeAsync(1000);
    }
    expect(s.checks()).toBe(0);
    // The first period without one runs it.
    await vi.advanceTimersByTimeAsync(1000);
    expect(s.checks()).toBe(1);
    served++;
    await vi.advanceTimersByTimeAsync(1000);
    expect(s.checks()).toBe(1);
    await vi.advanceTimersByTimeAsync(1000);
    expect(s.checks()).toBe(2);
    kw.stop();
  });

  it('never runs two at a time: the next period starts when a slow run ends; Checks during the run count', async () => {
    const s = countingSteps();
    let served = 0;
    const release = s.hold();
    const kw = keepWarmWhileIdle({ intervalMs: 1000, served: () => served, steps: s.steps, log: capturingLogger('debug').log });
    await vi.advanceTimersByTimeAsync(1000);
    expect(s.checks()).toBe(1);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(s.checks()).toBe(1);
    served++; // a Check came in while it ran
    release();
    await vi.advanceTimersByTimeAsync(0);
    await vi.advanceTimersByTimeAsync(1000);
    expect(s.checks()).toBe(1);
    await vi.advanceTimersByTimeAsync(1000);
    expect(s.checks()).toBe(2);
    kw.stop();
  });

  it('counts a failing step every time and logs it when it starts failing, again after it recovered', async () => {
    const count = async (step: string): Promise<number> => metric((await reader.collect()).resourceMetrics, 'llm_authz.warm_up.failures', { step }) ?? 0;
    const beforePipeline = await count('check_pipeline');
    const beforeCall = await count('grpc_call');
    const s = countingSteps();
    const { log, lines } = capturingLogger('debug');
    const kw = keepWarmWhileIdle({ intervalMs: 1000, served: () => 0, steps: s.steps, log });
    const warnings = (): Record<string, unknown>[] => lines().filter((l) => l['msg'] === 'idle warm-up failed in part; serving as before');
    s.fail(true);
    await vi.advanceTimersByTimeAsync(3000);
    expect(s.checks()).toBe(3);
    expect(await count('check_pipeline')).toBe(beforePipeline + 3);
    expect(await count('grpc_call')).toBe(beforeCall + 3);
    expect(warnings()).toHaveLength(1);
    expect(warnings()[0]).toMatchObject({ failed: ['check_pipeline', 'grpc_call'] });
    const errors = (warnings()[0]?.['errors'] ?? []) as { step: string }[];
    expect(errors.map((e) => e.step)).toEqual(['check_pipeline', 'grpc_call']);
    s.fail(false);
    await vi.advanceTimersByTimeAsync(1000);
    s.fail(true);
    await vi.advanceTimersByTimeAsync(1000);
    expect(warnings()).toHaveLength(2);
    kw.stop();
  });

  it('a step that throws is a counted failure, and the runs go on', async () => {
    const { log, lines } = capturingLogger('debug');
    let n = 0;
    const kw = keepWarmWhileIdle({
      intervalMs: 1000,
      served: () => 0,
      steps: {
        check: () => {
          n++;
          return Promise.reject(new Error('thrown'));
        },
      },
      log,
    });
    await vi.advanceTimersByTimeAsync(2000);
    expect(n).toBe(2);
    expect(
      lines()
        .filter((l) => l['msg'] === 'idle warm-up done')
        .map((l) => l['failed']),
    ).toEqual([['check_pipeline'], ['check_pipeline']]);
    kw.stop();
  });
});
