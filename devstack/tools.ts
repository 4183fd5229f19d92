/** Where the project's pinned tools live (installed by scripts/tools.sh into .tools/). */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file is devstack/tools.ts). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export const TOOLS_DIR = process.env['LLM_AUTHZ_TOOLS_DIR'] ?? path.join(ROOT, '.tools');

function locate(envVar: string, name: string, installHint: string): string {
  const p = process.env[envVar] || path.join(TOOLS_DIR, 'bin', name);
  if (!existsSync(p)) {
    throw new Error(`${name} is missing: expected it at ${p} (set ${envVar} to override). Install it with: ${installHint}`);
  }
  return p;
}

export function envoyBin(): string {
  return locate('ENVOY_BIN', 'envoy', 'bash scripts/tools.sh envoy');
}

export function jaegerBin(): string {
  return locate('JAEGER_BIN', 'jaeger', 'bash scripts/tools.sh jaeger');
}

export function hadolintBin(): string {
  return locate('HADOLINT_BIN', 'hadolint', 'bash scripts/tools.sh hadolint');
}

export function h2specBin(): string {
  return locate('H2SPEC_BIN', 'h2spec', 'bash scripts/tools.sh h2spec');
}

export function redisServerBin(): string {
  return locate('REDIS_SERVER_BIN', 'redis-server', 'bash scripts/tools.sh redis');
}

/** The built CLI entry point (run `npm run build` first). */
export function cliEntry(): string {
  const p = path.join(ROOT, 'bin', 'llm-authz.js');
  if (!existsSync(path.join(ROOT, 'dist', 'bundle', 'main.js'))) {
    throw new Error('llm-authz is not built: dist/bundle/main.js is missing. Run: npm run build');
  }
  return p;
}
