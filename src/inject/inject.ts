/**
 * Pod -> JSONPatch: what the webhook adds to a pod. Only additions, computed from the pod as
 * it arrives; a pod that already carries the sidecars gets no patch (the webhook may be called
 * twice: reinvocationPolicy IfNeeded, or two injector replicas' retries).
 */
import { CONTAINERS, STATUS_ANNOTATION, type Mode } from './constants.ts';
import { InjectRefusal, readPodRequest } from './annotations.ts';
import { podSchema, pointer, type Container, type PatchOp, type Pod } from './pod.ts';
import { SDK_BASE_URL_ENV } from './sdk-env.ts';
import { sidecarContainers, sidecarVolumes, type InjectorOptions } from './sidecars.ts';

export type InjectOutcome =
  | { readonly kind: 'patch'; readonly mode: Mode; readonly ops: readonly PatchOp[] }
  | { readonly kind: 'unchanged'; readonly why: 'opted_out' | 'already_injected' }
  | { readonly kind: 'refused'; readonly message: string };

/** Istio's injector marks its pods with this annotation and an istio-proxy container. */
const ISTIO_STATUS = 'sidecar.istio.io/status';
const ISTIO_PROXY = 'istio-proxy';

function hasIstioProxy(pod: Pod): boolean {
  const names = [...pod.spec.containers, ...(pod.spec.initContainers ?? [])].map((c) => c.name);
  return names.includes(ISTIO_PROXY) || pod.metadata?.annotations?.[ISTIO_STATUS] !== undefined;
}

export function injectPod(object: unknown, opts: InjectorOptions): InjectOutcome {
  const parsed = podSchema.safeParse(object);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    return { kind: 'refused', message: `not a pod the injector can patch: ${i ? `${i.path.join('.') || '(object)'}: ${i.message}` : 'invalid'}` };
  }
  const pod = parsed.data;
  try {
    return plan(pod, opts);
  } catch (err) {
    if (err instanceof InjectRefusal) return { kind: 'refused', message: err.message };
    throw err;
  }
}

function plan(pod: Pod, opts: InjectorOptions): InjectOutcome {
  const request = readPodRequest(pod);
  if (request.optedOut) return { kind: 'unchanged', why: 'opted_out' };
  const init = pod.spec.initContainers ?? [];
  if (pod.metadata?.annotations?.[STATUS_ANNOTATION] !== undefined || init.some((c) => c.name === CONTAINERS.authz)) {
    return { kind: 'unchanged', why: 'already_injected' };
  }
  const mode: Mode = request.mode ?? (hasIstioProxy(pod) ? 'istio' : opts.defaultMode);
  const containers = sidecarContainers(mode, opts);
  const volumes = sidecarVolumes(mode, request.objects);

  const taken = new Set([...pod.spec.containers, ...init].map((c) => c.name));
  for (const c of containers) {
    if (taken.has(c.name as string)) throw new InjectRefusal(`the pod already has a container named ${String(c.name)}`);
  }
  const volumeNames = new Set((pod.spec.volumes ?? []).map((v) => v.name));
  for (const v of volumes) {
    if (volumeNames.has(v.name as string)) throw new InjectRefusal(`the pod already has a volume named ${String(v.name)}`);
  }

  const ops: PatchOp[] = [];
  if (pod.metadata?.annotations === undefined) {
    ops.push({ op: 'add', path: '/metadata/annotations', value: { [STATUS_ANNOTATION]: opts.version } });
  } else {
    ops.push({ op: 'add', path: `/metadata/annotations/${pointer(STATUS_ANNOTATION)}`, value: opts.version });
  }
  // First in the init containers: up before any other init container or app container runs.
  if (pod.spec.initContainers === undefined) ops.push({ op: 'add', path: '/spec/initContainers', value: containers });
  else for (const [i, c] of containers.entries()) ops.push({ op: 'add', path: `/spec/initContainers/${i}`, value: c });
  if (pod.spec.volumes === undefined) ops.push({ op: 'add', path: '/spec/volumes', value: volumes });
  else for (const v of volumes) ops.push({ op: 'add', path: '/spec/volumes/-', value: v });
  if (mode === 'envoy' && request.sdkEnv) for (const [i, c] of pod.spec.containers.entries()) ops.push(...sdkEnvOps(c, i));
  return { kind: 'patch', mode, ops };
}

function sdkEnvOps(c: Container, index: number): PatchOp[] {
  const present = new Set((c.env ?? []).map((e) => e.name));
  const add = SDK_BASE_URL_ENV.filter((e) => !present.has(e.name)).map((e) => ({ name: e.name, value: e.value }));
  if (add.length === 0) return [];
  const base = `/spec/containers/${index}/env`;
  return c.env === undefined ? [{ op: 'add', path: base, value: add }] : add.map((e) => ({ op: 'add', path: `${base}/-`, value: e }));
}
