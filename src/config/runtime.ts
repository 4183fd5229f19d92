/**
 * Config -> Runtime: everything the request path needs, built once at start (or reload).
 * Each area builds its own part; the pipeline calls them through this one object:
 *   identify (identity/), understand (llm/), decide (policy/), providers (providers/).
 */
import type { Identify } from '../identity/index.ts';
import { createIdentifierFromConfig } from '../identity/index.ts';
import { createUnderstander, type Understand } from '../llm/index.ts';
import { createPolicy, type Decide, type PolicyEngine } from '../policy/index.ts';
import { buildProviders, type Providers } from '../providers/runtime.ts';
import type { CredentialReloadListener } from '../providers/credential-file.ts';
import type { KeyStoreReloadEvent } from '../identity/key-store.ts';
import type { Config } from './schema.ts';
import { stripRules, type StripRules } from '../envoy/strip.ts';
import { CREDENTIAL_HEADERS } from '../identity/credentials.ts';
import { ON_BEHALF_OF_HEADER } from '../identity/schema.ts';

export type { ProviderRuntime } from '../providers/runtime.ts';

export interface BuildContext {
  /** Where the config came from (a path, or `built-in default`). */
  readonly source: string;
  /** A short hash of the config text. */
  readonly version: string;
  /** Relative paths in the config are resolved against this folder. */
  readonly baseDir: string;
  /** Told when a provider credential file is reloaded (or kept after a bad change). */
  readonly onCredentialReload?: CredentialReloadListener | undefined;
  /** Told when the API key store file is reloaded (or kept after a bad change). */
  readonly onKeyStoreReload?: ((e: KeyStoreReloadEvent) => void) | undefined;
}

export interface Runtime {
  readonly config: Config;
  readonly source: string;
  readonly version: string;
  readonly identify: Identify;
  readonly understand: Understand;
  readonly decide: Decide;
  readonly providers: Providers;
  readonly routingHeader: string;
  /** Which request headers an allow removes (src/envoy/strip.ts). */
  readonly strip: StripRules;
  /** The CEL policy engine (reload, status), when the config has a `policy:` section. */
  readonly policy: PolicyEngine | undefined;
  /** Releases what the runtime holds (watchers, timers). */
  close(): Promise<void>;
}

export function buildRuntime(config: Config, ctx: BuildContext, opts: { watchPolicies?: boolean } = {}): Runtime {
  const providers = buildProviders(config.providers, config.credentials, ctx.baseDir, ctx.source, ctx.onCredentialReload);
  const closers: (() => Promise<void> | void)[] = [];
  closers.push(() => providers.close());
  const identify = createIdentifierFromConfig(config.identity, ctx);
  closers.push(() => identify.close?.());
  const policy = createPolicy(config, ctx, providers, { watch: opts.watchPolicies });
  if (policy.engine !== undefined) closers.push(policy.engine.close);
  const callerCredentialHeaders = config.identity.on_behalf_of === undefined ? [] : [config.identity.on_behalf_of.header];
  return {
    config,
    source: ctx.source,
    version: ctx.version,
    identify,
    understand: createUnderstander(providers),
    decide: policy.decide,
    providers,
    routingHeader: config.routing.header,
    strip: stripRules({
      removeHeaders: config.routing.remove_headers,
      routingHeader: config.routing.header,
      // the on-behalf-of header whether configured or not
      onBehalfOfHeaders: [...callerCredentialHeaders, ON_BEHALF_OF_HEADER],
      credentialHeaders: CREDENTIAL_HEADERS,
    }),
    policy: policy.engine,
    async close() {
      for (const c of closers) await c();
    },
  };
}
