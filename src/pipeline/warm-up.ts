/**
 * The Check pipeline's start-up warm-up, in process. A fresh process's first Check cost 22 ms of
 * CPU against 0.25 ms warm (bench/cold-check.ts, benchmark config): V8 compiling each phase's code
 * on first use and libraries setting up on first call (protobufjs generating the CheckRequest
 * decoders: 3.4 ms; the JWT verification: 11 ms; the LLM parse, the CEL rules, the audit record,
 * the span and the response: 1-2 ms each). Before the server reports SERVING, this runs the Check
 * itself (check.ts, the same code as the server's Check) on the synthetic requests of
 * warm-up-requests.ts, each decoded from its protobuf bytes and its answer encoded:
 *   - over the configured runtime, with credentials no configured method accepts (the identity
 *     phase's denies);
 *   - over the same runtime with the warm-up's own identifier in place of the configured one
 *     (src/identity/warm-up.ts), so the requests with its credentials go through every phase:
 *     the LLM parse of each endpoint of each configured provider's API, the policies, the
 *     response; then the allow response with each provider's credential (keys, SigV4; a service
 *     account's token is not asked for);
 * and the JWT verification of each configured algorithm (src/identity/warm-up.ts).
 * Its Checks have sinks of their own: a decision log whose lines a stream drops, spans and decision
 * metrics that go nowhere (telemetry/warm-up-telemetry.ts), and no quotas: nothing they decide is
 * written to the configured sink, exported, counted or charged. They are not the server's Check
 * and take no request from outside; the server's Check knows nothing of them.
 */
import { Writable } from 'node:stream';
import type { WireFormat } from '../apis/profile.ts';
import { createDecisionLog } from '../audit/decision-log.ts';
import { authorizationService, checkResponseEncoder } from '../envoy/proto.ts';
import { decodeCheckRequest } from '../envoy/check-request-decoder.ts';
import { parseCheckRequest } from '../envoy/request-context.ts';
import { allowResponse, type CheckResponse } from '../envoy/response.ts';
import { headersToStrip } from '../envoy/strip.ts';
import { configuredIssuerTokens, warmUpIdentifier, warmUpJwtVerification, type WarmUpIdentifier } from '../identity/warm-up.ts';
import { attachCredential } from '../providers/attach.ts';
import { ServiceAccount } from '../providers/google-token.ts';
import type { WarmUpStep } from '../telemetry/metrics.ts';
import { detachedTelemetry } from '../telemetry/warm-up-telemetry.ts';
import { createCheck, type Check, type CheckSinks } from './check.ts';
import type { Runtime } from './runtime.ts';
import { warmUpRequests, type WarmUpRequest } from './warm-up-requests.ts';

/** The steps whose failure is reported (and counted) on its own. */
export type CheckWarmUpStep = Extract<WarmUpStep, 'identity' | 'check_pipeline'>;

export interface CheckWarmUpResult {
  /** Synthetic requests taken through the Check. */
  readonly requests: number;
  /** The first failure of each step that failed. */
  readonly failures: readonly { readonly step: CheckWarmUpStep; readonly error: unknown }[];
}

/** A parent trace context, as Envoy's ext_authz span sends it. */
const PARENT = { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' };

type Encode = (r: CheckResponse) => Buffer;

/** The allow response of a request with each of its API's providers' credentials, encoded. */
async function allowPaths(rt: Runtime, raw: unknown, encode: Encode): Promise<void> {
  const parsed = parseCheckRequest(raw);
  const llm = parsed.ok ? rt.understand(parsed.value) : undefined;
  if (!parsed.ok || llm === undefined || !llm.ok) return;
  for (const provider of rt.providers.list) {
    if (provider.profile.wire.name !== llm.value.api || provider.credential instanceof ServiceAccount) continue;
    const attached = await attachCredential(provider, provider.credential, parsed.value);
    if (!attached.ok) throw new Error(`the provider credential could not be attached (${attached.reason})`);
    encode(
      allowResponse({
        decisionId: 'llm-authz-warm-up',
        routingHeader: rt.routingHeader,
        obligations: { provider },
        credential: attached.value,
        credentialHeaders: headersToStrip(parsed.value, rt.strip),
        metadata: { route: provider.route },
        traceId: PARENT.traceparent.slice(3, 35),
      }),
    );
  }
}

export async function warmUpCheck(rt: Runtime): Promise<CheckWarmUpResult> {
  const failures: { step: CheckWarmUpStep; error: unknown }[] = [];
  const failed = (step: CheckWarmUpStep, error: unknown): void => {
    if (!failures.some((f) => f.step === step)) failures.push({ step, error });
  };
  await warmUpJwtVerification(rt.config.identity.jwt?.issuers.flatMap((i) => i.algorithms) ?? []).catch((err: unknown) => failed('identity', err));
  let own: WarmUpIdentifier | undefined;
  try {
    // Its key reaches no provider with a service account: an allowed request would wait for an access token to be minted.
    own = warmUpIdentifier(rt.config.identity, { providers: rt.providers.list.filter((p) => !(p.credential instanceof ServiceAccount)).map((p) => p.name) });
  } catch (err) {
    failed('identity', err);
  }
  let current: WarmUpRequest | undefined;
  // A decision log of its own, whose lines a stream drops (the configured sink never sees them).
  const lines = createDecisionLog(new Writable({ write: (_chunk, _encoding, done) => done() }), { flushMs: rt.config.decision_log.flush_ms });
  const telemetry = detachedTelemetry();
  const sinks: CheckSinks = {
    onDecision: (record, trace) => {
      lines.write(record, trace);
      // The warm-up's own credentials must be accepted: else its Checks stopped at the identity phase.
      if (current?.credential === 'own' && record['decision.phase'] === 'identity') {
        failed('identity', new Error(`the warm-up's own credential was refused (${record['decision.reason']})`));
      }
    },
    onError: (_reason, err) => failed('check_pipeline', err),
  };
  const configured = createCheck(() => ({ ...rt, quotas: undefined }), sinks, telemetry.tracer, telemetry.metrics);
  const ownIdentify = own?.identify;
  const accepting: Check | undefined =
    ownIdentify === undefined ? undefined : createCheck(() => ({ ...rt, identify: ownIdentify, quotas: undefined }), sinks, telemetry.tracer, telemetry.metrics);
  const requests = warmUpRequests(
    rt.providers.list.map((p) => p.profile.wire as WireFormat),
    own,
    { onBehalfOfHeader: rt.config.identity.on_behalf_of?.header, issuerTokens: configuredIssuerTokens(rt.config.identity) },
  );
  const method = authorizationService().Check;
  const encode = checkResponseEncoder();
  try {
    for (const r of requests) {
      current = r;
      try {
        const raw = decodeCheckRequest(method.requestSerialize(r.request));
        const check = r.credential === 'own' ? accepting : configured;
        if (check === undefined) continue;
        encode(await check(raw, PARENT));
        if (r.credential === 'own') await allowPaths(rt, raw, encode);
      } catch (err) {
        failed('check_pipeline', err);
      }
    }
  } finally {
    own?.close();
    await lines.close();
    await telemetry.shutdown().catch((err: unknown) => failed('check_pipeline', err));
  }
  return { requests: requests.length, failures };
}
