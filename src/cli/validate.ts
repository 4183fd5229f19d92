/**
 * `llm-authz validate --config FILE`: loads the config, its policies, key store and provider
 * credentials exactly as `serve` would (without listening), reports every problem with
 * file:line:col, and warns about what loads but cannot work as meant.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError } from '../core/errors.ts';
import { readKeyStoreFile } from '../identity/key-store.ts';
import { loadRuntime, type Runtime } from '../pipeline/runtime.ts';
import { PolicyLoadError } from '../policy/policy-set.ts';
import { outputFormat } from './check.ts';
import { UsageError, type Command } from './command.ts';

interface KeyScope {
  readonly id: string;
  readonly models: readonly string[];
  readonly providers: readonly string[] | undefined;
}

/** What loads but cannot work as meant. */
export function warnings(rt: Runtime, baseDir: string): string[] {
  const out: string[] = [];
  const policy = rt.policy?.status();
  if (policy !== undefined && policy.rules === 0) out.push(`the policy folder has no rules: every request is denied (denied_by_default)`);
  if (rt.providers.list.length === 0) out.push('no providers are configured: every request is denied (provider_unavailable)');
  const keys: KeyScope[] = rt.config.identity.api_keys.map((k) => ({ id: k.id, models: k.models, providers: k.providers }));
  const store = rt.config.identity.key_store;
  if (store !== undefined) {
    for (const k of readKeyStoreFile(path.resolve(baseDir, store.file)).keys) if (!k.revoked) keys.push({ id: k.id, models: k.models, providers: k.providers });
  }
  const names = new Set(rt.providers.byName.keys());
  for (const k of keys) {
    for (const p of k.providers ?? []) if (!names.has(p)) out.push(`API key ${k.id}: its provider scope names '${p}', which is not configured`);
    const usable = rt.providers.list.filter((p) => k.providers === undefined || k.providers.includes(p.name));
    // A glob is tried as written and with its stars removed (a name it matches); a name as is.
    const dead = k.models.filter((m) => !usable.some((p) => p.serves(m) || p.serves(m.replaceAll('*', ''))));
    if (usable.length > 0 && dead.length > 0 && dead.length === k.models.length) {
      out.push(`API key ${k.id}: no configured provider it may reach serves any model of its scope (${dead.join(', ')})`);
    }
  }
  return out;
}

export async function validate(configFile: string, out: NodeJS.WritableStream, err: NodeJS.WritableStream, format: 'text' | 'json'): Promise<number> {
  let rt: Runtime;
  try {
    rt = loadRuntime(configFile, { watchPolicies: false });
  } catch (e) {
    if (e instanceof ConfigError || e instanceof PolicyLoadError) {
      if (format === 'json') out.write(`${JSON.stringify({ valid: false, problems: e.problems }, null, 2)}\n`);
      else err.write(`${e.message}\n`);
      return 2;
    }
    throw e;
  }
  try {
    const warned = warnings(rt, path.dirname(path.resolve(configFile)));
    const policy = rt.policy?.status();
    const loaded = rt.identify.loaded?.();
    const summary = {
      valid: true,
      config_version: rt.version,
      providers: rt.providers.list.map((p) => p.name),
      api_keys: loaded?.apiKeys ?? 0,
      identity_methods: loaded?.methods ?? [],
      policy_version: policy?.version,
      policy_rules: policy?.rules,
      warnings: warned,
    };
    if (format === 'json') {
      out.write(`${JSON.stringify(summary, null, 2)}\n`);
    } else {
      out.write(
        `${configFile}: valid (version ${rt.version}): ${summary.providers.length} provider(s), ${summary.api_keys} API key(s), identity methods [${summary.identity_methods.join(', ')}], ${policy === undefined ? 'the built-in credential-scope rule' : `${policy.rules} policy rule(s) (version ${policy.version})`}\n`,
      );
      for (const w of warned) err.write(`warning: ${w}\n`);
    }
    return 0;
  } finally {
    await rt.close();
  }
}

export const validateCommand: Command = {
  name: 'validate',
  usage: 'validate --config FILE [--format text|json]',
  summary: 'load a config, its policies, key store and credentials as serve would; report every problem',
  help: `options:
  -c, --config FILE     the config to check
      --format text|json problems and warnings as text (default), or one JSON document

Every problem is reported at once with its file:line:col. Warnings (on stderr) name what loads
but cannot work as meant: an empty policy set, no providers, API key scopes no configured
provider can serve.
Exit codes: 0 valid (warnings or not), 2 a usage error or a problem in the config or policies.`,
  async run(args: string[]): Promise<number> {
    const { values, positionals } = parseArgs({ args, options: { config: { type: 'string', short: 'c' }, format: { type: 'string' } }, allowPositionals: true, strict: true });
    const file = values.config ?? positionals[0];
    if (file === undefined || positionals.length > (values.config === undefined ? 1 : 0)) throw new UsageError('expected --config FILE');
    return validate(file, process.stdout, process.stderr, outputFormat(values.format));
  },
};
