/**
 * AdmissionReview v1 in, AdmissionReview v1 out. Every answer carries the request's uid; a
 * review the injector cannot read, a pod it cannot patch, or an annotation value it does not
 * know is answered `allowed: false` with a message that says why (the API server shows it to
 * whoever created the pod). An exception is a refusal too: the webhook fails closed, as its
 * failurePolicy does.
 */
import { admissionReviewSchema, podName, type Pod } from './pod.ts';
import { injectPod, type InjectOutcome } from './inject.ts';
import type { InjectorOptions } from './sidecars.ts';

export interface AdmissionResponse {
  readonly uid: string;
  readonly allowed: boolean;
  readonly patchType?: 'JSONPatch';
  readonly patch?: string;
  readonly status?: { readonly code: number; readonly message: string };
}

export interface ReviewAnswer {
  /** 200 for every review that names a uid; 400 when there is none to answer. */
  readonly httpStatus: number;
  readonly body: { apiVersion: 'admission.k8s.io/v1'; kind: 'AdmissionReview'; response: AdmissionResponse };
  /** For the service log: never the pod itself (its env may hold secrets). */
  readonly log: Record<string, unknown>;
}

const PREFIX = 'llm-authz injector: ';

function answer(httpStatus: number, response: AdmissionResponse, log: Record<string, unknown>): ReviewAnswer {
  return { httpStatus, body: { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response }, log };
}

function refuse(uid: string, message: string, log: Record<string, unknown>, httpStatus = 200): ReviewAnswer {
  return answer(httpStatus, { uid, allowed: false, status: { code: 400, message: PREFIX + message } }, { ...log, outcome: 'refused', problem: message });
}

/** The uid of a review that failed validation elsewhere, so the answer can still name it. */
function uidOf(data: unknown): string | undefined {
  const uid = (data as { request?: { uid?: unknown } } | null)?.request?.uid;
  return typeof uid === 'string' && uid !== '' ? uid : undefined;
}

export function answerReview(text: string, opts: InjectorOptions): ReviewAnswer {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return refuse('', 'the request body is not JSON', {}, 400);
  }
  const parsed = admissionReviewSchema.safeParse(data);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    const problem = `not an AdmissionReview v1 request: ${i ? `${i.path.join('.') || '(body)'}: ${i.message}` : 'invalid'}`;
    const uid = uidOf(data);
    return uid === undefined ? refuse('', problem, {}, 400) : refuse(uid, problem, { uid });
  }
  const req = parsed.data.request;
  const base = { uid: req.uid, namespace: req.namespace, operation: req.operation };
  if (req.kind.group !== '' || req.kind.kind !== 'Pod' || req.operation !== 'CREATE') {
    // The webhook is registered for pod CREATE only; anything else passes untouched.
    return answer(200, { uid: req.uid, allowed: true }, { ...base, kind: req.kind.kind, outcome: 'not_a_pod_create' });
  }
  let outcome: InjectOutcome;
  try {
    outcome = injectPod(req.object, opts);
  } catch {
    return refuse(req.uid, 'internal error while building the patch', base);
  }
  const pod = { ...base, pod: podName((req.object ?? {}) as Pod) };
  switch (outcome.kind) {
    case 'refused':
      return refuse(req.uid, outcome.message, pod);
    case 'unchanged':
      return answer(200, { uid: req.uid, allowed: true }, { ...pod, outcome: outcome.why });
    case 'patch':
      return answer(
        200,
        { uid: req.uid, allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(outcome.ops)).toString('base64') },
        { ...pod, outcome: 'injected', mode: outcome.mode, patch_ops: outcome.ops.length },
      );
  }
}
