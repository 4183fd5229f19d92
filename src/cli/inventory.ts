/**
 * `llm-authz inventory --config F [--decisions FILE|DIR ...] [--since 30d] [--format md|json|csv|html]
 * [--out FILE]`: the access review. Joins the config's entitlements (API keys, key store,
 * entitlement rules, revocation list) with the decision and outcome logs, and writes the report.
 * A one-line summary goes to stderr (lines, time, peak memory).
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError } from '../core/errors.ts';
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

const USAGE = `usage: llm-authz inventory --config FILE [--decisions FILE|DIR ...] [--since 30d] [--format md|json|csv|html] [--out FILE]
                           [--unused-for 14d] [--expiring-within 14d] [--now ISO-TIME]
  --decisions   decision-log files (plain or gzip) or folders of them; repeat for several
  --since       the window read, back from now (default 30d)
  --unused-for  flag an entitlement whose last allowed request is older (default 14d)
  --expiring-within  flag a key that expires within this time (default 14d)
  --now         the report's time (default: now)
`;

class InventoryUsageError extends Error {}

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
  if (v.config === undefined) throw new InventoryUsageError('--config FILE is required');
  const format = v.format ?? 'md';
  if (!Object.hasOwn(FORMATS, format)) throw new InventoryUsageError(`--format: expected md, json, csv or html, not '${format}'`);
  const nowMs = v.now === undefined ? now() : Date.parse(v.now);
  if (Number.isNaN(nowMs)) throw new InventoryUsageError('--now: expected an ISO 8601 time');
  const duration = (name: string, value: string | undefined, dflt: string): number => {
    try {
      return parseDuration(value ?? dflt);
    } catch (err) {
      throw new InventoryUsageError(`--${name}: ${err instanceof Error ? err.message : String(err)}`);
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

export const inventoryCommand = {
  usage: 'inventory --config FILE [--decisions FILE|DIR ...] [--format md|json|csv|html]',
  summary: 'access review: entitlements joined with the decision and outcome logs',
  async run(args: string[]): Promise<number> {
    let a: InventoryArgs;
    try {
      a = parseInventoryArgs(args);
    } catch (err) {
      if (err instanceof InventoryUsageError || (err instanceof TypeError && 'code' in err)) {
        process.stderr.write(`llm-authz inventory: ${err.message}\n${USAGE}`);
        return 2;
      }
      throw err;
    }
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
      if (err instanceof ConfigError) {
        process.stderr.write(`llm-authz inventory: invalid config ${a.config}:\n${err.problems.map((p) => `  ${p}`).join('\n')}\n`);
        return 2;
      }
      if (err instanceof InventoryInputError) {
        process.stderr.write(`llm-authz inventory: ${err.message}\n`);
        return 2;
      }
      throw err;
    }
  },
};
