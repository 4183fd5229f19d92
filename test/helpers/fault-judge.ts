/**
 * How the fault tests judge a load's answers (test/helpers/load.ts) from llm-authz's own records
 * and headers, not from timing. Each answer is one of:
 *  - llm-authz's decision, as the good state decides that request (its decision-id header);
 *  - llm-authz's own fail-closed deny at its deadline (503 `timeout`, with its decision id): a
 *    check the machine's load made late;
 *  - Envoy's own 503 (neither decision id nor reason): no answer from llm-authz within Envoy's
 *    ext_authz timeout, or no llm-authz to ask.
 * Anything else is a problem: another answer (an allow the good state denies among them), or no
 * answer at all. With the decision records of the load: each is the good state's decision or a
 * timeout, and each answer llm-authz gave has its record. With the provider's requests: each is
 * a request answered 200 (whose answer carries llm-authz's decision id), one per such answer.
 */
import type { RecordedRequest } from '../../devstack/mock-provider.ts';
import type { Outcome } from './load.ts';

/** "200", or "<status> <reason>" for a deny. */
export const answerOf = (o: Outcome): string => `${o.status}${o.reason ? ` ${o.reason}` : ''}`;
const recordAnswer = (r: Record<string, unknown>): string =>
  r['decision.effect'] === 'allow' ? String(r['decision.status']) : `${String(r['decision.status'])} ${String(r['decision.reason'])}`;

export interface Judged {
  readonly problems: string[];
  /** Answered by llm-authz as the good state decides. */
  readonly asGood: number;
  /** llm-authz's own timeout deny. */
  readonly timeouts: number;
  /** Envoy's own 503. */
  readonly envoyOwn: number;
  /** For failure messages and reports. */
  readonly summary: { asGood: number; timeouts: number; envoyOwn: number; records?: number };
}

export interface JudgeOptions {
  /** The decision records written while the load ran (all of them, in order). */
  readonly records?: readonly Record<string, unknown>[];
  /** Requests the provider received while the load ran. */
  readonly provider?: readonly RecordedRequest[];
}

/** The good state's answer to a request (one of several, where it may give either). */
export type Good = (o: Outcome) => string | readonly string[];

export function judge(outcomes: readonly Outcome[], goodOf: Good, opts: JudgeOptions = {}): Judged {
  const good = (o: Outcome): string => [goodOf(o)].flat().join(' or ');
  const isGood = (o: Outcome, answer: string): boolean => [goodOf(o)].flat().includes(answer);
  const problems: string[] = [];
  let asGood = 0;
  let timeouts = 0;
  let envoyOwn = 0;
  const byDecision = opts.records === undefined ? undefined : new Map(opts.records.map((r) => [String(r['decision.id']), r]));
  for (const o of outcomes) {
    const answer = answerOf(o);
    if (o.decisionId !== undefined) {
      if (isGood(o, answer)) asGood++;
      else if (o.status === 503 && o.reason === 'timeout') timeouts++;
      else problems.push(`${o.requestId}: llm-authz answered ${answer}, the good state ${good(o)}`);
      const record = byDecision?.get(o.decisionId);
      if (byDecision !== undefined && record === undefined) problems.push(`${o.requestId}: no decision record for llm-authz's answer ${answer}`);
      else if (record !== undefined && recordAnswer(record) !== answer) problems.push(`${o.requestId}: answered ${answer}, recorded ${recordAnswer(record)}`);
    } else if (o.status === 503 && o.reason === 'authz_unavailable') {
      // Envoy's own 503 (the templates' local reply), no decision id
      envoyOwn++;
    } else {
      problems.push(`${o.requestId}: ${o.status === 0 ? `no answer (${o.error ?? 'unknown'})` : `${answer} without llm-authz's decision id`}`);
    }
  }
  if (opts.records !== undefined) {
    const byRequest = new Map(outcomes.map((o) => [o.requestId, o]));
    for (const r of opts.records) {
      if (r['decision.reason'] === 'timeout') continue;
      const o = byRequest.get(String(r['http.request.id']));
      if (o === undefined) problems.push(`record ${String(r['decision.id'])}: not a request of this load (${recordAnswer(r)})`);
      else if (!isGood(o, recordAnswer(r))) problems.push(`${o.requestId}: recorded ${recordAnswer(r)}, the good state ${good(o)}`);
    }
  }
  if (opts.provider !== undefined) {
    const ok = new Map(outcomes.filter((o) => o.status === 200).map((o) => [o.requestId, o]));
    for (const p of opts.provider) {
      const id = String(p.headers['x-request-id']);
      const o = ok.get(id);
      if (o === undefined) problems.push(`${id}: reached the provider without a 200 to the client`);
    }
    if (opts.provider.length !== ok.size) problems.push(`${opts.provider.length} provider requests for ${ok.size} answers 200`);
  }
  const summary = { asGood, timeouts, envoyOwn, ...(opts.records !== undefined ? { records: opts.records.length } : {}) };
  return { problems, asGood, timeouts, envoyOwn, summary };
}

/** The good state of the quickstart load (quickstartShot): allowed, or model_not_allowed. */
export const quickstartGood = (o: Outcome): string => (o.expect === 'allow' ? '200' : '403 model_not_allowed');
