/**
 * The start-up warm-up, between the listener's bind and SERVING (config `server.warm_up`): the
 * Check pipeline on synthetic requests (src/pipeline/warm-up.ts), then one gRPC health call to the
 * server's own listener (warm-up-call.ts). Health reports SERVING only after it, and always after
 * it: a step that fails or throws is logged once (one line for all of them), counted
 * (llm_authz_warm_up_failures_total{step}), and the server serves all the same. The steps run
 * for at most WARM_UP_BUDGET_MS; past it the server serves and the rest goes on unwaited.
 */
import { performance } from 'node:perf_hooks';
import type { Runtime } from '../pipeline/runtime.ts';
import { warmUpCheck, type CheckWarmUpResult } from '../pipeline/warm-up.ts';
import { countWarmUpFailure, type WarmUpStep } from '../telemetry/metrics.ts';
import { safeError, type Logger } from '../telemetry/log.ts';
import type { AuthzServer } from './server.ts';
import { callTarget, healthCallToSelf } from './warm-up-call.ts';

/** Longest the warm-up may hold SERVING back (it takes 30-70 ms with the benchmark's config). */
export const WARM_UP_BUDGET_MS = 3000;

/** Longest the health call to the own listener may take (on loopback it takes about a millisecond). */
const CALL_TIMEOUT_MS = 1000;

export interface WarmUpSteps {
  /** The Check pipeline on synthetic requests. */
  readonly check: () => Promise<CheckWarmUpResult>;
  /** The gRPC call to the own listener, resolving with the health status it answered; absent when it cannot be made. */
  readonly call?: (() => Promise<string>) | undefined;
}

export interface WarmUpReport {
  readonly durationMs: number;
  /** Synthetic requests taken through the pipeline. */
  readonly requests: number;
  /** The health status the call got (NOT_SERVING: it ran before SERVING), or why there was none. */
  readonly call: string;
  readonly failed: readonly WarmUpStep[];
}

/**
 * serve's steps: the Check pipeline over its runtime, and the health call to a plaintext listener
 * of the started server: the Check listener, or with TLS the health-only one (none without it).
 */
export function serverWarmUp(runtime: Runtime, server: AuthzServer, o: { readonly listen: string; readonly healthListen: string | undefined; readonly tls: boolean }): WarmUpSteps {
  const plain = !o.tls
    ? callTarget(o.listen, server.port)
    : server.healthPort !== undefined && o.healthListen !== undefined
      ? callTarget(o.healthListen, server.healthPort)
      : undefined;
  return { check: () => warmUpCheck(runtime), call: plain === undefined ? undefined : () => healthCallToSelf(plain, CALL_TIMEOUT_MS) };
}

/** Runs the steps, then reports SERVING through `serve`, whatever the steps did. */
export async function warmUpThenServe(steps: WarmUpSteps, serve: () => void, log: Logger, budgetMs: number = WARM_UP_BUDGET_MS): Promise<WarmUpReport> {
  const started = performance.now();
  const failures: { step: WarmUpStep; error: unknown }[] = [];
  let requests = 0;
  let call = steps.call === undefined ? 'not made' : 'not finished';
  const run = async (): Promise<void> => {
    try {
      const r = await steps.check();
      requests = r.requests;
      failures.push(...r.failures);
    } catch (err) {
      failures.push({ step: 'check_pipeline', error: err });
    }
    if (steps.call === undefined) return;
    try {
      call = await steps.call();
    } catch (err) {
      call = 'failed';
      failures.push({ step: 'grpc_call', error: err });
    }
  };
  let timer: NodeJS.Timeout | undefined;
  const budget = new Promise<'budget'>((resolve) => {
    timer = setTimeout(() => resolve('budget'), budgetMs);
  });
  try {
    if ((await Promise.race([run(), budget])) === 'budget') failures.push({ step: 'budget', error: new Error(`the warm-up took longer than ${budgetMs} ms`) });
  } finally {
    clearTimeout(timer);
    serve();
  }
  const durationMs = Math.round((performance.now() - started) * 10) / 10;
  const failed = failures.map((f) => f.step);
  for (const step of failed) countWarmUpFailure(step);
  if (failures.length > 0) {
    log.warn(
      { duration_ms: durationMs, requests, call, failed, errors: failures.map((f) => ({ step: f.step, ...safeError(f.error) })) },
      'start-up warm-up failed in part; serving anyway (the first requests may be slower)',
    );
  } else {
    log.info({ duration_ms: durationMs, requests, call }, 'start-up warm-up done');
  }
  return { durationMs, requests, call, failed };
}
