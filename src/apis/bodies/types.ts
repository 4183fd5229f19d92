/** What a body parser reads from a request body: the fields every API schema maps onto. */
import type { Outcome } from '../../core/reasons.ts';
import type { JsonView } from './json-view.ts';

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

/** One API schema's body parser: reads the fields, refusing malformed or ambiguous bodies. */
export type BodyParser = (body: JsonView) => Outcome<BodyFields>;
