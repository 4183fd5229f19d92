/** Anthropic's Messages API: `x-api-key` keys, `anthropic-version` on every request, `{"type":"error",...}` errors. */
import { parseAnthropicCountTokens, parseAnthropicMessages } from './bodies/anthropic-messages.ts';
import { anthropicMessagesReader } from './responses/anthropic-messages.ts';
import { denyMessage, headerCredential, listing, post, type ApiProfile, type ErrorInput, type WireFormat } from './profile.ts';

function anthropicType(status: number): string {
  switch (status) {
    case 401:
      return 'authentication_error';
    case 403:
      return 'permission_error';
    case 404:
      return 'not_found_error';
    case 413:
      return 'request_too_large';
    case 429:
      return 'rate_limit_error';
    default:
      return status >= 500 ? 'api_error' : 'invalid_request_error';
  }
}

export const anthropicWire: WireFormat<'anthropic'> = {
  name: 'anthropic',
  endpoints: [
    post('/v1/messages', 'anthropic.messages', 'chat', parseAnthropicMessages, { response: anthropicMessagesReader }),
    post('/v1/messages/count_tokens', 'anthropic.count_tokens', 'count_tokens', parseAnthropicCountTokens),
    listing('/v1/models', 'anthropic.models'),
    { ...listing(/^\/v1\/models\/([^/:]+)$/, 'anthropic.models'), display: '/v1/models/{model}' },
  ],
  selectHeaders: ['anthropic-version'],
  sdkHeaders: ['anthropic-version', 'x-api-key'],
  clientCredentialHeaders: ['x-api-key'],
  requestIdHeaders: ['request-id'],
  errorBody: (e: ErrorInput) => JSON.stringify({ type: 'error', error: { type: anthropicType(e.status), message: denyMessage(e) } }),
  fixture: { schema: 'anthropic.messages', operation: 'chat', path: () => '/v1/messages' },
};

export const anthropic: ApiProfile<'anthropic', 'anthropic'> = {
  name: 'anthropic',
  title: 'Anthropic',
  system: 'anthropic',
  wire: anthropicWire,
  credentials: [headerCredential('x-api-key')],
};
