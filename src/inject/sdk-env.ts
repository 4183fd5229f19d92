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
  // The AWS SDKs' endpoint for the Bedrock Runtime service (AWS_ENDPOINT_URL_<SERVICE ID>): /model/... appended.
  { name: 'AWS_ENDPOINT_URL_BEDROCK_RUNTIME', value: ENVOY, readBy: 'AWS SDKs (Bedrock Runtime)' },
  // The Anthropic SDKs' Bedrock client: /model/{model}/invoke appended.
  { name: 'ANTHROPIC_BEDROCK_BASE_URL', value: ENVOY, readBy: 'Anthropic SDKs (Bedrock client)' },
  // Google's Gen AI SDK on Vertex AI: /v1beta1/projects/... appended.
  { name: 'GOOGLE_VERTEX_BASE_URL', value: ENVOY, readBy: 'Google Gen AI SDK (Vertex AI)' },
  // The Anthropic SDKs' Vertex AI client: /projects/... appended to a base URL that ends in /v1.
  { name: 'ANTHROPIC_VERTEX_BASE_URL', value: `${ENVOY}/v1`, readBy: 'Anthropic SDKs (Vertex AI client)' },
];
