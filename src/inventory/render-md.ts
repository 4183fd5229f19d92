/** The Markdown report: findings first, then every entitlement and its use, then what was read. */
import { deniedBy, durationText, granted, kindText, list, shortTime, stateText } from './format.ts';
import type { Report } from './report.ts';

/** A table cell: no line breaks, pipes escaped, HTML inert. */
function cell(v: string | number): string {
  return String(v)
    .replace(/[\r\n]+/g, ' ')
    .replace(/\\/g, '\\\\')
    .replace(/\|/g, '\\|')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;');
}

function table(headers: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const out = [`| ${headers.join(' | ')} |`, `|${headers.map(() => '---').join('|')}|`];
  for (const r of rows) out.push(`| ${r.map(cell).join(' | ')} |`);
  return out.join('\n');
}

export function renderMarkdown(r: Report): string {
  const i = r.input;
  const parts: string[] = [];
  const recorded = r.rows.filter((x) => x.recorded).length;
  parts.push(
    `# Access review\n\nGenerated ${shortTime(r.generatedAt)} from \`${cell(r.config)}\` and ${i.files.length} log file(s); window ${shortTime(r.window.since)} to ${shortTime(r.window.until)}. ` +
      `${recorded} entitlement(s), ${r.rows.length - recorded} caller(s) without one; **${r.findings.length} finding(s)** ` +
      `(unused: ${durationText(r.thresholds.unusedForMs)}, expiring: ${durationText(r.thresholds.expiringWithinMs)}).`,
  );
  parts.push('## Findings');
  parts.push(
    r.findings.length === 0
      ? 'None.'
      : table(
          ['finding', 'identity', 'owner', 'detail'],
          r.findings.map((f) => [f.title, f.label, f.owner || '—', f.detail]),
        ),
  );
  parts.push('## Entitlements and use');
  parts.push(
    table(
      [
        'identity',
        'kind',
        'owner',
        'approved',
        'review by',
        'expires',
        'state',
        'last used',
        'allowed',
        'denied',
        'models used / granted',
        'providers used / granted',
        'tokens in / out',
        'tools offered / granted',
        'tools called',
      ],
      r.rows.map((x) => [
        x.label,
        `${kindText(x.kind)}${x.method && x.kind !== 'api_key' ? ` (${x.method})` : ''}`,
        x.owner || '—',
        x.approvedBy ? `${x.approvedBy} ${shortTime(x.approvedAt)}`.trim() : '—',
        shortTime(x.reviewBy) || '—',
        shortTime(x.expiresAt) || '—',
        stateText(x.state),
        shortTime(x.lastUsed) || 'never',
        x.allowed,
        x.denied === 0 ? 0 : `${x.denied} (${deniedBy(x)})`,
        `${list(x.modelsUsed)} / ${granted(x.modelsGranted)}`,
        `${list(x.providersUsed)} / ${granted(x.providersGranted)}`,
        `${x.inputTokens} / ${x.outputTokens}`,
        `${list(x.toolsOffered)} / ${granted(x.toolsGranted)}`,
        list(x.toolsCalled),
      ]),
    ),
  );
  parts.push('## Read');
  const malformed = Object.values(i.malformed).reduce((a, b) => a + b, 0);
  parts.push(
    `${i.lines} line(s): ${i.decisions} decision(s) and ${i.outcomes} outcome(s) in the window, ${i.beforeWindow} before it, ${i.afterUntil} after it; ` +
      `${malformed} malformed${
        malformed > 0
          ? ` (${Object.entries(i.malformed)
              .map(([k, n]) => `${k} ${n}`)
              .join(', ')})`
          : ''
      }, ${i.oversized} too long, ` +
      `${i.invalidFields} field(s) of the wrong type, ${Object.values(i.unknownFields).reduce((a, b) => a + b, 0) + i.otherUnknownFields} unknown field(s); ` +
      `${i.truncatedFiles} gzip file(s) cut off, ${i.unreadableFiles + i.missing.length} unreadable. Read in ${i.elapsedMs} ms.`,
  );
  parts.push(
    table(
      ['file', 'gzip', 'lines', 'decisions', 'outcomes', 'malformed (first lines)', 'problem'],
      [
        ...i.files.map((f) => [
          f.path,
          f.gzip ? 'yes' : 'no',
          f.lines,
          f.decisions,
          f.outcomes,
          f.malformed === 0 ? 0 : `${f.malformed} (${f.malformedAt.join(', ')})`,
          f.truncated ? 'gzip cut off' : (f.error ?? ''),
        ]),
        ...i.missing.map((m) => [m.path, '', 0, 0, 0, 0, m.error]),
      ],
    ),
  );
  const unknown = Object.entries(i.unknownFields);
  if (unknown.length > 0 || i.otherUnknownFields > 0) {
    parts.push(
      `Unknown fields (counted, not read): ${[...unknown.map(([k, n]) => `\`${cell(k)}\` ${n}`), ...(i.otherUnknownFields > 0 ? [`other names ${i.otherUnknownFields}`] : [])].join(', ')}.`,
    );
  }
  const un = Object.entries(r.unattributed.byReason);
  if (un.length > 0 || r.unattributed.unjoinedOutcomes > 0 || r.unattributed.overflowCallerDecisions > 0) {
    parts.push(
      `Not attributed to an identity: ${un.length > 0 ? un.map(([k, n]) => `${k} ${n}`).join(', ') : 'no decision'}; ${r.unattributed.unjoinedOutcomes} outcome(s) without their decision; ${r.unattributed.overflowCallerDecisions} decision(s) of callers beyond the row limit.`,
    );
  }
  return `${parts.join('\n\n')}\n`;
}
