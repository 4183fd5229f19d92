/**
 * The CSV report: one row per entitlement or caller (RFC 4180 quoting), the findings in the last
 * column. A cell that a spreadsheet would run as a formula (starting with = + - @, tab or CR:
 * a workload name comes from a token's claims) is prefixed with an apostrophe.
 */
import { ROW_COLUMNS } from './format.ts';
import type { Report } from './report.ts';

export function csvCell(v: string | number): string {
  if (typeof v === 'number') return String(v);
  const safe = /^[=+\-@\t\r]/.test(v) ? `'${v}` : v;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function renderCsv(r: Report): string {
  const lines = [ROW_COLUMNS.map((c) => csvCell(c.header)).join(',')];
  for (const row of r.rows) lines.push(ROW_COLUMNS.map((c) => csvCell(c.cell(row))).join(','));
  return `${lines.join('\r\n')}\r\n`;
}
