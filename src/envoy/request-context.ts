/**
 * CheckRequest (as decoded by @grpc/proto-loader) -> RequestContext: typed, immutable, and
 * the only place that knows the shape of Envoy's AttributeContext. Everything after this
 * phase reads the RequestContext, never the raw protobuf object.
 */
import { fail, ok, type Outcome } from '../core/reasons.ts';
import { fromProtoStruct, type JsonValue } from '../core/struct.ts';

export interface Peer {
  readonly address: string;
  readonly port: number;
  /** Envoy's `principal`: the first URI SAN of the client certificate under mTLS (SPIFFE ID), else empty. */
  readonly principal: string;
  /** URL-encoded PEM of the peer certificate, only with include_peer_certificate. */
  readonly certificate: string;
}

export interface RequestBody {
  readonly bytes: Uint8Array;
  /** True when Envoy sent only the first part of the body, or Content-Length says there is more. */
  readonly truncated: boolean;
  /** The Content-Length the client declared, if any. */
  readonly declaredLength: number | undefined;
}

export interface RequestContext {
  readonly method: string;
  /** Path without the query string. */
  readonly path: string;
  /** Raw query string without the leading '?', possibly empty. */
  readonly query: string;
  readonly host: string;
  readonly scheme: string;
  readonly protocol: string;
  /** Lowercase header names; repeated headers are joined with ',' by Envoy. */
  readonly headers: ReadonlyMap<string, string>;
  /** The x-request-id header (Envoy's stream id is not a request id). */
  readonly requestId: string | undefined;
  readonly source: Peer;
  readonly destination: Peer;
  readonly sni: string;
  readonly body: RequestBody;
  readonly contextExtensions: ReadonlyMap<string, string>;
  /** metadata_context.filter_metadata, converted to plain JSON, by namespace. */
  readonly filterMetadata: Readonly<Record<string, Record<string, JsonValue>>>;
}

export const PARTIAL_BODY_HEADER = 'x-envoy-auth-partial-body';

const EMPTY_BODY: Uint8Array = new Uint8Array(0);

type Obj = Record<string, unknown>;

function obj(v: unknown): Obj | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : undefined;
}
function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function parsePeer(v: unknown): Peer {
  const p = obj(v);
  const sock = obj(obj(p?.['address'])?.['socket_address']);
  const port = sock?.['port_value'];
  return {
    address: str(sock?.['address']),
    port: typeof port === 'number' ? port : 0,
    principal: str(p?.['principal']),
    certificate: str(p?.['certificate']),
  };
}

/** The name in lower case; the name itself when it is already (toLowerCase makes a new string even then). */
function lower(name: string): string {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if ((c >= 65 && c <= 90) || c > 127) return name.toLowerCase();
  }
  return name;
}

function parseHeaders(http: Obj): Map<string, string> | undefined {
  const headers = new Map<string, string>();
  const plain = obj(http['headers']);
  if (plain !== undefined) {
    for (const k in plain) {
      const v = plain[k];
      if (typeof v === 'string' && Object.hasOwn(plain, k)) headers.set(lower(k), v);
    }
  }
  // encode_raw_headers: true sends header_map { headers: [{ key, raw_value }] } instead.
  const list = obj(http['header_map'])?.['headers'];
  if (Array.isArray(list)) {
    for (const h of list) {
      const e = obj(h);
      const key = lower(str(e?.['key']));
      if (key === '') continue;
      const raw = e?.['raw_value'];
      const value = Buffer.isBuffer(raw) ? raw.toString('latin1') : str(e?.['value']);
      const prev = headers.get(key);
      headers.set(key, prev === undefined ? value : `${prev},${value}`);
    }
  }
  if (plain === undefined && !Array.isArray(list)) return undefined;
  return headers;
}

function parseBody(http: Obj, headers: ReadonlyMap<string, string>): RequestBody {
  const raw = http['raw_body'];
  let bytes: Uint8Array = EMPTY_BODY;
  if (raw instanceof Uint8Array && raw.length > 0) bytes = raw;
  else if (typeof http['body'] === 'string' && http['body'] !== '') bytes = Buffer.from(http['body'], 'utf8');
  const cl = headers.get('content-length');
  const declaredLength = cl !== undefined && /^\d{1,15}$/.test(cl) ? Number(cl) : undefined;
  const truncated = headers.get(PARTIAL_BODY_HEADER) === 'true' || (declaredLength !== undefined && declaredLength > bytes.length);
  return { bytes, truncated, declaredLength };
}

/** Shared by every request without context extensions (most: a Map is 0.2 KiB even empty). */
const NO_STRINGS: ReadonlyMap<string, string> = new Map();

function stringMap(v: unknown): ReadonlyMap<string, string> {
  const o = obj(v);
  let m: Map<string, string> | undefined;
  if (o !== undefined) {
    for (const k in o) {
      const val = o[k];
      if (typeof val !== 'string' || !Object.hasOwn(o, k)) continue;
      m ??= new Map();
      m.set(k, val);
    }
  }
  return m ?? NO_STRINGS;
}

export function parseCheckRequest(raw: unknown): Outcome<RequestContext> {
  const attributes = obj(obj(raw)?.['attributes']);
  const request = obj(attributes?.['request']);
  const http = obj(request?.['http']);
  if (attributes === undefined || http === undefined) {
    return fail('malformed_check_request', 'the CheckRequest has no HTTP request attributes');
  }
  const headers = parseHeaders(http);
  if (headers === undefined) return fail('malformed_check_request', 'the CheckRequest has no headers');
  const method = str(http['method']) || headers.get(':method') || '';
  const fullPath = str(http['path']) || headers.get(':path') || '';
  if (method === '' || fullPath === '') {
    return fail('malformed_check_request', 'the CheckRequest has no method or path');
  }
  const q = fullPath.indexOf('?');
  const filterMetadata: Record<string, Record<string, JsonValue>> = {};
  const fm = obj(obj(attributes['metadata_context'])?.['filter_metadata']);
  if (fm !== undefined) for (const ns in fm) if (Object.hasOwn(fm, ns)) filterMetadata[ns] = fromProtoStruct(fm[ns]);

  return ok({
    method: method.toUpperCase(),
    path: q === -1 ? fullPath : fullPath.slice(0, q),
    query: q === -1 ? '' : fullPath.slice(q + 1),
    host: str(http['host']) || headers.get(':authority') || '',
    scheme: str(http['scheme']) || headers.get(':scheme') || '',
    protocol: str(http['protocol']),
    headers,
    requestId: headers.get('x-request-id'),
    source: parsePeer(attributes['source']),
    destination: parsePeer(attributes['destination']),
    sni: str(obj(attributes['tls_session'])?.['sni']),
    body: parseBody(http, headers),
    contextExtensions: stringMap(attributes['context_extensions']),
    filterMetadata,
  });
}
