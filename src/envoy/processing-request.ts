/**
 * ProcessingRequest (ext_proc v3, as @grpc/proto-loader decodes it) -> a typed event of the
 * response side. llm-authz asks Envoy for response headers, the response body (streamed) and
 * trailers only; Envoy forwards the ext_authz dynamic metadata of the request
 * (`metadata_options.forwarding_namespaces`) and the `request.time` and `request.id` attributes
 * with the response headers. Only those are read: never a request header or body.
 */
import { fromProtoStruct, type JsonValue } from '../core/struct.ts';

export const EXT_AUTHZ_NAMESPACE = 'envoy.filters.http.ext_authz';
export const EXT_PROC_NAMESPACE = 'envoy.filters.http.ext_proc';

export type ProcessingEvent =
  | { readonly kind: 'headers'; readonly headers: ReadonlyMap<string, string>; readonly endOfStream: boolean }
  | { readonly kind: 'body'; readonly body: Buffer; readonly endOfStream: boolean }
  | { readonly kind: 'trailers' }
  /** A request-side message (not asked for) or one this version does not know. */
  | { readonly kind: 'other' };

const EMPTY = Buffer.alloc(0);
/** Response headers kept: a response has few, and only a handful are read. */
const MAX_HEADERS = 128;
const MAX_VALUE = 1024;

interface RawHeaderValue {
  key?: unknown;
  value?: unknown;
  raw_value?: unknown;
}

function headerMap(raw: unknown): Map<string, string> {
  const out = new Map<string, string>();
  const list = (raw as { headers?: { headers?: RawHeaderValue[] } } | undefined)?.headers?.headers;
  if (!Array.isArray(list)) return out;
  for (const h of list.slice(0, MAX_HEADERS)) {
    if (typeof h.key !== 'string') continue;
    // Envoy sends values in raw_value (bytes) by default, in value in older versions.
    const v =
      Buffer.isBuffer(h.raw_value) && h.raw_value.length > 0 ? h.raw_value.toString('latin1', 0, MAX_VALUE) : typeof h.value === 'string' ? h.value.slice(0, MAX_VALUE) : '';
    const key = h.key.toLowerCase();
    if (!out.has(key)) out.set(key, v);
  }
  return out;
}

function eventOf(r: Record<string, unknown>): ProcessingEvent {
  switch (r['request']) {
    case 'response_headers': {
      const h = r['response_headers'] as { end_of_stream?: unknown } | undefined;
      return { kind: 'headers', headers: headerMap(h), endOfStream: h?.end_of_stream === true };
    }
    case 'response_body': {
      const b = r['response_body'] as { body?: unknown; end_of_stream?: unknown } | undefined;
      return { kind: 'body', body: Buffer.isBuffer(b?.body) ? b.body : EMPTY, endOfStream: b?.end_of_stream === true };
    }
    case 'response_trailers':
      return { kind: 'trailers' };
    default:
      return { kind: 'other' };
  }
}

function record(raw: unknown): Record<string, unknown> {
  return (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
}

/** The event of one ProcessingRequest (every message carries one). */
export function processingEvent(raw: unknown): ProcessingEvent {
  return eventOf(record(raw));
}

/** The ext_authz dynamic metadata Envoy forwarded with a message (empty when none): read once per stream. */
export function decisionMetadata(raw: unknown): Record<string, JsonValue> {
  const md = (record(raw)['metadata_context'] as { filter_metadata?: Record<string, unknown> } | undefined)?.filter_metadata;
  return md?.[EXT_AUTHZ_NAMESPACE] !== undefined ? fromProtoStruct(md[EXT_AUTHZ_NAMESPACE]) : {};
}

/** The attributes Envoy sent with a message (the response headers carry `request.time`, `request.id`). */
export function processingAttributes(raw: unknown): Record<string, JsonValue> {
  const attrs = record(raw)['attributes'] as Record<string, unknown> | undefined;
  return attrs?.[EXT_PROC_NAMESPACE] !== undefined ? fromProtoStruct(attrs[EXT_PROC_NAMESPACE]) : {};
}
