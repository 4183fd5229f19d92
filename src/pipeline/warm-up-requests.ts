/**
 * The synthetic CheckRequests of the start-up warm-up (warm-up.ts), in the shape Envoy's ext_authz
 * sends them (request time, metadata contexts, the headers Envoy adds):
 *   - `own`: one per endpoint of each configured provider's wire API, with the warm-up's own API
 *     key in that API's client credential header, and one with its own JWT; only the warm-up's
 *     own identifier (src/identity/warm-up.ts) accepts these;
 *   - `configured`: credentials that no configured identity method accepts: an API key no key
 *     store holds, a JWT of an issuer no config trusts, JWTs of the configured issuers whose
 *     signature is zeros (src/identity/warm-up.ts), a SPIFFE ID of a trust domain under
 *     `.invalid`, and no credential (with an on-behalf-of header).
 */
import { randomBytes } from 'node:crypto';
import { matchEndpoint, bySelectHeaders } from '../apis/endpoints.ts';
import type { EndpointSpec, WireFormat } from '../apis/profile.ts';
import { checkRequest } from '../envoy/check-request.ts';

export const WARM_UP_MODEL = 'llm-authz-warm-up';

/** Values of the path parameters of the endpoints' display forms. */
const PARAMETERS: Readonly<Record<string, string>> = { model: WARM_UP_MODEL, deployment: WARM_UP_MODEL, project: 'llm-authz-warm-up', location: 'us-central1' };

/**
 * A request path of an endpoint (with its query), from its path or, for a pattern, its display
 * form (`/{v1,v1beta}/models/{model}:generateContent`); undefined when that is not the endpoint.
 */
export function samplePath(wire: WireFormat, spec: EndpointSpec): string | undefined {
  const display = typeof spec.path === 'string' ? spec.path : spec.display;
  if (display === undefined) return undefined;
  const filled = display
    .replace(/\{([^}]+)\}/g, (_, name: string) => (name.includes(',') ? (name.split(',')[0] ?? name) : (PARAMETERS[name] ?? WARM_UP_MODEL)))
    .replace('api-version=…', 'api-version=2024-10-21');
  const [path = ''] = filled.split('?', 1);
  const m = matchEndpoint(spec.method, path, bySelectHeaders(new Map((wire.selectHeaders ?? []).map((h) => [h, 'warm-up']))));
  return m.kind === 'endpoint' && m.endpoint.schema === spec.schema && m.endpoint.api === wire.name ? filled : undefined;
}

/** A body every parser reads some of: the request fields of the chat, messages, responses and Gemini APIs. */
const BODY = JSON.stringify({
  model: WARM_UP_MODEL,
  messages: [{ role: 'user', content: [{ type: 'text', text: 'warm-up' }] }],
  contents: [{ role: 'user', parts: [{ text: 'warm-up' }] }],
  input: 'warm-up',
  max_tokens: 16,
  stream: false,
  tools: [{ type: 'function', function: { name: 'warm_up', parameters: { type: 'object', properties: {} } } }],
});

const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

export interface WarmUpRequest {
  /** What it exercises, e.g. `openai.chat_completions` or `jwt`. */
  readonly name: string;
  /** Whose credential it carries: the warm-up's own identifier's, or one no configured method accepts. */
  readonly credential: 'own' | 'configured';
  /** A CheckRequest as @grpc/proto-loader objects. */
  readonly request: Record<string, unknown>;
}

/** The CheckRequest of an HTTP request, with what Envoy adds to each. */
function enveloped(o: Parameters<typeof checkRequest>[0]): Record<string, unknown> {
  const r = checkRequest({ ...o, headers: { 'x-request-id': 'llm-authz-warm-up', 'x-forwarded-proto': 'http', 'user-agent': 'llm-authz-warm-up', accept: '*/*', ...o.headers } });
  const attributes = r['attributes'] as Record<string, Record<string, unknown>>;
  attributes['request'] = { ...attributes['request'], time: { seconds: String(Math.floor(Date.now() / 1000)), nanos: 0 } };
  attributes['metadata_context'] = { filter_metadata: { 'llm-authz.warm-up': { fields: { warm_up: { bool_value: true } } } } };
  attributes['route_metadata_context'] = {};
  return r;
}

export function warmUpRequests(
  wires: Iterable<WireFormat>,
  own: { readonly apiKey: string; readonly jwt: string } | undefined,
  o: { readonly onBehalfOfHeader?: string | undefined; readonly issuerTokens?: readonly string[] | undefined } = {},
): WarmUpRequest[] {
  const out: WarmUpRequest[] = [];
  let first: { method: 'GET' | 'POST'; path: string } = { method: 'POST', path: '/v1/chat/completions' };
  for (const wire of new Set(wires)) {
    const header = wire.clientCredentialHeaders[0] ?? 'authorization';
    const select = Object.fromEntries((wire.selectHeaders ?? []).map((h) => [h, 'warm-up']));
    for (const spec of wire.endpoints) {
      const path = samplePath(wire, spec);
      if (path === undefined) continue;
      if (out.length === 0) first = { method: spec.method, path };
      if (own === undefined) continue;
      const credential = { [header]: header === 'authorization' ? `Bearer ${own.apiKey}` : own.apiKey };
      const http = spec.method === 'POST' ? { body: BODY, headers: { 'content-type': 'application/json', ...credential, ...select } } : { headers: { ...credential, ...select } };
      out.push({ name: spec.schema, credential: 'own', request: enveloped({ method: spec.method, path, ...http }) });
    }
  }
  const like = (name: string, credential: WarmUpRequest['credential'], headers: Record<string, string>, principal?: string): WarmUpRequest => ({
    name,
    credential,
    request: enveloped({
      ...first,
      ...(first.method === 'POST' ? { body: BODY } : {}),
      headers: { 'content-type': 'application/json', ...headers },
      ...(principal ? { principal } : {}),
    }),
  });
  if (own !== undefined) out.push(like('jwt', 'own', { authorization: `Bearer ${own.jwt}` }));
  // A key of the right shape whose secret is new on every start: no stored hash matches it.
  const key = `lla_llmauthzwarmup_${randomBytes(24).toString('base64url')}`;
  const jwt = `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64({ iss: 'https://llm-authz-warm-up.invalid', sub: 'llm-authz-warm-up', exp: 4102444800 })}.${randomBytes(32).toString('base64url')}`;
  out.push(like('api_key', 'configured', { authorization: `Bearer ${key}` }));
  out.push(like('jwt', 'configured', { authorization: `Bearer ${jwt}` }));
  for (const t of o.issuerTokens ?? []) out.push(like('jwt_issuer', 'configured', { authorization: `Bearer ${t}` }));
  out.push(like('spiffe', 'configured', {}, 'spiffe://llm-authz-warm-up.invalid/warm-up'));
  out.push(like('no_credentials', 'configured', o.onBehalfOfHeader === undefined ? {} : { [o.onBehalfOfHeader]: jwt }));
  return out;
}
