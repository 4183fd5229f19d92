/**
 * The decision log: one JSON line per decision. Writes never block a Check: lines are gathered
 * and handed to the sink in one write every `flushMs` (or sooner, at 64 KiB), so a busy server
 * makes a few writes a second instead of one per decision. When the sink falls behind by more
 * than `maxBufferedBytes`, lines are dropped and counted, not queued without bound (decisions
 * continue; the loss is visible in `dropped`). A write the sink fails (a full disk: ENOSPC) is
 * counted as dropped too; a file sink that failed is opened again every second, so the log
 * resumes by itself once the disk has room. close() writes what is gathered.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { JsonBuffer } from './json-buffer.ts';
import type { OutcomeRecord } from './outcome.ts';
import type { AuditRecord } from './record.ts';
import { countDecisionLogDropped } from '../telemetry/metrics.ts';

/** A line's `kind`: a decision (AuditRecord) or the outcome of an allowed request's response (OutcomeRecord). */
export type LineKind = 'decision' | 'outcome';

export interface DecisionLog {
  write(record: AuditRecord, trace?: { traceId: string; spanId: string }): void;
  writeOutcome(record: OutcomeRecord, trace?: { traceId: string; spanId: string }): void;
  readonly dropped: number;
  readonly written: number;
  close(): Promise<void>;
}

export interface DecisionLogOptions {
  /** Bytes gathered or not yet written by the sink beyond which lines are dropped. */
  readonly maxBufferedBytes?: number;
  /** Longest a line waits before it is handed to the sink; 0 writes every line at once. */
  readonly flushMs?: number;
}

const FLUSH_BYTES = 64 * 1024;

/** How long a failed file sink waits before it is opened again. */
export const REOPEN_MS = 1000;

/**
 * One line: `time` and `kind` (`decision` or `outcome`, so the lines can be told apart from each
 * other and from the service log when both go to stderr) first, the record's keys, then the
 * trace ids (without copying the record).
 */
export function decisionLine(record: AuditRecord | OutcomeRecord, trace?: { traceId: string; spanId: string }, kind: LineKind = 'decision'): string {
  const body = JSON.stringify(record);
  const ids = trace ? `"trace_id":${JSON.stringify(trace.traceId)},"span_id":${JSON.stringify(trace.spanId)}` : '';
  const inner = body.length > 2 ? body.slice(1, -1) + (ids ? `,${ids}` : '') : ids;
  return `{"time":"${new Date().toISOString()}","kind":"${kind}"${inner ? `,${inner}` : ''}}\n`;
}

/** sink: `stdout`, `stderr`, `off`, a file path, or a stream. */
export function createDecisionLog(sink: string | Writable, options: DecisionLogOptions = {}): DecisionLog {
  if (sink === 'off') {
    return { write() {}, writeOutcome() {}, dropped: 0, written: 0, close: async () => {} };
  }
  const maxBufferedBytes = options.maxBufferedBytes ?? 8 * 1024 * 1024;
  const flushMs = options.flushMs ?? 50;
  let stream: Writable;
  let own: WriteStream | undefined;
  let errored = false;
  let reopen: NodeJS.Timeout | undefined;
  let closing = false;
  const path = typeof sink === 'string' && sink !== 'stdout' && sink !== 'stderr' ? sink : undefined;
  const watchErrors = (s: Writable): void => {
    s.on('error', () => {
      errored = true;
      // A file is opened again after a while (the disk may have room by then); a stream given
      // by the caller (stdout, stderr) stays failed.
      if (path !== undefined && !closing && reopen === undefined) {
        reopen = setTimeout(() => {
          reopen = undefined;
          if (closing) return;
          errored = false;
          stream = own = createWriteStream(path, { flags: 'a' });
          watchErrors(stream);
        }, REOPEN_MS);
        reopen.unref();
      }
    });
  };
  if (typeof sink !== 'string') stream = sink;
  else if (sink === 'stdout') stream = process.stdout;
  else if (sink === 'stderr') stream = process.stderr;
  else stream = own = createWriteStream(sink, { flags: 'a' });
  watchErrors(stream);
  const failed = (): boolean => errored || stream.destroyed;
  let dropped = 0;
  let written = 0;
  // The gathered lines, written as JSON straight into one buffer kept for the log's life (made at
  // the first line) and copied out at each flush: a line built as a string, gathered in an array
  // and joined for the write took 2.4 KiB of V8 heap per Check; this way, its time (bench/alloc.ts).
  let out: JsonBuffer | undefined;
  let pending = 0;
  let lastMs = Number.NaN;
  let lastTime = '';
  let timer: NodeJS.Timeout | undefined;
  const drop = (n: number): void => {
    dropped += n;
    countDecisionLogDropped(n);
  };
  const flush = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    if (pending === 0 || out === undefined) return;
    const lines = pending;
    const bytes = out.take();
    pending = 0;
    if (failed()) {
      // The sink failed after these lines were taken: they are lost, and counted as such.
      written -= lines;
      drop(lines);
      return;
    }
    stream.write(bytes, (err) => {
      if (err) {
        // The sink took these lines and failed them (e.g. ENOSPC): lost, and counted as such.
        written -= lines;
        drop(lines);
      }
    });
  };
  const add = (record: AuditRecord | OutcomeRecord, trace: { traceId: string; spanId: string } | undefined, kind: LineKind): void => {
    if (failed() || stream.writableLength + (out?.length ?? 0) > maxBufferedBytes) {
      drop(1);
      return;
    }
    out ??= new JsonBuffer(FLUSH_BYTES + 16 * 1024);
    // The bytes of decisionLine(record, trace, kind).
    out.text('{"time":"');
    // The time's text is made once per millisecond (several lines share one under load).
    const now = Date.now();
    if (now !== lastMs) {
      lastMs = now;
      lastTime = new Date(now).toISOString();
    }
    out.text(lastTime);
    out.text(kind === 'decision' ? '","kind":"decision"' : '","kind":"outcome"');
    out.members(record);
    if (trace) {
      out.text(',"trace_id":');
      out.string(trace.traceId);
      out.text(',"span_id":');
      out.string(trace.spanId);
    }
    out.text('}\n');
    written++;
    pending++;
    if (flushMs <= 0 || out.length >= FLUSH_BYTES) flush();
    else if (timer === undefined) {
      timer = setTimeout(flush, flushMs);
      timer.unref();
    }
  };
  return {
    write: (record, trace) => add(record, trace, 'decision'),
    writeOutcome: (record, trace) => add(record, trace, 'outcome'),
    get dropped() {
      return dropped;
    },
    get written() {
      return written;
    },
    close() {
      flush();
      closing = true;
      clearTimeout(reopen);
      return new Promise((resolve) => {
        if (own && !own.destroyed) own.end(() => resolve());
        else resolve();
      });
    },
  };
}
