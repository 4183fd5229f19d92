/** OpenAI (legacy) completions: POST /v1/completions. */
import { ok, type Outcome } from '../../core/reasons.ts';
import { bodyModel, countOf, temperature } from './fields.ts';
import type { JsonView } from './json-view.ts';
import { openAiEndUser } from './openai-chat.ts';
import type { BodyFields } from './types.ts';

export function parseOpenAiCompletions(body: JsonView): Outcome<BodyFields> {
  const model = bodyModel(body);
  if (!model.ok) return model;
  const stream = body.bool('stream');
  if (!stream.ok) return stream;
  const max = body.positiveInt('max_tokens');
  if (!max.ok) return max;
  const temp = temperature(body);
  if (!temp.ok) return temp;
  const prompt = countOf(body, 'prompt', true);
  if (!prompt.ok) return prompt;
  const user = openAiEndUser(body);
  if (!user.ok) return user;
  return ok({
    model: model.value,
    stream: stream.value,
    maxTokens: max.value,
    temperature: temp.value,
    tools: [],
    toolChoice: undefined,
    endUser: user.value,
    messageCount: prompt.value,
  });
}
