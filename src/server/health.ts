/**
 * grpc.health.v1.Health (Check, Watch and List) on the server transport (grpc-h2.ts), with the
 * behaviour of grpc-health-check's HealthImplementation: Check answers a known service's status
 * and NOT_FOUND for another; Watch sends the current status (SERVICE_UNKNOWN for an unknown
 * service) and then each change, until the client ends the call or the server closes it.
 */
import protobuf from 'protobufjs';
import { ProtoReader } from '../core/proto-reader.ts';
import { GrpcError, Status, type Method, type ServerStreamCall } from './grpc-h2.ts';

/** HealthCheckRequest.service: field 1, length-delimited. */
const SERVICE_FIELD = (1 << 3) | 2;
/** Field 1 with another wire type is skipped as an unknown field, as before (no declared-field check). */
const NONE_DECLARED: readonly number[] = [];

export type ServingStatus = 'SERVING' | 'NOT_SERVING';

const STATUS_NUMBER = { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 } as const;

/** A HealthCheckResponse: field 1, the status enum, as a varint. */
const RESPONSES: Readonly<Record<keyof typeof STATUS_NUMBER, Buffer>> = {
  UNKNOWN: Buffer.alloc(0),
  SERVING: Buffer.from([0x08, STATUS_NUMBER.SERVING]),
  NOT_SERVING: Buffer.from([0x08, STATUS_NUMBER.NOT_SERVING]),
  SERVICE_UNKNOWN: Buffer.from([0x08, STATUS_NUMBER.SERVICE_UNKNOWN]),
};

/** The service name of a HealthCheckRequest (field 1, a string; other fields skipped); a message that does not parse throws. */
export function decodeHealthRequest(message: Buffer): string {
  const r = new ProtoReader(message);
  let service = '';
  try {
    while (r.pos < message.length) {
      const t = r.tag();
      if (t === SERVICE_FIELD) service = r.string();
      else r.skipField(t, NONE_DECLARED);
    }
  } catch {
    throw new GrpcError(Status.INTERNAL, 'Error deserializing request');
  }
  return service;
}

/** A HealthListResponse: field 1, map<string, HealthCheckResponse>, one entry per service. */
function encodeList(statuses: ReadonlyMap<string, ServingStatus>): Buffer {
  const w = protobuf.Writer.create();
  for (const [service, status] of statuses) {
    w.uint32((1 << 3) | 2).fork();
    w.uint32((1 << 3) | 2).string(service);
    w.uint32((2 << 3) | 2).bytes(RESPONSES[status]);
    w.ldelim();
  }
  return Buffer.from(w.finish());
}

export interface Health {
  setStatus(service: string, status: ServingStatus): void;
  /** The methods to serve, by path. */
  readonly methods: Readonly<Record<string, Method>>;
  /** Ends every Watch call (the server is closing). */
  endWatches(): void;
}

export function createHealth(initial: Readonly<Record<string, ServingStatus>>): Health {
  const statuses = new Map<string, ServingStatus>(Object.entries(initial));
  const watchers = new Map<string, Set<ServerStreamCall>>();
  const current = (service: string): Buffer => {
    const s = statuses.get(service);
    return s === undefined ? RESPONSES.SERVICE_UNKNOWN : RESPONSES[s];
  };
  return {
    setStatus(service, status) {
      const before = statuses.get(service);
      statuses.set(service, status);
      if (before === status) return;
      for (const call of watchers.get(service) ?? []) call.write(RESPONSES[status]);
    },
    endWatches() {
      for (const set of watchers.values()) for (const call of set) call.end(Status.UNAVAILABLE, 'server shutting down');
      watchers.clear();
    },
    methods: {
      '/grpc.health.v1.Health/Check': {
        kind: 'unary',
        handle(message) {
          const service = decodeHealthRequest(message);
          const s = statuses.get(service);
          if (s === undefined) throw new GrpcError(Status.NOT_FOUND, `Health status unknown for service ${service}`);
          return RESPONSES[s];
        },
      },
      '/grpc.health.v1.Health/List': {
        kind: 'unary',
        handle() {
          return encodeList(statuses);
        },
      },
      '/grpc.health.v1.Health/Watch': {
        kind: 'stream',
        open(call) {
          let service: string | undefined;
          return {
            message(message) {
              if (service !== undefined) return; // one request per Watch; more are ignored
              try {
                service = decodeHealthRequest(message);
              } catch {
                call.end(Status.INTERNAL, 'Error deserializing request');
                return;
              }
              const set = watchers.get(service) ?? new Set<ServerStreamCall>();
              watchers.set(service, set);
              set.add(call);
              call.write(current(service));
            },
            end() {
              // The client half-closed after its request: the watch goes on until it cancels.
            },
            closed() {
              if (service !== undefined) watchers.get(service)?.delete(call);
            },
          };
        },
      },
    },
  };
}
