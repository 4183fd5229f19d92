import type { Operation, WireApi } from '../apis/index.ts';
import type { ProviderRuntime } from '../providers/runtime.ts';

export type { Operation, WireApi };

/**
 * What the request asks of the model, read from where the provider reads it. Never holds
 * prompt text. See docs/llm-requests.md for every field per API.
 */
export interface LlmRequest {
  /** Wire format of the request. */
  readonly api: WireApi;
  /** A stable name of the API schema, e.g. `openai.chat_completions`; `unknown` for unknown paths. */
  readonly schema: string;
  readonly operation: Operation;
  /** The configured provider that will serve it (unless a rule names another); undefined when none is configured for it. */
  readonly provider: ProviderRuntime | undefined;
  /** The one model the provider will use (body, or path for Azure deployments, Gemini, Bedrock, Vertex AI); undefined for model listings. */
  readonly model: string | undefined;
  readonly stream: boolean;
  /** The output token cap in the API's own field (integer), when given. */
  readonly maxTokens: number | undefined;
  readonly temperature: number | undefined;
  /** Names of the tools the model may call (function names; built-in tools by type): the downstream action markers. */
  readonly tools: readonly string[];
  /** `auto`, `none`, `required` (any tool), or `tool:NAME` (that tool), normalised across APIs. */
  readonly toolChoice: string | undefined;
  /** The API's end-user field (OpenAI `user`/`safety_identifier`, Anthropic `metadata.user_id`). */
  readonly endUser: string | undefined;
  /** Number of messages / contents / inputs (integer); 0 when the body was not read whole. */
  readonly messageCount: number;
  /** Size of the request body in bytes (the declared Content-Length when only part was received). */
  readonly inputBytes: number;
  /** False when only part of the body was received and the endpoint decides without it. */
  readonly bodyComplete: boolean;
  /**
   * Body fields that bring in context stored at the provider: an OpenAI Responses `prompt`
   * (a saved prompt) or a Gemini `cachedContent`. That context can offer the model tools and
   * instructions this request does not show, so `tools` may be incomplete. Empty when none.
   */
  readonly storedContext: readonly string[];
  /** Named parameters of the path besides the model (Vertex AI: `project`, `location`); empty for most APIs. */
  readonly pathParams: Readonly<Record<string, string>>;
}
