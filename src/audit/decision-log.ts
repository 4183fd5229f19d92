/**
 * The decision log: one JSON line per decision. Writes never block a Check: when the sink
 * falls behind by more than `maxBufferedBytes`, lines are dropped and counted, not queued
 * without bound (decisions continue; the loss is visible in `dropped`).
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import type { AuditRecord } from './record.ts';
import { countDecisionLogDropped } from '../telemetry/metrics.ts';

export interface DecisionLog {
  write(record: AuditRecord, trace?: { traceId: string; spanId: string }): void;
  readonly dropped: number;
  readonly written: number;
  close(): Promise<void>;
}

/** sink: `stdout`, `stderr`, `off`, a file path, or a stream. */
export function createDecisionLog(sink: string | Writable, maxBufferedBytes = 8 * 1024 * 1024): DecisionLog {
  if (sink === 'off') {
    return { write() {}, dropped: 0, written: 0, close: async () => {} };
  }
  let stream: Writable;
  let own: WriteStream | undefined;
  if (typeof sink !== 'string') stream = sink;
  else if (sink === 'stdout') stream = process.stdout;
  else if (sink === 'stderr') stream = process.stderr;
  else stream = own = createWriteStream(sink, { flags: 'a' });
  let failed = false;
  stream.on('error', () => {
    failed = true;
  });
  let dropped = 0;
  let written = 0;
  return {
    write(record, trace) {
      if (failed || stream.writableLength > maxBufferedBytes) {
        dropped++;
        countDecisionLogDropped();
        return;
      }
      const line = JSON.stringify({ time: new Date().toISOString(), ...record, ...(trace ? { trace_id: trace.traceId, span_id: trace.spanId } : {}) });
      stream.write(`${line}\n`);
      written++;
    },
    get dropped() {
      return dropped;
    },
    get written() {
      return written;
    },
    close() {
      return new Promise((resolve) => {
        if (own) own.end(() => resolve());
        else resolve();
      });
    },
  };
}
