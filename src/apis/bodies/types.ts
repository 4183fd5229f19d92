/** What a body parser reads from a request body: the fields every API schema maps onto. */
import type { Outcome } from '../../core/reasons.ts';
import type { JsonView } from './json-view.ts';

/**
 * What a request asks for, named after the OpenTelemetry GenAI `gen_ai.operation.name` values
 * where one exists (`chat`, `text_completion`, `embeddings`, `generate_content`). `unknown`: a
 * path on a provider API that llm-authz does not know; denied unless a policy allows it by path.
 */
export type Operation = 'chat' | 'text_completion' | 'embeddings' | 'generate_content' | 'count_tokens' | 'models' | 'unknown';

/** The fields a schema's body parser reads. */
export interface BodyFields {
  readonly model: string | undefined;
  readonly stream: boolean | undefined;
  readonly maxTokens: number | undefined;
  readonly temperature: number | undefined;
  readonly tools: readonly string[];
  readonly toolChoice: string | undefined;
  readonly endUser: string | undefined;
  readonly messageCount: number;
  /** See LlmRequest.storedContext; absent = none. */
  readonly storedContext?: readonly string[];
  /** The operation, when the body tells it more precisely than the endpoint (a chat in Bedrock's InvokeModel). */
  readonly operation?: Operation;
}

export const NO_BODY_FIELDS: BodyFields = {
  model: undefined,
  stream: undefined,
  maxTokens: undefined,
  temperature: undefined,
  tools: [],
  toolChoice: undefined,
  endUser: undefined,
  messageCount: 0,
};

/** What the path told before the body is read. */
export interface PathFacts {
  /** The model named in the path (percent-decoded), if the endpoint has one there. */
  readonly model: string | undefined;
}

/** One API schema's body parser: reads the fields, refusing malformed or ambiguous bodies. */
export type BodyParser = (body: JsonView, path: PathFacts) => Outcome<BodyFields>;
