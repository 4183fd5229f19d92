/** Anthropic messages: POST /v1/messages and POST /v1/messages/count_tokens. */
import { fail, ok, type Outcome } from '../../core/reasons.ts';
import { arrayLength, bodyModel, choiceString, name, temperature } from './fields.ts';
import type { JsonView } from './json-view.ts';
import type { BodyFields } from './types.ts';

/**
 * Every tool has a name (client tools and server tools such as web_search alike); MCP servers
 * the model may call (`mcp_servers`) count as `mcp:<name>`.
 */
function toolNames(body: JsonView): Outcome<string[]> {
  const tools = body.objects('tools');
  if (!tools.ok) return tools;
  const names: string[] = [];
  for (const t of tools.value ?? []) {
    const n = name(t, 'name');
    if (!n.ok) return n;
    names.push(n.value);
  }
  const servers = body.objects('mcp_servers');
  if (!servers.ok) return servers;
  for (const m of servers.value ?? []) {
    const n = name(m, 'name');
    if (!n.ok) return n;
    names.push(`mcp:${n.value}`);
  }
  return ok(names);
}

/** `{type: auto|any|none}` or `{type: tool, name}`. */
function toolChoice(body: JsonView): Outcome<string | undefined> {
  const c = body.object('tool_choice');
  if (!c.ok) return c;
  if (c.value === undefined) return ok(undefined);
  const type = c.value.string('type');
  if (!type.ok) return type;
  if (type.value === 'tool') {
    const n = name(c.value, 'name');
    return n.ok ? ok(`tool:${n.value}`) : n;
  }
  return choiceString(c.value, 'type', { auto: 'auto', any: 'required', none: 'none', tool: 'tool' });
}

function endUser(body: JsonView): Outcome<string | undefined> {
  const meta = body.object('metadata');
  if (!meta.ok) return meta;
  if (meta.value === undefined) return ok(undefined);
  return meta.value.string('user_id');
}

function parse(body: JsonView, counting: boolean): Outcome<BodyFields> {
  const model = bodyModel(body);
  if (!model.ok) return model;
  const stream = counting ? ok(undefined) : body.bool('stream');
  if (!stream.ok) return stream;
  const max = counting ? ok(undefined) : body.positiveInt('max_tokens');
  if (!max.ok) return max;
  const temp = temperature(body);
  if (!temp.ok) return temp;
  const messages = arrayLength(body, 'messages', true);
  if (!messages.ok) return messages;
  const tools = toolNames(body);
  if (!tools.ok) return tools;
  const choice = toolChoice(body);
  if (!choice.ok) return choice;
  const user = endUser(body);
  if (!user.ok) return user;
  if (counting && body.has('stream')) return fail('invalid_field', "'stream' is not a field of count_tokens");
  return ok({
    model: model.value,
    stream: stream.value,
    maxTokens: max.value,
    temperature: temp.value,
    tools: tools.value,
    toolChoice: choice.value,
    endUser: user.value,
    messageCount: messages.value,
  });
}

export function parseAnthropicMessages(body: JsonView): Outcome<BodyFields> {
  return parse(body, false);
}

export function parseAnthropicCountTokens(body: JsonView): Outcome<BodyFields> {
  return parse(body, true);
}
