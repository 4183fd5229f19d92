/** OpenAI chat completions: POST /v1/chat/completions. */
import type { RequestContext } from '../envoy/request-context.ts';
import { fail, ok, type Outcome } from '../pipeline/reasons.ts';
import { readArrayLength, readJsonObject, readModel, readOptionalBool, readOptionalPositiveInt, type JsonObject } from './json-body.ts';
import type { LlmRequest } from './types.ts';

function toolNames(body: JsonObject): Outcome<string[]> {
  const tools = body['tools'];
  if (tools === undefined || tools === null) return ok([]);
  if (!Array.isArray(tools)) return fail('invalid_field', "'tools' must be an array");
  const names: string[] = [];
  for (const t of tools) {
    const fn = typeof t === 'object' && t !== null ? (t as JsonObject)['function'] : undefined;
    const name = typeof fn === 'object' && fn !== null ? (fn as JsonObject)['name'] : undefined;
    if (typeof name !== 'string' || name === '') return fail('invalid_field', "'tools[].function.name' must be a string");
    names.push(name);
  }
  return ok(names);
}

export function parseOpenAiChat(ctx: RequestContext): Outcome<LlmRequest> {
  const body = readJsonObject(ctx);
  if (!body.ok) return body;
  const model = readModel(body.value);
  if (!model.ok) return model;
  const stream = readOptionalBool(body.value, 'stream');
  if (!stream.ok) return stream;
  // max_completion_tokens supersedes max_tokens in the current API; either caps the output.
  const mct = readOptionalPositiveInt(body.value, 'max_completion_tokens');
  if (!mct.ok) return mct;
  const mt = readOptionalPositiveInt(body.value, 'max_tokens');
  if (!mt.ok) return mt;
  const messages = readArrayLength(body.value, 'messages', true);
  if (!messages.ok) return messages;
  const tools = toolNames(body.value);
  if (!tools.ok) return tools;
  return ok({
    api: 'openai',
    schema: 'openai.chat_completions',
    operation: 'chat',
    model: model.value,
    stream: stream.value ?? false,
    maxTokens: mct.value ?? mt.value,
    tools: tools.value,
    messageCount: messages.value,
    inputBytes: ctx.body.bytes.length,
  });
}
