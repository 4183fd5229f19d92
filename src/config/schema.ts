/**
 * The config file's schema. Parsed once, at start (and on reload), into typed objects;
 * nothing on the request path reads YAML.
 */
import { z } from 'zod';

const hostPort = z
  .string()
  .regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'expected HOST:PORT');

const name = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'expected a lowercase name ([a-z0-9_-], max 63)');

export const API_KINDS = ['openai', 'anthropic'] as const;
export type ApiKind = (typeof API_KINDS)[number];

const credentialSource = z
  .strictObject({
    /** A file holding the provider key (e.g. a Kubernetes Secret mount). */
    file: z.string().min(1).optional(),
    /** An environment variable holding the provider key. */
    env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name').optional(),
  })
  .refine((c) => (c.file === undefined) !== (c.env === undefined), { message: 'set exactly one of file or env' });

const provider = z.strictObject({
  name,
  /** Which wire format the provider speaks: decides how requests are read and how its key is attached. */
  api: z.enum(API_KINDS),
  /** The value llm-authz writes into the routing header; the Envoy config maps it to a cluster. Defaults to name. */
  route: name.optional(),
  credential: credentialSource.optional(),
});

const apiKey = z.strictObject({
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
  providers: z.array(name).optional(),
});

export const configSchema = z.strictObject({
  server: z
    .strictObject({
      listen: hostPort.default('127.0.0.1:9001'),
      /** After SIGTERM: report NOT_SERVING for this long (while still answering) before closing. */
      drain_delay_ms: z.int().min(0).max(300_000).default(0),
      /** Hard stop after SIGTERM if in-flight checks have not finished. */
      shutdown_timeout_ms: z.int().min(100).max(600_000).default(10_000),
      /** A Check that takes longer is answered with a deny (reason `timeout`); keep it below Envoy's timeout. */
      check_timeout_ms: z.int().min(1).max(60_000).default(500),
    })
    .prefault({}),
  routing: z
    .strictObject({
      /** The header the Envoy config routes on; always overwritten by llm-authz on allow. */
      header: z
        .string()
        .regex(/^[a-z0-9-]+$/, 'expected a lowercase header name')
        .default('x-llm-authz-route'),
    })
    .prefault({}),
  providers: z.array(provider).default([]),
  identity: z
    .strictObject({
      api_keys: z.array(apiKey).default([]),
    })
    .prefault({}),
  log: z
    .strictObject({
      level: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
    })
    .prefault({}),
  decision_log: z
    .strictObject({
      /** `stdout`, `stderr`, `off`, or a file path. */
      sink: z.string().min(1).default('stdout'),
    })
    .prefault({}),
});

export type Config = z.infer<typeof configSchema>;
export type ProviderConfig = z.infer<typeof provider>;
export type ApiKeyConfig = z.infer<typeof apiKey>;
