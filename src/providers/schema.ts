/** The `providers:` section of the config: where model calls go and with which credential. */
import { z } from 'zod';

export const providerName = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'expected a lowercase name ([a-z0-9_-], max 63)');

import { API_KINDS, type ApiKind } from '../apis/index.ts';

/** Provider API kinds: one profile each in src/apis/. */
export { API_KINDS, type ApiKind };

const credentialSource = z
  .strictObject({
    /** A file holding the provider key (e.g. a Kubernetes Secret mount). */
    file: z.string().min(1).optional(),
    /** An environment variable holding the provider key. */
    env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name').optional(),
  })
  .refine((c) => (c.file === undefined) !== (c.env === undefined), { message: 'set exactly one of file or env' });

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
});

export const providersSchema = z.array(providerSchema).default([]);

export type ProviderConfig = z.infer<typeof providerSchema>;
export type CredentialSource = z.infer<typeof credentialSource>;
