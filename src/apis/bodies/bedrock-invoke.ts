/**
 * Bedrock InvokeModel and InvokeModelWithResponseStream: POST /model/{modelId}/invoke[-with-
 * response-stream]. The body is in the model's own format: the Anthropic Messages format
 * (Claude; it carries `anthropic_version`, no model, and streams by the path), read as
 * Anthropic messages; any other format by parseBedrockNative.
 */
import { ok, type Outcome } from '../../core/reasons.ts';
import { parseAnthropicMessages } from './anthropic-messages.ts';
import { parseBedrockNative } from './bedrock-native.ts';
import type { JsonView } from './json-view.ts';
import type { BodyFields } from './types.ts';

export function parseBedrockInvoke(body: JsonView): Outcome<BodyFields> {
  if (!body.has('anthropic_version')) return parseBedrockNative(body);
  const version = body.string('anthropic_version');
  if (!version.ok) return version;
  const fields = parseAnthropicMessages(body);
  return fields.ok ? ok({ ...fields.value, operation: 'chat' }) : fields;
}
