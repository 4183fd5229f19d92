/**
 * One place that knows whether each reloaded state (policy set, API key store, provider
 * credential files) is the one its source holds. A rejected reload keeps the last good state
 * deciding; this marks the state stale in health (its own service name turns NOT_SERVING) and
 * in metrics (`llm_authz.state.stale`) until a reload of that source succeeds again.
 */
import { setStateFailed, type ReloadedState } from '../telemetry/metrics.ts';
import type { AuthzServer } from './server.ts';

export interface StateReport {
  /** A reload of `source` (a file, or the policy folder) of `state` succeeded (ok) or was rejected. */
  report(state: ReloadedState, source: string, ok: boolean): void;
  /** Health follows from now on (states reported before are applied at once). */
  attach(server: AuthzServer): void;
}

export function createStateReport(): StateReport {
  const stale = new Map<ReloadedState, Set<string>>();
  let server: AuthzServer | undefined;
  const healthy = (state: ReloadedState): boolean => (stale.get(state)?.size ?? 0) === 0;
  return {
    report(state, source, ok) {
      const set = stale.get(state) ?? new Set<string>();
      stale.set(state, set);
      if (ok) set.delete(source);
      else set.add(source);
      setStateFailed(state, !healthy(state));
      server?.setStateHealthy(state, healthy(state));
    },
    attach(s) {
      server = s;
      for (const state of ['policy', 'key_store', 'credentials', 'revocation_list'] as const) s.setStateHealthy(state, healthy(state));
    },
  };
}
