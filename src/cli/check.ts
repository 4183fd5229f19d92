/**
 * `llm-authz check --config FILE --request FILE.json`: decides one request offline and explains
 * the decision (identity found, each rule's result, deciding rule, obligations). Exit code 0
 * allow, 1 deny, 2 error. The request is a CheckRequest in JSON (as Envoy sends it) or a
 * simpler HTTP fixture: {method, path, headers, body, principal}.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { ConfigError } from '../core/errors.ts';
import { checkRequest } from '../envoy/check-request.ts';
import { runPhases } from '../pipeline/check.ts';
import { loadRuntime, type Runtime } from '../pipeline/runtime.ts';
import type { Providers } from '../providers/runtime.ts';
import type { Decision } from '../policy/types.ts';
import { PolicyLoadError } from '../policy/policy-set.ts';
import type { RuleResult } from '../policy/evaluate.ts';
import { describeScopes, scopeViolation } from '../policy/scope-guard.ts';
import { SCOPED_RULE_ID } from '../policy/scoped-rule.ts';

const httpFixture = z.strictObject({
  method: z.string().min(1).default('POST'),
  path: z.string().min(1).default('/v1/chat/completions'),
  headers: z.record(z.string(), z.string()).default({}),
  /** The JSON body (an object is serialised), or the body text. */
  body: z.unknown().optional(),
  /** The mTLS peer's URI SAN (SPIFFE ID), if any. */
  principal: z.string().optional(),
});

/** A CheckRequest (has `attributes`) as is, or an HTTP fixture turned into one. */
export function requestFromJson(value: unknown): { ok: true; raw: unknown } | { ok: false; problem: string } {
  if (typeof value === 'object' && value !== null && 'attributes' in value) return { ok: true, raw: value };
  const f = httpFixture.safeParse(value);
  if (!f.success) return { ok: false, problem: f.error.issues.map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`).join('; ') };
  const headers = { 'content-type': 'application/json', ...Object.fromEntries(Object.entries(f.data.headers).map(([k, v]) => [k.toLowerCase(), v])) };
  const body = f.data.body === undefined ? undefined : typeof f.data.body === 'string' ? f.data.body : JSON.stringify(f.data.body);
  return {
    ok: true,
    raw: checkRequest({
      method: f.data.method,
      path: f.data.path,
      headers,
      ...(body !== undefined ? { body } : {}),
      ...(f.data.principal !== undefined ? { principal: f.data.principal } : {}),
    }),
  };
}

function credentialName(providers: Providers, d: Decision): string {
  const c = d.obligations?.credential ?? d.obligations?.provider.credential;
  if (c === undefined) return '(none)';
  for (const [name, secret] of providers.credentials) if (secret === c) return name;
  return `(the provider's own)`;
}

function pad(s: string, n: number): string {
  return s.padEnd(n);
}

function printDecision(out: string[], d: Decision, providers: Providers, results: readonly RuleResult[] | undefined): void {
  if (results !== undefined) {
    out.push(`rules (policy set ${d.policyVersion}):`);
    const w = Math.max(4, ...results.map((r) => r.id.length));
    for (const r of results) out.push(`  ${pad(r.effect, 5)} ${pad(r.id, w)}  ${r.outcome === 'matched' ? 'MATCHED' : r.outcome === 'error' ? `ERROR: ${r.error ?? ''}` : 'not matched'}`);
  }
  out.push(`decision: ${d.effect.toUpperCase()} (${d.reason})${d.rule !== undefined ? ` by rule '${d.rule}'` : d.effect === 'deny' ? ' by default: no rule allows' : ''}`);
  if (d.detail !== undefined) out.push(`detail: ${d.detail}`);
  if (d.matchedRules.length > 0) out.push(`matched rules: ${d.matchedRules.join(', ')}`);
  const o = d.obligations;
  if (d.effect === 'allow' && o !== undefined) {
    out.push(`obligations:`);
    out.push(`  provider: ${o.provider.name} (route ${o.provider.route}, ${o.provider.api} API)`);
    out.push(`  credential: ${credentialName(providers, d)}`);
    for (const [k, v] of o.headers ?? []) out.push(`  header: ${k}: ${v}`);
  }
  if (d.shadow !== undefined) {
    const s = d.shadow;
    out.push(`shadow (policy set ${s.policyVersion}): ${s.effect.toUpperCase()} (${s.reason})${s.rule !== undefined ? ` by rule '${s.rule}'` : ''}${s.disagrees ? ' DISAGREES' : ' agrees'}`);
  }
}

export async function checkOne(configFile: string, requestFile: string, nowMs: number | undefined, print: (s: string) => void): Promise<number> {
  let rt: Runtime;
  try {
    rt = loadRuntime(configFile, { watchPolicies: false, now: nowMs === undefined ? undefined : () => nowMs });
  } catch (err) {
    if (err instanceof ConfigError || err instanceof PolicyLoadError) {
      print(err.message);
      return 2;
    }
    throw err;
  }
  try {
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(requestFile, 'utf8'));
    } catch (err) {
      print(`cannot read the request ${requestFile}: ${err instanceof SyntaxError ? 'not valid JSON' : ((err as NodeJS.ErrnoException).code ?? 'error')}`);
      return 2;
    }
    const req = requestFromJson(json);
    if (!req.ok) {
      print(`invalid request fixture ${requestFile}: ${req.problem}`);
      return 2;
    }
    // The server's own phases, then the explanation of what they found.
    const p = await runPhases(req.raw, rt);
    const out: string[] = [];
    if (p.ctx !== undefined) out.push(`request: ${p.ctx.method} ${p.ctx.path}`);
    const id = p.identity;
    if (id !== undefined) {
      out.push(
        `identity: ${id.workload} (method ${id.method}${id.credentialId !== undefined ? `, credential ${id.credentialId}` : ''}${id.agent !== undefined ? `, agent ${id.agent}` : ''}${id.user !== undefined ? `, user ${id.user}` : ''})`,
      );
    }
    const llm = p.llm;
    if (llm !== undefined) {
      out.push(`llm: ${llm.schema} model=${llm.model} stream=${llm.stream} max_tokens=${llm.maxTokens ?? '(unset)'} tools=[${llm.tools.join(', ')}] messages=${llm.messageCount}`);
    }
    if (p.decision === undefined || id === undefined || llm === undefined || p.ctx === undefined) {
      out.push(`decision: DENY (${p.denyReason ?? 'internal_error'}) in the ${p.phase} phase${p.detail !== undefined ? `: ${p.detail}` : ''}`);
      print(out.join('\n'));
      return 1;
    }
    out.push(describeScopes(id, scopeViolation(id, llm)));
    if (rt.policy !== undefined) {
      const ex = rt.policy.explain({ ctx: p.ctx, identity: id, llm });
      printDecision(out, p.decision, rt.providers, ex.results);
      if (ex.shadowResults !== undefined) {
        out.push('shadow rules:');
        for (const r of ex.shadowResults) out.push(`  ${pad(r.effect, 5)} ${r.id}  ${r.outcome === 'matched' ? 'MATCHED' : r.outcome === 'error' ? `ERROR: ${r.error ?? ''}` : 'not matched'}`);
      }
    } else {
      out.push(`rules: the built-in rule '${SCOPED_RULE_ID}' (no policy: section in the config): any identified caller, within its credential's scopes`);
      printDecision(out, p.decision, rt.providers, undefined);
    }
    print(out.join('\n'));
    return p.decision.effect === 'allow' ? 0 : 1;
  } finally {
    await rt.close();
  }
}

export const checkCommand = {
  usage: 'check --config FILE --request FILE.json [--now ISO-TIME]',
  summary: 'decide one request offline and explain it (exit 0 allow, 1 deny, 2 error)',
  async run(args: string[]): Promise<number> {
    const { values } = parseArgs({
      args,
      options: { config: { type: 'string', short: 'c' }, request: { type: 'string', short: 'r' }, now: { type: 'string' } },
      strict: true,
    });
    if (values.config === undefined || values.request === undefined) {
      process.stderr.write(`usage: llm-authz ${checkCommand.usage}\n`);
      return 2;
    }
    const nowMs = values.now === undefined ? undefined : Date.parse(values.now);
    if (nowMs !== undefined && Number.isNaN(nowMs)) {
      process.stderr.write(`--now: expected an ISO 8601 time\n`);
      return 2;
    }
    return checkOne(values.config, values.request, nowMs, (s) => process.stdout.write(`${s}\n`));
  },
};
