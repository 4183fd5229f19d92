/** The `policy:` config section and the policy file format. */
import { z } from 'zod';
import { providerName } from '../providers/schema.ts';
import { REASONS } from '../core/reasons.ts';

/** The `policy:` section. Without it, the built-in rule decides (credential scopes bind either way). */
export const policySchema = z
  .strictObject({
    /** Folder of policy files (`*.yaml`, `*.yml`), relative to the config file. */
    dir: z.string().min(1),
    /** Folder of a second policy set evaluated alongside, for audit only (shadow mode). */
    shadow_dir: z.string().min(1).optional(),
    /** Reload when a file in `dir` or `shadow_dir` changes (SIGHUP always reloads). */
    watch: z.boolean().default(true),
  })
  .optional();

export type PolicyConfig = z.infer<typeof policySchema>;

const denyReasons = (Object.keys(REASONS) as (keyof typeof REASONS)[]).filter((r) => r !== 'allowed');

export const MAX_EXPRESSION_LENGTH = 4096;
export const MAX_EXPRESSION_DEPTH = 32;

const headerName = z.string().regex(/^[a-z0-9][a-z0-9-]{0,127}$/, 'expected a lowercase header name');

export const ruleSchema = z
  .strictObject({
    id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, 'expected an id of letters, digits, _ . - (max 128)'),
    description: z.string().max(1024).optional(),
    effect: z.enum(['allow', 'deny']),
    /** For deny rules: the reason code given to the client (default denied_by_policy). */
    reason: z.enum(denyReasons as [string, ...string[]]).optional(),
    /** A CEL expression that must evaluate to a bool. */
    when: z.string().min(1).max(MAX_EXPRESSION_LENGTH, `expected at most ${MAX_EXPRESSION_LENGTH} characters`),
    obligations: z
      .strictObject({
        /** A provider name from the config's `providers:`. */
        provider: providerName.optional(),
        /** A credential name from the config's top-level `credentials:`. */
        credential: providerName.optional(),
        /** Request headers set upstream. */
        headers: z.record(headerName, z.string().max(1024)).optional(),
        /** Deny when the request asks for more output tokens than this, or sets no limit. */
        max_tokens: z.int().min(1).optional(),
      })
      .optional(),
  })
  .refine((r) => r.effect === 'allow' || r.obligations === undefined, { message: 'only allow rules carry obligations', path: ['obligations'] })
  .refine((r) => r.effect === 'deny' || r.reason === undefined, { message: 'only deny rules carry a reason', path: ['reason'] });

export const policyFileSchema = z.strictObject({
  rules: z.array(ruleSchema).default([]),
});

export type RuleConfig = z.infer<typeof ruleSchema>;
