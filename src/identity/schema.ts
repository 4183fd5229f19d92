/** The `identity:` section of the config. */
import { z } from 'zod';
import { providerName } from '../providers/schema.ts';

/** The default header of the on-behalf-of user token. */
export const ON_BEHALF_OF_HEADER = 'x-llm-authz-on-behalf-of';

/** Public key id: the part between the prefix and the secret in `lla_<id>_<secret>`. */
export const keyId = z.string().regex(/^[A-Za-z0-9]{4,32}$/, 'expected 4-32 letters or digits');
/** SHA-256 of the whole key, as `sha256:<64 hex>`. The key itself is never stored. */
export const keyHash = z.string().regex(/^sha256:[0-9a-f]{64}$/, 'expected sha256:<64 lowercase hex digits>');
const name = z.string().min(1).max(512);

/** What a credential may be used for. */
export const scopeFields = {
  /** Model names or globs (`gpt-4o*`, `*`). */
  models: z.array(z.string().min(1).max(256)),
  /** Provider names this key may reach; all when absent. */
  providers: z.array(providerName).optional(),
  /** Tool (function) names the caller may offer the model; any when absent. */
  tools: z.array(z.string().min(1).max(256)).optional(),
  /** Upper bound on the request's max tokens; none when absent. */
  max_tokens: z.int().min(1).max(10_000_000).optional(),
};

/** RFC 3339 timestamp. */
const timestamp = z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'expected an RFC 3339 timestamp');

/**
 * Entitlement metadata, apart from the workload and the agent: who is accountable, who approved
 * the entitlement and when, and when it is due for recertification (README "Access review").
 */
export const entitlementFields = {
  /** The team or person accountable for this entitlement. */
  owner: z.string().min(1).max(256).optional(),
  /** The human who approved it. */
  approved_by: z.string().min(1).max(256).optional(),
  approved_at: timestamp.optional(),
  /** Recertification due date; past it the entitlement is flagged `review_overdue`. */
  review_by: timestamp.optional(),
};

export const apiKeySchema = z.strictObject({
  id: keyId,
  hash: keyHash,
  /** The workload (service, agent, automation) this key is issued to. */
  workload: name,
  agent: name.optional(),
  ...scopeFields,
  ...entitlementFields,
});

/** One entry of a key store file (written by `llm-authz keys`). */
export const storedKeySchema = apiKeySchema.extend({
  created_at: timestamp,
  expires_at: timestamp.optional(),
  revoked: z.boolean().default(false),
  revoked_at: timestamp.optional(),
  /** The key that replaced this one (set by `keys rotate`). */
  rotated_to: keyId.optional(),
  description: z.string().max(1024).optional(),
});

export const keyStoreFileSchema = z.strictObject({
  version: z.literal(1),
  keys: z.array(storedKeySchema),
});

/** Asymmetric algorithms only: `none` and HS* (shared secrets) are never accepted. */
export const JWT_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const;

/** Which claims name whom. Dotted names reach into nested objects (`kubernetes.io.serviceaccount.name`). */
const claimMapping = {
  /** The claim naming the workload. */
  workload_claim: z.string().min(1).max(128).default('sub'),
  /** The claim naming the agent, if tokens carry one. */
  agent_claim: z.string().min(1).max(128).optional(),
  /** The claim naming the user, if tokens carry one. */
  user_claim: z.string().min(1).max(128).optional(),
  /** Token-exchange tokens (RFC 8693): `sub` is the user and `act.sub` the agent acting for them. */
  act_claim: z.boolean().default(true),
  /** When set, `sub` must be a SPIFFE ID in one of these trust domains (JWT-SVIDs). */
  spiffe_trust_domains: z.array(z.string().min(1).max(255)).optional(),
};

const jwksSource = z
  .strictObject({
    /** An HTTP(S) URL serving a JWK Set; cached, refreshed on an unknown `kid` (with a cool-down). */
    url: z.url().optional(),
    /** A local JWK Set file, read at load time (relative to the config file). */
    file: z.string().min(1).optional(),
    /** Inline JWK Set keys (public keys only). */
    keys: z.array(z.record(z.string(), z.unknown())).optional(),
    /** Refresh a URL key set at most this old even without an unknown `kid`. */
    max_age_s: z.int().min(1).max(86_400).default(300),
    /** Minimum time between two fetches of the URL (unknown-`kid` floods wait for it). */
    cooldown_s: z.int().min(0).max(3600).default(30),
    /** Per-fetch timeout. */
    timeout_ms: z.int().min(50).max(30_000).default(400),
  })
  .refine((j) => [j.url, j.file, j.keys].filter((v) => v !== undefined).length === 1, 'expected exactly one of url, file, keys');

export const jwtIssuerSchema = z.strictObject({
  /** The exact `iss` value. */
  issuer: z.string().min(1).max(512),
  /** Accepted `aud` values; the token must name at least one. */
  audiences: z.array(z.string().min(1).max(512)).min(1),
  algorithms: z.array(z.enum(JWT_ALGORITHMS)).min(1).default(['RS256', 'ES256']),
  jwks: jwksSource,
  ...claimMapping,
});

export const jwtSchema = z.strictObject({
  /** Maximum token length in bytes (larger tokens are `token_too_large`, never parsed). */
  max_token_bytes: z.int().min(256).max(65_536).default(8192),
  /** Tolerance on `exp`/`nbf`/`iat`. */
  clock_skew_s: z.int().min(0).max(300).default(30),
  /** Verified tokens kept (until their expiry) so the hot path does not re-verify signatures. */
  cache_entries: z.int().min(0).max(1_000_000).default(10_000),
  issuers: z.array(jwtIssuerSchema).min(1),
});

export const envoyJwtSchema = z.strictObject({
  /** The filter_metadata namespace (ext_authz must list it in metadata_context_namespaces). */
  namespace: z.string().min(1).default('envoy.filters.http.jwt_authn'),
  /** jwt_authn's `payload_in_metadata` key. */
  payload_key: z.string().min(1).default('jwt_payload'),
  /** Issuers whose Envoy-verified payloads are accepted, with their claim mapping. */
  issuers: z.array(z.strictObject({ issuer: z.string().min(1).max(512), ...claimMapping })).min(1),
});

export const spiffeSchema = z.strictObject({
  /** Trust domains whose SPIFFE IDs are accepted (e.g. `prod.example.org`); any other is `untrusted_domain`. */
  trust_domains: z.array(z.string().regex(/^[a-z0-9._-]{1,255}$/, 'expected a lowercase trust domain name')).min(1),
  /** Read the ID from Envoy's `source.principal` (mTLS terminated by Envoy). */
  from_principal: z.boolean().default(true),
  /** Read the ID from the peer certificate (ext_authz `include_peer_certificate: true`). */
  from_certificate: z.boolean().default(true),
  /** Read the ID from `x-forwarded-client-cert`: only when a trusted proxy in front sets (and sanitises) it. */
  trust_xfcc: z.boolean().default(false),
});

export const onBehalfOfSchema = z.strictObject({
  /** A header carrying the user's JWT (verified with the `jwt` issuers); its `sub` becomes the user. */
  header: z
    .string()
    .regex(/^[a-z0-9-]+$/, 'expected a lowercase header name')
    .default(ON_BEHALF_OF_HEADER),
});

export const METHOD_NAMES = ['api_key', 'jwt', 'envoy_jwt', 'spiffe'] as const;

/**
 * An entitlement record for callers without an API key (JWT, Envoy-verified JWT, SPIFFE): the
 * first rule whose `match` fits the identity gives its owner, approval and review date, and its
 * scopes, which then bind like an API key's.
 */
export const entitlementRuleSchema = z.strictObject({
  /** A name for reports and audit records. */
  id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'expected 1-64 letters, digits, . _ -'),
  match: z
    .strictObject({
      method: z.enum(['jwt', 'envoy_jwt', 'spiffe']).optional(),
      /** The exact issuer (JWT `iss`, or `spiffe://<trust domain>`). */
      issuer: z.string().min(1).max(512).optional(),
      /** A glob on the workload (`spiffe://prod.example.org/ns/jobs/*`). */
      workload: z.string().min(1).max(512).optional(),
      /** A glob on the agent. */
      agent: z.string().min(1).max(512).optional(),
    })
    .refine((m) => m.issuer !== undefined || m.workload !== undefined || m.agent !== undefined, 'expected at least one of issuer, workload, agent'),
  ...entitlementFields,
  models: scopeFields.models.optional(),
  providers: scopeFields.providers,
  tools: scopeFields.tools,
  max_tokens: scopeFields.max_tokens,
});

/** One identity on the revocation list: a workload, an agent, a SPIFFE ID, or a JWT issuer and subject. */
export const revocationSchema = z
  .strictObject({
    workload: name.optional(),
    agent: name.optional(),
    spiffe_id: z
      .string()
      .regex(/^spiffe:\/\/[^/]+(\/.*)?$/, 'expected a SPIFFE ID')
      .max(2048)
      .optional(),
    issuer: z.string().min(1).max(512).optional(),
    subject: z.string().min(1).max(512).optional(),
    revoked_at: timestamp,
    revoked_by: z.string().min(1).max(256).optional(),
    reason: z.string().max(1024).optional(),
  })
  .refine(
    (r) => [r.workload, r.agent, r.spiffe_id, r.issuer ?? r.subject].filter((v) => v !== undefined).length === 1 && (r.issuer === undefined) === (r.subject === undefined),
    'expected exactly one of workload, agent, spiffe_id, or issuer with subject',
  );

export const revocationFileSchema = z.strictObject({
  version: z.literal(1),
  revoked: z.array(revocationSchema),
});

export const identitySchema = z
  .strictObject({
    api_keys: z.array(apiKeySchema).default([]),
    /** A key store file written by `llm-authz keys` (hashes only), re-read when it changes. */
    key_store: z
      .strictObject({
        file: z.string().min(1),
        reload_interval_ms: z.int().min(50).max(600_000).default(1000),
      })
      .optional(),
    /** Identities denied whatever credential they present (`revoked_identity`), re-read when the file changes. */
    revocation_list: z
      .strictObject({
        file: z.string().min(1),
        reload_interval_ms: z.int().min(50).max(600_000).default(1000),
      })
      .optional(),
    /** Entitlement records for JWT and SPIFFE callers (API keys carry their own). */
    entitlements: z
      .array(entitlementRuleSchema)
      .default([])
      .refine((rules) => new Set(rules.map((r) => r.id)).size === rules.length, 'entitlement ids must be unique'),
    spiffe: spiffeSchema.optional(),
    jwt: jwtSchema.optional(),
    envoy_jwt: envoyJwtSchema.optional(),
    on_behalf_of: onBehalfOfSchema.optional(),
    /** Token claims kept in the identity (for policies); everything else is dropped. */
    claims: z.array(z.string().min(1).max(128)).default(['iss', 'sub', 'aud', 'azp', 'client_id', 'scope', 'act']),
    /** Which method names the identity when several authenticate (they must agree on who). */
    precedence: z.array(z.enum(METHOD_NAMES)).default([...METHOD_NAMES]),
  })
  .prefault({});

export type IdentityConfig = z.infer<typeof identitySchema>;
export type ApiKeyConfig = z.infer<typeof apiKeySchema>;
export type StoredKey = z.infer<typeof storedKeySchema>;
export type KeyStoreFile = z.infer<typeof keyStoreFileSchema>;
export type EntitlementRuleConfig = z.infer<typeof entitlementRuleSchema>;
export type RevocationEntry = z.infer<typeof revocationSchema>;
export type RevocationFile = z.infer<typeof revocationFileSchema>;
export type JwtConfig = z.infer<typeof jwtSchema>;
export type JwtIssuerConfig = z.infer<typeof jwtIssuerSchema>;
export type EnvoyJwtConfig = z.infer<typeof envoyJwtSchema>;
export type SpiffeConfig = z.infer<typeof spiffeSchema>;
export type ClaimMapping = {
  workload_claim: string;
  agent_claim?: string | undefined;
  user_claim?: string | undefined;
  act_claim: boolean;
  spiffe_trust_domains?: string[] | undefined;
};
