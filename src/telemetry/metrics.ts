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
}

/** Check latency buckets in seconds (0.25 ms .. 2.5 s). */
const DURATION_BUCKETS = [0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

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
  };
}

let current: Instruments = instruments(otelMetrics.getMeterProvider().getMeter('llm-authz'));

/** Points every metric at this meter (called once at start by the telemetry setup). */
export function installMeter(meter: Meter): void {
  current = instruments(meter);
  // Loss counters exist from the start (at 0), so an alert on them needs no special case.
  current.exporterDropped.add(0, { signal: 'traces' });
  current.exporterDropped.add(0, { signal: 'metrics' });
  current.decisionLogDropped.add(0);
}

/** Attribute objects are cached per label combination so the hot path allocates nothing. */
const decisionAttrs = new Map<string, Attributes>();

export function recordDecision(effect: string, reason: string, rule: string | undefined, seconds: number): void {
  const key = `${effect}\u0000${reason}\u0000${rule ?? ''}`;
  let attrs = decisionAttrs.get(key);
  if (attrs === undefined) {
    attrs = rule === undefined ? { effect, reason } : { effect, reason, rule };
    if (decisionAttrs.size < 10_000) decisionAttrs.set(key, attrs);
  }
  current.decisions.add(1, attrs);
  current.checkDuration.record(seconds, { effect });
}

export function countIdentity(method: string): void {
  current.identityMethods.add(1, { method });
}

export function countPolicyReload(outcome: 'ok' | 'failed'): void {
  current.policyReloads.add(1, { outcome });
}

export function countJwksFetch(outcome: 'ok' | 'failed'): void {
  current.jwksFetches.add(1, { outcome });
}

export function countExporterDropped(signal: 'traces' | 'metrics', n: number): void {
  if (n > 0) current.exporterDropped.add(n, { signal });
}

export function countDecisionLogDropped(n = 1): void {
  current.decisionLogDropped.add(n);
}
