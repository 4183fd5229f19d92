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
import { runPhases, type Phases } from '../pipeline/check.ts';
import { createMemoryStore } from '../quota/memory-store.ts';
import type { Explanation } from '../policy/engine.ts';
import { UsageError, type Command } from './command.ts';
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
    for (const r of results)
      out.push(
        `  ${pad(r.effect, 5)} ${pad(r.id, w)}  ${r.outcome === 'matched' ? 'MATCHED' : r.outcome === 'error' ? `ERROR: ${r.error ?? ''}` : `not matched${r.falseAt !== undefined ? `: false at ${r.falseAt}` : ''}`}`,
      );
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
    out.push(
      `shadow (policy set ${s.policyVersion}): ${s.effect.toUpperCase()} (${s.reason})${s.rule !== undefined ? ` by rule '${s.rule}'` : ''}${s.disagrees ? ' DISAGREES' : ' agrees'}`,
    );
  }
}

export type OutputFormat = 'text' | 'json';

/** The machine-readable form of a check: what each phase found, each rule's result, the decision. */
function jsonResult(p: Phases, explanation: Explanation | undefined, providers: Providers): unknown {
  const d = p.decision;
  return {
    phase: p.phase,
    request: p.ctx === undefined ? undefined : { method: p.ctx.method, path: p.ctx.path },
    identity:
      p.identity === undefined
        ? undefined
        : { method: p.identity.method, workload: p.identity.workload, agent: p.identity.agent, user: p.identity.user, credential_id: p.identity.credentialId },
    llm:
      p.llm === undefined
        ? undefined
        : { api: p.llm.api, schema: p.llm.schema, model: p.llm.model, stream: p.llm.stream, max_tokens: p.llm.maxTokens, tools: p.llm.tools, message_count: p.llm.messageCount },
    credential_scopes: p.identity === undefined || p.llm === undefined ? undefined : { ...p.identity.scopes, violation: scopeViolation(p.identity, p.llm) ?? null },
    rules: explanation?.results,
    shadow_rules: explanation?.shadowResults,
    decision:
      d === undefined
        ? { effect: 'deny', reason: p.denyReason ?? 'internal_error', detail: p.detail }
        : {
            effect: d.effect,
            reason: d.reason,
            detail: d.detail,
            rule: d.rule,
            matched_rules: d.matchedRules,
            policy_version: d.policyVersion,
            obligations:
              d.effect === 'allow' && d.obligations !== undefined
                ? {
                    provider: d.obligations.provider.name,
                    route: d.obligations.provider.route,
                    credential: credentialName(providers, d),
                    headers: Object.fromEntries(d.obligations.headers ?? []),
                  }
                : undefined,
            shadow: d.shadow,
          },
  };
}

/**
 * Decides one request as the server would and explains it. Returns the exit code: 0 allow,
 * 1 deny, 2 the config, policies or request could not be read (said on `err`).
 */
export async function checkOne(
  configFile: string,
  requestFile: string,
  nowMs: number | undefined,
  print: (s: string) => void,
  o: { format?: OutputFormat; err?: (s: string) => void } = {},
): Promise<number> {
  const err = o.err ?? ((s: string) => process.stderr.write(`${s}\n`));
  let rt: Runtime;
  try {
    // Quotas decide as for a caller's first request: fresh in-memory counters, never the shared store.
    rt = loadRuntime(configFile, { watchPolicies: false, now: nowMs === undefined ? undefined : () => nowMs, quotas: { store: createMemoryStore() } });
  } catch (e) {
    if (e instanceof ConfigError || e instanceof PolicyLoadError) {
      err(e.message);
      return 2;
    }
    throw e;
  }
  try {
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(requestFile, 'utf8'));
    } catch (e) {
      err(`cannot read the request ${requestFile}: ${e instanceof SyntaxError ? 'not valid JSON' : ((e as NodeJS.ErrnoException).code ?? 'error')}`);
      return 2;
    }
    const req = requestFromJson(json);
    if (!req.ok) {
      err(`invalid request fixture ${requestFile}: ${req.problem}`);
      return 2;
    }
    // The server's own phases, then the explanation of what they found.
    const p = await runPhases(req.raw, rt);
    const explanation =
      p.decision !== undefined && p.identity !== undefined && p.llm !== undefined && p.ctx !== undefined && rt.policy !== undefined
        ? rt.policy.explain({ ctx: p.ctx, identity: p.identity, llm: p.llm }, undefined, { whyNot: true })
        : undefined;
    const allowed = p.decision?.effect === 'allow';
    if (o.format === 'json') {
      print(JSON.stringify(jsonResult(p, explanation, rt.providers), null, 2));
      return allowed ? 0 : 1;
    }
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
    if (p.decision === undefined) {
      out.push(`decision: DENY (${p.denyReason ?? 'internal_error'}) in the ${p.phase} phase${p.detail !== undefined ? `: ${p.detail}` : ''}`);
      print(out.join('\n'));
      return 1;
    }
    if (id !== undefined && llm !== undefined) out.push(describeScopes(id, scopeViolation(id, llm)));
    if (explanation !== undefined) {
      printDecision(out, p.decision, rt.providers, explanation.results);
      if (explanation.shadowResults !== undefined) {
        out.push('shadow rules:');
        for (const r of explanation.shadowResults)
          out.push(`  ${pad(r.effect, 5)} ${r.id}  ${r.outcome === 'matched' ? 'MATCHED' : r.outcome === 'error' ? `ERROR: ${r.error ?? ''}` : 'not matched'}`);
      }
    } else {
      out.push(`rules: the built-in rule '${SCOPED_RULE_ID}' (no policy: section in the config): any identified caller, within its credential's scopes`);
      printDecision(out, p.decision, rt.providers, undefined);
    }
    print(out.join('\n'));
    return allowed ? 0 : 1;
  } finally {
    await rt.close();
  }
}

export const checkCommand: Command = {
  name: 'check',
  usage: 'check --config FILE --request FILE.json [--now ISO-TIME] [--format text|json]',
  summary: 'decide one request offline as the server would, and explain it',
  help: `options:
  -c, --config FILE        the config (its providers, identity methods and policies)
  -r, --request FILE.json  a CheckRequest in JSON as Envoy sends it, or an HTTP fixture:
                           {"method", "path", "headers", "body", "principal"}
      --now ISO-TIME       the clock policies see (default: now)
      --format text|json   the explanation as text (default) or one JSON document

Exit codes: 0 allow, 1 deny, 2 a usage error, or a config, policy or request that cannot be read.`,
  async run(args: string[]): Promise<number> {
    const { values } = parseArgs({
      args,
      options: { config: { type: 'string', short: 'c' }, request: { type: 'string', short: 'r' }, now: { type: 'string' }, format: { type: 'string' } },
      strict: true,
    });
    if (values.config === undefined || values.request === undefined) throw new UsageError('--config FILE and --request FILE.json are required');
    const nowMs = values.now === undefined ? undefined : Date.parse(values.now);
    if (nowMs !== undefined && Number.isNaN(nowMs)) throw new UsageError(`--now: expected an ISO 8601 time, got ${JSON.stringify(values.now)}`);
    const format = outputFormat(values.format);
    return checkOne(values.config, values.request, nowMs, (s) => process.stdout.write(`${s}\n`), { format });
  },
};

/** `--format`: text (default) or json. */
export function outputFormat(v: string | undefined): OutputFormat {
  if (v === undefined || v === 'text' || v === 'json') return v ?? 'text';
  throw new UsageError(`--format: expected text or json, got ${JSON.stringify(v)}`);
}
