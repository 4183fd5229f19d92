/** Providers as the request path needs them: route value, API kind, credential loaded. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../config/load.ts';
import { Secret } from '../config/secret.ts';
import type { ApiKind, CredentialSource, ProviderConfig } from './schema.ts';

export interface ProviderRuntime {
  readonly name: string;
  readonly api: ApiKind;
  /** Value written into the routing header. */
  readonly route: string;
  readonly credential: Secret | undefined;
}

export interface Providers {
  readonly byName: ReadonlyMap<string, ProviderRuntime>;
  /** Named credentials from `credentials:`. */
  readonly credentials: ReadonlyMap<string, Secret>;
  /** The provider serving each API when no rule says otherwise (the first one configured). */
  readonly defaultByApi: ReadonlyMap<ApiKind, ProviderRuntime>;
}

export function readCredential(c: CredentialSource, baseDir: string, where: string): Secret {
  if (c.env !== undefined) {
    const v = process.env[c.env];
    if (v === undefined || v.trim() === '') throw new ConfigError(where, [`environment variable ${c.env} is not set`]);
    return new Secret(v.trim());
  }
  const file = path.resolve(baseDir, c.file ?? '');
  let v: string;
  try {
    v = readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new ConfigError(where, [`cannot read credential file ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`]);
  }
  if (v === '') throw new ConfigError(where, [`credential file ${file} is empty`]);
  return new Secret(v);
}

export function buildProviders(
  configs: readonly ProviderConfig[],
  named: Readonly<Record<string, CredentialSource>>,
  baseDir: string,
  source: string,
): Providers {
  const credentials = new Map<string, Secret>();
  for (const [name, c] of Object.entries(named)) credentials.set(name, readCredential(c, baseDir, `${source}: credentials.${name}`));
  const byName = new Map<string, ProviderRuntime>();
  const defaultByApi = new Map<ApiKind, ProviderRuntime>();
  configs.forEach((p, i) => {
    const rt: ProviderRuntime = {
      name: p.name,
      api: p.api,
      route: p.route ?? p.name,
      credential:
        p.credential === undefined
          ? undefined
          : typeof p.credential === 'string'
            ? credentials.get(p.credential)
            : readCredential(p.credential, baseDir, `${source}: providers[${i}].credential`),
    };
    byName.set(p.name, rt);
    if (!defaultByApi.has(p.api)) defaultByApi.set(p.api, rt);
  });
  return { byName, credentials, defaultByApi };
}
