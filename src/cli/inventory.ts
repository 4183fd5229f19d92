/**
 * `llm-authz inventory --config F [--decisions FILE|DIR ...] [--since 30d] [--format md|json|csv|html]
 * [--out FILE]`: the access review. Joins the config's entitlements (API keys, key store,
 * entitlement rules, revocation list) with the decision and outcome logs, and writes the report.
 * A one-line summary goes to stderr (lines, time, peak memory).
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError } from '../core/errors.ts';
import { InputError, UsageError, type Command } from './command.ts';
import { InventoryInputError, loadEntitlements } from '../inventory/entitlements.ts';
import { renderCsv } from '../inventory/render-csv.ts';
import { renderHtml } from '../inventory/render-html.ts';
import { renderMarkdown } from '../inventory/render-md.ts';
import type { Report } from '../inventory/report.ts';
import { runInventory } from '../inventory/run.ts';
import { parseDuration } from './keys.ts';

const FORMATS = {
  md: renderMarkdown,
  json: (r: Report) => `${JSON.stringify(r, null, 2)}\n`,
  csv: renderCsv,
  html: renderHtml,
} as const;

const HELP = `options:
  --config FILE           the llm-authz config: its API keys, key store, entitlement rules, revocation list
  --decisions FILE|DIR    decision-log files (plain or gzip) or folders of them, read oldest first; repeat for several
  --since 30d             the window read, back from the report's time
  --format md|json|csv|html   the report format (default md)
  --out FILE              write the report there (default: stdout)
  --unused-for 14d        flag an entitlement whose last allowed request is older
  --expiring-within 14d   flag a key that expires within this time
  --now ISO-TIME          the report's time (default: now)
A summary line (lines read, time, peak RSS) goes to stderr.
Exit codes: 0 the report was written, 2 a usage error or a config, key store or revocation list that cannot be read.`;

export interface InventoryArgs {
  readonly config: string;
  readonly decisions: readonly string[];
  readonly format: keyof typeof FORMATS;
  readonly out: string | undefined;
  readonly nowMs: number;
  readonly sinceMs: number;
  readonly unusedForMs: number;
  readonly expiringWithinMs: number;
}

export function parseInventoryArgs(args: string[], now: () => number = Date.now): InventoryArgs {
  const { values: v } = parseArgs({
    args,
    options: {
      config: { type: 'string', short: 'c' },
      decisions: { type: 'string', multiple: true },
      since: { type: 'string' },
      format: { type: 'string' },
      out: { type: 'string', short: 'o' },
      'unused-for': { type: 'string' },
      'expiring-within': { type: 'string' },
      now: { type: 'string' },
    },
    strict: true,
  });
  if (v.config === undefined) throw new UsageError('--config FILE is required');
  const format = v.format ?? 'md';
  if (!Object.hasOwn(FORMATS, format)) throw new UsageError(`--format: expected md, json, csv or html, not '${format}'`);
  const nowMs = v.now === undefined ? now() : Date.parse(v.now);
  if (Number.isNaN(nowMs)) throw new UsageError('--now: expected an ISO 8601 time');
  const duration = (name: string, value: string | undefined, dflt: string): number => {
    try {
      return parseDuration(value ?? dflt);
    } catch (err) {
      throw new UsageError(`--${name}: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
  return {
    config: v.config,
    decisions: v.decisions ?? [],
    format: format as keyof typeof FORMATS,
    out: v.out,
    nowMs,
    sinceMs: duration('since', v.since, '30d'),
    unusedForMs: duration('unused-for', v['unused-for'], '14d'),
    expiringWithinMs: duration('expiring-within', v['expiring-within'], '14d'),
  };
}

/** Runs the inventory and renders it; returns the report and its text. */
export async function inventory(a: InventoryArgs): Promise<{ report: Report; text: string }> {
  const report = await runInventory({
    entitlements: loadEntitlements(a.config),
    decisions: a.decisions,
    nowMs: a.nowMs,
    sinceMs: a.sinceMs,
    thresholds: { unusedForMs: a.unusedForMs, expiringWithinMs: a.expiringWithinMs },
  });
  return { report, text: FORMATS[a.format](report) };
}

export const inventoryCommand: Command = {
  name: 'inventory',
  usage: 'inventory --config FILE [--decisions FILE|DIR ...] [--since 30d] [--format md|json|csv|html] [--out FILE]',
  summary: 'access review: entitlements joined with the decision and outcome logs, with findings',
  help: HELP,
  async run(args: string[]): Promise<number> {
    const a = parseInventoryArgs(args);
    try {
      const { report, text } = await inventory(a);
      if (a.out === undefined) process.stdout.write(text);
      else writeFileSync(a.out, text);
      const i = report.input;
      const rssMiB = Math.round(process.resourceUsage().maxRSS / 1024);
      process.stderr.write(
        `llm-authz inventory: ${i.lines} lines from ${i.files.length} file(s) in ${(i.elapsedMs / 1000).toFixed(1)} s (peak RSS ${rssMiB} MiB); ` +
          `${report.rows.length} row(s), ${report.findings.length} finding(s)${a.out !== undefined ? `; written to ${a.out}` : ''}\n`,
      );
      return 0;
    } catch (err) {
      if (err instanceof ConfigError) throw new InputError(`invalid config ${a.config}: ${err.problems.join('; ')}`);
      if (err instanceof InventoryInputError) throw new InputError(err.message);
      throw err;
    }
  },
};
