/**
 * `llm-authz inventory`, as a function: entitlements from the config, events from the logs
 * (streamed, one line at a time), the report model. Bad input never stops it: malformed lines,
 * unknown fields, cut-off gzip files and unreadable files are counted in `input`.
 */
import { Aggregator, makeWindow } from './aggregate.ts';
import type { Entitlements } from './entitlements.ts';
import type { Thresholds } from './findings.ts';
import { listLogFiles, readLogFile, type FileStats } from './log-reader.ts';
import { parseLogLine } from './log-record.ts';
import { buildReport, type FileReport, type ReadTotals, type Report } from './report.ts';

/** Malformed lines named by position (file and line number, never content), per file. */
const MAX_POSITIONS_PER_FILE = 5;
/** Unknown field names listed (the rest are counted together). */
const MAX_UNKNOWN_NAMES = 50;
/** An unknown field's name is shown only when it looks like an attribute name (`a.b_c`): a name could itself be a leaked value. */
const SHOWABLE_NAME = /^[a-z][a-z0-9_]{0,31}(\.[a-z0-9_]{1,32}){0,4}$/;

export interface InventoryOptions {
  readonly entitlements: Entitlements;
  readonly decisions: readonly string[];
  readonly nowMs: number;
  readonly sinceMs: number;
  readonly thresholds: Thresholds;
  /** For tests: the outcome join window. */
  readonly joinWindow?: number;
}

export async function runInventory(o: InventoryOptions): Promise<Report> {
  const started = performance.now();
  const window = makeWindow(o.nowMs - o.sinceMs, o.nowMs);
  const agg = new Aggregator(o.entitlements, window, o.joinWindow);
  const { files, problems } = await listLogFiles(o.decisions);
  const reports: FileReport[] = [];
  const malformed: Record<string, number> = {};
  const unknownFields = new Map<string, number>();
  let otherUnknown = 0;
  let invalidFields = 0;
  for (const file of files) {
    const fr: Omit<FileReport, keyof FileStats> = { decisions: 0, outcomes: 0, malformed: 0, beforeWindow: 0, afterUntil: 0, malformedAt: [] };
    const stats = await readLogFile(file, (line, lineNo) => {
      const r = parseLogLine(line);
      if (!r.ok) {
        fr.malformed++;
        malformed[r.problem] = (malformed[r.problem] ?? 0) + 1;
        if (fr.malformedAt.length < MAX_POSITIONS_PER_FILE) fr.malformedAt.push(lineNo);
        return;
      }
      for (const name of r.unknown) {
        const n = unknownFields.get(name);
        if (n !== undefined) unknownFields.set(name, n + 1);
        else if (unknownFields.size < MAX_UNKNOWN_NAMES && SHOWABLE_NAME.test(name)) unknownFields.set(name, 1);
        else otherUnknown++;
      }
      invalidFields += r.invalid;
      const t = r.event.timeMs;
      if (t < window.startMs) {
        fr.beforeWindow++;
        return;
      }
      if (t > window.endMs) {
        fr.afterUntil++;
        return;
      }
      if (r.event.kind === 'decision') fr.decisions++;
      else fr.outcomes++;
      agg.add(r.event);
    });
    reports.push({ ...stats, ...fr });
  }
  agg.finish();
  const sum = (f: (r: FileReport) => number): number => reports.reduce((a, r) => a + f(r), 0);
  const input: ReadTotals = {
    files: reports,
    missing: problems,
    lines: sum((r) => r.lines),
    decisions: sum((r) => r.decisions),
    outcomes: sum((r) => r.outcomes),
    malformed,
    oversized: sum((r) => r.oversized),
    beforeWindow: sum((r) => r.beforeWindow),
    afterUntil: sum((r) => r.afterUntil),
    invalidFields,
    unknownFields: Object.fromEntries([...unknownFields.entries()].sort(([a], [b]) => a.localeCompare(b))),
    otherUnknownFields: otherUnknown,
    truncatedFiles: reports.filter((r) => r.truncated).length,
    unreadableFiles: reports.filter((r) => r.error !== undefined).length,
    elapsedMs: Math.round(performance.now() - started),
  };
  return buildReport(o.entitlements, agg, input, o.nowMs, o.thresholds);
}
