/** Counts made while the config is built (before the telemetry it configures starts) are not lost. */
import type { ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { describe, expect, it } from 'vitest';
import { createPolicyEngine } from '../../src/policy/engine.ts';
import { countJwksFetch } from '../../src/telemetry/metrics.ts';
import { startTelemetry } from '../../src/telemetry/otel.ts';
import { telemetrySchema } from '../../src/telemetry/schema.ts';
import { policyDir, unitProviders } from '../helpers/policies.ts';
import { TestReader } from '../helpers/otel-metrics.ts';

function total(rm: ResourceMetrics, name: string, outcome: string): number {
  let n = 0;
  for (const sm of rm.scopeMetrics) {
    for (const m of sm.metrics) {
      if (m.descriptor.name !== name) continue;
      for (const dp of m.dataPoints as { attributes: Record<string, unknown>; value: unknown }[]) if (dp.attributes['outcome'] === outcome) n += dp.value as number;
    }
  }
  return n;
}

describe('metrics before the telemetry starts', () => {
  it('the first policy load and an early JWKS fetch are counted once the meter is installed', async () => {
    const dir = policyDir();
    dir.write({ 'p.yaml': `rules:\n  - {id: allow-all, effect: allow, when: "true"}\n` });
    const engine = createPolicyEngine({ dir: dir.dir, providers: unitProviders(), watch: false });
    countJwksFetch('failed');
    const reader = new TestReader();
    const tel = await startTelemetry(telemetrySchema.parse({}), { version: '1', env: {}, metricReader: reader });
    try {
      const rm = (await reader.collect()).resourceMetrics;
      expect(total(rm, 'llm_authz.policy.reloads', 'ok')).toBe(1);
      expect(total(rm, 'llm_authz.jwks.fetches', 'failed')).toBe(1);
      engine.reload();
      expect(total((await reader.collect()).resourceMetrics, 'llm_authz.policy.reloads', 'ok')).toBe(2);
    } finally {
      engine.close();
      await tel.shutdown();
    }
  });
});
