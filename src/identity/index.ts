/**
 * The identity phase. Every configured method looks at the request; then:
 *  1. a credential that is presented but not acceptable denies (with that method's reason),
 *     even when another method would authenticate the request;
 *  2. the methods that authenticated must agree: two different workloads, agents or users
 *     (e.g. an mTLS SPIFFE ID and an API key bound to another workload) deny as
 *     `conflicting_credentials`;
 *  3. the first authenticated method in `precedence` names the identity (method, issuer,
 *     credential id, scopes); workload, agent and user are merged from all of them, plus the
 *     user of an on-behalf-of token;
 *  4. a credential in `authorization`/`x-api-key` that no method accepts is
 *     `unknown_credentials`, even when another method (mTLS) authenticated the request;
 *  5. nothing authenticated and nothing presented: `no_credentials`.
 * Before all of them, a credential in the URL (url-credential.ts) is `malformed_credentials`.
 */
import { fail, ok, type DenyReason, type Outcome } from '../core/reasons.ts';
import type { RequestContext } from '../envoy/request-context.ts';
import type { BuildContext } from '../core/build-context.ts';
import path from 'node:path';
import { ConfigError } from '../core/errors.ts';
import { createApiKeyMethod } from './api-key.ts';
import { presentedCredential } from './credentials.ts';
import { createEnvoyJwtMethod } from './envoy-jwt.ts';
import { createJwtMethod, createJwtVerifier, type JwtVerifier } from './jwt.ts';
import { KeyStoreError, openKeyStore, type KeyStore } from './key-store.ts';
import { createOnBehalfOf, type OnBehalfOf } from './on-behalf-of.ts';
import type { IdentityConfig } from './schema.ts';
import { createSpiffeMethod } from './spiffe.ts';
import { urlCredential } from './url-credential.ts';
import { UNRESTRICTED, type Finding, type Identity, type IdentityMethod, type IdentityMethodName, type IdentityOutcome, type IdentityResult } from './types.ts';
import { withAccessControls } from './access.ts';
import { compileEntitlementRules } from './entitlement.ts';
import { openRevocationList, RevocationListError, type RevocationList } from './revocation-list.ts';

export type Identify = ((ctx: RequestContext) => IdentityOutcome | Promise<IdentityOutcome>) & {
  close?: () => void;
  /** What is loaded, for the start line and `llm-authz validate`: API keys (config and key store), methods. */
  loaded?: () => { readonly apiKeys: number; readonly methods: readonly IdentityMethodName[] };
};

export interface IdentifierOptions {
  /** Method names in precedence order; methods not listed come after, in their given order. */
  readonly precedence?: readonly IdentityMethodName[];
  readonly onBehalfOf?: OnBehalfOf | undefined;
}

type Field = 'workload' | 'agent' | 'user';

/** The methods that read the credential headers (authorization, x-api-key). */
const BEARER_METHODS: ReadonlySet<IdentityMethodName> = new Set(['api_key', 'jwt']);

/** Two credentials name different values of a field. */
const CONFLICT: unique symbol = Symbol('conflict');

/** The one value the findings (and `extra`) give `field`, or CONFLICT. */
function agreed(findings: readonly Finding[], field: Field, extra: string | undefined): string | undefined | typeof CONFLICT {
  let value: string | undefined;
  for (const f of findings) {
    const v = f[field];
    if (v === undefined) continue;
    if (value !== undefined && value !== v) return CONFLICT;
    value = v;
  }
  if (extra !== undefined && value !== undefined && value !== extra) return CONFLICT;
  return extra ?? value;
}

/** The one-method list of each method (the common case), made once. */
const ONE_METHOD = new Map<IdentityMethodName, readonly IdentityMethodName[]>();
function methodsOf(findings: readonly Finding[]): readonly IdentityMethodName[] {
  const first = findings[0];
  if (findings.length !== 1 || first === undefined) return findings.map((f) => f.method);
  let one = ONE_METHOD.get(first.method);
  if (one === undefined) {
    one = Object.freeze([first.method]);
    ONE_METHOD.set(first.method, one);
  }
  return one;
}

/**
 * The identity of a verified token alone, kept with its finding: the jwt method answers a token
 * it verified before with the same finding (its verified-token cache), so the same identity.
 */
const ofVerifiedToken = new WeakMap<Finding, Outcome<Identity>>();

function merge(findings: readonly Finding[], extraUser: string | undefined): Outcome<Identity> {
  const primary = findings[0];
  if (primary === undefined) return fail('no_credentials');
  const cacheable = findings.length === 1 && extraUser === undefined && primary.method === 'jwt';
  if (cacheable) {
    const known = ofVerifiedToken.get(primary);
    if (known !== undefined) return known;
  }
  const workload = agreed(findings, 'workload', undefined);
  if (workload === CONFLICT) return fail('conflicting_credentials', 'the credentials name different workloads');
  const agent = agreed(findings, 'agent', undefined);
  if (agent === CONFLICT) return fail('conflicting_credentials', 'the credentials name different agents');
  const user = agreed(findings, 'user', extraUser);
  if (user === CONFLICT) return fail('conflicting_credentials', 'the credentials name different users');
  const who = workload ?? agent;
  if (who === undefined) return fail('missing_claim', 'the credentials name no workload');
  const merged = ok<Identity>({
    method: primary.method,
    workload: who,
    agent,
    user,
    issuer: primary.issuer,
    credentialId: primary.credentialId,
    scopes: findings.find((f) => f.scopes !== undefined)?.scopes ?? UNRESTRICTED,
    methods: methodsOf(findings),
    claims: findings.find((f) => f.claims !== undefined)?.claims ?? {},
    entitlement: findings.find((f) => f.entitlement !== undefined)?.entitlement,
    tokenSubjects: tokenSubjects(findings),
  });
  if (cacheable) ofVerifiedToken.set(primary, merged);
  return merged;
}

function tokenSubjects(findings: readonly Finding[]): Identity['tokenSubjects'] {
  const out: { issuer: string; subject: string }[] = [];
  for (const f of findings) if (f.subject !== undefined && f.issuer !== undefined) out.push({ issuer: f.issuer, subject: f.subject });
  return out.length > 0 ? out : undefined;
}

/** A rejected credential whose holder is proven (its secret matched): the deny names the holder. */
function rejected(r: { readonly reason: DenyReason; readonly detail?: string; readonly holder?: Finding }): IdentityOutcome {
  const f = fail(r.reason, r.detail);
  if (f.ok || r.holder === undefined) return f;
  const who = merge([r.holder], undefined);
  return who.ok ? { ...f, identity: who.value } : f;
}

/** The methods' results; a method that answered at once is not waited for (its result is no promise). */
function settled(results: (IdentityResult | Promise<IdentityResult>)[]): readonly IdentityResult[] | Promise<readonly IdentityResult[]> {
  let pending = -1;
  for (let i = 0; i < results.length; i++) {
    if (!(results[i] instanceof Promise)) continue;
    if (pending !== -1) return Promise.all(results);
    pending = i;
  }
  if (pending === -1) return results as IdentityResult[];
  const at = pending;
  return (results[at] as Promise<IdentityResult>).then((r) => {
    results[at] = r;
    return results as IdentityResult[];
  });
}

async function onBehalfOf(obo: OnBehalfOf, ctx: RequestContext, findings: readonly Finding[]): Promise<IdentityOutcome> {
  const user = await obo.user(ctx);
  if (!user.ok) return user;
  if (findings.length > 0) return merge(findings, user.value);
  return fail('no_credentials');
}

export function createIdentifier(methods: readonly IdentityMethod[], opts: IdentifierOptions = {}): Identify {
  const order = opts.precedence ?? [];
  const rank = (m: IdentityMethod): number => {
    const i = order.indexOf(m.name);
    return i === -1 ? order.length : i;
  };
  const sorted = [...methods].sort((a, b) => rank(a) - rank(b));
  /** What the methods' results decide (the on-behalf-of user, when configured, is awaited). */
  const decided = (ctx: RequestContext, results: readonly IdentityResult[]): IdentityOutcome | Promise<IdentityOutcome> => {
    let found: Finding[] | undefined;
    let bearerUsed = false;
    for (const r of results) {
      if (r.kind === 'rejected') return rejected(r);
      if (r.kind === 'authenticated') {
        // Usually one method authenticates: a list of its size, not a growing one.
        if (found === undefined) found = [r.identity];
        else found.push(r.identity);
        if (BEARER_METHODS.has(r.identity.method)) bearerUsed = true;
      }
    }
    const findings: readonly Finding[] = found ?? [];
    // A bearer/x-api-key credential that no method accepted is never ignored, even when
    // another method (e.g. mTLS) authenticated the request.
    if (!bearerUsed && presentedCredential(ctx).kind !== 'none') return fail('unknown_credentials', 'no identity method accepts this credential');
    if (opts.onBehalfOf !== undefined) return onBehalfOf(opts.onBehalfOf, ctx, findings);
    if (findings.length > 0) return merge(findings, undefined);
    return fail('no_credentials');
  };
  // Answers without a promise when no method had to wait (a cached token, an API key, mTLS).
  const identify: Identify = (ctx) => {
    const inUrl = urlCredential(ctx);
    if (inUrl !== undefined) return fail('malformed_credentials', inUrl);
    const results = settled(sorted.map((m) => m.authenticate(ctx)));
    return results instanceof Promise ? results.then((r) => decided(ctx, r)) : decided(ctx, results);
  };
  identify.close = () => {
    for (const m of sorted) m.close?.();
  };
  return identify;
}

export type { Identity, IdentityMethod } from './types.ts';

/** The identity phase for a config: every configured method, in precedence order. */
export function createIdentifierFromConfig(config: IdentityConfig, ctx: BuildContext, now: () => number = Date.now): Identify {
  let store: KeyStore | undefined;
  if (config.key_store !== undefined) {
    try {
      store = openKeyStore(path.resolve(ctx.baseDir, config.key_store.file), config.key_store.reload_interval_ms, ctx.onKeyStoreReload);
    } catch (err) {
      if (err instanceof KeyStoreError) throw new ConfigError(ctx.source, [`identity.key_store.file: ${err.message}`]);
      throw err;
    }
  }
  let revocations: RevocationList | undefined;
  if (config.revocation_list !== undefined) {
    try {
      revocations = openRevocationList(path.resolve(ctx.baseDir, config.revocation_list.file), config.revocation_list.reload_interval_ms, ctx.onRevocationListReload);
    } catch (err) {
      store?.close();
      if (err instanceof RevocationListError) throw new ConfigError(ctx.source, [`identity.revocation_list.file: ${err.message}`]);
      throw err;
    }
  }
  const methods: IdentityMethod[] = [createApiKeyMethod(config.api_keys, { store, now })];
  let verifier: JwtVerifier | undefined;
  if (config.jwt !== undefined) {
    verifier = createJwtVerifier(config.jwt, config.claims, ctx.baseDir, ctx.source);
    methods.push(createJwtMethod(verifier));
  }
  if (config.envoy_jwt !== undefined) methods.push(createEnvoyJwtMethod(config.envoy_jwt, config.claims));
  if (config.spiffe !== undefined) methods.push(createSpiffeMethod(config.spiffe));
  let onBehalfOf: OnBehalfOf | undefined;
  if (config.on_behalf_of !== undefined) {
    if (verifier === undefined) throw new ConfigError(ctx.source, ['identity.on_behalf_of: needs identity.jwt (its issuers verify the user token)']);
    onBehalfOf = createOnBehalfOf(config.on_behalf_of.header, verifier);
  }
  const identify = createIdentifier(methods, { precedence: config.precedence, onBehalfOf });
  const closeMethods = identify.close;
  const controlled: Identify = withAccessControls(identify, { rules: compileEntitlementRules(config.entitlements), revocations, now });
  controlled.close = () => {
    closeMethods?.();
    revocations?.close();
  };
  controlled.loaded = () => ({
    apiKeys: config.api_keys.length + (store?.size ?? 0),
    methods: methods.filter((m) => m.name !== 'api_key' || config.api_keys.length > 0 || store !== undefined).map((m) => m.name),
  });
  return controlled;
}
