/**
 * OpenAI responses: POST /v1/responses. Tools are flat (`{type: 'function', name}`). A `prompt`
 * names a prompt saved at OpenAI, which can carry its own tools: reported as stored context.
 */
import { ok, type Outcome } from '../../core/reasons.ts';
import { bodyModel, countOf, temperature } from './fields.ts';
import type { JsonView } from './json-view.ts';
import { openAiEndUser, openAiToolChoice, openAiToolNames } from './openai-chat.ts';
import type { BodyFields } from './types.ts';

export function parseOpenAiResponses(body: JsonView): Outcome<BodyFields> {
  const model = bodyModel(body);
  if (!model.ok) return model;
  const stream = body.bool('stream');
  if (!stream.ok) return stream;
  const max = body.positiveInt('max_output_tokens');
  if (!max.ok) return max;
  const temp = temperature(body);
  if (!temp.ok) return temp;
  const input = countOf(body, 'input', false);
  if (!input.ok) return input;
  const tools = openAiToolNames(body, false);
  if (!tools.ok) return tools;
  const choice = openAiToolChoice(body, false);
  if (!choice.ok) return choice;
  const user = openAiEndUser(body);
  if (!user.ok) return user;
  return ok({
    model: model.value,
    stream: stream.value,
    maxTokens: max.value,
    temperature: temp.value,
    tools: tools.value,
    toolChoice: choice.value,
    endUser: user.value,
    messageCount: input.value,
    storedContext: body.has('prompt') ? ['prompt'] : [],
  });
}
