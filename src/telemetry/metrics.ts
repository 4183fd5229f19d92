/**
 * llm-authz's metrics, as small functions any area can call without holding a reference to
 * the telemetry setup. Until `installMeter()` runs (at start, from the `telemetry:` config)
 * they record into a no-op meter, so they are safe to call from unit tests and libraries.
 *
 *   countPolicyReload('ok' | 'failed')      the policy engine, after each (re)load attempt
 *   countJwksFetch('ok' | 'failed')          the identity engine, after each JWKS fetch
 *   recordDecision(...)                      the Check pipeline, once per decision
 *   countExporterDropped(signal, n)          the telemetry exporters, when data is lost
 *   countDecisionLogDropped(n)               the decision log, when a line is lost
 *   recordOutcome(...)                       the outcome path, once per outcome record
 *   countOutcomeError(kind)                  the outcome path, when it fails (it fails open)
 *   countStateReload(state, outcome)         the key store and provider credential files, per reload
 *   setStateFailed(state, failed)            serve, when a reloaded state turns bad or good again
 *   countQuotaDenial(quota)                  the quota phase, per quota_exceeded deny
 *   countQuotaStoreError(behaviour, op)      the quotas, when the counter store fails or times out
 *   countWarmUpFailure(step)                 serve, when a step of the start-up warm-up fails
 *
 * Names follow OpenTelemetry conventions (dots); the Prometheus endpoint shows them with
 * underscores (e.g. llm_authz_decisions_total).
 */
import { metrics as otelMetrics, type Attributes, type Counter, type Histogram, type Meter } from '@opentelemetry/api';

interface Instruments {
  decisions: Counter;
  checkDuration: Histogram;
  identityMethods: Counter;
  policyReloads: Counter;
  jwksFetches: Counter;
  exporterDropped: Counter;
  decisionLogDropped: Counter;
  outcomes: Counter;
  outcomeTokens: Counter;
  outcomeErrors: Counter;
  stateReloads: Counter;
  quotaDenials: Counter;
  quotaStoreErrors: Counter;
  warmUpFailures: Counter;
}

/** Check latency buckets in seconds (0.25 ms .. 2.5 s). */
export const DURATION_BUCKETS = [0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

function instruments(meter: Meter): Instruments {
  return {
    decisions: meter.createCounter('llm_authz.decisions', { description: 'Decisions by effect, reason code and deciding rule' }),
    checkDuration: meter.createHistogram('llm_authz.check.duration', {
      description: 'Time to answer one Check, from request to decision',
      unit: 's',
      advice: { explicitBucketBoundaries: DURATION_BUCKETS },
    }),
    identityMethods: meter.createCounter('llm_authz.identity.methods', { description: 'Established identities by method' }),
    policyReloads: meter.createCounter('llm_authz.policy.reloads', { description: 'Policy (re)load attempts by outcome (ok, failed)' }),
    jwksFetches: meter.createCounter('llm_authz.jwks.fetches', { description: 'JWKS fetches by outcome (ok, failed)' }),
    exporterDropped: meter.createCounter('llm_authz.telemetry.exporter.dropped', { description: 'Spans or metric batches lost by the OpenTelemetry exporters' }),
    decisionLogDropped: meter.createCounter('llm_authz.decision_log.dropped', { description: 'Decision-log lines lost (sink failed or too far behind)' }),
    outcomes: meter.createCounter('llm_authz.outcomes', {
      description: 'Outcome records by how the response was read (ok, malformed, truncated, not_read), whether it completed, and provider',
    }),
    outcomeTokens: meter.createCounter('llm_authz.outcome.tokens', {
      description:
        'Tokens the providers reported, by workload, requested model and type (input, output, cache_read, cache_creation, reasoning); at most MAX_TOKEN_SERIES workload-model pairs, the rest under _other',
    }),
    outcomeErrors: meter.createCounter('llm_authz.outcome.errors', { description: 'Failures of the outcome path (it fails open: the response is never held up)' }),
    stateReloads: meter.createCounter('llm_authz.state.reloads', {
      description: 'Reloads of the key store, provider credential and revocation list files by state and outcome (ok, failed)',
    }),
    quotaDenials: meter.createCounter('llm_authz.quota.denials', { description: 'Requests denied because a quota was used up (quota_exceeded), by quota name' }),
    quotaStoreErrors: meter.createCounter('llm_authz.quota.store.errors', {
      description: 'Quota store failures and timeouts by the on_store_error behaviour applied (deny, allow) and operation (take: a Check; settle: a response end)',
    }),
    warmUpFailures: meter.createCounter('llm_authz.warm_up.failures', {
      description: 'Steps of the start-up or idle warm-up that failed, by step (the server serves all the same; its first requests may be slower)',
    }),
  };
}

/** The states whose last reload can be rejected while the last good one keeps deciding. */
export type ReloadedState = 'policy' | 'key_store' | 'credentials' | 'revocation_list';

const stateFailed = new Map<ReloadedState, boolean>([
  ['policy', false],
  ['key_store', false],
  ['credentials', false],
  ['revocation_list', false],
]);

function observeStates(meter: Meter): void {
  meter
    .createObservableGauge('llm_authz.state.stale', {
      description: '1 while the last reload of a state (policy, key_store, credentials, revocation_list) was rejected and the last good one decides',
    })
    .addCallback((r) => {
      for (const [state, failed] of stateFailed) r.observe(failed ? 1 : 0, { state });
    });
}

let current: Instruments = instruments(otelMetrics.getMeterProvider().getMeter('llm-authz'));
let installed = false;

/**
 * Counts made before the meter is installed: the first policy load and the first JWKS fetches
 * happen while the config is built, before the telemetry it configures starts. Bounded.
 */
const early: { counter: 'policyReloads' | 'jwksFetches'; outcome: 'ok' | 'failed' }[] = [];
const MAX_EARLY = 256;

/** Points every metric at this meter (called once at start by the telemetry setup). */
export function installMeter(meter: Meter): void {
  current = instruments(meter);
  observeStates(meter);
  installed = true;
  for (const e of early.splice(0)) current[e.counter].add(1, { outcome: e.outcome });
  // Loss counters exist from the start (at 0), so an alert on them needs no special case.
  current.exporterDropped.add(0, { signal: 'traces' });
  current.exporterDropped.add(0, { signal: 'metrics' });
  current.decisionLogDropped.add(0);
  current.outcomeErrors.add(0);
  current.quotaStoreErrors.add(0, { behaviour: 'deny', op: 'take' });
}

/**
 * Attribute objects are cached per label combination so the hot path allocates nothing: looked
 * up by label, one map per label (a key string joined from the labels was a new string to build
 * and hash per Check). Bounded: past the bound, a combination gets a new object each time.
 */
const MAX_CACHED = 10_000;
let cachedDecisionAttrs = 0;
/** effect -> reason -> rule ('' for none) -> attributes. */
const decisionAttrs = new Map<string, Map<string, Map<string, Attributes>>>();
/** effect -> { effect } */
const effectAttrs = new Map<string, Attributes>();
/** method -> { method } */
const methodAttrs = new Map<string, Attributes>();

function decisionAttributes(effect: string, reason: string, rule: string | undefined): Attributes {
  let byReason = decisionAttrs.get(effect);
  if (byReason === undefined) {
    byReason = new Map();
    decisionAttrs.set(effect, byReason);
  }
  let byRule = byReason.get(reason);
  if (byRule === undefined) {
    byRule = new Map();
    byReason.set(reason, byRule);
  }
  let attrs = byRule.get(rule ?? '');
  if (attrs === undefined) {
    attrs = rule === undefined ? { effect, reason } : { effect, reason, rule };
    if (cachedDecisionAttrs < MAX_CACHED) {
      byRule.set(rule ?? '', attrs);
      cachedDecisionAttrs++;
    }
  }
  return attrs;
}

/** `{ [name]: value }`, one object per value (up to MAX_CACHED values). */
function oneLabel(cache: Map<string, Attributes>, name: string, value: string): Attributes {
  let attrs = cache.get(value);
  if (attrs === undefined) {
    attrs = { [name]: value };
    if (cache.size < MAX_CACHED) cache.set(value, attrs);
  }
  return attrs;
}

export function recordDecision(effect: string, reason: string, rule: string | undefined, seconds: number): void {
  current.decisions.add(1, decisionAttributes(effect, reason, rule));
  current.checkDuration.record(seconds, oneLabel(effectAttrs, 'effect', effect));
}

export function countIdentity(method: string): void {
  current.identityMethods.add(1, oneLabel(methodAttrs, 'method', method));
}

export function countPolicyReload(outcome: 'ok' | 'failed'): void {
  if (!installed && early.length < MAX_EARLY) early.push({ counter: 'policyReloads', outcome });
  current.policyReloads.add(1, { outcome });
}

export function countJwksFetch(outcome: 'ok' | 'failed'): void {
  if (!installed && early.length < MAX_EARLY) early.push({ counter: 'jwksFetches', outcome });
  current.jwksFetches.add(1, { outcome });
}

export function countExporterDropped(signal: 'traces' | 'metrics', n: number): void {
  if (n > 0) current.exporterDropped.add(n, { signal });
}

export function countStateReload(state: 'key_store' | 'credential' | 'revocation_list', outcome: 'ok' | 'failed'): void {
  current.stateReloads.add(1, { state, outcome });
}

export function setStateFailed(state: ReloadedState, failed: boolean): void {
  stateFailed.set(state, failed);
}

/** The steps of the start-up and idle warm-ups (src/server/warm-up.ts, keep-warm.ts); `budget`: the start-up one did not finish in time. */
export type WarmUpStep = 'identity' | 'check_pipeline' | 'grpc_call' | 'budget';

export function countWarmUpFailure(step: WarmUpStep): void {
  current.warmUpFailures.add(1, { step });
}

export function countDecisionLogDropped(n = 1): void {
  current.decisionLogDropped.add(n);
}

/**
 * Distinct (workload, requested model) pairs the token counter keeps apart; later pairs are
 * counted under workload and model `_other`. Workloads come from the identities (API keys, JWT
 * subjects, SPIFFE IDs), models from what policies allowed: bounded in practice, capped here so
 * that a flood of new JWT subjects cannot grow the metric without end.
 */
export const MAX_TOKEN_SERIES = 1000;
export const OTHER = '_other';

export type TokenType = 'input' | 'output' | 'cache_read' | 'cache_creation' | 'reasoning';

const tokenPairs = new Set<string>();
const outcomeAttrs = new Map<string, Attributes>();

export function recordOutcome(o: {
  readonly read: string;
  readonly complete: boolean;
  readonly provider: string | undefined;
  readonly workload: string | undefined;
  readonly model: string | undefined;
  readonly tokens: Readonly<Record<TokenType, number | undefined>>;
}): void {
  const key = `${o.read}\u0000${o.complete}\u0000${o.provider ?? ''}`;
  let attrs = outcomeAttrs.get(key);
  if (attrs === undefined) {
    attrs = { read: o.read, complete: o.complete, provider: o.provider ?? '' };
    if (outcomeAttrs.size < 10_000) outcomeAttrs.set(key, attrs);
  }
  current.outcomes.add(1, attrs);
  let workload = o.workload ?? '';
  let model = o.model ?? '';
  const pair = `${workload}\u0000${model}`;
  if (!tokenPairs.has(pair)) {
    if (tokenPairs.size < MAX_TOKEN_SERIES) tokenPairs.add(pair);
    else {
      workload = OTHER;
      model = OTHER;
    }
  }
  for (const [type, n] of Object.entries(o.tokens)) if (n !== undefined && n > 0) current.outcomeTokens.add(n, { workload, model, type });
}

export function countOutcomeError(kind: 'exception' | 'unjoined' | 'quota_settle'): void {
  current.outcomeErrors.add(1, { kind });
}

const quotaAttrs = new Map<string, Attributes>();

/** A request denied because a quota was used up (`quota_exceeded`), by quota name (names come from the config: bounded). */
export function countQuotaDenial(quota: string): void {
  let attrs = quotaAttrs.get(quota);
  if (attrs === undefined) {
    attrs = { quota };
    if (quotaAttrs.size < 1000) quotaAttrs.set(quota, attrs);
  }
  current.quotaDenials.add(1, attrs);
}

/** The quota store failed or timed out: in a Check (`take`, then `on_store_error` applied) or at a response's end (`settle`). */
export function countQuotaStoreError(behaviour: 'deny' | 'allow', op: 'take' | 'settle'): void {
  current.quotaStoreErrors.add(1, { behaviour, op });
}
