/**
 * Reads and validates the config file. Every problem is reported at once, each as
 * `path.to[2].key: message (file:line:col)`, and a file with any problem is rejected whole.
 */
import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument, isNode, type Document } from 'yaml';
import type { z } from 'zod';
import { configSchema, type Config } from './schema.ts';

export class ConfigError extends Error {
  readonly problems: readonly string[];
  constructor(source: string, problems: readonly string[]) {
    super(`invalid config ${source}:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out === '' ? String(p) : `.${String(p)}`;
  }
  return out === '' ? '(top level)' : out;
}

function locate(doc: Document, lc: LineCounter, source: string, path: readonly PropertyKey[]): string {
  // Walk down as far as the document goes, so a missing key points at its parent.
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n) as unknown[], true);
    if (isNode(node) && node.range) {
      const { line, col } = lc.linePos(node.range[0]);
      return `${source}:${line}:${col}`;
    }
  }
  return source;
}

function issueMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `'${k}'`).join(', ')}`;
  if (issue.code === 'invalid_type') return `expected ${issue.expected}`;
  return issue.message;
}

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
  return problems;
}

export function parseConfigText(text: string, source: string): Config {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      source,
      doc.errors.map((e) => {
        const { line, col } = lc.linePos(e.pos[0]);
        return `${source}:${line}:${col}: ${e.message.split('\n')[0] ?? e.code}`;
      }),
    );
  }
  const data: unknown = doc.toJS() ?? {};
  const parsed = configSchema.safeParse(data);
  if (!parsed.success) {
    throw new ConfigError(
      source,
      parsed.error.issues.map((i) => `${formatPath(i.path)}: ${issueMessage(i)} (${locate(doc, lc, source, i.path)})`),
    );
  }
  const cross = crossCheck(parsed.data);
  if (cross.length > 0) {
    throw new ConfigError(source, cross.map((p) => `${formatPath(p.path)}: ${p.message} (${locate(doc, lc, source, p.path)})`));
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
