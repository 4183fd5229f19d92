/**
 * Gemini: POST /{v1,v1beta}/models/{model}:generateContent | :streamGenerateContent |
 * :countTokens | :embedContent. The model is in the path. Google's JSON accepts each field in
 * camelCase and in snake_case; both spellings of one field in one object are refused.
 */
import { fail, ok, type Outcome } from '../../core/reasons.ts';
import { bodyModel, name } from './fields.ts';
import { stringAt, type JsonView } from './json-view.ts';
import { NO_BODY_FIELDS, type BodyFields } from './types.ts';

function camel(key: string): string {
  return key.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
}

/** The key under which a field is given, in either spelling. */
function key(view: JsonView, camelName: string, snakeName: string): Outcome<string | undefined> {
  return view.either(camelName, snakeName);
}

function sub(view: JsonView, camelName: string, snakeName: string): Outcome<JsonView | undefined> {
  const k = key(view, camelName, snakeName);
  if (!k.ok) return k;
  if (k.value === undefined) return ok(undefined);
  return view.object(k.value);
}

function toolNames(body: JsonView): Outcome<string[]> {
  const tools = body.objects('tools');
  if (!tools.ok) return tools;
  const names: string[] = [];
  for (const t of tools.value ?? []) {
    const fk = key(t, 'functionDeclarations', 'function_declarations');
    if (!fk.ok) return fk;
    for (const k of t.members.keys()) {
      if (k === fk.value) {
        const decls = t.objects(k);
        if (!decls.ok) return decls;
        for (const d of decls.value ?? []) {
          const n = name(d, 'name');
          if (!n.ok) return n;
          names.push(n.value);
        }
      } else {
        // Built-in tools (googleSearch, codeExecution, urlContext, ...) by their field name.
        names.push(camel(k));
      }
    }
  }
  return ok(names);
}

function toolChoice(body: JsonView): Outcome<string | undefined> {
  const cfg = sub(body, 'toolConfig', 'tool_config');
  if (!cfg.ok) return cfg;
  if (cfg.value === undefined) return ok(undefined);
  const fcc = sub(cfg.value, 'functionCallingConfig', 'function_calling_config');
  if (!fcc.ok) return fcc;
  if (fcc.value === undefined) return ok(undefined);
  const mode = fcc.value.string('mode');
  if (!mode.ok) return mode;
  const allowedKey = key(fcc.value, 'allowedFunctionNames', 'allowed_function_names');
  if (!allowedKey.ok) return allowedKey;
  const allowed = allowedKey.value === undefined ? ok(undefined) : fcc.value.array(allowedKey.value);
  if (!allowed.ok) return allowed;
  switch (mode.value ?? 'MODE_UNSPECIFIED') {
    case 'MODE_UNSPECIFIED':
    case 'AUTO':
    case 'VALIDATED':
      return ok('auto');
    case 'NONE':
      return ok('none');
    case 'ANY': {
      const only = allowed.value?.length === 1 ? allowed.value[0] : undefined;
      if (only === undefined || allowedKey.value === undefined) return ok('required');
      const n = stringAt(fcc.value.text, only, `${fcc.value.name(allowedKey.value)}[0]`);
      return n.ok ? ok(`tool:${n.value}`) : n;
    }
    default:
      return fail('invalid_field', `'${fcc.value.name('mode')}' must be one of AUTO, ANY, NONE, VALIDATED`);
  }
}

function generationFields(body: JsonView): Outcome<{ maxTokens: number | undefined; temperature: number | undefined }> {
  const gen = sub(body, 'generationConfig', 'generation_config');
  if (!gen.ok) return gen;
  if (gen.value === undefined) return ok({ maxTokens: undefined, temperature: undefined });
  const mk = key(gen.value, 'maxOutputTokens', 'max_output_tokens');
  if (!mk.ok) return mk;
  const max = mk.value === undefined ? ok(undefined) : gen.value.positiveInt(mk.value);
  if (!max.ok) return max;
  const temp = gen.value.number('temperature');
  if (!temp.ok) return temp;
  return ok({ maxTokens: max.value, temperature: temp.value });
}

function countContents(body: JsonView, required: boolean): Outcome<number> {
  const c = body.length('contents');
  if (!c.ok) return c;
  if (c.value === undefined) return required ? fail('invalid_field', "'contents' is required") : ok(0);
  return ok(c.value);
}

/** generateContent and streamGenerateContent (streaming comes from the path). */
export function parseGeminiGenerate(body: JsonView): Outcome<BodyFields> {
  const model = bodyModel(body);
  if (!model.ok) return model;
  const contents = countContents(body, true);
  if (!contents.ok) return contents;
  const gen = generationFields(body);
  if (!gen.ok) return gen;
  const tools = toolNames(body);
  if (!tools.ok) return tools;
  const choice = toolChoice(body);
  if (!choice.ok) return choice;
  // Cached content (created earlier at Google) can hold tools, a tool config and instructions.
  const cached = key(body, 'cachedContent', 'cached_content');
  if (!cached.ok) return cached;
  return ok({
    model: model.value,
    stream: undefined,
    maxTokens: gen.value.maxTokens,
    temperature: gen.value.temperature,
    tools: tools.value,
    toolChoice: choice.value,
    endUser: undefined,
    messageCount: contents.value,
    storedContext: cached.value !== undefined && body.has(cached.value) ? ['cachedContent'] : [],
  });
}

/** countTokens (`contents` or a whole `generateContentRequest`) and embedContent (`content`). */
export function parseGeminiCount(body: JsonView): Outcome<BodyFields> {
  const model = bodyModel(body);
  if (!model.ok) return model;
  const contents = countContents(body, false);
  if (!contents.ok) return contents;
  const single = body.has('content') ? 1 : 0;
  return ok({ ...NO_BODY_FIELDS, model: model.value, messageCount: contents.value + single });
}
