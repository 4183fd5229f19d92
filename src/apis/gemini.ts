/**
 * The Gemini API (Google AI Studio): the model in the path (`/v1beta/models/{model}:method`), the
 * key in `x-goog-api-key` (its `?key=` query parameter is never read, always removed), Google API
 * errors (`{"error":{"code","message","status"}}`).
 */
import { parseGeminiCount, parseGeminiGenerate } from './bodies/gemini.ts';
import { geminiReader } from './responses/gemini.ts';
import { denyMessage, headerCredential, listing, post, type ApiProfile, type ErrorInput, type WireFormat } from './profile.ts';

/** google.rpc.Code names, as Google APIs put them in `error.status`. */
function googleStatus(status: number): string {
  switch (status) {
    case 401:
      return 'UNAUTHENTICATED';
    case 403:
      return 'PERMISSION_DENIED';
    case 404:
      return 'NOT_FOUND';
    case 429:
      return 'RESOURCE_EXHAUSTED';
    case 503:
      return 'UNAVAILABLE';
    default:
      return status >= 500 ? 'INTERNAL' : 'INVALID_ARGUMENT';
  }
}

/** Google API error body with a google.rpc.ErrorInfo naming the reason. */
export function googleErrorBody(e: ErrorInput): string {
  return JSON.stringify({
    error: {
      code: e.status,
      message: denyMessage(e),
      status: googleStatus(e.status),
      details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: e.reason, domain: 'llm-authz', metadata: { decision_id: e.decisionId } }],
    },
  });
}

const method = (name: string): RegExp => new RegExp(`^/(?:v1|v1beta)/models/([^/:]+):${name}$`);
const display = (name: string): { display: string } => ({ display: `/{v1,v1beta}/models/{model}:${name}` });

export const geminiWire: WireFormat<'gemini'> = {
  name: 'gemini',
  endpoints: [
    listing('/v1beta/models', 'gemini.models'),
    post(method('generateContent'), 'gemini.generate_content', 'generate_content', parseGeminiGenerate, { stream: false, response: geminiReader, ...display('generateContent') }),
    post(method('streamGenerateContent'), 'gemini.stream_generate_content', 'generate_content', parseGeminiGenerate, {
      stream: true,
      response: geminiReader,
      ...display('streamGenerateContent'),
    }),
    post(method('countTokens'), 'gemini.count_tokens', 'count_tokens', parseGeminiCount, { partialBody: true, ...display('countTokens') }),
    post(method('embedContent'), 'gemini.embed_content', 'embeddings', parseGeminiCount, { partialBody: true, ...display('embedContent') }),
  ],
  ownsPath: /^\/v1beta\/|^\/v1\/models\/[^/]*:/,
  clientCredentialHeaders: ['x-goog-api-key'],
  credentialQueryParameters: ['key'],
  bodyModelPrefix: 'models/',
  errorBody: googleErrorBody,
  fixture: { schema: 'gemini.generate_content', operation: 'generate_content', path: (m) => `/v1beta/models/${m}:generateContent` },
};

export const gemini: ApiProfile<'gemini', 'gemini'> = {
  name: 'gemini',
  title: 'Gemini API (Google AI Studio)',
  system: 'gcp.gemini',
  wire: geminiWire,
  credentials: [headerCredential('x-goog-api-key')],
};
