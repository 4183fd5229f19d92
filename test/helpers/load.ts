/**
 * A steady, bounded load through Envoy for the fault tests: requests at a fixed rate for a fixed
 * time (never more than rate x duration), each marked with what the good state decides for it,
 * so every response can be checked: a request the good state denies is never a 200, and every
 * provider request is accounted for by a 200.
 */
import { Agent } from 'node:http';
import { performance } from 'node:perf_hooks';
import { BATCH_KEY, CHAT_KEY } from './demo-keys.ts';
import { send, type RawRequest } from './http.ts';

export interface Shot {
  readonly request: RawRequest;
  /** What the good state decides. */
  readonly expect: 'allow' | 'deny';
}

export interface Outcome {
  readonly i: number;
  /** ms since the load started. */
  readonly at: number;
  readonly expect: 'allow' | 'deny';
  /** HTTP status; 0 when the client got no answer (connection refused or timed out). */
  readonly status: number;
  /** llm-authz's reason header, when llm-authz answered the deny. */
  readonly reason: string | undefined;
  /** The x-request-id sent (Envoy keeps it: llm-authz's decision record carries it as http.request.id). */
  readonly requestId: string;
  /** llm-authz's decision id header: present on every answer llm-authz gave (allow or deny), absent on Envoy's own. */
  readonly decisionId: string | undefined;
  readonly ms: number;
  readonly error?: string;
}

export interface Load {
  /** Outcomes so far (in completion order). */
  readonly outcomes: readonly Outcome[];
  /** Resolves when the last request has completed. */
  done(): Promise<readonly Outcome[]>;
  /** Sends no more requests. */
  stop(): void;
  /** How many requests were sent so far (request i is the i-th sent). */
  sent(): number;
}

const chat = (model: string): string => JSON.stringify({ model, messages: [{ role: 'user', content: 'say hello' }] });

/** The default mix: 9 in 10 allowed (the chat key, gpt-4o-mini), 1 in 10 outside a key's scope. */
export function quickstartShot(i: number): Shot {
  const headers: [string, string][] = [['content-type', 'application/json']];
  if (i % 10 === 9) {
    headers.push(['authorization', `Bearer ${i % 20 === 9 ? CHAT_KEY : BATCH_KEY}`]);
    return { request: { path: '/v1/chat/completions', headers, body: chat('gpt-4.1') }, expect: 'deny' };
  }
  headers.push(['authorization', `Bearer ${CHAT_KEY}`]);
  return { request: { path: '/v1/chat/completions', headers, body: chat('gpt-4o-mini') }, expect: 'allow' };
}

let loads = 0;

export function startLoad(opts: { url: string; rate: number; durationMs: number; shot?: (i: number) => Shot; timeoutMs?: number }): Load {
  const shot = opts.shot ?? quickstartShot;
  const tag = `load-${process.pid}-${++loads}`;
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const outcomes: Outcome[] = [];
  const inflight = new Set<Promise<void>>();
  const total = Math.floor((opts.rate * opts.durationMs) / 1000);
  const start = performance.now();
  let next = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;

  const fire = (i: number): void => {
    const s = shot(i);
    const requestId = `${tag}-${i}`;
    const headers = [...(s.request.headers ?? []), ['x-request-id', requestId] as const];
    const t0 = performance.now();
    const p = send(opts.url, { ...s.request, headers, agent, timeoutMs: opts.timeoutMs ?? 5000 })
      .then(
        (r) => {
          const reason = r.headers['x-llm-authz-reason'];
          const decisionId = r.headers['x-llm-authz-decision-id'];
          outcomes.push({
            i,
            at: t0 - start,
            expect: s.expect,
            status: r.status,
            reason: typeof reason === 'string' ? reason : undefined,
            requestId,
            decisionId: typeof decisionId === 'string' ? decisionId : undefined,
            ms: performance.now() - t0,
          });
        },
        (err: unknown) => {
          const error = err instanceof Error ? err.message : String(err);
          outcomes.push({ i, at: t0 - start, expect: s.expect, status: 0, reason: undefined, requestId, decisionId: undefined, ms: performance.now() - t0, error });
        },
      )
      .finally(() => inflight.delete(p));
    inflight.add(p);
  };

  // Send what is due every 5 ms: the rate holds even when a tick comes late.
  const tick = (): void => {
    if (stopped) return;
    const due = Math.min(total, Math.floor(((performance.now() - start) * opts.rate) / 1000));
    while (next < due) fire(next++);
    if (next >= total) stopped = true;
    else timer = setTimeout(tick, 5);
  };
  tick();

  let finished: Promise<readonly Outcome[]> | undefined;
  return {
    outcomes,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
    sent: () => next,
    done() {
      finished ??= (async () => {
        while (!stopped) await new Promise((r) => setTimeout(r, 20));
        while (inflight.size > 0) await Promise.all([...inflight]);
        agent.destroy();
        return outcomes;
      })();
      return finished;
    },
  };
}

/** The invariants that hold under any fault: a request the good state denies is never allowed. */
export function deniedNeverAllowed(outcomes: readonly Outcome[]): Outcome[] {
  return outcomes.filter((o) => o.expect === 'deny' && o.status >= 200 && o.status < 300);
}

/** Counts by status (for failure messages and reports). */
export function byStatus(outcomes: readonly Outcome[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const o of outcomes) {
    const k = `${o.status}${o.reason ? ` ${o.reason}` : ''}`;
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

/** p50/p99 of the answered requests' latency, in ms (reported, never asserted). */
export function percentiles(outcomes: readonly Outcome[]): { p50: number; p99: number; n: number } {
  const ms = outcomes
    .filter((o) => o.status !== 0)
    .map((o) => o.ms)
    .sort((a, b) => a - b);
  const at = (q: number): number => ms[Math.min(ms.length - 1, Math.floor(q * ms.length))] ?? NaN;
  return { p50: Math.round(at(0.5) * 10) / 10, p99: Math.round(at(0.99) * 10) / 10, n: ms.length };
}
