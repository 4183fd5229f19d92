/**
 * The config file's schema, composed from each area's section. Parsed once, at start (and
 * on reload), into typed objects; nothing on the request path reads YAML.
 */
import { z } from 'zod';
import { DEFAULT_REMOVE_HEADERS } from '../envoy/strip.ts';
import { parseListen } from '../core/listen.ts';
import { identitySchema } from '../identity/schema.ts';
import { policySchema } from '../policy/schema.ts';
import { quotasSchema } from '../quota/schema.ts';
import { credentialsSchema, providersSchema } from '../providers/schema.ts';
import { telemetrySchema } from '../telemetry/schema.ts';

/** HOST:PORT or unix:PATH (src/core/listen.ts). */
const listenAddress = z.string().superRefine((v, ctx) => {
  const r = parseListen(v);
  if (!r.ok) ctx.addIssue({ code: 'custom', message: r.problem });
});

export const configSchema = z.strictObject({
  server: z
    .strictObject({
      listen: listenAddress.default('127.0.0.1:9001'),
      /** After SIGTERM: report NOT_SERVING for this long (while still answering) before closing. */
      drain_delay_ms: z.int().min(0).max(300_000).default(0),
      /** Hard stop after SIGTERM if in-flight checks have not finished. */
      shutdown_timeout_ms: z.int().min(100).max(600_000).default(10_000),
      /** A Check that takes longer is answered with a deny (reason `timeout`); keep it below Envoy's timeout. */
      check_timeout_ms: z.int().min(1).max(60_000).default(500),
      /** An HTTP/2 connection without a call for this long is closed (GOAWAY); Envoy reconnects on demand. */
      max_connection_idle_ms: z.int().min(100).max(86_400_000).default(300_000),
      /** Before reporting SERVING, run the Check pipeline on synthetic requests and one health call to the listener (src/server/warm-up.ts). */
      warm_up: z.boolean().default(true),
      /** While no Check comes, run the warm-up's steps again every this many ms (src/server/keep-warm.ts); 0: off (the default: no consistent gain measured, README "Sizing"). */
      keep_warm_ms: z.union([z.literal(0), z.int().min(1000).max(3_600_000)]).default(0),
      /** A second listener serving only grpc.health.v1 (the kubelet's probes), e.g. 0.0.0.0:14002. */
      health_listen: listenAddress.optional(),
      /** TLS on the gRPC listener (gateway mode); with client_ca, clients need a certificate chaining to it (mTLS). Files re-read when they change. */
      tls: z
        .strictObject({
          cert: z.string().min(1),
          key: z.string().min(1),
          client_ca: z.string().min(1).optional(),
        })
        .optional(),
    })
    .prefault({}),
  routing: z
    .strictObject({
      /** The header the Envoy config routes on; always overwritten by llm-authz on allow. */
      header: z
        .string()
        .regex(/^[a-z0-9-]+$/, 'expected a lowercase header name')
        .default('x-llm-authz-route'),
      /**
       * Request headers removed on every allow besides the credential headers (src/envoy/strip.ts
       * lists what is always removed on top).
       */
      remove_headers: z
        .array(z.string().regex(/^[a-z0-9_-]+$/, 'expected a lowercase header name'))
        .max(256)
        .default([...DEFAULT_REMOVE_HEADERS]),
    })
    .refine((r) => !r.remove_headers.includes(r.header), { message: 'the routing header cannot be removed (llm-authz sets it)', path: ['remove_headers'] })
    .prefault({}),
  /** Named provider credentials (files or environment variables), loaded at start. */
  credentials: credentialsSchema,
  providers: providersSchema,
  identity: identitySchema,
  /** CEL policies (see docs/policies.md); without this section the built-in rule decides. Credential scopes bind in both. */
  policy: policySchema,
  /** Quotas: request rates, token budgets and concurrency per identity (src/quota/schema.ts). */
  quotas: quotasSchema,
  log: z
    .strictObject({
      level: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
      /** `json` lines, `text` for a person, or `auto`: text when stderr is a terminal, JSON otherwise. */
      format: z.enum(['json', 'text', 'auto']).default('auto'),
    })
    .prefault({}),
  decision_log: z
    .strictObject({
      /** `stdout`, `stderr`, `off`, or a file path (relative to the config file). */
      sink: z.string().min(1).default('stdout'),
      /** Longest a line waits before it is written (lines are written together); 0 = at once. */
      flush_ms: z.number().int().min(0).max(10_000).default(50),
    })
    .prefault({}),
  /** OpenTelemetry traces and metrics (src/telemetry/schema.ts). */
  telemetry: telemetrySchema,
});

export type Config = z.infer<typeof configSchema>;
export type { ApiKind, ProviderConfig } from '../providers/schema.ts';
export { API_KINDS } from '../providers/schema.ts';
export type { ApiKeyConfig } from '../identity/schema.ts';
