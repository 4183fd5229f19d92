/**
 * Google Vertex AI: Gemini (`publishers/google/models/{model}:generateContent`,
 * `:streamGenerateContent`, `:countTokens`) and Claude (`publishers/anthropic/models/{model}:
 * rawPredict`, `:streamRawPredict`, and `count-tokens:rawPredict` with the model in the body),
 * under `/{v1,v1beta1}/projects/{project}/locations/{location}/`. The project and the location
 * are path parameters policies read (`llm.path_params`). The credential is an OAuth2 access
 * token that llm-authz mints from a service-account key; errors are Google API errors.
 */
import { parseAnthropicCountTokens, parseAnthropicMessages } from './bodies/anthropic-messages.ts';
import { parseGeminiCount, parseGeminiGenerate } from './bodies/gemini.ts';
import { googleErrorBody } from './gemini.ts';
import { anthropicMessagesReader } from './responses/anthropic-messages.ts';
import { geminiReader } from './responses/gemini.ts';
import type { BodyParser } from './bodies/types.ts';
import { post, type ApiProfile, type EndpointSpec, type Operation, type WireFormat } from './profile.ts';

const PREFIX = '^/(?:v1|v1beta1)/projects/(?<project>[^/]+)/locations/(?<location>[^/]+)/publishers';
const DISPLAY = '/{v1,v1beta1}/projects/{project}/locations/{location}/publishers';

/** A POST endpoint under a publisher's models: `{model}:method`, or a fixed name in place of the model. */
function endpoint(publisher: string, method: string, schema: string, operation: Operation, parse: BodyParser, extra: Partial<EndpointSpec> = {}, fixed?: string): EndpointSpec {
  const model = fixed ?? '(?<model>[^/:]+)';
  return post(new RegExp(`${PREFIX}/${publisher}/models/${model}:${method}$`), schema, operation, parse, {
    display: `${DISPLAY}/${publisher}/models/${fixed ?? '{model}'}:${method}`,
    ...extra,
  });
}

export const vertexAiWire: WireFormat<'vertex-ai'> = {
  name: 'vertex-ai',
  endpoints: [
    // Vertex AI answers in the Gemini API's format, and Claude on Vertex AI in Anthropic's: the same readers.
    endpoint('google', 'generateContent', 'vertex_ai.generate_content', 'generate_content', parseGeminiGenerate, { stream: false, response: geminiReader }),
    endpoint('google', 'streamGenerateContent', 'vertex_ai.stream_generate_content', 'generate_content', parseGeminiGenerate, { stream: true, response: geminiReader }),
    endpoint('google', 'countTokens', 'vertex_ai.count_tokens', 'count_tokens', parseGeminiCount, { partialBody: true }),
    // Before the `{model}:rawPredict` pattern, which also matches it: here the model is in the body.
    endpoint('anthropic', 'rawPredict', 'vertex_ai.anthropic_count_tokens', 'count_tokens', parseAnthropicCountTokens, {}, 'count-tokens'),
    // The body's `stream` decides whether rawPredict streams; streamRawPredict always does.
    endpoint('anthropic', 'rawPredict', 'vertex_ai.anthropic_raw_predict', 'chat', parseAnthropicMessages, { response: anthropicMessagesReader }),
    endpoint('anthropic', 'streamRawPredict', 'vertex_ai.anthropic_stream_raw_predict', 'chat', parseAnthropicMessages, { stream: true, response: anthropicMessagesReader }),
  ],
  // Also the express-mode paths without a project (`/v1beta1/publishers/google/models/...`, an
  // API key instead of a token), which llm-authz does not read: their deny is a Google API error.
  ownsPath: /^\/(?:v1|v1beta1)\/(?:projects|publishers)\//,
  clientCredentialHeaders: ['authorization'],
  // Google APIs also take an API key or an access token in the URL: never read, always removed.
  credentialQueryParameters: ['key', 'access_token'],
  errorBody: googleErrorBody,
  fixture: {
    schema: 'vertex_ai.generate_content',
    operation: 'generate_content',
    path: (m, p) => `/v1/projects/${p['project'] ?? 'project'}/locations/${p['location'] ?? 'global'}/publishers/google/models/${m}:generateContent`,
  },
};

export const vertexAi: ApiProfile<'vertex-ai', 'vertex-ai'> = {
  name: 'vertex-ai',
  title: 'Google Vertex AI (Gemini and Claude)',
  system: 'gcp.vertex_ai',
  wire: vertexAiWire,
  credentials: [{ kind: 'oauth2', scopes: ['https://www.googleapis.com/auth/cloud-platform'] }],
};
