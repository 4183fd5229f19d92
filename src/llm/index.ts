/**
 * The LLM request phase: the path picks the API schema, the schema's parser reads the body.
 */
import type { ApiKind } from '../providers/schema.ts';
import type { Providers } from '../providers/runtime.ts';
import type { RequestContext } from '../envoy/request-context.ts';
import { fail, type Outcome } from '../pipeline/reasons.ts';
import { parseAnthropicMessages } from './anthropic-messages.ts';
import { parseOpenAiChat } from './openai-chat.ts';
import type { LlmRequest } from './types.ts';

interface Endpoint {
  readonly method: string;
  readonly api: ApiKind;
  readonly parse: (ctx: RequestContext) => Outcome<LlmRequest>;
}

const ENDPOINTS: ReadonlyMap<string, Endpoint> = new Map([
  ['/v1/chat/completions', { method: 'POST', api: 'openai', parse: parseOpenAiChat }],
  ['/v1/messages', { method: 'POST', api: 'anthropic', parse: parseAnthropicMessages }],
]);

/** Which API a path belongs to, known before the body is read (used to shape error bodies). */
export function apiOfPath(path: string): ApiKind | undefined {
  return ENDPOINTS.get(path)?.api;
}

export type Understand = (ctx: RequestContext) => Outcome<LlmRequest>;

/** The LLM request phase for a set of providers. */
export function createUnderstander(_providers: Providers): Understand {
  return understand;
}

export function understand(ctx: RequestContext): Outcome<LlmRequest> {
  const endpoint = ENDPOINTS.get(ctx.path);
  if (endpoint === undefined) return fail('unknown_api');
  if (ctx.method !== endpoint.method) return fail('method_not_allowed');
  return endpoint.parse(ctx);
}

export type { LlmRequest } from './types.ts';
