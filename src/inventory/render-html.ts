/**
 * The HTML report: one self-contained file (styles, the sorting script and the chart inline; a
 * Content-Security-Policy that lets the page load nothing from anywhere), findings first,
 * sortable tables (click a column header), the requests-per-identity chart. Every value is
 * HTML-escaped; the model holds no credential, prompt or tool argument to begin with.
 */
import { createHash } from 'node:crypto';
import { chartLines, chartSvg } from './chart-svg.ts';
import { durationText, ROW_COLUMNS, shortTime } from './format.ts';
import type { Report } from './report.ts';

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

const STYLE = `
body{font:14px/1.4 "Liberation Sans",Arial,sans-serif;margin:24px;color:#222}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.summary{color:#444;margin:0 0 8px}.count{font-weight:bold}
table{border-collapse:collapse;font-size:13px;margin:4px 0 12px}
th,td{border:1px solid #d7d7d7;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f1f3f5;cursor:pointer;white-space:nowrap;user-select:none}
th[aria-sort=ascending]::after{content:" \\25B2"}th[aria-sort=descending]::after{content:" \\25BC"}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tbody tr:nth-child(even){background:#fbfbfb}
.finding{font-weight:bold;white-space:nowrap}
.f-never_used,.f-unused{color:#8a5a00}.f-review_overdue,.f-presented_after_end,.f-no_entitlement_record{color:#b00020}
.f-expiring_soon,.f-no_owner,.f-scope_broader_than_use{color:#6a3d9a}
.wide{overflow-x:auto}.legend{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:6px 18px;font-size:13px}
.swatch{display:inline-block;width:12px;height:12px;margin-right:6px;vertical-align:-1px}
.muted{color:#666}`;

/** Sorts a table by the clicked column: numbers (data-sort or text) numerically, the rest as text. */
const SCRIPT = `
document.querySelectorAll('table.sortable').forEach(function (table) {
  var heads = table.querySelectorAll('thead th');
  heads.forEach(function (th, col) {
    th.setAttribute('tabindex', '0');
    var sort = function () {
      var asc = th.getAttribute('aria-sort') !== 'ascending';
      heads.forEach(function (h) { h.removeAttribute('aria-sort'); });
      th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      var key = function (row) {
        var c = row.cells[col];
        var v = c.getAttribute('data-sort');
        return v === null ? c.textContent.trim() : v;
      };
      var numeric = rows.every(function (r) { var k = key(r); return k !== '' && !isNaN(Number(k)); });
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        var d = numeric ? Number(x) - Number(y) : x.localeCompare(y);
        return asc ? d : -d;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    };
    th.addEventListener('click', sort);
    th.addEventListener('keydown', function (e) { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); sort(); } });
  });
});`;

/** Only this page's own script may run (by its hash), and nothing may be loaded from anywhere. */
const CSP = `default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-${createHash('sha256').update(SCRIPT).digest('base64')}'; base-uri 'none'; form-action 'none'`;

function td(v: string | number, numeric = false): string {
  return numeric ? `<td class="num" data-sort="${v}">${esc(String(v))}</td>` : `<td>${esc(String(v))}</td>`;
}

export function renderHtml(r: Report): string {
  const i = r.input;
  const recorded = r.rows.filter((x) => x.recorded).length;
  const findings =
    r.findings.length === 0
      ? '<p id="no-findings">None.</p>'
      : `<table id="findings" class="sortable"><thead><tr><th>finding</th><th>identity</th><th>owner</th><th>detail</th></tr></thead><tbody>${r.findings
          .map(
            (f) =>
              `<tr data-code="${esc(f.code)}" data-row="${esc(f.row)}"><td class="finding f-${esc(f.code)}">${esc(f.title)}</td>${td(f.label)}${td(f.owner || '—')}${td(f.detail)}</tr>`,
          )
          .join('')}</tbody></table>`;
  const rows = `<table id="entitlements" class="sortable"><thead><tr>${ROW_COLUMNS.map((c) => `<th>${esc(c.header)}</th>`).join('')}</tr></thead><tbody>${r.rows
    .map((row) => `<tr data-row="${esc(row.key)}">${ROW_COLUMNS.map((c) => td(c.cell(row), c.numeric === true)).join('')}</tr>`)
    .join('')}</tbody></table>`;
  const legend = `<ul class="legend">${chartLines(r.series)
    .map((l) => `<li><span class="swatch" style="background:${l.color}"></span>${esc(l.label)} (${l.total})</li>`)
    .join('')}</ul>`;
  const malformed = Object.values(i.malformed).reduce((a, b) => a + b, 0);
  const files = `<table id="files" class="sortable"><thead><tr><th>file</th><th>gzip</th><th>lines</th><th>decisions</th><th>outcomes</th><th>malformed</th><th>first malformed lines</th><th>problem</th></tr></thead><tbody>${[
    ...i.files.map(
      (f) =>
        `<tr>${td(f.path)}${td(f.gzip ? 'yes' : 'no')}${td(f.lines, true)}${td(f.decisions, true)}${td(f.outcomes, true)}${td(f.malformed, true)}${td(f.malformedAt.join(', '))}${td(f.truncated ? 'gzip cut off' : (f.error ?? ''))}</tr>`,
    ),
    ...i.missing.map((m) => `<tr>${td(m.path)}${td('')}${td(0, true)}${td(0, true)}${td(0, true)}${td(0, true)}${td('')}${td(m.error)}</tr>`),
  ].join('')}</tbody></table>`;
  const unknown = Object.entries(i.unknownFields).map(([k, n]) => `<code>${esc(k)}</code> ${n}`);
  if (i.otherUnknownFields > 0) unknown.push(`other names ${i.otherUnknownFields}`);
  const unattributed = Object.entries(r.unattributed.byReason).map(([k, n]) => `${esc(k)} ${n}`);
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>llm-authz access review ${esc(shortTime(r.generatedAt))}</title>
<style>${STYLE}</style></head>
<body>
<h1>Access review</h1>
<p class="summary">Generated ${esc(shortTime(r.generatedAt))} from <code>${esc(r.config)}</code> and ${i.files.length} log file(s); window ${esc(shortTime(r.window.since))} to ${esc(shortTime(r.window.until))}.
<span class="count" id="finding-count">${r.findings.length}</span> finding(s); ${recorded} entitlement(s), ${r.rows.length - recorded} caller(s) without one (unused: ${esc(durationText(r.thresholds.unusedForMs))}, expiring: ${esc(durationText(r.thresholds.expiringWithinMs))}).</p>
<h2>Findings</h2>
<div class="wide">${findings}</div>
<h2>Requests per identity over time</h2>
<figure id="chart">${chartSvg(r.series, esc)}${legend}</figure>
<h2>Entitlements and use</h2>
<p class="muted">Click a column header to sort. "any": the entitlement does not restrict it (policies decide).</p>
<div class="wide">${rows}</div>
<h2>Read</h2>
<p>${i.lines} line(s): ${i.decisions} decision(s) and ${i.outcomes} outcome(s) in the window, ${i.beforeWindow} before it, ${i.afterUntil} after it; <span id="malformed-count">${malformed}</span> malformed, ${i.oversized} too long, ${i.invalidFields} field(s) of the wrong type; ${i.truncatedFiles} gzip file(s) cut off, ${i.unreadableFiles + i.missing.length} unreadable. Read in ${i.elapsedMs} ms.</p>
<div class="wide">${files}</div>
${unknown.length > 0 ? `<p>Unknown fields (counted, not read): ${unknown.join(', ')}.</p>` : ''}
${unattributed.length > 0 || r.unattributed.unjoinedOutcomes > 0 ? `<p>Not attributed to an identity: ${unattributed.join(', ') || 'no decision'}; ${r.unattributed.unjoinedOutcomes} outcome(s) without their decision.</p>` : ''}
<script>${SCRIPT}</script>
</body></html>
`;
}
