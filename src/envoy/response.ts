/**
 * Decision -> CheckResponse. The decision always travels inside a successful RPC:
 * deny = non-OK status + denied_response with an explicit HTTP status and JSON body;
 * allow = OK + header mutations with the OVERWRITE action.
 */
import { DECISION_ID_HEADER, REASON_HEADER, TRACE_ID_HEADER } from '../core/headers.ts';
import { CREDENTIAL_QUERY_PARAMETERS, errorFormat, wireOf, type WireApi } from '../apis/index.ts';
import type { AttachedCredential } from '../providers/attach.ts';
import type { Obligations } from '../policy/types.ts';
import { REASONS, type ReasonCode } from '../core/reasons.ts';
import { redactKeys } from '../core/key-shape.ts';
import { JsonStruct, type JsonValue, type ProtoStruct } from '../core/struct.ts';

export { DECISION_ID_HEADER, REASON_HEADER, TRACE_ID_HEADER };

/** A trace id worth handing to the client: 32 hex digits, not all zero. */
function validTraceId(traceId: string | undefined): traceId is string {
  return traceId !== undefined && /^[0-9a-f]{32}$/.test(traceId) && !/^0+$/.test(traceId);
}

// google.rpc.Code values
const GRPC_OK = 0;
const GRPC_INVALID_ARGUMENT = 3;
const GRPC_PERMISSION_DENIED = 7;
const GRPC_RESOURCE_EXHAUSTED = 8;
const GRPC_INTERNAL = 13;
const GRPC_UNAVAILABLE = 14;
const GRPC_UNAUTHENTICATED = 16;

/**
 * envoy.config.core.v3.HeaderValueOption.HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD, as the
 * number the wire carries: responses are encoded without a conversion pass (src/envoy/proto.ts
 * checks this value against the protos at start).
 */
export const OVERWRITE_IF_EXISTS_OR_ADD = 2;

interface HeaderValueOption {
  header: { key: string; value: string };
  append_action: typeof OVERWRITE_IF_EXISTS_OR_ADD;
}

export interface CheckResponse {
  status: { code: number; message?: string };
  denied_response?: { status: { code: number }; headers: HeaderValueOption[]; body: string };
  ok_response?: {
    headers: HeaderValueOption[];
    headers_to_remove: string[];
    response_headers_to_add: HeaderValueOption[];
    query_parameters_to_remove?: readonly string[];
  };
  dynamic_metadata: ProtoStruct;
}

function overwrite(key: string, value: string): HeaderValueOption {
  return { header: { key, value }, append_action: OVERWRITE_IF_EXISTS_OR_ADD };
}

function grpcCodeFor(status: number): number {
  if (status === 401) return GRPC_UNAUTHENTICATED;
  if (status === 403) return GRPC_PERMISSION_DENIED;
  if (status === 429) return GRPC_RESOURCE_EXHAUSTED;
  if (status === 503) return GRPC_UNAVAILABLE;
  if (status >= 500) return GRPC_INTERNAL;
  return GRPC_INVALID_ARGUMENT;
}

export interface DenyInput {
  readonly decisionId: string;
  readonly reason: Exclude<ReasonCode, 'allowed'>;
  readonly detail: string | undefined;
  /** The wire API whose error format the body takes; OpenAI's when unknown. */
  readonly api: WireApi | undefined;
  readonly metadata: Readonly<Record<string, JsonValue | undefined>>;
  /** The trace the decision was made in, returned to the client next to the decision id. */
  readonly traceId?: string | undefined;
  /** Seconds until a used-up quota has room again (`retry-after`, which the SDKs wait before retrying). */
  readonly retryAfterS?: number | undefined;
}

export function denyResponse(d: DenyInput): CheckResponse {
  const { status, message } = REASONS[d.reason];
  const headers = [overwrite('content-type', 'application/json'), overwrite(DECISION_ID_HEADER, d.decisionId), overwrite(REASON_HEADER, d.reason)];
  if (validTraceId(d.traceId)) headers.push(overwrite(TRACE_ID_HEADER, d.traceId));
  if (status === 401) {
    const error = d.reason === 'no_credentials' ? '' : ', error="invalid_token"';
    headers.push(overwrite('www-authenticate', `Bearer realm="llm-authz"${error}`));
  }
  if (d.retryAfterS !== undefined) headers.push(overwrite('retry-after', String(d.retryAfterS)));
  const e = { status, reason: d.reason, message: d.detail ? `${message}: ${redactKeys(d.detail)}` : message, decisionId: d.decisionId };
  const extra = d.api === undefined ? undefined : wireOf(d.api).errorHeaders?.(e);
  for (const [k, v] of extra ?? []) headers.push(overwrite(k, v));
  return {
    status: { code: grpcCodeFor(status), message: d.reason },
    denied_response: {
      status: { code: status },
      headers,
      body: errorFormat(d.api)(e),
    },
    dynamic_metadata: new JsonStruct(d.metadata),
  };
}

export interface AllowInput {
  readonly decisionId: string;
  readonly routingHeader: string;
  readonly obligations: Obligations;
  /** The provider credential's headers, and the credential headers to remove (src/providers/attach.ts). */
  readonly credential: AttachedCredential;
  /** Further request headers that can carry a caller's credential (strip.ts): never forwarded. */
  readonly credentialHeaders: readonly string[];
  readonly metadata: Readonly<Record<string, JsonValue | undefined>>;
  /** The trace the decision was made in, returned to the client next to the decision id. */
  readonly traceId?: string | undefined;
}

/** The routing header's option for each provider route, made once (a provider's route is fixed at load). */
const routeOptions = new Map<string, Map<string, HeaderValueOption>>();

function routeOption(header: string, route: string): HeaderValueOption {
  let byRoute = routeOptions.get(header);
  if (byRoute === undefined) {
    byRoute = new Map();
    routeOptions.set(header, byRoute);
  }
  let o = byRoute.get(route);
  if (o === undefined) {
    o = overwrite(header, route);
    byRoute.set(route, o);
  }
  return o;
}

/** Appends the names of `names` not yet in `out` and not set by the allow (a header it sets is overwritten, not removed). */
function addRemovals(out: string[], names: readonly string[], set: readonly HeaderValueOption[]): void {
  for (const name of names) {
    if (out.includes(name)) continue;
    let isSet = false;
    for (const h of set) if (h.header.key === name) isSet = true;
    if (!isSet) out.push(name);
  }
}

export function allowResponse(a: AllowInput): CheckResponse {
  // Built with plain loops into the arrays the response keeps (no spread, Set or map copies on
  // the way): a Check's allow took 2.3 KiB of intermediate arrays and sets (bench/alloc.ts).
  const { provider, headers } = a.obligations;
  const set: HeaderValueOption[] = [routeOption(a.routingHeader, provider.route)];
  for (const [k, v] of a.credential.set) set.push(overwrite(k, v));
  if (headers !== undefined) for (const [k, v] of headers) set.push(overwrite(k, v));
  const remove: string[] = [];
  addRemovals(remove, a.credential.remove, set);
  addRemovals(remove, a.credentialHeaders, set);
  const decision = overwrite(DECISION_ID_HEADER, a.decisionId);
  return {
    status: { code: GRPC_OK },
    ok_response: {
      headers: set,
      headers_to_remove: remove,
      response_headers_to_add: validTraceId(a.traceId) ? [decision, overwrite(TRACE_ID_HEADER, a.traceId)] : [decision],
      query_parameters_to_remove: CREDENTIAL_QUERY_PARAMETERS,
    },
    dynamic_metadata: new JsonStruct(a.metadata),
  };
}
