/**
 * The policy engine: the enforced set (and an optional shadow set), swapped atomically on
 * reload. A reload checks the new files fully first; a set with any problem is rejected and
 * the last good set stays in force. Reload state is exposed through `status()` for health
 * and metrics, and through listeners for logs. Every decision of either set passes the
 * credential scope guard (scope-guard.ts) first: the rules can only narrow a credential's scopes.
 */
import { existsSync, watch, type FSWatcher } from 'node:fs';
import type { Providers } from '../providers/runtime.ts';
import { decidePolicySet, evaluatePolicySet, type Evaluation, type RuleResult } from './evaluate.ts';
import { loadPolicySet, PolicyLoadError, type PolicySet } from './policy-set.ts';
import { guardAfter, scopeDenial, scopeViolation, type ScopeViolation } from './scope-guard.ts';
import type { Decision, DecisionInput, ShadowResult } from './types.ts';
import { countPolicyReload } from '../telemetry/metrics.ts';

const MISSING_FOLDER_RETRY_MS = 1000;

export interface PolicyEngineOptions {
  readonly dir: string;
  readonly shadowDir?: string | undefined;
  readonly providers: Providers;
  readonly reservedHeaders?: readonly string[] | undefined;
  /** Watch the folders and reload on change. */
  readonly watch: boolean;
  /** The clock policies see as `now` (ms since the epoch). */
  readonly now?: (() => number) | undefined;
  /** Quiet period after a file change before reloading. */
  readonly debounceMs?: number;
}

export interface ReloadOutcome {
  readonly ok: boolean;
  readonly version: string;
  readonly shadowVersion: string | undefined;
  /** Every problem of the rejected set(s), file:line:col each. */
  readonly problems: readonly string[];
}

/** What health and metrics read. */
export interface PolicyStatus {
  readonly version: string;
  readonly shadowVersion: string | undefined;
  readonly rules: number;
  readonly reloads: number;
  readonly reloadFailures: number;
  /** True when the last reload attempt was rejected (the last good set is still enforced). */
  readonly lastReloadFailed: boolean;
  readonly lastProblems: readonly string[];
}

export interface Explanation extends Evaluation {
  readonly shadowResults: readonly RuleResult[] | undefined;
  /** The credential scope the request is outside of (the guard decided), if any. */
  readonly scopeViolation: ScopeViolation | undefined;
}

export interface PolicyEngine {
  decide(input: DecisionInput): Decision;
  /** The decision with every rule's result (for `llm-authz check` and `llm-authz test`). */
  /** With `whyNot`, each rule that did not match says which part of its `when` was false. */
  explain(input: DecisionInput, nowMs?: number, opts?: { whyNot?: boolean }): Explanation;
  /** Reads the folders now and swaps in the new set if it is sound; after close(), refused (ok: false) without reading. */
  reload(): ReloadOutcome;
  status(): PolicyStatus;
  onReload(listener: (outcome: ReloadOutcome) => void): void;
  close(): void;
}

interface Sets {
  readonly enforced: PolicySet;
  readonly shadow: PolicySet | undefined;
}

export function createPolicyEngine(opts: PolicyEngineOptions): PolicyEngine {
  const now = opts.now ?? Date.now;
  const deps = { providers: opts.providers, reservedHeaders: opts.reservedHeaders };
  const load = (): Sets => {
    const problems: string[] = [];
    let enforced: PolicySet | undefined;
    let shadow: PolicySet | undefined;
    try {
      enforced = loadPolicySet(opts.dir, deps);
    } catch (err) {
      if (!(err instanceof PolicyLoadError)) throw err;
      problems.push(...err.problems);
    }
    if (opts.shadowDir !== undefined) {
      try {
        shadow = loadPolicySet(opts.shadowDir, deps);
      } catch (err) {
        if (!(err instanceof PolicyLoadError)) throw err;
        problems.push(...err.problems.map((p) => `shadow: ${p}`));
      }
    }
    if (problems.length > 0 || enforced === undefined) throw new PolicyLoadError(opts.dir, problems);
    return { enforced, shadow };
  };

  // The first load throws: a server does not start on a broken policy set.
  let sets: Sets;
  try {
    sets = load();
  } catch (err) {
    countPolicyReload('failed');
    throw err;
  }
  countPolicyReload('ok');
  let reloads = 0;
  let reloadFailures = 0;
  let lastReloadFailed = false;
  let lastProblems: readonly string[] = [];
  let closed = false;
  const listeners: ((o: ReloadOutcome) => void)[] = [];

  /** One set's decision: the scope guard first, then the rules, then the guard on the allow. */
  const decideWith = (set: PolicySet, input: DecisionInput, nowMs: number, violation: ScopeViolation | undefined, full: boolean, o: { whyNot?: boolean }): Evaluation => {
    if (violation !== undefined && !full) return { decision: scopeDenial(violation, set.version), results: [] };
    const ev = evaluatePolicySet(set, input, nowMs, o);
    if (violation !== undefined) return { decision: scopeDenial(violation, set.version), results: ev.results };
    return { decision: guardAfter(input, ev.decision), results: ev.results };
  };

  /** The shadow set's decision beside the enforced one (it never changes the answer). */
  const shadowOf = (sh: Decision, main: Decision): ShadowResult => ({
    effect: sh.effect,
    reason: sh.reason,
    rule: sh.rule,
    policyVersion: sh.policyVersion,
    disagrees: sh.effect !== main.effect,
  });

  /** `full`: evaluate every rule even when the scope guard already denied (for explanations). */
  const run = (input: DecisionInput, nowMs: number, full: boolean, o: { whyNot?: boolean } = {}): Explanation => {
    const current = sets; // one read: a reload between here and the end does not mix sets
    const violation = scopeViolation(input.identity, input.llm);
    const main = decideWith(current.enforced, input, nowMs, violation, full, o);
    if (current.shadow === undefined) return { ...main, shadowResults: undefined, scopeViolation: violation };
    const sh = decideWith(current.shadow, input, nowMs, violation, full, o);
    return { decision: { ...main.decision, shadow: shadowOf(sh.decision, main.decision) }, results: main.results, shadowResults: sh.results, scopeViolation: violation };
  };

  /** The request path: the decisions alone, no result per rule. */
  const decisionOf = (set: PolicySet, input: DecisionInput, nowMs: number, violation: ScopeViolation | undefined): Decision =>
    violation !== undefined ? scopeDenial(violation, set.version) : guardAfter(input, decidePolicySet(set, input, nowMs));
  const decide = (input: DecisionInput): Decision => {
    const current = sets; // one read, as in run()
    const nowMs = now();
    const violation = scopeViolation(input.identity, input.llm);
    const main = decisionOf(current.enforced, input, nowMs, violation);
    if (current.shadow === undefined) return main;
    return { ...main, shadow: shadowOf(decisionOf(current.shadow, input, nowMs, violation), main) };
  };
  const explain = (input: DecisionInput, nowMs: number = now(), o: { whyNot?: boolean } = {}): Explanation => run(input, nowMs, true, o);

  const reload = (): ReloadOutcome => {
    // After close() (a late SIGHUP while serve stops): no read, no listener, no watcher armed again.
    if (closed) return { ok: false, version: sets.enforced.version, shadowVersion: sets.shadow?.version, problems: ['the policy engine is closed'] };
    reloads++;
    let outcome: ReloadOutcome;
    try {
      const next = load();
      // A folder emptied (files deleted, a mount gone) is an accident far more often than a
      // decision to deny everything: the last good set stays.
      if (next.enforced.files.length === 0 && sets.enforced.files.length > 0) throw new PolicyLoadError(opts.dir, [`${opts.dir}: the folder holds no policy files`]);
      sets = next; // the atomic swap
      lastReloadFailed = false;
      lastProblems = [];
      outcome = { ok: true, version: next.enforced.version, shadowVersion: next.shadow?.version, problems: [] };
      countPolicyReload('ok');
    } catch (err) {
      reloadFailures++;
      countPolicyReload('failed');
      lastReloadFailed = true;
      lastProblems = err instanceof PolicyLoadError ? err.problems : [err instanceof Error ? err.message : String(err)];
      outcome = { ok: false, version: sets.enforced.version, shadowVersion: sets.shadow?.version, problems: lastProblems };
    }
    for (const l of listeners) l(outcome);
    if (opts.watch) arm();
    return outcome;
  };

  // Watching: a watcher dies with its folder (deleted, or a mount replaced), so every reload
  // watches the folders anew; while one is missing, its return is checked every second (then
  // the set reloads by itself).
  let watchers: FSWatcher[] = [];
  let timer: NodeJS.Timeout | undefined;
  const schedule = (delay = opts.debounceMs ?? 200): void => {
    if (closed) return;
    clearTimeout(timer);
    timer = setTimeout(reload, delay);
    timer.unref();
  };
  function arm(): void {
    for (const w of watchers) w.close();
    watchers = [];
    let missing = false;
    for (const dir of [opts.dir, opts.shadowDir]) {
      if (dir === undefined) continue;
      try {
        const w = watch(dir, { persistent: false }, () => schedule());
        w.on('error', () => schedule());
        watchers.push(w);
      } catch {
        missing = true;
      }
    }
    if (missing) {
      const probe = (): void => {
        if (closed) return;
        if ([opts.dir, opts.shadowDir].every((d) => d === undefined || existsSync(d))) schedule();
        else {
          timer = setTimeout(probe, MISSING_FOLDER_RETRY_MS);
          timer.unref();
        }
      };
      clearTimeout(timer);
      timer = setTimeout(probe, MISSING_FOLDER_RETRY_MS);
      timer.unref();
    }
  }
  if (opts.watch) arm();

  return {
    decide,
    explain,
    reload,
    status: () => ({
      version: sets.enforced.version,
      shadowVersion: sets.shadow?.version,
      rules: sets.enforced.rules.length,
      reloads,
      reloadFailures,
      lastReloadFailed,
      lastProblems,
    }),
    onReload: (l) => {
      listeners.push(l);
    },
    close: () => {
      closed = true;
      clearTimeout(timer);
      for (const w of watchers) w.close();
    },
  };
}
