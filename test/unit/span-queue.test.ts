/**
 * The span queue while the collector never answers: its length stays at
 * telemetry.traces.max_queue_size (the rest is dropped and counted), and so does the memory
 * that spans hold. Every export is held unanswered until the end of the test, so nothing leaves
 * the queue by being exported: only the bound keeps it small.
 */
import { randomBytes } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { metric, TestReader } from '../helpers/otel-metrics.ts';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';
import { describe, expect, it } from 'vitest';
import { startTelemetry } from '../../src/telemetry/otel.ts';
import { telemetrySchema } from '../../src/telemetry/schema.ts';

/** A collector that takes each batch and never answers (until release()). */
class HangingExporter implements SpanExporter {
  readonly waiting: ((r: ExportResult) => void)[] = [];
  exported = 0;
  export(spans: ReadableSpan[], done: (r: ExportResult) => void): void {
    this.exported += spans.length;
    this.waiting.push(done);
  }
  release(): void {
    for (const done of this.waiting.splice(0)) done({ code: ExportResultCode.FAILED });
  }
  shutdown(): Promise<void> {
    this.release();
    return Promise.resolve();
  }
}

/** The heap in use after a full garbage collection. */
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

const MAX_QUEUE = 256;
const SPANS = 10_000;
/** Two distinct 1000-character attribute values per span: about 2 KB a span, 20 MB for all of them. */
const ATTR_CHARS = 1000;

describe('span queue with a collector that never answers', () => {
  it('stays at max_queue_size spans (the rest dropped and counted) and the heap they hold stays bounded', async () => {
    const exporter = new HangingExporter();
    const reader = new TestReader();
    const cfg = telemetrySchema.parse({ traces: { max_queue_size: MAX_QUEUE, max_export_batch_size: 64, scheduled_delay_ms: 1, export_timeout_ms: 120_000 } });
    const tel = await startTelemetry(cfg, { version: 't', env: {}, spanExporter: exporter, metricReader: reader });
    try {
      const before = heapAfterGc();
      let maxQueue = 0;
      for (let i = 0; i < SPANS; i++) {
        const span = tel.tracer.start(undefined);
        span.end({ 'decision.id': randomBytes(ATTR_CHARS / 2).toString('hex'), 'llm.end_user': randomBytes(ATTR_CHARS / 2).toString('hex') }, undefined);
        if (i % 1000 === 999) {
          // Let the batch processor's timer run, so that it hands batches to the (hanging) exporter.
          await new Promise((r) => setTimeout(r, 5));
          maxQueue = Math.max(maxQueue, metric((await reader.collect()).resourceMetrics, 'llm_authz.telemetry.span_queue.size') ?? -1);
        }
      }
      const rm = (await reader.collect()).resourceMetrics;
      const queued = metric(rm, 'llm_authz.telemetry.span_queue.size');
      const retainedBytes = heapAfterGc() - before;
      process.stderr.write(
        `[span-queue] queue ${queued} (max seen ${maxQueue}), exported (held) ${exporter.exported}, heap retained ${(retainedBytes / 1e6).toFixed(1)} MB for ${SPANS} spans\n`,
      );

      // The queue filled to its bound and stayed there.
      expect(queued).toBe(MAX_QUEUE);
      expect(maxQueue).toBe(MAX_QUEUE);
      // The first export holds one batch; the rest of what did not fit was dropped, and counted.
      expect(exporter.exported).toBe(64);
      expect(metric(rm, 'llm_authz.telemetry.exporter.dropped', { signal: 'traces' })).toBe(SPANS - MAX_QUEUE - 64);
      // Memory: the spans held (queue + the batch in export) and their attributes, not all 10,000
      // (those would hold about 20 MB in attribute strings alone).
      expect(retainedBytes).toBeLessThan(6_000_000);
    } finally {
      exporter.release();
      await tel.shutdown();
    }
  });
});
