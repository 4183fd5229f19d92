/**
 * Quota rules compiled at load: each rule's subject (an identity field, or a CEL expression
 * planned once), its match (model and provider globs, wire APIs) and its limits. Per Check, the
 * rules that apply give the counters to take; nothing is parsed or compiled on the request path.
 */
import { globMatch } from '../core/glob.ts';
import { createHash } from 'node:crypto';
import type { RequestContext } from '../envoy/request-context.ts';
import type { Identity } from '../identity/types.ts';
import type { LlmRequest } from '../llm/types.ts';
import { T } from '../policy/cel-types.ts';
import { compileExpression, type ExpressionProblem } from '../policy/expression.ts';
import type { QuotaRuleConfig, SubjectField } from './schema.ts';

export interface QuotaInput {
  readonly ctx: RequestContext;
  readonly identity: Identity;
  readonly llm: LlmRequest;
}

/** The subject's key for a request: a string, '' when the request has none (the quota does not apply), undefined when a CEL key failed. */
type SubjectOf = (input: QuotaInput, nowMs: number) => string | undefined;

export interface CompiledQuota {
  readonly name: string;
  /** How the config names the subject (`workload`, or `cel`), for details and docs. */
  readonly subjectKind: SubjectField | 'cel';
  readonly subject: SubjectOf;
  readonly applies: (llm: LlmRequest) => boolean;
  readonly requests: { readonly limit: number; readonly windowMs: number } | undefined;
  readonly tokens: { readonly limit: number; readonly windowMs: number; readonly count: 'total' | 'input' | 'output' } | undefined;
  readonly concurrent: { readonly limit: number; readonly leaseMs: number } | undefined;
}

const FIELD: Readonly<Record<SubjectField, (id: Identity) => string | undefined>> = {
  workload: (id) => id.workload,
  agent: (id) => id.agent,
  user: (id) => id.user,
  credential_id: (id) => id.credentialId,
};

/** Longest subject kept as it is in a key; longer or unprintable ones are hashed. */
const MAX_KEY_SUBJECT = 128;

/** The subject as a key part: itself when short and printable, else `#` and a SHA-256 prefix. */
export function subjectKeyPart(subject: string): string {
  if (subject.length <= MAX_KEY_SUBJECT && /^[\x21-\x7e]+$/.test(subject)) return subject;
  return `#${createHash('sha256').update(subject).digest('hex').slice(0, 32)}`;
}

export type CompileProblem = { readonly path: PropertyKey[]; readonly message: string };

export function compileQuota(r: QuotaRuleConfig, i: number, problems: CompileProblem[]): CompiledQuota | undefined {
  let subject: SubjectOf;
  let subjectKind: CompiledQuota['subjectKind'];
  if (typeof r.subject === 'string') {
    const read = FIELD[r.subject];
    subject = (input) => read(input.identity) ?? '';
    subjectKind = r.subject;
  } else {
    const c = compileExpression(r.subject.cel, T.string);
    if (!c.ok) {
      problems.push(...c.problems.map((p: ExpressionProblem) => ({ path: ['quotas', 'rules', i, 'subject', 'cel'], message: p.message })));
      return undefined;
    }
    subject = (input, now) => {
      const v = c.evaluate(input, now);
      return typeof v === 'string' ? v : undefined;
    };
    subjectKind = 'cel';
  }
  const m = r.match;
  const models = m?.models;
  const providers = m?.providers;
  const apis = m?.apis === undefined ? undefined : new Set<string>(m.apis);
  const applies = (llm: LlmRequest): boolean =>
    (models === undefined || (llm.model !== undefined && models.some((g) => globMatch(g, llm.model ?? '')))) &&
    (providers === undefined || (llm.provider !== undefined && providers.some((g) => globMatch(g, llm.provider?.name ?? '')))) &&
    (apis === undefined || apis.has(llm.api));
  return {
    name: r.name,
    subjectKind,
    subject,
    applies,
    requests: r.requests === undefined ? undefined : { limit: r.requests.limit, windowMs: r.requests.window },
    tokens: r.tokens === undefined ? undefined : { limit: r.tokens.limit, windowMs: r.tokens.window, count: r.tokens.count },
    concurrent: r.concurrent === undefined ? undefined : { limit: r.concurrent.limit, leaseMs: r.concurrent.lease },
  };
}
