/**
 * Keeping the Check path warm while no Check comes (config `server.keep_warm_ms`, off by
 * default). After two minutes without traffic the first Check cost several times a warm one
 * (bench/cold.ts): V8 flushes the bytecode of functions not run for a while, and this VM's kernel
 * pages out code not touched for a minute. With it on, one request per run after 120 s idle
 * showed no consistent gain (README "Sizing"), hence off by default. While idle, this runs the
 * start-up warm-up's steps again (the Check pipeline on synthetic requests with sinks of their
 * own, and one gRPC health call to the own listener: src/server/warm-up.ts) every `intervalMs`; a period in which the server took a Check
 * skips it. Like the start-up warm-up, nothing it does is logged as a decision, exported as a span,
 * counted in the decision metrics or charged to a quota. A failing step is counted
 * (llm_authz_warm_up_failures_total{step}) and logged when it starts failing, not every period;
 * the server is not affected. Runs never overlap, and the timer does not keep the process alive.
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from '../telemetry/log.ts';
import { safeError } from '../telemetry/log.ts';
import { countWarmUpFailure, type WarmUpStep } from '../telemetry/metrics.ts';
import type { WarmUpSteps } from './warm-up.ts';

export interface KeepWarm {
  /** Idle runs made so far. */
  readonly runs: number;
  stop(): void;
}

export function keepWarmWhileIdle(o: {
  readonly intervalMs: number;
  /** Checks the server has taken so far (any change since the last period means it was not idle). */
  readonly served: () => number;
  readonly steps: WarmUpSteps;
  readonly log: Logger;
}): KeepWarm {
  let runs = 0;
  let seen = o.served();
  let stopped = false;
  let failing = new Set<WarmUpStep>();
  let timer: NodeJS.Timeout | undefined;

  const run = async (): Promise<void> => {
    const started = performance.now();
    const failures: { step: WarmUpStep; error: unknown }[] = [];
    let requests = 0;
    try {
      const r = await o.steps.check();
      requests = r.requests;
      failures.push(...r.failures);
    } catch (err) {
      failures.push({ step: 'check_pipeline', error: err });
    }
    if (o.steps.call !== undefined) {
      try {
        await o.steps.call();
      } catch (err) {
        failures.push({ step: 'grpc_call', error: err });
      }
    }
    const now = new Set<WarmUpStep>();
    for (const f of failures) {
      countWarmUpFailure(f.step);
      now.add(f.step);
    }
    const newly = failures.filter((f) => !failing.has(f.step));
    if (newly.length > 0) {
      o.log.warn({ failed: newly.map((f) => f.step), errors: newly.map((f) => ({ step: f.step, ...safeError(f.error) })) }, 'idle warm-up failed in part; serving as before');
    }
    failing = now;
    o.log.debug({ duration_ms: Math.round((performance.now() - started) * 10) / 10, requests, failed: [...now] }, 'idle warm-up done');
  };

  const tick = (): void => {
    timer = undefined;
    if (stopped) return;
    const served = o.served();
    if (served !== seen) {
      seen = served;
      schedule();
      return;
    }
    runs++;
    run()
      .catch(() => undefined)
      // `seen` stays as it was: a Check that came in while it ran makes the next period not idle.
      .finally(schedule);
  };

  const schedule = (): void => {
    if (stopped) return;
    timer = setTimeout(tick, o.intervalMs);
    timer.unref();
  };
  schedule();

  return {
    get runs() {
      return runs;
    },
    stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    },
  };
}
