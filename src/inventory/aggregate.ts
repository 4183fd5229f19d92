/**
 * The used half of the inventory: decision and outcome events summed per entitlement (an API
 * key, or an `identity.entitlements` rule) and per caller that no entitlement names. Memory is
 * bounded whatever the number of lines: per row, counters for at most MAX_DISTINCT models,
 * providers, tools and callers (the rest is counted as overflow); at most MAX_CALLER_ROWS rows
 * of callers without an entitlement; and the outcome join keeps the ids of the last
 * JOIN_WINDOW allowed decisions (outcome lines follow their decision within seconds), and as
 * many outcomes read before their decision (files read out of order), joined when it comes.
 */
import { matchRule } from '../identity/entitlement.ts';
import type { Entitlements } from './entitlements.ts';
import type { DecisionEvent, LoggedIdentity, LogEvent, OutcomeEvent } from './log-record.ts';

export const MAX_DISTINCT = 256;
export const MAX_CALLER_ROWS = 10_000;
export const JOIN_WINDOW = 100_000;

/** Deny reasons that mean an expired or revoked credential, or a revoked identity, was presented. */
export const PRESENTED_AFTER_END = new Set(['expired_credentials', 'revoked_credentials', 'revoked_identity']);

export class BoundedCounter {
  readonly counts = new Map<string, number>();
  overflow = 0;
  add(key: string, n = 1): void {
    const c = this.counts.get(key);
    if (c !== undefined) this.counts.set(key, c + n);
    else if (this.counts.size < MAX_DISTINCT) this.counts.set(key, n);
    else this.overflow += n;
  }
  keys(): string[] {
    return [...this.counts.keys()].sort();
  }
}

export interface Usage {
  allowed: number;
  denied: number;
  readonly deniedBy: BoundedCounter;
  firstSeenMs: number | undefined;
  lastSeenMs: number | undefined;
  lastAllowedMs: number | undefined;
  /** Models, providers and tools of allowed requests. */
  readonly models: BoundedCounter;
  readonly providers: BoundedCounter;
  readonly toolsOffered: BoundedCounter;
  /** Tools the model called (outcome records). */
  readonly toolsCalled: BoundedCounter;
  /** Workloads (and agents) seen under this row. */
  readonly callers: BoundedCounter;
  /** Denies for an expired or revoked credential or a revoked identity, by caller. */
  readonly presentedAfterEnd: BoundedCounter;
  inputTokens: number;
  outputTokens: number;
  outcomes: number;
  /** Requests (allowed and denied) per time bucket. */
  readonly series: Uint32Array;
}

export interface CallerRow {
  readonly key: string;
  readonly identity: LoggedIdentity;
}

/**
 * A map that keeps its last `capacity` keys: the oldest is dropped on insert (a ring of keys,
 * O(1); deleting a Map's first key repeatedly is not, V8 walks the deleted slots each time).
 */
export class RecentMap<V> {
  private readonly map = new Map<string, { slot: number; value: V }>();
  private readonly ring: (string | undefined)[];
  private readonly capacity: number;
  private next = 0;
  constructor(capacity: number) {
    this.capacity = capacity;
    this.ring = new Array<string | undefined>(capacity);
  }
  /** Sets a key; returns the key dropped to make room, if one was still held. */
  set(key: string, value: V): string | undefined {
    const held = this.map.get(key);
    if (held !== undefined) {
      held.value = value;
      return undefined;
    }
    const slot = this.next;
    this.next = (slot + 1) % this.capacity;
    const old = this.ring[slot];
    let dropped: string | undefined;
    // The slot's old key goes, unless it was deleted (or set again, in another slot) since.
    if (old !== undefined && this.map.get(old)?.slot === slot) {
      this.map.delete(old);
      dropped = old;
    }
    this.ring[slot] = key;
    this.map.set(key, { slot, value });
    return dropped;
  }
  get(key: string): V | undefined {
    return this.map.get(key)?.value;
  }
  delete(key: string): void {
    this.map.delete(key);
  }
  get size(): number {
    return this.map.size;
  }
  clear(): void {
    this.map.clear();
  }
}

export interface Window {
  readonly startMs: number;
  readonly endMs: number;
  readonly bucketMs: number;
  readonly buckets: number;
}

/**
 * Requests are counted in this many buckets over the window; the chart shows at most 60 of them,
 * merged, over the part of the window that has requests (1.4 KiB per row).
 */
export const SERIES_BUCKETS = 360;

export function makeWindow(startMs: number, endMs: number, buckets = SERIES_BUCKETS): Window {
  return { startMs, endMs, buckets, bucketMs: Math.max(1, Math.ceil((endMs - startMs) / buckets)) };
}

function newUsage(buckets: number): Usage {
  return {
    allowed: 0,
    denied: 0,
    deniedBy: new BoundedCounter(),
    firstSeenMs: undefined,
    lastSeenMs: undefined,
    lastAllowedMs: undefined,
    models: new BoundedCounter(),
    providers: new BoundedCounter(),
    toolsOffered: new BoundedCounter(),
    toolsCalled: new BoundedCounter(),
    callers: new BoundedCounter(),
    presentedAfterEnd: new BoundedCounter(),
    inputTokens: 0,
    outputTokens: 0,
    outcomes: 0,
    series: new Uint32Array(buckets),
  };
}

export interface Unattributed {
  /** Decisions without an established identity (no or unknown credentials ...), by reason. */
  readonly byReason: BoundedCounter;
  /** Outcome lines whose decision was not found (before the window, or beyond the join window). */
  unjoinedOutcomes: number;
  /** Decisions of callers beyond MAX_CALLER_ROWS. */
  overflowCallerDecisions: number;
}

function callerLabel(id: LoggedIdentity): string {
  return id.agent !== undefined ? `${id.workload} (agent ${id.agent})` : id.workload;
}

export class Aggregator {
  readonly usage = new Map<string, Usage>();
  /** Callers without an entitlement record, by row key. */
  readonly callers = new Map<string, CallerRow>();
  /** API key ids seen in the logs that no entitlement knows. */
  readonly unknownKeys = new Map<string, LoggedIdentity>();
  readonly unattributed: Unattributed = { byReason: new BoundedCounter(), unjoinedOutcomes: 0, overflowCallerDecisions: 0 };
  readonly window: Window;
  private readonly ents: Entitlements;
  private readonly known: ReadonlySet<string>;
  private readonly join: RecentMap<string>;
  /** Outcomes whose decision has not been read yet. */
  private readonly pending: RecentMap<OutcomeEvent>;

  constructor(ents: Entitlements, window: Window, joinWindow = JOIN_WINDOW) {
    this.ents = ents;
    this.window = window;
    this.join = new RecentMap(joinWindow);
    this.pending = new RecentMap(joinWindow);
    this.known = new Set(ents.entries.map((e) => e.key));
  }

  /** The row of an identity, or undefined when it is a caller beyond the row cap. */
  private rowOf(id: LoggedIdentity): string | undefined {
    if (id.method === 'api_key' && id.credentialId !== undefined) {
      const key = `key:${id.credentialId}`;
      if (!this.known.has(key) && !this.unknownKeys.has(key)) this.unknownKeys.set(key, id);
      return key;
    }
    const rule = matchRule(this.ents.rules, id);
    if (rule !== undefined) return `rule:${rule.config.id}`;
    const key = `caller:${JSON.stringify([id.method, id.issuer ?? '', id.workload, id.agent ?? ''])}`;
    if (!this.callers.has(key)) {
      if (this.callers.size >= MAX_CALLER_ROWS) return undefined;
      this.callers.set(key, { key, identity: id });
    }
    return key;
  }

  private use(key: string): Usage {
    let u = this.usage.get(key);
    if (u === undefined) {
      u = newUsage(this.window.buckets);
      this.usage.set(key, u);
    }
    return u;
  }

  add(e: LogEvent): void {
    if (e.kind === 'decision') this.decision(e);
    else this.outcome(e);
  }

  private decision(e: DecisionEvent): void {
    if (e.identity === undefined) {
      this.unattributed.byReason.add(e.reason);
      return;
    }
    const key = this.rowOf(e.identity);
    if (key === undefined) {
      this.unattributed.overflowCallerDecisions++;
      return;
    }
    const u = this.use(key);
    const w = this.window;
    const b = Math.min(w.buckets - 1, Math.max(0, Math.floor((e.timeMs - w.startMs) / w.bucketMs)));
    u.series[b] = (u.series[b] ?? 0) + 1;
    if (u.firstSeenMs === undefined || e.timeMs < u.firstSeenMs) u.firstSeenMs = e.timeMs;
    if (u.lastSeenMs === undefined || e.timeMs > u.lastSeenMs) u.lastSeenMs = e.timeMs;
    u.callers.add(callerLabel(e.identity));
    if (e.effect === 'allow') {
      u.allowed++;
      if (u.lastAllowedMs === undefined || e.timeMs > u.lastAllowedMs) u.lastAllowedMs = e.timeMs;
      if (e.model !== undefined) u.models.add(e.model);
      if (e.provider !== undefined) u.providers.add(e.provider);
      for (const t of e.tools) u.toolsOffered.add(t);
      this.remember(e.decisionId, key);
      const early = this.pending.get(e.decisionId);
      if (early !== undefined) {
        this.pending.delete(e.decisionId);
        this.apply(u, early);
      }
    } else {
      u.denied++;
      u.deniedBy.add(e.reason);
      if (PRESENTED_AFTER_END.has(e.reason)) u.presentedAfterEnd.add(callerLabel(e.identity));
    }
  }

  private remember(decisionId: string, key: string): void {
    this.join.set(decisionId, key);
  }

  private outcome(e: OutcomeEvent): void {
    const key = e.identity !== undefined ? this.rowOf(e.identity) : this.join.get(e.decisionId);
    if (key !== undefined) {
      this.apply(this.use(key), e);
      return;
    }
    if (e.identity !== undefined) {
      this.unattributed.unjoinedOutcomes++;
      return;
    }
    // The oldest waiting outcome, pushed out of the window, is given up.
    if (this.pending.set(e.decisionId, e) !== undefined) this.unattributed.unjoinedOutcomes++;
  }

  /** Call once all lines are read: outcomes still waiting for their decision are unjoined. */
  finish(): void {
    this.unattributed.unjoinedOutcomes += this.pending.size;
    this.pending.clear();
  }

  private apply(u: Usage, e: OutcomeEvent): void {
    u.outcomes++;
    u.inputTokens += e.inputTokens ?? 0;
    u.outputTokens += e.outputTokens ?? 0;
    for (const t of e.toolCalls) u.toolsCalled.add(t);
  }
}
