/** The `identity:` section of the config. */
import { z } from 'zod';
import { providerName } from '../providers/schema.ts';

export const apiKeySchema = z.strictObject({
  /** Public key id: the part between the prefix and the secret in `lla_<id>_<secret>`. */
  id: z.string().regex(/^[A-Za-z0-9]{4,32}$/, 'expected 4-32 letters or digits'),
  /** SHA-256 of the whole key, as `sha256:<64 hex>`. The key itself is never stored. */
  hash: z.string().regex(/^sha256:[0-9a-f]{64}$/, 'expected sha256:<64 lowercase hex digits>'),
  /** The workload (service, agent, automation) this key is issued to. */
  workload: z.string().min(1).max(512),
  agent: z.string().min(1).max(512).optional(),
  /** Model names or globs (`gpt-4o*`, `*`). */
  models: z.array(z.string().min(1).max(256)),
  /** Provider names this key may reach; all when absent. */
  providers: z.array(providerName).optional(),
});

export const identitySchema = z
  .strictObject({
    api_keys: z.array(apiKeySchema).default([]),
  })
  .prefault({});

export type IdentityConfig = z.infer<typeof identitySchema>;
export type ApiKeyConfig = z.infer<typeof apiKeySchema>;
