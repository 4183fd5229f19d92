/** Providers as the request path needs them: route value, API kind, served models, credential loaded. */
import path from 'node:path';
import { ConfigError } from '../core/errors.ts';
import { Secret } from '../core/secret.ts';
import { watchedCredential, type CredentialReloadListener } from './credential-file.ts';
import { compileModelGlobs, type ModelMatcher } from './model-match.ts';
import { profileOf, type ApiProfile, type WireApi } from '../apis/index.ts';
import type { ApiKind, CredentialSource, ProviderConfig } from './schema.ts';

export interface ProviderRuntime {
  readonly name: string;
  readonly api: ApiKind;
  /** The API profile: the wire format it speaks, how its credential is attached. */
  readonly profile: ApiProfile<ApiKind, WireApi>;
  /** Value written into the routing header. */
  readonly route: string;
  readonly credential: Secret | undefined;
  /** Whether this provider serves a model (its `models:` globs; any model when absent). */
  readonly serves: ModelMatcher;
}

export interface Providers {
  readonly byName: ReadonlyMap<string, ProviderRuntime>;
  /** Named credentials from `credentials:`. */
  readonly credentials: ReadonlyMap<string, Secret>;
  /** The provider serving each API when no rule says otherwise (the first one configured). */
  readonly defaultByApi: ReadonlyMap<ApiKind, ProviderRuntime>;
  /** Providers in config order. */
  readonly list: readonly ProviderRuntime[];
  /** Stops watching credential files. */
  close(): void;
}

const ANY_MODEL: ModelMatcher = () => true;

interface Loaded {
  readonly secret: Secret;
  readonly close: () => void;
}

export function readCredential(c: CredentialSource, baseDir: string, where: string, onReload?: CredentialReloadListener): Loaded {
  if (c.env !== undefined) {
    const v = process.env[c.env];
    if (v === undefined || v.trim() === '') throw new ConfigError(where, [`environment variable ${c.env} is not set`]);
    return { secret: new Secret(v.trim()), close: () => undefined };
  }
  const file = path.resolve(baseDir, c.file ?? '');
  try {
    return watchedCredential(file, onReload);
  } catch (err) {
    throw new ConfigError(where, [err instanceof Error ? err.message : 'cannot read the credential file']);
  }
}

export function buildProviders(
  configs: readonly ProviderConfig[],
  named: Readonly<Record<string, CredentialSource>>,
  baseDir: string,
  source: string,
  onReload?: CredentialReloadListener,
): Providers {
  const closers: (() => void)[] = [];
  const closeAll = (): void => {
    for (const c of closers.splice(0)) c();
  };
  try {
    const load = (c: CredentialSource, where: string): Secret => {
      const l = readCredential(c, baseDir, where, onReload);
      closers.push(l.close);
      return l.secret;
    };
    const credentials = new Map<string, Secret>();
    for (const [name, c] of Object.entries(named)) credentials.set(name, load(c, `${source}: credentials.${name}`));
    const byName = new Map<string, ProviderRuntime>();
    const defaultByApi = new Map<ApiKind, ProviderRuntime>();
    const list: ProviderRuntime[] = [];
    configs.forEach((p, i) => {
      const rt: ProviderRuntime = {
        name: p.name,
        api: p.api,
        profile: profileOf(p.api),
        route: p.route ?? p.name,
        credential:
          p.credential === undefined
            ? undefined
            : typeof p.credential === 'string'
              ? credentials.get(p.credential)
              : load(p.credential, `${source}: providers[${i}].credential`),
        serves: p.models === undefined ? ANY_MODEL : compileModelGlobs(p.models),
      };
      byName.set(p.name, rt);
      list.push(rt);
      if (!defaultByApi.has(p.api)) defaultByApi.set(p.api, rt);
    });
    return { byName, credentials, defaultByApi, list, close: closeAll };
  } catch (err) {
    closeAll();
    throw err;
  }
}
