/**
 * The provider credential on an allowed request, in the form its API profile takes it for the
 * credential's kind: a key in a header, a SigV4 signature over the request as the upstream
 * receives it, or a minted OAuth2 access token. Every other credential header is removed, so the
 * upstream sees the provider's credential and no client's. Fails closed: a credential that cannot
 * be attached denies the request (`body_too_large` for a body that cannot be signed whole,
 * `provider_unavailable` otherwise), with a detail that names no secret.
 */
import { CREDENTIAL_HEADERS, CREDENTIAL_QUERY_PARAMETERS, formFor } from '../apis/index.ts';
import { fail, ok, type Outcome } from '../core/reasons.ts';
import { Secret } from '../core/secret.ts';
import type { RequestContext } from '../envoy/request-context.ts';
import { AwsKeys, sigv4Headers } from './aws-sigv4.ts';
import { credentialKind, type ProviderCredential } from './credential.ts';
import { ServiceAccount, tokenProblem } from './google-token.ts';
import type { ProviderRuntime } from './runtime.ts';

export interface AttachedCredential {
  /** Headers to set (OVERWRITE). */
  readonly set: readonly (readonly [string, string])[];
  /** Credential headers to remove: every one of any API but those set. */
  readonly remove: readonly string[];
}

/** The removal list for each set of headers set (a handful of distinct sets; built once each). */
const REMOVE = new Map<string, readonly string[]>();

function removing(set: readonly (readonly [string, string])[]): readonly string[] {
  const names = set.map(([k]) => k);
  const id = names.join('\n');
  let r = REMOVE.get(id);
  if (r === undefined) {
    r = CREDENTIAL_HEADERS.filter((h) => !names.includes(h));
    REMOVE.set(id, r);
  }
  return r;
}

const NOTHING: Outcome<AttachedCredential> = ok({ set: [], remove: CREDENTIAL_HEADERS });

/**
 * A key sent in a header, attached the same way on every Check until its value changes (a
 * credential file reloaded into the same Secret): built once per (API profile, value) and kept
 * with the Secret. Built per Check, its header list, value string and removal lookup took about
 * 0.5 KiB of each allowed Check's allocation (bench/alloc.ts).
 */
interface HeaderAttached {
  readonly profile: ProviderRuntime['profile'];
  readonly value: string;
  readonly outcome: Outcome<AttachedCredential>;
}
const HEADER_ATTACHED = new WeakMap<Secret, HeaderAttached>();

/** The query the upstream receives: the request's, without the credential parameters Envoy is told to remove. */
function upstreamQuery(query: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  if (query === '') return out;
  for (const [k, v] of new URLSearchParams(query)) {
    if (CREDENTIAL_QUERY_PARAMETERS.includes(k)) continue;
    const prev = out[k];
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}

/**
 * The client's own `x-amz-*` headers besides those the signature sets (`x-amz-user-agent`, a
 * client's `x-amz-target`…): they are not covered by llm-authz's signature and would reach AWS as
 * the client wrote them, so a signed request goes without them.
 */
function clientAmzHeaders(ctx: RequestContext, set: readonly (readonly [string, string])[]): string[] {
  const out: string[] = [];
  for (const name of ctx.headers.keys()) if (name.startsWith('x-amz-') && !set.some(([k]) => k === name) && !CREDENTIAL_HEADERS.includes(name)) out.push(name);
  return out;
}

async function signed(provider: ProviderRuntime, keys: AwsKeys, service: string, ctx: RequestContext): Promise<Outcome<AttachedCredential>> {
  if (ctx.body.truncated) return fail('body_too_large', 'the request is signed over its whole body, and only part of it reached the authorizer');
  const signing = provider.signing;
  if (signing === undefined) return fail('provider_unavailable', `provider '${provider.name}' has no region to sign for`);
  try {
    const set = await sigv4Headers(keys, service, signing.region, {
      method: ctx.method,
      path: ctx.path,
      query: upstreamQuery(ctx.query),
      host: signing.host,
      body: ctx.body.bytes,
    });
    const own = clientAmzHeaders(ctx, set);
    return ok({ set, remove: own.length === 0 ? removing(set) : [...removing(set), ...own] });
  } catch {
    return fail('provider_unavailable', `the request to provider '${provider.name}' could not be signed`);
  }
}

async function minted(provider: ProviderRuntime, account: ServiceAccount, scopes: readonly string[]): Promise<Outcome<AttachedCredential>> {
  let token: Secret;
  try {
    token = await account.token(scopes);
  } catch (err) {
    return fail('provider_unavailable', `no access token for provider '${provider.name}' (${tokenProblem(err)})`);
  }
  const set = [['authorization', `Bearer ${token.reveal()}`]] as const;
  return ok({ set, remove: removing(set) });
}

/** The headers that carry `credential` (a rule's, else the provider's own) to the provider. */
export async function attachCredential(provider: ProviderRuntime, credential: ProviderCredential | undefined, ctx: RequestContext): Promise<Outcome<AttachedCredential>> {
  if (credential === undefined) return NOTHING;
  if (credential instanceof Secret) {
    const built = HEADER_ATTACHED.get(credential);
    if (built !== undefined && built.profile === provider.profile && built.value === credential.reveal()) return built.outcome;
  }
  const kind = credentialKind(credential);
  const form = formFor(provider.profile, kind);
  if (form?.kind === 'header' && credential instanceof Secret) {
    const value = credential.reveal();
    const set = [[form.header, form.value(value)]] as const;
    const outcome = ok({ set, remove: removing(set) });
    HEADER_ATTACHED.set(credential, { profile: provider.profile, value, outcome });
    return outcome;
  }
  if (form?.kind === 'sigv4' && credential instanceof AwsKeys) return signed(provider, credential, form.service, ctx);
  if (form?.kind === 'oauth2' && credential instanceof ServiceAccount) return minted(provider, credential, form.scopes);
  return fail('provider_unavailable', `provider '${provider.name}' (${provider.api}) takes no credential of kind ${kind}`);
}
