/**
 * Config -> Runtime: everything the request path needs, built once at start (or reload):
 * identity methods, providers with their credentials loaded, the routing header.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createApiKeyMethod } from '../identity/api-key.ts';
import { createIdentifier, type Identify } from '../identity/index.ts';
import { ConfigError } from './load.ts';
import type { ApiKind, Config } from './schema.ts';
import { Secret } from './secret.ts';

export interface ProviderRuntime {
  readonly name: string;
  readonly api: ApiKind;
  /** Value written into the routing header. */
  readonly route: string;
  readonly credential: Secret | undefined;
}

export interface Runtime {
  readonly config: Config;
  /** Where the config came from (a path, or `built-in default`). */
  readonly source: string;
  /** A short hash of the config text: the version every decision records. */
  readonly version: string;
  readonly identify: Identify;
  readonly providers: ReadonlyMap<string, ProviderRuntime>;
  /** The provider serving each API when no rule says otherwise (the first one configured). */
  readonly defaultProviderByApi: ReadonlyMap<ApiKind, ProviderRuntime>;
  readonly routingHeader: string;
}

function readCredential(c: NonNullable<Config['providers'][number]['credential']>, baseDir: string, where: string): Secret {
  if (c.env !== undefined) {
    const v = process.env[c.env];
    if (v === undefined || v.trim() === '') throw new ConfigError(where, [`environment variable ${c.env} is not set`]);
    return new Secret(v.trim());
  }
  const file = path.resolve(baseDir, c.file ?? '');
  try {
    const v = readFileSync(file, 'utf8').trim();
    if (v === '') throw new ConfigError(where, [`credential file ${file} is empty`]);
    return new Secret(v);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(where, [`cannot read credential file ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`]);
  }
}

export function buildRuntime(config: Config, options: { source: string; version: string; baseDir: string }): Runtime {
  const providers = new Map<string, ProviderRuntime>();
  const defaultProviderByApi = new Map<ApiKind, ProviderRuntime>();
  config.providers.forEach((p, i) => {
    const rt: ProviderRuntime = {
      name: p.name,
      api: p.api,
      route: p.route ?? p.name,
      credential: p.credential ? readCredential(p.credential, options.baseDir, `${options.source}: providers[${i}].credential`) : undefined,
    };
    providers.set(p.name, rt);
    if (!defaultProviderByApi.has(p.api)) defaultProviderByApi.set(p.api, rt);
  });
  return {
    config,
    source: options.source,
    version: options.version,
    identify: createIdentifier([createApiKeyMethod(config.identity.api_keys)]),
    providers,
    defaultProviderByApi,
    routingHeader: config.routing.header,
  };
}
