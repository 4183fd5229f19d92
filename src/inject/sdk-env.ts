/**
 * The environment variables the providers' official SDKs read for their base URL: set in the
 * app containers of an envoy-mode pod, they send the SDKs' calls to the local Envoy without a
 * code change. A variable the container already sets is left as it is.
 */
import { PORTS } from './constants.ts';

const ENVOY = `http://127.0.0.1:${PORTS.envoyEgress}`;

export const SDK_BASE_URL_ENV: readonly { readonly name: string; readonly value: string; readonly readBy: string }[] = [
  // The OpenAI SDKs (Python, Node, Go, .NET) append the API path to a base URL that ends in /v1.
  { name: 'OPENAI_BASE_URL', value: `${ENVOY}/v1`, readBy: 'OpenAI SDKs' },
  // The Anthropic SDKs append /v1/messages.
  { name: 'ANTHROPIC_BASE_URL', value: ENVOY, readBy: 'Anthropic SDKs' },
  // The OpenAI SDKs' AzureOpenAI client: the resource endpoint; /openai/deployments/... is appended.
  { name: 'AZURE_OPENAI_ENDPOINT', value: ENVOY, readBy: 'OpenAI SDKs (AzureOpenAI client)' },
  // Google's Gen AI SDK and the Gemini CLI: the Gemini API base URL (/v1beta/models/... appended).
  { name: 'GOOGLE_GEMINI_BASE_URL', value: ENVOY, readBy: 'Google Gen AI SDK, Gemini CLI' },
];
