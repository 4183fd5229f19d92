/**
 * The parts of an AdmissionReview v1 and of a Pod that the injector reads, validated with zod.
 * Everything else in the objects passes through untouched (the patch only adds).
 */
import { z } from 'zod';

const envVar = z.looseObject({ name: z.string() });
const container = z.looseObject({
  name: z.string().min(1),
  env: z.array(envVar).optional(),
});
const volume = z.looseObject({ name: z.string().min(1) });

export const podSchema = z.looseObject({
  apiVersion: z.literal('v1').optional(),
  kind: z.literal('Pod').optional(),
  metadata: z
    .looseObject({
      name: z.string().optional(),
      generateName: z.string().optional(),
      namespace: z.string().optional(),
      labels: z.record(z.string(), z.string()).optional(),
      annotations: z.record(z.string(), z.string()).optional(),
    })
    .optional(),
  spec: z.looseObject({
    containers: z.array(container).min(1),
    initContainers: z.array(container).optional(),
    volumes: z.array(volume).optional(),
  }),
});
export type Pod = z.infer<typeof podSchema>;
export type Container = z.infer<typeof container>;

export const admissionReviewSchema = z.looseObject({
  apiVersion: z.literal('admission.k8s.io/v1', 'expected apiVersion admission.k8s.io/v1'),
  kind: z.literal('AdmissionReview', 'expected kind AdmissionReview'),
  request: z.looseObject({
    uid: z.string().min(1),
    kind: z.looseObject({ group: z.string(), version: z.string(), kind: z.string() }),
    operation: z.string(),
    namespace: z.string().optional(),
    object: z.unknown(),
  }),
});
export type AdmissionRequest = z.infer<typeof admissionReviewSchema>['request'];

/** One JSONPatch (RFC 6902) operation; the injector only adds. */
export interface PatchOp {
  readonly op: 'add';
  readonly path: string;
  readonly value: unknown;
}

/** A JSON Pointer segment (RFC 6901): `~` and `/` escaped. */
export function pointer(segment: string): string {
  return segment.replaceAll('~', '~0').replaceAll('/', '~1');
}

export function podName(pod: Pod): string {
  return pod.metadata?.name ?? (pod.metadata?.generateName !== undefined ? `${pod.metadata.generateName}*` : '(unnamed)');
}
