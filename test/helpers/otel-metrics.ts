/** Reading the OpenTelemetry metrics a test's MetricReader collected (in process, before any export). */
import { MetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics';

/** The sum of a metric's data points matching `attrs` (a histogram's point counts its count); undefined when it has none. */
export function metric(rm: ResourceMetrics, name: string, attrs: Record<string, string> = {}): number | undefined {
  let found: number | undefined;
  for (const sm of rm.scopeMetrics) {
    for (const m of sm.metrics) {
      if (m.descriptor.name !== name) continue;
      for (const dp of m.dataPoints as { attributes: Record<string, unknown>; value: unknown }[]) {
        if (!Object.entries(attrs).every(([k, v]) => dp.attributes[k] === v)) continue;
        const v = typeof dp.value === 'number' ? dp.value : (dp.value as { count?: number }).count;
        if (typeof v === 'number') found = (found ?? 0) + v;
      }
    }
  }
  return found;
}

/** A MetricReader the test collects from itself (`reader.collect()`); it exports nothing. */
export class TestReader extends MetricReader {
  protected onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}
