import type { ApiKind } from '../providers/schema.ts';

export type Operation = 'chat' | 'messages';

/** What the request asks of the model, read from where the provider reads it. Never holds prompt text. */
export interface LlmRequest {
  readonly api: ApiKind;
  /** A stable name of the API schema, e.g. `openai.chat_completions`. */
  readonly schema: string;
  readonly operation: Operation;
  readonly model: string;
  readonly stream: boolean;
  readonly maxTokens: number | undefined;
  /** Names of the tools/functions the model may call: the downstream action markers. */
  readonly tools: readonly string[];
  readonly messageCount: number;
  readonly inputBytes: number;
}
