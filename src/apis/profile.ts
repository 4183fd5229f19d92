/**
 * What llm-authz knows about one provider API, in one place. A wire format (`WireFormat`) is how
 * requests to an API look and how its errors are written: endpoints and the body parser of each,
 * the headers its SDKs put a key in, its native error body. A profile (`ApiProfile`) is a kind of
 * provider in the config (`providers[].api`): the wire format it speaks and how its credential is
 * attached. Identity, the LLM phase, the Envoy response, the policy loader, policy test fixtures,
 * the mock providers and the docs' tables all derive from these (see src/apis/index.ts).
 */
import type { ReasonCode } from '../core/reasons.ts';
import type { BodyParser } from './bodies/types.ts';
import type { ResponseReader } from './responses/facts.ts';

/**
 * What a request asks for, named after the OpenTelemetry GenAI `gen_ai.operation.name` values
 * where one exists (`chat`, `text_completion`, `embeddings`, `generate_content`). `unknown`: a
 * path on a provider API that llm-authz does not know; denied unless a policy allows it by path.
 */
export type Operation = 'chat' | 'text_completion' | 'embeddings' | 'generate_content' | 'count_tokens' | 'models' | 'unknown';

export interface EndpointSpec {
  readonly method: 'GET' | 'POST';
  /**
   * The exact path, or a pattern whose first capture group is the model (percent-encoded, as
   * in Azure deployments and Gemini). Matching is exact: a path that differs in any way
   * (trailing slash, encoding, case) is not this endpoint.
   */
  readonly path: string | RegExp;
  /** How a pattern path reads in the docs, e.g. `/openai/deployments/{deployment}/embeddings?api-version=…`. */
  readonly display?: string | undefined;
  /** A stable name of the API schema, e.g. `openai.chat_completions`. */
  readonly schema: string;
  readonly operation: Operation;
  /** The body parser; absent = the endpoint has no body. */
  readonly parse?: BodyParser | undefined;
  /** Streaming decided by the path (Gemini streamGenerateContent). */
  readonly stream?: boolean | undefined;
  /** The model is required; default: every endpoint with a body. */
  readonly needsModel?: boolean | undefined;
  /**
   * A truncated body is acceptable: every field the decision needs comes from the path and
   * nothing in the body changes what the provider does with it (Gemini countTokens). Every
   * other endpoint answers a truncated body with 413.
   */
  readonly partialBody?: boolean | undefined;
  /** The `api-version` query parameter is required once (Azure OpenAI deployments). */
  readonly apiVersion?: boolean | undefined;
  /**
   * The response reader: what an outcome record reads from the endpoint's responses (usage,
   * model, finish reasons, tool-call names, error type); absent = responses are counted, not read.
   */
  readonly response?: ResponseReader | undefined;
}

/** What a deny body says (the reason's status and message, the decision id). */
export interface ErrorInput {
  readonly status: number;
  readonly reason: ReasonCode;
  readonly message: string;
  readonly decisionId: string;
}

export interface WireFormat<W extends string = string> {
  /** The wire API's name, as `llm.api` and audit records show it. */
  readonly name: W;
  readonly endpoints: readonly EndpointSpec[];
  /**
   * Request headers that pick this API on a path it shares with another (GET /v1/models is
   * OpenAI's and Anthropic's): present = this API.
   */
  readonly selectHeaders?: readonly string[] | undefined;
  /** Headers its SDKs always send: pick its error format for denies before the body is read. */
  readonly sdkHeaders?: readonly string[] | undefined;
  /** Paths that belong to this API even when they are not a known endpoint (its error format, its provider). */
  readonly ownsPath?: RegExp | undefined;
  /** Request headers in which its SDKs send an API key (the client's llm-authz key arrives there). */
  readonly clientCredentialHeaders: readonly string[];
  /** Query parameters in which its SDKs can send an API key (never read; always removed). */
  readonly credentialQueryParameters?: readonly string[] | undefined;
  /** The deny body in the API's own error format, so its SDKs raise their usual typed errors. */
  errorBody(e: ErrorInput): string;
  /** A resource prefix the body may put before the model named in the path (Gemini: `models/`). */
  readonly bodyModelPrefix?: string | undefined;
  /** Response headers that carry the provider's own request id, first found wins (outcome records). */
  readonly requestIdHeaders?: readonly string[] | undefined;
  /** The endpoint a policy test fixture of this API stands for (its chat call). */
  readonly fixture: { readonly schema: string; readonly operation: Operation; path(model: string): string };
}

/** How llm-authz attaches a provider's credential on allow (a header today; signing APIs add another kind). */
export interface CredentialForm {
  readonly kind: 'header';
  readonly header: string;
  value(key: string): string;
}

export interface ApiProfile<N extends string = string, W extends string = string> {
  /** The value of `providers[].api` in the config. */
  readonly name: N;
  /** One line for the docs' provider table. */
  readonly title: string;
  readonly wire: WireFormat<W>;
  readonly credential: CredentialForm;
}

/** A POST endpoint with a JSON body. */
export function post(path: string | RegExp, schema: string, operation: Operation, parse: BodyParser, extra: Partial<EndpointSpec> = {}): EndpointSpec {
  return { method: 'POST', path, schema, operation, parse, ...extra };
}

/** A GET model listing (no body, no model). */
export function listing(path: string | RegExp, schema: string): EndpointSpec {
  return { method: 'GET', path, schema, operation: 'models' };
}

/** A credential sent as `Authorization: Bearer KEY`. */
export const BEARER: CredentialForm = { kind: 'header', header: 'authorization', value: (key) => `Bearer ${key}` };

/** A credential sent as the value of one header. */
export function headerCredential(header: string): CredentialForm {
  return { kind: 'header', header, value: (key) => key };
}

/** The message every deny body carries: names the reason code and the decision id. */
export function denyMessage(e: ErrorInput): string {
  return `llm-authz: ${e.message} (reason: ${e.reason}, decision: ${e.decisionId})`;
}
