/** Providers as the request path needs them: route value, API kind, served models, credential loaded. */
import { ConfigError } from '../core/errors.ts';
import type { CredentialReloadListener } from './credential-file.ts';
import { credentialKind, loadCredential, type ProviderCredential } from './credential.ts';
import { ServiceAccount } from './google-token.ts';
import { compileModelGlobs, type ModelMatcher } from './model-match.ts';
import { formFor, MATERIAL, profileOf, type ApiProfile, type WireApi } from '../apis/index.ts';
import type { ApiKind, CredentialSource, ProviderConfig } from './schema.ts';

export type { ProviderCredential } from './credential.ts';

/** What a SigV4-signed provider's requests are signed for. */
export interface Signing {
  readonly region: string;
  /** The Host the upstream receives. */
  readonly host: string;
}

export interface ProviderRuntime {
  readonly name: string;
  readonly api: ApiKind;
  /** The API profile: the wire format it speaks, how its credential is attached. */
  readonly profile: ApiProfile<ApiKind, WireApi>;
  /** Value written into the routing header. */
  readonly route: string;
  readonly credential: ProviderCredential | undefined;
  /** Whether this provider serves a model (its `models:` globs; any model when absent). */
  readonly serves: ModelMatcher;
  /** Region and host, for an API that signs with an AWS key (`region`, `host`). */
  readonly signing?: Signing | undefined;
}

export interface Providers {
  readonly byName: ReadonlyMap<string, ProviderRuntime>;
  /** Named credentials from `credentials:`. */
  readonly credentials: ReadonlyMap<string, ProviderCredential>;
  /** The provider serving each API when no rule says otherwise (the first one configured). */
  readonly defaultByApi: ReadonlyMap<ApiKind, ProviderRuntime>;
  /** Providers in config order. */
  readonly list: readonly ProviderRuntime[];
  /** Mints the first access token of each provider with a service account, in the background (the server calls it at start). */
  prefetch?(): void;
  /** Stops watching credential files. */
  close(): void;
}

const ANY_MODEL: ModelMatcher = () => true;

/** The kinds of credential a profile takes, for messages. */
function takes(profile: ApiProfile): string {
  return profile.credentials.map((f) => MATERIAL[f.kind]).join(' or ');
}

/** Region and host of a provider, checked against the forms its API takes. */
function signingOf(p: ProviderConfig, credential: ProviderCredential | undefined, where: string): Signing | undefined {
  const profile = profileOf(p.api);
  const sigv4 = profile.credentials.find((f) => f.kind === 'sigv4');
  if (sigv4 === undefined || sigv4.kind !== 'sigv4') {
    if (p.region !== undefined || p.host !== undefined) throw new ConfigError(where, [`region and host apply to an API that signs requests with an AWS key, not to ${p.api}`]);
    return undefined;
  }
  if (p.region === undefined) {
    if (credential !== undefined && credentialKind(credential) === 'aws')
      throw new ConfigError(where, ['region is required: requests are signed for a region with the aws credential']);
    if (p.host !== undefined) throw new ConfigError(where, ['host needs region']);
    return undefined;
  }
  return { region: p.region, host: p.host ?? sigv4.defaultHost(p.region) };
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
    const load = (c: CredentialSource, where: string): ProviderCredential => {
      const l = loadCredential(c, baseDir, where, onReload);
      closers.push(l.close);
      return l.credential;
    };
    const credentials = new Map<string, ProviderCredential>();
    for (const [name, c] of Object.entries(named)) credentials.set(name, load(c, `${source}: credentials.${name}`));
    const byName = new Map<string, ProviderRuntime>();
    const defaultByApi = new Map<ApiKind, ProviderRuntime>();
    const list: ProviderRuntime[] = [];
    configs.forEach((p, i) => {
      const where = `${source}: providers[${i}]`;
      const profile = profileOf(p.api);
      const credential = p.credential === undefined ? undefined : typeof p.credential === 'string' ? credentials.get(p.credential) : load(p.credential, `${where}.credential`);
      if (credential !== undefined && formFor(profile, credentialKind(credential)) === undefined) {
        throw new ConfigError(`${where}.credential`, [`the ${p.api} API takes a credential of kind ${takes(profile)}, not ${credentialKind(credential)}`]);
      }
      const rt: ProviderRuntime = {
        name: p.name,
        api: p.api,
        profile,
        route: p.route ?? p.name,
        credential,
        serves: p.models === undefined ? ANY_MODEL : compileModelGlobs(p.models),
        signing: signingOf(p, credential, where),
      };
      byName.set(p.name, rt);
      list.push(rt);
      if (!defaultByApi.has(p.api)) defaultByApi.set(p.api, rt);
    });
    const prefetch = (): void => {
      for (const p of list) {
        const form = p.credential instanceof ServiceAccount ? formFor(p.profile, 'service_account') : undefined;
        if (p.credential instanceof ServiceAccount && form?.kind === 'oauth2') p.credential.prefetch(form.scopes);
      }
    };
    return { byName, credentials, defaultByApi, list, prefetch, close: closeAll };
  } catch (err) {
    closeAll();
    throw err;
  }
}
