/**
 * The table of known model API endpoints, built once from the profiles: path (and method) ->
 * wire API, schema, operation, body parser, where the model is read. Matching is exact: a path
 * that differs in any way (trailing slash, percent-encoding, case) is not a known endpoint, so it
 * is denied (`unknown_api`) unless a policy allows it by path.
 */
import { WIRE_APIS, WIRES, type WireApi } from './index.ts';
import type { EndpointSpec, WireFormat } from './profile.ts';
import type { BodyParser } from './bodies/types.ts';
import type { ResponseReader } from './responses/facts.ts';

export interface Endpoint {
  readonly method: 'GET' | 'POST';
  readonly api: WireApi;
  readonly schema: string;
  readonly operation: EndpointSpec['operation'];
  readonly parse: BodyParser | undefined;
  readonly stream: boolean | undefined;
  readonly needsModel: boolean;
  readonly partialBody: boolean;
  readonly apiVersion: boolean;
  readonly slashInModel: boolean;
}

interface Candidate {
  readonly endpoint: Endpoint;
  readonly wire: WireFormat<WireApi>;
  /** The match of a request on the endpoint's path when the path holds no model or parameter (made once). */
  readonly whole: Match;
}

/** How an outcome reads a response of an API schema (`llm.api`): its reader and the request-id headers of its wire API. */
export interface ResponseProfile {
  readonly reader: ResponseReader | undefined;
  readonly requestIdHeaders: readonly string[];
}

const RESPONSES = new Map<string, ResponseProfile>();

/** The response profile of an API schema name (as the decision's `llm.api` says it); undefined when unknown. */
export function responseProfile(schema: string): ResponseProfile | undefined {
  return RESPONSES.get(schema);
}

/** Named parameters of a path besides the model (Vertex AI's project and location); empty for most endpoints. */
export type PathParams = Readonly<Record<string, string>>;

const NO_PARAMS: PathParams = Object.freeze({});

export type Match =
  | { readonly kind: 'endpoint'; readonly endpoint: Endpoint; readonly pathModel: string | undefined; readonly pathParams: PathParams }
  | { readonly kind: 'bad_path_model'; readonly api: WireApi }
  | { readonly kind: 'method'; readonly api: WireApi }
  | { readonly kind: 'unknown'; readonly api: WireApi };

const EXACT = new Map<string, Candidate[]>();
const PATTERNS: { readonly re: RegExp; readonly candidate: Candidate }[] = [];

for (const wire of WIRES) {
  for (const spec of wire.endpoints) {
    const endpoint: Endpoint = {
      method: spec.method,
      api: wire.name,
      schema: spec.schema,
      operation: spec.operation,
      parse: spec.parse,
      stream: spec.stream,
      needsModel: spec.needsModel ?? spec.parse !== undefined,
      partialBody: spec.partialBody ?? false,
      apiVersion: spec.apiVersion ?? false,
      slashInModel: spec.slashInModel ?? false,
    };
    const candidate: Candidate = { endpoint, wire, whole: Object.freeze({ kind: 'endpoint', endpoint, pathModel: undefined, pathParams: NO_PARAMS }) };
    if (!RESPONSES.has(spec.schema) || spec.response !== undefined) RESPONSES.set(spec.schema, { reader: spec.response, requestIdHeaders: wire.requestIdHeaders ?? [] });
    if (typeof spec.path === 'string') {
      const list = EXACT.get(spec.path) ?? [];
      list.push(candidate);
      EXACT.set(spec.path, list);
    } else {
      PATTERNS.push({ re: spec.path, candidate });
    }
  }
}

/**
 * Whether the request carries the headers that pick an API that has select headers (on a path
 * several APIs share, or an unknown one). APIs without select headers are the default there.
 */
export type Picks = (wire: WireFormat<WireApi>) => boolean;

const NONE: Picks = () => false;

/** The select headers of a wire present in a header map (what the LLM phase goes by). */
export function bySelectHeaders(headers: ReadonlyMap<string, string>): Picks {
  return (w) => w.selectHeaders?.some((h) => headers.has(h)) === true;
}

function choose(candidates: readonly Candidate[], picks: Picks): Candidate | undefined {
  // One endpoint on the path (most paths): it, whatever the headers pick.
  if (candidates.length === 1) return candidates[0];
  return candidates.find((c) => c.wire.selectHeaders !== undefined && picks(c.wire)) ?? candidates.find((c) => c.wire.selectHeaders === undefined) ?? candidates[0];
}

/**
 * Percent-decodes a model or parameter taken from one path segment; undefined when it is not
 * valid. A value that a server or proxy could resolve to another path is not a name; a `/` is
 * kept only where the API's ids hold one (`slash`: Bedrock ARNs), and never as `.`/`..` parts.
 */
function pathSegment(raw: string, slash = false): string | undefined {
  try {
    const v = decodeURIComponent(raw);
    if (v.includes('\\') || v === '.' || v === '..') return undefined;
    if (!v.includes('/')) return v;
    return slash && v.split('/').every((part) => part !== '' && part !== '.' && part !== '..') ? v : undefined;
  } catch {
    return undefined;
  }
}

const DEFAULT_API: WireApi = WIRE_APIS[0];

/** The API a path belongs to when it is not a known endpoint (for the error format and the provider). */
export function guessApi(path: string, picks: Picks = NONE): WireApi {
  for (const w of WIRES) if (w.ownsPath?.test(path) === true) return w.name;
  for (const w of WIRES) if (w.selectHeaders !== undefined && picks(w)) return w.name;
  return DEFAULT_API;
}

/** Finds the endpoint of a request; `picks` tells which API the request's headers pick on shared paths. */
export function matchEndpoint(method: string, path: string, picks: Picks = NONE): Match {
  let candidate = choose(EXACT.get(path) ?? [], picks);
  let groups: RegExpExecArray | undefined;
  if (candidate === undefined) {
    // The same choice as choose(), without collecting the matches: picked, else default, else first.
    let rank = 3;
    for (const p of PATTERNS) {
      const c = p.candidate;
      const r = c.wire.selectHeaders === undefined ? 1 : picks(c.wire) ? 0 : 2;
      if (r >= rank) continue;
      const m = p.re.exec(path);
      if (m === null) continue;
      candidate = c;
      groups = m;
      rank = r;
      if (r === 0) break;
    }
  }
  if (candidate === undefined) return { kind: 'unknown', api: guessApi(path, picks) };
  const endpoint = candidate.endpoint;
  if (method !== endpoint.method) return { kind: 'method', api: endpoint.api };
  if (groups === undefined) return candidate.whole;
  // The group `model`, else the first group of a pattern without named groups.
  const named = groups.groups;
  const rawModel = named === undefined ? groups[1] : named['model'];
  let params = NO_PARAMS;
  if (named !== undefined) {
    const out: Record<string, string> = {};
    for (const [k, raw] of Object.entries(named)) {
      if (k === 'model' || raw === undefined) continue;
      const v = pathSegment(raw);
      if (v === undefined || v === '') return { kind: 'bad_path_model', api: endpoint.api };
      out[k] = v;
    }
    params = out;
  }
  if (rawModel === undefined) return { kind: 'endpoint', endpoint, pathModel: undefined, pathParams: params };
  const model = pathSegment(rawModel, endpoint.slashInModel);
  if (model === undefined) return { kind: 'bad_path_model', api: endpoint.api };
  return { kind: 'endpoint', endpoint, pathModel: model, pathParams: params };
}

/**
 * The API a request is for from its path and headers alone (no body): the error format of the
 * denies before the LLM phase. On paths several APIs share and on unknown paths, the headers an
 * API's SDKs always send pick it (an Anthropic SDK's `anthropic-version` or `x-api-key`).
 */
export function apiOfRequest(path: string, headers: ReadonlyMap<string, string>): WireApi {
  const m = matchEndpoint('', path, (w) => (w.sdkHeaders ?? w.selectHeaders ?? []).some((h) => headers.has(h)));
  return m.kind === 'endpoint' ? m.endpoint.api : m.api;
}
