/**
 * The gRPC server: envoy.service.auth.v3.Authorization/Check,
 * envoy.service.ext_proc.v3.ExternalProcessor/Process (outcome records, observation only: it
 * never answers a ProcessingRequest, Envoy runs it in observability mode) and
 * grpc.health.v1.Health, on one listener. Health is SERVING once a config is loaded and
 * NOT_SERVING while draining; each reloaded state (policy, key store, provider credentials) has
 * its own service name.
 */
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { authorizationService, checkResponseEncoder, externalProcessorService } from '../envoy/proto.ts';
import { denyResponse, type CheckResponse } from '../envoy/response.ts';
import type { Check } from '../pipeline/check.ts';
import type { Outcomes } from '../pipeline/outcome.ts';
import type { Logger } from '../telemetry/log.ts';
import { safeError } from '../telemetry/log.ts';
import { randomUUID } from 'node:crypto';
import { GRPC_SERVER_OPTIONS } from './grpc-options.ts';
import { raiseHttp2Windows } from './http2-window.ts';
import type { ReloadedState } from '../telemetry/metrics.ts';

function firstString(values: grpc.MetadataValue[]): string | undefined {
  const v = values[0];
  return typeof v === 'string' ? v : undefined;
}

/** Health service names answered: '' (the whole server) and the Authorization service. */
export const HEALTH_SERVICES = ['', 'envoy.service.auth.v3.Authorization'] as const;

/**
 * Health service names that report a reloaded state: NOT_SERVING while its last reload was
 * rejected (the last good state still decides, so the server itself stays SERVING).
 */
export const STATE_HEALTH_SERVICES: Readonly<Record<ReloadedState, string>> = {
  policy: 'llm-authz.policy',
  key_store: 'llm-authz.key_store',
  credentials: 'llm-authz.credentials',
  revocation_list: 'llm-authz.revocation_list',
};
export const POLICY_HEALTH_SERVICE = STATE_HEALTH_SERVICES.policy;

export interface AuthzServer {
  readonly address: string;
  readonly port: number;
  /** The health-only listener's port, when there is one. */
  readonly healthPort: number | undefined;
  setServing(serving: boolean): void;
  /** Whether a reloaded state is the one its source holds, reported under STATE_HEALTH_SERVICES. */
  setStateHealthy(state: ReloadedState, healthy: boolean): void;
  /** In-flight Check calls. */
  readonly inFlight: number;
  /** Stops taking new calls and resolves when in-flight calls are done (or forces after timeoutMs). */
  shutdown(timeoutMs: number): Promise<'graceful' | 'forced'>;
}

/**
 * One ext_proc stream: each ProcessingRequest goes to the outcome stream; when its record is
 * written llm-authz ends its side, so Envoy closes the stream at once instead of keeping it for
 * its deferred_close_timeout (open streams count against the cluster's circuit breaker).
 */
function processStream(outcomes: Outcomes, call: grpc.ServerDuplexStream<unknown, unknown>): void {
  const stream = outcomes.open({ traceparent: firstString(call.metadata.get('traceparent')), tracestate: firstString(call.metadata.get('tracestate')) });
  let ended = false;
  const end = (): void => {
    if (ended) return;
    ended = true;
    stream.closed();
    try {
      call.end();
    } catch {
      // The stream is already gone: nothing to end.
    }
  };
  call.on('data', (req: unknown) => {
    if (!ended && stream.message(req) === 'end') end();
  });
  call.on('end', end);
  call.on('cancelled', () => stream.closed());
  call.on('error', () => stream.closed());
}

/**
 * grpc-js writes its own diagnostics to stderr as plain text (`E No address added ...`): they go
 * to the service log instead, at debug level, in its format. What matters (a port in use) is
 * reported by the caller as an error of its own.
 */
function routeGrpcLogs(log: Logger): void {
  const line = (...args: unknown[]): void => log.debug({ component: 'grpc-js', detail: args.map(String).join(' ').slice(0, 512) }, 'grpc-js');
  grpc.setLogger({ error: line, info: line, debug: line });
}

export interface ServerOptions {
  readonly listen: string;
  readonly check: Check;
  /** Outcome records: the ext_proc service, on the same listener as Check. */
  readonly outcomes?: Outcomes | undefined;
  readonly log: Logger;
  /** TLS (or mTLS) on the listener; plaintext without. */
  readonly credentials?: grpc.ServerCredentials | undefined;
  /** A second, plaintext listener with the health service only (the kubelet's gRPC probes). */
  readonly healthListen?: string | undefined;
  /** server.max_connection_idle_ms: a connection without a call this long is closed. */
  readonly maxConnectionIdleMs?: number | undefined;
}

function bind(server: grpc.Server, address: string, credentials: grpc.ServerCredentials): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    server.bindAsync(address, credentials, (err, p) => (err ? reject(err) : resolve(p)));
  });
}

export async function startServer(opts: ServerOptions): Promise<AuthzServer> {
  routeGrpcLogs(opts.log);
  raiseHttp2Windows();
  const server = new grpc.Server({ ...GRPC_SERVER_OPTIONS, ...(opts.maxConnectionIdleMs !== undefined ? { 'grpc.max_connection_idle_ms': opts.maxConnectionIdleMs } : {}) });
  const health = new HealthImplementation(Object.fromEntries([...HEALTH_SERVICES, ...Object.values(STATE_HEALTH_SERVICES)].map((s) => [s, 'NOT_SERVING' as const])));
  let serving = false;
  const stateHealthy = new Map<ReloadedState, boolean>();
  const report = (): void => {
    for (const s of HEALTH_SERVICES) health.setStatus(s, serving ? 'SERVING' : 'NOT_SERVING');
    for (const [state, name] of Object.entries(STATE_HEALTH_SERVICES) as [ReloadedState, string][]) {
      health.setStatus(name, serving && stateHealthy.get(state) !== false ? 'SERVING' : 'NOT_SERVING');
    }
  };
  health.addToServer(server);

  let inFlight = 0;
  // Requests are decoded by proto-loader; responses are encoded by checkResponseEncoder.
  const service = authorizationService(); // has Check: it says so when the protos lack it
  const encode = checkResponseEncoder();
  server.addService(
    { ...service, Check: { ...service.Check, responseSerialize: (r: unknown) => encode(r as CheckResponse) } },
    {
      Check(call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) {
        inFlight++;
        // Two callbacks, no .finally(): each settles the call and counts it done.
        opts
          .check(call.request, {
            traceparent: firstString(call.metadata.get('traceparent')),
            tracestate: firstString(call.metadata.get('tracestate')),
          })
          .then(
            (res) => {
              inFlight--;
              callback(null, res);
            },
            (err: unknown) => {
              inFlight--;
              // createCheck already fails closed; this is the last line of defence.
              opts.log.error({ reason: 'internal_error', ...safeError(err) }, 'check failed');
              callback(null, denyResponse({ decisionId: randomUUID(), reason: 'internal_error', detail: undefined, api: undefined, metadata: {} }));
            },
          );
      },
    },
  );

  const outcomes = opts.outcomes;
  if (outcomes !== undefined) {
    server.addService(externalProcessorService(), {
      Process: (call: grpc.ServerDuplexStream<unknown, unknown>) => processStream(outcomes, call),
    });
  }

  const port = await bind(server, opts.listen, opts.credentials ?? grpc.ServerCredentials.createInsecure());
  let healthServer: grpc.Server | undefined;
  let healthPort: number | undefined;
  if (opts.healthListen !== undefined) {
    healthServer = new grpc.Server(GRPC_SERVER_OPTIONS);
    health.addToServer(healthServer);
    try {
      healthPort = await bind(healthServer, opts.healthListen, grpc.ServerCredentials.createInsecure());
    } catch (err) {
      server.forceShutdown();
      throw err;
    }
  }

  return {
    address: opts.listen,
    port,
    healthPort,
    setServing(value) {
      serving = value;
      report();
    },
    setStateHealthy(state, value) {
      stateHealthy.set(state, value);
      report();
    },
    get inFlight() {
      return inFlight;
    },
    shutdown(timeoutMs) {
      healthServer?.forceShutdown();
      return new Promise((resolve) => {
        const t = setTimeout(() => {
          server.forceShutdown();
          resolve('forced');
        }, timeoutMs);
        server.tryShutdown(() => {
          clearTimeout(t);
          resolve('graceful');
        });
      });
    },
  };
}
