/**
 * Deny bodies in the wire format of the API that was called, so official SDKs raise their
 * usual typed errors with a readable message that names the reason code.
 */
import type { ApiKind } from '../providers/schema.ts';
import type { ReasonCode } from '../pipeline/reasons.ts';

function openAiType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

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

export interface ErrorBodyInput {
  readonly api: ApiKind | undefined;
  readonly status: number;
  readonly reason: ReasonCode;
  readonly message: string;
  readonly decisionId: string;
}

export function errorBody(e: ErrorBodyInput): string {
  const message = `llm-authz: ${e.message} (reason: ${e.reason}, decision: ${e.decisionId})`;
  if (e.api === 'anthropic') {
    return JSON.stringify({ type: 'error', error: { type: anthropicType(e.status), message } });
  }
  return JSON.stringify({ error: { message, type: openAiType(e.status), param: null, code: e.reason } });
}
