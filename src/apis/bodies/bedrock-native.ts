/**
 * Bedrock InvokeModel bodies in a model's own format other than Anthropic's (Llama, Mistral,
 * Amazon Nova and Titan, Cohere, OpenAI's open-weight models, ...). Their fields differ per
 * model family; this reads the ones that decide: the token limit under each family's name (the
 * largest given), the temperature, and tools in the shapes those formats use (`{name}`,
 * `{function: {name}}`, `{toolSpec: {name}}`, and Nova's `toolConfig.tools`). A tool whose name
 * cannot be read is refused rather than passed on unseen.
 */
import { fail, ok, type Outcome } from '../../core/reasons.ts';
import { arrayLength, bodyModel, maxOf, name } from './fields.ts';
import type { JsonView } from './json-view.ts';
import type { BodyFields } from './types.ts';

/** Output token limits: Anthropic/Mistral/Cohere, Llama, OpenAI, Nova (in inferenceConfig). */
const MAX_FIELDS = ['max_tokens', 'max_gen_len', 'max_completion_tokens', 'max_new_tokens', 'maxTokens', 'maxTokenCount'] as const;
/** Objects that hold generation settings: Nova's inferenceConfig, Titan's textGenerationConfig. */
const CONFIG_OBJECTS = ['inferenceConfig', 'textGenerationConfig'] as const;

function toolName(t: JsonView): Outcome<string> {
  if (t.has('name')) return name(t, 'name');
  for (const holder of ['function', 'toolSpec']) {
    if (!t.has(holder)) continue;
    const h = t.object(holder);
    if (!h.ok) return h;
    if (h.value !== undefined) return name(h.value, 'name');
  }
  return fail('invalid_field', `'${t.path}' names no tool (expected name, function.name or toolSpec.name)`);
}

/** Tool names from `tools` (and `toolConfig.tools`) of a native body. */
export function nativeToolNames(view: JsonView): Outcome<string[]> {
  const names: string[] = [];
  const lists: JsonView[] = [view];
  const cfg = view.object('toolConfig');
  if (!cfg.ok) return cfg;
  if (cfg.value !== undefined) lists.push(cfg.value);
  for (const holder of lists) {
    const tools = holder.objects('tools');
    if (!tools.ok) return tools;
    for (const t of tools.value ?? []) {
      const n = toolName(t);
      if (!n.ok) return n;
      names.push(n.value);
    }
  }
  return ok(names);
}

function limits(views: readonly JsonView[]): Outcome<{ maxTokens: number | undefined; temperature: number | undefined }> {
  let maxTokens: number | undefined;
  let temperature: number | undefined;
  for (const v of views) {
    for (const f of MAX_FIELDS) {
      const m = v.positiveInt(f);
      if (!m.ok) return m;
      maxTokens = maxOf(maxTokens, m.value);
    }
    const t = v.number('temperature');
    if (!t.ok) return t;
    temperature ??= t.value;
  }
  return ok({ maxTokens, temperature });
}

export function parseBedrockNative(body: JsonView): Outcome<BodyFields> {
  const model = bodyModel(body);
  if (!model.ok) return model;
  const views: JsonView[] = [body];
  for (const c of CONFIG_OBJECTS) {
    const o = body.object(c);
    if (!o.ok) return o;
    if (o.value !== undefined) views.push(o.value);
  }
  const lim = limits(views);
  if (!lim.ok) return lim;
  const tools = nativeToolNames(body);
  if (!tools.ok) return tools;
  const messages = arrayLength(body, 'messages', false);
  if (!messages.ok) return messages;
  const single = ['prompt', 'inputText', 'message', 'input'].some((k) => body.has(k)) ? 1 : 0;
  return ok({
    model: model.value,
    stream: undefined,
    maxTokens: lim.value.maxTokens,
    temperature: lim.value.temperature,
    tools: tools.value,
    toolChoice: undefined,
    endUser: undefined,
    messageCount: messages.value + single,
    ...(body.has('messages') ? { operation: 'chat' as const } : {}),
  });
}
