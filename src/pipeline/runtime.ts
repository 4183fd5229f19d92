/**
 * The one runtime assembler: config file -> Config -> Runtime, everything the request path
 * needs, built once at start (or reload). `serve`, `check` and `test` all build through here.
 * Each area builds its own part; the pipeline calls them through this one object:
 *   identify (identity/), understand (llm/), decide (policy/), providers (providers/).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { BuildContext, CredentialReloadListener, KeyStoreReloadListener } from '../core/build-context.ts';
import { stripRules, type StripRules } from '../envoy/strip.ts';
import { ON_BEHALF_OF_HEADER } from '../identity/schema.ts';
import { ConfigError } from '../core/errors.ts';
import { defaultConfig, parseConfigText } from '../config/load.ts';
import { configSchema, type Config } from '../config/schema.ts';
import { createIdentifierFromConfig, type Identify } from '../identity/index.ts';
import { createUnderstander, type Understand } from '../llm/index.ts';
import { createPolicy, type Decide, type PolicyEngine } from '../policy/index.ts';
import { buildProviders, type Providers } from '../providers/runtime.ts';
import { buildQuotas, type QuotaOptions, type Quotas } from '../quota/quotas.ts';

export type { BuildContext } from '../core/build-context.ts';
export type { ProviderRuntime } from '../providers/runtime.ts';

export interface Runtime {
  readonly config: Config;
  readonly source: string;
  readonly version: string;
  readonly identify: Identify;
  readonly understand: Understand;
  readonly decide: Decide;
  readonly providers: Providers;
  readonly routingHeader: string;
  /** `decision_log.sink` with a file path resolved against the config file's folder. */
  readonly decisionLogSink: string;
  /** Which request headers an allow removes (src/envoy/strip.ts). */
  readonly strip: StripRules;
  /** The CEL policy engine (reload, status), when the config has a `policy:` section. */
  readonly policy: PolicyEngine | undefined;
  /** The quotas (config `quotas`), when it has rules. */
  readonly quotas: Quotas | undefined;
  /** Releases what the runtime holds (watchers, timers). */
  close(): Promise<void>;
}

export interface RuntimeOptions {
  /** Reload policies when their files change (default: the config's `policy.watch`). */
  readonly watchPolicies?: boolean | undefined;
  /** The clock policies see as `now` (ms since the epoch); `llm-authz check --now`. */
  readonly now?: (() => number) | undefined;
  readonly onCredentialReload?: CredentialReloadListener | undefined;
  readonly onKeyStoreReload?: KeyStoreReloadListener | undefined;
  readonly onRevocationListReload?: KeyStoreReloadListener | undefined;
  /** The quotas' clock and store (tests, the benchmark), and where Redis connection errors go. */
  readonly quotas?: QuotaOptions | undefined;
}

export function buildRuntime(config: Config, ctx: BuildContext, opts: RuntimeOptions = {}): Runtime {
  const providers = buildProviders(config.providers, config.credentials, ctx.baseDir, ctx.source, ctx.onCredentialReload);
  const closers: (() => Promise<void> | void)[] = [];
  closers.push(() => providers.close());
  try {
    const identify = createIdentifierFromConfig(config.identity, ctx, opts.now);
    closers.push(() => identify.close?.());
    const policy = createPolicy(config, ctx, providers, { watch: opts.watchPolicies, now: opts.now });
    if (policy.engine !== undefined) closers.push(policy.engine.close);
    const quotas = config.quotas !== undefined && config.quotas.rules.length > 0 ? buildQuotas(config.quotas, opts.quotas) : undefined;
    if (quotas !== undefined) closers.push(() => quotas.close());
    const onBehalfOf = config.identity.on_behalf_of === undefined ? [] : [config.identity.on_behalf_of.header];
    return {
      config,
      source: ctx.source,
      version: ctx.version,
      identify,
      understand: createUnderstander(providers),
      decide: policy.decide,
      providers,
      routingHeader: config.routing.header,
      decisionLogSink: decisionLogSink(config.decision_log.sink, ctx.baseDir),
      strip: stripRules({
        removeHeaders: config.routing.remove_headers,
        routingHeader: config.routing.header,
        // the on-behalf-of header whether configured or not
        onBehalfOfHeaders: [...onBehalfOf, ON_BEHALF_OF_HEADER],
      }),
      policy: policy.engine,
      quotas,
      async close() {
        for (const c of closers) await c();
      },
    };
  } catch (err) {
    for (const c of closers) void c();
    throw err;
  }
}

/** The short content hash that names a config's version in logs and audit records. */
export function configVersion(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 12);
}

/**
 * Reads a config file and builds its runtime; without a file, the built-in default config
 * (no providers, no keys: every request is denied). Throws ConfigError or PolicyLoadError with
 * every problem at once.
 */
export function loadRuntime(file: string | undefined, opts: RuntimeOptions = {}): Runtime {
  if (file === undefined) {
    return buildRuntime(defaultConfig(), { source: 'built-in default', version: 'default', baseDir: process.cwd() }, opts);
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [`cannot read the file: ${(err as NodeJS.ErrnoException).code ?? 'error'}`]);
  }
  const config = parseConfigText(text, file);
  return buildRuntime(
    config,
    {
      source: file,
      version: configVersion(text),
      baseDir: path.dirname(path.resolve(file)),
      onCredentialReload: opts.onCredentialReload,
      onKeyStoreReload: opts.onKeyStoreReload,
      onRevocationListReload: opts.onRevocationListReload,
    },
    opts,
  );
}

/** A runtime for a policy folder alone (no config file): no providers, no identity methods. */
export function policyOnlyRuntime(dir: string, opts: RuntimeOptions = {}): Runtime {
  const config = configSchema.parse({ policy: { dir } });
  return buildRuntime(config, { source: dir, version: 'policy-only', baseDir: process.cwd() }, opts);
}

/** A decision-log sink: `stdout`, `stderr`, `off`, or a file path relative to the config file. */
export function decisionLogSink(sink: string, baseDir: string): string {
  return sink === 'stdout' || sink === 'stderr' || sink === 'off' ? sink : path.resolve(baseDir, sink);
}
