/** OpenAI embeddings: POST /v1/embeddings. */
import { ok, type Outcome } from '../pipeline/reasons.ts';
import { bodyModel, countOf } from './fields.ts';
import type { JsonView } from './json-view.ts';
import { openAiEndUser } from './openai-chat.ts';
import type { BodyFields } from './types.ts';

export function parseOpenAiEmbeddings(body: JsonView): Outcome<BodyFields> {
  const model = bodyModel(body);
  if (!model.ok) return model;
  const input = countOf(body, 'input', true);
  if (!input.ok) return input;
  const user = openAiEndUser(body);
  if (!user.ok) return user;
  return ok({
    model: model.value,
    stream: undefined,
    maxTokens: undefined,
    temperature: undefined,
    tools: [],
    toolChoice: undefined,
    endUser: user.value,
    messageCount: input.value,
  });
}
