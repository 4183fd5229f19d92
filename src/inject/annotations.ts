/**
 * Reads what a pod asks of the injector: its opt-in/out label and its llm-authz.io/ annotations.
 * A value the injector does not know is an error that names the annotation and the values it
 * takes (a typo must not silently inject something else).
 */
import { ANNOTATIONS, DEFAULT_OBJECTS, INJECT_LABEL, MODES, STATUS_ANNOTATION, type Mode } from './constants.ts';
import type { Pod } from './pod.ts';
import type { SidecarObjects } from './sidecars.ts';

export class InjectRefusal extends Error {}

export interface PodRequest {
  /** The pod opted out (label llm-authz.io/inject=false). */
  readonly optedOut: boolean;
  /** The mode an annotation asked for, if any. */
  readonly mode: Mode | undefined;
  readonly objects: SidecarObjects;
  readonly sdkEnv: boolean;
}

const PREFIX = 'llm-authz.io/';
const KNOWN = new Set<string>([...Object.values(ANNOTATIONS), STATUS_ANNOTATION]);
/** A Kubernetes object name (DNS-1123 subdomain), as ConfigMaps and Secrets need. */
const OBJECT_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function objectName(annotations: Readonly<Record<string, string>>, key: string, fallback: string): string {
  const v = annotations[key];
  if (v === undefined) return fallback;
  if (v.length > 253 || !OBJECT_NAME.test(v)) throw new InjectRefusal(`annotation ${key}: '${v}' is not a valid object name (lowercase letters, digits, '-' and '.')`);
  return v;
}

function oneOf<T extends string>(where: string, v: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(v)) throw new InjectRefusal(`${where}: '${v}' is not one of ${allowed.join(', ')}`);
  return v as T;
}

export function readPodRequest(pod: Pod): PodRequest {
  const labels = pod.metadata?.labels ?? {};
  const annotations = pod.metadata?.annotations ?? {};
  const label = labels[INJECT_LABEL];
  const optedOut = label !== undefined && oneOf(`label ${INJECT_LABEL}`, label, ['true', 'false']) === 'false';
  for (const key of Object.keys(annotations)) {
    if (key.startsWith(PREFIX) && !KNOWN.has(key)) {
      throw new InjectRefusal(`unknown annotation ${key}; the injector reads ${[...Object.values(ANNOTATIONS)].join(', ')}`);
    }
  }
  const mode = annotations[ANNOTATIONS.mode];
  const sdkEnv = annotations[ANNOTATIONS.sdkEnv];
  return {
    optedOut,
    mode: mode === undefined ? undefined : oneOf(`annotation ${ANNOTATIONS.mode}`, mode, MODES),
    sdkEnv: sdkEnv === undefined || oneOf(`annotation ${ANNOTATIONS.sdkEnv}`, sdkEnv, ['true', 'false']) === 'true',
    objects: {
      config: objectName(annotations, ANNOTATIONS.config, DEFAULT_OBJECTS.config),
      policies: objectName(annotations, ANNOTATIONS.policies, DEFAULT_OBJECTS.policies),
      keyStore: objectName(annotations, ANNOTATIONS.keyStore, DEFAULT_OBJECTS.keyStore),
      providerKeys: objectName(annotations, ANNOTATIONS.providerKeys, DEFAULT_OBJECTS.providerKeys),
      envoyConfig: objectName(annotations, ANNOTATIONS.envoyConfig, DEFAULT_OBJECTS.envoyConfig),
    },
  };
}
