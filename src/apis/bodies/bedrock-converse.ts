/**
 * Bedrock Converse and ConverseStream: POST /model/{modelId}/converse[-stream]. The model is in
 * the path; the body holds `messages`, `inferenceConfig` (`maxTokens`, `temperature`),
 * `toolConfig` (`tools`: `toolSpec`, `systemTool` or `cachePoint` members; `toolChoice`: `auto`,
 * `any` or `tool`) and `additionalModelRequestFields`, which Bedrock hands to the model as they
 * are: tools and a token limit there count too. A model id that is a Bedrock prompt ARN brings
 * in a prompt stored at Bedrock (its own model, messages and tools): reported as stored context.
 */
import { fail, ok, type Outcome } from '../../core/reasons.ts';
import { arrayLength, bodyModel, maxOf, name } from './fields.ts';
import type { JsonView } from './json-view.ts';
import type { BodyFields, PathFacts } from './types.ts';
import { nativeToolNames } from './bedrock-native.ts';

/** A Bedrock prompt (prompt management) ARN: `arn:aws:bedrock:REGION:ACCOUNT:prompt/ID[:VERSION]`. */
export const PROMPT_ARN = /^arn:aws[a-z-]*:bedrock:[^:]*:[^:]*:prompt\//;

function toolNames(cfg: JsonView): Outcome<string[]> {
  const tools = cfg.objects('tools');
  if (!tools.ok) return tools;
  const names: string[] = [];
  for (const t of tools.value ?? []) {
    if (t.members.size !== 1) return fail('invalid_field', `'${t.path}' must have exactly one of toolSpec, systemTool, cachePoint`);
    for (const k of t.members.keys()) {
      if (k === 'cachePoint') continue;
      if (k === 'toolSpec' || k === 'systemTool') {
        const spec = t.object(k);
        if (!spec.ok) return spec;
        if (spec.value === undefined) return fail('invalid_field', `'${t.name(k)}' must be an object`);
        const n = name(spec.value, 'name');
        if (!n.ok) return n;
        names.push(n.value);
      } else {
        // A tool kind this parser does not know, by its member name (it is offered to the model).
        names.push(k);
      }
    }
  }
  return ok(names);
}

/** `{auto: {}}`, `{any: {}}` or `{tool: {name}}`. */
function toolChoice(cfg: JsonView): Outcome<string | undefined> {
  const c = cfg.object('toolChoice');
  if (!c.ok || c.value === undefined) return c.ok ? ok(undefined) : c;
  const keys = [...c.value.members.keys()];
  if (keys.length !== 1) return fail('invalid_field', `'${c.value.path}' must have exactly one of auto, any, tool`);
  switch (keys[0]) {
    case 'auto':
      return ok('auto');
    case 'any':
      return ok('required');
    case 'tool': {
      const t = c.value.object('tool');
      if (!t.ok) return t;
      if (t.value === undefined) return fail('invalid_field', `'${c.value.name('tool')}' must be an object`);
      const n = name(t.value, 'name');
      return n.ok ? ok(`tool:${n.value}`) : n;
    }
    default:
      return fail('invalid_field', `'${c.value.path}' must have exactly one of auto, any, tool`);
  }
}

/**
 * Tool fields of the other APIs. Converse takes tools in `toolConfig.tools` only; a top-level
 * `tools` or `functions` is not read here, so it could reach the model without being scoped:
 * refused rather than ignored.
 */
const FOREIGN_TOOL_FIELDS = ['tools', 'functions'] as const;

export function parseBedrockConverse(body: JsonView, path: PathFacts): Outcome<BodyFields> {
  const foreign = FOREIGN_TOOL_FIELDS.find((k) => body.has(k));
  if (foreign !== undefined) return fail('invalid_field', `'${body.name(foreign)}' is not a Converse field: tools go in toolConfig.tools`);
  const model = bodyModel(body);
  if (!model.ok) return model;
  const inference = body.object('inferenceConfig');
  if (!inference.ok) return inference;
  const max = inference.value === undefined ? ok(undefined) : inference.value.positiveInt('maxTokens');
  if (!max.ok) return max;
  const temp = inference.value === undefined ? ok(undefined) : inference.value.number('temperature');
  if (!temp.ok) return temp;
  const cfg = body.object('toolConfig');
  if (!cfg.ok) return cfg;
  const tools = cfg.value === undefined ? ok([]) : toolNames(cfg.value);
  if (!tools.ok) return tools;
  const choice = cfg.value === undefined ? ok(undefined) : toolChoice(cfg.value);
  if (!choice.ok) return choice;
  const extra = body.object('additionalModelRequestFields');
  if (!extra.ok) return extra;
  const extraTools = extra.value === undefined ? ok([]) : nativeToolNames(extra.value);
  if (!extraTools.ok) return extraTools;
  const extraMax = extra.value === undefined ? ok(undefined) : extra.value.positiveInt('max_tokens');
  if (!extraMax.ok) return extraMax;
  const prompt = path.model !== undefined && PROMPT_ARN.test(path.model);
  const messages = arrayLength(body, 'messages', !prompt);
  if (!messages.ok) return messages;
  return ok({
    model: model.value,
    stream: undefined,
    maxTokens: maxOf(max.value, extraMax.value),
    temperature: temp.value,
    tools: [...tools.value, ...extraTools.value],
    toolChoice: choice.value,
    endUser: undefined,
    messageCount: messages.value,
    storedContext: prompt ? ['prompt'] : [],
  });
}
