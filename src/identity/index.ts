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
import { UNRESTRICTED, type Finding, type Identity, type IdentityMethod, type IdentityMethodName, type IdentityOutcome } from './types.ts';
import { withAccessControls } from './access.ts';
import { compileEntitlementRules } from './entitlement.ts';
import { openRevocationList, RevocationListError, type RevocationList } from './revocation-list.ts';

export type Identify = ((ctx: RequestContext) => Promise<IdentityOutcome>) & {
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

function merge(findings: readonly Finding[], extraUser: string | undefined): Outcome<Identity> {
  const primary = findings[0];
  if (primary === undefined) return fail('no_credentials');
  const pick = (field: Field, extra?: string): Outcome<string | undefined> => {
    let value: string | undefined;
    for (const v of [...findings.map((f) => f[field]), extra]) {
      if (v === undefined) continue;
      if (value !== undefined && value !== v) return fail('conflicting_credentials', `the credentials name different ${field}s`);
      value = v;
    }
    return ok(value);
  };
  const workload = pick('workload');
  if (!workload.ok) return workload;
  const agent = pick('agent');
  if (!agent.ok) return agent;
  const user = pick('user', extraUser);
  if (!user.ok) return user;
  const who = workload.value ?? agent.value;
  if (who === undefined) return fail('missing_claim', 'the credentials name no workload');
  return ok({
    method: primary.method,
    workload: who,
    agent: agent.value,
    user: user.value,
    issuer: primary.issuer,
    credentialId: primary.credentialId,
    scopes: findings.find((f) => f.scopes !== undefined)?.scopes ?? UNRESTRICTED,
    methods: findings.map((f) => f.method),
    claims: findings.find((f) => f.claims !== undefined)?.claims ?? {},
    entitlement: findings.find((f) => f.entitlement !== undefined)?.entitlement,
    tokenSubjects: tokenSubjects(findings),
  });
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

export function createIdentifier(methods: readonly IdentityMethod[], opts: IdentifierOptions = {}): Identify {
  const order = opts.precedence ?? [];
  const rank = (m: IdentityMethod): number => {
    const i = order.indexOf(m.name);
    return i === -1 ? order.length : i;
  };
  const sorted = [...methods].sort((a, b) => rank(a) - rank(b));
  const identify: Identify = async (ctx) => {
    const inUrl = urlCredential(ctx);
    if (inUrl !== undefined) return fail('malformed_credentials', inUrl);
    const results = await Promise.all(sorted.map((m) => m.authenticate(ctx)));
    const findings: Finding[] = [];
    for (const r of results) {
      if (r.kind === 'rejected') return rejected(r);
      if (r.kind === 'authenticated') findings.push(r.identity);
    }
    // A bearer/x-api-key credential that no method accepted is never ignored, even when
    // another method (e.g. mTLS) authenticated the request.
    const bearerUsed = findings.some((f) => BEARER_METHODS.has(f.method));
    if (!bearerUsed && presentedCredential(ctx).kind !== 'none') return fail('unknown_credentials', 'no identity method accepts this credential');
    let extraUser: string | undefined;
    if (opts.onBehalfOf !== undefined) {
      const obo = await opts.onBehalfOf.user(ctx);
      if (!obo.ok) return obo;
      extraUser = obo.value;
    }
    if (findings.length > 0) return merge(findings, extraUser);
    return fail('no_credentials');
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
