import { readFileSync, writeFileSync } from 'node:fs';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import path from 'node:path';
import { ROOT } from '../../devstack/tools.ts';

export const QUICKSTART_CONFIG = path.join(ROOT, 'examples/quickstart/llm-authz.yaml');

function readEnvFile(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m?.[1] && m[2] !== undefined) out[m[1]] = m[2];
  }
  return out;
}

const keys = readEnvFile(path.join(ROOT, 'examples/quickstart/demo-keys.env'));
export const CHAT_KEY = keys['LLM_AUTHZ_DEMO_CHAT_KEY'] ?? '';
export const BATCH_KEY = keys['LLM_AUTHZ_DEMO_BATCH_KEY'] ?? '';
export const OPENAI_PROVIDER_KEY = readFileSync(path.join(ROOT, 'examples/quickstart/secrets/openai-api-key'), 'utf8').trim();
export const ANTHROPIC_PROVIDER_KEY = readFileSync(path.join(ROOT, 'examples/quickstart/secrets/anthropic-api-key'), 'utf8').trim();

/** The quickstart config with changes, written into dir (credential and policy paths made absolute). */
export function quickstartConfigWith(dir: string, change: (cfg: Record<string, any>) => void): string {
  const cfg = parseYaml(readFileSync(QUICKSTART_CONFIG, 'utf8')) as Record<string, any>;
  const base = path.dirname(QUICKSTART_CONFIG);
  // Every `file:` under a credential (a key, an AWS key's parts, a service-account key).
  const absolute = (o: unknown): void => {
    if (typeof o !== 'object' || o === null) return;
    const r = o as Record<string, unknown>;
    if (typeof r['file'] === 'string') r['file'] = path.resolve(base, r['file']);
    for (const v of Object.values(r)) absolute(v);
  };
  for (const p of cfg['providers'] as { credential?: unknown }[]) absolute(p.credential);
  const policy = cfg['policy'] as { dir?: string } | undefined;
  if (policy?.dir) policy.dir = path.resolve(base, policy.dir);
  change(cfg);
  const file = path.join(dir, 'llm-authz.yaml');
  writeFileSync(file, stringifyYaml(cfg));
  return file;
}
