/** The `providers:` section of the config: where model calls go and with which credential. */
import { z } from 'zod';

export const providerName = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'expected a lowercase name ([a-z0-9_-], max 63)');

import { API_KINDS, type ApiKind } from '../apis/index.ts';

/** Provider API kinds: one profile each in src/apis/. */
export { API_KINDS, type ApiKind };

/** Where one secret value is read from. */
export const secretSource = z
  .strictObject({
    /** A file holding the secret (e.g. a Kubernetes Secret mount); read again when it changes. */
    file: z.string().min(1).optional(),
    /** An environment variable holding the secret. */
    env: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name')
      .optional(),
  })
  .refine((c) => (c.file === undefined) !== (c.env === undefined), { message: 'set exactly one of file or env' });

/** An AWS access key: requests are signed with it (SigV4). */
const awsKeys = z.strictObject({
  access_key_id: secretSource,
  secret_access_key: secretSource,
  /** The session token of temporary credentials. */
  session_token: secretSource.optional(),
});

/**
 * A provider credential: a key (`file` or `env`), an AWS access key (`aws`), or a Google
 * service-account key (`service_account`, with an optional `token_url`). One object with a
 * check rather than a union of objects, so a mistake is reported at the key that is wrong.
 */
const credentialSource = z
  .strictObject({
    /** A file holding the provider key (e.g. a Kubernetes Secret mount); read again when it changes. */
    file: z.string().min(1).optional(),
    /** An environment variable holding the provider key. */
    env: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name')
      .optional(),
    /** An AWS access key: llm-authz signs each request with it (SigV4). */
    aws: awsKeys.optional(),
    /** A Google service-account key (its JSON): llm-authz mints OAuth2 access tokens from it. */
    service_account: secretSource.optional(),
    /** The OAuth2 token endpoint of a service account; default: the key's `token_uri` (Google's). */
    token_url: z.url({ protocol: /^https?$/ }).optional(),
  })
  .superRefine((c, ctx) => {
    const given = [c.file ?? c.env, c.aws, c.service_account].filter((x) => x !== undefined).length + (c.file !== undefined && c.env !== undefined ? 1 : 0);
    if (given !== 1) ctx.addIssue({ code: 'custom', message: 'set exactly one of file, env, aws or service_account' });
    if (c.token_url !== undefined && c.service_account === undefined) ctx.addIssue({ code: 'custom', path: ['token_url'], message: 'token_url goes with service_account' });
  });

/** A named credential (top-level `credentials:` map), referenced by providers and policy obligations. */
export const credentialsSchema = z.record(providerName, credentialSource).default({});

export const providerSchema = z.strictObject({
  name: providerName,
  /** Which wire format the provider speaks: decides how requests are read and how its key is attached. */
  api: z.enum(API_KINDS),
  /** The value llm-authz writes into the routing header; the Envoy config maps it to a cluster. Defaults to name. */
  route: providerName.optional(),
  /** The provider's default credential: inline, or the name of an entry in `credentials:`. */
  credential: z.union([providerName, credentialSource]).optional(),
  /**
   * Models (globs, `*` = any run of characters) this provider serves. A request goes to the
   * first provider of its API whose list matches its model (Azure: the deployment name);
   * absent = any model.
   */
  models: z.array(z.string().min(1).max(256)).min(1).optional(),
  /** The AWS region requests are signed for (an API signed with an `aws` credential, i.e. `bedrock`). */
  region: z
    .string()
    .regex(/^[a-z]{2}(-[a-z]+)+-[0-9]+$/, 'expected an AWS region such as us-east-1')
    .optional(),
  /**
   * The upstream host requests are signed over: the Host Envoy's route sends the provider
   * (`auto_host_rewrite` sets it to the cluster's address). Default: the API's endpoint for `region`.
   */
  host: z
    .string()
    .regex(/^[A-Za-z0-9.-]+(:[0-9]{1,5})?$/, 'expected a host name')
    .optional(),
});

export const providersSchema = z.array(providerSchema).default([]);

export type ProviderConfig = z.infer<typeof providerSchema>;
export type CredentialSource = z.infer<typeof credentialSource>;
export type SecretSource = z.infer<typeof secretSource>;
