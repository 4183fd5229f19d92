/** OpenAI chat completions: POST /v1/chat/completions (also Azure OpenAI and OpenAI-compatible servers). */
import { fail, ok, type Outcome } from '../../core/reasons.ts';
import { arrayLength, bodyModel, choiceString, maxOf, name, temperature } from './fields.ts';
import { kindOf } from './json-scan.ts';
import type { JsonView } from './json-view.ts';
import type { BodyFields } from './types.ts';

const CHOICES = { none: 'none', auto: 'auto', required: 'required' } as const;

const NO_VIEWS: readonly JsonView[] = [];

/** No tool names (the usual request), made once. */
const NO_NAMES: Outcome<readonly string[]> = ok(Object.freeze([]));

/** Both lists of names, without a new array when one of them is empty. */
function joined(a: readonly string[], b: readonly string[]): readonly string[] {
  return b.length === 0 ? a : a.length === 0 ? b : [...a, ...b];
}

/** Function and custom tools by name; any other tool type by its type. */
export function openAiToolNames(body: JsonView, nested: boolean): Outcome<readonly string[]> {
  const tools = body.objects('tools');
  if (!tools.ok) return tools;
  if (tools.value === undefined) return NO_NAMES;
  const names: string[] = [];
  for (const t of tools.value) {
    const type = t.string('type');
    if (!type.ok) return type;
    const kind = type.value ?? 'function';
    if (kind === 'function' || kind === 'custom') {
      let holder: JsonView = t;
      if (nested) {
        const inner = t.object(kind);
        if (!inner.ok) return inner;
        if (inner.value === undefined) return fail('invalid_field', `'${t.name(kind)}' is required`);
        holder = inner.value;
      }
      const n = name(holder, 'name');
      if (!n.ok) return n;
      names.push(n.value);
    } else if (kind === 'mcp') {
      const label = t.string('server_label');
      if (!label.ok) return label;
      names.push(label.value === undefined ? 'mcp' : `mcp:${label.value}`);
    } else {
      names.push(kind);
    }
  }
  return ok(names);
}

/** tool_choice: a mode string, or an object naming one tool (nested: chat's `{function: {name}}`). */
export function openAiToolChoice(body: JsonView, nested: boolean): Outcome<string | undefined> {
  const span = body.span('tool_choice');
  if (span === undefined) return ok(undefined);
  if (kindOf(body.text, span) === 'string') return choiceString(body, 'tool_choice', CHOICES);
  const c = body.object('tool_choice');
  if (!c.ok) return c;
  if (c.value === undefined) return ok(undefined);
  const type = c.value.string('type');
  if (!type.ok) return type;
  if (type.value === 'function' || type.value === 'custom') {
    let holder = c.value;
    if (nested) {
      const inner = c.value.object(type.value);
      if (!inner.ok) return inner;
      if (inner.value === undefined) return fail('invalid_field', `'tool_choice.${type.value}' is required`);
      holder = inner.value;
    }
    const n = name(holder, 'name');
    return n.ok ? ok(`tool:${n.value}`) : n;
  }
  if (type.value === 'allowed_tools') {
    const holder = nested ? c.value.object('allowed_tools') : ok<JsonView | undefined>(c.value);
    if (!holder.ok) return holder;
    if (holder.value === undefined) return fail('invalid_field', "'tool_choice.allowed_tools' is required");
    return choiceString(holder.value, 'mode', { auto: 'auto', required: 'required' });
  }
  if (typeof type.value === 'string' && type.value !== '') return ok(`tool:${type.value}`);
  return fail('invalid_field', "'tool_choice.type' must be a non-empty string");
}

/** OpenAI's end-user fields: `safety_identifier` (current) or `user` (older). */
export function openAiEndUser(body: JsonView): Outcome<string | undefined> {
  const s = body.string('safety_identifier');
  if (!s.ok) return s;
  const u = body.string('user');
  if (!u.ok) return u;
  return ok(s.value ?? u.value);
}

/**
 * Tools given outside `tools` in chat completions, which the provider honours as well: the
 * deprecated `functions` list, Azure OpenAI `data_sources` (retrieval), and `web_search_options`.
 */
function otherChatTools(body: JsonView): Outcome<readonly string[]> {
  let names: string[] | undefined;
  const fns = body.objects('functions');
  if (!fns.ok) return fns;
  for (const f of fns.value ?? NO_VIEWS) {
    const n = name(f, 'name');
    if (!n.ok) return n;
    names ??= [];
    names.push(n.value);
  }
  const sources = body.objects('data_sources');
  if (!sources.ok) return sources;
  for (const d of sources.value ?? NO_VIEWS) {
    const t = name(d, 'type');
    if (!t.ok) return t;
    names ??= [];
    names.push(`data_source:${t.value}`);
  }
  if (body.has('web_search_options')) {
    names ??= [];
    names.push('web_search');
  }
  return names === undefined ? NO_NAMES : ok(names);
}

/** The deprecated `function_call`: `none`, `auto`, or `{name}`. */
function functionCall(body: JsonView): Outcome<string | undefined> {
  const span = body.span('function_call');
  if (span === undefined) return ok(undefined);
  if (kindOf(body.text, span) === 'string') return choiceString(body, 'function_call', { none: 'none', auto: 'auto' });
  const c = body.object('function_call');
  if (!c.ok) return c;
  if (c.value === undefined) return ok(undefined);
  const n = name(c.value, 'name');
  return n.ok ? ok(`tool:${n.value}`) : n;
}

export function parseOpenAiChat(body: JsonView): Outcome<BodyFields> {
  const model = bodyModel(body);
  if (!model.ok) return model;
  const stream = body.bool('stream');
  if (!stream.ok) return stream;
  // max_completion_tokens supersedes max_tokens; when both are given the cap must hold for both.
  const mct = body.positiveInt('max_completion_tokens');
  if (!mct.ok) return mct;
  const mt = body.positiveInt('max_tokens');
  if (!mt.ok) return mt;
  const temp = temperature(body);
  if (!temp.ok) return temp;
  const messages = arrayLength(body, 'messages', true);
  if (!messages.ok) return messages;
  const tools = openAiToolNames(body, true);
  if (!tools.ok) return tools;
  const other = otherChatTools(body);
  if (!other.ok) return other;
  const choice = openAiToolChoice(body, true);
  if (!choice.ok) return choice;
  const fc = functionCall(body);
  if (!fc.ok) return fc;
  if (choice.value !== undefined && fc.value !== undefined) return fail('ambiguous_field', "'tool_choice' and 'function_call' are both given");
  const user = openAiEndUser(body);
  if (!user.ok) return user;
  return ok({
    model: model.value,
    stream: stream.value,
    maxTokens: maxOf(mct.value, mt.value),
    temperature: temp.value,
    tools: joined(tools.value, other.value),
    toolChoice: choice.value ?? fc.value,
    endUser: user.value,
    messageCount: messages.value,
  });
}
