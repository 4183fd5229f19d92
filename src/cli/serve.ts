/** `llm-authz serve`: load config, start the gRPC server, drain on SIGTERM/SIGINT. */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parseListen } from '../core/listen.ts';
import { UsageError, type Command } from './command.ts';
import { createDecisionLog } from '../audit/decision-log.ts';
import type { CredentialReloadListener, KeyStoreReloadListener } from '../core/build-context.ts';
import { ConfigError } from '../core/errors.ts';
import { loadRuntime, type Runtime } from '../pipeline/runtime.ts';
import { createCheck } from '../pipeline/check.ts';
import { createOutcomes, OUTCOME_FAILURE_MESSAGE } from '../pipeline/outcome.ts';
import { PolicyLoadError } from '../policy/index.ts';
import { startServer, type AuthzServer } from '../server/server.ts';
import { serverWarmUp, warmUpThenServe } from '../server/warm-up.ts';
import { keepWarmWhileIdle } from '../server/keep-warm.ts';
import { createStateReport, type StateReport } from '../server/state-report.ts';
import { watchTlsFiles, type WatchedTls } from '../server/tls-files.ts';
import { setIdentityLogger } from '../identity/log.ts';
import { createLogger, safeError, type Logger } from '../telemetry/log.ts';
import { startTelemetry } from '../telemetry/otel.ts';
import { SERVICE_VERSION } from '../telemetry/version.ts';
import { releaseStartUpMemory, type MemoryRelease } from './start-up-memory.ts';

export interface ServeOptions {
  config?: string | undefined;
  listen?: string | undefined;
  healthListen?: string | undefined;
}

/** Reloads of the provider credential files and the key store, and access tokens minted from a credential: health, metrics, the log. */
function reloadListeners(
  log: Logger,
  states: StateReport,
): { onCredentialReload: CredentialReloadListener; onKeyStoreReload: KeyStoreReloadListener; onRevocationListReload: KeyStoreReloadListener } {
  return {
    onCredentialReload: (e) => {
      states.report('credentials', e.file, e.outcome === 'reloaded' || e.outcome === 'token_minted');
      if (e.outcome === 'reloaded') log.info({ file: e.file }, 'provider credential reloaded');
      else if (e.outcome === 'token_failed') log.warn({ file: e.file, problem: e.problem }, 'provider access token could not be minted');
      else if (e.outcome === 'kept_last_good') log.warn({ file: e.file, problem: e.problem }, 'provider credential file unusable; keeping the last good value');
    },
    // the key store logs its own reloads
    onKeyStoreReload: (e) => states.report('key_store', e.file, e.outcome === 'reloaded'),
    // the revocation list logs its own reloads too
    onRevocationListReload: (e) => states.report('revocation_list', e.file, e.outcome === 'reloaded'),
  };
}

export async function serve(opts: ServeOptions): Promise<number> {
  const bootLog = createLogger('info');
  const states = createStateReport();
  let runtime: Runtime;
  try {
    if (opts.config === undefined) bootLog.warn({ config: 'built-in default' }, 'no config file given: the built-in default config denies every request');
    // Redis connection errors repeat while it is down: logged at most every 10 s (each Check's failure is counted).
    let lastStoreLog = 0;
    const onConnectionError = (err: Error): void => {
      if (Date.now() - lastStoreLog < 10_000) return;
      lastStoreLog = Date.now();
      bootLog.warn({ error: err.message.slice(0, 200) }, 'quota store connection failed; reconnecting');
    };
    runtime = loadRuntime(opts.config, { ...reloadListeners(bootLog, states), quotas: { onConnectionError } });
  } catch (err) {
    if (err instanceof ConfigError || err instanceof PolicyLoadError) {
      bootLog.fatal({ config: opts.config, problems: err.problems }, err instanceof PolicyLoadError ? 'invalid policy set; not starting' : 'invalid config; not starting');
      process.stderr.write(`${err.message}\n`);
      bootLog.flush();
      return 2;
    }
    throw err;
  }
  // Providers with a service account get their first access token now, not on the first request.
  runtime.providers.prefetch?.();
  const { level, format } = runtime.config.log;
  const log = level === 'info' && format === 'auto' ? bootLog : createLogger(level, format);
  setIdentityLogger(log);
  const decisionLog = createDecisionLog(runtime.decisionLogSink, { flushMs: runtime.config.decision_log.flush_ms });
  const telemetry = await startTelemetry(runtime.config.telemetry, { version: SERVICE_VERSION });

  // Checks decided so far: the idle warm-up runs only in periods without any.
  let served = 0;
  const check = createCheck(
    () => runtime,
    {
      onDecision: (record, trace) => {
        served++;
        decisionLog.write(record, trace);
      },
      onError: (reason, err, decisionId) => log.error({ reason, decision_id: decisionId, ...safeError(err) }, 'check failed; denied'),
    },
    telemetry.tracer,
  );

  const outcomes = createOutcomes(
    {
      onOutcome: (record, trace) => decisionLog.writeOutcome(record, trace),
      onError: (err, failed) => log.warn({ failed, ...safeError(err) }, OUTCOME_FAILURE_MESSAGE[failed]),
    },
    telemetry.outcomeTracer,
    () => runtime.quotas,
  );
  // A shared quota store is connected before the first Check (else the first Checks would find it unreachable).
  if (runtime.quotas !== undefined && !(await runtime.quotas.warm())) {
    log.warn({ on_store_error: runtime.quotas.onStoreError }, 'the quota store is not reachable yet; Checks apply on_store_error until it is');
  }

  const policy = runtime.policy;
  if (policy !== undefined && policy.status().rules === 0)
    log.warn({ policy_dir: runtime.config.policy?.dir }, 'the policy folder has no rules: every request is denied (denied_by_default)');
  let server: AuthzServer | undefined;
  if (policy !== undefined) {
    policy.onReload((o) => {
      states.report('policy', 'policy', o.ok);
      if (o.ok) log.info({ policy_version: o.version, policy_shadow_version: o.shadowVersion }, 'policy set reloaded');
      else log.error({ policy_version: o.version, problems: o.problems }, 'policy set rejected; the last good set stays in force');
    });
    process.on('SIGHUP', () => {
      log.info({ signal: 'SIGHUP' }, 'reloading the policy set');
      policy.reload();
    });
  } else {
    // Without a policy section there is nothing to reload; SIGHUP must not stop the server.
    process.on('SIGHUP', () => log.warn({ signal: 'SIGHUP' }, 'no policy: section in the config; nothing to reload'));
  }

  const listen = opts.listen ?? runtime.config.server.listen;
  const tlsConfig = runtime.config.server.tls;
  let tls: WatchedTls | undefined;
  if (tlsConfig !== undefined) {
    const baseDir = opts.config === undefined ? process.cwd() : path.dirname(path.resolve(opts.config));
    const at = (f: string): string => path.resolve(baseDir, f);
    try {
      tls = watchTlsFiles({ cert: at(tlsConfig.cert), key: at(tlsConfig.key), clientCa: tlsConfig.client_ca === undefined ? undefined : at(tlsConfig.client_ca) }, (e) =>
        e.outcome === 'reloaded'
          ? log.info({ mtls: tlsConfig.client_ca !== undefined }, 'gRPC listener certificate reloaded')
          : log.warn({ problem: e.problem }, 'gRPC listener TLS files unusable; keeping the last good ones'),
      );
    } catch (err) {
      log.fatal({ problem: err instanceof Error ? err.message : String(err) }, 'invalid server.tls; not starting');
      log.flush();
      return 2;
    }
  }
  try {
    server = await startServer({
      listen,
      check,
      outcomes,
      log,
      tls,
      healthListen: opts.healthListen ?? runtime.config.server.health_listen,
      maxConnectionIdleMs: runtime.config.server.max_connection_idle_ms,
    });
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const inUse = code === 'EADDRINUSE' || (err instanceof Error && /EADDRINUSE|address already in use/i.test(err.message));
    log.fatal(
      { listen, problem: inUse ? 'the address is already in use' : 'the address cannot be bound', ...safeError(err) },
      inUse ? `cannot listen on ${listen}: the address is already in use` : `cannot listen on ${listen}`,
    );
    log.flush();
    tls?.close();
    await decisionLog.close();
    await runtime.close();
    await telemetry.shutdown();
    return 1;
  }
  states.attach(server);
  // Start-up's garbage goes before SERVING, with the young generation that start-up grew (start-up-memory.ts).
  let released: MemoryRelease | undefined;
  const started = server;
  const serving = (): void => {
    released = releaseStartUpMemory();
    started.setServing(true);
  };
  const warmUpSteps = serverWarmUp(runtime, started, { listen, healthListen: opts.healthListen ?? runtime.config.server.health_listen, tls: tls !== undefined });
  if (runtime.config.server.warm_up) {
    await warmUpThenServe(warmUpSteps, serving, log);
  } else {
    serving();
  }
  const keepWarmMs = runtime.config.server.keep_warm_ms;
  const keepWarm = keepWarmMs === 0 ? undefined : keepWarmWhileIdle({ intervalMs: keepWarmMs, served: () => served, steps: warmUpSteps, log });
  const loaded = runtime.identify.loaded?.();
  log.info(
    {
      version: SERVICE_VERSION,
      listen,
      // A port only for TCP.
      port: listen.startsWith('unix:') ? undefined : server.port,
      tls: tls === undefined ? 'off' : tlsConfig?.client_ca === undefined ? 'tls' : 'mtls',
      health_port: server.healthPort,
      traces: telemetry.tracesTo,
      metrics: telemetry.metricsTo,
      metrics_port: telemetry.prometheusPort,
      config: runtime.source,
      config_version: runtime.version,
      providers: [...runtime.providers.byName.keys()],
      api_keys: loaded?.apiKeys ?? runtime.config.identity.api_keys.length,
      identity_methods: loaded?.methods,
      policy_version: policy?.status().version,
      policy_rules: policy?.status().rules,
      policy_shadow_version: policy?.status().shadowVersion,
      heap_mib: released?.heapMiBAfter,
      start_gc_ms: released === undefined ? undefined : Math.round(released.durationMs),
    },
    'llm-authz serving',
  );

  return await new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      const { drain_delay_ms: delay, shutdown_timeout_ms: timeout } = runtime.config.server;
      keepWarm?.stop();
      server.setServing(false);
      log.info({ signal, drain_delay_ms: delay, in_flight: server.inFlight }, 'draining: health is NOT_SERVING');
      setTimeout(() => {
        void server.shutdown(timeout).then(async (how) => {
          await decisionLog.close();
          await runtime.close();
          tls?.close();
          await telemetry.shutdown();
          log.info({ how, decisions_dropped: decisionLog.dropped }, 'stopped');
          log.flush();
          resolve(0);
          // An OTLP exporter still retrying towards an unreachable collector must not hold the
          // process open (the timer itself does not keep it alive).
          setTimeout(() => process.exit(0), 1000).unref();
        });
      }, delay);
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
}

export const serveCommand: Command = {
  name: 'serve',
  usage: 'serve [--config FILE] [--listen HOST:PORT|unix:PATH] [--health-listen HOST:PORT]',
  summary: 'run the ext_authz gRPC server (default 127.0.0.1:9001)',
  help: `options:
  -c, --config FILE     the config file (without it, a built-in config that denies every request)
  -l, --listen ADDRESS  HOST:PORT ([::1]:9001 for IPv6) or unix:PATH; overrides server.listen
      --health-listen ADDRESS  a plaintext port answering gRPC health only (for probes when
                        server.tls is on); overrides server.health_listen

Logs go to stderr; decision-log lines to the config's decision_log.sink (stdout by default).
SIGHUP reloads the policy set; SIGTERM and SIGINT drain and stop.
Exit codes: 0 stopped by a signal, 1 could not listen, 2 a usage or config error.`,
  async run(args: string[]): Promise<number> {
    const { values } = parseArgs({
      args,
      options: { config: { type: 'string', short: 'c' }, listen: { type: 'string', short: 'l' }, 'health-listen': { type: 'string' } },
      strict: true,
    });
    for (const [flag, v] of [
      ['--listen', values.listen],
      ['--health-listen', values['health-listen']],
    ] as const) {
      if (v === undefined) continue;
      const l = parseListen(v);
      if (!l.ok) throw new UsageError(`${flag}: ${l.problem}`);
    }
    return serve({ config: values.config, listen: values.listen, healthListen: values['health-listen'] });
  },
};
