/** OpenAI embeddings: POST /v1/embeddings. */
import { ok, type Outcome } from '../../core/reasons.ts';
import { bodyModel, countOf } from './fields.ts';
import type { JsonView } from './json-view.ts';
import { openAiEndUser } from './openai-chat.ts';
import { NO_BODY_FIELDS, type BodyFields } from './types.ts';

export function parseOpenAiEmbeddings(body: JsonView): Outcome<BodyFields> {
  const model = bodyModel(body);
  if (!model.ok) return model;
  const input = countOf(body, 'input', true);
  if (!input.ok) return input;
  const user = openAiEndUser(body);
  if (!user.ok) return user;
  return ok({ ...NO_BODY_FIELDS, model: model.value, endUser: user.value, messageCount: input.value });
}
