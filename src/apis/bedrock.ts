/**
 * Amazon Bedrock Runtime: `Converse`, `ConverseStream`, `InvokeModel` and
 * `InvokeModelWithResponseStream` on `/model/{modelId}/...`, where the model id (or an
 * inference-profile, prompt or imported-model ARN) is one percent-encoded path segment. The
 * credential is a Bedrock API key (bearer) or an AWS access key that signs each request
 * (SigV4). Errors are `{"message"}` bodies whose type is in the `x-amzn-errortype` header, as
 * the AWS SDK reads them to raise its own exception classes.
 */
import { parseBedrockConverse } from './bodies/bedrock-converse.ts';
import { parseBedrockInvoke } from './bodies/bedrock-invoke.ts';
import type { BodyParser } from './bodies/types.ts';
import { anthropicMessagesReader } from './responses/anthropic-messages.ts';
import { bedrockConverseReader } from './responses/bedrock-converse.ts';
import type { ResponseReader } from './responses/facts.ts';
import { BEARER, denyMessage, post, type ApiProfile, type EndpointSpec, type ErrorInput, type Operation, type SigV4Credential, type WireFormat } from './profile.ts';

/** The Bedrock Runtime exception (modelled in the AWS SDK) for a deny's HTTP status. */
export function bedrockErrorType(status: number): string {
  switch (status) {
    case 401:
    case 403:
      return 'AccessDeniedException';
    case 404:
      return 'ResourceNotFoundException';
    case 429:
      return 'ThrottlingException';
    case 503:
      return 'ServiceUnavailableException';
    default:
      return status >= 500 ? 'InternalServerException' : 'ValidationException';
  }
}

/** A POST on `/model/{modelId}/<op>`. */
function endpoint(op: string, schema: string, operation: Operation, parse: BodyParser, stream: boolean, response: ResponseReader): EndpointSpec {
  return post(new RegExp(`^/model/([^/]+)/${op}$`), schema, operation, parse, { display: `/model/{model}/${op}`, slashInModel: true, stream, response });
}

export const bedrockWire: WireFormat<'bedrock'> = {
  name: 'bedrock',
  endpoints: [
    endpoint('converse', 'bedrock.converse', 'chat', parseBedrockConverse, false, bedrockConverseReader),
    endpoint('converse-stream', 'bedrock.converse_stream', 'chat', parseBedrockConverse, true, bedrockConverseReader),
    // The body is the model's own format; the Anthropic format (Claude) is read as a chat, and its
    // answer as Anthropic messages (streamed: one Anthropic event per event-stream chunk). Other
    // models' answers have none of the fields read: their outcome records count them.
    endpoint('invoke', 'bedrock.invoke_model', 'generate_content', parseBedrockInvoke, false, anthropicMessagesReader),
    endpoint('invoke-with-response-stream', 'bedrock.invoke_model_with_response_stream', 'generate_content', parseBedrockInvoke, true, anthropicMessagesReader),
  ],
  ownsPath: /^\/model\//,
  // A Bedrock API key (and an llm-authz key where the SDKs put one) is a bearer token.
  clientCredentialHeaders: ['authorization'],
  requestIdHeaders: ['x-amzn-requestid'],
  errorBody: (e: ErrorInput) => JSON.stringify({ message: denyMessage(e) }),
  errorHeaders: (e: ErrorInput) => [['x-amzn-errortype', bedrockErrorType(e.status)]],
  fixture: { schema: 'bedrock.converse', operation: 'chat', path: (m) => `/model/${encodeURIComponent(m)}/converse` },
};

/** SigV4 for the `bedrock` signing name; the Bedrock Runtime endpoint of the region by default. */
export const BEDROCK_SIGV4: SigV4Credential = { kind: 'sigv4', service: 'bedrock', defaultHost: (region) => `bedrock-runtime.${region}.amazonaws.com` };

export const bedrock: ApiProfile<'bedrock', 'bedrock'> = {
  name: 'bedrock',
  title: 'Amazon Bedrock Runtime',
  system: 'aws.bedrock',
  wire: bedrockWire,
  credentials: [BEDROCK_SIGV4, BEARER],
};
