/** OpenAI's API (api.openai.com): bearer keys, model in the body, `{"error":{...}}` errors. */
import { parseOpenAiChat } from './bodies/openai-chat.ts';
import { parseOpenAiCompletions } from './bodies/openai-completions.ts';
import { parseOpenAiEmbeddings } from './bodies/openai-embeddings.ts';
import { parseOpenAiResponses } from './bodies/openai-responses.ts';
import { openAiChatReader } from './responses/openai-chat.ts';
import { openAiResponsesReader } from './responses/openai-responses.ts';
import { BEARER, denyMessage, listing, post, type ApiProfile, type EndpointSpec, type ErrorInput, type WireFormat } from './profile.ts';

function openAiType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

/** `{"error":{"message","type","param":null,"code":REASON}}`: OpenAI's, Azure OpenAI's and OpenAI-compatible servers' error body. */
export function openAiErrorBody(e: ErrorInput): string {
  return JSON.stringify({ error: { message: denyMessage(e), type: openAiType(e.status), param: null, code: e.reason } });
}

/** The OpenAI request schemas, shared by Azure OpenAI (which renames them). */
export const OPENAI_CHAT = post('/v1/chat/completions', 'openai.chat_completions', 'chat', parseOpenAiChat, { response: openAiChatReader });
export const OPENAI_RESPONSES = post('/v1/responses', 'openai.responses', 'chat', parseOpenAiResponses, { response: openAiResponsesReader });
// Legacy completions and embeddings answer with the chat completion's model, choices and usage fields.
export const OPENAI_COMPLETIONS = post('/v1/completions', 'openai.completions', 'text_completion', parseOpenAiCompletions, { response: openAiChatReader });
export const OPENAI_EMBEDDINGS = post('/v1/embeddings', 'openai.embeddings', 'embeddings', parseOpenAiEmbeddings, { response: openAiChatReader });

const ENDPOINTS: readonly EndpointSpec[] = [
  OPENAI_CHAT,
  OPENAI_RESPONSES,
  OPENAI_COMPLETIONS,
  OPENAI_EMBEDDINGS,
  listing('/v1/models', 'openai.models'),
  { ...listing(/^\/v1\/models\/([^/:]+)$/, 'openai.models'), display: '/v1/models/{model}' },
];

export const openAiWire: WireFormat<'openai'> = {
  name: 'openai',
  endpoints: ENDPOINTS,
  clientCredentialHeaders: ['authorization'],
  requestIdHeaders: ['x-request-id'],
  errorBody: openAiErrorBody,
  fixture: { schema: 'openai.chat_completions', operation: 'chat', path: () => '/v1/chat/completions' },
};

export const openai: ApiProfile<'openai', 'openai'> = {
  name: 'openai',
  title: 'OpenAI',
  system: 'openai',
  wire: openAiWire,
  credentials: [BEARER],
};
