/**
 * The provider API profiles, and everything derived from them once, at start: the API kinds the
 * config accepts, the wire APIs, every header and query parameter a client key can arrive in,
 * every header a provider credential is attached in. Adding an API: one profile file, its body
 * parser in bodies/, and one entry in PROFILES.
 */
import { anthropic } from './anthropic.ts';
import { azureOpenai } from './azure-openai.ts';
import { bedrock } from './bedrock.ts';
import { gemini } from './gemini.ts';
import { openai } from './openai.ts';
import { openaiCompatible } from './openai-compatible.ts';
import { headersOf, MATERIAL, type ApiProfile, type CredentialForm, type CredentialKind, type WireFormat } from './profile.ts';
import { vertexAi } from './vertex-ai.ts';

/** In this order: the order of the docs' tables, and of the credential headers a request is read in. */
export const PROFILES = [openai, anthropic, azureOpenai, gemini, openaiCompatible, bedrock, vertexAi] as const;

/** A `providers[].api` value. */
export type ApiKind = (typeof PROFILES)[number]['name'];
/** A wire format: how a request's path and body are read and its errors written. */
export type WireApi = (typeof PROFILES)[number]['wire']['name'];

export const API_KINDS = PROFILES.map((p) => p.name) as [ApiKind, ...ApiKind[]];

const BY_KIND: ReadonlyMap<string, ApiProfile<ApiKind, WireApi>> = new Map(PROFILES.map((p) => [p.name, p]));

/** The wire formats, each once, in profile order. */
export const WIRES: readonly WireFormat<WireApi>[] = [...new Set(PROFILES.map((p) => p.wire as WireFormat<WireApi>))];
export const WIRE_APIS = WIRES.map((w) => w.name) as [WireApi, ...WireApi[]];

const BY_WIRE: ReadonlyMap<string, WireFormat<WireApi>> = new Map(WIRES.map((w) => [w.name, w]));

export function profileOf(kind: ApiKind): ApiProfile<ApiKind, WireApi> {
  const p = BY_KIND.get(kind);
  if (p === undefined) throw new Error(`unknown API kind '${kind}'`);
  return p;
}

export function wireOf(api: WireApi): WireFormat<WireApi> {
  const w = BY_WIRE.get(api);
  if (w === undefined) throw new Error(`unknown wire API '${api}'`);
  return w;
}

/** The deny-body writer of a wire API; the first profile's (OpenAI's) when the API is not known. */
export function errorFormat(api: WireApi | undefined): WireFormat<WireApi>['errorBody'] {
  return wireOf(api ?? WIRE_APIS[0]).errorBody;
}

/** Whether a provider of this kind accepts requests in this wire format. */
export function speaks(kind: ApiKind, api: WireApi): boolean {
  return profileOf(kind).wire.name === api;
}

const unique = (xs: readonly string[]): readonly string[] => [...new Set(xs)];

/** Every request header in which an SDK of any API sends a key: read by identity, removed on allow. */
export const CLIENT_CREDENTIAL_HEADERS: readonly string[] = unique(WIRES.flatMap((w) => w.clientCredentialHeaders));

/** Every query parameter in which an SDK of any API can send a key: never read, always removed. */
export const CREDENTIAL_QUERY_PARAMETERS: readonly string[] = unique(WIRES.flatMap((w) => w.credentialQueryParameters ?? []));

/** Every header in which llm-authz attaches a provider credential (or its signature), in any form. */
export const PROVIDER_CREDENTIAL_HEADERS: readonly string[] = unique(PROFILES.flatMap((p) => p.credentials.flatMap((f) => headersOf(f))));

/** Client and provider credential headers together: no policy rule may set one, and none is forwarded but the provider's own. */
export const CREDENTIAL_HEADERS: readonly string[] = unique([...CLIENT_CREDENTIAL_HEADERS, ...PROVIDER_CREDENTIAL_HEADERS]);

/** The form in which a profile attaches a credential of this kind; undefined when it takes no such credential. */
export function formFor(profile: ApiProfile, kind: CredentialKind): CredentialForm | undefined {
  return profile.credentials.find((f) => MATERIAL[f.kind] === kind);
}

export { MATERIAL } from './profile.ts';
export type { ApiProfile, CredentialForm, CredentialKind, EndpointSpec, ErrorInput, Operation, WireFormat } from './profile.ts';
