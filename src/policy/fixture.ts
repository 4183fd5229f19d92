/**
 * Policy test inputs written as data: an identity, an HTTP request and an LLM request in the
 * shape of the CEL variables, turned into the typed DecisionInput the engine decides on.
 */
import { z } from 'zod';
import type { RequestContext } from '../envoy/request-context.ts';
import type { Identity } from '../identity/types.ts';
import type { LlmRequest } from '../llm/types.ts';
import { WIRE_APIS, wireOf } from '../apis/index.ts';
import { createProviderSelector } from '../llm/provider-select.ts';
import type { Providers } from '../providers/runtime.ts';
import type { DecisionInput } from './types.ts';

const count = z.int().min(0).max(Number.MAX_SAFE_INTEGER);

export const identityFixture = z.strictObject({
  workload: z.string().min(1),
  agent: z.string().min(1).optional(),
  user: z.string().min(1).optional(),
  issuer: z.string().min(1).optional(),
  method: z.enum(['api_key']).default('api_key'),
  credential_id: z.string().min(1).optional(),
  scopes: z
    .strictObject({
      models: z.array(z.string()).optional(),
      providers: z.array(z.string()).optional(),
      tools: z.array(z.string()).optional(),
      max_tokens: count.optional(),
    })
    .default({}),
});

export const requestFixture = z
  .strictObject({
    method: z.string().min(1).default('POST'),
    path: z.string().min(1).optional(),
    host: z.string().default('llm.local'),
    headers: z.record(z.string(), z.string()).default({}),
    source: z.strictObject({ address: z.string().default('127.0.0.1'), port: z.int().min(0).max(65535).default(40000), principal: z.string().default('') }).prefault({}),
    sni: z.string().default(''),
    context_extensions: z.record(z.string(), z.string()).default({}),
  })
  .prefault({});

export const llmFixture = z.strictObject({
  api: z.enum(WIRE_APIS).default(WIRE_APIS[0]),
  /** The provider the LLM phase would select; absent = none configured for the API. */
  provider: z.string().min(1).optional(),
  temperature: z.number().optional(),
  tool_choice: z.string().min(1).optional(),
  end_user: z.string().min(1).optional(),
  model: z.string().min(1),
  stream: z.boolean().default(false),
  max_tokens: count.optional(),
  tools: z.array(z.string()).default([]),
  message_count: count.default(1),
  input_bytes: count.default(0),
  stored_context: z.array(z.enum(['prompt', 'cachedContent'])).default([]),
  /** Path parameters besides the model (Vertex AI: project, location). */
  path_params: z.record(z.string().min(1), z.string().min(1)).default({}),
});

export const decisionFixture = z.strictObject({
  identity: identityFixture,
  request: requestFixture,
  llm: llmFixture,
});

export type DecisionFixture = z.infer<typeof decisionFixture>;

/** A fixture that cannot stand for a request under this config (it names an unknown provider). */
export class FixtureError extends Error {
  override readonly name = 'FixtureError';
}

/**
 * A fixture as the engine sees it: the request of the API's chat endpoint (its profile's
 * fixture). Without `llm.provider`, the provider is the one the LLM phase would select from
 * `providers` for the fixture's API and model (none when not given); a named provider must be
 * configured (a FixtureError otherwise).
 */
export function decisionInputOf(f: DecisionFixture, providers?: Pick<Providers, 'list' | 'byName'>): DecisionInput {
  const shape = wireOf(f.llm.api).fixture;
  let provider = providers === undefined ? undefined : createProviderSelector(providers)(f.llm.api, f.llm.model);
  if (f.llm.provider !== undefined) {
    provider = providers?.byName.get(f.llm.provider);
    if (provider === undefined) throw new FixtureError(`llm.provider: unknown provider '${f.llm.provider}' (not in the config)`);
  }
  const identity: Identity = {
    method: f.identity.method,
    workload: f.identity.workload,
    agent: f.identity.agent,
    user: f.identity.user,
    issuer: f.identity.issuer,
    credentialId: f.identity.credential_id,
    scopes: { models: f.identity.scopes.models, providers: f.identity.scopes.providers, tools: f.identity.scopes.tools, maxTokens: f.identity.scopes.max_tokens },
  };
  const headers = new Map(Object.entries(f.request.headers).map(([k, v]) => [k.toLowerCase(), v] as const));
  const ctx: RequestContext = {
    method: f.request.method.toUpperCase(),
    path: f.request.path ?? shape.path(f.llm.model, f.llm.path_params),
    query: '',
    host: f.request.host,
    scheme: 'https',
    protocol: 'HTTP/1.1',
    headers,
    requestId: headers.get('x-request-id'),
    source: { address: f.request.source.address, port: f.request.source.port, principal: f.request.source.principal, certificate: '' },
    destination: { address: '127.0.0.1', port: 10000, principal: '', certificate: '' },
    sni: f.request.sni,
    body: { bytes: new Uint8Array(0), truncated: false, declaredLength: undefined },
    contextExtensions: new Map(Object.entries(f.request.context_extensions)),
    filterMetadata: {},
  };
  const llm: LlmRequest = {
    api: f.llm.api,
    schema: shape.schema,
    operation: shape.operation,
    provider,
    model: f.llm.model,
    stream: f.llm.stream,
    maxTokens: f.llm.max_tokens,
    temperature: f.llm.temperature,
    tools: f.llm.tools,
    toolChoice: f.llm.tool_choice,
    endUser: f.llm.end_user,
    messageCount: f.llm.message_count,
    inputBytes: f.llm.input_bytes,
    bodyComplete: true,
    storedContext: f.llm.stored_context,
    pathParams: f.llm.path_params,
  };
  return { ctx, identity, llm };
}
