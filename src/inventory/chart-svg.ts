/**
 * The requests-per-identity chart, as inline SVG (no script, no external asset): stacked bars,
 * one bar per time bucket of the window, one colour per identity with the most requests (up to
 * MAX_LINES; the rest summed as "other"); a bar's tooltip names the counts. Stacked bars rather
 * than lines: identities with the same counts would hide each other's lines. Text is escaped
 * by the caller's `esc`.
 */
import type { Series } from './report.ts';

const MAX_LINES = 8;
/** Colour-blind-safe palette (Okabe-Ito), then grey for "other". */
export const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#D55E00', '#CC79A7', '#56B4E9', '#F0E442', '#000000'] as const;
const OTHER = '#999999';

export interface ChartLine {
  readonly label: string;
  readonly color: string;
  readonly total: number;
  readonly counts: readonly number[];
}

export function chartLines(s: Series): ChartLine[] {
  const withTotals = s.rows.map((r) => ({ ...r, total: r.counts.reduce((a, b) => a + b, 0) })).sort((a, b) => b.total - a.total || a.label.localeCompare(b.label));
  const top = withTotals.slice(0, MAX_LINES).map((r, i) => ({ label: r.label, color: PALETTE[i] ?? OTHER, total: r.total, counts: r.counts }));
  const rest = withTotals.slice(MAX_LINES);
  if (rest.length > 0) {
    const n = rest[0]?.counts.length ?? 0;
    const counts = Array.from({ length: n }, (_, i) => rest.reduce((a, r) => a + (r.counts[i] ?? 0), 0));
    top.push({ label: `other (${rest.length})`, color: OTHER, total: counts.reduce((a, b) => a + b, 0), counts });
  }
  return top;
}

function when(ms: number, spanMs: number): string {
  const iso = new Date(ms).toISOString();
  return spanMs <= 2 * 86_400_000 ? `${iso.slice(5, 10)} ${iso.slice(11, 19)}Z` : iso.slice(0, 10);
}

export function chartSvg(s: Series, esc: (t: string) => string): string {
  const W = 960;
  const H = 300;
  const L = 56;
  const R = 16;
  const T = 16;
  const B = 40;
  const lines = chartLines(s);
  const n = lines[0]?.counts.length ?? 0;
  const totals = Array.from({ length: n }, (_, i) => lines.reduce((a, l) => a + (l.counts[i] ?? 0), 0));
  const max = Math.max(1, ...totals);
  const slot = (W - L - R) / Math.max(1, n);
  const y = (v: number): number => T + (H - T - B) * (1 - v / max);
  const out: string[] = [`<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-labelledby="chart-title">`];
  out.push(`<title id="chart-title">Requests per identity over time</title>`);
  out.push(`<rect x="${L}" y="${T}" width="${W - L - R}" height="${H - T - B}" fill="#fafafa" stroke="#ddd"/>`);
  for (const v of [...new Set([0, Math.round(max / 2), max])]) {
    out.push(`<line x1="${L}" x2="${W - R}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${L - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" font-size="11" fill="#555">${v}</text>`);
  }
  const span = s.bucketMs * Math.max(1, n);
  out.push(`<text x="${L}" y="${H - 14}" font-size="11" fill="#555">${esc(when(s.startMs, span))}</text>`);
  out.push(`<text x="${W - R}" y="${H - 14}" font-size="11" fill="#555" text-anchor="end">${esc(when(s.startMs + span, span))}</text>`);
  out.push(`<text x="${(L + W - R) / 2}" y="${H - 14}" font-size="11" fill="#555" text-anchor="middle">requests per ${esc(bucketText(s.bucketMs))}</text>`);
  for (let i = 0; i < n; i++) {
    if (totals[i] === 0) continue;
    let acc = 0;
    const x = (L + i * slot + Math.min(1, slot * 0.1)).toFixed(1);
    const w = Math.max(1, slot - Math.min(2, slot * 0.2)).toFixed(1);
    const tip: string[] = [when(s.startMs + i * s.bucketMs, span)];
    for (const l of lines) {
      const v = l.counts[i] ?? 0;
      if (v === 0) continue;
      const top = y(acc + v);
      out.push(`<rect x="${x}" y="${top.toFixed(1)}" width="${w}" height="${(y(acc) - top).toFixed(1)}" fill="${l.color}"/>`);
      acc += v;
      tip.push(`${l.label}: ${v}`);
    }
    out.push(`<rect x="${x}" y="${T}" width="${w}" height="${H - T - B}" fill="transparent"><title>${esc(tip.join('\n'))}</title></rect>`);
  }
  out.push('</svg>');
  return out.join('');
}

function bucketText(ms: number): string {
  if (ms >= 86_400_000) return `${+(ms / 86_400_000).toFixed(1)} d`;
  if (ms >= 3_600_000) return `${+(ms / 3_600_000).toFixed(1)} h`;
  if (ms >= 60_000) return `${+(ms / 60_000).toFixed(1)} min`;
  return `${+(ms / 1000).toFixed(1)} s`;
}
