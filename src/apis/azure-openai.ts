/**
 * Azure OpenAI: deployments in the path (`/openai/deployments/{deployment}/...?api-version=`)
 * or the v1 API (`/openai/v1/...`, model in the body); the key in an `api-key` header;
 * OpenAI-style errors.
 */
import { OPENAI_CHAT, OPENAI_COMPLETIONS, OPENAI_EMBEDDINGS, OPENAI_RESPONSES, openAiErrorBody } from './openai.ts';
import { headerCredential, type ApiProfile, type EndpointSpec, type WireFormat } from './profile.ts';

const as = (e: EndpointSpec, path: string | { path: RegExp; display: string }, schema: string, extra: Partial<EndpointSpec> = {}): EndpointSpec => ({
  ...e,
  ...(typeof path === 'string' ? { path } : path),
  schema,
  ...extra,
});
const deployment = (op: string): { path: RegExp; display: string } => ({
  path: new RegExp(`^/openai/deployments/([^/]+)/${op}$`),
  display: `/openai/deployments/{deployment}/${op}?api-version=…`,
});

export const azureOpenAiWire: WireFormat<'azure-openai'> = {
  name: 'azure-openai',
  endpoints: [
    as(OPENAI_CHAT, '/openai/v1/chat/completions', 'azure_openai.chat_completions'),
    as(OPENAI_RESPONSES, '/openai/v1/responses', 'azure_openai.responses'),
    as(OPENAI_EMBEDDINGS, '/openai/v1/embeddings', 'azure_openai.embeddings'),
    as(OPENAI_CHAT, deployment('chat/completions'), 'azure_openai.chat_completions', { apiVersion: true }),
    as(OPENAI_COMPLETIONS, deployment('completions'), 'azure_openai.completions', { apiVersion: true }),
    as(OPENAI_EMBEDDINGS, deployment('embeddings'), 'azure_openai.embeddings', { apiVersion: true }),
  ],
  ownsPath: /^\/openai\//,
  clientCredentialHeaders: ['api-key'],
  requestIdHeaders: ['apim-request-id', 'x-request-id'],
  errorBody: openAiErrorBody,
  fixture: { schema: 'azure_openai.chat_completions', operation: 'chat', path: (m) => `/openai/deployments/${m}/chat/completions` },
};

export const azureOpenai: ApiProfile<'azure-openai', 'azure-openai'> = {
  name: 'azure-openai',
  title: 'Azure OpenAI',
  system: 'azure.ai.openai',
  wire: azureOpenAiWire,
  credentials: [headerCredential('api-key')],
};
