/**
 * Structure-aware CheckRequest cases: a valid request of one of the known APIs, then mutations of
 * its body (JSON-level: fields of the wrong type, duplicate and escaped keys, tools and token
 * limits in and out of scope, stored context; byte-level: truncation, flipped bytes, bad UTF-8),
 * its headers (credentials in every header and spelling, forged llm-authz headers, method
 * overrides, content types), its path and query, and its metadata (Envoy-verified claims, SPIFFE
 * principals). Most cases carry a valid scoped key in the API's own header, so hostile bodies are
 * read and decided rather than refused at the door.
 */
import { checkRequest } from '../src/envoy/check-request.ts';
import type { Rng } from './rng.ts';
import { BROAD, ENVOY_ISSUER, EXPIRED_KEY, NARROW, REVOKED_KEY, ROUTING_HEADER, TRUST_DOMAIN, WRONG_SECRET_KEY } from './world.ts';

export interface FuzzCase {
  readonly raw: Record<string, unknown>;
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer | undefined;
  /** Whether the case carries Envoy-verified claims of the trusted issuer / a trusted SPIFFE ID. */
  readonly trustedClaims: boolean;
  readonly trustedPrincipal: boolean;
  /** Which runtime decides it. */
  readonly policies: boolean;
  /** A short description (no secrets) for reports. */
  readonly label: string;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const MODELS = [
  'gpt-4o-mini',
  'gpt-4o',
  'gpt-4.1',
  'claude-3-5-haiku-latest',
  'claude-3-5-sonnet',
  'claude-opus-4',
  'gemini-2.5-flash',
  'gemini-2.5-pro',
  'o-other-1',
  'gpt-4o-mini ',
  'GPT-4O-MINI',
  'gpt-4o-mini\u0000',
  'claude-3-5-*',
  '*',
  '',
  'gpt-4o-mini/../gpt-4.1',
  'gpt%2D4o-mini',
  'ｇｐｔ-4o-mini',
];
const TOOLS = ['search_docs', 'search_web', 'calc', 'calculator', 'delete_all', 'search_', 'SEARCH_docs', 'calc ', 'shell'];
const TOKENS: Json[] = [1, 64, 499, 500, 501, 4096, 0, -1, 1e9, 500.5, '100', null, true, [100], { n: 1 }];
const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'application/vnd.api+json',
  'text/plain',
  'application/x-www-form-urlencoded',
  'APPLICATION/JSON',
  '',
];
const METHODS = ['GET', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'post', 'CONNECT'];

interface Template {
  readonly name: string;
  readonly method: 'GET' | 'POST';
  readonly path: (model: string) => string;
  /** The client header its SDK sends the key in. */
  readonly keyHeader: 'authorization' | 'x-api-key' | 'api-key' | 'x-goog-api-key';
  /** The models a valid case of this API names (default: an OpenAI, a Claude and a Gemini model). */
  readonly models?: readonly string[];
  readonly body?: (rng: Rng, model: string) => Record<string, Json>;
  readonly extraHeaders?: Record<string, string>;
}

const messages = (): Json => [{ role: 'user', content: 'fuzz case prompt' }];
const openaiTools = (rng: Rng): Json =>
  Array.from({ length: rng.int(4) }, () =>
    rng.chance(0.85)
      ? { type: 'function', function: { name: rng.pick(TOOLS), parameters: { type: 'object' } } }
      : { type: rng.pick(['web_search', 'file_search', 'code_interpreter']) },
  );
const BEDROCK_MODELS = [
  'anthropic.claude-3-5-haiku-20241022-v1:0',
  'arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0',
  'amazon.nova-lite-v1:0',
  'anthropic.claude-opus-4-v1:0',
];
const VERTEX_PREFIX = '/v1/projects/fuzz-project/locations/us-central1/publishers';
const converseTools = (rng: Rng): Json => ({
  tools: Array.from({ length: rng.int(4) }, () =>
    rng.chance(0.9) ? { toolSpec: { name: rng.pick(TOOLS), inputSchema: { json: { type: 'object' } } } } : { cachePoint: { type: 'default' } },
  ),
});
const anthropicTools = (rng: Rng): Json => Array.from({ length: rng.int(4) }, () => ({ name: rng.pick(TOOLS), input_schema: { type: 'object' } }));
/** Mostly a valid limit within the narrow key's scope, else anything. */
const tokens = (rng: Rng): Json => (rng.chance(0.6) ? 1 + rng.int(500) : rng.pick(TOKENS));

const TEMPLATES: readonly [Template, number][] = [
  [
    {
      name: 'openai.chat',
      method: 'POST',
      path: () => '/v1/chat/completions',
      keyHeader: 'authorization',
      body: (r, m) => ({
        model: m,
        messages: messages(),
        ...(r.chance(0.6) ? { tools: openaiTools(r) } : {}),
        ...(r.chance(0.85) ? { [r.pick(['max_tokens', 'max_completion_tokens'])]: tokens(r) } : {}),
        ...(r.chance(0.2) ? { stream: r.chance(0.5) } : {}),
      }),
    },
    30,
  ],
  [
    {
      name: 'openai.responses',
      method: 'POST',
      path: () => '/v1/responses',
      keyHeader: 'authorization',
      body: (r, m) => ({
        model: m,
        input: 'fuzz case prompt',
        ...(r.chance(0.5) ? { tools: openaiTools(r) } : {}),
        ...(r.chance(0.85) ? { max_output_tokens: tokens(r) } : {}),
        ...(r.chance(0.15) ? { prompt: { id: 'pmpt_fuzz' } } : {}),
      }),
    },
    8,
  ],
  [
    {
      name: 'openai.completions',
      method: 'POST',
      path: () => '/v1/completions',
      keyHeader: 'authorization',
      body: (r, m) => ({ model: m, prompt: 'fuzz case prompt', ...(r.chance(0.7) ? { max_tokens: tokens(r) } : {}) }),
    },
    4,
  ],
  [{ name: 'openai.embeddings', method: 'POST', path: () => '/v1/embeddings', keyHeader: 'authorization', body: (_r, m) => ({ model: m, input: 'fuzz' }) }, 4],
  [
    {
      name: 'anthropic.messages',
      method: 'POST',
      path: () => '/v1/messages',
      keyHeader: 'x-api-key',
      extraHeaders: { 'anthropic-version': '2023-06-01' },
      body: (r, m) => ({ model: m, messages: messages(), ...(r.chance(0.8) ? { max_tokens: tokens(r) } : {}), ...(r.chance(0.5) ? { tools: anthropicTools(r) } : {}) }),
    },
    16,
  ],
  [{ name: 'anthropic.count_tokens', method: 'POST', path: () => '/v1/messages/count_tokens', keyHeader: 'x-api-key', body: (_r, m) => ({ model: m, messages: messages() }) }, 3],
  [
    {
      name: 'gemini.generate',
      method: 'POST',
      path: (m) => `/v1beta/models/${m}:generateContent`,
      keyHeader: 'x-goog-api-key',
      body: (r) => ({
        contents: [{ role: 'user', parts: [{ text: 'fuzz case prompt' }] }],
        ...(r.chance(0.85) ? { generationConfig: { maxOutputTokens: tokens(r) } } : {}),
        ...(r.chance(0.4) ? { tools: [{ functionDeclarations: [{ name: r.pick(TOOLS) }] }] } : {}),
        ...(r.chance(0.1) ? { cachedContent: 'cachedContents/x' } : {}),
      }),
    },
    10,
  ],
  [
    {
      name: 'gemini.stream',
      method: 'POST',
      path: (m) => `/v1beta/models/${m}:streamGenerateContent?alt=sse`,
      keyHeader: 'x-goog-api-key',
      body: (r) => ({ contents: [{ parts: [{ text: 'x' }] }], generationConfig: { maxOutputTokens: tokens(r) } }),
    },
    3,
  ],
  [{ name: 'gemini.count', method: 'POST', path: (m) => `/v1/models/${m}:countTokens`, keyHeader: 'x-goog-api-key', body: () => ({ contents: [{ parts: [{ text: 'x' }] }] }) }, 3],
  [
    {
      name: 'azure.chat',
      method: 'POST',
      path: (m) => `/openai/deployments/${m}/chat/completions?api-version=2024-10-21`,
      keyHeader: 'api-key',
      body: (r) => ({ messages: messages(), ...(r.chance(0.85) ? { max_tokens: tokens(r) } : {}), ...(r.chance(0.4) ? { tools: openaiTools(r) } : {}) }),
    },
    8,
  ],
  [
    {
      name: 'bedrock.converse',
      method: 'POST',
      path: (m) => `/model/${m}/${['converse', 'converse-stream'][m.length % 2]}`,
      keyHeader: 'authorization',
      models: BEDROCK_MODELS,
      // What the AWS SDK sends beside a bearer token; llm-authz's signature does not cover it.
      extraHeaders: { 'x-amz-user-agent': 'aws-sdk-js/3 fuzz' },
      body: (r) => ({
        messages: [{ role: 'user', content: [{ text: 'fuzz case prompt' }] }],
        ...(r.chance(0.85) ? { inferenceConfig: { maxTokens: tokens(r) } } : {}),
        ...(r.chance(0.5) ? { toolConfig: converseTools(r) } : {}),
        ...(r.chance(0.1) ? { modelId: r.pick(BEDROCK_MODELS) } : {}),
      }),
    },
    8,
  ],
  [
    {
      name: 'bedrock.invoke',
      method: 'POST',
      path: (m) => `/model/${m}/invoke`,
      keyHeader: 'authorization',
      models: BEDROCK_MODELS,
      body: (r) => ({
        anthropic_version: 'bedrock-2023-05-31',
        messages: messages(),
        ...(r.chance(0.85) ? { max_tokens: tokens(r) } : {}),
        ...(r.chance(0.5) ? { tools: anthropicTools(r) } : {}),
        ...(r.chance(0.1) ? { model: r.pick(BEDROCK_MODELS) } : {}),
      }),
    },
    5,
  ],
  // An operation llm-authz does not read (Bedrock CountTokens): unknown_api unless a rule allows it.
  [{ name: 'bedrock.count_tokens', method: 'POST', path: (m) => `/model/${m}/count-tokens`, keyHeader: 'authorization', models: BEDROCK_MODELS, body: () => ({ input: {} }) }, 2],
  [
    {
      name: 'vertex.generate',
      method: 'POST',
      path: (m) => `${VERTEX_PREFIX}/google/models/${m}:generateContent`,
      keyHeader: 'authorization',
      models: ['gemini-2.5-flash', 'gemini-2.5-pro'],
      body: (r) => ({
        contents: [{ role: 'user', parts: [{ text: 'fuzz case prompt' }] }],
        ...(r.chance(0.85) ? { generationConfig: { maxOutputTokens: tokens(r) } } : {}),
        ...(r.chance(0.4) ? { tools: [{ functionDeclarations: [{ name: r.pick(TOOLS) }] }] } : {}),
      }),
    },
    6,
  ],
  [
    {
      name: 'vertex.claude',
      method: 'POST',
      path: (m) => `${VERTEX_PREFIX}/anthropic/models/${m}:${['rawPredict', 'streamRawPredict'][m.length % 2]}`,
      keyHeader: 'authorization',
      models: ['claude-3-5-haiku@20241022', 'claude-opus-4@20250514'],
      body: (r) => ({
        anthropic_version: 'vertex-2023-10-16',
        messages: messages(),
        ...(r.chance(0.85) ? { max_tokens: tokens(r) } : {}),
        ...(r.chance(0.5) ? { tools: anthropicTools(r) } : {}),
      }),
    },
    4,
  ],
  // Vertex AI express mode (no project in the path): not read, unknown_api.
  [
    { name: 'vertex.express', method: 'POST', path: (m) => `/v1beta1/publishers/google/models/${m}:generateContent`, keyHeader: 'x-goog-api-key', body: () => ({ contents: [] }) },
    2,
  ],
  [{ name: 'listing', method: 'GET', path: () => '/v1/models', keyHeader: 'authorization' }, 4],
  [{ name: 'unknown', method: 'POST', path: () => '/v1/fine_tuning/jobs', keyHeader: 'authorization', body: (_r, m) => ({ model: m }) }, 3],
];

function template(rng: Rng): Template {
  const total = TEMPLATES.reduce((n, [, w]) => n + w, 0);
  let x = rng.int(total);
  for (const [t, w] of TEMPLATES) {
    if (x < w) return t;
    x -= w;
  }
  return TEMPLATES[0]![0];
}

/** JSON-level mutations of a body object. */
function mutateJson(rng: Rng, body: Record<string, Json>): Record<string, Json> {
  const out: Record<string, Json> = { ...body };
  const keys = Object.keys(out);
  const weird: Json[] = [null, 0, -1, 1e308, '', 'x'.repeat(300), [], {}, [1, 'a'], { model: 'gpt-4.1' }, true];
  switch (rng.int(7)) {
    case 0:
      if (keys.length > 0) out[rng.pick(keys)] = rng.pick(weird);
      break;
    case 1:
      if (keys.length > 0) delete out[rng.pick(keys)];
      break;
    case 2:
      out[rng.pick(['stream', 'n', 'user', 'metadata', 'tool_choice', 'temperature', 'max_tokens', 'max_completion_tokens'])] = rng.pick([
        ...weird,
        ...TOKENS,
        'auto',
        'required',
        { type: 'function', function: { name: 'delete_all' } },
      ]);
      break;
    case 3:
      out['tools'] = Array.from({ length: rng.pick([0, 1, 5, 70, 300]) }, (_, i) => ({ type: 'function', function: { name: i % 7 === 3 ? 'delete_all' : `search_${i}` } }));
      break;
    case 4:
      out['messages'] = [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'x' },
            { type: 'tool_use', name: 'delete_all', input: {} },
          ],
        },
      ];
      break;
    case 5: {
      let nested: Json = 'deep';
      for (let i = 0; i < rng.pick([10, 100, 2000]); i++) nested = [nested];
      out['extra'] = nested;
      break;
    }
    default:
      out['prompt'] = { id: 'pmpt_fuzz', variables: {} };
  }
  return out;
}

/** Text-level mutations of the serialised body: duplicate and escaped keys, byte damage. */
function mutateText(rng: Rng, text: string): Buffer {
  switch (rng.int(9)) {
    case 0:
      return Buffer.from(text.replace(/^\{/, `{"model":"${rng.pick(MODELS)}",`));
    case 1:
      return Buffer.from(text.replace(/^\{/, `{"mod\\u0065l":"${rng.pick(MODELS)}",`));
    case 2:
      return Buffer.from(text.replace(/"max_tokens":/, '"max_tokens":1,"max_tokens":'));
    case 3:
      return Buffer.from(text.slice(0, rng.int(text.length + 1)));
    case 4: {
      const b = Buffer.from(text);
      if (b.length > 0) b[rng.int(b.length)] = rng.int(256);
      return b;
    }
    case 5:
      return Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)]);
    case 6:
      return Buffer.concat([Buffer.from(text.slice(0, -1)), Buffer.from([0xc3, 0x28]), Buffer.from('}')]);
    case 7:
      return Buffer.from(`${text} ${text}`);
    default:
      return Buffer.from(text.replace(/"model"/, '"Model"'));
  }
}

/** Where and how the credential is presented. */
function credentialHeaders(rng: Rng, t: Template): Record<string, string> {
  const put = (header: string, key: string): Record<string, string> => ({ [header]: header === 'authorization' ? `Bearer ${key}` : key });
  const roll = rng.int(100);
  if (roll < 55) return put(t.keyHeader, NARROW.key);
  if (roll < 70) return put(t.keyHeader, BROAD.key);
  if (roll < 73) return {};
  const odd = [
    () => put(t.keyHeader, REVOKED_KEY),
    () => put(t.keyHeader, EXPIRED_KEY),
    () => put(t.keyHeader, WRONG_SECRET_KEY),
    () => put(t.keyHeader, 'lla_x_short'),
    () => put(t.keyHeader, 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.'),
    () => ({ ...put('authorization', NARROW.key), 'x-api-key': BROAD.key }),
    () => ({ authorization: `Bearer ${NARROW.key},Bearer ${BROAD.key}` }),
    () => ({ authorization: `Bearer ${NARROW.key},Bearer ${NARROW.key}` }),
    () => ({ ...put(t.keyHeader, NARROW.key), 'proxy-authorization': `Bearer ${BROAD.key}` }),
    () => ({ ...put(t.keyHeader, NARROW.key), cookie: `s=${NARROW.key}` }),
    () => ({ ...put(t.keyHeader, NARROW.key), x_api_key: BROAD.key }),
    () => ({ ...put(t.keyHeader, BROAD.key), 'x-llm-authz-on-behalf-of': NARROW.key }),
    () => ({ cookie: `s=${NARROW.key}` }),
    () => ({ authorization: `Basic ${Buffer.from(`u:${NARROW.key}`).toString('base64')}` }),
    () => ({ authorization: `bearer    ${NARROW.key}` }),
    () => ({ 'x-goog-api-key': NARROW.key, 'api-key': NARROW.key }),
    () => ({ authorization: `Bearer ${'A'.repeat(70_000)}` }),
  ];
  return rng.pick(odd)();
}

function mutatePath(rng: Rng, p: string): string {
  const [base = '', query] = p.split('?', 2) as [string, string | undefined];
  let b = base;
  switch (rng.int(8)) {
    case 0:
      b = b.toUpperCase();
      break;
    case 1:
      b = `${b}/`;
      break;
    case 2:
      b = b.replace('/v1/', '//v1/');
      break;
    case 3:
      b = b.replace('/v1/', '/v1/./');
      break;
    case 4:
      b = b.replace(/c/, '%63');
      break;
    case 5:
      b = `${b}/../../admin`;
      break;
    case 6:
      b = b.replace('/v1/', `/v1/${NARROW.key}/`);
      break;
    default:
      b = `${b}#frag`;
  }
  return query === undefined ? b : `${b}?${query}`;
}

function queryAdd(rng: Rng): string {
  return rng.pick([
    `key=${NARROW.key}`,
    `KEY=${NARROW.key}`,
    `k%65y=${BROAD.key}`,
    `key%5B%5D=${NARROW.key}`,
    `api_key=${NARROW.key}`,
    `access_token=${NARROW.key}`,
    `state=${encodeURIComponent(BROAD.key)}`,
    'model=gpt-4.1',
    'model=gpt-4o-mini',
    'api-version=2024-10-21',
    'api-version=',
    'alt=sse',
    'x=1;key=abc',
  ]);
}

/** Extra headers a hostile client adds. */
function extraHeaders(rng: Rng): Record<string, string> {
  const h: Record<string, string> = {};
  const n = rng.int(3);
  for (let i = 0; i < n; i++) {
    switch (rng.int(11)) {
      case 0:
        h[ROUTING_HEADER] = rng.pick(['openai', 'anthropic', 'gemini', 'azure-openai', 'nowhere']);
        break;
      case 1:
        h['x-llm-authz-decision-id'] = 'forged';
        break;
      case 2:
        h['x-http-method-override'] = rng.pick(['POST', 'DELETE', 'GET']);
        break;
      case 3:
        h['x-envoy-auth-partial-body'] = 'true';
        break;
      case 4:
        h['content-length'] = String(rng.pick([0, 1, 99_999_999]));
        break;
      case 5:
        h['content-encoding'] = rng.pick(['gzip', 'identity', 'br']);
        break;
      case 6:
        h['x-fuzz-route'] = 'other';
        break;
      case 7:
        h['x-forwarded-client-cert'] = `URI=spiffe://${TRUST_DOMAIN}/forged`;
        break;
      case 8:
        h[rng.pick(['x-custom', 'x-api-token', 'x-session'])] = rng.pick([NARROW.key, `t=${BROAD.key}`, 'harmless']);
        break;
      case 9:
        // A client's own AWS headers: never forwarded to a provider llm-authz signs for.
        h[rng.pick(['x-amz-date', 'x-amz-security-token', 'x-amz-content-sha256', 'x-amz-user-agent', 'x-amz-fuzz'])] = rng.pick([
          '20200101T000000Z',
          NARROW.key,
          'UNSIGNED-PAYLOAD',
        ]);
        break;
      default:
        h['transfer-encoding'] = 'chunked';
    }
  }
  return h;
}

export function generateCase(rng: Rng): FuzzCase {
  const t = template(rng);
  const model = rng.chance(0.7) ? rng.pick(t.models ?? ['gpt-4o-mini', 'claude-3-5-haiku-latest', 'gemini-2.5-flash']) : rng.pick(MODELS);
  let method: string = t.method;
  let path = t.path(encodeURIComponent(model));
  let body: Buffer | undefined;
  const labels = [t.name];
  if (t.body !== undefined) {
    let obj = t.body(rng, model);
    if (rng.chance(0.35)) {
      obj = mutateJson(rng, obj);
      labels.push('json-mutated');
    }
    let text: string;
    try {
      text = JSON.stringify(obj);
    } catch {
      text = '{}';
    }
    body = rng.chance(0.15) ? mutateText(rng, text) : Buffer.from(text);
    if (rng.chance(0.15)) labels.push('text-mutated');
  } else if (rng.chance(0.2)) {
    body = Buffer.from('{"model":"gpt-4.1","messages":[]}');
    labels.push('body-on-get');
  }
  if (rng.chance(0.05)) {
    method = rng.pick(METHODS);
    labels.push('method');
  }
  if (rng.chance(0.08)) {
    path = mutatePath(rng, path);
    labels.push('path');
  }
  if (rng.chance(0.1)) {
    path = `${path}${path.includes('?') ? '&' : '?'}${queryAdd(rng)}`;
    labels.push('query');
  }
  const headers: Record<string, string> = {
    ...(body !== undefined ? { 'content-type': rng.chance(0.9) ? 'application/json' : rng.pick(CONTENT_TYPES) } : {}),
    ...(t.extraHeaders ?? {}),
    ...credentialHeaders(rng, t),
  };
  if (rng.chance(0.25)) Object.assign(headers, extraHeaders(rng));
  let trustedClaims = false;
  let trustedPrincipal = false;
  const metadata: Record<string, unknown> = {};
  if (rng.chance(0.05)) {
    trustedClaims = rng.chance(0.5);
    const payload = { iss: trustedClaims ? ENVOY_ISSUER : 'https://evil.example', sub: rng.pick(['wl-envoy', 'wl-narrow', '']) };
    if (payload.sub === '') trustedClaims = false;
    metadata['envoy.filters.http.jwt_authn'] = {
      fields: {
        jwt_payload: { kind: 'structValue', structValue: { fields: Object.fromEntries(Object.entries(payload).map(([k, v]) => [k, { kind: 'stringValue', stringValue: v }])) } },
      },
    };
    labels.push('claims');
  }
  let principal: string | undefined;
  if (rng.chance(0.05)) {
    principal = rng.pick([`spiffe://${TRUST_DOMAIN}/ns/a/sa/b`, 'spiffe://evil.test/ns/a', 'not-a-spiffe-id', `spiffe://${TRUST_DOMAIN.toUpperCase()}/x`]);
    trustedPrincipal = principal.toLowerCase().startsWith(`spiffe://${TRUST_DOMAIN}/`);
    labels.push('principal');
  }
  const raw = checkRequest({ method, path, headers, ...(body !== undefined ? { body } : {}), ...(principal !== undefined ? { principal } : {}) });
  const attributes = raw['attributes'] as Record<string, unknown>;
  if (Object.keys(metadata).length > 0) attributes['metadata_context'] = { filter_metadata: metadata };
  if (rng.chance(0.03)) attributes['context_extensions'] = { route: 'anthropic', [rng.pick(['x', 'provider'])]: 'y' };
  const http = (attributes['request'] as { http: Record<string, unknown> }).http;
  if (rng.chance(0.02)) delete http['headers'];
  return { raw, method, path, headers, body, trustedClaims, trustedPrincipal, policies: rng.chance(0.5), label: labels.join('+') };
}
