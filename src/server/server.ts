/**
 * The gRPC server: envoy.service.auth.v3.Authorization/Check,
 * envoy.service.ext_proc.v3.ExternalProcessor/Process (outcome records, observation only: it
 * never answers a ProcessingRequest, Envoy runs it in observability mode) and
 * grpc.health.v1.Health, on one listener, over the gRPC transport of grpc-h2.ts; each
 * CheckRequest is read by check-request-decoder.ts. Health is SERVING once a config is loaded and
 * NOT_SERVING while draining; each reloaded state (policy, key store, provider credentials) has
 * its own service name.
 */
import { randomUUID } from 'node:crypto';
import { parseListen } from '../core/listen.ts';
import { decodeCheckRequest } from '../envoy/check-request-decoder.ts';
import { checkResponseEncoder, externalProcessorService } from '../envoy/proto.ts';
import { denyResponse } from '../envoy/response.ts';
import type { Check } from '../pipeline/check.ts';
import type { Outcomes } from '../pipeline/outcome.ts';
import type { Logger } from '../telemetry/log.ts';
import { safeError } from '../telemetry/log.ts';
import type { ReloadedState } from '../telemetry/metrics.ts';
import {
  CONNECTION_WINDOW_BYTES,
  createGrpcServer,
  GrpcError,
  MAX_MESSAGE_BYTES,
  Status,
  STREAM_WINDOW_BYTES,
  type CallHeaders,
  type GrpcServer,
  type GrpcServerOptions,
  type Method,
  type StreamMethod,
} from './grpc-h2.ts';
import { createHealth } from './health.ts';
import type { WatchedTls } from './tls-files.ts';

const first = (v: string | string[] | undefined): string | undefined => (typeof v === 'string' ? v : undefined);

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
 * ext_proc: each ProcessingRequest goes to the call's outcome stream; when its record is written
 * llm-authz ends its side, so Envoy closes the stream at once instead of keeping it for its
 * deferred_close_timeout (open streams count against the cluster's circuit breaker).
 */
function processMethod(outcomes: Outcomes): StreamMethod {
  const decode = externalProcessorService().Process?.requestDeserialize;
  if (decode === undefined) throw new Error('envoy.service.ext_proc.v3.ExternalProcessor/Process not found in the Envoy API protos');
  return {
    kind: 'stream',
    open(call) {
      const stream = outcomes.open({ traceparent: first(call.headers['traceparent']), tracestate: first(call.headers['tracestate']) });
      let ended = false;
      return {
        message(message) {
          if (ended) return;
          let req: unknown;
          try {
            req = decode(message);
          } catch {
            // As grpc-js did: the call fails; the outcome stream is closed with it (closed() below).
            ended = true;
            call.end(Status.INTERNAL, 'Error deserializing request');
            return;
          }
          if (stream.message(req) === 'end') {
            ended = true;
            call.end();
          }
        },
        end() {
          if (ended) return;
          ended = true;
          call.end();
        },
        closed() {
          stream.closed();
        },
      };
    },
  };
}

export interface ServerOptions {
  readonly listen: string;
  readonly check: Check;
  /** Outcome records: the ext_proc service, on the same listener as Check. */
  readonly outcomes?: Outcomes | undefined;
  readonly log: Logger;
  /** TLS (or mTLS, with a client CA) on the listener, its files re-read when they change; plaintext without. */
  readonly tls?: WatchedTls | undefined;
  /** A second, plaintext listener with the health service only (the kubelet's gRPC probes). */
  readonly healthListen?: string | undefined;
  /** server.max_connection_idle_ms: a connection without a call this long is closed. */
  readonly maxConnectionIdleMs?: number | undefined;
}

/** The Check method: the CheckRequest decoder's object in, the response encoder's bytes back. */
function checkMethod(check: Check, log: Logger, calls: { inFlight: number }): Method {
  const encode = checkResponseEncoder();
  const internalError = (err: unknown): Buffer => {
    // createCheck already fails closed; this is the last line of defence.
    log.error({ reason: 'internal_error', ...safeError(err) }, 'check failed');
    return encode(denyResponse({ decisionId: randomUUID(), reason: 'internal_error', detail: undefined, api: undefined, metadata: {} }));
  };
  return {
    kind: 'unary',
    handle(message: Buffer, headers: CallHeaders): Promise<Buffer> {
      let request: unknown;
      try {
        request = decodeCheckRequest(message);
      } catch {
        throw new GrpcError(Status.INTERNAL, 'Error deserializing request');
      }
      calls.inFlight++;
      // Two callbacks, no .finally(): each settles the call and counts it done.
      return check(request, { traceparent: first(headers['traceparent']), tracestate: first(headers['tracestate']) }).then(
        (res) => {
          calls.inFlight--;
          try {
            return encode(res);
          } catch (err) {
            return internalError(err);
          }
        },
        (err: unknown) => {
          calls.inFlight--;
          return internalError(err);
        },
      );
    },
  };
}

async function listen(server: GrpcServer, address: string): Promise<number> {
  const parsed = parseListen(address);
  if (!parsed.ok) throw new Error(parsed.problem);
  return server.listen(parsed.value);
}

export async function startServer(opts: ServerOptions): Promise<AuthzServer> {
  const health = createHealth(Object.fromEntries([...HEALTH_SERVICES, ...Object.values(STATE_HEALTH_SERVICES)].map((s) => [s, 'NOT_SERVING' as const])));
  let serving = false;
  const stateHealthy = new Map<ReloadedState, boolean>();
  const report = (): void => {
    for (const s of HEALTH_SERVICES) health.setStatus(s, serving ? 'SERVING' : 'NOT_SERVING');
    for (const [state, name] of Object.entries(STATE_HEALTH_SERVICES) as [ReloadedState, string][]) {
      health.setStatus(name, serving && stateHealthy.get(state) !== false ? 'SERVING' : 'NOT_SERVING');
    }
  };
  const calls = { inFlight: 0 };
  const methods: Record<string, Method> = {
    ...health.methods,
    '/envoy.service.auth.v3.Authorization/Check': checkMethod(opts.check, opts.log, calls),
    ...(opts.outcomes !== undefined ? { '/envoy.service.ext_proc.v3.ExternalProcessor/Process': processMethod(opts.outcomes) } : {}),
  };
  const transport: Omit<GrpcServerOptions, 'tls'> = {
    maxMessageBytes: MAX_MESSAGE_BYTES,
    streamWindowBytes: STREAM_WINDOW_BYTES,
    connectionWindowBytes: CONNECTION_WINDOW_BYTES,
    maxConnectionIdleMs: opts.maxConnectionIdleMs,
  };
  const server = createGrpcServer(methods, { ...transport, tls: opts.tls?.current() });
  opts.tls?.onChange((m) => server.setTls(m));
  const port = await listen(server, opts.listen);
  let healthServer: GrpcServer | undefined;
  let healthPort: number | undefined;
  if (opts.healthListen !== undefined) {
    healthServer = createGrpcServer(health.methods, transport);
    try {
      healthPort = await listen(healthServer, opts.healthListen);
    } catch (err) {
      await server.close(0);
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
      return calls.inFlight;
    },
    async shutdown(timeoutMs) {
      health.endWatches();
      void healthServer?.close(0);
      return server.close(timeoutMs);
    },
  };
}
