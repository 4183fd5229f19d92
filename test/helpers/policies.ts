/** Policy sets written into temp folders, and fixed providers, for unit tests. */
import { profileOf } from '../../src/apis/index.ts';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';
import { Secret } from '../../src/core/secret.ts';
import type { Providers, ProviderRuntime } from '../../src/providers/runtime.ts';

export const SECRETS = {
  openai: new Secret('sk-unit-openai-default'),
  anthropic: new Secret('sk-unit-anthropic-default'),
  team: new Secret('sk-unit-openai-team'),
  batch: new Secret('sk-unit-openai-batch'),
};

export function unitProviders(): Providers {
  const p = (name: string, api: 'openai' | 'anthropic', credential: Secret): ProviderRuntime => ({
    name,
    api,
    profile: profileOf(api),
    route: name,
    credential,
    serves: () => true,
  });
  const openai = p('openai', 'openai', SECRETS.openai);
  const anthropic = p('anthropic', 'anthropic', SECRETS.anthropic);
  const team = p('openai-team', 'openai', SECRETS.team);
  return {
    byName: new Map([
      ['openai', openai],
      ['anthropic', anthropic],
      ['openai-team', team],
    ]),
    credentials: new Map([
      ['openai-default', SECRETS.openai],
      ['anthropic-default', SECRETS.anthropic],
      ['openai-team', SECRETS.team],
      ['openai-batch', SECRETS.batch],
    ]),
    defaultByApi: new Map([
      ['openai', openai],
      ['anthropic', anthropic],
    ]),
    list: [openai, anthropic, team],
    close: () => undefined,
  };
}

/** A temp folder removed after the file's tests; `write` replaces its policy files. */
export function policyDir(prefix = 'llm-authz-policy-'): { dir: string; write(files: Record<string, string>): void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return {
    dir,
    write(files) {
      mkdirSync(dir, { recursive: true });
      for (const [name, text] of Object.entries(files)) {
        if (text === '') rmSync(path.join(dir, name), { force: true });
        else writeFileSync(path.join(dir, name), text);
      }
    },
  };
}
