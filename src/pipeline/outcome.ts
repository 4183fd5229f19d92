/**
 * Outcome records from Envoy's ext_proc stream (observability mode: Envoy sends, never waits,
 * and ignores answers). One stream per response:
 *   response headers -> which decision (ext_authz metadata), status, reader by content type
 *   response body chunks -> the API's reader, as they pass (bounded memory)
 *   end of stream (or trailers) -> one outcome record: span, decision-log line, metrics
 * A stream Envoy closes first (the client went away, the upstream reset, Envoy stopping)
 * still gives a record, marked incomplete. Denied requests (Envoy's local reply also passes
 * through ext_proc) and requests without a decision give none. The join needs no state here:
 * everything about the decision comes with the stream, so any replica can take it.
 */
import { performance } from 'node:perf_hooks';
import { responseProfile } from '../apis/endpoints.ts';
import { startReading, type ResponseReading } from '../apis/responses/reading.ts';
import { decisionFromMetadata, outcomeRecord, type DecisionRef, type OutcomeRecord } from '../audit/outcome.ts';
import { decisionMetadata, processingAttributes, processingEvent } from '../envoy/processing-request.ts';
import type { TraceCarrier, TraceIds } from '../telemetry/check-span.ts';
import { countOutcomeError, recordOutcome } from '../telemetry/metrics.ts';
import { noopOutcomeTracer, type OutcomeSpan, type OutcomeTracer } from '../telemetry/outcome-span.ts';
import type { Quotas } from '../quota/quotas.ts';

/**
 * What failed on the outcome path: the record (reading the stream, the span, the sink), or the
 * token charge and lease release of its quotas after the record was written. Each is counted in
 * `llm_authz.outcome.errors{kind}` (`exception`, `quota_settle`).
 */
export type OutcomeFailure = 'record' | 'quota_settle';

/** The log line for each failure. */
export const OUTCOME_FAILURE_MESSAGE: Readonly<Record<OutcomeFailure, string>> = {
  record: 'outcome record failed; the response was not affected',
  quota_settle: "charging the response's tokens to its quotas failed (its leases end with their lease); the outcome record was written, the response was not affected",
};

export interface OutcomeSinks {
  onOutcome(record: OutcomeRecord, trace?: TraceIds): void;
  /** The outcome path failed (the response went on regardless). */
  onError(err: unknown, failed: OutcomeFailure): void;
}

/** What the server does after a message: keep reading, or end its side (the record is written). */
export type StreamStep = 'continue' | 'end';

export interface OutcomeStream {
  /** One ProcessingRequest. */
  message(raw: unknown): StreamStep;
  /** The stream closed (or failed) on Envoy's side. */
  closed(): void;
}

export interface Outcomes {
  open(carrier: TraceCarrier): OutcomeStream;
}

/** The first response-id header of the wire API that is present, cut and printable. */
function providerRequestId(headers: ReadonlyMap<string, string>, names: readonly string[]): string | undefined {
  for (const n of names) {
    const v = headers.get(n);
    if (v !== undefined && v !== '') return v.replace(/[^\x20-\x7e]/g, '').slice(0, 128);
  }
  return undefined;
}

/** Milliseconds from Envoy's request start (`request.time`, RFC 3339) to now; undefined when unreadable. */
function sinceRequestStart(attr: unknown): number | undefined {
  if (typeof attr !== 'string') return undefined;
  const t = Date.parse(attr);
  return Number.isFinite(t) ? Date.now() - t : undefined;
}

/** The quotas of the runtime in force (read when a response ends). */
export type QuotaSource = () => Quotas | undefined;

class Stream implements OutcomeStream {
  readonly #sinks: OutcomeSinks;
  readonly #quotas: QuotaSource;
  readonly #tracer: OutcomeTracer;
  readonly #carrier: TraceCarrier;
  /** undefined: not known yet; null: not an allowed, decided request (no record). */
  #decision: DecisionRef | null | undefined;
  /** From the response headers on: the reading of the body and the span. */
  #response: { readonly reading: ResponseReading; readonly span: OutcomeSpan } | undefined;
  #status: number | undefined;
  #requestId: string | undefined;
  #providerRequestId: string | undefined;
  #ttfbMs: number | undefined;
  #started = 0;
  #bytes = 0;
  #done = false;

  constructor(sinks: OutcomeSinks, tracer: OutcomeTracer, carrier: TraceCarrier, quotas: QuotaSource) {
    this.#sinks = sinks;
    this.#quotas = quotas;
    this.#tracer = tracer;
    this.#carrier = carrier;
  }

  message(raw: unknown): StreamStep {
    if (this.#done) return 'end';
    if (this.#decision === undefined) {
      const d = decisionFromMetadata(decisionMetadata(raw));
      if (d === undefined) countOutcomeError('unjoined');
      this.#decision = d !== undefined && d.effect === 'allow' ? d : null;
    }
    if (this.#decision === null) {
      this.#done = true;
      return 'end';
    }
    const e = processingEvent(raw);
    switch (e.kind) {
      case 'headers': {
        if (this.#response !== undefined) return 'continue';
        this.#start(this.#decision, e.headers, processingAttributes(raw));
        return e.endOfStream ? this.#finish(true) : 'continue';
      }
      case 'body': {
        const r = this.#response ?? this.#start(this.#decision, new Map(), {});
        this.#bytes += e.body.length;
        r.reading.write(e.body);
        return e.endOfStream ? this.#finish(true) : 'continue';
      }
      case 'trailers':
        return this.#finish(true);
      default:
        return 'continue';
    }
  }

  closed(): void {
    if (!this.#done && this.#decision) this.#finish(false);
    this.#done = true;
  }

  #start(d: DecisionRef, headers: ReadonlyMap<string, string>, attributes: Readonly<Record<string, unknown>>): { readonly reading: ResponseReading; readonly span: OutcomeSpan } {
    this.#started = performance.now();
    this.#ttfbMs = sinceRequestStart(attributes['request.time']);
    const rid = attributes['request.id'];
    this.#requestId = typeof rid === 'string' ? rid : undefined;
    const status = Number(headers.get(':status'));
    this.#status = Number.isInteger(status) && status >= 100 && status <= 999 ? status : undefined;
    const profile = d.api !== undefined ? responseProfile(d.api) : undefined;
    this.#providerRequestId = providerRequestId(headers, profile?.requestIdHeaders ?? []);
    this.#response = { reading: startReading(profile?.reader, headers.get('content-type')), span: this.#tracer.start(this.#carrier, d.checkSpanId) };
    return this.#response;
  }

  #finish(complete: boolean): StreamStep {
    this.#done = true;
    const d = this.#decision;
    if (!d) return 'end';
    const { reading, span } = this.#response ?? this.#start(d, new Map(), {});
    const { status: read, facts } = reading.end();
    const record = outcomeRecord({
      decision: d,
      requestId: this.#requestId,
      status: this.#status,
      format: reading.format,
      read,
      facts,
      complete,
      bytes: this.#bytes,
      providerRequestId: this.#providerRequestId,
      ttfbMs: this.#ttfbMs,
      durationMs: performance.now() - this.#started,
    });
    // ERROR for a provider's 5xx and for a response that is not its API's format.
    const status = this.#status ?? 0;
    span.end({ ...record }, status >= 500 ? (record['error.type'] ?? String(status)) : read === 'malformed' ? 'malformed_response' : undefined);
    const u = facts.usage;
    recordOutcome({
      read,
      complete,
      provider: d.provider,
      workload: d.workload,
      model: d.model,
      tokens: { input: u.input, output: u.output, cache_read: u.cacheRead, cache_creation: u.cacheCreation, reasoning: u.reasoning },
    });
    this.#sinks.onOutcome(record, span.ids);
    // Token budgets are charged what the provider reported (nothing when it reported no usage),
    // complete or not; the request's concurrency leases end. Fails open: counted, logged.
    const quotas = d.quota !== undefined ? this.#quotas() : undefined;
    if (quotas !== undefined && d.quota !== undefined) {
      quotas.settle(d.quota, d.decisionId, { input: u.input, output: u.output }).catch((err: unknown) => {
        countOutcomeError('quota_settle');
        this.#sinks.onError(err, 'quota_settle');
      });
    }
    return 'end';
  }
}

export function createOutcomes(sinks: OutcomeSinks, tracer: OutcomeTracer = noopOutcomeTracer, quotas: QuotaSource = () => undefined): Outcomes {
  return {
    open(carrier) {
      const s = new Stream(sinks, tracer, carrier, quotas);
      // Observation fails open: an exception ends this record's stream, never the process.
      const guard = <T>(f: () => T, fallback: T): T => {
        try {
          return f();
        } catch (err) {
          countOutcomeError('exception');
          sinks.onError(err, 'record');
          return fallback;
        }
      };
      return {
        message: (raw) => guard(() => s.message(raw), 'end'),
        closed: () => guard(() => s.closed(), undefined),
      };
    },
  };
}
