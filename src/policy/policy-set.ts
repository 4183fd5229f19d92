/**
 * Loads a policy folder into a checked, compiled PolicySet: every file parsed, every rule
 * validated, every expression parsed and type-checked against the declared variables, every
 * obligation resolved against the configured providers and credentials. All problems are
 * collected (file:line:col each) and a set with any problem is rejected as a whole.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parse, plan, type CelResult } from '@bufbuild/cel';
import { isScalar } from 'yaml';
import { CREDENTIAL_HEADERS } from '../apis/index.ts';
import { DECISION_ID_HEADER, REASON_HEADER, TRACE_ID_HEADER } from '../core/headers.ts';
import { formatPath } from '../core/errors.ts';
import type { ProviderCredential, Providers, ProviderRuntime } from '../providers/runtime.ts';
import { credentialKind } from '../providers/credential.ts';
import { formFor } from '../apis/index.ts';
import { isReasonCode, type DenyReason } from '../core/reasons.ts';
import { typeName, T, assignable } from './cel-types.ts';
import { checkExpr } from './checker.ts';
import { policyEnv, RegexCache } from './functions.ts';
import { MAX_EXPRESSION_DEPTH, policyFileSchema } from './schema.ts';
import { qualifiedFor, VARIABLES, variableType, type Activation } from './vars.ts';
import { SCOPE_RULE_IDS } from './scope-guard.ts';
import { ruleGuards, type RuleGuard } from './rule-guard.ts';

const VARIABLE_NAMES = Object.keys(VARIABLES);
import { issueMessage, readYaml, sourceOffset } from '../core/yaml.ts';

export interface CompiledObligations {
  readonly provider: ProviderRuntime | undefined;
  readonly credentialName: string | undefined;
  readonly credential: ProviderCredential | undefined;
  readonly headers: readonly (readonly [string, string])[];
  readonly maxTokens: number | undefined;
}

export interface CompiledRule {
  readonly id: string;
  readonly description: string | undefined;
  readonly effect: 'allow' | 'deny';
  /** For deny rules, the reason code; `allowed` for allow rules. */
  readonly reason: DenyReason | 'allowed';
  readonly when: string;
  /** file:line:col of the expression. */
  readonly where: string;
  readonly obligations: CompiledObligations | undefined;
  readonly evaluate: (vars: Activation) => CelResult;
  /** `&&` parts read at load that can rule the rule out before its program runs (rule-guard.ts). */
  readonly guards?: readonly RuleGuard[] | undefined;
}

export interface PolicySet {
  /** Content hash of the files (names and bytes). */
  readonly version: string;
  readonly dir: string;
  readonly files: readonly string[];
  readonly rules: readonly CompiledRule[];
  /** The top-level variables the rules read (only these are built for a decision); all when absent. */
  readonly variables?: ReadonlySet<string>;
  /**
   * The activation answers qualified field names (`llm.model`) at once: true unless a rule's
   * comprehension binds a name of a top-level variable (vars.ts, QualifiedVariables).
   */
  readonly qualified?: boolean;
}

export class PolicyLoadError extends Error {
  readonly problems: readonly string[];
  constructor(dir: string, problems: readonly string[]) {
    super(`invalid policy set ${dir}:\n  ${problems.join('\n  ')}`);
    this.name = 'PolicyLoadError';
    this.problems = problems;
  }
}

export interface LoadDeps {
  readonly providers: Providers;
  /** Header names a rule may not set (the routing header, credential headers). */
  readonly reservedHeaders?: readonly string[] | undefined;
}

/**
 * Headers no rule may set: every credential header of every API profile (a rule could otherwise
 * overwrite the provider key, or forward a client key), and the request's framing and identity.
 */
export const RESERVED_HEADERS: readonly string[] = [...CREDENTIAL_HEADERS, 'proxy-authorization', 'host', 'content-length', DECISION_ID_HEADER, REASON_HEADER, TRACE_ID_HEADER];

export interface PolicyFile {
  readonly name: string;
  readonly text: string;
}

/** The policy files of a folder: `*.yaml` and `*.yml`, sorted by name (evaluation order). */
export function readPolicyDir(dir: string): PolicyFile[] {
  let names: string[];
  try {
    // statSync follows symlinks: Kubernetes ConfigMap mounts are symlinks into a `..data` folder.
    names = readdirSync(dir)
      .filter((n) => /\.ya?ml$/.test(n) && !n.startsWith('.') && statSync(path.join(dir, n)).isFile())
      .sort();
  } catch (err) {
    throw new PolicyLoadError(dir, [`${dir}: cannot read the folder: ${(err as NodeJS.ErrnoException).code ?? 'error'}`]);
  }
  return names.map((name) => {
    try {
      return { name, text: readFileSync(path.join(dir, name), 'utf8') };
    } catch (err) {
      throw new PolicyLoadError(dir, [`${path.join(dir, name)}: cannot read the file: ${(err as NodeJS.ErrnoException).code ?? 'error'}`]);
    }
  });
}

export function policyVersion(files: readonly PolicyFile[]): string {
  const h = createHash('sha256');
  for (const f of files) h.update(f.name).update('\0').update(f.text).update('\0');
  return h.digest('hex').slice(0, 12);
}

export function loadPolicySet(dir: string, deps: LoadDeps): PolicySet {
  return compilePolicySet(dir, readPolicyDir(dir), deps);
}

export function compilePolicySet(dir: string, files: readonly PolicyFile[], deps: LoadDeps): PolicySet {
  const problems: string[] = [];
  const rules: CompiledRule[] = [];
  const seen = new Map<string, string>();
  const variables = new Set<string>();
  let qualified = true;
  const usedVariable = (name: string): ReturnType<typeof variableType> => {
    const t = variableType(name);
    if (t !== undefined) variables.add(name);
    return t;
  };
  const regex = new RegexCache();
  const env = policyEnv(regex);
  const reserved = new Set([...RESERVED_HEADERS, ...(deps.reservedHeaders ?? [])]);

  for (const file of files) {
    const display = path.join(dir, file.name);
    const y = readYaml(file.text, display);
    const { doc, at } = y;
    if (y.errors.length > 0) {
      problems.push(...y.errors);
      continue;
    }
    const parsed = policyFileSchema.safeParse(doc.toJS() ?? {}, { reportInput: true });
    if (!parsed.success) {
      for (const i of parsed.error.issues) problems.push(`${y.whereIssue(i)}: ${formatPath(i.path)}: ${issueMessage(i, policyFileSchema)}`);
      continue;
    }
    parsed.data.rules.forEach((r, i) => {
      const where = (key: PropertyKey[]): string => at(y.offsetOf(['rules', i, ...key]));
      const label = `rules[${i}]`;
      const prev = seen.get(r.id);
      if (prev !== undefined) problems.push(`${where(['id'])}: ${label}.id: duplicate rule id '${r.id}' (first defined at ${prev})`);
      else seen.set(r.id, where(['id']));
      if (SCOPE_RULE_IDS.has(r.id)) {
        problems.push(`${where(['id'])}: ${label}.id: '${r.id}' is the built-in credential scope check's id (credential scopes always bind; a rule can only narrow them)`);
      }

      // The expression: parse, check, plan.
      const whenNode = doc.getIn(['rules', i, 'when'], true);
      const exprAt = (offset: number): string => {
        // The parser places an operator at the whitespace before it: point at the operator.
        let o = offset;
        while (o < r.when.length - 1 && /\s/.test(r.when[o] ?? '')) o++;
        return isScalar(whenNode) ? at(sourceOffset(file.text, whenNode, r.when, o)) : where(['when']);
      };
      let evaluate: ((vars: Activation) => CelResult) | undefined;
      let guards: readonly RuleGuard[] | undefined;
      let ast: ReturnType<typeof parse> | undefined;
      try {
        ast = parse(r.when);
      } catch (err) {
        const offset = parseErrorOffset(err);
        if (err instanceof RangeError) {
          problems.push(`${exprAt(0)}: ${label}.when: the expression is nested too deeply to parse`);
        } else {
          const message = err instanceof Error ? (err.message.replace(/^<input>:\d+:\d+: /, '').split('\n')[0] ?? 'syntax error') : 'syntax error';
          problems.push(`${exprAt(offset)}: ${label}.when: syntax error: ${message}`);
        }
      }
      if (ast !== undefined) {
        const checked = checkExpr(ast, { env, variable: usedVariable, variableNames: VARIABLE_NAMES, regex, maxDepth: MAX_EXPRESSION_DEPTH });
        for (const p of checked.problems) problems.push(`${exprAt(p.offset)}: ${label}.when: ${p.message}`);
        if (!qualifiedFor(checked.bound)) qualified = false;
        if (checked.problems.length === 0 && !assignable(T.bool, checked.type)) {
          problems.push(`${exprAt(0)}: ${label}.when: the expression is ${/^(?!u)[aeiou]/.test(typeName(checked.type)) ? 'an' : 'a'} ${typeName(checked.type)}, not a bool`);
        }
        const program = plan(env, ast);
        evaluate = (vars) => program(vars as unknown as Parameters<typeof program>[0]);
        if (checked.problems.length === 0) guards = ruleGuards(ast);
      }

      // Obligations, resolved now so a decision never looks anything up.
      let obligations: CompiledObligations | undefined;
      if (r.effect === 'allow') {
        const o = r.obligations ?? {};
        let provider: ProviderRuntime | undefined;
        if (o.provider !== undefined) {
          provider = deps.providers.byName.get(o.provider);
          if (provider === undefined) problems.push(`${where(['obligations', 'provider'])}: ${label}.obligations.provider: unknown provider '${o.provider}'`);
        }
        let credential: ProviderCredential | undefined;
        if (o.credential !== undefined) {
          credential = deps.providers.credentials.get(o.credential);
          if (credential === undefined) problems.push(`${where(['obligations', 'credential'])}: ${label}.obligations.credential: unknown credential '${o.credential}'`);
          else if (provider !== undefined && formFor(provider.profile, credentialKind(credential)) === undefined) {
            problems.push(
              `${where(['obligations', 'credential'])}: ${label}.obligations.credential: provider '${provider.name}' (${provider.api}) takes no credential of kind ${credentialKind(credential)}`,
            );
          }
        }
        const headers = Object.entries(o.headers ?? {});
        for (const [h] of headers) {
          if (reserved.has(h)) problems.push(`${where(['obligations', 'headers', h])}: ${label}.obligations.headers: '${h}' is reserved and cannot be set by a rule`);
        }
        obligations = { provider, credentialName: o.credential, credential, headers, maxTokens: o.max_tokens };
      }
      const reason = r.effect === 'allow' ? 'allowed' : r.reason !== undefined && isReasonCode(r.reason) && r.reason !== 'allowed' ? r.reason : 'denied_by_policy';
      if (evaluate !== undefined) {
        rules.push({ id: r.id, description: r.description, effect: r.effect, reason, when: r.when, where: exprAt(0), obligations, evaluate, guards });
      }
    });
  }
  if (problems.length > 0) throw new PolicyLoadError(dir, problems);
  return { version: policyVersion(files), dir, files: files.map((f) => f.name), rules, variables, qualified };
}

function parseErrorOffset(err: unknown): number {
  if (typeof err === 'object' && err !== null && 'location' in err) {
    const loc = (err as { location?: { start?: { offset?: unknown } } }).location;
    const off = loc?.start?.offset;
    if (typeof off === 'number') return off;
  }
  return 0;
}
