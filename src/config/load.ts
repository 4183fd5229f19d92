/**
 * Reads and validates the config file. Every problem is reported at once, each as
 * `path.to[2].key: message (file:line:col)`, and a file with any problem is rejected whole.
 */
import { readFileSync } from 'node:fs';
import { ConfigError, formatPath } from '../core/errors.ts';
import { issueMessage, readYaml } from '../core/yaml.ts';
import { quotaProblems } from '../quota/quotas.ts';
import { configSchema, type Config } from './schema.ts';

/** Cross-field rules the schema cannot express. */
function crossCheck(cfg: Config): { path: PropertyKey[]; message: string }[] {
  const problems: { path: PropertyKey[]; message: string }[] = [];
  const providerNames = new Set<string>();
  cfg.providers.forEach((p, i) => {
    if (providerNames.has(p.name)) problems.push({ path: ['providers', i, 'name'], message: `duplicate provider '${p.name}'` });
    providerNames.add(p.name);
  });
  cfg.providers.forEach((p, i) => {
    if (typeof p.credential === 'string' && !Object.hasOwn(cfg.credentials, p.credential)) {
      problems.push({ path: ['providers', i, 'credential'], message: `unknown credential '${p.credential}'` });
    }
  });
  const keyIds = new Set<string>();
  cfg.identity.api_keys.forEach((k, i) => {
    if (keyIds.has(k.id)) problems.push({ path: ['identity', 'api_keys', i, 'id'], message: `duplicate key id '${k.id}'` });
    keyIds.add(k.id);
    k.providers?.forEach((p, j) => {
      if (!providerNames.has(p)) {
        problems.push({ path: ['identity', 'api_keys', i, 'providers', j], message: `unknown provider '${p}'` });
      }
    });
  });
  // Quota names unique, CEL subject keys type-checked (src/quota/).
  problems.push(...quotaProblems(cfg.quotas));
  return problems;
}

export function parseConfigText(text: string, source: string): Config {
  const y = readYaml(text, source);
  if (y.errors.length > 0) throw new ConfigError(source, y.errors);
  const data: unknown = y.doc.toJS() ?? {};
  const parsed = configSchema.safeParse(data, { reportInput: true });
  if (!parsed.success) {
    throw new ConfigError(
      source,
      parsed.error.issues.map((i) => `${formatPath(i.path)}: ${issueMessage(i, configSchema)} (${y.whereIssue(i)})`),
    );
  }
  const cross = crossCheck(parsed.data);
  if (cross.length > 0) {
    throw new ConfigError(
      source,
      cross.map((p) => `${formatPath(p.path)}: ${p.message} (${y.where(p.path)})`),
    );
  }
  return parsed.data;
}

export function loadConfigFile(file: string): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [`cannot read the file: ${(err as NodeJS.ErrnoException).code ?? 'error'}`]);
  }
  return parseConfigText(text, file);
}

/** The built-in config used when no file is given: no providers, no keys, so every request is denied. */
export function defaultConfig(): Config {
  return configSchema.parse({});
}
